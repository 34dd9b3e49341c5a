/*
 * tests/test_transformer_ce.c - the CPU cross-entropy ops over a large
 * vocabulary (polca__tf_ce_fwd, _tan, _bwd in src/cpu/transformer_ops.c):
 *   (a) against an independent float64 evaluation of the same formulas
 *       (loss = lse(z) - z_t, p = softmax(z), g = <p, z'> - z'_t,
 *       c = <p, z''> - z''_t + <p, z'^2> - <p, z'>^2, dz = w (p - e_t),
 *       dz' = w p (z' - <p, z'>));
 *   (b) bitwise the same with no thread pool and with pools of 1, 2 and 3
 *       workers (OpenBLAS thread counts, which size the pool): each row is
 *       computed by one worker, its sums in a fixed order.
 * Whole kernels are not compared across thread counts bitwise: OpenBLAS
 * 0.3.21 splits an sgemm among threads above M*N*K = 262144 and its Haswell
 * kernels then round some columns differently (tests/test_transformer.c).
 *
 * Tolerances, from the float arithmetic (not tuned to results): a loss to
 * 1e-6 relative (the sum of e^(z-m) has ~3 ulp per term); a probability to
 * 1e-5 relative (z - m rounded to float costs 2^-24 |z - m| <= 1e-6 for the
 * |z - m| <= 16 used here, expf 2 ulp, the scaling 1 ulp) or 1e-44 absolute
 * (subnormal results); g and c to 1e-5 of the scale of their terms.
 */
#include <float.h>

#include "harness.h"
#include "transformer.h"
#include "cpu/transformer_cpu.h"

void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

enum { V = 50304, T = 16, B = 3, R = B * T };

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static double urand(void) { /* [0, 1) */
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1p-53;
}

typedef struct ce_out {
    float *p, *losses, *g, *c, *dz, *dz1;
    double sum;
    int64_t count;
} ce_out;

static void ce_out_alloc(ce_out *o) {
    o->p = malloc((size_t)R * V * 4), o->losses = malloc((size_t)R * 4);
    o->g = malloc((size_t)R * 4), o->c = malloc((size_t)R * 4);
    o->dz = malloc((size_t)R * V * 4), o->dz1 = malloc((size_t)R * V * 4);
}
static void ce_out_free(ce_out *o) {
    free(o->p), free(o->losses), free(o->g), free(o->c), free(o->dz), free(o->dz1);
}

static void run_ce(const polca__tf_config *cfg, const tf_batch *bt, const float *logits,
                   const float *z1, const float *z2, ce_out *o) {
    memcpy(o->p, logits, (size_t)R * V * 4);
    o->sum = 0.0;
    o->count = polca__tf_ce_fwd(cfg, bt, o->p, o->losses, &o->sum);
    polca__tf_ce_tan(cfg, bt, o->p, z1, z2, o->g, o->c);
    polca__tf_ce_bwd(cfg, bt, o->p, o->dz, z1, o->dz1);
}

static int same(const ce_out *a, const ce_out *b) {
    const size_t big = (size_t)R * V * 4, small = (size_t)a->count * 4;
    return a->count == b->count && memcmp(&a->sum, &b->sum, sizeof a->sum) == 0 &&
           memcmp(a->p, b->p, big) == 0 && memcmp(a->losses, b->losses, small) == 0 &&
           memcmp(a->g, b->g, small) == 0 && memcmp(a->c, b->c, small) == 0 &&
           memcmp(a->dz, b->dz, big) == 0 && memcmp(a->dz1, b->dz1, big) == 0;
}

