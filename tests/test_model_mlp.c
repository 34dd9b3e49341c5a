/*
 * tests/test_model_mlp.c - the built-in MLP's losses, gradient, HVP and
 * directional derivatives against float64 central differences of a float64
 * reference written here, independently of src/model_mlp.c.
 *
 * Tolerances: the library computes in double and rounds its outputs to
 * float32 (relative 6e-8); the float64 central differences below have
 * truncation error ~h^2 (h = 1e-4 for first differences: ~1e-8 relative;
 * h = 1e-3 for second differences: ~1e-6) and rounding ~1e-16/h (first)
 * or ~1e-16/h^2 (second; 1e-6 with relu's h = 1e-5). Bounds, as
 * ||a - b|| / ||b||: 1e-5 for the gradient and g, 1e-4 for the HVP and c.
 */
#include "harness.h"
#include "internal.h"

#define TOL 1e-5

/* ---- float64 reference ---- */

typedef struct ref_mlp {
    int L;          /* linear maps */
    int w[8];       /* widths */
    const char *act;
} ref_mlp;

static double ref_act(const char *act, double z) {
    if (!strcmp(act, "relu")) return z > 0 ? z : 0;
    if (!strcmp(act, "gelu")) return 0.5 * z * (1.0 + erf(z / sqrt(2.0)));
    return tanh(z);
}

/* Loss of one sample, parameters in double. */
static double ref_loss(const ref_mlp *r, const double *th, const float *x, int y) {
    double a[64], z[64] = {0};
    int n_in = r->w[0];
    for (int i = 0; i < n_in; i++) a[i] = x[i];
    const double *p = th;
    for (int l = 0; l < r->L; l++) {
        int n_out = r->w[l + 1];
        const double *W = p, *b = p + n_in * n_out;
        for (int j = 0; j < n_out; j++) {
            double s = b[j];
            for (int i = 0; i < n_in; i++) s += a[i] * W[i * n_out + j];
            z[j] = s;
        }
        p = b + n_out;
        if (l < r->L - 1)
            for (int j = 0; j < n_out; j++) a[j] = ref_act(r->act, z[j]);
        n_in = n_out;
    }
    double m = z[0], s = 0;
    for (int j = 1; j < n_in; j++) m = z[j] > m ? z[j] : m;
    for (int j = 0; j < n_in; j++) s += exp(z[j] - m);
    return m + log(s) - z[y];
}

static double ref_mean(const ref_mlp *r, const double *th, int n, const float *X, const int *y) {
    double s = 0;
    for (int i = 0; i < n; i++) s += ref_loss(r, th, X + i * r->w[0], y[i]);
    return s / n;
}

/* ---- fixture ---- */

