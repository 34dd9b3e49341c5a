/*
 * src/hdbscan.c - polca_hdbscan: the pipeline of src/hdbscan_*.c behind the
 * public entry point (include/polca/cluster.h).
 */
#include <stdlib.h>
#include <string.h>

#include "hdbscan.h"

int32_t polca__hdb_run(const polca_context *ctx, int64_t n, int64_t d, const float *x,
                       int64_t ldx, const polca__hdb_params *p, int force_copy,
                       polca__hdb_result *r) {
    polca__hdb_bounds b;
    polca__hdb_dist dd;
    polca__hdb_tree tree;
    memset(&tree, 0, sizeof tree);
    double *core = polca__alloc((size_t)n * sizeof *core, "hdbscan core distances");
    polca__hdb_edge *edges = polca__alloc((size_t)(n - 1) * sizeof *edges, "hdbscan edges");
    polca__hdb_link *links = polca__alloc((size_t)(n - 1) * sizeof *links, "hdbscan linkage");
    uint8_t *selected = NULL;
    if (!core || !edges || !links) {
        free(core), free(edges), free(links);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    int32_t st = polca__hdb_bounds_build(&b, n, d, x, ldx);
    if (st) goto fail_bounds;
    st = polca__hdb_dist_open(&dd, ctx, n, d, x, ldx, force_copy);
    if (st) goto fail_dist;
    st = polca__hdb_core_distances(ctx, &dd, &b, p->min_samples, core);
    if (!st) st = polca__hdb_mst(ctx, &dd, &b, core, p->alpha, edges);
    polca__hdb_dist_close(&dd);
fail_dist:
    polca__hdb_bounds_free(&b);
fail_bounds:
    if (st) goto done;
    if (r->core) memcpy(r->core, core, (size_t)n * sizeof *core);
    if (r->mst) memcpy(r->mst, edges, (size_t)(n - 1) * sizeof *edges);
    st = polca__hdb_linkage(n, edges, links);
    if (!st) st = polca__hdb_condense(n, links, p->min_cluster_size, &tree);
    if (st) goto done;
    selected = polca__calloc((size_t)tree.n_clusters, 1, "hdbscan selection");
    if (!selected) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    st = polca__hdb_select(&tree, p, selected, NULL);
    if (!st)
        st = polca__hdb_labels(&tree, p, selected, r->labels, r->probabilities, r->scores,
                               &r->n_clusters);
done:
    polca__hdb_tree_free(&tree);
    free(core), free(edges), free(links), free(selected);
    return st;
}

/* Fails with POLCA_ERR_NOT_FINITE naming the first NaN/Inf of x [n][d]. */
static int32_t check_finite(const char *fn, const char *arg, int64_t n, int64_t d,
                            const float *x) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++)
            if (!isfinite(x[i * d + k]))
                return polca__fail(POLCA_ERR_NOT_FINITE, "%s: %s[%lld][%lld] is %s", fn, arg,
                                   (long long)i, (long long)k,
                                   isnan(x[i * d + k]) ? "NaN" : "infinite");
    return POLCA_OK;
}

int32_t polca__hdb_check_points(const char *fn, int64_t n, int64_t d, const float *x) {
    if (n < 2 || n > INT32_MAX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n' is %lld; must be 2..2147483647", fn, (long long)n);
    if (d < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'd' is %lld; must be >= 1",
                           fn, (long long)d);
    size_t bytes;
    if (!polca__mul_size((size_t)n, (size_t)d, &bytes) ||
        !polca__mul_size(bytes, sizeof(float), &bytes))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: n x d (%lld x %lld) overflows", fn,
                           (long long)n, (long long)d);
    if (!x) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'x' is NULL", fn);
    return check_finite(fn, "x", n, d, x);
}

int32_t polca_hdbscan(polca_context *ctx, int64_t n, int64_t d, const float *x,
                      const polca_options *options, int32_t *labels, float *probabilities,
                      float *outlier_scores, int32_t *n_clusters) {
    static const char *fn = "polca_hdbscan";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!labels) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'labels' is NULL", fn);
    st = polca__options_check(options, polca__hdb_option_names, fn);
    if (st) return st;
    st = polca__hdb_check_points(fn, n, d, x);
    if (st) return st;
    polca__hdb_params p;
    st = polca__hdb_params_read(options, n, 5, 0, fn, &p);
    if (st) return st;

    polca__hdb_result r;
    memset(&r, 0, sizeof r);
    r.labels = polca__alloc((size_t)n * sizeof *r.labels, "polca_hdbscan labels");
    if (probabilities)
        r.probabilities = polca__alloc((size_t)n * sizeof(double), "polca_hdbscan probabilities");
    if (outlier_scores)
        r.scores = polca__alloc((size_t)n * sizeof(double), "polca_hdbscan outlier scores");
    if (!r.labels || (probabilities && !r.probabilities) || (outlier_scores && !r.scores)) {
        st = POLCA_ERR_OUT_OF_MEMORY;
    } else {
        st = polca__hdb_run(ctx, n, d, x, d, &p, 0, &r);
        if (st) polca__wrap(st, "%s", fn);
    }
    if (!st) {
        memcpy(labels, r.labels, (size_t)n * sizeof *labels);
        for (int64_t i = 0; probabilities && i < n; i++)
            probabilities[i] = (float)r.probabilities[i];
        for (int64_t i = 0; outlier_scores && i < n; i++)
            outlier_scores[i] = (float)r.scores[i];
        if (n_clusters) *n_clusters = (int32_t)r.n_clusters;
    }
    free(r.labels), free(r.probabilities), free(r.scores);
    return st;
}
