/*
 * tests/transformer_ref.h - an independent float64 reference of the built-in
 * transformer's per-sample losses, for tests: naive loops written from the
 * model's definition (src/transformer.c header comment, every architecture
 * switch of polca__tf_config), tensors found by NAME in the layout (so it
 * does not share the kernels' offsets, views or ops).
 *
 * Presence of the optional tensors is checked against the config: a bias
 * the config asks for must be in the layout and one it does not must be
 * absent (exit status 2 naming the tensor otherwise, as for a missing
 * required tensor), so the reference also holds the layout to the spec.
 */
#ifndef POLCA_TEST_TRANSFORMER_REF_H
#define POLCA_TEST_TRANSFORMER_REF_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "transformer.h"

/* The tensor `name`, or NULL when absent; `want` = whether the config says
 * it exists (a mismatch ends the program). */
static const double *ref_tensor_if(const polca__layout *lay, const double *th, const char *name,
                                   int want) {
    int64_t i = polca__layout_find(lay, name);
    if ((i >= 0) != (want != 0)) {
        printf("  reference: tensor %s is %s the layout, the config says otherwise\n", name,
               i >= 0 ? "in" : "missing from");
        exit(2);
    }
    return i >= 0 ? th + lay->tensors[i].offset : NULL;
}

static const double *ref_tensor(const polca__layout *lay, const double *th, const char *name) {
    return ref_tensor_if(lay, th, name, 1);
}

static const double *ref_block_if(const polca__layout *lay, const double *th, int l, const char *s,
                                  int want) {
    char name[128];
    snprintf(name, sizeof name, "blocks.%d.%s", l, s);
    return ref_tensor_if(lay, th, name, want);
}

static const double *ref_block(const polca__layout *lay, const double *th, int l, const char *s) {
    return ref_block_if(lay, th, l, s, 1);
}

/* y[t] = N(x[t]) for T rows of width D:
 *   LN:  (x - mean) / sqrt(var + eps) * w (+ b), var biased (b NULL: none)
 *   RMS: x / sqrt(mean(x^2) + eps) * w */
static void ref_norm(int kind, double eps, int T, int D, const double *x, const double *w,
                     const double *b, double *y) {
    for (int t = 0; t < T; t++) {
        const double *r = x + (size_t)t * D;
        double m = 0, v = 0;
        if (kind == POLCA__NORM_RMS) {
            for (int j = 0; j < D; j++) v += r[j] * r[j];
            v /= D;
        } else {
            for (int j = 0; j < D; j++) m += r[j];
            m /= D;
            for (int j = 0; j < D; j++) v += (r[j] - m) * (r[j] - m);
            v /= D;
        }
        const double s = 1.0 / sqrt(v + eps);
        for (int j = 0; j < D; j++) y[(size_t)t * D + j] = (r[j] - m) * s * w[j] + (b ? b[j] : 0.0);
    }
}

static double ref_act(int act, double x) {
    if (act == POLCA__ACT_GELU) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    if (act == POLCA__ACT_GELU_NEW)
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    if (act == POLCA__ACT_SILU) return x / (1.0 + exp(-x));
    return x > 0 ? x : 0;
}

/* Rotate-half rotary embedding of one head vector x[0..E) at position t, in
 * place: pairs (i, i + R/2) for i < R/2, R = rotary_dim, angle t * f_i with
 * f_i = theta^(-2i / R); dims R..E pass through. */
static void ref_rotary(int R, double theta, int t, double *x) {
    const int r = R / 2;
    for (int i = 0; i < r; i++) {
        const double ang = (double)t * pow(theta, -2.0 * i / R), cs = cos(ang), sn = sin(ang);
        const double a = x[i], b = x[i + r];
        x[i] = a * cs - b * sn;
        x[i + r] = b * cs + a * sn;
    }
}

