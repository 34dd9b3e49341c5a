/*
 * polca/mpi.h - the MPI module: a polca_comm (polca/comm.h) from an MPI
 * communicator (docs/scaling.md).
 *
 * A separately built library, libpolca_mpi.so.0 (built by `make` where
 * mpicc is found), that links libpolca and the host's MPI; libpolca itself
 * links no MPI. Include this header and link with
 *     mpicc ... -lpolca_mpi -lpolca
 * The module is written against MPI-3 (nonblocking collectives) and built
 * and tested with Open MPI.
 *
 *   MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
 *   polca_comm *comm;
 *   polca_mpi_comm_create(MPI_COMM_WORLD, 0, &comm);  // collective
 *   polca_context_set_comm(ctx, comm);
 *   ... collective libpolca calls, the same on every rank ...
 *   polca_context_set_comm(ctx, NULL);
 *   polca_comm_destroy(comm);                          // before MPI_Finalize
 *   MPI_Finalize();
 *
 * The handle works on its own duplicate of the communicator (MPI_Comm_idup),
 * so libpolca's messages never mix with the host's; polca_comm_destroy
 * frees the duplicate. libpolca makes its MPI calls from the thread that
 * calls it: MPI_THREAD_FUNNELED suffices when that is the main thread,
 * otherwise initialize MPI with at least MPI_THREAD_SERIALIZED.
 *
 * Timeouts. MPI's blocking collectives wait forever for a rank that never
 * arrives. Every operation of this communicator is a nonblocking collective
 * (MPI_Ireduce + MPI_Ibcast for the sum, MPI_Ibcast, MPI_Iallreduce +
 * MPI_Igatherv for the gather, MPI_Ibarrier), polled with MPI_Test and short
 * sleeps (at most 1 ms) until a deadline of timeout_s seconds after the
 * operation began. Past it the operation fails - the libpolca call then
 * returns POLCA_ERR_COMM with a message naming the operation and the
 * timeout - and the communicator is broken: every later operation fails at
 * once, as the ranks may now be in different calls. The host should then
 * end the job (MPI_Abort). timeout_s counts the wait for the slowest rank
 * to reach the same collective, so it must exceed the largest imbalance of
 * work between two collectives (docs/scaling.md).
 *   timeout_s > 0: that many seconds;
 *   timeout_s == 0: the environment variable POLCA_MPI_TIMEOUT (seconds,
 *   > 0) when set, else POLCA_MPI_DEFAULT_TIMEOUT.
 *
 * Sums are reduced to rank 0 and broadcast, so every rank holds the same
 * bits (MPI_Allreduce does not promise that). Counts above INT_MAX bytes
 * are split into several MPI calls.
 */
#ifndef POLCA_MPI_H
#define POLCA_MPI_H

#include <mpi.h>

#include "polca/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds a collective may wait when neither timeout_s nor POLCA_MPI_TIMEOUT
 * says otherwise. */
#define POLCA_MPI_DEFAULT_TIMEOUT 600.0

/*
 * Makes a polca_comm of comm's ranks. Collective over comm (it duplicates
 * comm, itself within the timeout). MPI must be initialized and not
 * finalized. Fails with POLCA_ERR_INVALID_ARGUMENT when out is NULL, comm is
 * MPI_COMM_NULL, MPI is not initialized (or finalized), timeout_s is
 * negative or not finite, or POLCA_MPI_TIMEOUT is not a number > 0; with
 * POLCA_ERR_COMM when the duplication fails or times out. On failure
 * polca_mpi_last_error() says why and *out is untouched.
 */
POLCA_API int32_t polca_mpi_comm_create(MPI_Comm comm, double timeout_s, polca_comm **out);

/*
 * The same from a Fortran handle (MPI_Comm_c2f; mpi4py's comm.py2f()), for
 * hosts that reach the module through a foreign-function interface.
 */
POLCA_API int32_t polca_mpi_comm_create_f(int64_t fortran_handle, double timeout_s,
                                          polca_comm **out);

/* Why the last failed polca_mpi_* call of this thread failed ("" when none
 * failed). Failures of libpolca's calls are in polca_last_error(). */
POLCA_API const char *polca_mpi_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_MPI_H */
