/*
 * src/hdbscan_mst.c - minimum spanning tree of the mutual reachability graph,
 * by Prim's algorithm exactly as the hdbscan package's prims path runs it
 * (mst_linkage_core_vector), so ties resolve the same way:
 *
 *   start at node 0; when node `cur` joins, every outside node j with
 *   MR(cur, j) = max(core_cur, core_j, d(cur, j) / alpha) < best_j (strict)
 *   takes best_j = MR and source_j = cur; the next node is the lowest index
 *   among the minima of best; the edge (source, node, best) is emitted.
 *
 * Most MR values need no distance: when max(core_cur, core_j) >= best_j the
 * update cannot happen whatever d is; when the lower bound of d already
 * reaches best_j it cannot either; when the upper bound stays below the
 * cores, MR is the larger core. Only the remaining pairs (about 0.5-2% of all
 * pairs on POLCA-like data) get an exact distance, one dispatch call per
 * step. Each decision is the one the exact distance would give, so the tree
 * is the package's, bit for bit.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "hdbscan.h"

int32_t polca__hdb_mst(const polca_context *ctx, polca__hdb_dist *dd,
                       const polca__hdb_bounds *b, const double *core, double alpha,
                       polca__hdb_edge *edges) {
    const int64_t n = b->n, n_pad = b->n_pad;
    double *best = polca__alloc((size_t)n * sizeof *best, "hdbscan mst");
    int64_t *src = polca__alloc((size_t)n * sizeof *src, "hdbscan mst");
    uint8_t *in_tree = polca__calloc((size_t)n_pad, 1, "hdbscan mst");
    int64_t *amb_j = polca__alloc((size_t)n * sizeof *amb_j, "hdbscan mst");
    double *amb_m = polca__alloc((size_t)n * sizeof *amb_m, "hdbscan mst");
    int64_t *pa = polca__alloc((size_t)n * sizeof *pa, "hdbscan mst");
    double *dist = polca__alloc((size_t)n * sizeof *dist, "hdbscan mst");
    int32_t st = POLCA_OK;
    if (!best || !src || !in_tree || !amb_j || !amb_m || !pa || !dist) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    for (int64_t j = 0; j < n; j++) best[j] = INFINITY, src[j] = 1; /* package's start */
    for (int64_t j = n; j < n_pad; j++) in_tree[j] = 1;               /* padding */
    const int scaled = alpha != 1.0;
    int64_t cur = 0;
    for (int64_t step = 1; step < n; step++) {
        in_tree[cur] = 1;
        const double cc = core[cur];
        int64_t n_amb = 0;
        for (int64_t j0 = 0; j0 < n_pad; j0 += 4) {
            int need = 0;
            for (int l = 0; l < 4; l++) {
                int64_t j = j0 + l;
                if (!in_tree[j] && (cc > core[j] ? cc : core[j]) < best[j]) need |= 1 << l;
            }
            if (!need) continue;
            double p2[4];
            polca__hdb_bounds_proj4(b, cur, j0, p2);
            for (int l = 0; l < 4; l++) {
                if (!(need >> l & 1)) continue;
                int64_t j = j0 + l;
                double m = cc > core[j] ? cc : core[j];
                double lo = polca__hdb_lower(b, p2[l]);
                if (scaled) lo /= alpha; /* rounding is monotone: still <= d / alpha */
                if (lo >= best[j]) continue;
                double hi = polca__hdb_upper(b, p2[l], cur, j);
                if (scaled) hi /= alpha;
                if (hi <= m) { /* d / alpha <= m < best_j: MR = m */
                    best[j] = m;
                    src[j] = cur;
                    continue;
                }
                amb_j[n_amb] = j;
                amb_m[n_amb++] = m;
            }
        }
        if (n_amb) {
            for (int64_t t = 0; t < n_amb; t++) pa[t] = cur;
            st = polca__hdb_dist_pairs(dd, n_amb, pa, amb_j, dist);
            if (st) goto done;
            for (int64_t t = 0; t < n_amb; t++) {
                double v = scaled ? dist[t] / alpha : dist[t];
                double mr = v > amb_m[t] ? v : amb_m[t];
                int64_t j = amb_j[t];
                if (mr < best[j]) {
                    best[j] = mr;
                    src[j] = cur;
                }
            }
        }
        double new_d = DBL_MAX;
        int64_t new_node = 0, source = 0;
        for (int64_t j = 0; j < n; j++)
            if (!in_tree[j] && best[j] < new_d) {
                new_d = best[j];
                new_node = j;
                source = src[j];
            }
        edges[step - 1] = (polca__hdb_edge){source, new_node, new_d};
        cur = new_node;
        if ((step & 1023) == 0) {
            st = polca__progress(ctx, "hdbscan spanning tree", step, n - 1, NAN);
            if (st) goto done;
        }
    }
done:
    free(best), free(src), free(in_tree), free(amb_j), free(amb_m), free(pa), free(dist);
    return st;
}
