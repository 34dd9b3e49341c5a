/*
 * src/cuda/transformer_cuda.h - shared pieces of the CUDA transformer kernels
 * (private to src/cuda/transformer_*.cu). The structure follows the CPU
 * kernels (src/cpu/transformer_cpu.h): same passes, same per-op formulas,
 * same precision choices (float32 storage; double for the losses, their
 * sum, LayerNorm statistics and the cross-entropy sums), so both backends
 * agree to float32 rounding.
 *
 * Files, one purpose each:
 *   transformer_work.cu      chunk planning, the per-call workspace, the
 *                            batch's index arrays (parameter views and
 *                            offsets: src/transformer.h)
 *   transformer_linear.cu    cuBLAS GEMMs (row-major, strided-batched), bias
 *                            broadcast, column sums, head transposes
 *   transformer_ops.cu       embedding, LayerNorm / RMSNorm, activation,
 *                            gated-MLP product, rotary and cross-entropy
 *                            kernels with their forward-mode (first/second
 *                            order) and reverse-mode versions
 *   transformer_attention.cu causal attention: per-head batched GEMMs and
 *                            softmax-row kernels, primal, tangents, reverse
 *   transformer_forward.cu   primal forward of a chunk; tf_losses
 *   transformer_tangent.cu   tangent pass (order 1 or 2); tf_dirderivs
 *   transformer_backward.cu  reverse pass (optionally with its tangent);
 *                            tf_grad and tf_hvp
 *
 * Conventions (as on the CPU): a chunk holds B whole sequences, R = B * T
 * rows, row r = b * T + t; activations are row-major [R][width]. q, k and v
 * of all heads share one buffer qkv [R][L3], L3 = (H + 2G) E with G =
 * n_kv_heads: q in columns 0 .. HE-1 (head h at h E), k in HE .. HE+GE-1
 * (kv head g at HE + g E), v in HE+GE .. L3-1, so the three projections
 * (whose weights W_Q, W_K, W_V are adjacent in the parameter vector, as are
 * b_Q, b_K, b_V) are one strided-batched GEMM of H + 2G heads. Query head h
 * reads kv head h / (H / G) (grouped-query attention). With rotary
 * positions the stored q and k are the rotated ones (what attention reads);
 * the reverse pass rotates their adjoints back before the projection.
 * Attention probabilities are [B][H][T][T], zero above the diagonal. x' /
 * x'' (t1 / t2) are first and second derivatives along a direction, dx an
 * adjoint, dx' its tangent.
 *
 * Every device pointer here comes from the backend's memory (theta, v,
 * dirs, outputs) or from the per-call workspace. Nothing synchronizes until
 * the end of an entry.
 */
#ifndef POLCA_CUDA_TRANSFORMER_H
#define POLCA_CUDA_TRANSFORMER_H

#include "cuda_internal.h"

extern "C" {
#include "transformer.h"
}

