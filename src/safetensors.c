/*
 * src/safetensors.c - safetensors reader and writer (see safetensors.h).
 *
 * The format: 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON (the
 * header), then the data buffer. Each header entry maps a tensor name to
 * {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} with
 * offsets relative to the start of the data buffer; the optional key
 * "__metadata__" maps to an object of string values.
 *
 * The JSON parser below is written for that subset and is strict: a JSON
 * object at the top, strings with valid escapes and valid UTF-8, integers
 * without sign, fraction or exponent where sizes are expected, nothing after
 * the object but whitespace (writers pad with spaces). Values of unknown keys
 * inside a tensor entry are skipped with a nesting limit, so the parser never
 * recurses deeper than JSON_MAX_DEPTH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fileio.h"
#include "safetensors.h"
#include "strset.h"

#define JSON_MAX_DEPTH 64

struct polca__st_file {
    polca__src src;
    uint64_t data_start; /* 8 + N */
    uint64_t data_size;  /* bytes of the data buffer */
    char *arena;         /* decoded strings; never larger than the header */
    size_t arena_used, arena_cap;
    polca__st_tensor *tensors;
    int64_t n, cap;
    struct meta_pair {
        const char *key, *val;
    } * meta;
    int64_t n_meta, meta_cap;
    polca__strset names, meta_keys; /* indices of tensors[] and meta[] by name */
};

static const char *tensor_name_at(const void *ctx, int64_t i) {
    return ((const polca__st_file *)ctx)->tensors[i].name;
}

static const char *meta_key_at(const void *ctx, int64_t i) {
    return ((const polca__st_file *)ctx)->meta[i].key;
}

/* ---- dtypes ---- */

typedef struct dtype_info {
    const char *name;
    int bits;
} dtype_info;

static const dtype_info dtypes[] = {
    {"BOOL", 8},    {"U8", 8},      {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8},
    {"I16", 16},    {"U16", 16},    {"F16", 16}, {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32},    {"I64", 64},    {"U64", 64}, {"F64", 64},    {"C64", 64},    {"F4", 4},
    {"F6_E2M3", 6}, {"F6_E3M2", 6}, {NULL, 0},
};

static int dtype_bits(const char *name) {
    for (const dtype_info *d = dtypes; d->name; d++)
        if (strcmp(d->name, name) == 0) return d->bits;
    return 0;
}

/* ---- the JSON subset ---- */

typedef struct jp {
    const unsigned char *start, *p, *end;
    polca__st_file *f;
} jp;

static int32_t jp_fail(const jp *j, const char *what) {
    return polca__fail(POLCA_ERR_CORRUPT, "%s: byte %llu: safetensors header: %s", j->f->src.name,
                       (unsigned long long)(8 + (j->p - j->start)), what);
}

static void jp_ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jp_peek(const jp *j) { return j->p < j->end ? *j->p : -1; }

