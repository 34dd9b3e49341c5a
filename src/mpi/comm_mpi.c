/*
 * src/mpi/comm_mpi.c - the MPI module (polca/mpi.h): polca_comm_ops over a
 * duplicate of an MPI communicator, every collective nonblocking and
 * polled until a deadline; and the few helpers the polca tool reaches by
 * dlsym (mpi_cli.h).
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_cli.h"
#include "polca/mpi.h"

#define ERROR_LEN 1024
#define CLI_MESSAGE_LEN 4096 /* bytes of a failing rank's message the tool shares */

static _Thread_local char g_error[ERROR_LEN];

const char *polca_mpi_last_error(void) { return g_error; }

static int32_t fail(int32_t status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int32_t fail(int32_t status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return status;
}

/* One duplicated communicator and its state (the ops' user). */
typedef struct mpi_user {
    MPI_Comm comm;
    int32_t rank, size;
    double timeout_s;
    int64_t chunk;          /* bytes per MPI call at most (<= INT_MAX) */
    int broken;             /* an operation failed or timed out: the rest fail at once */
    char broken_why[ERROR_LEN];
} mpi_user;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* text into msg[len], cut short when longer */
static void put(char *msg, size_t len, const char *text) {
    if (!msg || !len) return;
    size_t n = strlen(text);
    if (n >= len) n = len - 1;
    memcpy(msg, text, n);
    msg[n] = '\0';
}

/* An MPI call returned rc: the communicator is broken. Returns 1. */
static int mpi_failed(mpi_user *u, int rc, const char *op, char *msg, size_t len) {
    char text[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(rc, text, &n) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
    u->broken = 1;
    snprintf(u->broken_why, sizeof u->broken_why, "%s failed on rank %d: %s", op, (int)u->rank, text);
    put(msg, len, u->broken_why);
    return 1;
}

/* Polls *req until it completes or timeout_s seconds have passed since
 * start (then the communicator is broken). 0 on completion. */
static int wait_req(mpi_user *u, MPI_Request *req, const char *op, double start, char *msg,
                    size_t len) {
    long sleep_ns = 1000;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_failed(u, rc, op, msg, len);
        if (done) return 0;
        if (now_s() - start > u->timeout_s) {
            u->broken = 1;
            snprintf(u->broken_why, sizeof u->broken_why,
                     "%s timed out after %g s on rank %d of %d (the timeout: timeout_s of "
                     "polca_mpi_comm_create, or POLCA_MPI_TIMEOUT); another rank failed, died, "
                     "or is in another call",
                     op, u->timeout_s, (int)u->rank, (int)u->size);
            put(msg, len, u->broken_why);
            return 1; /* the request stays pending: the job must end (MPI_Abort) */
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000) sleep_ns *= 2;
    }
}

static int check_usable(const mpi_user *u, char *msg, size_t len) {
    if (!u->broken) return 0;
    char text[ERROR_LEN + 64];
    snprintf(text, sizeof text, "the communicator is broken by an earlier failure: %s",
             u->broken_why);
    put(msg, len, text);
    return 1;
}

/* Started nonblocking call rc with request *req: waits for it. */
static int started(mpi_user *u, int rc, MPI_Request *req, const char *op, double start, char *msg,
                   size_t len) {
    if (rc != MPI_SUCCESS) return mpi_failed(u, rc, op, msg, len);
    return wait_req(u, req, op, start, msg, len);
}

/* ---- the operations (polca_comm_ops) ---- */

static int32_t op_allreduce(void *user, double *data, int64_t count, char *msg, size_t len) {
    mpi_user *u = user;
    if (check_usable(u, msg, len)) return 1;
    const double start = now_s();
    const int64_t per = u->chunk / (int64_t)sizeof(double) > 0 ? u->chunk / (int64_t)sizeof(double) : 1;
    char op[160];
    /* reduced to rank 0, then broadcast: every rank gets the same bits */
    for (int64_t at = 0; at < count; at += per) {
        int n = (int)(count - at < per ? count - at : per);
        MPI_Request req;
        snprintf(op, sizeof op, "MPI_Ireduce (sum of %lld doubles)", (long long)count);
        int rc = MPI_Ireduce(u->rank == 0 ? MPI_IN_PLACE : data + at, u->rank == 0 ? data + at : NULL,
                             n, MPI_DOUBLE, MPI_SUM, 0, u->comm, &req);
        if (started(u, rc, &req, op, start, msg, len)) return 1;
        snprintf(op, sizeof op, "MPI_Ibcast (sum of %lld doubles)", (long long)count);
        rc = MPI_Ibcast(data + at, n, MPI_DOUBLE, 0, u->comm, &req);
        if (started(u, rc, &req, op, start, msg, len)) return 1;
    }
    return 0;
}

static int32_t op_broadcast(void *user, void *data, int64_t bytes, int32_t root, char *msg,
                            size_t len) {
    mpi_user *u = user;
    if (check_usable(u, msg, len)) return 1;
    if (root < 0 || root >= u->size) {
        char text[128];
        snprintf(text, sizeof text, "broadcast from rank %d of %d", (int)root, (int)u->size);
        put(msg, len, text);
        return 1;
    }
    const double start = now_s();
    char op[160];
    snprintf(op, sizeof op, "MPI_Ibcast (%lld bytes from rank %d)", (long long)bytes, (int)root);
    for (int64_t at = 0; at < bytes; at += u->chunk) {
        int n = (int)(bytes - at < u->chunk ? bytes - at : u->chunk);
        MPI_Request req;
        int rc = MPI_Ibcast((char *)data + at, n, MPI_BYTE, root, u->comm, &req);
        if (started(u, rc, &req, op, start, msg, len)) return 1;
    }
    return 0;
}

static int32_t op_gather(void *user, const void *send, int64_t send_bytes, void *recv,
                         const int64_t *recv_bytes, int32_t root, char *msg, size_t len) {
    mpi_user *u = user;
    if (check_usable(u, msg, len)) return 1;
    const int32_t size = u->size, rank = u->rank;
    const double start = now_s();
    char op[160];
    snprintf(op, sizeof op, "MPI_Igatherv (%lld bytes from rank %d to rank %d)",
             (long long)send_bytes, (int)rank, (int)root);
    int64_t *counts = calloc((size_t)size, sizeof *counts);
    int *n_in = calloc((size_t)size, sizeof *n_in), *at_in = calloc((size_t)size, sizeof *at_in);
    char *stage = NULL;
    int bad = !counts || !n_in || !at_in;
    if (bad) put(msg, len, "out of memory in gather");
    /* every rank learns every count: the rounds below agree */
    if (!bad) {
        counts[rank] = send_bytes;
        MPI_Request req;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, counts, size, MPI_INT64_T, MPI_SUM, u->comm, &req);
        bad = started(u, rc, &req, "MPI_Iallreduce (the counts of a gather)", start, msg, len);
    }
    int64_t total = 0, most = 0;
    for (int32_t q = 0; !bad && q < size; q++) {
        total += counts[q];
        if (counts[q] > most) most = counts[q];
        if (rank == root && recv_bytes[q] != counts[q]) {
            u->broken = 1;
            snprintf(u->broken_why, sizeof u->broken_why,
                     "gather: rank %d sends %lld bytes; root %d expected %lld", (int)q,
                     (long long)counts[q], (int)root, (long long)recv_bytes[q]);
            put(msg, len, u->broken_why);
            bad = 1;
        }
    }
    if (!bad && total <= u->chunk) {
        /* one call, straight into recv */
        int64_t off = 0;
        for (int32_t q = 0; q < size; q++) {
            n_in[q] = (int)counts[q];
            at_in[q] = (int)off;
            off += counts[q];
        }
        MPI_Request req;
        int rc = MPI_Igatherv(send, (int)send_bytes, MPI_BYTE, recv, n_in, at_in, MPI_BYTE, root,
                              u->comm, &req);
        bad = started(u, rc, &req, op, start, msg, len);
    } else if (!bad) {
        /* rounds of at most `piece` bytes per rank through a buffer on root,
         * so no count or displacement passes INT_MAX */
        int64_t piece = u->chunk / size > 0 ? u->chunk / size : 1;
        if (rank == root) {
            stage = malloc((size_t)(piece * size));
            if (!stage) {
                put(msg, len, "out of memory in gather");
                bad = 1; /* the other ranks time out: the job ends */
            }
        }
        for (int64_t from = 0; !bad && from < most; from += piece) {
            int64_t off = 0;
            for (int32_t q = 0; q < size; q++) {
                int64_t left = counts[q] - from;
                n_in[q] = (int)(left <= 0 ? 0 : left < piece ? left : piece);
                at_in[q] = (int)off;
                off += n_in[q];
            }
            MPI_Request req;
            int rc = MPI_Igatherv(n_in[rank] ? (const char *)send + from : send, n_in[rank], MPI_BYTE,
                                  stage, n_in, at_in, MPI_BYTE, root, u->comm, &req);
            bad = started(u, rc, &req, op, start, msg, len);
            if (bad || rank != root) continue;
            int64_t base = 0;
            for (int32_t q = 0; q < size; q++) {
                if (n_in[q]) memcpy((char *)recv + base + from, stage + at_in[q], (size_t)n_in[q]);
                base += counts[q];
            }
        }
    }
    free(stage);
    free(counts);
    free(n_in);
    free(at_in);
    return bad;
}

