/* src/precond.c - byte-plane shuffle and XOR/difference deltas (precond.h). */
#include <string.h>

#include "bytes.h"
#include "precond.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int polca__pre_valid(unsigned mode) {
    return (mode & ~POLCA__PRE_ALL) == 0 &&
           (mode & (POLCA__PRE_XOR | POLCA__PRE_SUB)) != (POLCA__PRE_XOR | POLCA__PRE_SUB);
}

/* ---- generic element sizes (1, 2, 4, 8 bytes), one element at a time ---- */

static uint64_t load_s(const unsigned char *p, size_t s) {
    uint64_t v = 0;
    memcpy(&v, p, s); /* little-endian host (bytes.h) */
    return v;
}

static void store_s(unsigned char *p, uint64_t v, size_t s) { memcpy(p, &v, s); }

static uint64_t mask_s(size_t s) { return s == 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * s)) - 1; }

static uint64_t delta_s(uint64_t x, uint64_t r, size_t s, unsigned mode) {
    uint64_t m = mask_s(s);
    if (mode & POLCA__PRE_XOR) return x ^ r;
    if (mode & POLCA__PRE_SUB) {
        uint64_t d = (x - r) & m;
        uint64_t neg = (d >> (8 * s - 1)) & 1;
        return ((d << 1) ^ (neg ? m : 0)) & m;
    }
    return x;
}

static uint64_t undelta_s(uint64_t e, uint64_t r, size_t s, unsigned mode) {
    uint64_t m = mask_s(s);
    if (mode & POLCA__PRE_XOR) return e ^ r;
    if (mode & POLCA__PRE_SUB) {
        uint64_t d = (e >> 1) ^ ((e & 1) ? m : 0);
        return (r + d) & m;
    }
    return e;
}

static void encode_generic(unsigned char *dst, const unsigned char *src, const unsigned char *ref,
                           size_t n, size_t s, unsigned mode) {
    for (size_t i = 0; i < n; i++) {
        uint64_t e = delta_s(
            load_s(src + i * s, s),
            (mode & (POLCA__PRE_XOR | POLCA__PRE_SUB)) ? load_s(ref + i * s, s) : 0, s, mode);
        if (mode & POLCA__PRE_SHUFFLE)
            for (size_t b = 0; b < s; b++) dst[b * n + i] = (unsigned char)(e >> (8 * b));
        else
            store_s(dst + i * s, e, s);
    }
}

static void decode_generic(unsigned char *dst, const unsigned char *src, const unsigned char *ref,
                           size_t n, size_t s, unsigned mode) {
    for (size_t i = 0; i < n; i++) {
        uint64_t e = 0;
        if (mode & POLCA__PRE_SHUFFLE)
            for (size_t b = 0; b < s; b++) e |= (uint64_t)src[b * n + i] << (8 * b);
        else
            e = load_s(src + i * s, s);
        uint64_t r = (mode & (POLCA__PRE_XOR | POLCA__PRE_SUB)) ? load_s(ref + i * s, s) : 0;
        store_s(dst + i * s, undelta_s(e, r, s, mode), s);
    }
}

/* ---- float32 (s = 4): the hot path ---- */

static inline uint32_t zz32(uint32_t d) { return (d << 1) ^ (uint32_t)(-(int32_t)(d >> 31)); }
static inline uint32_t unzz32(uint32_t z) { return (z >> 1) ^ (uint32_t)(-(int32_t)(z & 1)); }

static void encode4(unsigned char *restrict dst, const unsigned char *restrict src,
                    const unsigned char *restrict ref, size_t n, unsigned mode) {
    unsigned char *p0 = dst, *p1 = dst + n, *p2 = dst + 2 * n, *p3 = dst + 3 * n;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = polca__ld32(src + 4 * i), e = x;
        if (mode & POLCA__PRE_XOR) e = x ^ polca__ld32(ref + 4 * i);
        if (mode & POLCA__PRE_SUB) e = zz32(x - polca__ld32(ref + 4 * i));
        if (mode & POLCA__PRE_SHUFFLE) {
            p0[i] = (unsigned char)e;
            p1[i] = (unsigned char)(e >> 8);
            p2[i] = (unsigned char)(e >> 16);
            p3[i] = (unsigned char)(e >> 24);
        } else {
            polca__st32(dst + 4 * i, e);
        }
    }
}