#define NS 24
typedef struct fixture {
    polca_context *ctx;
    polca_model *model;
    polca_data *data;
    ref_mlp ref;
    int64_t P;
    float X[NS * 8];
    int32_t y[NS];
    float *theta;
    double *th64;
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

static int fixture_open(fixture *f, const char *hidden, const char *act, int nf, int nc) {
    memset(f, 0, sizeof *f);
    f->ctx = cpu_context();
    if (!f->ctx) return 0;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", nf);
    polca_options_set_int(o, "n_classes", nc);
    polca_options_set_string(o, "hidden", hidden);
    polca_options_set_string(o, "activation", act);
    int32_t st = polca_model_create_mlp(f->ctx, o, &f->model);
    polca_options_destroy(o);
    if (st) return 0;
    f->ref.act = act;
    f->ref.w[0] = nf;
    f->ref.L = 0;
    const char *p = hidden;
    while (*p) {
        f->ref.w[++f->ref.L] = (int)strtol(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    f->ref.w[++f->ref.L] = nc;
    polca_model_n_params(f->model, &f->P);
    unsigned long long s = 12345;
    for (int i = 0; i < NS * nf; i++) f->X[i] = 1.5f * harness_uniform(&s);
    for (int i = 0; i < NS; i++) f->y[i] = (int32_t)((harness_uniform(&s) + 1.0f) * 0.5f * nc) % nc;
    if (polca_data_create_features(f->ctx, NS, nf, f->X, f->y, &f->data)) return 0;
    f->theta = malloc((size_t)f->P * sizeof(float));
    f->th64 = malloc((size_t)f->P * sizeof(double));
    if (polca_model_init(f->model, 7, f->theta)) return 0;
    /* scale up so the activations leave their linear range */
    for (int64_t j = 0; j < f->P; j++) {
        f->theta[j] *= 2.0f;
        f->th64[j] = f->theta[j];
    }
    return 1;
}

static void fixture_close(fixture *f) {
    polca_data_destroy(f->data);
    polca_model_destroy(f->model);
    polca_context_destroy(f->ctx);
    free(f->theta);
    free(f->th64);
}

static void random_dir(float *d, int64_t n, unsigned long long seed) {
    unsigned long long s = seed;
    for (int64_t i = 0; i < n; i++) d[i] = harness_uniform(&s);
}

/* ---- tests ---- */

static void check_all(const char *hidden, const char *act) {
    fixture f;
    if (!fixture_open(&f, hidden, act, 4, 3)) {
        FAILF("fixture (%s, %s): %s", hidden, act, polca_last_error());
        fixture_close(&f);
        return;
    }
    int64_t P = f.P;
    float *grad = malloc(P * sizeof(float)), *hv = malloc(P * sizeof(float));
    float *v = malloc(P * sizeof(float)), *losses = malloc(NS * sizeof(float));
    double *ref = malloc(P * sizeof(double)), *th = malloc(P * sizeof(double));
    float *ref_f = malloc(P * sizeof(float));
    enum { K = 3 };
    float *dirs = malloc(K * P * sizeof(float)), g[K * NS], c[K * NS], l2[NS];
    double mean = 0;

    /* losses */
    EXPECT(polca_model_losses(f.model, f.data, f.theta, losses) == POLCA_OK);
    double msum = 0;
    for (int i = 0; i < NS; i++) {
        double r = ref_loss(&f.ref, f.th64, f.X + i * 4, f.y[i]);
        msum += r;
        if (fabs(losses[i] - r) > 1e-6 * (1 + fabs(r))) {
            FAILF("%s/%s loss[%d] = %.9g, reference %.9g", hidden, act, i, losses[i], r);
            break;
        }
    }
    /* gradient against central differences, h = 1e-4 */
    EXPECT(polca_model_grad(f.model, f.data, f.theta, &mean, grad) == POLCA_OK);
    EXPECT(fabs(mean - msum / NS) < 1e-12 * (1 + fabs(mean)));
    memcpy(th, f.th64, P * sizeof(double));
    for (int64_t j = 0; j < P; j++) {
        double h = 1e-4;
        th[j] = f.th64[j] + h;
        double lp = ref_mean(&f.ref, th, NS, f.X, f.y);
        th[j] = f.th64[j] - h;
        double lm = ref_mean(&f.ref, th, NS, f.X, f.y);
        th[j] = f.th64[j];
        ref_f[j] = (float)((lp - lm) / (2 * h));
    }
    double e = rel_error_f(grad, ref_f, P);
    if (!(e < TOL)) FAILF("%s/%s gradient rel. error %.3g", hidden, act, e);

    /* Second differences: h = 1e-3; for relu 1e-5, so that no step crosses
     * a kink (a crossing makes the difference O(1/h) wrong). */
    double h2 = strcmp(act, "relu") ? 1e-3 : 1e-5;

    /* HVP: e_j^T H v by a mixed second difference of the reference */
    random_dir(v, P, 99);
    EXPECT(polca_model_hvp(f.model, f.data, f.theta, v, hv) == POLCA_OK);
    for (int64_t j = 0; j < P; j++) {
        double h = h2, acc = 0;
        for (int sj = -1; sj <= 1; sj += 2)
            for (int sv = -1; sv <= 1; sv += 2) {
                for (int64_t q = 0; q < P; q++) th[q] = f.th64[q] + sv * h * v[q];
                th[j] += sj * h;
                acc += sj * sv * ref_mean(&f.ref, th, NS, f.X, f.y);
            }
        ref_f[j] = (float)(acc / (4 * h * h));
    }
    e = rel_error_f(hv, ref_f, P);
    if (!(e < 1e-4)) FAILF("%s/%s HVP rel. error %.3g", hidden, act, e);

    /* g and c per sample, against 1-d central differences along each d_k */
    random_dir(dirs, K * P, 5);
    EXPECT(polca_model_dirderivs(f.model, f.data, f.theta, K, dirs, l2, g, c) == POLCA_OK);
    EXPECT(memcmp(l2, losses, sizeof l2) == 0);
    float gr[K * NS], cr[K * NS];
    for (int k = 0; k < K; k++) {
        const float *d = dirs + k * P;
        for (int i = 0; i < NS; i++) {
            double vals[5];
            double h1 = 1e-4;
            double hs[4] = {h1, -h1, h2, -h2};
            for (int t = 0; t < 4; t++) {
                for (int64_t q = 0; q < P; q++) th[q] = f.th64[q] + hs[t] * d[q];
                vals[t] = ref_loss(&f.ref, th, f.X + i * 4, f.y[i]);
            }
            vals[4] = ref_loss(&f.ref, f.th64, f.X + i * 4, f.y[i]);
            gr[k * NS + i] = (float)((vals[0] - vals[1]) / (2 * h1));
            cr[k * NS + i] = (float)((vals[2] - 2 * vals[4] + vals[3]) / (h2 * h2));
        }
    }
    e = rel_error_f(g, gr, K * NS);
    if (!(e < TOL)) FAILF("%s/%s g rel. error %.3g", hidden, act, e);
    e = rel_error_f(c, cr, K * NS);
    if (!(e < 1e-4)) FAILF("%s/%s c rel. error %.3g", hidden, act, e);

    /* consistency: mean_i g = <grad, d>, mean_i c = d^T H d (exact identities) */
    for (int k = 0; k < K; k++) {
        const float *d = dirs + k * P;
        double gm = 0, cm = 0, gd = 0, dhd = 0;
        for (int i = 0; i < NS; i++) {
            gm += g[k * NS + i];
            cm += c[k * NS + i];
        }
        EXPECT(polca_model_hvp(f.model, f.data, f.theta, d, hv) == POLCA_OK);
        for (int64_t q = 0; q < P; q++) {
            gd += (double)grad[q] * d[q];
            dhd += (double)hv[q] * d[q];
        }
        double sg = 0, sc = 0; /* scales for float32 rounding of the terms */
        for (int64_t q = 0; q < P; q++) {
            sg += fabs((double)grad[q] * d[q]);
            sc += fabs((double)hv[q] * d[q]);
        }
        if (fabs(gm / NS - gd) > 1e-6 * (sg + 1e-3))
            FAILF("%s/%s mean g %.9g != <grad,d> %.9g", hidden, act, gm / NS, gd);
        if (fabs(cm / NS - dhd) > 1e-6 * (sc + 1e-3))
            FAILF("%s/%s mean c %.9g != d^T H d %.9g", hidden, act, cm / NS, dhd);
    }
    /* c optional: g unchanged without it */
    float g2[K * NS];
    EXPECT(polca_model_dirderivs(f.model, f.data, f.theta, K, dirs, NULL, g2, NULL) == POLCA_OK);
    EXPECT(memcmp(g, g2, sizeof g) == 0);

    free(grad), free(hv), free(v), free(losses), free(ref), free(th), free(ref_f), free(dirs);
    fixture_close(&f);
}

TEST(mlp_tanh_two_hidden) { check_all("5,3", "tanh"); }
TEST(mlp_gelu_one_hidden) { check_all("6", "gelu"); }
TEST(mlp_relu_one_hidden) { check_all("6", "relu"); }
TEST(mlp_softmax_regression) { check_all("", "tanh"); }

TEST(mlp_hvp_symmetric) {
    fixture f;
    CHECK(fixture_open(&f, "7,5", "tanh", 4, 3));
    int64_t P = f.P;
    float *u = malloc(P * sizeof(float)), *v = malloc(P * sizeof(float));
    float *hu = malloc(P * sizeof(float)), *hv = malloc(P * sizeof(float));
    random_dir(u, P, 1);
    random_dir(v, P, 2);
    CHECK_OK(polca_model_hvp(f.model, f.data, f.theta, u, hu));
    CHECK_OK(polca_model_hvp(f.model, f.data, f.theta, v, hv));
    double uhv = 0, vhu = 0, scale = 0;
    for (int64_t j = 0; j < P; j++) {
        uhv += (double)u[j] * hv[j];
        vhu += (double)v[j] * hu[j];
        scale += fabs((double)u[j] * hv[j]);
    }
    /* both are exact up to float32 output rounding of H u, H v */
    if (fabs(uhv - vhu) > 1e-6 * scale) FAILF("u.Hv = %.9g, v.Hu = %.9g", uhv, vhu);
    free(u), free(v), free(hu), free(hv);
    fixture_close(&f);
}

TEST(mlp_layout_and_init) {
    fixture f;
    CHECK(fixture_open(&f, "5,3", "tanh", 4, 3));
    CHECK(f.P == 4 * 5 + 5 + 5 * 3 + 3 + 3 * 3 + 3);
    int64_t nt = 0, idx = -1, shape[POLCA_MODEL_MAX_DIMS], off = -1;
    const char *name = NULL, *kind = NULL;
    int32_t ndim = 0;
    CHECK_OK(polca_model_n_tensors(f.model, &nt));
    CHECK(nt == 6);
    CHECK_OK(polca_model_tensor_info(f.model, 2, &name, &ndim, shape, &off));
    CHECK(strcmp(name, "layers.1.W") == 0 && ndim == 2 && shape[0] == 5 && shape[1] == 3);
    CHECK(shape[2] == 1 && off == 25);
    CHECK_OK(polca_model_find_tensor(f.model, "layers.2.b", &idx));
    CHECK(idx == 5);
    CHECK_OK(polca_model_tensor_info(f.model, idx, NULL, NULL, NULL, &off));
    CHECK(off == f.P - 3);
    CHECK_OK(polca_model_kind(f.model, &kind));
    CHECK(strcmp(kind, "mlp") == 0);
    /* init: deterministic per seed, within +-1/sqrt(fan_in), seeds differ */
    float *a = malloc(f.P * sizeof(float)), *b = malloc(f.P * sizeof(float));
    CHECK_OK(polca_model_init(f.model, 3, a));
    CHECK_OK(polca_model_init(f.model, 3, b));
    CHECK(memcmp(a, b, f.P * sizeof(float)) == 0);
    CHECK_OK(polca_model_init(f.model, 4, b));
    CHECK(memcmp(a, b, f.P * sizeof(float)) != 0);
    for (int64_t j = 0; j < 25; j++) CHECK(fabsf(a[j]) <= 0.5f); /* fan_in 4 */
    for (int64_t j = 25; j < 43; j++) CHECK(fabsf(a[j]) <= 1.0f / sqrtf(5.0f));
    double mean = 0;
    for (int64_t j = 0; j < 20; j++) mean += a[j];
    CHECK(fabs(mean / 20) < 0.25); /* not all one sign */
    free(a), free(b);
    fixture_close(&f);
}

/* A device backend's memory is not the host's: the MLP then downloads its
 * inputs, computes on the host and uploads its results. A copy of the CPU
 * table under another name takes that path here (its "device" memory is
 * host memory, but libpolca may not assume so): same numbers, bit for bit. */
TEST(mlp_through_device_bridge) {
    fixture f;
    CHECK(fixture_open(&f, "5,3", "gelu", 4, 3));
    int64_t P = f.P;
    enum { K = 2 };
    float *dirs = malloc(K * P * sizeof(float)), *a = malloc(P * sizeof(float)),
          *b = malloc(P * sizeof(float)), ga[K * NS], gb[K * NS], ca[K * NS], cb[K * NS],
          la[NS], lb[NS];
    random_dir(dirs, K * P, 8);
    double ma = 0, mb = 0;
    CHECK_OK(polca_model_grad(f.model, f.data, f.theta, &ma, a));
    CHECK_OK(polca_model_hvp(f.model, f.data, f.theta, dirs, b));
    CHECK_OK(polca_model_dirderivs(f.model, f.data, f.theta, K, dirs, la, ga, ca));
    const polca_backend *saved = f.ctx->be;
    polca_backend dev = *saved;
    dev.name = "device-like";
    f.ctx->be = &dev;
    float *a2 = malloc(P * sizeof(float)), *b2 = malloc(P * sizeof(float));
    CHECK_OK(polca_model_grad(f.model, f.data, f.theta, &mb, a2));
    CHECK_OK(polca_model_hvp(f.model, f.data, f.theta, dirs, b2));
    CHECK_OK(polca_model_dirderivs(f.model, f.data, f.theta, K, dirs, lb, gb, cb));
    f.ctx->be = saved;
    CHECK(memcmp(a, a2, P * sizeof(float)) == 0 && ma == mb);
    CHECK(memcmp(b, b2, P * sizeof(float)) == 0);
    CHECK(memcmp(la, lb, sizeof la) == 0 && memcmp(ga, gb, sizeof ga) == 0 &&
          memcmp(ca, cb, sizeof ca) == 0);
    free(dirs), free(a), free(b), free(a2), free(b2);
    fixture_close(&f);
}

/* On a CUDA context the MLP computes on the host through the device-pointer
 * bridge (download, compute, upload): the same numbers as on the CPU. */
TEST(mlp_on_cuda_context_if_present) {
    polca_options *o = NULL;
    polca_context *cuda = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cuda");
    int32_t st = polca_context_create(o, &cuda);
    polca_options_destroy(o);
    if (st) SKIP("no usable CUDA device here (%s)", polca_last_error());
    fixture f;
    CHECK(fixture_open(&f, "5,3", "tanh", 4, 3));
    polca_model *m = NULL;
    polca_data *d = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", 4);
    polca_options_set_int(o, "n_classes", 3);
    polca_options_set_string(o, "hidden", "5,3");
    CHECK_OK(polca_model_create_mlp(cuda, o, &m));
    polca_options_destroy(o);
    CHECK_OK(polca_data_create_features(cuda, NS, 4, f.X, f.y, &d));
    int64_t P = f.P;
    enum { K = 2 };
    float *dirs = malloc(K * P * sizeof(float)), *a = malloc(P * sizeof(float)),
          *b = malloc(P * sizeof(float)), ga[K * NS], gb[K * NS], ca[K * NS], cb[K * NS],
          la[NS], lb[NS];
    random_dir(dirs, K * P, 8);
    double ma = 0, mb = 0;
    CHECK_OK(polca_model_grad(f.model, f.data, f.theta, &ma, a));
    CHECK_OK(polca_model_grad(m, d, f.theta, &mb, b));
    CHECK(memcmp(a, b, P * sizeof(float)) == 0 && ma == mb);
    CHECK_OK(polca_model_hvp(f.model, f.data, f.theta, dirs, a));
    CHECK_OK(polca_model_hvp(m, d, f.theta, dirs, b));
    CHECK(memcmp(a, b, P * sizeof(float)) == 0);
    CHECK_OK(polca_model_dirderivs(f.model, f.data, f.theta, K, dirs, la, ga, ca));
    CHECK_OK(polca_model_dirderivs(m, d, f.theta, K, dirs, lb, gb, cb));
    CHECK(memcmp(la, lb, sizeof la) == 0 && memcmp(ga, gb, sizeof ga) == 0 &&
          memcmp(ca, cb, sizeof ca) == 0);
    CHECK_OK(polca_model_losses(m, d, f.theta, lb));
    CHECK(memcmp(la, lb, sizeof la) == 0);
    free(dirs), free(a), free(b);
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_destroy(cuda);
    fixture_close(&f);
}

int main(void) {
    RUN(mlp_tanh_two_hidden);
    RUN(mlp_gelu_one_hidden);
    RUN(mlp_relu_one_hidden);
    RUN(mlp_softmax_regression);
    RUN(mlp_hvp_symmetric);
    RUN(mlp_layout_and_init);
    RUN(mlp_through_device_bridge);
    RUN(mlp_on_cuda_context_if_present);
    return harness_done();
}
