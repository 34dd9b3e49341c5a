/*
 * tests/test_backend.c - every dispatch-table entry, on every backend that
 * can run here, against float64 references computed in this file; CUDA is
 * also compared with the CPU. And the loader: missing module, wrong ABI, no
 * device, "auto" falling back to the CPU.
 */
#include <stdint.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"

/* ---- helpers ---- */

static polca_context *open_backend(const char *name, int32_t *status) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", name);
    *status = polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static float *dev_upload(polca_context *ctx, const float *host, size_t n) {
    void *d = NULL;
    if (ctx->be->alloc(ctx->be_state, n * sizeof(float), &d)) return NULL;
    if (ctx->be->upload(ctx->be_state, d, host, n * sizeof(float))) return NULL;
    return d;
}

static void fill(float *x, size_t n, unsigned long long seed) {
    unsigned long long s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) x[i] = harness_uniform(&s);
}

/* The backend under test: "cpu" always; "cuda" when usable here. */
static const char *current = "cpu";

#define OPEN_OR_SKIP(ctx)                                                      \
    int32_t open_st_;                                                          \
    polca_context *ctx = open_backend(current, &open_st_);                     \
    if (open_st_ == POLCA_ERR_BACKEND_UNAVAILABLE)                             \
        SKIP("%s backend unavailable: %s", current, polca_last_error());       \
    CHECK_OK(open_st_);                                                        \
    const polca_backend *be = ctx->be;                                         \
    void *st = ctx->be_state

/* ---- entries against float64 references ---- */

TEST(memory_roundtrip) {
    OPEN_OR_SKIP(ctx);
    float host[1000], back[1000];
    fill(host, 1000, 1);
    float *a = dev_upload(ctx, host, 1000);
    CHECK(a != NULL);
    void *b = NULL;
    CHECK_OK(be->alloc(st, sizeof host, &b));
    CHECK_OK(be->copy(st, b, a, sizeof host));
    CHECK_OK(be->download(st, back, b, sizeof back));
    CHECK(memcmp(host, back, sizeof host) == 0);
    CHECK_OK(be->zero(st, b, 10 * sizeof(float)));
    CHECK_OK(be->sync(st));
    CHECK_OK(be->download(st, back, b, sizeof back));
    for (int i = 0; i < 10; i++) CHECK(back[i] == 0.0f);
    CHECK(back[10] == host[10]);
    be->release(st, a);
    be->release(st, b);
    be->release(st, NULL);
    polca_context_destroy(ctx);
}

TEST(alloc_failure_is_a_status) {
    OPEN_OR_SKIP(ctx);
    void *p = NULL;
    CHECK_STATUS(be->alloc(st, (size_t)1 << 52, &p), POLCA_ERR_OUT_OF_MEMORY);
    CHECK(p == NULL);
    CHECK_ERROR_MENTIONS("bytes");
    polca_context_destroy(ctx);
}

TEST(blas1_against_double) {
    OPEN_OR_SKIP(ctx);
    enum { N = 100003 }; /* odd length: exercises remainders */
    static float x[N], y[N], out[N];
    fill(x, N, 2);
    fill(y, N, 3);
    double ref_dot = 0, ref_sq = 0;
    for (int i = 0; i < N; i++) {
        ref_dot += (double)x[i] * y[i];
        ref_sq += (double)x[i] * x[i];
    }
    float *dx = dev_upload(ctx, x, N), *dy = dev_upload(ctx, y, N);
    CHECK(dx && dy);
    double got;
    CHECK_OK(be->dot(st, N, dx, dy, &got));
    CHECK_CLOSE(got, ref_dot, 1e-12 * N); /* both accumulate in double */
    CHECK_OK(be->nrm2(st, N, dx, &got));
    CHECK_CLOSE(got, sqrt(ref_sq), 1e-12 * N);
    CHECK_OK(be->axpy(st, N, 0.75f, dx, dy));
    CHECK_OK(be->download(st, out, dy, sizeof out));
    /* one rounding (fused) or two (product, then sum): the error is at most
     * half an ulp of each term plus half an ulp of the result */
    for (int i = 0; i < N; i++) {
        double ref = 0.75 * x[i] + (double)y[i];
        double bound = 6e-8 * (fabs(0.75 * x[i]) + fabs(y[i]) + fabs(ref));
        CHECK(fabs(out[i] - ref) <= bound);
    }
    CHECK_OK(be->scal(st, N, -2.0f, dx));
    CHECK_OK(be->download(st, out, dx, sizeof out));
    for (int i = 0; i < N; i++) CHECK(out[i] == -2.0f * x[i]);
    CHECK_OK(be->dot(st, 0, dx, dy, &got));
    CHECK(got == 0.0);
    be->release(st, dx);
    be->release(st, dy);
    polca_context_destroy(ctx);
}