/* out[t] (+)= m(a[t]): the block's MLP (plain or gated), added to out. */
static void ref_mlp_add(const polca__tf_config *c, const polca__layout *lay, const double *th, int l,
                        int T, const double *a, double *hid, double *out) {
    const int D = c->d_model, M = c->d_mlp;
    const double *Wi = ref_block(lay, th, l, "mlp.W_in"),
                 *Wg = ref_block_if(lay, th, l, "mlp.W_gate", c->mlp_gated),
                 *bi = ref_block_if(lay, th, l, "mlp.b_in", c->mlp_bias),
                 *Wout = ref_block(lay, th, l, "mlp.W_out"),
                 *bout = ref_block_if(lay, th, l, "mlp.b_out", c->mlp_bias);
    for (int t = 0; t < T; t++)
        for (int m = 0; m < M; m++) {
            double pre = bi ? bi[m] : 0.0, gate = 0.0;
            for (int d = 0; d < D; d++) {
                pre += a[t * D + d] * Wi[d * M + m];
                if (Wg) gate += a[t * D + d] * Wg[d * M + m];
            }
            hid[t * M + m] = Wg ? ref_act(c->act_fn, gate) * pre : ref_act(c->act_fn, pre);
        }
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++) {
            double acc = bout ? bout[d] : 0.0;
            for (int m = 0; m < M; m++) acc += hid[t * M + m] * Wout[m * D + d];
            out[t * D + d] += acc;
        }
}

/* out[t] (+)= attention of the normalized rows a (causal, grouped-query,
 * rotary when configured), added to out. q [T][H][E], k, v [T][G][E], z
 * [T][H][E], p [T] scratch. */
static void ref_attn_add(const polca__tf_config *c, const polca__layout *lay, const double *th, int l,
                         int T, const double *a, double *q, double *k, double *v, double *z,
                         double *p, double *out) {
    const int D = c->d_model, H = c->n_heads, G = c->n_kv_heads, E = c->d_head;
    const int grouped = G < H, qb = c->qkv_bias;
    const double *Wq = ref_block(lay, th, l, "attn.W_Q"),
                 *Wk = ref_block(lay, th, l, grouped ? "attn._W_K" : "attn.W_K"),
                 *Wv = ref_block(lay, th, l, grouped ? "attn._W_V" : "attn.W_V"),
                 *Wo = ref_block(lay, th, l, "attn.W_O"),
                 *bq = ref_block_if(lay, th, l, "attn.b_Q", qb),
                 *bk = ref_block_if(lay, th, l, grouped ? "attn._b_K" : "attn.b_K", qb),
                 *bv = ref_block_if(lay, th, l, grouped ? "attn._b_V" : "attn.b_V", qb),
                 *bo = ref_block_if(lay, th, l, "attn.b_O", c->out_bias);
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < H; h++)
            for (int e = 0; e < E; e++) {
                double s = bq ? bq[h * E + e] : 0.0;
                for (int d = 0; d < D; d++) s += a[t * D + d] * Wq[(h * D + d) * E + e];
                q[(t * H + h) * E + e] = s;
            }
        for (int g = 0; g < G; g++)
            for (int e = 0; e < E; e++) {
                double sk = bk ? bk[g * E + e] : 0.0, sv = bv ? bv[g * E + e] : 0.0;
                for (int d = 0; d < D; d++) {
                    sk += a[t * D + d] * Wk[(g * D + d) * E + e];
                    sv += a[t * D + d] * Wv[(g * D + d) * E + e];
                }
                k[(t * G + g) * E + e] = sk;
                v[(t * G + g) * E + e] = sv;
            }
        if (c->positions == POLCA__POS_ROTARY) {
            for (int h = 0; h < H; h++) ref_rotary(c->rotary_dim, c->rope_theta, t, q + (t * H + h) * E);
            for (int g = 0; g < G; g++) ref_rotary(c->rotary_dim, c->rope_theta, t, k + (t * G + g) * E);
        }
    }
    for (int h = 0; h < H; h++) {
        const int g = h / (H / G);
        for (int i = 0; i < T; i++) {
            double mx = -1e300, den = 0;
            for (int j = 0; j <= i; j++) {
                double sc = 0;
                for (int e = 0; e < E; e++) sc += q[(i * H + h) * E + e] * k[(j * G + g) * E + e];
                p[j] = sc / sqrt((double)E);
                if (p[j] > mx) mx = p[j];
            }
            for (int j = 0; j <= i; j++) den += (p[j] = exp(p[j] - mx));
            for (int e = 0; e < E; e++) {
                double acc = 0;
                for (int j = 0; j <= i; j++) acc += p[j] / den * v[(j * G + g) * E + e];
                z[(i * H + h) * E + e] = acc;
            }
        }
    }
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++) {
            double acc = bo ? bo[d] : 0.0;
            for (int h = 0; h < H; h++)
                for (int e = 0; e < E; e++) acc += z[(t * H + h) * E + e] * Wo[(h * E + e) * D + d];
            out[t * D + d] += acc;
        }
}

