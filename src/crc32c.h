/*
 * src/crc32c.h - CRC-32C (Castagnoli), the checksum of libpolca file headers
 * and record payloads. Private.
 *
 * Standard parameters (reflected polynomial 0x82F63B78, initial value and
 * final xor 0xFFFFFFFF): polca__crc32c(0, "123456789", 9) == 0xE3069283.
 * Uses the SSE4.2 crc32 instruction where the CPU has it, else a
 * slicing-by-8 table; both give the same value.
 */
#ifndef POLCA_CRC32C_H
#define POLCA_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Extends crc (0 to start) over data[n]. */
POLCA_INTERNAL uint32_t polca__crc32c(uint32_t crc, const void *data, size_t n);
/* The portable table version, for tests that compare the two. */
POLCA_INTERNAL uint32_t polca__crc32c_sw(uint32_t crc, const void *data, size_t n);

#endif /* POLCA_CRC32C_H */