static int32_t jp_expect(jp *j, int c, const char *what) {
    jp_ws(j);
    if (jp_peek(j) != c) return jp_fail(j, what);
    j->p++;
    return POLCA_OK;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int32_t jp_hex4(jp *j, uint32_t *out) {
    if (j->end - j->p < 4) return jp_fail(j, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) return jp_fail(j, "bad hex digit in a \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    j->p += 4;
    *out = v;
    return POLCA_OK;
}

/* Length of a valid UTF-8 sequence starting at p (first byte >= 0x80), or 0. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    int n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (end - p < n) return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string and decodes it into the arena at arena_used. With keep,
 * the string stays (arena_used advances); without, the next string reuses
 * the space. A decoded string plus its NUL is never longer than its encoded
 * form minus one byte, so an arena of the header's size cannot overflow. */
static int32_t jp_string(jp *j, int keep, const char **out) {
    int32_t st = jp_expect(j, '"', "expected a string");
    if (st) return st;
    char *o = j->f->arena + j->f->arena_used, *o0 = o;
    for (;;) {
        if (j->p >= j->end) return jp_fail(j, "unterminated string");
        unsigned c = *j->p;
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20) return jp_fail(j, "control character in a string");
        if (c == '\\') {
            j->p++;
            if (j->p >= j->end) return jp_fail(j, "unterminated escape");
            unsigned e = *j->p++;
            switch (e) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                uint32_t cp;
                if ((st = jp_hex4(j, &cp))) return st;
                if (cp >= 0xdc00 && cp <= 0xdfff) return jp_fail(j, "lone low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                        return jp_fail(j, "high surrogate without its low half");
                    j->p += 2;
                    if ((st = jp_hex4(j, &lo))) return st;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return jp_fail(j, "high surrogate without its low half");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0) return jp_fail(j, "NUL character in a string");
                o += put_utf8(o, cp);
                break;
            }
            default: j->p--; return jp_fail(j, "unknown escape");
            }
            continue;
        }
        if (c < 0x80) {
            *o++ = (char)c;
            j->p++;
            continue;
        }
        int n = utf8_len(j->p, j->end);
        if (!n) return jp_fail(j, "invalid UTF-8 in a string");
        memcpy(o, j->p, (size_t)n);
        o += n;
        j->p += n;
    }
    *o++ = 0;
    if (out) *out = o0;
    if (keep) j->f->arena_used += (size_t)(o - o0);
    return POLCA_OK;
}

/* A non-negative integer that fits int64: digits only, no leading zeros. */
static int32_t jp_uint(jp *j, uint64_t *out) {
    jp_ws(j);
    const unsigned char *s = j->p;
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = *j->p - '0';
        if (v > (uint64_t)(INT64_MAX - d) / 10) return jp_fail(j, "integer too large");
        v = v * 10 + d;
        j->p++;
    }
    if (j->p == s) return jp_fail(j, "expected a non-negative integer");
    if (j->p - s > 1 && *s == '0') {
        j->p = s;
        return jp_fail(j, "integer with a leading zero");
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return jp_fail(j, "expected an integer, found a fraction or exponent");
    *out = v;
    return POLCA_OK;
}

static int32_t jp_literal(jp *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return jp_fail(j, "unexpected character");
    j->p += n;
    return POLCA_OK;
}

/* Any JSON number, by the JSON grammar. */
static int32_t jp_number(jp *j) {
    if (jp_peek(j) == '-') j->p++;
    if (jp_peek(j) == '0') {
        j->p++;
    } else if (jp_peek(j) >= '1' && jp_peek(j) <= '9') {
        while (jp_peek(j) >= '0' && jp_peek(j) <= '9') j->p++;
    } else {
        return jp_fail(j, "bad number");
    }
    if (jp_peek(j) == '.') {
        j->p++;
        if (!(jp_peek(j) >= '0' && jp_peek(j) <= '9')) return jp_fail(j, "bad number");
        while (jp_peek(j) >= '0' && jp_peek(j) <= '9') j->p++;
    }
    if (jp_peek(j) == 'e' || jp_peek(j) == 'E') {
        j->p++;
        if (jp_peek(j) == '+' || jp_peek(j) == '-') j->p++;
        if (!(jp_peek(j) >= '0' && jp_peek(j) <= '9')) return jp_fail(j, "bad number");
        while (jp_peek(j) >= '0' && jp_peek(j) <= '9') j->p++;
    }
    return POLCA_OK;
}

