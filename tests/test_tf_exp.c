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

POLCA_INTERNAL float polca__tf_exp(float x);

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

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

int main(void) {
    RUN(sweep_matches_expf);
    RUN(nan_inf_and_huge_inputs);
    RUN(activations_with_non_finite_inputs);
    return harness_done();
}
