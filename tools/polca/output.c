/*
 * tools/polca/output.c - every file a command writes, and Ctrl-C.
 *
 * One path for every output of every command (docs/cli.md, "Output
 * files"):
 *  1. a temporary file beside the destination, created exclusively
 *     (O_CREAT | O_EXCL | O_NOFOLLOW), hidden (".NAME.polca-tmp-PID-N");
 *     the tool writes it through a stream (cli_output_open), or libpolca
 *     writes that path (cli_output_stage: the library's own atomic save
 *     lands on the temporary name, never on the destination);
 *  2. every write checked (the stream's error flag, fflush, fsync, fclose);
 *  3. published under the final name, which is never followed if it is a
 *     symlink: without --overwrite by renameat2(RENAME_NOREPLACE), or where
 *     the file system lacks it by link(2) then unlink of the temporary name,
 *     both of which fail when the name exists, so neither an existing file
 *     nor one another process creates meanwhile is replaced; with
 *     --overwrite by rename(2), which replaces the name itself (a symlink
 *     there is replaced, its target is untouched);
 *  4. the directory fsynced.
 * On any failure, and when Ctrl-C came before step 3, the temporary files
 * are removed and no destination is touched. A command's outputs are
 * published together (cli_outputs_commit): if one of them cannot be, those
 * of this command already published without --overwrite are removed again,
 * so without --overwrite a command leaves all its outputs or none.
 *
 * Ctrl-C: the first sets a flag; the running libpolca call sees it at its
 * next progress report and returns POLCA_ERR_CANCELLED, and the publish
 * step refuses; the command then exits 130. A second Ctrl-C ends the
 * process at once (exit 130), after removing the temporary files it knows
 * of (a libpolca save in flight may leave its own "*.tmp-PID-N" file).
 */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include "cli.h"
#include "npy.h" /* file_type_name */

/* ---- Ctrl-C ---- */

static volatile sig_atomic_t g_interrupted;
static int g_sigint_installed;

/* The temporary files that exist now, for the second Ctrl-C. A slot's path
 * is written before the slot is marked used, and the mark cleared before
 * the path changes. */
#define MAX_TMP 32
static char g_tmp_path[MAX_TMP][PATH_MAX];
static volatile sig_atomic_t g_tmp_used[MAX_TMP];

static void on_sigint(int sig) {
    (void)sig;
    if (!g_interrupted) {
        g_interrupted = 1; /* the next progress report cancels the running call */
        return;
    }
    for (int i = 0; i < MAX_TMP; i++)
        if (g_tmp_used[i]) unlink(g_tmp_path[i]);
    static const char msg[] = "polca: error: interrupted\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(CLI_INTERRUPTED);
}

void cli_catch_sigint(void) {
    if (g_sigint_installed) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    g_sigint_installed = 1;
}

int cli_interrupted(void) { return g_interrupted != 0; }

static int register_tmp(const char *path) {
    for (int i = 0; i < MAX_TMP; i++) {
        if (g_tmp_used[i]) continue;
        snprintf(g_tmp_path[i], sizeof g_tmp_path[i], "%s", path);
        atomic_signal_fence(memory_order_seq_cst);
        g_tmp_used[i] = 1;
        return i;
    }
    return -1; /* not known to the second Ctrl-C; still removed on every other path */
}

static void unregister_tmp(int slot) {
    if (slot < 0) return;
    g_tmp_used[slot] = 0;
    atomic_signal_fence(memory_order_seq_cst);
}

/* ---- outputs ---- */

static int exists_fail(const cli_output *o) {
    return cli_fail(CLI_USAGE, "%s %s: exists (--overwrite replaces it)", o->option, o->path);
}

/* --overwrite replaces a file or a symlink (the link itself), never a
 * directory, FIFO, device or socket that happens to have the name. */
static int replaceable(const char *option, const char *path, const struct stat *st) {
    if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode)) return CLI_OK;
    return cli_fail(CLI_USAGE, "%s %s: exists and is %s (polca replaces only a file or a symlink)",
                    option, path, file_type_name((unsigned)st->st_mode));
}

static int check_here(const char *option, const char *path, int overwrite) {
    struct stat st;
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/')
        return cli_fail(CLI_USAGE, "%s '%s': not a file name", option, path);
    if (lstat(path, &st) != 0) return CLI_OK; /* free (or unreachable: creating says why) */
    int rc = replaceable(option, path, &st);
    if (!rc && !overwrite)
        rc = cli_fail(CLI_USAGE, "%s %s: exists (--overwrite replaces it)", option, path);
    return rc;
}

int cli_output_check(const char *option, const char *path, int overwrite) {
    if (!g_cli.mpi) return check_here(option, path, overwrite);
    /* under MPI rank 0's view decides for every rank: a rank that checks
     * after rank 0 published must not see rank 0's own output */
    return cli_mpi_agree(g_cli.rank == 0 ? check_here(option, path, overwrite) : CLI_OK);
}

