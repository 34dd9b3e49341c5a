/*
 * src/cuda/cuda_internal.h - what the CUDA module's source files share: the
 * backend state, error reporting (every CUDA/cuBLAS failure becomes a status
 * through host->fail) and workspace memory. Private to src/cuda/ (and to
 * bench/cuda_transformer.c, which reads the stream to time with events).
 *
 * The state struct is plain C so that a C program built against the same
 * tree can read it; everything else is C++ (nvcc).
 */
#ifndef POLCA_CUDA_INTERNAL_H
#define POLCA_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "polca/core.h"
#include "backend.h"
#ifdef __cplusplus
}
#endif

/* Chunk budget of the transformer kernels, in bytes, read once when a
 * context opens (tuning and tests; see transformer_work.cu). */
#define POLCA_CUDA_CHUNK_ENV "POLCA_CUDA_TF_CHUNK_BYTES"

/* One open CUDA backend (one per polca_context). */
typedef struct polca_cuda_state {
    const polca_backend_host *host;
    int device;
    cudaStream_t stream; /* every entry queues its work here */
    cublasHandle_t blas; /* bound to `stream`; math mode from allow_tf32 */
    double *scratch;     /* device: reduction partials and projection coefficients */
    size_t scratch_count;
    double *pinned; /* host, pinned: values read back from reductions */
    size_t pinned_count;
    /* Stream-ordered pool for the transformer kernels' per-call workspaces
     * (allocations and frees queue on `stream`, never synchronize, and
     * memory is kept for the next call; trimmed when a plain allocation
     * runs out). NULL where the device has no memory pools: then plain
     * cudaMalloc/cudaFree. */
    cudaMemPool_t pool;
    size_t tf_chunk_bytes; /* activation bytes per chunk the transformer kernels aim at */
} polca_cuda_state;

#ifdef __cplusplus
namespace polca_cuda {

typedef polca_cuda_state cuda_state;

const int kThreads = 256;

/* Reports a formatted message through host->fail; returns status. */
int32_t report(const cuda_state *s, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* CUDA error e during `what`: POLCA_ERR_OUT_OF_MEMORY for allocation
 * failures, POLCA_ERR_BACKEND otherwise; clears a non-sticky error. */
int32_t cuda_error(const cuda_state *s, cudaError_t e, const char *what);
int32_t blas_error(const cuda_state *s, cublasStatus_t e, const char *what);

/* Device workspace of `bytes` (from the pool, ordered on the stream).
 * Out of memory is POLCA_ERR_OUT_OF_MEMORY with the free/total memory in
 * the message; `what` names the buffer. */
int32_t work_alloc(cuda_state *s, size_t bytes, void **out, const char *what);
/* Frees (stream-ordered) a work_alloc block; NULL is a no-op. */
void work_free(cuda_state *s, void *p);

/* polca_backend.distance_pairs (distance.cu). */
int32_t distance_pairs(void *state, int64_t d, const float *x, int64_t ldx, int64_t n_pairs,
                       const int64_t *pair_a, const int64_t *pair_b, double *out);

} // namespace polca_cuda

#define CU(s, call, what)                                                      \
    do {                                                                       \
        cudaError_t e_ = (call);                                               \
        if (e_ != cudaSuccess) return polca_cuda::cuda_error((s), e_, (what)); \
    } while (0)
#define CUBLAS(s, call, what)                                                  \
    do {                                                                       \
        cublasStatus_t e_ = (call);                                            \
        if (e_ != CUBLAS_STATUS_SUCCESS) return polca_cuda::blas_error((s), e_, (what)); \
    } while (0)
/* Kernel launches report configuration errors through cudaGetLastError. */
#define LAUNCHED(s, what) CU((s), cudaGetLastError(), (what))

#endif /* __cplusplus */

#endif /* POLCA_CUDA_INTERNAL_H */
