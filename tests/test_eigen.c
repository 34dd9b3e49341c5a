/*
 * tests/test_eigen.c - polca_eigen_solve against LAPACK (LAPACKE_dsyev in
 * double) on symmetric matrices with chosen spectra: separated, clustered,
 * negative, mixed signs, for each "which"; warm start, determinism, the
 * budget, callback failures, cancellation and bad input.
 *
 * Tolerances (stated once, not tuned to the output): with option tol = 1e-6
 * on the relative residual, each eigenvalue matches LAPACK's to 1e-5
 * relative; an eigenvector whose eigenvalue is separated by >= 1e-2
 * relative from all others has |cos| >= 0.9999 with LAPACK's; inside a
 * cluster the vector lies in the cluster's LAPACK eigenspace to
 * ||P v|| >= 0.9999; the residual recomputed in double is at most
 * tol |lambda| + 5e-6 ||A|| (the float32 operator's own rounding); the
 * vectors are orthonormal to 1e-5.
 */
#include "eigen_ref.h"

#define TOL 1e-6

static int which_code(const char *which) {
    return strcmp(which, "smallest_algebraic") == 0  ? 2
           : strcmp(which, "largest_magnitude") == 0 ? 1
                                                     : 0;
}

/* Indices of the reference eigenvalues (ascending w) in wanted order. */
static void wanted_indices(int64_t n, const double *w, const char *which, int64_t *idx) {
    int code = which_code(which);
    for (int64_t i = 0; i < n; i++) idx[i] = code == 2 ? i : n - 1 - i;
    if (code == 1)
        for (int64_t i = 1; i < n; i++) { /* insertion sort by |w| descending */
            int64_t v = idx[i], p = i;
            while (p > 0 && fabs(w[v]) > fabs(w[idx[p - 1]])) {
                idx[p] = idx[p - 1];
                p--;
            }
            idx[p] = v;
        }
}

static polca_options *solver_options(const char *which, double tol) {
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "which", which);
    polca_options_set_double(o, "tol", tol);
    return o;
}

/* Solves for k pairs of the matrix with spectrum `lambda` and checks them
 * against LAPACK as stated at the top. n_ref = n: full dsyev; else (for
 * largest_algebraic only) the n_ref largest pairs by dsyevr, n_ref covering
 * every eigenvalue within 1e-2 of a wanted one. */
