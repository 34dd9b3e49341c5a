/*
 * tests/mpi_check.c - the MPI module's collectives under mpirun, through
 * libpolca's private helpers (src/comm.h) as the library's collective
 * calls use them. Built by tests/test_mpi.sh with mpicc (with the module's
 * source compiled in and the static libpolca), run as
 *
 *   mpirun -np N mpi_check ops       sums, broadcasts, gathers (set
 *                                    POLCA_MPI_CHUNK_BYTES small to reach
 *                                    the split paths), the status agreement
 *   mpirun -np N mpi_check timeout T rank 1 never enters a collective: rank 0
 *                                    must fail with POLCA_ERR_COMM naming
 *                                    the timeout within T s (+ slack), then
 *                                    at once on the next call; it then ends
 *                                    the job with MPI_Abort
 *
 * Every rank prints "ok ..." or "FAIL ..." lines (tests/lib.sh style).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"
#include "polca/mpi.h"

static int g_rank, g_failed;

static void check(int cond, const char *name, const char *why) {
    if (cond) {
        if (g_rank == 0) printf("ok %s\n", name);
    } else {
        printf("FAIL %s (rank %d): %s\n", name, g_rank, why);
        g_failed = 1;
    }
    fflush(stdout);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ops(polca_context *ctx, int size) {
    char why[512] = "";
    /* sum of 1000 doubles: integers give the exact sum; then fractions,
     * whose bits must be the same on every rank */
    enum { N = 1000 };
    double v[N], w[N];
    for (int i = 0; i < N; i++) v[i] = (double)(g_rank + 1) * i;
    int32_t st = polca__comm_allreduce_sum(ctx, v, N, "test sum");
    int good = !st;
    for (int i = 0; good && i < N; i++) good = v[i] == (double)size * (size + 1) / 2 * i;
    snprintf(why, sizeof why, "status %d %s", (int)st, polca_last_error());
    check(good, "allreduce: the exact sum of integers on every rank", why);
    for (int i = 0; i < N; i++) w[i] = sin(1.0 + g_rank * 7.3 + i) / 3.0;
    st = polca__comm_allreduce_sum(ctx, w, N, "test sum");
    /* rank 0's bits to everyone, compared */
    double w0[N];
    memcpy(w0, w, sizeof w);
    if (!st) st = polca__comm_broadcast(ctx, w0, sizeof w0, 0, "test broadcast");
    check(!st && memcmp(w0, w, sizeof w) == 0, "allreduce: the same bits on every rank",
          polca_last_error());
    /* broadcast from the last rank, an odd byte count */
    char b[1001];
    for (int i = 0; i < (int)sizeof b; i++) b[i] = (char)(g_rank == size - 1 ? i * 7 + 1 : 0);
    st = polca__comm_broadcast(ctx, b, sizeof b, size - 1, "test broadcast");
    good = !st;
    for (int i = 0; good && i < (int)sizeof b; i++) good = b[i] == (char)(i * 7 + 1);
    check(good, "broadcast from the last rank", polca_last_error());
    /* gather of unequal counts (rank r sends 37*r + 3 bytes), to root 1 % size */
    int32_t root = 1 % size;
    int64_t *counts = calloc((size_t)size, sizeof *counts), total = 0;
    for (int q = 0; q < size; q++) total += counts[q] = 37 * q + 3;
    unsigned char *send = malloc((size_t)counts[g_rank]), *recv = malloc((size_t)total);
    for (int64_t i = 0; i < counts[g_rank]; i++) send[i] = (unsigned char)(g_rank * 31 + i);
    st = polca__comm_gather(ctx, send, counts[g_rank], recv, counts, root, "test gather");
    good = !st;
    if (g_rank == root) {
        int64_t at = 0;
        for (int q = 0; good && q < size; q++)
            for (int64_t i = 0; good && i < counts[q]; i++)
                good = recv[at++] == (unsigned char)(q * 31 + i);
    }
    check(good, "gather of unequal counts in rank order", polca_last_error());
    memset(recv, 0, (size_t)total);
    st = polca__comm_allgather(ctx, send, counts[g_rank], recv, counts, "test allgather");
    good = !st;
    int64_t at = 0;
    for (int q = 0; good && q < size; q++)
        for (int64_t i = 0; good && i < counts[q]; i++) good = recv[at++] == (unsigned char)(q * 31 + i);
    check(good, "allgather on every rank", polca_last_error());
    free(send);
    free(recv);
    free(counts);
    /* the agreement: rank 1 fails; every rank gets its status and message */
    int32_t mine = POLCA_OK;
    if (g_rank == 1) {
        /* a failing public call leaves its message in polca_last_error() */
        polca_comm_create(NULL, NULL);
        mine = POLCA_ERR_IO;
    }
    st = polca__comm_agree(ctx, mine);
    snprintf(why, sizeof why, "status %d, message '%s'", (int)st, polca_last_error());
    check(st == POLCA_ERR_IO && strncmp(polca_last_error(), "rank 1: polca_comm_create", 25) == 0,
          "agree: rank 1's status and message on every rank", why);
    st = polca__comm_agree(ctx, POLCA_OK);
    check(st == POLCA_OK, "agree: nobody failed", polca_last_error());
    return g_failed;
}

