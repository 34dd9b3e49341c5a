/*
 * src/mpi/mpi_cli.h - what the MPI module exports for the polca tool
 * (tools/polca/mpi.c), which dlopens the module under an MPI launcher so
 * that the tool itself links no MPI. Private: not in polca/mpi.h, not part
 * of the module's stable API; the tool looks them up by name with dlsym
 * and declares the same types.
 */
#ifndef POLCA_MPI_CLI_H
#define POLCA_MPI_CLI_H

#include "polca/comm.h"

/* MPI_Init_thread (MPI_THREAD_FUNNELED). 0 or a POLCA_ERR_* status
 * (polca_mpi_last_error). */
POLCA_API int32_t polca_mpi__cli_init(int *argc, char ***argv);
/* A polca_comm over MPI_COMM_WORLD for libpolca (polca_mpi_comm_create),
 * and a second duplicate of MPI_COMM_WORLD, kept by the module, for
 * polca_mpi__cli_agree: the tool's agreement never matches one of
 * libpolca's collectives when ranks have diverged. */
POLCA_API int32_t polca_mpi__cli_world(double timeout_s, polca_comm **out);
/* Every rank passes its exit code and (when nonzero) its message; every
 * rank gets the code of the lowest rank whose code is nonzero (0 when
 * none), that rank (-1 when none) and its message. Collective over the
 * tool's duplicate, with the timeout; a failure returns POLCA_ERR_COMM. */
POLCA_API int32_t polca_mpi__cli_agree(int32_t code, const char *message, int32_t *out_code,
                                       int32_t *out_rank, char *out_message, size_t len);
/* Frees the tool's duplicate and calls MPI_Finalize. */
POLCA_API int32_t polca_mpi__cli_finalize(void);
/* MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job. */
POLCA_API void polca_mpi__cli_abort(int32_t code);

#endif /* POLCA_MPI_CLI_H */
