/*
 * src/checkpoints.c - polca_checkpoints: a series of (step, float32[P]) in
 * memory or in a container file (polca/checkpoints.h, src/checkpoints.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "checkpoints.h"
#include "container.h"
#include "fileio.h"
#include "npy_write.h"
#include "precond.h"
#include "safetensors.h"

struct polca_checkpoints {
    polca__head head;
    polca__layout layout;
    polca__container *ct; /* file-backed; NULL in memory */
    /* in memory: vecs[i] holds layout.n_params floats */
    float **vecs;
    int64_t *steps;
    int64_t n, cap;
};

/* ---- options ---- */

#define WRITE_OPTIONS                                                                              \
    {"zstd_level", POLCA_OPT_INT}, {"max_chain", POLCA_OPT_INT},                                   \
        {"precondition", POLCA_OPT_STRING}, {                                                      \
        "full_trials", POLCA_OPT_INT                                                               \
    }

static const polca__option_spec open_spec[] = {
    WRITE_OPTIONS, {"sync", POLCA_OPT_INT}, {"writable", POLCA_OPT_INT}, {NULL, 0}};
static const polca__option_spec create_spec[] = {
    WRITE_OPTIONS, {"sync", POLCA_OPT_INT}, {"overwrite", POLCA_OPT_INT}, {NULL, 0}};
static const polca__option_spec import_spec[] = {WRITE_OPTIONS,
                                                 {"sync", POLCA_OPT_INT},
                                                 {"overwrite", POLCA_OPT_INT},
                                                 {"writable", POLCA_OPT_INT},
                                                 {"step_key", POLCA_OPT_STRING},
                                                 {NULL, 0}};
static const polca__option_spec save_spec[] = {WRITE_OPTIONS, {NULL, 0}};

