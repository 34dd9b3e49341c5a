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
 * ||a - b|| / ||b|| (float32 accumulation over the model, plus the error
 * of the float64 differences below: at most 7e-7 against PyTorch's autodiff,
 * measured, see FD_STEP, so the kernels are held to the true derivatives).
 */
#ifndef POLCA_TEST_TRANSFORMER_CHECK_H
#define POLCA_TEST_TRANSFORMER_CHECK_H

#include <stdint.h>

#include "harness.h"
#include "internal.h"
#include "transformer_model.h"
#include "transformer_ref.h"
#include "cpu/transformer_cpu.h"

#define LOSS_TOL 1e-5
#define DERIV_TOL 1e-4

static const polca_backend *be = &polca__cpu_backend; /* its tf_* entries ignore state */

/* ---- a small model with random data: transformer_model.h ---- */

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


/* ---- against float64 central differences ---- */

/* fd [P]: the mean-loss gradient by float64 central differences, h = 1e-5
 * (truncation h^2/6 of the third derivative ~1e-10, rounding ~1e-16/h). */
static void fd_grad(const model *m, double *fd) {
    double *th = to_double(m->theta, m->P);
    const double h = 1e-5;
    for (int64_t j = 0; j < m->P; j++) {
        const double keep = th[j];
        th[j] = keep + h;
        const double up = ref_mean(m, th, NULL);
        th[j] = keep - h;
        const double dn = ref_mean(m, th, NULL);
        th[j] = keep;
        fd[j] = (up - dn) / (2 * h);
    }
    free(th);
}

/* Steps of the float64 differences along a direction: the step in
 * parameter space has length FD_STEP whatever the direction's norm (the
 * loss's derivatives along d scale with ||d||, so a fixed step in t would
 * make truncation grow as ||d||^2). 3e-4 balances the second difference's
 * truncation (~ step^2) against its rounding (~ eps |l| / step^2): measured
 * against PyTorch's autodiff on the six Hugging Face fixtures of
 * tests/test_transformer_arch.c, the errors in ||a - b|| / ||b|| are
 *   step 1e-3: g <= 8.9e-7, c <= 2.9e-6, HVP <= 5.9e-7
 *   step 3e-4: g <= 8.0e-8, c <= 6.2e-7, HVP <= 6.6e-7   (used)
 *   step 1e-4: g <= 8.9e-9, c <= 4.4e-6, HVP <= 1.9e-6
 * (HVP: e_j step 1e-4 with these steps along v), all under 1/100 of
 * DERIV_TOL. */
#define FD_STEP 3e-4

static double fd_step_along(const float *d, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)d[i] * d[i];
    return s > 0 ? FD_STEP / sqrt(s) : FD_STEP;
}

/* fd [P]: H v, (Hv)_j = d2/(da db) L(theta + a e_j + b v), by the four-point
 * mixed difference in float64, a = 1e-4, b = FD_STEP / ||v||. */
static void fd_hvp(const model *m, const float *v, double *fd) {
    double *th = to_double(m->theta, m->P), *base = to_double(m->theta, m->P);
    const double ha = 1e-4, hb = fd_step_along(v, m->P);
    for (int64_t j = 0; j < m->P; j++) {
        double f[4];
        for (int s = 0; s < 4; s++) {
            const double a = (s & 1) ? -ha : ha, b = (s & 2) ? -hb : hb;
            for (int64_t i = 0; i < m->P; i++) th[i] = base[i] + b * v[i];
            th[j] += a;
            f[s] = ref_mean(m, th, NULL);
        }
        fd[j] = (f[0] - f[1] - f[2] + f[3]) / (4 * ha * hb);
    }
    free(th), free(base);
}

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
    double *fd = malloc((size_t)m.P * 8);
    fd_grad(&m, fd);
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
    double *fd = malloc((size_t)m.P * 8);
    fd_hvp(&m, v, fd);
    double err = rel_err_fd(hv, fd, m.P);
    if (!(err <= DERIV_TOL)) FAILF("HVP: relative error %g", err);
    free(v), free(hv), free(fd);
    model_free(&m);
}

/* Float64 central differences along direction d (h = FD_STEP / ||d||) of
 * the reference's per-sample losses: fg = g, fc = c per sample, c by the
 * second difference (l(+h) - 2 l(0) + l(-h)) / h^2 (the step: see FD_STEP).
 * l0 the losses at theta; th [P] is scratch. */
static void fd_dirderivs(const model *m, const float *d, const double *l0, double *th,
                         double *lp, double *lm, double *fg, double *fc) {
    const double h = fd_step_along(d, m->P);
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
