/*
 * src/pretrained.c - checkpoints in the layouts users have: opening a file
 * or a save_pretrained directory, detecting its layout from tensor names,
 * reading config.json (or inferring the sizes from the tensor shapes), and
 * the public entries polca_model_create_pretrained, polca_model_source_
 * format, polca_model_describe, polca_model_load_pretrained and
 * polca_model_save_pretrained (polca/model.h documents them). The tensor
 * maps are in src/pretrained_map.c.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "model_impl.h"
#include "pretrained.h"

static const char *const format_names[POLCA__PT_COUNT] = {
    "native", "transformerlens", "transformerlens4", "gpt2", "gpt_neox", "llama", "qwen2"};

const char *polca__pt_format_name(int32_t format) {
    return format >= 0 && format < POLCA__PT_COUNT ? format_names[format] : "unknown";
}

#define TRIED "transformerlens (embed.W_E), transformerlens4 (embed.weight, blocks.0.attn.q.weight), " \
              "gpt2 ([transformer.]wte.weight), gpt_neox ([gpt_neox.]embed_in.weight), llama and " \
              "qwen2 ([model.]embed_tokens.weight)"

/* ==== config.json: a small JSON reader that flattens to dotted paths ==== */

#define CJ_NULL 0
#define CJ_BOOL 1
#define CJ_NUM 2
#define CJ_STR 3
#define CJ_OBJ 4
#define CJ_ARR 5

typedef struct cj_item {
    char path[96];
    int type;
    double num;
    char str[64];
} cj_item;

typedef struct cj {
    const char *start, *p, *end;
    cj_item *items;
    int64_t n, cap;
    const char *file;
    int32_t st;
} cj;

static int32_t cj_fail(cj *j, const char *what) {
    if (!j->st)
        j->st = polca__fail(POLCA_ERR_CORRUPT, "%s: byte %lld: %s", j->file,
                            (long long)(j->p - j->start), what);
    return j->st;
}

static void cj_ws(cj *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* A string into buf (truncated to n - 1 bytes; \u escapes outside ASCII
 * become '?'). */
static int32_t cj_string(cj *j, char *buf, size_t n) {
    size_t k = 0;
    if (j->p >= j->end || *j->p != '"') return cj_fail(j, "expected a string");
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if ((unsigned char)c < 0x20) return cj_fail(j, "control character in a string");
        if (c == '\\') {
            if (j->p >= j->end) break;
            char e = *j->p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    if (j->p >= j->end) return cj_fail(j, "truncated \\u escape");
                    char h = *j->p++;
                    v = v * 16 + (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                   : 99);
                    if (v > 0xffff) return cj_fail(j, "bad \\u escape");
                }
                c = v < 0x80 && v ? (char)v : '?';
                break;
            }
            case '"': case '\\': case '/': c = e; break;
            default: return cj_fail(j, "bad escape in a string");
            }
        }
        if (buf && k + 1 < n) buf[k++] = c;
    }
    if (j->p >= j->end) return cj_fail(j, "unterminated string");
    j->p++;
    if (buf) buf[k] = 0;
    return POLCA_OK;
}

static cj_item *cj_put(cj *j, const char *path, int type) {
    if (j->n == j->cap) {
        int64_t cap = j->cap ? 2 * j->cap : 64;
        cj_item *it = realloc(j->items, (size_t)cap * sizeof *it);
        if (!it) {
            j->st = polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory reading %s", j->file);
            return NULL;
        }
        j->items = it;
        j->cap = cap;
    }
    cj_item *it = &j->items[j->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->path, sizeof it->path, "%s", path);
    it->type = type;
    return it;
}

static int32_t cj_value(cj *j, const char *path, int depth) {
    if (depth > 32) return cj_fail(j, "nesting too deep");
    cj_ws(j);
    if (j->p >= j->end) return cj_fail(j, "unexpected end");
    char c = *j->p;
    char sub[96];
    if (c == '{' || c == '[') {
        int obj = c == '{';
        if (path[0] && !cj_put(j, path, obj ? CJ_OBJ : CJ_ARR)) return j->st;
        j->p++;
        cj_ws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            return POLCA_OK;
        }
        for (int64_t i = 0;; i++) {
            cj_ws(j);
            if (obj) {
                char key[64];
                if (cj_string(j, key, sizeof key)) return j->st;
                cj_ws(j);
                if (j->p >= j->end || *j->p != ':') return cj_fail(j, "expected ':'");
                j->p++;
                snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
            } else {
                snprintf(sub, sizeof sub, "%s.%lld", path, (long long)i);
            }
            if (cj_value(j, sub, depth + 1)) return j->st;
            cj_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
                j->p++;
                return POLCA_OK;
            }
            return cj_fail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (c == '"') {
        cj_item *it = cj_put(j, path, CJ_STR);
        if (!it) return j->st;
        return cj_string(j, it->str, sizeof it->str);
    }
    static const struct {
        const char *lit;
        int type;
        double v;
    } lits[] = {{"true", CJ_BOOL, 1}, {"false", CJ_BOOL, 0}, {"null", CJ_NULL, 0}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i].lit);
        if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, lits[i].lit, n)) {
            j->p += n;
            cj_item *it = cj_put(j, path, lits[i].type);
            if (!it) return j->st;
            it->num = lits[i].v;
            return POLCA_OK;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char num[64];
        size_t k = 0;
        while (j->p < j->end && k + 1 < sizeof num && strchr("+-0123456789.eE", *j->p))
            num[k++] = *j->p++;
        num[k] = 0;
        char *endp;
        double v = strtod(num, &endp);
        if (*endp) return cj_fail(j, "bad number");
        cj_item *it = cj_put(j, path, CJ_NUM);
        if (!it) return j->st;
        it->num = v;
        return POLCA_OK;
    }
    return cj_fail(j, "unexpected character");
}

static int32_t cj_parse(const char *text, const char *file, cj *j) {
    memset(j, 0, sizeof *j);
    j->start = j->p = text;
    j->end = text + strlen(text);
    j->file = file;
    cj_ws(j);
    if (j->p >= j->end || *j->p != '{') return cj_fail(j, "expected a JSON object");
    if (cj_value(j, "", 0)) return j->st;
    cj_ws(j);
    if (j->p != j->end) return cj_fail(j, "data after the JSON object");
    return POLCA_OK;
}

static const cj_item *cj_get(const cj *j, const char *path) {
    for (int64_t i = 0; i < j->n; i++)
        if (!strcmp(j->items[i].path, path)) return &j->items[i];
    return NULL;
}

static int32_t read_text(const char *path, char **out, const char *fn) {
    FILE *f = fopen(path, "rb");
    if (!f) return polca__fail(POLCA_ERR_IO, "%s: cannot open %s: %s", fn, path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            if (cap > ((size_t)64 << 20)) {
                free(buf);
                fclose(f);
                return polca__fail(POLCA_ERR_CORRUPT, "%s: %s is larger than 64 MiB", fn, path);
            }
            cap = cap ? 2 * cap : 8192;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "%s: out of memory reading %s", fn,
                                   path);
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return polca__fail(POLCA_ERR_IO, "%s: cannot read %s", fn, path);
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        return polca__fail(POLCA_ERR_CORRUPT, "%s: %s holds a NUL byte; not JSON", fn, path);
    }
    *out = buf;
    return POLCA_OK;
}