namespace polca_cuda {

/* ---- entries (cuda_backend.cu puts them in the table) ---- */

int32_t tf_losses(void *state, const struct polca__tf_config *cfg, const float *theta,
                  int64_t n_seq, const int32_t *tokens, const uint8_t *mask, float *losses);
int32_t tf_grad(void *state, const struct polca__tf_config *cfg, const float *theta,
                int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                double *host_mean_loss, float *grad);
int32_t tf_hvp(void *state, const struct polca__tf_config *cfg, const float *theta, int64_t n_seq,
               const int32_t *tokens, const uint8_t *mask, const float *v, float *hv);
int32_t tf_dirderivs(void *state, const struct polca__tf_config *cfg, const float *theta,
                     int64_t n_seq, const int32_t *tokens, const uint8_t *mask, int64_t k,
                     const float *dirs, float *losses, float *g, float *c);

/* Default chunk budget for a device of `total_bytes` memory. */
size_t tf_default_chunk_bytes(size_t total_bytes);

/* ---- parameter views (src/transformer.h; device pointers, Wqkv unused) ---- */

typedef polca__tf_block_view tf_block_view;
typedef polca__tf_view tf_view;

/* ---- stored activations (one set: primal, or one tangent order) ---- */

struct tf_block_acts {
    float *n1, *s1, *a1; /* norm 1: normalized [R][D], per-row [R], output [R][D] */
    float *qkv;          /* [R][L3] (q and k rotated with rotary positions) */
    float *P;            /* [B][H][T][T] */
    float *z;            /* [R][HE] */
    float *n2, *s2, *a2; /* norm 2 (absent when d_mlp = 0) */
    float *pre, *post;   /* [R][M]: a2 W_in (+ b_in), the MLP's output before W_out */
    float *gate;         /* [R][M]: a2 W_gate (gated MLP only, else NULL) */
};

/* For the primal s* = 1/sqrt(var + eps) (RMSNorm: 1/sqrt(mean(x^2) + eps));
 * for a first-order tangent s* is
 * alpha = mean(n x'c) per row (as on the CPU). logits: primal: softmax
 * probabilities of scored rows; tangent: logit tangents. */
struct tf_acts {
    tf_block_acts *blocks; /* [n_layers], host array */
    float *nf, *sf, *af;
    float *logits; /* [R][V] */
};

/* ---- one kernel invocation, one chunk ---- */

struct tf_run {
    cuda_state *s;
    const polca__tf_config *cfg;
    int64_t D, H, E, HE, L3, M, V, T; /* L3 = (H + 2G) E, the row width of qkv */
    int64_t G, KE, group;             /* kv heads, G E, query heads per kv head */
    int64_t n_layers;
    int act;
    float scale;  /* 1 / sqrt(d_head), as the CPU rounds it */
    int center;   /* 1: LayerNorm (subtract the mean); 0: RMSNorm */
    double eps;   /* norm_eps */
    bool gated, parallel, tied;
    int64_t rot_half;                /* rotary_dim / 2; 0: no rotary positions */
    float *rope_cos, *rope_sin;      /* device [T][rot_half]: cos, sin(t f_i) */

    /* the chunk */
    int64_t B, R;
    const int32_t *tokens; /* device [R] */
    const int64_t *sample; /* device [R]: sample number in the whole batch, -1 if not scored */
    float weight;          /* 1 / N: the mean-loss weight */
    /* embedding gradient: the chunk's rows grouped by token (segments
     * seg0 .. seg0 + nseg - 1; segment i holds rows seg_rows[seg_start[i]
     * .. seg_start[i+1] - 1], chunk-relative, all of token seg_tok[i]) */
    const int32_t *seg_rows;
    const int64_t *seg_start;
    const int32_t *seg_tok;
    int64_t seg0, nseg;

