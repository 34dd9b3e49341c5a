/*
 * tests/test_basis_hessian.c - Algorithm 1 (polca__basis_hessian) on
 * synthetic operators: one explicit symmetric matrix H_c per "checkpoint",
 * against a dense LAPACK computation in double of the same algorithm.
 *
 * Reference: B <- []; for each checkpoint in the visiting order, the top-k
 * eigenvectors (LAPACKE_dsyev) of P H_c P - s B B^T with P = I - B B^T and
 * s = +-1e3 pushing span(B) (where P H_c P is 0) away from the wanted end,
 * which is the projected Hessian restricted to the complement of B.
 * Tolerances (solver tol 1e-6): eigenvalues to 1e-5 relative; |cos| >= 0.9999
 * per vector (the spectra are built with relative gaps of several percent);
 * ||B^T B - I|| <= 1e-5 over the whole basis; residual in double
 * <= tol |lambda| + 5e-6 ||H||.
 */
#include "basis.h"
#include "eigen_ref.h"
#include "internal.h"

#define TOL 1e-6
#define N 200
#define NCK 4

typedef struct series {
    polca_context *ctx;
    int64_t n, n_ck;
    float *h[8];    /* [n][n] per checkpoint, float32 as applied */
    double *h64[8]; /* the same in double */
    float *xh, *yh;
    int64_t calls, fail_at;
} series;

static int32_t series_hvp(void *u, int64_t c, const float *v, float *hv) {
    series *s = u;
    s->calls++;
    if (c < 0 || c >= s->n_ck) return polca__fail(POLCA_ERR_INTERNAL, "checkpoint %lld", (long long)c);
    if (s->fail_at && s->calls == s->fail_at)
        return polca__fail(POLCA_ERR_IO, "synthetic HVP failure");
    const polca_backend *be = s->ctx->be;
    size_t bytes = (size_t)s->n * sizeof(float);
    int32_t st = be->download(s->ctx->be_state, s->xh, v, bytes);
    if (st) return st;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)s->n, (int)s->n, 1.0f, s->h[c], (int)s->n,
                s->xh, 1, 0.0f, s->yh, 1);
    return be->upload(s->ctx->be_state, hv, s->yh, bytes);
}

/* H_c = H_0 + 0.05 c E: H_0 with 12 separated eigenvalues at the top (and,
 * mirrored, at the bottom) over a bulk in [-3, 3]; E symmetric with entries
 * ~ 1/sqrt(n). */
static int make_series_shifted(series *s, polca_context *ctx, int64_t n_ck, double shift) {
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->n = N;
    s->n_ck = n_ck;
    double lam[N];
    unsigned long long r = 77;
    for (int i = 0; i < N; i++) {
        if (i < 12)
            lam[i] = 20.0 * pow(0.9, i);
        else if (i < 24)
            lam[i] = -20.0 * pow(0.9, i - 12) - 0.7;
        else
            lam[i] = 3.0 * harness_uniform(&r);
    }
    double *h0 = ref_matrix(N, lam, 5);
    if (!h0) return 0;
    for (int64_t c = 0; c < n_ck; c++) {
        double *hc = malloc(sizeof(double) * N * N);
        if (!hc) return 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j <= i; j++) {
                double e = 0.05 * (double)c * harness_uniform(&r) / sqrt((double)N);
                hc[i * N + j] = hc[j * N + i] = h0[i * N + j] + e + (i == j ? shift : 0.0);
            }
        s->h[c] = to_float(hc, N * N);
        free(hc);
        if (!s->h[c]) return 0;
        s->h64[c] = to_double(s->h[c], N * N);
    }
    free(h0);
    s->xh = malloc(N * sizeof(float));
    s->yh = malloc(N * sizeof(float));
    return s->xh && s->yh;
}

static int make_series(series *s, polca_context *ctx, int64_t n_ck) {
    return make_series_shifted(s, ctx, n_ck, 0.0);
}

static void free_series(series *s) {
    for (int c = 0; c < 8; c++) free(s->h[c]), free(s->h64[c]);
    free(s->xh), free(s->yh);
}

/* The reference of Algorithm 1 for the given visiting order: bref
 * [n_ck*k][N] rows and eigenvalues lref in basis order. */