static int32_t op_barrier(void *user, char *msg, size_t len) {
    mpi_user *u = user;
    if (check_usable(u, msg, len)) return 1;
    MPI_Request req;
    int rc = MPI_Ibarrier(u->comm, &req);
    return started(u, rc, &req, "MPI_Ibarrier", now_s(), msg, len);
}

static void release(mpi_user *u) {
    int finalized = 1;
    MPI_Finalized(&finalized);
    if (!finalized && u->comm != MPI_COMM_NULL) MPI_Comm_free(&u->comm);
    u->comm = MPI_COMM_NULL;
}

static void op_destroy(void *user) {
    release(user);
    free(user);
}

/* ---- making one ---- */

/* The timeout and chunk size from the argument and the environment. */
static int32_t settings(double timeout_s, const char *fn, mpi_user *u) {
    if (!(timeout_s >= 0) || !isfinite(timeout_s))
        return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: timeout_s is %g; give seconds > 0, or 0 for "
                    "POLCA_MPI_TIMEOUT or the default (%g s)", fn, timeout_s,
                    POLCA_MPI_DEFAULT_TIMEOUT);
    u->timeout_s = timeout_s;
    const char *env = getenv("POLCA_MPI_TIMEOUT");
    if (timeout_s == 0 && env && *env) {
        char *end;
        double t = strtod(env, &end);
        if (*end || !(t > 0) || !isfinite(t))
            return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: POLCA_MPI_TIMEOUT is '%s'; give seconds > 0",
                        fn, env);
        u->timeout_s = t;
    } else if (timeout_s == 0) {
        u->timeout_s = POLCA_MPI_DEFAULT_TIMEOUT;
    }
    /* POLCA_MPI_CHUNK_BYTES: a smaller split than INT_MAX bytes, so tests
     * reach the chunked paths with small buffers (the same on every rank) */
    u->chunk = INT_MAX;
    env = getenv("POLCA_MPI_CHUNK_BYTES");
    if (env && *env) {
        char *end;
        long long c = strtoll(env, &end, 10);
        if (*end || c < 8 || c > INT_MAX)
            return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: POLCA_MPI_CHUNK_BYTES is '%s'; give "
                        "bytes in 8..%d", fn, env, INT_MAX);
        u->chunk = c;
    }
    return POLCA_OK;
}

