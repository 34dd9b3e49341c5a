/*
 * tests/test_hdbscan.c - polca_hdbscan's arguments and the pieces under it:
 * the exact distance kernel (against a plain sequential sum), the distance
 * bounds (lower <= exact <= upper), k-th selection (against sorting), small
 * clusterings checked by hand, cancellation and thread counts.
 * Parity with the hdbscan package is tests/test_hdbscan_parity.c.
 */
#include "cpu/distance.h"
#include "harness.h"
#include "hdbscan.h"

static polca_context *cpu_context(int threads) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    if (threads) polca_options_set_int(o, "threads", threads);
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

/* Two tight groups on a line, 10 points each, and one far point. */
static void two_groups(float *x) {
    for (int i = 0; i < 10; i++) x[i] = (float)(0.1 * i);
    for (int i = 0; i < 10; i++) x[10 + i] = (float)(10.0 + 0.1 * i);
    x[20] = 100.0f;
}

TEST(two_groups_by_hand) {
    polca_context *ctx = cpu_context(0);
    CHECK(ctx);
    float x[21];
    two_groups(x);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "min_cluster_size", 5));
    CHECK_OK(polca_options_set_int(o, "min_samples", 2));
    int32_t labels[21], nc = -1;
    float prob[21], score[21];
    CHECK_OK(polca_hdbscan(ctx, 21, 1, x, o, labels, prob, score, &nc));
    /* The package numbers the cluster created first (left in the walk) 0;
     * which side is "left" depends on Prim's order, so check the grouping. */
    CHECK(nc == 2);
    for (int i = 1; i < 10; i++) CHECK(labels[i] == labels[0]);
    for (int i = 11; i < 20; i++) CHECK(labels[i] == labels[10]);
    CHECK(labels[0] != labels[10] && labels[0] >= 0 && labels[10] >= 0);
    CHECK(labels[20] == -1 && prob[20] == 0.0f);
    for (int i = 0; i < 21; i++) CHECK(prob[i] >= 0.0f && prob[i] <= 1.0f);
    for (int i = 0; i < 21; i++) CHECK(score[i] >= 0.0f && score[i] <= 1.0f);
    CHECK(score[20] > score[5]); /* the far point is the outlier */
    /* Optional outputs may be NULL. */
    CHECK_OK(polca_hdbscan(ctx, 21, 1, x, o, labels, NULL, NULL, NULL));
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(smallest_inputs) {
    polca_context *ctx = cpu_context(0);
    CHECK(ctx);
    float x[4] = {0.0f, 1.0f, 5.0f, 5.5f};
    int32_t labels[4] = {9, 9, 9, 9}, nc = -1;
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "min_cluster_size", 2));
    CHECK_OK(polca_hdbscan(ctx, 2, 1, x, o, labels, NULL, NULL, &nc)); /* n = 2, d = 1 */
    CHECK(nc >= 0 && labels[0] >= -1 && labels[1] >= -1);
    CHECK_OK(polca_hdbscan(ctx, 2, 2, x, o, labels, NULL, NULL, &nc)); /* n = 2, d = 2 */
    /* min_samples above n - 1 acts as n - 1 (the package's rule). */
    CHECK_OK(polca_options_set_int(o, "min_samples", 50));
    CHECK_OK(polca_hdbscan(ctx, 4, 1, x, o, labels, NULL, NULL, &nc));
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(bad_arguments) {
    polca_context *ctx = cpu_context(0);
    CHECK(ctx);
    float x[21];
    two_groups(x);
    int32_t labels[21], nc = 77;
    for (int i = 0; i < 21; i++) labels[i] = 123;
    CHECK_STATUS(polca_hdbscan(NULL, 21, 1, x, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_STATUS(polca_hdbscan((polca_context *)(void *)o, 21, 1, x, NULL, labels, NULL, NULL,
                               &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_context");
    CHECK_STATUS(polca_hdbscan(ctx, 1, 1, x, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n'");
    CHECK_STATUS(polca_hdbscan(ctx, -5, 1, x, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_hdbscan(ctx, (int64_t)1 << 40, 1, x, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n'");
    CHECK_STATUS(polca_hdbscan(ctx, 21, 0, x, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'d'");
    CHECK_STATUS(polca_hdbscan(ctx, 3, INT64_MAX / 2, x, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_hdbscan(ctx, 21, 1, NULL, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'x'");
    CHECK_STATUS(polca_hdbscan(ctx, 21, 1, x, NULL, NULL, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'labels'");

    /* NaN and infinity, named by index. */
    float y[21 * 2];
    for (int i = 0; i < 42; i++) y[i] = (float)i;
    y[7] = NAN; /* row 3, column 1 */
    CHECK_STATUS(polca_hdbscan(ctx, 21, 2, y, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("x[3][1]");
    CHECK_ERROR_MENTIONS("NaN");
    y[7] = 7.0f;
    y[40] = -INFINITY; /* row 20, column 0 */
    CHECK_STATUS(polca_hdbscan(ctx, 21, 2, y, NULL, labels, NULL, NULL, &nc),
                 POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("x[20][0]");

    /* Options out of range, unknown, or of the wrong type. */
    struct {
        const char *name;
        int is_int;
        double value;
    } bad[] = {
        {"min_cluster_size", 1, 1},   {"min_cluster_size", 1, -3}, {"min_samples", 1, 0},
        {"alpha", 0, 0.0},            {"alpha", 0, -1.0},          {"alpha", 0, NAN},
        {"alpha", 0, INFINITY},       {"cluster_selection_epsilon", 0, -0.5},
        {"cluster_selection_epsilon", 0, NAN},
        {"allow_single_cluster", 1, 2}, {"max_cluster_size", 1, -1},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        polca_options *ob = NULL;
        CHECK_OK(polca_options_create(&ob));
        if (bad[b].is_int)
            CHECK_OK(polca_options_set_int(ob, bad[b].name, (int64_t)bad[b].value));
        else
            CHECK_OK(polca_options_set_double(ob, bad[b].name, bad[b].value));
        CHECK_STATUS(polca_hdbscan(ctx, 21, 1, x, ob, labels, NULL, NULL, &nc),
                     POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS(bad[b].name);
        polca_options_destroy(ob);
    }
    CHECK_OK(polca_options_set_double(o, "cluster_selection_epsilon", 2.0));
    CHECK_OK(polca_options_set_double(o, "cluster_selection_epsilon_max", 1.0));
    CHECK_STATUS(polca_hdbscan(ctx, 21, 1, x, o, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("cluster_selection_epsilon_max");
    polca_options_destroy(o);
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "cluster_selection_method", "best"));
    CHECK_STATUS(polca_hdbscan(ctx, 21, 1, x, o, labels, NULL, NULL, &nc),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("cluster_selection_method");
    CHECK_OK(polca_options_unset(o, "cluster_selection_method"));
    CHECK_OK(polca_options_set_int(o, "min_cluster_sise", 5));
    CHECK_STATUS(polca_hdbscan(ctx, 21, 1, x, o, labels, NULL, NULL, &nc),
                 POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("min_cluster_sise");
    CHECK_OK(polca_options_unset(o, "min_cluster_sise"));
    CHECK_OK(polca_options_set_string(o, "min_samples", "5"));
    CHECK_STATUS(polca_hdbscan(ctx, 21, 1, x, o, labels, NULL, NULL, &nc),
                 POLCA_ERR_OPTION_TYPE);
    CHECK_ERROR_MENTIONS("min_samples");
    polca_options_destroy(o);

    /* Nothing was written by any failed call. */
    for (int i = 0; i < 21; i++) CHECK(labels[i] == 123);
    CHECK(nc == 77);
    polca_context_destroy(ctx);
}

static int32_t stop_now(void *user, const char *stage, int64_t done, int64_t total,
                        double value) {
    (void)stage, (void)done, (void)total, (void)value;
    (*(int *)user)++;
    return 1;
}

TEST(cancel_from_progress) {
    polca_context *ctx = cpu_context(0);
    CHECK(ctx);
    int calls = 0;
    CHECK_OK(polca_context_set_progress(ctx, stop_now, &calls));
    float x[21];
    two_groups(x);
    int32_t labels[21];
    for (int i = 0; i < 21; i++) labels[i] = 55;
    CHECK_STATUS(polca_hdbscan(ctx, 21, 1, x, NULL, labels, NULL, NULL, NULL),
                 POLCA_ERR_CANCELLED);
    CHECK(calls == 1);
    CHECK_ERROR_MENTIONS("cancelled");
    for (int i = 0; i < 21; i++) CHECK(labels[i] == 55);
    polca_context_destroy(ctx);
}

/* The reference: one plain sequential sum per pair, written out here. */
static double naive(const float *a, const float *b, int64_t d) {
    volatile double s = 0.0; /* volatile: no reordering, whatever the flags */
    for (int64_t k = 0; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        double sq = t * t;
        s = s + sq;
    }
    return sqrt(s);
}

TEST(distance_kernel_bit_exact) {
    unsigned long long seed = 42;
    const int64_t n = 300;
    const int64_t dims[] = {1, 3, 4, 5, 17, 64, 130};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int64_t d = dims[di], ld = d + 3; /* a leading dimension wider than d */
        float *x = malloc((size_t)(n * ld) * sizeof *x);
        for (int64_t i = 0; i < n * ld; i++)
            x[i] = harness_uniform(&seed) * (i % 7 == 0 ? 1000.0f : 1.0f);
        /* Runs of equal pair_a of every length 1..40, then one long run. */
        int64_t np = 0, cap = 20000;
        int64_t *pa = malloc((size_t)cap * sizeof *pa), *pb = malloc((size_t)cap * sizeof *pb);
        for (int64_t run = 1; run <= 40; run++)
            for (int64_t r = 0; r < run; r++, np++) {
                pa[np] = run * 7 % n;
                pb[np] = (run * 13 + r * 31) % n;
            }
        while (np < cap) pa[np] = 5, pb[np] = np % n, np++; /* threads split this */
        double *out = malloc((size_t)np * sizeof *out), *out2 = malloc((size_t)np * sizeof *out2);
        CHECK_OK(polca__cpu_distance_pairs(NULL, d, x, ld, np, pa, pb, out));
        polca__cpu_distance_force_scalar(1);
        CHECK_OK(polca__cpu_distance_pairs(NULL, d, x, ld, np, pa, pb, out2));
        polca__cpu_distance_force_scalar(0);
        for (int64_t p = 0; p < np; p++) {
            double want = naive(x + pa[p] * ld, x + pb[p] * ld, d);
            if (memcmp(&out[p], &want, sizeof want) || memcmp(&out2[p], &want, sizeof want)) {
                FAILF("d=%lld pair %lld: %.17g / %.17g, sequential sum %.17g", (long long)d,
                      (long long)p, out[p], out2[p], want);
                break;
            }
        }
        free(x), free(pa), free(pb), free(out), free(out2);
    }
    CHECK_STATUS(polca__cpu_distance_pairs(NULL, 0, NULL, 1, 0, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_OK(polca__cpu_distance_pairs(NULL, 3, NULL, 3, 0, NULL, NULL, NULL));
}

TEST(distance_bounds_hold) {
    unsigned long long seed = 7;
    const int64_t n = 400;
    const int64_t dims[] = {2, 16, 40, 200};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int64_t d = dims[di];
        float *x = malloc((size_t)(n * d) * sizeof *x);
        /* Low-rank structure far from the origin, plus noise, plus exact
         * duplicates (rows 1..3 equal row 0). */
        for (int64_t i = 0; i < n; i++) {
            float a = harness_uniform(&seed), b = harness_uniform(&seed);
            for (int64_t k = 0; k < d; k++)
                x[i * d + k] = 5000.0f + a * (float)k + b * (float)(k % 5) +
                               0.01f * harness_uniform(&seed);
        }
        for (int64_t i = 1; i < 4; i++) memcpy(x + i * d, x, (size_t)d * sizeof *x);
        polca__hdb_bounds b;
        CHECK_OK(polca__hdb_bounds_build(&b, n, d, x, d));
        double *p2 = malloc((size_t)b.n_pad * sizeof *p2);
        int64_t pa[1], pb[1];
        for (int64_t i = 0; i < n; i += 7) {
            polca__hdb_bounds_proj_row(&b, i, p2);
            for (int64_t j = 0; j < n; j++) {
                double exact;
                pa[0] = i, pb[0] = j;
                polca__cpu_distance_pairs(NULL, d, x, d, 1, pa, pb, &exact);
                double lo = polca__hdb_lower(&b, p2[j]), hi = polca__hdb_upper(&b, p2[j], i, j);
                if (!(lo <= exact && exact <= hi)) {
                    FAILF("d=%lld (%lld,%lld): %.17g <= %.17g <= %.17g fails", (long long)d,
                          (long long)i, (long long)j, lo, exact, hi);
                    i = n;
                    break;
                }
                double four[4];
                polca__hdb_bounds_proj4(&b, i, j & ~(int64_t)3, four);
                if (four[j & 3] != p2[j]) {
                    FAILF("proj4 and proj_row disagree at (%lld,%lld)", (long long)i,
                          (long long)j);
                    i = n;
                    break;
                }
            }
        }
        free(p2);
        polca__hdb_bounds_free(&b);
        free(x);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

TEST(kth_smallest_matches_sorting) {
    unsigned long long seed = 3;
    const int64_t sizes[] = {1, 2, 5, 100, 1025, 5000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        double *v = malloc((size_t)n * sizeof *v), *s = malloc((size_t)n * sizeof *s);
        double *w = malloc((size_t)n * sizeof *w), *buf = malloc((size_t)n * sizeof *buf);
        for (int pattern = 0; pattern < 3; pattern++) {
            for (int64_t i = 0; i < n; i++) {
                double r = harness_uniform(&seed);
                v[i] = pattern == 0 ? r : pattern == 1 ? floor(r * 4) : (double)(n - i);
            }
            memcpy(s, v, (size_t)n * sizeof *s);
            qsort(s, (size_t)n, sizeof *s, cmp_double);
            for (int64_t k = 1; k <= n; k += (n > 50 ? n / 17 : 1)) {
                memcpy(w, v, (size_t)n * sizeof *w);
                CHECK(polca__hdb_kth_smallest(w, n, k) == s[k - 1]);
                CHECK(polca__hdb_kth_smallest_sampled(v, n, k, buf) == s[k - 1]);
            }
        }
        free(v), free(s), free(w), free(buf);
    }
}

TEST(same_answer_with_any_thread_count) {
    unsigned long long seed = 11;
    const int64_t n = 600, d = 24;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        float c = (float)(i % 4) * 3.0f;
        for (int64_t k = 0; k < d; k++) x[i * d + k] = c + 0.5f * harness_uniform(&seed);
    }
    int32_t *l1 = malloc((size_t)n * sizeof *l1), *l2 = malloc((size_t)n * sizeof *l2);
    float *p1 = malloc((size_t)n * sizeof *p1), *p2 = malloc((size_t)n * sizeof *p2);
    polca_context *one = cpu_context(1), *two = cpu_context(2);
    CHECK(one && two);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "min_cluster_size", 20));
    CHECK_OK(polca_hdbscan(one, n, d, x, o, l1, p1, NULL, NULL));
    CHECK_OK(polca_hdbscan(two, n, d, x, o, l2, p2, NULL, NULL));
    CHECK(memcmp(l1, l2, (size_t)n * sizeof *l1) == 0);
    CHECK(memcmp(p1, p2, (size_t)n * sizeof *p1) == 0);
    int32_t max = -1;
    for (int64_t i = 0; i < n; i++) max = l1[i] > max ? l1[i] : max;
    CHECK(max == 3); /* four groups */
    polca_options_destroy(o);
    polca_context_destroy(one);
    polca_context_destroy(two);
    free(x), free(l1), free(l2), free(p1), free(p2);
}

int main(void) {
    RUN(two_groups_by_hand);
    RUN(smallest_inputs);
    RUN(bad_arguments);
    RUN(cancel_from_progress);
    RUN(distance_kernel_bit_exact);
    RUN(distance_bounds_hold);
    RUN(kth_smallest_matches_sorting);
    RUN(same_answer_with_any_thread_count);
    return harness_done();
}