static int reference(const series *s, const int64_t *order, int64_t k, const char *which,
                     double *bref, double *lref) {
    int smallest = strcmp(which, "smallest_algebraic") == 0;
    int magnitude = strcmp(which, "largest_magnitude") == 0;
    int64_t K = 0;
    double *a = malloc(sizeof(double) * N * N), *p = malloc(sizeof(double) * N * N);
    double *t = malloc(sizeof(double) * N * N), *z = malloc(sizeof(double) * N * N);
    double w[N];
    if (!a || !p || !t || !z) return 0;
    for (int64_t ci = 0; ci < s->n_ck; ci++) {
        const double *h = s->h64[order[ci]];
        /* p = I - B^T B (bref rows are the basis vectors) */
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                double bb = 0;
                for (int64_t r = 0; r < K; r++) bb += bref[r * N + i] * bref[r * N + j];
                p[i * N + j] = (i == j) - bb;
            }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, p, N, h, N, 0.0, t, N);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, t, N, p, N, 0.0, a, N);
        /* span(B) is at 0 in P H P: push it past the wanted end (for
         * largest_magnitude, 0 is already the far end) */
        double shift = magnitude ? 0.0 : smallest ? 1e3 : -1e3;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) a[i * N + j] += shift * ((i == j) - p[i * N + j]);
        for (int i = 0; i < N; i++) /* symmetrize rounding */
            for (int j = 0; j < i; j++) a[i * N + j] = a[j * N + i] = 0.5 * (a[i * N + j] + a[j * N + i]);
        if (ref_eigh(N, a, w, z)) return 0;
        int64_t idx[N];
        for (int i = 0; i < N; i++) idx[i] = smallest ? i : N - 1 - i;
        if (magnitude)
            for (int i = 1; i < N; i++) { /* insertion sort by |w| descending */
                int64_t v = idx[i], q = i;
                while (q > 0 && fabs(w[v]) > fabs(w[idx[q - 1]])) {
                    idx[q] = idx[q - 1];
                    q--;
                }
                idx[q] = v;
            }
        for (int64_t i = 0; i < k; i++) {
            int64_t col = idx[i];
            lref[K] = w[col];
            for (int r = 0; r < N; r++) bref[K * N + r] = z[r * N + col];
            K++;
        }
    }
    free(a), free(p), free(t), free(z);
    return 1;
}

static polca_context *ctx_or_null(void) { return ref_context(); }

