/*
 * src/pending_safetensors.c - stands in for src/safetensors.c (branch
 * `files`) until that branch is merged into this one; the merge deletes this
 * file. Opening and writing report POLCA_ERR_UNSUPPORTED, so the model's
 * safetensors load/save say the format is not in this build.
 */
#include "safetensors.h"

static int32_t absent(void) {
    return polca__fail(POLCA_ERR_UNSUPPORTED,
                       "safetensors files are not supported by this build of libpolca");
}

int32_t polca__st_open(const char *path, polca__st_file **out) {
    (void)path;
    (void)out;
    return absent();
}

void polca__st_close(polca__st_file *f) { (void)f; }

int64_t polca__st_count(const polca__st_file *f) {
    (void)f;
    return 0;
}

const polca__st_tensor *polca__st_tensor_at(const polca__st_file *f, int64_t i) {
    (void)f;
    (void)i;
    return NULL;
}

int64_t polca__st_find(const polca__st_file *f, const char *name) {
    (void)f;
    (void)name;
    return -1;
}

int32_t polca__st_read_f32(polca__st_file *f, int64_t i, float *dst, int64_t count) {
    (void)f;
    (void)i;
    (void)dst;
    (void)count;
    return absent();
}

int32_t polca__st_write_f32(const char *path, int64_t n_tensors,
                            const polca__st_out_tensor *tensors, int64_t n_meta,
                            const char *const *meta_keys, const char *const *meta_values) {
    (void)path;
    (void)n_tensors;
    (void)tensors;
    (void)n_meta;
    (void)meta_keys;
    (void)meta_values;
    return absent();
}