/* One element from its encoded form e and reference bits r. */
static inline uint32_t undelta4(uint32_t e, uint32_t r, unsigned mode) {
    if (mode & POLCA__PRE_XOR) return e ^ r;
    if (mode & POLCA__PRE_SUB) return r + unzz32(e);
    return e;
}

static void decode4(unsigned char *dst, const unsigned char *restrict src, const unsigned char *ref,
                    size_t n, unsigned mode) {
    const unsigned char *p0 = src, *p1 = src + n, *p2 = src + 2 * n, *p3 = src + 3 * n;
    const int shuffle = (mode & POLCA__PRE_SHUFFLE) != 0;
    const int xor_ = (mode & POLCA__PRE_XOR) != 0, sub = (mode & POLCA__PRE_SUB) != 0;
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i one = _mm_set1_epi32(1), zero = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i v[4];
        if (shuffle) {
            __m128i a0 = _mm_loadu_si128((const __m128i *)(p0 + i));
            __m128i a1 = _mm_loadu_si128((const __m128i *)(p1 + i));
            __m128i a2 = _mm_loadu_si128((const __m128i *)(p2 + i));
            __m128i a3 = _mm_loadu_si128((const __m128i *)(p3 + i));
            __m128i lo01 = _mm_unpacklo_epi8(a0, a1), hi01 = _mm_unpackhi_epi8(a0, a1);
            __m128i lo23 = _mm_unpacklo_epi8(a2, a3), hi23 = _mm_unpackhi_epi8(a2, a3);
            v[0] = _mm_unpacklo_epi16(lo01, lo23);
            v[1] = _mm_unpackhi_epi16(lo01, lo23);
            v[2] = _mm_unpacklo_epi16(hi01, hi23);
            v[3] = _mm_unpackhi_epi16(hi01, hi23);
        } else {
            for (int k = 0; k < 4; k++)
                v[k] = _mm_loadu_si128((const __m128i *)(src + 4 * i + 16 * k));
        }
        for (int k = 0; k < 4; k++) {
            if (xor_) {
                v[k] =
                    _mm_xor_si128(v[k], _mm_loadu_si128((const __m128i *)(ref + 4 * i + 16 * k)));
            } else if (sub) {
                __m128i d = _mm_xor_si128(_mm_srli_epi32(v[k], 1),
                                          _mm_sub_epi32(zero, _mm_and_si128(v[k], one)));
                v[k] = _mm_add_epi32(_mm_loadu_si128((const __m128i *)(ref + 4 * i + 16 * k)), d);
            }
            _mm_storeu_si128((__m128i *)(dst + 4 * i + 16 * k), v[k]);
        }
    }
#endif
    for (; i < n; i++) {
        uint32_t e = shuffle ? (uint32_t)p0[i] | (uint32_t)p1[i] << 8 | (uint32_t)p2[i] << 16 |
                                   (uint32_t)p3[i] << 24
                             : polca__ld32(src + 4 * i);
        uint32_t r = (xor_ || sub) ? polca__ld32(ref + 4 * i) : 0;
        polca__st32(dst + 4 * i, undelta4(e, r, mode));
    }
}

void polca__pre_encode(unsigned char *dst, const void *src, const void *ref, size_t n, size_t s,
                       unsigned mode) {
    if (s == 4)
        encode4(dst, src, ref, n, mode);
    else
        encode_generic(dst, src, ref, n, s, mode);
}

void polca__pre_decode(void *dst, const unsigned char *src, const void *ref, size_t n, size_t s,
                       unsigned mode) {
    if (s == 4)
        decode4(dst, src, ref, n, mode);
    else
        decode_generic(dst, src, ref, n, s, mode);
}
