/*
 * tools/polca/cmd_info.c - `polca info FILE...`: what a file is and holds.
 * libpolca containers are recognized by their magic and file kind (docs/
 * format.md: bytes 0-7 "\x89POLCA\r\n", kind u32 at byte 12) and read through
 * the public API; safetensors and .npy headers are read here.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "json.h"
#include "npy.h"

static const cli_opt opts[] = {
    {"all", NULL, "list every checkpoint step, basis vector and tensor (default: the first 20)"},
    CLI_FORMAT_OPT,
    {NULL, NULL, NULL},
};

static int g_all;
#define ST_MAX_HEADER 100000000 /* bytes: the safetensors format's limit */
#define SHOWN(n) (g_all ? (n) : ((n) < 20 ? (n) : 20))

static void print_steps(const int64_t *steps, int64_t n) {
    printf("  steps:        ");
    int64_t shown = SHOWN(n);
    for (int64_t i = 0; i < shown; i++) printf("%s%lld", i ? " " : "", (long long)steps[i]);
    if (shown < n) printf(" ... %lld (--all lists every one)", (long long)steps[n - 1]);
    printf("\n");
}

static int info_checkpoints(const char *path, uint64_t size) {
    int rc = CLI_OK;
    polca_context *ctx = cli_context(&rc);
    if (!ctx) return rc;
    polca_checkpoints *s = NULL;
    int64_t count = 0, p = 0;
    uint64_t hash = 0;
    int32_t st = polca_checkpoints_open(ctx, path, NULL, &s);
    if (!st) st = polca_checkpoints_count(s, &count);
    if (!st) st = polca_checkpoints_n_params(s, &p);
    if (!st) st = polca_checkpoints_layout_hash(s, &hash);
    int64_t *steps = st ? NULL : malloc(sizeof *steps * (size_t)(count + 1));
    if (!st && steps) st = polca_checkpoints_steps(s, steps, count);
    if (st) {
        rc = cli_lib(st, NULL);
    } else {
        printf("%s: libpolca checkpoint series\n", path);
        printf("  checkpoints:  %lld\n  parameters:   %lld per checkpoint\n", (long long)count,
               (long long)p);
        printf("  layout hash:  %016llx\n", (unsigned long long)hash);
        double raw = (double)count * (double)p * 4.0;
        printf("  file size:    %llu bytes", (unsigned long long)size);
        if (raw > 0) printf(" (%.1f%% of the %.0f raw float32 bytes)", 100.0 * (double)size / raw, raw);
        printf("\n");
        if (count) print_steps(steps, count);
    }
    free(steps);
    polca_checkpoints_destroy(s);
    return rc;
}

static const char *basis_kind(int32_t k) {
    switch (k) {
    case POLCA_BASIS_KIND_HESSIAN: return "hessian";
    case POLCA_BASIS_KIND_HESSIAN_SHUFFLED: return "hessian (shuffled)";
    case POLCA_BASIS_KIND_RANDOM: return "random";
    case POLCA_BASIS_KIND_AXIS: return "axis";
    case POLCA_BASIS_KIND_HOST: return "host";
    case POLCA_BASIS_KIND_HESSIAN_SCALED: return "hessian (scaled)";
    case POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED: return "hessian (scaled, shuffled)";
    default: return "?";
    }
}