static int32_t int_option(const polca_options *o, const char *name, int64_t dflt, int64_t lo,
                          int64_t hi, const char *fn, int32_t *out) {
    int64_t v = polca__options_int(o, name, dflt);
    if (v < lo || v > hi)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option '%s' is %lld, must be in %lld..%lld", fn, name, (long long)v,
                           (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return POLCA_OK;
}

/* Fills cfg from the write options (the spec was checked already). */
static int32_t config_from(const polca_options *o, const char *fn, polca__ct_config *cfg) {
    polca__ct_config_default(cfg);
    int32_t st;
    if ((st = int_option(o, "zstd_level", cfg->level, 1, 19, fn, &cfg->level))) return st;
    if ((st = int_option(o, "max_chain", cfg->max_chain, 0, 255, fn, &cfg->max_chain))) return st;
    if ((st = int_option(o, "full_trials", 0, 0, 1, fn, &cfg->full_trials))) return st;
    if ((st = int_option(o, "sync", 1, 0, 1, fn, &cfg->sync))) return st;
    static const struct {
        const char *name;
        unsigned mode;
    } pre[] = {
        {"none", 0},
        {"shuffle", POLCA__PRE_SHUFFLE},
        {"xor", POLCA__PRE_XOR},
        {"xor_shuffle", POLCA__PRE_XOR | POLCA__PRE_SHUFFLE},
        {"diff", POLCA__PRE_SUB},
        {"diff_shuffle", POLCA__PRE_SUB | POLCA__PRE_SHUFFLE},
    };
    const char *p = polca__options_string(o, "precondition", "auto");
    if (strcmp(p, "auto") != 0) {
        size_t k = 0;
        while (k < sizeof pre / sizeof *pre && strcmp(p, pre[k].name) != 0) k++;
        if (k == sizeof pre / sizeof *pre)
            return polca__fail(
                POLCA_ERR_INVALID_ARGUMENT,
                "%s: option 'precondition' is '%s'; expected auto, none, shuffle, xor, "
                "xor_shuffle, diff or diff_shuffle",
                fn, p);
        cfg->precond = POLCA__CT_PRE_FORCED | pre[k].mode;
    }
    return POLCA_OK;
}

/* ---- handles ---- */

static int32_t check_series(const polca_checkpoints *s, const char *fn) {
    return polca__check_handle(s, POLCA_MAGIC_CHECKPOINTS, fn, "series", "polca_checkpoints");
}

static int32_t check_ctx(const polca_context *ctx, const char *fn) {
    return polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
}

static polca_checkpoints *series_new(polca_context *ctx) {
    polca_checkpoints *s = polca__calloc(1, sizeof *s, "polca_checkpoints");
    if (!s) return NULL;
    s->head.magic = POLCA_MAGIC_CHECKPOINTS;
    s->head.ctx = ctx;
    polca__layout_init(&s->layout);
    return s;
}

void polca_checkpoints_destroy(polca_checkpoints *s) {
    if (!s || s->head.magic != POLCA_MAGIC_CHECKPOINTS) return;
    polca__ct_close(s->ct);
    for (int64_t i = 0; i < s->n && s->vecs; i++) free(s->vecs[i]);
    free(s->vecs);
    free(s->steps);
    polca__layout_free(&s->layout);
    s->head.magic = 0;
    free(s);
}

static int64_t series_count(const polca_checkpoints *s) {
    return s->ct ? polca__ct_count(s->ct) : s->n;
}

static int64_t series_step(const polca_checkpoints *s, int64_t i) {
    return s->ct ? polca__ct_record_at(s->ct, i)->step : s->steps[i];
}

const polca__layout *polca__checkpoints_layout(const polca_checkpoints *s) { return &s->layout; }

/* Every record of a series file: a float32 checkpoint of the layout's size,
 * steps strictly increasing. */
static int32_t check_series_file(polca__container *ct, const polca__layout *l) {
    for (int64_t i = 0; i < polca__ct_count(ct); i++) {
        const polca__ct_record *r = polca__ct_record_at(ct, i);
        if (r->kind != POLCA__REC_CHECKPOINT || r->dtype != POLCA__DT_F32 ||
            r->n_elems != (uint64_t)l->n_params)
            return polca__fail(POLCA_ERR_CORRUPT,
                               "%s: byte %llu: record %lld is not a float32 checkpoint of %lld "
                               "parameters",
                               polca__ct_path(ct), (unsigned long long)r->offset, (long long)i,
                               (long long)l->n_params);
        if (i > 0 && r->step <= polca__ct_record_at(ct, i - 1)->step)
            return polca__fail(POLCA_ERR_CORRUPT,
                               "%s: byte %llu: record %lld has step %lld, not after step %lld",
                               polca__ct_path(ct), (unsigned long long)r->offset + 16, (long long)i,
                               (long long)r->step, (long long)polca__ct_record_at(ct, i - 1)->step);
    }
    return POLCA_OK;
}

static int32_t adopt_file(polca_checkpoints *s, polca__container *ct) {
    const polca__layout *l = polca__ct_layout(ct);
    if (!l || l->n_params <= 0)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "%s: byte 96: a checkpoint series file without a parameter layout",
                           polca__ct_path(ct));
    int32_t st = check_series_file(ct, l);
    if (!st) st = polca__layout_copy(&s->layout, l);
    return st;
}

int32_t polca_checkpoints_open(polca_context *ctx, const char *path, const polca_options *options,
                               polca_checkpoints **out) {
    static const char fn[] = "polca_checkpoints_open";
    polca__clear_error();
    int32_t st = check_ctx(ctx, fn);
    if (st) return st;
    if (!path || !path[0])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL or empty", fn);
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if ((st = polca__options_check(options, open_spec, fn))) return st;
    polca__ct_config cfg;
    int32_t writable = 0;
    if ((st = config_from(options, fn, &cfg))) return st;
    if ((st = int_option(options, "writable", 0, 0, 1, fn, &writable))) return st;
    polca_checkpoints *s = series_new(ctx);
    if (!s) return POLCA_ERR_OUT_OF_MEMORY;
    st = polca__ct_open(path, POLCA__FILE_CHECKPOINTS, writable, &cfg, &s->ct);
    if (st == POLCA_ERR_INVALID_ARGUMENT) st = POLCA_ERR_CORRUPT; /* another file kind */
    if (!st) st = adopt_file(s, s->ct);
    if (st) {
        polca__wrap(st, "%s", fn);
        polca_checkpoints_destroy(s);
        return st;
    }
    *out = s;
    return POLCA_OK;
}

