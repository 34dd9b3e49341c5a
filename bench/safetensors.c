/*
 * bench/safetensors.c - parse time of large safetensors headers and large
 * parameter layouts (issue 21, defect 7: both were quadratic in the number
 * of names). Never part of `make check`: timings depend on the machine.
 *
 *   safetensors [N ...]          default N: 100000 200000
 *   safetensors --write PATH N [M]
 *       writes a safetensors file of N one-element F32 tensors and M
 *       __metadata__ keys (for timing `polca info`, bench/safetensors.sh)
 *
 * For each N, on one core (the file for import in TMPDIR or /tmp):
 *   tensors   polca__st_open_mem on a header of N entries
 *             {"tNNN":{"dtype":"F32","shape":[1],"data_offsets":[b,e]}}
 *   metadata  polca__st_open_mem on a header with N __metadata__ keys
 *   import    polca__checkpoints_import_safetensors of one N-entry file
 *             (opens it twice: step, then data) into a 1-tensor layout
 *   layout    polca__layout_append of N tensors and one polca__layout_rehash,
 *             as a series file's reader does (before issue 21 it called
 *             polca__layout_add, which rehashed the whole layout each time)
 *   series    polca_checkpoints_open of a series file whose layout lists N
 *             tensors
 * and a last row: one header of about 100 MB (the format's limit).
 * Prints CPU seconds, CPU seconds per MB of header, and the ratio of the time for
 * the largest N to the smallest: linear parsing gives about their ratio
 * (2 for the default 100k/200k), quadratic parsing its square (4).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoints.h"
#include "layout.h"
#include "safetensors.h"

/* CPU seconds of this process: parsing is one thread, and on a shared
 * machine wall time mostly measures the neighbours. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "bench/safetensors: %s: %s\n", what, polca_last_error());
    exit(1);
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) die("out of memory");
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* A whole file image: n_tensors one-element F32 tensors, n_meta metadata
 * keys; *header_bytes gets the header length. */
static unsigned char *make_file(int64_t n_tensors, int64_t n_meta, size_t *size,
                                size_t *header_bytes) {
    buf b = {0};
    char item[160];
    put(&b, "{", 1);
    if (n_meta > 0) {
        put(&b, "\"__metadata__\":{", 16);
        for (int64_t i = 0; i < n_meta; i++) {
            int k = snprintf(item, sizeof item, "%s\"key%lld\":\"v\"", i ? "," : "", (long long)i);
            put(&b, item, (size_t)k);
        }
        put(&b, "}", 1);
    }
    for (int64_t i = 0; i < n_tensors; i++) {
        int k = snprintf(item, sizeof item,
                         "%s\"t%lld\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%lld,%lld]}",
                         (i || n_meta > 0) ? "," : "", (long long)i, (long long)(4 * i),
                         (long long)(4 * i + 4));
        put(&b, item, (size_t)k);
    }
    put(&b, "}", 1);
    while ((8 + b.n) % 8) put(&b, " ", 1);
    size_t data = (size_t)n_tensors * 4;
    *size = 8 + b.n + data;
    *header_bytes = b.n;
    unsigned char *f = calloc(1, *size);
    if (!f) die("out of memory");
    for (int i = 0; i < 8; i++) f[i] = (unsigned char)((uint64_t)b.n >> (8 * i));
    memcpy(f + 8, b.p, b.n);
    for (size_t i = 0; i < data / 4; i++) memcpy(f + 8 + b.n + 4 * i, &(float){1.0f}, 4);
    free(b.p);
    return f;
}

/* The least of three opens. */
static double time_open(const unsigned char *img, size_t size, int64_t expect) {
    double best = 1e300;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        polca__st_file *f = NULL;
        if (polca__st_open_mem(img, size, "bench.st", &f)) die("open");
        double t = now() - t0;
        if (expect >= 0 && polca__st_count(f) != expect) die("wrong tensor count");
        polca__st_close(f);
        best = t < best ? t : best;
    }
    return best;
}

static int write_file(const char *path, const unsigned char *img, size_t size) {
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(img, 1, size, f) == size;
    if (f && fclose(f)) ok = 0;
    return ok;
}

