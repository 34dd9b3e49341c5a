/*
 * src/bytes.h - little-endian loads and stores for file formats. Private.
 *
 * Every libpolca file is little-endian. The library supports little-endian
 * hosts only (x86-64, AArch64, RISC-V, POWER LE): float32 payloads are copied
 * to and from files without swapping, and this header refuses to compile
 * elsewhere rather than silently writing byte-swapped files.
 */
#ifndef POLCA_BYTES_H
#define POLCA_BYTES_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libpolca supports little-endian hosts only (its files are little-endian)"
#endif

static inline uint16_t polca__ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t polca__ld32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t polca__ld64(const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void polca__st16(void *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void polca__st32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void polca__st64(void *p, uint64_t v) { memcpy(p, &v, 8); }

#endif /* POLCA_BYTES_H */