int32_t polca__checkpoints_create(polca_context *ctx, const polca__layout *layout, const char *path,
                                  const polca_options *options, polca_checkpoints **out) {
    static const char fn[] = "polca__checkpoints_create";
    polca__clear_error();
    int32_t st = check_ctx(ctx, fn);
    if (st) return st;
    if (!layout || layout->n_params <= 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'layout' is NULL or empty",
                           fn);
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (path && !path[0])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is empty", fn);
    if ((st = polca__options_check(options, create_spec, fn))) return st;
    polca__ct_config cfg;
    int32_t overwrite = 0;
    if ((st = config_from(options, fn, &cfg))) return st;
    if ((st = int_option(options, "overwrite", 0, 0, 1, fn, &overwrite))) return st;
    /* A quick answer with a hint; the create itself is atomic (no_replace),
     * so a file another process creates after this check still fails it. */
    if (path && !overwrite && access(path, F_OK) == 0)
        return polca__fail(POLCA_ERR_IO,
                           "%s: '%s' exists (open it with polca_checkpoints_open, or set "
                           "option 'overwrite' to replace it)",
                           fn, path);
    cfg.no_replace = !overwrite;
    polca_checkpoints *s = series_new(ctx);
    if (!s) return POLCA_ERR_OUT_OF_MEMORY;
    st = polca__layout_copy(&s->layout, layout);
    if (!st && path)
        st = polca__ct_create(path, POLCA__FILE_CHECKPOINTS, layout, NULL, 0, POLCA__CT_APPEND,
                              &cfg, &s->ct);
    if (st) {
        polca_checkpoints_destroy(s);
        return st;
    }
    *out = s;
    return POLCA_OK;
}

/* ---- queries ---- */

int32_t polca_checkpoints_count(const polca_checkpoints *s, int64_t *out) {
    static const char fn[] = "polca_checkpoints_count";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_count' is NULL", fn);
    *out = series_count(s);
    return POLCA_OK;
}

int32_t polca_checkpoints_n_params(const polca_checkpoints *s, int64_t *out) {
    static const char fn[] = "polca_checkpoints_n_params";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_n_params' is NULL", fn);
    *out = s->layout.n_params;
    return POLCA_OK;
}

int32_t polca_checkpoints_layout_hash(const polca_checkpoints *s, uint64_t *out) {
    static const char fn[] = "polca_checkpoints_layout_hash";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_hash' is NULL", fn);
    *out = s->layout.hash;
    return POLCA_OK;
}

int32_t polca_checkpoints_path(const polca_checkpoints *s, const char **out) {
    static const char fn[] = "polca_checkpoints_path";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_path' is NULL", fn);
    *out = s->ct ? polca__ct_path(s->ct) : NULL;
    return POLCA_OK;
}

static int32_t check_index(const polca_checkpoints *s, int64_t index, const char *fn) {
    if (index < 0 || index >= series_count(s))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'index' is %lld; the series has %lld checkpoints", fn,
                           (long long)index, (long long)series_count(s));
    return POLCA_OK;
}

int32_t polca_checkpoints_step(const polca_checkpoints *s, int64_t index, int64_t *out) {
    static const char fn[] = "polca_checkpoints_step";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if ((st = check_index(s, index, fn))) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_step' is NULL", fn);
    *out = series_step(s, index);
    return POLCA_OK;
}

int32_t polca_checkpoints_steps(const polca_checkpoints *s, int64_t *out, int64_t count) {
    static const char fn[] = "polca_checkpoints_steps";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (count != series_count(s))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'count' is %lld; the series has %lld checkpoints", fn,
                           (long long)count, (long long)series_count(s));
    if (!out && count)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_steps' is NULL", fn);
    for (int64_t i = 0; i < count; i++) out[i] = series_step(s, i);
    return POLCA_OK;
}

