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
 *
 * Only regular files are opened: a FIFO, device, socket or directory given
 * as an input is POLCA_ERR_IO naming it, at once (the open itself does not
 * block).
 *
 * Concurrency (docs/format.md 1.5): a writer appending in place holds an
 * exclusive flock on its file. polca__atomic_commit does not replace a file
 * so held (POLCA_ERR_STATE): it takes a shared flock on the file at the
 * destination, checks that it is still the one there, and renames over it
 * while holding the lock. polca__atomic_commit_new never replaces anything
 * (RENAME_NOREPLACE, or link(2)): of several processes creating one path,
 * exactly one succeeds. A writer remembers where its file is
 * (polca__anchor) and checks at each append that it is still there.
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
/* A file source whose file may have grown since it was opened (a series
 * being appended to): takes the file's current size if larger. */
POLCA_INTERNAL int32_t polca__src_refresh_size(polca__src *s);
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
/* fsync, close, rename over the destination, fsync the directory. A file at
 * the destination that a writer holds (an exclusive flock: a series open
 * for appending) is not replaced: POLCA_ERR_STATE naming it. On failure
 * the temporary file is removed. Either way `a` is released. */
POLCA_INTERNAL int32_t polca__atomic_commit(polca__atomic *a);
/* As polca__atomic_commit, but the destination must not exist: anything
 * there (even one created by another process an instant before) makes it
 * fail with POLCA_ERR_IO "<path>: already exists", atomically. */
POLCA_INTERNAL int32_t polca__atomic_commit_new(polca__atomic *a);
/* The two commits in one: no_replace selects polca__atomic_commit_new. */
POLCA_INTERNAL int32_t polca__atomic_commit_mode(polca__atomic *a, int no_replace);
/* Closes and removes the temporary file; safe on a zeroed struct. */
POLCA_INTERNAL void polca__atomic_abort(polca__atomic *a);

/* Where a file was opened: its directory (a descriptor, so a later chdir or
 * a rename of the directory does not matter) and its last path component. */
typedef struct polca__anchor {
    int dirfd; /* -1 when none */
    char *base;
} polca__anchor;

/* Anchors path (a zeroed or closed anchor may be reused). */
POLCA_INTERNAL int32_t polca__anchor_open(polca__anchor *a, const char *path);
/* Safe on a zeroed or closed anchor (with dirfd -1). */
POLCA_INTERNAL void polca__anchor_close(polca__anchor *a);
/* POLCA_OK when the file open as fd is the one at the anchored path now;
 * POLCA_ERR_IO "<name>: replaced or removed ... <what>" when another file
 * is there or none. */
POLCA_INTERNAL int32_t polca__anchor_check(const polca__anchor *a, int fd, const char *name,
                                           const char *what);

/* A copy of s (malloc), or NULL with POLCA_ERR_OUT_OF_MEMORY recorded. */
POLCA_INTERNAL char *polca__strdup(const char *s);

#endif /* POLCA_FILEIO_H */
