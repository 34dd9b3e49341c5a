/*
 * tests/transformer_ref.h - an independent float64 reference of the built-in
 * transformer's per-sample losses, for tests: naive loops written from the
 * model's definition (src/transformer.c header), tensors found by NAME in
 * the layout (so it does not share the kernels' offsets, views or ops).
 */
#ifndef POLCA_TEST_TRANSFORMER_REF_H
#define POLCA_TEST_TRANSFORMER_REF_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "transformer.h"

static const double *ref_tensor(const polca__layout *lay, const double *th, const char *name) {
    int64_t i = polca__layout_find(lay, name);
    if (i < 0) {
        printf("  reference: tensor %s missing\n", name);
        exit(2);
    }
    return th + lay->tensors[i].offset;
}

static const double *ref_block(const polca__layout *lay, const double *th, int l, const char *s) {
    char name[128];
    snprintf(name, sizeof name, "blocks.%d.%s", l, s);
    return ref_tensor(lay, th, name);
}

/* y[t] = LN(x[t]) * w + b for T rows of width D. */
static void ref_ln(int T, int D, const double *x, const double *w, const double *b, double *y) {
    for (int t = 0; t < T; t++) {
        double m = 0, v = 0;
        for (int j = 0; j < D; j++) m += x[t * D + j];
        m /= D;
        for (int j = 0; j < D; j++) v += (x[t * D + j] - m) * (x[t * D + j] - m);
        v /= D;
        for (int j = 0; j < D; j++) y[t * D + j] = (x[t * D + j] - m) / sqrt(v + 1e-5) * w[j] + b[j];
    }
}

static double ref_act(int act, double x) {
    if (act == POLCA__ACT_GELU) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    if (act == POLCA__ACT_GELU_NEW)
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    return x > 0 ? x : 0;
}

/* Per-sample losses (scored positions, row-major) into losses; returns their
 * mean (0 when none). */
static double ref_losses(const polca__tf_config *c, const polca__layout *lay, const double *th,
                         int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                         double *losses) {
    const int T = c->n_ctx, D = c->d_model, H = c->n_heads, E = c->d_head, M = c->d_mlp,
              V = c->d_vocab;
    double *x = calloc((size_t)T * D, 8), *a = calloc((size_t)T * D, 8);
    double *q = calloc((size_t)T * H * E, 8), *k = calloc((size_t)T * H * E, 8),
           *v = calloc((size_t)T * H * E, 8), *z = calloc((size_t)T * H * E, 8);
    double *hid = calloc((size_t)T * (M > 0 ? M : 1), 8), *lg = calloc((size_t)V, 8),
           *p = calloc((size_t)T, 8);
    const double *WE = ref_tensor(lay, th, "embed.W_E"), *Wp = ref_tensor(lay, th, "pos_embed.W_pos");
    double sum = 0;
    int64_t n = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        const int32_t *tk = tokens + s * T;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < D; j++) x[t * D + j] = WE[tk[t] * D + j] + Wp[t * D + j];
        for (int l = 0; l < c->n_layers; l++) {
            ref_ln(T, D, x, ref_block(lay, th, l, "ln1.w"), ref_block(lay, th, l, "ln1.b"), a);
            const double *Wq = ref_block(lay, th, l, "attn.W_Q"), *Wk = ref_block(lay, th, l, "attn.W_K"),
                         *Wv = ref_block(lay, th, l, "attn.W_V"), *Wo = ref_block(lay, th, l, "attn.W_O"),
                         *bq = ref_block(lay, th, l, "attn.b_Q"), *bk = ref_block(lay, th, l, "attn.b_K"),
                         *bv = ref_block(lay, th, l, "attn.b_V"), *bo = ref_block(lay, th, l, "attn.b_O");
            for (int t = 0; t < T; t++)
                for (int h = 0; h < H; h++)
                    for (int e = 0; e < E; e++) {
                        double sq = bq[h * E + e], sk = bk[h * E + e], sv = bv[h * E + e];
                        for (int d = 0; d < D; d++) {
                            sq += a[t * D + d] * Wq[(h * D + d) * E + e];
                            sk += a[t * D + d] * Wk[(h * D + d) * E + e];
                            sv += a[t * D + d] * Wv[(h * D + d) * E + e];
                        }
                        q[(t * H + h) * E + e] = sq;
                        k[(t * H + h) * E + e] = sk;
                        v[(t * H + h) * E + e] = sv;
                    }
            for (int h = 0; h < H; h++)
                for (int i = 0; i < T; i++) {
                    double mx = -1e300, den = 0;
                    for (int j = 0; j <= i; j++) {
                        double sc = 0;
                        for (int e = 0; e < E; e++) sc += q[(i * H + h) * E + e] * k[(j * H + h) * E + e];
                        p[j] = sc / sqrt((double)E);
                        if (p[j] > mx) mx = p[j];
                    }
                    for (int j = 0; j <= i; j++) den += (p[j] = exp(p[j] - mx));
                    for (int e = 0; e < E; e++) {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) acc += p[j] / den * v[(j * H + h) * E + e];
                        z[(i * H + h) * E + e] = acc;
                    }
                }
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    double acc = bo[d];
                    for (int h = 0; h < H; h++)
                        for (int e = 0; e < E; e++) acc += z[(t * H + h) * E + e] * Wo[(h * E + e) * D + d];
                    x[t * D + d] += acc;
                }
            if (M == 0) continue;
            ref_ln(T, D, x, ref_block(lay, th, l, "ln2.w"), ref_block(lay, th, l, "ln2.b"), a);
            const double *Wi = ref_block(lay, th, l, "mlp.W_in"), *bi = ref_block(lay, th, l, "mlp.b_in"),
                         *Wout = ref_block(lay, th, l, "mlp.W_out"), *bout = ref_block(lay, th, l, "mlp.b_out");
            for (int t = 0; t < T; t++)
                for (int m = 0; m < M; m++) {
                    double acc = bi[m];
                    for (int d = 0; d < D; d++) acc += a[t * D + d] * Wi[d * M + m];
                    hid[t * M + m] = ref_act(c->act_fn, acc);
                }
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    double acc = bout[d];
                    for (int m = 0; m < M; m++) acc += hid[t * M + m] * Wout[m * D + d];
                    x[t * D + d] += acc;
                }
        }
        ref_ln(T, D, x, ref_tensor(lay, th, "ln_final.w"), ref_tensor(lay, th, "ln_final.b"), a);
        const double *WU = ref_tensor(lay, th, "unembed.W_U"), *bU = ref_tensor(lay, th, "unembed.b_U");
        for (int t = 0; t + 1 < T; t++) {
            if (!mask[s * T + t]) continue;
            double mx = -1e300, den = 0;
            for (int u = 0; u < V; u++) {
                double acc = bU[u];
                for (int d = 0; d < D; d++) acc += a[t * D + d] * WU[d * V + u];
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
    free(x), free(a), free(q), free(k), free(v), free(z), free(hid), free(lg), free(p);
    return n ? sum / (double)n : 0.0;
}

#endif
