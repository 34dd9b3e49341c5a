/*
 * src/hdbscan_condense.c - the condensed tree, as the package's
 * condense_tree(): walk the single-linkage nodes breadth first from the root
 * (left child before right), skipping nodes inside subtrees already dropped;
 * lambda = 1 / distance (inf at distance 0). With subtree sizes L and R:
 *   both >= min_cluster_size: two new clusters, left first (next ids);
 *   both smaller: every point of both sides falls out of the parent at lambda
 *                 (left subtree first, each in breadth-first order);
 *   one side small: its points fall out at lambda, the other side keeps the
 *                 parent's id.
 * The root is cluster n; new ids count up from n + 1.
 */
#include <stdlib.h>
#include <string.h>

#include "hdbscan.h"

typedef struct state {
    int64_t n;
    const polca__hdb_link *rows;
    uint8_t *ignore;   /* [2n-1] */
    int64_t *queue;    /* [2n-1] scratch for subtree walks */
    polca__hdb_tree *t;
} state;

static void emit(polca__hdb_tree *t, int64_t parent, int64_t child, double lambda,
                 int64_t size) {
    t->rows[t->n_rows++] = (polca__hdb_crow){parent, child, lambda, size};
}

/* Every point under `top`, breadth first, falls out of `parent` at lambda;
 * every node under `top` is marked to be skipped. */
static void drop_subtree(state *s, int64_t top, int64_t parent, double lambda) {
    int64_t head = 0, tail = 0;
    s->queue[tail++] = top;
    while (head < tail) {
        int64_t v = s->queue[head++];
        s->ignore[v] = 1;
        if (v < s->n) {
            emit(s->t, parent, v, lambda, 1);
        } else {
            s->queue[tail++] = s->rows[v - s->n].left;
            s->queue[tail++] = s->rows[v - s->n].right;
        }
    }
}

int32_t polca__hdb_condense(int64_t n, const polca__hdb_link *rows, int64_t mcs,
                            polca__hdb_tree *t) {
    memset(t, 0, sizeof *t);
    const int64_t nodes = 2 * n - 1, root = 2 * n - 2;
    int64_t *order = polca__alloc((size_t)nodes * sizeof *order, "hdbscan condensed tree");
    int64_t *relabel = polca__alloc((size_t)nodes * sizeof *relabel, "hdbscan condensed tree");
    state s = {n, rows, polca__calloc((size_t)nodes, 1, "hdbscan condensed tree"),
               polca__alloc((size_t)nodes * sizeof(int64_t), "hdbscan condensed tree"), t};
    t->rows = polca__alloc((size_t)(2 * n) * sizeof *t->rows, "hdbscan condensed tree");
    if (!order || !relabel || !s.ignore || !s.queue || !t->rows) {
        free(order), free(relabel), free(s.ignore), free(s.queue);
        polca__hdb_tree_free(t);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    t->n = n;
    /* Breadth-first order of the whole hierarchy (the package's node_list). */
    int64_t head = 0, tail = 0;
    order[tail++] = root;
    while (head < tail) {
        int64_t v = order[head++];
        if (v >= n) {
            order[tail++] = rows[v - n].left;
            order[tail++] = rows[v - n].right;
        }
    }
    relabel[root] = n;
    int64_t next = n + 1;
    for (int64_t o = 0; o < nodes; o++) {
        int64_t v = order[o];
        if (v < n || s.ignore[v]) continue;
        const polca__hdb_link *r = &rows[v - n];
        double lambda = r->w > 0.0 ? 1.0 / r->w : INFINITY;
        int64_t lc = r->left >= n ? rows[r->left - n].size : 1;
        int64_t rc = r->right >= n ? rows[r->right - n].size : 1;
        if (lc >= mcs && rc >= mcs) {
            relabel[r->left] = next++;
            emit(t, relabel[v], relabel[r->left], lambda, lc);
            relabel[r->right] = next++;
            emit(t, relabel[v], relabel[r->right], lambda, rc);
        } else if (lc < mcs && rc < mcs) {
            drop_subtree(&s, r->left, relabel[v], lambda);
            drop_subtree(&s, r->right, relabel[v], lambda);
        } else if (lc < mcs) {
            relabel[r->right] = relabel[v];
            drop_subtree(&s, r->left, relabel[v], lambda);
        } else {
            relabel[r->left] = relabel[v];
            drop_subtree(&s, r->right, relabel[v], lambda);
        }
    }
    t->n_clusters = next - n;
    free(order), free(relabel), free(s.ignore), free(s.queue);
    return POLCA_OK;
}

void polca__hdb_tree_free(polca__hdb_tree *t) {
    free(t->rows);
    memset(t, 0, sizeof *t);
}