/* Checks MPI's state and comm, duplicates comm into u (within the
 * timeout). */
static int32_t duplicate(MPI_Comm comm, double timeout_s, const char *fn, mpi_user *u) {
    int initialized = 0, finalized = 0;
    u->comm = MPI_COMM_NULL;
    int32_t st = settings(timeout_s, fn, u);
    if (st) return st;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized)
        return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: MPI is %s", fn,
                    finalized ? "finalized" : "not initialized (call MPI_Init_thread first)");
    if (comm == MPI_COMM_NULL)
        return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: comm is MPI_COMM_NULL", fn);
    int inter = 0;
    if (MPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
        return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: comm is %s", fn,
                    inter ? "an intercommunicator (give an intracommunicator)" : "not a communicator");
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    u->rank = rank;
    u->size = size;
    MPI_Request req;
    char why[ERROR_LEN];
    if (started(u, MPI_Comm_idup(comm, &u->comm, &req), &req, "MPI_Comm_idup", now_s(), why,
                sizeof why)) {
        u->comm = MPI_COMM_NULL; /* a timed-out duplicate stays MPI's */
        return fail(POLCA_ERR_COMM, "%s: %s", fn, why);
    }
    MPI_Comm_set_errhandler(u->comm, MPI_ERRORS_RETURN);
    return POLCA_OK;
}

