/*
 * polca/cluster.h - HDBSCAN, clustering of loss trajectories, breakthroughs
 * and scoring of clusters against labels (paper sections 3.3, 3.4, 4, 5).
 *
 * Threads: as everywhere in libpolca, a context and its handles are used by
 * one thread at a time; the calls below use the context's "threads" (or all
 * CPUs) internally.
 */
#ifndef POLCA_CLUSTER_H
#define POLCA_CLUSTER_H

#include "polca/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- HDBSCAN ------------------------------------------------------------ */
/*
 * Clusters n points of dimension d under the Euclidean metric with HDBSCAN,
 * giving the labels, probabilities and outlier scores of the hdbscan Python
 * package (scikit-learn-contrib/hdbscan 0.8.4x, prims path), point for point.
 *
 * Options (NULL: all defaults), with the package's names and meanings:
 *   "min_cluster_size"         int     >= 2, default 5.
 *   "min_samples"              int     >= 1, default min_cluster_size. The
 *                              neighbours that define a point's core
 *                              distance, NOT counting the point itself (the
 *                              package's convention; scikit-learn's HDBSCAN
 *                              counts it). Values above n - 1 act as n - 1.
 *   "alpha"                    double  > 0, default 1: mutual reachability is
 *                              max(core_a, core_b, distance / alpha).
 *   "cluster_selection_method" string  "eom" (excess of mass, default) or
 *                              "leaf".
 *   "cluster_selection_epsilon"     double >= 0, default 0.
 *   "cluster_selection_epsilon_max" double >= epsilon, default infinity.
 *   "allow_single_cluster"     int     0 (default) or 1.
 *   "max_cluster_size"         int     >= 0, default 0 = no limit (eom only).
 *
 * x:              in: [n][d] row-major float32, n >= 2, d >= 1, all finite
 *                 (else POLCA_ERR_NOT_FINITE naming the element). Borrowed
 *                 for the call only.
 * labels:         out: [n], cluster 0, 1, ... numbered as the package
 *                 numbers them, -1 for noise. Caller-owned; required.
 * probabilities:  out: [n] membership strength in [0, 1] (0 for noise), or
 *                 NULL.
 * outlier_scores: out: [n] GLOSH scores in [0, 1], or NULL.
 * n_clusters:     out: number of clusters, or NULL.
 * Outputs are untouched on failure.
 *
 * Ties: among spanning-tree edges of equal weight the package's order is
 * numpy's unstable sort; ours keeps them in the order Prim's algorithm found
 * them. Duplicate points (more than min_samples identical points) give
 * infinite densities: labels and probabilities stay the package's; where the
 * package's outlier score is NaN (inf/inf) we return its limit, 1.
 * Cost: O(n^2) cheap 16-dimensional bound evaluations plus exact
 * d-dimensional distances for the pairs the bounds cannot decide (a few
 * percent on trajectories, up to all pairs on structureless data), spread
 * over the context's threads; memory O(16 n) plus candidate lists of at most
 * 2M entries: no n x n matrix (docs/clustering.md). Progress stages
 * "hdbscan core distances" and "hdbscan spanning tree"; the progress
 * callback can cancel (POLCA_ERR_CANCELLED).
 */
POLCA_API int32_t polca_hdbscan(polca_context *ctx, int64_t n, int64_t d, const float *x,
                                const polca_options *options, int32_t *labels,
                                float *probabilities, float *outlier_scores,
                                int32_t *n_clusters);

/* ---- Clustering trajectories -------------------------------------------- */
/*
 * A clustering of loss trajectories: for each of K directions, the samples
 * kept by a filter, clustered with HDBSCAN on their trajectories; plus each
 * cluster's members, medoid, mean trajectory, breakthrough onset and
 * hidden-breakthrough flag (paper eq. 9 and 10).
 *
 * The same call serves POLCA and every baseline:
 *   POLCA / first-order POLCA / LCA: K directions of projected losses
 *       L_{i,k}(t), t = 0..T (L(0) = 0), filter "decrease" (default);
 *   exact loss [N][T+1], change in exact loss [N][T], Fisher [N][T+1] or
 *       [K][N][T+1]: K = 1 (or K), usually with filter "none".
 */