typedef struct row {
    int64_t n;
    double mb[3], t[5];
} row;

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "--write")) {
        size_t size, hb;
        unsigned char *img = make_file(atoll(argv[3]), argc > 4 ? atoll(argv[4]) : 0, &size, &hb);
        if (!write_file(argv[2], img, size)) {
            perror(argv[2]);
            return 1;
        }
        free(img);
        return 0;
    }
    int64_t ns[16];
    int nn = 0;
    for (int i = 1; i < argc && nn < 16; i++) ns[nn++] = atoll(argv[i]);
    if (!nn) {
        ns[0] = 100000;
        ns[1] = 200000;
        nn = 2;
    }
    polca_context *ctx = NULL;
    polca_options *o = NULL;
    if (polca_options_create(&o) || polca_options_set_string(o, "backend", "cpu") ||
        polca_context_create(o, &ctx))
        die("context");
    polca_options_destroy(o);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char st_path[512], series_path[512];
    snprintf(st_path, sizeof st_path, "%s/bench_st_%d_7.safetensors", tmp, (int)getpid());
    snprintf(series_path, sizeof series_path, "%s/bench_st_%d.pcs", tmp, (int)getpid());

    printf("== bench/safetensors: header and layout parsing (one core)\n");
    printf("%9s  %-9s %9s %10s %10s\n", "N", "what", "header MB", "seconds", "s per MB");
    row rows[16];
    for (int r = 0; r < nn; r++) {
        int64_t n = ns[r];
        row *w = &rows[r];
        w->n = n;
        size_t size, hb;
        /* tensors */
        unsigned char *img = make_file(n, 0, &size, &hb);
        w->mb[0] = (double)hb / 1e6;
        w->t[0] = time_open(img, size, n);
        printf("%9lld  %-9s %9.2f %10.3f %10.4f\n", (long long)n, "tensors", w->mb[0], w->t[0],
               w->t[0] / w->mb[0]);
        /* import: the same file on disk, one tensor of the layout read */
        if (!write_file(st_path, img, size)) die(st_path);
        free(img);
        polca__layout l;
        polca__layout_init(&l);
        int64_t one = 1;
        if (polca__layout_add(&l, "t0", 1, &one)) die("layout");
        const char *files[1] = {st_path};
        polca_checkpoints *s = NULL;
        double t0 = now();
        if (polca__checkpoints_import_safetensors(ctx, &l, 1, files, NULL, NULL, &s))
            die("import");
        w->t[2] = now() - t0;
        polca_checkpoints_destroy(s);
        polca__layout_free(&l);
        unlink(st_path);
        printf("%9lld  %-9s %9.2f %10.3f %10.4f\n", (long long)n, "import", w->mb[0], w->t[2],
               w->t[2] / w->mb[0]);
        /* metadata */
        img = make_file(0, n, &size, &hb);
        w->mb[1] = (double)hb / 1e6;
        w->t[1] = time_open(img, size, 0);
        free(img);
        printf("%9lld  %-9s %9.2f %10.3f %10.4f\n", (long long)n, "metadata", w->mb[1], w->t[1],
               w->t[1] / w->mb[1]);
        /* layout: n tensors added one by one */
        polca__layout_init(&l);
        t0 = now();
        for (int64_t i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "blocks.%lld.w", (long long)i);
            if (polca__layout_append(&l, name, 1, &one)) die("layout append");
        }
        polca__layout_rehash(&l);
        w->t[3] = now() - t0;
        printf("%9lld  %-9s %9s %10.3f\n", (long long)n, "layout", "-", w->t[3]);
        /* series: a file whose layout lists the n tensors, opened */
        unlink(series_path);
        if (polca__checkpoints_create(ctx, &l, series_path, NULL, &s)) die("create");
        polca_checkpoints_destroy(s);
        t0 = now();
        if (polca_checkpoints_open(ctx, series_path, NULL, &s)) die("open series");
        w->t[4] = now() - t0;
        polca_checkpoints_destroy(s);
        polca__layout_free(&l);
        unlink(series_path);
        printf("%9lld  %-9s %9s %10.3f\n", (long long)n, "series", "-", w->t[4]);
        fflush(stdout);
    }
    if (nn >= 2) {
        const row *a = &rows[0], *b = &rows[nn - 1];
        static const char *what[5] = {"tensors", "metadata", "import", "layout", "series"};
        printf("time ratio N=%lld / N=%lld (linear: %.1f, quadratic: %.1f):", (long long)b->n,
               (long long)a->n, (double)b->n / (double)a->n,
               ((double)b->n / (double)a->n) * ((double)b->n / (double)a->n));
        for (int k = 0; k < 5; k++) printf(" %s %.2f", what[k], a->t[k] > 0 ? b->t[k] / a->t[k] : 0);
        printf("\n");
    }
    /* About 100 MB of header: the format's limit. */
    {
        int64_t n = 1250000;
        size_t size, hb;
        unsigned char *img = make_file(n, 0, &size, &hb);
        double t = time_open(img, size, n);
        printf("%9lld  %-9s %9.2f %10.3f %10.4f  (the format's 100 MB limit)\n", (long long)n,
               "tensors", (double)hb / 1e6, t, t / ((double)hb / 1e6));
        free(img);
    }
    polca_context_destroy(ctx);
    return 0;
}
