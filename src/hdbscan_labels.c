/*
 * src/hdbscan_labels.c - labels, membership probabilities and GLOSH outlier
 * scores from the condensed tree and the selected clusters, as the package's
 * do_labelling(), get_probabilities() and outlier_scores() (0.8.42+).
 *
 * Labels: selected cluster ids in ascending order become 0, 1, ...; a point
 * takes the label of the nearest selected ancestor of the cluster it fell out
 * of (that cluster included), else -1. With allow_single_cluster and the root
 * as the only selection, a point keeps label 0 only if it fell out at the
 * root's largest lambda (or at lambda >= 1/epsilon when epsilon > 0).
 *
 * Probability of a point in selected cluster C, M the largest lambda of C's
 * own rows: 1 if M = 0 or the point's lambda is inf, else min(lambda, M) / M.
 *
 * GLOSH: D(c) = largest lambda of c's own rows, propagated up so a parent
 * holds the largest of its descendants; score = (D(P) - lambda) / D(P) for
 * the point's parent P, 0 when D(P) = 0 or lambda = inf. Our one departure:
 * when D(P) = inf (more than min_samples identical points below P) and lambda
 * is finite, the package computes inf/inf = NaN; we return the limit 1,
 * consistent with the probability min(lambda, inf)/inf = 0 it gives the same
 * point.
 */
#include <stdlib.h>
#include <string.h>

#include "hdbscan.h"

int32_t polca__hdb_labels(const polca__hdb_tree *t, const polca__hdb_params *p,
                          const uint8_t *selected, int32_t *labels, double *prob,
                          double *scores, int64_t *n_selected) {
    const int64_t n = t->n, nc = t->n_clusters;
    int64_t *rank = polca__alloc((size_t)nc * sizeof *rank, "hdbscan labels");
    int64_t *by_rank = polca__alloc((size_t)nc * sizeof *by_rank, "hdbscan labels");
    int64_t *top = polca__alloc((size_t)nc * sizeof *top, "hdbscan labels");
    int64_t *parent = polca__alloc((size_t)nc * sizeof *parent, "hdbscan labels");
    double *death = polca__calloc((size_t)nc, sizeof *death, "hdbscan labels");
    if (!rank || !by_rank || !top || !parent || !death) {
        free(rank), free(by_rank), free(top), free(parent), free(death);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    int64_t count = 0;
    for (int64_t c = 0; c < nc; c++) {
        rank[c] = selected[c] ? count : -1;
        if (selected[c]) by_rank[count++] = c;
    }
    parent[0] = -1;
    for (int64_t r = 0; r < t->n_rows; r++) {
        const polca__hdb_crow *row = &t->rows[r];
        int64_t par = row->parent - n;
        if (row->lambda > death[par]) death[par] = row->lambda;
        if (row->child >= n) parent[row->child - n] = par;
    }
    /* Nearest selected ancestor-or-self; parents have smaller ids. */
    for (int64_t c = 0; c < nc; c++)
        top[c] = selected[c] || c == 0 ? c : top[parent[c]];
    const int single_root = selected[0] && count == 1 && p->allow_single_cluster;
    for (int64_t r = 0; r < t->n_rows; r++) {
        const polca__hdb_crow *row = &t->rows[r];
        if (row->child >= n) continue;
        int64_t c = top[row->parent - n];
        int32_t label = -1;
        if (c != 0) {
            label = (int32_t)rank[c];
        } else if (single_root) {
            double need = p->epsilon != 0.0 ? 1.0 / p->epsilon : death[0];
            label = row->lambda >= need ? 0 : -1;
        }
        labels[row->child] = label;
        if (prob) {
            double v = 0.0;
            if (label >= 0) {
                double m = death[by_rank[label]];
                if (m == 0.0 || !isfinite(row->lambda))
                    v = 1.0;
                else
                    v = (row->lambda < m ? row->lambda : m) / m;
            }
            prob[row->child] = v;
        }
    }
    if (scores) {
        /* Propagate the deaths upwards: rows in reverse order meet children
         * before their parents. */
        for (int64_t r = t->n_rows - 1; r >= 0; r--) {
            const polca__hdb_crow *row = &t->rows[r];
            if (row->child < n) continue;
            int64_t c = row->child - n, par = row->parent - n;
            if (death[c] > death[par]) death[par] = death[c];
        }
        for (int64_t r = 0; r < t->n_rows; r++) {
            const polca__hdb_crow *row = &t->rows[r];
            if (row->child >= n) continue;
            double m = death[row->parent - n], v;
            if (m == 0.0 || !isfinite(row->lambda))
                v = 0.0;
            else if (isinf(m))
                v = 1.0;
            else
                v = (m - row->lambda) / m;
            scores[row->child] = v;
        }
    }
    *n_selected = count;
    free(rank), free(by_rank), free(top), free(parent), free(death);
    return POLCA_OK;
}
