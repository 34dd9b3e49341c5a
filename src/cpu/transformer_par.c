/*
 * src/cpu/transformer_par.c - a small fork-join pool for the elementwise ops
 * of the CPU transformer kernels (LayerNorm, activation, attention), which
 * would otherwise run on one thread while OpenBLAS uses several for the
 * GEMMs. A kernel entry opens a pool with as many workers as OpenBLAS has
 * threads (the caller is worker 0) and closes it before returning; ops find
 * it through a thread-local pointer, so they run serially when called
 * outside a kernel (tests) or when threads cannot be created.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "transformer_cpu.h"

int openblas_get_num_threads(void);

#define TF_MAX_WORKERS 64

struct tf_pool {
    int workers; /* including the calling thread */
    pthread_t threads[TF_MAX_WORKERS];
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    uint64_t generation;
    int pending, quit;
    tf_pool_fn fn;
    void *arg;
    int64_t n;
    float *scratch; /* [workers][scratch_floats] */
    int64_t scratch_floats;
};

static _Thread_local tf_pool *current;

static void range(int64_t n, int w, int workers, int64_t *i0, int64_t *i1) {
    *i0 = n * w / workers;
    *i1 = n * (w + 1) / workers;
}

typedef struct worker_arg {
    tf_pool *pool;
    int index;
} worker_arg;

static void *worker_main(void *p) {
    tf_pool *pool = ((worker_arg *)p)->pool;
    const int w = ((worker_arg *)p)->index;
    free(p);
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->quit) break;
        seen = pool->generation;
        tf_pool_fn fn = pool->fn;
        void *arg = pool->arg;
        int64_t i0, i1;
        range(pool->n, w, pool->workers, &i0, &i1);
        pthread_mutex_unlock(&pool->mu);
        if (i1 > i0) fn(arg, i0, i1, pool->scratch + w * pool->scratch_floats);
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

int32_t polca__tf_pool_open(const polca__tf_config *cfg, tf_pool **out) {
    *out = NULL;
    tf_pool *p = polca__calloc(1, sizeof *p, "transformer thread pool");
    if (!p) return POLCA_ERR_OUT_OF_MEMORY;
#ifdef TF_POOL_WORKERS /* benchmarking: a fixed worker count */
    int want = TF_POOL_WORKERS;
#else
    int want = openblas_get_num_threads();
#endif
    want = want < 1 ? 1 : want > TF_MAX_WORKERS ? TF_MAX_WORKERS : want;
    p->scratch_floats = polca__tf_op_scratch_floats(cfg);
    p->scratch = polca__alloc((size_t)(want * p->scratch_floats) * sizeof(float),
                              "transformer op scratch");
    if (!p->scratch) {
        free(p);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = 1;
    /* helpers that fail to start are simply not used */
    for (int w = 1; w < want; w++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) break;
        a->pool = p;
        a->index = w;
        if (pthread_create(&p->threads[w], NULL, worker_main, a) != 0) {
            free(a);
            break;
        }
        p->workers++;
    }
    current = p;
    *out = p;
    return POLCA_OK;
}

void polca__tf_pool_close(tf_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int w = 1; w < p->workers; w++) pthread_join(p->threads[w], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    if (current == p) current = NULL;
    free(p->scratch);
    free(p);
}

void polca__tf_parallel(int64_t n, int64_t min_per_worker, tf_pool_fn fn, void *arg,
                        float *serial_scratch) {
    tf_pool *p = current;
    int workers = p ? p->workers : 1;
    if (min_per_worker < 1) min_per_worker = 1;
    if (workers > 1 && n / min_per_worker < workers) workers = 1;
    if (workers == 1) {
        if (n > 0) fn(arg, 0, n, p ? p->scratch : serial_scratch);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->pending = p->workers - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    int64_t i0, i1;
    range(n, 0, p->workers, &i0, &i1);
    if (i1 > i0) fn(arg, i0, i1, p->scratch);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int polca__tf_parallel_workers(void) { return current ? current->workers : 1; }

float *polca__tf_worker_scratch(int w) {
    return current ? current->scratch + w * current->scratch_floats : NULL;
}