/* Creates the temporary file beside o->path; returns its descriptor or -1
 * after printing the error (*code set). */
static int create_tmp(cli_output *o, int *code) {
    static unsigned counter;
    const char *slash = strrchr(o->path, '/');
    int dlen = slash ? (int)(slash - o->path + 1) : 0;
    const char *base = slash ? slash + 1 : o->path;
    const char *dir = o->path;
    char buf[PATH_MAX], scratch[PATH_MAX];
    if (g_cli.rank > 0) {
        /* under MPI, ranks > 0 write into a private directory and discard
         * (cli_outputs_commit): the destination is rank 0's alone */
        const char *s = cli_scratch_dir(code);
        if (!s) return -1;
        dlen = snprintf(scratch, sizeof scratch, "%s/", s);
        dir = scratch;
    }
    for (int attempt = 0; attempt < 1000; attempt++) {
        /* the name's first 64 bytes keep the temporary name under NAME_MAX */
        int n = snprintf(buf, sizeof buf, "%.*s.%.64s.polca-tmp-%ld-%u", dlen, dir, base,
                         (long)getpid(), counter++);
        if (n < 0 || (size_t)n >= sizeof buf) {
            *code = cli_fail(CLI_INPUT, "%s %s: path too long", o->option, o->path);
            return -1;
        }
        int fd = open(buf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            o->tmp = strdup(buf);
            if (!o->tmp) {
                close(fd);
                unlink(buf);
                *code = cli_fail(CLI_LIBRARY, "out of memory");
                return -1;
            }
            o->slot = register_tmp(buf);
            return fd;
        }
        if (errno != EEXIST) {
            *code = cli_fail(CLI_INPUT, "%s %s: cannot create a file in %s: %s", o->option, o->path,
                             dlen ? "its directory" : "the current directory", strerror(errno));
            return -1;
        }
    }
    *code = cli_fail(CLI_INPUT, "%s %s: cannot find a free temporary name", o->option, o->path);
    return -1;
}

static int begin(cli_output *o, const char *option, const char *path, int overwrite, int stream) {
    memset(o, 0, sizeof *o);
    o->option = option;
    o->path = path;
    o->overwrite = overwrite;
    o->slot = -1;
    /* ranks > 0 write elsewhere (create_tmp) and publish nothing */
    int rc = g_cli.rank > 0 ? CLI_OK : check_here(option, path, overwrite);
    if (rc) return rc;
    cli_catch_sigint(); /* from here on a temporary file exists */
    int fd = create_tmp(o, &rc);
    if (fd < 0) return rc;
    if (!stream) {
        close(fd); /* libpolca writes o->tmp (and replaces this empty file) */
        return CLI_OK;
    }
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        close(fd);
        cli_output_abort(o);
        return cli_fail(CLI_LIBRARY, "out of memory");
    }
    return CLI_OK;
}

int cli_output_lib(const cli_output *o, int32_t status) {
    char prefix[PATH_MAX + 64];
    snprintf(prefix, sizeof prefix, "%s %s", o->option, o->path);
    return cli_lib(status, prefix);
}

int cli_output_open(cli_output *o, const char *option, const char *path, int overwrite) {
    return begin(o, option, path, overwrite, 1);
}

int cli_output_stage(cli_output *o, const char *option, const char *path, int overwrite) {
    return begin(o, option, path, overwrite, 0);
}

void cli_output_abort(cli_output *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (!o->tmp) return; /* zeroed, committed or aborted: o->slot means nothing */
    unlink(o->tmp);
    unregister_tmp(o->slot);
    o->slot = -1;
    free(o->tmp);
    o->tmp = NULL;
}

static int write_fail(const cli_output *o, int err) {
    return cli_fail(CLI_INPUT, "%s %s: cannot write: %s", o->option, o->path,
                    strerror(err ? err : EIO));
}

/* Step 2: the temporary file complete and on disk. */
static int finish(cli_output *o) {
    int fd, err = 0;
    if (o->f) {
        /* an earlier fwrite failed: its errno is long gone (later calls
         * overwrite it), so say EIO rather than a stale, unrelated reason */
        if (ferror(o->f)) err = EIO;
        if (fflush(o->f) != 0 && !err) err = errno;
        fd = fileno(o->f);
    } else {
        fd = open(o->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return write_fail(o, errno);
    }
    struct stat st;
    if (!err && fsync(fd) != 0) err = errno;
    if (!err && fstat(fd, &st) != 0) err = errno;
    if (!err && !S_ISREG(st.st_mode)) err = EINVAL;
    if (o->f) {
        if (fclose(o->f) != 0 && !err) err = errno;
        o->f = NULL;
    } else if (close(fd) != 0 && !err) {
        err = errno;
    }
    if (err) return write_fail(o, err);
    o->dev = (uint64_t)st.st_dev;
    o->ino = (uint64_t)st.st_ino;
    return CLI_OK;
}

static int fsync_dir(const cli_output *o) {
    const char *slash = strrchr(o->path, '/');
    char dir[PATH_MAX];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == o->path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - o->path), o->path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return write_fail(o, errno);
    int r = fsync(fd), err = errno;
    close(fd);
    /* some file systems refuse fsync on a directory (EINVAL) */
    return r != 0 && err != EINVAL ? write_fail(o, err) : CLI_OK;
}

