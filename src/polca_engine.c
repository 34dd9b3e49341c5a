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

#include "comm.h"
#include "polca_engine.h"
#include "progress_file.h"

typedef struct engine_buffers {
    float *theta, *theta_prev, *losses;
    float *g, *g_prev; /* [K + K_lca][N] */
    float *c, *c_prev; /* [K][N], exact curvature only */
    double *s;         /* [K + K_lca] */
    /* D = K N (POLCA) + K N (first order, when kept) + K_lca N (LCA), in
     * that order: the increments of one interval and the running sums */
    int64_t d;
    double *delta, *acc, *acc_in; /* [D]; acc_in receives a rank's sums */
    double *stash;                /* [n_stash][D]: increments waiting for the
                                     sums at lo (ranks > 0) */
    int64_t n_stash;
    unsigned char *record;        /* one progress record */
} engine_buffers;

static void free_buffers(engine_buffers *b) {
    free(b->theta), free(b->theta_prev), free(b->losses);
    free(b->g), free(b->g_prev), free(b->c), free(b->c_prev), free(b->s);
    free(b->delta), free(b->acc), free(b->acc_in), free(b->stash), free(b->record);
}

static int32_t alloc_buffers(engine_buffers *b, int64_t P, int64_t N, int64_t K, int64_t KL,
                             int64_t d_len, int need_c, int64_t n_stash, size_t record_bytes) {
    size_t p = (size_t)P, n = (size_t)N, kall = (size_t)(K + KL);
    memset(b, 0, sizeof *b);
    b->d = d_len;
    size_t d = (size_t)b->d;
    b->theta = polca__calloc(p, sizeof(float), "checkpoint parameters");
    b->theta_prev = polca__calloc(p, sizeof(float), "previous checkpoint parameters");
    b->losses = polca__calloc(n, sizeof(float), "per-sample losses");
    b->g = polca__calloc(kall * n, sizeof(float), "directional derivatives");
    b->g_prev = polca__calloc(kall * n, sizeof(float), "directional derivatives");
    b->s = polca__calloc(kall, sizeof(double), "movements along the basis");
    b->delta = polca__calloc(d, sizeof(double), "projected loss increments");
    b->acc = polca__calloc(d, sizeof(double), "projected losses");
    b->acc_in = polca__calloc(d, sizeof(double), "projected losses of another rank");
    b->record = polca__calloc(record_bytes, 1, "progress record");
    int ok = b->theta && b->theta_prev && b->losses && b->g && b->g_prev && b->s && b->delta &&
             b->acc && b->acc_in && b->record;
    if (ok && need_c) {
        b->c = polca__calloc((size_t)K * n, sizeof(float), "curvatures");
        b->c_prev = polca__calloc((size_t)K * n, sizeof(float), "curvatures");
        ok = b->c && b->c_prev;
    }
    size_t stash_len;
    if (ok && n_stash > 0)
        ok = polca__mul_size((size_t)n_stash, d, &stash_len) &&
             (b->stash = polca__calloc(stash_len, sizeof(double),
                                       "increments held until the previous rank's sums")) != NULL;
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
            if (st) return polca__wrap(st, "checkpoint %lld, %s %lld..%lld", (long long)t,
                                       pass == 0 ? "basis directions" : "LCA axes",
                                       (long long)k0, (long long)(k0 + kb - 1));
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


/* ---- one interval, one checkpoint ---- */

/* b->delta for the interval t-1 -> t: from the previous checkpoint's g (and
 * c), the movement s since it and, for the secant, this checkpoint's g. */
static int32_t interval_increments(const polca__engine_source *src,
                                   const polca__engine_request *req, engine_buffers *b,
                                   int64_t t, int64_t step) {
    const int64_t N = src->n_samples, P = src->n_params, K = req->k, KL = req->k_lca;
    movements(req->basis, K, P, b->theta, b->theta_prev, b->s);
    if (KL) movements(req->lca_basis, KL, P, b->theta, b->theta_prev, b->s + K);
    for (int64_t k = 0; k < K + KL; k++)
        if (!isfinite(b->s[k]))
            return polca__fail(POLCA_ERR_NOT_FINITE,
                               "checkpoint %lld (step %lld): step s_%lld, the move along %s "
                               "%lld since checkpoint %lld, is %s",
                               (long long)t, (long long)step, (long long)(k < K ? k : k - K),
                               k < K ? "basis direction" : "LCA axis",
                               (long long)(k < K ? k : k - K), (long long)(t - 1),
                               nonfinite(b->s[k]));
    double *d_main = b->delta, *d_first = req->first_order ? b->delta + K * N : NULL;
    double *d_lca = b->delta + K * N * (req->first_order ? 2 : 1);
    for (int64_t k = 0; k < K; k++) {
        const double s = b->s[k];
        for (int64_t i = 0; i < N; i++) {
            const int64_t x = k * N + i;
            const double g0 = b->g_prev[x], first = g0 * s;
            double delta = first;
            if (req->curvature == POLCA__CURV_EXACT)
                delta = first + 0.5 * (double)b->c_prev[x] * s * s;
            else if (req->curvature == POLCA__CURV_SECANT)
                delta = 0.5 * (g0 + (double)b->g[x]) * s;
            d_main[x] = delta;
            if (d_first) d_first[x] = first;
        }
    }
    for (int64_t k = 0; k < KL; k++)
        for (int64_t i = 0; i < N; i++)
            d_lca[k * N + i] = (double)b->g_prev[(K + k) * N + i] * b->s[K + k];
    return POLCA_OK;
}

/* The running sums as the outputs at checkpoint t. */
static int32_t store_sums(const polca__engine_request *req, const engine_buffers *b,
                          const polca__engine_output *out, int64_t N, int64_t T1, int64_t t) {
    const int64_t K = req->k, KL = req->k_lca, step = out->steps[t];
    const double *first = b->acc + K * N, *lca = b->acc + K * N * (req->first_order ? 2 : 1);
    for (int64_t x = 0; x < K * N; x++) {
        if (!store(&out->polca[x * T1 + t], b->acc[x]))
            return overflow(t, step, "projected loss (POLCA)", "along basis direction", x / N,
                            x % N, b->acc[x]);
        if (req->first_order && !store(&out->first_order[x * T1 + t], first[x]))
            return overflow(t, step, "first-order projected loss", "along basis direction",
                            x / N, x % N, first[x]);
    }
    for (int64_t x = 0; x < KL * N; x++)
        if (!store(&out->lca[x * T1 + t], lca[x]))
            return overflow(t, step, "LCA projected loss", "along LCA axis", x / N, x % N, lca[x]);
    return POLCA_OK;
}

/* Checkpoint t's own outputs: its losses and Fisher values. */
static int32_t store_checkpoint(const polca__engine_request *req, const engine_buffers *b,
                                const polca__engine_output *out, int64_t N, int64_t T1,
                                int64_t t) {
    for (int64_t i = 0; i < N; i++) out->exact_loss[i * T1 + t] = b->losses[i];
    for (int64_t x = 0; req->fisher && x < req->k * N; x++)
        if (!store(&out->fisher[x * T1 + t], (double)b->g[x] * b->g[x]))
            return overflow(t, out->steps[t], "Fisher value g^2", "along basis direction", x / N,
                            x % N, (double)b->g[x] * b->g[x]);
    return POLCA_OK;
}

/* The interval ending at checkpoint t_end (b->delta) joins the sums: added
 * and stored when this rank knows the sums (t_end stored only when it is
 * one of this rank's checkpoints), else kept for later. */
typedef struct engine_share {
    int64_t lo, hi; /* this rank's checkpoints [lo, hi) */
    int known;      /* b->acc holds the sums at the last interval pushed */
} engine_share;

static int32_t push_interval(const polca__engine_request *req, engine_buffers *b,
                             const polca__engine_output *out, const engine_share *sh, int64_t N,
                             int64_t T1, int64_t t_end) {
    if (!sh->known) {
        memcpy(b->stash + b->n_stash++ * b->d, b->delta, (size_t)b->d * sizeof(double));
        return POLCA_OK;
    }
    for (int64_t x = 0; x < b->d; x++) b->acc[x] += b->delta[x];
    return t_end < sh->hi ? store_sums(req, b, out, N, T1, t_end) : POLCA_OK;
}

/* A rank > 0 learns the sums at its first checkpoint: stores them there,
 * then adds its kept increments in order. */
static int32_t apply_stash(const polca__engine_request *req, engine_buffers *b,
                           const polca__engine_output *out, engine_share *sh, int64_t N,
                           int64_t T1) {
    sh->known = 1;
    if (sh->hi == sh->lo) return POLCA_OK;
    int32_t st = store_sums(req, b, out, N, T1, sh->lo);
    for (int64_t j = 0; j < b->n_stash && !st; j++) {
        for (int64_t x = 0; x < b->d; x++) b->acc[x] += b->stash[j * b->d + x];
        if (sh->lo + 1 + j < sh->hi) st = store_sums(req, b, out, N, T1, sh->lo + 1 + j);
    }
    return st;
}

/* ---- progress records (progress_file.h) ----
 * Checkpoint t of [lo, hi): u64 hash of its parameters, i64 step, f32
 * losses[N], f32 Fisher [K][N] (when kept), then for t > lo the interval's
 * increments f64 [D]. The interval past hi (the next rank's first
 * checkpoint): u64 hash of that checkpoint, f64 [D]. A replayed record's
 * checkpoint is read again and must hash the same: progress made on other
 * weights (a series rewritten with the same steps) is refused. */

/* A hash of a checkpoint's parameters. */
static uint64_t theta_hash(const float *theta, int64_t P) {
    uint64_t h = POLCA__FP_START;
    polca__fingerprint(&h, theta, (size_t)P * sizeof *theta);
    return h;
}

static size_t record_bytes(const polca__engine_request *req, int64_t d, int64_t N,
                           int has_interval, int boundary) {
    if (boundary) return sizeof(uint64_t) + (size_t)d * sizeof(double);
    return sizeof(uint64_t) + sizeof(int64_t) + (size_t)N * sizeof(float) +
           (req->fisher ? (size_t)(req->k * N) * sizeof(float) : 0) +
           (has_interval ? (size_t)d * sizeof(double) : 0);
}

static size_t pack_record(const polca__engine_request *req, engine_buffers *b,
                          const polca__engine_output *out, int64_t N, int64_t T1, int64_t t,
                          int has_interval, int boundary, uint64_t hash) {
    unsigned char *p = b->record;
    memcpy(p, &hash, sizeof hash), p += sizeof hash;
    if (!boundary) {
        memcpy(p, &out->steps[t], sizeof(int64_t)), p += sizeof(int64_t);
        for (int64_t i = 0; i < N; i++, p += sizeof(float))
            memcpy(p, &out->exact_loss[i * T1 + t], sizeof(float));
        for (int64_t x = 0; req->fisher && x < req->k * N; x++, p += sizeof(float))
            memcpy(p, &out->fisher[x * T1 + t], sizeof(float));
    }
    if (boundary || has_interval)
        memcpy(p, b->delta, (size_t)b->d * sizeof(double)), p += (size_t)b->d * sizeof(double);
    return (size_t)(p - b->record);
}

/* The inverse of pack_record (b->record already read); returns the hash. */
static uint64_t unpack_record(const polca__engine_request *req, engine_buffers *b,
                              const polca__engine_output *out, int64_t N, int64_t T1, int64_t t,
                              int has_interval, int boundary) {
    const unsigned char *p = b->record;
    uint64_t hash;
    memcpy(&hash, p, sizeof hash), p += sizeof hash;
    if (!boundary) {
        memcpy(&out->steps[t], p, sizeof(int64_t)), p += sizeof(int64_t);
        for (int64_t i = 0; i < N; i++, p += sizeof(float))
            memcpy(&out->exact_loss[i * T1 + t], p, sizeof(float));
        for (int64_t x = 0; req->fisher && x < req->k * N; x++, p += sizeof(float))
            memcpy(&out->fisher[x * T1 + t], p, sizeof(float));
    }
    if (boundary || has_interval) memcpy(b->delta, p, (size_t)b->d * sizeof(double));
    return hash;
}

static int32_t follows(const polca__engine_output *out, int64_t t, int64_t step) {
    if (t > 0 && step <= out->steps[t - 1])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "checkpoint %lld: step %lld does not follow step %lld", (long long)t,
                           (long long)step, (long long)out->steps[t - 1]);
    return POLCA_OK;
}