/* ==== sources ==== */

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = polca__alloc(n, "a path");
    if (s) snprintf(s, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return s;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *s = polca__alloc(n + 1, "a path");
    if (!s) return NULL;
    if (slash) {
        memcpy(s, path, n ? n : 1);
        s[n ? n : 1] = 0;
    } else {
        s[0] = '.';
        s[1] = 0;
    }
    return s;
}

void polca__pt_close(polca__pt_source *src) {
    if (!src) return;
    for (int32_t i = 0; i < src->n_files; i++) polca__st_close(src->files[i]);
    free(src->files);
    free(src->config);
    free(src->config_path);
    free(src->path);
    memset(src, 0, sizeof *src);
}

static int32_t add_file(polca__pt_source *src, const char *path, const char *fn) {
    polca__st_file **fs = realloc(src->files, (size_t)(src->n_files + 1) * sizeof *fs);
    if (!fs) return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    src->files = fs;
    int32_t st = polca__st_open(path, &src->files[src->n_files]);
    if (st) return polca__wrap(st, "%s", fn);
    src->n_files++;
    return POLCA_OK;
}

/* The shards an index names (its "weight_map" values, each once), opened;
 * every tensor the index places in a shard must be there. */
static int32_t open_index(polca__pt_source *src, const char *dir, const char *index,
                          const char *fn) {
    char *text = NULL;
    int32_t st = read_text(index, &text, fn);
    if (st) return st;
    cj j;
    st = cj_parse(text, index, &j);
    free(text);
    if (st) {
        free(j.items);
        return polca__wrap(st, "%s", fn);
    }
    int64_t n_map = 0;
    for (int64_t i = 0; i < j.n && !st; i++) {
        const cj_item *it = &j.items[i];
        if (strncmp(it->path, "weight_map.", 11)) continue;
        n_map++;
        if (it->type != CJ_STR || !it->str[0] || strchr(it->str, '/')) {
            st = polca__fail(POLCA_ERR_CORRUPT,
                             "%s: %s: weight_map entry '%s' is not a shard file name", fn, index,
                             it->path + 11);
            break;
        }
        int seen = 0;
        for (int64_t k = 0; k < i && !seen; k++)
            seen = !strncmp(j.items[k].path, "weight_map.", 11) && j.items[k].type == CJ_STR &&
                   !strcmp(j.items[k].str, it->str);
        if (seen) continue;
        char *shard = join(dir, it->str);
        if (!shard) st = POLCA_ERR_OUT_OF_MEMORY;
        else if (!exists(shard))
            st = polca__fail(POLCA_ERR_IO, "%s: shard %s, named in %s, is missing", fn, shard,
                             index);
        else
            st = add_file(src, shard, fn);
        free(shard);
    }
    if (!st && n_map == 0)
        st = polca__fail(POLCA_ERR_CORRUPT, "%s: %s has no \"weight_map\" entries", fn, index);
    /* Tensor names longer than the flattened path keeps are checked by the
     * map lookup instead (a missing tensor is named there). */
    for (int64_t i = 0; i < j.n && !st; i++) {
        const cj_item *it = &j.items[i];
        if (strncmp(it->path, "weight_map.", 11) || strlen(it->path) + 1 >= sizeof it->path)
            continue;
        int32_t f;
        int64_t k;
        if (!polca__pt_find(src, it->path + 11, &f, &k))
            st = polca__fail(POLCA_ERR_CORRUPT, "%s: %s places tensor '%s' in %s, which lacks it",
                             fn, index, it->path + 11, it->str);
    }
    free(j.items);
    return st;
}

int32_t polca__pt_open(const char *path, polca__pt_source *out, const char *fn) {
    polca__pt_source src;
    memset(&src, 0, sizeof src);
    int32_t st = POLCA_OK;
    size_t plen = strlen(path);
    src.path = polca__alloc(plen + 1, "a path");
    if (!src.path) return POLCA_ERR_OUT_OF_MEMORY;
    memcpy(src.path, path, plen + 1);
    char *dir = NULL, *index = NULL, *single = NULL;
    if (is_dir(path)) {
        dir = polca__alloc(plen + 1, "a path");
        if (dir) memcpy(dir, path, plen + 1);
        index = dir ? join(dir, "model.safetensors.index.json") : NULL;
        single = dir ? join(dir, "model.safetensors") : NULL;
        if (!dir || !index || !single) st = POLCA_ERR_OUT_OF_MEMORY;
        else if (exists(index)) st = open_index(&src, dir, index, fn);
        else if (exists(single)) st = add_file(&src, single, fn);
        else {
            char *bin = join(dir, "pytorch_model.bin");
            int has_bin = bin && exists(bin);
            free(bin);
            st = has_bin ? polca__fail(POLCA_ERR_UNSUPPORTED,
                                       "%s: %s holds pytorch_model.bin (a PyTorch pickle), not "
                                       "safetensors; save it with save_pretrained(dir, "
                                       "safe_serialization=True)",
                                       fn, path)
                         : polca__fail(POLCA_ERR_IO,
                                       "%s: directory %s has no model.safetensors and no "
                                       "model.safetensors.index.json",
                                       fn, path);
        }
    } else if (!exists(path)) {
        st = polca__fail(POLCA_ERR_IO, "%s: cannot open %s: %s", fn, path, strerror(errno));
    } else {
        dir = dir_of(path);
        if (!dir) st = POLCA_ERR_OUT_OF_MEMORY;
        else if (plen > 11 && !strcmp(path + plen - 11, ".index.json"))
            st = open_index(&src, dir, path, fn);
        else
            st = add_file(&src, path, fn);
    }
    if (!st && dir) {
        char *cfg = join(dir, "config.json");
        if (!cfg) st = POLCA_ERR_OUT_OF_MEMORY;
        else if (exists(cfg)) {
            st = read_text(cfg, &src.config, fn);
            src.config_path = cfg;
            cfg = NULL;
        }
        free(cfg);
    }
    free(dir);
    free(index);
    free(single);
    if (st) {
        polca__pt_close(&src);
        return st;
    }
    *out = src;
    return POLCA_OK;
}

int polca__pt_find(const polca__pt_source *src, const char *name, int32_t *file, int64_t *index) {
    for (int32_t f = 0; f < src->n_files; f++) {
        int64_t k = polca__st_find(src->files[f], name);
        if (k >= 0) {
            *file = f;
            *index = k;
            return 1;
        }
    }
    return 0;
}

