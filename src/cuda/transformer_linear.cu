/*
 * src/cuda/transformer_linear.cu - the linear-algebra pieces of the CUDA
 * transformer kernels: cuBLAS sgemm (plain and strided-batched, row-major
 * as backend.h's gemm), bias broadcast, double-accumulated column sums (bias
 * and LayerNorm parameter gradients) and the stacked transpose of per-head
 * weights. Everything is queued on the backend's stream; the cuBLAS handle's
 * math mode (pedantic float32, or TF32 when the context allows it) applies.
 */
#include "transformer_cuda.h"

namespace polca_cuda {

namespace {

cublasOperation_t op(bool t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* y[i][j] = (add ? y[i][j] : 0) + b[j] */
__global__ void bias_kernel(int64_t R, int64_t n, const float *__restrict__ b, float *y,
                            int64_t ldy, int add) {
    const int64_t total = R * n;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = idx / n, j = idx - i * n;
        float *p = y + i * ldy + j;
        *p = add ? *p + b[j] : b[j];
    }
}

/*
 * Column sums, two stages. Block (32, 8) covers 32 columns; blockIdx.y is
 * one of gridDim.y row groups (rows y*8 + ty, stepping gridDim.y*8). With one
 * group the block adds straight into out; otherwise it writes
 * partial[group][j] and colsum_finish adds the groups in order (so the
 * result does not depend on scheduling).
 */
__global__ void colsum_kernel(int64_t R, int64_t n, const float *__restrict__ A, int64_t lda,
                              const float *__restrict__ B, int64_t ldb,
                              const float *__restrict__ C, int64_t ldc,
                              const float *__restrict__ Dm, int64_t ldd,
                              double *__restrict__ partial, float *__restrict__ out) {
    __shared__ double sh[8][33];
    const int64_t j = (int64_t)blockIdx.x * 32 + threadIdx.x;
    double acc = 0.0;
    if (j < n)
        for (int64_t i = (int64_t)blockIdx.y * 8 + threadIdx.y; i < R; i += (int64_t)gridDim.y * 8) {
            float a = A[i * lda + j];
            if (B) a *= B[i * ldb + j];
            acc += (double)a;
            if (C) acc += (double)(C[i * ldc + j] * Dm[i * ldd + j]);
        }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y != 0 || j >= n) return;
    for (int y = 1; y < 8; y++) acc += sh[y][threadIdx.x];
    if (gridDim.y == 1)
        out[j] += (float)acc;
    else
        partial[(int64_t)blockIdx.y * n + j] = acc;
}

__global__ void colsum_finish(int64_t n, int groups, const double *__restrict__ partial,
                              float *__restrict__ out) {
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n;
         j += (int64_t)gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int g = 0; g < groups; g++) acc += partial[(int64_t)g * n + j];
        out[j] += (float)acc;
    }
}

__global__ void transpose_heads_kernel(int64_t count, int64_t D, int64_t E,
                                       const float *__restrict__ W, float *__restrict__ out) {
    const int64_t total = count * D * E;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        /* idx = (i E + e) D + d over the output, written in order */
        const int64_t d = idx % D, ie = idx / D, e = ie % E, i = ie / E;
        out[idx] = W[(i * D + d) * E + e];
    }
}

unsigned grid_for(int64_t n) {
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b < 1 ? 1 : (b > 65536 ? 65536 : b));
}

} // namespace

int32_t gemm(const tf_run *r, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
             const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
             int64_t ldc) {
    if (m <= 0 || n <= 0) return POLCA_OK;
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
    CUBLAS(r->s,
           cublasSgemm_64(r->s->blas, op(tb), op(ta), n, m, k, &alpha, B, ldb, A, lda, &beta, C,
                          ldc),
           "sgemm (transformer)");
    return POLCA_OK;
}

int32_t gemm_batched(const tf_run *r, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *A, int64_t lda, int64_t sA, const float *B,
                     int64_t ldb, int64_t sB, float beta, float *C, int64_t ldc, int64_t sC,
                     int64_t batch) {
    if (m <= 0 || n <= 0 || batch <= 0) return POLCA_OK;
    /* pieces of at most 65535 (a grid dimension some cuBLAS kernels use) */
    for (int64_t b0 = 0; b0 < batch; b0 += 65535) {
        const int64_t nb = batch - b0 < 65535 ? batch - b0 : 65535;
        CUBLAS(r->s,
               cublasSgemmStridedBatched_64(r->s->blas, op(tb), op(ta), n, m, k, &alpha,
                                            B + b0 * sB, ldb, sB, A + b0 * sA, lda, sA, &beta,
                                            C + b0 * sC, ldc, sC, nb),
               "strided-batched sgemm (transformer)");
    }
    return POLCA_OK;
}

int32_t bias_rows(const tf_run *r, int64_t R, int64_t n, const float *b, float *y, int64_t ldy,
                  bool add) {
    if (!b || R <= 0 || n <= 0) return POLCA_OK;
    bias_kernel<<<grid_for(R * n), kThreads, 0, r->s->stream>>>(R, n, b, y, ldy, add ? 1 : 0);
    LAUNCHED(r->s, "bias kernel");
    return POLCA_OK;
}

int32_t col_sums(const tf_run *r, int64_t R, int64_t n, const float *A, int64_t lda,
                 const float *B, int64_t ldb, const float *C, int64_t ldc, const float *Dm,
                 int64_t ldd, float *out) {
    if (!out || R <= 0 || n <= 0) return POLCA_OK;
    /* about 64 rows per thread, at most 64 groups, partials within the buffer */
    int64_t groups = (R + 511) / 512;
    if (groups > 64) groups = 64;
    if (groups > r->partial_count / n) groups = r->partial_count / n;
    if (groups < 1) groups = 1;
    const int64_t xblocks = (n + 31) / 32;
    if (xblocks > INT32_MAX) return report(r->s, POLCA_ERR_UNSUPPORTED, "column sums: %lld columns", (long long)n);
    colsum_kernel<<<dim3((unsigned)xblocks, (unsigned)groups), dim3(32, 8), 0, r->s->stream>>>(
        R, n, A, lda, B, ldb, C, ldc, Dm, ldd, r->partial, out);
    LAUNCHED(r->s, "column-sum kernel");
    if (groups > 1) {
        colsum_finish<<<grid_for(n), kThreads, 0, r->s->stream>>>(n, (int)groups, r->partial, out);
        LAUNCHED(r->s, "column-sum finish kernel");
    }
    return POLCA_OK;
}

int32_t transpose_heads(const tf_run *r, int64_t count, int64_t D, int64_t E, const float *W,
                        float *out) {
    const int64_t total = count * D * E;
    if (total <= 0) return POLCA_OK;
    transpose_heads_kernel<<<grid_for(total), kThreads, 0, r->s->stream>>>(count, D, E, W, out);
    LAUNCHED(r->s, "head transpose kernel");
    return POLCA_OK;
}

} // namespace polca_cuda