/* theta_prev, g_prev, c_prev <- checkpoint t (after records were replayed,
 * the interval that follows needs them). */
static int32_t restore_state(const polca__engine_source *src, const polca__engine_request *req,
                             engine_buffers *b, int64_t t) {
    int64_t step = 0;
    int32_t st = src->read_checkpoint(src->user, t, &step, b->theta);
    if (st) return polca__wrap(st, "reading checkpoint %lld", (long long)t);
    if ((st = evaluate(src, req, b, t, step))) return st;
    swap_floats(&b->theta, &b->theta_prev);
    swap_floats(&b->g, &b->g_prev);
    swap_floats(&b->c, &b->c_prev);
    return POLCA_OK;
}

/* ---- the local pass over this rank's checkpoints ---- */

static int32_t local_pass(const polca_context *ctx, const polca__engine_source *src,
                          const polca__engine_request *req, const polca__engine_output *out,
                          engine_buffers *b, engine_share *sh) {
    const int64_t T1 = src->n_checkpoints, N = src->n_samples;
    const int has_boundary = sh->hi > sh->lo && sh->hi < T1;
    const int64_t n_records = sh->hi - sh->lo + has_boundary;
    polca__progress_file *pf = req->progress;
    const int64_t done = pf ? pf->n_done : 0;
    if (done > n_records)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "progress file '%s' holds %lld records; this computation has %lld",
                           polca__ct_path(pf->ct), (long long)done, (long long)n_records);
    int have_state = 0; /* theta_prev, g_prev, c_prev hold the checkpoint before */
    int32_t st = POLCA_OK;
    int64_t r = 0;
    for (int64_t t = sh->lo; t <= sh->hi && !st; t++, r++) {
        const int boundary = t == sh->hi;
        if (boundary && !has_boundary) break;
        const int has_interval = t > sh->lo;
        if (r < done) { /* replay a finished checkpoint */
            size_t bytes = record_bytes(req, b->d, N, has_interval, boundary);
            if ((st = polca__progress_read(pf, r, b->record, bytes))) break;
            uint64_t hash = unpack_record(req, b, out, N, T1, t, has_interval, boundary);
            int64_t step = 0;
            if ((st = src->read_checkpoint(src->user, t, &step, b->theta))) {
                st = polca__wrap(st, "reading checkpoint %lld", (long long)t);
                break;
            }
            if (hash != theta_hash(b->theta, src->n_params)) {
                st = polca__fail(POLCA_ERR_STATE,
                                 "progress file '%s' was made with other parameters at checkpoint "
                                 "%lld (step %lld) than the series holds; remove it to start "
                                 "afresh",
                                 polca__ct_path(pf->ct), (long long)t, (long long)step);
                break;
            }
            /* a rank's first step is checked against the step before it
             * once the outputs are whole (finish_outputs) */
            if (!boundary && t > sh->lo && (st = follows(out, t, out->steps[t]))) break;
            if (has_interval || boundary) st = push_interval(req, b, out, sh, N, T1, t);
            else if (sh->known) st = store_sums(req, b, out, N, T1, t);
            have_state = 0;
            if (!st && !boundary) st = polca__progress(ctx, "polca", t - sh->lo + 1, sh->hi - sh->lo, NAN);
            continue;
        }
        if ((has_interval || boundary) && !have_state && (st = restore_state(src, req, b, t - 1)))
            break;
        int64_t step = 0;
        if ((st = src->read_checkpoint(src->user, t, &step, b->theta))) {
            st = polca__wrap(st, "reading checkpoint %lld", (long long)t);
            break;
        }
        if (t > sh->lo && (st = follows(out, t, step))) break;
        if (!boundary) out->steps[t] = step;
        /* the secant needs g at the interval's end, also past hi */
        if (!boundary || req->curvature == POLCA__CURV_SECANT)
            if ((st = evaluate(src, req, b, t, step))) break;
        if (!boundary && (st = store_checkpoint(req, b, out, N, T1, t))) break;
        if (has_interval || boundary) {
            if ((st = interval_increments(src, req, b, t, step))) break;
            st = push_interval(req, b, out, sh, N, T1, t);
        } else if (sh->known) {
            st = store_sums(req, b, out, N, T1, t);
        }
        if (!st && pf) {
            size_t bytes = pack_record(req, b, out, N, T1, t, has_interval, boundary,
                                       theta_hash(b->theta, src->n_params));
            st = polca__progress_append(pf, b->record, bytes);
        }
        if (st || boundary) break;
        swap_floats(&b->theta, &b->theta_prev);
        swap_floats(&b->g, &b->g_prev);
        swap_floats(&b->c, &b->c_prev);
        have_state = 1;
        st = polca__progress(ctx, "polca", t - sh->lo + 1, sh->hi - sh->lo, NAN);
    }
    return st;
}