/* Builds with the given options and checks against the reference. */
static void check_build_shifted(const char *which, int64_t k, int shuffle, int64_t shuffle_seed,
                                int warm, int64_t *out_calls, int64_t *out_order, double shift) {
    polca_context *ctx = ctx_or_null();
    CHECK(ctx);
    series s;
    CHECK(make_series_shifted(&s, ctx, NCK, shift));
    polca_options *opt = NULL;
    CHECK_OK(polca_options_create(&opt));
    CHECK_OK(polca_options_set_string(opt, "which", which));
    CHECK_OK(polca_options_set_double(opt, "tol", TOL));
    CHECK_OK(polca_options_set_int(opt, "shuffle", shuffle));
    CHECK_OK(polca_options_set_int(opt, "shuffle_seed", shuffle_seed));
    CHECK_OK(polca_options_set_int(opt, "warm_start", warm));
    CHECK_OK(polca__options_check(opt, polca__basis_hessian_option_names, "test"));
    polca__hessian_basis_opts ho;
    CHECK_OK(polca__basis_hessian_parse(opt, "test", N, NCK, k, &ho));
    const int64_t steps[NCK] = {200, 400, 600, 800};
    polca_basis *b = NULL;
    CHECK_OK(polca__basis_hessian(ctx, N, NCK, steps, series_hvp, &s, &ho, &b));
    int64_t K = -1, P = -1;
    CHECK_OK(polca_basis_count(b, &K));
    CHECK_OK(polca_basis_n_params(b, &P));
    CHECK(K == NCK * k && P == N);
    float *vec = malloc(sizeof(float) * (size_t)(K * N));
    CHECK(vec);
    int64_t order[NCK];
    double vals[64], ress[64];
    for (int64_t i = 0; i < K; i++) {
        CHECK_OK(polca_basis_get_vector(b, i, vec + i * N, N));
        int32_t kind, conv;
        int64_t step, index;
        CHECK_OK(polca_basis_get_info(b, i, &kind, &step, &index, &vals[i], &ress[i], &conv));
        CHECK(kind == (shuffle ? POLCA_BASIS_KIND_HESSIAN_SHUFFLED : POLCA_BASIS_KIND_HESSIAN));
        CHECK(conv == 1);
        CHECK(index >= 0 && index < NCK && step == steps[index]);
        if (i % k == 0)
            order[i / k] = index;
        else
            CHECK(index == order[i / k]);
    }
    /* The visiting order is a permutation; in order unless shuffled. */
    int seen[NCK] = {0};
    for (int c = 0; c < NCK; c++) seen[order[c]]++;
    for (int c = 0; c < NCK; c++) CHECK(seen[c] == 1 && (shuffle || order[c] == c));
    double orth = ref_orthonormality(N, K, vec);
    if (!(orth <= 1e-5)) FAILF("basis not orthonormal: %.3g", orth);
    double *bref = malloc(sizeof(double) * (size_t)(K * N)), lref[64];
    CHECK(bref && reference(&s, order, k, which, bref, lref));
    for (int64_t i = 0; i < K; i++) {
        if (!(fabs(vals[i] - lref[i]) <= 1e-5 * fabs(lref[i])))
            FAILF("vector %lld: eigenvalue %.9g, reference %.9g", (long long)i, vals[i], lref[i]);
        double d = 0;
        for (int r = 0; r < N; r++) d += (double)vec[i * N + r] * bref[i * N + r];
        if (!(fabs(d) >= 0.9999)) FAILF("vector %lld: |cos| with reference %.6f", (long long)i, fabs(d));
        /* the residual against the projected matrix of its own checkpoint,
         * built from this basis's earlier vectors, in double */
        int64_t c = order[i / k], first = (i / k) * k;
        double pv[N], hv[N], r2 = 0, coef;
        for (int r = 0; r < N; r++) pv[r] = vec[i * N + r];
        for (int64_t j = 0; j < first; j++) {
            coef = 0;
            for (int r = 0; r < N; r++) coef += (double)vec[j * N + r] * pv[r];
            for (int r = 0; r < N; r++) pv[r] -= coef * vec[j * N + r];
        }
        cblas_dgemv(CblasRowMajor, CblasNoTrans, N, N, 1.0, s.h64[c], N, pv, 1, 0.0, hv, 1);
        for (int64_t j = 0; j < first; j++) {
            coef = 0;
            for (int r = 0; r < N; r++) coef += (double)vec[j * N + r] * hv[r];
            for (int r = 0; r < N; r++) hv[r] -= coef * vec[j * N + r];
        }
        for (int r = 0; r < N; r++) r2 += (hv[r] - vals[i] * vec[i * N + r]) * (hv[r] - vals[i] * vec[i * N + r]);
        if (!(sqrt(r2) <= TOL * fabs(vals[i]) + 5e-6 * (21.0 + fabs(shift))))
            FAILF("vector %lld: residual in double %.3g (reported %.3g)", (long long)i, sqrt(r2), ress[i]);
    }
    if (out_calls) *out_calls = s.calls;
    if (out_order) memcpy(out_order, order, sizeof order);
    free(vec), free(bref);
    polca_basis_destroy(b);
    polca_options_destroy(opt);
    free_series(&s);
    polca_context_destroy(ctx);
}

static void check_build(const char *which, int64_t k, int shuffle, int64_t shuffle_seed,
                        int warm, int64_t *out_calls, int64_t *out_order) {
    check_build_shifted(which, k, shuffle, shuffle_seed, warm, out_calls, out_order, 0.0);
}

/* A negative definite series (H - 30 I): the projected operator is 0 on the
 * basis so far, above every wanted eigenvalue; only the constraint keeps
 * those directions out. */
TEST(algorithm1_negative_definite) {
    check_build_shifted("largest_algebraic", 2, 0, 0, 1, NULL, NULL, -30.0);
}

TEST(algorithm1_largest_algebraic) {
    int64_t cold = 0, warm = 0;
    check_build("largest_algebraic", 2, 0, 0, 0, &cold, NULL);
    check_build("largest_algebraic", 2, 0, 0, 1, &warm, NULL);
    printf("  Hessian products for 8 vectors: cold %lld, warm %lld\n", (long long)cold,
           (long long)warm);
}

TEST(algorithm1_k1_and_smallest) {
    check_build("largest_algebraic", 1, 0, 0, 1, NULL, NULL);
    check_build("smallest_algebraic", 3, 0, 0, 1, NULL, NULL);
    check_build("largest_magnitude", 2, 0, 0, 1, NULL, NULL);
}