static int has(const polca__pt_source *src, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int has(const polca__pt_source *src, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int32_t f;
    int64_t k;
    return polca__pt_find(src, name, &f, &k);
}

static const polca__st_tensor *tensor(const polca__pt_source *src, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const polca__st_tensor *tensor(const polca__pt_source *src, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int32_t f;
    int64_t k;
    return polca__pt_find(src, name, &f, &k) ? polca__st_tensor_at(src->files[f], k) : NULL;
}

/* 1 when tensor a equals tensor b (transposed: a [r, c] vs b [c, r]) bit
 * for bit; 0 when not, or either is missing or unreadable. */
static int same_values(const polca__pt_source *src, const char *a, const char *b, int transposed) {
    int32_t fa, fb;
    int64_t ia, ib;
    if (!polca__pt_find(src, a, &fa, &ia) || !polca__pt_find(src, b, &fb, &ib)) return 0;
    const polca__st_tensor *ta = polca__st_tensor_at(src->files[fa], ia),
                           *tb = polca__st_tensor_at(src->files[fb], ib);
    if (ta->ndim != 2 || tb->ndim != 2) return 0;
    int64_t r = ta->shape[0], c = ta->shape[1];
    if (transposed ? (tb->shape[0] != c || tb->shape[1] != r)
                   : (tb->shape[0] != r || tb->shape[1] != c))
        return 0;
    float *x = polca__alloc((size_t)(r * c + 1) * sizeof(float), "a comparison");
    float *y = polca__alloc((size_t)(r * c + 1) * sizeof(float), "a comparison");
    int same = x && y && !polca__st_read_f32(src->files[fa], ia, x, r * c) &&
               !polca__st_read_f32(src->files[fb], ib, y, r * c);
    for (int64_t i = 0; same && i < r; i++)
        for (int64_t j = 0; same && j < c; j++)
            same = !memcmp(&x[i * c + j], transposed ? &y[j * r + i] : &y[i * c + j], sizeof(float));
    free(x);
    free(y);
    polca__clear_error();
    return same;
}

/* 1 when the tensor exists and every element is zero. */
static int all_zero(const polca__pt_source *src, const char *name) {
    int32_t f;
    int64_t i;
    if (!polca__pt_find(src, name, &f, &i)) return 0;
    const polca__st_tensor *t = polca__st_tensor_at(src->files[f], i);
    int64_t n = 1;
    for (int32_t d = 0; d < t->ndim; d++) n *= t->shape[d];
    float *x = polca__alloc((size_t)(n ? n : 1) * sizeof(float), "a comparison");
    int zero = x && !polca__st_read_f32(src->files[f], i, x, n);
    for (int64_t k = 0; zero && k < n; k++) zero = x[k] == 0.0f;
    free(x);
    polca__clear_error();
    return zero;
}

static int32_t any_name_contains(const polca__pt_source *src, const char *part) {
    for (int32_t f = 0; f < src->n_files; f++)
        for (int64_t i = 0; i < polca__st_count(src->files[f]); i++)
            if (strstr(polca__st_tensor_at(src->files[f], i)->name, part)) return 1;
    return 0;
}

int32_t polca__pt_detect(const polca__pt_source *src, int32_t *format,
                         char prefix[POLCA__PT_PREFIX_MAX], const char *fn) {
    static const char *const gpt2_p[] = {"transformer.", ""}, *const neox_p[] = {"gpt_neox.", ""},
                             *const llama_p[] = {"model.", ""};
    prefix[0] = 0;
    if (has(src, "embed.W_E")) {
        *format = POLCA__PT_TL;
        return POLCA_OK;
    }
    if (has(src, "embed.weight") && has(src, "blocks.0.attn.q.weight")) {
        *format = POLCA__PT_TL4;
        return POLCA_OK;
    }
    for (int i = 0; i < 2; i++) {
        if (has(src, "%swte.weight", gpt2_p[i])) {
            *format = POLCA__PT_GPT2;
            snprintf(prefix, POLCA__PT_PREFIX_MAX, "%s", gpt2_p[i]);
            return POLCA_OK;
        }
        if (has(src, "%sembed_in.weight", neox_p[i])) {
            *format = POLCA__PT_NEOX;
            snprintf(prefix, POLCA__PT_PREFIX_MAX, "%s", neox_p[i]);
            return POLCA_OK;
        }
        if (has(src, "%sembed_tokens.weight", llama_p[i])) {
            if (any_name_contains(src, "self_attn.q_norm") ||
                any_name_contains(src, "self_attn.k_norm"))
                return polca__fail(POLCA_ERR_UNSUPPORTED,
                                   "%s: %s has query/key norms (self_attn.q_norm, k_norm: OLMo-2 "
                                   "or Qwen3), which the built-in transformer does not compute",
                                   fn, src->path);
            snprintf(prefix, POLCA__PT_PREFIX_MAX, "%s", llama_p[i]);
            *format = has(src, "%slayers.0.self_attn.q_proj.bias", prefix) &&
                              !has(src, "%slayers.0.self_attn.o_proj.bias", prefix)
                          ? POLCA__PT_QWEN2
                          : POLCA__PT_LLAMA;
            return POLCA_OK;
        }
    }
    char first[400] = "";
    size_t at = 0;
    int shown = 0;
    for (int32_t f = 0; f < src->n_files && shown < 5; f++)
        for (int64_t i = 0; i < polca__st_count(src->files[f]) && shown < 5; i++, shown++)
            at += (size_t)snprintf(first + at, at < sizeof first ? sizeof first - at : 0, "%s'%.60s'",
                                   shown ? ", " : "", polca__st_tensor_at(src->files[f], i)->name);
    return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                       "%s: %s is in no layout libpolca knows; tried " TRIED
                       "; its first tensors: %s",
                       fn, src->path, shown ? first : "(none)");
}

/* ==== the configuration a checkpoint implies ==== */

/* O_N_LAYERS, O_D_MODEL, ...: the options' indices in opt_spec and v[]. */
enum {
#define TF_OPTION_ENUM(name, suffix, type) O_##suffix,
    POLCA__TF_OPTIONS(TF_OPTION_ENUM)
#undef TF_OPTION_ENUM
    O_COUNT
};

static const polca__option_spec opt_spec[] = {
    POLCA__TF_OPTIONS(POLCA__TF_OPTION_SPEC){"format", POLCA_OPT_STRING},
    {NULL, 0},
};

typedef struct opt_val {
    int set;
    int64_t i;
    double d;
    char s[32];
} opt_val;

typedef struct implied {
    opt_val v[O_COUNT];
    char notes[1024]; /* JSON array items, comma separated */
    const cj *config;
    const polca__pt_source *src;
    const char *fn;
    int32_t st;
} implied;

static void set_i(implied *m, int o, int64_t v) {
    m->v[o].set = 1;
    m->v[o].i = v;
}
static void set_d(implied *m, int o, double v) {
    m->v[o].set = 1;
    m->v[o].d = v;
}
static void set_s(implied *m, int o, const char *v) {
    m->v[o].set = 1;
    snprintf(m->v[o].s, sizeof m->v[o].s, "%s", v);
}

static void note(implied *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(implied *m, const char *fmt, ...) {
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t at = strlen(m->notes);
    if (at + strlen(text) + 8 >= sizeof m->notes) return;
    snprintf(m->notes + at, sizeof m->notes - at, "%s\"%s\"", at ? ", " : "", text);
}

static int32_t unsup(implied *m, const char *key, const char *why) {
    if (!m->st)
        m->st = polca__fail(POLCA_ERR_UNSUPPORTED, "%s: %s: config key '%s' %s", m->fn,
                            m->src->config_path ? m->src->config_path : m->src->path, key, why);
    return m->st;
}

/* config.json values (a missing key gives dflt / 0). */
static const cj_item *ck(const implied *m, const char *key) {
    return m->config ? cj_get(m->config, key) : NULL;
}
static int ck_num(const implied *m, const char *key, double *out) {
    const cj_item *it = ck(m, key);
    if (!it || it->type != CJ_NUM) return 0;
    *out = it->num;
    return 1;
}
static int ck_int(implied *m, const char *key, int o) {
    double v;
    if (!ck_num(m, key, &v)) return 0;
    set_i(m, o, (int64_t)v);
    return 1;
}
static int ck_bool(const implied *m, const char *key, int dflt) {
    const cj_item *it = ck(m, key);
    return it && it->type == CJ_BOOL ? (int)it->num : dflt;
}
static int ck_present(const implied *m, const char *key) {
    const cj_item *it = ck(m, key);
    return it && it->type != CJ_NULL;
}

/* Number of blocks: the largest N with "<p>N." names, plus one. */
static int64_t count_layers(const polca__pt_source *src, const char *p) {
    int64_t n = 0;
    size_t pl = strlen(p);
    for (int32_t f = 0; f < src->n_files; f++)
        for (int64_t i = 0; i < polca__st_count(src->files[f]); i++) {
            const char *name = polca__st_tensor_at(src->files[f], i)->name;
            if (strncmp(name, p, pl) || name[pl] < '0' || name[pl] > '9') continue;
            char *end;
            long long l = strtoll(name + pl, &end, 10);
            if (*end == '.' && l >= 0 && l < (1 << 24) && l + 1 > n) n = l + 1;
        }
    return n;
}

static int32_t act_from(implied *m, const char *key, const char *v) {
    static const struct {
        const char *hf, *ours;
    } acts[] = {{"gelu", "gelu"},         {"gelu_new", "gelu_new"},
                {"gelu_pytorch_tanh", "gelu_new"}, {"gelu_fast", NULL},
                {"relu", "relu"},         {"silu", "silu"},
                {"swish", "silu"}};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
        if (!strcmp(v, acts[i].hf)) {
            if (!acts[i].ours) break;
            set_s(m, O_ACT_FN, acts[i].ours);
            return POLCA_OK;
        }
    char why[160];
    snprintf(why, sizeof why, "is \"%.40s\"; supported: gelu, gelu_new, gelu_pytorch_tanh, relu, "
                              "silu", v);
    return unsup(m, key, why);
}

/* rope_scaling / rope_parameters: only the default (unscaled) rotary. */
static void rope_common(implied *m, int64_t head_dim, double partial_default) {
    const cj_item *sc = ck(m, "rope_scaling");
    if (sc && sc->type != CJ_NULL) {
        const cj_item *t = ck(m, "rope_scaling.rope_type");
        if (!t) t = ck(m, "rope_scaling.type");
        if (!t || t->type != CJ_STR || strcmp(t->str, "default"))
            unsup(m, "rope_scaling", "is set (scaled rotary embeddings are not supported)");
    }
    const cj_item *rt = ck(m, "rope_parameters.rope_type");
    if (rt && (rt->type != CJ_STR || strcmp(rt->str, "default")))
        unsup(m, "rope_parameters.rope_type",
              "is not \"default\" (scaled rotary embeddings are not supported)");
    double theta;
    if (ck_num(m, "rope_parameters.rope_theta", &theta) || ck_num(m, "rope_theta", &theta) ||
        ck_num(m, "rotary_emb_base", &theta))
        set_d(m, O_ROPE_THETA, theta);
    else {
        set_d(m, O_ROPE_THETA, 10000.0);
        note(m, "rope_theta: 10000 (the default; %s)",
             m->config ? "config.json has none" : "no config.json");
    }
    double frac;
    if (!ck_num(m, "rope_parameters.partial_rotary_factor", &frac) &&
        !ck_num(m, "partial_rotary_factor", &frac) && !ck_num(m, "rotary_pct", &frac)) {
        frac = partial_default;
        if (frac != 1.0)
            note(m, "rotary fraction: %g (the default; %s)", frac,
                 m->config ? "config.json has none" : "no config.json");
    }
    if (!(frac > 0.0 && frac <= 1.0)) {
        unsup(m, "partial_rotary_factor", "is outside (0, 1]");
        return;
    }
    set_s(m, O_POSITIONS, "rotary");
    if (head_dim > 0) set_i(m, O_ROTARY_DIM, (int64_t)((double)head_dim * frac));
}

static void eps_from(implied *m, const char *key, double dflt) {
    double v;
    if (ck_num(m, key, &v)) set_d(m, O_NORM_EPS, v);
    else {
        set_d(m, O_NORM_EPS, dflt);
        note(m, "norm_eps: %g (the default; %s)", dflt,
             m->config ? "config.json has none" : "no config.json");
    }
}

static void need_heads(implied *m, const char *key) {
    if (!ck_int(m, key, O_N_HEADS))
        note(m, "n_heads: not in the tensor shapes%s; give option n_heads",
             m->config ? " nor config.json" : " and no config.json");
}

/* d_vocab and d_model from an embedding [V, D] (absent: left unset). */
static void sizes_from_embedding(implied *m, const polca__st_tensor *embedding) {
    if (!embedding || embedding->ndim != 2) return;
    set_i(m, O_D_VOCAB, embedding->shape[0]);
    set_i(m, O_D_MODEL, embedding->shape[1]);
}

/* Tied when the checkpoint has no separate unembedding, or one saved anyway
 * that equals the embedding bit for bit (transposed: [D, V] against [V, D]). */
static int tied_unembedding(const implied *m, const char *embedding, const char *unembedding,
                            int transposed) {
    return !has(m->src, "%s", unembedding) ||
           same_values(m->src, embedding, unembedding, transposed);
}

static void n_ctx_from(implied *m, const char *key, int64_t dflt) {
    if (!ck_int(m, key, O_N_CTX)) {
        set_i(m, O_N_CTX, dflt);
        note(m, "n_ctx: %lld (the default; %s)", (long long)dflt,
             m->config ? "config.json has none" : "no config.json");
    }
}

static void model_type_is(implied *m, const char *const *ok, const char *layout) {
    const cj_item *t = ck(m, "model_type");
    if (!t) return;
    for (int i = 0; ok[i]; i++)
        if (t->type == CJ_STR && !strcmp(t->str, ok[i])) return;
    char why[160];
    snprintf(why, sizeof why,
             "is \"%.40s\", a model libpolca does not know (its tensors look like %s)",
             t->type == CJ_STR ? t->str : "?", layout);
    unsup(m, "model_type", why);
}

static void imply_gpt2(implied *m, const char *p) {
    static const char *const types[] = {"gpt2", NULL};
    model_type_is(m, types, "gpt2");
    const polca__st_tensor *wte = tensor(m->src, "%swte.weight", p),
                           *wpe = tensor(m->src, "%swpe.weight", p),
                           *fc = tensor(m->src, "%sh.0.mlp.c_fc.weight", p);
    set_i(m, O_N_LAYERS, count_layers(m->src, p[0] ? "transformer.h." : "h."));
    sizes_from_embedding(m, wte);
    if (wpe && wpe->ndim == 2) set_i(m, O_N_CTX, wpe->shape[0]);
    if (fc && fc->ndim == 2) set_i(m, O_D_MLP, fc->shape[1]);
    need_heads(m, "n_head");
    const cj_item *act = ck(m, "activation_function");
    if (act && act->type == CJ_STR) act_from(m, "activation_function", act->str);
    else {
        set_s(m, O_ACT_FN, "gelu_new");
        if (!m->config) note(m, "act_fn: gelu_new (GPT-2's default; no config.json)");
    }
    eps_from(m, "layer_norm_epsilon", 1e-5);
    if (!ck_bool(m, "scale_attn_weights", 1))
        unsup(m, "scale_attn_weights", "is false (scores are always scaled by 1/sqrt(d_head))");
    if (ck_bool(m, "scale_attn_by_inverse_layer_idx", 0))
        unsup(m, "scale_attn_by_inverse_layer_idx", "is true (not supported)");
    if (ck_bool(m, "add_cross_attention", 0))
        unsup(m, "add_cross_attention", "is true (a decoder-only model has no cross-attention)");
    /* reorder_and_upcast_attn only changes the order and precision of the
     * score computation (float32 here anyway): the same function. */
    set_s(m, O_NORM, "layernorm");
    set_s(m, O_POSITIONS, "learned");
    /* tied: no lm_head, or one saved anyway that equals wte bit for bit */
    char wte_name[40];
    snprintf(wte_name, sizeof wte_name, "%swte.weight", p);
    set_i(m, O_TIED, tied_unembedding(m, wte_name, "lm_head.weight", 0));
    set_i(m, O_UNEMBED_BIAS, 0);
}

static void imply_tl4(implied *m) {
    const polca__st_tensor *we = tensor(m->src, "embed.weight"),
                           *wp = tensor(m->src, "pos_embed.weight"),
                           *in = tensor(m->src, "blocks.0.mlp.in.weight");
    set_i(m, O_N_LAYERS, count_layers(m->src, "blocks."));
    sizes_from_embedding(m, we);
    if (wp && wp->ndim == 2) set_i(m, O_N_CTX, wp->shape[0]);
    if (in && in->ndim == 2) set_i(m, O_D_MLP, in->shape[1]);
    need_heads(m, "n_head");
    const cj_item *act = ck(m, "activation_function");
    if (act && act->type == CJ_STR) act_from(m, "activation_function", act->str);
    else {
        set_s(m, O_ACT_FN, "gelu_new");
        note(m, "act_fn: gelu_new (GPT-2's; TransformerBridge state_dict has no config)");
    }
    eps_from(m, "layer_norm_epsilon", 1e-5);
    set_s(m, O_NORM, "layernorm");
    set_s(m, O_POSITIONS, "learned");
    /* state_dict() lists the tied unembedding as a copy of embed.weight */
    int tied = tied_unembedding(m, "embed.weight", "unembed.weight", 0);
    set_i(m, O_TIED, tied);
    if (tied && has(m->src, "unembed.weight"))
        note(m, "tied_embeddings: 1 (unembed.weight equals embed.weight)");
    set_i(m, O_UNEMBED_BIAS, 0);
}

static void imply_neox(implied *m, const char *p) {
    static const char *const types[] = {"gpt_neox", NULL};
    model_type_is(m, types, "gpt_neox");
    const polca__st_tensor *we = tensor(m->src, "%sembed_in.weight", p),
                           *up = tensor(m->src, "%slayers.0.mlp.dense_h_to_4h.weight", p);
    char lp[40];
    snprintf(lp, sizeof lp, "%slayers.", p);
    set_i(m, O_N_LAYERS, count_layers(m->src, lp));
    sizes_from_embedding(m, we);
    if (up && up->ndim == 2) set_i(m, O_D_MLP, up->shape[0]);
    need_heads(m, "num_attention_heads");
    const cj_item *act = ck(m, "hidden_act");
    if (act && act->type == CJ_STR) act_from(m, "hidden_act", act->str);
    else {
        set_s(m, O_ACT_FN, "gelu");
        note(m, "act_fn: gelu (GPT-NeoX's default; %s)",
             m->config ? "config.json has none" : "no config.json");
    }
    eps_from(m, "layer_norm_eps", 1e-5);
    n_ctx_from(m, "max_position_embeddings", 2048);
    int64_t E = 0;
    if (m->v[O_N_HEADS].set && m->v[O_D_MODEL].set && m->v[O_N_HEADS].i > 0)
        E = m->v[O_D_MODEL].i / m->v[O_N_HEADS].i;
    rope_common(m, E, 0.25);
    set_s(m, O_NORM, "layernorm");
    int bias = has(m->src, "%slayers.0.attention.query_key_value.bias", p);
    set_i(m, O_QKV_BIAS, bias);
    set_i(m, O_OUT_BIAS, has(m->src, "%slayers.0.attention.dense.bias", p));
    if (ck_present(m, "use_parallel_residual"))
        set_i(m, O_PARALLEL, ck_bool(m, "use_parallel_residual", 1));
    else {
        set_i(m, O_PARALLEL, 1);
        note(m, "parallel_residual: 1 (GPT-NeoX's default; %s)",
             m->config ? "config.json has none" : "no config.json");
    }
    char emb[40];
    snprintf(emb, sizeof emb, "%sembed_in.weight", p);
    set_i(m, O_TIED, tied_unembedding(m, emb, "embed_out.weight", 0));
    set_i(m, O_UNEMBED_BIAS, 0);
}

static void imply_llama(implied *m, const char *p, int qwen) {
    /* Mistral is the Llama layout with a sliding window (refused when set) */
    static const char *const llama_types[] = {"llama", "mistral", NULL},
                             *const qwen_types[] = {"qwen2", NULL};
    model_type_is(m, qwen ? qwen_types : llama_types, qwen ? "qwen2" : "llama");
    const polca__st_tensor *we = tensor(m->src, "%sembed_tokens.weight", p),
                           *q = tensor(m->src, "%slayers.0.self_attn.q_proj.weight", p),
                           *k = tensor(m->src, "%slayers.0.self_attn.k_proj.weight", p),
                           *up = tensor(m->src, "%slayers.0.mlp.up_proj.weight", p);
    char lp[40];
    snprintf(lp, sizeof lp, "%slayers.", p);
    set_i(m, O_N_LAYERS, count_layers(m->src, lp));
    sizes_from_embedding(m, we);
    if (up && up->ndim == 2) set_i(m, O_D_MLP, up->shape[0]);
    need_heads(m, "num_attention_heads");
    int64_t E = 0;
    if (!ck_int(m, "head_dim", O_D_HEAD)) {
        if (m->v[O_N_HEADS].set && q && q->ndim == 2 && m->v[O_N_HEADS].i > 0 &&
            q->shape[0] % m->v[O_N_HEADS].i == 0)
            set_i(m, O_D_HEAD, q->shape[0] / m->v[O_N_HEADS].i);
    }
    if (m->v[O_D_HEAD].set) E = m->v[O_D_HEAD].i;
    if (!ck_int(m, "num_key_value_heads", O_N_KV_HEADS) && E > 0 && k && k->ndim == 2)
        set_i(m, O_N_KV_HEADS, k->shape[0] / E);
    const cj_item *act = ck(m, "hidden_act");
    if (act && act->type == CJ_STR) act_from(m, "hidden_act", act->str);
    else {
        set_s(m, O_ACT_FN, "silu");
        if (m->config) note(m, "act_fn: silu (the default; config.json has none)");
    }
    eps_from(m, "rms_norm_eps", 1e-6);
    n_ctx_from(m, "max_position_embeddings", qwen ? 32768 : 2048);
    rope_common(m, E, 1.0);
    if (!qwen && ck_present(m, "sliding_window"))
        unsup(m, "sliding_window", "is set (sliding-window attention is not supported)");
    if (qwen) {
        if (ck_bool(m, "use_sliding_window", 0))
            unsup(m, "use_sliding_window", "is true (sliding-window attention is not supported)");
        for (int i = 0; i < 4096; i++) {
            char key[40];
            snprintf(key, sizeof key, "layer_types.%d", i);
            const cj_item *t = ck(m, key);
            if (!t) break;
            if (t->type != CJ_STR || strcmp(t->str, "full_attention")) {
                unsup(m, key, "is not \"full_attention\" (sliding-window attention is not "
                              "supported)");
                break;
            }
        }
    }
    if (ck_bool(m, "mlp_bias", 0) || has(m->src, "%slayers.0.mlp.gate_proj.bias", p))
        unsup(m, "mlp_bias", "is true (a bias on gate_proj has no counterpart here)");
    set_s(m, O_NORM, "rmsnorm");
    set_i(m, O_MLP_GATED, 1);
    set_i(m, O_MLP_BIAS, 0);
    set_i(m, O_QKV_BIAS, has(m->src, "%slayers.0.self_attn.q_proj.bias", p));
    set_i(m, O_OUT_BIAS, has(m->src, "%slayers.0.self_attn.o_proj.bias", p));
    char emb[40];
    snprintf(emb, sizeof emb, "%sembed_tokens.weight", p);
    set_i(m, O_TIED, tied_unembedding(m, emb, "lm_head.weight", 0));
    set_i(m, O_UNEMBED_BIAS, 0);
}

static void imply_tl(implied *m) {
    const polca__st_tensor *we = tensor(m->src, "embed.W_E"), *wp = tensor(m->src, "pos_embed.W_pos"),
                           *wq = tensor(m->src, "blocks.0.attn.W_Q"),
                           *wk = tensor(m->src, "blocks.0.attn._W_K"),
                           *win = tensor(m->src, "blocks.0.mlp.W_in");
    set_i(m, O_N_LAYERS, count_layers(m->src, "blocks."));
    sizes_from_embedding(m, we);
    if (wq && wq->ndim == 3) {
        set_i(m, O_N_HEADS, wq->shape[0]);
        set_i(m, O_D_HEAD, wq->shape[2]);
    }
    if (wk && wk->ndim == 3) set_i(m, O_N_KV_HEADS, wk->shape[0]);
    set_i(m, O_D_MLP, win && win->ndim == 2 ? win->shape[1] : 0);
    set_i(m, O_MLP_GATED, has(m->src, "blocks.0.mlp.W_gate"));
    set_s(m, O_ACT_FN, "gelu_new");
    note(m, "act_fn: gelu_new (not in a TransformerLens state_dict; give option act_fn if the "
            "model uses another)");
    set_d(m, O_NORM_EPS, 1e-5);
    note(m, "norm_eps: 1e-05 (not in a TransformerLens state_dict)");
    int ln_b = has(m->src, "blocks.0.ln1.b");
    set_s(m, O_NORM, ln_b ? "layernorm" : "rmsnorm");
    if (!ln_b) note(m, "norm: rmsnorm (ln1 has no bias: TransformerLens's RMS)");
    if (wp && wp->ndim == 2) {
        set_s(m, O_POSITIONS, "learned");
        set_i(m, O_N_CTX, wp->shape[0]);
    } else {
        set_s(m, O_POSITIONS, "rotary");
        set_i(m, O_N_CTX, 2048);
        note(m, "positions: rotary over the whole head, rope_theta 10000, n_ctx 2048 (no "
                "pos_embed.W_pos; not in a TransformerLens state_dict)");
    }
    set_i(m, O_QKV_BIAS, has(m->src, "blocks.0.attn.b_Q"));
    set_i(m, O_OUT_BIAS, has(m->src, "blocks.0.attn.b_O"));
    set_i(m, O_MLP_BIAS, has(m->src, "blocks.0.mlp.b_in"));
    /* TransformerLens 4's get_params() shows GPT-2's tied unembedding as
     * W_U = W_E^T and its missing bias as zeros */
    int tied = tied_unembedding(m, "embed.W_E", "unembed.W_U", 1);
    set_i(m, O_TIED, tied);
    int b_u = has(m->src, "unembed.b_U") && !(tied && all_zero(m->src, "unembed.b_U"));
    set_i(m, O_UNEMBED_BIAS, b_u);
    if (tied && has(m->src, "unembed.W_U"))
        note(m, "tied_embeddings: 1 (unembed.W_U equals embed.W_E transposed)%s",
             has(m->src, "unembed.b_U") && !b_u ? "; unembed_bias: 0 (unembed.b_U is zero)" : "");
    set_i(m, O_PARALLEL, 0);
    note(m, "parallel_residual: 0 (not in a TransformerLens state_dict)");
}

/* Appends the option values as a JSON object. */
static void options_json(const implied *m, char *buf, size_t n) {
    size_t at = (size_t)snprintf(buf, n, "{");
    int first = 1;
    for (int o = 0; o < O_COUNT && at < n; o++) {
        if (!m->v[o].set) continue;
        const char *name = opt_spec[o].name;
        if (opt_spec[o].type == POLCA_OPT_INT)
            at += (size_t)snprintf(buf + at, n - at, "%s\"%s\": %lld", first ? "" : ", ", name,
                                   (long long)m->v[o].i);
        else if (opt_spec[o].type == POLCA_OPT_DOUBLE) {
            /* the shortest text that reads back as the same float */
            int prec = 6;
            char num[40];
            do snprintf(num, sizeof num, "%.*g", prec, m->v[o].d);
            while ((float)strtod(num, NULL) != (float)m->v[o].d && ++prec < 17);
            at += (size_t)snprintf(buf + at, n - at, "%s\"%s\": %s", first ? "" : ", ", name,
                                   num);
        }
        else
            at += (size_t)snprintf(buf + at, n - at, "%s\"%s\": \"%s\"", first ? "" : ", ", name,
                                   m->v[o].s);
        first = 0;
    }
    if (at < n) snprintf(buf + at, n - at, "}");
}

/* Options of a created transformer, as create_transformer takes them. */
static void implied_of_config(const polca__tf_config *c, implied *m) {
    static const char *const acts[] = {"gelu", "gelu_new", "relu", "silu"};
    static const char *const norms[] = {"layernorm", "layernorm_nobias", "rmsnorm"};
    static const char *const pos[] = {"learned", "rotary", "none"};
    memset(m->v, 0, sizeof m->v);
    set_i(m, O_N_LAYERS, c->n_layers);
    set_i(m, O_D_MODEL, c->d_model);
    set_i(m, O_N_HEADS, c->n_heads);
    set_i(m, O_D_HEAD, c->d_head);
    set_i(m, O_D_MLP, c->d_mlp);
    set_i(m, O_D_VOCAB, c->d_vocab);
    set_i(m, O_N_CTX, c->n_ctx);
    set_s(m, O_ACT_FN, acts[c->act_fn & 3]);
    set_i(m, O_N_KV_HEADS, c->n_kv_heads);
    set_s(m, O_NORM, norms[c->norm % 3]);
    set_d(m, O_NORM_EPS, c->norm_eps);
    set_s(m, O_POSITIONS, pos[c->positions % 3]);
    if (c->positions == POLCA__POS_ROTARY) {
        set_i(m, O_ROTARY_DIM, c->rotary_dim);
        set_d(m, O_ROPE_THETA, c->rope_theta);
    }
    set_i(m, O_QKV_BIAS, c->qkv_bias);
    set_i(m, O_OUT_BIAS, c->out_bias);
    set_i(m, O_MLP_BIAS, c->mlp_bias);
    set_i(m, O_MLP_GATED, c->mlp_gated);
    set_i(m, O_PARALLEL, c->parallel_residual);
    set_i(m, O_TIED, c->tied_embeddings);
    set_i(m, O_UNEMBED_BIAS, c->unembed_bias);
}

static char *json_escape_path(const char *s) {
    size_t n = strlen(s);
    char *o = polca__alloc(6 * n + 1, "a JSON string");
    if (!o) return NULL;
    size_t k = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)sprintf(o + k, "\\u%04x", c);
        } else {
            o[k++] = (char)c;
        }
    }
    o[k] = 0;
    return o;
}

