/*
 * tests/test_cli_readers.c - the polca tool's strict JSON reader and .npy
 * reader (tools/polca/json.c, npy.c, compiled into this test), and its
 * one path for output files (tools/polca/output.c). Readers: what they
 * accept, what they refuse, and hostile files (every truncation and byte
 * flips of a valid .npy; JSON nested past the limit) give an error, never
 * a crash or a read past the buffer (make check-asan runs this too); a
 * FIFO, directory or device is refused without blocking.
 */
#define _GNU_SOURCE /* tools/polca/output.c: renameat2 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "../tools/polca/json.c"
#include "../tools/polca/npy.c"
#include "../tools/polca/common.c"
#include "../tools/polca/output.c"
#include "../tools/polca/progress.c"
#include "../tools/polca/mpi.c" /* output.c under MPI (inactive here) */

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
        /* not UTF-8: a lone continuation byte, a truncated sequence, an
         * overlong '/', a UTF-16 surrogate, beyond U+10FFFF, 0xF5..0xFF */
        "\"a\x80\"", "\"a\xf4n\"", "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
        "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xff\"", "{\"\xe2\x82\": 1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (parses(bad[i])) FAILF("accepted: %s", bad[i]);
    /* well-formed UTF-8 of every length passes through unchanged */
    const char *good = "\"\x7f \xc3\xa9 \xe2\x82\xac \xef\xbf\xbf \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"";
    json_value *g = NULL;
    char gerr[256];
    CHECK(json_parse(good, strlen(good), &g, gerr, sizeof gerr) == 0);
    CHECK(g && g->type == JSON_STRING && g->length == strlen(good) - 2 &&
          memcmp(g->string, good + 1, g->length) == 0);
    json_free(g);
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

/* Duplicates are found by sorting (linear-logarithmic; 100k keys parse in
 * well under a second), and the one named is still the first repeat in
 * document order, at its own line and column. */