/* Appendix H: the same algorithm over a seeded shuffle of the checkpoints. */
TEST(algorithm1_shuffled) {
    int64_t o1[NCK], o2[NCK], o3[NCK];
    check_build("largest_algebraic", 2, 1, 3, 1, NULL, o1);
    check_build("largest_algebraic", 2, 1, 3, 1, NULL, o2);
    check_build("largest_algebraic", 2, 1, 4, 1, NULL, o3);
    CHECK(memcmp(o1, o2, sizeof o1) == 0);
    int identity = 1;
    for (int c = 0; c < NCK; c++) identity &= o1[c] == c;
    CHECK(!identity);
    CHECK(memcmp(o1, o3, sizeof o1) != 0);
    printf("  order seed 3: %lld %lld %lld %lld\n", (long long)o1[0], (long long)o1[1],
           (long long)o1[2], (long long)o1[3]);
}

typedef struct prog {
    int64_t basis_calls, eigen_calls, last_done, cancel_basis_at;
} prog;

static int32_t on_progress(void *u, const char *stage, int64_t done, int64_t total, double value) {
    prog *p = u;
    (void)value;
    if (strcmp(stage, "basis") == 0) {
        p->basis_calls++;
        p->last_done = done;
        if (total != NCK) return 1;
        return p->cancel_basis_at && done >= p->cancel_basis_at;
    }
    if (strcmp(stage, "eigen") == 0) p->eigen_calls++;
    return 0;
}

