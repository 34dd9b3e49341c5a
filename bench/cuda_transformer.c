/*
 * bench/cuda_transformer.c - the CUDA transformer kernels at the paper's
 * model size (3 layers, d_model 512, 4 heads, d_head 128, d_mlp 2048,
 * d_vocab 14, n_ctx 12, gelu; 1250 sequences, every output position
 * scored: N = 13750 samples): forward (per-sample losses), gradient, HVP,
 * and g + c for K = 16 and K = 50 directions.
 *
 * Timing: CUDA events recorded on the backend's stream around each call
 * (so host-side preparation inside a call counts), after warm-up calls;
 * the median of several runs. Rates against cuBLAS sgemm (4096^3, float32,
 * the same math mode as the kernels) measured in the same run, and the
 * forward against the CPU backend measured in the same run (wall clock).
 *
 * FLOP count (nominal: matrix products only, attention counted over the
 * full T x T square): a forward pass is F = rows * (2 (L (3 D HE + HE D +
 * 2 D M) + D V) + 4 L H T E); the gradient does 3 F (forward, input and
 * weight adjoints), the HVP 8 F (forward 1, tangent 2, reverse 1, reverse
 * tangent 4), g + c for K directions (1 + 4 K) F (one primal, then per
 * direction 2 first-order and 2 second-order). Elementwise work is not
 * counted, so the rates are what the algorithm's GEMM work achieves.
 *
 * Without a usable CUDA device it says so and exits 0. Run from the
 * repository root (it loads lib/libpolca_cuda.so.0 unless POLCA_CUDA_MODULE
 * names another); `--tf32` allows TF32 in the kernels and the ceiling.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cuda/cuda_internal.h"
#include "internal.h"
#include "transformer.h"

typedef struct bench {
    polca_context *ctx;
    const polca_backend *be;
    void *st;
    cudaStream_t stream;
    polca__tf_config cfg;
    int64_t n_seq, N, P;
    int32_t *tokens;
    uint8_t *mask;
    float *theta, *v, *dirs, *losses, *grad, *hv, *g, *c; /* device */
    int64_t K;
} bench;

enum { OP_FORWARD, OP_GRAD, OP_HVP, OP_DIRDERIVS };