/* C = alpha op(A) op(B) + beta C for every transpose pair, with leading
 * dimensions wider than the rows, against a double reference. */
TEST(gemm_against_double) {
    OPEN_OR_SKIP(ctx);
    const int64_t m = 37, n = 29, k = 53, pad = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, lda = a_cols + pad;
            int64_t b_rows = tb ? n : k, b_cols = tb ? k : n, ldb = b_cols + pad;
            int64_t ldc = n + pad;
            size_t na = a_rows * lda, nb = b_rows * ldb, nc = m * ldc;
            float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4),
                  *got = malloc(nc * 4);
            double *ref = malloc(nc * 8);
            fill(a, na, 10 + ta);
            fill(b, nb, 20 + tb);
            fill(c, nc, 30);
            const float alpha = 1.5f, beta = -0.5f;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double s = 0;
                    for (int64_t l = 0; l < k; l++) {
                        double av = ta ? a[l * lda + i] : a[i * lda + l];
                        double bv = tb ? b[j * ldb + l] : b[l * ldb + j];
                        s += av * bv;
                    }
                    ref[i * ldc + j] = alpha * s + beta * (double)c[i * ldc + j];
                }
            float *da = dev_upload(ctx, a, na), *db = dev_upload(ctx, b, nb),
                  *dc = dev_upload(ctx, c, nc);
            CHECK(da && db && dc);
            CHECK_OK(be->gemm(st, ta, tb, m, n, k, alpha, da, lda, db, ldb, beta, dc, ldc));
            CHECK_OK(be->download(st, got, dc, nc * 4));
            double num = 0, den = 0;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double d = got[i * ldc + j] - ref[i * ldc + j];
                    num += d * d;
                    den += ref[i * ldc + j] * ref[i * ldc + j];
                }
            /* float32 GEMM over k=53: relative error well under 1e-5 */
            if (!(sqrt(num / den) < 1e-5)) FAILF("ta=%d tb=%d rel err %g", ta, tb, sqrt(num / den));
            /* padding columns of C untouched */
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = n; j < ldc; j++) CHECK(got[i * ldc + j] == c[i * ldc + j]);
            be->release(st, da);
            be->release(st, db);
            be->release(st, dc);
            free(a), free(b), free(c), free(got), free(ref);
        }
    polca_context_destroy(ctx);
}

/* Orthonormalizes rows against a basis and among themselves; a row that is
 * a combination of the others is reported (kept ~ 0) and zeroed. */
