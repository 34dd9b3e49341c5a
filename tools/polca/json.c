/*
 * tools/polca/json.c - the strict JSON reader (json.h): recursive descent
 * over a length-bounded buffer.
 */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t n, i;
    char *err;
    size_t err_len;
    int failed;
} parser;

static int jfail(parser *p, const char *fmt, ...) {
    if (p->failed) return -1;
    p->failed = 1;
    size_t line = 1, col = 1;
    for (size_t k = 0; k < p->i && k < p->n; k++) {
        if (p->s[k] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->err_len, "line %zu, column %zu: %s", line, col, msg);
    return -1;
}

static void skip_ws(parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int literal(parser *p, const char *word) {
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return jfail(p, "invalid literal (expected %s)", word);
    p->i += len;
    return 0;
}

static int hex4(parser *p, unsigned *out) {
    if (p->n - p->i < 4) return jfail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i + (size_t)k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return jfail(p, "bad hex digit in \\u escape");
    }
    p->i += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, unsigned cp) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote. Decoded text never exceeds the encoded length. */
/* The length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. JSON text
 * is UTF-8 (RFC 8259 section 8.1); tensor names read here must be the same
 * strings the library accepts. */
static size_t utf8_length(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k;
    unsigned cp, min;
    if (u[0] >= 0xC2 && u[0] <= 0xDF) k = 2, cp = u[0] & 0x1Fu, min = 0x80;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF) k = 3, cp = u[0] & 0x0Fu, min = 0x800;
    else if (u[0] >= 0xF0 && u[0] <= 0xF4) k = 4, cp = u[0] & 0x07u, min = 0x10000;
    else return 0;
    if (k > n) return 0;
    for (size_t j = 1; j < k; j++) {
        if ((u[j] & 0xC0u) != 0x80u) return 0;
        cp = cp << 6 | (u[j] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return 0;
    return k;
}

static int string(parser *p, char **out, size_t *out_len) {
    p->i++;
    size_t start = p->i, end = start;
    while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return jfail(p, "unterminated string");
    char *d = malloc(end - start + 1);
    if (!d) return jfail(p, "out of memory");
    size_t len = 0;
    while (p->s[p->i] != '"') {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) {
            free(d);
            return jfail(p, "control character in string");
        }
        if (c >= 0x80) {
            size_t k = utf8_length(p->s + p->i, end - p->i);
            if (!k) {
                free(d);
                return jfail(p, "invalid UTF-8 in string");
            }
            memcpy(d + len, p->s + p->i, k);
            len += k, p->i += k;
            continue;
        }
        if (c != '\\') {
            d[len++] = (char)c;
            p->i++;
            continue;
        }
        p->i++;
        char e = p->s[p->i++];
        unsigned cp;
        switch (e) {
        case '"': d[len++] = '"'; break;
        case '\\': d[len++] = '\\'; break;
        case '/': d[len++] = '/'; break;
        case 'b': d[len++] = '\b'; break;
        case 'f': d[len++] = '\f'; break;
        case 'n': d[len++] = '\n'; break;
        case 'r': d[len++] = '\r'; break;
        case 't': d[len++] = '\t'; break;
        case 'u':
            if (hex4(p, &cp)) {
                free(d);
                return -1;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                    free(d);
                    return jfail(p, "lone high surrogate in \\u escape");
                }
                p->i += 2;
                if (hex4(p, &lo)) {
                    free(d);
                    return -1;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(d);
                    return jfail(p, "bad low surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(d);
                return jfail(p, "lone low surrogate in \\u escape");
            }
            len += put_utf8(d + len, cp);
            break;
        default:
            free(d);
            p->i--;
            return jfail(p, "invalid escape '\\%c'", e);
        }
    }
    p->i++; /* closing quote */
    d[len] = '\0';
    *out = d;
    *out_len = len;
    return 0;
}

static int number(parser *p, json_value *v) {
    size_t start = p->i;
    int integral = 1;
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return jfail(p, "truncated number");
    if (p->s[p->i] == '0') {
        p->i++;
    } else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    } else {
        return jfail(p, "invalid number");
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        integral = 0;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return jfail(p, "digits expected after '.'");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        integral = 0;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return jfail(p, "digits expected in exponent");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    char buf[64];
    size_t len = p->i - start;
    if (len >= sizeof buf) return jfail(p, "number too long");
    memcpy(buf, p->s + start, len);
    buf[len] = '\0';
    v->type = JSON_NUMBER;
    v->number = strtod(buf, NULL);
    if (integral) {
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (!errno) {
            v->is_integer = 1;
            v->integer = x;
        }
    }
    return 0;
}

static int value(parser *p, json_value *v, int depth);

/* Gives back the unused tail of a finished array's or object's arrays
 * (capacity doubles from 8: a safetensors header of a million small
 * entries would otherwise hold several times its parsed size). */
static void fit(json_value *v, size_t cap) {
    if (v->length == 0 || v->length == cap) return;
    json_value *ni = realloc(v->items, v->length * sizeof *ni);
    if (ni) v->items = ni;
    if (v->keys) {
        char **nk = realloc(v->keys, v->length * sizeof *nk);
        if (nk) v->keys = nk;
    }
}

static int array(parser *p, json_value *v, int depth) {
    p->i++;
    v->type = JSON_ARRAY;
    size_t cap = 0;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return 0;
    }
    for (;;) {
        if (v->length == cap) {
            size_t nc = cap ? cap * 2 : 8;
            json_value *ni = realloc(v->items, nc * sizeof *ni);
            if (!ni) return jfail(p, "out of memory");
            v->items = ni;
            cap = nc;
        }
        memset(&v->items[v->length], 0, sizeof *v->items);
        v->length++;
        if (value(p, &v->items[v->length - 1], depth + 1)) return -1;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            fit(v, cap);
            return 0;
        }
        return jfail(p, "',' or ']' expected");
    }
}

