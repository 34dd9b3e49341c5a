/*
 * tests/test_tf_exp.c - the CPU transformer's vectorizable e^x (tf_exp in
 * src/cpu/transformer_ops.c) against the C library's expf, and its
 * behaviour on NaN, infinities and huge values. Under make check-asan
 * (UBSan) a NaN used to reach a left shift of a negative value; the
 * activations that call it (gelu, gelu_new) get the same inputs.
 */
#include <float.h>
#include <stdint.h>

#include "harness.h"
#include "transformer.h"
#include "cpu/transformer_cpu.h"
#include "cpu/fast_exp.h"

POLCA_INTERNAL float polca__tf_exp(float x);

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* tf_expf out of the vectorized loop (another compilation of the same
 * code: the two must agree bit for bit). */
static __attribute__((noinline)) float polca__tf_exp_scalar(float x) { return tf_expf(x); }

static double ulps(float got, float want) {
    float up = nextafterf(want, INFINITY);
    return fabs((double)got - want) / ((double)up - want);
}

/* Every 61st float in [-87, 88] (about 37 million inputs): within 2 ulp of
 * expf, as its comment promises. */
TEST(sweep_matches_expf) {
    double worst = 0;
    float at = 0;
    int64_t n = 0;
    for (int sign = 0; sign < 2; sign++)
        for (uint32_t u = sign ? 0x80000000u : 0u;; u += 61) {
            float x = from_bits(u);
            if (!(x >= -87.0f && x <= 88.0f)) break;
            double e = ulps(polca__tf_exp(x), expf(x));
            if (e > worst) worst = e, at = x;
            n++;
        }
    printf("  %lld inputs, worst %.2f ulp at %a\n", (long long)n, worst, at);
    CHECK(n > 30000000);
    CHECK(worst <= 2.0);
    CHECK(polca__tf_exp(0.0f) == 1.0f && polca__tf_exp(-0.0f) == 1.0f);
}

/* Outside [-87, 88] the result is clamped (finite, never a denormal);
 * NaN (of either sign) comes back as NaN. */
TEST(nan_inf_and_huge_inputs) {
    const float hi = polca__tf_exp(88.0f), lo = polca__tf_exp(-87.0f);
    CHECK(isfinite(hi) && hi > 1e38f && lo > 0 && lo >= FLT_MIN);
    const float big[] = {INFINITY, FLT_MAX, 1e30f, 88.5f, 1000.0f};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        CHECK(polca__tf_exp(big[i]) == hi);
        CHECK(polca__tf_exp(-big[i]) == lo);
    }
    CHECK(isnan(polca__tf_exp(NAN)));
    CHECK(isnan(polca__tf_exp(-NAN)));
    CHECK(isnan(polca__tf_exp(from_bits(0x7fc01234u)))); /* a NaN with payload */
    CHECK(isnan(polca__tf_exp(from_bits(0xffffffffu))));
}

/* The activations built on it, on a block long enough to take the
 * vectorized path: NaN in, NaN out; finite values unaffected by their
 * non-finite neighbours. */
TEST(activations_with_non_finite_inputs) {
    enum { M = 64 };
    float pre[M], post[M], ref[M];
    for (int i = 0; i < M; i++) pre[i] = -4.0f + 0.125f * (float)i;
    for (int act = POLCA__ACT_GELU; act <= POLCA__ACT_GELU_NEW; act++) {
        polca__tf_act_fwd(act, M, pre, ref);
        float bad[M];
        memcpy(bad, pre, sizeof bad);
        bad[3] = NAN, bad[17] = INFINITY, bad[30] = -INFINITY, bad[41] = 1e30f, bad[50] = -FLT_MAX;
        polca__tf_act_fwd(act, M, bad, post);
        CHECK(isnan(post[3]));
        CHECK(post[41] == 1e30f); /* x Phi(x) = x for huge x */
        for (int i = 0; i < M; i++)
            if (i != 3 && i != 17 && i != 30 && i != 41 && i != 50) CHECK(post[i] == ref[i]);
    }
}

/* ---- tf_expf (src/cpu/fast_exp.h), the cross-entropy's e^x ---- */

/* The loop the cross-entropy runs, compiled as it is there (vectorized,
 * one clone per instruction set), so the sweep checks the vector code. */
TF_EXP_LOOPS_BEGIN
TF_VECTORIZE_FILE
static TF_CLONES void expf_block(int64_t n, const float *x, float *y) {
    for (int64_t j = 0; j < n; j++) y[j] = tf_expf(x[j]);
}
TF_EXP_LOOPS_END

/* Error of got in float ulps of the true e^x (double exp, far more
 * accurate than a float ulp); subnormal results in units of 2^-149. */
