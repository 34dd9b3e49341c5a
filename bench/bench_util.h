/*
 * bench/bench_util.h - timing helpers shared by the CPU benchmarks: a
 * monotonic clock, medians, a seeded uniform generator and the sgemm rate
 * that results are reported against.
 */
#ifndef POLCA_BENCH_UTIL_H
#define POLCA_BENCH_UTIL_H

#include <cblas.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of x[0..n-1] (sorts x). */
static inline double bench_median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, bench_cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* Uniform in [-1, 1), xorshift64*. */
static inline float bench_uniform(unsigned long long *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (float)((double)((*s * 2685821657736338717ULL) >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

/* sgemm rate (GFLOP/s) for C[m][n] = A[m][k] B[k][n], median of `runs`
 * (at most 16) after one warm-up. */
static inline double bench_sgemm_rate(int m, int n, int k, int runs) {
    float *a = malloc((size_t)m * k * 4), *b = malloc((size_t)k * n * 4), *c = malloc((size_t)m * n * 4);
    unsigned long long s = 7;
    for (long i = 0; i < (long)m * k; i++) a[i] = bench_uniform(&s);
    for (long i = 0; i < (long)k * n; i++) b[i] = bench_uniform(&s);
    double t[16];
    if (runs > 16) runs = 16;
    for (int r = 0; r < runs + 1; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        if (r) t[r - 1] = bench_now() - t0;
    }
    free(a), free(b), free(c);
    return 2.0 * m * n * k / bench_median(t, runs) * 1e-9;
}

#endif
