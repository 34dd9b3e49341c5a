/*
 * src/cpu/transformer_work.c - packed QKV weights, activation storage and chunk
 * planning for the CPU transformer kernels.
 *
 * Memory bound: each kernel processes the batch in chunks of whole
 * sequences, sized so that the activations it stores for one chunk (one set
 * for losses and gradient, two for the HVP, three for directional
 * derivatives with curvature) plus its scratch stay under TF_CHUNK_BYTES
 * (24 MiB), but never fewer than one sequence per chunk. Beyond that a kernel
 * holds O(n_layers) pointers and, for the gradient and HVP, one [P]
 * accumulator (so the output is untouched on failure).
 */
#include <stdlib.h>
#include <string.h>

#include "transformer_cpu.h"

/* Hands out 64-byte aligned pieces of one block of memory; with mem == NULL
 * it only counts. */
typedef struct carver {
    float *mem;
    int64_t used; /* floats */
} carver;

static float *carve(carver *c, int64_t floats) {
    float *p = c->mem ? c->mem + c->used : NULL;
    c->used += (floats + 15) & ~(int64_t)15;
    return p;
}

static void carve_acts(const polca__tf_config *cfg, int64_t B, carver *c, tf_acts *a) {
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head,
                  GE = (int64_t)cfg->n_kv_heads * cfg->d_head, LQ = tf_qkv_width(cfg),
                  M = cfg->d_mlp, T = cfg->n_ctx, R = B * T;
    for (int32_t l = 0; l < cfg->n_layers; l++) {
        tf_block_acts *k = &a->blocks[l];
        k->n1 = carve(c, R * D);
        k->s1 = carve(c, R);
        k->a1 = carve(c, R * D);
        k->q = carve(c, R * LQ);
        k->k = k->q ? k->q + HE : NULL;
        k->v = k->q ? k->q + HE + GE : NULL;
        k->P = carve(c, R * cfg->n_heads * T);
        k->z = carve(c, R * HE);
        if (M > 0) {
            k->n2 = carve(c, R * D);
            k->s2 = carve(c, R);
            k->a2 = carve(c, R * D);
            k->pre = carve(c, R * M);
            k->post = carve(c, R * M);
            k->gate = cfg->mlp_gated ? carve(c, R * M) : NULL;
        } else {
            k->n2 = k->s2 = k->a2 = k->pre = k->post = k->gate = NULL;
        }
    }
    a->nf = carve(c, R * D);
    a->sf = carve(c, R);
    a->af = carve(c, R * D);
    a->logits = carve(c, R * cfg->d_vocab);
}

int64_t polca__tf_acts_floats_per_seq(const polca__tf_config *cfg) {
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head, M = cfg->d_mlp,
                  T = cfg->n_ctx;
    int64_t per_row = cfg->n_layers * (2 * D + 1 + tf_qkv_width(cfg) + HE + cfg->n_heads * T +
                                       (M > 0 ? 2 * D + 1 + 2 * M : 0)) +
                      2 * D + 1 + cfg->d_vocab;
    if (M > 0 && cfg->mlp_gated) per_row += cfg->n_layers * M; /* gate */
    return per_row * T;
}

int32_t polca__tf_acts_alloc(const polca__tf_config *cfg, int64_t B, tf_acts *a) {
    memset(a, 0, sizeof *a);
    a->blocks = polca__calloc((size_t)cfg->n_layers, sizeof *a->blocks, "transformer activations");
    if (!a->blocks) return POLCA_ERR_OUT_OF_MEMORY;
    carver c = {NULL, 0};
    tf_acts dry = *a;
    carve_acts(cfg, B, &c, &dry);
    size_t bytes;
    if (!polca__mul_size((size_t)c.used, sizeof(float), &bytes)) {
        polca__tf_acts_free(a);
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "transformer activations: size overflow");
    }
    a->mem = polca__alloc_aligned(bytes, "transformer activations");
    if (!a->mem) {
        polca__tf_acts_free(a);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    c.mem = a->mem;
    c.used = 0;
    carve_acts(cfg, B, &c, a);
    return POLCA_OK;
}

void polca__tf_acts_free(tf_acts *a) {
    free(a->blocks);
    free(a->mem);
    memset(a, 0, sizeof *a);
}

