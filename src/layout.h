/*
 * src/layout.h - a parameter layout: the named tensors that make up one flat
 * float32 parameter vector (name, shape, offset), and its hash. Private.
 *
 * Models produce one; checkpoint series, bases and files carry one so that
 * vectors from different models are never mixed (POLCA_ERR_LAYOUT_MISMATCH).
 */
#ifndef POLCA_LAYOUT_H
#define POLCA_LAYOUT_H

#include <stdint.h>

#include "internal.h"
#include "strset.h"

#define POLCA_LAYOUT_NAME_MAX 127 /* bytes, without the terminating NUL */
#define POLCA_LAYOUT_MAX_DIMS 4

typedef struct polca__tensor_info {
    char name[POLCA_LAYOUT_NAME_MAX + 1]; /* e.g. "blocks.0.attn.W_Q" */
    int32_t ndim;                         /* 0..POLCA_LAYOUT_MAX_DIMS */
    int64_t shape[POLCA_LAYOUT_MAX_DIMS];
    int64_t offset; /* first element in the flat vector */
    int64_t count;  /* product of shape */
} polca__tensor_info;

typedef struct polca__layout {
    int64_t n_tensors;
    polca__tensor_info *tensors; /* [n_tensors], contiguous, in offset order */
    int64_t n_params;            /* sum of counts */
    uint64_t hash;               /* polca__layout_hash of the above */
    int64_t cap;                 /* room in tensors[] */
    polca__strset names;         /* index of tensors[] by name */
} polca__layout;

/* Empty layout (no tensors). */
POLCA_INTERNAL void polca__layout_init(polca__layout *l);
/* Appends a tensor at offset n_params; checks the name (non-empty, fits,
 * unique: a hash set, O(1)) and the shape (positive dims, no overflow).
 * Updates the hash, which takes O(n_tensors): a reader of n tensors uses
 * polca__layout_append instead. */
POLCA_INTERNAL int32_t polca__layout_add(polca__layout *l, const char *name, int32_t ndim,
                                         const int64_t *shape);
/* polca__layout_add without the hash update (amortized O(1) per tensor):
 * l->hash is stale until polca__layout_rehash(l), which takes O(n). For
 * layouts read from files, where adding n tensors one by one with
 * polca__layout_add would cost O(n^2). */
POLCA_INTERNAL int32_t polca__layout_append(polca__layout *l, const char *name, int32_t ndim,
                                            const int64_t *shape);
POLCA_INTERNAL void polca__layout_rehash(polca__layout *l);
POLCA_INTERNAL int32_t polca__layout_copy(polca__layout *dst, const polca__layout *src);
POLCA_INTERNAL void polca__layout_free(polca__layout *l);
/* Index of a tensor by name, or -1 (a hash lookup). */
POLCA_INTERNAL int64_t polca__layout_find(const polca__layout *l, const char *name);
/* 1 when the two layouts have the same names, shapes and offsets. */
POLCA_INTERNAL int polca__layout_equal(const polca__layout *a, const polca__layout *b);
/* Fails with POLCA_ERR_LAYOUT_MISMATCH, the message naming the first tensor
 * (name and shape) where `other` (a "series", say: `what`) differs from the
 * model's layout, and saying when both hold the same tensors in another
 * order. For layouts that are not polca__layout_equal. */
POLCA_INTERNAL int32_t polca__layout_mismatch(const polca__layout *model,
                                              const polca__layout *other, const char *fn,
                                              const char *what);
/* FNV-1a 64 over every (name, ndim, shape, offset), little-endian; stable
 * across platforms and versions (it is stored in files). */
POLCA_INTERNAL uint64_t polca__layout_hash(const polca__layout *l);

#endif /* POLCA_LAYOUT_H */
