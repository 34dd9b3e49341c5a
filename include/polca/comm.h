/*
 * polca/comm.h - work spread over processes: a communicator the host
 * supplies (docs/scaling.md).
 *
 * libpolca links no MPI, so its ABI does not depend on which MPI the host
 * has. The host describes its communicator by a small table of collective
 * operations (polca_comm_ops); libpolca wraps it in a polca_comm handle and,
 * once it is set on a context, the calls that know how to share work do so
 * over its ranks:
 *   - polca_trajectories_create: checkpoint intervals are spread over the
 *     ranks (each reads only the checkpoints it needs); every rank ends
 *     with the whole result, bit for bit the single-process one when every
 *     rank computes with the same backend and thread count;
 *   - polca_basis_create_hessian (and _scaled): data-parallel Hessian-vector
 *     products (each rank a shard of the sequences, a sum over ranks of the
 *     P-vector), so the eigensolver runs unchanged on every rank and every
 *     rank holds the same basis; it equals the single-process basis up to
 *     float rounding (the sum is taken in another order);
 *   - polca_clustering_create: directions are spread over the ranks; every
 *     rank ends with every label, identical to one process.
 * Every other call ignores the communicator and works on its own rank.
 *
 * The calls above are collective: every rank of the communicator must make
 * the same call with the same arguments (the same files, options and
 * handles of the same content). A failure on any rank fails the call on
 * every rank with one status and one message, "rank R: ...", from the lowest
 * failing rank. When the communicator itself fails (a collective returns
 * nonzero: a rank died, a timeout), the call returns POLCA_ERR_COMM; the
 * host should then abort the job (MPI_Abort), as the ranks may be in
 * different calls.
 *
 * The MPI module (libpolca_mpi.so, polca/mpi.h) builds a polca_comm from an
 * MPI communicator, with timeouts on every collective; Python accepts an
 * mpi4py communicator (docs/python.md).
 */
#ifndef POLCA_COMM_H
#define POLCA_COMM_H

#include "polca/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct polca_comm polca_comm;

/*
 * The host's collectives. Every operation is collective (called by all
 * ranks in the same order), returns 0 on success and nonzero on failure
 * (then libpolca fails with POLCA_ERR_COMM; message_out, when the host fills
 * it, says why). Byte counts are int64.
 *   struct_size:  sizeof(polca_comm_ops) as the host compiled it.
 *   user:         passed to every operation.
 *   rank, size:   this process' rank in 0..size-1; size >= 1.
 *   allreduce_sum_f64: data[count] <- the element-wise sum over ranks,
 *                 identical on every rank.
 *   broadcast:    data[bytes] <- root's data[bytes] on every rank.
 *   gather:       root receives every rank's send[send_bytes], in rank
 *                 order, one after the other in recv; recv_bytes[size]
 *                 gives each rank's count (significant on root only, where
 *                 recv holds their sum). recv is ignored on other ranks.
 *   barrier:      returns when every rank has called it.
 *   destroy:      releases user; may be NULL. Called by polca_comm_destroy.
 * message_out: where the host may write a reason (at most message_len
 * bytes, NUL-terminated); may be left untouched.
 */
typedef struct polca_comm_ops {
    uint32_t struct_size;
    void *user;
    int32_t rank;
    int32_t size;
    int32_t (*allreduce_sum_f64)(void *user, double *data, int64_t count, char *message_out,
                                 size_t message_len);
    int32_t (*broadcast)(void *user, void *data, int64_t bytes, int32_t root,
                         char *message_out, size_t message_len);
    int32_t (*gather)(void *user, const void *send, int64_t send_bytes, void *recv,
                      const int64_t *recv_bytes, int32_t root, char *message_out,
                      size_t message_len);
    int32_t (*barrier)(void *user, char *message_out, size_t message_len);
    void (*destroy)(void *user);
} polca_comm_ops;

/*
 * Wraps the host's operations (copied; `user` is kept). Fails with
 * POLCA_ERR_INVALID_ARGUMENT when ops is NULL, struct_size is smaller than
 * this header's first version, an operation is NULL, size < 1 or rank is
 * out of 0..size-1.
 * out: receives the handle; untouched on failure.
 */
POLCA_API int32_t polca_comm_create(const polca_comm_ops *ops, polca_comm **out);
/* Calls ops->destroy(user) when set, then frees the handle. NULL: no-op.
 * Unset it from every context first (polca_context_set_comm(ctx, NULL)). */
POLCA_API void polca_comm_destroy(polca_comm *comm);
/* This process' rank and the communicator's size; either may be NULL. */
POLCA_API int32_t polca_comm_rank(const polca_comm *comm, int32_t *out_rank, int32_t *out_size);

/*
 * Collective: every rank passes its own status (POLCA_OK, or the status of
 * a call that failed on this rank, whose message polca_last_error() still
 * holds); every rank gets back the status of the lowest failing rank, with
 * its message as this thread's last error, "rank R: ..." (POLCA_OK when
 * none failed). Hosts call it where ranks can fail apart before a
 * collective call - after each rank opened its inputs, say - so that no
 * rank waits in a collective call for one that gave up. comm NULL (or of
 * size 1) returns status unchanged. A failing communicator: POLCA_ERR_COMM.
 */
POLCA_API int32_t polca_comm_agree(polca_comm *comm, int32_t status);

/*
 * Sets the communicator the context's collective calls share their work
 * over (NULL: this process alone, the default). The context borrows comm:
 * it must stay alive while it is set. A communicator of size 1 behaves as
 * NULL.
 */
POLCA_API int32_t polca_context_set_comm(polca_context *ctx, polca_comm *comm);
/* The communicator set on the context, or NULL. */
POLCA_API int32_t polca_context_comm(const polca_context *ctx, polca_comm **out_comm);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_COMM_H */