TEST(large_vocab_matches_float64_and_any_thread_count) {
    const polca__tf_config cfg = polca__tf_config_basic(1, 8, 2, 4, 16, V, T, POLCA__ACT_GELU);
    float *logits = malloc((size_t)R * V * 4), *z1 = malloc((size_t)R * V * 4),
          *z2 = malloc((size_t)R * V * 4);
    int32_t tokens[R];
    uint8_t mask[R];
    for (int64_t r = 0; r < R; r++) {
        tokens[r] = (int32_t)(urand() * V);
        mask[r] = (uint8_t)(r % 5 != 2); /* some rows unscored */
        /* logits in [-8, 8]; row 7 spread over [-120, 8] so that some e^(z-m)
         * are subnormal or zero; row 11 has one logit far above the rest */
        const double spread = r == 7 ? 128.0 : 16.0;
        for (int64_t j = 0; j < V; j++) {
            logits[r * V + j] = (float)(8.0 - spread * urand());
            z1[r * V + j] = (float)(2.0 * urand() - 1.0);
            z2[r * V + j] = (float)(2.0 * urand() - 1.0);
        }
        if (r == 11) logits[r * V + 123] = 40.0f;
    }
    const tf_batch bt = {B, R, tokens, mask, 1.0f / 37.0f, NULL};

    /* (a) float64 reference, no pool */
    ce_out ref;
    ce_out_alloc(&ref);
    run_ce(&cfg, &bt, logits, z1, z2, &ref);
    int64_t idx = 0, scored = 0;
    double worst_p = 0, worst_loss = 0, worst_gc = 0, sum = 0;
    for (int64_t r = 0; r < R; r++) {
        const float *z = logits + r * V, *a1 = z1 + r * V, *a2 = z2 + r * V;
        const float *p = ref.p + r * V, *dz = ref.dz + r * V, *dz1 = ref.dz1 + r * V;
        if (!(mask[r] && (r % T) + 1 < T)) {
            for (int64_t j = 0; j < V; j++) CHECK(dz[j] == 0.0f && dz1[j] == 0.0f);
            continue;
        }
        scored++;
        const int32_t t = tokens[r + 1];
        double m = z[0];
        for (int64_t j = 1; j < V; j++) m = z[j] > m ? z[j] : m;
        double se = 0;
        for (int64_t j = 0; j < V; j++) se += exp((double)z[j] - m);
        const double lse = m + log(se), loss = lse - z[t];
        double mu = 0, sq = 0, m2 = 0, scale1 = 0, scale2 = 0;
        for (int64_t j = 0; j < V; j++) {
            const double pj = exp((double)z[j] - lse);
            const double e = fabs(p[j] - pj);
            if (!(e <= 1e-5 * pj || e <= 1e-44)) {
                FAILF("row %lld p[%lld] = %.9g, float64 %.9g", (long long)r, (long long)j, p[j], pj);
                break;
            }
            if (pj > 1e-30 && e / pj > worst_p) worst_p = e / pj;
            const double dzj = (double)bt.weight * (pj - (j == t));
            if (!(fabs(dz[j] - dzj) <= 1e-5 * fabs(dzj) + 1e-44)) {
                FAILF("row %lld dz[%lld] = %.9g, float64 %.9g", (long long)r, (long long)j, dz[j], dzj);
                break;
            }
            mu += pj * a1[j], sq += pj * a1[j] * a1[j], m2 += pj * a2[j];
            scale1 += pj * fabs(a1[j]), scale2 += pj * fabs(a2[j]);
        }
        for (int64_t j = 0; j < V; j++) {
            const double pj = exp((double)z[j] - lse), want = bt.weight * pj * (a1[j] - mu);
            /* dz' = w p (z' - mu): error from p (1e-5 rel) and from mu in
             * float (|z' - mu| ~ 1, so 1e-7 absolute) */
            if (!(fabs(dz1[j] - want) <= 1e-5 * bt.weight * pj * (fabs(a1[j] - mu) + 1e-2))) {
                FAILF("row %lld dz1[%lld] = %.9g, float64 %.9g", (long long)r, (long long)j, dz1[j], want);
                break;
            }
        }
        const double g = mu - a1[t], c = m2 - a2[t] + sq - mu * mu;
        const double eg = fabs(ref.g[idx] - g) / (1 + scale1 + fabs(a1[t]));
        const double ec = fabs(ref.c[idx] - c) / (1 + scale2 + fabs(a2[t]) + sq + mu * mu);
        const double el = fabs(ref.losses[idx] - loss) / fabs(loss);
        if (!(el <= 1e-6)) FAILF("row %lld loss %.9g, float64 %.9g", (long long)r, ref.losses[idx], loss);
        if (!(eg <= 1e-5)) FAILF("row %lld g %.9g, float64 %.9g", (long long)r, ref.g[idx], g);
        if (!(ec <= 1e-5)) FAILF("row %lld c %.9g, float64 %.9g", (long long)r, ref.c[idx], c);
        worst_loss = el > worst_loss ? el : worst_loss;
        worst_gc = eg > worst_gc ? eg : worst_gc;
        worst_gc = ec > worst_gc ? ec : worst_gc;
        sum += loss;
        idx++;
    }
    CHECK(ref.count == scored && scored > 20);
    CHECK(fabs(ref.sum - sum) <= 1e-6 * fabs(sum));
    printf("  %lld scored rows of %d logits: worst relative p %.2g, loss %.2g, g/c %.2g\n",
           (long long)scored, V, worst_p, worst_loss, worst_gc);

    /* (b) pools of 1, 2, 3 workers: bitwise the serial results */
    const int saved = openblas_get_num_threads();
    for (int w = 1; w <= 3; w++) {
        openblas_set_num_threads(w);
        tf_pool *pool = NULL;
        CHECK_OK(polca__tf_pool_open(&cfg, &pool));
        const int workers = polca__tf_parallel_workers();
        ce_out o;
        ce_out_alloc(&o);
        run_ce(&cfg, &bt, logits, z1, z2, &o);
        polca__tf_pool_close(pool);
        printf("  %d OpenBLAS threads, %d pool workers: %s\n", w, workers,
               same(&o, &ref) ? "bitwise equal" : "DIFFERENT");
        CHECK(same(&o, &ref));
        ce_out_free(&o);
    }
    openblas_set_num_threads(saved);
    ce_out_free(&ref);
    free(logits), free(z1), free(z2);
}

int main(void) {
    RUN(large_vocab_matches_float64_and_any_thread_count);
    return harness_done();
}