/* ---- over ranks ---- */

/* Rank q hands its sums to rank q + 1, in rank order. */
static int32_t pass_sums(const polca_context *ctx, const polca__engine_request *req,
                         engine_buffers *b, const polca__engine_output *out, engine_share *sh,
                         int64_t N, int64_t T1) {
    const int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    int32_t local = POLCA_OK;
    for (int32_t q = 0; q + 1 < size; q++) {
        double *buf = rank == q ? b->acc : b->acc_in;
        int32_t st = polca__comm_broadcast(ctx, buf, b->d * (int64_t)sizeof(double), q,
                                           "the projected losses passed between ranks");
        if (st) return st;
        if (rank == q + 1) {
            memcpy(b->acc, b->acc_in, (size_t)b->d * sizeof(double));
            local = apply_stash(req, b, out, sh, N, T1);
        }
    }
    return polca__comm_agree(ctx, local);
}

/* arr [rows][T1] of elem-byte items, of which each rank holds the columns
 * of its share: afterwards every rank holds every column. */
static int32_t gather_columns(const polca_context *ctx, void *arr, size_t elem, int64_t rows,
                              int64_t T1, const char *what) {
    if (!arr || rows == 0) return POLCA_OK;
    const int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    int64_t lo, hi;
    polca__comm_share(T1, size, rank, &lo, &hi);
    const size_t nt = (size_t)(hi - lo), row_bytes = (size_t)T1 * elem;
    unsigned char *a = arr;
    int64_t *counts = polca__calloc((size_t)size, sizeof *counts, "gather counts");
    unsigned char *pack = polca__alloc((size_t)rows * nt * elem + 1, "a rank's slice");
    unsigned char *all = rank == 0 ? polca__alloc((size_t)rows * row_bytes, "gathered slices") : NULL;
    int32_t st = counts && pack && (rank != 0 || all) ? POLCA_OK : POLCA_ERR_OUT_OF_MEMORY;
    if ((st = polca__comm_agree(ctx, st))) goto done;
    for (int64_t row = 0; row < rows; row++)
        memcpy(pack + (size_t)row * nt * elem, a + (size_t)row * row_bytes + (size_t)lo * elem,
               nt * elem);
    for (int32_t q = 0; q < size; q++) {
        int64_t ql, qh;
        polca__comm_share(T1, size, q, &ql, &qh);
        counts[q] = rows * (qh - ql) * (int64_t)elem;
    }
    if ((st = polca__comm_gather(ctx, pack, counts[rank], all, counts, 0, what))) goto done;
    if (rank == 0) {
        size_t off = 0;
        for (int32_t q = 0; q < size; q++) {
            int64_t ql, qh;
            polca__comm_share(T1, size, q, &ql, &qh);
            size_t qn = (size_t)(qh - ql) * elem;
            for (int64_t row = 0; row < rows; row++, off += qn)
                memcpy(a + (size_t)row * row_bytes + (size_t)ql * elem, all + off, qn);
        }
    }
    st = polca__comm_broadcast(ctx, arr, rows * (int64_t)row_bytes, 0, what);
done:
    free(counts), free(pack), free(all);
    return st;
}

