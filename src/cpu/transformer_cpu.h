/*
 * src/cpu/transformer_cpu.h - shared pieces of the CPU transformer kernels
 * (private to src/cpu/transformer_*.c).
 *
 * Files, one purpose each:
 *   transformer_work.c     packed QKV weights, chunk planning, activation storage
 *   transformer_ops.c      per-op kernels (LayerNorm, activation, attention,
 *                          cross-entropy) with their forward-mode (first and
 *                          second order) and reverse-mode derivatives
 *   transformer_linear.c   GEMM-based linear maps and their derivatives
 *   transformer_rotary.c   rotary positions: the rotation of q and k
 *   transformer_forward.c  primal forward pass; the tf_losses entry
 *   transformer_tangent.c  forward-mode tangent pass (order 1 or 2); the
 *                          tf_dirderivs entry
 *   transformer_backward.c reverse pass, optionally differentiated once more
 *                          along a tangent (forward-over-reverse); the
 *                          tf_grad and tf_hvp entries
 *
 * Conventions. A chunk holds B whole sequences, R = B * n_ctx rows; row
 * r = b * n_ctx + t. Activations are row-major [R][width]. Heads are
 * concatenated along a row: z is [R][H*E] with head h in columns
 * h*E .. h*E+E-1; q, k, v are the three column blocks of one
 * [R][(H+2G)E] buffer (G = n_kv_heads; made by one GEMM): q's H heads
 * (HE columns), then k's G heads and v's G heads (GE columns each); query
 * head h reads kv head h / (H/G) (grouped-query attention); with rotary
 * positions q and k are stored rotated. Attention probabilities are
 * [B][H][T][T] (zero above the diagonal). Notation in comments: x' (first-order tangent, "t1") and x''
 * (second-order, "t2") are the first and second derivatives of x(theta + s d)
 * in s at s = 0; dx is the adjoint (gradient of the mean loss w.r.t. x), dx'
 * its tangent.
 */
#ifndef POLCA_CPU_TRANSFORMER_H
#define POLCA_CPU_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "../internal.h"
#include "../transformer.h"

/* Files with hot elementwise loops start with TF_VECTORIZE_FILE: GCC's -O2
 * cost model vectorizes only loops of known trip count, and a per-function
 * optimize attribute would stop the small helpers from being inlined.
 * TF_CLONES compiles a function for AVX-512, AVX2 and the baseline, picked
 * at load time (the library itself stays baseline x86-64). Only static
 * functions are cloned: GCC gives the ifunc resolver of an extern one default
 * visibility, which the version script's polca_* would then export. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TF_VECTORIZE_FILE                                                      \
    _Pragma("GCC optimize(\"tree-vectorize\", \"vect-cost-model=dynamic\")")
#define TF_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define TF_VECTORIZE_FILE
#define TF_CLONES
#endif

/* Upper bound on the bytes of stored activations per chunk (all activation
 * sets of a kernel together); a chunk is never smaller than one sequence. */
#ifndef TF_CHUNK_BYTES
#define TF_CHUNK_BYTES ((size_t)24 << 20)
#endif

/* Width of the packed q | k | v rows: (n_heads + 2 n_kv_heads) d_head. */
static inline int64_t tf_qkv_width(const polca__tf_config *cfg) {
    return ((int64_t)cfg->n_heads + 2 * (int64_t)cfg->n_kv_heads) * cfg->d_head;
}

/* ---- parameter views (src/transformer.h) ---- */

typedef polca__tf_block_view tf_block_view;
typedef polca__tf_view tf_view;

/* Packed QKV copies for a view: allocates n_layers * D * (H+2G)E floats and
 * points each block's Wqkv into them; returns the allocation (free() it) or
 * NULL (out of memory, reported). */
POLCA_INTERNAL float *polca__tf_qkv_alloc(const polca__tf_config *cfg, tf_view *v);
/* Wqkv <- W_Q, W_K, W_V of each block. */
POLCA_INTERNAL void polca__tf_qkv_pack(const polca__tf_config *cfg, tf_view *v);
/* W_Q, W_K, W_V += Wqkv of each block (gradients accumulated packed). */
POLCA_INTERNAL void polca__tf_qkv_unpack_add(const polca__tf_config *cfg, tf_view *v);