/* Skips one value of any type, nesting at most JSON_MAX_DEPTH deep. */
static int32_t jp_skip(jp *j, int depth) {
    int32_t st;
    if (depth > JSON_MAX_DEPTH) return jp_fail(j, "nesting too deep");
    jp_ws(j);
    int c = jp_peek(j);
    if (c == '"') return jp_string(j, 0, NULL);
    if (c == 't') return jp_literal(j, "true");
    if (c == 'f') return jp_literal(j, "false");
    if (c == 'n') return jp_literal(j, "null");
    if (c == '-' || (c >= '0' && c <= '9')) return jp_number(j);
    if (c != '[' && c != '{') return jp_fail(j, "expected a value");
    int close = c == '[' ? ']' : '}';
    j->p++;
    jp_ws(j);
    if (jp_peek(j) == close) {
        j->p++;
        return POLCA_OK;
    }
    for (;;) {
        if (close == '}') {
            if ((st = jp_string(j, 0, NULL))) return st;
            if ((st = jp_expect(j, ':', "expected ':'"))) return st;
        }
        if ((st = jp_skip(j, depth + 1))) return st;
        jp_ws(j);
        if (jp_peek(j) == ',') {
            j->p++;
            continue;
        }
        return jp_expect(j, close, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
    }
}

static int32_t grow(void **arr, int64_t *cap, int64_t need, size_t item, const char *what) {
    if (need <= *cap) return POLCA_OK;
    int64_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (!polca__mul_size((size_t)nc, item, &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "too many %s", what);
    void *p = realloc(*arr, bytes);
    if (!p) return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory growing %s", what);
    *arr = p;
    *cap = nc;
    return POLCA_OK;
}

static int32_t parse_metadata(jp *j) {
    int32_t st;
    jp_ws(j);
    if (jp_peek(j) == 'n') return jp_literal(j, "null");
    if ((st = jp_expect(j, '{', "__metadata__ must be an object"))) return st;
    jp_ws(j);
    if (jp_peek(j) == '}') {
        j->p++;
        return POLCA_OK;
    }
    polca__st_file *f = j->f;
    for (;;) {
        const char *key, *val;
        const unsigned char *at = j->p;
        if ((st = jp_string(j, 1, &key))) return st;
        if ((st = jp_expect(j, ':', "expected ':'"))) return st;
        jp_ws(j);
        if (jp_peek(j) != '"') return jp_fail(j, "__metadata__ values must be strings");
        if ((st = jp_string(j, 1, &val))) return st;
        if ((st = grow((void **)&f->meta, &f->meta_cap, f->n_meta + 1, sizeof *f->meta,
                       "metadata entries")))
            return st;
        f->meta[f->n_meta].key = key;
        f->meta[f->n_meta].val = val;
        int64_t dup;
        if ((st = polca__strset_add(&f->meta_keys, key, f->n_meta, meta_key_at, f, &dup)))
            return st;
        if (dup >= 0) {
            j->p = at;
            return jp_fail(j, "duplicate __metadata__ key");
        }
        f->n_meta++;
        jp_ws(j);
        if (jp_peek(j) == ',') {
            j->p++;
            continue;
        }
        return jp_expect(j, '}', "expected ',' or '}'");
    }
}

/* One tensor entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}. */
static int32_t parse_entry(jp *j, polca__st_tensor *t) {
    int32_t st;
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    uint64_t begin = 0, end = 0;
    const unsigned char *entry_at = j->p;
    if ((st = jp_expect(j, '{', "a tensor entry must be an object"))) return st;
    jp_ws(j);
    if (jp_peek(j) != '}') {
        for (;;) {
            const char *key;
            const unsigned char *key_at = j->p;
            if ((st = jp_string(j, 0, &key))) return st;
            if ((st = jp_expect(j, ':', "expected ':'"))) return st;
            int which = !strcmp(key, "dtype")          ? 1
                        : !strcmp(key, "shape")        ? 2
                        : !strcmp(key, "data_offsets") ? 3
                                                       : 0;
            if ((which == 1 && have_dtype) || (which == 2 && have_shape) ||
                (which == 3 && have_offsets)) {
                j->p = key_at;
                return jp_fail(j, "duplicate key in a tensor entry");
            }
            if (which == 1) {
                const char *dt;
                jp_ws(j);
                const unsigned char *at = j->p;
                if ((st = jp_string(j, 0, &dt))) return st;
                if (strlen(dt) >= sizeof t->dtype || !dtype_bits(dt)) {
                    /* not a dtype of the format (the reference rejects it
                     * too): a bad file, not a missing feature */
                    j->p = at;
                    return polca__fail(POLCA_ERR_CORRUPT,
                                       "%s: byte %llu: safetensors header: tensor '%s': unknown "
                                       "dtype '%.40s'",
                                       j->f->src.name, (unsigned long long)(8 + (at - j->start)),
                                       t->name, dt);
                }
                strcpy(t->dtype, dt);
                have_dtype = 1;
            } else if (which == 2) {
                if ((st = jp_expect(j, '[', "shape must be an array"))) return st;
                jp_ws(j);
                t->ndim = 0;
                if (jp_peek(j) == ']') {
                    j->p++;
                } else {
                    for (;;) {
                        uint64_t d;
                        if (t->ndim == POLCA__ST_MAX_DIMS)
                            return polca__fail(POLCA_ERR_UNSUPPORTED,
                                               "%s: byte %llu: tensor '%s' has more than %d "
                                               "dimensions",
                                               j->f->src.name,
                                               (unsigned long long)(8 + (j->p - j->start)), t->name,
                                               POLCA__ST_MAX_DIMS);
                        if ((st = jp_uint(j, &d))) return st;
                        t->shape[t->ndim++] = (int64_t)d;
                        jp_ws(j);
                        if (jp_peek(j) == ',') {
                            j->p++;
                            continue;
                        }
                        if ((st = jp_expect(j, ']', "expected ',' or ']' in shape"))) return st;
                        break;
                    }
                }
                have_shape = 1;
            } else if (which == 3) {
                if ((st = jp_expect(j, '[', "data_offsets must be an array"))) return st;
                if ((st = jp_uint(j, &begin))) return st;
                if ((st = jp_expect(j, ',', "data_offsets must hold two integers"))) return st;
                if ((st = jp_uint(j, &end))) return st;
                if ((st = jp_expect(j, ']', "data_offsets must hold two integers"))) return st;
                have_offsets = 1;
            } else {
                if ((st = jp_skip(j, 2))) return st;
            }
            jp_ws(j);
            if (jp_peek(j) == ',') {
                j->p++;
                continue;
            }
            if ((st = jp_expect(j, '}', "expected ',' or '}'"))) return st;
            break;
        }
    } else {
        j->p++;
    }
    if (!have_dtype || !have_shape || !have_offsets) {
        j->p = entry_at;
        return polca__fail(POLCA_ERR_CORRUPT,
                           "%s: byte %llu: safetensors header: tensor '%s' lacks \"%s\"",
                           j->f->src.name, (unsigned long long)(8 + (entry_at - j->start)), t->name,
                           !have_dtype   ? "dtype"
                           : !have_shape ? "shape"
                                         : "data_offsets");
    }
    /* Bounds and sizes. */
    const char *why = NULL;
    uint64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (dim && count > (uint64_t)INT64_MAX / dim)
            why = "element count overflows";
        else
            count *= dim;
    }
    int bits = dtype_bits(t->dtype); /* known: checked above */
    if (!why && begin > end) why = "data_offsets begin after they end";
    if (!why && end > j->f->data_size) why = "data_offsets reach past the end of the file";
    if (!why) {
        /* count * bits / 8, rounded up, without overflow */
        uint64_t need = count / 8 * (uint64_t)bits + (count % 8 * (uint64_t)bits + 7) / 8;
        if (count > (uint64_t)INT64_MAX / 64 || need != end - begin)
            why = "data_offsets do not match dtype and shape";
    }
    if (why) {
        return polca__fail(POLCA_ERR_CORRUPT, "%s: byte %llu: safetensors header: tensor '%s': %s",
                           j->f->src.name, (unsigned long long)(8 + (entry_at - j->start)), t->name,
                           why);
    }
    t->data_offset = j->f->data_start + begin;
    t->nbytes = end - begin;
    return POLCA_OK;
}

static int32_t parse_header(jp *j) {
    int32_t st;
    polca__st_file *f = j->f;
    int have_meta = 0;
    if ((st = jp_expect(j, '{', "the header must be a JSON object"))) return st;
    jp_ws(j);
    if (jp_peek(j) == '}') {
        j->p++;
    } else {
        for (;;) {
            const char *name;
            const unsigned char *at = j->p;
            jp_ws(j);
            if ((st = jp_string(j, 0, &name))) return st;
            if ((st = jp_expect(j, ':', "expected ':'"))) return st;
            if (strcmp(name, "__metadata__") == 0) {
                if (have_meta) {
                    j->p = at;
                    return jp_fail(j, "duplicate __metadata__");
                }
                have_meta = 1;
                if ((st = parse_metadata(j))) return st;
            } else {
                if ((st = grow((void **)&f->tensors, &f->cap, f->n + 1, sizeof *f->tensors,
                               "tensors")))
                    return st;
                polca__st_tensor *t = &f->tensors[f->n];
                memset(t, 0, sizeof *t);
                t->name = name;
                int64_t dup;
                if ((st = polca__strset_add(&f->names, name, f->n, tensor_name_at, f, &dup)))
                    return st;
                if (dup >= 0) {
                    j->p = at;
                    return jp_fail(j, "duplicate tensor name");
                }
                /* keep the name: it was decoded at arena_used */
                f->arena_used += strlen(name) + 1;
                if ((st = parse_entry(j, t))) return st;
                f->n++;
            }
            jp_ws(j);
            if (jp_peek(j) == ',') {
                j->p++;
                continue;
            }
            if ((st = jp_expect(j, '}', "expected ',' or '}'"))) return st;
            break;
        }
    }
    jp_ws(j);
    if (j->p != j->end) return jp_fail(j, "bytes after the header object");
    return POLCA_OK;
}

/* ---- the data buffer: the tensors tile it ---- */

typedef struct span {
    uint64_t begin, end; /* relative to the data buffer */
    int64_t i;
} span;

static int span_cmp(const void *pa, const void *pb) {
    const span *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* What the reference implementation checks (Metadata::validate and
 * read_metadata): sorted by data_offsets, each tensor begins where the one
 * before ends (the first at 0) and the last ends at the end of the file: no
 * overlap, no hole, nothing after. */
static int32_t check_tiling(polca__st_file *f) {
    if (f->n == 0 && f->data_size == 0) return POLCA_OK;
    span *sp = polca__calloc((size_t)(f->n ? f->n : 1), sizeof *sp, "safetensors offsets");
    if (!sp) return POLCA_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < f->n; i++) {
        sp[i].begin = f->tensors[i].data_offset - f->data_start;
        sp[i].end = sp[i].begin + f->tensors[i].nbytes;
        sp[i].i = i;
    }
    qsort(sp, (size_t)f->n, sizeof *sp, span_cmp);
    uint64_t at = 0;
    int32_t st = POLCA_OK;
    for (int64_t k = 0; k < f->n && !st; k++) {
        const polca__st_tensor *t = &f->tensors[sp[k].i];
        if (sp[k].begin < at) {
            const polca__st_tensor *prev = &f->tensors[sp[k - 1].i];
            st = polca__fail(POLCA_ERR_CORRUPT,
                             "%s: byte %llu: safetensors data: tensor '%s' (data_offsets [%llu, "
                             "%llu]) overlaps tensor '%s' (data_offsets [%llu, %llu])",
                             f->src.name, (unsigned long long)(f->data_start + sp[k].begin),
                             t->name, (unsigned long long)sp[k].begin,
                             (unsigned long long)sp[k].end, prev->name,
                             (unsigned long long)sp[k - 1].begin,
                             (unsigned long long)sp[k - 1].end);
        } else if (sp[k].begin > at) {
            st = polca__fail(POLCA_ERR_CORRUPT,
                             "%s: byte %llu: safetensors data: %llu bytes before tensor '%s' "
                             "(data_offsets [%llu, %llu]) belong to no tensor",
                             f->src.name, (unsigned long long)(f->data_start + at),
                             (unsigned long long)(sp[k].begin - at), t->name,
                             (unsigned long long)sp[k].begin, (unsigned long long)sp[k].end);
        }
        at = sp[k].end;
    }
    if (!st && at != f->data_size)
        st = polca__fail(POLCA_ERR_CORRUPT,
                         "%s: byte %llu: safetensors data: %llu bytes after the last tensor "
                         "belong to no tensor (a file of %llu bytes; its tensors end at byte "
                         "%llu)",
                         f->src.name, (unsigned long long)(f->data_start + at),
                         (unsigned long long)(f->data_size - at), (unsigned long long)f->src.size,
                         (unsigned long long)(f->data_start + at));
    free(sp);
    return st;
}

void polca__st_close(polca__st_file *f) {
    if (!f) return;
    polca__src_close(&f->src);
    free(f->arena);
    free(f->tensors);
    free(f->meta);
    polca__strset_free(&f->names);
    polca__strset_free(&f->meta_keys);
    free(f);
}

static int32_t st_parse(polca__st_file *f) {
    unsigned char len8[8];
    int32_t st = polca__src_read(&f->src, 0, len8, 8, "the safetensors header length");
    if (st) return st;
    uint64_t n = polca__ld64(len8);
    if (n > POLCA__ST_MAX_HEADER)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "%s: byte 0: safetensors header length %llu exceeds the format's "
                           "limit of %d bytes",
                           f->src.name, (unsigned long long)n, POLCA__ST_MAX_HEADER);
    if (n < 2 || n > f->src.size - 8)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "%s: byte 0: safetensors header length %llu does not fit a file of "
                           "%llu bytes",
                           f->src.name, (unsigned long long)n, (unsigned long long)f->src.size);
    f->data_start = 8 + n;
    f->data_size = f->src.size - f->data_start;
    unsigned char *h = polca__alloc((size_t)n, "a safetensors header");
    f->arena = polca__alloc((size_t)n + 1, "safetensors header strings");
    if (!h || !f->arena) {
        free(h);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    f->arena_cap = (size_t)n + 1;
    st = polca__src_read(&f->src, 8, h, (size_t)n, "the safetensors header");
    if (st == POLCA_OK) {
        jp j = {h, h, h + n, f};
        st = parse_header(&j);
    }
    free(h);
    if (st == POLCA_OK) st = check_tiling(f);
    return st;
}

