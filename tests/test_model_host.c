/*
 * tests/test_model_host.c - host-defined models. The host model here wraps
 * the built-in MLP through its public API (each callback evaluates the MLP
 * on the rows the samples name), so with every callback given it must
 * reproduce the MLP's numbers exactly, and without the derivative callbacks
 * its finite differences must approach the MLP's exact derivatives with the
 * documented second-order error.
 */
#include "harness.h"

#define NF 3
#define NC 3
#define NTOT 30

typedef struct wrap {
    polca_model *mlp;
    polca_data *rows; /* all NTOT feature rows */
    int calls;        /* callback invocations */
    int fail_after;   /* >0: the call number that fails */
} wrap;

static int32_t subset(wrap *w, int64_t n, const int64_t *samples, polca_data **out) {
    w->calls++;
    if (w->fail_after && w->calls >= w->fail_after) return 42;
    return polca_data_subset_sequences(w->rows, n, samples, out);
}

static int32_t cb_loss(void *user, const float *theta, int64_t n, const int64_t *samples,
                       float *losses) {
    polca_data *d = NULL;
    int32_t st = subset(user, n, samples, &d);
    if (!st) st = polca_model_losses(((wrap *)user)->mlp, d, theta, losses);
    polca_data_destroy(d);
    return st;
}

static int32_t cb_grad(void *user, const float *theta, int64_t n, const int64_t *samples,
                       double *mean, float *grad) {
    polca_data *d = NULL;
    int32_t st = subset(user, n, samples, &d);
    if (!st) st = polca_model_grad(((wrap *)user)->mlp, d, theta, mean, grad);
    polca_data_destroy(d);
    return st;
}

static int32_t cb_hvp(void *user, const float *theta, int64_t n, const int64_t *samples,
                      const float *v, float *hv) {
    polca_data *d = NULL;
    int32_t st = subset(user, n, samples, &d);
    if (!st) st = polca_model_hvp(((wrap *)user)->mlp, d, theta, v, hv);
    polca_data_destroy(d);
    return st;
}

static int32_t cb_g(void *user, const float *theta, int64_t n, const int64_t *samples, int64_t k,
                    const float *dirs, float *g) {
    polca_data *d = NULL;
    int32_t st = subset(user, n, samples, &d);
    if (!st) st = polca_model_dirderivs(((wrap *)user)->mlp, d, theta, k, dirs, NULL, g, NULL);
    polca_data_destroy(d);
    return st;
}

static int32_t cb_c(void *user, const float *theta, int64_t n, const int64_t *samples, int64_t k,
                    const float *dirs, float *c) {
    polca_data *d = NULL;
    int32_t st = subset(user, n, samples, &d);
    float *g = malloc((size_t)(k * n) * sizeof(float));
    if (!st) st = polca_model_dirderivs(((wrap *)user)->mlp, d, theta, k, dirs, NULL, g, c);
    free(g);
    polca_data_destroy(d);
    return st;
}

/* ---- fixture: context, MLP, its rows, a host model around it ---- */

#define NIDX 12
static const int64_t IDX[NIDX] = {3, 1, 4, 1, 5, 9, 2, 6, 25, 29, 0, 17};

typedef struct fixture {
    polca_context *ctx;
    wrap w;
    polca_data *idx;  /* index data over NTOT */
    polca_data *sub;  /* the MLP's feature rows for IDX */
    polca_model *host;
    int64_t P;
    float *theta;
} fixture;

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

/* flags: which optional callbacks to set (1 hvp, 2 g, 4 c). fd_step <= 0:
 * default. */
