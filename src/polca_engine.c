/*
 * src/polca_engine.c - the POLCA decomposition (paper eq. 2, 6-8;
 * docs/method.md#the-decomposition),
 * streamed over checkpoints; see polca_engine.h.
 *
 * Per interval t -> t+1, with s_k = <b_k, theta_{t+1} - theta_t>:
 *   first order   Delta1 = g_{k,t} s_k
 *   exact         Delta2 = g_{k,t} s_k + 1/2 c_{k,t} s_k^2
 *   secant        Delta2 = 1/2 (g_{k,t} + g_{k,t+1}) s_k   (trapezoid rule)
 * and L(t+1) = L(t) + Delta, L(0) = 0. Running sums are kept in double so
 * hundreds of small increments do not drift; stored values are float32.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polca_engine.h"

typedef struct engine_buffers {
    float *theta, *theta_prev, *losses;
    float *g, *g_prev; /* [K + K_lca][N] */
    float *c, *c_prev; /* [K][N], exact curvature only */
    double *s;         /* [K + K_lca] */
    double *acc_main, *acc_first, *acc_lca; /* running L, [K][N] / [K_lca][N] */
} engine_buffers;

static void free_buffers(engine_buffers *b) {
    free(b->theta), free(b->theta_prev), free(b->losses);
    free(b->g), free(b->g_prev), free(b->c), free(b->c_prev), free(b->s);
    free(b->acc_main), free(b->acc_first), free(b->acc_lca);
}