static int32_t gather_outputs(const polca_context *ctx, const polca__engine_request *req,
                              const polca__engine_output *out, int64_t N, int64_t T1) {
    const int64_t K = req->k, KL = req->k_lca;
    int32_t st = gather_columns(ctx, out->steps, sizeof(int64_t), 1, T1, "checkpoint steps");
    if (!st) st = gather_columns(ctx, out->exact_loss, sizeof(float), N, T1, "exact losses");
    if (!st) st = gather_columns(ctx, out->polca, sizeof(float), K * N, T1, "POLCA");
    if (!st && req->first_order)
        st = gather_columns(ctx, out->first_order, sizeof(float), K * N, T1, "first order");
    if (!st && req->fisher)
        st = gather_columns(ctx, out->fisher, sizeof(float), K * N, T1, "Fisher values");
    if (!st && KL) st = gather_columns(ctx, out->lca, sizeof(float), KL * N, T1, "LCA");
    return st;
}

/* From the whole outputs: the steps in order and the loss changes. */
static int32_t finish_outputs(const polca__engine_output *out, int64_t N, int64_t T1) {
    for (int64_t t = 1; t < T1; t++) {
        int32_t st = follows(out, t, out->steps[t]);
        if (st) return st;
    }
    for (int64_t t = 1; out->loss_change && t < T1; t++)
        for (int64_t i = 0; i < N; i++) {
            double v = (double)out->exact_loss[i * T1 + t] - out->exact_loss[i * T1 + t - 1];
            if (!store(&out->loss_change[i * (T1 - 1) + t - 1], v))
                return overflow(t, out->steps[t], "loss change", "since checkpoint", t - 1, i, v);
        }
    return POLCA_OK;
}

