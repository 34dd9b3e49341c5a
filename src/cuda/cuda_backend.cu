/*
 * src/cuda/cuda_backend.cu - the CUDA backend: cudart memory, cuBLAS GEMM,
 * double-accumulating reductions, block orthonormalization.
 *
 * Built as its own module (libpolca_cuda.so.MAJOR) and loaded by the core with
 * dlopen; it exports one symbol, POLCA_CUDA_ENTRY_SYMBOL. Every CUDA or cuBLAS
 * failure becomes a status reported through host->fail; nothing here aborts.
 * All work is queued on one stream per context; entries that return a value
 * to the host synchronize that stream. The transformer kernels live in
 * transformer_*.cu (see transformer_cuda.h), HDBSCAN's exact pair distances
 * in distance.cu.
 */
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cuda_internal.h"
#include "transformer_cuda.h"

namespace polca_cuda {

int32_t report(const cuda_state *s, int32_t status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return s->host->fail(status, msg);
}

int32_t cuda_error(const cuda_state *s, cudaError_t e, const char *what) {
    int32_t status = e == cudaErrorMemoryAllocation ? POLCA_ERR_OUT_OF_MEMORY : POLCA_ERR_BACKEND;
    cudaGetLastError(); /* clear a non-sticky error so the context stays usable */
    return report(s, status, "CUDA %s failed: %s (%s)", what, cudaGetErrorString(e),
                  cudaGetErrorName(e));
}

int32_t blas_error(const cuda_state *s, cublasStatus_t e, const char *what) {
    int32_t status = e == CUBLAS_STATUS_ALLOC_FAILED ? POLCA_ERR_OUT_OF_MEMORY : POLCA_ERR_BACKEND;
    return report(s, status, "cuBLAS %s failed: %s", what, cublasGetStatusString(e));
}

int32_t work_alloc(cuda_state *s, size_t bytes, void **out, const char *what) {
    void *p = nullptr;
    cudaError_t e = s->pool ? cudaMallocFromPoolAsync(&p, bytes ? bytes : 1, s->pool, s->stream)
                            : cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return report(s, e == cudaErrorMemoryAllocation ? POLCA_ERR_OUT_OF_MEMORY : POLCA_ERR_BACKEND,
                      "CUDA allocation of %zu bytes (%s) failed: %s (%zu MiB free of %zu MiB)",
                      bytes, what, cudaGetErrorString(e), free_b >> 20, total_b >> 20);
    }
    *out = p;
    return POLCA_OK;
}

void work_free(cuda_state *s, void *p) {
    if (!p) return;
    if (s->pool)
        cudaFreeAsync(p, s->stream);
    else
        cudaFree(p);
}

} // namespace polca_cuda

namespace {

using namespace polca_cuda;

const int kMaxReduceBlocks = 1024;

int blocks_for(int64_t n) {
    int64_t b = (n + kThreads - 1) / kThreads;
    return (int)(b < 1 ? 1 : (b > kMaxReduceBlocks ? kMaxReduceBlocks : b));
}

/* ---- Kernels ---- */

/* Block-wide sum of one double per thread; the result is valid in thread 0. */
__device__ double block_sum(double v) {
    __shared__ double lanes[kThreads / 32];
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if ((threadIdx.x & 31) == 0) lanes[threadIdx.x >> 5] = v;
    __syncthreads();
    v = threadIdx.x < kThreads / 32 ? lanes[threadIdx.x] : 0.0;
    if (threadIdx.x < 32)
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}

/* partial[row * gridDim.x + block] = sum over this block's share of
 * q[row][i] * v[i], for every row of q ([rows][p]); grid (blocks, rows). */
__global__ void dots_kernel(int64_t p, const float *__restrict__ q, const float *__restrict__ v,
                            double *__restrict__ partial) {
    const float *qrow = q + (int64_t)blockIdx.y * p;
    double acc = 0.0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < p;
         i += (int64_t)gridDim.x * blockDim.x)
        acc += (double)qrow[i] * (double)v[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) partial[(int64_t)blockIdx.y * gridDim.x + blockIdx.x] = acc;
}

/* out[row] = sum of the `parts` partials of each row; one block per row. */
__global__ void finish_kernel(int parts, const double *__restrict__ partial,
                              double *__restrict__ out) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < parts; i += blockDim.x)
        acc += partial[(int64_t)blockIdx.x * parts + i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) out[blockIdx.x] = acc;
}

/* v[i] -= sum_j coef[j] * q[j][i] over `rows` rows of q. */
__global__ void subtract_kernel(int64_t p, const float *__restrict__ q, int64_t rows,
                                const double *__restrict__ coef, float *__restrict__ v) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < p;
         i += (int64_t)gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int64_t j = 0; j < rows; j++) acc += coef[j] * (double)q[j * p + i];
        v[i] = (float)((double)v[i] - acc);
    }
}

