/*
 * src/cpu/cpu_backend.c - the CPU backend: host memory, OpenBLAS for BLAS-1/3,
 * block orthonormalization. Linked into libpolca.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "transformer_cpu.h"
#include "distance.h"

/* OpenBLAS extensions (declared here so any cblas.h will do). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

typedef struct cpu_state {
    const polca_backend_host *host_unused; /* the CPU backend reports through polca__fail */
} cpu_state;

/* openblas_get_config() rebuilds one static string with strcat on every
 * call, so two contexts opened at once on two threads could read it
 * half-written ("... MAX_THREADS=64 MAX_THREADS=64"), and with it a
 * progress file's fingerprint: read it once. */
static char config_text[512];
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static void read_config(void) {
    snprintf(config_text, sizeof config_text, "%s", openblas_get_config());
}

static int32_t cpu_open(const polca_backend_host *host, void **out_state, char *text,
                        size_t text_len) {
    cpu_state *s = polca__calloc(1, sizeof *s, "CPU backend state");
    if (!s) return POLCA_ERR_OUT_OF_MEMORY;
    if (host->threads > 0) openblas_set_num_threads(host->threads);
    pthread_once(&config_once, read_config);
    snprintf(text, text_len, "CPU: %s, %s kernels, %d threads", config_text,
             openblas_get_corename(), openblas_get_num_threads());
    *out_state = s;
    return POLCA_OK;
}

static void cpu_close(void *state) { free(state); }

static int32_t cpu_alloc(void *state, size_t bytes, void **out) {
    (void)state;
    void *p = polca__alloc_aligned(bytes, "a CPU backend buffer"); /* 64 B: AVX-512 loads */
    if (!p) return POLCA_ERR_OUT_OF_MEMORY;
    *out = p;
    return POLCA_OK;
}

static void cpu_release(void *state, void *p) {
    (void)state;
    free(p);
}

static int32_t cpu_copy(void *state, void *dst, const void *src, size_t bytes) {
    (void)state;
    if (bytes) memmove(dst, src, bytes);
    return POLCA_OK;
}

static int32_t cpu_zero(void *state, void *dst, size_t bytes) {
    (void)state;
    if (bytes) memset(dst, 0, bytes);
    return POLCA_OK;
}

static int32_t cpu_sync(void *state) {
    (void)state;
    return POLCA_OK;
}

/* OpenBLAS takes int (blasint, 32-bit in Debian's build) sizes: split long
 * vectors into chunks so n > INT32_MAX still works. */
#define CHUNK ((int64_t)1 << 30)

static int32_t cpu_dot(void *state, int64_t n, const float *x, const float *y, double *out) {
    (void)state;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int len = (int)(n - i < CHUNK ? n - i : CHUNK);
        sum += cblas_dsdot(len, x + i, 1, y + i, 1);
    }
    *out = sum;
    return POLCA_OK;
}

static int32_t cpu_nrm2(void *state, int64_t n, const float *x, double *out) {
    double sq;
    cpu_dot(state, n, x, x, &sq);
    *out = sqrt(sq);
    return POLCA_OK;
}

static int32_t cpu_axpy(void *state, int64_t n, float alpha, const float *x, float *y) {
    (void)state;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int len = (int)(n - i < CHUNK ? n - i : CHUNK);
        cblas_saxpy(len, alpha, x + i, 1, y + i, 1);
    }
    return POLCA_OK;
}

static int32_t cpu_scal(void *state, int64_t n, float alpha, float *x) {
    (void)state;
    for (int64_t i = 0; i < n; i += CHUNK) {
        int len = (int)(n - i < CHUNK ? n - i : CHUNK);
        cblas_sscal(len, alpha, x + i, 1);
    }
    return POLCA_OK;
}

static int32_t cpu_gemm(void *state, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                        float beta, float *c, int64_t ldc) {
    (void)state;
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX ||
        ldb > INT32_MAX || ldc > INT32_MAX)
        return polca__fail(POLCA_ERR_UNSUPPORTED,
                           "gemm: a dimension exceeds OpenBLAS's 32-bit index (m=%lld n=%lld "
                           "k=%lld)",
                           (long long)m, (long long)n, (long long)k);
    if (m == 0 || n == 0) return POLCA_OK;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
    return POLCA_OK;
}

/* Coefficients of v against the rows of q ([rows][p]) are formed with a
 * double-accumulated dot per row, so the projection is accurate for long p. */
static void project_out(int64_t p, const float *q, int64_t rows, float *v) {
    for (int64_t j = 0; j < rows; j++) {
        double c;
        cpu_dot(NULL, p, q + j * p, v, &c);
        if (c != 0.0) cpu_axpy(NULL, p, (float)-c, q + j * p, v);
    }
}

static int32_t cpu_orthonormalize(void *state, int64_t p, const float *basis, int64_t m,
                                  float *v, int64_t k, double drop_below, double *kept) {
    (void)state;
    for (int64_t i = 0; i < k; i++) {
        float *row = v + i * p;
        double before, after;
        cpu_nrm2(NULL, p, row, &before);
        for (int pass = 0; pass < 2; pass++) { /* CGS2: twice is enough */
            if (m > 0) project_out(p, basis, m, row);
            project_out(p, v, i, row);
        }
        cpu_nrm2(NULL, p, row, &after);
        kept[i] = before > 0.0 ? after / before : 0.0;
        if (kept[i] < drop_below || after == 0.0)
            memset(row, 0, (size_t)p * sizeof *row);
        else
            cpu_scal(NULL, p, (float)(1.0 / after), row);
    }
    return POLCA_OK;
}

const polca_backend polca__cpu_backend = {
    .abi = POLCA_BACKEND_ABI,
    .struct_size = sizeof(polca_backend),
    .name = "cpu",
    .open = cpu_open,
    .close = cpu_close,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .dot = cpu_dot,
    .nrm2 = cpu_nrm2,
    .axpy = cpu_axpy,
    .scal = cpu_scal,
    .gemm = cpu_gemm,
    .orthonormalize = cpu_orthonormalize,
    .tf_losses = polca__cpu_tf_losses,
    .tf_grad = polca__cpu_tf_grad,
    .tf_hvp = polca__cpu_tf_hvp,
    .tf_dirderivs = polca__cpu_tf_dirderivs,
    .distance_pairs = polca__cpu_distance_pairs,
};
