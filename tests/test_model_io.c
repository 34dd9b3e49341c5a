/*
 * tests/test_model_io.c - polca_model_load_safetensors / _save_safetensors:
 * a file written by the safetensors package for a TransformerLens state_dict
 * (tests/gen_model_io_fixtures.py: TransformerLens names, shuffled order,
 * attn.mask / attn.IGNORE buffers), round trips for every kind of model,
 * and layout mismatches (missing, misshapen, unknown tensors) that must fail
 * naming the tensor and leave theta untouched.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "npy.h"
#include "safetensors.h"

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static const char *act_name(int32_t code) {
    return code == 0 ? "gelu" : code == 1 ? "gelu_new" : "relu";
}

/* The transformer of a tests/fixtures/transformer/<name>/config.npy. */
static polca_model *fixture_transformer(polca_context *ctx, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/transformer/%s/config.npy", name);
    npy_array cfa;
    if (!npy_load(path, &cfa)) return NULL;
    const int32_t *c = cfa.data;
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_options_create(&o);
    static const char *keys[7] = {"n_layers", "d_model", "n_heads", "d_head",
                                  "d_mlp",    "d_vocab", "n_ctx"};
    for (int i = 0; i < 7; i++) polca_options_set_int(o, keys[i], c[i]);
    polca_options_set_string(o, "act_fn", act_name(c[7]));
    if (polca_model_create_transformer(ctx, o, &m)) printf("  create: %s\n", polca_last_error());
    polca_options_destroy(o);
    npy_free(&cfa);
    return m;
}

static char tmpdir[64];

static void tmp_path(char *out, size_t n, const char *file) {
    snprintf(out, n, "%s/%s", tmpdir, file);
}

TEST(load_transformerlens_state_dict) {
    polca_context *ctx = cpu_context();
    polca_model *m = fixture_transformer(ctx, "gelu_new");
    CHECK(m != NULL);
    npy_array tha;
    CHECK(npy_load("tests/fixtures/transformer/gelu_new/theta.npy", &tha));
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    CHECK(P == tha.count);
    float *theta = malloc(P * sizeof(float));
    CHECK_OK(polca_model_load_safetensors(m, "tests/fixtures/model/tl_gelu_new.safetensors",
                                          theta));
    CHECK(memcmp(theta, tha.data, P * sizeof(float)) == 0);
    free(theta);
    npy_free(&tha);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

static void roundtrip(polca_model *m, const char *file) {
    int64_t P = 0, nt = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    CHECK_OK(polca_model_n_tensors(m, &nt));
    float *a = malloc(P * sizeof(float)), *b = malloc(P * sizeof(float));
    unsigned long long s = 5;
    for (int64_t j = 0; j < P; j++) a[j] = harness_uniform(&s);
    a[0] = NAN; /* written as they are */
    char path[128];
    tmp_path(path, sizeof path, file);
    CHECK_OK(polca_model_save_safetensors(m, path, a));
    CHECK_OK(polca_model_load_safetensors(m, path, b));
    CHECK(memcmp(a, b, P * sizeof(float)) == 0);
    /* the file holds the layout's names and shapes, as F32 */
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open(path, &f));
    CHECK(polca__st_count(f) == nt);
    for (int64_t t = 0; t < nt; t++) {
        const char *name = NULL;
        int32_t ndim = 0;
        int64_t shape[POLCA_MODEL_MAX_DIMS];
        CHECK_OK(polca_model_tensor_info(m, t, &name, &ndim, shape, NULL));
        int64_t i = polca__st_find(f, name);
        CHECK(i >= 0);
        const polca__st_tensor *st = polca__st_tensor_at(f, i);
        CHECK(strcmp(st->dtype, "F32") == 0 && st->ndim == ndim);
        for (int d = 0; d < ndim; d++) CHECK(st->shape[d] == shape[d]);
    }
    polca__st_close(f);
    free(a), free(b);
}

TEST(roundtrip_every_kind) {
    polca_context *ctx = cpu_context();
    polca_model *tf = fixture_transformer(ctx, "attn_only"), *mlp = NULL, *host = NULL;
    CHECK(tf != NULL);
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", 3);
    polca_options_set_int(o, "n_classes", 4);
    polca_options_set_string(o, "hidden", "5");
    CHECK_OK(polca_model_create_mlp(ctx, o, &mlp));
    polca_options_destroy(o);
    CHECK_OK(polca_model_create_host(ctx, 17, 3, NULL, &host));
    roundtrip(tf, "tf.safetensors");
    roundtrip(mlp, "mlp.safetensors");
    roundtrip(host, "host.safetensors");
    polca_model_destroy(tf);
    polca_model_destroy(mlp);
    polca_model_destroy(host);
    polca_context_destroy(ctx);
}