static char *describe(const polca__tf_config *cfg, int32_t format, const char *path,
                      const char *config_path, const char *notes) {
    implied m;
    memset(&m, 0, sizeof m);
    implied_of_config(cfg, &m);
    char opts[2048];
    options_json(&m, opts, sizeof opts);
    char *p = path ? json_escape_path(path) : NULL, *c = config_path ? json_escape_path(config_path)
                                                                     : NULL;
    size_t n = strlen(opts) + (notes ? strlen(notes) : 0) + (p ? strlen(p) : 0) +
               (c ? strlen(c) : 0) + 256;
    char *out = polca__alloc(n, "a model description");
    if (out)
        snprintf(out, n,
                 "{\"format\": \"%s\", \"path\": %s%s%s, \"config\": %s%s%s, \"options\": %s, "
                 "\"notes\": [%s]}",
                 polca__pt_format_name(format), p ? "\"" : "", p ? p : "null", p ? "\"" : "",
                 c ? "\"" : "", c ? c : "null", c ? "\"" : "", opts, notes ? notes : "");
    free(p);
    free(c);
    return out;
}

/* ==== public entries ==== */

static int32_t format_option(const polca_options *o, const char *fn, int32_t *out) {
    const char *v = polca__options_string(o, "format", NULL);
    *out = -1;
    if (!v) return POLCA_OK;
    for (int32_t f = POLCA__PT_TL; f < POLCA__PT_COUNT; f++)
        if (!strcmp(v, format_names[f])) {
            *out = f;
            return POLCA_OK;
        }
    return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                       "%s: option 'format' is \"%s\"; expected one of transformerlens, "
                       "transformerlens4, gpt2, gpt_neox, llama, qwen2",
                       fn, v);
}