/* --overwrite: rename over the name, unless the file there is a series
 * that a writer holds (libpolca writers keep an exclusive flock on it;
 * docs/format.md 1.5): a shared lock held across the rename, on the file
 * checked to be the one at the name, as the library's own replacements do. */
static int replace_unless_held(cli_output *o) {
    for (int attempt = 0; attempt < 100; attempt++) {
        struct stat st, held;
        if (lstat(o->path, &st) != 0) {
            if (errno != ENOENT) return write_fail(o, errno);
        } else {
            int rc = replaceable(o->option, o->path, &st);
            if (rc) return rc;
        }
        /* a symlink (O_NOFOLLOW fails) or nothing there: no writer to respect */
        int fd = open(o->path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT && errno != ELOOP) return write_fail(o, errno);
        if (fd >= 0 && fstat(fd, &held) == 0 && S_ISREG(held.st_mode)) {
            if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
                int e = errno;
                close(fd);
                if (e == EWOULDBLOCK)
                    return cli_fail(CLI_LIBRARY, "%s %s: a writer holds this file (a series open "
                                    "for appending); not replaced", o->option, o->path);
                return write_fail(o, e);
            }
            if (lstat(o->path, &st) != 0 || st.st_dev != held.st_dev || st.st_ino != held.st_ino) {
                close(fd);
                continue; /* replaced meanwhile: check the new one */
            }
        }
        int r = rename(o->tmp, o->path), e = errno;
        if (fd >= 0) close(fd);
        return r != 0 ? write_fail(o, e) : CLI_OK;
    }
    return cli_fail(CLI_INPUT, "%s %s: replaced by others 100 times while polca tried to "
                    "replace it; not replaced", o->option, o->path);
}

/* Step 3: the temporary file under the final name. */
static int publish(cli_output *o) {
    if (o->overwrite) {
        int rc = replace_unless_held(o);
        if (rc) return rc;
    } else if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->path, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST) return exists_fail(o);
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return write_fail(o, errno);
        /* a file system without RENAME_NOREPLACE: link(2) fails on an existing name too */
        if (link(o->tmp, o->path) != 0) return errno == EEXIST ? exists_fail(o) : write_fail(o, errno);
        o->published = 1;
        unlink(o->tmp);
    }
    o->published = 1;
    unregister_tmp(o->slot);
    o->slot = -1;
    free(o->tmp);
    o->tmp = NULL;
    return CLI_OK;
}

static int publish_all(cli_output *const *outs, int n);

int cli_outputs_commit(cli_output *const *outs, int n) {
    if (!g_cli.mpi) return publish_all(outs, n);
    /* under MPI rank 0 publishes only when no rank failed, and every rank
     * returns only once rank 0 has (with its status: a rank removes its
     * progress file for --resume only after a success) */
    int rc = cli_mpi_agree(CLI_OK);
    if (rc || g_cli.rank > 0) {
        for (int i = 0; i < n; i++) cli_output_abort(outs[i]); /* this rank's copies go */
        if (rc) return rc;
        return cli_mpi_agree(g_interrupted ? cli_fail(CLI_INTERRUPTED, "interrupted") : CLI_OK);
    }
    return cli_mpi_agree(publish_all(outs, n));
}

static int publish_all(cli_output *const *outs, int n) {
    int rc = CLI_OK;
    for (int i = 0; i < n && !rc; i++) rc = finish(outs[i]);
    if (!rc && g_interrupted) rc = cli_fail(CLI_INTERRUPTED, "interrupted");
    for (int i = 0; i < n && !rc; i++) rc = publish(outs[i]);
    for (int i = 0; i < n && !rc; i++) rc = fsync_dir(outs[i]);
    if (rc) {
        for (int i = 0; i < n; i++) {
            cli_output *o = outs[i];
            struct stat st;
            /* ours, new (no --overwrite) and still there: take it back */
            if (o->published && !o->overwrite && lstat(o->path, &st) == 0 &&
                (uint64_t)st.st_dev == o->dev && (uint64_t)st.st_ino == o->ino)
                unlink(o->path);
            o->published = 0;
            cli_output_abort(o);
        }
    }
    return rc;
}

int cli_output_commit(cli_output *o) {
    cli_output *one[1] = {o};
    return cli_outputs_commit(one, 1);
}