__global__ void axpy_kernel(int64_t n, float alpha, const float *__restrict__ x,
                            float *__restrict__ y) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] = alpha * x[i] + y[i];
}

__global__ void scal_kernel(int64_t n, float alpha, float *__restrict__ x) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] *= alpha;
}

/* ---- Helpers ---- */

int32_t ensure_scratch(cuda_state *s, size_t count) {
    if (count <= s->scratch_count) return POLCA_OK;
    size_t grown = count < 2 * s->scratch_count ? 2 * s->scratch_count : count;
    double *d = nullptr, *h = nullptr;
    CU(s, cudaMalloc(&d, grown * sizeof(double)), "cudaMalloc (scratch)");
    cudaError_t e = cudaMallocHost(&h, grown * sizeof(double));
    if (e != cudaSuccess) {
        cudaFree(d);
        return cuda_error(s, e, "cudaMallocHost (scratch)");
    }
    cudaStreamSynchronize(s->stream); /* old buffers may still be read */
    cudaFree(s->scratch);
    cudaFreeHost(s->pinned);
    s->scratch = d;
    s->pinned = h;
    s->scratch_count = s->pinned_count = grown;
    return POLCA_OK;
}

/* Device coefficients: scratch[rows*parts ...] gets <q_j, v> for each row j
 * of q, accumulated in double. Returns the device pointer to the `rows`
 * results through *out. */
int32_t row_dots(cuda_state *s, int64_t p, const float *q, int64_t rows, const float *v,
                 double **out) {
    if (rows > 65535) return report(s, POLCA_ERR_UNSUPPORTED, "row_dots: %lld rows > 65535", (long long)rows);
    int parts = blocks_for(p);
    if (parts > 64) parts = 64; /* rows x parts partials; plenty of parallelism */
    int32_t st = ensure_scratch(s, (size_t)rows * parts + (size_t)rows);
    if (st) return st;
    double *partial = s->scratch, *result = s->scratch + (size_t)rows * parts;
    dots_kernel<<<dim3(parts, (unsigned)rows), kThreads, 0, s->stream>>>(p, q, v, partial);
    LAUNCHED(s, "dots kernel");
    finish_kernel<<<(unsigned)rows, kThreads, 0, s->stream>>>(parts, partial, result);
    LAUNCHED(s, "finish kernel");
    *out = result;
    return POLCA_OK;
}

int32_t read_back(cuda_state *s, const double *dev, int64_t count, double *host_out) {
    CU(s, cudaMemcpyAsync(s->pinned, dev, count * sizeof(double), cudaMemcpyDeviceToHost,
                          s->stream),
       "cudaMemcpyAsync (result)");
    CU(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize");
    memcpy(host_out, s->pinned, count * sizeof(double));
    return POLCA_OK;
}

/* ---- Entries ---- */

/* A pool of our own (not the device's default pool, which other libraries
 * in the process share) that keeps freed memory for the next call; NULL
 * where memory pools are not supported. */
cudaMemPool_t open_pool(int device) {
    int supported = 0;
    if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess ||
        !supported) {
        cudaGetLastError();
        return nullptr;
    }
    cudaMemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    cudaMemPool_t pool = nullptr;
    if (cudaMemPoolCreate(&pool, &props) != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
    }
    uint64_t keep = UINT64_MAX;
    if (cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) != cudaSuccess)
        cudaGetLastError(); /* then memory goes back at each synchronization: slower, still right */
    return pool;
}

void cuda_close(void *state);

