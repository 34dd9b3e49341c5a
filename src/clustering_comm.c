/*
 * src/clustering_comm.c - polca_clustering_create over the ranks of the
 * context's communicator (polca/comm.h, docs/scaling.md#clustering): which
 * rank clusters which direction, the check that every rank was given the
 * same arguments, and the exchange after which every rank holds every
 * direction's result.
 *
 * Each direction is clustered whole by one rank, by the same code as in one
 * process, so its labels, probabilities, scores, onsets and clusters are the
 * same bits; only the global cluster numbers depend on the directions before
 * it, and they are assigned here in direction order as one process assigns
 * them.
 *
 * Wire format of one direction (native byte order: the ranks of a job run
 * the same build): int64 dir, int64 nc; int32 labels[n] (-2 left out, -1
 * noise, else the cluster's index within the direction); float prob[n];
 * float score[n]; double onset[n]; then per cluster: int64 size, int64
 * medoid, double onset, double plateau, int32 hidden, float mean[t].
 */
#include <stdlib.h>
#include <string.h>

#include "clustering.h"
#include "comm.h"

static const char *fn = "polca_clustering_create";

/* A local status agreed over the ranks, except a failure of the
 * communicator itself: the other ranks may not be listening any more. */
static int32_t agree(const polca_context *ctx, int32_t st) {
    return st == POLCA_ERR_COMM ? st : polca__comm_agree(ctx, st);
}

int32_t polca__clustering_same_everywhere(const polca_context *ctx, const uint64_t *print) {
    static const char *const names[POLCA__CLUSTERING_PRINT] = {
        "argument 'k' differs",          "argument 'n' differs",
        "argument 't' differs",          "argument 't1' differs",
        "argument 'trajectories' differs", "argument 'exact_loss' differs",
        "the options differ"};
    uint64_t root[POLCA__CLUSTERING_PRINT];
    memcpy(root, print, sizeof root);
    int32_t st = polca__comm_broadcast(ctx, root, sizeof root, 0, "clustering: arguments");
    if (st) return st;
    for (int i = 0; i < POLCA__CLUSTERING_PRINT && !st; i++)
        if (root[i] != print[i])
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                             "%s: %s from rank 0's; a collective call needs the same "
                             "arguments on every rank",
                             fn, names[i]);
    return agree(ctx, st);
}

typedef struct dir_cost {
    double cost;
    int64_t dir;
} dir_cost;

static int costliest_first(const void *a, const void *b) {
    const dir_cost *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return (x->dir > y->dir) - (x->dir < y->dir);
}

