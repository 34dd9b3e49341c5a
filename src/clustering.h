/*
 * src/clustering.h - the polca_clustering handle (clustering.c), its
 * breakthrough arithmetic (clustering_onset.c) and scoring
 * (clustering_score.c). Private.
 */
#ifndef POLCA_CLUSTERING_H
#define POLCA_CLUSTERING_H

#include <stdint.h>

#include "internal.h"

#define POLCA_MAGIC_CLUSTERING 0x554c4350u /* "PCLU" */

struct polca_clustering {
    polca__head head;
    int64_t k, n, t, t1;
    int32_t *labels;  /* [k][n] global cluster, -1 noise, -2 left out by the filter */
    float *prob;      /* [k][n] */
    float *score;     /* [k][n] NaN when left out */
    double *onset;    /* [k][n] each sample's onset, checkpoint index */
    double tau;       /* overall plateau */
    int64_t n_clusters;
    /* per cluster c, numbered direction by direction: */
    int64_t *dir, *size, *medoid;
    int64_t *member_off; /* [n_clusters + 1] into members */
    int64_t *members;    /* ascending sample indices per cluster */
    float *mean;         /* [n_clusters][t] */
    double *c_onset, *c_tau;
    int32_t *hidden;
};

/* Onset of a breakthrough (paper eq. 9) in the curve f[t] (t >= 3): f, or
 * its running sum when `cumsum`, smoothed by a centred moving average of odd
 * width w (the window shrinks at the ends), then the earliest argmax over
 * 1 <= j <= t-2 of -(s[j+1] - 2 s[j] + s[j-1]). Column index; `work` is
 * [2t + 1] doubles of scratch. */
POLCA_INTERNAL int64_t polca__onset(const float *f, int64_t t, int64_t w, int cumsum,
                                    double *work);
/* Plateau of a curve m[t1] (docs/method.md#the-plateau): with
 * D = |m[0] - m[t1-1]|, the first index u such that |m[v] - m[t1-1]| <= eps D
 * for every v >= u. */
POLCA_INTERNAL double polca__plateau(const double *m, int64_t t1, double eps);

/* ---- Directions spread over the ranks (clustering_comm.c) ---- */

/* Checksums of polca_clustering_create's arguments, one per argument:
 * k, n, t, t1, trajectories, exact_loss, options. */
#define POLCA__CLUSTERING_PRINT 7

/* Collective: fails on every rank (POLCA_ERR_INVALID_ARGUMENT, "rank R:
 * ... differs from rank 0's") when some rank's checksums are not rank 0's. */
POLCA_INTERNAL int32_t polca__clustering_same_everywhere(const polca_context *ctx,
                                                         const uint64_t *print);
/* owner[k]: the rank of `size` that clusters each direction, from the
 * number of samples count[k] each one clusters (cost ~ count^2 + n): the
 * costliest first, each to the least loaded rank (ties: the lower one).
 * The same on every rank for the same counts. */
POLCA_INTERNAL int32_t polca__clustering_owners(int64_t k, int64_t n, const int64_t *count,
                                                int32_t size, int32_t *owner);
/* Collective: *c holds this rank's directions (owner[dir] == rank), their
 * clusters starting at dir_first[dir], dir_nc[dir] of them, in ascending
 * direction order. Replaces *c by the whole clustering, every direction,
 * clusters numbered direction by direction as one process numbers them;
 * members are left to the caller. On failure *c is kept, to destroy. */
POLCA_INTERNAL int32_t polca__clustering_combine(polca_context *ctx, polca_clustering **c,
                                                 const int32_t *owner, const int64_t *dir_first,
                                                 const int64_t *dir_nc);

#endif /* POLCA_CLUSTERING_H */