static void check_case_ref(int64_t n, const double *lambda, const char *which, int64_t k,
                           unsigned long long seed, int64_t n_ref) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    double *a = ref_matrix(n, lambda, seed);
    CHECK(a);
    float *af = to_float(a, (size_t)(n * n));
    double *a32 = to_double(af, (size_t)(n * n)); /* the operator actually applied */
    double *w = malloc((size_t)n_ref * sizeof *w), *z = malloc((size_t)(n * n_ref) * sizeof *z);
    int64_t *idx = malloc((size_t)n_ref * sizeof *idx);
    CHECK(af && a32 && w && z && idx);
    if (n_ref == n)
        CHECK(ref_eigh(n, a32, w, z) == 0);
    else
        CHECK(which_code(which) == 0 && ref_eigh_top(n, a32, n_ref, w, z) == 0);
    wanted_indices(n_ref, w, which, idx);
    double anorm = fabs(w[0]) > fabs(w[n_ref - 1]) ? fabs(w[0]) : fabs(w[n_ref - 1]);

    double vals[16], res[16];
    int32_t conv[16];
    int64_t products = -1;
    float *vec = malloc((size_t)(k * n) * sizeof *vec);
    CHECK(vec && k <= 16);
    dense_op op = {n, af, 0, 0, 0, 0};
    polca_options *o = solver_options(which, TOL);
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &op, k, NULL, 0, o, vals, vec, res, conv,
                               &products));
    CHECK(products == op.calls);
    printf("  n=%lld %s k=%lld: %lld products\n", (long long)n, which, (long long)k,
           (long long)products);
    for (int64_t i = 0; i < k; i++) {
        double ref = w[idx[i]];
        EXPECT(conv[i] == 1);
        if (!(fabs(vals[i] - ref) <= 1e-5 * fabs(ref)))
            FAILF("pair %lld: eigenvalue %.9g, LAPACK %.9g", (long long)i, vals[i], ref);
        /* The cluster of ref: every eigenvalue within 1e-2 relative. */
        double proj = 0;
        int members = 0;
        for (int64_t c = 0; c < n_ref; c++)
            if (fabs(w[c] - ref) < 1e-2 * fabs(ref)) {
                double cs = ref_abs_cos(n, vec + i * n, z, n_ref, c);
                proj += cs * cs;
                members++;
            }
        if (!(sqrt(proj) >= 0.9999))
            FAILF("pair %lld (cluster of %d): ||P v|| = %.9f < 0.9999", (long long)i, members,
                  sqrt(proj));
        double r64 = ref_residual(n, a32, vec + i * n, vals[i]);
        if (!(r64 <= TOL * fabs(vals[i]) + 5e-6 * anorm))
            FAILF("pair %lld: residual in double %.3g exceeds tol bound", (long long)i, r64);
        if (!(fabs(res[i] - r64) <= 5e-6 * anorm))
            FAILF("pair %lld: reported residual %.3g, recomputed %.3g", (long long)i, res[i],
                  r64);
    }
    double orth = ref_orthonormality(n, k, vec);
    if (!(orth <= 1e-5)) FAILF("vectors not orthonormal: %.3g", orth);
    polca_options_destroy(o);
    free(vec), free(a), free(af), free(a32), free(w), free(z), free(idx);
    polca_context_destroy(ctx);
}

static void check_case(int64_t n, const double *lambda, const char *which, int64_t k,
                       unsigned long long seed) {
    check_case_ref(n, lambda, which, k, seed, n);
}

/* Spectrum: a bulk uniform in [lo, hi] plus given extremes at the front. */
static double *spectrum(int64_t n, double lo, double hi, const double *extremes, int n_ext,
                        unsigned long long seed) {
    double *l = malloc((size_t)n * sizeof *l);
    unsigned long long s = seed;
    for (int64_t i = 0; i < n; i++)
        l[i] = i < n_ext ? extremes[i] : lo + (hi - lo) * 0.5 * (harness_uniform(&s) + 1.0);
    return l;
}

TEST(largest_algebraic_separated) {
    const double ext[] = {10.0, 9.0, 8.2, 7.5, 7.0, 6.6};
    double *l = spectrum(300, -1.0, 5.0, ext, 6, 11);
    check_case(300, l, "largest_algebraic", 5, 1);
    free(l);
}

TEST(largest_magnitude_mixed_signs) {
    const double ext[] = {-10.0, 9.5, -9.0, 8.0, -7.2};
    double *l = spectrum(400, -5.0, 3.0, ext, 5, 12);
    check_case(400, l, "largest_magnitude", 4, 2);
    free(l);
}

TEST(smallest_algebraic_negative) {
    const double ext[] = {-20.0, -19.0, -18.5, -16.0};
    double *l = spectrum(400, -12.0, 4.0, ext, 4, 13);
    check_case(400, l, "smallest_algebraic", 3, 3);
    free(l);
}

/* A cluster of three within 2e-4 relative, a pair within 1e-3, then a gap. */
TEST(clustered_each_which) {
    const double ext[] = {10.0, 9.999, 9.998, 8.0, 7.992, 6.0, -10.5, -10.499, -10.498};
    double *l = spectrum(500, -4.0, 4.0, ext, 9, 14);
    check_case(500, l, "largest_algebraic", 6, 4);
    check_case(500, l, "smallest_algebraic", 3, 4);
    check_case(500, l, "largest_magnitude", 6, 4);
    free(l);
}

