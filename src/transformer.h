/*
 * src/transformer.h - the built-in decoder-only transformer (TransformerLens
 * HookedTransformer compatible): configuration, parameter layout,
 * initialization. Private; the public face is polca_model (polca/model.h).
 *
 * Its kernels (losses, gradient, HVP, directional derivatives) are
 * dispatch-table entries (backend.h: tf_*), so each backend computes them on
 * its own device.
 */
#ifndef POLCA_TRANSFORMER_H
#define POLCA_TRANSFORMER_H

#include <stdint.h>
#include <string.h>

#include "layout.h"

#define POLCA__ACT_GELU 0      /* exact: x * Phi(x), erf form (torch gelu)   */
#define POLCA__ACT_GELU_NEW 1  /* tanh approximation (TransformerLens gelu_new) */
#define POLCA__ACT_RELU 2

typedef struct polca__tf_config {
    int32_t n_layers;
    int32_t d_model;
    int32_t n_heads;
    int32_t d_head; /* need not be d_model / n_heads */
    int32_t d_mlp;  /* 0 = attention-only (no MLP, no ln2) */
    int32_t d_vocab;
    int32_t n_ctx;
    int32_t act_fn; /* POLCA__ACT_* */
} polca__tf_config;

/* Checks every field (positive sizes, known act_fn, no overflow in P). */
POLCA_INTERNAL int32_t polca__tf_check_config(const polca__tf_config *cfg);

/* The layout in TransformerLens state_dict order and names/shapes:
 * embed.W_E [d_vocab, d_model], pos_embed.W_pos [n_ctx, d_model], then per
 * block l: blocks.l.ln1.w/b [d_model], blocks.l.attn.W_Q/W_K/W_V
 * [n_heads, d_model, d_head], W_O [n_heads, d_head, d_model], b_Q/b_K/b_V
 * [n_heads, d_head], b_O [d_model], blocks.l.ln2.w/b, blocks.l.mlp.W_in
 * [d_model, d_mlp], b_in [d_mlp], W_out [d_mlp, d_model], b_out [d_model]
 * (ln2 and mlp absent when d_mlp = 0, as TransformerLens's attn_only);
 * ln_final.w/b [d_model]; unembed.W_U [d_model, d_vocab], unembed.b_U
 * [d_vocab]. (The transformer.c header comment is authoritative.) */
POLCA_INTERNAL int32_t polca__tf_layout(const polca__tf_config *cfg, polca__layout *out);

/* Offsets (in floats) of every tensor in a flat vector of this layout, so
 * kernels reach tensors without string lookups. Per-block offsets are
 * relative to the block's start: block l starts at layer0 + l * layer_stride.
 * Offsets of absent tensors (ln2 and mlp.* when d_mlp = 0) are -1. */
typedef struct polca__tf_offsets {
    int64_t W_E, W_pos;
    int64_t layer0, layer_stride;
    int64_t ln1_w, ln1_b, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O;
    int64_t ln2_w, ln2_b, W_in, b_in, W_out, b_out;
    int64_t lnf_w, lnf_b, W_U, b_U;
    int64_t n_params;
} polca__tf_offsets;

/* Fills *o for a checked config (same walk as polca__tf_layout). Defined
 * here, inline, because the CUDA module links no libpolca code and needs the
 * same walk. */
static inline void polca__tf_offsets_of(const polca__tf_config *cfg, polca__tf_offsets *o) {
    const int64_t D = cfg->d_model, H = cfg->n_heads, E = cfg->d_head, M = cfg->d_mlp,
                  V = cfg->d_vocab, T = cfg->n_ctx;
    int64_t at = 0;
    memset(o, -1, sizeof *o);
#define TF_PUT(field, count) (o->field = at, at += (count))
    TF_PUT(W_E, V * D);
    TF_PUT(W_pos, T * D);
    o->layer0 = at;
    at = 0; /* block-relative offsets */
    TF_PUT(ln1_w, D);
    TF_PUT(ln1_b, D);
    TF_PUT(W_Q, H * D * E);
    TF_PUT(W_K, H * D * E);
    TF_PUT(W_V, H * D * E);
    TF_PUT(W_O, H * E * D);
    TF_PUT(b_Q, H * E);
    TF_PUT(b_K, H * E);
    TF_PUT(b_V, H * E);
    TF_PUT(b_O, D);
    if (M > 0) {
        TF_PUT(ln2_w, D);
        TF_PUT(ln2_b, D);
        TF_PUT(W_in, D * M);
        TF_PUT(b_in, M);
        TF_PUT(W_out, M * D);
        TF_PUT(b_out, D);
    }
    o->layer_stride = at;
    at = o->layer0 + (int64_t)cfg->n_layers * o->layer_stride;
    TF_PUT(lnf_w, D);
    TF_PUT(lnf_b, D);
    TF_PUT(W_U, D * V);
    TF_PUT(b_U, V);
#undef TF_PUT
    o->n_params = at;
}