/* Writes the model's layout as a file, with one change. */
#define DROP 1    /* leave tensor `which` out */
#define RESHAPE 2 /* swap the last two dimensions of `which` (or add one) */
#define EXTRA 3   /* add a tensor called `which` */
static int write_variant(polca_model *m, const char *path, int how, const char *which) {
    int64_t nt = 0, P = 0;
    polca_model_n_tensors(m, &nt);
    polca_model_n_params(m, &P);
    float *theta = calloc((size_t)P + 64, sizeof(float));
    polca__st_out_tensor *ts = calloc((size_t)nt + 1, sizeof *ts);
    int64_t (*shapes)[POLCA_MODEL_MAX_DIMS] = calloc((size_t)nt + 1, sizeof *shapes);
    int64_t n = 0;
    for (int64_t t = 0; t < nt; t++) {
        const char *name;
        int32_t ndim;
        int64_t off;
        polca_model_tensor_info(m, t, &name, &ndim, shapes[n], &off);
        if (how == DROP && !strcmp(name, which)) continue;
        if (how == RESHAPE && !strcmp(name, which)) {
            if (ndim >= 2) {
                int64_t x = shapes[n][ndim - 1];
                shapes[n][ndim - 1] = shapes[n][ndim - 2];
                shapes[n][ndim - 2] = x;
            } else {
                shapes[n][ndim++] = 1; /* [d] -> [d, 1]: same count, other shape */
            }
        }
        ts[n] = (polca__st_out_tensor){name, ndim, shapes[n], theta + off};
        n++;
    }
    static const int64_t extra_shape[1] = {4};
    if (how == EXTRA) ts[n++] = (polca__st_out_tensor){which, 1, extra_shape, theta};
    int ok = polca__st_write_f32(path, n, ts, 0, NULL, NULL) == POLCA_OK;
    free(theta), free(ts), free(shapes);
    return ok;
}

TEST(layout_mismatch_names_the_tensor) {
    polca_context *ctx = cpu_context();
    polca_model *m = fixture_transformer(ctx, "gelu_new"), *other = NULL;
    CHECK(m != NULL);
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    float *theta = malloc(P * sizeof(float));
    for (int64_t j = 0; j < P; j++) theta[j] = -3.0f;
    char path[128];
    tmp_path(path, sizeof path, "bad.safetensors");
    static const struct {
        int how;
        const char *which, *mentions;
    } cases[] = {
        {DROP, "unembed.b_U", "has no tensor 'unembed.b_U'"},
        {DROP, "blocks.1.mlp.W_out", "blocks.1.mlp.W_out"},
        {RESHAPE, "blocks.0.attn.W_Q", "tensor 'blocks.0.attn.W_Q' has shape [2, 5, 16]"},
        {RESHAPE, "ln_final.w", "ln_final.w"},
        {EXTRA, "blocks.0.attn.W_X", "'blocks.0.attn.W_X', which the model does not have"},
        {EXTRA, "blocks.0.attn.maskx", "blocks.0.attn.maskx"},
        {EXTRA, "attn.masks", "attn.masks"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(write_variant(m, path, cases[i].how, cases[i].which));
        CHECK_STATUS(polca_model_load_safetensors(m, path, theta), POLCA_ERR_LAYOUT_MISMATCH);
        CHECK_ERROR_MENTIONS(cases[i].mentions);
    }
    /* buffers are skipped */
    CHECK(write_variant(m, path, EXTRA, "blocks.9.attn.IGNORE"));
    CHECK_OK(polca_model_load_safetensors(m, path, theta));
    for (int64_t j = 0; j < P; j++) theta[j] = -3.0f;
    /* another model's file: the attention-only fixture's transformer */
    other = fixture_transformer(ctx, "attn_only");
    CHECK(other != NULL);
    CHECK(write_variant(other, path, 0, ""));
    CHECK_STATUS(polca_model_load_safetensors(m, path, theta), POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("tensor '");
    for (int64_t j = 0; j < P; j++) CHECK(theta[j] == -3.0f); /* untouched */
    polca_model_destroy(other);
    free(theta);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

TEST(io_bad_input) {
    polca_context *ctx = cpu_context();
    polca_model *m = NULL;
    CHECK_OK(polca_model_create_host(ctx, 8, 2, NULL, &m));
    float theta[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};
    char path[128], missing[128];
    tmp_path(path, sizeof path, "h.safetensors");
    tmp_path(missing, sizeof missing, "no/such/dir/h.safetensors");
    CHECK_STATUS(polca_model_save_safetensors(NULL, path, theta), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'model'");
    CHECK_STATUS(polca_model_save_safetensors((polca_model *)(void *)ctx, path, theta),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_model");
    CHECK_STATUS(polca_model_save_safetensors(m, NULL, theta), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'path'");
    CHECK_STATUS(polca_model_save_safetensors(m, path, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'theta'");
    CHECK_STATUS(polca_model_save_safetensors(m, missing, theta), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("polca_model_save_safetensors");
    CHECK(access(missing, F_OK) != 0);
    CHECK_STATUS(polca_model_load_safetensors(NULL, path, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_load_safetensors(m, NULL, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_load_safetensors(m, path, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_load_safetensors(m, missing, out), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("no/such/dir");
    /* a corrupt file: a truncated valid one */
    CHECK_OK(polca_model_save_safetensors(m, path, theta));
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(truncate(path, sb.st_size - 4) == 0);
    CHECK_STATUS(polca_model_load_safetensors(m, path, out), POLCA_ERR_CORRUPT);
    for (int i = 0; i < 8; i++) CHECK(out[i] == 0.0f);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

static void remove_tmpdir(void) {
    static const char *files[] = {"tf.safetensors", "mlp.safetensors", "host.safetensors",
                                  "bad.safetensors", "h.safetensors"};
    char path[128];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        tmp_path(path, sizeof path, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/polca_model_io_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL mkdtemp\nRESULT 0 1 0\n");
        return 1;
    }
    RUN(load_transformerlens_state_dict);
    RUN(roundtrip_every_kind);
    RUN(layout_mismatch_names_the_tensor);
    RUN(io_bad_input);
    remove_tmpdir();
    return harness_done();
}