static int32_t run_op(bench *b, int op) {
    double mean;
    switch (op) {
    case OP_FORWARD:
        return b->be->tf_losses(b->st, &b->cfg, b->theta, b->n_seq, b->tokens, b->mask, b->losses);
    case OP_GRAD:
        return b->be->tf_grad(b->st, &b->cfg, b->theta, b->n_seq, b->tokens, b->mask, &mean,
                              b->grad);
    case OP_HVP:
        return b->be->tf_hvp(b->st, &b->cfg, b->theta, b->n_seq, b->tokens, b->mask, b->v, b->hv);
    default:
        return b->be->tf_dirderivs(b->st, &b->cfg, b->theta, b->n_seq, b->tokens, b->mask, b->K,
                                   b->dirs, NULL, b->g, b->c);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#define CUDA_OK(call)                                                          \
    do {                                                                       \
        cudaError_t e_ = (call);                                               \
        if (e_ != cudaSuccess) {                                               \
            fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e_));        \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Median milliseconds of `reps` runs after `warm` warm-ups, CUDA events. */
static double time_op(bench *b, int op, int warm, int reps) {
    cudaEvent_t e0, e1;
    CUDA_OK(cudaEventCreate(&e0));
    CUDA_OK(cudaEventCreate(&e1));
    for (int i = 0; i < warm; i++)
        if (run_op(b, op)) {
            fprintf(stderr, "kernel failed: %s\n", polca_last_error());
            exit(1);
        }
    double ms[16];
    for (int i = 0; i < reps; i++) {
        CUDA_OK(cudaEventRecord(e0, b->stream));
        int32_t st = run_op(b, op);
        CUDA_OK(cudaEventRecord(e1, b->stream));
        CUDA_OK(cudaEventSynchronize(e1));
        if (st) {
            fprintf(stderr, "kernel failed: %s\n", polca_last_error());
            exit(1);
        }
        float t;
        CUDA_OK(cudaEventElapsedTime(&t, e0, e1));
        ms[i] = t;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return median(ms, reps);
}

/* cuBLAS sgemm n^3 in TFLOP/s (median of 10 after 3 warm-ups), math mode
 * as the backend's (float32 pedantic unless TF32 allowed). */
static double sgemm_rate(int64_t n, int tf32) {
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 0;
    cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH);
    float *a, *bm, *cm;
    size_t bytes = (size_t)(n * n) * sizeof(float);
    CUDA_OK(cudaMalloc((void **)&a, bytes));
    CUDA_OK(cudaMalloc((void **)&bm, bytes));
    CUDA_OK(cudaMalloc((void **)&cm, bytes));
    float *host = malloc(bytes);
    unsigned long long s = 12345;
    for (int64_t i = 0; i < n * n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        host[i] = (float)((double)(s >> 40) / (double)(1ULL << 24) - 0.5);
    }
    CUDA_OK(cudaMemcpy(a, host, bytes, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(bm, host, bytes, cudaMemcpyHostToDevice));
    free(host);
    const float one = 1.0f, zero = 0.0f;
    cudaEvent_t e0, e1;
    CUDA_OK(cudaEventCreate(&e0));
    CUDA_OK(cudaEventCreate(&e1));
    double ms[10];
    for (int i = 0; i < 13; i++) {
        CUDA_OK(cudaEventRecord(e0, 0));
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)n, (int)n, &one, a, (int)n, bm,
                    (int)n, &zero, cm, (int)n);
        CUDA_OK(cudaEventRecord(e1, 0));
        CUDA_OK(cudaEventSynchronize(e1));
        float t;
        CUDA_OK(cudaEventElapsedTime(&t, e0, e1));
        if (i >= 3) ms[i - 3] = t;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(a), cudaFree(bm), cudaFree(cm);
    cublasDestroy(h);
    return 2.0 * (double)n * n * n / (median(ms, 10) * 1e-3) / 1e12;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *dev_upload(bench *b, const float *host, int64_t n) {
    void *d = NULL;
    if (b->be->alloc(b->st, (size_t)n * 4, &d) || (host && b->be->upload(b->st, d, host, (size_t)n * 4))) {
        fprintf(stderr, "device allocation failed: %s\n", polca_last_error());
        exit(1);
    }
    return d;
}

int main(int argc, char **argv) {
    int tf32 = argc > 1 && strcmp(argv[1], "--tf32") == 0;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cuda");
    polca_options_set_int(o, "allow_tf32", tf32);
    /* run from the repository root: the module built there (lib/, or
     * $LIBOUT) unless POLCA_CUDA_MODULE says otherwise */
    char cwd[2048], module[4200];
    const char *libout = getenv("LIBOUT");
    struct stat sb;
    if (!getenv("POLCA_CUDA_MODULE") && getcwd(cwd, sizeof cwd)) {
        snprintf(module, sizeof module, "%s/%s/libpolca_cuda.so.0", cwd,
                 libout && libout[0] ? libout : "lib");
        if (stat(module, &sb) == 0) polca_options_set_string(o, "cuda_module", module);
    }
    bench b;
    memset(&b, 0, sizeof b);
    if (polca_context_create(o, &b.ctx) != POLCA_OK) {
        printf("cuda_transformer: no usable CUDA device (%s); nothing to time\n", polca_last_error());
        polca_options_destroy(o);
        return 0;
    }
    polca_options_destroy(o);
    const char *device;
    polca_context_device(b.ctx, &device);
    b.be = b.ctx->be;
    b.st = b.ctx->be_state;
    b.stream = ((polca_cuda_state *)b.st)->stream;

    b.cfg = polca__tf_config_basic(3, 512, 4, 128, 2048, 14, 12, POLCA__ACT_GELU);
    b.n_seq = 1250;
    const int64_t T = b.cfg.n_ctx, R = b.n_seq * T;
    polca__tf_offsets off;
    if (polca__tf_check_config(&b.cfg)) return 1;
    polca__tf_offsets_of(&b.cfg, &off);
    b.P = off.n_params;
    b.tokens = malloc((size_t)R * sizeof *b.tokens);
    b.mask = malloc((size_t)R);
    unsigned long long s = 99;
    for (int64_t i = 0; i < R; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        b.tokens[i] = (int32_t)((s >> 33) % (unsigned long long)b.cfg.d_vocab);
        b.mask[i] = (i % T) + 1 < T;
    }
    b.N = b.n_seq * (T - 1);
    const int64_t KMAX = 50;
    float *host = malloc((size_t)(KMAX * b.P) * sizeof(float));
    polca__tf_init(&b.cfg, 1, host);
    b.theta = dev_upload(&b, host, b.P);
    float *theta_host = malloc((size_t)b.P * sizeof(float));
    memcpy(theta_host, host, (size_t)b.P * sizeof(float));
    for (int64_t i = 0; i < KMAX * b.P; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        host[i] = (float)((double)(s >> 40) / (double)(1ULL << 24) - 0.5) * 0.01f;
    }
    b.v = dev_upload(&b, host, b.P);
    b.dirs = dev_upload(&b, host, KMAX * b.P);
    free(host);
    b.losses = dev_upload(&b, NULL, b.N);
    b.grad = dev_upload(&b, NULL, b.P);
    b.hv = dev_upload(&b, NULL, b.P);
    b.g = dev_upload(&b, NULL, KMAX * b.N);
    b.c = dev_upload(&b, NULL, KMAX * b.N);

    const int64_t D = b.cfg.d_model, H = b.cfg.n_heads, E = b.cfg.d_head, HE = H * E,
                  M = b.cfg.d_mlp, V = b.cfg.d_vocab, L = b.cfg.n_layers;
    const double F = (double)R * (2.0 * (double)(L * (3 * D * HE + HE * D + 2 * D * M) + D * V) +
                                  4.0 * (double)(L * H * T * E));

    printf("CUDA transformer kernels, paper size: %d layers, d_model %d, %d heads x d_head %d, "
           "d_mlp %d, d_vocab %d, n_ctx %d, gelu; %lld sequences, N = %lld samples, P = %lld\n",
           b.cfg.n_layers, b.cfg.d_model, b.cfg.n_heads, b.cfg.d_head, b.cfg.d_mlp, b.cfg.d_vocab,
           b.cfg.n_ctx, (long long)b.n_seq, (long long)b.N, (long long)b.P);
    printf("device: %s\n", device);
    const double peak = sgemm_rate(4096, tf32);
    printf("cuBLAS sgemm 4096^3 (%s): %.1f TFLOP/s (the ceiling below)\n",
           tf32 ? "TF32" : "float32", peak);
    printf("forward = %.1f GFLOP nominal (GEMMs only); medians of CUDA-event timings after "
           "warm-ups\n\n",
           F / 1e9);

    struct {
        const char *name;
        int op;
        int64_t K;
        double units;
        int warm, reps;
    } rows[] = {
        {"forward (losses)", OP_FORWARD, 0, 1.0, 3, 11},
        {"gradient", OP_GRAD, 0, 3.0, 3, 11},
        {"HVP", OP_HVP, 0, 8.0, 3, 11},
        {"g + c, K = 16", OP_DIRDERIVS, 16, 1.0 + 4.0 * 16, 2, 5},
        {"g + c, K = 50", OP_DIRDERIVS, 50, 1.0 + 4.0 * 50, 1, 3},
    };
    double t_fwd = 0;
    printf("%-18s %10s %8s %10s %9s %10s\n", "operation", "ms", "x fwd", "TFLOP", "TFLOP/s",
           "of sgemm");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        b.K = rows[i].K;
        double ms = time_op(&b, rows[i].op, rows[i].warm, rows[i].reps);
        if (i == 0) t_fwd = ms;
        double tf = rows[i].units * F / 1e12, rate = tf / (ms * 1e-3);
        printf("%-18s %10.2f %8.1f %10.3f %9.1f %9.0f%%\n", rows[i].name, ms, ms / t_fwd, tf, rate,
               100.0 * rate / peak);
        fflush(stdout);
    }

    /* the CPU backend's forward on the same batch */
    polca_context *cpu = NULL;
    o = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    if (polca_context_create(o, &cpu) == POLCA_OK) {
        float *lcpu = malloc((size_t)b.N * sizeof(float));
        double best = 1e30;
        for (int i = 0; i < 3; i++) {
            double t0 = now_s();
            if (cpu->be->tf_losses(cpu->be_state, &b.cfg, theta_host, b.n_seq, b.tokens, b.mask,
                                   lcpu))
                break;
            double t = now_s() - t0;
            best = t < best ? t : best;
        }
        const char *threads = getenv("OPENBLAS_NUM_THREADS");
        printf("\nCPU backend forward (best of 3, OpenBLAS threads: %s): %.1f ms = %.2f TFLOP/s; "
               "CUDA is %.1fx faster\n",
               threads ? threads : "default", best * 1e3, F / 1e12 / best, best * 1e3 / t_fwd);
        free(lcpu);
        polca_context_destroy(cpu);
    }
    polca_options_destroy(o);

    b.be->release(b.st, b.theta), b.be->release(b.st, b.v), b.be->release(b.st, b.dirs);
    b.be->release(b.st, b.losses), b.be->release(b.st, b.grad), b.be->release(b.st, b.hv);
    b.be->release(b.st, b.g), b.be->release(b.st, b.c);
    free(theta_host), free(b.tokens), free(b.mask);
    polca_context_destroy(b.ctx);
    return 0;
}