/* A view: pointers to each tensor of one flat [P] vector (host or device
 * memory), so kernels name tensors instead of offsets. Absent tensors are
 * NULL. Shared, like the offsets, by the CPU kernels and the CUDA module. */
typedef struct polca__tf_block_view {
    float *ln1_w, *ln1_b, *W_Q, *W_K, *W_V, *W_O, *b_Q, *b_K, *b_V, *b_O;
    float *ln2_w, *ln2_b, *W_in, *b_in, *W_out, *b_out; /* NULL when d_mlp = 0 */
    /* CPU kernels only, else NULL: [D][3HE], W_Q, W_K, W_V side by side,
     * column m*HE + h*E + e = W_m[h][:][e], so one GEMM makes q, k and v of
     * all heads (with b_Q|b_K|b_V, contiguous in the layout, as its [3HE]
     * bias); a packed copy (polca__tf_qkv_*). */
    float *Wqkv;
} polca__tf_block_view;

typedef struct polca__tf_view {
    float *W_E, *W_pos;
    polca__tf_block_view *blocks; /* [n_layers], host array */
    float *lnf_w, *lnf_b, *W_U, *b_U;
} polca__tf_view;

/* Points *v at base; a NULL base gives an all-NULL view ("no such vector").
 * blocks must hold n_layers entries. Views of inputs are only read. */
static inline void polca__tf_view_of(const polca__tf_config *cfg, const float *base,
                                     polca__tf_block_view *blocks, polca__tf_view *v) {
    polca__tf_offsets o;
    polca__tf_offsets_of(cfg, &o);
    float *b0 = (float *)base;
#define TF_AT(p, off) ((p) && (off) >= 0 ? (p) + (off) : NULL)
    v->W_E = TF_AT(b0, o.W_E);
    v->W_pos = TF_AT(b0, o.W_pos);
    v->lnf_w = TF_AT(b0, o.lnf_w);
    v->lnf_b = TF_AT(b0, o.lnf_b);
    v->W_U = TF_AT(b0, o.W_U);
    v->b_U = TF_AT(b0, o.b_U);
    v->blocks = blocks;
    for (int32_t l = 0; l < cfg->n_layers; l++) {
        float *b = b0 ? b0 + o.layer0 + l * o.layer_stride : NULL;
        polca__tf_block_view *k = &blocks[l];
        k->ln1_w = TF_AT(b, o.ln1_w);
        k->ln1_b = TF_AT(b, o.ln1_b);
        k->W_Q = TF_AT(b, o.W_Q);
        k->W_K = TF_AT(b, o.W_K);
        k->W_V = TF_AT(b, o.W_V);
        k->W_O = TF_AT(b, o.W_O);
        k->b_Q = TF_AT(b, o.b_Q);
        k->b_K = TF_AT(b, o.b_K);
        k->b_V = TF_AT(b, o.b_V);
        k->b_O = TF_AT(b, o.b_O);
        k->ln2_w = TF_AT(b, o.ln2_w);
        k->ln2_b = TF_AT(b, o.ln2_b);
        k->W_in = TF_AT(b, o.W_in);
        k->b_in = TF_AT(b, o.b_in);
        k->W_out = TF_AT(b, o.W_out);
        k->b_out = TF_AT(b, o.b_out);
        k->Wqkv = NULL;
    }
#undef TF_AT
}

/* Seeded initialization into theta [P] (host memory); transformer.c documents
 * the distributions (TransformerLens's init scheme, or what differs). */
POLCA_INTERNAL int32_t polca__tf_init(const polca__tf_config *cfg, uint64_t seed, float *theta);

/*
 * A batch, for every tf_* kernel:
 *   tokens [n_seq][n_ctx] int32, each in [0, d_vocab)
 *   mask   [n_seq][n_ctx] uint8: nonzero = position t is scored, its target
 *          is tokens[s][t+1] (so the last position is never scored)
 * Samples are the scored positions in row-major order; n_samples = number of
 * nonzero mask entries. Callers validate tokens and mask before a kernel
 * (kernels ignore a nonzero mask at the last position: it has no target).
 *
 * The CPU kernels (src/cpu/transformer_*.c, docs/transformer_kernels.md)
 * process the batch in chunks of whole sequences whose stored activations
 * stay under 24 MiB, split the elementwise work among as many threads as
 * OpenBLAS uses, and return POLCA_ERR_OUT_OF_MEMORY (outputs untouched) when
 * an allocation fails.
 */

#endif /* POLCA_TRANSFORMER_H */
