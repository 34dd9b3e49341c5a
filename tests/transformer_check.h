/*
 * tests/transformer_check.h - shared by the transformer kernel tests
 * (tests/test_transformer.c, tests/test_transformer_arch.c): a small model
 * with random parameters and data, and the CPU kernels held to the float64
 * reference of tests/transformer_ref.h:
 *   check_losses_and_grad  per-sample losses, mean loss, and the gradient
 *                          against float64 central differences of the mean
 *   check_hvp              H v against four-point mixed differences
 *   check_dirderivs        g and c per sample against central first and
 *                          second differences of the per-sample losses
 *
 * Tolerances (stated by the task, never tuned to results): per-sample losses
 * 1e-5 relative (float32 kernels vs float64: each loss is a few hundred
 * float32 operations deep, ~1e-7 each); gradient, HVP, g and c 1e-4 in
 * ||a - b|| / ||b|| (float32 accumulation over the model, and the float64
 * differences below, whose truncation and rounding errors are ~1e-8 of the
 * values at these sizes, far below it).
 */
#ifndef POLCA_TEST_TRANSFORMER_CHECK_H
#define POLCA_TEST_TRANSFORMER_CHECK_H

#include <stdint.h>

#include "harness.h"
#include "internal.h"
#include "transformer_ref.h"
#include "cpu/transformer_cpu.h"

#define LOSS_TOL 1e-5
#define DERIV_TOL 1e-4

static const polca_backend *be = &polca__cpu_backend; /* its tf_* entries ignore state */

/* ---- a small model with random data ---- */

typedef struct model {
    polca__tf_config cfg;
    polca__layout lay;
    int64_t P, n_seq, N;
    float *theta;
    int32_t *tokens;
    uint8_t *mask;
} model;

static void model_free(model *m) {
    polca__layout_free(&m->lay);
    free(m->theta), free(m->tokens), free(m->mask);
    memset(m, 0, sizeof *m);
}

static int model_make(model *m, polca__tf_config cfg, int64_t n_seq, unsigned long long seed) {
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    if (polca__tf_layout(&cfg, &m->lay)) return 0;
    m->P = m->lay.n_params;
    m->n_seq = n_seq;
    m->theta = malloc((size_t)m->P * 4);
    m->tokens = malloc((size_t)(n_seq * cfg.n_ctx) * 4);
    m->mask = malloc((size_t)(n_seq * cfg.n_ctx));
    if (polca__tf_init(&cfg, seed, m->theta)) return 0;
    unsigned long long s = seed * 7919 + 13;
    /* move off the init (LN weights 1, biases 0) so every term is exercised */
    for (int64_t i = 0; i < m->P; i++) m->theta[i] += 0.2f * harness_uniform(&s);
    for (int64_t i = 0; i < n_seq * cfg.n_ctx; i++) {
        m->tokens[i] = (int32_t)((harness_uniform(&s) + 1.0f) * 0.5f * (float)cfg.d_vocab);
        if (m->tokens[i] >= cfg.d_vocab) m->tokens[i] = cfg.d_vocab - 1;
        int t = (int)(i % cfg.n_ctx);
        m->mask[i] = t + 1 < cfg.n_ctx && harness_uniform(&s) < 0.5f; /* ~75% scored */
    }
    m->N = polca__tf_count_samples(&cfg, n_seq, m->mask);
    return 1;
}

