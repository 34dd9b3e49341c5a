/*
 * src/hdbscan_select.c - stabilities and cluster selection, as the package's
 * compute_stability() and get_clusters().
 *
 * Stability of cluster C: sum over the rows whose parent is C, in row order,
 * of (lambda - birth(C)) * size, in double (birth = the lambda C appeared at,
 * 0 for the root). Excess of mass visits clusters from the highest id down
 * (children before parents), the root only with allow_single_cluster; the
 * children's stabilities are summed into a float32, as the package does
 * (`cdef float subtree_stability`), before the comparison. Leaf selection
 * takes the leaves of the cluster tree. cluster_selection_epsilon then
 * replaces a selected cluster born at a distance below epsilon by its first
 * ancestor born above it (never the root unless allow_single_cluster).
 *
 * The package visits the epsilon candidates in Python-set order and skips a
 * candidate already under a chosen ancestor; that ancestor is the one the
 * skipped candidate would have chosen, so the selected set does not depend
 * on the order, and we visit in id order.
 *
 * Duplicate points give lambda = inf, hence inf and NaN stabilities; IEEE
 * arithmetic here is the package's (NaN compares false, so a NaN subtree
 * keeps its parent), which keeps the labels identical.
 */
#include <stdlib.h>
#include <string.h>

#include "hdbscan.h"

typedef struct info {
    int64_t nc;
    int64_t *parent; /* [nc] cluster index of the parent, -1 for the root */
    int64_t *child;  /* [nc][2] cluster children in row order, -1 if none */
    double *birth;   /* [nc] lambda of the cluster's own row; root 0 */
    int64_t *size;   /* [nc] points */
} info;

static void deselect_below(const info *in, uint8_t *sel, int64_t *stack, int64_t c) {
    int64_t top = 0;
    stack[top++] = c;
    while (top) {
        int64_t v = stack[--top];
        if (v != c) sel[v] = 0;
        for (int e = 0; e < 2; e++)
            if (in->child[2 * v + e] >= 0) stack[top++] = in->child[2 * v + e];
    }
}

/* The package's _traverse_upwards_fast. */
static int64_t climb(const info *in, const polca__hdb_params *p, int64_t c) {
    if (c == 0) return 0; /* the root has no ancestor (never a candidate here) */
    for (;;) {
        int64_t par = in->parent[c];
        if (par == 0) return p->allow_single_cluster ? 0 : c;
        if (1.0 / in->birth[par] > p->epsilon) return par;
        c = par;
    }
}

/* Replaces the candidates in `cand` (1 = candidate) by the epsilon search's
 * choice, written to `out`. */
static void epsilon_search(const info *in, const polca__hdb_params *p, const uint8_t *cand,
                           uint8_t *out) {
    memset(out, 0, (size_t)in->nc);
    for (int64_t c = 0; c < in->nc; c++) {
        if (!cand[c]) continue;
        if (1.0 / in->birth[c] < p->epsilon)
            out[climb(in, p, c)] = 1;
        else
            out[c] = 1;
    }
}

int32_t polca__hdb_select(const polca__hdb_tree *t, const polca__hdb_params *p,
                          uint8_t *selected, double *stability_out) {
    const int64_t n = t->n, nc = t->n_clusters;
    info in = {nc, polca__alloc((size_t)nc * sizeof(int64_t), "hdbscan selection"),
               polca__alloc((size_t)(2 * nc) * sizeof(int64_t), "hdbscan selection"),
               polca__calloc((size_t)nc, sizeof(double), "hdbscan selection"),
               polca__calloc((size_t)nc, sizeof(int64_t), "hdbscan selection")};
    double *stab = polca__calloc((size_t)nc, sizeof *stab, "hdbscan selection");
    int64_t *stack = polca__alloc((size_t)nc * sizeof *stack, "hdbscan selection");
    uint8_t *cand = polca__calloc((size_t)nc, 1, "hdbscan selection");
    uint8_t *leaves = polca__calloc((size_t)nc, 1, "hdbscan selection");
    int32_t st = POLCA_OK;
    if (!in.parent || !in.child || !in.birth || !in.size || !stab || !stack || !cand ||
        !leaves) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    for (int64_t c = 0; c < nc; c++) in.parent[c] = -1, in.child[2 * c] = in.child[2 * c + 1] = -1;
    double root_eps = 0.0; /* the package's max(1 / lambda) over all rows */
    for (int64_t r = 0; r < t->n_rows; r++) {
        const polca__hdb_crow *row = &t->rows[r];
        double e = 1.0 / row->lambda;
        if (e > root_eps) root_eps = e;
        if (row->child < n) continue;
        int64_t c = row->child - n, par = row->parent - n;
        in.parent[c] = par;
        in.birth[c] = row->lambda;
        in.size[c] = row->size;
        in.child[2 * par + (in.child[2 * par] >= 0)] = c;
    }
    for (int64_t r = 0; r < t->n_rows; r++) {
        const polca__hdb_crow *row = &t->rows[r];
        int64_t par = row->parent - n;
        stab[par] += (row->lambda - in.birth[par]) * (double)row->size;
    }
    if (stability_out) memcpy(stability_out, stab, (size_t)nc * sizeof *stab);

    /* The package's node_list: every cluster, the root only if allowed. */
    const int64_t lowest = p->allow_single_cluster ? 0 : 1;
    for (int64_t c = lowest; c < nc; c++) cand[c] = 1;
    const int64_t max_size = p->max_cluster_size > 0 ? p->max_cluster_size : n + 1;
    if (!p->leaf) {
        for (int64_t c = nc - 1; c >= lowest; c--) {
            float sub = 0.0f;
            int64_t size = c ? in.size[c] : 0;
            for (int e = 0; e < 2; e++) {
                int64_t ch = in.child[2 * c + e];
                if (ch < 0) continue;
                sub = (float)((double)sub + stab[ch]);
                if (!c) size += in.size[ch]; /* the root's size: its children's */
            }
            double eps = c ? 1.0 / in.birth[c] : root_eps;
            if ((double)sub > stab[c] || size > max_size || eps > p->epsilon_max) {
                cand[c] = 0;
                stab[c] = (double)sub;
            } else {
                deselect_below(&in, cand, stack, c);
            }
        }
        if (p->epsilon != 0.0 && nc > 1) {
            int64_t count = 0;
            for (int64_t c = 0; c < nc; c++) count += cand[c];
            if (count == 1 && cand[0]) {
                /* only the root: kept (it is a candidate only when allowed) */
                memcpy(selected, cand, (size_t)nc);
            } else {
                epsilon_search(&in, p, cand, selected);
            }
        } else {
            memcpy(selected, cand, (size_t)nc);
        }
    } else {
        for (int64_t c = 1; c < nc; c++) leaves[c] = in.child[2 * c] < 0; /* none if nc == 1 */
        if (p->epsilon != 0.0)
            epsilon_search(&in, p, leaves, selected);
        else
            memcpy(selected, leaves, (size_t)nc);
    }
    for (int64_t c = 0; c < lowest; c++) selected[c] = 0; /* outside node_list */
done:
    free(in.parent), free(in.child), free(in.birth), free(in.size), free(stab), free(stack),
        free(cand), free(leaves);
    return st;
}
