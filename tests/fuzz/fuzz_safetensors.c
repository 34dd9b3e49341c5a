/*
 * tests/fuzz/fuzz_safetensors.c - fuzz harness for the safetensors reader:
 * parse an input, look up metadata, read every tensor of modest size as
 * float32. Built like fuzz_container.c. An accepted file must keep the
 * reader's promises, else abort(): every tensor found by its name at its
 * index (names are unique), inside the file, and the tensors' bytes adding
 * up to at most the file (they tile the data buffer).
 */
#include <stdint.h>
#include <stdlib.h>

#include "safetensors.h"

#define MAX_READ_ELEMS (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    polca__st_file *f = NULL;
    if (polca__st_open_mem(data, size, "fuzz.safetensors", &f) != POLCA_OK) return 0;
    (void)polca__st_metadata(f, "step");
    uint64_t total = 0;
    for (int64_t i = 0; i < polca__st_count(f); i++) {
        const polca__st_tensor *t = polca__st_tensor_at(f, i);
        if (polca__st_find(f, t->name) != i || t->data_offset > size ||
            t->nbytes > size - t->data_offset)
            abort();
        total += t->nbytes;
        if (total > size) abort();
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] && n > (int64_t)MAX_READ_ELEMS / t->shape[d]) {
                n = (int64_t)MAX_READ_ELEMS + 1;
                break;
            }
            n *= t->shape[d];
        }
        if (n > (int64_t)MAX_READ_ELEMS) continue;
        float *buf = malloc((size_t)n * sizeof *buf + 1);
        if (!buf) continue;
        (void)polca__st_read_f32(f, i, buf, n);
        free(buf);
    }
    polca__st_close(f);
    return 0;
}

#ifndef POLCA_LIBFUZZER
#include "replay_main.h"
#endif
