/*
 * src/comm.h - private helpers over the host's communicator (polca/comm.h).
 *
 * Every helper here is collective when the context has a communicator of
 * size > 1 and a no-op (or a plain copy) otherwise, so a collective call
 * reads the same for one process and for many. Failures of the host's
 * operations become POLCA_ERR_COMM naming the operation and `what`.
 */
#ifndef POLCA_COMM_PRIVATE_H
#define POLCA_COMM_PRIVATE_H

#include "internal.h"

#define POLCA_MAGIC_COMM 0x4d4d4350u /* "PCMM" */

struct polca_comm {
    polca__head head;
    polca_comm_ops ops;
};

/* Rank and size of the context's communicator: 0 and 1 without one. */
POLCA_INTERNAL int32_t polca__comm_rank(const polca_context *ctx);
POLCA_INTERNAL int32_t polca__comm_size(const polca_context *ctx);

/* Every rank passes its own status; every rank gets back the status of the
 * lowest failing rank (POLCA_OK when none failed) with that rank's message,
 * prefixed "rank R: ". The one point where ranks learn of each other's
 * failures: a collective call agrees after each phase that can fail, so no
 * rank waits in a later collective for a rank that gave up. */
POLCA_INTERNAL int32_t polca__comm_agree(const polca_context *ctx, int32_t status);

/* data[count] <- the sum over ranks (in place). */
POLCA_INTERNAL int32_t polca__comm_allreduce_sum(const polca_context *ctx, double *data,
                                                 int64_t count, const char *what);
/* data[bytes] <- root's. */
POLCA_INTERNAL int32_t polca__comm_broadcast(const polca_context *ctx, void *data, int64_t bytes,
                                             int32_t root, const char *what);
/* Root receives every rank's send[send_bytes] in rank order in recv;
 * recv_bytes[size] (root only) are the counts. Without a communicator it
 * copies send to recv. */
POLCA_INTERNAL int32_t polca__comm_gather(const polca_context *ctx, const void *send,
                                          int64_t send_bytes, void *recv,
                                          const int64_t *recv_bytes, int32_t root,
                                          const char *what);
/* gather to rank 0, then a broadcast of the whole: every rank's recv holds
 * every rank's send, in rank order. recv_bytes[size] on every rank. */
POLCA_INTERNAL int32_t polca__comm_allgather(const polca_context *ctx, const void *send,
                                             int64_t send_bytes, void *recv,
                                             const int64_t *recv_bytes, const char *what);

/* Every rank's inputs must be rank 0's: hashes[n] of this rank's arguments
 * (names[n] name them) against rank 0's, broadcast. A difference fails
 * this rank only, naming the first argument, "<fn>: argument 'X' differs
 * from rank 0's"; agree afterwards. POLCA_ERR_COMM: the broadcast failed. */
POLCA_INTERNAL int32_t polca__comm_same_as_rank0(const polca_context *ctx, const uint64_t *hashes,
                                                 const char *const *names, int n,
                                                 const char *fn);

/* The share of n items that rank `rank` of `size` takes: [*lo, *hi),
 * contiguous, in rank order, sizes differing by at most one (the first
 * n % size ranks take one more). */
POLCA_INTERNAL void polca__comm_share(int64_t n, int32_t size, int32_t rank, int64_t *lo,
                                      int64_t *hi);

#endif /* POLCA_COMM_PRIVATE_H */