TEST(json_names_the_first_repeated_key) {
    json_value *v = NULL;
    char err[256];
    const char *doc = "{\"a\": 1, \"b\": 2,\n \"b\": 3, \"a\": 4}";
    CHECK(json_parse(doc, strlen(doc), &v, err, sizeof err) != 0);
    CHECK(strstr(err, "line 2, column 2") != NULL);
    CHECK(strstr(err, "duplicate key \"b\"") != NULL);
    /* a large object: every key distinct but one, repeated at the end */
    enum { N = 100000 };
    char *big = malloc((size_t)N * 24 + 64);
    CHECK(big != NULL);
    size_t n = 0;
    big[n++] = '{';
    for (int i = 0; i < N; i++) n += (size_t)sprintf(big + n, "%s\"k%d\": %d", i ? ", " : "", i, i);
    big[n++] = '}';
    CHECK(json_parse(big, n, &v, err, sizeof err) == 0);
    CHECK(v->length == N && json_get(v, "k99999")->integer == 99999);
    json_free(v);
    v = NULL;
    n--; /* replace the closing brace with a repeat of k5 */
    n += (size_t)sprintf(big + n, ", \"k5\": 0}");
    CHECK(json_parse(big, n, &v, err, sizeof err) != 0);
    CHECK(strstr(err, "duplicate key \"k5\"") != NULL);
    free(big);
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
    FILE *wf = fopen(path_of("w.npy"), "wb");
    CHECK(wf && npy_write(wf, "<i8", 2, shape, vals) == 0);
    if (wf) CHECK(fclose(wf) == 0);
    CHECK(npy_read(path_of("w.npy"), &f, err, sizeof err) == 0);
    CHECK(f.count == 6 && memcmp(f.data, vals, sizeof vals) == 0);
    npy_free(&f);
    const char *names[] = {"a.npy", "b.npy", "c.npy", "bad.npy", "cut.npy", "flip.npy", "w.npy"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(path_of(names[i]));
}

/* A FIFO, a directory and a character device are refused at once, with a
 * message naming the path and what it is (issue 21, defect 9: a FIFO used
 * to block open() forever; alarm() ends the test if it does). */
TEST(readers_refuse_non_regular_files_without_blocking) {
    CHECK(mkfifo(path_of("fifo.npy"), 0600) == 0);
    CHECK(mkdir(path_of("dir.npy"), 0700) == 0);
    npy_file f;
    char err[512];
    alarm(10);
    CHECK(npy_read(path_of("fifo.npy"), &f, err, sizeof err) != 0);
    CHECK(strstr(err, "fifo.npy") && strstr(err, "a FIFO, not a regular file"));
    CHECK(npy_read(path_of("dir.npy"), &f, err, sizeof err) != 0);
    CHECK(strstr(err, "dir.npy") && strstr(err, "a directory"));
    CHECK(npy_read("/dev/zero", &f, err, sizeof err) != 0 && strstr(err, "a character device"));
    FILE *g = open_regular(path_of("fifo.npy"), err, sizeof err);
    CHECK(g == NULL && strstr(err, "a FIFO"));
    if (g) fclose(g);
    alarm(0);
    unlink(path_of("fifo.npy"));
    rmdir(path_of("dir.npy"));
}

/* ---- tools/polca/output.c (issue 21, defects 5 and 6) ---- */

static int file_is(const char *path, const char *text) {
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

/* No temporary file of the tool left in the test directory. */
static int no_tmp_left(void) {
    char cmd[200];
    snprintf(cmd, sizeof cmd, "ls -A %s | grep -q polca-tmp", dir);
    return system(cmd) != 0;
}

TEST(output_never_replaces_a_name_taken_meanwhile) {
    /* another process creates the file after the early check: the publish
     * step refuses it (exit 1), and the other file stays as it was */
    const char *p = strdup(path_of("race.json"));
    cli_output o;
    CHECK(cli_output_open(&o, "--out", p, 0) == CLI_OK && o.f);
    fputs("{\"new\": 1}", o.f);
    write_file("race.json", "theirs", 6);
    CHECK(cli_output_commit(&o) == CLI_USAGE);
    CHECK(file_is(p, "theirs"));
    CHECK(no_tmp_left());
    cli_output_abort(&o); /* safe after a commit */
    unlink(p);
    /* a symlink that appears there is not followed */
    write_file("target", "target", 6);
    CHECK(cli_output_open(&o, "--out", p, 0) == CLI_OK);
    fputs("new", o.f);
    CHECK(symlink("target", p) == 0);
    CHECK(cli_output_commit(&o) == CLI_USAGE);
    struct stat st;
    CHECK(lstat(p, &st) == 0 && S_ISLNK(st.st_mode) && file_is(path_of("target"), "target"));
    /* the early check sees the symlink, even a dangling one */
    unlink(path_of("target"));
    CHECK(cli_output_check("--out", p, 0) == CLI_USAGE);
    CHECK(access(path_of("target"), F_OK) != 0);
    /* with overwrite, rename replaces the symlink itself */
    write_file("target", "target", 6);
    CHECK(cli_output_open(&o, "--out", p, 1) == CLI_OK);
    fputs("new", o.f);
    CHECK(cli_output_commit(&o) == CLI_OK);
    CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && file_is(p, "new"));
    CHECK(file_is(path_of("target"), "target"));
    /* a directory or a device is never replaced, even with overwrite */
    CHECK(cli_output_check("--out", dir, 1) == CLI_USAGE);
    CHECK(cli_output_check("--out", "/dev/null", 1) == CLI_USAGE);
    CHECK(no_tmp_left());
    unlink(p);
    unlink(path_of("target"));
    free((void *)p);
}

TEST(outputs_are_published_together_or_not_at_all) {
    const char *a = strdup(path_of("a.json")), *b = strdup(path_of("b.npy"));
    cli_output oa, ob;
    CHECK(cli_output_open(&oa, "--out", a, 0) == CLI_OK);
    CHECK(cli_output_stage(&ob, "--npy", b, 0) == CLI_OK && ob.tmp && !ob.f);
    fputs("A", oa.f);
    write_file("b.npy", "theirs", 6); /* taken meanwhile */
    FILE *lib = fopen(ob.tmp, "wb");  /* what a libpolca writer does */
    CHECK(lib && fputs("B", lib) >= 0 && fclose(lib) == 0);
    cli_output *both[2] = {&oa, &ob};
    CHECK(cli_outputs_commit(both, 2) == CLI_USAGE);
    CHECK(access(a, F_OK) != 0); /* published first, taken back */
    CHECK(file_is(b, "theirs"));
    CHECK(no_tmp_left());
    unlink(b);
    CHECK(cli_output_open(&oa, "--out", a, 0) == CLI_OK && cli_output_stage(&ob, "--npy", b, 0) == CLI_OK);
    fputs("A", oa.f);
    lib = fopen(ob.tmp, "wb");
    CHECK(lib && fputs("B", lib) >= 0 && fclose(lib) == 0);
    CHECK(cli_outputs_commit(both, 2) == CLI_OK);
    CHECK(file_is(a, "A") && file_is(b, "B") && no_tmp_left());
    unlink(a);
    unlink(b);
    free((void *)a);
    free((void *)b);
}

TEST(a_write_error_leaves_the_old_file) {
    /* a file size limit makes writes fail (EFBIG) as a full disk would */
    const char *p = strdup(path_of("old.json"));
    write_file("old.json", "old", 3);
    struct rlimit was, small;
    CHECK(getrlimit(RLIMIT_FSIZE, &was) == 0);
    void (*xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    small = was;
    small.rlim_cur = 4096;
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    cli_output o;
    CHECK(cli_output_open(&o, "--out", p, 1) == CLI_OK);
    for (int i = 0; i < 2000; i++) fputs("0123456789", o.f);
    int rc = cli_output_commit(&o);
    CHECK(setrlimit(RLIMIT_FSIZE, &was) == 0);
    signal(SIGXFSZ, xfsz);
    CHECK(rc == CLI_INPUT);
    CHECK(file_is(p, "old") && no_tmp_left());
    unlink(p);
    free((void *)p);
}

TEST(ctrl_c_before_publishing_leaves_nothing) {
    const char *p = strdup(path_of("int.json"));
    cli_output o;
    CHECK(cli_output_open(&o, "--out", p, 0) == CLI_OK);
    fputs("complete", o.f);
    raise(SIGINT); /* the first Ctrl-C only sets the flag */
    CHECK(cli_interrupted());
    CHECK(cli_output_commit(&o) == CLI_INTERRUPTED);
    CHECK(access(p, F_OK) != 0 && no_tmp_left());
    free((void *)p);
}

int main(void) {
    strcpy(dir, "/tmp/polca_readers_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(json_accepts_valid_documents);
    RUN(json_refuses_what_is_not_strict_json);
    RUN(json_names_the_first_repeated_key);
    RUN(npy_reads_and_refuses);
    RUN(readers_refuse_non_regular_files_without_blocking);
    RUN(output_never_replaces_a_name_taken_meanwhile);
    RUN(outputs_are_published_together_or_not_at_all);
    RUN(a_write_error_leaves_the_old_file);
    RUN(ctrl_c_before_publishing_leaves_nothing); /* last: the flag stays set */
    rmdir(dir);
    return harness_done();
}
