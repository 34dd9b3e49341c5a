/*
 * tools/polca/npy.h - reading NumPy .npy files (format 1.0, 2.0, 3.0) with
 * every size checked against the file, and writing small ones.
 *
 * Read: little-endian or byte-order-free dtypes b1, i1, u1, i2, u2, i4, u4,
 * i8, u8, f4, f8; C order (fortran_order True is refused, as are
 * big-endian and object arrays); at most 8 dimensions; the data must be
 * exactly product(shape) elements.
 */
#ifndef POLCA_CLI_NPY_H
#define POLCA_CLI_NPY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NPY_MAX_DIMS 8

typedef struct npy_file {
    char kind;        /* 'b' bool, 'i' signed, 'u' unsigned, 'f' float */
    int item;         /* bytes per element */
    char descr[8];    /* as written, e.g. "<i8" */
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int64_t count;    /* product of shape */
    void *data;       /* count * item bytes, malloc'd */
} npy_file;

/* 0 on success; -1 with a message in err naming the file and the problem
 * (also for a file that cannot be read: errno text). */
int npy_read(const char *path, npy_file *out, char *err, size_t err_len);
void npy_free(npy_file *f);
/* "int64 [3, 4]" */
void npy_describe(const npy_file *f, char *buf, size_t len);
/* Element i as int64 for integer and bool arrays (ok == 0 for floats or a
 * uint64 above INT64_MAX). */
int64_t npy_int(const npy_file *f, int64_t i, int *ok);
/* Element i as double (any kind). */
double npy_double(const npy_file *f, int64_t i);

/* Writes an int32/int64/float32 array (descr "<i4", "<i8", "<f4") to an
 * open stream (the caller publishes the file: tools/polca/output.c). 0, or
 * -1 when a write failed. */
int npy_write(FILE *f, const char *descr, int ndim, const int64_t *shape, const void *data);

/* Opens path for reading when it is a regular file; anything else (a FIFO,
 * a device, a socket, a directory) is refused without blocking. Every
 * reader of the tool opens its files so. NULL with a message in err naming
 * the path. */
FILE *open_regular(const char *path, char *err, size_t err_len);
/* "a FIFO", "a directory", ... for a st_mode. */
const char *file_type_name(unsigned mode);

#endif /* POLCA_CLI_NPY_H */