/* POLCA_ERR_UNSUPPORTED, naming the switch, when cfg uses an architecture
 * switch these kernels do not compute (transformer_work.c); every entry
 * checks first. */
POLCA_INTERNAL int32_t polca__tf_cpu_check(const polca__tf_config *cfg);

/* ---- threads for the elementwise ops (transformer_par.c) ---- */

typedef struct tf_pool tf_pool;
/* Work on items [i0, i1) with a private scratch of
 * polca__tf_op_scratch_floats floats. */
typedef void (*tf_pool_fn)(void *arg, int64_t i0, int64_t i1, float *scratch);

/* Scratch floats one op needs per worker (and what the tmp arguments of the
 * ops below must hold). */
POLCA_INTERNAL int64_t polca__tf_op_scratch_floats(const polca__tf_config *cfg);
/* Opens a pool of as many workers as OpenBLAS has threads and makes it the
 * calling thread's current pool; close it before the kernel returns. */
POLCA_INTERNAL int32_t polca__tf_pool_open(const polca__tf_config *cfg, tf_pool **out);
POLCA_INTERNAL void polca__tf_pool_close(tf_pool *p); /* NULL is a no-op */
/* Runs fn over [0, n) split among the current pool's workers (serially, with
 * serial_scratch, when there is no pool or n < 2 * min_per_worker). */
POLCA_INTERNAL void polca__tf_parallel(int64_t n, int64_t min_per_worker, tf_pool_fn fn, void *arg,
                                       float *serial_scratch);
/* Workers of the current pool (1 without one) and worker w's scratch (NULL
 * without a pool). */
POLCA_INTERNAL int polca__tf_parallel_workers(void);
POLCA_INTERNAL float *polca__tf_worker_scratch(int w);

/* ---- stored activations of one chunk ---- */

typedef struct tf_block_acts {
    float *n1, *s1, *a1; /* LN1: normalized [R][D], per-row scalar [R], output [R][D] */
    float *q, *k, *v;    /* column blocks of one [R][(H+2G)E] buffer (that row stride) */
    float *P;            /* [B][H][T][T] */
    float *z;            /* [R][HE] attention values before W_O */
    float *n2, *s2, *a2; /* LN2 (absent when d_mlp = 0) */
    float *pre, *post;   /* [R][M] MLP pre- and post-activation; gated: pre is the
                            "up" a W_in + b_in, post = act(gate) * pre */
    float *gate;         /* [R][M] a W_gate (gated MLP only, else NULL) */
} tf_block_acts;

/* One set of activations (primal, or one tangent order). For the primal, s*
 * is 1/sqrt(var + eps) of each row; for a first-order tangent it is
 * alpha = mean(n * x'c) of each row (what the reverse tangent needs). */
typedef struct tf_acts {
    tf_block_acts *blocks; /* [n_layers] */
    float *nf, *sf, *af;   /* final norm */
    float *logits;         /* [R][V]: primal: softmax probabilities of scored rows;
                              tangent: logit tangents */
    float *mem;            /* the one allocation behind all of the above */
} tf_acts;

/* Floats one sequence needs in one tf_acts set. */
POLCA_INTERNAL int64_t polca__tf_acts_floats_per_seq(const polca__tf_config *cfg);
/* Allocates a set for chunks of up to max_seq sequences. */
POLCA_INTERNAL int32_t polca__tf_acts_alloc(const polca__tf_config *cfg, int64_t max_seq, tf_acts *a);
POLCA_INTERNAL void polca__tf_acts_free(tf_acts *a);

/* Sequences per chunk when `sets` activation sets are stored at once plus
 * `extra_floats_per_seq` of scratch. */
POLCA_INTERNAL int64_t polca__tf_chunk_seqs(const polca__tf_config *cfg, int64_t n_seq, int sets,
                             int64_t extra_floats_per_seq);

