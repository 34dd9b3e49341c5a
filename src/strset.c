/* src/strset.c - hash set of strings held by index (see strset.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strset.h"

/* ---- SipHash-1-3 (Aumasson and Bernstein; one compression round, three
 * finalization rounds, as Rust's std HashMap uses) ---- */

static uint64_t rotl(uint64_t x, int b) { return x << b | x >> (64 - b); }

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

static uint64_t siphash13(const unsigned char *in, size_t len, uint64_t k0, uint64_t k1) {
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1,
             v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = len - len % 8;
    for (size_t at = 0; at < whole; at += 8) {
        uint64_t m = 0;
        for (int i = 0; i < 8; i++) m |= (uint64_t)in[at + (size_t)i] << (8 * i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++) b |= (uint64_t)in[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t splitmix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A key no file can know in advance: the clock in nanoseconds and address
 * bits (ASLR). Lookups do not depend on it, only the slot order does. */
static void draw_key(polca__strset *s) {
    struct timespec t = {0, 0};
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t seed = (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
    seed ^= (uint64_t)(uintptr_t)s * 0x2545f4914f6cdd1dULL;
    seed ^= (uint64_t)(uintptr_t)&t << 21;
    s->k0 = splitmix(seed);
    s->k1 = splitmix(s->k0 ^ (uint64_t)(uintptr_t)&draw_key);
}

static uint32_t tag_of(const polca__strset *s, const char *key) {
    return (uint32_t)siphash13((const unsigned char *)key, strlen(key), s->k0, s->k1);
}

void polca__strset_init(polca__strset *s) { memset(s, 0, sizeof *s); }

void polca__strset_free(polca__strset *s) {
    free(s->slots);
    polca__strset_init(s);
}

int64_t polca__strset_find(const polca__strset *s, const char *key, polca__strset_key_fn fn,
                           const void *ctx) {
    if (!s->cap) return -1;
    uint32_t tag = tag_of(s, key);
    uint64_t mask = s->cap - 1;
    for (uint64_t p = tag & mask;; p = (p + 1) & mask) {
        uint64_t v = s->slots[p];
        if (!v) return -1;
        if ((uint32_t)(v >> 32) == tag) {
            int64_t i = (int64_t)(uint32_t)v - 1;
            if (strcmp(fn(ctx, i), key) == 0) return i;
        }
    }
}

static void place(uint64_t *slots, uint64_t mask, uint64_t v) {
    uint64_t p = (uint32_t)(v >> 32) & mask;
    while (slots[p]) p = (p + 1) & mask;
    slots[p] = v;
}

static int32_t grow(polca__strset *s) {
    uint64_t nc = s->cap ? s->cap * 2 : 16;
    size_t bytes;
    if (!polca__mul_size((size_t)nc, sizeof(uint64_t), &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "too many names for a name index");
    uint64_t *slots = polca__calloc((size_t)nc, sizeof(uint64_t), "a name index");
    if (!slots) return POLCA_ERR_OUT_OF_MEMORY;
    if (!s->cap) draw_key(s);
    for (uint64_t p = 0; p < s->cap; p++)
        if (s->slots[p]) place(slots, nc - 1, s->slots[p]);
    free(s->slots);
    s->slots = slots;
    s->cap = nc;
    return POLCA_OK;
}

int32_t polca__strset_add(polca__strset *s, const char *key, int64_t i, polca__strset_key_fn fn,
                          const void *ctx, int64_t *dup) {
    *dup = -1;
    if (i < 0 || i > POLCA__STRSET_MAX_INDEX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "name index %lld out of range",
                           (long long)i);
    int32_t st;
    if ((uint64_t)(s->n + 1) * 2 > s->cap && (st = grow(s))) return st;
    uint32_t tag = tag_of(s, key);
    uint64_t mask = s->cap - 1, p = tag & mask;
    for (; s->slots[p]; p = (p + 1) & mask) {
        uint64_t v = s->slots[p];
        if ((uint32_t)(v >> 32) == tag) {
            int64_t j = (int64_t)(uint32_t)v - 1;
            if (strcmp(fn(ctx, j), key) == 0) {
                *dup = j;
                return POLCA_OK;
            }
        }
    }
    s->slots[p] = (uint64_t)tag << 32 | (uint64_t)(i + 1);
    s->n++;
    return POLCA_OK;
}

int32_t polca__strset_copy(polca__strset *dst, const polca__strset *src) {
    polca__strset_init(dst);
    if (!src->cap) return POLCA_OK;
    dst->slots = polca__calloc((size_t)src->cap, sizeof(uint64_t), "a name index copy");
    if (!dst->slots) return POLCA_ERR_OUT_OF_MEMORY;
    memcpy(dst->slots, src->slots, (size_t)src->cap * sizeof(uint64_t));
    dst->cap = src->cap;
    dst->n = src->n;
    dst->k0 = src->k0;
    dst->k1 = src->k1;
    return POLCA_OK;
}
