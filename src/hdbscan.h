/*
 * src/hdbscan.h - HDBSCAN, private pieces (one file per step):
 *
 *   hdbscan_params.c    options -> parameters, with the hdbscan package's rules
 *   hdbscan_distance.c  exact pair distances through the dispatch table
 *   hdbscan_bounds.c    cheap rigorous lower/upper bounds on distances
 *   hdbscan_select_k.c  k-th smallest of an array (3-way quickselect)
 *   hdbscan_parallel.c  a small parallel-for over threads
 *   hdbscan_core.c      core distances (k-th nearest other point)
 *   hdbscan_mst.c       Prim's minimum spanning tree of mutual reachability
 *   hdbscan_linkage.c   stable edge sort + single-linkage tree
 *   hdbscan_condense.c  condensed tree
 *   hdbscan_select.c    stabilities, excess of mass / leaf, epsilon
 *   hdbscan_labels.c    labels, membership probabilities, GLOSH scores
 *   hdbscan.c           the public entry point polca_hdbscan
 *
 * /work/shared/HDBSCAN.md (and docs/design.md) say how each step follows
 * scikit-learn-contrib/hdbscan 0.8.4x, which this reproduces label for label.
 * Node numbering is the package's: points 0..n-1, single-linkage row k is
 * node n+k; condensed-tree clusters are n (the root), n+1, ...
 */
#ifndef POLCA_HDBSCAN_H
#define POLCA_HDBSCAN_H

#include <math.h>
#include <stdint.h>

#include "internal.h"

/* ---- Parameters (hdbscan_params.c) ---- */

typedef struct polca__hdb_params {
    int64_t min_cluster_size;   /* >= 2 */
    int64_t min_samples;        /* resolved: unset -> mcs, min(., n-1), 0 -> 1 */
    double alpha;               /* > 0 */
    int32_t leaf;               /* 0: excess of mass, 1: leaf */
    double epsilon;             /* cluster_selection_epsilon >= 0 */
    double epsilon_max;         /* cluster_selection_epsilon_max, default inf */
    int32_t allow_single_cluster;
    int64_t max_cluster_size;   /* 0: no limit */
} polca__hdb_params;

/* The option names polca_hdbscan accepts (ended by {NULL}); callers that
 * forward HDBSCAN options (the clustering handle) include these. */
POLCA_INTERNAL extern const polca__option_spec polca__hdb_option_names[];

/* Reads and checks the HDBSCAN options (names must already be checked
 * against a spec that includes polca__hdb_option_names). n: number of points
 * (min_samples is clamped to n-1 as the package does). Defaults when unset:
 * min_cluster_size dflt_mcs, min_samples dflt_ms (0: min_cluster_size).
 * `fn` names the caller in messages. */
POLCA_INTERNAL int32_t polca__hdb_params_read(const polca_options *options, int64_t n,
                                              int64_t dflt_mcs, int64_t dflt_ms,
                                              const char *fn, polca__hdb_params *out);
/* Checks n (2..INT32_MAX), d (>= 1), x (non-NULL, finite) of [n][d] points;
 * messages name `fn`. */
POLCA_INTERNAL int32_t polca__hdb_check_points(const char *fn, int64_t n, int64_t d,
                                               const float *x);

/* ---- Exact pair distances (hdbscan_distance.c) ---- */

typedef struct polca__hdb_dist {
    const polca_backend *be; /* backend computing the distances */
    void *state;
    int copy;          /* 1: device memory, data uploaded; 0: host pointers */
    int64_t d, ldx;
    const float *x;    /* what the entry reads: host x or the device copy */
    float *x_dev;      /* owned device copy (copy == 1) */
    int64_t *pairs_dev; /* [2][cap] device pair lists (copy == 1) */
    double *out_dev;   /* [cap] */
    int64_t cap;
} polca__hdb_dist;

/* Prepares exact distances between rows of x [n][ldx] (first d columns) on
 * the context's backend when it has the entry, else on the CPU one (host
 * memory; no copy). force_copy (tests): go through device-memory copies even
 * on the CPU backend. */