/* Per-chunk batch description. */
typedef struct tf_batch {
    int64_t B, R;          /* sequences, rows */
    const int32_t *tokens; /* [B][T] */
    const uint8_t *mask;   /* [B][T] */
    float weight;          /* 1 / n_samples of the whole batch: the mean-loss weight */
    const float *rope;     /* rotary cos/sin table (polca__tf_rope_table), else NULL */
} tf_batch;

/* Row r of a chunk is a sample: scored, and not the last position. */
static inline int tf_scored(const polca__tf_config *cfg, const tf_batch *bt, int64_t r) {
    return bt->mask[r] != 0 && (r % cfg->n_ctx) + 1 < cfg->n_ctx;
}

/* Number of nonzero mask entries of n_seq sequences that can be scored
 * (t < n_ctx - 1). */
POLCA_INTERNAL int64_t polca__tf_count_samples(const polca__tf_config *cfg, int64_t n_seq,
                                const uint8_t *mask);

/* ---- rotary positions (transformer_rotary.c) ---- */

/* The table of cos(t f_i) and sin(t f_i), [2][n_ctx][rotary_dim/2], into
 * *out (free() it); *out = NULL when positions are not rotary. */
POLCA_INTERNAL int32_t polca__tf_rope_table(const polca__tf_config *cfg, float **out);
/* Rotates in place the q and k heads (the first (H+G)E columns) of R rows
 * of a packed [R][(H+2G)E] buffer, row r at position r % n_ctx; inverse
 * applies the transpose (for adjoints). rope or qk NULL: nothing. */
POLCA_INTERNAL void polca__tf_rope_apply(const polca__tf_config *cfg, int64_t R, const float *rope,
                                         float *qk, int inverse);

/* ---- primal forward (transformer_forward.c) ---- */

/* Runs the chunk forward, storing activations in `a`; writes the per-sample
 * losses of the chunk's scored rows (row-major) to losses (may be NULL) and
 * adds their sum to *loss_sum (may be NULL). Leaves softmax probabilities of
 * scored rows in a->logits. x: [R][D] scratch. Returns the chunk's number of
 * samples. */
POLCA_INTERNAL int64_t polca__tf_forward_chunk(const polca__tf_config *cfg, const tf_view *th, const tf_batch *bt,
                             tf_acts *a, float *x, float *losses, double *loss_sum);

/* ---- tangent forward (transformer_tangent.c) ---- */

/* Propagates the direction `dv` through a chunk whose primal activations are
 * in `a`: first-order tangents into t1, and, when t2 != NULL, second-order
 * ones into t2. Writes g[scored row] = l' (g may be NULL: not computed)
 * and, when c != NULL, c = l''.
 * x1, x2: [R][D] scratch (x2 may be NULL when t2 is); tmp:
 * polca__tf_op_scratch_floats floats. */
POLCA_INTERNAL void polca__tf_tangent_chunk(const polca__tf_config *cfg, const tf_view *th, const tf_view *dv,
                             const tf_batch *bt, const tf_acts *a, tf_acts *t1, tf_acts *t2,
                             float *x1, float *x2, float *tmp, float *g, float *c);

/* ---- reverse pass (transformer_backward.c) ---- */

/* Scratch floats per sequence the reverse pass needs. */
POLCA_INTERNAL int64_t polca__tf_backward_scratch_per_seq(const polca__tf_config *cfg, int tangent);

/* Adds the gradient of the chunk's share of the mean loss to grad (a view;
 * its pointers may be NULL to skip) and, when t1 != NULL, the tangent of that
 * gradient along dv (t1 holds the tangent activations) to hv. scratch:
 * polca__tf_backward_scratch_per_seq * B floats (includes the op scratch). */
POLCA_INTERNAL void polca__tf_backward_chunk(const polca__tf_config *cfg, const tf_view *th, const tf_view *dv,
                              const tf_batch *bt, const tf_acts *a, const tf_acts *t1,
                              const tf_view *grad, const tf_view *hv, float *scratch);