static const char *default_prefix(int32_t format, const polca__pt_source *src) {
    switch (format) {
    case POLCA__PT_GPT2: return has(src, "wte.weight") ? "" : "transformer.";
    case POLCA__PT_NEOX: return has(src, "embed_in.weight") ? "" : "gpt_neox.";
    case POLCA__PT_LLAMA:
    case POLCA__PT_QWEN2: return has(src, "embed_tokens.weight") ? "" : "model.";
    default: return "";
    }
}

int32_t polca_model_create_pretrained(polca_context *ctx, const char *path,
                                      const polca_options *options, polca_model **out) {
    static const char *fn = "polca_model_create_pretrained";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if ((st = polca__options_check(options, opt_spec, fn))) return st;
    int32_t forced;
    if ((st = format_option(options, fn, &forced))) return st;

    polca__pt_source src;
    if ((st = polca__pt_open(path, &src, fn))) return st;
    int32_t format = forced;
    char prefix[POLCA__PT_PREFIX_MAX] = "";
    if (forced < 0) st = polca__pt_detect(&src, &format, prefix, fn);
    else snprintf(prefix, sizeof prefix, "%s", default_prefix(forced, &src));
    cj config;
    memset(&config, 0, sizeof config);
    if (!st && src.config) {
        st = cj_parse(src.config, src.config_path, &config);
        if (st) st = polca__wrap(st, "%s", fn);
    }
    implied m;
    memset(&m, 0, sizeof m);
    m.config = src.config && !st ? &config : NULL;
    m.src = &src;
    m.fn = fn;
    if (!st) {
        switch (format) {
        case POLCA__PT_TL: m.config = NULL; imply_tl(&m); break;
        case POLCA__PT_TL4: imply_tl4(&m); break;
        case POLCA__PT_GPT2: imply_gpt2(&m, prefix); break;
        case POLCA__PT_NEOX: imply_neox(&m, prefix); break;
        case POLCA__PT_LLAMA: imply_llama(&m, prefix, 0); break;
        case POLCA__PT_QWEN2: imply_llama(&m, prefix, 1); break;
        }
        st = m.st;
    }
    /* The caller's options override what the checkpoint implies. */
    polca_options *o = NULL;
    if (!st) {
        for (int k = 0; k < O_COUNT; k++) {
            const char *name = opt_spec[k].name;
            if (opt_spec[k].type == POLCA_OPT_INT) {
                int64_t v = polca__options_int(options, name, INT64_MIN);
                if (v != INT64_MIN) set_i(&m, k, v);
            } else if (opt_spec[k].type == POLCA_OPT_DOUBLE) {
                double v = polca__options_double(options, name, NAN);
                if (!isnan(v)) set_d(&m, k, v);
            } else {
                const char *v = polca__options_string(options, name, NULL);
                if (v) set_s(&m, k, v);
            }
        }
        /* rotary_dim follows a d_head override made without one. */
        if (m.v[O_POSITIONS].set && strcmp(m.v[O_POSITIONS].s, "rotary") && m.v[O_ROTARY_DIM].set &&
            polca__options_int(options, "rotary_dim", INT64_MIN) == INT64_MIN)
            m.v[O_ROTARY_DIM].set = 0;
        if (!m.v[O_N_HEADS].set)
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                             "%s: %s: the number of heads is neither in its tensor shapes nor in "
                             "a config.json; give option 'n_heads' (Python: n_heads=; the CLI: "
                             "a JSON config {\"pretrained\": PATH, \"n_heads\": N})",
                             fn, path);
        else if (!m.v[O_N_LAYERS].set || m.v[O_N_LAYERS].i < 1)
            st = polca__fail(POLCA_ERR_LAYOUT_MISMATCH, "%s: %s: found no %s blocks", fn, path,
                             polca__pt_format_name(format));
    }
    if (!st) st = polca_options_create(&o);
    for (int k = 0; k < O_COUNT && !st; k++) {
        if (!m.v[k].set) continue;
        const char *name = opt_spec[k].name;
        st = opt_spec[k].type == POLCA_OPT_INT      ? polca_options_set_int(o, name, m.v[k].i)
             : opt_spec[k].type == POLCA_OPT_DOUBLE ? polca_options_set_double(o, name, m.v[k].d)
                                                    : polca_options_set_string(o, name, m.v[k].s);
    }
    polca_model *model = NULL;
    if (!st) {
        st = polca_model_create_transformer(ctx, o, &model);
        if (st) st = polca__wrap(st, "%s: %s (the %s layout)", fn, path, polca__pt_format_name(format));
    }
    polca_options_destroy(o);
    polca__pt_maps maps;
    memset(&maps, 0, sizeof maps);
    if (!st) {
        st = polca__pt_maps_build(format, prefix, &model->tf, &model->layout, &maps);
        if (st) st = polca__wrap(st, "%s: %s", fn, path);
    }
    /* Every tensor there with its shape, nothing unknown: a configuration
     * that does not fit the file fails here, not at the first load. */
    if (!st) st = polca__pt_read(&maps, &src, 1, NULL, fn);
    if (!st) {
        model->pt_format = format;
        snprintf(model->pt_prefix, sizeof model->pt_prefix, "%s", prefix);
        model->pt_describe = describe(&model->tf, format, path, src.config_path, m.notes);
        if (!model->pt_describe) st = POLCA_ERR_OUT_OF_MEMORY;
    }
    polca__pt_maps_free(&maps);
    free(config.items);
    polca__pt_close(&src);
    if (st) {
        if (model) polca__model_free(model);
        return st;
    }
    *out = model;
    return POLCA_OK;
}