static int32_t st_finish_open(polca__st_file *f, int32_t st, polca__st_file **out) {
    if (st == POLCA_OK) st = st_parse(f);
    if (st != POLCA_OK) {
        polca__st_close(f);
        return st;
    }
    *out = f;
    return POLCA_OK;
}

int32_t polca__st_open(const char *path, polca__st_file **out) {
    if (!path || !out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__st_open: NULL argument");
    polca__st_file *f = polca__calloc(1, sizeof *f, "a safetensors file");
    if (!f) return POLCA_ERR_OUT_OF_MEMORY;
    f->src.fd = -1;
    return st_finish_open(f, polca__src_open(&f->src, path), out);
}

int32_t polca__st_open_mem(const void *data, size_t size, const char *name, polca__st_file **out) {
    if ((!data && size) || !out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__st_open_mem: NULL argument");
    polca__st_file *f = polca__calloc(1, sizeof *f, "a safetensors file");
    if (!f) return POLCA_ERR_OUT_OF_MEMORY;
    f->src.fd = -1;
    return st_finish_open(f, polca__src_mem(&f->src, data ? data : "", size, name), out);
}

const char *polca__st_path(const polca__st_file *f) { return f->src.name; }

int64_t polca__st_count(const polca__st_file *f) { return f->n; }

const polca__st_tensor *polca__st_tensor_at(const polca__st_file *f, int64_t i) {
    return i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

int64_t polca__st_find(const polca__st_file *f, const char *name) {
    return polca__strset_find(&f->names, name, tensor_name_at, f);
}

const char *polca__st_metadata(const polca__st_file *f, const char *key) {
    int64_t i = polca__strset_find(&f->meta_keys, key, meta_key_at, f);
    return i >= 0 ? f->meta[i].val : NULL;
}

/* ---- conversion to float32 ---- */

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        float v = (float)man * 0x1p-24f; /* zero or subnormal: exact */
        memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13; /* inf, NaN (payload kept) */
    } else {
        bits = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void convert(const char *dtype, const unsigned char *src, float *dst, size_t n) {
    if (!strcmp(dtype, "F16")) {
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(polca__ld16(src + 2 * i));
    } else if (!strcmp(dtype, "BF16")) {
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)polca__ld16(src + 2 * i) << 16;
            memcpy(&dst[i], &bits, 4);
        }
    } else { /* F64 */
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
    }
}

int32_t polca__st_read_f32(polca__st_file *f, int64_t i, float *dst, int64_t count) {
    if (!f || i < 0 || i >= f->n)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__st_read_f32: no tensor %lld",
                           (long long)i);
    const polca__st_tensor *t = &f->tensors[i];
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d]; /* checked at open */
    if (count != numel)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: tensor '%s' has %lld elements, the caller expected %lld",
                           f->src.name, t->name, (long long)numel, (long long)count);
    if (count > 0 && !dst)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__st_read_f32: 'dst' is NULL");
    if (!strcmp(t->dtype, "F32"))
        return polca__src_read(&f->src, t->data_offset, dst, t->nbytes, t->name);
    size_t item = !strcmp(t->dtype, "F64")                                  ? 8
                  : (!strcmp(t->dtype, "F16") || !strcmp(t->dtype, "BF16")) ? 2
                                                                            : 0;
    if (!item) /* the file is fine; it does not hold what the caller wants */
        return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                           "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 convert "
                           "to float32",
                           f->src.name, t->name, t->dtype);
    enum { CHUNK = 8192 };
    unsigned char buf[CHUNK * 8];
    for (int64_t done = 0; done < count;) {
        size_t n = (size_t)(count - done < CHUNK ? count - done : CHUNK);
        int32_t st = polca__src_read(&f->src, t->data_offset + (uint64_t)done * item, buf, n * item,
                                     t->name);
        if (st) return st;
        convert(t->dtype, buf, dst + done, n);
        done += (int64_t)n;
    }
    return POLCA_OK;
}

