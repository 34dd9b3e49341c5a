/*
 * src/precond.h - lossless preconditioning of numeric payloads before zstd.
 * Private.
 *
 * Arrays of n elements of s bytes (s in 1, 2, 4, 8) are turned into bytes
 * that compress better, and back, bit-exactly:
 *   delta  POLCA__PRE_XOR: e[i] = x[i] ^ r[i] against a reference array r
 *          (the previous checkpoint): unchanged sign, exponent and high
 *          mantissa bits become zero bits.
 *          POLCA__PRE_SUB: e[i] = zigzag(x[i] - r[i]), the difference of the
 *          raw bit patterns as s-byte unsigned integers (mod 2^(8s)), zigzag
 *          mapped (0, -1, 1, -2 -> 0, 1, 2, 3) so small moves in either
 *          direction give small numbers, even across a power of two where
 *          XOR flips many bits.
 *   shuffle POLCA__PRE_SHUFFLE: byte planes, out[b*n + i] = e[i] byte b
 *          (little-endian), so the nearly constant high bytes of all
 *          elements sit together.
 * The delta is applied first, the shuffle second; decoding undoes them in one
 * pass (vectorized for s = 4, the float32 case).
 */
#ifndef POLCA_PRECOND_H
#define POLCA_PRECOND_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define POLCA__PRE_SHUFFLE 1u
#define POLCA__PRE_XOR 2u
#define POLCA__PRE_SUB 4u
#define POLCA__PRE_ALL 7u /* mask of the bits this version knows */

/* 1 when mode is a known combination (XOR and SUB exclude each other). */
POLCA_INTERNAL int polca__pre_valid(unsigned mode);
/* dst[n*s] = precondition(src[n*s]); ref[n*s] is read when mode has a delta
 * (else may be NULL). dst must not overlap src or ref. */
POLCA_INTERNAL void polca__pre_encode(unsigned char *dst, const void *src, const void *ref,
                                      size_t n, size_t s, unsigned mode);
/* dst[n*s] = the inverse of polca__pre_encode on src[n*s]. dst may be the
 * same array as ref (in-place update of the reference), never overlap src. */
POLCA_INTERNAL void polca__pre_decode(void *dst, const unsigned char *src, const void *ref,
                                      size_t n, size_t s, unsigned mode);

#endif /* POLCA_PRECOND_H */
