/*
 * src/comm.c - the host's communicator (polca/comm.h): the handle, the
 * context's setting, and the private collectives of comm.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"

/* What the first version of polca_comm_ops holds: a host compiled against
 * it passes at least this struct_size. */
#define COMM_OPS_V1_SIZE (offsetof(polca_comm_ops, destroy) + sizeof(void (*)(void *)))

#define MESSAGE_LEN 1024 /* bytes of a failing rank's message that others see */

int32_t polca_comm_create(const polca_comm_ops *ops, polca_comm **out) {
    static const char *fn = "polca_comm_create";
    polca__clear_error();
    if (!ops || !out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL", fn,
                           !ops ? "ops" : "out");
    if (ops->struct_size < COMM_OPS_V1_SIZE)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: ops->struct_size is %u; set it to sizeof(polca_comm_ops) (%zu)",
                           fn, (unsigned)ops->struct_size, sizeof(polca_comm_ops));
    const char *missing = !ops->allreduce_sum_f64 ? "allreduce_sum_f64"
                          : !ops->broadcast       ? "broadcast"
                          : !ops->gather          ? "gather"
                          : !ops->barrier         ? "barrier"
                                                  : NULL;
    if (missing)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: ops->%s is NULL", fn, missing);
    if (ops->size < 1 || ops->rank < 0 || ops->rank >= ops->size)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: rank %d of size %d; need size >= 1 and 0 <= rank < size", fn,
                           (int)ops->rank, (int)ops->size);
    polca_comm *c = polca__calloc(1, sizeof *c, "polca_comm");
    if (!c) return POLCA_ERR_OUT_OF_MEMORY;
    c->head.magic = POLCA_MAGIC_COMM;
    memcpy(&c->ops, ops, COMM_OPS_V1_SIZE);
    c->ops.struct_size = (uint32_t)sizeof c->ops;
    *out = c;
    return POLCA_OK;
}

void polca_comm_destroy(polca_comm *c) {
    if (!c || c->head.magic != POLCA_MAGIC_COMM) return;
    if (c->ops.destroy) c->ops.destroy(c->ops.user);
    c->head.magic = 0;
    free(c);
}

int32_t polca_comm_rank(const polca_comm *c, int32_t *out_rank, int32_t *out_size) {
    polca__clear_error();
    int32_t st = polca__check_handle(c, POLCA_MAGIC_COMM, "polca_comm_rank", "comm", "polca_comm");
    if (st) return st;
    if (out_rank) *out_rank = c->ops.rank;
    if (out_size) *out_size = c->ops.size;
    return POLCA_OK;
}

int32_t polca_context_set_comm(polca_context *ctx, polca_comm *comm) {
    static const char *fn = "polca_context_set_comm";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (!st && comm) st = polca__check_handle(comm, POLCA_MAGIC_COMM, fn, "comm", "polca_comm");
    if (st) return st;
    ctx->comm = comm;
    return POLCA_OK;
}

int32_t polca_context_comm(const polca_context *ctx, polca_comm **out) {
    static const char *fn = "polca_context_comm";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_comm' is NULL", fn);
    *out = ctx->comm;
    return POLCA_OK;
}

/* ---- private collectives ---- */

/* The communicator when it has more than one rank, else NULL. */
static const polca_comm *shared(const polca_context *ctx) {
    return ctx && ctx->comm && ctx->comm->ops.size > 1 ? ctx->comm : NULL;
}

int32_t polca__comm_rank(const polca_context *ctx) {
    return shared(ctx) ? ctx->comm->ops.rank : 0;
}

int32_t polca__comm_size(const polca_context *ctx) {
    return shared(ctx) ? ctx->comm->ops.size : 1;
}

static int32_t comm_failed(const polca_comm *c, const char *op, const char *what,
                           const char *message) {
    return polca__fail(POLCA_ERR_COMM, "rank %d: communicator %s (%s) failed%s%s", (int)c->ops.rank,
                       op, what, message[0] ? ": " : " (another rank may have failed or died)",
                       message);
}

int32_t polca__comm_allreduce_sum(const polca_context *ctx, double *data, int64_t count,
                                  const char *what) {
    const polca_comm *c = shared(ctx);
    char message[MESSAGE_LEN] = "";
    if (!c || count == 0) return POLCA_OK;
    if (c->ops.allreduce_sum_f64(c->ops.user, data, count, message, sizeof message))
        return comm_failed(c, "allreduce", what, message);
    return POLCA_OK;
}