/* A few thousand: eigenvalues decaying like a Hessian's top, all positive. */
TEST(two_thousand) {
    int64_t n = 2000;
    double *l = malloc((size_t)n * sizeof *l);
    CHECK(l);
    unsigned long long s = 21;
    for (int64_t i = 0; i < n; i++)
        l[i] = i < 8 ? 50.0 * pow(0.8, (double)i) : 0.5 * (harness_uniform(&s) + 1.0) * 3.0;
    check_case_ref(n, l, "largest_algebraic", 4, 5, 12); /* top 8 + 4 of the bulk */
    free(l);
}

/* k = n: the whole space (the Krylov space is exhausted before any
 * restart), and n = 1. */
TEST(whole_space_and_tiny) {
    const double ext[] = {3.0, -2.0, 1.5, 0.25, -0.75, 5.0};
    check_case(6, ext, "largest_algebraic", 6, 6);
    check_case(6, ext, "largest_magnitude", 3, 6);
    const double one[] = {-4.0};
    check_case(1, one, "smallest_algebraic", 1, 7);
}

/* Warm start from the eigenvectors of a nearby matrix (A + E, ||E|| ~ 1e-3
 * ||A||) needs fewer products than a random start, and gives the same
 * answer. */
TEST(warm_start_cuts_products) {
    int64_t n = 400, k = 3;
    const double ext[] = {10.0, 9.0, 8.5, 8.0};
    double *l = spectrum(n, -2.0, 6.0, ext, 4, 31);
    double *a = ref_matrix(n, l, 8);
    CHECK(l && a);
    float *af = to_float(a, (size_t)(n * n)), *bf = to_float(a, (size_t)(n * n));
    CHECK(af && bf);
    unsigned long long s = 99;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            float e = 1e-2f * harness_uniform(&s) / sqrtf((float)n);
            bf[i * n + j] += e;
            if (j != i) bf[j * n + i] += e;
        }
    polca_context *ctx = ref_context();
    CHECK(ctx);
    polca_options *o = solver_options("largest_algebraic", TOL);
    double v0[3], v1[3], v2[3];
    float *x0 = malloc((size_t)(k * n) * 4), *x1 = malloc((size_t)(k * n) * 4),
          *x2 = malloc((size_t)(k * n) * 4);
    int64_t p0, p_cold, p_warm;
    dense_op opa = {n, af, 0, 0, 0, 0}, opb = {n, bf, 0, 0, 0, 0};
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &opa, k, NULL, 0, o, v0, x0, NULL, NULL, &p0));
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &opb, k, NULL, 0, o, v1, x1, NULL, NULL,
                               &p_cold));
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &opb, k, x0, k, o, v2, x2, NULL, NULL,
                               &p_warm));
    printf("  products: cold %lld, warm %lld\n", (long long)p_cold, (long long)p_warm);
    CHECK(p_warm < p_cold);
    for (int i = 0; i < k; i++) CHECK_CLOSE(v2[i], v1[i], 1e-5 * fabs(v1[i]));
    for (int i = 0; i < k; i++) {
        double d = 0;
        for (int64_t j = 0; j < n; j++) d += (double)x1[i * n + j] * x2[i * n + j];
        CHECK(fabs(d) >= 0.9999);
    }
    polca_options_destroy(o);
    free(l), free(a), free(af), free(bf), free(x0), free(x1), free(x2);
    polca_context_destroy(ctx);
}

/* Same seed: bit-identical results; another seed: other vectors (to
 * rounding), same eigenvalues. */
