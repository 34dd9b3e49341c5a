/*
 * tests/test_polca_engine.c - the POLCA decomposition against analytic
 * models whose derivatives are known in closed form (double precision):
 *
 *   quadratic  l_i(theta) = sum_j 1/2 lam_ij y_j^2 + a_ij y_j,  y = U theta
 *              (U orthonormal). With the basis b_k = rows of U, second-order
 *              POLCA (exact c, or secant) sums over k to the exact change.
 *   softplus   l_i(theta) = sum_j log(1 + exp(w_ij y_j + a_ij)): curved,
 *              not quadratic, Hessian diagonal in the U basis, so second
 *              order beats first order on the change in exact loss (the
 *              situation POLCA's Hessian eigenbasis aims at).
 *
 * Identity for any complete orthonormal basis: sum_k Delta1 = <grad l, dtheta>.
 */
#include <lapacke.h>

#include "harness.h"
#include "polca_engine.h"

enum { P = 6, N = 5, T1 = 7 };

typedef struct model {
    int softplus;
    double U[P][P];   /* rows orthonormal */
    double lam[N][P]; /* quadratic: curvatures along U rows */
    double a[N][P];
    double w[N][P];   /* softplus weights */
    double theta[T1][P];
    int fail_at; /* checkpoint whose evaluation fails, or -1 */
    int calls;
    /* injected values: at checkpoint t, set `set` (0 basis, 1 LCA), the
     * source returns v for quantity what (LOSS, G, C; k is ignored for
     * LOSS, every k when k < 0) of sample i, or (THETA) theta[0] = v */
    struct {
        int what, t, set, k, i;
        float v;
    } inj[4];
    int n_inj;
} model;

enum { INJ_LOSS, INJ_G, INJ_C, INJ_THETA };

static void inject(model *m, int what, int t, int set, int k, int i, float v) {
    m->inj[m->n_inj].what = what, m->inj[m->n_inj].t = t, m->inj[m->n_inj].set = set;
    m->inj[m->n_inj].k = k, m->inj[m->n_inj].i = i, m->inj[m->n_inj].v = v;
    m->n_inj++;
}

static double frand(unsigned long long *s) { return harness_uniform(s); }

/* Orthonormal rows by QR (LAPACK, double) of a random matrix. */
static void random_orthonormal(double q[P][P], unsigned long long seed) {
    double a[P * P], tau[P];
    unsigned long long s = seed;
    for (int i = 0; i < P * P; i++) a[i] = frand(&s);
    LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, P, P, a, P, tau);
    LAPACKE_dorgqr(LAPACK_ROW_MAJOR, P, P, P, a, P, tau);
    memcpy(q, a, sizeof a);
}

static void make_model(model *m, int softplus, unsigned long long seed) {
    memset(m, 0, sizeof *m);
    m->softplus = softplus;
    m->fail_at = -1;
    random_orthonormal(m->U, seed);
    unsigned long long s = seed * 7 + 3;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < P; j++) {
            m->lam[i][j] = 2.0 * frand(&s); /* indefinite on purpose */
            m->a[i][j] = frand(&s);
            m->w[i][j] = 3.0 * frand(&s);
        }
    for (int t = 0; t < T1; t++)
        for (int j = 0; j < P; j++)
            m->theta[t][j] = t == 0 ? frand(&s) : m->theta[t - 1][j] + 0.3 * frand(&s);
    /* keep parameters exactly representable in float: the engine reads floats */
    for (int t = 0; t < T1; t++)
        for (int j = 0; j < P; j++) m->theta[t][j] = (float)m->theta[t][j];
}

static double dotp(const double *x, const double *y) {
    double s = 0;
    for (int j = 0; j < P; j++) s += x[j] * y[j];
    return s;
}

static double loss(const model *m, int i, const double *th) {
    double l = 0;
    for (int j = 0; j < P; j++) {
        double y = dotp(m->U[j], th);
        l += m->softplus ? log1p(exp(m->w[i][j] * y + m->a[i][j]))
                         : 0.5 * m->lam[i][j] * y * y + m->a[i][j] * y;
    }
    return l;
}

static void grad(const model *m, int i, const double *th, double *gr) {
    memset(gr, 0, P * sizeof *gr);
    for (int j = 0; j < P; j++) {
        double y = dotp(m->U[j], th), sig = 1 / (1 + exp(-(m->w[i][j] * y + m->a[i][j])));
        double coef = m->softplus ? sig * m->w[i][j] : m->lam[i][j] * y + m->a[i][j];
        for (int q = 0; q < P; q++) gr[q] += coef * m->U[j][q];
    }
}

