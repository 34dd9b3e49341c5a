/*
 * src/safetensors.h - reading and writing safetensors files (one JSON header,
 * then raw little-endian tensor data). Private; used by model load/save and
 * by checkpoint import. Implemented in src/safetensors.c.
 *
 * Readers bound-check everything in the header against the file size before
 * allocating; hostile files give POLCA_ERR_CORRUPT with the file name and
 * byte offset, never a crash or a huge allocation.
 */
#ifndef POLCA_SAFETENSORS_H
#define POLCA_SAFETENSORS_H

#include <stdint.h>

#include "internal.h"

#define POLCA__ST_MAX_DIMS 8
#define POLCA__ST_MAX_HEADER 100000000 /* bytes: the format's own limit */

typedef struct polca__st_tensor {
    const char *name; /* valid while the file is open */
    char dtype[8];    /* "F32", "F16", "BF16", "F64", "I64", ... */
    int32_t ndim;
    int64_t shape[POLCA__ST_MAX_DIMS];
    uint64_t data_offset; /* absolute byte offset in the file */
    uint64_t nbytes;
} polca__st_tensor;

typedef struct polca__st_file polca__st_file;

/* Opens and parses the header; data is read on demand.
 * The header is a strict JSON object: at most POLCA__ST_MAX_HEADER bytes
 * (the format's limit), UTF-8, each tensor entry with "dtype" (one of the
 * format's: BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16,
 * I32, U32, F32, I64, U64, F64, C64, F4, F6_E2M3, F6_E3M2), "shape" and
 * "data_offsets" (unknown keys inside an entry are skipped), an optional
 * "__metadata__" object of string values. Offsets must match dtype x shape,
 * and, as the reference implementation demands, the tensors sorted by
 * offsets must tile the data buffer: the first begins at 0, each begins
 * where the one before ends, the last ends at the end of the file (no
 * overlap, no hole, no trailing bytes: a truncated or padded file is
 * corrupt). Duplicate names, an unknown dtype or any of the above:
 * POLCA_ERR_CORRUPT naming the file, byte and tensor. Tensors with more than
 * POLCA__ST_MAX_DIMS dimensions give POLCA_ERR_UNSUPPORTED. Time and memory
 * are linear in the header size (names are checked with a hash set). */
POLCA_INTERNAL int32_t polca__st_open(const char *path, polca__st_file **out);
/* The same over a memory buffer data[size], borrowed until polca__st_close;
 * name is used in messages (fuzzing, tests). */
POLCA_INTERNAL int32_t polca__st_open_mem(const void *data, size_t size, const char *name,
                                          polca__st_file **out);
/* The path (or memory name) given at open, for messages. */
POLCA_INTERNAL const char *polca__st_path(const polca__st_file *f);
POLCA_INTERNAL void polca__st_close(polca__st_file *f);
POLCA_INTERNAL int64_t polca__st_count(const polca__st_file *f);
POLCA_INTERNAL const polca__st_tensor *polca__st_tensor_at(const polca__st_file *f, int64_t i);
/* Index of the tensor called name, or -1. */
POLCA_INTERNAL int64_t polca__st_find(const polca__st_file *f, const char *name);
/* Reads tensor i converted to float32 (from F32, F16, BF16 or F64) into
 * dst[count]; count must equal the tensor's element count. A tensor of
 * another dtype: POLCA_ERR_LAYOUT_MISMATCH naming it (the file is valid; it
 * does not hold float data where the caller wants some). */
POLCA_INTERNAL int32_t polca__st_read_f32(polca__st_file *f, int64_t i, float *dst, int64_t count);
/* A string value of the "__metadata__" object, or NULL. */
POLCA_INTERNAL const char *polca__st_metadata(const polca__st_file *f, const char *key);

typedef struct polca__st_out_tensor {
    const char *name;
    int32_t ndim;
    const int64_t *shape;
    const float *data; /* host, float32, product(shape) elements */
} polca__st_out_tensor;

/* Writes F32 tensors (and string metadata) to path atomically: a temporary
 * file beside it, fsync, rename. */
POLCA_INTERNAL int32_t polca__st_write_f32(const char *path, int64_t n_tensors,
                                           const polca__st_out_tensor *tensors, int64_t n_meta,
                                           const char *const *meta_keys,
                                           const char *const *meta_values);

#endif /* POLCA_SAFETENSORS_H */