TEST(deterministic_for_a_seed) {
    int64_t n = 300, k = 3;
    const double ext[] = {7.0, 6.0, 5.5, 5.0};
    double *l = spectrum(n, -3.0, 4.0, ext, 4, 41);
    double *a = ref_matrix(n, l, 9);
    float *af = to_float(a, (size_t)(n * n));
    CHECK(l && a && af);
    polca_context *ctx = ref_context();
    CHECK(ctx);
    double va[3], vb[3], vc[3], ra[3], rb[3];
    float *xa = malloc((size_t)(k * n) * 4), *xb = malloc((size_t)(k * n) * 4),
          *xc = malloc((size_t)(k * n) * 4);
    int64_t pa, pb, pc;
    dense_op op = {n, af, 0, 0, 0, 0};
    polca_options *o = solver_options("largest_algebraic", TOL);
    polca_options_set_int(o, "seed", 1234);
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &op, k, NULL, 0, o, va, xa, ra, NULL, &pa));
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &op, k, NULL, 0, o, vb, xb, rb, NULL, &pb));
    CHECK(pa == pb);
    CHECK(memcmp(va, vb, sizeof va) == 0 && memcmp(ra, rb, sizeof ra) == 0);
    CHECK(memcmp(xa, xb, (size_t)(k * n) * 4) == 0);
    polca_options_set_int(o, "seed", 1235);
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &op, k, NULL, 0, o, vc, xc, NULL, NULL, &pc));
    CHECK(memcmp(xa, xc, (size_t)(k * n) * 4) != 0);
    for (int i = 0; i < k; i++) CHECK_CLOSE(vc[i], va[i], 1e-5 * fabs(va[i]));
    polca_options_destroy(o);
    free(l), free(a), free(af), free(xa), free(xb), free(xc);
    polca_context_destroy(ctx);
}

/* An exhausted budget is POLCA_ERR_NOT_CONVERGED with every output written:
 * Ritz estimates, their true residuals, converged flags, products. */
TEST(budget_exhausted) {
    int64_t n = 300, k = 2;
    /* A flat top (gap ratio ~1e-3) that 10 products cannot resolve. */
    double *l = spectrum(n, 0.0, 1.0, NULL, 0, 51);
    double *a = ref_matrix(n, l, 10);
    float *af = to_float(a, (size_t)(n * n));
    CHECK(l && a && af);
    polca_context *ctx = ref_context();
    CHECK(ctx);
    polca_options *o = solver_options("largest_algebraic", TOL);
    polca_options_set_int(o, "max_products", 10);
    double vals[2] = {-1e300, -1e300}, res[2] = {-1, -1};
    int32_t conv[2] = {7, 7};
    int64_t products = -1;
    float *vec = malloc((size_t)(k * n) * 4);
    CHECK(vec);
    for (int64_t i = 0; i < k * n; i++) vec[i] = 1e30f;
    dense_op op = {n, af, 0, 0, 0, 0};
    CHECK_STATUS(polca_eigen_solve(ctx, n, dense_apply, &op, k, NULL, 0, o, vals, vec, res,
                                   conv, &products),
                 POLCA_ERR_NOT_CONVERGED);
    CHECK_ERROR_MENTIONS("did not reach");
    CHECK(products == 10 && op.calls == 10);
    CHECK(conv[0] == 0 || conv[1] == 0);
    CHECK(conv[0] == (conv[0] != 0) && conv[1] == (conv[1] != 0));
    double *a32 = to_double(af, (size_t)(n * n));
    CHECK(a32);
    for (int i = 0; i < k; i++) {
        CHECK(vals[i] > 0.5 && vals[i] <= 1.0 + 1e-6); /* Rayleigh quotients inside the spectrum */
        double r64 = ref_residual(n, a32, vec + i * n, vals[i]);
        CHECK(fabs(res[i] - r64) <= 5e-6);          /* the true residual, not an estimate */
        CHECK(conv[i] == (res[i] <= TOL * fabs(vals[i])));
    }
    CHECK(ref_orthonormality(n, k, vec) <= 1e-5);
    CHECK(vals[0] >= vals[1]);
    polca_options_destroy(o);
    free(l), free(a), free(af), free(a32), free(vec);
    polca_context_destroy(ctx);
}