TEST(orthonormalize_rows) {
    OPEN_OR_SKIP(ctx);
    const int64_t p = 5000, m = 3, k = 4;
    float *basis = malloc(m * p * 4), *v = malloc(k * p * 4), *out = malloc(k * p * 4);
    fill(basis, m * p, 40);
    double kept[4];
    float *db = dev_upload(ctx, basis, m * p);
    CHECK(db);
    CHECK_OK(be->orthonormalize(st, p, NULL, 0, db, m, 1e-6, kept)); /* make the basis */
    CHECK_OK(be->download(st, basis, db, m * p * 4));
    fill(v, k * p, 50);
    /* row 2 = row 0 - 3 row 1 + 2 basis row 0: dependent */
    for (int64_t i = 0; i < p; i++) v[2 * p + i] = v[i] - 3 * v[p + i] + 2 * basis[i];
    float *dv = dev_upload(ctx, v, k * p);
    CHECK(dv);
    CHECK_OK(be->orthonormalize(st, p, db, m, dv, k, 1e-4, kept));
    CHECK_OK(be->download(st, out, dv, k * p * 4));
    CHECK(kept[0] > 0.5 && kept[1] > 0.5 && kept[3] > 0.5);
    CHECK(kept[2] < 1e-5);
    for (int64_t i = 0; i < p; i++) CHECK(out[2 * p + i] == 0.0f);
    int rows[3] = {0, 1, 3};
    for (int a = 0; a < 3; a++) {
        const float *ra = out + rows[a] * p;
        for (int b = 0; b < 3; b++) {
            double s = 0;
            for (int64_t i = 0; i < p; i++) s += (double)ra[i] * out[rows[b] * p + i];
            CHECK_CLOSE(s, a == b ? 1.0 : 0.0, 2e-6);
        }
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t i = 0; i < p; i++) s += (double)ra[i] * basis[j * p + i];
            CHECK_CLOSE(s, 0.0, 2e-6);
        }
    }
    be->release(st, db);
    be->release(st, dv);
    free(basis), free(v), free(out);
    polca_context_destroy(ctx);
}

/* Exact pair distances (HDBSCAN): identical bits to one sequential double sum
 * per pair, computed here. Some points sit far from the origin and close to
 * each other (where a GEMM-style |a|^2 + |b|^2 - 2ab loses every digit), rows
 * are padded (ldx > d), d is odd, and the pair list mixes runs sharing pair_a
 * with scattered pairs and self-pairs. */
