/*
 * tests/fake_backend.c - a stand-in CUDA module for the loader's tests on a
 * machine without a GPU. FAKE_BACKEND_MODE picks its behaviour:
 *   "wrong_abi"  entry returns a table of another backend ABI
 *   "null"       entry returns NULL (module built for another core ABI)
 *   "no_device"  table opens with "no usable CUDA device" (like a machine
 *                whose driver sees no GPU)
 *   "long_text"  table opens and describes its device in FAKE_TEXT_LEN
 *                (default 1500) bytes: "CUDA: fake " + 'x'... + " end"; the
 *                context then only asks for that text and closes
 */
#include <stdlib.h>
#include <string.h>

#include "polca/core.h"
#include "backend.h"

static int32_t fake_open(const polca_backend_host *host, void **st, char *text, size_t n) {
    const char *mode = getenv("FAKE_BACKEND_MODE");
    if (mode && strcmp(mode, "long_text") == 0) {
        const char *len_env = getenv("FAKE_TEXT_LEN");
        size_t want = len_env ? (size_t)strtoul(len_env, NULL, 10) : 1500;
        static const char head[] = "CUDA: fake ", tail[] = " end";
        if (want < sizeof head + sizeof tail) want = sizeof head + sizeof tail;
        /* as a backend does: snprintf-like, cut at n - 1 */
        for (size_t i = 0; i + 1 < n && i < want; i++)
            text[i] = i < sizeof head - 1 ? head[i]
                      : i >= want - (sizeof tail - 1) ? tail[i - (want - (sizeof tail - 1))]
                                                       : 'x';
        if (n) text[want < n ? want : n - 1] = 0;
        *st = NULL;
        return POLCA_OK;
    }
    return host->fail(POLCA_ERR_BACKEND_UNAVAILABLE,
                      "no usable CUDA device: simulated by tests/fake_backend.c");
}

static void fake_close(void *st) { (void)st; }

static polca_backend table = {
    .abi = POLCA_BACKEND_ABI, .struct_size = sizeof(polca_backend), .name = "cuda",
    .open = fake_open,
    .close = fake_close,
};

__attribute__((visibility("default"))) const polca_backend *polca_cuda_backend_v1(uint32_t abi) {
    const char *mode = getenv("FAKE_BACKEND_MODE");
    (void)abi;
    if (mode && strcmp(mode, "null") == 0) return NULL;
    table.abi = mode && strcmp(mode, "wrong_abi") == 0 ? 99u : POLCA_BACKEND_ABI;
    return &table;
}