static int info_basis(const char *path) {
    int rc = CLI_OK;
    polca_context *ctx = cli_context(&rc);
    if (!ctx) return rc;
    polca_basis *b = NULL;
    int64_t k = 0, p = 0;
    int32_t st = polca_basis_load(ctx, path, &b);
    if (!st) st = polca_basis_count(b, &k);
    if (!st) st = polca_basis_n_params(b, &p);
    if (st) {
        polca_basis_destroy(b);
        return cli_lib(st, NULL);
    }
    printf("%s: libpolca basis\n  vectors:      %lld of %lld parameters\n", path, (long long)k,
           (long long)p);
    int64_t unconverged = 0;
    if (k) printf("  %5s  %-18s %10s %8s %14s %12s  %s\n", "i", "kind", "step", "source",
                  "eigenvalue", "residual", "converged");
    for (int64_t i = 0; i < k; i++) {
        int32_t kind, conv;
        int64_t step, src;
        double ev, res;
        polca_basis_get_info(b, i, &kind, &step, &src, &ev, &res, &conv);
        unconverged += !conv;
        if (i >= SHOWN(k)) continue;
        printf("  %5lld  %-18s %10lld %8lld %14.6g %12.3g  %s\n", (long long)i, basis_kind(kind),
               (long long)step, (long long)src, ev, res, conv ? "yes" : "no");
    }
    if (SHOWN(k) < k) printf("  ... (--all lists every vector)\n");
    if (unconverged) printf("  %lld vectors are best estimates (not converged)\n", (long long)unconverged);
    polca_basis_destroy(b);
    return CLI_OK;
}

static const char *const traj_names[] = {"polca", "first_order", "fisher", "lca", "exact_loss",
                                         "loss_change"};

static int info_trajectories(const char *path) {
    int rc = CLI_OK;
    polca_context *ctx = cli_context(&rc);
    if (!ctx) return rc;
    polca_trajectories *t = NULL;
    int32_t st = polca_trajectories_load(ctx, path, &t);
    if (st) return cli_lib(st, NULL);
    const int64_t *steps;
    int64_t t1;
    polca_trajectories_steps(t, &steps, &t1);
    printf("%s: libpolca trajectories\n  checkpoints:  %lld\n", path, (long long)t1);
    print_steps(steps, t1);
    for (int32_t kind = 0; kind < 6; kind++) {
        const float *data;
        int64_t k, n, tt;
        if (polca_trajectories_view(t, kind, &data, &k, &n, &tt)) continue;
        printf("  %-12s  [%lld directions][%lld samples][%lld]\n", traj_names[kind], (long long)k,
               (long long)n, (long long)tt);
    }
    const float *data;
    int64_t k, n, tt;
    polca_trajectories_view(t, POLCA_TRAJ_POLCA, &data, &k, &n, &tt);
    double *means = malloc(sizeof *means * (size_t)k);
    if (means && !polca_trajectories_final_means(t, POLCA_TRAJ_POLCA, means, k)) {
        int64_t falling = 0;
        for (int64_t i = 0; i < k; i++) falling += means[i] < 0;
        printf("  directions whose mean projected loss falls: %lld of %lld\n", (long long)falling,
               (long long)k);
        printf("  %5s %16s %16s\n", "dir", "final mean", "samples falling");
        uint8_t *mask = malloc((size_t)n);
        for (int64_t i = 0; mask && i < SHOWN(k); i++) {
            int64_t c = 0;
            polca_trajectories_decreasing(t, POLCA_TRAJ_POLCA, i, mask, n, &c);
            printf("  %5lld %16.6g %16lld\n", (long long)i, means[i], (long long)c);
        }
        if (SHOWN(k) < k) printf("  ... (--all lists every direction)\n");
        free(mask);
    }
    free(means);
    polca_trajectories_destroy(t);
    return CLI_OK;
}

/* ---- foreign files ---- */

static char *slurp(const char *path, size_t offset, size_t len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(len + 1);
    if (!buf || fseek(f, (long)offset, SEEK_SET) != 0 || fread(buf, 1, len, f) != len) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* The dtypes the safetensors format defines, with their bits per element
 * (src/safetensors.c has the same table). */
static int st_dtype_bits(const char *name) {
    static const struct {
        const char *name;
        int bits;
    } dtypes[] = {
        {"BOOL", 8},    {"U8", 8},      {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8},
        {"I16", 16},    {"U16", 16},    {"F16", 16}, {"BF16", 16},   {"I32", 32},    {"U32", 32},
        {"F32", 32},    {"I64", 64},    {"U64", 64}, {"F64", 64},    {"C64", 64},    {"F4", 4},
        {"F6_E2M3", 6}, {"F6_E3M2", 6},
    };
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dtypes[i].name, name) == 0) return dtypes[i].bits;
    return 0;
}

