/*
 * src/npy_write.h - writing NumPy .npy files (format 1.0: the header of at
 * most 8 dimensions always fits), C order, little-endian, atomically: a temporary file
 * beside the path, fsync, rename. Private; checkpoint, trajectory and label
 * exports go through it, so numpy.load reads them directly.
 *
 * dtype: a NumPy descr string: "<f4", "<f8", "<i4", "<i8", "|u1" or "|b1".
 * shape: [ndim] non-negative, ndim 0..8 (0 = a scalar, one element).
 */
#ifndef POLCA_NPY_WRITE_H
#define POLCA_NPY_WRITE_H

#include <stdint.h>

#include "internal.h"

#define POLCA__NPY_MAX_DIMS 8

/* The whole array at once: data holds product(shape) elements. */
POLCA_INTERNAL int32_t polca__npy_write(const char *path, const char *dtype, int32_t ndim,
                                        const int64_t *shape, const void *data);

/* Streaming, for arrays produced in pieces (trajectories [K][N][T+1] one
 * slice at a time): begin, put the elements in C order in any number of
 * calls, end (which checks that exactly product(shape) elements came, then
 * fsyncs and renames). abort (or a failed call) removes the temporary file;
 * the destination is never touched before end succeeds. */
typedef struct polca__npy_writer polca__npy_writer;
POLCA_INTERNAL int32_t polca__npy_begin(const char *path, const char *dtype, int32_t ndim,
                                        const int64_t *shape, polca__npy_writer **out);
POLCA_INTERNAL int32_t polca__npy_put(polca__npy_writer *w, const void *data, uint64_t n_elems);
/* Commits and frees w (also on failure). */
POLCA_INTERNAL int32_t polca__npy_end(polca__npy_writer *w);
/* Removes the temporary file and frees w; NULL is a no-op. */
POLCA_INTERNAL void polca__npy_abort(polca__npy_writer *w);

#endif /* POLCA_NPY_WRITE_H */
