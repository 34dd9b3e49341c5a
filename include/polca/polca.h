/*
 * polca/polca.h - the whole public API of libpolca.
 *
 * Include this one header. Each part of the library has its own header below,
 * and each of those compiles alone as C99 and as C++.
 */
#ifndef POLCA_POLCA_H
#define POLCA_POLCA_H

#include "polca/core.h"
#include "polca/comm.h"
#include "polca/model.h"
#include "polca/eigen.h"
#include "polca/basis.h"
#include "polca/checkpoints.h"
#include "polca/trajectories.h"
#include "polca/cluster.h"

#endif /* POLCA_POLCA_H */
