/*
 * tests/test_checkpoints.c - polca_checkpoints (polca/checkpoints.h) and its
 * private constructors (src/checkpoints.h): in-memory and file-backed series,
 * bit-exact reads in any order, steps, save, .npy export (checked with numpy
 * where available, and with the test's own .npy reader), safetensors import
 * (files written here, and the reference package's fixture), bad input.
 */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoints.h"
#include "harness.h"
#include "npy.h"
#include "safetensors.h"

static char tmpdir[64];
/* A path in the test's directory; valid until the program ends. */
static const char *tpath(const char *name) {
    static char buf[64][160];
    static int k;
    for (int i = 0; i < k; i++)
        if (!strcmp(buf[i] + strlen(tmpdir) + 1, name)) return buf[i];
    if (k == 64) abort();
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k++];
}

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    if (polca_options_create(&o) || polca_options_set_string(o, "backend", "cpu") ||
        polca_context_create(o, &ctx))
        ctx = NULL;
    polca_options_destroy(o);
    return ctx;
}

/* Layout: "embed.W_E" [7][6], "blocks.0.ln1.w" [6], "unembed.W_U" [6][11]. */
static void test_layout(polca__layout *l) {
    polca__layout_init(l);
    int64_t a[2] = {7, 6}, b[1] = {6}, c[2] = {6, 11};
    polca__layout_add(l, "embed.W_E", 2, a);
    polca__layout_add(l, "blocks.0.ln1.w", 1, b);
    polca__layout_add(l, "unembed.W_U", 2, c);
}
#define P (42 + 6 + 66)

static void make_theta(float *v, int t) {
    for (int i = 0; i < P; i++)
        v[i] = sinf(0.37f * (float)i) * 0.1f + 1e-4f * (float)t * cosf((float)i);
    v[5] = -0.0f;
    v[6] = 1.4e-45f; /* smallest subnormal */
    v[7] = -3.4028235e38f;
}

static int same(const float *a, const float *b) { return memcmp(a, b, P * sizeof(float)) == 0; }

static void exercise_series(polca_checkpoints *s, int T, const int64_t *steps) {
    float want[P], got[P];
    int64_t n = -1, np = -1;
    CHECK_OK(polca_checkpoints_count(s, &n));
    CHECK(n == T);
    CHECK_OK(polca_checkpoints_n_params(s, &np));
    CHECK(np == P);
    int64_t all[64];
    CHECK_OK(polca_checkpoints_steps(s, all, T));
    for (int t = 0; t < T; t++) CHECK(all[t] == steps[t]);
    /* backwards (random access), then forwards (sequential) */
    for (int t = T - 1; t >= 0; t--) {
        make_theta(want, t);
        CHECK_OK(polca_checkpoints_read(s, t, got, P));
        CHECK(same(got, want));
    }
    for (int t = 0; t < T; t++) {
        int64_t st = -1, idx = -2;
        make_theta(want, t);
        CHECK_OK(polca_checkpoints_read(s, t, got, P));
        CHECK(same(got, want));
        CHECK_OK(polca_checkpoints_step(s, t, &st));
        CHECK(st == steps[t]);
        CHECK_OK(polca_checkpoints_find_step(s, steps[t], &idx));
        CHECK(idx == t);
        CHECK_OK(polca_checkpoints_find_step(s, steps[t] + 1, &idx));
        CHECK(idx == (t + 1 < T && steps[t + 1] == steps[t] + 1 ? t + 1 : -1));
    }
    int64_t idx = 0;
    CHECK_OK(polca_checkpoints_find_step(s, INT64_MIN, &idx));
    CHECK(idx == -1);
}

