/*
 * src/cpu/distance.c - the CPU backend's exact Euclidean distances of index
 * pairs (polca_backend.distance_pairs), the heavy kernel of HDBSCAN.
 *
 * Why exact and not a GEMM: the hdbscan package computes every distance as a
 * sequential double sum of squared differences, then a square root. The
 * |x|^2 + |y|^2 - 2 x.y form of a GEMM differs in the last bits (and much
 * more after cancellation for close points far from the origin), which
 * reorders near-equal mutual-reachability values and changes minimum
 * spanning trees. The core (src/hdbscan_*.c) therefore prunes pairs with
 * cheap, rigorous bounds and asks this kernel only for the distances whose
 * exact value matters; measured on POLCA-like trajectories (d = 500,
 * min_samples 333): 1.4% of ordered pairs for the core distances and 2.4% of
 * pairs for the spanning tree at n = 5000 (2.1% and 1.0% at n = 20000).
 *
 * Bit parity: each distance is one sum in the order k = 0, 1, ..., d-1 of
 * t*t with t = (double)a[k] - (double)b[k]; the Makefile's -ffp-contract=off
 * keeps multiply and add separate. Speed comes from computing four pairs at
 * once in the four lanes of an AVX2 register (each lane is its own sequential
 * sum), four such groups in flight to hide the add latency, and from threads
 * across pairs. The scalar path runs the same operations in the same order,
 * so both give identical bits.
 */
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"

int openblas_get_num_threads(void); /* the context's "threads", or the cores */

/* Below this many pair-dimensions one thread does the work (thread start-up
 * costs ~50 us; 1<<21 pair-dims take ~1 ms). */
#define THREAD_MIN_WORK ((int64_t)1 << 21)
#define MAX_THREADS 64

/* One pair, in the reference order. */
static double dist_scalar(int64_t d, const double *a, const float *b) {
    double s = 0.0;
    for (int64_t k = 0; k < d; k++) {
        double t = a[k] - (double)b[k];
        s += t * t;
    }
    return sqrt(s);
}

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_X86 1

/* Four rows b0..b3 at dims k..k+3, transposed: c[j] holds (b0[k+j], b1[k+j],
 * b2[k+j], b3[k+j]) as doubles. */
