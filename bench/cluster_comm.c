/*
 * bench/cluster_comm.c - strong scaling of polca_clustering_create over the
 * ranks of a communicator (docs/scaling.md#clustering): K directions of
 * POLCA-like trajectories clustered by one rank, then by two ranks (threads
 * of this process over tests/thread_comm.h, one thread each), both timed in
 * this run; prints the parallel efficiency t1 / (2 t2), how the cost was
 * split, and whether every rank's labels equal the one-rank labels. On a
 * shared machine the ranks' threads wait for cores, so it also prints the
 * same efficiency from each thread's CPU time (what free cores would give).
 *
 *   cluster_comm [K [N [T [REPEATS]]]]     defaults 8 4000 100 3
 *
 * Data (as bench/hdbscan.c): per direction, trajectories of T checkpoints
 * with L(0) = 0, a sigmoid drop of a group-specific onset, width and
 * amplitude plus a small random walk, 6 groups and 10% stragglers; in
 * direction k a share 0.05 + 0.5 k / K of the samples rises instead (the
 * "decrease" filter leaves them out), so the directions cost different
 * amounts. The paper's options (min_cluster_size 150, min_samples = the
 * clustered count / 15). Times are medians of REPEATS runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/thread_comm.h"
#include "bench_util.h"
#include "clustering.h"
#include "polca/polca.h"

static unsigned long long rng = 0x2545F4914F6CDD1Dull;
static double uniform(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static double normal(void) {
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

typedef struct bench {
    int64_t k, n, t;
    float *traj, *exact;
    int32_t *labels[2]; /* [k][n] per rank of the 2-rank run */
    double seconds;     /* rank 0's wall time of the call */
    double cpu[2];      /* each rank's CPU time in the call (its one thread) */
    int failed;
    thread_world *w;
} bench;

static void make_data(bench *b) {
    enum { G = 6 };
    const int64_t k = b->k, n = b->n, t = b->t;
    for (int64_t dir = 0; dir < k; dir++) {
        double onset[G], amp[G], width[G];
        for (int g = 0; g < G; g++) {
            onset[g] = (0.1 + 0.8 * g / (G - 1)) * (double)(t - 1);
            amp[g] = 0.3 + 1.2 * uniform();
            width[g] = 1.0 + 7.0 * uniform();
        }
        const double rising = 0.05 + 0.5 * (double)dir / (double)k;
        for (int64_t i = 0; i < n; i++) {
            float *x = b->traj + (dir * n + i) * t;
            int g = (int)(uniform() * G);
            double on = onset[g] + 0.01 * (double)(t - 1) * normal(), a = amp[g], w = width[g];
            if (uniform() < 0.1)
                on = uniform() * (double)(t - 1), a = 0.1 + 1.4 * uniform(), w = 1 + 19 * uniform();
            if (uniform() < rising) a = -a;
            double s0 = 1.0 / (1.0 + exp(on / w)), walk = 0.0;
            for (int64_t j = 0; j < t; j++) {
                if (j > 0) walk += 0.004 * normal();
                double s = 1.0 / (1.0 + exp(-((double)j - on) / w));
                x[j] = (float)(-a * (s - s0) + walk);
            }
            x[0] = 0.0f;
        }
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t u = 0; u < t; u++)
            b->exact[i * t + u] = (float)(3.0 / (1.0 + 0.1 * (double)u) + 0.01 * uniform());
}

/* CPU time of the calling thread: with one thread per rank, all its work. */
static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static polca_context *one_thread_context(void) {
    polca_context *ctx = one_thread_cpu_context();
    if (!ctx) {
        fprintf(stderr, "bench/cluster_comm: context: %s\n", polca_last_error());
        exit(1);
    }
    return ctx;
}

/* One clustering on ctx; labels of every direction into out[k][n]. */
static int cluster(bench *b, polca_context *ctx, int32_t *out) {
    polca_clustering *c = NULL;
    if (polca_clustering_create(ctx, b->k, b->n, b->t, b->traj, b->t, b->exact, NULL, &c)) {
        fprintf(stderr, "bench/cluster_comm: %s\n", polca_last_error());
        return 1;
    }
    for (int64_t dir = 0; dir < b->k; dir++)
        polca_clustering_labels(c, dir, out + dir * b->n, NULL, NULL, NULL);
    polca_clustering_destroy(c);
    return 0;
}

static void rank_body(int32_t rank, polca_comm *comm, void *arg) {
    bench *b = arg;
    polca_context *ctx = one_thread_context();
    polca_context_set_comm(ctx, comm);
    tw_wait(b->w); /* both ranks start together */
    double t0 = bench_now(), c0 = thread_cpu();
    if (cluster(b, ctx, b->labels[rank])) b->failed = 1;
    b->cpu[rank] = thread_cpu() - c0;
    tw_wait(b->w);
    if (rank == 0) b->seconds = bench_now() - t0;
    polca_context_set_comm(ctx, NULL);
    polca_context_destroy(ctx);
}