int32_t polca_checkpoints_find_step(const polca_checkpoints *s, int64_t step, int64_t *out) {
    static const char fn[] = "polca_checkpoints_find_step";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_index' is NULL", fn);
    int64_t lo = 0, hi = series_count(s); /* steps strictly increase */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (series_step(s, mid) < step)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = lo < series_count(s) && series_step(s, lo) == step ? lo : -1;
    return POLCA_OK;
}

/* ---- reading and appending ---- */

static int32_t read_into(polca_checkpoints *s, int64_t index, float *dst) {
    if (s->ct) return polca__ct_read(s->ct, index, dst, (uint64_t)s->layout.n_params);
    memcpy(dst, s->vecs[index], (size_t)s->layout.n_params * sizeof(float));
    return POLCA_OK;
}

int32_t polca_checkpoints_read(polca_checkpoints *s, int64_t index, float *out, int64_t n_params) {
    static const char fn[] = "polca_checkpoints_read";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if ((st = check_index(s, index, fn))) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_theta' is NULL", fn);
    if (n_params != s->layout.n_params)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_params' is %lld; the series has %lld", fn,
                           (long long)n_params, (long long)s->layout.n_params);
    st = read_into(s, index, out);
    if (st) polca__wrap(st, "%s: checkpoint %lld", fn, (long long)index);
    return st;
}

/* The tensor holding flat element k. */
static const polca__tensor_info *tensor_of(const polca__layout *l, int64_t k) {
    int64_t lo = 0, hi = l->n_tensors - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (l->tensors[mid].offset <= k)
            lo = mid;
        else
            hi = mid - 1;
    }
    return &l->tensors[lo];
}

static int32_t check_finite(const polca__layout *l, const float *theta, const char *fn,
                            const char *what) {
    int64_t n = l->n_params;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(theta[i])) {
            const polca__tensor_info *t = tensor_of(l, i);
            return polca__fail(POLCA_ERR_NOT_FINITE,
                               "%s: %s holds %s at element %lld (tensor '%s', element %lld)", fn,
                               what, isnan(theta[i]) ? "NaN" : "an infinity", (long long)i, t->name,
                               (long long)(i - t->offset));
        }
    }
    return POLCA_OK;
}

static int32_t append_checked(polca_checkpoints *s, int64_t step, const float *theta) {
    int64_t n = series_count(s);
    if (n > 0 && step <= series_step(s, n - 1))
        return polca__fail(
            POLCA_ERR_INVALID_ARGUMENT,
            "polca_checkpoints_append: argument 'step' is %lld, not after the last step %lld",
            (long long)step, (long long)series_step(s, n - 1));
    if (s->ct)
        return polca__ct_append(s->ct, POLCA__REC_CHECKPOINT, step, POLCA__DT_F32, theta,
                                (uint64_t)s->layout.n_params, 1);
    if (s->n == s->cap) {
        int64_t nc = s->cap ? s->cap * 2 : 16;
        float **v = realloc(s->vecs, (size_t)nc * sizeof *v);
        if (!v)
            return polca__fail(POLCA_ERR_OUT_OF_MEMORY,
                               "out of memory growing a checkpoint series");
        s->vecs = v;
        int64_t *st = realloc(s->steps, (size_t)nc * sizeof *st);
        if (!st)
            return polca__fail(POLCA_ERR_OUT_OF_MEMORY,
                               "out of memory growing a checkpoint series");
        s->steps = st;
        s->cap = nc;
    }
    float *copy = polca__calloc((size_t)s->layout.n_params, sizeof(float), "a checkpoint");
    if (!copy) return POLCA_ERR_OUT_OF_MEMORY;
    memcpy(copy, theta, (size_t)s->layout.n_params * sizeof(float));
    s->vecs[s->n] = copy;
    s->steps[s->n] = step;
    s->n++;
    return POLCA_OK;
}