static double ulps_true(float got, double want) {
    int e;
    frexp(want, &e); /* want = m 2^e, m in [0.5, 1): ulp 2^(e-24) */
    const double ulp = e - 24 < -149 ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)got - want) / ulp;
}

/* Every 17th float in [-104, 88.72] (about 130 million inputs, through the
 * vectorized loop): within 2 ulp of e^x and of libm's expf, subnormal
 * results included; 0 where expf is 0, Inf above ln(FLT_MAX). */
TEST(expf_sweep_against_libm) {
    enum { BLK = 4096 };
    static float x[BLK], y[BLK];
    double worst = 0, worst_libm = 0, worst_sub = 0;
    float at = 0;
    int64_t n = 0, subnormal = 0;
    for (int sign = 0; sign < 2; sign++) {
        const float lim = sign ? -104.0f : 88.72f;
        uint32_t u = sign ? 0x80000000u : 0u;
        for (int done = 0; !done;) {
            int m = 0;
            for (; m < BLK; m++, u += 17) {
                x[m] = from_bits(u);
                if (sign ? x[m] < lim : x[m] > lim) {
                    done = 1;
                    break;
                }
            }
            expf_block(m, x, y);
            for (int i = 0; i < m; i++) {
                const double e = ulps_true(y[i], exp((double)x[i]));
                const double el = ulps(y[i], expf(x[i]));
                if (e > worst) worst = e, at = x[i];
                if (el > worst_libm) worst_libm = el;
                if (expf(x[i]) < FLT_MIN) {
                    subnormal++;
                    if (e > worst_sub) worst_sub = e;
                }
                if (!(y[i] == polca__tf_exp_scalar(x[i]))) {
                    FAILF("vector %a, scalar %a at x = %a", y[i], polca__tf_exp_scalar(x[i]), x[i]);
                    return;
                }
            }
            n += m;
        }
    }
    printf("  %lld inputs (%lld subnormal results): worst %.3f ulp of e^x at %a, %.3f ulp of "
           "expf; subnormal results %.3f\n",
           (long long)n, (long long)subnormal, worst, at, worst_libm, worst_sub);
    CHECK(n > 120000000 && subnormal > 10000);
    CHECK(worst <= 2.0 && worst_libm <= 2.0);
    CHECK(tf_expf(0.0f) == 1.0f && tf_expf(-0.0f) == 1.0f && tf_expf(1.0f) == expf(1.0f));
}

/* Outside the range: the limits of expf (0 and Inf) and NaN through. */
TEST(expf_limits) {
    const float zero_at[] = {-103.98f, -104.0f, -104.5f, -105.0f, -1000.0f, -FLT_MAX, -INFINITY};
    for (size_t i = 0; i < sizeof zero_at / sizeof zero_at[0]; i++) {
        CHECK(expf(zero_at[i]) == 0.0f);
        CHECK(tf_expf(zero_at[i]) == 0.0f);
    }
    CHECK(tf_expf(-103.2f) == expf(-103.2f) && tf_expf(-103.2f) > 0); /* 1 subnormal ulp */
    const float inf_at[] = {88.73f, 88.75f, 89.0f, 100.0f, FLT_MAX, INFINITY};
    for (size_t i = 0; i < sizeof inf_at / sizeof inf_at[0]; i++) CHECK(isinf(tf_expf(inf_at[i])));
    CHECK(isfinite(tf_expf(88.72f)) && tf_expf(88.72f) > 3e38f);
    CHECK(isnan(tf_expf(NAN)) && isnan(tf_expf(-NAN)));
    CHECK(isnan(tf_expf(from_bits(0x7fc01234u))) && isnan(tf_expf(from_bits(0xffffffffu))));
    /* the same through the vectorized loop */
    float x[16] = {NAN, -INFINITY, INFINITY, -200.0f, 100.0f, 0.0f, -104.0f, 88.73f,
                   -1.0f, 1.0f, 2.0f, -50.0f, -100.0f, 50.0f, -103.5f, 88.0f};
    float y[16];
    expf_block(16, x, y);
    CHECK(isnan(y[0]) && y[1] == 0.0f && isinf(y[2]) && y[3] == 0.0f && isinf(y[4]));
    CHECK(y[5] == 1.0f && y[6] == 0.0f && isinf(y[7]));
    for (int i = 8; i < 16; i++) CHECK(ulps(y[i], expf(x[i])) <= 2.0);
}

int main(void) {
    RUN(sweep_matches_expf);
    RUN(nan_inf_and_huge_inputs);
    RUN(activations_with_non_finite_inputs);
    RUN(expf_sweep_against_libm);
    RUN(expf_limits);
    return harness_done();
}
