/*
 * src/hdbscan_core.c - core distances: for every point, the exact distance
 * to its k-th nearest other point (k = min_samples).
 *
 * For a block of rows, each row i gets from the bounds (hdbscan_bounds.c) an
 * upper bound tau_i on its core distance - the k-th smallest upper bound
 * over the other points, since at least k points lie within it - and the
 * candidates j whose lower bound is <= tau_i. Every point within the core
 * distance is a candidate, so the k-th smallest exact distance among the
 * candidates is the core distance. On POLCA-like trajectories this computes
 * about k + 10 exact distances per row instead of n - 1. The exact distances
 * of a whole block go to the dispatch table in one call.
 *
 * Memory: O(rows per block x n) for the candidate lists, bounded by
 * SLOT_BUDGET entries whatever n is.
 */
#include <stdlib.h>
#include <string.h>

#include "hdbscan.h"

#define SLOT_BUDGET ((int64_t)2 << 20) /* candidate slots per block */
#define BLOCK_MAX 256

typedef struct core_job {
    const polca__hdb_bounds *b;
    int64_t n, k, i0;
    int64_t *cand;   /* [block][n] candidate rows */
    int64_t *n_cand; /* [block] uncertain points */
    int64_t *rank;   /* [block] rank of the core distance among them */
    double *scratch; /* [threads][3][n_pad] */
} core_job;

static int32_t candidates_task(void *arg, int thread, int64_t begin, int64_t end) {
    core_job *jb = arg;
    const polca__hdb_bounds *b = jb->b;
    const int64_t n = jb->n, k = jb->k;
    double *proj2 = jb->scratch + (size_t)thread * 3 * b->n_pad;
    double *v = proj2 + b->n_pad, *buf = v + b->n_pad;
    for (int64_t r = begin; r < end; r++) {
        int64_t i = jb->i0 + r;
        polca__hdb_bounds_proj_row(b, i, proj2);
        /* Both bounds grow with a squared quantity (lower: proj2, upper:
         * proj2 + (r_i + r_j)^2): select on those, no square root per pair.
         * lo_k = the k-th smallest lower bound <= core <= hi_k = the k-th
         * smallest upper bound. */
        double keep = proj2[i];
        proj2[i] = INFINITY; /* not its own neighbour */
        double lo_k = polca__hdb_lower(b, polca__hdb_kth_smallest_sampled(proj2, n, k, buf));
        proj2[i] = keep;
        const double ri = b->resid[i];
        for (int64_t j = 0; j < n; j++) {
            double rr = ri + b->resid[j];
            v[j] = proj2[j] + rr * rr;
        }
        v[i] = INFINITY;
        double hi_k = sqrt(polca__hdb_kth_smallest_sampled(v, n, k, buf)) * (1.0 + b->rel) + b->abs;
        /* below: upper < lo_k, surely nearer than the core distance;
         * above: lower > hi_k, surely farther. Compared in squares with slack
         * towards "uncertain", which only costs an exact distance. */
        double t_below = (lo_k - b->abs) / (1.0 + b->rel);
        t_below = t_below > 0.0 ? t_below * t_below * (1.0 - 1e-12) : -1.0;
        double t_above = (hi_k + b->abs) / (1.0 - b->rel);
        t_above = t_above * t_above * (1.0 + 1e-12);
        int64_t *cand = jb->cand + r * n, c = 0, below = 0;
        for (int64_t j = 0; j < n; j++) {
            int is_below = v[j] < t_below, is_above = proj2[j] > t_above;
            below += is_below;
            cand[c] = j;
            c += !is_below & !is_above & (j != i);
        }
        jb->n_cand[r] = c;
        jb->rank[r] = k - below;
    }
    return POLCA_OK;
}

/* Grows a buffer to hold `need` elements of `size` bytes; NULL (buffer kept
 * in *p) when memory runs out. */
static void *grow(void **p, int64_t *cap, int64_t need, size_t size) {
    if (need < 1) need = 1;
    if (need <= *cap) return *p;
    int64_t c = need + need / 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return NULL;
    *p = q;
    *cap = c;
    return q;
}

int32_t polca__hdb_core_distances(const polca_context *ctx, polca__hdb_dist *dd,
                                  const polca__hdb_bounds *b, int64_t k, double *core) {
    const int64_t n = b->n;
    int threads = polca__hdb_threads(ctx);
    int64_t block = SLOT_BUDGET / n;
    if (block > BLOCK_MAX) block = BLOCK_MAX;
    if (block < 1) block = 1;
    core_job jb = {b, n, k, 0, NULL, NULL, NULL, NULL};
    jb.cand = polca__alloc((size_t)(block * n) * sizeof *jb.cand, "hdbscan core (candidates)");
    jb.n_cand = polca__alloc((size_t)block * sizeof *jb.n_cand, "hdbscan core");
    jb.rank = polca__alloc((size_t)block * sizeof *jb.rank, "hdbscan core");
    jb.scratch = polca__alloc((size_t)threads * 3 * (size_t)b->n_pad * sizeof *jb.scratch,
                              "hdbscan core (scratch)");
    void *buf_a = NULL, *buf_b = NULL, *buf_d = NULL;
    int64_t *pa = NULL, *pb = NULL;
    double *dist = NULL;
    int64_t cap_a = 0, cap_b = 0, cap_d = 0;
    int32_t st = jb.cand && jb.n_cand && jb.rank && jb.scratch ? POLCA_OK : POLCA_ERR_OUT_OF_MEMORY;
    for (int64_t i0 = 0; !st && i0 < n; i0 += block) {
        int64_t rows = n - i0 < block ? n - i0 : block;
        jb.i0 = i0;
        st = polca__hdb_parallel(threads, rows, candidates_task, &jb);
        if (st) break;
        int64_t total = 0;
        for (int64_t r = 0; r < rows; r++) total += jb.n_cand[r];
        pa = grow(&buf_a, &cap_a, total, sizeof *pa);
        pb = grow(&buf_b, &cap_b, total, sizeof *pb);
        dist = grow(&buf_d, &cap_d, total, sizeof *dist);
        if (!pa || !pb || !dist) {
            st = polca__fail(POLCA_ERR_OUT_OF_MEMORY,
                             "hdbscan core distances: out of memory for %lld pairs",
                             (long long)total);
            break;
        }
        int64_t p = 0;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < jb.n_cand[r]; c++, p++) {
                pa[p] = i0 + r;
                pb[p] = jb.cand[r * n + c];
            }
        st = polca__hdb_dist_pairs(dd, total, pa, pb, dist);
        if (st) break;
        p = 0;
        for (int64_t r = 0; r < rows; r++) {
            if (jb.rank[r] < 1 || jb.n_cand[r] < jb.rank[r]) {
                st = polca__fail(POLCA_ERR_INTERNAL,
                                 "hdbscan core distances: point %lld has %lld uncertain "
                                 "neighbours for rank %lld",
                                 (long long)(i0 + r), (long long)jb.n_cand[r],
                                 (long long)jb.rank[r]);
                break;
            }
            core[i0 + r] = polca__hdb_kth_smallest(dist + p, jb.n_cand[r], jb.rank[r]);
            p += jb.n_cand[r];
        }
        if (!st) st = polca__progress(ctx, "hdbscan core distances", i0 + rows, n, NAN);
    }
    free(jb.cand), free(jb.n_cand), free(jb.rank), free(jb.scratch), free(buf_a), free(buf_b), free(buf_d);
    return st;
}
