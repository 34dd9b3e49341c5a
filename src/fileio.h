/*
 * src/fileio.h - file plumbing shared by every reader and writer. Private.
 *
 * Reading goes through a polca__src: a file or a memory buffer with a size
 * fixed when it was opened, and reads that are bounds-checked against that
 * size before anything is read (a hostile size field becomes
 * POLCA_ERR_CORRUPT naming the file and the byte offset, never a huge read
 * or allocation).
 *
 * Writing a whole file goes through a polca__atomic: a temporary file beside
 * the destination ("<path>.tmp-<pid>-<n>"), written, fsynced, renamed over
 * the destination, and the directory fsynced, so the destination is either
 * the old file or the complete new one, whatever happens in between.
 */
#ifndef POLCA_FILEIO_H
#define POLCA_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef struct polca__src {
    int fd;                   /* -1 for a memory source */
    const unsigned char *mem; /* memory source, borrowed; NULL for a file */
    uint64_t size;            /* bytes, fixed at open */
    char *name;               /* path (or given name) for messages, owned */
} polca__src;

/* Opens path read-only (POLCA_ERR_IO naming the path and the reason). */
POLCA_INTERNAL int32_t polca__src_open(polca__src *s, const char *path);
/* Opens path read-write (for appending in place). */
POLCA_INTERNAL int32_t polca__src_open_rw(polca__src *s, const char *path);
/* A memory source: data[size] is borrowed and must outlive the source. */
POLCA_INTERNAL int32_t polca__src_mem(polca__src *s, const void *data, size_t size,
                                      const char *name);
/* Safe on a zeroed or already closed source. */
POLCA_INTERNAL void polca__src_close(polca__src *s);
/* Reads buf[n] from byte offset off. Fails with POLCA_ERR_CORRUPT
 * "<name>: byte <off>: <what> needs <n> bytes but the file ends at <size>"
 * when [off, off+n) is not inside the source, POLCA_ERR_IO when the read
 * fails (or the file shrank since it was opened). */
POLCA_INTERNAL int32_t polca__src_read(const polca__src *s, uint64_t off, void *buf, size_t n,
                                       const char *what);

/* pwrite of all n bytes at off, retrying short writes and EINTR. */
POLCA_INTERNAL int32_t polca__write_at(int fd, uint64_t off, const void *buf, size_t n,
                                       const char *path);
/* fdatasync-or-fsync with a message naming path. */
POLCA_INTERNAL int32_t polca__fsync(int fd, const char *path);
/* fsyncs the directory that holds path (makes a rename durable). */
POLCA_INTERNAL int32_t polca__fsync_parent(const char *path);

typedef struct polca__atomic {
    int fd;     /* the temporary file, -1 when none */
    char *tmp;  /* its path, owned */
    char *path; /* the destination, owned */
} polca__atomic;

/* Creates the temporary file beside path (mode 0666 minus the umask). */
POLCA_INTERNAL int32_t polca__atomic_begin(polca__atomic *a, const char *path);
/* fsync, close, rename over the destination, fsync the directory. On failure
 * the temporary file is removed. Either way `a` is released. */
POLCA_INTERNAL int32_t polca__atomic_commit(polca__atomic *a);
/* Closes and removes the temporary file; safe on a zeroed struct. */
POLCA_INTERNAL void polca__atomic_abort(polca__atomic *a);

/* A copy of s (malloc), or NULL with POLCA_ERR_OUT_OF_MEMORY recorded. */
POLCA_INTERNAL char *polca__strdup(const char *s);

#endif /* POLCA_FILEIO_H */