TEST(distance_pairs_exact) {
    OPEN_OR_SKIP(ctx);
    const int64_t rows = 300, d = 37, ldx = 40, n_pairs = 5000;
    float *x = malloc(rows * ldx * 4);
    int64_t *pa = malloc(n_pairs * 8), *pb = malloc(n_pairs * 8);
    double *out = malloc(n_pairs * 8);
    fill(x, rows * ldx, 70);
    /* even rows: near 1000, 1e-3 apart; odd rows: full mantissas over six
     * decades, so the order of the sum shows in the last bits */
    for (int64_t i = 0; i < rows * ldx; i++)
        x[i] = (i / ldx) % 2 ? x[i] * powf(10.0f, (float)(i % 7) - 3.0f) : 1000.0f + 1e-3f * x[i];
    unsigned long long seed = 71;
    for (int64_t p = 0; p < n_pairs; p++) {
        pa[p] = p < n_pairs / 2 ? p / 50 : (int64_t)((harness_uniform(&seed) + 1) * 0.5f * rows) % rows;
        pb[p] = p % 97 == 0 ? pa[p] : (int64_t)((harness_uniform(&seed) + 1) * 0.5f * rows) % rows;
    }
    void *dx = NULL, *dpa = NULL, *dpb = NULL, *dout = NULL;
    CHECK_OK(be->alloc(st, rows * ldx * 4, &dx));
    CHECK_OK(be->alloc(st, n_pairs * 8, &dpa));
    CHECK_OK(be->alloc(st, n_pairs * 8, &dpb));
    CHECK_OK(be->alloc(st, n_pairs * 8, &dout));
    CHECK_OK(be->upload(st, dx, x, rows * ldx * 4));
    CHECK_OK(be->upload(st, dpa, pa, n_pairs * 8));
    CHECK_OK(be->upload(st, dpb, pb, n_pairs * 8));
    CHECK_OK(be->distance_pairs(st, d, dx, ldx, n_pairs, dpa, dpb, dout));
    CHECK_OK(be->download(st, out, dout, n_pairs * 8));
    int64_t differ = 0;
    for (int64_t p = 0; p < n_pairs; p++) {
        const float *a = x + pa[p] * ldx, *b = x + pb[p] * ldx;
        double sum = 0.0;
        for (int64_t k = 0; k < d; k++) {
            volatile double t = (double)a[k] - (double)b[k]; /* no contraction */
            volatile double sq = t * t;
            sum += sq;
        }
        double want = sqrt(sum);
        differ += memcmp(&want, &out[p], sizeof want) != 0;
    }
    CHECK(differ == 0);
    CHECK_STATUS(be->distance_pairs(st, 0, dx, ldx, 1, dpa, dpb, dout), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("d=0");
    CHECK_STATUS(be->distance_pairs(st, d, dx, d - 1, 1, dpa, dpb, dout), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_OK(be->distance_pairs(st, d, dx, ldx, 0, dpa, dpb, dout));
    be->release(st, dx), be->release(st, dpa), be->release(st, dpb), be->release(st, dout);
    free(x), free(pa), free(pb), free(out);
    polca_context_destroy(ctx);
}

/* With CUDA usable, the same inputs through both backends agree. */
TEST(cuda_matches_cpu) {
    int32_t s1, s2;
    polca_context *gpu = open_backend("cuda", &s1);
    if (s1) SKIP("CUDA backend unavailable: %s", polca_last_error());
    polca_context *cpu = open_backend("cpu", &s2);
    CHECK_OK(s2);
    const int64_t m = 200, n = 300, k = 1000, p = 200000;
    float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c1 = malloc(m * n * 4),
          *c2 = malloc(m * n * 4), *v = malloc(3 * p * 4), *v1 = malloc(3 * p * 4),
          *v2 = malloc(3 * p * 4);
    fill(a, m * k, 60);
    fill(b, k * n, 61);
    fill(v, 3 * p, 62);
    polca_context *ctxs[2] = {cpu, gpu};
    float *cs[2] = {c1, c2}, *vs[2] = {v1, v2};
    double kept[2][3];
    for (int i = 0; i < 2; i++) {
        const polca_backend *be = ctxs[i]->be;
        void *st = ctxs[i]->be_state;
        float *da = dev_upload(ctxs[i], a, m * k), *db = dev_upload(ctxs[i], b, k * n),
              *dc = NULL, *dv = dev_upload(ctxs[i], v, 3 * p);
        CHECK(da && db && dv);
        CHECK_OK(be->alloc(st, m * n * 4, (void **)&dc));
        CHECK_OK(be->gemm(st, 0, 1, m, n / 2, k, 1.0f, da, k, db, k, 0.0f, dc, n));
        CHECK_OK(be->gemm(st, 0, 0, m, n, k, 1.0f, da, k, db, n, 0.0f, dc, n));
        CHECK_OK(be->download(st, cs[i], dc, m * n * 4));
        CHECK_OK(be->orthonormalize(st, p, NULL, 0, dv, 3, 1e-6, kept[i]));
        CHECK_OK(be->download(st, vs[i], dv, 3 * p * 4));
        be->release(st, da), be->release(st, db), be->release(st, dc), be->release(st, dv);
    }
    double e_gemm = rel_error_f(c2, c1, m * n), e_orth = rel_error_f(v2, v1, 3 * p);
    printf("  cuda vs cpu: gemm rel err %.2e, orthonormalize rel err %.2e\n", e_gemm, e_orth);
    CHECK(e_gemm <= 1e-5);
    CHECK(e_orth <= 1e-5);
    for (int i = 0; i < 3; i++) CHECK_CLOSE(kept[1][i], kept[0][i], 1e-6);
    free(a), free(b), free(c1), free(c2), free(v), free(v1), free(v2);
    polca_context_destroy(gpu);
    polca_context_destroy(cpu);
}

/* ---- the loader ---- */

static int32_t create_with_module(const char *backend, const char *module,
                                  polca_context **out) {
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", backend);
    polca_options_set_string(o, "cuda_module", module);
    int32_t st = polca_context_create(o, out);
    polca_options_destroy(o);
    return st;
}

static char fake_path[4096];

TEST(cuda_module_missing) {
    polca_context *ctx = NULL;
    CHECK_STATUS(create_with_module("cuda", "/nonexistent/libpolca_cuda.so.0", &ctx),
                 POLCA_ERR_BACKEND_UNAVAILABLE);
    CHECK_ERROR_MENTIONS("/nonexistent/libpolca_cuda.so.0");
    CHECK_ERROR_MENTIONS("not found");
    CHECK(ctx == NULL);
}

TEST(cuda_module_not_a_library) {
    char path[] = "/tmp/polca_not_elf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "garbage", 7) == 7);
    close(fd);
    polca_context *ctx = NULL;
    int32_t st = create_with_module("cuda", path, &ctx);
    unlink(path);
    CHECK_STATUS(st, POLCA_ERR_BACKEND_UNAVAILABLE);
    CHECK_ERROR_MENTIONS("could not be loaded");
    CHECK_ERROR_MENTIONS(path);
}

TEST(cuda_module_wrong_abi) {
    polca_context *ctx = NULL;
    setenv("FAKE_BACKEND_MODE", "wrong_abi", 1);
    CHECK_STATUS(create_with_module("cuda", fake_path, &ctx), POLCA_ERR_BACKEND_UNAVAILABLE);
    CHECK_ERROR_MENTIONS("ABI 99");
    setenv("FAKE_BACKEND_MODE", "null", 1);
    CHECK_STATUS(create_with_module("cuda", fake_path, &ctx), POLCA_ERR_BACKEND_UNAVAILABLE);
    CHECK_ERROR_MENTIONS("ABI");
    unsetenv("FAKE_BACKEND_MODE");
}

TEST(cuda_no_device_fails_and_auto_falls_back) {
    polca_context *ctx = NULL;
    setenv("FAKE_BACKEND_MODE", "no_device", 1);
    CHECK_STATUS(create_with_module("cuda", fake_path, &ctx), POLCA_ERR_BACKEND_UNAVAILABLE);
    CHECK_ERROR_MENTIONS("no usable CUDA device");
    CHECK(ctx == NULL);
    CHECK_OK(create_with_module("auto", fake_path, &ctx));
    const char *name, *text;
    CHECK_OK(polca_context_backend(ctx, &name));
    CHECK(strcmp(name, "cpu") == 0);
    CHECK_OK(polca_context_device(ctx, &text));
    CHECK(strstr(text, "CUDA not used: ") && strstr(text, "no usable CUDA device"));
    polca_context_destroy(ctx);
    unsetenv("FAKE_BACKEND_MODE");
}

/* The device description is kept whole: a backend's long one (the fake
 * module writes 1500 bytes), and on "auto" the CPU's with the full reason
 * CUDA was passed over (a module path of 300 bytes), not cut at 255. */
TEST(device_text_is_whole) {
    polca_context *ctx = NULL;
    const char *text;
    setenv("FAKE_BACKEND_MODE", "long_text", 1);
    setenv("FAKE_TEXT_LEN", "1500", 1);
    CHECK_OK(create_with_module("cuda", fake_path, &ctx));
    CHECK_OK(polca_context_device(ctx, &text));
    CHECK(strlen(text) == 1500);
    CHECK(strncmp(text, "CUDA: fake xxx", 14) == 0);
    CHECK(strcmp(text + 1496, " end") == 0);
    polca_context_destroy(ctx);
    unsetenv("FAKE_TEXT_LEN");
    unsetenv("FAKE_BACKEND_MODE");

    char path[400] = "/nonexistent/";
    size_t used = strlen(path);
    for (; used < 300; used++) path[used] = (char)('a' + used % 26);
    snprintf(path + used, sizeof path - used, "/libpolca_cuda.so.0");
    CHECK_STATUS(create_with_module("cuda", path, &ctx), POLCA_ERR_BACKEND_UNAVAILABLE);
    char ref[2048]; /* "polca_context_create: <reason>" */
    snprintf(ref, sizeof ref, "%s", polca_last_error());
    CHECK(strstr(ref, path) != NULL); /* the reference names the whole path */
    CHECK_OK(create_with_module("auto", path, &ctx));
    CHECK_OK(polca_context_device(ctx, &text));
    CHECK(strncmp(text, "CPU: ", 5) == 0);
    const char *reason = strstr(text, "; CUDA not used: ");
    CHECK(reason != NULL);
    reason += strlen("; CUDA not used: ");
    size_t n = strlen(reason), r = strlen(ref);
    CHECK(strlen(text) > 255 && n > 300 && n < r);
    CHECK(strcmp(ref + r - n, reason) == 0); /* the whole reason, to its last byte */
    CHECK(strstr(reason, path) != NULL);
    polca_context_destroy(ctx);
}

TEST(backend_from_environment) {
    polca_context *ctx = NULL;
    const char *name;
    setenv("POLCA_BACKEND", "cpu", 1);
    CHECK_OK(polca_context_create(NULL, &ctx));
    CHECK_OK(polca_context_backend(ctx, &name));
    CHECK(strcmp(name, "cpu") == 0);
    polca_context_destroy(ctx);
    setenv("POLCA_BACKEND", "quantum", 1);
    CHECK_STATUS(polca_context_create(NULL, &ctx), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("quantum");
    /* the option wins over the environment */
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "backend", "cpu"));
    CHECK_OK(polca_context_create(o, &ctx));
    polca_context_destroy(ctx);
    polca_options_destroy(o);
    unsetenv("POLCA_BACKEND");
}

/* The real CUDA module where it was built: usable with a GPU; on a machine
 * without one, "cuda" fails saying why and "auto" takes the CPU. */
TEST(real_cuda_module_reports_its_state) {
    const char *module = getenv("POLCA_CUDA_MODULE");
    if (!module) SKIP("no CUDA module built here (nvcc absent)");
    polca_context *ctx = NULL;
    int32_t st = create_with_module("cuda", module, &ctx);
    if (st == POLCA_OK) {
        const char *text;
        CHECK_OK(polca_context_device(ctx, &text));
        printf("  CUDA device: %s\n", text);
        CHECK(strncmp(text, "CUDA: ", 6) == 0);
        polca_context_destroy(ctx);
        return;
    }
    CHECK_STATUS(st, POLCA_ERR_BACKEND_UNAVAILABLE);
    printf("  CUDA unavailable here, as expected without a GPU: %s\n", polca_last_error());
    CHECK(strstr(polca_last_error(), "CUDA") != NULL);
    CHECK_OK(create_with_module("auto", module, &ctx));
    const char *name;
    CHECK_OK(polca_context_backend(ctx, &name));
    CHECK(strcmp(name, "cpu") == 0);
    polca_context_destroy(ctx);
}

static void run_entry_tests(const char *backend) {
    current = backend;
    printf("# backend %s\n", backend);
    RUN(memory_roundtrip);
    RUN(alloc_failure_is_a_status);
    RUN(blas1_against_double);
    RUN(gemm_against_double);
    RUN(orthonormalize_rows);
    RUN(distance_pairs_exact);
}

int main(void) {
    const char *build = getenv("BUILD");
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) return 1;
    if (build && build[0] == '/')
        snprintf(fake_path, sizeof fake_path, "%s/tests/libfake_backend.so", build);
    else
        snprintf(fake_path, sizeof fake_path, "%s/%s/tests/libfake_backend.so", cwd,
                 build ? build : "build");
    run_entry_tests("cpu");
    run_entry_tests("cuda");
    RUN(cuda_matches_cpu);
    RUN(cuda_module_missing);
    RUN(cuda_module_not_a_library);
    RUN(cuda_module_wrong_abi);
    RUN(cuda_no_device_fails_and_auto_falls_back);
    RUN(device_text_is_whole);
    RUN(backend_from_environment);
    RUN(real_cuda_module_reports_its_state);
    return harness_done();
}
