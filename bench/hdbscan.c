/*
 * bench/hdbscan.c - times polca_hdbscan on POLCA-like trajectories and
 * writes the data and our labels for bench/hdbscan_ref.py (the hdbscan
 * package on the same points). Run by bench/hdbscan.sh.
 *
 *   hdbscan N D MIN_CLUSTER_SIZE MIN_SAMPLES DATA_OUT LABELS_OUT
 *
 * Data: N trajectories of D checkpoints shaped like projected losses: L(0) =
 * 0, a sudden drop (a sigmoid of group-specific onset, width and amplitude)
 * and a random walk of small per-checkpoint changes; 8 groups and 10%
 * stragglers at random onsets. Deterministic (xorshift, Box-Muller).
 * Prints one line: seconds, peak RSS, RSS added by the call, clusters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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

static double rss_mb(void) { /* current resident set */
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s N D MIN_CLUSTER_SIZE MIN_SAMPLES DATA_OUT LABELS_OUT\n", argv[0]);
        return 2;
    }
    const int64_t n = atoll(argv[1]), d = atoll(argv[2]);
    const int64_t mcs = atoll(argv[3]), ms = atoll(argv[4]);
    float *x = malloc((size_t)(n * d) * sizeof *x);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    if (!x || !labels) return 1;
    enum { G = 8 };
    double onset[G], amp[G], width[G];
    for (int g = 0; g < G; g++) {
        onset[g] = (0.1 + 0.8 * g / (G - 1)) * (double)(d - 1);
        amp[g] = 0.3 + 1.2 * uniform();
        width[g] = 1.0 + 7.0 * uniform();
    }
    for (int64_t i = 0; i < n; i++) {
        int g = (int)(uniform() * G);
        double on, a, w;
        if (uniform() < 0.1) {
            on = uniform() * (double)(d - 1), a = 0.1 + 1.4 * uniform(), w = 1 + 19 * uniform();
        } else {
            on = onset[g] + 0.01 * (double)(d - 1) * normal();
            a = amp[g] * (0.9 + 0.2 * uniform());
            w = width[g];
        }
        double s0 = 1.0 / (1.0 + exp(on / w)), walk = 0.0;
        for (int64_t t = 0; t < d; t++) {
            if (t > 0) walk += 0.004 * normal();
            double s = 1.0 / (1.0 + exp(-((double)t - on) / w));
            x[i * d + t] = (float)(-a * (s - s0) + walk);
        }
    }
    FILE *f = fopen(argv[5], "wb");
    if (!f || fwrite(x, sizeof *x, (size_t)(n * d), f) != (size_t)(n * d)) return 1;
    fclose(f);

    polca_context *ctx = NULL;
    polca_options *o = NULL;
    /* The CPU backend (the target is a CPU measurement) unless POLCA_BACKEND
     * names another: with "cuda" the exact distances run on the GPU. */
    const char *backend = getenv("POLCA_BACKEND");
    if (!backend || !*backend) backend = "cpu";
    if (polca_options_create(&o) || polca_options_set_string(o, "backend", backend) ||
        polca_context_create(o, &ctx)) {
        fprintf(stderr, "%s\n", polca_last_error());
        return 1;
    }
    polca_options_destroy(o);
    o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "min_cluster_size", mcs);
    polca_options_set_int(o, "min_samples", ms);
    const char *device = "";
    polca_context_device(ctx, &device);
    double before = rss_mb(), t0 = now();
    int32_t nc = 0;
    if (polca_hdbscan(ctx, n, d, x, o, labels, NULL, NULL, &nc)) {
        fprintf(stderr, "polca_hdbscan: %s\n", polca_last_error());
        return 1;
    }
    double seconds = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double peak = (double)ru.ru_maxrss / 1024.0;
    int64_t noise = 0;
    for (int64_t i = 0; i < n; i++) noise += labels[i] < 0;
    f = fopen(argv[6], "wb");
    if (!f || fwrite(labels, sizeof *labels, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    printf("ours: n=%lld d=%lld seconds=%.3f peak_rss_mb=%.1f added_mb=%.1f clusters=%d "
           "noise=%lld (%s)\n",
           (long long)n, (long long)d, seconds, peak, peak - before, nc, (long long)noise,
           device);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
    free(x), free(labels);
    return 0;
}