int main(int argc, char **argv) {
    bench b;
    memset(&b, 0, sizeof b);
    b.k = argc > 1 ? atoll(argv[1]) : 8;
    b.n = argc > 2 ? atoll(argv[2]) : 4000;
    b.t = argc > 3 ? atoll(argv[3]) : 100;
    const int repeats = argc > 4 ? atoi(argv[4]) : 3;
    if (b.k < 1 || b.n < 2 || b.t < 3 || repeats < 1 || repeats > 16) {
        fprintf(stderr, "usage: %s [K [N [T [REPEATS]]]]\n", argv[0]);
        return 2;
    }
    const size_t kn = (size_t)(b.k * b.n);
    b.traj = malloc(kn * (size_t)b.t * sizeof *b.traj);
    b.exact = malloc((size_t)(b.n * b.t) * sizeof *b.exact);
    int32_t *ref = malloc(kn * sizeof *ref);
    b.labels[0] = malloc(kn * sizeof *ref), b.labels[1] = malloc(kn * sizeof *ref);
    if (!b.traj || !b.exact || !ref || !b.labels[0] || !b.labels[1]) return 1;
    make_data(&b);

    /* how the cost splits: the library's own assignment */
    int64_t *count = calloc((size_t)b.k, sizeof *count);
    int32_t owner[4096];
    double cost[2] = {0, 0};
    if (b.k > 4096) return 2;
    for (int64_t dir = 0; dir < b.k; dir++)
        for (int64_t i = 0; i < b.n; i++) count[dir] += b.traj[(dir * b.n + i) * b.t + b.t - 1] < 0;
    polca__clustering_owners(b.k, b.n, count, 2, owner);
    for (int64_t dir = 0; dir < b.k; dir++)
        cost[owner[dir]] += (double)count[dir] * (double)count[dir] + (double)b.n;

    double t1[16], t2[16], c1[16], c2[16];
    polca_context *ctx = one_thread_context();
    b.w = thread_world_new(2);
    int identical = 1;
    for (int r = 0; r < repeats; r++) { /* alternate, so drift hits both alike */
        double t0 = bench_now(), cpu0 = thread_cpu();
        if (cluster(&b, ctx, ref)) return 1;
        t1[r] = bench_now() - t0;
        c1[r] = thread_cpu() - cpu0;
        thread_world_run(b.w, rank_body, &b);
        if (b.failed) return 1;
        t2[r] = b.seconds;
        c2[r] = b.cpu[0] > b.cpu[1] ? b.cpu[0] : b.cpu[1];
        identical &= !memcmp(ref, b.labels[0], kn * sizeof *ref) &&
                     !memcmp(ref, b.labels[1], kn * sizeof *ref);
    }
    thread_world_free(b.w);
    polca_context_destroy(ctx);
    const double s1 = bench_median(t1, repeats), s2 = bench_median(t2, repeats);
    const double u1 = bench_median(c1, repeats), u2 = bench_median(c2, repeats);
    printf("== bench/cluster_comm: K = %lld directions, N = %lld samples, T = %lld, one thread "
           "per rank, median of %d\n",
           (long long)b.k, (long long)b.n, (long long)b.t, repeats);
    printf("samples clustered per direction:");
    for (int64_t dir = 0; dir < b.k; dir++) printf(" %lld", (long long)count[dir]);
    printf("\nrank 0 takes %.1f%% of the estimated cost (sum of m^2 + N), rank 1 %.1f%%\n",
           100 * cost[0] / (cost[0] + cost[1]), 100 * cost[1] / (cost[0] + cost[1]));
    printf("1 rank %.3f s, 2 ranks %.3f s: speed-up %.2f, parallel efficiency t1 / (2 t2) = "
           "%.2f; labels identical on every rank: %s\n",
           s1, s2, s1 / s2, s1 / (2 * s2), identical ? "yes" : "NO");
    /* On a shared machine the ranks wait for cores: CPU time shows what two
     * free cores would give (the busier rank's time against one rank's). */
    printf("CPU time: 1 rank %.3f s, busier of 2 ranks %.3f s: efficiency with two free cores "
           "t1_cpu / (2 max t2_cpu) = %.2f\n",
           u1, u2, u1 / (2 * u2));
    free(b.traj), free(b.exact), free(ref), free(b.labels[0]), free(b.labels[1]), free(count);
    return identical ? 0 : 1;
}
