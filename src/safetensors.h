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
 * (the format's limit), UTF-8, each tensor entry with "dtype", "shape" and
 * "data_offsets" (unknown keys inside an entry are skipped), an optional
 * "__metadata__" object of string values. Offsets must lie inside the data
 * buffer and match dtype x shape; duplicate names are corrupt. Overlapping
 * or non-contiguous offsets are accepted (they are harmless to a reader).
 * Tensors with more than POLCA__ST_MAX_DIMS dimensions or a dtype name longer
 * than 7 bytes give POLCA_ERR_UNSUPPORTED. */
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
 * dst[count]; count must equal the tensor's element count. */
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