typedef struct polca_clustering polca_clustering;

/*
 * k, n, t:      directions, samples, columns per trajectory (t >= 3).
 * trajectories: in: [k][n][t] float32, finite; copied as needed, borrowed
 *               for the call only.
 * t1:           number of checkpoints, >= t. Column j of a trajectory is
 *               taken to be checkpoint j + (t1 - t): arrays with one column
 *               per interval (change in exact loss) end at the last
 *               checkpoint. Onsets and the plateau are checkpoint indices.
 * exact_loss:   in: [n][t1] float32, the exact loss of every sample at every
 *               checkpoint, finite; only used to find the plateau tau. May
 *               be NULL when the option "plateau" is set.
 * Options (NULL: defaults):
 *   every polca_hdbscan option, with two different defaults (the paper's):
 *   "min_cluster_size"     default 150;
 *   "min_samples"          default: the number of samples clustered in that
 *                          direction divided by "min_samples_divisor"
 *                          (integer division, at least 1);
 *   "min_samples_divisor"  int >= 1, default 15.
 *   "filter"       string  "decrease" (default): keep sample i in direction k
 *                          when its last value is < 0 (projected losses start
 *                          at 0, so this is an overall decrease);
 *                          "net_decrease": last value < first value;
 *                          "none": keep every sample.
 *   "smoothing"    int     odd width w >= 1 of the centred moving average
 *                          applied before eq. 9 (default 1 = none). Near the
 *                          ends the window shrinks to the columns present.
 *   "onset_of"     string  "trajectory" (default): eq. 9 on the clustered
 *                          curve; "cumsum": on its running sum (for arrays
 *                          of per-interval changes).
 *   "plateau"      double  tau, a checkpoint index, given by the host. Unset:
 *                          detected from the exact loss as below.
 *   "plateau_epsilon" double in (0, 1), default 0.05.
 *   "plateau_over" string  "all" (default): one tau from the mean exact loss
 *                          over all n samples (the paper's Figure 7 curve);
 *                          "members": each cluster's own tau from the mean
 *                          exact loss of its members.
 *   "medoid"       string  "squared" (default): the member with the least sum
 *                          of squared Euclidean distances to the members
 *                          (the member closest to the mean), O(m t);
 *                          "euclidean": least sum of distances, O(m^2 t).
 *   "normalize"    string  "none" (default, the paper's): HDBSCAN clusters
 *                          the trajectories as given. "unit": it clusters
 *                          each trajectory divided by its Euclidean norm (a
 *                          zero trajectory stays zero), i.e. by shape alone;
 *                          for projected losses whose sizes span orders of
 *                          magnitude, where a dense core near zero and a
 *                          diffuse tail hide every cluster. Members' means,
 *                          medoids and onsets still use the trajectories as
 *                          given.
 *   "cluster_onset" string "mean" (default, the paper's eq. 10): a cluster's
 *                          onset is the mean of its members' onsets;
 *                          "median": their median (for an even count, the
 *                          mean of the two middle values, as numpy.median);
 *                          "mean_curve": eq. 9 on the cluster's mean
 *                          trajectory (polca_clustering_mean), with
 *                          "smoothing", "onset_of" and the checkpoint
 *                          offset as for the members.
 *
 * Definitions (docs/clustering.md has the long form):
 *   onset of a curve f (eq. 9): s = f smoothed; t* = the earliest argmax over
 *       1 <= j <= t-2 of -(s[j+1] - 2 s[j] + s[j-1]); reported as checkpoint
 *       j + (t1 - t).
 *   cluster onset: mean of its members' onsets ("cluster_onset" above).
 *   plateau tau: with m(u) the mean exact loss at checkpoint u and
 *       D = |m(0) - m(t1-1)|, the first checkpoint u such that
 *       |m(v) - m(t1-1)| <= eps D for every v >= u.
 *   hidden breakthrough (eq. 10): cluster onset > tau.
 * Clusters are numbered direction by direction, then in HDBSCAN's order.
 * out: receives the handle; untouched on failure.
 *
 * Collective when the context has a communicator of more than one rank
 * (polca/comm.h, docs/scaling.md#clustering): every rank makes the call
 * with the same arguments and options, whole arrays included. The
 * directions are split between the ranks, each clustered whole by one rank
 * (the costliest first, each to the least loaded rank, the cost taken as
 * the square of the samples it clusters); the ranks then exchange their
 * directions' results, so every rank returns the whole clustering, every
 * getter below giving bit for bit what one process gives. Arguments that
 * differ from rank 0's (checksums of the arrays and options), a local
 * failure (bad options, a NaN, a cancel, memory) or a failing rank fail the
 * call on every rank with one status and one "rank R: " message. The other
 * calls of this header work on the local handle and are not collective.
 */
