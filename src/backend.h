/*
 * src/backend.h - the PRIVATE dispatch table between the core and a backend.
 * Never installed.
 *
 * The core's algorithms (Lanczos, POLCA accumulation, HDBSCAN, ...) are
 * written once against this table; src/cpu/ and src/cuda/ each fill it in.
 * Entries work at the level of algorithm steps, not single flops, so a
 * device backend can fuse.
 *
 * Memory: every float/int pointer an entry takes is a *device* pointer of the
 * backend (host memory on the CPU backend) obtained from `alloc`, unless the
 * entry says "host". Scalars that an entry returns go to host memory.
 *
 * Errors: an entry returns POLCA_OK or a negative status, having reported the
 * message through host->fail (which sets libpolca's thread-local last error).
 * Entries never abort or print.
 *
 * Compatibility: `abi` must equal POLCA_BACKEND_ABI. New entries are only
 * appended; `struct_size` tells the core which ones a module has
 * (POLCA_BACKEND_HAS). An entry left NULL is not provided.
 */
#ifndef POLCA_BACKEND_H
#define POLCA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#define POLCA_BACKEND_ABI 2u /* 2: polca__tf_config gained the architecture switches */

struct polca__tf_config; /* src/transformer.h */

/* What the core hands a backend when it opens it. */
typedef struct polca_backend_host {
    uint32_t abi;         /* POLCA_BACKEND_ABI */
    uint32_t struct_size; /* sizeof(polca_backend_host) of the core */
    /* Records `message` as the thread's last error; returns `status`. */
    int32_t (*fail)(int32_t status, const char *message);
    /* Backend configuration (context options). */
    int32_t device;     /* CUDA device ordinal */
    int32_t threads;    /* CPU threads; 0 = library default */
    int32_t allow_tf32; /* 0 or 1 */
} polca_backend_host;

#define POLCA_TRANS_NO 0
#define POLCA_TRANS_YES 1

