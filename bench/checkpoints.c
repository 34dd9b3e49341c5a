/*
 * bench/checkpoints.c - compression ratio and decode speed of a checkpoint
 * series file against plain zstd -3 on the raw float32 checkpoints, in the
 * same run, on one core.
 *
 *   checkpoints SERIES.npy [WORK_DIR]
 *
 * SERIES.npy: float32 [T][P] (bench/gen_series.py writes one). Read one
 * checkpoint at a time (O(P) memory).
 *   plain   each checkpoint compressed alone by libzstd at level 3 (what
 *           `zstd -3` does to a file of raw float32), decoded by
 *           ZSTD_decompress into a buffer
 *   ours    polca__checkpoints_create + polca_checkpoints_append with the
 *           default options (level 3, auto preconditioning, max_chain 32,
 *           fsync on), then polca_checkpoints_open + polca_checkpoints_read
 *           of every checkpoint in order (the file is in the page cache:
 *           this measures decoding, not the disk), and of random indices
 * Prints ratios (raw / compressed) and MB/s of decoded float32 output
 * (1 MB = 1e6 bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

#include "checkpoints.h"
#include "container.h"
#include "precond.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "bench/checkpoints: %s: %s\n", what, polca_last_error());
    exit(1);
}

/* Opens a float32 [T][P] .npy and leaves f at the data. */
static FILE *open_npy(const char *path, long *T, long *P) {
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || pre[6] != 1) return NULL;
    size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
    char *h = calloc(1, hl + 1);
    if (!h || fread(h, 1, hl, f) != hl) return NULL;
    char *s = strstr(h, "'shape': (");
    int ok = strstr(h, "'<f4'") && s && sscanf(s + 10, "%ld, %ld", T, P) == 2;
    free(h);
    return ok ? f : NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SERIES.npy [WORK_DIR]\n", argv[0]);
        return 2;
    }
    const char *work = argc > 2 ? argv[2] : "/tmp";
    long T, P;
    FILE *f = open_npy(argv[1], &T, &P);
    if (!f) {
        fprintf(stderr, "bench/checkpoints: %s is not a float32 [T][P] .npy\n", argv[1]);
        return 1;
    }
    size_t bytes = (size_t)P * sizeof(float);
    double raw = (double)T * (double)bytes;
    printf("series %s: %ld checkpoints x %ld parameters (%.1f MB raw float32)\n", argv[1], T, P,
           raw / 1e6);

    float *v = malloc(bytes), *got = malloc(bytes);
    size_t cap = ZSTD_compressBound(bytes);
    unsigned char *z = malloc(cap);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    polca_context *ctx = NULL;
    polca_options *o = NULL;
    if (polca_options_create(&o) || polca_options_set_string(o, "backend", "cpu") ||
        polca_context_create(o, &ctx))
        die("context");
    polca_options_destroy(o);
    polca__layout l;
    polca__layout_init(&l);
    int64_t shape[1] = {P};
    polca__layout_add(&l, "theta", 1, shape);
    char path[512];
    snprintf(path, sizeof path, "%s/bench_checkpoints.pcs", work);
    remove(path);
    polca_checkpoints *s = NULL;
    if (polca__checkpoints_create(ctx, &l, path, NULL, &s)) die("create");

    /* Pass 1: plain zstd per checkpoint (compress + decode), and appends. */
    double plain_bytes = 0, plain_dec = 0, plain_enc = 0, append_time = 0;
    for (long t = 0; t < T; t++) {
        if (fread(v, sizeof(float), (size_t)P, f) != (size_t)P) die("short series file");
        double t0 = now();
        size_t n = ZSTD_compressCCtx(cc, z, cap, v, bytes, 3);
        double t1 = now();
        if (ZSTD_isError(n)) die("zstd");
        size_t d = ZSTD_decompressDCtx(dc, got, bytes, z, n);
        double t2 = now();
        if (d != bytes || memcmp(got, v, bytes)) die("zstd round trip");
        plain_bytes += (double)n;
        plain_enc += t1 - t0;
        plain_dec += t2 - t1;
        t0 = now();
        if (polca_checkpoints_append(s, 20 * t, v, P)) die("append");
        append_time += now() - t0;
    }
    polca_checkpoints_destroy(s);
    struct stat sb;
    stat(path, &sb);
    double ours_bytes = (double)sb.st_size;

    /* Pass 2: decode ours in order, checking every value. */
    if (polca_checkpoints_open(ctx, path, NULL, &s)) die("open");
    fseek(f, -(long)((size_t)T * bytes), SEEK_END);
    double ours_dec = 0;
    for (long t = 0; t < T; t++) {
        if (fread(v, sizeof(float), (size_t)P, f) != (size_t)P) die("short series file");
        double t0 = now();
        if (polca_checkpoints_read(s, t, got, P)) die("read");
        ours_dec += now() - t0;
        if (memcmp(got, v, bytes)) {
            fprintf(stderr, "bench/checkpoints: checkpoint %ld differs\n", t);
            return 1;
        }
    }
    /* Random access: 64 random indices. */
    srand(1);
    double rnd_time = 0;
    int n_rnd = 64;
    for (int k = 0; k < n_rnd; k++) {
        long t = rand() % T;
        double t0 = now();
        if (polca_checkpoints_read(s, t, got, P)) die("read");
        rnd_time += now() - t0;
    }
    polca_checkpoints_destroy(s);

    /* Which preconditioning the records chose. */
    polca__container *c = NULL;
    int modes[8] = {0};
    if (!polca__ct_open(path, 0, 0, NULL, &c)) {
        for (int64_t i = 0; i < polca__ct_count(c); i++)
            modes[polca__ct_record_at(c, i)->precond & 7]++;
        polca__ct_close(c);
    }

    printf("\n%-34s %10s %10s %12s %12s\n", "", "MB", "raw/size", "decode MB/s", "encode MB/s");
    printf("%-34s %10.1f %10.3f %12.0f %12.0f\n", "plain zstd -3, per checkpoint",
           plain_bytes / 1e6, raw / plain_bytes, raw / plain_dec / 1e6, raw / plain_enc / 1e6);
    printf("%-34s %10.1f %10.3f %12.0f %12.0f\n", "libpolca series file (defaults)",
           ours_bytes / 1e6, raw / ours_bytes, raw / ours_dec / 1e6, raw / append_time / 1e6);
    printf("\nours vs plain zstd -3: %.2fx smaller (target >= 1.5x); decode %.0f MB/s on one core "
           "(target >= 500)\n",
           plain_bytes / ours_bytes, raw / ours_dec / 1e6);
    printf("random access: %.2f ms per checkpoint (%.0f MB/s); appends include fsync\n",
           1e3 * rnd_time / n_rnd, (double)n_rnd * (double)bytes / rnd_time / 1e6);
    printf("records by preconditioning: none %d, shuffle %d, xor %d, xor+shuffle %d, diff %d, "
           "diff+shuffle %d\n",
           modes[0], modes[1], modes[2], modes[3], modes[4], modes[5]);
    remove(path);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
    ZSTD_freeCCtx(cc);
    ZSTD_freeDCtx(dc);
    free(v);
    free(got);
    free(z);
    fclose(f);
    return 0;
}