int32_t polca_checkpoints_append(polca_checkpoints *s, int64_t step, const float *theta,
                                 int64_t n_params) {
    static const char fn[] = "polca_checkpoints_append";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'theta' is NULL", fn);
    if (n_params != s->layout.n_params)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_params' is %lld; the series has %lld", fn,
                           (long long)n_params, (long long)s->layout.n_params);
    if ((st = check_finite(&s->layout, theta, fn, "argument 'theta'"))) return st;
    st = append_checked(s, step, theta);
    if (st && s->ct) polca__wrap(st, "%s", fn);
    return st;
}

/* ---- save and export ---- */

int32_t polca_checkpoints_save(polca_checkpoints *s, const char *path,
                               const polca_options *options) {
    static const char fn[] = "polca_checkpoints_save";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if (!path || !path[0])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL or empty", fn);
    if ((st = polca__options_check(options, save_spec, fn))) return st;
    polca__ct_config cfg;
    if ((st = config_from(options, fn, &cfg))) return st;
    polca__container *ct = NULL;
    float *buf = NULL;
    if (s->ct) {
        buf = polca__calloc((size_t)s->layout.n_params, sizeof(float), "a checkpoint buffer");
        if (!buf) return POLCA_ERR_OUT_OF_MEMORY;
    }
    st = polca__ct_create(path, POLCA__FILE_CHECKPOINTS, &s->layout, NULL, 0, POLCA__CT_WHOLE, &cfg,
                          &ct);
    for (int64_t i = 0; !st && i < series_count(s); i++) {
        const float *v = s->ct ? buf : s->vecs[i];
        if (s->ct) st = read_into(s, i, buf);
        if (!st)
            st = polca__ct_append(ct, POLCA__REC_CHECKPOINT, series_step(s, i), POLCA__DT_F32, v,
                                  (uint64_t)s->layout.n_params, 1);
    }
    if (!st) st = polca__ct_finish(ct);
    polca__ct_close(ct);
    free(buf);
    if (st) polca__wrap(st, "%s", fn);
    return st;
}

int32_t polca_checkpoints_export_npy(polca_checkpoints *s, int64_t index, const char *path) {
    static const char fn[] = "polca_checkpoints_export_npy";
    polca__clear_error();
    int32_t st = check_series(s, fn);
    if (st) return st;
    if ((st = check_index(s, index, fn))) return st;
    if (!path || !path[0])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL or empty", fn);
    int64_t P = s->layout.n_params;
    const float *v;
    float *buf = NULL;
    if (s->ct) {
        buf = polca__calloc((size_t)P, sizeof(float), "a checkpoint buffer");
        if (!buf) return POLCA_ERR_OUT_OF_MEMORY;
        if ((st = read_into(s, index, buf))) {
            free(buf);
            return polca__wrap(st, "%s", fn);
        }
        v = buf;
    } else {
        v = s->vecs[index];
    }
    st = polca__npy_write(path, "<f4", 1, &P, v);
    free(buf);
    if (st) polca__wrap(st, "%s", fn);
    return st;
}

/* ---- safetensors import ---- */

typedef struct step_file {
    int64_t step;
    int64_t file;
} step_file;

static int cmp_step(const void *a, const void *b) {
    const step_file *x = a, *y = b;
    return x->step < y->step ? -1 : x->step > y->step;
}

