/*
 * tests/json_mini.h - a strict JSON (RFC 8259) reader for tests: parses a
 * whole document into a tree, rejecting anything a conforming parser would
 * (NaN, Infinity, trailing commas, bare control characters, bad escapes,
 * invalid UTF-8 is not checked). Header-only; for test programs.
 *
 *   jm_value *v = jm_parse(text, &err);   ... jm_get(v, "key"), v->items[i]
 *   jm_free(v);
 */
#ifndef POLCA_TEST_JSON_MINI_H
#define POLCA_TEST_JSON_MINI_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum { JM_NULL, JM_BOOL, JM_NUMBER, JM_STRING, JM_ARRAY, JM_OBJECT };

typedef struct jm_value {
    int type;
    double num;   /* JM_NUMBER; JM_BOOL: 0 or 1 */
    char *str;    /* JM_STRING, decoded UTF-8 */
    int n;        /* JM_ARRAY, JM_OBJECT: number of items */
    char **keys;  /* JM_OBJECT: [n] */
    struct jm_value **items; /* [n] */
} jm_value;

typedef struct jm_parser {
    const char *p;
    const char *err;
    int depth;
} jm_parser;

static void jm_free(jm_value *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        jm_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void jm_ws(jm_parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static void jm_put_utf8(char **out, unsigned cp) {
    char *o = *out;
    if (cp < 0x80) *o++ = (char)cp;
    else if (cp < 0x800) *o++ = (char)(0xC0 | cp >> 6), *o++ = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        *o++ = (char)(0xE0 | cp >> 12), *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)),
        *o++ = (char)(0x80 | (cp & 0x3F));
    else
        *o++ = (char)(0xF0 | cp >> 18), *o++ = (char)(0x80 | ((cp >> 12) & 0x3F)),
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F)), *o++ = (char)(0x80 | (cp & 0x3F));
    *out = o;
}

static int jm_hex4(const char *p, unsigned *cp) {
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        *cp = *cp * 16 + (unsigned)d;
    }
    return 0;
}

static char *jm_string(jm_parser *ps) {
    if (*ps->p != '"') return ps->err = "expected string", NULL;
    const char *s = ++ps->p;
    size_t cap = 1;
    for (const char *q = s; *q && *q != '"'; q++) cap += 4, q += (*q == '\\' && q[1]);
    char *out = malloc(cap + 4), *o = out;
    if (!out) return ps->err = "out of memory", NULL;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c == 0) return free(out), ps->err = "unterminated string", NULL;
        if (c < 0x20) return free(out), ps->err = "control character in string", NULL;
        if (c != '\\') {
            *o++ = (char)c;
            ps->p++;
            continue;
        }
        char e = ps->p[1];
        ps->p += 2;
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
            unsigned cp, lo;
            if (jm_hex4(ps->p, &cp)) return free(out), ps->err = "bad \\u escape", NULL;
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (ps->p[0] != '\\' || ps->p[1] != 'u' || jm_hex4(ps->p + 2, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return free(out), ps->err = "lone surrogate", NULL;
                ps->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return free(out), ps->err = "lone surrogate", NULL;
            }
            jm_put_utf8(&o, cp);
            break;
        }
        default: return free(out), ps->err = "bad escape", NULL;
        }
    }
    ps->p++;
    *o = 0;
    return out;
}

static jm_value *jm_value_parse(jm_parser *ps);

static int jm_push(jm_value *v, char *key, jm_value *item) {
    jm_value **items = realloc(v->items, (size_t)(v->n + 1) * sizeof *items);
    if (!items) return -1;
    v->items = items;
    if (v->type == JM_OBJECT) {
        char **keys = realloc(v->keys, (size_t)(v->n + 1) * sizeof *keys);
        if (!keys) return -1;
        v->keys = keys;
        keys[v->n] = key;
    }
    items[v->n++] = item;
    return 0;
}

static jm_value *jm_number(jm_parser *ps, jm_value *v) {
    const char *s = ps->p;
    if (*s == '-') s++;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9') while (isdigit((unsigned char)*s)) s++;
    else return ps->err = "bad number", jm_free(v), NULL;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s)) return ps->err = "bad fraction", jm_free(v), NULL;
        while (isdigit((unsigned char)*s)) s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!isdigit((unsigned char)*s)) return ps->err = "bad exponent", jm_free(v), NULL;
        while (isdigit((unsigned char)*s)) s++;
    }
    v->type = JM_NUMBER;
    v->num = strtod(ps->p, NULL);
    ps->p = s;
    return v;
}

static jm_value *jm_value_parse(jm_parser *ps) {
    jm_ws(ps);
    if (++ps->depth > 64) return ps->err = "too deep", NULL;
    jm_value *v = calloc(1, sizeof *v);
    if (!v) return ps->err = "out of memory", NULL;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? JM_OBJECT : JM_ARRAY;
        char close = c == '{' ? '}' : ']';
        ps->p++;
        jm_ws(ps);
        if (*ps->p == close) {
            ps->p++;
            ps->depth--;
            return v;
        }
        for (;;) {
            char *key = NULL;
            jm_ws(ps);
            if (v->type == JM_OBJECT) {
                if (!(key = jm_string(ps))) return jm_free(v), NULL;
                jm_ws(ps);
                if (*ps->p != ':') return free(key), jm_free(v), ps->err = "expected ':'", NULL;
                ps->p++;
            }
            jm_value *item = jm_value_parse(ps);
            if (!item) return free(key), jm_free(v), NULL;
            if (jm_push(v, key, item)) return free(key), jm_free(item), jm_free(v), ps->err = "oom", NULL;
            jm_ws(ps);
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == close) {
                ps->p++;
                break;
            }
            return jm_free(v), ps->err = "expected ',' or a closing bracket", NULL;
        }
    } else if (c == '"') {
        v->type = JM_STRING;
        if (!(v->str = jm_string(ps))) return jm_free(v), NULL;
    } else if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
        v->type = JM_BOOL;
        v->num = c == 't';
        ps->p += c == 't' ? 4 : 5;
    } else if (!strncmp(ps->p, "null", 4)) {
        v->type = JM_NULL;
        ps->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if (!jm_number(ps, v)) return NULL;
    } else {
        return jm_free(v), ps->err = "unexpected character", NULL;
    }
    ps->depth--;
    return v;
}

/* The document in text, or NULL with *err set. */
static jm_value *jm_parse(const char *text, const char **err) {
    jm_parser ps = {text, NULL, 0};
    jm_value *v = jm_value_parse(&ps);
    if (v) {
        jm_ws(&ps);
        if (*ps.p) jm_free(v), v = NULL, ps.err = "trailing characters";
    }
    if (err) *err = ps.err;
    return v;
}

/* Member key of an object (the last one if repeated), or NULL. */
static jm_value *jm_get(const jm_value *v, const char *key) {
    if (!v || v->type != JM_OBJECT) return NULL;
    jm_value *found = NULL;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->keys[i], key)) found = v->items[i];
    return found;
}

#endif