/* Duplicate keys of a complete object, found by sorting: O(n log n) for n
 * members whatever the keys (comparing each key with every earlier one made
 * a 100k-tensor safetensors header take seconds to minutes). Fails at the
 * first repeated key in document order, key_pos[] giving its offset. */
typedef struct key_ref {
    const char *key;
    size_t member;
} key_ref;

static int key_ref_cmp(const void *a, const void *b) {
    const key_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->member > y->member) - (x->member < y->member);
}

static int check_duplicates(parser *p, const json_value *v, const size_t *key_pos) {
    if (v->length < 2) return 0;
    key_ref *refs = malloc(v->length * sizeof *refs);
    if (!refs) return jfail(p, "out of memory");
    for (size_t k = 0; k < v->length; k++) refs[k] = (key_ref){v->keys[k], k};
    qsort(refs, v->length, sizeof *refs, key_ref_cmp);
    size_t first_dup = v->length;
    for (size_t k = 1; k < v->length; k++)
        if (strcmp(refs[k].key, refs[k - 1].key) == 0 && refs[k].member < first_dup &&
            (k < 2 || strcmp(refs[k - 2].key, refs[k].key) != 0))
            first_dup = refs[k].member; /* the second of its group */
    free(refs);
    if (first_dup == v->length) return 0;
    p->i = key_pos[first_dup];
    return jfail(p, "duplicate key \"%s\"", v->keys[first_dup]);
}

static int object(parser *p, json_value *v, int depth) {
    p->i++;
    v->type = JSON_OBJECT;
    size_t cap = 0, *key_pos = NULL;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return 0;
    }
    int rc = -1;
    for (;;) {
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != '"') {
            jfail(p, "a string key expected");
            break;
        }
        if (v->length == cap) {
            size_t nc = cap ? cap * 2 : 8;
            json_value *ni = realloc(v->items, nc * sizeof *ni);
            if (ni) v->items = ni;
            char **nk = ni ? realloc(v->keys, nc * sizeof *nk) : NULL;
            if (nk) v->keys = nk;
            size_t *np = nk ? realloc(key_pos, nc * sizeof *np) : NULL;
            if (!np) {
                jfail(p, "out of memory");
                break;
            }
            key_pos = np;
            cap = nc;
        }
        size_t at = v->length;
        memset(&v->items[at], 0, sizeof *v->items);
        v->keys[at] = NULL;
        v->length++;
        size_t key_len;
        key_pos[at] = p->i;
        if (string(p, &v->keys[at], &key_len)) break;
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') {
            jfail(p, "':' expected");
            break;
        }
        p->i++;
        if (value(p, &v->items[at], depth + 1)) break;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            rc = check_duplicates(p, v, key_pos);
            fit(v, cap);
            break;
        }
        jfail(p, "',' or '}' expected");
        break;
    }
    free(key_pos);
    return rc;
}

static int value(parser *p, json_value *v, int depth) {
    skip_ws(p);
    if (p->i >= p->n) return jfail(p, "a value expected");
    if (depth >= MAX_DEPTH && (p->s[p->i] == '[' || p->s[p->i] == '{'))
        return jfail(p, "nested deeper than %d", MAX_DEPTH);
    switch (p->s[p->i]) {
    case '{': return object(p, v, depth);
    case '[': return array(p, v, depth);
    case '"':
        v->type = JSON_STRING;
        return string(p, &v->string, &v->length);
    case 't':
        v->type = JSON_BOOL;
        v->boolean = 1;
        return literal(p, "true");
    case 'f':
        v->type = JSON_BOOL;
        return literal(p, "false");
    case 'n':
        v->type = JSON_NULL;
        return literal(p, "null");
    default: return number(p, v);
    }
}

static void free_inner(json_value *v) {
    if (v->type == JSON_STRING) free(v->string);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t k = 0; k < v->length; k++) {
            free_inner(&v->items[k]);
            if (v->keys) free(v->keys[k]);
        }
        free(v->items);
        free(v->keys);
    }
}

void json_free(json_value *v) {
    if (!v) return;
    free_inner(v);
    free(v);
}

int json_parse(const char *text, size_t len, json_value **out, char *err, size_t err_len) {
    parser p = {text, len, 0, err, err_len, 0};
    json_value *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int rc = value(&p, v, 0);
    if (!rc) {
        skip_ws(&p);
        if (p.i != p.n) rc = jfail(&p, "unexpected text after the value");
    }
    if (rc) {
        json_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (size_t k = 0; k < obj->length; k++)
        if (strcmp(obj->keys[k], key) == 0) return &obj->items[k];
    return NULL;
}

const char *json_type_name(int type) {
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return type >= 0 && type <= JSON_OBJECT ? names[type] : "?";
}