/* A whole-string decimal integer (optional '-'), within int64. */
static int parse_int64(const char *s, int64_t *out) {
    int neg = *s == '-';
    if (neg) s++;
    if (!*s) return 0;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (lim - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

static int32_t name_step(const char *path, const char *key, int64_t *out, const char *fn);

/* The step of one file: metadata key, else the first digits of the base name. */
static int32_t file_step(const char *path, const char *key, int64_t *out, const char *fn) {
    struct stat sb;
    size_t plen = strlen(path);
    /* A directory (or a shard index): the name's digits. */
    int whole = (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) ||
                (plen > 5 && !strcmp(path + plen - 5, ".json"));
    if (whole) return name_step(path, key, out, fn);
    polca__st_file *f = NULL;
    int32_t st = polca__st_open(path, &f);
    if (st) return polca__wrap(st, "%s", fn);
    const char *v = polca__st_metadata(f, key);
    if (v) {
        int ok = parse_int64(v, out);
        if (!ok)
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                             "%s: %s: metadata '%s' is '%.40s', not an integer step", fn, path, key,
                             v);
        polca__st_close(f);
        return st;
    }
    polca__st_close(f);
    return name_step(path, key, out, fn);
}

/* The first run of decimal digits of the last path component (a trailing
 * '/' of a directory aside). */
static int32_t name_step(const char *path, const char *key, int64_t *out, const char *fn) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    size_t n0 = strlen(buf);
    while (n0 > 1 && buf[n0 - 1] == '/') buf[--n0] = 0;
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    const char *d = base;
    while (*d && (*d < '0' || *d > '9')) d++;
    if (!*d)
        return polca__fail(
            POLCA_ERR_INVALID_ARGUMENT,
            "%s: %s: no metadata '%s' and no number in the file name to take the step from", fn,
            path, key);
    char digits[32];
    size_t n = 0;
    while (d[n] >= '0' && d[n] <= '9' && n < sizeof digits - 1) {
        digits[n] = d[n];
        n++;
    }
    digits[n] = 0;
    if ((d[n] >= '0' && d[n] <= '9') || !parse_int64(digits, out))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: %s: the number in the file name is too large for a step", fn, path);
    return POLCA_OK;
}

/* Reads every layout tensor of one file into theta[P], reporting progress
 * (stage "import", in tensors: file_no * n_tensors + tensors done, of
 * n_files * n_tensors) after each tensor. */
static int32_t read_st_file(polca_context *ctx, const polca__layout *l, const char *path,
                            float *theta, int64_t file_no, int64_t n_files, const char *fn) {
    polca__st_file *f = NULL;
    int32_t st = polca__st_open(path, &f);
    if (st) return polca__wrap(st, "%s", fn);
    for (int64_t i = 0; i < l->n_tensors && !st; i++) {
        if (i > 0 && (st = polca__progress(ctx, "import", file_no * l->n_tensors + i,
                                           n_files * l->n_tensors, NAN)))
            break;
        const polca__tensor_info *t = &l->tensors[i];
        int64_t k = polca__st_find(f, t->name);
        if (k < 0) {
            st = polca__fail(POLCA_ERR_LAYOUT_MISMATCH, "%s: %s has no tensor '%s'", fn, path,
                             t->name);
            break;
        }
        const polca__st_tensor *ti = polca__st_tensor_at(f, k);
        int same = ti->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = ti->shape[d] == t->shape[d];
        if (!same) {
            char want[96] = "", got[160] = "";
            for (int d = 0; d < t->ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), d ? ", %lld" : "%lld",
                         (long long)t->shape[d]);
            for (int d = 0; d < ti->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), d ? ", %lld" : "%lld",
                         (long long)ti->shape[d]);
            st = polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                             "%s: %s: tensor '%s' has shape [%s], the layout wants [%s]", fn, path,
                             t->name, got, want);
            break;
        }
        st = polca__st_read_f32(f, k, theta + t->offset, t->count);
        if (st) polca__wrap(st, "%s", fn);
    }
    polca__st_close(f);
    return st;
}

int32_t polca__checkpoints_import_safetensors(polca_context *ctx, const polca__layout *layout,
                                              int64_t n_files, const char *const *files,
                                              const char *path, const polca_options *options,
                                              polca_checkpoints **out) {
    return polca__checkpoints_import_with(ctx, layout, NULL, NULL, n_files, files, path, options,
                                          out);
}