/* The callback's failure reaches the caller; outputs stay untouched. */
TEST(callback_failure_propagates) {
    int64_t n = 50;
    double *l = spectrum(n, -1.0, 1.0, NULL, 0, 61);
    double *a = ref_matrix(n, l, 11);
    float *af = to_float(a, (size_t)(n * n));
    CHECK(l && a && af);
    polca_context *ctx = ref_context();
    CHECK(ctx);
    double vals[2] = {42, 42};
    int64_t products = -5;
    dense_op op = {n, af, 0, 5, POLCA_ERR_IO, 0};
    CHECK_STATUS(polca_eigen_solve(ctx, n, dense_apply, &op, 2, NULL, 0, NULL, vals, NULL, NULL,
                                   NULL, &products),
                 POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("callback 'apply' returned -5 at product 5");
    CHECK(vals[0] == 42 && vals[1] == 42 && products == -5 && op.calls == 5);
    dense_op op2 = {n, af, 0, 3, 17, 0}; /* not a status: cancellation */
    CHECK_STATUS(polca_eigen_solve(ctx, n, dense_apply, &op2, 2, NULL, 0, NULL, vals, NULL,
                                   NULL, NULL, &products),
                 POLCA_ERR_CANCELLED);
    CHECK_ERROR_MENTIONS("returned 17");
    dense_op op3 = {n, af, 0, 0, 0, 4}; /* NaN in a product */
    CHECK_STATUS(polca_eigen_solve(ctx, n, dense_apply, &op3, 2, NULL, 0, NULL, vals, NULL,
                                   NULL, NULL, &products),
                 POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("product 4");
    CHECK(vals[0] == 42 && products == -5);
    free(l), free(a), free(af);
    polca_context_destroy(ctx);
}

typedef struct progress_log {
    int64_t calls, last_done, cancel_at, total;
    int bad;
} progress_log;

static int32_t on_progress(void *user, const char *stage, int64_t done, int64_t total,
                           double value) {
    progress_log *p = user;
    if (strcmp(stage, "eigen") != 0 || done < p->last_done || !(value >= 0.0)) p->bad = 1;
    p->calls++;
    p->last_done = done;
    p->total = total;
    return p->cancel_at && done >= p->cancel_at;
}

TEST(progress_and_cancellation) {
    int64_t n = 200;
    const double ext[] = {5.0, 4.0};
    double *l = spectrum(n, -1.0, 3.0, ext, 2, 71);
    double *a = ref_matrix(n, l, 12);
    float *af = to_float(a, (size_t)(n * n));
    CHECK(l && a && af);
    polca_context *ctx = ref_context();
    CHECK(ctx);
    progress_log pl = {0, 0, 0, 0, 0};
    CHECK_OK(polca_context_set_progress(ctx, on_progress, &pl));
    double vals[2] = {42, 42};
    int64_t products = 0;
    dense_op op = {n, af, 0, 0, 0, 0};
    CHECK_OK(polca_eigen_solve(ctx, n, dense_apply, &op, 2, NULL, 0, NULL, vals, NULL, NULL,
                               NULL, &products));
    CHECK(pl.calls >= 2 && !pl.bad && pl.last_done == products && pl.total == 1000);
    progress_log pc = {0, 0, 3, 0, 0};
    CHECK_OK(polca_context_set_progress(ctx, on_progress, &pc));
    vals[0] = 42;
    CHECK_STATUS(polca_eigen_solve(ctx, n, dense_apply, &op, 2, NULL, 0, NULL, vals, NULL, NULL,
                                   NULL, &products),
                 POLCA_ERR_CANCELLED);
    CHECK(vals[0] == 42 && pc.last_done == 3);
    free(l), free(a), free(af);
    polca_context_destroy(ctx);
}

static int32_t never_called(void *user, const float *x, float *y) {
    (void)user, (void)x, (void)y;
    return POLCA_ERR_INTERNAL;
}

TEST(bad_input) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    double v[4] = {42, 42, 42, 42};
    float start[2 * 8];
    for (int i = 0; i < 16; i++) start[i] = 1.0f + (float)i;
    const char *fn_name = "polca_eigen_solve";
#define SOLVE(c, n, f, k, st, ns, o, vals)                                            \
    polca_eigen_solve(c, n, f, NULL, k, st, ns, o, vals, NULL, NULL, NULL, NULL)
    CHECK_STATUS(SOLVE(NULL, 8, never_called, 1, NULL, 0, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_ERROR_MENTIONS(fn_name);
    polca_options *wrong = NULL;
    CHECK_OK(polca_options_create(&wrong));
    CHECK_STATUS(SOLVE((polca_context *)(void *)wrong, 8, never_called, 1, NULL, 0, NULL, v),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_context");
    CHECK_STATUS(SOLVE(ctx, 0, never_called, 1, NULL, 0, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n'");
    CHECK_STATUS(SOLVE(ctx, 8, NULL, 1, NULL, 0, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'apply'");
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 0, NULL, 0, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'k'");
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 9, NULL, 0, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'k'");
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, NULL, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out_values'");
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, start, 0, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_start'");
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, NULL, 2, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, start, -1, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, start, 9, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("krylov_size");
    start[9] = NAN;
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, start, 2, NULL, v), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("row 1 element 1");
    start[9] = INFINITY;
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, start, 2, NULL, v), POLCA_ERR_NOT_FINITE);
    memset(start + 8, 0, 8 * sizeof(float));
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, start, 2, NULL, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("row 1 is zero");

    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "wich", "largest_algebraic"));
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, NULL, 0, o, v), POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("wich");
    CHECK_OK(polca_options_unset(o, "wich"));
    CHECK_OK(polca_options_set_string(o, "which", "largest"));
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, NULL, 0, o, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'which'");
    CHECK_OK(polca_options_set_int(o, "which", 1));
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, NULL, 0, o, v), POLCA_ERR_OPTION_TYPE);
    CHECK_OK(polca_options_unset(o, "which"));
    const double bad_tols[] = {0.0, -1e-3, 1.0, NAN, INFINITY};
    for (int i = 0; i < 5; i++) {
        CHECK_OK(polca_options_set_double(o, "tol", bad_tols[i]));
        CHECK_STATUS(SOLVE(ctx, 8, never_called, 1, NULL, 0, o, v), POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS("'tol'");
    }
    CHECK_OK(polca_options_unset(o, "tol"));
    CHECK_OK(polca_options_set_int(o, "max_products", 3));
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 2, NULL, 0, o, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'max_products'");
    CHECK_OK(polca_options_unset(o, "max_products"));
    CHECK_OK(polca_options_set_int(o, "krylov_size", 2));
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 2, NULL, 0, o, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'krylov_size'");
    CHECK_OK(polca_options_set_double(o, "krylov_size", 5.0));
    CHECK_STATUS(SOLVE(ctx, 8, never_called, 2, NULL, 0, o, v), POLCA_ERR_OPTION_TYPE);
    CHECK(v[0] == 42 && v[1] == 42); /* untouched */
#undef SOLVE
    polca_options_destroy(o);
    polca_options_destroy(wrong);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(largest_algebraic_separated);
    RUN(largest_magnitude_mixed_signs);
    RUN(smallest_algebraic_negative);
    RUN(clustered_each_which);
    RUN(two_thousand);
    RUN(whole_space_and_tiny);
    RUN(warm_start_cuts_products);
    RUN(deterministic_for_a_seed);
    RUN(budget_exhausted);
    RUN(callback_failure_propagates);
    RUN(progress_and_cancellation);
    RUN(bad_input);
    return harness_done();
}
