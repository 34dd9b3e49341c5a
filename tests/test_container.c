/*
 * tests/test_container.c - the container format (src/container.h): CRC-32C
 * against published check values, preconditioning against a naive
 * reference, bit-exact round trips in both write modes, and hostile files:
 * every truncation and every byte flip of small files, wrong versions,
 * unknown required fields, oversize header lengths, torn appends.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "container.h"
#include "crc32c.h"
#include "harness.h"
#include "precond.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static char tmpdir[64];
static void make_tmpdir(void) {
    strcpy(tmpdir, "/tmp/polca_ct_XXXXXX");
    if (!mkdtemp(tmpdir)) abort();
}
static const char *tpath(const char *name) {
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    if (fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
}

TEST(crc32c_check_values) {
    CHECK(polca__crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(polca__crc32c_sw(0, "123456789", 9) == 0xE3069283u);
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    /* RFC 3720 (iSCSI) B.4 test vectors */
    CHECK(polca__crc32c(0, zeros, 32) == 0x8A9136AAu);
    CHECK(polca__crc32c(0, ones, 32) == 0x62A8AB43u);
    unsigned char inc[32];
    for (int i = 0; i < 32; i++) inc[i] = (unsigned char)i;
    CHECK(polca__crc32c(0, inc, 32) == 0x46DD794Eu);
    /* hardware and table versions agree, at any length and alignment, and
     * extending in pieces equals one pass */
    unsigned char buf[1100];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)rnd();
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n < 1090; n += 7) {
            uint32_t a = polca__crc32c(0, buf + off, n), b = polca__crc32c_sw(0, buf + off, n);
            EXPECT(a == b);
            EXPECT(polca__crc32c(polca__crc32c(0, buf + off, n / 3), buf + off + n / 3,
                                 n - n / 3) == a);
        }
}

/* Naive reference: the definition in precond.h, one byte at a time. */
static void ref_encode(unsigned char *dst, const unsigned char *x, const unsigned char *r, size_t n,
                       size_t s, unsigned mode) {
    unsigned char *e = malloc(n * s + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t xv = 0, rv = 0;
        for (size_t b = 0; b < s; b++) {
            xv |= (uint64_t)x[i * s + b] << (8 * b);
            if (r) rv |= (uint64_t)r[i * s + b] << (8 * b);
        }
        uint64_t bits = 8 * s, m = bits == 64 ? ~0ull : (1ull << bits) - 1, ev = xv;
        if (mode & POLCA__PRE_XOR) ev = xv ^ rv;
        if (mode & POLCA__PRE_SUB) {
            uint64_t d = (xv - rv) & m;
            int neg = (int)((d >> (bits - 1)) & 1);
            ev = neg ? (((~d & m) << 1) | 1) & m : (d << 1) & m; /* zigzag of a signed value */
        }
        for (size_t b = 0; b < s; b++) e[i * s + b] = (unsigned char)(ev >> (8 * b));
    }
    if (mode & POLCA__PRE_SHUFFLE) {
        for (size_t i = 0; i < n; i++)
            for (size_t b = 0; b < s; b++) dst[b * n + i] = e[i * s + b];
    } else {
        memcpy(dst, e, n * s);
    }
    free(e);
}

