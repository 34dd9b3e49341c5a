/*
 * tests/fake_backend.c - a stand-in CUDA module for the loader's tests on a
 * machine without a GPU. FAKE_BACKEND_MODE picks its behaviour:
 *   "wrong_abi"  entry returns a table of another backend ABI
 *   "null"       entry returns NULL (module built for another core ABI)
 *   "no_device"  table opens with "no usable CUDA device" (like a machine
 *                whose driver sees no GPU)
 */
#include <stdlib.h>
#include <string.h>

#include "polca/core.h"
#include "backend.h"

static int32_t fake_open(const polca_backend_host *host, void **st, char *text, size_t n) {
    (void)st;
    (void)text;
    (void)n;
    return host->fail(POLCA_ERR_BACKEND_UNAVAILABLE,
                      "no usable CUDA device: simulated by tests/fake_backend.c");
}

static polca_backend table = {
    .abi = POLCA_BACKEND_ABI, .struct_size = sizeof(polca_backend), .name = "cuda",
    .open = fake_open,
};

__attribute__((visibility("default"))) const polca_backend *polca_cuda_backend_v1(uint32_t abi) {
    const char *mode = getenv("FAKE_BACKEND_MODE");
    (void)abi;
    if (mode && strcmp(mode, "null") == 0) return NULL;
    table.abi = mode && strcmp(mode, "wrong_abi") == 0 ? 99u : POLCA_BACKEND_ABI;
    return &table;
}