static double *to_double(const float *x, int64_t n) {
    double *d = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static double rel_err_fd(const float *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double ref_mean(const model *m, const double *th, double *losses) {
    return ref_losses(&m->cfg, &m->lay, th, m->n_seq, m->tokens, m->mask, losses);
}

static void random_vec(float *x, int64_t n, unsigned long long seed) {
    unsigned long long s = seed * 0x9E3779B97F4A7C15ULL + 5;
    for (int64_t i = 0; i < n; i++) x[i] = harness_uniform(&s);
}

/* ---- against float64 central differences ---- */

static void check_losses_and_grad(polca__tf_config cfg, unsigned long long seed) {
    model m;
    CHECK(model_make(&m, cfg, 3, seed));
    CHECK(m.N > 0);
    double *th = to_double(m.theta, m.P), *ref = malloc((size_t)m.N * 8);
    float *losses = malloc((size_t)m.N * 4), *grad = malloc((size_t)m.P * 4);
    const double ref_mean_loss = ref_mean(&m, th, ref);
    CHECK_OK(be->tf_losses(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, losses));
    for (int64_t i = 0; i < m.N; i++)
        if (!(fabs(losses[i] - ref[i]) <= LOSS_TOL * fabs(ref[i])))
            FAILF("loss %lld: %.9g vs reference %.9g", (long long)i, losses[i], ref[i]);
    double mean;
    CHECK_OK(be->tf_grad(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, &mean, grad));
    CHECK_CLOSE(mean, ref_mean_loss, LOSS_TOL);
    /* central differences in float64, h = 1e-5: error ~1e-10 */
    double *fd = malloc((size_t)m.P * 8);
    const double h = 1e-5;
    for (int64_t j = 0; j < m.P; j++) {
        const double keep = th[j];
        th[j] = keep + h;
        double up = ref_mean(&m, th, NULL);
        th[j] = keep - h;
        double dn = ref_mean(&m, th, NULL);
        th[j] = keep;
        fd[j] = (up - dn) / (2 * h);
    }
    double err = rel_err_fd(grad, fd, m.P);
    if (!(err <= DERIV_TOL)) FAILF("gradient: relative error %g", err);
    free(th), free(ref), free(losses), free(grad), free(fd);
    model_free(&m);
}

static void check_hvp(polca__tf_config cfg, unsigned long long seed) {
    model m;
    CHECK(model_make(&m, cfg, 2, seed));
    float *v = malloc((size_t)m.P * 4), *hv = malloc((size_t)m.P * 4);
    random_vec(v, m.P, seed + 100);
    CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, v, hv));
    /* (Hv)_j = d2/(da db) L(theta + a e_j + b v): four-point mixed difference
     * in float64, h = 1e-4 (truncation ~1e-8, rounding ~1e-8). */
    double *th = to_double(m.theta, m.P), *base = to_double(m.theta, m.P), *fd = malloc((size_t)m.P * 8);
    const double h = 1e-4;
    for (int64_t j = 0; j < m.P; j++) {
        double f[4];
        for (int s = 0; s < 4; s++) {
            const double a = (s & 1) ? -h : h, b = (s & 2) ? -h : h;
            for (int64_t i = 0; i < m.P; i++) th[i] = base[i] + b * v[i];
            th[j] += a;
            f[s] = ref_mean(&m, th, NULL);
        }
        fd[j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h);
    }
    double err = rel_err_fd(hv, fd, m.P);
    if (!(err <= DERIV_TOL)) FAILF("HVP: relative error %g", err);
    free(v), free(hv), free(th), free(base), free(fd);
    model_free(&m);
}

/* Float64 central differences along direction d (h = 1e-4) on the mean-loss
 * reference: fg = g, fc = c per sample; l0 the losses at theta; th [P] is
 * scratch. */
static void fd_dirderivs(const model *m, const float *d, const double *l0, double *th,
                         double *lp, double *lm, double *fg, double *fc) {
    const double h = 1e-4;
    for (int64_t i = 0; i < m->P; i++) th[i] = m->theta[i] + h * d[i];
    ref_mean(m, th, lp);
    for (int64_t i = 0; i < m->P; i++) th[i] = m->theta[i] - h * d[i];
    ref_mean(m, th, lm);
    for (int64_t i = 0; i < m->N; i++) {
        fg[i] = (lp[i] - lm[i]) / (2 * h);
        fc[i] = (lp[i] - 2 * l0[i] + lm[i]) / (h * h);
    }
}

static void check_dirderivs(polca__tf_config cfg, unsigned long long seed) {
    model m;
    CHECK(model_make(&m, cfg, 3, seed));
    enum { K = 3 };
    const int64_t P = m.P, N = m.N;
    float *dirs = malloc((size_t)(K * P) * 4), *g = malloc((size_t)(K * N) * 4),
          *c = malloc((size_t)(K * N) * 4), *losses = malloc((size_t)N * 4),
          *g_only = malloc((size_t)(K * N) * 4), *l2 = malloc((size_t)N * 4);
    random_vec(dirs, K * P, seed + 200);
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, K, dirs, losses, g, c));
    double *th = malloc((size_t)P * 8), *l0 = malloc((size_t)N * 8), *lp = malloc((size_t)N * 8),
           *lm = malloc((size_t)N * 8), *fg = malloc((size_t)N * 8), *fc = malloc((size_t)N * 8);
    for (int64_t i = 0; i < P; i++) th[i] = m.theta[i];
    ref_mean(&m, th, l0);
    for (int64_t i = 0; i < N; i++)
        if (!(fabs(losses[i] - l0[i]) <= LOSS_TOL * fabs(l0[i]))) FAILF("loss %lld", (long long)i);
    for (int k = 0; k < K; k++) {
        fd_dirderivs(&m, dirs + k * P, l0, th, lp, lm, fg, fc);
        double eg = rel_err_fd(g + k * N, fg, N), ec = rel_err_fd(c + k * N, fc, N);
        if (!(eg <= DERIV_TOL)) FAILF("g, direction %d: relative error %g", k, eg);
        if (!(ec <= DERIV_TOL)) FAILF("c, direction %d: relative error %g", k, ec);
    }
    /* c = NULL and losses = NULL skip work but give the same g */
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, K, dirs, NULL, g_only, NULL));
    CHECK(memcmp(g, g_only, (size_t)(K * N) * 4) == 0);
    CHECK_OK(be->tf_losses(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, l2));
    CHECK(memcmp(l2, losses, (size_t)N * 4) == 0);
    free(dirs), free(g), free(c), free(losses), free(g_only), free(l2);
    free(th), free(l0), free(lp), free(lm), free(fg), free(fc);
    model_free(&m);
}

#endif
