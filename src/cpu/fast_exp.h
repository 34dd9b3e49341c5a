/*
 * src/cpu/fast_exp.h - e^x in float for the vectorized cross-entropy loops
 * (private to src/cpu/transformer_*.c).
 *
 * tf_expf(x) is within 2 ulp of the correctly rounded e^x for every float x
 * in [-104, 88.72], subnormal results included (tests/test_tf_exp.c sweeps
 * that range against the C library's expf): it returns +0 below about
 * -103.97 (where e^x rounds to zero) and +Inf above ln(FLT_MAX) = 88.7228,
 * as expf does; NaN gives NaN. It is branch-free and uses only float and
 * 32-bit integer operations, so GCC vectorizes loops that call it (SSE2,
 * AVX2, AVX-512 clones: TF_CLONES), and it gives the same bits on every
 * clone (the library is built with -ffp-contract=off).
 *
 * Method: k = round(x / ln 2), r = x - k ln 2 with ln 2 split in two (the
 * high part has 16 significant bits, so k * hi is exact for |k| <= 2^8),
 * |r| <= 0.347; e^r by its Taylor polynomial to r^7 (truncation error
 * < 3e-9 relative, below 2^-24), evaluated by Horner's rule; then
 * e^x = e^r 2^k, with 2^k applied as two exact powers of two 2^k1 2^k2
 * (k1 = k / 2, k2 = k - k1, both normal for k in [-151, 128]) so that the
 * only rounding of the scaling is the last product, which is where a
 * subnormal or infinite result gets rounded, once, as libm's does.
 */
#ifndef POLCA_CPU_FAST_EXP_H
#define POLCA_CPU_FAST_EXP_H

#include <stdint.h>

/* Loops calling tf_expf are compiled between TF_EXP_LOOPS_BEGIN and
 * TF_EXP_LOOPS_END: under GCC's default -ftrapping-math, the selects of the
 * clamps (and GCC's threading of them into branches) are "control flow"
 * that the vectorizer refuses, except with AVX-512 masks. Not trapping
 * changes no value: it only lets GCC evaluate both sides of a select. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TF_EXP_LOOPS_BEGIN                                                     \
    _Pragma("GCC push_options") _Pragma("GCC optimize(\"no-trapping-math\")")
#define TF_EXP_LOOPS_END _Pragma("GCC pop_options")
#else
#define TF_EXP_LOOPS_BEGIN
#define TF_EXP_LOOPS_END
#endif

static inline __attribute__((always_inline)) float tf_expf(float x) {
    /* Clamp first so that every later step is defined for every input: a
     * NaN is evaluated as 0 and put back at the end. At -104.5, e^x is
     * already below half the smallest subnormal (rounds to 0); at 89, above
     * FLT_MAX (rounds to Inf). */
    float xc = x < -104.5f ? -104.5f : x;
    xc = xc > 89.0f ? 89.0f : xc;
    xc = xc == xc ? xc : 0.0f;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    const float kf = (xc * 1.44269504088896341f + magic) - magic; /* in [-151, 128] */
    float r = xc - kf * 0.693145751953125f;                       /* exact */
    r = r - kf * 1.428606765330187045e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t k = (int32_t)kf;
    const int32_t k1 = k / 2, k2 = k - k1; /* each in [-76, 64] */
    union {
        uint32_t i;
        float f;
    } s1, s2;
    s1.i = (uint32_t)(k1 + 127) << 23;
    s2.i = (uint32_t)(k2 + 127) << 23;
    const float y = (p * s1.f) * s2.f;
    return x == x ? y : x;
}

#endif