int32_t polca__engine_run(const polca_context *ctx, const polca__engine_source *src,
                          const polca__engine_request *req, const polca__engine_output *out) {
    int32_t st = check_request(src, req, out);
    if ((st = polca__comm_agree(ctx, st))) return st;
    const int64_t T1 = src->n_checkpoints, N = src->n_samples, P = src->n_params;
    const int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    engine_share sh = {0, 0, rank == 0};
    polca__comm_share(T1, size, rank, &sh.lo, &sh.hi);
    const int has_boundary = sh.hi > sh.lo && sh.hi < T1;
    const int64_t n_stash = sh.known || sh.hi == sh.lo ? 0 : sh.hi - sh.lo - 1 + has_boundary;
    engine_buffers b;
    const int64_t d = (req->k * (req->first_order ? 2 : 1) + req->k_lca) * N;
    const int32_t allocated =
        alloc_buffers(&b, P, N, req->k, req->k_lca, d, req->curvature == POLCA__CURV_EXACT,
                      n_stash, record_bytes(req, d, N, 1, 0) /* the largest record */);
    if ((st = polca__comm_agree(ctx, allocated))) {
        if (allocated == POLCA_OK) free_buffers(&b); /* another rank's failed */
        return st;
    }
    st = polca__comm_agree(ctx, local_pass(ctx, src, req, out, &b, &sh));
    if (!st && size > 1) st = pass_sums(ctx, req, &b, out, &sh, N, T1);
    if (!st && size > 1) st = gather_outputs(ctx, req, out, N, T1);
    if (!st) st = polca__comm_agree(ctx, finish_outputs(out, N, T1));
    free_buffers(&b);
    return st;
}
