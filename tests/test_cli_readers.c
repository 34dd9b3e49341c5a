/*
 * tests/test_cli_readers.c - the polca tool's strict JSON reader and .npy
 * reader (tools/polca/json.c, npy.c, compiled into this test): what they
 * accept, what they refuse, and hostile files (every truncation and byte
 * flips of a valid .npy; JSON nested past the limit) give an error, never
 * a crash or a read past the buffer (make check-asan runs this too).
 */
#include <unistd.h>

#include "harness.h"
#include "../tools/polca/json.c"
#include "../tools/polca/npy.c"

static int parses(const char *text) {
    json_value *v = NULL;
    char err[256];
    int ok = json_parse(text, strlen(text), &v, err, sizeof err) == 0;
    json_free(v);
    return ok;
}

TEST(json_accepts_valid_documents) {
    json_value *v = NULL;
    char err[256];
    const char *doc = "{\"n_layers\": 2, \"eps\": 1e-5, \"name\": \"a\\u00e9\\ud83d\\ude00\\n\", "
                      "\"list\": [1, -0, 2.5E+3, true, false, null, {}, []], \"big\": 9007199254740993}";
    CHECK(json_parse(doc, strlen(doc), &v, err, sizeof err) == 0);
    CHECK(v->type == JSON_OBJECT && v->length == 5);
    const json_value *n = json_get(v, "n_layers");
    CHECK(n && n->type == JSON_NUMBER && n->is_integer && n->integer == 2);
    const json_value *eps = json_get(v, "eps");
    CHECK(eps && !eps->is_integer && eps->number == 1e-5);
    const json_value *name = json_get(v, "name");
    CHECK(name && strcmp(name->string, "a\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
    const json_value *list = json_get(v, "list");
    CHECK(list && list->type == JSON_ARRAY && list->length == 8);
    CHECK(list->items[2].number == 2500 && !list->items[2].is_integer);
    CHECK(list->items[3].type == JSON_BOOL && list->items[3].boolean);
    CHECK(list->items[5].type == JSON_NULL);
    CHECK(json_get(v, "big")->integer == 9007199254740993LL); /* exact beyond 2^53 */
    CHECK(json_get(v, "missing") == NULL);
    json_free(v);
    CHECK(parses("  [ ]  ") && parses("\"x\"") && parses("0") && parses("-1.5e-3"));
}

TEST(json_refuses_what_is_not_strict_json) {
    const char *bad[] = {
        "", "{", "{\"a\": 1,}", "[1, 2,]", "{\"a\" 1}", "{a: 1}", "{\"a\": 1, \"a\": 2}",
        "01", "1.", ".5", "1e", "+1", "-", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"abc", "\"a\nb\"", "tru", "nul", "[1] 2", "{} x", "// c\n{}",
        "{\"a\": NaN}", "[Infinity]", "\"\\u12\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parses(bad[i])) FAILF("accepted: %s", bad[i]);
    /* nesting: 64 levels are fine, 65 are refused */
    char deep[300];
    for (int depth = 64; depth <= 65; depth++) {
        int n = 0;
        for (int i = 0; i < depth; i++) deep[n++] = '[';
        for (int i = 0; i < depth; i++) deep[n++] = ']';
        deep[n] = '\0';
        CHECK(parses(deep) == (depth <= 64));
    }
    json_value *v = NULL;
    char err[256];
    CHECK(json_parse("{\n  \"a\": 1,\n  \"b\": x\n}", 20, &v, err, sizeof err) != 0);
    CHECK(strstr(err, "line 3, column 8") != NULL);
}

static char dir[64];

static const char *path_of(const char *name) {
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const void *data, size_t len) {
    FILE *f = fopen(path_of(name), "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

/* A .npy file: version-1 header with the given dict, then data bytes. */
static size_t make_npy(unsigned char *buf, const char *dict, const void *data, size_t bytes) {
    size_t len = strlen(dict), total = (10 + len + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((total - 10) & 0xFF);
    buf[9] = (unsigned char)((total - 10) >> 8);
    memset(buf + 10, ' ', total - 10);
    memcpy(buf + 10, dict, len);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, bytes);
    return total + bytes;
}

TEST(npy_reads_and_refuses) {
    unsigned char buf[1024];
    int64_t vals[6] = {0, 1, -2, 3, 1LL << 40, 5};
    size_t n = make_npy(buf, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", vals, sizeof vals);
    write_file("a.npy", buf, n);
    npy_file f;
    char err[512];
    CHECK(npy_read(path_of("a.npy"), &f, err, sizeof err) == 0);
    CHECK(f.kind == 'i' && f.item == 8 && f.ndim == 2 && f.shape[0] == 2 && f.shape[1] == 3 && f.count == 6);
    int ok;
    CHECK(npy_int(&f, 2, &ok) == -2 && ok && npy_int(&f, 4, &ok) == (1LL << 40));
    npy_free(&f);
    int16_t small[3] = {-1, 7, -300};
    n = make_npy(buf, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", small, sizeof small);
    write_file("b.npy", buf, n);
    CHECK(npy_read(path_of("b.npy"), &f, err, sizeof err) == 0);
    CHECK(npy_int(&f, 0, &ok) == -1 && npy_int(&f, 2, &ok) == -300 && f.ndim == 1);
    npy_free(&f);
    uint8_t bools[2] = {0, 2};
    n = make_npy(buf, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", bools, 2);
    write_file("c.npy", buf, n);
    CHECK(npy_read(path_of("c.npy"), &f, err, sizeof err) == 0);
    CHECK(npy_int(&f, 1, &ok) == 1 && f.kind == 'b');
    npy_free(&f);
    /* refused headers */
    const char *bad[] = {
        "{'descr': '>i8', 'fortran_order': False, 'shape': (6,), }",
        "{'descr': '<i8', 'fortran_order': True, 'shape': (6,), }",
        "{'descr': '<c8', 'fortran_order': False, 'shape': (6,), }",
        "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (6,), }",
        "{'descr': '<i8', 'shape': (6,), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (7,), }", /* data too short */
        "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", /* data too long */
        "{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1,2,3,4,5,6,7,8,9), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (6,), 'extra': 1, }",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        n = make_npy(buf, bad[i], vals, sizeof vals);
        write_file("bad.npy", buf, n);
        if (npy_read(path_of("bad.npy"), &f, err, sizeof err) == 0) {
            FAILF("accepted: %s", bad[i]);
            npy_free(&f);
        } else if (!strstr(err, "bad.npy")) {
            FAILF("message does not name the file: %s", err);
        }
    }
    /* every truncation and single-byte corruption of a valid file */
    n = make_npy(buf, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", vals, sizeof vals);
    for (size_t cut = 0; cut < n; cut++) {
        write_file("cut.npy", buf, cut);
        if (npy_read(path_of("cut.npy"), &f, err, sizeof err) == 0) {
            FAILF("a file cut at %zu bytes was accepted", cut);
            npy_free(&f);
        }
    }
    for (size_t at = 0; at < 74; at++) {
        unsigned char c[1024];
        memcpy(c, buf, n);
        c[at] ^= 0x5A;
        write_file("flip.npy", c, n);
        if (npy_read(path_of("flip.npy"), &f, err, sizeof err) == 0) npy_free(&f); /* may still parse */
    }
    CHECK(npy_read(path_of("missing.npy"), &f, err, sizeof err) != 0 && strstr(err, "missing.npy"));
    /* the writer's output reads back */
    int64_t shape[2] = {2, 3};
    CHECK(npy_write(path_of("w.npy"), "<i8", 2, shape, vals, err, sizeof err) == 0);
    CHECK(npy_read(path_of("w.npy"), &f, err, sizeof err) == 0);
    CHECK(f.count == 6 && memcmp(f.data, vals, sizeof vals) == 0);
    npy_free(&f);
    const char *names[] = {"a.npy", "b.npy", "c.npy", "bad.npy", "cut.npy", "flip.npy", "w.npy"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(path_of(names[i]));
}

int main(void) {
    strcpy(dir, "/tmp/polca_readers_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(json_accepts_valid_documents);
    RUN(json_refuses_what_is_not_strict_json);
    RUN(npy_reads_and_refuses);
    rmdir(dir);
    return harness_done();
}
