/*
 * tests/test_hdbscan_parity.c - polca_hdbscan against the hdbscan package.
 *
 * tests/fixtures/hdbscan/ (made by tests/gen_hdbscan_fixtures.py, which says
 * how ties are pinned) holds, per case, the package's core distances,
 * spanning tree (Prim order), labels, probabilities and GLOSH scores.
 * Expectations:
 *   - core distances and spanning-tree weights identical to the bit (the
 *     same sequential double sums), endpoints identical;
 *   - labels identical;
 *   - probabilities and scores: within 1e-12 on the internal double path
 *     (the same IEEE operations), within 1e-5 through the public float32 API;
 *   - where the package's score is NaN (inf/inf, duplicate points) libpolca
 *     documents the limit 1.
 */
#include "harness.h"
#include "hdbscan.h"
#include "npy.h"

#define DIR "tests/fixtures/hdbscan/"

typedef struct fixture {
    char name[128];
    npy_array x, res, par;
    int64_t n, d;
} fixture;

static int load(const char *name, fixture *f) {
    char path[512], ds[128];
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(ds, sizeof ds, "%s", name);
    char *sep = strstr(ds, "__");
    if (!sep) return 0;
    *sep = 0;
    snprintf(path, sizeof path, DIR "%s.x.npy", ds);
    if (!npy_load(path, &f->x)) return 0;
    snprintf(path, sizeof path, DIR "%s.npy", name);
    if (!npy_load(path, &f->res)) return 0;
    snprintf(path, sizeof path, DIR "%s.params.npy", name);
    if (!npy_load(path, &f->par)) return 0;
    f->n = f->x.shape[0];
    f->d = f->x.shape[1];
    return strcmp(f->x.dtype, "<f4") == 0 && strcmp(f->res.dtype, "<f8") == 0 &&
           f->res.shape[0] == 7 && f->res.shape[1] == f->n && f->par.count == 10;
}

static void unload(fixture *f) {
    npy_free(&f->x);
    npy_free(&f->res);
    npy_free(&f->par);
}

static double ref(const fixture *f, int row, int64_t i) {
    return ((const double *)f->res.data)[row * f->n + i];
}

static polca_options *options_of(const fixture *f) {
    const double *p = f->par.data;
    polca_options *o = NULL;
    if (polca_options_create(&o)) return NULL;
    polca_options_set_int(o, "min_cluster_size", (int64_t)p[0]);
    if (p[1] > 0) polca_options_set_int(o, "min_samples", (int64_t)p[1]);
    polca_options_set_double(o, "alpha", p[2]);
    polca_options_set_string(o, "cluster_selection_method", p[3] ? "leaf" : "eom");
    polca_options_set_double(o, "cluster_selection_epsilon", p[4]);
    polca_options_set_int(o, "allow_single_cluster", (int64_t)p[5]);
    polca_options_set_int(o, "max_cluster_size", (int64_t)p[6]);
    if (isfinite(p[7])) polca_options_set_double(o, "cluster_selection_epsilon_max", p[7]);
    return o;
}

static double expected_score(const fixture *f, int64_t i) {
    double s = ref(f, 2, i);
    return isnan(s) ? 1.0 : s;
}

/* One case through the internal double path; returns the failures seen. */
static int check_internal(polca_context *ctx, const fixture *f, int force_copy) {
    int bad = 0;
    const int64_t n = f->n;
    polca_options *o = options_of(f);
    polca__hdb_params p;
    if (!o || polca__hdb_params_read(o, n, 5, 0, "test", &p)) {
        printf("  %s: options: %s\n", f->name, polca_last_error());
        polca_options_destroy(o);
        return 1;
    }
    polca_options_destroy(o);
    polca__hdb_result r = {0};
    r.labels = calloc((size_t)n, sizeof *r.labels);
    r.probabilities = calloc((size_t)n, sizeof(double));
    r.scores = calloc((size_t)n, sizeof(double));
    r.core = calloc((size_t)n, sizeof(double));
    r.mst = calloc((size_t)n, sizeof *r.mst);
    int32_t st = polca__hdb_run(ctx, n, f->d, f->x.data, f->d, &p, force_copy, &r);
    if (st) {
        printf("  %s: %s\n", f->name, polca_last_error());
        bad = 1;
    }
    for (int64_t i = 0; !st && i < n; i++) {
        if (memcmp(&r.core[i], &((const double *)f->res.data)[3 * n + i], sizeof(double))) {
            printf("  %s: core[%lld] = %.17g, package %.17g\n", f->name, (long long)i,
                   r.core[i], ref(f, 3, i));
            bad = 1;
            break;
        }
    }
    for (int64_t e = 0; !st && !bad && e < n - 1; e++) {
        if (r.mst[e].a != (int64_t)ref(f, 4, e) || r.mst[e].b != (int64_t)ref(f, 5, e) ||
            memcmp(&r.mst[e].w, &((const double *)f->res.data)[6 * n + e], sizeof(double))) {
            printf("  %s: edge %lld = (%lld, %lld, %.17g), package (%g, %g, %.17g)\n",
                   f->name, (long long)e, (long long)r.mst[e].a, (long long)r.mst[e].b,
                   r.mst[e].w, ref(f, 4, e), ref(f, 5, e), ref(f, 6, e));
            bad = 1;
        }
    }
    for (int64_t i = 0; !st && !bad && i < n; i++) {
        if (r.labels[i] != (int32_t)ref(f, 0, i) ||
            !(fabs(r.probabilities[i] - ref(f, 1, i)) <= 1e-12) ||
            !(fabs(r.scores[i] - expected_score(f, i)) <= 1e-12)) {
            printf("  %s: point %lld: label %d prob %.17g score %.17g; package %g %.17g %.17g\n",
                   f->name, (long long)i, r.labels[i], r.probabilities[i], r.scores[i],
                   ref(f, 0, i), ref(f, 1, i), ref(f, 2, i));
            bad = 1;
        }
    }
    free(r.labels), free(r.probabilities), free(r.scores), free(r.core), free(r.mst);
    return bad;
}

