/* src/cpu/distance.h - the CPU backend's exact pair distances (distance.c).
 * Private. */
#ifndef POLCA_CPU_DISTANCE_H
#define POLCA_CPU_DISTANCE_H

#include <stdint.h>

#include "../internal.h"

/* polca_backend.distance_pairs on host memory (see src/backend.h). `state`
 * is unused, so the core may call it with NULL on a context whose backend
 * lacks the entry. */
POLCA_INTERNAL int32_t polca__cpu_distance_pairs(void *state, int64_t d, const float *x,
                                                 int64_t ldx, int64_t n_pairs,
                                                 const int64_t *pair_a,
                                                 const int64_t *pair_b, double *out);
/* Tests: 1 forces the scalar path (to compare its bits with the AVX2 one). */
POLCA_INTERNAL void polca__cpu_distance_force_scalar(int on);

#endif