int32_t cuda_open(const polca_backend_host *host, void **out_state, char *text,
                  size_t text_len) {
    cuda_state probe_state = {};
    probe_state.host = host;
    cuda_state *s = &probe_state;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        const char *hint = e == cudaErrorInsufficientDriver ? " (the NVIDIA driver is missing or older than this CUDA runtime)"
                           : e == cudaErrorNoDevice           ? " (no CUDA device is visible)"
                                                              : "";
        return report(s, POLCA_ERR_BACKEND_UNAVAILABLE, "no usable CUDA device: %s%s",
                      cudaGetErrorString(e), hint);
    }
    if (count == 0)
        return report(s, POLCA_ERR_BACKEND_UNAVAILABLE, "no usable CUDA device: none visible");
    if (host->device >= count)
        return report(s, POLCA_ERR_BACKEND_UNAVAILABLE,
                      "CUDA device %d asked for, but only %d visible", host->device, count);
    CU(s, cudaSetDevice(host->device), "cudaSetDevice");
    cudaDeviceProp prop;
    CU(s, cudaGetDeviceProperties(&prop, host->device), "cudaGetDeviceProperties");

    s = (cuda_state *)calloc(1, sizeof *s);
    if (!s) return host->fail(POLCA_ERR_OUT_OF_MEMORY, "CUDA backend: out of host memory");
    s->host = host;
    s->device = host->device;
    e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(s);
        return cuda_error(&probe_state, e, "cudaStreamCreate");
    }
    cublasStatus_t be = cublasCreate(&s->blas);
    if (be != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(s->stream);
        free(s);
        return blas_error(&probe_state, be, "cublasCreate");
    }
    cublasSetStream(s->blas, s->stream);
    cublasSetMathMode(s->blas, host->allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    s->pool = open_pool(host->device);
    s->tf_chunk_bytes = tf_default_chunk_bytes(prop.totalGlobalMem);
    const char *env = getenv(POLCA_CUDA_CHUNK_ENV);
    if (env && env[0]) {
        char *end = nullptr;
        unsigned long long v = strtoull(env, &end, 10);
        if (*end != '\0' || v == 0) {
            cuda_close(s);
            return report(&probe_state, POLCA_ERR_INVALID_ARGUMENT,
                          "environment variable %s is '%s'; expected a positive number of bytes",
                          POLCA_CUDA_CHUNK_ENV, env);
        }
        s->tf_chunk_bytes = (size_t)v;
    }
    snprintf(text, text_len, "CUDA: %s, sm_%d%d, %zu MiB, device %d%s", prop.name, prop.major,
             prop.minor, prop.totalGlobalMem >> 20, host->device,
             host->allow_tf32 ? ", TF32 allowed" : "");
    *out_state = s;
    return POLCA_OK;
}

void cuda_close(void *state) {
    cuda_state *s = (cuda_state *)state;
    if (!s) return;
    cudaSetDevice(s->device);
    cudaStreamSynchronize(s->stream);
    cudaFree(s->scratch);
    cudaFreeHost(s->pinned);
    if (s->pool) cudaMemPoolDestroy(s->pool);
    cublasDestroy(s->blas);
    cudaStreamDestroy(s->stream);
    free(s);
}

int32_t cuda_alloc(void *state, size_t bytes, void **out) {
    cuda_state *s = (cuda_state *)state;
    CU(s, cudaSetDevice(s->device), "cudaSetDevice");
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation && s->pool) {
        /* memory the transformer kernels' pool keeps is free for this */
        cudaGetLastError();
        cudaStreamSynchronize(s->stream);
        cudaMemPoolTrimTo(s->pool, 0);
        e = cudaMalloc(&p, bytes ? bytes : 1);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return report(s, e == cudaErrorMemoryAllocation ? POLCA_ERR_OUT_OF_MEMORY : POLCA_ERR_BACKEND,
                      "CUDA cudaMalloc of %zu bytes failed: %s (%zu MiB free of %zu MiB)", bytes,
                      cudaGetErrorString(e), free_b >> 20, total_b >> 20);
    }
    *out = p;
    return POLCA_OK;
}

void cuda_release(void *state, void *p) {
    cuda_state *s = (cuda_state *)state;
    if (!p) return;
    cudaStreamSynchronize(s->stream);
    cudaFree(p);
}

int32_t cuda_upload(void *state, void *dst, const void *src, size_t bytes) {
    cuda_state *s = (cuda_state *)state;
    /* Synchronous with respect to the host buffer: it may be reused at once. */
    CU(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->stream), "upload");
    CU(s, cudaStreamSynchronize(s->stream), "upload (synchronize)");
    return POLCA_OK;
}

int32_t cuda_download(void *state, void *dst, const void *src, size_t bytes) {
    cuda_state *s = (cuda_state *)state;
    CU(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream), "download");
    CU(s, cudaStreamSynchronize(s->stream), "download (synchronize)");
    return POLCA_OK;
}

int32_t cuda_copy(void *state, void *dst, const void *src, size_t bytes) {
    cuda_state *s = (cuda_state *)state;
    CU(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->stream), "device copy");
    return POLCA_OK;
}

int32_t cuda_zero(void *state, void *dst, size_t bytes) {
    cuda_state *s = (cuda_state *)state;
    CU(s, cudaMemsetAsync(dst, 0, bytes, s->stream), "cudaMemsetAsync");
    return POLCA_OK;
}