/* ---- writer ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *p = realloc(b->p, nc);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            static const char hex[] = "0123456789abcdef";
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = utf8_len(p, end);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

static const char *out_key_at(const void *ctx, int64_t i) {
    return ((const char *const *)ctx)[i];
}

static const char *out_tensor_at(const void *ctx, int64_t i) {
    return ((const polca__st_out_tensor *)ctx)[i].name;
}

/* Metadata keys (keys[n]) or tensor names (tensors[n]) all differ. */
static int32_t check_unique(int64_t n, const char *const *keys, int tensor_names,
                            const polca__st_out_tensor *tensors, const char *fn) {
    polca__strset set;
    polca__strset_init(&set);
    int32_t st = POLCA_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        int64_t dup;
        const char *name = tensor_names ? tensors[i].name : keys[i];
        st = tensor_names ? polca__strset_add(&set, name, i, out_tensor_at, tensors, &dup)
                          : polca__strset_add(&set, name, i, out_key_at, keys, &dup);
        if (!st && dup >= 0)
            st = tensor_names
                     ? polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: tensor '%s' appears twice", fn,
                                   name)
                     : polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: metadata key '%s' twice", fn,
                                   name);
    }
    polca__strset_free(&set);
    return st;
}

int32_t polca__st_write_f32(const char *path, int64_t n_tensors,
                            const polca__st_out_tensor *tensors, int64_t n_meta,
                            const char *const *meta_keys, const char *const *meta_values) {
    static const char fn[] = "polca__st_write_f32";
    if (!path || !path[0])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL or empty", fn);
    if (n_tensors < 0 || (n_tensors > 0 && !tensors))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: bad 'tensors'/'n_tensors'", fn);
    if (n_meta < 0 || (n_meta > 0 && (!meta_keys || !meta_values)))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: bad metadata arrays", fn);
    for (int64_t i = 0; i < n_meta; i++) {
        if (!meta_keys[i] || !meta_values[i] || !valid_utf8(meta_keys[i]) ||
            !valid_utf8(meta_values[i]))
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: metadata entry %lld is NULL or not UTF-8", fn, (long long)i);
    }
    for (int64_t i = 0; i < n_tensors; i++) {
        const polca__st_out_tensor *t = &tensors[i];
        if (!t->name || !t->name[0] || !valid_utf8(t->name) || !strcmp(t->name, "__metadata__"))
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: tensor %lld: name is NULL, empty, not UTF-8 or reserved", fn,
                               (long long)i);
        if (t->ndim < 0 || t->ndim > POLCA__ST_MAX_DIMS || (t->ndim > 0 && !t->shape))
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': bad ndim %d", fn,
                               t->name, (int)t->ndim);
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 ||
                (t->shape[d] && count > (uint64_t)(INT64_MAX / 4) / (uint64_t)t->shape[d]))
                return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': bad dimension %d",
                                   fn, t->name, d);
            count *= (uint64_t)t->shape[d];
        }
        if (count > 0 && !t->data)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: tensor '%s': data is NULL", fn,
                               t->name);
    }
    int32_t st = check_unique(n_meta, meta_keys, 0, NULL, fn);
    if (!st) st = check_unique(n_tensors, NULL, 1, tensors, fn);
    if (st) return st;

    sbuf b = {0};
    char num[32];
    sb_str(&b, "{");
    if (n_meta > 0) {
        sb_str(&b, "\"__metadata__\":{");
        for (int64_t i = 0; i < n_meta; i++) {
            if (i) sb_str(&b, ",");
            sb_json_string(&b, meta_keys[i]);
            sb_str(&b, ":");
            sb_json_string(&b, meta_values[i]);
        }
        sb_str(&b, "}");
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < n_tensors; i++) {
        const polca__st_out_tensor *t = &tensors[i];
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= (uint64_t)t->shape[d];
        if (i || n_meta > 0) sb_str(&b, ",");
        sb_json_string(&b, t->name);
        sb_str(&b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t->shape[d]);
            sb_str(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,", (unsigned long long)offset);
        sb_str(&b, num);
        offset += count * 4;
        snprintf(num, sizeof num, "%llu]}", (unsigned long long)offset);
        sb_str(&b, num);
    }
    sb_str(&b, "}");
    while (!b.oom && (8 + b.n) % 8) sb_str(&b, " "); /* align the data buffer to 8 bytes */
    if (b.oom || b.n > POLCA__ST_MAX_HEADER) {
        free(b.p);
        return polca__fail(b.oom ? POLCA_ERR_OUT_OF_MEMORY : POLCA_ERR_INVALID_ARGUMENT,
                           "%s: %s: header %s", fn, path,
                           b.oom ? "does not fit in memory" : "exceeds 100 MB");
    }

    polca__atomic a;
    st = polca__atomic_begin(&a, path);
    if (st) {
        free(b.p);
        return st;
    }
    unsigned char len8[8];
    polca__st64(len8, (uint64_t)b.n);
    st = polca__write_at(a.fd, 0, len8, 8, a.tmp);
    if (!st) st = polca__write_at(a.fd, 8, b.p, b.n, a.tmp);
    uint64_t pos = 8 + b.n;
    free(b.p);
    for (int64_t i = 0; i < n_tensors && !st; i++) {
        const polca__st_out_tensor *t = &tensors[i];
        uint64_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= (uint64_t)t->shape[d];
        st = polca__write_at(a.fd, pos, t->data, (size_t)(count * 4), a.tmp);
        pos += count * 4;
    }
    if (st) {
        polca__atomic_abort(&a);
        return st;
    }
    return polca__atomic_commit(&a);
}