int32_t polca__comm_broadcast(const polca_context *ctx, void *data, int64_t bytes, int32_t root,
                              const char *what) {
    const polca_comm *c = shared(ctx);
    char message[MESSAGE_LEN] = "";
    if (!c || bytes == 0) return POLCA_OK;
    if (c->ops.broadcast(c->ops.user, data, bytes, root, message, sizeof message))
        return comm_failed(c, "broadcast", what, message);
    return POLCA_OK;
}

int32_t polca__comm_gather(const polca_context *ctx, const void *send, int64_t send_bytes,
                           void *recv, const int64_t *recv_bytes, int32_t root, const char *what) {
    const polca_comm *c = shared(ctx);
    char message[MESSAGE_LEN] = "";
    if (!c) {
        if (send_bytes > 0 && recv != send) memcpy(recv, send, (size_t)send_bytes);
        return POLCA_OK;
    }
    if (c->ops.gather(c->ops.user, send, send_bytes, recv, recv_bytes, root, message,
                      sizeof message))
        return comm_failed(c, "gather", what, message);
    return POLCA_OK;
}

int32_t polca__comm_allgather(const polca_context *ctx, const void *send, int64_t send_bytes,
                              void *recv, const int64_t *recv_bytes, const char *what) {
    int32_t st = polca__comm_gather(ctx, send, send_bytes, recv, recv_bytes, 0, what);
    if (st || !shared(ctx)) return st;
    int64_t total = 0;
    for (int32_t r = 0; r < ctx->comm->ops.size; r++) total += recv_bytes[r];
    return polca__comm_broadcast(ctx, recv, total, 0, what);
}

static int32_t agree(const polca_comm *c, int32_t status);

int32_t polca_comm_agree(polca_comm *comm, int32_t status) {
    if (!comm) return status;
    /* the caller's message must survive the handle check */
    if (comm->head.magic != POLCA_MAGIC_COMM)
        return polca__check_handle(comm, POLCA_MAGIC_COMM, "polca_comm_agree", "comm",
                                   "polca_comm");
    return comm->ops.size > 1 ? agree(comm, status) : status;
}

int32_t polca__comm_agree(const polca_context *ctx, int32_t status) {
    const polca_comm *c = shared(ctx);
    return c ? agree(c, status) : status;
}

static int32_t agree(const polca_comm *c, int32_t status) {
    const int32_t size = c->ops.size, rank = c->ops.rank;
    /* no allocation for usual sizes: a rank that could not allocate here
     * would leave the others waiting in the allreduce */
    double local[256];
    double *flags = size <= 256 ? local : calloc((size_t)size, sizeof *flags);
    if (!flags) return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "rank %d: agreeing on a status",
                                   (int)rank);
    if (flags == local) memset(local, 0, sizeof local);
    /* Each rank writes its status in its own slot: the sum is every slot. */
    flags[rank] = (double)status;
    char message[MESSAGE_LEN] = "";
    int32_t st = POLCA_OK;
    if (c->ops.allreduce_sum_f64(c->ops.user, flags, size, message, sizeof message))
        st = comm_failed(c, "allreduce", "agreeing on a status", message);
    int32_t first = -1;
    for (int32_t r = 0; !st && r < size && first < 0; r++)
        if (flags[r] != 0.0) first = r;
    int32_t agreed = first >= 0 ? (int32_t)flags[first] : POLCA_OK;
    if (flags != local) free(flags);
    if (st || first < 0) return st;
    if (rank == first) snprintf(message, sizeof message, "%s", polca_last_error());
    if (c->ops.broadcast(c->ops.user, message, sizeof message, first, NULL, 0))
        return comm_failed(c, "broadcast", "a failing rank's message", "");
    message[sizeof message - 1] = '\0';
    if (!strncmp(message, "rank ", 5)) return polca__fail(agreed, "%s", message);
    return polca__fail(agreed, "rank %d: %s", (int)first, message);
}

int32_t polca__comm_same_as_rank0(const polca_context *ctx, const uint64_t *hashes,
                                  const char *const *names, int n, const char *fn) {
    uint64_t root[16];
    if (n > 16) return polca__fail(POLCA_ERR_INTERNAL, "%s: %d argument hashes", fn, n);
    memcpy(root, hashes, (size_t)n * sizeof *root);
    int32_t st = polca__comm_broadcast(ctx, root, (int64_t)n * (int64_t)sizeof *root, 0,
                                       "the arguments' hashes");
    for (int i = 0; !st && i < n; i++)
        if (root[i] != hashes[i])
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                             "%s: argument '%s' differs from rank 0's (a collective call: every "
                             "rank passes the same inputs)",
                             fn, names[i]);
    return st;
}

void polca__comm_share(int64_t n, int32_t size, int32_t rank, int64_t *lo, int64_t *hi) {
    int64_t base = n / size, extra = n % size;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}
