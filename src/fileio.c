/* src/fileio.c - bounds-checked reads and atomic writes (see fileio.h). */
#define _GNU_SOURCE /* O_CLOEXEC, O_DIRECTORY */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

char *polca__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = polca__alloc(n, "a string copy");
    if (d) memcpy(d, s, n);
    return d;
}

static int32_t src_open_flags(polca__src *s, const char *path, int flags) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return polca__fail(POLCA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return polca__fail(POLCA_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return polca__fail(POLCA_ERR_IO, "%s: not a regular file", path);
    }
    s->name = polca__strdup(path);
    if (!s->name) {
        close(fd);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    s->fd = fd;
    s->size = (uint64_t)sb.st_size;
    return POLCA_OK;
}

int32_t polca__src_open(polca__src *s, const char *path) {
    return src_open_flags(s, path, O_RDONLY);
}

int32_t polca__src_open_rw(polca__src *s, const char *path) {
    return src_open_flags(s, path, O_RDWR);
}

int32_t polca__src_mem(polca__src *s, const void *data, size_t size, const char *name) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->name = polca__strdup(name ? name : "(memory)");
    if (!s->name) return POLCA_ERR_OUT_OF_MEMORY;
    s->mem = data;
    s->size = size;
    return POLCA_OK;
}

void polca__src_close(polca__src *s) {
    if (!s) return;
    if (s->fd >= 0 && !s->mem) close(s->fd);
    free(s->name);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

int32_t polca__src_read(const polca__src *s, uint64_t off, void *buf, size_t n, const char *what) {
    if (off > s->size || n > s->size - off)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "%s: byte %llu: %s needs %llu bytes but the file ends at byte %llu",
                           s->name, (unsigned long long)off, what, (unsigned long long)n,
                           (unsigned long long)s->size);
    if (n == 0) return POLCA_OK;
    if (s->mem) {
        memcpy(buf, s->mem + off, n);
        return POLCA_OK;
    }
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(s->fd, p + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return polca__fail(POLCA_ERR_IO, "%s: byte %llu: reading %s: %s", s->name,
                               (unsigned long long)(off + done), what, strerror(errno));
        if (r == 0)
            return polca__fail(POLCA_ERR_IO,
                               "%s: byte %llu: reading %s: the file shrank while open", s->name,
                               (unsigned long long)(off + done), what);
        done += (size_t)r;
    }
    return POLCA_OK;
}

int32_t polca__write_at(int fd, uint64_t off, const void *buf, size_t n, const char *path) {
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > (1u << 30) ? (1u << 30) : n - done;
        ssize_t w = pwrite(fd, p + done, chunk, (off_t)(off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return polca__fail(POLCA_ERR_IO, "%s: byte %llu: write failed: %s", path,
                               (unsigned long long)(off + done),
                               w < 0 ? strerror(errno) : "no progress");
        done += (size_t)w;
    }
    return POLCA_OK;
}

int32_t polca__fsync(int fd, const char *path) {
    int r;
    do {
        r = fsync(fd);
    } while (r != 0 && errno == EINTR);
    if (r != 0) return polca__fail(POLCA_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    return POLCA_OK;
}

int32_t polca__fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = polca__strdup(".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = polca__alloc(n + 1, "a directory name");
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = 0;
        }
    }
    if (!dir) return POLCA_ERR_OUT_OF_MEMORY;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int32_t st = polca__fail(POLCA_ERR_IO, "%s: cannot open its directory '%s': %s", path, dir,
                                 strerror(errno));
        free(dir);
        return st;
    }
    /* Some file systems refuse fsync on a directory (EINVAL); the rename is
     * then as durable as that file system makes it. */
    int r;
    do {
        r = fsync(fd);
    } while (r != 0 && errno == EINTR);
    int e = errno;
    close(fd);
    int32_t st = POLCA_OK;
    if (r != 0 && e != EINVAL && e != EROFS)
        st = polca__fail(POLCA_ERR_IO, "%s: fsync of directory '%s' failed: %s", path, dir,
                         strerror(e));
    free(dir);
    return st;
}

void polca__atomic_abort(polca__atomic *a) {
    if (!a) return;
    if (a->fd >= 0) close(a->fd);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    a->fd = -1;
    a->tmp = a->path = NULL;
}

int32_t polca__atomic_begin(polca__atomic *a, const char *path) {
    static _Thread_local unsigned counter;
    a->fd = -1;
    a->tmp = NULL;
    a->path = polca__strdup(path);
    if (!a->path) return POLCA_ERR_OUT_OF_MEMORY;
    size_t n = strlen(path) + 64;
    a->tmp = polca__alloc(n, "a temporary file name");
    if (!a->tmp) {
        polca__atomic_abort(a);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(a->tmp, n, "%s.tmp-%ld-%u", path, (long)getpid(), counter++);
        a->fd = open(a->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (a->fd >= 0) return POLCA_OK;
        if (errno != EEXIST) break;
    }
    int32_t st = polca__fail(POLCA_ERR_IO, "%s: cannot create temporary file '%s': %s", path,
                             a->tmp, strerror(errno));
    free(a->tmp);
    a->tmp = NULL; /* nothing was created: do not unlink someone else's file */
    polca__atomic_abort(a);
    return st;
}

int32_t polca__atomic_commit(polca__atomic *a) {
    int32_t st = polca__fsync(a->fd, a->tmp);
    if (st != POLCA_OK) {
        polca__atomic_abort(a);
        return st;
    }
    int r = close(a->fd);
    a->fd = -1;
    if (r != 0) {
        st = polca__fail(POLCA_ERR_IO, "%s: close failed: %s", a->tmp, strerror(errno));
        polca__atomic_abort(a);
        return st;
    }
    if (rename(a->tmp, a->path) != 0) {
        st = polca__fail(POLCA_ERR_IO, "%s: cannot rename '%s' over it: %s", a->path, a->tmp,
                         strerror(errno));
        polca__atomic_abort(a);
        return st;
    }
    free(a->tmp);
    a->tmp = NULL;
    st = polca__fsync_parent(a->path);
    polca__atomic_abort(a);
    return st;
}