/* Budget, failures, progress and cancellation. */
TEST(algorithm1_status_paths) {
    polca_context *ctx = ctx_or_null();
    CHECK(ctx);
    series s;
    CHECK(make_series(&s, ctx, NCK));
    const int64_t steps[NCK] = {0, 1, 2, 3};
    polca__hessian_basis_opts ho;
    polca_options *opt = NULL;
    CHECK_OK(polca_options_create(&opt));
    CHECK_OK(polca_options_set_double(opt, "tol", 1e-9));
    CHECK_OK(polca_options_set_int(opt, "max_products", 6));
    CHECK_OK(polca__basis_hessian_parse(opt, "test", N, NCK, 2, &ho));
    polca_basis *b = NULL;
    /* Budget too small: NOT_CONVERGED, but the basis is returned. */
    CHECK_STATUS(polca__basis_hessian(ctx, N, NCK, steps, series_hvp, &s, &ho, &b),
                 POLCA_ERR_NOT_CONVERGED);
    CHECK_ERROR_MENTIONS("best estimates");
    CHECK(b != NULL);
    int64_t K = 0;
    CHECK_OK(polca_basis_count(b, &K));
    CHECK(K == 2 * NCK && s.calls == 6 * NCK);
    float *vec = malloc(sizeof(float) * (size_t)(K * N));
    int32_t conv = 1;
    for (int64_t i = 0; i < K; i++) CHECK_OK(polca_basis_get_vector(b, i, vec + i * N, N));
    CHECK_OK(polca_basis_get_info(b, 0, NULL, NULL, NULL, NULL, NULL, &conv));
    CHECK(conv == 0);
    CHECK(ref_orthonormality(N, K, vec) <= 1e-5);
    polca_basis_destroy(b);
    free(vec);

    /* An HVP failure propagates with the checkpoint named; out untouched. */
    CHECK_OK(polca__basis_hessian_parse(NULL, "test", N, NCK, 2, &ho));
    polca_basis *sentinel = (polca_basis *)(void *)&s;
    b = sentinel;
    s.calls = 0;
    s.fail_at = 40;
    CHECK_STATUS(polca__basis_hessian(ctx, N, NCK, steps, series_hvp, &s, &ho, &b), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("synthetic HVP failure");
    CHECK_ERROR_MENTIONS("checkpoint");
    CHECK(b == sentinel);
    s.fail_at = 0;

    /* Progress per checkpoint, and cancellation after the second. */
    prog pr = {0, 0, 0, 0};
    CHECK_OK(polca_context_set_progress(ctx, on_progress, &pr));
    CHECK_OK(polca__basis_hessian(ctx, N, NCK, steps, series_hvp, &s, &ho, &b));
    CHECK(pr.basis_calls == NCK && pr.last_done == NCK && pr.eigen_calls > NCK);
    polca_basis_destroy(b);
    prog pc = {0, 0, 0, 2};
    CHECK_OK(polca_context_set_progress(ctx, on_progress, &pc));
    b = sentinel;
    CHECK_STATUS(polca__basis_hessian(ctx, N, NCK, steps, series_hvp, &s, &ho, &b),
                 POLCA_ERR_CANCELLED);
    CHECK(b == sentinel && pc.last_done == 2);
    CHECK_OK(polca_context_set_progress(ctx, NULL, NULL));

    /* Option checks. */
    CHECK_STATUS(polca__basis_hessian_parse(NULL, "test", N, NCK, N, &ho), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("k is");
    CHECK_STATUS(polca__basis_hessian_parse(NULL, "test", N, 0, 1, &ho), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_OK(polca_options_set_int(opt, "shuffle", 2));
    CHECK_STATUS(polca__basis_hessian_parse(opt, "test", N, NCK, 1, &ho), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'shuffle'");
    CHECK_OK(polca_options_set_int(opt, "shuffle", 1));
    CHECK_OK(polca_options_set_int(opt, "warm_start", -1));
    CHECK_STATUS(polca__basis_hessian_parse(opt, "test", N, NCK, 1, &ho), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'warm_start'");
    CHECK_OK(polca_options_set_int(opt, "wrm_start", 1));
    CHECK_STATUS(polca__options_check(opt, polca__basis_hessian_option_names, "test"),
                 POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("wrm_start");
    polca_options_destroy(opt);
    free_series(&s);
    polca_context_destroy(ctx);
}

/* The solver's constraint, with a start block lying inside it (nothing is
 * left: the solver falls back to a random start): the answer is the top
 * eigenpair of H restricted to the complement, which LAPACK gives for
 * P H P - 1e3 C C^T. */
static int32_t hvp0(void *u, const float *x, float *y) { return series_hvp(u, 0, x, y); }

TEST(constraint_with_start_inside_it) {
    polca_context *ctx = ctx_or_null();
    CHECK(ctx);
    series s;
    CHECK(make_series(&s, ctx, 1));
    polca_basis *c = NULL;
    CHECK_OK(polca_basis_create_random(ctx, N, 3, NULL, &c));
    const float *cdev = polca__basis_resident(c);
    polca__eigen_opts eo;
    CHECK_OK(polca__eigen_parse(NULL, "test", N, 1, &eo));
    eo.tol = TOL;
    eo.constraint = cdev;
    eo.n_constraint = 3;
    eo.start = cdev;
    eo.n_start = 3;
    double val, res;
    int32_t conv;
    float *vdev = NULL, v[N], crow[3 * N];
    CHECK_OK(ctx->be->alloc(ctx->be_state, sizeof v, (void **)&vdev));
    polca__eigen_out out = {&val, vdev, &res, &conv, 0, NULL, 0};
    polca__linop op = {N, hvp0, &s};
    CHECK_OK(polca__eigen_solve(ctx, &op, &eo, &out));
    CHECK_OK(ctx->be->download(ctx->be_state, v, vdev, sizeof v));
    for (int r = 0; r < 3; r++) CHECK_OK(polca_basis_get_vector(c, r, crow + r * N, N));
    double a[N * N], w[N], z[N * N], p[N * N], t[N * N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double cc = 0;
            for (int r = 0; r < 3; r++) cc += (double)crow[r * N + i] * crow[r * N + j];
            p[i * N + j] = (i == j) - cc;
        }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, p, N, s.h64[0], N, 0.0, t, N);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, t, N, p, N, 0.0, a, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) a[i * N + j] -= 1e3 * ((i == j) - p[i * N + j]);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++) a[i * N + j] = a[j * N + i] = 0.5 * (a[i * N + j] + a[j * N + i]);
    CHECK(ref_eigh(N, a, w, z) == 0);
    CHECK(conv == 1);
    CHECK_CLOSE(val, w[N - 1], 1e-5 * fabs(w[N - 1]));
    CHECK(ref_abs_cos(N, v, z, N, N - 1) >= 0.9999);
    for (int r = 0; r < 3; r++) {
        double d = 0;
        for (int i = 0; i < N; i++) d += (double)v[i] * crow[r * N + i];
        CHECK(fabs(d) <= 1e-6);
    }
    ctx->be->release(ctx->be_state, vdev);
    polca_basis_destroy(c);
    free_series(&s);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(constraint_with_start_inside_it);
    RUN(algorithm1_largest_algebraic);
    RUN(algorithm1_k1_and_smallest);
    RUN(algorithm1_negative_definite);
    RUN(algorithm1_shuffled);
    RUN(algorithm1_status_paths);
    return harness_done();
}