static int fixture_open(fixture *f, int flags, double fd_step, double fd_step2) {
    memset(f, 0, sizeof *f);
    f->ctx = cpu_context();
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", NF);
    polca_options_set_int(o, "n_classes", NC);
    polca_options_set_string(o, "hidden", "6");
    if (polca_model_create_mlp(f->ctx, o, &f->w.mlp)) return 0;
    polca_options_destroy(o);
    float X[NTOT * NF];
    int32_t y[NTOT];
    unsigned long long s = 77;
    for (int i = 0; i < NTOT * NF; i++) X[i] = 1.5f * harness_uniform(&s);
    for (int i = 0; i < NTOT; i++) y[i] = i % NC;
    if (polca_data_create_features(f->ctx, NTOT, NF, X, y, &f->w.rows)) return 0;
    if (polca_data_create_indices(f->ctx, NTOT, NIDX, IDX, &f->idx)) return 0;
    if (polca_data_subset_sequences(f->w.rows, NIDX, IDX, &f->sub)) return 0;
    polca_model_n_params(f->w.mlp, &f->P);
    f->theta = malloc(f->P * sizeof(float));
    if (polca_model_init(f->w.mlp, 11, f->theta)) return 0;
    for (int64_t j = 0; j < f->P; j++) f->theta[j] *= 2.0f;
    o = NULL;
    polca_options_create(&o);
    if (fd_step > 0) polca_options_set_double(o, "fd_step", fd_step);
    if (fd_step2 > 0) polca_options_set_double(o, "fd_step2", fd_step2);
    int32_t st = polca_model_create_host(f->ctx, f->P, NTOT, o, &f->host);
    polca_options_destroy(o);
    if (st) return 0;
    if (polca_model_set_loss_callback(f->host, cb_loss, &f->w) ||
        polca_model_set_grad_callback(f->host, cb_grad, &f->w))
        return 0;
    if ((flags & 1) && polca_model_set_hvp_callback(f->host, cb_hvp, &f->w)) return 0;
    if ((flags & 2) && polca_model_set_dirderiv_callback(f->host, cb_g, &f->w)) return 0;
    if ((flags & 4) && polca_model_set_second_dirderiv_callback(f->host, cb_c, &f->w)) return 0;
    return 1;
}

static void fixture_close(fixture *f) {
    polca_model_destroy(f->host);
    polca_data_destroy(f->idx);
    polca_data_destroy(f->sub);
    polca_data_destroy(f->w.rows);
    polca_model_destroy(f->w.mlp);
    polca_context_destroy(f->ctx);
    free(f->theta);
}

static void random_dir(float *d, int64_t n, unsigned long long seed) {
    unsigned long long s = seed;
    for (int64_t i = 0; i < n; i++) d[i] = harness_uniform(&s);
}

#define K 3

/* Exact (MLP) and host results for one configuration. */
typedef struct results {
    float losses[NIDX], hv[512], g[K * NIDX], c[K * NIDX], grad[512];
    double mean;
} results;

static int compute(polca_model *m, polca_data *d, const float *theta, const float *v,
                   const float *dirs, results *r) {
    return polca_model_losses(m, d, theta, r->losses) == POLCA_OK &&
           polca_model_grad(m, d, theta, &r->mean, r->grad) == POLCA_OK &&
           polca_model_hvp(m, d, theta, v, r->hv) == POLCA_OK &&
           polca_model_dirderivs(m, d, theta, K, dirs, NULL, r->g, r->c) == POLCA_OK;
}

