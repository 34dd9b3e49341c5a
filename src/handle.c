/* src/handle.c - handle checks and allocation helpers. */
#include <stdlib.h>
#include <sys/sysinfo.h>

#include "internal.h"

int32_t polca__check_handle(const void *h, uint32_t magic, const char *fn,
                            const char *arg, const char *type_name) {
    if (h == NULL)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL",
                           fn, arg);
    if (((const polca__head *)h)->magic != magic)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument '%s' is not a live %s (wrong handle type, "
                           "or already destroyed)",
                           fn, arg, type_name);
    return POLCA_OK;
}

int32_t polca__check_same_context(const void *a, const void *b, const char *fn,
                                  const char *arg_a, const char *arg_b) {
    if (((const polca__head *)a)->ctx != ((const polca__head *)b)->ctx)
        return polca__fail(POLCA_ERR_WRONG_CONTEXT,
                           "%s: '%s' and '%s' belong to different contexts", fn,
                           arg_a, arg_b);
    return POLCA_OK;
}

int polca__mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Requests below this size skip the machine check (one syscall). */
#define CHECK_MACHINE_FROM ((size_t)1 << 30)

/* Refuses (with a message naming `what`) a request larger than the machine's
 * RAM plus swap. Where the kernel overcommits without limit, malloc would
 * grant it and the process would be killed when the pages are touched. */
static int fits_machine(size_t bytes, const char *what) {
    struct sysinfo si;
    if (bytes < CHECK_MACHINE_FROM || sysinfo(&si) != 0) return 1;
    double total = ((double)si.totalram + (double)si.totalswap) * si.mem_unit;
    if ((double)bytes <= total) return 1;
    polca__fail(POLCA_ERR_OUT_OF_MEMORY,
                "out of memory: %s needs %zu bytes (%.1f GiB), more than this machine's "
                "%.1f GiB of memory and swap",
                what, bytes, (double)bytes / (1 << 30), total / (1 << 30));
    return 0;
}

void *polca__alloc(size_t bytes, const char *what) {
    if (!fits_machine(bytes, what)) return NULL;
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s",
                    bytes, what);
    return p;
}

void *polca__alloc_aligned(size_t bytes, const char *what) {
    size_t rounded = (bytes + 63) & ~(size_t)63; /* C11 wants a multiple of the alignment */
    if (rounded < bytes) {
        polca__fail(POLCA_ERR_OUT_OF_MEMORY, "size overflow allocating %zu bytes for %s",
                    bytes, what);
        return NULL;
    }
    if (!fits_machine(rounded, what)) return NULL;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p)
        polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s",
                    bytes, what);
    return p;
}

void *polca__calloc(size_t count, size_t size, const char *what) {
    size_t bytes;
    if (!polca__mul_size(count, size, &bytes)) {
        polca__fail(POLCA_ERR_OUT_OF_MEMORY, "size overflow allocating %zu x %zu bytes for %s",
                    count, size, what);
        return NULL;
    }
    if (!fits_machine(bytes, what)) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s",
                    bytes, what);
    return p;
}
