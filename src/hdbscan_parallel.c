/* src/hdbscan_parallel.c - a parallel-for over POSIX threads for HDBSCAN's
 * loops over points (bounds, selections). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "hdbscan.h"

#define MAX_THREADS 64

typedef struct slice {
    polca__hdb_task fn;
    void *arg;
    int thread;
    int64_t begin, end;
    int32_t status;
    char message[512]; /* the last error is thread-local: carried back here */
} slice;

static void *slice_main(void *p) {
    slice *s = p;
    s->status = s->fn(s->arg, s->thread, s->begin, s->end);
    if (s->status) snprintf(s->message, sizeof s->message, "%s", polca_last_error());
    return NULL;
}

int polca__hdb_threads(const polca_context *ctx) {
    int t = ctx->host.threads;
    if (t <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        t = cpus > 0 ? (int)cpus : 1;
    }
    return t > MAX_THREADS ? MAX_THREADS : t;
}

int32_t polca__hdb_parallel(int threads, int64_t count, polca__hdb_task fn, void *arg) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > count) threads = (int)(count > 0 ? count : 1);
    if (threads < 1) threads = 1;
    slice sl[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++)
        sl[t] = (slice){fn, arg, t, count * t / threads, count * (t + 1) / threads, POLCA_OK, ""};
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tid[t], NULL, slice_main, &sl[t]) == 0;
    slice_main(&sl[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            slice_main(&sl[t]); /* no thread to be had: run it here */
    }
    for (int t = 0; t < threads; t++)
        if (sl[t].status) return polca__fail(sl[t].status, "%s", sl[t].message);
    return POLCA_OK;
}