typedef struct polca_backend {
    uint32_t abi;         /* POLCA_BACKEND_ABI */
    uint32_t struct_size; /* sizeof(polca_backend) the module was built with */
    const char *name;     /* "cpu", "cuda" */

    /* ---- Lifecycle ---- */
    /* Opens an instance. `host` stays valid until close (the backend may
     * keep the pointer). Fails with POLCA_ERR_BACKEND_UNAVAILABLE (and a
     * reason through host->fail) when the device cannot be used. Writes a
     * one-line description of the device into device_text[device_text_len]
     * (the core passes 4096 bytes and keeps the text whole). */
    int32_t (*open)(const polca_backend_host *host, void **out_state,
                    char *device_text, size_t device_text_len);
    void (*close)(void *state);

    /* ---- Memory ---- */
    int32_t (*alloc)(void *state, size_t bytes, void **out_ptr);
    void (*release)(void *state, void *ptr); /* NULL is a no-op */
    int32_t (*upload)(void *state, void *dst, const void *host_src,
                      size_t bytes);
    int32_t (*download)(void *state, void *host_dst, const void *src,
                        size_t bytes);
    int32_t (*copy)(void *state, void *dst, const void *src, size_t bytes);
    int32_t (*zero)(void *state, void *dst, size_t bytes);
    /* Waits for all queued work; reports asynchronous device errors. */
    int32_t (*sync)(void *state);

    /* ---- BLAS-1 (float32 data, float64 accumulation) ---- */
    /* host_out = sum_i x[i] * y[i], accumulated in double. */
    int32_t (*dot)(void *state, int64_t n, const float *x, const float *y,
                   double *host_out);
    /* host_out = sqrt(sum_i x[i]^2), accumulated in double. */
    int32_t (*nrm2)(void *state, int64_t n, const float *x, double *host_out);
    /* y += alpha * x */
    int32_t (*axpy)(void *state, int64_t n, float alpha, const float *x,
                    float *y);
    /* x *= alpha */
    int32_t (*scal)(void *state, int64_t n, float alpha, float *x);

    /* ---- BLAS-3, row-major ----
     * C[m][n] = alpha * op(A) * op(B) + beta * C, with op(A) [m][k] and
     * op(B) [k][n]; A is [m][lda] (or [k][lda] transposed), B likewise,
     * C is [m][ldc]. Leading dimensions count floats. */
    int32_t (*gemm)(void *state, int32_t trans_a, int32_t trans_b, int64_t m,
                    int64_t n, int64_t k, float alpha, const float *a,
                    int64_t lda, const float *b, int64_t ldb, float beta,
                    float *c, int64_t ldc);

    /* ---- Block orthonormalization ----
     * v: [k][p] rows to orthonormalize, in place; basis: [m][p] rows already
     * orthonormal (m may be 0, basis NULL). Each row of v is made orthogonal
     * to every basis row and to the rows of v before it (classical
     * Gram-Schmidt, applied twice), then normalized. host_kept[k] receives
     * the norm of each row after projection divided by its norm before (0
     * for a zero row): a row with host_kept[i] below a tolerance was linearly
     * dependent, and is set to zero instead of being normalized when
     * host_kept[i] < drop_below. */
    int32_t (*orthonormalize)(void *state, int64_t p, const float *basis,
                              int64_t m, float *v, int64_t k,
                              double drop_below, double *host_kept);

    /* ---- Built-in transformer (src/transformer.h) ----
     * cfg, tokens and mask are HOST memory (small); theta, v, dirs and the
     * outputs are device memory. Each kernel works on the whole batch,
     * chunking internally as memory requires. See transformer.h for the
     * batch convention. n_samples = number of scored positions. */
    /* losses[n_samples]: per-sample cross-entropy (natural log). */
    int32_t (*tf_losses)(void *state, const struct polca__tf_config *cfg, const float *theta,
                         int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                         float *losses);
    /* Mean loss over the samples (host, double) and its gradient grad[P]. */
    int32_t (*tf_grad)(void *state, const struct polca__tf_config *cfg, const float *theta,
                       int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                       double *host_mean_loss, float *grad);
    /* hv[P] = H v, H the Hessian of the mean loss (exact, forward-over-reverse). */
    int32_t (*tf_hvp)(void *state, const struct polca__tf_config *cfg, const float *theta,
                      int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                      const float *v, float *hv);
    /* For k directions dirs[k][P], sharing one primal pass:
     * g[k][n_samples] = <grad l_i, d_k>, c[k][n_samples] = d_k^T H_i d_k
     * (exact forward mode, first and second order); losses[n_samples] too.
     * losses and c may be NULL (not computed). */
    int32_t (*tf_dirderivs)(void *state, const struct polca__tf_config *cfg,
                            const float *theta, int64_t n_seq, const int32_t *tokens,
                            const uint8_t *mask, int64_t k, const float *dirs,
                            float *losses, float *g, float *c);

    /* Eigensolver and clustering kernels are appended below by later steps;
     * check POLCA_BACKEND_HAS before calling one. */

    /* ---- Exact Euclidean distances of index pairs (HDBSCAN) ----
     * out[p] = sqrt(sum_k (x[a][k] - x[b][k])^2), a = pair_a[p], b = pair_b[p],
     * for p < n_pairs; x is [rows][ldx] float32 and the first d columns count.
     * Each distance is ONE sequential double sum over k = 0, 1, ..., d-1 of
     * ((double)x[a][k] - (double)x[b][k])^2, no fused multiply-add, then a
     * correctly rounded sqrt: bit for bit what the hdbscan package's Prim path
     * computes, so near-equal distances order the same way. Work is spread
     * across pairs, never within one sum. Runs of consecutive pairs with the
     * same pair_a are the fast case. pair_a, pair_b: [n_pairs] int64 row
     * indices; out: [n_pairs] double; all device memory. */
    int32_t (*distance_pairs)(void *state, int64_t d, const float *x, int64_t ldx,
                              int64_t n_pairs, const int64_t *pair_a,
                              const int64_t *pair_b, double *out);
} polca_backend;

/* Nonzero when table `be` was built with entry `field` and fills it in. */
#define POLCA_BACKEND_HAS(be, field)                                           \
    ((be)->struct_size >= offsetof(polca_backend, field) + sizeof((be)->field) && \
     (be)->field != NULL)

/* The CUDA module exports exactly this symbol (C linkage). It returns its
 * table for a core of ABI `core_abi`, or NULL when it was built for another
 * ABI. */
#define POLCA_CUDA_ENTRY_SYMBOL "polca_cuda_backend_v1"
typedef const polca_backend *(*polca_backend_entry_fn)(uint32_t core_abi);

/* The CPU backend, linked into libpolca. */
extern const polca_backend polca__cpu_backend __attribute__((visibility("hidden")));

#endif /* POLCA_BACKEND_H */
