/*
 * src/cpu/transformer_linear.c - the GEMM-based linear maps of the CPU
 * transformer kernels (OpenBLAS sgemm, row-major), plus bias add and bias
 * gradient. Sizes were bounded by the config check and chunk planning, so
 * they fit OpenBLAS's int.
 */
#include <cblas.h>

#include "transformer_cpu.h"

TF_VECTORIZE_FILE

void polca__tf_gemm_nn(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat W, float beta,
                       float alpha, tf_mat y) {
    if (R == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)n, (int)k, alpha, x.p,
                (int)x.ld, W.p, (int)W.ld, beta, y.p, (int)y.ld);
}

void polca__tf_gemm_nt(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat W, float beta,
                       float alpha, tf_mat y) {
    if (R == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)n, (int)k, alpha, x.p,
                (int)x.ld, W.p, (int)W.ld, beta, y.p, (int)y.ld);
}

void polca__tf_gemm_tn(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat dy, float alpha,
                       tf_mat G) {
    if (R == 0 || n == 0 || k == 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)R, alpha, x.p,
                (int)x.ld, dy.p, (int)dy.ld, 1.0f, G.p, (int)G.ld);
}

static TF_CLONES void add_bias_impl(int64_t R, int64_t n, const float *b, tf_mat y) {
    if (!b) return;
    for (int64_t r = 0; r < R; r++) {
        float *row = y.p + r * y.ld;
        for (int64_t j = 0; j < n; j++) row[j] += b[j];
    }
}

void polca__tf_add_bias(int64_t R, int64_t n, const float *b, tf_mat y) {
    add_bias_impl(R, n, b, y);
}

static TF_CLONES void col_sums_impl(int64_t R, int64_t n, tf_mat dy, float *g) {
    if (!g) return;
    /* Row sums of a chunk in float (R is at most a few thousand rows), added
     * once to g. */
    for (int64_t j0 = 0; j0 < n; j0 += 256) {
        float acc[256];
        int64_t w = n - j0 < 256 ? n - j0 : 256;
        for (int64_t j = 0; j < w; j++) acc[j] = 0.0f;
        for (int64_t r = 0; r < R; r++) {
            const float *row = dy.p + r * dy.ld + j0;
            for (int64_t j = 0; j < w; j++) acc[j] += row[j];
        }
        for (int64_t j = 0; j < w; j++) g[j0 + j] += acc[j];
    }
}

void polca__tf_col_sums(int64_t R, int64_t n, tf_mat dy, float *g) {
    col_sums_impl(R, n, dy, g);
}