static int32_t check_transformer(const polca_model *model, const char *fn) {
    int32_t st = polca__check_model(model, fn);
    if (st) return st;
    if (model->kind != POLCA__MODEL_TRANSFORMER)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: the model is not a transformer (pretrained layouts are "
                           "transformer layouts)",
                           fn);
    return POLCA_OK;
}

int32_t polca_model_source_format(const polca_model *model, const char **out_name) {
    static const char *fn = "polca_model_source_format";
    polca__clear_error();
    int32_t st = check_transformer(model, fn);
    if (st) return st;
    if (!out_name)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_name' is NULL", fn);
    *out_name = polca__pt_format_name(model->pt_format);
    return POLCA_OK;
}

int32_t polca_model_describe(const polca_model *model, const char **out_json) {
    static const char *fn = "polca_model_describe";
    polca__clear_error();
    int32_t st = check_transformer(model, fn);
    if (st) return st;
    if (!out_json)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_json' is NULL", fn);
    if (!model->pt_describe) {
        polca_model *m = (polca_model *)model; /* a cache; one thread per model (model.h) */
        m->pt_describe = describe(&m->tf, m->pt_format, NULL, NULL, NULL);
        if (!m->pt_describe) return POLCA_ERR_OUT_OF_MEMORY;
    }
    *out_json = model->pt_describe;
    return POLCA_OK;
}

