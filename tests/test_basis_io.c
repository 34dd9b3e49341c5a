/*
 * tests/test_basis_io.c - polca_basis_save / _load / _export_npy: a saved
 * basis loads back bit for bit with its metadata (NaN eigenvalues of the
 * non-Hessian kinds included); an emptied basis round-trips; the .npy
 * export holds the rows; bad input, files of another kind, truncated and
 * corrupted files give a status and a message, never a crash.
 */
#include <unistd.h>

#include "basis.h"
#include "harness.h"
#include "internal.h"
#include "npy.h"

static char dir[64];

static const char *path_in(const char *name) {
    static char buf[4][128];
    static int at;
    char *p = buf[at++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

/* A basis with Hessian-kind metadata (eigenvalue, residual, step) on some
 * vectors and host-kind on the others, built through the private appender
 * the Algorithm 1 driver uses. */
static polca_basis *mixed_basis(polca_context *ctx, int64_t p, int64_t k) {
    polca_basis *b = NULL;
    float *rows = malloc(sizeof(float) * (size_t)(p * k));
    polca__basis_meta *m = calloc((size_t)k, sizeof *m);
    if (!rows || !m) return NULL;
    for (int64_t i = 0; i < p * k; i++) rows[i] = (float)sin(0.37 * (double)i + 0.1 * (double)(i % 7));
    for (int64_t i = 0; i < k; i++) {
        int hess = i % 2 == 0;
        m[i].kind = hess ? POLCA_BASIS_KIND_HESSIAN : POLCA_BASIS_KIND_HOST;
        m[i].converged = i == 2 ? 0 : 1;
        m[i].source_step = hess ? 100 * i : -1;
        m[i].source_index = i;
        m[i].eigenvalue = hess ? 3.5 - (double)i : NAN;
        m[i].residual = hess ? 1e-6 * (double)(i + 1) : NAN;
    }
    if (polca__basis_new(ctx, p, k, &b) == POLCA_OK &&
        polca__basis_append(b, rows, k, m, 1e-4, "test", "row", 0) != POLCA_OK) {
        polca_basis_destroy(b);
        b = NULL;
    }
    free(rows);
    free(m);
    return b;
}

static int same_basis(const polca_basis *a, const polca_basis *b) {
    int64_t ka, kb, pa, pb;
    if (polca_basis_count(a, &ka) || polca_basis_count(b, &kb) || polca_basis_n_params(a, &pa) ||
        polca_basis_n_params(b, &pb) || ka != kb || pa != pb)
        return 0;
    float *va = malloc(sizeof(float) * (size_t)pa), *vb = malloc(sizeof(float) * (size_t)pa);
    int same = va && vb;
    for (int64_t i = 0; same && i < ka; i++) {
        int32_t kind[2], conv[2];
        int64_t step[2], index[2];
        double ev[2], res[2];
        same = !polca_basis_get_vector(a, i, va, pa) && !polca_basis_get_vector(b, i, vb, pb) &&
               memcmp(va, vb, sizeof(float) * (size_t)pa) == 0 &&
               !polca_basis_get_info(a, i, &kind[0], &step[0], &index[0], &ev[0], &res[0], &conv[0]) &&
               !polca_basis_get_info(b, i, &kind[1], &step[1], &index[1], &ev[1], &res[1], &conv[1]) &&
               kind[0] == kind[1] && step[0] == step[1] && index[0] == index[1] &&
               conv[0] == conv[1] && memcmp(&ev[0], &ev[1], sizeof(double)) == 0 &&
               memcmp(&res[0], &res[1], sizeof(double)) == 0;
    }
    free(va);
    free(vb);
    return same;
}

TEST(round_trip_bit_exact_with_metadata) {
    polca_context *ctx = NULL;
    CHECK_OK(polca_context_create(NULL, &ctx));
    polca_basis *b = mixed_basis(ctx, 300, 5), *r = NULL;
    CHECK(b);
    CHECK_OK(polca_basis_save(b, path_in("b.polca")));
    CHECK_OK(polca_basis_load(ctx, path_in("b.polca"), &r));
    CHECK(same_basis(b, r));
    double ev;
    CHECK_OK(polca_basis_get_info(r, 1, NULL, NULL, NULL, &ev, NULL, NULL));
    CHECK(isnan(ev));
    /* Every vector dropped: K = 0 saves and loads. */
    int64_t all[5] = {4, 0, 2, 1, 3}, k = -1;
    CHECK_OK(polca_basis_drop(r, all, 5));
    CHECK_OK(polca_basis_save(r, path_in("empty.polca")));
    polca_basis *e = NULL;
    CHECK_OK(polca_basis_load(ctx, path_in("empty.polca"), &e));
    CHECK_OK(polca_basis_count(e, &k));
    CHECK(k == 0);
    polca_basis_destroy(b);
    polca_basis_destroy(r);
    polca_basis_destroy(e);
    polca_context_destroy(ctx);
}

TEST(export_npy_holds_the_rows) {
    polca_context *ctx = NULL;
    CHECK_OK(polca_context_create(NULL, &ctx));
    polca_basis *b = NULL;
    CHECK_OK(polca_basis_create_random(ctx, 41, 3, NULL, &b));
    CHECK_OK(polca_basis_export_npy(b, path_in("b.npy")));
    npy_array a;
    CHECK(npy_load(path_in("b.npy"), &a));
    CHECK(strcmp(a.dtype, "<f4") == 0 && a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 41);
    float row[41];
    for (int64_t i = 0; i < 3; i++) {
        CHECK_OK(polca_basis_get_vector(b, i, row, 41));
        CHECK(memcmp(row, (const float *)a.data + i * 41, sizeof row) == 0);
    }
    npy_free(&a);
    polca_basis_destroy(b);
    polca_context_destroy(ctx);
}

TEST(bad_input_and_bad_files) {
    polca_context *ctx = NULL, *other = NULL;
    CHECK_OK(polca_context_create(NULL, &ctx));
    polca_basis *b = NULL, *out = NULL;
    CHECK_OK(polca_basis_create_random(ctx, 50, 2, NULL, &b));
    CHECK_STATUS(polca_basis_save(NULL, path_in("x")), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("basis");
    CHECK_STATUS(polca_basis_save(b, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("path");
    CHECK_STATUS(polca_basis_save((const polca_basis *)ctx, path_in("x")), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_save(b, "/nonexistent-dir/b.polca"), POLCA_ERR_IO);
    CHECK_STATUS(polca_basis_export_npy(b, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_export_npy(NULL, path_in("x.npy")), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_load(NULL, path_in("x"), &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_load(ctx, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("path");
    CHECK_STATUS(polca_basis_load(ctx, path_in("x"), NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("out");
    CHECK_STATUS(polca_basis_load(ctx, path_in("missing.polca"), &out), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("missing.polca");

    /* A libpolca file of another kind: a checkpoint series. */
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_checkpoints *s = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "n_features", 2));
    CHECK_OK(polca_options_set_int(o, "n_classes", 2));
    CHECK_OK(polca_model_create_mlp(ctx, o, &m));
    CHECK_OK(polca_checkpoints_create(ctx, m, path_in("series.polca"), NULL, &s));
    polca_checkpoints_destroy(s);
    CHECK_STATUS(polca_basis_load(ctx, path_in("series.polca"), &out), POLCA_ERR_INVALID_ARGUMENT);

    /* Not a container at all, truncated, and one flipped byte in a vector. */
    FILE *f = fopen(path_in("junk"), "wb");
    CHECK(f);
    fputs("this is not a basis", f);
    fclose(f);
    CHECK_STATUS(polca_basis_load(ctx, path_in("junk"), &out), POLCA_ERR_CORRUPT);
    CHECK_OK(polca_basis_save(b, path_in("good.polca")));
    f = fopen(path_in("good.polca"), "rb");
    CHECK(f);
    unsigned char bytes[65536];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    CHECK(n > 200 && n < sizeof bytes);
    f = fopen(path_in("short.polca"), "wb");
    fwrite(bytes, 1, n - 40, f);
    fclose(f);
    int32_t st = polca_basis_load(ctx, path_in("short.polca"), &out);
    CHECK(st == POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("short.polca");
    bytes[n - 30] ^= 0x10;
    f = fopen(path_in("flip.polca"), "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
    CHECK_STATUS(polca_basis_load(ctx, path_in("flip.polca"), &out), POLCA_ERR_CORRUPT);
    CHECK(out == NULL);

    /* A basis of one context loads into another. */
    CHECK_OK(polca_context_create(NULL, &other));
    CHECK_OK(polca_basis_load(other, path_in("good.polca"), &out));
    CHECK(same_basis(b, out));
    polca_basis_destroy(out);
    polca_model_destroy(m);
    polca_options_destroy(o);
    polca_basis_destroy(b);
    polca_context_destroy(other);
    polca_context_destroy(ctx);
}

int main(void) {
    strcpy(dir, "/tmp/polca_basis_io_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(round_trip_bit_exact_with_metadata);
    RUN(export_npy_holds_the_rows);
    RUN(bad_input_and_bad_files);
    const char *names[] = {"b.polca", "empty.polca", "b.npy", "series.polca", "junk",
                           "good.polca", "short.polca", "flip.polca"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(path_in(names[i]));
    rmdir(dir);
    return harness_done();
}
