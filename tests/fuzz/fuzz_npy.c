/*
 * tests/fuzz/fuzz_npy.c - fuzz harness for the polca tool's .npy reader
 * (tools/polca/npy.c, compiled in; it reads --labels, --steps and other
 * array inputs). npy_read takes a path, so each input is written to one
 * temporary file (in $TMPDIR, else /dev/shm or /tmp) and read from there.
 * On success the harness checks what npy.h promises (a supported dtype, at
 * most 8 dimensions, count = product(shape), data = the bytes after the
 * header), reads every element through npy_int and npy_double, describes
 * the array, and for the dtypes npy_write takes writes a copy and reads it
 * back: same shape, same bytes.
 *
 * Built like fuzz_container.c (tests/fuzz/build.sh); without POLCA_LIBFUZZER
 * a main() replays the files named on the command line.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/polca/npy.c"

#define MAX_ROUNDTRIP_ELEMS 4096

static char in_path[512], out_path[512];
static int in_fd = -1;

static void cleanup(void) {
    if (in_fd >= 0) close(in_fd);
    unlink(in_path);
    unlink(out_path);
}

static int setup(void) {
    const char *dirs[] = {getenv("TMPDIR"), "/dev/shm", "/tmp"};
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        if (!dirs[k] || !*dirs[k]) continue;
        snprintf(in_path, sizeof in_path, "%s/fuzz_npy.XXXXXX", dirs[k]);
        in_fd = mkstemp(in_path);
        if (in_fd >= 0) break;
    }
    if (in_fd < 0) return -1;
    snprintf(out_path, sizeof out_path, "%s.out.npy", in_path);
    atexit(cleanup);
    return 0;
}

static void check(const npy_file *f, size_t size) {
    if (f->ndim < 0 || f->ndim > NPY_MAX_DIMS || !f->data) abort();
    if (!strchr("biuf", f->kind) || f->kind == '\0') abort();
    if (f->item != 1 && f->item != 2 && f->item != 4 && f->item != 8) abort();
    int64_t count = 1;
    for (int k = 0; k < f->ndim; k++) {
        if (f->shape[k] < 0) abort();
        count *= f->shape[k];
    }
    if (count != f->count || (uint64_t)f->count * (uint64_t)f->item > size) abort();
    char desc[96];
    npy_describe(f, desc, sizeof desc);
    if (!memchr(desc, '\0', sizeof desc)) abort();
    char tiny[5];
    npy_describe(f, tiny, sizeof tiny);
    int ok;
    for (int64_t i = 0; i < f->count; i++) {
        (void)npy_int(f, i, &ok);
        (void)npy_double(f, i);
    }
}

static void roundtrip(const npy_file *f, const uint8_t *data, size_t size) {
    if (f->count > MAX_ROUNDTRIP_ELEMS) return;
    const char *descr = f->kind == 'i' && f->item == 4 ? "<i4"
                        : f->kind == 'i' && f->item == 8 ? "<i8"
                        : f->kind == 'f' && f->item == 4 ? "<f4" : NULL;
    if (!descr) return;
    /* the data are the file's last count * item bytes */
    size_t bytes = (size_t)f->count * (size_t)f->item;
    if (bytes && memcmp(data + size - bytes, f->data, bytes) != 0) abort();
    char err[512];
    FILE *out = fopen(out_path, "wb");
    if (!out) return;
    int written = npy_write(out, descr, f->ndim, f->shape, f->data) == 0;
    if (fclose(out) != 0 || !written) return;
    npy_file g;
    if (npy_read(out_path, &g, err, sizeof err) != 0) abort(); /* our own file refused */
    if (g.ndim != f->ndim || g.count != f->count || g.item != f->item || g.kind != f->kind ||
        memcmp(g.shape, f->shape, sizeof(int64_t) * (size_t)f->ndim) != 0 ||
        (bytes && memcmp(g.data, f->data, bytes) != 0))
        abort();
    npy_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (in_fd < 0 && setup() != 0) return 0;
    if (ftruncate(in_fd, 0) != 0) return 0;
    if (size && pwrite(in_fd, data, size, 0) != (ssize_t)size) return 0;
    npy_file f;
    char err[300];
    err[0] = '\0';
    if (npy_read(in_path, &f, err, sizeof err) == 0) {
        check(&f, size);
        roundtrip(&f, data, size);
        npy_free(&f);
    } else {
        /* refused: a message naming the file, nothing left allocated */
        if (!memchr(err, '\0', sizeof err) || strncmp(err, in_path, strlen(in_path)) != 0 ||
            f.data)
            abort();
    }
    return 0;
}

#ifndef POLCA_LIBFUZZER
#include "replay_main.h"
#endif
