/* src/layout.c - parameter layouts (see layout.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

void polca__layout_init(polca__layout *l) { memset(l, 0, sizeof *l); }

void polca__layout_free(polca__layout *l) {
    free(l->tensors);
    polca__strset_free(&l->names);
    polca__layout_init(l);
}

static uint64_t fnv_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(v >> (8 * i));
    return fnv_bytes(h, le, 8);
}

uint64_t polca__layout_hash(const polca__layout *l) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv_u64(h, (uint64_t)l->n_tensors);
    for (int64_t i = 0; i < l->n_tensors; i++) {
        const polca__tensor_info *t = &l->tensors[i];
        h = fnv_bytes(h, t->name, strlen(t->name) + 1);
        h = fnv_u64(h, (uint64_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) h = fnv_u64(h, (uint64_t)t->shape[d]);
        h = fnv_u64(h, (uint64_t)t->offset);
    }
    return h;
}

static const char *name_at(const void *ctx, int64_t i) {
    return ((const polca__layout *)ctx)->tensors[i].name;
}

int64_t polca__layout_find(const polca__layout *l, const char *name) {
    return polca__strset_find(&l->names, name, name_at, l);
}

int32_t polca__layout_append(polca__layout *l, const char *name, int32_t ndim,
                             const int64_t *shape) {
    if (!name || !name[0] || strlen(name) > POLCA_LAYOUT_NAME_MAX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "tensor name must be 1..%d bytes", POLCA_LAYOUT_NAME_MAX);
    if (ndim < 0 || ndim > POLCA_LAYOUT_MAX_DIMS)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "tensor '%s': %d dimensions (at most %d)",
                           name, (int)ndim, POLCA_LAYOUT_MAX_DIMS);
    if (polca__layout_find(l, name) >= 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "tensor '%s' appears twice", name);
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0 || count > INT64_MAX / shape[d])
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "tensor '%s': dimension %d is %lld", name, d, (long long)shape[d]);
        count *= shape[d];
    }
    if (l->n_params > INT64_MAX - count)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "layout too large at tensor '%s'", name);
    if (l->n_tensors == l->cap) {
        int64_t nc = l->cap ? 2 * l->cap : 16;
        size_t bytes;
        if (!polca__mul_size((size_t)nc, sizeof *l->tensors, &bytes))
            return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "layout too large at tensor '%s'", name);
        polca__tensor_info *grown = realloc(l->tensors, bytes);
        if (!grown) return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory growing a layout");
        l->tensors = grown;
        l->cap = nc;
    }
    int64_t dup;
    int32_t st = polca__strset_add(&l->names, name, l->n_tensors, name_at, l, &dup);
    if (st) return st;
    polca__tensor_info *t = &l->tensors[l->n_tensors++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->offset = l->n_params;
    t->count = count;
    l->n_params += count;
    return POLCA_OK;
}

void polca__layout_rehash(polca__layout *l) { l->hash = polca__layout_hash(l); }

int32_t polca__layout_add(polca__layout *l, const char *name, int32_t ndim,
                          const int64_t *shape) {
    int32_t st = polca__layout_append(l, name, ndim, shape);
    if (st == POLCA_OK) polca__layout_rehash(l);
    return st;
}

int32_t polca__layout_copy(polca__layout *dst, const polca__layout *src) {
    polca__layout_init(dst);
    size_t bytes = (size_t)src->n_tensors * sizeof *src->tensors;
    dst->tensors = polca__alloc(bytes, "layout copy");
    if (!dst->tensors) return POLCA_ERR_OUT_OF_MEMORY;
    if (bytes) memcpy(dst->tensors, src->tensors, bytes);
    int32_t st = polca__strset_copy(&dst->names, &src->names);
    if (st) {
        free(dst->tensors);
        polca__layout_init(dst);
        return st;
    }
    dst->n_tensors = dst->cap = src->n_tensors;
    dst->n_params = src->n_params;
    dst->hash = src->hash;
    return POLCA_OK;
}

int polca__layout_equal(const polca__layout *a, const polca__layout *b) {
    if (a->n_tensors != b->n_tensors || a->n_params != b->n_params) return 0;
    for (int64_t i = 0; i < a->n_tensors; i++) {
        const polca__tensor_info *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name, y->name) || x->ndim != y->ndim || x->offset != y->offset) return 0;
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] != y->shape[d]) return 0;
    }
    return 1;
}

/* "'name' [d0,d1]" into buf. */
static void describe_tensor(const polca__tensor_info *t, char *buf, size_t n) {
    int at = snprintf(buf, n, "'%s' [", t->name);
    for (int d = 0; d < t->ndim && at > 0 && (size_t)at < n; d++)
        at += snprintf(buf + at, n - (size_t)at, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    if (at > 0 && (size_t)at < n) snprintf(buf + at, n - (size_t)at, "]");
}

static int same_tensor(const polca__tensor_info *x, const polca__tensor_info *y) {
    if (strcmp(x->name, y->name) || x->ndim != y->ndim) return 0;
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] != y->shape[d]) return 0;
    return 1;
}

int32_t polca__layout_mismatch(const polca__layout *model, const polca__layout *other,
                               const char *fn, const char *what) {
    int64_t n = model->n_tensors < other->n_tensors ? model->n_tensors : other->n_tensors, i = 0;
    while (i < n && same_tensor(&model->tensors[i], &other->tensors[i])) i++;
    char a[POLCA_LAYOUT_NAME_MAX + 64], b[POLCA_LAYOUT_NAME_MAX + 64];
    if (i == n) /* one is a prefix of the other */
        return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                           "%s: the %s' parameter layout is not the model's: the %s has %lld "
                           "tensors, the model %lld (the first %lld agree)",
                           fn, what, what, (long long)other->n_tensors,
                           (long long)model->n_tensors, (long long)n);
    describe_tensor(&other->tensors[i], a, sizeof a);
    describe_tensor(&model->tensors[i], b, sizeof b);
    /* The same tensors in another order: every tensor of one is in the other
     * with its shape, and the counts agree. */
    int reordered = model->n_tensors == other->n_tensors;
    for (int64_t j = 0; reordered && j < other->n_tensors; j++) {
        int64_t k = polca__layout_find(model, other->tensors[j].name);
        reordered = k >= 0 && same_tensor(&model->tensors[k], &other->tensors[j]);
    }
    return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                       "%s: the %s' parameter layout is not the model's: tensor %lld is %s in "
                       "the %s, %s in the model%s",
                       fn, what, (long long)i, a, what, b,
                       reordered ? " (the same tensors in another order: lay the model's "
                                   "parameters out in the series' order, e.g. TorchModel's "
                                   "layout=)"
                                 : "");
}
