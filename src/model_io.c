/*
 * src/model_io.c - a model's parameters from and to safetensors files, one
 * tensor per layout entry with the layout's names and shapes
 * (TransformerLens state_dict names for the transformer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "safetensors.h"

/* Tensors a TransformerLens state_dict holds that are not parameters. */
static int is_buffer(const char *name) {
    static const char *suffixes[] = {"attn.mask", "attn.IGNORE"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t sl = strlen(suffixes[i]);
        if (len >= sl && strcmp(name + len - sl, suffixes[i]) == 0 &&
            (len == sl || name[len - sl - 1] == '.'))
            return 1;
    }
    return 0;
}

void polca__shape_text(char *buf, size_t n, int32_t ndim, const int64_t *shape) {
    size_t at = (size_t)snprintf(buf, n, "[");
    for (int32_t d = 0; d < ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

int32_t polca_model_load_safetensors(const polca_model *model, const char *path, float *theta) {
    static const char *fn = "polca_model_load_safetensors";
    polca__clear_error();
    int32_t st = polca__check_model(model, fn);
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'theta' is NULL", fn);
    const polca__layout *l = &model->layout;
    polca__st_file *f = NULL;
    if ((st = polca__st_open(path, &f))) return polca__wrap(st, "%s", fn);

    /* Every file tensor must be a parameter of the model or a known buffer. */
    int64_t n_file = polca__st_count(f);
    for (int64_t i = 0; i < n_file; i++) {
        const polca__st_tensor *t = polca__st_tensor_at(f, i);
        if (polca__layout_find(l, t->name) < 0 && !is_buffer(t->name)) {
            st = polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                             "%s: '%s' holds tensor '%s', which the model does not have", fn,
                             path, t->name);
            polca__st_close(f);
            return st;
        }
    }
    float *tmp = polca__alloc((size_t)l->n_params * sizeof(float), "loaded parameters");
    if (!tmp) {
        polca__st_close(f);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int64_t j = 0; j < l->n_tensors && !st; j++) {
        const polca__tensor_info *ti = &l->tensors[j];
        int64_t i = polca__st_find(f, ti->name);
        if (i < 0) {
            st = polca__fail(POLCA_ERR_LAYOUT_MISMATCH, "%s: '%s' has no tensor '%s'", fn, path,
                             ti->name);
            break;
        }
        const polca__st_tensor *t = polca__st_tensor_at(f, i);
        int same = t->ndim == ti->ndim;
        for (int32_t d = 0; same && d < ti->ndim; d++) same = t->shape[d] == ti->shape[d];
        if (!same) {
            char want[128], got[128];
            polca__shape_text(want, sizeof want, ti->ndim, ti->shape);
            polca__shape_text(got, sizeof got, t->ndim, t->shape);
            st = polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                             "%s: '%s': tensor '%s' has shape %s; the model's is %s", fn, path,
                             ti->name, got, want);
            break;
        }
        st = polca__st_read_f32(f, i, tmp + ti->offset, ti->count);
        if (st) st = polca__wrap(st, "%s: tensor '%s'", fn, ti->name);
    }
    polca__st_close(f);
    if (!st) memcpy(theta, tmp, (size_t)l->n_params * sizeof(float));
    free(tmp);
    return st;
}

int32_t polca_model_save_safetensors(const polca_model *model, const char *path,
                                     const float *theta) {
    static const char *fn = "polca_model_save_safetensors";
    polca__clear_error();
    int32_t st = polca__check_model(model, fn);
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'theta' is NULL", fn);
    const polca__layout *l = &model->layout;
    polca__st_out_tensor *ts = polca__calloc((size_t)l->n_tensors, sizeof *ts, "tensor list");
    if (!ts) return POLCA_ERR_OUT_OF_MEMORY;
    for (int64_t j = 0; j < l->n_tensors; j++) {
        ts[j].name = l->tensors[j].name;
        ts[j].ndim = l->tensors[j].ndim;
        ts[j].shape = l->tensors[j].shape;
        ts[j].data = theta + l->tensors[j].offset;
    }
    const char *kind = model->kind == POLCA__MODEL_TRANSFORMER ? "transformer"
                       : model->kind == POLCA__MODEL_MLP       ? "mlp"
                                                               : "host";
    const char *keys[] = {"format", "polca_model"};
    const char *values[] = {"pt", kind};
    st = polca__st_write_f32(path, l->n_tensors, ts, 2, keys, values);
    free(ts);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}
