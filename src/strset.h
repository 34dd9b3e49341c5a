/*
 * src/strset.h - a hash set of strings that live elsewhere: it stores the
 * indices of the strings in the caller's array, and the caller says how to
 * get string i back. Used for the duplicate-name checks and name lookups of
 * safetensors headers and parameter layouts, so that n names cost O(n), not
 * O(n^2). Private. Implemented in src/strset.c.
 *
 * Open addressing with linear probing, at most half full. Names are hashed
 * with SipHash-1-3 under a key drawn per set (clock and address bits), so a
 * crafted file cannot choose names that all collide. Each slot holds 32
 * bits of the hash beside the index, so rehashing never needs the strings
 * and most probes never touch them.
 */
#ifndef POLCA_STRSET_H
#define POLCA_STRSET_H

#include <stdint.h>

#include "internal.h"

/* String number i of the caller's array (NUL-terminated). */
typedef const char *(*polca__strset_key_fn)(const void *ctx, int64_t i);

typedef struct polca__strset {
    uint64_t *slots; /* [cap]: 0 empty, else hash32 << 32 | (index + 1) */
    uint64_t cap;    /* 0 or a power of two */
    int64_t n;
    uint64_t k0, k1; /* SipHash key, drawn when the first slot array is made */
} polca__strset;

/* Largest index a set can hold. */
#define POLCA__STRSET_MAX_INDEX ((int64_t)UINT32_MAX - 2)

POLCA_INTERNAL void polca__strset_init(polca__strset *s);
POLCA_INTERNAL void polca__strset_free(polca__strset *s);
/* The index of a string equal to key, or -1. */
POLCA_INTERNAL int64_t polca__strset_find(const polca__strset *s, const char *key,
                                          polca__strset_key_fn fn, const void *ctx);
/* Adds index i, whose string is key. When a string equal to key is in the
 * set already, adds nothing and sets *dup to its index; else *dup = -1.
 * POLCA_ERR_OUT_OF_MEMORY when the slot array cannot grow (message set);
 * POLCA_ERR_INVALID_ARGUMENT for i outside 0..POLCA__STRSET_MAX_INDEX. */
POLCA_INTERNAL int32_t polca__strset_add(polca__strset *s, const char *key, int64_t i,
                                         polca__strset_key_fn fn, const void *ctx, int64_t *dup);
/* dst = a copy of src (dst is overwritten, not freed). */
POLCA_INTERNAL int32_t polca__strset_copy(polca__strset *dst, const polca__strset *src);

#endif /* POLCA_STRSET_H */