TEST(precondition_matches_reference_and_inverts) {
    static const size_t sizes[] = {1, 2, 4, 8};
    static const size_t counts[] = {0, 1, 3, 15, 16, 17, 33, 1000};
    static const unsigned modes[] = {0, 1, 2, 3, 4, 5};
    for (size_t si = 0; si < 4; si++)
        for (size_t ci = 0; ci < 8; ci++)
            for (size_t mi = 0; mi < 6; mi++) {
                size_t s = sizes[si], n = counts[ci], bytes = n * s + 1;
                unsigned mode = modes[mi];
                unsigned char *x = malloc(bytes), *r = malloc(bytes), *e = malloc(bytes),
                              *e2 = malloc(bytes), *y = malloc(bytes);
                for (size_t i = 0; i < bytes; i++) {
                    x[i] = (unsigned char)rnd();
                    /* references close to x in value, sometimes equal, sometimes far */
                    r[i] = (i % s == s - 1 && rnd() % 4) ? x[i] : (unsigned char)rnd();
                }
                polca__pre_encode(e, x, r, n, s, mode);
                ref_encode(e2, x, (mode & 6) ? r : NULL, n, s, mode);
                if (n && memcmp(e, e2, n * s) != 0)
                    FAILF("encode differs: s=%zu n=%zu mode=%u", s, n, mode);
                polca__pre_decode(y, e, r, n, s, mode);
                if (n && memcmp(x, y, n * s) != 0)
                    FAILF("decode differs: s=%zu n=%zu mode=%u", s, n, mode);
                /* in place: dst is the reference */
                memcpy(y, r, n * s);
                polca__pre_decode(y, e, y, n, s, mode);
                if (n && memcmp(x, y, n * s) != 0)
                    FAILF("in-place decode differs: s=%zu n=%zu mode=%u", s, n, mode);
                free(x), free(r), free(e), free(e2), free(y);
            }
    CHECK(polca__pre_valid(0) && polca__pre_valid(7 & ~6) && polca__pre_valid(5));
    CHECK(!polca__pre_valid(6) && !polca__pre_valid(7) && !polca__pre_valid(8));
}

/* A small layout: "w" [3][5] and "b" [5]. */
static void small_layout(polca__layout *l) {
    polca__layout_init(l);
    int64_t s1[2] = {3, 5}, s2[1] = {5};
    polca__layout_add(l, "w", 2, s1);
    polca__layout_add(l, "b", 1, s2);
}

/* Deterministic checkpoint-like data: a drifting float vector with some
 * special values. */
static void fill_vec(float *v, size_t n, int t) {
    for (size_t i = 0; i < n; i++) {
        float base = (float)((double)((i * 2654435761u) % 1000) / 997.0 - 0.5);
        v[i] = base + 0.001f * (float)t * (float)((i % 7) - 3);
    }
    if (n > 3) {
        v[0] = -0.0f;
        v[1] = 1e-42f; /* subnormal */
        v[2] = (t % 2) ? 3.0e38f : -3.0e38f;
    }
}

static polca__ct_config cfg_with(int max_chain, unsigned precond, int block_log2) {
    polca__ct_config c;
    polca__ct_config_default(&c);
    c.max_chain = max_chain;
    c.precond = precond;
    c.block_log2 = block_log2;
    c.sync = 0; /* tests: no fsync needed for correctness */
    return c;
}

