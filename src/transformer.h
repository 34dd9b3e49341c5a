/*
 * src/transformer.h - the built-in decoder-only transformer (TransformerLens
 * HookedTransformer compatible, with the switches that GPT-2, GPT-NeoX and
 * Llama-style models need): configuration, parameter layout, initialization. Private; the public face is polca_model (polca/model.h).
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
#define POLCA__ACT_SILU 3      /* x * sigmoid(x) (Llama's SwiGLU gate)          */

#define POLCA__NORM_LN 0        /* LayerNorm with weight and bias               */
#define POLCA__NORM_LN_NOBIAS 1 /* LayerNorm with weight only                   */
#define POLCA__NORM_RMS 2       /* RMSNorm: x / sqrt(mean(x^2) + eps) * w       */

#define POLCA__POS_LEARNED 0 /* W_pos added to the embedding                  */
#define POLCA__POS_ROTARY 1  /* rotate-half rotary on q and k (GPT-NeoX, Llama) */
#define POLCA__POS_NONE 2    /* no positional information but the causal mask  */

/*
 * One transformer with switches (src/transformer.c documents the forward
 * pass each switch selects). polca__tf_config_basic gives TransformerLens
 * 2/3's HookedTransformer: LayerNorm eps 1e-5, learned positions, biases
 * everywhere, a plain MLP, sequential residual, untied unembedding with bias.
 */
typedef struct polca__tf_config {
    int32_t n_layers;
    int32_t d_model;
    int32_t n_heads;
    int32_t d_head; /* need not be d_model / n_heads */
    int32_t d_mlp;  /* 0 = attention-only (no MLP, no ln2) */
    int32_t d_vocab;
    int32_t n_ctx;  /* longest sequence; W_pos rows when positions are learned */
    int32_t act_fn; /* POLCA__ACT_* */
    /* ---- architecture switches ---- */
    int32_t n_kv_heads;        /* key/value heads, divides n_heads (grouped-query) */
    int32_t norm;              /* POLCA__NORM_* (ln1, ln2, ln_final alike) */
    float norm_eps;            /* > 0 */
    int32_t positions;         /* POLCA__POS_* */
    int32_t rotary_dim;        /* rotated dims of each head: even, 2..d_head (rotary only) */
    float rope_theta;          /* rotary base, > 0 (rotary only) */
    int32_t qkv_bias;          /* 1: b_Q, b_K, b_V exist */
    int32_t out_bias;          /* 1: b_O exists */
    int32_t mlp_bias;          /* 1: b_in and b_out exist */
    int32_t mlp_gated;         /* 1: post = act(a W_gate) * (a W_in + b_in) */
    int32_t parallel_residual; /* 1: x + attn(ln1 x) + mlp(ln2 x) */
    int32_t tied_embeddings;   /* 1: no W_U; logits = a W_E^T (+ b_U) */
    int32_t unembed_bias;      /* 1: b_U exists */
} polca__tf_config;

/* TransformerLens 2/3 HookedTransformer defaults for the given sizes. */
static inline polca__tf_config polca__tf_config_basic(int32_t n_layers, int32_t d_model,
                                                      int32_t n_heads, int32_t d_head,
                                                      int32_t d_mlp, int32_t d_vocab,
                                                      int32_t n_ctx, int32_t act_fn) {
    polca__tf_config c;
    memset(&c, 0, sizeof c);
    c.n_layers = n_layers;
    c.d_model = d_model;
    c.n_heads = n_heads;
    c.d_head = d_head;
    c.d_mlp = d_mlp;
    c.d_vocab = d_vocab;
    c.n_ctx = n_ctx;
    c.act_fn = act_fn;
    c.n_kv_heads = n_heads;
    c.norm = POLCA__NORM_LN;
    c.norm_eps = 1e-5f;
    c.positions = POLCA__POS_LEARNED;
    c.rotary_dim = 0;
    c.rope_theta = 10000.0f;
    c.qkv_bias = c.out_bias = c.mlp_bias = c.unembed_bias = 1;
    return c;
}

/* Checks every field (positive sizes, known enums, n_kv_heads dividing
 * n_heads, rotary_dim even and <= d_head, no overflow in P). */
POLCA_INTERNAL int32_t polca__tf_check_config(const polca__tf_config *cfg);

/* The layout, in TransformerLens state_dict order, names and shapes
 * (transformer.c's header comment lists it with every switch). */
POLCA_INTERNAL int32_t polca__tf_layout(const polca__tf_config *cfg, polca__layout *out);

