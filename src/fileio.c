/* src/fileio.c - bounds-checked reads and atomic writes (see fileio.h). */
#define _GNU_SOURCE /* O_CLOEXEC, O_DIRECTORY, O_PATH, flock, renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

char *polca__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = polca__alloc(n, "a string copy");
    if (d) memcpy(d, s, n);
    return d;
}

/* What a non-regular file is, for messages. */
static const char *file_type(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    return "not a regular file";
}

/* Opens path without blocking (a FIFO's open(2) waits for a writer
 * forever), refuses anything but a regular file, then makes the descriptor
 * blocking again. */
static int open_regular(const char *path, int flags, struct stat *sb, int32_t *st) {
    int fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        *st = polca__fail(POLCA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, sb) != 0) {
        int e = errno;
        close(fd);
        *st = polca__fail(POLCA_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
        return -1;
    }
    if (!S_ISREG(sb->st_mode)) {
        close(fd);
        *st = polca__fail(POLCA_ERR_IO, "%s: is %s, not a regular file", path,
                          file_type(sb->st_mode));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        *st = polca__fail(POLCA_ERR_IO, "%s: fcntl failed: %s", path, strerror(e));
        return -1;
    }
    *st = POLCA_OK;
    return fd;
}

static int32_t src_open_flags(polca__src *s, const char *path, int flags) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    struct stat sb;
    int32_t st;
    int fd = open_regular(path, flags, &sb, &st);
    if (fd < 0) return st;
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

int32_t polca__src_refresh_size(polca__src *s) {
    if (s->mem || s->fd < 0) return POLCA_OK;
    struct stat sb;
    if (fstat(s->fd, &sb) != 0)
        return polca__fail(POLCA_ERR_IO, "%s: cannot stat: %s", s->name, strerror(errno));
    if ((uint64_t)sb.st_size > s->size) s->size = (uint64_t)sb.st_size;
    return POLCA_OK;
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

/* The directory part of path ("." for a bare name, "/" for "/name"),
 * malloc'd; NULL when out of memory (the error is set). */
static char *directory_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return polca__strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = polca__alloc(n + 1, "a directory name");
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    return dir;
}

int32_t polca__fsync_parent(const char *path) {
    char *dir = directory_of(path);
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

/* Puts tmp at path only if nothing is there. Returns 0 or an errno (EEXIST:
 * something is at path; tmp is then left alone). */
static int place_new(const char *tmp, const char *path) {
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP && errno != EOPNOTSUPP)
        return errno;
#endif
    /* No RENAME_NOREPLACE here (older kernels, NFS): link(2) fails with
     * EEXIST just as atomically; tmp is then a second name to drop. */
    if (link(tmp, path) == 0) {
        unlink(tmp);
        return 0;
    }
    if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS)
        return errno;
    /* No hard links either (some FUSE and FAT file systems): claim the name
     * with an exclusive create, then rename over the claim. A reader that
     * opens the path in between finds an empty file (POLCA_ERR_CORRUPT). */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(path);
        return e;
    }
    return 0;
}

/* Renames tmp over path, unless a writer holds the file there: takes a
 * shared flock on that file (a writer holds an exclusive one), checks that
 * it is still the file at path, and renames while holding the lock, so a
 * writer that holds its lock and has checked that its file is at the path
 * (container.c) keeps it there. Nothing at path: as place_new. */
