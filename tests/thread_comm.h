/*
 * tests/thread_comm.h - an in-process communicator for tests: the ranks are
 * threads of one process, each with its own context, and the collectives of
 * polca_comm_ops are pthread barriers over shared pointers. It lets the
 * distributed paths be tested against one process without MPI.
 *
 *   thread_world *w = thread_world_new(3);
 *   thread_world_run(w, body, arg);   runs body(rank, comm, arg) on 3 threads
 *   thread_world_free(w);
 *
 * Sums are taken in rank order, so every rank gets the same bits.
 */
#ifndef TESTS_THREAD_COMM_H
#define TESTS_THREAD_COMM_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "polca/polca.h"

/* A CPU context with one thread, as each rank (a thread here) uses; NULL
 * (polca_last_error() says why) when it cannot be made. */
static inline polca_context *one_thread_cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    if (!polca_options_create(&o) && !polca_options_set_string(o, "backend", "cpu") &&
        !polca_options_set_int(o, "threads", 1))
        polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

typedef struct thread_world {
    int32_t size;
    pthread_barrier_t barrier;
    const void **slot;  /* [size]: each rank's buffer of the current collective */
    int64_t *slot_bytes; /* [size] */
} thread_world;

typedef struct thread_rank {
    thread_world *w;
    int32_t rank;
} thread_rank;

static thread_world *thread_world_new(int32_t size) {
    thread_world *w = calloc(1, sizeof *w);
    w->size = size;
    pthread_barrier_init(&w->barrier, NULL, (unsigned)size);
    w->slot = calloc((size_t)size, sizeof *w->slot);
    w->slot_bytes = calloc((size_t)size, sizeof *w->slot_bytes);
    return w;
}

static void thread_world_free(thread_world *w) {
    pthread_barrier_destroy(&w->barrier);
    free(w->slot);
    free(w->slot_bytes);
    free(w);
}

static void tw_wait(thread_world *w) { pthread_barrier_wait(&w->barrier); }

static int32_t tw_allreduce(void *user, double *data, int64_t count, char *msg, size_t len) {
    thread_rank *r = user;
    thread_world *w = r->w;
    (void)msg, (void)len;
    double *sum = calloc((size_t)count, sizeof *sum);
    w->slot[r->rank] = data;
    tw_wait(w);
    for (int32_t q = 0; q < w->size; q++)
        for (int64_t i = 0; i < count; i++) sum[i] += ((const double *)w->slot[q])[i];
    tw_wait(w);
    memcpy(data, sum, (size_t)count * sizeof *sum);
    free(sum);
    return 0;
}

static int32_t tw_broadcast(void *user, void *data, int64_t bytes, int32_t root, char *msg,
                            size_t len) {
    thread_rank *r = user;
    thread_world *w = r->w;
    (void)msg, (void)len;
    if (r->rank == root) w->slot[root] = data;
    tw_wait(w);
    if (r->rank != root) memcpy(data, w->slot[root], (size_t)bytes);
    tw_wait(w);
    return 0;
}

static int32_t tw_gather(void *user, const void *send, int64_t send_bytes, void *recv,
                         const int64_t *recv_bytes, int32_t root, char *msg, size_t len) {
    thread_rank *r = user;
    thread_world *w = r->w;
    (void)send_bytes;
    w->slot[r->rank] = send;
    w->slot_bytes[r->rank] = send_bytes;
    tw_wait(w);
    int32_t bad = 0;
    if (r->rank == root) {
        char *out = recv;
        for (int32_t q = 0; q < w->size; q++) {
            if (w->slot_bytes[q] != recv_bytes[q]) bad = 1;
            memcpy(out, w->slot[q], (size_t)recv_bytes[q]);
            out += recv_bytes[q];
        }
    }
    tw_wait(w);
    if (bad) snprintf(msg, len, "gather: a rank sent another count than root expected");
    return bad;
}

static int32_t tw_barrier(void *user, char *msg, size_t len) {
    (void)msg, (void)len;
    tw_wait(((thread_rank *)user)->w);
    return 0;
}

typedef void (*thread_body_fn)(int32_t rank, polca_comm *comm, void *arg);

typedef struct tw_start {
    thread_rank r;
    thread_body_fn body;
    void *arg;
} tw_start;

static void *tw_main(void *p) {
    tw_start *s = p;
    polca_comm_ops ops = {sizeof ops, &s->r, s->r.rank, s->r.w->size, tw_allreduce,
                          tw_broadcast, tw_gather, tw_barrier, NULL};
    polca_comm *comm = NULL;
    if (polca_comm_create(&ops, &comm) != POLCA_OK) abort();
    s->body(s->r.rank, comm, s->arg);
    polca_comm_destroy(comm);
    return NULL;
}

/* Runs body on every rank, each on its own thread, and waits for them. */
static void thread_world_run(thread_world *w, thread_body_fn body, void *arg) {
    pthread_t *th = calloc((size_t)w->size, sizeof *th);
    tw_start *st = calloc((size_t)w->size, sizeof *st);
    for (int32_t q = 0; q < w->size; q++) {
        st[q] = (tw_start){{w, q}, body, arg};
        pthread_create(&th[q], NULL, tw_main, &st[q]);
    }
    for (int32_t q = 0; q < w->size; q++) pthread_join(th[q], NULL);
    free(th);
    free(st);
}

#endif /* TESTS_THREAD_COMM_H */