/* Offsets (in floats) of every tensor in a flat vector of this layout, so
 * kernels reach tensors without string lookups. Per-block offsets are
 * relative to the block's start: block l starts at layer0 + l * layer_stride.
 * Offsets of absent tensors are -1: W_pos unless positions are learned, ln*_b
 * unless norm is POLCA__NORM_LN, b_Q/b_K/b_V without qkv_bias, b_O without
 * out_bias, ln2 and mlp.* when d_mlp = 0, W_gate unless gated, b_in/b_out
 * without mlp_bias, W_U when tied, b_U without unembed_bias. W_K, W_V, b_K
 * and b_V have n_kv_heads heads; b_Q, b_K, b_V are contiguous when present
 * (one [(n_heads + 2 n_kv_heads) d_head] bias). */
typedef struct polca__tf_offsets {
    int64_t W_E, W_pos;
    int64_t layer0, layer_stride;
    int64_t ln1_w, ln1_b, W_Q, W_K, W_V, W_O, b_Q, b_K, b_V, b_O;
    int64_t ln2_w, ln2_b, W_in, W_gate, b_in, W_out, b_out;
    int64_t lnf_w, lnf_b, W_U, b_U;
    int64_t n_params;
} polca__tf_offsets;

/* Fills *o for a checked config (same walk as polca__tf_layout). Defined
 * here, inline, because the CUDA module links no libpolca code and needs the
 * same walk. */
static inline void polca__tf_offsets_of(const polca__tf_config *cfg, polca__tf_offsets *o) {
    const int64_t D = cfg->d_model, H = cfg->n_heads, G = cfg->n_kv_heads, E = cfg->d_head,
                  M = cfg->d_mlp, V = cfg->d_vocab, T = cfg->n_ctx;
    const int norm_bias = cfg->norm == POLCA__NORM_LN;
    int64_t at = 0;
    memset(o, -1, sizeof *o);
#define TF_PUT(field, count) (o->field = at, at += (count))
    TF_PUT(W_E, V * D);
    if (cfg->positions == POLCA__POS_LEARNED) TF_PUT(W_pos, T * D);
    o->layer0 = at;
    at = 0; /* block-relative offsets */
    TF_PUT(ln1_w, D);
    if (norm_bias) TF_PUT(ln1_b, D);
    TF_PUT(W_Q, H * D * E);
    TF_PUT(W_K, G * D * E);
    TF_PUT(W_V, G * D * E);
    TF_PUT(W_O, H * E * D);
    if (cfg->qkv_bias) {
        TF_PUT(b_Q, H * E);
        TF_PUT(b_K, G * E);
        TF_PUT(b_V, G * E);
    }
    if (cfg->out_bias) TF_PUT(b_O, D);
    if (M > 0) {
        TF_PUT(ln2_w, D);
        if (norm_bias) TF_PUT(ln2_b, D);
        TF_PUT(W_in, D * M);
        if (cfg->mlp_gated) TF_PUT(W_gate, D * M);
        if (cfg->mlp_bias) TF_PUT(b_in, M);
        TF_PUT(W_out, M * D);
        if (cfg->mlp_bias) TF_PUT(b_out, D);
    }
    o->layer_stride = at;
    at = o->layer0 + (int64_t)cfg->n_layers * o->layer_stride;
    TF_PUT(lnf_w, D);
    if (norm_bias) TF_PUT(lnf_b, D);
    if (!cfg->tied_embeddings) TF_PUT(W_U, D * V);
    if (cfg->unembed_bias) TF_PUT(b_U, V);
#undef TF_PUT
    o->n_params = at;
}

/* A view: pointers to each tensor of one flat [P] vector (host or device
 * memory), so kernels name tensors instead of offsets. Absent tensors are
 * NULL (see polca__tf_offsets). Shared, like the offsets, by the CPU kernels
 * and the CUDA module. */
typedef struct polca__tf_block_view {
    float *ln1_w, *ln1_b, *W_Q, *W_K, *W_V, *W_O, *b_Q, *b_K, *b_V, *b_O;
    float *ln2_w, *ln2_b, *W_in, *W_gate, *b_in, *W_out, *b_out; /* NULL when d_mlp = 0 */
    /* CPU kernels only, else NULL: [D][(H + 2G)E], W_Q, W_K, W_V side by
     * side (G = n_kv_heads), column h*E + e = W_Q[h][:][e], HE + g*E + e =
     * W_K[g][:][e], HE + GE + g*E + e = W_V[g][:][e], so one GEMM makes q, k
     * and v of all heads (with b_Q|b_K|b_V, contiguous in the layout, as its
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
        k->W_gate = TF_AT(b, o.W_gate);
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
