/*
 * tests/fuzz/fuzz_container.c - fuzz harness for the container reader (the
 * reader behind polca_checkpoints_open and every later file kind): open an
 * input as a container, then read every record whose size is modest.
 *
 * Checksums would stop the fuzzer at the first CRC, so every input is also
 * tried "resealed": a copy whose header, commit-slot, record-header and
 * payload CRCs are recomputed where the bytes allow, which lets mutations
 * reach the field, layout, index and decode logic behind them.
 *
 * Built with libFuzzer (tests/fuzz/build.sh): clang -fsanitize=fuzzer,...
 * Without POLCA_LIBFUZZER, a main() replays the files named on the command
 * line instead (for machines without clang).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "container.h"
#include "crc32c.h"

#define MAX_READ_BYTES (4u << 20) /* the harness's own cap per record */

/* Recomputes every CRC the layout of b[n] lets us find (format.md). */
static void reseal(uint8_t *b, size_t n) {
    if (n < 96) return;
    polca__st32(b + 28, polca__crc32c(0, b, 28));
    for (int k = 0; k < 2; k++)
        polca__st32(b + 32 + 32 * k + 28, polca__crc32c(0, b + 32 + 32 * k, 28));
    uint64_t H = polca__ld64(b + 16);
    if (H < 100 || H > n) return;
    polca__st32(b + H - 4, polca__crc32c(0, b + 96, (size_t)(H - 100)));
    for (uint64_t pos = H; n - pos >= 64;) {
        uint64_t R = polca__ld16(b + pos + 4);
        if (R < 64 || R > n - pos) break;
        uint64_t len = polca__ld64(b + pos + 32);
        if (len > n - pos - R) len = n - pos - R;
        polca__st32(b + pos + 48, polca__crc32c(0, b + pos + R, (size_t)len));
        polca__st32(b + pos + R - 4, polca__crc32c(0, b + pos, (size_t)R - 4));
        pos += R + len;
    }
}

static void one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    one(data, size);
    uint8_t *copy = malloc(size + 1);
    if (copy) {
        if (size) memcpy(copy, data, size);
        reseal(copy, size);
        one(copy, size);
        free(copy);
    }
    return 0;
}

static void one(const uint8_t *data, size_t size) {
    polca__container *c = NULL;
    if (polca__ct_open_mem(data, size, "fuzz.pct", 0, &c) != POLCA_OK) return;
    const void *f;
    uint64_t len;
    (void)polca__ct_field_get(c, POLCA__FIELD_USER, &f, &len);
    for (int64_t i = 0; i < polca__ct_count(c); i++) {
        const polca__ct_record *r = polca__ct_record_at(c, i);
        size_t s = polca__ct_dtype_size(r->dtype);
        if (r->n_elems * s > MAX_READ_BYTES) continue;
        void *buf = malloc(r->n_elems * s + 1);
        if (!buf) continue;
        (void)polca__ct_read(c, i, buf, r->n_elems);
        free(buf);
    }
    polca__ct_close(c);
}

#ifndef POLCA_LIBFUZZER
#include "replay_main.h"
#endif