static void timeout_case(polca_context *ctx, double t) {
    if (g_rank == 1) {
        sleep((unsigned)(3 * t + 5)); /* never enters; ended by rank 0's MPI_Abort */
        return;
    }
    double t0 = now_s();
    int32_t st = polca__comm_agree(ctx, POLCA_OK);
    double took = now_s() - t0;
    char why[1400];
    snprintf(why, sizeof why, "status %d after %.2f s: %s", (int)st, took, polca_last_error());
    if (g_rank == 0) printf("# %s\n", why);
    check(st == POLCA_ERR_COMM && strstr(polca_last_error(), "timed out after") &&
              strstr(polca_last_error(), "POLCA_MPI_TIMEOUT") && took >= t * 0.9 && took < t + 2.0,
          "a rank that never arrives: POLCA_ERR_COMM naming the timeout, in time", why);
    t0 = now_s();
    st = polca__comm_broadcast(ctx, why, 8, 0, "after the timeout");
    took = now_s() - t0;
    snprintf(why, sizeof why, "status %d after %.2f s: %s", (int)st, took, polca_last_error());
    check(st == POLCA_ERR_COMM && strstr(polca_last_error(), "broken") && took < 0.5,
          "the next collective fails at once", why);
    if (g_rank == 0) {
        printf("RANK0_DONE\n");
        fflush(stdout);
    }
    MPI_Abort(MPI_COMM_WORLD, 7); /* what a host does after POLCA_ERR_COMM */
}

int main(int argc, char **argv) {
    int provided, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *mode = argc > 1 ? argv[1] : "ops";
    double t = argc > 2 ? atof(argv[2]) : 1.0;
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_comm *comm = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    if (polca_context_create(o, &ctx)) {
        printf("FAIL context: %s\n", polca_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    polca_options_destroy(o);
    int32_t st = polca_mpi_comm_create(MPI_COMM_WORLD, strcmp(mode, "timeout") ? 0 : t, &comm);
    check(!st, "polca_mpi_comm_create", polca_mpi_last_error());
    if (st) MPI_Abort(MPI_COMM_WORLD, 1);
    int32_t r = -1, s = -1;
    polca_comm_rank(comm, &r, &s);
    check(r == g_rank && s == size, "the handle's rank and size are MPI's", "differ");
    /* bad arguments: refused with a message */
    polca_comm *none = NULL;
    st = polca_mpi_comm_create(MPI_COMM_NULL, 0, &none);
    check(st == POLCA_ERR_INVALID_ARGUMENT && strstr(polca_mpi_last_error(), "MPI_COMM_NULL") && !none,
          "MPI_COMM_NULL refused", polca_mpi_last_error());
    st = polca_mpi_comm_create(MPI_COMM_WORLD, -1, &none);
    check(st == POLCA_ERR_INVALID_ARGUMENT && strstr(polca_mpi_last_error(), "timeout_s") && !none,
          "a negative timeout refused", polca_mpi_last_error());
    st = polca_mpi_comm_create(MPI_COMM_WORLD, NAN, &none);
    check(st == POLCA_ERR_INVALID_ARGUMENT && !none, "a NaN timeout refused", polca_mpi_last_error());
    st = polca_mpi_comm_create(MPI_COMM_WORLD, 0, NULL);
    check(st == POLCA_ERR_INVALID_ARGUMENT && strstr(polca_mpi_last_error(), "'out'"),
          "out NULL refused", polca_mpi_last_error());
    st = polca_mpi_comm_create_f((int64_t)1 << 40, 0, &none);
    check(st == POLCA_ERR_INVALID_ARGUMENT && strstr(polca_mpi_last_error(), "Fortran") && !none,
          "a Fortran handle out of range refused", polca_mpi_last_error());
    setenv("POLCA_MPI_TIMEOUT", "soon", 1); /* every rank: refused before any collective */
    st = polca_mpi_comm_create(MPI_COMM_WORLD, 0, &none);
    check(st == POLCA_ERR_INVALID_ARGUMENT && strstr(polca_mpi_last_error(), "POLCA_MPI_TIMEOUT is 'soon'") &&
              !none, "a bad POLCA_MPI_TIMEOUT refused", polca_mpi_last_error());
    unsetenv("POLCA_MPI_TIMEOUT");
    st = polca_mpi_comm_create(MPI_COMM_WORLD, 0, &none); /* a success clears the message */
    check(!st && polca_mpi_last_error()[0] == '\0', "polca_mpi_last_error is empty after a success",
          polca_mpi_last_error());
    polca_comm_destroy(none);
    polca_context_set_comm(ctx, comm);
    if (!strcmp(mode, "timeout")) {
        timeout_case(ctx, t);
    } else {
        /* the Fortran handle gives a communicator of the same ranks */
        polca_comm *f = NULL;
        st = polca_mpi_comm_create_f((int64_t)MPI_Comm_c2f(MPI_COMM_WORLD), 0, &f);
        polca_comm_rank(f, &r, &s);
        check(!st && r == g_rank && s == size, "polca_mpi_comm_create_f", polca_mpi_last_error());
        polca_comm_destroy(f);
        ops(ctx, size);
    }
    polca_context_set_comm(ctx, NULL);
    polca_comm_destroy(comm);
    polca_context_destroy(ctx);
    MPI_Finalize();
    return g_failed;
}