TEST(host_exact_callbacks_reproduce_mlp) {
    fixture f;
    CHECK(fixture_open(&f, 1 | 2 | 4, 0, 0));
    CHECK(f.P <= 512);
    float v[512], dirs[K * 512];
    random_dir(v, f.P, 3);
    random_dir(dirs, K * f.P, 4);
    static results a, b;
    CHECK(compute(f.w.mlp, f.sub, f.theta, v, dirs, &a));
    CHECK(compute(f.host, f.idx, f.theta, v, dirs, &b));
    CHECK(memcmp(a.losses, b.losses, sizeof a.losses) == 0);
    CHECK(memcmp(a.grad, b.grad, f.P * sizeof(float)) == 0 && a.mean == b.mean);
    CHECK(memcmp(a.hv, b.hv, f.P * sizeof(float)) == 0);
    CHECK(memcmp(a.g, b.g, sizeof a.g) == 0);
    CHECK(memcmp(a.c, b.c, sizeof a.c) == 0);
    const char *kind = NULL;
    int64_t nt = 0, P = 0;
    CHECK_OK(polca_model_kind(f.host, &kind));
    CHECK(strcmp(kind, "host") == 0);
    CHECK_OK(polca_model_n_tensors(f.host, &nt));
    CHECK_OK(polca_model_n_params(f.host, &P));
    CHECK(nt == 1 && P == f.P);
    float *t = malloc(f.P * sizeof(float));
    CHECK_STATUS(polca_model_init(f.host, 1, t), POLCA_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("host");
    free(t);
    fixture_close(&f);
}

/* Relative errors of the finite-difference fallbacks at one step size:
 * e[0] HVP (gradient differences), e[1] g (loss differences),
 * e[2] c (loss second differences), e[3] c (g-callback differences). */
static int fd_errors(double step, double step2, double *e) {
    fixture f, fg;
    int ok = fixture_open(&f, 0, step, step2) && fixture_open(&fg, 2, step, step2);
    float v[512], dirs[K * 512];
    static results exact, a, b;
    if (ok) {
        random_dir(v, f.P, 3);
        random_dir(dirs, K * f.P, 4);
        ok = compute(f.w.mlp, f.sub, f.theta, v, dirs, &exact) &&
             compute(f.host, f.idx, f.theta, v, dirs, &a) &&
             compute(fg.host, fg.idx, fg.theta, v, dirs, &b);
    }
    if (ok) {
        e[0] = rel_error_f(a.hv, exact.hv, f.P);
        e[1] = rel_error_f(a.g, exact.g, K * NIDX);
        e[2] = rel_error_f(a.c, exact.c, K * NIDX);
        e[3] = rel_error_f(b.c, exact.c, K * NIDX);
        /* exact parts stay exact */
        ok = memcmp(a.losses, exact.losses, sizeof a.losses) == 0 &&
             memcmp(b.g, exact.g, sizeof b.g) == 0;
        if (!ok) printf("  exact parts of an FD model differ from the MLP's\n");
    }
    fixture_close(&f);
    fixture_close(&fg);
    return ok;
}

TEST(host_fd_fallbacks_within_documented_error) {
    /* Default steps (fd_step 1e-3, fd_step2 1e-2). polca/model.h: truncation
     * O(h^2) plus rounding ~eps*|f|/h (first differences) or eps*|l|/h^2
     * (second differences of losses), eps = 6e-8 for these float32
     * callbacks. With |f| ~ |result| that is ~1e-6 + 6e-5 for the HVP and
     * g, ~1e-4 + 6e-4 for c from losses, ~1e-6 + 6e-5 for c from g:
     * bounds 1e-3, 1e-3, 1e-2 and 1e-3 leave room for |f| > |result|. */
    double e[4];
    CHECK(fd_errors(-1, -1, e));
    if (getenv("POLCA_TEST_VERBOSE"))
        printf("  default steps: HVP %.2e  g %.2e  c(losses) %.2e  c(g) %.2e\n", e[0], e[1], e[2],
               e[3]);
    if (!(e[0] < 1e-3)) FAILF("HVP rel. error %.3g", e[0]);
    if (!(e[1] < 1e-3)) FAILF("g rel. error %.3g", e[1]);
    if (!(e[2] < 1e-2)) FAILF("c (loss differences) rel. error %.3g", e[2]);
    if (!(e[3] < 1e-3)) FAILF("c (g differences) rel. error %.3g", e[3]);
}

TEST(host_fd_error_is_second_order) {
    /* Steps large enough that truncation dominates rounding: halving h must
     * divide each error by about 4 (second order), not 2 (first order). The
     * step's length is s * max(1, rms theta), independent of P. */
    double e1[4], e2[4];
    CHECK(fd_errors(0.5, 0.5, e1));
    CHECK(fd_errors(0.25, 0.25, e2));
    static const char *what[4] = {"HVP", "g", "c (losses)", "c (g)"};
    for (int i = 0; i < 4; i++) {
        double ratio = e1[i] / e2[i];
        if (getenv("POLCA_TEST_VERBOSE"))
            printf("  %s: %.3e -> %.3e, ratio %.2f\n", what[i], e1[i], e2[i], ratio);
        if (!(ratio > 3.0 && ratio < 5.5))
            FAILF("%s: error %.3g at h, %.3g at h/2: ratio %.2f, expected ~4", what[i], e1[i],
                  e2[i], ratio);
    }
}

TEST(host_zero_direction_gives_zeros) {
    fixture f;
    CHECK(fixture_open(&f, 0, 0, 0));
    float *zero = calloc(K * f.P, sizeof(float)), hv[512], g[K * NIDX], c[K * NIDX];
    memset(hv, 0x7f, sizeof hv);
    CHECK_OK(polca_model_hvp(f.host, f.idx, f.theta, zero, hv));
    for (int64_t j = 0; j < f.P; j++) CHECK(hv[j] == 0.0f);
    CHECK_OK(polca_model_dirderivs(f.host, f.idx, f.theta, K, zero, NULL, g, c));
    for (int i = 0; i < K * NIDX; i++) CHECK(g[i] == 0.0f && c[i] == 0.0f);
    free(zero);
    fixture_close(&f);
}

TEST(host_callback_failure) {
    fixture f;
    CHECK(fixture_open(&f, 0, 0, 0));
    float v[512], hv[512], g[K * NIDX], c[K * NIDX], dirs[K * 512], losses[NIDX], grad[512];
    random_dir(v, f.P, 1);
    random_dir(dirs, K * f.P, 2);
    /* fail the first call, or the second (after a successful one) */
    for (int fail_at = 1; fail_at <= 2; fail_at++) {
        memset(hv, 0x55, sizeof hv);
        memset(g, 0x55, sizeof g);
        memset(c, 0x55, sizeof c);
        memset(losses, 0x55, sizeof losses);
        memset(grad, 0x55, sizeof grad);
        f.w.calls = 0;
        f.w.fail_after = fail_at;
        CHECK_STATUS(polca_model_hvp(f.host, f.idx, f.theta, v, hv), POLCA_ERR_BACKEND);
        CHECK_ERROR_MENTIONS("gradient callback returned 42");
        f.w.calls = 0;
        CHECK_STATUS(polca_model_dirderivs(f.host, f.idx, f.theta, K, dirs, losses, g, c),
                     POLCA_ERR_BACKEND);
        CHECK_ERROR_MENTIONS("loss callback returned 42");
        f.w.calls = fail_at - 1; /* single-call functions: fail their call */
        CHECK_STATUS(polca_model_losses(f.host, f.idx, f.theta, losses), POLCA_ERR_BACKEND);
        f.w.calls = fail_at - 1;
        double mean = 123.0;
        CHECK_STATUS(polca_model_grad(f.host, f.idx, f.theta, &mean, grad), POLCA_ERR_BACKEND);
        CHECK(mean == 123.0);
        /* outputs untouched */
        unsigned char pat[4];
        memset(pat, 0x55, 4);
        CHECK(memcmp(hv, pat, 4) == 0 && memcmp(hv + f.P - 1, pat, 4) == 0);
        CHECK(memcmp(g, pat, 4) == 0 && memcmp(c + K * NIDX - 1, pat, 4) == 0);
        CHECK(memcmp(losses, pat, 4) == 0 && memcmp(grad, pat, 4) == 0);
    }
    f.w.fail_after = 0;
    fixture_close(&f);
}

TEST(host_missing_required_callbacks) {
    polca_context *ctx = cpu_context();
    polca_model *m = NULL;
    polca_data *d = NULL;
    CHECK_OK(polca_model_create_host(ctx, 4, 2, NULL, &m));
    CHECK_OK(polca_data_create_indices(ctx, 2, 2, NULL, &d));
    float theta[4] = {0}, losses[2] = {0};
    CHECK_STATUS(polca_model_losses(m, d, theta, losses), POLCA_ERR_STATE);
    CHECK_ERROR_MENTIONS("loss");
    CHECK_OK(polca_model_set_loss_callback(m, cb_loss, NULL));
    CHECK_STATUS(polca_model_losses(m, d, theta, losses), POLCA_ERR_STATE);
    CHECK_ERROR_MENTIONS("gradient");
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(host_exact_callbacks_reproduce_mlp);
    RUN(host_fd_fallbacks_within_documented_error);
    RUN(host_fd_error_is_second_order);
    RUN(host_zero_direction_gives_zeros);
    RUN(host_callback_failure);
    RUN(host_missing_required_callbacks);
    return harness_done();
}