POLCA_API int32_t polca_clustering_create(polca_context *ctx, int64_t k, int64_t n, int64_t t,
                                          const float *trajectories, int64_t t1,
                                          const float *exact_loss,
                                          const polca_options *options,
                                          polca_clustering **out);
POLCA_API void polca_clustering_destroy(polca_clustering *clustering);

/* Shape: k directions, n samples, t columns, t1 checkpoints; total clusters.
 * Any out pointer may be NULL. */
POLCA_API int32_t polca_clustering_shape(const polca_clustering *clustering, int64_t *k,
                                         int64_t *n, int64_t *t, int64_t *t1,
                                         int64_t *n_clusters);

/* One direction's result for every sample.
 * labels:         out: [n] cluster index (global, 0..n_clusters-1), -1 for
 *                 noise, -2 for a sample the filter left out. Required (NULL
 *                 is POLCA_ERR_INVALID_ARGUMENT).
 * probabilities:  out: [n] HDBSCAN membership (0 for noise and left out), or
 *                 NULL.
 * outlier_scores: out: [n] GLOSH score (NaN for left out), or NULL.
 * onsets:         out: [n] each sample's onset in this direction (eq. 9),
 *                 checkpoint index, or NULL. */
POLCA_API int32_t polca_clustering_labels(const polca_clustering *clustering,
                                          int64_t direction, int32_t *labels,
                                          float *probabilities, float *outlier_scores,
                                          double *onsets);

/* One cluster. Any out pointer may be NULL.
 * direction: its direction; size: members; medoid: a sample index;
 * onset: the cluster's onset, by default the mean member onset
 * ("cluster_onset"; checkpoint index); plateau: the tau it is
 * compared with; hidden: 1 if onset > plateau, else 0. */
POLCA_API int32_t polca_clustering_cluster(const polca_clustering *clustering,
                                           int64_t cluster, int64_t *direction,
                                           int64_t *size, int64_t *medoid, double *onset,
                                           double *plateau, int32_t *hidden);
/* members: out: [size] sample indices, ascending, caller-owned. */
POLCA_API int32_t polca_clustering_members(const polca_clustering *clustering,
                                           int64_t cluster, int64_t *members);
/* mean: out: [t] the members' mean trajectory (accumulated in double). */
POLCA_API int32_t polca_clustering_mean(const polca_clustering *clustering, int64_t cluster,
                                        float *mean);
/* The overall plateau tau (given, or detected from all samples). */
POLCA_API int32_t polca_clustering_plateau(const polca_clustering *clustering, double *tau);
/* Fraction of all clusters (all directions) with a hidden breakthrough;
 * 0 when there is no cluster. */
POLCA_API int32_t polca_clustering_hidden_fraction(const polca_clustering *clustering,
                                                   double *fraction);