static double curv(const model *m, int i, const double *th, const double *d) {
    double c = 0;
    for (int j = 0; j < P; j++) {
        double ud = dotp(m->U[j], d), y = dotp(m->U[j], th);
        double sig = 1 / (1 + exp(-(m->w[i][j] * y + m->a[i][j])));
        c += (m->softplus ? sig * (1 - sig) * m->w[i][j] * m->w[i][j] : m->lam[i][j]) * ud * ud;
    }
    return c;
}

static int32_t src_read(void *user, int64_t t, int64_t *step, float *theta) {
    model *m = user;
    *step = 100 + 20 * t;
    for (int j = 0; j < P; j++) theta[j] = (float)m->theta[t][j];
    for (int q = 0; q < m->n_inj; q++)
        if (m->inj[q].what == INJ_THETA && m->inj[q].t == t) theta[0] = m->inj[q].v;
    return POLCA_OK;
}

static int32_t src_dirderivs(void *user, int64_t t, const float *theta, int32_t set,
                             int64_t first, int64_t k, const float *dirs, float *losses,
                             float *g, float *c) {
    model *m = user;
    (void)first;
    double th[P], gr[P], d[P];
    for (int j = 0; j < P; j++) /* an injected theta reaches s_k only */
        th[j] = isfinite(theta[j]) ? theta[j] : m->theta[t][j];
    if (m->fail_at >= 0 && m->calls++ >= m->fail_at)
        return polca__fail(POLCA_ERR_BACKEND, "test source failed on purpose");
    for (int i = 0; i < N; i++) {
        if (losses) losses[i] = (float)loss(m, i, th);
        grad(m, i, th, gr);
        for (int64_t q = 0; q < k; q++) {
            for (int j = 0; j < P; j++) d[j] = dirs[q * P + j];
            g[q * N + i] = (float)dotp(gr, d);
            if (c) c[q * N + i] = (float)curv(m, i, th, d);
        }
    }
    for (int q = 0; q < m->n_inj; q++) {
        int i = m->inj[q].i, kk = m->inj[q].k;
        if (m->inj[q].t != t || m->inj[q].set != set) continue;
        if (m->inj[q].what == INJ_LOSS && losses) losses[i] = m->inj[q].v;
        for (int64_t d = 0; d < k; d++) {
            if (kk >= 0 && first + d != kk) continue;
            if (m->inj[q].what == INJ_G) g[d * N + i] = m->inj[q].v;
            if (m->inj[q].what == INJ_C && c) c[d * N + i] = m->inj[q].v;
        }
    }
    return POLCA_OK;
}

typedef struct run {
    int64_t steps[T1];
    float exact[N * T1], polca[P * N * T1], first[P * N * T1], fisher[P * N * T1],
        lca[P * N * T1], change[N * (T1 - 1)];
} run;