int32_t polca__checkpoints_import_with(polca_context *ctx, const polca__layout *layout,
                                       polca__ckpt_reader reader, void *user, int64_t n_files,
                                       const char *const *files, const char *path,
                                       const polca_options *options, polca_checkpoints **out) {
    static const char fn[] = "polca_checkpoints_import_safetensors"; /* the public name: users read it */
    polca__clear_error();
    int32_t st = check_ctx(ctx, fn);
    if (st) return st;
    if (!layout || layout->n_params <= 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'layout' is NULL or empty",
                           fn);
    if (n_files < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_files' is %lld; must be >= 1", fn, (long long)n_files);
    if (!files) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'files' is NULL", fn);
    for (int64_t i = 0; i < n_files; i++)
        if (!files[i])
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: files[%lld] is NULL", fn,
                               (long long)i);
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (path && !path[0])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is empty", fn);
    if ((st = polca__options_check(options, import_spec, fn))) return st;
    polca__ct_config cfg;
    int32_t overwrite = 0, writable = 0;
    if ((st = config_from(options, fn, &cfg))) return st;
    if ((st = int_option(options, "overwrite", 0, 0, 1, fn, &overwrite))) return st;
    if ((st = int_option(options, "writable", 0, 0, 1, fn, &writable))) return st;
    const char *key = polca__options_string(options, "step_key", "step");
    /* A quick answer before the work; the final rename is atomic
     * (no_replace), so a file another process creates meanwhile still
     * fails the import (and nothing is replaced). */
    if (path && !overwrite && access(path, F_OK) == 0)
        return polca__fail(POLCA_ERR_IO, "%s: '%s' exists (set option 'overwrite' to replace it)",
                           fn, path);
    cfg.no_replace = !overwrite;

    /* Steps first (headers only), then the data in step order. */
    step_file *order =
        polca__calloc((size_t)(n_files ? n_files : 1), sizeof *order, "an import order");
    float *theta = polca__calloc((size_t)layout->n_params, sizeof(float), "a checkpoint buffer");
    polca_checkpoints *s = series_new(ctx);
    if (!order || !theta || !s) {
        free(order);
        free(theta);
        free(s);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    /* Progress: stage "import steps" (files) while reading headers, then
     * "import" (tensors) while reading data; either can cancel. */
    for (int64_t i = 0; i < n_files && !st; i++) {
        order[i].file = i;
        st = file_step(files[i], key, &order[i].step, fn);
        if (!st) st = polca__progress(ctx, "import steps", i + 1, n_files, NAN);
    }
    if (!st) qsort(order, (size_t)n_files, sizeof *order, cmp_step);
    for (int64_t i = 1; i < n_files && !st; i++)
        if (order[i].step == order[i - 1].step)
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: %s and %s both hold step %lld", fn,
                             files[order[i - 1].file], files[order[i].file],
                             (long long)order[i].step);
    if (!st) st = polca__layout_copy(&s->layout, layout);
    if (!st && path)
        st = polca__ct_create(path, POLCA__FILE_CHECKPOINTS, layout, NULL, 0, POLCA__CT_WHOLE, &cfg,
                              &s->ct);
    for (int64_t i = 0; i < n_files && !st; i++) {
        const char *file = files[order[i].file];
        st = reader ? reader(user, file, theta, fn)
                    : read_st_file(ctx, layout, file, theta, i, n_files, fn);
        if (!st) st = check_finite(layout, theta, fn, file);
        if (!st) st = append_checked(s, order[i].step, theta);
        if (!st)
            st = polca__progress(ctx, "import", (i + 1) * layout->n_tensors,
                                 n_files * layout->n_tensors, NAN);
    }
    free(order);
    free(theta);
    if (!st && s->ct) st = polca__ct_finish(s->ct);
    if (!st && s->ct && writable) {
        polca__ct_close(s->ct);
        s->ct = NULL;
        st = polca__ct_open(path, POLCA__FILE_CHECKPOINTS, 1, &cfg, &s->ct);
    }
    if (st) {
        polca_checkpoints_destroy(s); /* an unfinished file's temporary is removed */
        return st;
    }
    *out = s;
    return POLCA_OK;
}