int32_t polca__clustering_owners(int64_t k, int64_t n, const int64_t *count, int32_t size,
                                 int32_t *owner) {
    dir_cost *jobs = polca__alloc((size_t)k * sizeof *jobs, "clustering: directions by cost");
    double *load = polca__calloc((size_t)size, sizeof *load, "clustering: load per rank");
    if (!jobs || !load) {
        free(jobs), free(load);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    /* HDBSCAN on m points costs O(m^2) pair bounds (and a share of exact
     * distances); every sample's onset O(n t) */
    for (int64_t dir = 0; dir < k; dir++)
        jobs[dir] = (dir_cost){(double)count[dir] * (double)count[dir] + (double)n, dir};
    qsort(jobs, (size_t)k, sizeof *jobs, costliest_first);
    for (int64_t j = 0; j < k; j++) {
        int32_t best = 0;
        for (int32_t r = 1; r < size; r++)
            if (load[r] < load[best]) best = r;
        owner[jobs[j].dir] = best;
        load[best] += jobs[j].cost;
    }
    free(jobs), free(load);
    return POLCA_OK;
}

/* Bytes of one direction's record with nc clusters. */
static int64_t record_bytes(int64_t n, int64_t t, int64_t nc) {
    return 2 * 8 + n * (4 + 4 + 4 + 8) + nc * (8 + 8 + 8 + 8 + 4 + 4 * t);
}

static char *put(char *p, const void *v, size_t bytes) {
    memcpy(p, v, bytes);
    return p + bytes;
}

/* This rank's directions, packed. */
static char *pack(const polca_clustering *c, const int32_t *owner, int32_t rank,
                  const int64_t *dir_first, const int64_t *dir_nc, int64_t bytes) {
    const int64_t n = c->n, t = c->t;
    char *buf = polca__alloc((size_t)bytes + 1, "clustering: this rank's directions");
    if (!buf) return NULL;
    char *p = buf;
    for (int64_t dir = 0; dir < c->k; dir++) {
        if (owner[dir] != rank) continue;
        const int64_t first = dir_first[dir], nc = dir_nc[dir];
        p = put(p, &dir, 8);
        p = put(p, &nc, 8);
        for (int64_t i = 0; i < n; i++) {
            int32_t g = c->labels[dir * n + i];
            if (g >= 0) g = (int32_t)(g - first);
            p = put(p, &g, 4);
        }
        p = put(p, c->prob + dir * n, (size_t)n * 4);
        p = put(p, c->score + dir * n, (size_t)n * 4);
        p = put(p, c->onset + dir * n, (size_t)n * 8);
        for (int64_t q = first; q < first + nc; q++) {
            p = put(p, &c->size[q], 8);
            p = put(p, &c->medoid[q], 8);
            p = put(p, &c->c_onset[q], 8);
            p = put(p, &c->c_tau[q], 8);
            p = put(p, &c->hidden[q], 4);
            p = put(p, c->mean + q * t, (size_t)t * 4);
        }
    }
    return buf;
}

/* Finds every direction's record in all[total]: rec[dir]. */
static int32_t index_records(const char *all, int64_t total, int64_t k, int64_t n, int64_t t,
                             const char **rec) {
    int64_t at = 0, found = 0;
    while (at < total) {
        int64_t dir, nc;
        if (total - at < 16) break;
        memcpy(&dir, all + at, 8);
        memcpy(&nc, all + at + 8, 8);
        if (dir < 0 || dir >= k || rec[dir] || nc < 0 || nc > n ||
            record_bytes(n, t, nc) > total - at)
            break;
        rec[dir] = all + at;
        at += record_bytes(n, t, nc);
        found++;
    }
    if (at != total || found != k)
        return polca__fail(POLCA_ERR_INTERNAL,
                           "%s: the ranks' results do not cover each direction once (%lld of "
                           "%lld directions, %lld of %lld bytes read)",
                           fn, (long long)found, (long long)k, (long long)at, (long long)total);
    return POLCA_OK;
}

static const char *get(const char *p, void *v, size_t bytes) {
    memcpy(v, p, bytes);
    return p + bytes;
}

/* The whole clustering from every direction's record; members left out. */
static int32_t unpack(const polca_clustering *c, const char *const *rec, polca_clustering **out) {
    const int64_t k = c->k, n = c->n, t = c->t;
    int64_t total = 0;
    for (int64_t dir = 0; dir < k; dir++) {
        int64_t nc;
        memcpy(&nc, rec[dir] + 8, 8);
        total += nc;
    }
    polca_clustering *g = polca__calloc(1, sizeof *g, "polca_clustering");
    if (!g) return POLCA_ERR_OUT_OF_MEMORY;
    g->head.magic = POLCA_MAGIC_CLUSTERING;
    g->head.ctx = c->head.ctx;
    g->k = k, g->n = n, g->t = t, g->t1 = c->t1, g->tau = c->tau;
    g->labels = polca__alloc((size_t)(k * n) * sizeof *g->labels, fn);
    g->prob = polca__alloc((size_t)(k * n) * sizeof *g->prob, fn);
    g->score = polca__alloc((size_t)(k * n) * sizeof *g->score, fn);
    g->onset = polca__alloc((size_t)(k * n) * sizeof *g->onset, fn);
    const size_t nc1 = (size_t)total + 1;
    g->dir = polca__alloc(nc1 * sizeof *g->dir, fn);
    g->size = polca__alloc(nc1 * sizeof *g->size, fn);
    g->medoid = polca__alloc(nc1 * sizeof *g->medoid, fn);
    g->member_off = polca__calloc(nc1, sizeof *g->member_off, fn);
    g->mean = polca__alloc(nc1 * (size_t)t * sizeof *g->mean, fn);
    g->c_onset = polca__alloc(nc1 * sizeof *g->c_onset, fn);
    g->c_tau = polca__alloc(nc1 * sizeof *g->c_tau, fn);
    g->hidden = polca__alloc(nc1 * sizeof *g->hidden, fn);
    if (!g->labels || !g->prob || !g->score || !g->onset || !g->dir || !g->size || !g->medoid ||
        !g->member_off || !g->mean || !g->c_onset || !g->c_tau || !g->hidden) {
        polca_clustering_destroy(g);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    int64_t first = 0;
    for (int64_t dir = 0; dir < k; dir++) {
        const char *p = rec[dir] + 8;
        int64_t nc;
        p = get(p, &nc, 8);
        int32_t *lab = g->labels + dir * n;
        p = get(p, lab, (size_t)n * 4);
        for (int64_t i = 0; i < n; i++)
            if (lab[i] >= 0) lab[i] = (int32_t)(lab[i] + first);
        p = get(p, g->prob + dir * n, (size_t)n * 4);
        p = get(p, g->score + dir * n, (size_t)n * 4);
        p = get(p, g->onset + dir * n, (size_t)n * 8);
        for (int64_t q = first; q < first + nc; q++) {
            g->dir[q] = dir;
            p = get(p, &g->size[q], 8);
            p = get(p, &g->medoid[q], 8);
            p = get(p, &g->c_onset[q], 8);
            p = get(p, &g->c_tau[q], 8);
            p = get(p, &g->hidden[q], 4);
            p = get(p, g->mean + q * t, (size_t)t * 4);
            g->member_off[q + 1] = g->member_off[q] + g->size[q];
        }
        first += nc;
    }
    g->n_clusters = total;
    *out = g;
    return POLCA_OK;
}

int32_t polca__clustering_combine(polca_context *ctx, polca_clustering **cp, const int32_t *owner,
                                  const int64_t *dir_first, const int64_t *dir_nc) {
    polca_clustering *c = *cp;
    const int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    const int64_t k = c->k;
    int64_t mine = 0, total = 0;
    for (int64_t dir = 0; dir < k; dir++)
        if (owner[dir] == rank) mine += record_bytes(c->n, c->t, dir_nc[dir]);
    int64_t *counts = polca__alloc((size_t)size * sizeof *counts, "clustering: bytes per rank");
    int64_t *eights = polca__alloc((size_t)size * sizeof *eights, "clustering: bytes per rank");
    char *send = pack(c, owner, rank, dir_first, dir_nc, mine), *all = NULL;
    const char **rec = polca__calloc((size_t)k, sizeof *rec, "clustering: records");
    polca_clustering *g = NULL;
    int32_t st = counts && eights && send && rec ? POLCA_OK : POLCA_ERR_OUT_OF_MEMORY;
    if (!st)
        for (int32_t r = 0; r < size; r++) eights[r] = 8;
    if ((st = agree(ctx, st))) goto done;
    st = polca__comm_allgather(ctx, &mine, 8, counts, eights, "clustering: bytes per rank");
    if (st) goto done;
    for (int32_t r = 0; r < size; r++) total += counts[r];
    all = polca__alloc((size_t)total + 1, "clustering: every rank's directions");
    if ((st = agree(ctx, all ? POLCA_OK : POLCA_ERR_OUT_OF_MEMORY))) goto done;
    st = polca__comm_allgather(ctx, send, mine, all, counts, "clustering: every rank's directions");
    if (st) goto done;
    st = index_records(all, total, k, c->n, c->t, rec);
    if (!st) st = unpack(c, rec, &g);
    if ((st = agree(ctx, st))) goto done;
    polca_clustering_destroy(c);
    *cp = g;
    g = NULL;
done:
    polca_clustering_destroy(g);
    free(counts), free(eights), free(send), free(all), free(rec);
    return st;
}