TEST(whole_file_round_trip) {
    polca__layout l;
    small_layout(&l);
    const char *p = tpath("whole.pct");
    polca__ct_config cfg = cfg_with(3, 0, 12);
    uint32_t kk = 7;
    polca__ct_field fields[2] = {{POLCA__FIELD_USER, 4, &kk}, {POLCA__FIELD_USER + 1, 5, "hello"}};
    polca__container *c = NULL;
    CHECK_OK(polca__ct_create(p, POLCA__FILE_BASIS, &l, fields, 2, POLCA__CT_WHOLE, &cfg, &c));
    CHECK(access(p, F_OK) != 0); /* nothing at the path before finish */
    enum { N = 10000, T = 12 };
    static float v[T][N];
    for (int t = 0; t < T; t++) {
        fill_vec(v[t], N, t);
        CHECK_OK(polca__ct_append(c, POLCA__REC_ARRAY, 100 * t, POLCA__DT_F32, v[t], N, 1));
    }
    int32_t labels[37];
    for (int i = 0; i < 37; i++) labels[i] = i % 5 - 1;
    CHECK_OK(polca__ct_append(c, 9, -1, POLCA__DT_I32, labels, 37, 1));
    double d[3] = {1.0 / 3.0, -2.5e300, 0.0};
    CHECK_OK(polca__ct_append(c, 9, -2, POLCA__DT_F64, d, 3, 1));
    CHECK_OK(polca__ct_append(c, 9, -3, POLCA__DT_U8, NULL, 0, 1)); /* empty record */
    CHECK_OK(polca__ct_finish(c));
    CHECK(access(p, F_OK) == 0);
    float got[N];
    CHECK_OK(polca__ct_read(c, 5, got, N)); /* the writer handle reads after finish */
    CHECK(memcmp(got, v[5], sizeof got) == 0);
    polca__ct_close(c);

    c = NULL;
    CHECK_OK(polca__ct_open(p, POLCA__FILE_BASIS, 0, NULL, &c));
    CHECK(polca__ct_count(c) == T + 3);
    CHECK(polca__layout_equal(polca__ct_layout(c), &l));
    CHECK(polca__ct_layout(c)->hash == l.hash);
    const void *fd;
    uint64_t fl;
    CHECK(polca__ct_field_get(c, POLCA__FIELD_USER + 1, &fd, &fl) && fl == 5 &&
          !memcmp(fd, "hello", 5));
    CHECK(polca__ct_field_get(c, POLCA__FIELD_USER, &fd, &fl) && fl == 4 && polca__ld32(fd) == 7);
    CHECK(polca__ct_field_get(c, POLCA__FIELD_CREATOR, &fd, &fl) && fl > 9 &&
          !memcmp(fd, "libpolca ", 9));
    CHECK(!polca__ct_field_get(c, 0x999, &fd, &fl));
    /* random order, then sequential; chains never longer than max_chain */
    static const int order[] = {7, 0, 11, 3, 3, 10, 1, 2, 4, 5, 6, 8, 9};
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        int t = order[k];
        memset(got, 0, sizeof got);
        CHECK_OK(polca__ct_read(c, t, got, N));
        CHECK(memcmp(got, v[t], sizeof got) == 0);
        const polca__ct_record *r = polca__ct_record_at(c, t);
        CHECK(r->step == 100 * t && r->kind == POLCA__REC_ARRAY && r->chain <= 3);
        CHECK((r->ref >= 0) == ((r->precond & (POLCA__PRE_XOR | POLCA__PRE_SUB)) != 0));
    }
    CHECK(polca__ct_record_at(c, 2)->ref == 1);  /* deltas were chosen for drifting data */
    CHECK(polca__ct_record_at(c, 4)->ref == -1); /* chain limit 3 */
    int32_t lab2[37];
    CHECK_OK(polca__ct_read(c, T, lab2, 37));
    CHECK(memcmp(lab2, labels, sizeof labels) == 0);
    double d2[3];
    CHECK_OK(polca__ct_read(c, T + 1, d2, 3));
    CHECK(memcmp(d2, d, sizeof d) == 0);
    CHECK_OK(polca__ct_read(c, T + 2, NULL, 0));
    CHECK_STATUS(polca__ct_read(c, T + 3, got, N), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__ct_read(c, 0, got, N - 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__ct_append(c, 1, 0, POLCA__DT_F32, got, N, 1), POLCA_ERR_STATE);
    polca__ct_close(c);
    CHECK_STATUS(polca__ct_open(p, POLCA__FILE_CHECKPOINTS, 0, NULL, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("kind");
    polca__layout_free(&l);
}

TEST(every_forced_mode_round_trips) {
    static const unsigned modes[] = {0, 1, 2, 3, 4, 5};
    enum { N = 5000, T = 5 };
    static float v[T][N];
    for (int t = 0; t < T; t++) fill_vec(v[t], N, t * 3);
    for (size_t m = 0; m < 6; m++)
        for (int chain = 0; chain <= 2; chain++) {
            polca__ct_config cfg = cfg_with(chain, POLCA__CT_PRE_FORCED | modes[m], 12);
            polca__container *c = NULL;
            CHECK_OK(polca__ct_create(tpath("modes.pct"), POLCA__FILE_CHECKPOINTS, NULL, NULL, 0,
                                      POLCA__CT_APPEND, &cfg, &c));
            for (int t = 0; t < T; t++)
                CHECK_OK(polca__ct_append(c, 1, t, POLCA__DT_F32, v[t], N, 1));
            polca__ct_close(c);
            CHECK_OK(polca__ct_open(tpath("modes.pct"), 0, 0, NULL, &c));
            float got[N];
            for (int t = T - 1; t >= 0; t--) {
                CHECK_OK(polca__ct_read(c, t, got, N));
                if (memcmp(got, v[t], sizeof got))
                    FAILF("mode %u chain %d record %d differs", modes[m], chain, t);
                const polca__ct_record *r = polca__ct_record_at(c, t);
                unsigned want = modes[m];
                if (t == 0 || chain == 0 || (t % (chain + 1)) == 0) want &= POLCA__PRE_SHUFFLE;
                if (r->precond != want)
                    FAILF("mode %u chain %d record %d stored as %u", modes[m], chain, t,
                          r->precond);
            }
            polca__ct_close(c);
        }
}

TEST(append_reopen_append) {
    polca__layout l;
    small_layout(&l);
    const char *p = tpath("append.pct");
    polca__ct_config cfg = cfg_with(32, 0, 12);
    polca__container *c = NULL, *c2 = NULL;
    CHECK_OK(polca__ct_create(p, POLCA__FILE_CHECKPOINTS, &l, NULL, 0, POLCA__CT_APPEND, &cfg, &c));
    float v[8][20];
    for (int t = 0; t < 8; t++) fill_vec(v[t], 20, t);
    for (int t = 0; t < 4; t++) CHECK_OK(polca__ct_append(c, 1, t, POLCA__DT_F32, v[t], 20, 1));
    /* a second writer is refused while the first holds the file */
    CHECK_STATUS(polca__ct_open(p, 0, 1, NULL, &c2), POLCA_ERR_STATE);
    /* a reader sees the committed records */
    CHECK_OK(polca__ct_open(p, 0, 0, NULL, &c2));
    CHECK(polca__ct_count(c2) == 4);
    polca__ct_close(c2);
    polca__ct_close(c);
    CHECK_OK(polca__ct_open(p, POLCA__FILE_CHECKPOINTS, 1, &cfg, &c));
    for (int t = 4; t < 8; t++) CHECK_OK(polca__ct_append(c, 1, t, POLCA__DT_F32, v[t], 20, 1));
    CHECK(polca__ct_record_at(c, 4)->ref == 3); /* delta against a record decoded from disk */
    polca__ct_close(c);
    CHECK_OK(polca__ct_open(p, 0, 0, NULL, &c));
    CHECK(polca__ct_count(c) == 8);
    for (int t = 0; t < 8; t++) {
        float got[20];
        CHECK_OK(polca__ct_read(c, t, got, 20));
        CHECK(memcmp(got, v[t], sizeof got) == 0);
    }
    polca__ct_close(c);
    polca__layout_free(&l);
}

TEST(torn_append_is_ignored_then_overwritten) {
    const char *p = tpath("torn.pct");
    polca__ct_config cfg = cfg_with(32, 0, 12);
    polca__container *c = NULL;
    CHECK_OK(
        polca__ct_create(p, POLCA__FILE_CHECKPOINTS, NULL, NULL, 0, POLCA__CT_APPEND, &cfg, &c));
    float v[3][50];
    for (int t = 0; t < 3; t++) fill_vec(v[t], 50, t);
    CHECK_OK(polca__ct_append(c, 1, 0, POLCA__DT_F32, v[0], 50, 1));
    CHECK_OK(polca__ct_append(c, 1, 1, POLCA__DT_F32, v[1], 50, 1));
    polca__ct_close(c);
    size_t n;
    unsigned char *b = slurp(p, &n);
    CHECK(b);
    /* what a killed writer leaves: part of a record past the committed end */
    unsigned char *t = malloc(n + 40);
    memcpy(t, b, n);
    memcpy(t + n, b + n - 60, 40);
    spit(p, t, n + 40);
    CHECK_OK(polca__ct_open(p, 0, 0, NULL, &c));
    CHECK(polca__ct_count(c) == 2);
    polca__ct_close(c);
    CHECK_OK(polca__ct_open(p, 0, 1, &cfg, &c));
    CHECK_OK(polca__ct_append(c, 1, 2, POLCA__DT_F32, v[2], 50, 1));
    polca__ct_close(c);
    CHECK_OK(polca__ct_open(p, 0, 0, NULL, &c));
    CHECK(polca__ct_count(c) == 3);
    for (int k = 0; k < 3; k++) {
        float got[50];
        CHECK_OK(polca__ct_read(c, k, got, 50));
        CHECK(memcmp(got, v[k], sizeof got) == 0);
    }
    polca__ct_close(c);
    free(b);
    free(t);
}

/* Opens image b[n] and reads every record; returns the status and sets
 * *exact when every record read back equals the originals. */
static int32_t open_and_read_all(const unsigned char *b, size_t n, const char *name, float (*v)[64],
                                 int T, int64_t *count, int *exact) {
    polca__container *c = NULL;
    *exact = 0;
    *count = -1;
    int32_t st = polca__ct_open_mem(b, n, name, 0, &c);
    if (st) return st;
    *count = polca__ct_count(c);
    int ok = *count <= T;
    for (int64_t t = 0; t < *count && !st; t++) {
        float got[64];
        const polca__ct_record *r = polca__ct_record_at(c, t);
        if (r->n_elems != 64 || r->dtype != POLCA__DT_F32) {
            ok = 0;
            continue;
        }
        st = polca__ct_read(c, t, got, 64);
        if (!st && (t >= T || memcmp(got, v[t], sizeof got))) ok = 0;
    }
    polca__ct_close(c);
    *exact = ok && !st;
    return st;
}

static int error_names_file_and_offset(const char *name) {
    char want[96];
    snprintf(want, sizeof want, "%s: byte ", name);
    return strstr(polca_last_error(), want) != NULL;
}

/* Every truncation and every single-byte flip (4 patterns) of two small
 * files: one written whole (its second commit slot unused), one grown by
 * appends (both slots in use). Truncations are corrupt; flips are corrupt
 * or wrong-version with the file and offset named, except that a flip in a
 * commit slot may fall back to the previous commit (then every record read
 * must still be exact). Never a wrong value. */
TEST(every_truncation_and_byte_flip) {
    static float v[4][64];
    for (int t = 0; t < 4; t++) fill_vec(v[t], 64, t);
    polca__layout l;
    small_layout(&l);
    for (int variant = 0; variant < 2; variant++) {
        const char *p = tpath(variant ? "flip_append.pct" : "flip_whole.pct");
        polca__ct_config cfg = cfg_with(2, 0, 12);
        polca__container *c = NULL;
        CHECK_OK(polca__ct_create(p, POLCA__FILE_CHECKPOINTS, &l, NULL, 0,
                                  variant ? POLCA__CT_APPEND : POLCA__CT_WHOLE, &cfg, &c));
        for (int t = 0; t < 4; t++) CHECK_OK(polca__ct_append(c, 1, t, POLCA__DT_F32, v[t], 64, 1));
        CHECK_OK(polca__ct_finish(c));
        polca__ct_close(c);
        size_t n;
        unsigned char *orig = slurp(p, &n), *b = malloc(n + 1);
        CHECK(orig);
        int64_t count;
        int exact;
        CHECK_OK(open_and_read_all(orig, n, "f.pct", v, 4, &count, &exact));
        CHECK(count == 4 && exact);
        for (size_t cut = 0; cut < n; cut++) {
            memcpy(b, orig, cut);
            int32_t st = open_and_read_all(b, cut, "cut.pct", v, 4, &count, &exact);
            if (st != POLCA_ERR_CORRUPT || !error_names_file_and_offset("cut.pct")) {
                FAILF("variant %d truncated at %zu: status %d (%s)", variant, cut, (int)st,
                      polca_last_error());
                break;
            }
        }
        static const unsigned char pats[] = {0x01, 0x10, 0x80, 0xff};
        int failures = 0;
        for (size_t pos = 0; pos < n && failures < 5; pos++)
            for (size_t k = 0; k < 4; k++) {
                memcpy(b, orig, n);
                b[pos] ^= pats[k];
                int32_t st = open_and_read_all(b, n, "flip.pct", v, 4, &count, &exact);
                int in_slots = pos >= 32 && pos < 96;
                int good;
                if (st == POLCA_OK)
                    good = in_slots && exact && (variant == 1 || (pos >= 64 && count == 4));
                else
                    good = (st == POLCA_ERR_CORRUPT || st == POLCA_ERR_VERSION) &&
                           error_names_file_and_offset("flip.pct");
                if (!good) {
                    FAILF("variant %d flip %#x at byte %zu: status %d, %lld records, exact %d (%s)",
                          variant, pats[k], pos, (int)st, (long long)count, exact,
                          polca_last_error());
                    failures++;
                }
            }
        free(orig);
        free(b);
    }
    polca__layout_free(&l);
}

/* A header with its checksums fixed after a deliberate change. */
static void reseal(unsigned char *b) {
    polca__st32(b + 28, polca__crc32c(0, b, 28));
    uint64_t H = polca__ld64(b + 16);
    polca__st32(b + H - 4, polca__crc32c(0, b + 96, H - 4 - 96));
}

TEST(versions_fields_and_oversize_headers) {
    const char *p = tpath("ver.pct");
    polca__ct_config cfg = cfg_with(2, 0, 12);
    polca__container *c = NULL;
    uint64_t x = 5;
    polca__ct_field f = {POLCA__FIELD_USER + 7, 8, &x};
    CHECK_OK(polca__ct_create(p, POLCA__FILE_CLUSTERING, NULL, &f, 1, POLCA__CT_WHOLE, &cfg, &c));
    CHECK_OK(polca__ct_finish(c));
    polca__ct_close(c);
    size_t n;
    unsigned char *orig = slurp(p, &n), *b = malloc(n);
    CHECK(orig);
    /* a newer version, correctly sealed */
    memcpy(b, orig, n);
    polca__st32(b + 8, 2);
    reseal(b);
    CHECK_STATUS(polca__ct_open_mem(b, n, "v2.pct", 0, &c), POLCA_ERR_VERSION);
    CHECK_ERROR_MENTIONS("v2.pct: byte 8");
    CHECK_ERROR_MENTIONS("version 2");
    /* an unknown optional field is skipped; an unknown required one is not */
    memcpy(b, orig, n);
    uint64_t H = polca__ld64(b + 16);
    size_t pos = 96;
    while (polca__ld32(b + pos) != POLCA__FIELD_USER + 7)
        pos += 16 + ((polca__ld64(b + pos + 8) + 7) / 8) * 8;
    polca__st32(b + pos, 0x4242);
    reseal(b);
    CHECK_OK(polca__ct_open_mem(b, n, "opt.pct", 0, &c));
    polca__ct_close(c);
    polca__st32(b + pos, 0x4242 | POLCA__FIELD_REQUIRED);
    reseal(b);
    CHECK_STATUS(polca__ct_open_mem(b, n, "req.pct", 0, &c), POLCA_ERR_VERSION);
    CHECK_ERROR_MENTIONS("req.pct: byte");
    /* oversize header lengths, correctly sealed: refused before allocation */
    uint64_t lens[] = {(uint64_t)1 << 40, UINT64_MAX - 7, POLCA__CT_MAX_HEADER + 8ull, H + 8, 64};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        memcpy(b, orig, n);
        polca__st64(b + 16, lens[k]);
        polca__st32(b + 28, polca__crc32c(0, b, 28));
        int32_t st = polca__ct_open_mem(b, n, "big.pct", 0, &c);
        if (st != POLCA_ERR_CORRUPT || !strstr(polca_last_error(), "big.pct: byte 16"))
            FAILF("header length %llu: status %d (%s)", (unsigned long long)lens[k], (int)st,
                  polca_last_error());
    }
    /* a field claiming more bytes than the header has */
    memcpy(b, orig, n);
    polca__st64(b + pos + 8, UINT64_MAX / 2);
    reseal(b);
    CHECK_STATUS(polca__ct_open_mem(b, n, "fld.pct", 0, &c), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("fld.pct: byte");
    /* not a container at all */
    CHECK_STATUS(polca__ct_open_mem("hello world", 11, "txt", 0, &c), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("bad magic");
    CHECK_STATUS(polca__ct_open_mem("", 0, "empty", 0, &c), POLCA_ERR_CORRUPT);
    CHECK_STATUS(polca__ct_open(tpath("does-not-exist"), 0, 0, NULL, &c), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("does-not-exist");
    free(orig);
    free(b);
}

TEST(create_bad_arguments) {
    polca__container *c = NULL;
    polca__ct_config cfg = cfg_with(2, 0, 12);
    CHECK_STATUS(polca__ct_create(NULL, 1, NULL, NULL, 0, POLCA__CT_WHOLE, NULL, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__ct_create(tpath("x"), 1, NULL, NULL, 0, 7, NULL, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca__ct_field low = {5, 0, NULL};
    CHECK_STATUS(polca__ct_create(tpath("x"), 1, NULL, &low, 1, POLCA__CT_WHOLE, NULL, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    cfg.level = 99;
    CHECK_STATUS(polca__ct_create(tpath("x"), 1, NULL, NULL, 0, POLCA__CT_WHOLE, &cfg, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    cfg = cfg_with(2, POLCA__CT_PRE_FORCED | 6, 12);
    CHECK_STATUS(polca__ct_create(tpath("x"), 1, NULL, NULL, 0, POLCA__CT_WHOLE, &cfg, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(
        polca__ct_create("/nonexistent-dir/x.pct", 1, NULL, NULL, 0, POLCA__CT_WHOLE, NULL, &c),
        POLCA_ERR_IO);
    CHECK(access(tpath("x"), F_OK) != 0);
    /* an unfinished whole file leaves nothing behind */
    CHECK_OK(polca__ct_create(tpath("x"), 1, NULL, NULL, 0, POLCA__CT_WHOLE, NULL, &c));
    float v[4] = {1, 2, 3, 4};
    CHECK_OK(polca__ct_append(c, 1, 0, POLCA__DT_F32, v, 4, 1));
    CHECK_STATUS(polca__ct_append(c, 1, 0, 77, v, 4, 1), POLCA_ERR_INVALID_ARGUMENT);
    polca__ct_close(c);
    CHECK(access(tpath("x"), F_OK) != 0);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", tmpdir);
    CHECK(system(cmd) != 0);
}

/* no_replace: a file at the path, even one that appears while a whole file
 * is being written, makes the commit fail and stays as it was; the default
 * replaces, except a file a writer holds (POLCA_ERR_STATE). */
TEST(no_replace_and_held_files) {
    polca__container *c = NULL, *w = NULL;
    polca__ct_config cfg = cfg_with(2, 0, 12);
    cfg.no_replace = 1;
    float v[4] = {1, 2, 3, 4};
    const char *p = tpath("nr.pct");
    unlink(p);
    CHECK_OK(polca__ct_create(p, POLCA__FILE_BASIS, NULL, NULL, 0, POLCA__CT_WHOLE, &cfg, &c));
    CHECK_OK(polca__ct_append(c, 1, 0, POLCA__DT_F32, v, 4, 1));
    spit(p, (const unsigned char *)"someone else's", 14); /* appears meanwhile */
    CHECK_STATUS(polca__ct_finish(c), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS(p);
    CHECK_ERROR_MENTIONS("already exists");
    polca__ct_close(c);
    size_t n = 0;
    unsigned char *b = slurp(p, &n);
    CHECK(b && n == 14 && memcmp(b, "someone else's", 14) == 0);
    free(b);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", tmpdir);
    CHECK(system(cmd) != 0);
    /* an APPEND create likewise */
    CHECK_STATUS(polca__ct_create(p, POLCA__FILE_BASIS, NULL, NULL, 0, POLCA__CT_APPEND, &cfg, &c),
                 POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("already exists");
    /* the default replaces it */
    cfg.no_replace = 0;
    CHECK_OK(polca__ct_create(p, POLCA__FILE_BASIS, NULL, NULL, 0, POLCA__CT_APPEND, &cfg, &w));
    CHECK_OK(polca__ct_append(w, 1, 0, POLCA__DT_F32, v, 4, 1));
    /* ... but not while a writer (w) holds it */
    CHECK_OK(polca__ct_create(p, POLCA__FILE_BASIS, NULL, NULL, 0, POLCA__CT_WHOLE, &cfg, &c));
    CHECK_STATUS(polca__ct_finish(c), POLCA_ERR_STATE);
    CHECK_ERROR_MENTIONS("a writer holds");
    polca__ct_close(c);
    CHECK_STATUS(polca__ct_open(p, 0, 1, &cfg, &c), POLCA_ERR_STATE);
    CHECK_OK(polca__ct_open(p, 0, 0, NULL, &c));
    CHECK(polca__ct_count(c) == 1);
    polca__ct_close(c);
    polca__ct_close(w);
    CHECK(system(cmd) != 0);
    /* a symbolic link at the path is replaced, its target left alone */
    const char *target = tpath("target.pct");
    spit(target, (const unsigned char *)"target", 6);
    unlink(p);
    CHECK(symlink(target, p) == 0);
    CHECK_OK(polca__ct_create(p, POLCA__FILE_BASIS, NULL, NULL, 0, POLCA__CT_WHOLE, &cfg, &c));
    CHECK_OK(polca__ct_finish(c));
    polca__ct_close(c);
    b = slurp(target, &n);
    CHECK(b && n == 6);
    free(b);
    CHECK_OK(polca__ct_open(p, POLCA__FILE_BASIS, 0, NULL, &c));
    polca__ct_close(c);
}

/* Inputs that are not regular files fail at once, naming the path (a FIFO
 * would block open(2) forever: alarm() makes a hang a failure). */
TEST(non_regular_files) {
    polca__container *c = NULL;
    const char *fifo = tpath("in.fifo");
    CHECK(mkfifo(fifo, 0600) == 0);
    alarm(30);
    CHECK_STATUS(polca__ct_open(fifo, 0, 0, NULL, &c), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("in.fifo: is a FIFO, not a regular file");
    CHECK_STATUS(polca__ct_open(fifo, 0, 1, NULL, &c), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("FIFO");
    CHECK_STATUS(polca__ct_open(tmpdir, 0, 0, NULL, &c), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("is a directory");
    alarm(0);
    CHECK(c == NULL);
}

int main(void) {
    make_tmpdir();
    RUN(crc32c_check_values);
    RUN(precondition_matches_reference_and_inverts);
    RUN(whole_file_round_trip);
    RUN(every_forced_mode_round_trips);
    RUN(append_reopen_append);
    RUN(torn_append_is_ignored_then_overwritten);
    RUN(every_truncation_and_byte_flip);
    RUN(versions_fields_and_oversize_headers);
    RUN(create_bad_arguments);
    RUN(no_replace_and_held_files);
    RUN(non_regular_files);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("  could not remove %s\n", tmpdir);
    return harness_done();
}