static polca_context *cpu_ctx(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static int32_t run_engine_fisher(model *m, const double basis[P][P], int curvature,
                                 int64_t block, int with_lca, int fisher, run *r) {
    float b[P * P], e[P * P] = {0};
    for (int i = 0; i < P * P; i++) b[i] = (float)basis[i / P][i % P];
    for (int i = 0; i < P; i++) e[i * P + i] = 1.0f;
    polca__engine_source src = {m, T1, P, N, src_read, src_dirderivs};
    polca__engine_request req = {b, P, with_lca ? e : NULL, with_lca ? P : 0, curvature, 1, fisher,
                                 block, NULL};
    polca__engine_output out = {r->steps, r->exact, r->polca, r->first, fisher ? r->fisher : NULL,
                                with_lca ? r->lca : NULL, r->change};
    polca_context *ctx = cpu_ctx();
    int32_t st = polca__engine_run(ctx, &src, &req, &out);
    polca_context_destroy(ctx);
    return st;
}

static int32_t run_engine(model *m, const double basis[P][P], int curvature, int64_t block,
                          int with_lca, run *r) {
    return run_engine_fisher(m, basis, curvature, block, with_lca, 1, r);
}

/* Sum over the complete eigenbasis of second-order POLCA = exact change, for
 * both curvature forms; first order sums to <grad, dtheta>. */
TEST(quadratic_complete_basis_is_exact) {
    static model m;
    static run r;
    make_model(&m, 0, 11);
    for (int mode = POLCA__CURV_EXACT; mode <= POLCA__CURV_SECANT; mode++) {
        CHECK_OK(run_engine(&m, m.U, mode, 4, 0, &r));
        for (int t = 0; t < T1; t++) CHECK(r.steps[t] == 100 + 20 * t);
        for (int i = 0; i < N; i++)
            for (int t = 0; t + 1 < T1; t++) {
                double sum2 = 0, sum1 = 0, gr[P], dth[P];
                for (int k = 0; k < P; k++) {
                    int64_t x = ((int64_t)k * N + i) * T1;
                    sum2 += (double)r.polca[x + t + 1] - r.polca[x + t];
                    sum1 += (double)r.first[x + t + 1] - r.first[x + t];
                }
                double exact = loss(&m, i, m.theta[t + 1]) - loss(&m, i, m.theta[t]);
                grad(&m, i, m.theta[t], gr);
                for (int j = 0; j < P; j++) dth[j] = m.theta[t + 1][j] - m.theta[t][j];
                /* float32 storage of g, c and L: ~1e-6 relative to the terms */
                CHECK_CLOSE(sum2, exact, 2e-5);
                CHECK_CLOSE(sum1, dotp(gr, dth), 2e-5);
                CHECK_CLOSE(r.exact[i * T1 + t], loss(&m, i, m.theta[t]), 1e-6);
                CHECK(r.change[i * (T1 - 1) + t] == r.exact[i * T1 + t + 1] - r.exact[i * T1 + t]);
            }
        for (int64_t x = 0; x < P * N; x++) CHECK(r.polca[x * T1] == 0.0f && r.first[x * T1] == 0.0f);
    }
}

/* Any complete orthonormal basis: the first-order identity of
 * docs/method.md#first-order-polca-eq-2. */
TEST(first_order_identity_random_basis) {
    static model m;
    static run r;
    double q[P][P];
    make_model(&m, 1, 21);
    random_orthonormal(q, 99);
    CHECK_OK(run_engine(&m, q, POLCA__CURV_NONE, 1, 0, &r));
    for (int i = 0; i < N; i++)
        for (int t = 0; t + 1 < T1; t++) {
            double sum1 = 0, gr[P], dth[P];
            for (int k = 0; k < P; k++) {
                int64_t x = ((int64_t)k * N + i) * T1;
                sum1 += (double)r.first[x + t + 1] - r.first[x + t];
                /* curvature "none": the main output is first order */
                CHECK(r.polca[x + t] == r.first[x + t]);
            }
            grad(&m, i, m.theta[t], gr);
            for (int j = 0; j < P; j++) dth[j] = m.theta[t + 1][j] - m.theta[t][j];
            CHECK_CLOSE(sum1, dotp(gr, dth), 2e-5);
        }
}

/* On a curved non-quadratic loss, the second-order term brings the sum over
 * the basis closer to the exact change than first order. */
TEST(second_order_beats_first_order) {
    static model m;
    static run r;
    make_model(&m, 1, 31);
    CHECK_OK(run_engine(&m, m.U, POLCA__CURV_EXACT, 6, 0, &r));
    double err1 = 0, err2 = 0;
    for (int i = 0; i < N; i++)
        for (int t = 0; t + 1 < T1; t++) {
            double sum2 = 0, sum1 = 0;
            for (int k = 0; k < P; k++) {
                int64_t x = ((int64_t)k * N + i) * T1;
                sum2 += (double)r.polca[x + t + 1] - r.polca[x + t];
                sum1 += (double)r.first[x + t + 1] - r.first[x + t];
            }
            double exact = loss(&m, i, m.theta[t + 1]) - loss(&m, i, m.theta[t]);
            err1 += fabs(sum1 - exact);
            err2 += fabs(sum2 - exact);
        }
    printf("  mean |error| vs exact change: first order %.3e, second order %.3e\n",
           err1 / (N * (T1 - 1)), err2 / (N * (T1 - 1)));
    CHECK(err2 < 0.5 * err1);
}

/* Secant form equals the trapezoid formula computed from the g values; the
 * Fisher output is g^2; per-sample LCA on unit vectors equals the direct
 * per-parameter sum of d_j l_i * dtheta_j. */
TEST(secant_fisher_and_lca_match_direct_formulas) {
    static model m;
    static run r;
    make_model(&m, 1, 41);
    CHECK_OK(run_engine(&m, m.U, POLCA__CURV_SECANT, 2, 1, &r));
    for (int i = 0; i < N; i++)
        for (int t = 0; t + 1 < T1; t++) {
            double g0[P], g1[P];
            grad(&m, i, m.theta[t], g0);
            grad(&m, i, m.theta[t + 1], g1);
            for (int k = 0; k < P; k++) {
                int64_t x = ((int64_t)k * N + i) * T1;
                double dth[P], s;
                for (int j = 0; j < P; j++) dth[j] = m.theta[t + 1][j] - m.theta[t][j];
                s = dotp(m.U[k], dth);
                double trap = 0.5 * (dotp(g0, m.U[k]) + dotp(g1, m.U[k])) * s;
                CHECK_CLOSE((double)r.polca[x + t + 1] - r.polca[x + t], trap, 1e-5);
                double gk = dotp(g0, m.U[k]);
                CHECK_CLOSE(r.fisher[x + t], gk * gk, 1e-5);
                /* LCA along e_k */
                CHECK_CLOSE((double)r.lca[x + t + 1] - r.lca[x + t], g0[k] * dth[k], 1e-5);
            }
        }
}

TEST(block_size_does_not_change_results) {
    static model m;
    static run r1, r2;
    make_model(&m, 1, 51);
    CHECK_OK(run_engine(&m, m.U, POLCA__CURV_EXACT, 1, 1, &r1));
    CHECK_OK(run_engine(&m, m.U, POLCA__CURV_EXACT, 5, 1, &r2));
    CHECK(memcmp(r1.polca, r2.polca, sizeof r1.polca) == 0);
    CHECK(memcmp(r1.lca, r2.lca, sizeof r1.lca) == 0);
}

TEST(source_failure_propagates_with_position) {
    static model m;
    static run r;
    make_model(&m, 0, 61);
    m.fail_at = 5; /* the sixth dirderivs call: checkpoint 2 with block 3 */
    CHECK_STATUS(run_engine(&m, m.U, POLCA__CURV_EXACT, 3, 0, &r), POLCA_ERR_BACKEND);
    CHECK_ERROR_MENTIONS("checkpoint 2");
    CHECK_ERROR_MENTIONS("failed on purpose");
}

TEST(too_few_checkpoints_and_bad_requests) {
    static model m;
    make_model(&m, 0, 71);
    float b[P * P] = {0};
    int64_t steps[T1];
    static float ex[N * T1], po[P * N * T1];
    polca__engine_source src = {&m, 1, P, N, src_read, src_dirderivs};
    polca__engine_request req = {b, P, NULL, 0, POLCA__CURV_EXACT, 0, 0, 4, NULL};
    polca__engine_output out = {steps, ex, po, NULL, NULL, NULL, NULL};
    polca_context *ctx = cpu_ctx();
    CHECK_STATUS(polca__engine_run(ctx, &src, &req, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("at least 2 checkpoints");
    src.n_checkpoints = T1;
    req.block = 0;
    CHECK_STATUS(polca__engine_run(ctx, &src, &req, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("block=0");
    polca_context_destroy(ctx);
}

static int32_t stop_at_three(void *user, const char *stage, int64_t done, int64_t total,
                             double value) {
    (void)user, (void)stage, (void)total, (void)value;
    return done >= 3;
}

TEST(progress_can_cancel) {
    static model m;
    static run r;
    make_model(&m, 0, 81);
    float b[P * P];
    for (int i = 0; i < P * P; i++) b[i] = (float)m.U[i / P][i % P];
    polca__engine_source src = {&m, T1, P, N, src_read, src_dirderivs};
    polca__engine_request req = {b, P, NULL, 0, POLCA__CURV_EXACT, 0, 0, 4, NULL};
    polca__engine_output out = {r.steps, r.exact, r.polca, NULL, NULL, NULL, NULL};
    polca_context *ctx = cpu_ctx();
    CHECK_OK(polca_context_set_progress(ctx, stop_at_three, NULL));
    CHECK_STATUS(polca__engine_run(ctx, &src, &req, &out), POLCA_ERR_CANCELLED);
    polca_context_destroy(ctx);
}

/* Every quantity the source returns, and every value stored, must be
 * finite in float32: a NaN/Inf fails with POLCA_ERR_NOT_FINITE naming the
 * checkpoint (index and step) and the first bad quantity. */
TEST(non_finite_values_are_refused_by_name) {
    static model m;
    static run r;
    const float inf = INFINITY, big = 3.0e38f;
    struct {
        const char *what;
        int curvature, with_lca, fisher;
        int inj[2][5]; /* what, t, set, k, i; what -1: none */
        float v[2];
        const char *names[3];
    } cases[] = {
        {"NaN loss", POLCA__CURV_EXACT, 0, 0, {{INJ_LOSS, 2, 0, 0, 3}, {-1}}, {NAN},
         {"checkpoint 2 (step 140)", "loss of sample 3", "NaN"}},
        {"Inf g", POLCA__CURV_NONE, 0, 0, {{INJ_G, 4, 0, 5, 1}, {-1}}, {-inf},
         {"checkpoint 4 (step 180)", "g[5][1]", "-Inf"}},
        {"NaN g on an LCA axis", POLCA__CURV_NONE, 1, 0, {{INJ_G, 3, 1, 2, 4}, {-1}}, {NAN},
         {"checkpoint 3 (step 160)", "g_lca[2][4]", "LCA axis 2"}},
        {"Inf c", POLCA__CURV_EXACT, 0, 0, {{INJ_C, 1, 0, 0, 0}, {-1}}, {inf},
         {"checkpoint 1 (step 120)", "c[0][0]", "+Inf"}},
        {"Inf theta: s_k", POLCA__CURV_SECANT, 0, 0, {{INJ_THETA, 5, 0, 0, 0}, {-1}}, {inf},
         {"checkpoint 5 (step 200)", "s_0", "since checkpoint 4"}},
        {"g^2 overflows float32 (Fisher)", POLCA__CURV_EXACT, 0, 1, {{INJ_G, 2, 0, 3, 1}, {-1}},
         {1e20f}, {"checkpoint 2 (step 140)", "Fisher", "sample 1 along basis direction 3"}},
        {"g s overflows float32 (POLCA)", POLCA__CURV_NONE, 0, 0, {{INJ_G, 2, 0, -1, 2}, {-1}},
         {big}, {"checkpoint 3 (step 160)", "projected loss (POLCA) of sample 2", "float32"}},
        {"g s overflows float32 (first order only)", POLCA__CURV_SECANT, 0, 0,
         {{INJ_G, 2, 0, -1, 2}, {INJ_G, 3, 0, -1, 2}}, {big, -big},
         {"checkpoint 3 (step 160)", "first-order projected loss of sample 2", "float32"}},
        {"g s overflows float32 (LCA)", POLCA__CURV_NONE, 1, 0, {{INJ_G, 2, 1, -1, 0}, {-1}},
         {big}, {"checkpoint 3 (step 160)", "LCA projected loss of sample 0", "float32"}},
        {"loss change overflows float32", POLCA__CURV_NONE, 0, 0,
         {{INJ_LOSS, 0, 0, 0, 4}, {INJ_LOSS, 1, 0, 0, 4}}, {-big, big},
         {"checkpoint 1 (step 120)", "loss change of sample 4 since checkpoint 0", "6e+38"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        make_model(&m, 0, 91);
        /* a long move from checkpoint 2 to 3: |s_k| >> 1 along some k */
        for (int t = 3; t < T1; t++)
            for (int j = 0; j < P; j++) m.theta[t][j] = (float)(m.theta[t][j] + 50.0);
        for (int q = 0; q < 2; q++)
            if (cases[c].inj[q][0] >= 0)
                inject(&m, cases[c].inj[q][0], cases[c].inj[q][1], cases[c].inj[q][2],
                       cases[c].inj[q][3], cases[c].inj[q][4], cases[c].v[q]);
        int32_t st = run_engine_fisher(&m, m.U, cases[c].curvature, 4, cases[c].with_lca,
                                       cases[c].fisher, &r);
        if (st != POLCA_ERR_NOT_FINITE) {
            FAILF("%s: status %d (%s), expected NOT_FINITE", cases[c].what, (int)st,
                  polca_last_error());
            continue;
        }
        for (int q = 0; q < 3; q++)
            if (!strstr(polca_last_error(), cases[c].names[q]))
                FAILF("%s: '%s' does not mention '%s'", cases[c].what, polca_last_error(),
                      cases[c].names[q]);
    }
    /* the same moves without injections are fine, with every output finite */
    make_model(&m, 0, 91);
    for (int t = 3; t < T1; t++)
        for (int j = 0; j < P; j++) m.theta[t][j] = (float)(m.theta[t][j] + 50.0);
    CHECK_OK(run_engine(&m, m.U, POLCA__CURV_EXACT, 4, 1, &r));
    for (size_t x = 0; x < sizeof r.polca / sizeof r.polca[0]; x++)
        CHECK(isfinite(r.polca[x]) && isfinite(r.first[x]) && isfinite(r.fisher[x]) &&
              isfinite(r.lca[x]));
}

int main(void) {
    RUN(quadratic_complete_basis_is_exact);
    RUN(first_order_identity_random_basis);
    RUN(second_order_beats_first_order);
    RUN(secant_fisher_and_lca_match_direct_formulas);
    RUN(block_size_does_not_change_results);
    RUN(source_failure_propagates_with_position);
    RUN(too_few_checkpoints_and_bad_requests);
    RUN(progress_can_cancel);
    RUN(non_finite_values_are_refused_by_name);
    return harness_done();
}