static int32_t alloc_buffers(engine_buffers *b, int64_t P, int64_t N, int64_t K, int64_t KL,
                             int need_c, int need_first) {
    size_t p = (size_t)P, n = (size_t)N, kall = (size_t)(K + KL);
    memset(b, 0, sizeof *b);
    b->theta = polca__calloc(p, sizeof(float), "checkpoint parameters");
    b->theta_prev = polca__calloc(p, sizeof(float), "previous checkpoint parameters");
    b->losses = polca__calloc(n, sizeof(float), "per-sample losses");
    b->g = polca__calloc(kall * n, sizeof(float), "directional derivatives");
    b->g_prev = polca__calloc(kall * n, sizeof(float), "directional derivatives");
    b->s = polca__calloc(kall, sizeof(double), "movements along the basis");
    b->acc_main = polca__calloc((size_t)K * n, sizeof(double), "projected losses");
    int ok = b->theta && b->theta_prev && b->losses && b->g && b->g_prev && b->s && b->acc_main;
    if (ok && need_c) {
        b->c = polca__calloc((size_t)K * n, sizeof(float), "curvatures");
        b->c_prev = polca__calloc((size_t)K * n, sizeof(float), "curvatures");
        ok = b->c && b->c_prev;
    }
    if (ok && need_first) ok = (b->acc_first = polca__calloc((size_t)K * n, sizeof(double),
                                                             "first-order projected losses")) != NULL;
    if (ok && KL) ok = (b->acc_lca = polca__calloc((size_t)KL * n, sizeof(double),
                                                   "LCA projected losses")) != NULL;
    if (!ok) {
        free_buffers(b);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    return POLCA_OK;
}

static const char *nonfinite(double v) { return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"; }

/* Checkpoint t's g (and c) for every direction, block by block; the first
 * block also gives the exact losses. All must be finite. */
static int32_t evaluate(const polca__engine_source *src, const polca__engine_request *req,
                        engine_buffers *b, int64_t t, int64_t step) {
    const int64_t N = src->n_samples, P = src->n_params;
    int first = 1;
    for (int pass = 0; pass < 2; pass++) {
        const float *dirs = pass == 0 ? req->basis : req->lca_basis;
        int64_t count = pass == 0 ? req->k : req->k_lca, base = pass == 0 ? 0 : req->k;
        for (int64_t k0 = 0; k0 < count; k0 += req->block) {
            int64_t kb = count - k0 < req->block ? count - k0 : req->block;
            float *c = pass == 0 && b->c ? b->c + k0 * N : NULL;
            int32_t st = src->dirderivs(src->user, t, b->theta, pass, k0, kb, dirs + k0 * P,
                                        first ? b->losses : NULL, b->g + (base + k0) * N, c);
            if (st) return polca__wrap(st, "checkpoint %lld, directions %lld..%lld", (long long)t,
                                       (long long)(base + k0), (long long)(base + k0 + kb - 1));
            first = 0;
        }
    }
    /* the first non-finite quantity, in the order they are computed; indices
     * as the [K][N] outputs are laid out: [direction][sample] */
    for (int64_t i = 0; i < N; i++)
        if (!isfinite(b->losses[i]))
            return polca__fail(POLCA_ERR_NOT_FINITE,
                               "checkpoint %lld (step %lld): the loss of sample %lld is %s",
                               (long long)t, (long long)step, (long long)i,
                               nonfinite(b->losses[i]));
    for (int64_t x = 0; x < (req->k + req->k_lca) * N; x++)
        if (!isfinite(b->g[x])) {
            int64_t k = x / N, lca = k >= req->k;
            return polca__fail(POLCA_ERR_NOT_FINITE,
                               "checkpoint %lld (step %lld): %s[%lld][%lld], the directional "
                               "derivative of sample %lld along %s %lld, is %s",
                               (long long)t, (long long)step, lca ? "g_lca" : "g",
                               (long long)(lca ? k - req->k : k), (long long)(x % N),
                               (long long)(x % N),
                               lca ? "LCA axis" : "basis direction",
                               (long long)(lca ? k - req->k : k), nonfinite(b->g[x]));
        }
    for (int64_t x = 0; b->c && x < req->k * N; x++)
        if (!isfinite(b->c[x]))
            return polca__fail(POLCA_ERR_NOT_FINITE,
                               "checkpoint %lld (step %lld): c[%lld][%lld], the curvature of "
                               "sample %lld along basis direction %lld, is %s",
                               (long long)t, (long long)step, (long long)(x / N),
                               (long long)(x % N), (long long)(x % N), (long long)(x / N),
                               nonfinite(b->c[x]));
    return POLCA_OK;
}

static void swap_floats(float **a, float **b) {
    float *t = *a;
    *a = *b;
    *b = t;
}

/* s[k] = <dir_k, theta - theta_prev>, in double. */
static void movements(const float *dirs, int64_t k, int64_t P, const float *theta,
                      const float *prev, double *s) {
    for (int64_t d = 0; d < k; d++) {
        const float *row = dirs + d * P;
        double acc = 0.0;
        for (int64_t j = 0; j < P; j++) acc += (double)row[j] * ((double)theta[j] - prev[j]);
        s[d] = acc;
    }
}

static int32_t check_request(const polca__engine_source *src, const polca__engine_request *req,
                             const polca__engine_output *out) {
    if (src->n_checkpoints < 2)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "POLCA needs at least 2 checkpoints, the series has %lld",
                           (long long)src->n_checkpoints);
    if (src->n_samples < 1 || src->n_params < 1 || req->k < 1 || req->k_lca < 0 ||
        req->block < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "POLCA engine: N=%lld P=%lld K=%lld K_lca=%lld block=%lld",
                           (long long)src->n_samples, (long long)src->n_params,
                           (long long)req->k, (long long)req->k_lca, (long long)req->block);
    if (req->curvature < POLCA__CURV_EXACT || req->curvature > POLCA__CURV_NONE)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "POLCA engine: curvature mode %d",
                           (int)req->curvature);
    if (!out->steps || !out->exact_loss || !out->polca || (req->first_order && !out->first_order) ||
        (req->fisher && !out->fisher) || (req->k_lca && !out->lca))
        return polca__fail(POLCA_ERR_INTERNAL, "POLCA engine: missing output array");
    return POLCA_OK;
}

/* *dst = v as float32 when v is finite and within the float32 range. */
static int store(float *dst, double v) {
    if (!(fabs(v) <= FLT_MAX)) return 0;
    *dst = (float)v;
    return 1;
}

/* A stored value that is not finite in float32: "the <output> of sample i
 * <axis> k is v"; axis e.g. "along basis direction". */
static int32_t overflow(int64_t t, int64_t step, const char *output, const char *axis, int64_t k,
                        int64_t i, double v) {
    char along[64], value[64];
    snprintf(along, sizeof along, " %s %lld", axis, (long long)k);
    if (isfinite(v)) snprintf(value, sizeof value, "%.6g, beyond the float32 range", v);
    else snprintf(value, sizeof value, "%s", nonfinite(v));
    return polca__fail(POLCA_ERR_NOT_FINITE,
                       "checkpoint %lld (step %lld): the %s of sample %lld%s is %s", (long long)t,
                       (long long)step, output, (long long)i, along, value);
}