/* Per-sample losses (scored positions, row-major) into losses (may be NULL);
 * returns their mean (0 when none). tokens and mask are [n_seq][c->n_ctx]. */
static double ref_losses(const polca__tf_config *c, const polca__layout *lay, const double *th,
                         int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                         double *losses) {
    const int T = c->n_ctx, D = c->d_model, H = c->n_heads, G = c->n_kv_heads, E = c->d_head,
              M = c->d_mlp, V = c->d_vocab;
    const double eps = (double)c->norm_eps; /* the float the config holds, exactly */
    const int nb = c->norm == POLCA__NORM_LN;
    double *x = calloc((size_t)T * D, 8), *a = calloc((size_t)T * D, 8),
           *a2 = calloc((size_t)T * D, 8), *dx = calloc((size_t)T * D, 8);
    double *q = calloc((size_t)T * H * E, 8), *k = calloc((size_t)T * G * E, 8),
           *v = calloc((size_t)T * G * E, 8), *z = calloc((size_t)T * H * E, 8);
    double *hid = calloc((size_t)T * (M > 0 ? M : 1), 8), *lg = calloc((size_t)V, 8),
           *p = calloc((size_t)T, 8);
    const double *WE = ref_tensor(lay, th, "embed.W_E"),
                 *Wp = ref_tensor_if(lay, th, "pos_embed.W_pos", c->positions == POLCA__POS_LEARNED);
    const double *lnf_w = ref_tensor(lay, th, "ln_final.w"), *lnf_b = ref_tensor_if(lay, th, "ln_final.b", nb);
    const double *WU = ref_tensor_if(lay, th, "unembed.W_U", !c->tied_embeddings),
                 *bU = ref_tensor_if(lay, th, "unembed.b_U", c->unembed_bias);
    double sum = 0;
    int64_t n = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        const int32_t *tk = tokens + s * T;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < D; j++) x[t * D + j] = WE[tk[t] * D + j] + (Wp ? Wp[t * D + j] : 0.0);
        for (int l = 0; l < c->n_layers; l++) {
            const double *l1w = ref_block(lay, th, l, "ln1.w"), *l1b = ref_block_if(lay, th, l, "ln1.b", nb);
            ref_norm(c->norm, eps, T, D, x, l1w, l1b, a);
            if (M > 0) {
                const double *l2w = ref_block(lay, th, l, "ln2.w"),
                             *l2b = ref_block_if(lay, th, l, "ln2.b", nb);
                memset(dx, 0, (size_t)T * D * 8);
                ref_attn_add(c, lay, th, l, T, a, q, k, v, z, p, dx);
                if (c->parallel_residual) { /* x + attn(N1 x) + mlp(N2 x) */
                    ref_norm(c->norm, eps, T, D, x, l2w, l2b, a2);
                    ref_mlp_add(c, lay, th, l, T, a2, hid, dx);
                    for (int i = 0; i < T * D; i++) x[i] += dx[i];
                } else { /* x += attn(N1 x); x += mlp(N2 x) */
                    for (int i = 0; i < T * D; i++) x[i] += dx[i];
                    ref_norm(c->norm, eps, T, D, x, l2w, l2b, a2);
                    ref_mlp_add(c, lay, th, l, T, a2, hid, x);
                }
            } else {
                ref_block_if(lay, th, l, "ln2.w", 0);
                ref_block_if(lay, th, l, "mlp.W_in", 0);
                ref_attn_add(c, lay, th, l, T, a, q, k, v, z, p, x);
            }
        }
        ref_norm(c->norm, eps, T, D, x, lnf_w, lnf_b, a);
        for (int t = 0; t + 1 < T; t++) {
            if (!mask[s * T + t]) continue;
            double mx = -1e300, den = 0;
            for (int u = 0; u < V; u++) {
                double acc = bU ? bU[u] : 0.0;
                for (int d = 0; d < D; d++) /* tied: W_U = W_E^T */
                    acc += a[t * D + d] * (WU ? WU[d * V + u] : WE[u * D + d]);
                lg[u] = acc;
                if (acc > mx) mx = acc;
            }
            for (int u = 0; u < V; u++) den += exp(lg[u] - mx);
            double loss = mx + log(den) - lg[tk[t + 1]];
            if (losses) losses[n] = loss;
            sum += loss;
            n++;
        }
    }
    free(x), free(a), free(a2), free(dx), free(q), free(k), free(v), free(z), free(hid), free(lg),
        free(p);
    return n ? sum / (double)n : 0.0;
}

#endif