TEST(memory_series_save_open_export) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    polca_checkpoints *s = NULL;
    CHECK_OK(polca__checkpoints_create(ctx, &l, NULL, NULL, &s));
    const char *path = NULL;
    CHECK_OK(polca_checkpoints_path(s, &path));
    CHECK(path == NULL);
    int64_t steps[20];
    float v[P];
    for (int t = 0; t < 20; t++) {
        steps[t] = -50 + 20 * t * t; /* any increasing int64 */
        make_theta(v, t);
        CHECK_OK(polca_checkpoints_append(s, steps[t], v, P));
    }
    exercise_series(s, 20, steps);
    uint64_t h = 0;
    CHECK_OK(polca_checkpoints_layout_hash(s, &h));
    CHECK(h == l.hash && h != 0);
    /* save, reopen from the file */
    CHECK_OK(polca_checkpoints_save(s, tpath("saved.pcs"), NULL));
    polca_checkpoints *f = NULL;
    CHECK_OK(polca_checkpoints_open(ctx, tpath("saved.pcs"), NULL, &f));
    exercise_series(f, 20, steps);
    CHECK_OK(polca_checkpoints_layout_hash(f, &h));
    CHECK(h == l.hash);
    CHECK(polca__layout_equal(polca__checkpoints_layout(f), &l));
    CHECK_OK(polca_checkpoints_path(f, &path));
    CHECK(path && strcmp(path, tpath("saved.pcs")) == 0);
    /* read only: appends refused */
    CHECK_STATUS(polca_checkpoints_append(f, 100000, v, P), POLCA_ERR_STATE);
    CHECK_ERROR_MENTIONS("read-only");
    /* export one checkpoint from each kind of series */
    CHECK_OK(polca_checkpoints_export_npy(s, 3, tpath("c3.npy")));
    CHECK_OK(polca_checkpoints_export_npy(f, 4, tpath("c4.npy")));
    npy_array a;
    CHECK(npy_load(tpath("c3.npy"), &a));
    make_theta(v, 3);
    CHECK(!strcmp(a.dtype, "<f4") && a.ndim == 1 && a.shape[0] == P && same(a.data, v));
    npy_free(&a);
    CHECK(npy_load(tpath("c4.npy"), &a));
    make_theta(v, 4);
    CHECK(a.ndim == 1 && a.shape[0] == P && same(a.data, v));
    npy_free(&a);
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", py);
    if (system(cmd) == 0) {
        snprintf(cmd, sizeof cmd,
                 "%s -c 'import numpy as np,sys; a=np.load(sys.argv[1]); "
                 "assert a.dtype==np.float32 and a.shape==(%d,) and a[6]==np.float32(1.4e-45) and "
                 "np.signbit(a[5]) and a[5]==0' %s",
                 py, P, tpath("c4.npy"));
        CHECK(system(cmd) == 0);
    }
    polca_checkpoints_destroy(f);
    polca_checkpoints_destroy(s);
    polca_checkpoints_destroy(NULL);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

TEST(file_series_append_reopen) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    const char *p = tpath("train.pcs");
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "max_chain", 4));
    polca_checkpoints *s = NULL;
    CHECK_OK(polca__checkpoints_create(ctx, &l, p, o, &s));
    int64_t steps[40];
    float v[P];
    for (int t = 0; t < 25; t++) {
        steps[t] = 20 * t;
        make_theta(v, t);
        CHECK_OK(polca_checkpoints_append(s, steps[t], v, P));
    }
    exercise_series(s, 25, steps);
    /* the file exists and is complete while the writer is still open */
    polca_checkpoints *r = NULL;
    CHECK_OK(polca_checkpoints_open(ctx, p, NULL, &r));
    exercise_series(r, 25, steps);
    polca_checkpoints_destroy(r);
    polca_checkpoints_destroy(s);
    /* creating over an existing file needs "overwrite" */
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, p, NULL, &s), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("exists");
    /* reopen for appending */
    CHECK_OK(polca_options_set_int(o, "writable", 1));
    CHECK_OK(polca_checkpoints_open(ctx, p, o, &s));
    polca_checkpoints *second = NULL;
    CHECK_STATUS(polca_checkpoints_open(ctx, p, o, &second), POLCA_ERR_STATE); /* one writer */
    CHECK_ERROR_MENTIONS("another writer");
    for (int t = 25; t < 40; t++) {
        steps[t] = 20 * t;
        make_theta(v, t);
        CHECK_OK(polca_checkpoints_append(s, steps[t], v, P));
    }
    polca_checkpoints_destroy(s);
    CHECK_OK(polca_checkpoints_open(ctx, p, NULL, &s));
    exercise_series(s, 40, steps);
    polca_checkpoints_destroy(s);
    /* "overwrite" replaces it with an empty series */
    polca_options *ov = NULL;
    CHECK_OK(polca_options_create(&ov));
    CHECK_OK(polca_options_set_int(ov, "overwrite", 1));
    CHECK_OK(polca__checkpoints_create(ctx, &l, p, ov, &s));
    int64_t n = -1;
    CHECK_OK(polca_checkpoints_count(s, &n));
    CHECK(n == 0);
    polca_checkpoints_destroy(s);
    polca_options_destroy(ov);
    polca_options_destroy(o);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