/* A JSON number that is an integer in 0..INT64_MAX. */
static int st_uint(const json_value *v, uint64_t *out) {
    if (!v || v->type != JSON_NUMBER || !v->is_integer || v->integer < 0) return 0;
    *out = (uint64_t)v->integer;
    return 1;
}

typedef struct st_span {
    uint64_t begin, end; /* relative to the data buffer */
    size_t member;       /* in the header object */
} st_span;

static int st_span_cmp(const void *pa, const void *pb) {
    const st_span *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return (a->member > b->member) - (a->member < b->member);
}

/* "blocks.<L>." names: the number of layers they imply, or 0. */
static int64_t st_layers(const json_value *h) {
    int64_t layers = 0;
    for (size_t i = 0; i < h->length; i++) {
        const char *k = h->keys[i];
        if (strncmp(k, "blocks.", 7) != 0 || k[7] < '0' || k[7] > '9') continue;
        errno = 0;
        char *end;
        long long l = strtoll(k + 7, &end, 10);
        if (errno == 0 && *end == '.' && l < INT64_MAX && l + 1 > layers) layers = l + 1;
    }
    return layers;
}

/* Checks the header as libpolca's reader (src/safetensors.c) and the
 * reference implementation do, then describes it. Every failure is reported
 * while the parsed header is still alive (one exit path frees it). */