    /* scratch */
    double *partial; /* column-sum partials */
    int64_t partial_count;
    double *row_loss; /* [R] */
    double *loss_acc; /* [1]: the batch's loss sum */
    float *S1, *S2;   /* [B][H][T][T]: attention tangent scores */
    float *dP, *dP1;  /* [B][H][T][T]: attention adjoints */
    float *Wt, *Wt1;  /* [L3][D]: the QKV weights (and their direction) transposed */
};

/* ---- device helpers ---- */

/* Row kernels give each row one warp: 8 rows per 256-thread block. */
const int kRowsPerBlock = kThreads / 32;

static __device__ __forceinline__ double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
static __device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Blocks for a row kernel over `rows` rows (rows fit in a grid: chunk rows
 * are below 2^31). */
static inline unsigned row_blocks(int64_t rows) {
    return (unsigned)((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

/* ---- linear algebra (transformer_linear.cu); row-major like backend.h ---- */

/* C[m][n] = alpha op(A) op(B) + beta C. */
int32_t gemm(const tf_run *r, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc);
/* `batch` GEMMs, the i-th on A + i sA, B + i sB, C + i sC (a stride may be 0). */
int32_t gemm_batched(const tf_run *r, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *A, int64_t lda, int64_t sA, const float *B,
                     int64_t ldb, int64_t sB, float beta, float *C, int64_t ldc, int64_t sC,
                     int64_t batch);
/* y[i][j] = b[j] (set) or += b[j] (add) for R rows of width n (ld ldy); b NULL: nothing. */
int32_t bias_rows(const tf_run *r, int64_t R, int64_t n, const float *b, float *y, int64_t ldy,
                  bool add);
/* out[j] += sum_i (A[i][j] * (B ? B[i][j] : 1) + (C ? C[i][j] * Dm[i][j] : 0)) over R rows,
 * accumulated in double; out NULL: nothing. */
int32_t col_sums(const tf_run *r, int64_t R, int64_t n, const float *A, int64_t lda,
                 const float *B, int64_t ldb, const float *C, int64_t ldc, const float *Dm,
                 int64_t ldd, float *out);
/* out [count * E][D] with out[(i E + e) D + d] = W[(i D + d) E + e]: `count`
 * [D][E] matrices transposed and stacked. */
int32_t transpose_heads(const tf_run *r, int64_t count, int64_t D, int64_t E, const float *W,
                        float *out);

/* ---- per-op kernels (transformer_ops.cu) ---- */

/* x[r] = W_E[token r] + W_pos[r mod T] (W_pos NULL: W_E[token r] only). */
int32_t op_embed(const tf_run *r, const float *W_E, const float *W_pos, float *x);
/* gW_E[token r] += dx[r], gW_pos[t] += sum of dx over rows at position t
 * (deterministic: the chunk's rows grouped by token). */
int32_t op_embed_bwd(const tf_run *r, const float *dx, float *gW_E, float *gW_pos);
/* LayerNorm (r->center) or RMSNorm, eps r->eps, forward mode and reverse
 * mode; the formulas and argument meanings are those of the CPU's
 * polca__tf_ln_* (the column sums dw, db, dw1, db1 go through col_sums; b,
 * b1, db, db1 NULL when the norm has no bias). */
int32_t op_ln_fwd(const tf_run *r, const float *x, const float *w, const float *b, float *n,
                  float *s, float *y);
int32_t op_ln_tan(const tf_run *r, const float *n, const float *s, const float *w,
                  const float *x1, const float *w1, const float *b1, const float *x2, float *n1,
                  float *alpha, float *y1, float *y2);
int32_t op_ln_bwd(const tf_run *r, const float *n, const float *s, const float *w,
                  const float *dy, float *dx, float *dw, float *db, const float *n1,
                  const float *alpha, const float *w1, const float *dy1, float *dx1, float *dw1,
                  float *db1);
/* Activation over `count` elements: post = f(pre); tangents; reverse in place. */
int32_t op_act_fwd(const tf_run *r, int64_t count, const float *pre, float *post);
int32_t op_act_tan(const tf_run *r, int64_t count, const float *pre, const float *pre1,
                   const float *pre2, float *post1, float *post2);
int32_t op_act_bwd(const tf_run *r, int64_t count, const float *pre, float *d, const float *pre1,
                   float *d1);
/* Gated MLP product post = act(gate) * up over `count` elements; its
 * tangents post' = f'(g) g' up + f(g) up', post'' = (f'(g) g'' + f''(g) g'^2)
 * up + 2 f'(g) g' up' + f(g) up'' (gate2 NULL: first order only); reverse
 * in place: d (in: dpost, out: dup = dpost f(g)), dgate = dpost up f'(g),
 * and with d1 != NULL their tangents (d1 in: dpost', out: dup'). */
int32_t op_glu_fwd(const tf_run *r, int64_t count, const float *gate, const float *up,
                   float *post);
int32_t op_glu_tan(const tf_run *r, int64_t count, const float *gate, const float *up,
                   const float *gate1, const float *up1, const float *gate2, const float *up2,
                   float *post1, float *post2);
int32_t op_glu_bwd(const tf_run *r, int64_t count, const float *gate, const float *up, float *d,
                   float *dgate, const float *gate1, const float *up1, float *d1, float *dgate1);
/* Rotary positions: fills r->rope_cos / rope_sin (once per call). */
int32_t op_rope_table(const tf_run *r);
/* Rotates q and k of a qkv buffer [R][L3] in place at each row's position
 * (inverse: the transposed rotation, for adjoints). No-op without rotary. */
int32_t op_rope(const tf_run *r, float *qkv, bool inverse);
/* Cross-entropy of scored rows: logits -> probabilities in place; loss of
 * sample i to losses[i] (losses may be NULL); the chunk's loss sum added to
 * *r->loss_acc when sum is true. */
int32_t op_ce_fwd(const tf_run *r, float *logits, float *losses, bool sum);
/* g[i] = l', c[i] = l'' of sample i (c, z2 NULL: first order only). */
int32_t op_ce_tan(const tf_run *r, const float *p, const float *z1, const float *z2, float *g,
                  float *c);
/* dz = w (p - onehot) on scored rows, 0 elsewhere; dz1 = w p (z1 - <p, z1>) (z1 NULL: skip). */
int32_t op_ce_bwd(const tf_run *r, const float *p, float *dz, const float *z1, float *dz1);

/* ---- attention (transformer_attention.cu) ---- */

int32_t attn_fwd(const tf_run *r, const float *qkv, float *P, float *z);
/* Tangents: P1 and z1; with qkv2 != NULL also z2 (uses r->S1, r->S2). */
int32_t attn_tan(const tf_run *r, const float *qkv, const float *P, const float *qkv1, float *P1,
                 float *z1, const float *qkv2, float *z2);
/* Reverse: dz [R][HE] -> dqkv [R][3HE] (overwritten); with dz1 != NULL the
 * tangent dqkv1 too (uses r->dP, r->dP1). */
int32_t attn_bwd(const tf_run *r, const float *qkv, const float *P, const float *dz, float *dqkv,
                 const float *qkv1, const float *P1, const float *dz1, float *dqkv1);

/* ---- one entry's call: plan, workspace, index arrays (transformer_work.cu) ---- */

enum tf_kind { TF_LOSSES, TF_GRAD, TF_HVP, TF_DIRDERIVS };

struct tf_call {
    tf_run run; /* dimensions and scratch; the chunk fields set by tf_call_chunk */
    int kind;
    bool curvature; /* TF_DIRDERIVS with c */
    int64_t n_seq, n_rows, N, P;
    int64_t chunk, n_chunks; /* sequences per chunk (balanced), number of chunks */

    void *mem;        /* device: the one workspace allocation of this call */
    int32_t *tokens;  /* device [n_rows] */
    int64_t *sample;  /* device [n_rows] */
    int32_t *seg_rows, *seg_tok; /* device (TF_GRAD, TF_HVP) */
    int64_t *seg_start;
    int64_t *chunk_seg; /* host [n_chunks + 1]: first segment of each chunk */
    float *acc;         /* device [P]: gradient or HVP accumulator (TF_GRAD, TF_HVP) */

    tf_block_view *views; /* host [3 n_layers]: theta, direction, output */
    tf_view th, dv, out;
    tf_block_acts *act_blocks; /* host [3 n_layers] */
    tf_acts a, t1, t2;         /* primal; tangents (t2: TF_DIRDERIVS with c) */
    float *x, *x1, *x2;        /* residual stream and its tangents [R][D] */
    /* adjoints (TF_GRAD, TF_HVP) and their tangents (TF_HVP):
     * dx, dln [R][D], wide [R][max(V, M, HE)], dqkv [R][L3]; dgate [R][M]
     * (gated MLP only), dalt [R][D] (parallel residual only: the block
     * input's adjoint while dx still serves both branches) */
    float *dx, *dln, *wide, *dqkv, *dgate, *dalt;
    float *dx_1, *dln_1, *wide_1, *dqkv_1, *dgate_1, *dalt_1;
};

/* Plans the chunks, checks the tokens, builds and uploads the index arrays
 * (once), allocates the workspace and zeroes the accumulators. The caller
 * calls tf_call_close afterwards whatever this returns. */
int32_t tf_call_open(cuda_state *s, const polca__tf_config *cfg, int kind, bool curvature,
                     int64_t n_seq, const int32_t *tokens, const uint8_t *mask, tf_call *c);
/* Points c->run at chunk `index`. */
void tf_call_chunk(tf_call *c, int64_t index);
/* Releases everything; when st is POLCA_OK, first waits for the queued work
 * and returns its asynchronous error, if any. Returns the final status. */
int32_t tf_call_close(tf_call *c, int32_t st);

/* ---- passes ---- */

/* Primal forward of the chunk into `a`; x [R][D] scratch. losses (may be
 * NULL) gets the per-sample losses; sum: add the loss sum to *r->loss_acc. */
int32_t tf_forward_chunk(const tf_run *r, const tf_view *th, tf_acts *a, float *x, float *losses,
                         bool sum);
/* Tangent pass along dv: t1 (and t2 when not NULL); x1, x2 [R][D] scratch.
 * g (NULL: not computed) and c get l' and l'' of each sample. */
int32_t tf_tangent_chunk(const tf_run *r, const tf_view *th, const tf_view *dv, const tf_acts *a,
                         tf_acts *t1, tf_acts *t2, float *x1, float *x2, float *g, float *c);

} // namespace polca_cuda

#endif /* POLCA_CUDA_TRANSFORMER_H */