static int32_t create(MPI_Comm comm, double timeout_s, polca_comm **out, const char *fn) {
    g_error[0] = '\0';
    if (!out) return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    mpi_user *u = calloc(1, sizeof *u);
    if (!u) return fail(POLCA_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    int32_t st = duplicate(comm, timeout_s, fn, u);
    if (st) {
        if (st != POLCA_ERR_COMM) free(u); /* else MPI may still write it */
        return st;
    }
    polca_comm_ops ops = {sizeof ops, u, u->rank, u->size, op_allreduce, op_broadcast, op_gather,
                          op_barrier, op_destroy};
    polca_comm *c = NULL;
    st = polca_comm_create(&ops, &c);
    if (st) {
        fail(st, "%s: %s", fn, polca_last_error());
        op_destroy(u);
        return st;
    }
    *out = c;
    return POLCA_OK;
}

int32_t polca_mpi_comm_create(MPI_Comm comm, double timeout_s, polca_comm **out) {
    return create(comm, timeout_s, out, "polca_mpi_comm_create");
}

int32_t polca_mpi_comm_create_f(int64_t fortran_handle, double timeout_s, polca_comm **out) {
    static const char *fn = "polca_mpi_comm_create_f";
    g_error[0] = '\0';
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized)
        return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: MPI is %s", fn,
                    finalized ? "finalized" : "not initialized (call MPI_Init_thread first)");
    if ((int64_t)(MPI_Fint)fortran_handle != fortran_handle)
        return fail(POLCA_ERR_INVALID_ARGUMENT, "%s: %lld is not a Fortran communicator handle",
                    fn, (long long)fortran_handle);
    return create(MPI_Comm_f2c((MPI_Fint)fortran_handle), timeout_s, out, fn);
}

/* ---- for the polca tool (mpi_cli.h) ---- */

static mpi_user g_cli = {.comm = MPI_COMM_NULL};

int32_t polca_mpi__cli_init(int *argc, char ***argv) {
    int initialized = 0, provided = 0;
    g_error[0] = '\0';
    MPI_Initialized(&initialized);
    if (initialized) return POLCA_OK;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return fail(POLCA_ERR_COMM, "MPI_Init_thread failed");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    return POLCA_OK;
}

int32_t polca_mpi__cli_world(double timeout_s, polca_comm **out) {
    int32_t st = polca_mpi_comm_create(MPI_COMM_WORLD, timeout_s, out);
    if (st) return st;
    st = duplicate(MPI_COMM_WORLD, timeout_s, "polca_mpi_comm_create", &g_cli);
    if (st) {
        polca_comm_destroy(*out);
        *out = NULL;
    }
    return st;
}

int32_t polca_mpi__cli_agree(int32_t code, const char *message, int32_t *out_code,
                             int32_t *out_rank, char *out_message, size_t len) {
    mpi_user *u = &g_cli;
    char why[ERROR_LEN] = "";
    g_error[0] = '\0';
    int64_t *codes = calloc((size_t)u->size, sizeof *codes);
    if (!codes) return fail(POLCA_ERR_OUT_OF_MEMORY, "agreeing on the exit status: out of memory");
    codes[u->rank] = code;
    const double start = now_s();
    MPI_Request req;
    int bad = check_usable(u, why, sizeof why);
    if (!bad) {
        int rc = MPI_Iallreduce(MPI_IN_PLACE, codes, u->size, MPI_INT64_T, MPI_SUM, u->comm, &req);
        bad = started(u, rc, &req, "MPI_Iallreduce (the ranks' exit status)", start, why, sizeof why);
    }
    int32_t first = -1;
    for (int32_t q = 0; !bad && q < u->size && first < 0; q++)
        if (codes[q]) first = q;
    int64_t agreed = first >= 0 ? codes[first] : 0;
    free(codes);
    char text[CLI_MESSAGE_LEN] = "";
    if (!bad && first >= 0) {
        if (first == u->rank) snprintf(text, sizeof text, "%s", message ? message : "");
        int rc = MPI_Ibcast(text, sizeof text, MPI_BYTE, first, u->comm, &req);
        bad = started(u, rc, &req, "MPI_Ibcast (a failing rank's message)", start, why, sizeof why);
        text[sizeof text - 1] = '\0';
    }
    if (bad) return fail(POLCA_ERR_COMM, "%s", why);
    *out_code = (int32_t)agreed;
    *out_rank = first;
    if (out_message && len) snprintf(out_message, len, "%s", text);
    return POLCA_OK;
}

int32_t polca_mpi__cli_finalize(void) {
    release(&g_cli);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && MPI_Finalize() != MPI_SUCCESS) return fail(POLCA_ERR_COMM, "MPI_Finalize failed");
    return POLCA_OK;
}

void polca_mpi__cli_abort(int32_t code) { MPI_Abort(MPI_COMM_WORLD, code); }
