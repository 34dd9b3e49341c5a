/*
 * tests/npy.h - reads .npy fixture files (numpy format 1.0/2.0, C order,
 * little-endian) for tests. Test-only; the library's own .npy export lives in
 * src/.
 *
 *   npy_array a;
 *   if (npy_load("tests/fixtures/x.npy", &a)) { ... a.dtype "<f4", a.shape, a.data ... }
 *   npy_free(&a);
 *
 * Helpers npy_as_double()/npy_as_float() return a malloc'd converted copy.
 */
#ifndef POLCA_TEST_NPY_H
#define POLCA_TEST_NPY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct npy_array {
    char dtype[8]; /* "<f4", "<f8", "<i4", "<i8", "|u1", "|b1" */
    int ndim;
    int64_t shape[8];
    int64_t count; /* product of shape */
    size_t item;   /* bytes per element */
    void *data;
} npy_array;

/* Returns 1 on success; prints why on failure (tests may print). */
static inline int npy_load(const char *path, npy_array *a) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("  npy_load: cannot open %s\n", path);
        return 0;
    }
    unsigned char pre[10];
    int ok = fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0;
    size_t hlen = 0;
    if (ok && pre[6] == 1) {
        hlen = pre[8] | (pre[9] << 8);
    } else if (ok && (pre[6] == 2 || pre[6] == 3)) {
        unsigned char ext[2];
        ok = fread(ext, 1, 2, f) == 2;
        hlen = pre[8] | (pre[9] << 8) | ((size_t)ext[0] << 16) | ((size_t)ext[1] << 24);
    } else {
        ok = 0;
    }
    char *h = ok && hlen < 65536 ? calloc(1, hlen + 1) : NULL;
    ok = h && fread(h, 1, hlen, f) == hlen;
    const char *d = ok ? strstr(h, "'descr': '") : NULL;
    const char *s = ok ? strstr(h, "'shape': (") : NULL;
    if (!d || !s || strstr(h, "'fortran_order': True")) {
        printf("  npy_load: %s: unsupported header\n", path);
        free(h);
        fclose(f);
        return 0;
    }
    d += 10;
    size_t dl = strcspn(d, "'");
    if (dl >= sizeof a->dtype) dl = sizeof a->dtype - 1;
    memcpy(a->dtype, d, dl);
    a->item = (size_t)atoi(a->dtype + 2);
    s += 10;
    a->count = 1;
    while (*s && *s != ')' && a->ndim < 8) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s) break;
        a->shape[a->ndim++] = v;
        a->count *= v;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    free(h);
    a->data = malloc(a->count * a->item + 1);
    ok = a->data && fread(a->data, a->item, (size_t)a->count, f) == (size_t)a->count;
    fclose(f);
    if (!ok) {
        printf("  npy_load: %s: short data\n", path);
        free(a->data);
        a->data = NULL;
    }
    return ok;
}

static inline void npy_free(npy_array *a) {
    free(a->data);
    a->data = NULL;
}

static inline double npy_get(const npy_array *a, int64_t i) {
    const char *t = a->dtype;
    if (!strcmp(t, "<f4")) return ((const float *)a->data)[i];
    if (!strcmp(t, "<f8")) return ((const double *)a->data)[i];
    if (!strcmp(t, "<i4")) return ((const int32_t *)a->data)[i];
    if (!strcmp(t, "<i8")) return (double)((const int64_t *)a->data)[i];
    return ((const uint8_t *)a->data)[i];
}

static inline double *npy_as_double(const npy_array *a) {
    double *out = malloc((size_t)a->count * sizeof *out + 1);
    for (int64_t i = 0; out && i < a->count; i++) out[i] = npy_get(a, i);
    return out;
}

static inline float *npy_as_float(const npy_array *a) {
    float *out = malloc((size_t)a->count * sizeof *out + 1);
    for (int64_t i = 0; out && i < a->count; i++) out[i] = (float)npy_get(a, i);
    return out;
}

#endif