POLCA_INTERNAL int32_t polca__hdb_dist_open(polca__hdb_dist *dd, const polca_context *ctx,
                                            int64_t n, int64_t d, const float *x,
                                            int64_t ldx, int force_copy);
/* out[p] = exact distance between rows pa[p] and pb[p] (host arrays). */
POLCA_INTERNAL int32_t polca__hdb_dist_pairs(polca__hdb_dist *dd, int64_t n_pairs,
                                             const int64_t *pa, const int64_t *pb,
                                             double *out);
POLCA_INTERNAL void polca__hdb_dist_close(polca__hdb_dist *dd);

/* ---- Bounds (hdbscan_bounds.c) ----
 * Points are centred and projected on q orthonormal directions spanning most
 * of their variance (a few steps of subspace iteration). For any pair,
 * |P_i - P_j| <= |x_i - x_j| <= sqrt(|P_i - P_j|^2 + (r_i + r_j)^2), r the norm
 * of what the projection leaves out. Margins (relative `rel`, absolute `abs`)
 * cover every rounding, so lb <= exact computed distance <= ub always. */
typedef struct polca__hdb_bounds {
    int64_t n, q, n_pad; /* n_pad: n rounded up to a multiple of 4 */
    double *pt;          /* [q][n_pad] projections, transposed, padded with 0 */
    double *resid;       /* [n] residual norms, already inflated */
    double rel, abs;     /* margins */
} polca__hdb_bounds;

POLCA_INTERNAL int32_t polca__hdb_bounds_build(polca__hdb_bounds *b, int64_t n, int64_t d,
                                               const float *x, int64_t ldx);
POLCA_INTERNAL void polca__hdb_bounds_free(polca__hdb_bounds *b);
/* Squared projected distances from point i to points j0..j0+3 (j0 multiple
 * of 4, < n_pad) into out4[4]. */
POLCA_INTERNAL void polca__hdb_bounds_proj4(const polca__hdb_bounds *b, int64_t i, int64_t j0,
                                            double *out4);
/* The same for every j < n_pad: out[n_pad]. */
POLCA_INTERNAL void polca__hdb_bounds_proj_row(const polca__hdb_bounds *b, int64_t i,
                                               double *out);
/* Safe bounds from a squared projected distance. */
static inline double polca__hdb_lower(const polca__hdb_bounds *b, double proj2) {
    double v = sqrt(proj2) * (1.0 - b->rel) - b->abs;
    return v > 0.0 ? v : 0.0;
}
static inline double polca__hdb_upper(const polca__hdb_bounds *b, double proj2, int64_t i,
                                      int64_t j) {
    double r = b->resid[i] + b->resid[j];
    return sqrt(proj2 + r * r) * (1.0 + b->rel) + b->abs;
}

/* ---- Selection of the k-th smallest (hdbscan_select_k.c) ----
 * Returns the k-th smallest (k >= 1) of v[0..n-1], reordering v. */
POLCA_INTERNAL double polca__hdb_kth_smallest(double *v, int64_t n, int64_t k);
/* The same without touching v, faster when k << n; buf: [n] scratch. */
POLCA_INTERNAL double polca__hdb_kth_smallest_sampled(const double *v, int64_t n, int64_t k,
                                                      double *buf);

/* ---- Parallel for (hdbscan_parallel.c) ----
 * Calls fn(arg, thread, begin, end) on `threads` contiguous slices of
 * [0, count) at once (fewer when count is small); returns the first nonzero
 * status. */
typedef int32_t (*polca__hdb_task)(void *arg, int thread, int64_t begin, int64_t end);
POLCA_INTERNAL int32_t polca__hdb_parallel(int threads, int64_t count, polca__hdb_task fn,
                                           void *arg);
/* Threads for the core's loops: the context's "threads", else the CPUs. */
POLCA_INTERNAL int polca__hdb_threads(const polca_context *ctx);

/* ---- Core distances (hdbscan_core.c) ----
 * core[i] = distance from i to its k-th nearest other point (k = min_samples;
 * the (k+1)-th smallest distance counting 0 to itself), exact. */
