/*
 * tests/eigen_ref.h - references for the eigensolver and basis tests:
 * symmetric matrices with a chosen spectrum, a float32 operator on them,
 * and LAPACK (double) eigenpairs. Test-only.
 */
#ifndef POLCA_TEST_EIGEN_REF_H
#define POLCA_TEST_EIGEN_REF_H

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Standard normal from the harness's uniform generator (Box-Muller). */
static inline double ref_normal(unsigned long long *s) {
    double u1 = 0.5 * ((double)harness_uniform(s) + 1.0); /* [0, 1) */
    double u2 = 0.5 * ((double)harness_uniform(s) + 1.0);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A[n][n] = Q diag(lambda) Q^T with Q a random orthogonal matrix (QR of a
 * Gaussian matrix) in double. Returns malloc'd A, or NULL. */
static inline double *ref_matrix(int64_t n, const double *lambda, unsigned long long seed) {
    unsigned long long s = seed * 0x9E3779B97F4A7C15ULL + 7;
    double *q = malloc((size_t)(n * n) * sizeof *q), *tau = malloc((size_t)n * sizeof *tau);
    double *t = malloc((size_t)(n * n) * sizeof *t), *a = malloc((size_t)(n * n) * sizeof *a);
    if (!q || !tau || !t || !a) goto fail;
    for (int64_t i = 0; i < n * n; i++) q[i] = ref_normal(&s);
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, q, (lapack_int)n, tau))
        goto fail;
    if (LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, (lapack_int)n, q,
                       (lapack_int)n, tau))
        goto fail;
    /* t = Q diag(lambda); a = t Q^T */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) t[i * n + j] = q[i * n + j] * lambda[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0, t, (int)n,
                q, (int)n, 0.0, a, (int)n);
    for (int64_t i = 0; i < n; i++) /* exact symmetry */
        for (int64_t j = 0; j < i; j++) a[i * n + j] = a[j * n + i];
    free(q), free(tau), free(t);
    return a;
fail:
    free(q), free(tau), free(t), free(a);
    return NULL;
}

/* Full eigendecomposition in double: values ascending into w[n], vectors
 * as columns of z[n][n] (row-major). a is not modified. Returns 0 on
 * success. */
static inline int ref_eigh(int64_t n, const double *a, double *w, double *z) {
    memcpy(z, a, (size_t)(n * n) * sizeof *z);
    return (int)LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)n, z, (lapack_int)n, w);
}

/* A dense float32 symmetric operator, y = A x (sgemv, float32 like the
 * solver's vectors). The callback can be told to fail at a given call. */
typedef struct dense_op {
    int64_t n;
    const float *a; /* [n][n] */
    int64_t calls;
    int64_t fail_at;   /* 0 = never; else the call number that fails */
    int32_t fail_with; /* what the failing call returns */
    int64_t nan_at;    /* 0 = never; else the call that writes a NaN */
} dense_op;

static inline int32_t dense_apply(void *user, const float *x, float *y) {
    dense_op *d = user;
    d->calls++;
    if (d->fail_at && d->calls == d->fail_at) return d->fail_with;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)d->n, (int)d->n, 1.0f, d->a, (int)d->n, x, 1,
                0.0f, y, 1);
    if (d->nan_at && d->calls == d->nan_at) y[d->n / 2] = NAN;
    return 0;
}

static inline float *to_float(const double *a, size_t count) {
    float *f = malloc(count * sizeof *f);
    if (f)
        for (size_t i = 0; i < count; i++) f[i] = (float)a[i];
    return f;
}

static inline double *to_double(const float *a, size_t count) {
    double *d = malloc(count * sizeof *d);
    if (d)
        for (size_t i = 0; i < count; i++) d[i] = (double)a[i];
    return d;
}

/* The cnt largest eigenpairs only (LAPACKE_dsyevr, range by index):
 * values ascending into w[cnt], vectors as columns of z[n][cnt]. For large
 * n, where a full dsyev would dominate the test's time. */
static inline int ref_eigh_top(int64_t n, const double *a, int64_t cnt, double *w, double *z) {
    double *c = malloc((size_t)(n * n) * sizeof *c);
    lapack_int *support = malloc((size_t)(2 * cnt) * sizeof *support), found = 0;
    if (!c || !support) {
        free(c), free(support);
        return -1;
    }
    memcpy(c, a, (size_t)(n * n) * sizeof *c);
    int info = (int)LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)n, c,
                                   (lapack_int)n, 0.0, 0.0, (lapack_int)(n - cnt + 1),
                                   (lapack_int)n, 0.0, &found, w, z, (lapack_int)cnt, support);
    free(c), free(support);
    return info != 0 || found != cnt;
}

/* |cos| between a float vector and column c of z[n][ldz] (unit columns). */
static inline double ref_abs_cos(int64_t n, const float *v, const double *z, int64_t ldz,
                                 int64_t c) {
    double d = 0, nv = 0;
    for (int64_t i = 0; i < n; i++) {
        d += (double)v[i] * z[i * ldz + c];
        nv += (double)v[i] * v[i];
    }
    return fabs(d) / sqrt(nv);
}

/* ||A v - lambda v|| in double for the double matrix a. */
static inline double ref_residual(int64_t n, const double *a, const float *v, double lambda) {
    double r2 = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < n; j++) s += a[i * n + j] * v[j];
        s -= lambda * v[i];
        r2 += s * s;
    }
    return sqrt(r2);
}

/* max |V V^T - I| over k rows of length n. */
static inline double ref_orthonormality(int64_t n, int64_t k, const float *v) {
    double worst = 0;
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = 0; b <= a; b++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += (double)v[a * n + i] * v[b * n + i];
            double e = fabs(s - (a == b ? 1.0 : 0.0));
            if (e > worst) worst = e;
        }
    return worst;
}

static inline polca_context *ref_context(void) {
    polca_context *ctx = NULL;
    if (polca_context_create(NULL, &ctx)) return NULL; /* POLCA_BACKEND picks cuda */
    return ctx;
}

#endif
