/* src/checkpoints_model.c - the public series constructors that take a
 * model: they lend the model's parameter layout to the private ones. */
#include "checkpoints.h"
#include "model.h"
#include "model_impl.h"
#include "pretrained.h"

/* A transformer's checkpoints may be in any layout src/pretrained.c detects
 * (files or save_pretrained directories). */
static int32_t transformer_reader(void *user, const char *path, float *theta, const char *fn) {
    return polca__pt_read_for_model((const polca_model *)user, path, theta, fn);
}

static int32_t check_args(polca_context *ctx, const polca_model *model, const char *fn) {
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (!st) st = polca__check_model(model, fn);
    if (!st) st = polca__check_same_context(ctx, model, fn, "ctx", "model");
    return st;
}

int32_t polca_checkpoints_create(polca_context *ctx, const polca_model *model, const char *path,
                                 const polca_options *options, polca_checkpoints **out) {
    static const char *fn = "polca_checkpoints_create";
    polca__clear_error();
    int32_t st = check_args(ctx, model, fn);
    if (st) return st;
    st = polca__checkpoints_create(ctx, polca__model_layout(model), path, options, out);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}

int32_t polca_checkpoints_import_safetensors(polca_context *ctx, const polca_model *model,
                                             int64_t n_files, const char *const *files,
                                             const char *path, const polca_options *options,
                                             polca_checkpoints **out) {
    static const char *fn = "polca_checkpoints_import_safetensors";
    polca__clear_error();
    int32_t st = check_args(ctx, model, fn);
    if (st) return st;
    /* its messages already begin with this function's name */
    return polca__checkpoints_import_with(
        ctx, polca__model_layout(model),
        model->kind == POLCA__MODEL_TRANSFORMER ? transformer_reader : NULL, (void *)model,
        n_files, files, path, options, out);
}