POLCA_INTERNAL int32_t polca__hdb_core_distances(const polca_context *ctx,
                                                 polca__hdb_dist *dd,
                                                 const polca__hdb_bounds *b, int64_t k,
                                                 double *core);

/* ---- Minimum spanning tree (hdbscan_mst.c) ---- */

typedef struct polca__hdb_edge {
    int64_t a, b; /* a: the node already in the tree (package's "source") */
    double w;
} polca__hdb_edge;

/* Prim's algorithm from node 0 over mutual reachability
 * max(core_a, core_b, d_ab / alpha), as the package's prims path runs it:
 * edges[n-1] in the order nodes join. */
POLCA_INTERNAL int32_t polca__hdb_mst(const polca_context *ctx, polca__hdb_dist *dd,
                                      const polca__hdb_bounds *b, const double *core,
                                      double alpha, polca__hdb_edge *edges);

/* ---- Single linkage (hdbscan_linkage.c) ---- */

typedef struct polca__hdb_link {
    int64_t left, right; /* nodes merged */
    double w;
    int64_t size;
} polca__hdb_link;

/* Sorts edges by weight, ties kept in order (stable), then merges with
 * union-find into rows[n-1] (row k is node n+k). Edges are reordered. */
POLCA_INTERNAL int32_t polca__hdb_linkage(int64_t n, polca__hdb_edge *edges,
                                          polca__hdb_link *rows);

/* ---- Condensed tree (hdbscan_condense.c) ---- */

typedef struct polca__hdb_crow {
    int64_t parent, child; /* cluster ids >= n; child < n is a point */
    double lambda;         /* 1 / distance, inf for distance 0 */
    int64_t size;          /* points in child */
} polca__hdb_crow;

typedef struct polca__hdb_tree {
    int64_t n;          /* points */
    int64_t n_rows;     /* rows used */
    polca__hdb_crow *rows;
    int64_t n_clusters; /* ids n .. n + n_clusters - 1 */
} polca__hdb_tree;

POLCA_INTERNAL int32_t polca__hdb_condense(int64_t n, const polca__hdb_link *rows,
                                           int64_t min_cluster_size, polca__hdb_tree *out);
POLCA_INTERNAL void polca__hdb_tree_free(polca__hdb_tree *t);

/* ---- Selection (hdbscan_select.c) ----
 * selected[n_clusters] (index c - n) receives 1 for a selected cluster;
 * stability[n_clusters] (may be NULL) the stabilities before selection. */
POLCA_INTERNAL int32_t polca__hdb_select(const polca__hdb_tree *t, const polca__hdb_params *p,
                                         uint8_t *selected, double *stability);

/* ---- Labels (hdbscan_labels.c) ----
 * labels[n] (-1 noise), probabilities[n] and scores[n] (either may be NULL);
 * n_selected: number of clusters. */
POLCA_INTERNAL int32_t polca__hdb_labels(const polca__hdb_tree *t, const polca__hdb_params *p,
                                         const uint8_t *selected, int32_t *labels,
                                         double *probabilities, double *scores,
                                         int64_t *n_selected);

/* ---- The whole pipeline (hdbscan.c) ----
 * Everything polca_hdbscan computes, in double, plus the intermediate products
 * tests compare with the package (core distances, MST in Prim order). Arrays
 * the caller passes NULL for are not produced. */
typedef struct polca__hdb_result {
    int32_t *labels;        /* [n] */
    double *probabilities;  /* [n] */
    double *scores;         /* [n] */
    double *core;           /* [n] */
    polca__hdb_edge *mst;   /* [n-1] Prim order */
    int64_t n_clusters;
} polca__hdb_result;

POLCA_INTERNAL int32_t polca__hdb_run(const polca_context *ctx, int64_t n, int64_t d,
                                      const float *x, int64_t ldx, const polca__hdb_params *p,
                                      int force_copy, polca__hdb_result *r);

#endif /* POLCA_HDBSCAN_H */