TEST(every_precondition_option_round_trips) {
    static const char *const names[] = {"auto",        "none", "shuffle",     "xor",
                                        "xor_shuffle", "diff", "diff_shuffle"};
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    for (size_t k = 0; k < 7; k++) {
        polca_options *o = NULL;
        CHECK_OK(polca_options_create(&o));
        CHECK_OK(polca_options_set_string(o, "precondition", names[k]));
        CHECK_OK(polca_options_set_int(o, "zstd_level", 1 + (int)k * 3));
        CHECK_OK(polca_options_set_int(o, "max_chain", (int)k % 3));
        CHECK_OK(polca_options_set_int(o, "full_trials", (int)k % 2));
        CHECK_OK(polca_options_set_int(o, "sync", 0));
        CHECK_OK(polca_options_set_int(o, "overwrite", 1));
        polca_checkpoints *s = NULL;
        CHECK_OK(polca__checkpoints_create(ctx, &l, tpath("modes.pcs"), o, &s));
        int64_t steps[6];
        float v[P];
        for (int t = 0; t < 6; t++) {
            steps[t] = t;
            make_theta(v, t);
            CHECK_OK(polca_checkpoints_append(s, t, v, P));
        }
        polca_checkpoints_destroy(s);
        CHECK_OK(polca_checkpoints_open(ctx, tpath("modes.pcs"), NULL, &s));
        exercise_series(s, 6, steps);
        polca_checkpoints_destroy(s);
        polca_options_destroy(o);
    }
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

TEST(bad_input) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l, empty;
    test_layout(&l);
    polca__layout_init(&empty);
    polca_checkpoints *s = NULL, *const sentinel = (polca_checkpoints *)(void *)&s;
    polca_checkpoints *out = sentinel;
    float v[P];
    make_theta(v, 0);
    /* constructors */
    CHECK_STATUS(polca__checkpoints_create(NULL, &l, NULL, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_STATUS(polca__checkpoints_create(ctx, NULL, NULL, NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'layout'");
    CHECK_STATUS(polca__checkpoints_create(ctx, &empty, NULL, NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out'");
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, "", NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "zstd_levle", 3));
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, NULL, o, &out), POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("zstd_levle");
    CHECK_OK(polca_options_unset(o, "zstd_levle"));
    CHECK_OK(polca_options_set_string(o, "zstd_level", "3"));
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, NULL, o, &out), POLCA_ERR_OPTION_TYPE);
    CHECK_OK(polca_options_set_int(o, "zstd_level", 20));
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, NULL, o, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("zstd_level");
    CHECK_OK(polca_options_set_int(o, "zstd_level", 3));
    CHECK_OK(polca_options_set_int(o, "max_chain", -1));
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, NULL, o, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("max_chain");
    CHECK_OK(polca_options_unset(o, "max_chain"));
    CHECK_OK(polca_options_set_string(o, "precondition", "zip"));
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, NULL, o, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("zip");
    CHECK_OK(polca_options_unset(o, "precondition"));
    CHECK_OK(polca_options_set_int(o, "writable", 1)); /* an open option, not a create one */
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, NULL, o, &out), POLCA_ERR_UNKNOWN_OPTION);
    CHECK(out == sentinel);
    /* open */
    CHECK_STATUS(polca_checkpoints_open(NULL, "x", NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_open((polca_context *)(void *)o, "x", NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_context");
    CHECK_STATUS(polca_checkpoints_open(ctx, NULL, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'path'");
    CHECK_STATUS(polca_checkpoints_open(ctx, tpath("none.pcs"), NULL, &out), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("none.pcs");
    CHECK_STATUS(
        polca_checkpoints_open(ctx, "tests/fixtures/safetensors/basic.safetensors", NULL, &out),
        POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("basic.safetensors: byte 0");
    CHECK_OK(polca_options_set_int(o, "writable", 2));
    CHECK_STATUS(polca_checkpoints_open(ctx, tpath("none.pcs"), o, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("writable");
    CHECK(out == sentinel);
    polca_options_destroy(o);

    CHECK_OK(polca__checkpoints_create(ctx, &l, NULL, NULL, &s));
    /* append */
    CHECK_STATUS(polca_checkpoints_append(NULL, 0, v, P), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'series'");
    CHECK_STATUS(polca_checkpoints_append((polca_checkpoints *)(void *)ctx, 0, v, P),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_checkpoints");
    CHECK_STATUS(polca_checkpoints_append(s, 0, NULL, P), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'theta'");
    CHECK_STATUS(polca_checkpoints_append(s, 0, v, P - 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_params'");
    v[50] = NAN;
    CHECK_STATUS(polca_checkpoints_append(s, 0, v, P), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("'unembed.W_U', element 2");
    v[50] = -INFINITY;
    CHECK_STATUS(polca_checkpoints_append(s, 0, v, P), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("infinity");
    make_theta(v, 0);
    CHECK_OK(polca_checkpoints_append(s, 10, v, P));
    CHECK_STATUS(polca_checkpoints_append(s, 10, v, P), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'step' is 10");
    CHECK_STATUS(polca_checkpoints_append(s, 9, v, P), POLCA_ERR_INVALID_ARGUMENT);
    int64_t n = -1;
    CHECK_OK(polca_checkpoints_count(s, &n));
    CHECK(n == 1);
    /* queries */
    float got[P];
    int64_t x = 77;
    uint64_t h;
    const char *path;
    CHECK_STATUS(polca_checkpoints_count(s, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_count(NULL, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_n_params(s, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_n_params((const polca_checkpoints *)(void *)ctx, &x),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_layout_hash(s, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_layout_hash(NULL, &h), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_path(s, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_path(NULL, &path), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_step(s, 1, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'index' is 1");
    CHECK_STATUS(polca_checkpoints_step(s, -1, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_step(s, 0, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(x == 77);
    CHECK_STATUS(polca_checkpoints_steps(s, &x, 2), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'count'");
    CHECK_STATUS(polca_checkpoints_steps(s, NULL, 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_find_step(s, 10, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_find_step(NULL, 10, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_read(s, 1, got, P), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_read(s, INT64_MIN, got, P), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_read(s, 0, NULL, P), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out_theta'");
    CHECK_STATUS(polca_checkpoints_read(s, 0, got, P + 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_read(NULL, 0, got, P), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_save(s, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_save(NULL, "x", NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_save(s, "/nonexistent-dir/s.pcs", NULL), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("/nonexistent-dir/s.pcs");
    CHECK_STATUS(polca_checkpoints_export_npy(s, 0, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_export_npy(s, 5, tpath("x.npy")), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_export_npy(s, 0, "/nonexistent-dir/x.npy"), POLCA_ERR_IO);
    CHECK_STATUS(polca_checkpoints_export_npy(NULL, 0, tpath("x.npy")), POLCA_ERR_INVALID_ARGUMENT);
    polca_checkpoints_destroy(s);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

/* The corruption paths through the public API name the file and offset. */
TEST(corrupt_series_files) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    polca_checkpoints *s = NULL;
    CHECK_OK(polca__checkpoints_create(ctx, &l, tpath("c.pcs"), NULL, &s));
    float v[P], got[P];
    for (int t = 0; t < 3; t++) {
        make_theta(v, t);
        CHECK_OK(polca_checkpoints_append(s, t, v, P));
    }
    polca_checkpoints_destroy(s);
    FILE *f = fopen(tpath("c.pcs"), "rb");
    CHECK(f);
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(n > 200 && n < sizeof buf);
    /* truncated */
    f = fopen(tpath("t.pcs"), "wb");
    fwrite(buf, 1, n - 10, f);
    fclose(f);
    CHECK_STATUS(polca_checkpoints_open(ctx, tpath("t.pcs"), NULL, &s), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("t.pcs: byte");
    CHECK_ERROR_MENTIONS("truncated");
    /* last payload byte flipped: opens (payloads are checked when read),
     * and reading that checkpoint fails with the offset */
    buf[n - 5] ^= 0x40;
    f = fopen(tpath("b.pcs"), "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    CHECK_OK(polca_checkpoints_open(ctx, tpath("b.pcs"), NULL, &s));
    CHECK_OK(polca_checkpoints_read(s, 0, got, P));
    CHECK_STATUS(polca_checkpoints_read(s, 2, got, P), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("b.pcs: byte");
    CHECK_ERROR_MENTIONS("checksum");
    polca_checkpoints_destroy(s);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

/* ---- safetensors import ---- */

static void write_st(const char *path, int t, const char *step_meta, int drop_tensor,
                     int bad_shape) {
    float v[P];
    make_theta(v, t);
    int64_t a[2] = {7, 6}, b[1] = {6}, c[2] = {6, 11}, cbad[2] = {11, 6}, extra_shape[1] = {3};
    float extra[3] = {1, 2, 3};
    polca__st_out_tensor ts[4] = {
        {"unembed.W_U", 2, bad_shape ? cbad : c, v + 48}, /* any order in the file */
        {"IGNORE.buffer", 1, extra_shape, extra},         /* not in the layout: ignored */
        {"embed.W_E", 2, a, v},
        {"blocks.0.ln1.w", 1, b, v + 42},
    };
    const char *k[1] = {"step"}, *val[1] = {step_meta};
    polca__st_write_f32(path, drop_tensor ? 3 : 4, ts, step_meta ? 1 : 0, k, val);
}

TEST(import_safetensors) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    /* steps from metadata (the file names disagree on purpose) and from names */
    write_st(tpath("zz_900.safetensors"), 2, "40", 0, 0);
    write_st(tpath("aa_100.safetensors"), 3, "60", 0, 0);
    write_st(tpath("ckpt_020.safetensors"), 1, NULL, 0, 0);
    write_st(tpath("ckpt_7.safetensors"), 0, NULL, 0, 0);
    const char *files[4] = {tpath("zz_900.safetensors"), tpath("aa_100.safetensors"),
                            tpath("ckpt_020.safetensors"), tpath("ckpt_7.safetensors")};
    int64_t steps[4] = {7, 20, 40, 60};
    polca_checkpoints *s = NULL;
    CHECK_OK(polca__checkpoints_import_safetensors(ctx, &l, 4, files, NULL, NULL, &s));
    exercise_series(s, 4, steps);
    polca_checkpoints_destroy(s);
    /* into a file, then writable */
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "writable", 1));
    CHECK_OK(polca__checkpoints_import_safetensors(ctx, &l, 4, files, tpath("imp.pcs"), o, &s));
    exercise_series(s, 4, steps);
    float v[P];
    make_theta(v, 4);
    CHECK_OK(polca_checkpoints_append(s, 80, v, P));
    polca_checkpoints_destroy(s);
    CHECK_OK(polca_checkpoints_open(ctx, tpath("imp.pcs"), NULL, &s));
    int64_t steps5[5] = {7, 20, 40, 60, 80};
    exercise_series(s, 5, steps5);
    polca_checkpoints_destroy(s);
    /* another metadata key */
    polca_options *k = NULL;
    CHECK_OK(polca_options_create(&k));
    CHECK_OK(polca_options_set_string(k, "step_key", "iteration"));
    CHECK_OK(polca__checkpoints_import_safetensors(ctx, &l, 2, files + 2, NULL, k, &s));
    int64_t st = 0;
    CHECK_OK(polca_checkpoints_step(s, 0, &st));
    CHECK(st == 7);
    polca_checkpoints_destroy(s);
    /* failures leave nothing at the destination */
    polca_checkpoints *out = NULL;
    write_st(tpath("dup_7.safetensors"), 0, NULL, 0, 0);
    const char *dup[2] = {files[3], tpath("dup_7.safetensors")};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 2, dup, tpath("f.pcs"), NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("dup_7.safetensors");
    CHECK_ERROR_MENTIONS("step 7");
    write_st(tpath("nostep.safetensors"), 0, NULL, 0, 0);
    const char *ns[1] = {tpath("nostep.safetensors")};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 1, ns, tpath("f.pcs"), NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("nostep.safetensors");
    write_st(tpath("badmeta_5.safetensors"), 0, "12x", 0, 0);
    const char *bm[1] = {tpath("badmeta_5.safetensors")};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 1, bm, NULL, NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("12x");
    write_st(tpath("missing_1.safetensors"), 0, NULL, 1, 0);
    const char *mi[2] = {files[0], tpath("missing_1.safetensors")};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 2, mi, tpath("f.pcs"), NULL, &out),
                 POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("missing_1.safetensors");
    CHECK_ERROR_MENTIONS("blocks.0.ln1.w");
    write_st(tpath("shape_1.safetensors"), 0, NULL, 0, 1);
    const char *sh[1] = {tpath("shape_1.safetensors")};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 1, sh, NULL, NULL, &out),
                 POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("[11, 6]");
    CHECK(access(tpath("f.pcs"), F_OK) != 0);
    const char *nf[1] = {tpath("nofile_3.safetensors")};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 1, nf, NULL, NULL, &out),
                 POLCA_ERR_IO);
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 1, NULL, NULL, NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, -1, files, NULL, NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK(out == NULL);
    polca_options_destroy(o);
    polca_options_destroy(k);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

/* A checkpoint written by the reference package (F16, BF16 and F64 tensors
 * in another order, one extra tensor, the step in its metadata) against the
 * vector numpy/torch convert it to. */
TEST(import_reference_fixture) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    polca__layout_init(&l);
    int64_t a[2] = {3, 4}, b[1] = {5}, c[2] = {2, 3};
    CHECK_OK(polca__layout_add(&l, "a", 2, a));
    CHECK_OK(polca__layout_add(&l, "b", 1, b));
    CHECK_OK(polca__layout_add(&l, "c", 2, c));
    const char *files[1] = {"tests/fixtures/safetensors/import_ckpt.safetensors"};
    polca_checkpoints *s = NULL;
    CHECK_OK(polca__checkpoints_import_safetensors(ctx, &l, 1, files, NULL, NULL, &s));
    int64_t step = 0;
    CHECK_OK(polca_checkpoints_step(s, 0, &step));
    CHECK(step == 300);
    npy_array want;
    CHECK(npy_load("tests/fixtures/safetensors/import_expected.npy", &want));
    float got[23];
    CHECK(want.count == 23);
    CHECK_OK(polca_checkpoints_read(s, 0, got, 23));
    CHECK(memcmp(got, want.data, sizeof got) == 0);
    npy_free(&want);
    polca_checkpoints_destroy(s);
    /* the dtypes fixture's F64 tensor holds 1e300, beyond float32 */
    polca__layout_free(&l);
    polca__layout_init(&l);
    int64_t d[1] = {46};
    CHECK_OK(polca__layout_add(&l, "d", 1, d));
    const char *f2[1] = {"tests/fixtures/safetensors/dtypes.safetensors"};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 1, f2, NULL, NULL, &s),
                 POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("dtypes.safetensors");
    CHECK_ERROR_MENTIONS("tensor 'd'");
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

/* ---- hostile paths, cancellation, concurrent handles ---- */

/* Non-regular files as inputs fail at once, naming the path: a FIFO would
 * block open(2) until a writer came (forever). alarm() turns a hang into a
 * failed test program. */
TEST(non_regular_inputs) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    const char *fifo = tpath("input.fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    alarm(30);
    polca_checkpoints *s = NULL;
    CHECK_STATUS(polca_checkpoints_open(ctx, fifo, NULL, &s), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS(fifo);
    CHECK_ERROR_MENTIONS("FIFO");
    polca_options *w = NULL;
    CHECK_OK(polca_options_create(&w));
    CHECK_OK(polca_options_set_int(w, "writable", 1));
    CHECK_STATUS(polca_checkpoints_open(ctx, fifo, w, &s), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("FIFO");
    const char *files[2] = {tpath("ok_1.safetensors"), fifo};
    write_st(files[0], 1, NULL, 0, 0);
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 2, files, NULL, NULL, &s),
                 POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS(fifo);
    polca_basis *b = NULL;
    CHECK_STATUS(polca_basis_load(ctx, fifo, &b), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS(fifo);
    polca_trajectories *tr = NULL;
    CHECK_STATUS(polca_trajectories_load(ctx, fifo, &tr), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS(fifo);
    polca__st_file *f = NULL;
    CHECK_STATUS(polca__st_open(fifo, &f), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("FIFO");
    /* a directory, and a character device */
    CHECK_STATUS(polca_checkpoints_open(ctx, tmpdir, NULL, &s), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("a directory");
    CHECK_STATUS(polca_checkpoints_open(ctx, "/dev/null", NULL, &s), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("/dev/null: is a character device");
    alarm(0);
    CHECK(s == NULL && b == NULL && tr == NULL && f == NULL);
    polca_options_destroy(w);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

typedef struct progress_log {
    int calls, cancel_at; /* cancel on call number cancel_at (1-based); 0: never */
    int64_t last_done, last_total;
    int ordered; /* done never decreases within a stage and stays <= total */
    char stage[32];
} progress_log;

static int32_t on_progress(void *user, const char *stage, int64_t done, int64_t total,
                           double value) {
    (void)value;
    progress_log *p = user;
    p->calls++;
    if (strcmp(stage, p->stage) != 0) {
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->last_done = 0;
    }
    if (done < p->last_done || done > total || total <= 0) p->ordered = 0;
    p->last_done = done;
    p->last_total = total;
    return p->cancel_at && p->calls >= p->cancel_at;
}

/* Files in the test directory whose name starts with prefix. */
static int files_named(const char *prefix) {
    DIR *d = opendir(tmpdir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A safetensors import reports progress ("import steps" per file, then
 * "import" per tensor) and stops when the callback says so: status
 * POLCA_ERR_CANCELLED, nothing at the destination, no temporary file. */
TEST(import_progress_and_cancel) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    enum { NF = 5 };
    const char *files[NF];
    char names[NF][32];
    for (int i = 0; i < NF; i++) {
        snprintf(names[i], sizeof names[i], "prog_%d.safetensors", 10 * i);
        files[i] = tpath(names[i]);
        write_st(files[i], i, NULL, 0, 0);
    }
    progress_log p = {0};
    p.ordered = 1;
    CHECK_OK(polca_context_set_progress(ctx, on_progress, &p));
    polca_checkpoints *s = NULL;
    CHECK_OK(polca__checkpoints_import_safetensors(ctx, &l, NF, files, tpath("prog.pcs"), NULL,
                                                   &s));
    polca_checkpoints_destroy(s);
    /* NF header reads, then 3 tensors per file */
    CHECK(p.calls == NF + NF * 3);
    CHECK(p.ordered);
    CHECK(!strcmp(p.stage, "import") && p.last_done == NF * 3 && p.last_total == NF * 3);
    /* cancelled at every call in turn: into a file and in memory */
    for (int at = 1; at <= NF + NF * 3; at++) {
        for (int mem = 0; mem < 2; mem++) {
            memset(&p, 0, sizeof p);
            p.ordered = 1;
            p.cancel_at = at;
            polca_checkpoints *out = (polca_checkpoints *)(void *)&p;
            CHECK_STATUS(polca__checkpoints_import_safetensors(
                             ctx, &l, NF, files, mem ? NULL : tpath("cancel.pcs"), NULL, &out),
                         POLCA_ERR_CANCELLED);
            CHECK(p.calls == at);
            CHECK(out == (polca_checkpoints *)(void *)&p);
            CHECK(files_named("cancel.pcs") == 0);
        }
    }
    CHECK_OK(polca_context_set_progress(ctx, NULL, NULL));
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

/* Two handles in one process: a writer and a replacer, as two processes
 * would be (tests/test_crash.c does it with processes). */
TEST(writer_and_replacer_handles) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca__layout l;
    test_layout(&l);
    const char *p = tpath("held.pcs");
    float v[P];
    polca_checkpoints *w = NULL, *x = NULL, *mem = NULL;
    CHECK_OK(polca__checkpoints_create(ctx, &l, p, NULL, &w));
    make_theta(v, 0);
    CHECK_OK(polca_checkpoints_append(w, 0, v, P));
    CHECK_OK(polca__checkpoints_create(ctx, &l, NULL, NULL, &mem));
    CHECK_OK(polca_checkpoints_append(mem, 0, v, P));
    /* a second creator without "overwrite": exists */
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, p, NULL, &x), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("exists");
    /* libpolca's replacers are refused while the writer holds the file */
    polca_options *ov = NULL;
    CHECK_OK(polca_options_create(&ov));
    CHECK_OK(polca_options_set_int(ov, "overwrite", 1));
    CHECK_STATUS(polca__checkpoints_create(ctx, &l, p, ov, &x), POLCA_ERR_STATE);
    CHECK_ERROR_MENTIONS(p);
    CHECK_ERROR_MENTIONS("a writer holds");
    CHECK_STATUS(polca_checkpoints_save(mem, p, NULL), POLCA_ERR_STATE);
    CHECK_ERROR_MENTIONS("a writer holds");
    write_st(tpath("rep_3.safetensors"), 0, NULL, 0, 0);
    const char *files[1] = {tpath("rep_3.safetensors")};
    CHECK_STATUS(polca__checkpoints_import_safetensors(ctx, &l, 1, files, p, ov, &x),
                 POLCA_ERR_STATE);
    CHECK(files_named("held.pcs.tmp") == 0);
    /* the writer goes on; a reader sees its appends */
    make_theta(v, 1);
    CHECK_OK(polca_checkpoints_append(w, 1, v, P));
    int64_t steps[2] = {0, 1};
    CHECK_OK(polca_checkpoints_open(ctx, p, NULL, &x));
    exercise_series(x, 2, steps);
    polca_checkpoints_destroy(x);
    /* another program renames a file over it: the next append fails, and
     * so does every one after it */
    CHECK_OK(polca_checkpoints_save(mem, tpath("other.pcs"), NULL));
    CHECK(rename(tpath("other.pcs"), p) == 0);
    make_theta(v, 2);
    CHECK_STATUS(polca_checkpoints_append(w, 2, v, P), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS(p);
    CHECK_ERROR_MENTIONS("replaced");
    CHECK_STATUS(polca_checkpoints_append(w, 3, v, P), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("replaced");
    int64_t n = -1;
    CHECK_OK(polca_checkpoints_count(w, &n));
    CHECK(n == 2);
    polca_checkpoints_destroy(w);
    /* removed: the same */
    CHECK_OK(polca__checkpoints_create(ctx, &l, tpath("gone.pcs"), NULL, &w));
    CHECK(unlink(tpath("gone.pcs")) == 0);
    CHECK_STATUS(polca_checkpoints_append(w, 0, v, P), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("removed");
    polca_checkpoints_destroy(w);
    /* once the writer is gone, "overwrite" replaces */
    CHECK_OK(polca__checkpoints_create(ctx, &l, p, ov, &x));
    polca_checkpoints_destroy(x);
    /* a writer that was given a relative path keeps appending after the
     * process changes directory (the check is not fooled by the cwd) */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd));
    CHECK(chdir(tmpdir) == 0);
    int32_t st = polca__checkpoints_create(ctx, &l, "relative.pcs", NULL, &w);
    CHECK(chdir("/") == 0);
    if (!st) st = polca_checkpoints_append(w, 0, v, P);
    CHECK(chdir(cwd) == 0);
    CHECK_OK(st);
    CHECK_OK(polca_checkpoints_append(w, 1, v, P));
    polca_checkpoints_destroy(w);
    polca_options_destroy(ov);
    polca_checkpoints_destroy(mem);
    polca__layout_free(&l);
    polca_context_destroy(ctx);
}

int main(void) {
    strcpy(tmpdir, "/tmp/polca_cp_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(memory_series_save_open_export);
    RUN(file_series_append_reopen);
    RUN(every_precondition_option_round_trips);
    RUN(bad_input);
    RUN(corrupt_series_files);
    RUN(import_safetensors);
    RUN(import_reference_fixture);
    RUN(non_regular_inputs);
    RUN(import_progress_and_cancel);
    RUN(writer_and_replacer_handles);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmpdir);
    return harness_done();
}