/* The same case through the public float32 API. */
static int check_public(polca_context *ctx, const fixture *f) {
    const int64_t n = f->n;
    polca_options *o = options_of(f);
    int32_t *labels = calloc((size_t)n, sizeof *labels);
    float *prob = calloc((size_t)n, sizeof *prob), *score = calloc((size_t)n, sizeof *score);
    int32_t nc = -7, want_nc = 0;
    int bad = 0;
    if (polca_hdbscan(ctx, n, f->d, f->x.data, o, labels, prob, score, &nc)) {
        printf("  %s: polca_hdbscan: %s\n", f->name, polca_last_error());
        bad = 1;
    }
    for (int64_t i = 0; !bad && i < n; i++) {
        if ((int32_t)ref(f, 0, i) + 1 > want_nc) want_nc = (int32_t)ref(f, 0, i) + 1;
        if (labels[i] != (int32_t)ref(f, 0, i) || !(fabs(prob[i] - ref(f, 1, i)) <= 1e-5) ||
            !(fabs(score[i] - expected_score(f, i)) <= 1e-5)) {
            printf("  %s: public API point %lld: %d %g %g vs %g %g %g\n", f->name,
                   (long long)i, labels[i], prob[i], score[i], ref(f, 0, i), ref(f, 1, i),
                   ref(f, 2, i));
            bad = 1;
        }
    }
    if (!bad && nc != want_nc) {
        printf("  %s: n_clusters %d, package %d\n", f->name, nc, want_nc);
        bad = 1;
    }
    polca_options_destroy(o);
    free(labels), free(prob), free(score);
    return bad;
}

/* A context on `backend`; NULL (message in polca_last_error) if it cannot open. */
static polca_context *backend_context(const char *backend) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", backend);
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static void for_each_case(polca_context *ctx,
                          int (*check)(polca_context *, const fixture *, int), int flag,
                          int *cases, int *failed) {
    FILE *list = fopen(DIR "cases.txt", "r");
    char name[128];
    *cases = *failed = 0;
    while (list && ctx && fscanf(list, "%127s", name) == 1) {
        fixture f;
        memset(&f, 0, sizeof f);
        if (!load(name, &f)) {
            printf("  %s: cannot load the fixture\n", name);
            (*failed)++;
        } else {
            (*cases)++;
            *failed += check(ctx, &f, flag);
        }
        unload(&f);
    }
    if (list) fclose(list);
}

static int public_adapter(polca_context *ctx, const fixture *f, int flag) {
    (void)flag;
    return check_public(ctx, f);
}

TEST(parity_core_mst_labels_probabilities_scores) {
    int cases, failed;
    polca_context *ctx = backend_context("cpu");
    CHECK(ctx != NULL);
    for_each_case(ctx, check_internal, 0, &cases, &failed);
    CHECK(cases >= 20);
    CHECK(failed == 0);
    polca_context_destroy(ctx);
}

TEST(parity_through_public_float_api) {
    int cases, failed;
    polca_context *ctx = backend_context("cpu");
    CHECK(ctx != NULL);
    for_each_case(ctx, public_adapter, 0, &cases, &failed);
    CHECK(cases >= 20);
    CHECK(failed == 0);
    polca_context_destroy(ctx);
}

TEST(parity_through_device_memory_path) {
    /* The path a device backend takes (uploads, chunked pair lists), run on
     * the CPU backend's memory: same answers. */
    int cases, failed;
    polca_context *ctx = backend_context("cpu");
    CHECK(ctx != NULL);
    for_each_case(ctx, check_internal, 1, &cases, &failed);
    CHECK(cases >= 20);
    CHECK(failed == 0);
    polca_context_destroy(ctx);
}

TEST(parity_on_cuda_backend) {
    /* The CUDA distance kernel behind the same core: the package's bits. */
    polca_context *ctx = backend_context("cuda");
    if (!ctx) SKIP("CUDA backend unavailable: %s", polca_last_error());
    int cases, failed;
    for_each_case(ctx, check_internal, 0, &cases, &failed);
    CHECK(cases >= 20);
    CHECK(failed == 0);
    for_each_case(ctx, public_adapter, 0, &cases, &failed);
    CHECK(failed == 0);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(parity_core_mst_labels_probabilities_scores);
    RUN(parity_through_public_float_api);
    RUN(parity_through_device_memory_path);
    RUN(parity_on_cuda_backend);
    return harness_done();
}