/* ---- Scoring against labels --------------------------------------------- */
/*
 * For a binary label per sample (label[n], each 0 or 1) and each cluster:
 *   homogeneity = labelled members / members;
 *   recall      = labelled members / labelled samples that belong to some
 *                 cluster of the same direction (noise and left-out samples
 *                 excluded, as in the paper's Appendix G); 0 when there are
 *                 none;
 *   f1          = harmonic mean of the two (0 when both are 0).
 * homogeneity, recall, f1: out: [n_clusters] each, or NULL.
 */
POLCA_API int32_t polca_clustering_score(const polca_clustering *clustering,
                                         const uint8_t *label, double *homogeneity,
                                         double *recall, double *f1);

/*
 * The same scores, counting only the clusters whose labelled members fall
 * mostly in given values of a second, categorical tag (the paper's Appendix
 * G: a cluster counts for the carry skill only if more than a share of its
 * carry tokens are in the 10s or 100s place; carries into the 1000s place
 * are the trivial first digit). A cluster is eligible iff it has at least
 * one labelled member and, among its labelled members,
 *     share = (those whose tag value is in allowed) / (labelled members)
 * is strictly greater than min_share (so with min_share 0.5, "more than
 * half": a share of exactly 0.5 is not eligible).
 *
 * label:       in: [n] each 0 or 1, as polca_clustering_score.
 * tag:         in: [n] int32 tag value of every sample (any values).
 * n_allowed:   >= 1, the number of entries in allowed.
 * allowed:     in: [n_allowed] the tag values that count (duplicates are
 *              harmless).
 * min_share:   in [0, 1) (NaN rejected).
 * homogeneity, recall, f1: out: [n_clusters] each, or NULL. For an eligible
 *              cluster the values polca_clustering_score gives (recall still
 *              over all labelled samples clustered in its direction); NaN
 *              for an ineligible one, so that a maximum over the finite
 *              values is the paper's restricted score.
 * share:       out: [n_clusters] the share above, NaN for a cluster without
 *              labelled members; or NULL.
 * eligible:    out: [n_clusters] 1 or 0; or NULL.
 * Outputs are untouched on failure.
 */
POLCA_API int32_t polca_clustering_score_restricted(const polca_clustering *clustering,
                                                    const uint8_t *label, const int32_t *tag,
                                                    int64_t n_allowed, const int32_t *allowed,
                                                    double min_share, double *homogeneity,
                                                    double *recall, double *f1, double *share,
                                                    int32_t *eligible);

/* best: out: [k] per direction the cluster of highest homogeneity (ties: the
 *       lower cluster index), -1 for a direction without clusters; or NULL.
 * top:  out: [n_top] the clusters of highest homogeneity over all directions,
 *       best first (ties: lower index), -1 past the last cluster; or NULL. */
POLCA_API int32_t polca_clustering_best(const polca_clustering *clustering,
                                        const uint8_t *label, int64_t *best, int64_t n_top,
                                        int64_t *top);

/*
 * Automatic label of a cluster from categorical tags (paper section 5): for
 * each tag position p, the smallest set of tag values that covers at least
 * a fraction `coverage` of the members, discarded when it needs more than
 * `max_values` values.
 * tags:     in: [n][n_positions] int32 tag values of every sample.
 * Options: "coverage" double in (0, 1], default 0.7; "max_values" int >= 1,
 *          default 2.
 * values:   out: [n_positions][max_values], the chosen values by decreasing
 *           count (ties: smaller value first), -1 in unused slots.
 * n_values: out: [n_positions], the number of values chosen, 0 when
 *           discarded.
 */
POLCA_API int32_t polca_clustering_autolabel(const polca_clustering *clustering,
                                             int64_t cluster, int64_t n_positions,
                                             const int32_t *tags, const polca_options *options,
                                             int32_t *values, int32_t *n_values);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_CLUSTER_H */