/* ---- linear maps (transformer_linear.c) ----
 * y [R][n] (ldy) = x [R][k] (ldx) W [k][n] (ldw) (+ b [n]). Every pointer
 * may carry a leading dimension so per-head slices work in place. */

typedef struct tf_mat {
    float *p;
    int64_t ld;
} tf_mat;

/* y = x W (+ b when b != NULL); beta = 0 overwrites, 1 accumulates. */
POLCA_INTERNAL void polca__tf_gemm_nn(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat W, float beta,
                       float alpha, tf_mat y);
/* y (R x n) = alpha * x (R x k) W^T, W stored [n][k]. */
POLCA_INTERNAL void polca__tf_gemm_nt(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat W, float beta,
                       float alpha, tf_mat y);
/* G (k x n) += alpha * x^T (k x R) dy (R x n). */
POLCA_INTERNAL void polca__tf_gemm_tn(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat dy, float alpha,
                       tf_mat G);
/* y[r][j] (+)= b[j] for all rows (b NULL: nothing). */
POLCA_INTERNAL void polca__tf_add_bias(int64_t R, int64_t n, const float *b, tf_mat y);
/* g[j] += sum_r dy[r][j] (g NULL: nothing). */
POLCA_INTERNAL void polca__tf_col_sums(int64_t R, int64_t n, tf_mat dy, float *g);

/* ---- per-op kernels (transformer_ops.c) ---- */

/* The norm of cfg->norm over rows of width D = d_model, eps cfg->norm_eps:
 * LayerNorm n = (x - mean) s, s = 1/sqrt(var + eps), or RMSNorm n = x s,
 * s = 1/sqrt(mean(x^2) + eps); y = n w (+ b; b NULL: no bias, and the b
 * tangents and gradients below are NULL too). Forward: n, s, y. */
POLCA_INTERNAL void polca__tf_ln_fwd(const polca__tf_config *cfg, int64_t R, const float *x,
                                     const float *w, const float *b, float *n, float *s, float *y);
/* Tangents: inputs x1 (and x2 for second order, may be NULL), parameter
 * tangents w1, b1; primal n, s. Outputs n1, alpha [R], y1, and when x2:
 * y2 (n2 is not kept). The ops below split their rows (elements,
 * sequences) among the current pool's workers; tmp arguments hold
 * polca__tf_op_scratch_floats floats (used when there is no pool). */
POLCA_INTERNAL void polca__tf_ln_tan(const polca__tf_config *cfg, int64_t R, const float *n,
                                     const float *s, const float *w, const float *x1,
                                     const float *w1, const float *b1, const float *x2, float *n1,
                                     float *alpha, float *y1, float *y2);
/* Reverse: dy -> dx (accumulated into dx), dw, db (+=, may be NULL).
 * With tangent (dy1 != NULL): also dx1 (+=), dw1, db1 (+=, may be NULL). */
POLCA_INTERNAL void polca__tf_ln_bwd(const polca__tf_config *cfg, int64_t R, const float *n,
                                     const float *s, const float *w, const float *dy, float *dx,
                                     float *dw, float *db, const float *n1, const float *alpha,
                                     const float *w1, const float *dy1, float *dx1, float *dw1,
                                     float *db1, float *tmp);

/* Activation: post = f(pre). */
POLCA_INTERNAL void polca__tf_act_fwd(int act, int64_t n, const float *pre, float *post);
/* post1 = f'(pre) pre1; post2 = f'(pre) pre2 + f''(pre) pre1^2 (pre2 NULL: skip). */
POLCA_INTERNAL void polca__tf_act_tan(int act, int64_t n, const float *pre, const float *pre1, const float *pre2,
                       float *post1, float *post2);
/* In place: d = d f'(pre); with tangent: d1 = d1 f'(pre) + d f''(pre) pre1
 * (computed from the incoming d). */
POLCA_INTERNAL void polca__tf_act_bwd(int act, int64_t n, const float *pre, float *d, const float *pre1,
                       float *d1);

/* Gated MLP, n elements: post = f(gate) up. */
POLCA_INTERNAL void polca__tf_glu_fwd(int act, int64_t n, const float *gate, const float *up,
                                      float *post);
