/*
 * tests/faults/series_tool.c - a training loop and a reader of checkpoint
 * series, driven line by line by tests/faults/campaign.py. It uses only the
 * public API, as a user program would.
 *
 *   series_tool [-c KEY=VALUE]... [-n] PATH
 *       reads commands on stdin, one per line, answers one line each on
 *       stdout (flushed at once, so a killed process has reported exactly
 *       the appends that had returned POLCA_OK):
 *         create        polca_checkpoints_create (no overwrite)  -> "ok" | "err ..."
 *         replace       the same with "overwrite" = 1            -> "ok" | "err ..."
 *         open          polca_checkpoints_open, writable          -> "ok" | "err ..."
 *         append STEP   one checkpoint, theta = init(seed STEP)   -> "ok STEP" | "err ..."
 *         appendn START STRIDE N   N appends ("ok STEP" each; stops at the first error)
 *         close         polca_checkpoints_destroy                 -> "ok"
 *       EOF ends the program.
 *   series_tool [-c KEY=VALUE]... PATH check [MIN_STEP]
 *       opens read-only, reads every checkpoint, prints "steps S..." and
 *       "ok N" when every checkpoint with step >= MIN_STEP (default 0) equals
 *       init(seed step); "WRONG step S" at the first that does not (exit 3);
 *       "err ..." when the library refuses (exit 2).
 *   series_tool PATH dump OUT
 *       writes every checkpoint as int64 step + float32[P] to OUT (exit 2
 *       and "err ..." when the library refuses).
 *   series_tool PATH openloop SECONDS
 *       opens and closes the series as fast as it can for SECONDS; prints
 *       "err ..." for (the first 5) failed opens, "WRONG ..." when the count
 *       went down, and "opens N errors E" at the end.
 *   series_tool [-c KEY=VALUE]... PATH readloop SECONDS
 *       opens, reads and checks the whole series (as check) again and again
 *       for SECONDS; one line per open: "ok N" or "err ..." or "WRONG ...".
 *
 * -c sets an option of the built-in transformer (default: the model of
 * tests/cli_fixtures.py); -n sets "sync" = 0 on appends (survives a killed
 * process, not a power cut; faster).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polca/polca.h"

static polca_context *ctx;
static polca_model *model;
static int64_t P;
static int nosync;

static void die(const char *what) {
    printf("err %s: %s\n", what, polca_last_error());
    fflush(stdout);
    exit(2);
}

static void setup(int n_opts, char **opts) {
    polca_options *o = NULL;
    if (polca_options_create(&o) || polca_options_set_string(o, "backend", "cpu") ||
        polca_context_create(o, &ctx))
        die("context");
    polca_options_destroy(o);
    const char *defaults[] = {"n_layers=1", "d_model=8",  "n_heads=2",         "d_head=4",
                              "d_mlp=16",   "d_vocab=7", "n_ctx=6", "act_fn=gelu_new"};
    if (polca_options_create(&o)) die("options");
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? n_opts : (int)(sizeof defaults / sizeof *defaults);
        for (int i = 0; i < n; i++) {
            char kv[128];
            snprintf(kv, sizeof kv, "%s", pass ? opts[i] : defaults[i]);
            char *eq = strchr(kv, '=');
            if (!eq) die("-c KEY=VALUE");
            *eq = 0;
            int32_t st = strcmp(kv, "act_fn") == 0
                             ? polca_options_set_string(o, kv, eq + 1)
                             : polca_options_set_int(o, kv, strtoll(eq + 1, NULL, 10));
            if (st) die(kv);
        }
    }
    if (polca_model_create_transformer(ctx, o, &model)) die("model");
    polca_options_destroy(o);
    polca_model_n_params(model, &P);
}

/* theta of checkpoint `step`: the model's initialisation with that seed. */
static void theta_at(int64_t step, float *v) {
    if (polca_model_init(model, (uint64_t)step, v)) die("init");
}

static polca_checkpoints *series;

static void append(int64_t step, float *v) {
    theta_at(step, v);
    if (!series) {
        printf("err append: no series\n");
    } else if (polca_checkpoints_append(series, step, v, P)) {
        printf("err append %lld: %s\n", (long long)step, polca_last_error());
    } else {
        printf("ok %lld\n", (long long)step);
    }
    fflush(stdout);
}

static int interactive(const char *path) {
    float *v = malloc((size_t)P * sizeof *v);
    char line[256];
    if (!v) die("memory");
    while (fgets(line, sizeof line, stdin)) {
        long long a = 0, b = 0, c = 0;
        if (strncmp(line, "create", 6) == 0 || strncmp(line, "replace", 7) == 0) {
            polca_options *o = NULL;
            polca_options_create(&o);
            polca_options_set_int(o, "overwrite", line[0] == 'r');
            if (nosync) polca_options_set_int(o, "sync", 0);
            int32_t st = polca_checkpoints_create(ctx, model, path, o, &series);
            polca_options_destroy(o);
            if (st) {
                series = NULL;
                printf("err %s", line);
                printf(" %s\n", polca_last_error());
            } else {
                printf("ok\n");
            }
        } else if (strncmp(line, "open", 4) == 0) {
            polca_options *o = NULL;
            polca_options_create(&o);
            polca_options_set_int(o, "writable", 1);
            if (nosync) polca_options_set_int(o, "sync", 0);
            if (polca_checkpoints_open(ctx, path, o, &series)) {
                series = NULL;
                printf("err open: %s\n", polca_last_error());
            } else {
                printf("ok\n");
            }
            polca_options_destroy(o);
        } else if (sscanf(line, "appendn %lld %lld %lld", &a, &b, &c) == 3) {
            for (long long i = 0; i < c; i++) {
                append(a + i * b, v);
                if (!series) break;
            }
            continue;
        } else if (sscanf(line, "append %lld", &a) == 1) {
            append(a, v);
            continue;
        } else if (strncmp(line, "close", 5) == 0) {
            polca_checkpoints_destroy(series);
            series = NULL;
            printf("ok\n");
        } else {
            printf("err unknown command %s", line);
        }
        fflush(stdout);
    }
    polca_checkpoints_destroy(series);
    free(v);
    return 0;
}