/* The map for one checkpoint read into model: its own layout when detected,
 * else the model's source layout. */
static int32_t maps_for(const polca_model *model, const polca__pt_source *src,
                        polca__pt_maps *maps, const char *fn) {
    int32_t format = model->pt_format;
    char prefix[POLCA__PT_PREFIX_MAX];
    snprintf(prefix, sizeof prefix, "%s", model->pt_prefix);
    int32_t f;
    char p[POLCA__PT_PREFIX_MAX];
    if (polca__pt_detect(src, &f, p, fn) == POLCA_OK) {
        int native_pair = (f == POLCA__PT_TL && format == POLCA__PT_NATIVE);
        if (!native_pair) {
            format = f;
            snprintf(prefix, sizeof prefix, "%s", p);
        }
    }
    polca__clear_error();
    int32_t st = polca__pt_maps_build(format, prefix, &model->tf, &model->layout, maps);
    return st ? polca__wrap(st, "%s: %s", fn, src->path) : POLCA_OK;
}

int32_t polca__pt_read_for_model(const polca_model *model, const char *path, float *theta,
                                 const char *fn) {
    polca__pt_source src;
    int32_t st = polca__pt_open(path, &src, fn);
    if (st) return st;
    polca__pt_maps maps;
    st = maps_for(model, &src, &maps, fn);
    if (!st) {
        st = polca__pt_read(&maps, &src, 0, theta, fn);
        polca__pt_maps_free(&maps);
    }
    polca__pt_close(&src);
    return st;
}