/* post1 = f'(g) g1 up + f(g) up1; when g2 != NULL also
 * post2 = (f'(g) g2 + f''(g) g1^2) up + 2 f'(g) g1 up1 + f(g) up2. */
POLCA_INTERNAL void polca__tf_glu_tan(int act, int64_t n, const float *gate, const float *up,
                                      const float *g1, const float *up1, const float *g2,
                                      const float *up2, float *post1, float *post2);
/* d (in: dpost, out: dup = d f(g)), dg = d up f'(g) (overwritten); with
 * tangent (g1 != NULL): d1 (in: dpost', out: dup'), dg1 = dg' (overwritten). */
POLCA_INTERNAL void polca__tf_glu_bwd(int act, int64_t n, const float *gate, const float *up,
                                      float *d, float *dg, const float *g1, const float *up1,
                                      float *d1, float *dg1);

/* Causal attention of one chunk, all heads: P = softmax(q k^T * scale), z = P v. */
POLCA_INTERNAL void polca__tf_attn_fwd(const polca__tf_config *cfg, int64_t B, const float *q, const float *k,
                        const float *v, float *P, float *z);
/* Tangents (order 2 when q2 != NULL; then z2 written; P'' is not kept). */
POLCA_INTERNAL void polca__tf_attn_tan(const polca__tf_config *cfg, int64_t B, const float *q, const float *k,
                        const float *v, const float *P, const float *q1, const float *k1,
                        const float *v1, float *P1, float *z1, const float *q2, const float *k2,
                        const float *v2, float *z2, float *tmp);
/* Reverse: dz -> dq, dk, dv (overwritten). With tangent (dz1 != NULL):
 * dq1, dk1, dv1 too. */
POLCA_INTERNAL void polca__tf_attn_bwd(const polca__tf_config *cfg, int64_t B, const float *q, const float *k,
                        const float *v, const float *P, const float *dz, float *dq, float *dk,
                        float *dv, const float *q1, const float *k1, const float *v1,
                        const float *P1, const float *dz1, float *dq1, float *dk1, float *dv1,
                        float *tmp);

/* Cross-entropy of scored rows. Forward: logits -> probabilities in place
 * (scored rows only), loss per scored row appended to losses (may be NULL),
 * sum into *sum. Returns the number of scored rows. */
POLCA_INTERNAL int64_t polca__tf_ce_fwd(const polca__tf_config *cfg, const tf_batch *bt, float *logits,
                         float *losses, double *sum);
/* Tangents: z1 (and z2) logit tangents [R][V] -> g (and c) per scored row. */
POLCA_INTERNAL void polca__tf_ce_tan(const polca__tf_config *cfg, const tf_batch *bt, const float *p,
                      const float *z1, const float *z2, float *g, float *c);
/* Reverse: dz = w_r (p - onehot) for scored rows, 0 otherwise; with tangent
 * (z1 != NULL): dz1 = w_r p (z1 - <p, z1>). */
POLCA_INTERNAL void polca__tf_ce_bwd(const polca__tf_config *cfg, const tf_batch *bt, const float *p,
                      float *dz, const float *z1, float *dz1);

/* Kernel entries (assigned in cpu_backend.c's table). */
POLCA_INTERNAL int32_t polca__cpu_tf_losses(void *state, const struct polca__tf_config *cfg, const float *theta,
                             int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                             float *losses);
POLCA_INTERNAL int32_t polca__cpu_tf_grad(void *state, const struct polca__tf_config *cfg, const float *theta,
                           int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                           double *host_mean_loss, float *grad);
POLCA_INTERNAL int32_t polca__cpu_tf_hvp(void *state, const struct polca__tf_config *cfg, const float *theta,
                          int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                          const float *v, float *hv);
POLCA_INTERNAL int32_t polca__cpu_tf_dirderivs(void *state, const struct polca__tf_config *cfg,
                                const float *theta, int64_t n_seq, const int32_t *tokens,
                                const uint8_t *mask, int64_t k, const float *dirs, float *losses,
                                float *g, float *c);

#endif