static int info_safetensors(const char *path, uint64_t n, uint64_t size) {
    char *text = slurp(path, 8, (size_t)n);
    if (!text) return cli_fail(CLI_INPUT, "%s: cannot read the safetensors header", path);
    json_value *h = NULL;
    char err[300];
    int parsed = json_parse(text, (size_t)n, &h, err, sizeof err);
    free(text);
    if (parsed) return cli_fail(CLI_INPUT, "%s: safetensors header is not valid JSON: %s", path, err);
    int rc = CLI_OK;
    st_span *spans = NULL;
    const uint64_t data = size - 8 - n; /* bytes of the data buffer */
    const json_value *meta = NULL;
    int64_t tensors = 0, params = 0;
    if (h->type != JSON_OBJECT) {
        rc = cli_fail(CLI_INPUT, "%s: safetensors header is not an object", path);
        goto done;
    }
    spans = malloc((h->length + 1) * sizeof *spans);
    if (!spans) {
        rc = cli_fail(CLI_LIBRARY, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < h->length; i++) {
        const char *name = h->keys[i];
        const json_value *v = &h->items[i];
        if (strcmp(name, "__metadata__") == 0) {
            int strings = v->type == JSON_NULL || v->type == JSON_OBJECT;
            for (size_t k = 0; strings && v->type == JSON_OBJECT && k < v->length; k++)
                strings = v->items[k].type == JSON_STRING;
            if (!strings) {
                rc = cli_fail(CLI_INPUT, "%s: safetensors __metadata__ is not an object of strings",
                              path);
                goto done;
            }
            meta = v;
            continue;
        }
        const json_value *dtype = json_get(v, "dtype"), *shape = json_get(v, "shape"),
                         *offs = json_get(v, "data_offsets");
        if (!dtype || dtype->type != JSON_STRING || !shape || shape->type != JSON_ARRAY || !offs ||
            offs->type != JSON_ARRAY) {
            rc = cli_fail(CLI_INPUT, "%s: tensor \"%s\" has no %s", path, name,
                          !dtype || dtype->type != JSON_STRING   ? "dtype"
                          : !shape || shape->type != JSON_ARRAY ? "shape"
                                                                 : "data_offsets");
            goto done;
        }
        int bits = st_dtype_bits(dtype->string);
        if (!bits) {
            rc = cli_fail(CLI_INPUT, "%s: tensor \"%s\" has an unknown dtype \"%.40s\"", path, name,
                          dtype->string);
            goto done;
        }
        if (shape->length > 8) { /* the library's reader limit (POLCA_ERR_UNSUPPORTED) */
            rc = cli_fail(CLI_LIBRARY, "%s: tensor \"%s\" has more than 8 dimensions "
                          "(libpolca reads at most 8)", path, name);
            goto done;
        }
        uint64_t count = 1, dim;
        for (size_t d = 0; d < shape->length; d++) {
            if (!st_uint(&shape->items[d], &dim)) {
                rc = cli_fail(CLI_INPUT,
                              "%s: tensor \"%s\" has a bad shape (dimension %zu is not a "
                              "non-negative integer)",
                              path, name, d);
                goto done;
            }
            if (__builtin_mul_overflow(count, dim, &count) || count > (uint64_t)INT64_MAX) {
                rc = cli_fail(CLI_INPUT, "%s: tensor \"%s\": its element count overflows", path,
                              name);
                goto done;
            }
        }
        uint64_t begin, end, nbits;
        if (offs->length != 2 || !st_uint(&offs->items[0], &begin) ||
            !st_uint(&offs->items[1], &end) || begin > end) {
            rc = cli_fail(CLI_INPUT, "%s: tensor \"%s\" has bad data_offsets (two integers, "
                          "begin <= end)", path, name);
            goto done;
        }
        if (end > data) {
            rc = cli_fail(CLI_INPUT,
                          "%s: tensor \"%s\" has data_offsets [%llu, %llu] past the end of the "
                          "file: its data buffer holds %llu bytes (truncated?)",
                          path, name, (unsigned long long)begin, (unsigned long long)end,
                          (unsigned long long)data);
            goto done;
        }
        if (__builtin_mul_overflow(count, (uint64_t)bits, &nbits) ||
            nbits / 8 + (nbits % 8 != 0) != end - begin) {
            rc = cli_fail(CLI_INPUT,
                          "%s: tensor \"%s\": data_offsets [%llu, %llu] do not match dtype %s and "
                          "its shape",
                          path, name, (unsigned long long)begin, (unsigned long long)end,
                          dtype->string);
            goto done;
        }
        if (__builtin_add_overflow(params, (int64_t)count, &params)) {
            rc = cli_fail(CLI_INPUT, "%s: the element counts of its tensors overflow", path);
            goto done;
        }
        spans[tensors++] = (st_span){begin, end, i};
    }
    /* As the reference implementation demands: sorted by offsets, the
     * tensors tile the data buffer exactly (no overlap, no hole, nothing
     * after the last, nothing missing). */
    qsort(spans, (size_t)tensors, sizeof *spans, st_span_cmp);
    uint64_t at = 0;
    for (int64_t k = 0; k < tensors; k++) {
        const st_span *sp = &spans[k];
        if (sp->begin < at) {
            rc = cli_fail(CLI_INPUT, "%s: tensor \"%s\" (data_offsets [%llu, %llu]) overlaps "
                          "tensor \"%s\" (data_offsets [%llu, %llu])",
                          path, h->keys[sp->member], (unsigned long long)sp->begin,
                          (unsigned long long)sp->end, h->keys[spans[k - 1].member],
                          (unsigned long long)spans[k - 1].begin,
                          (unsigned long long)spans[k - 1].end);
            goto done;
        }
        if (sp->begin > at) {
            rc = cli_fail(CLI_INPUT,
                          "%s: %llu bytes of the data buffer before tensor \"%s\" (data_offsets "
                          "[%llu, %llu]) belong to no tensor",
                          path, (unsigned long long)(sp->begin - at), h->keys[sp->member],
                          (unsigned long long)sp->begin, (unsigned long long)sp->end);
            goto done;
        }
        at = sp->end;
    }
    if (at != data) {
        rc = cli_fail(CLI_INPUT, "%s: %llu bytes after the last tensor belong to no tensor (the "
                      "tensors end at byte %llu of %llu)",
                      path, (unsigned long long)(data - at), (unsigned long long)(8 + n + at),
                      (unsigned long long)size);
        goto done;
    }

    printf("%s: safetensors, %lld tensors, %lld elements, %llu bytes\n", path, (long long)tensors,
           (long long)params, (unsigned long long)size);
    int64_t shown = 0;
    for (size_t i = 0; i < h->length; i++) {
        if (strcmp(h->keys[i], "__metadata__") == 0) continue;
        if (shown++ >= SHOWN(tensors)) continue;
        const json_value *shape = json_get(&h->items[i], "shape");
        printf("  %-40s %-5s [", h->keys[i], json_get(&h->items[i], "dtype")->string);
        for (size_t d = 0; d < shape->length; d++)
            printf("%s%lld", d ? ", " : "", (long long)shape->items[d].integer);
        printf("]\n");
    }
    if (SHOWN(tensors) < tensors) printf("  ... (--all lists every tensor)\n");
    if (meta && meta->type == JSON_OBJECT)
        for (size_t i = 0; i < meta->length; i++)
            printf("  metadata %s = %s\n", meta->keys[i], meta->items[i].string);
    /* A TransformerLens state_dict: the model config it implies. */
    const json_value *we = json_get(h, "embed.W_E"), *wp = json_get(h, "pos_embed.W_pos"),
                     *wq = json_get(h, "blocks.0.attn.W_Q"), *wi = json_get(h, "blocks.0.mlp.W_in");
    if (we && wp && wq) {
        const json_value *se = json_get(we, "shape"), *sp = json_get(wp, "shape"),
                         *sq = json_get(wq, "shape");
        int64_t layers = st_layers(h);
        const json_value *si = wi ? json_get(wi, "shape") : NULL;
        int64_t d_mlp = si && si->length == 2 ? si->items[1].integer : 0;
        if (se->length == 2 && sp->length == 2 && sq->length == 3) {
            const json_value *act = meta && meta->type == JSON_OBJECT ? json_get(meta, "act_fn") : NULL;
            const char *act_fn = act ? act->string : "SET: gelu, gelu_new or relu";
            printf("  TransformerLens state_dict; its model config%s:\n"
                   "  {\"n_layers\": %lld, \"d_model\": %lld, \"n_heads\": %lld, \"d_head\": %lld, "
                   "\"d_mlp\": %lld, \"d_vocab\": %lld, \"n_ctx\": %lld, \"act_fn\": \"%s\"}\n",
                   act ? "" : " (act_fn is not in the tensors: set it)",
                   (long long)layers, (long long)se->items[1].integer,
                   (long long)sq->items[0].integer, (long long)sq->items[2].integer,
                   (long long)d_mlp,
                   (long long)se->items[0].integer, (long long)sp->items[0].integer, act_fn);
        }
    }
done:
    free(spans);
    json_free(h);
    return rc;
}

static int info_npy(const char *path) {
    npy_file f;
    char err[512];
    if (npy_read(path, &f, err, sizeof err)) return cli_fail(CLI_INPUT, "%s", err);
    char desc[128];
    npy_describe(&f, desc, sizeof desc);
    printf("%s: NumPy array %s\n", path, desc);
    if (f.count > 0) {
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        int64_t nonzero = 0, nonfinite = 0;
        for (int64_t i = 0; i < f.count; i++) {
            double x = npy_double(&f, i);
            if (!isfinite(x)) {
                nonfinite++;
                continue;
            }
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
            sum += x;
            nonzero += x != 0;
        }
        printf("  min %.6g  max %.6g  mean %.6g  nonzero %lld", lo, hi,
               sum / (double)(f.count - nonfinite > 0 ? f.count - nonfinite : 1), (long long)nonzero);
        if (nonfinite) printf("  NaN/Inf %lld", (long long)nonfinite);
        printf("\n");
    }
    npy_free(&f);
    return CLI_OK;
}

static void put_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* A checkpoint in a layout libpolca detects: the layout and the model
 * config it implies, as a --config JSON the other commands take. quiet: an
 * unrecognised layout prints nothing (a safetensors file of other tensors). */
static int info_pretrained(const char *path, int quiet) {
    int rc = CLI_OK;
    polca_context *ctx = cli_context(&rc);
    if (!ctx) return rc;
    polca_options *o = NULL;
    if (g_cli.format && (rc = cli_opt_string(&o, "format", g_cli.format))) return rc;
    polca_model *m = NULL;
    int32_t st = polca_model_create_pretrained(ctx, path, o, &m);
    polca_options_destroy(o);
    if (st) {
        const char *msg = polca_last_error();
        if (quiet && st == POLCA_ERR_LAYOUT_MISMATCH && strstr(msg, "in no layout libpolca knows"))
            return CLI_OK;
        if (quiet) {
            printf("  as a checkpoint: %s\n", msg);
            return CLI_OK;
        }
        return cli_lib(st, NULL);
    }
    const char *fmt = NULL, *desc = NULL;
    polca_model_source_format(m, &fmt);
    polca_model_describe(m, &desc);
    int64_t p = 0, nt = 0;
    polca_model_n_params(m, &p);
    polca_model_n_tensors(m, &nt);
    json_value *d = NULL;
    char err[200];
    if (json_parse(desc, strlen(desc), &d, err, sizeof err)) {
        polca_model_destroy(m);
        return cli_fail(CLI_LIBRARY, "%s: libpolca's model description is not JSON: %s", path, err);
    }
    const json_value *cfg = json_get(d, "config"), *opt = json_get(d, "options"),
                     *notes = json_get(d, "notes");
    printf("%s%s: %s checkpoint%s%s, %lld parameters in %lld tensors\n", quiet ? "  as a checkpoint" : "",
           quiet ? "" : path, fmt, cfg && cfg->type == JSON_STRING ? "; config from " : "; no config.json",
           cfg && cfg->type == JSON_STRING ? cfg->string : "", (long long)p, (long long)nt);
    printf("  its model config (a --config file for the other commands):\n  {\"pretrained\": ");
    put_json_string(path);
    printf(", \"format\": \"%s\"", fmt);
    for (size_t i = 0; opt && i < opt->length; i++) {
        const json_value *v = &opt->items[i];
        printf(", \"%s\": ", opt->keys[i]);
        if (v->type == JSON_STRING) put_json_string(v->string);
        else if (v->is_integer) printf("%lld", (long long)v->integer);
        else printf("%.9g", v->number);
    }
    printf("}\n");
    for (size_t i = 0; notes && i < notes->length; i++)
        printf("  note: %s\n", notes->items[i].string);
    json_free(d);
    polca_model_destroy(m);
    return CLI_OK;
}

static int info_config(const char *path) {
    polca_model *m = NULL;
    int rc = cli_load_model(path, &m);
    if (rc) return rc;
    int64_t p = 0, nt = 0;
    polca_model_n_params(m, &p);
    polca_model_n_tensors(m, &nt);
    printf("%s: model config of a built-in transformer: %lld parameters in %lld tensors\n", path,
           (long long)p, (long long)nt);
    for (int64_t i = 0; i < nt; i++) {
        if (i >= SHOWN(nt)) continue;
        const char *name;
        int32_t ndim;
        int64_t shape[POLCA_MODEL_MAX_DIMS], off;
        polca_model_tensor_info(m, i, &name, &ndim, shape, &off);
        printf("  %-40s [", name);
        for (int32_t d = 0; d < ndim; d++) printf("%s%lld", d ? ", " : "", (long long)shape[d]);
        printf("]\n");
    }
    if (SHOWN(nt) < nt) printf("  ... (--all lists every tensor)\n");
    polca_model_destroy(m);
    return CLI_OK;
}

static int info_one(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return cli_fail(CLI_INPUT, "%s: %s", path, strerror(errno));
    size_t plen = strlen(path);
    if (S_ISDIR(st.st_mode) || (plen > 11 && !strcmp(path + plen - 11, ".index.json")))
        return info_pretrained(path, 0);
    if (!S_ISREG(st.st_mode)) return cli_fail(CLI_INPUT, "%s: not a regular file", path);
    unsigned char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(CLI_INPUT, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    uint64_t size = (uint64_t)st.st_size;
    if (got >= 16 && memcmp(head, "\x89POLCA\r\n", 8) == 0) {
        uint32_t kind = (uint32_t)head[12] | (uint32_t)head[13] << 8 | (uint32_t)head[14] << 16 |
                        (uint32_t)head[15] << 24;
        switch (kind) {
        case 1: return info_checkpoints(path, size);
        case 2: return info_basis(path);
        case 3: return info_trajectories(path);
        case 4:
            return cli_fail(CLI_INPUT, "%s: a libpolca clustering file; this version has no reader "
                            "for it", path);
        default: return cli_fail(CLI_INPUT, "%s: libpolca file of unknown kind %u", path, kind);
        }
    }
    if (got >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return info_npy(path);
    if (got >= 9 && (head[8] == '{' || head[8] == ' ' || head[8] == '\n' || head[8] == '\t' ||
                     head[8] == '\r')) {
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n |= (uint64_t)head[i] << (8 * i);
        /* A header length below 2^32 (text has no zero bytes there): a
         * safetensors file, whole or not. */
        if (n >> 32 == 0) {
            if (n < 2 || n > size - 8)
                return cli_fail(CLI_INPUT, "%s: safetensors header length %llu does not fit a file "
                                "of %llu bytes (truncated?)", path, (unsigned long long)n,
                                (unsigned long long)size);
            if (n > ST_MAX_HEADER)
                return cli_fail(CLI_INPUT, "%s: safetensors header length %llu exceeds the "
                                "format's limit of %d bytes", path, (unsigned long long)n,
                                ST_MAX_HEADER);
            int rc = info_safetensors(path, n, size);
            return rc ? rc : info_pretrained(path, 1);
        }
    }
    size_t i = 0;
    while (i < got && (head[i] == ' ' || head[i] == '\n' || head[i] == '\t' || head[i] == '\r')) i++;
    if (i < got && head[i] == '{') return info_config(path);
    return cli_fail(CLI_INPUT, "%s: not a file polca knows (libpolca container, safetensors, .npy "
                    "or model config JSON)", path);
}

int cmd_info(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, "info", opts, argc, argv, "FILE|CHECKPOINT...",
                       "Describes libpolca files (checkpoint series, bases, trajectories) and the "
                       "inputs polca reads:\nsafetensors (tensors, and the model config of a "
                       "TransformerLens state_dict), .npy arrays,\nmodel config JSON (the "
                       "transformer's parameter tensors), and checkpoints (a save_pretrained "
                       "directory or a\nsafetensors file in a layout libpolca detects: the "
                       "layout and the model config it implies).");
    if (rc) return rc;
    cli_take_format(&a);
    if (a.n_pos == 0) return cli_fail(CLI_USAGE, "no FILE given (see polca info --help)");
    g_all = cli_flag(&a, "all");
    int worst = CLI_OK;
    for (int i = 0; i < a.n_pos; i++) {
        rc = info_one(a.pos[i]);
        if (rc > worst) worst = rc;
    }
    return worst;
}
