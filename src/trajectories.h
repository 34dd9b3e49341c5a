/* src/trajectories.h - the polca_trajectories handle (private side). */
#ifndef POLCA_TRAJECTORIES_PRIVATE_H
#define POLCA_TRAJECTORIES_PRIVATE_H

#include <stdint.h>

#include "internal.h"

#define POLCA_MAGIC_TRAJECTORIES 0x4a525450u /* "PTRJ" */
#define POLCA__TRAJ_KINDS 6                  /* POLCA_TRAJ_POLCA .. LOSS_CHANGE */

struct polca_trajectories {
    polca__head head;
    int64_t k, k_lca, n, t1;
    int32_t curvature; /* POLCA__CURV_* of the POLCA output */
    int64_t *steps;    /* [t1] */
    float *data[POLCA__TRAJ_KINDS]; /* NULL when not computed */
};

/* Shape of output `kind`: (K', N, T'). */
POLCA_INTERNAL void polca__traj_shape(const polca_trajectories *t, int32_t kind, int64_t *k,
                                      int64_t *n, int64_t *tt);
/* An empty handle with the given sizes; allocates steps, and data[kind] for
 * each kind whose bit is set in `kinds`. */
POLCA_INTERNAL int32_t polca__traj_new(polca_context *ctx, int64_t k, int64_t k_lca, int64_t n,
                                       int64_t t1, int32_t curvature, uint32_t kinds,
                                       polca_trajectories **out);

#endif
