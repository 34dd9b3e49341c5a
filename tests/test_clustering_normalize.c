/*
 * tests/test_clustering_normalize.c - the "normalize" option of
 * polca_clustering_create: "unit" must give exactly the labels that
 * clustering the unit-norm trajectories (normalized here, in double) gives,
 * while members' means stay those of the trajectories as given; and on two
 * shapes with sizes spread over three orders of magnitude it must find the
 * two shapes.
 */
#include "harness.h"

enum { N = 400, T = 20 };

static polca_context *cpu_ctx(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

/* Two shapes (an early drop, a late drop) with small noise, each sample
 * scaled by 10^u, u uniform in [-1.5, 1.5]. */
static void make_data(float *x, int *shape) {
    unsigned long long s = 77;
    for (int i = 0; i < N; i++) {
        shape[i] = i % 2;
        double scale = pow(10.0, 1.5 * harness_uniform(&s));
        for (int j = 0; j < T; j++) {
            int onset = shape[i] ? 14 : 4;
            double v = j < onset ? 0.0 : -1.0;
            x[i * T + j] = (float)(scale * (v + 0.02 * harness_uniform(&s)));
        }
    }
}

static polca_clustering *cluster(polca_context *ctx, const float *x, const char *normalize) {
    polca_options *o = NULL;
    polca_clustering *c = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "filter", "none");
    polca_options_set_int(o, "min_cluster_size", 40);
    polca_options_set_int(o, "min_samples", 10);
    polca_options_set_double(o, "plateau", 5.0);
    polca_options_set_string(o, "normalize", normalize);
    int32_t st = polca_clustering_create(ctx, 1, N, T, x, T, NULL, o, &c);
    polca_options_destroy(o);
    return st ? NULL : c;
}

TEST(unit_norm_equals_clustering_normalized_input) {
    static float x[N * T], xn[N * T];
    static int shape[N];
    make_data(x, shape);
    for (int i = 0; i < N; i++) {
        double sq = 0;
        for (int j = 0; j < T; j++) sq += (double)x[i * T + j] * x[i * T + j];
        for (int j = 0; j < T; j++) xn[i * T + j] = (float)(x[i * T + j] / sqrt(sq));
    }
    polca_context *ctx = cpu_ctx();
    polca_clustering *a = cluster(ctx, x, "unit"), *b = cluster(ctx, xn, "none");
    CHECK(a && b);
    int32_t la[N], lb[N];
    CHECK_OK(polca_clustering_labels(a, 0, la, NULL, NULL, NULL));
    CHECK_OK(polca_clustering_labels(b, 0, lb, NULL, NULL, NULL));
    for (int i = 0; i < N; i++) CHECK(la[i] == lb[i]);
    /* the means are of the raw trajectories */
    int64_t nc = 0;
    CHECK_OK(polca_clustering_shape(a, NULL, NULL, NULL, NULL, &nc));
    CHECK(nc >= 1);
    float mean[T];
    int64_t size = 0, members[N];
    CHECK_OK(polca_clustering_cluster(a, 0, NULL, &size, NULL, NULL, NULL, NULL));
    CHECK_OK(polca_clustering_members(a, 0, members));
    CHECK_OK(polca_clustering_mean(a, 0, mean));
    for (int j = 0; j < T; j++) {
        double ref = 0;
        for (int64_t q = 0; q < size; q++) ref += x[members[q] * T + j];
        CHECK_CLOSE(mean[j], ref / size, 1e-5 * (1 + fabs(ref / size)));
    }
    polca_clustering_destroy(a), polca_clustering_destroy(b);
    polca_context_destroy(ctx);
}

TEST(unit_norm_finds_shapes_hidden_by_scale) {
    static float x[N * T];
    static int shape[N];
    make_data(x, shape);
    polca_context *ctx = cpu_ctx();
    polca_clustering *raw = cluster(ctx, x, "none"), *unit = cluster(ctx, x, "unit");
    CHECK(raw && unit);
    int64_t nraw = 0, nunit = 0;
    CHECK_OK(polca_clustering_shape(raw, NULL, NULL, NULL, NULL, &nraw));
    CHECK_OK(polca_clustering_shape(unit, NULL, NULL, NULL, NULL, &nunit));
    printf("  clusters: raw %lld, unit-norm %lld\n", (long long)nraw, (long long)nunit);
    CHECK(nunit == 2);
    int32_t lab[N];
    CHECK_OK(polca_clustering_labels(unit, 0, lab, NULL, NULL, NULL));
    /* each cluster holds one shape only; noise allowed */
    int seen[2][2] = {{0, 0}, {0, 0}};
    for (int i = 0; i < N; i++)
        if (lab[i] >= 0) seen[lab[i]][shape[i]]++;
    CHECK((seen[0][0] == 0) != (seen[0][1] == 0));
    CHECK((seen[1][0] == 0) != (seen[1][1] == 0));
    polca_clustering_destroy(raw), polca_clustering_destroy(unit);
    polca_context_destroy(ctx);
}

TEST(bad_normalize_value) {
    static float x[N * T];
    static int shape[N];
    make_data(x, shape);
    polca_context *ctx = cpu_ctx();
    polca_options *o = NULL;
    polca_clustering *c = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "normalize", "zscore"));
    CHECK_OK(polca_options_set_double(o, "plateau", 5.0));
    CHECK_STATUS(polca_clustering_create(ctx, 1, N, T, x, T, NULL, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("zscore");
    CHECK(c == NULL);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(unit_norm_equals_clustering_normalized_input);
    RUN(unit_norm_finds_shapes_hidden_by_scale);
    RUN(bad_normalize_value);
    return harness_done();
}