__attribute__((target("avx2"))) static inline void load4x4(const float *b0, const float *b1,
                                                           const float *b2, const float *b3,
                                                           int64_t k, __m256d c[4]) {
    __m256d r0 = _mm256_cvtps_pd(_mm_loadu_ps(b0 + k));
    __m256d r1 = _mm256_cvtps_pd(_mm_loadu_ps(b1 + k));
    __m256d r2 = _mm256_cvtps_pd(_mm_loadu_ps(b2 + k));
    __m256d r3 = _mm256_cvtps_pd(_mm_loadu_ps(b3 + k));
    __m256d t0 = _mm256_unpacklo_pd(r0, r1); /* b0[k]   b1[k]   b0[k+2] b1[k+2] */
    __m256d t1 = _mm256_unpackhi_pd(r0, r1); /* b0[k+1] b1[k+1] b0[k+3] b1[k+3] */
    __m256d t2 = _mm256_unpacklo_pd(r2, r3);
    __m256d t3 = _mm256_unpackhi_pd(r2, r3);
    c[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    c[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    c[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    c[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* acc += (a - c)^2, lane by lane: multiply then add, never fused. */
__attribute__((target("avx2"))) static inline __m256d step(__m256d acc, __m256d a, __m256d c) {
    __m256d t = _mm256_sub_pd(a, c);
    return _mm256_add_pd(acc, _mm256_mul_pd(t, t));
}

/* Dims k..k+3 of one group of four rows into accumulator ACC, in order. */
#define GROUP_CHUNK(ACC, B0, B1, B2, B3)                                                   \
    do {                                                                                   \
        __m256d c_[4];                                                                     \
        load4x4(B0, B1, B2, B3, k, c_);                                                    \
        ACC = step(ACC, a0, c_[0]);                                                        \
        ACC = step(ACC, a1, c_[1]);                                                        \
        ACC = step(ACC, a2, c_[2]);                                                        \
        ACC = step(ACC, a3, c_[3]);                                                        \
    } while (0)
/* The leftover dims (d not a multiple of 4), one at a time. */
#define GROUP_TAIL(ACC, B0, B1, B2, B3)                                                    \
    ACC = step(ACC, ak, _mm256_set_pd((double)(B3)[k], (double)(B2)[k], (double)(B1)[k],   \
                                      (double)(B0)[k]))

/* Distances from a (d doubles) to rows b[0..3]. */
__attribute__((target("avx2"))) static void dist4_avx2(int64_t d, const double *a,
                                                       const float *const *b, double *out) {
    const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    __m256d s0 = _mm256_setzero_pd();
    int64_t k = 0;
    for (; k + 4 <= d; k += 4) {
        __m256d a0 = _mm256_broadcast_sd(a + k), a1 = _mm256_broadcast_sd(a + k + 1);
        __m256d a2 = _mm256_broadcast_sd(a + k + 2), a3 = _mm256_broadcast_sd(a + k + 3);
        GROUP_CHUNK(s0, b0, b1, b2, b3);
    }
    for (; k < d; k++) {
        __m256d ak = _mm256_broadcast_sd(a + k);
        GROUP_TAIL(s0, b0, b1, b2, b3);
    }
    _mm256_storeu_pd(out, _mm256_sqrt_pd(s0));
}

/* Distances from a to rows b[0..15]: four independent groups keep four add
 * chains in flight (one chain alone waits on the add latency). */
__attribute__((target("avx2"))) static void dist16_avx2(int64_t d, const double *a,
                                                        const float *const *b, double *out) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    int64_t k = 0;
    for (; k + 4 <= d; k += 4) {
        __m256d a0 = _mm256_broadcast_sd(a + k), a1 = _mm256_broadcast_sd(a + k + 1);
        __m256d a2 = _mm256_broadcast_sd(a + k + 2), a3 = _mm256_broadcast_sd(a + k + 3);
        GROUP_CHUNK(s0, b[0], b[1], b[2], b[3]);
        GROUP_CHUNK(s1, b[4], b[5], b[6], b[7]);
        GROUP_CHUNK(s2, b[8], b[9], b[10], b[11]);
        GROUP_CHUNK(s3, b[12], b[13], b[14], b[15]);
    }
    for (; k < d; k++) {
        __m256d ak = _mm256_broadcast_sd(a + k);
        GROUP_TAIL(s0, b[0], b[1], b[2], b[3]);
        GROUP_TAIL(s1, b[4], b[5], b[6], b[7]);
        GROUP_TAIL(s2, b[8], b[9], b[10], b[11]);
        GROUP_TAIL(s3, b[12], b[13], b[14], b[15]);
    }
    _mm256_storeu_pd(out, _mm256_sqrt_pd(s0));
    _mm256_storeu_pd(out + 4, _mm256_sqrt_pd(s1));
    _mm256_storeu_pd(out + 8, _mm256_sqrt_pd(s2));
    _mm256_storeu_pd(out + 12, _mm256_sqrt_pd(s3));
}
#endif

typedef struct job {
    int64_t d, ldx;
    const float *x;
    const int64_t *pa, *pb;
    double *out;
    int64_t begin, end; /* pair range of this thread */
    int use_avx2;
    int failed; /* 1: out of memory */
} job;

/* Pairs [begin, end): runs of equal pair_a share one double copy of row a. */
static void run_job(job *jb) {
    const int64_t d = jb->d;
    double *a = malloc((size_t)d * sizeof *a);
    if (!a) {
        jb->failed = 1;
        return;
    }
    int64_t p = jb->begin;
    while (p < jb->end) {
        int64_t ia = jb->pa[p], q = p + 1;
        while (q < jb->end && jb->pa[q] == ia) q++;
        const float *xa = jb->x + ia * jb->ldx;
        for (int64_t k = 0; k < d; k++) a[k] = (double)xa[k];
#ifdef HAVE_X86
        if (jb->use_avx2) {
            const float *rows[16];
            while (q - p >= 4) {
                int64_t g = q - p >= 16 ? 16 : 4;
                for (int64_t j = 0; j < g; j++) rows[j] = jb->x + jb->pb[p + j] * jb->ldx;
                if (g == 16)
                    dist16_avx2(d, a, rows, jb->out + p);
                else
                    dist4_avx2(d, a, rows, jb->out + p);
                p += g;
            }
        }
#endif
        for (; p < q; p++) jb->out[p] = dist_scalar(d, a, jb->x + jb->pb[p] * jb->ldx);
    }
    free(a);
}

static void *thread_main(void *arg) {
    run_job(arg);
    return NULL;
}

static int cpu_has_avx2(void) {
#ifdef HAVE_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

/* Set by tests (through polca__cpu_distance_force_scalar) to check that the
 * vector and scalar paths give identical bits. */
static int force_scalar;
void polca__cpu_distance_force_scalar(int on) { force_scalar = on; }

int32_t polca__cpu_distance_pairs(void *state, int64_t d, const float *x, int64_t ldx,
                                  int64_t n_pairs, const int64_t *pa, const int64_t *pb,
                                  double *out) {
    (void)state;
    if (d < 1 || ldx < d || n_pairs < 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "distance_pairs: d=%lld ldx=%lld n_pairs=%lld out of range",
                           (long long)d, (long long)ldx, (long long)n_pairs);
    if (n_pairs == 0) return POLCA_OK;
    int64_t threads = openblas_get_num_threads();
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int64_t by_work = n_pairs * d / THREAD_MIN_WORK;
    if (threads > by_work) threads = by_work > 1 ? by_work : 1;
    if (threads > n_pairs / 16) threads = n_pairs / 16 > 1 ? n_pairs / 16 : 1;

    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS];
    int avx2 = cpu_has_avx2() && !force_scalar;
    for (int64_t t = 0; t < threads; t++) {
        jobs[t] = (job){d, ldx, x, pa, pb, out, n_pairs * t / threads,
                        n_pairs * (t + 1) / threads, avx2, 0};
        started[t] = 0;
    }
    for (int64_t t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, thread_main, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int64_t t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            run_job(&jobs[t]); /* no thread to be had: do it here */
    }
    for (int64_t t = 0; t < threads; t++)
        if (jobs[t].failed)
            return polca__fail(POLCA_ERR_OUT_OF_MEMORY,
                               "distance_pairs: out of memory for a row of %lld doubles",
                               (long long)d);
    return POLCA_OK;
}
