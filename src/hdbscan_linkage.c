/*
 * src/hdbscan_linkage.c - single-linkage tree from the spanning tree's edges.
 *
 * The package sorts the edges with numpy's default (unstable) argsort, so
 * among tied weights its order depends on numpy's version and CPU. We sort
 * stably: tied edges keep Prim's order. The parity fixtures are either free
 * of ties or made with a stable sort on the reference side
 * (tests/gen_hdbscan_fixtures.py), so they pin this rule.
 *
 * Then, as the package's label(): union-find over the sorted edges; row k
 * joins the components of the edge's two endpoints (the first endpoint's
 * component on the left) into node n + k.
 */
#include <stdlib.h>

#include "hdbscan.h"

typedef struct keyed {
    double w;
    int64_t order; /* position in Prim's order: the tie-break */
} keyed;

static int by_weight(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->w < y->w) return -1;
    if (x->w > y->w) return 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int64_t find(int64_t *parent, int64_t v) {
    int64_t root = v;
    while (parent[root] != -1) root = parent[root];
    while (parent[v] != -1 && parent[v] != root) { /* path compression */
        int64_t next = parent[v];
        parent[v] = root;
        v = next;
    }
    return root;
}

int32_t polca__hdb_linkage(int64_t n, polca__hdb_edge *edges, polca__hdb_link *rows) {
    const int64_t m = n - 1;
    keyed *keys = polca__alloc((size_t)m * sizeof *keys, "hdbscan linkage");
    polca__hdb_edge *sorted = polca__alloc((size_t)m * sizeof *sorted, "hdbscan linkage");
    int64_t *parent = polca__alloc((size_t)(2 * n - 1) * sizeof *parent, "hdbscan linkage");
    int64_t *size = polca__alloc((size_t)(2 * n - 1) * sizeof *size, "hdbscan linkage");
    if (!keys || !sorted || !parent || !size) {
        free(keys), free(sorted), free(parent), free(size);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int64_t k = 0; k < m; k++) keys[k] = (keyed){edges[k].w, k};
    qsort(keys, (size_t)m, sizeof *keys, by_weight);
    for (int64_t k = 0; k < m; k++) sorted[k] = edges[keys[k].order];
    for (int64_t k = 0; k < m; k++) edges[k] = sorted[k];
    for (int64_t v = 0; v < 2 * n - 1; v++) parent[v] = -1, size[v] = v < n ? 1 : 0;
    for (int64_t k = 0; k < m; k++) {
        int64_t a = find(parent, edges[k].a), b = find(parent, edges[k].b);
        rows[k] = (polca__hdb_link){a, b, edges[k].w, size[a] + size[b]};
        parent[a] = parent[b] = n + k;
        size[n + k] = size[a] + size[b];
    }
    free(keys), free(sorted), free(parent), free(size);
    return POLCA_OK;
}