int32_t cuda_sync(void *state) {
    cuda_state *s = (cuda_state *)state;
    CU(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize");
    return POLCA_OK;
}

int32_t cuda_dot(void *state, int64_t n, const float *x, const float *y, double *out) {
    cuda_state *s = (cuda_state *)state;
    double *dev;
    int32_t st = row_dots(s, n, x, 1, y, &dev);
    return st ? st : read_back(s, dev, 1, out);
}

int32_t cuda_nrm2(void *state, int64_t n, const float *x, double *out) {
    double sq;
    int32_t st = cuda_dot(state, n, x, x, &sq);
    if (st) return st;
    *out = sqrt(sq);
    return POLCA_OK;
}

int32_t cuda_axpy(void *state, int64_t n, float alpha, const float *x, float *y) {
    cuda_state *s = (cuda_state *)state;
    if (n <= 0) return POLCA_OK;
    axpy_kernel<<<blocks_for(n), kThreads, 0, s->stream>>>(n, alpha, x, y);
    LAUNCHED(s, "axpy kernel");
    return POLCA_OK;
}

int32_t cuda_scal(void *state, int64_t n, float alpha, float *x) {
    cuda_state *s = (cuda_state *)state;
    if (n <= 0) return POLCA_OK;
    scal_kernel<<<blocks_for(n), kThreads, 0, s->stream>>>(n, alpha, x);
    LAUNCHED(s, "scal kernel");
    return POLCA_OK;
}

int32_t cuda_gemm(void *state, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc) {
    cuda_state *s = (cuda_state *)state;
    if (m == 0 || n == 0) return POLCA_OK;
    /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: call
     * cuBLAS with the operands swapped. */
    CUBLAS(s,
           cublasSgemm_64(s->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                          n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc),
           "sgemm");
    return POLCA_OK;
}

/* Same algorithm as the CPU backend (CGS2 with double-accumulated
 * coefficients), so both give the same vectors to rounding. */
int32_t cuda_orthonormalize(void *state, int64_t p, const float *basis, int64_t m, float *v,
                            int64_t k, double drop_below, double *kept) {
    cuda_state *s = (cuda_state *)state;
    int32_t st;
    for (int64_t i = 0; i < k; i++) {
        float *row = v + i * p;
        double before, after, *coef;
        if ((st = cuda_nrm2(s, p, row, &before))) return st;
        for (int pass = 0; pass < 2; pass++) {
            /* one block of rows at a time keeps the coefficient grid small */
            for (int pass_src = 0; pass_src < 2; pass_src++) {
                const float *q = pass_src == 0 ? basis : v;
                int64_t rows = pass_src == 0 ? m : i;
                for (int64_t r0 = 0; r0 < rows; r0 += 4096) {
                    int64_t r = rows - r0 < 4096 ? rows - r0 : 4096;
                    if ((st = row_dots(s, p, q + r0 * p, r, row, &coef))) return st;
                    subtract_kernel<<<blocks_for(p), kThreads, 0, s->stream>>>(p, q + r0 * p, r,
                                                                               coef, row);
                    LAUNCHED(s, "subtract kernel");
                }
            }
        }
        if ((st = cuda_nrm2(s, p, row, &after))) return st;
        kept[i] = before > 0.0 ? after / before : 0.0;
        if (kept[i] < drop_below || after == 0.0)
            st = cuda_zero(s, row, (size_t)p * sizeof(float));
        else
            st = cuda_scal(s, p, (float)(1.0 / after), row);
        if (st) return st;
    }
    return POLCA_OK;
}

polca_backend make_table() {
    polca_backend t;
    memset(&t, 0, sizeof t);
    t.abi = POLCA_BACKEND_ABI;
    t.struct_size = sizeof(polca_backend);
    t.name = "cuda";
    t.open = cuda_open;
    t.close = cuda_close;
    t.alloc = cuda_alloc;
    t.release = cuda_release;
    t.upload = cuda_upload;
    t.download = cuda_download;
    t.copy = cuda_copy;
    t.zero = cuda_zero;
    t.sync = cuda_sync;
    t.dot = cuda_dot;
    t.nrm2 = cuda_nrm2;
    t.axpy = cuda_axpy;
    t.scal = cuda_scal;
    t.gemm = cuda_gemm;
    t.orthonormalize = cuda_orthonormalize;
    t.tf_losses = tf_losses;
    t.tf_grad = tf_grad;
    t.tf_hvp = tf_hvp;
    t.tf_dirderivs = tf_dirderivs;
    t.distance_pairs = distance_pairs;
    return t;
}

const polca_backend cuda_table = make_table();

} // namespace

extern "C" __attribute__((visibility("default"))) const polca_backend *
polca_cuda_backend_v1(uint32_t core_abi) {
    return core_abi == POLCA_BACKEND_ABI ? &cuda_table : nullptr;
}