int32_t polca__engine_run(const polca_context *ctx, const polca__engine_source *src,
                          const polca__engine_request *req, const polca__engine_output *out) {
    int32_t st = check_request(src, req, out);
    if (st) return st;
    const int64_t T1 = src->n_checkpoints, N = src->n_samples, P = src->n_params;
    const int64_t K = req->k, KL = req->k_lca;
    engine_buffers b;
    if ((st = alloc_buffers(&b, P, N, K, KL, req->curvature == POLCA__CURV_EXACT,
                            req->first_order)))
        return st;

    for (int64_t t = 0; t < T1 && !st; t++) {
        if ((st = src->read_checkpoint(src->user, t, &out->steps[t], b.theta))) {
            st = polca__wrap(st, "reading checkpoint %lld", (long long)t);
            break;
        }
        const int64_t step = out->steps[t];
        if (t > 0 && step <= out->steps[t - 1]) {
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                             "checkpoint %lld: step %lld does not follow step %lld",
                             (long long)t, (long long)step, (long long)out->steps[t - 1]);
            break;
        }
        if ((st = evaluate(src, req, &b, t, step))) break;

        for (int64_t i = 0; i < N && !st; i++) {
            out->exact_loss[i * T1 + t] = b.losses[i];
            if (t > 0 && out->loss_change &&
                !store(&out->loss_change[i * (T1 - 1) + t - 1],
                       (double)b.losses[i] - out->exact_loss[i * T1 + t - 1]))
                st = overflow(t, step, "loss change", "since checkpoint", t - 1, i,
                              (double)b.losses[i] - out->exact_loss[i * T1 + t - 1]);
        }
        for (int64_t x = 0; req->fisher && x < K * N && !st; x++)
            if (!store(&out->fisher[x * T1 + t], (double)b.g[x] * b.g[x]))
                st = overflow(t, step, "Fisher value g^2", "along basis direction", x / N, x % N,
                              (double)b.g[x] * b.g[x]);
        if (st) break;

        if (t > 0) {
            movements(req->basis, K, P, b.theta, b.theta_prev, b.s);
            if (KL) movements(req->lca_basis, KL, P, b.theta, b.theta_prev, b.s + K);
            for (int64_t k = 0; k < K + KL && !st; k++)
                if (!isfinite(b.s[k]))
                    st = polca__fail(POLCA_ERR_NOT_FINITE,
                                     "checkpoint %lld (step %lld): step s_%lld, the move along %s "
                                     "%lld since checkpoint %lld, is %s",
                                     (long long)t, (long long)step, (long long)(k < K ? k : k - K),
                                     k < K ? "basis direction" : "LCA axis",
                                     (long long)(k < K ? k : k - K), (long long)(t - 1),
                                     nonfinite(b.s[k]));
            if (st) break;
            for (int64_t k = 0; k < K; k++) {
                const double s = b.s[k];
                for (int64_t i = 0; i < N; i++) {
                    const int64_t x = k * N + i;
                    const double g0 = b.g_prev[x], first = g0 * s;
                    double delta = first;
                    if (req->curvature == POLCA__CURV_EXACT)
                        delta = first + 0.5 * (double)b.c_prev[x] * s * s;
                    else if (req->curvature == POLCA__CURV_SECANT)
                        delta = 0.5 * (g0 + (double)b.g[x]) * s;
                    b.acc_main[x] += delta;
                    if (req->first_order) b.acc_first[x] += first;
                }
            }
            for (int64_t k = 0; k < KL; k++)
                for (int64_t i = 0; i < N; i++)
                    b.acc_lca[k * N + i] += (double)b.g_prev[(K + k) * N + i] * b.s[K + k];
        }
        for (int64_t x = 0; x < K * N && !st; x++) {
            if (!store(&out->polca[x * T1 + t], b.acc_main[x]))
                st = overflow(t, step, "projected loss (POLCA)", "along basis direction", x / N,
                              x % N, b.acc_main[x]);
            else if (req->first_order && !store(&out->first_order[x * T1 + t], b.acc_first[x]))
                st = overflow(t, step, "first-order projected loss", "along basis direction", x / N,
                              x % N, b.acc_first[x]);
        }
        for (int64_t x = 0; x < KL * N && !st; x++)
            if (!store(&out->lca[x * T1 + t], b.acc_lca[x]))
                st = overflow(t, step, "LCA projected loss", "along LCA axis", x / N, x % N,
                              b.acc_lca[x]);
        if (st) break;

        swap_floats(&b.theta, &b.theta_prev);
        swap_floats(&b.g, &b.g_prev);
        swap_floats(&b.c, &b.c_prev);
        st = polca__progress(ctx, "polca", t + 1, T1, NAN);
    }
    free_buffers(&b);
    return st;
}