int32_t polca_model_load_pretrained(const polca_model *model, const char *path, float *theta) {
    static const char *fn = "polca_model_load_pretrained";
    polca__clear_error();
    int32_t st = check_transformer(model, fn);
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'theta' is NULL", fn);
    polca__pt_source src;
    if ((st = polca__pt_open(path, &src, fn))) return st;
    polca__pt_maps maps;
    st = maps_for(model, &src, &maps, fn);
    if (!st) {
        st = polca__pt_read(&maps, &src, 1, theta, fn);
        polca__pt_maps_free(&maps);
    }
    polca__pt_close(&src);
    return st;
}

int32_t polca_model_save_pretrained(const polca_model *model, const char *path,
                                    const float *vector) {
    static const char *fn = "polca_model_save_pretrained";
    polca__clear_error();
    int32_t st = check_transformer(model, fn);
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    if (!vector)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'vector' is NULL", fn);
    if (is_dir(path))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: %s is a directory; give a file name (e.g. %s/delta.safetensors)",
                           fn, path, path);
    polca__pt_maps maps;
    if ((st = polca__pt_maps_build(model->pt_format, model->pt_prefix, &model->tf, &model->layout,
                                   &maps)))
        return polca__wrap(st, "%s", fn);
    st = polca__pt_write(&maps, vector, path, fn);
    polca__pt_maps_free(&maps);
    return st;
}
