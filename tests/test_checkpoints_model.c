/* tests/test_checkpoints_model.c - the series constructors that take a
 * model: create (memory and file), import the model's own safetensors
 * files, and bad input. */
#include <unistd.h>

#include "harness.h"

static polca_context *cpu_ctx(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static polca_model *small_transformer(polca_context *ctx) {
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 8);
    polca_options_set_int(o, "n_heads", 2);
    polca_options_set_int(o, "d_mlp", 16);
    polca_options_set_int(o, "d_vocab", 12);
    polca_options_set_int(o, "n_ctx", 6);
    polca_model_create_transformer(ctx, o, &m);
    polca_options_destroy(o);
    return m;
}

TEST(create_append_read_memory_and_file) {
    polca_context *ctx = cpu_ctx();
    polca_model *m = small_transformer(ctx);
    CHECK(m);
    int64_t p = 0;
    CHECK_OK(polca_model_n_params(m, &p));
    float *theta = malloc(p * 4), *back = malloc(p * 4);
    char dir[] = "/tmp/polca_ckm_XXXXXX";
    CHECK(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/series.polca", dir);
    const char *paths[2] = {NULL, path};
    for (int w = 0; w < 2; w++) {
        polca_checkpoints *s = NULL;
        CHECK_OK(polca_checkpoints_create(ctx, m, paths[w], NULL, &s));
        for (int t = 0; t < 3; t++) {
            CHECK_OK(polca_model_init(m, 100 + t, theta));
            CHECK_OK(polca_checkpoints_append(s, 20 * t, theta, p));
        }
        int64_t count = 0, step = 0;
        CHECK_OK(polca_checkpoints_count(s, &count));
        CHECK(count == 3);
        CHECK_OK(polca_checkpoints_read(s, 1, back, p));
        CHECK_OK(polca_checkpoints_step(s, 1, &step));
        CHECK_OK(polca_model_init(m, 101, theta));
        CHECK(step == 20 && memcmp(theta, back, p * 4) == 0);
        polca_checkpoints_destroy(s);
    }
    /* the file is there and reopens with the same content */
    polca_checkpoints *s = NULL;
    CHECK_OK(polca_checkpoints_open(ctx, path, NULL, &s));
    int64_t step = 0;
    CHECK_OK(polca_checkpoints_read(s, 2, back, p));
    CHECK_OK(polca_checkpoints_step(s, 2, &step));
    CHECK_OK(polca_model_init(m, 102, theta));
    CHECK(step == 40 && memcmp(theta, back, p * 4) == 0);
    polca_checkpoints_destroy(s);
    /* an existing file is not overwritten unless asked */
    CHECK_STATUS(polca_checkpoints_create(ctx, m, path, NULL, &s), POLCA_ERR_IO);
    unlink(path);
    rmdir(dir);
    free(theta), free(back);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

TEST(import_the_models_safetensors) {
    polca_context *ctx = cpu_ctx();
    polca_model *m = small_transformer(ctx);
    int64_t p = 0;
    CHECK_OK(polca_model_n_params(m, &p));
    float *theta = malloc(p * 4), *back = malloc(p * 4);
    char dir[] = "/tmp/polca_ckm_XXXXXX";
    CHECK(mkdtemp(dir));
    char f1[256], f2[256];
    snprintf(f1, sizeof f1, "%s/ckpt_000200.safetensors", dir);
    snprintf(f2, sizeof f2, "%s/ckpt_000100.safetensors", dir);
    CHECK_OK(polca_model_init(m, 1, theta));
    CHECK_OK(polca_model_save_safetensors(m, f1, theta));
    CHECK_OK(polca_model_init(m, 2, theta));
    CHECK_OK(polca_model_save_safetensors(m, f2, theta));
    const char *files[2] = {f1, f2};
    polca_checkpoints *s = NULL;
    CHECK_OK(polca_checkpoints_import_safetensors(ctx, m, 2, files, NULL, NULL, &s));
    int64_t step = 0;
    CHECK_OK(polca_checkpoints_read(s, 0, back, p)); /* sorted: step 100 first */
    CHECK_OK(polca_checkpoints_step(s, 0, &step));
    CHECK(step == 100 && memcmp(theta, back, p * 4) == 0);
    polca_checkpoints_destroy(s);
    unlink(f1), unlink(f2), rmdir(dir);
    free(theta), free(back);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

TEST(bad_input) {
    polca_context *ctx = cpu_ctx(), *other = cpu_ctx();
    polca_model *m = small_transformer(ctx);
    polca_checkpoints *s = (polca_checkpoints *)(void *)&s, *const sentinel = s;
    CHECK_STATUS(polca_checkpoints_create(NULL, m, NULL, NULL, &s), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_STATUS(polca_checkpoints_create(ctx, NULL, NULL, NULL, &s), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("model");
    CHECK_STATUS(polca_checkpoints_create(other, m, NULL, NULL, &s), POLCA_ERR_WRONG_CONTEXT);
    CHECK_STATUS(polca_checkpoints_create(ctx, m, NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_checkpoints_import_safetensors(ctx, m, 1, NULL, NULL, NULL, &s),
                 POLCA_ERR_INVALID_ARGUMENT);
    const char *missing[1] = {"/nonexistent/ckpt_1.safetensors"};
    CHECK_STATUS(polca_checkpoints_import_safetensors(ctx, m, 1, missing, NULL, NULL, &s),
                 POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("/nonexistent/ckpt_1.safetensors");
    CHECK(s == sentinel);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    polca_context_destroy(other);
}

int main(void) {
    RUN(create_append_read_memory_and_file);
    RUN(import_the_models_safetensors);
    RUN(bad_input);
    return harness_done();
}