static int32_t place_replace(const char *tmp, const char *path) {
    for (int attempt = 0; attempt < 100; attempt++) {
        int dfd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (dfd < 0 && errno == ENOENT) {
            int e = place_new(tmp, path);
            if (e == EEXIST) continue; /* created meanwhile: lock that one */
            if (e)
                return polca__fail(POLCA_ERR_IO, "%s: cannot rename '%s' to it: %s", path, tmp,
                                   strerror(e));
            return POLCA_OK;
        }
        /* ELOOP: a symbolic link (the rename replaces the link, not its
         * target), which no writer holds; a file that cannot be opened to
         * check for a writer is not replaced. Not a regular file: no writer
         * of ours holds it either. */
        if (dfd < 0 && errno != ELOOP)
            return polca__fail(POLCA_ERR_IO, "%s: cannot open it to check for a writer before "
                               "replacing it: %s", path, strerror(errno));
        struct stat held, now;
        if (dfd >= 0 && fstat(dfd, &held) == 0 && S_ISREG(held.st_mode)) {
            if (flock(dfd, LOCK_SH | LOCK_NB) != 0) {
                int e = errno;
                close(dfd);
                if (e == EWOULDBLOCK)
                    return polca__fail(POLCA_ERR_STATE,
                                       "%s: a writer holds this file (a series open for "
                                       "appending, in this process or another); not replaced",
                                       path);
                return polca__fail(POLCA_ERR_IO, "%s: cannot lock it to replace it: %s", path,
                                   strerror(e));
            }
            if (stat(path, &now) != 0 || now.st_dev != held.st_dev || now.st_ino != held.st_ino) {
                close(dfd);
                continue; /* replaced or removed meanwhile: start again */
            }
        }
        int r = rename(tmp, path), e = errno;
        if (dfd >= 0) close(dfd);
        if (r != 0)
            return polca__fail(POLCA_ERR_IO, "%s: cannot rename '%s' over it: %s", path, tmp,
                               strerror(e));
        return POLCA_OK;
    }
    return polca__fail(POLCA_ERR_IO, "%s: replaced by others 100 times while this write tried to "
                       "replace it; not replaced", path);
}

int32_t polca__atomic_commit_mode(polca__atomic *a, int no_replace) {
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
    if (no_replace) {
        int e = place_new(a->tmp, a->path);
        if (e == EEXIST)
            st = polca__fail(POLCA_ERR_IO, "%s: already exists; not replaced", a->path);
        else if (e)
            st = polca__fail(POLCA_ERR_IO, "%s: cannot rename '%s' to it: %s", a->path, a->tmp,
                             strerror(e));
    } else {
        st = place_replace(a->tmp, a->path);
    }
    if (st) {
        polca__atomic_abort(a);
        return st;
    }
    free(a->tmp);
    a->tmp = NULL;
    st = polca__fsync_parent(a->path);
    polca__atomic_abort(a);
    return st;
}

int32_t polca__atomic_commit(polca__atomic *a) { return polca__atomic_commit_mode(a, 0); }

int32_t polca__atomic_commit_new(polca__atomic *a) { return polca__atomic_commit_mode(a, 1); }

/* ---- anchors ---- */

int32_t polca__anchor_open(polca__anchor *a, const char *path) {
    a->dirfd = -1;
    a->base = NULL;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: not a file name", path);
    char *dir = directory_of(path);
    if (!dir) return POLCA_ERR_OUT_OF_MEMORY;
#ifdef O_PATH
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
#else
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#endif
    int32_t st = POLCA_OK;
    if (fd < 0)
        st = polca__fail(POLCA_ERR_IO, "%s: cannot open its directory '%s': %s", path, dir,
                         strerror(errno));
    free(dir);
    if (st) return st;
    a->base = polca__strdup(base);
    if (!a->base) {
        close(fd);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    a->dirfd = fd;
    return POLCA_OK;
}

void polca__anchor_close(polca__anchor *a) {
    if (!a) return;
    if (a->dirfd >= 0) close(a->dirfd);
    free(a->base);
    a->dirfd = -1;
    a->base = NULL;
}

int32_t polca__anchor_check(const polca__anchor *a, int fd, const char *name, const char *what) {
    struct stat mine, there;
    if (fstat(fd, &mine) != 0)
        return polca__fail(POLCA_ERR_IO, "%s: cannot stat: %s", name, strerror(errno));
    if (fstatat(a->dirfd, a->base, &there, 0) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return polca__fail(POLCA_ERR_IO, "%s: cannot stat: %s", name, strerror(errno));
        return polca__fail(POLCA_ERR_IO, "%s: replaced or removed (no file is there now) %s",
                           name, what);
    }
    if (there.st_dev != mine.st_dev || there.st_ino != mine.st_ino)
        return polca__fail(POLCA_ERR_IO, "%s: replaced or removed (another file is there now) %s",
                           name, what);
    return POLCA_OK;
}
