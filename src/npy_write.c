/* src/npy_write.c - NumPy .npy writer (see npy_write.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fileio.h"
#include "npy_write.h"

struct polca__npy_writer {
    polca__atomic a;
    uint64_t pos;  /* next byte to write */
    uint64_t left; /* elements still expected */
    size_t item;   /* bytes per element */
};

static size_t item_size(const char *dtype) {
    static const struct {
        const char *d;
        size_t s;
    } known[] = {{"<f4", 4}, {"<f8", 8}, {"<i4", 4}, {"<i8", 8}, {"|u1", 1}, {"|b1", 1}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (dtype && strcmp(dtype, known[i].d) == 0) return known[i].s;
    return 0;
}

int32_t polca__npy_begin(const char *path, const char *dtype, int32_t ndim, const int64_t *shape,
                         polca__npy_writer **out) {
    static const char fn[] = "polca__npy_begin";
    size_t item = item_size(dtype);
    if (!path || !path[0] || !out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: 'path' or 'out' is NULL", fn);
    if (!item)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: %s: unsupported dtype '%s'", fn, path,
                           dtype ? dtype : "(null)");
    if (ndim < 0 || ndim > POLCA__NPY_MAX_DIMS || (ndim > 0 && !shape))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: %s: bad ndim %d", fn, path, (int)ndim);
    /* header: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
    char dict[64 + 24 * POLCA__NPY_MAX_DIMS];
    int len =
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype);
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] && count > (UINT64_MAX / 16) / (uint64_t)shape[d]))
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: %s: bad dimension %d (%lld)", fn,
                               path, d, (long long)shape[d]);
        count *= (uint64_t)shape[d];
        len += snprintf(dict + len, sizeof dict - (size_t)len,
                        ndim == 1 ? "%lld,"
                        : d       ? ", %lld"
                                  : "%lld",
                        (long long)shape[d]);
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* magic(6) + version(2) + header length(2) + dict + spaces + '\n', a
     * multiple of 64 bytes (what numpy writes). */
    size_t total = 10 + (size_t)len + 1;
    total = (total + 63) / 64 * 64;
    unsigned char pre[10 + sizeof dict + 64];
    memset(pre, ' ', sizeof pre);
    memcpy(pre, "\x93NUMPY\x01\x00", 8);
    polca__st16(pre + 8, (uint16_t)(total - 10));
    memcpy(pre + 10, dict, (size_t)len);
    pre[total - 1] = '\n';
    polca__npy_writer *w = polca__calloc(1, sizeof *w, "an npy writer");
    if (!w) return POLCA_ERR_OUT_OF_MEMORY;
    w->a.fd = -1;
    int32_t st = polca__atomic_begin(&w->a, path);
    if (!st) st = polca__write_at(w->a.fd, 0, pre, total, w->a.tmp);
    if (st) {
        polca__npy_abort(w);
        return st;
    }
    w->pos = total;
    w->left = count;
    w->item = item;
    *out = w;
    return POLCA_OK;
}

int32_t polca__npy_put(polca__npy_writer *w, const void *data, uint64_t n_elems) {
    if (!w) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__npy_put: NULL writer");
    if (n_elems > w->left || (n_elems && !data))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: %llu elements given, %llu remain to be written", w->a.path,
                           (unsigned long long)n_elems, (unsigned long long)w->left);
    int32_t st = polca__write_at(w->a.fd, w->pos, data, (size_t)(n_elems * w->item), w->a.tmp);
    if (st) return st;
    w->pos += n_elems * w->item;
    w->left -= n_elems;
    return POLCA_OK;
}

int32_t polca__npy_end(polca__npy_writer *w) {
    if (!w) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__npy_end: NULL writer");
    if (w->left) {
        int32_t st = polca__fail(POLCA_ERR_STATE, "%s: %llu elements were never written", w->a.path,
                                 (unsigned long long)w->left);
        polca__npy_abort(w);
        return st;
    }
    int32_t st = polca__atomic_commit(&w->a);
    free(w);
    return st;
}

void polca__npy_abort(polca__npy_writer *w) {
    if (!w) return;
    polca__atomic_abort(&w->a);
    free(w);
}

int32_t polca__npy_write(const char *path, const char *dtype, int32_t ndim, const int64_t *shape,
                         const void *data) {
    polca__npy_writer *w = NULL;
    int32_t st = polca__npy_begin(path, dtype, ndim, shape, &w);
    if (st) return st;
    st = polca__npy_put(w, data, w->left);
    if (st) {
        polca__npy_abort(w);
        return st;
    }
    return polca__npy_end(w);
}