/* 0 ok, 2 refused, 3 wrong contents; prints one line (and the steps). */
static int check(const char *path, int64_t min_step, int print_steps) {
    polca_checkpoints *s = NULL;
    if (polca_checkpoints_open(ctx, path, NULL, &s)) {
        printf("err open: %s\n", polca_last_error());
        return 2;
    }
    int64_t n = 0, np = 0;
    polca_checkpoints_count(s, &n);
    polca_checkpoints_n_params(s, &np);
    float *got = malloc((size_t)np * sizeof *got), *want = malloc((size_t)np * sizeof *want);
    int rc = 0;
    if (print_steps) printf("steps");
    for (int64_t i = 0; i < n; i++) {
        int64_t step = 0;
        polca_checkpoints_step(s, i, &step);
        if (print_steps) printf(" %lld", (long long)step);
    }
    if (print_steps) printf("\n");
    for (int64_t i = 0; i < n && rc == 0; i++) {
        int64_t step = 0;
        polca_checkpoints_step(s, i, &step);
        if (polca_checkpoints_read(s, i, got, np)) {
            printf("err read %lld: %s\n", (long long)i, polca_last_error());
            rc = 2;
        } else if (step >= min_step) {
            if (np != P) {
                printf("WRONG n_params %lld\n", (long long)np);
                rc = 3;
                break;
            }
            theta_at(step, want);
            if (memcmp(got, want, (size_t)np * sizeof *got)) {
                printf("WRONG step %lld\n", (long long)step);
                rc = 3;
            }
        }
    }
    if (rc == 0) printf("ok %lld\n", (long long)n);
    fflush(stdout);
    free(got);
    free(want);
    polca_checkpoints_destroy(s);
    return rc;
}

static int dump(const char *path, const char *out) {
    polca_checkpoints *s = NULL;
    if (polca_checkpoints_open(ctx, path, NULL, &s)) {
        printf("err open: %s\n", polca_last_error());
        return 2;
    }
    int64_t n = 0, np = 0;
    polca_checkpoints_count(s, &n);
    polca_checkpoints_n_params(s, &np);
    float *v = malloc((size_t)np * sizeof *v);
    FILE *f = fopen(out, "wb");
    int rc = v && f ? 0 : 3;
    for (int64_t i = 0; i < n && rc == 0; i++) {
        int64_t step = 0;
        polca_checkpoints_step(s, i, &step);
        if (polca_checkpoints_read(s, i, v, np)) {
            printf("err read %lld: %s\n", (long long)i, polca_last_error());
            rc = 2;
        } else if (fwrite(&step, 8, 1, f) != 1 || fwrite(v, 4, (size_t)np, f) != (size_t)np) {
            rc = 3;
        }
    }
    if (f && fclose(f)) rc = 3;
    if (rc == 0) printf("ok %lld %lld\n", (long long)n, (long long)np);
    free(v);
    polca_checkpoints_destroy(s);
    return rc;
}

int main(int argc, char **argv) {
    char *opts[32];
    int n_opts = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-n") == 0) {
            nosync = 1;
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc && n_opts < 32) {
            opts[n_opts++] = argv[++i];
        } else {
            fprintf(stderr, "series_tool: bad option %s\n", argv[i]);
            return 1;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: series_tool [-c KEY=VALUE]... [-n] PATH [check|dump|readloop]\n");
        return 1;
    }
    const char *path = argv[i++];
    setup(n_opts, opts);
    if (i == argc) return interactive(path);
    if (strcmp(argv[i], "check") == 0)
        return check(path, i + 1 < argc ? strtoll(argv[i + 1], NULL, 10) : 0, 1);
    if (strcmp(argv[i], "dump") == 0 && i + 1 < argc) return dump(path, argv[i + 1]);
    if (strcmp(argv[i], "openloop") == 0 && i + 1 < argc) {
        /* open, count, close as fast as possible: the race of defect 11 */
        double seconds = atof(argv[i + 1]);
        struct timespec t0, t;
        long opens = 0, errors = 0;
        int64_t last = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            polca_checkpoints *s = NULL;
            int64_t n = 0;
            opens++;
            if (polca_checkpoints_open(ctx, path, NULL, &s)) {
                if (errors++ < 5) printf("err open: %s\n", polca_last_error());
            } else {
                polca_checkpoints_count(s, &n);
                if (n < last) printf("WRONG count %lld after %lld\n", (long long)n, (long long)last);
                last = n;
                polca_checkpoints_destroy(s);
            }
            clock_gettime(CLOCK_MONOTONIC, &t);
        } while ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) <
                 seconds);
        printf("opens %ld errors %ld\n", opens, errors);
        return 0;
    }
    if (strcmp(argv[i], "readloop") == 0 && i + 1 < argc) {
        double seconds = atof(argv[i + 1]);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            check(path, 0, 0);
            clock_gettime(CLOCK_MONOTONIC, &t);
        } while ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) <
                 seconds);
        return 0;
    }
    fprintf(stderr, "series_tool: unknown mode %s\n", argv[i]);
    return 1;
}