int64_t polca__tf_chunk_seqs(const polca__tf_config *cfg, int64_t n_seq, int sets,
                             int64_t extra_floats_per_seq) {
    /* + 64 floats per buffer of alignment slack, generously */
    int64_t per_seq = sets * polca__tf_acts_floats_per_seq(cfg) + extra_floats_per_seq + 64;
    int64_t fit = (int64_t)(TF_CHUNK_BYTES / sizeof(float)) / per_seq;
    if (fit < 1) fit = 1;
    /* OpenBLAS indexes rows with int: keep R = B * n_ctx below 2^31. */
    int64_t cap = INT32_MAX / cfg->n_ctx;
    if (fit > cap) fit = cap;
    return n_seq < fit ? (n_seq > 0 ? n_seq : 1) : fit;
}

int64_t polca__tf_count_samples(const polca__tf_config *cfg, int64_t n_seq, const uint8_t *mask) {
    const int64_t T = cfg->n_ctx;
    int64_t n = 0;
    for (int64_t s = 0; s < n_seq; s++)
        for (int64_t t = 0; t + 1 < T; t++) n += mask[s * T + t] != 0;
    return n;
}

float *polca__tf_qkv_alloc(const polca__tf_config *cfg, tf_view *v) {
    const int64_t per = (int64_t)cfg->d_model * tf_qkv_width(cfg);
    float *mem = polca__alloc((size_t)(per * cfg->n_layers) * sizeof *mem, "packed QKV weights");
    if (!mem) return NULL;
    for (int32_t l = 0; l < cfg->n_layers; l++) v->blocks[l].Wqkv = mem + l * per;
    return mem;
}

/* The packed row d holds W_Q[h][d][:] for every query head h at column
 * h*E, then W_K[g][d][:] at HE + g*E and W_V[g][d][:] at HE + GE + g*E for
 * every kv head g: heads[m] heads of tensor m start at column col[m]. */
static void qkv_blocks(const polca__tf_config *cfg, int64_t heads[3], int64_t col[3]) {
    const int64_t E = cfg->d_head, H = cfg->n_heads, G = cfg->n_kv_heads;
    heads[0] = H, heads[1] = G, heads[2] = G;
    col[0] = 0, col[1] = H * E, col[2] = (H + G) * E;
}

void polca__tf_qkv_pack(const polca__tf_config *cfg, tf_view *v) {
    const int64_t D = cfg->d_model, E = cfg->d_head, LQ = tf_qkv_width(cfg);
    int64_t heads[3], col[3];
    qkv_blocks(cfg, heads, col);
    for (int32_t l = 0; l < cfg->n_layers; l++) {
        tf_block_view *b = &v->blocks[l];
        const float *W[3] = {b->W_Q, b->W_K, b->W_V};
        for (int m = 0; m < 3; m++)
            for (int64_t h = 0; h < heads[m]; h++)
                for (int64_t d = 0; d < D; d++)
                    memcpy(b->Wqkv + d * LQ + col[m] + h * E, W[m] + (h * D + d) * E,
                           (size_t)E * sizeof(float));
    }
}

void polca__tf_qkv_unpack_add(const polca__tf_config *cfg, tf_view *v) {
    const int64_t D = cfg->d_model, E = cfg->d_head, LQ = tf_qkv_width(cfg);
    int64_t heads[3], col[3];
    qkv_blocks(cfg, heads, col);
    for (int32_t l = 0; l < cfg->n_layers; l++) {
        tf_block_view *b = &v->blocks[l];
        float *W[3] = {b->W_Q, b->W_K, b->W_V};
        for (int m = 0; m < 3; m++)
            for (int64_t h = 0; h < heads[m]; h++)
                for (int64_t d = 0; d < D; d++) {
                    const float *src = b->Wqkv + d * LQ + col[m] + h * E;
                    float *dst = W[m] + (h * D + d) * E;
                    for (int64_t e = 0; e < E; e++) dst[e] += src[e];
                }
    }
}

int32_t polca__tf_cpu_check(const polca__tf_config *cfg) {
    /* Every switch of polca__tf_config is computed (a switch added later
     * and not computed yet is refused here, POLCA_ERR_UNSUPPORTED naming it). */
    (void)cfg;
    return POLCA_OK;
}
