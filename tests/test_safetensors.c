/*
 * tests/test_safetensors.c - the safetensors reader and writer against files
 * written by the reference implementation (tests/fixtures/safetensors/gen.py,
 * the `safetensors` PyPI package) and values converted by numpy/torch; hostile
 * headers, every truncation and byte flip of a small file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoints.h"
#include "harness.h"
#include "layout.h"
#include "npy.h"
#include "safetensors.h"
#include "strset.h"

#define FIX "tests/fixtures/safetensors/"

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* Bitwise equality of float arrays (NaN payloads included). */
static int same_bits(const float *a, const float *b, int64_t n) {
    return n == 0 || memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

static int read_matches_npy(polca__st_file *f, const char *tensor, const char *npy_path) {
    npy_array ref;
    if (!npy_load(npy_path, &ref)) return 0;
    int64_t i = polca__st_find(f, tensor);
    float *got = malloc((size_t)ref.count * sizeof(float) + 1);
    int ok = i >= 0 && got && polca__st_read_f32(f, i, got, ref.count) == POLCA_OK &&
             strcmp(ref.dtype, "<f4") == 0 && same_bits(got, ref.data, ref.count);
    if (!ok) printf("  tensor %s differs from %s (%s)\n", tensor, npy_path, polca_last_error());
    free(got);
    npy_free(&ref);
    return ok;
}

TEST(reads_reference_f32_file) {
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open(FIX "basic.safetensors", &f));
    CHECK(polca__st_count(f) == 5);
    CHECK(strcmp(polca__st_metadata(f, "step"), "1200") == 0);
    CHECK(strcmp(polca__st_metadata(f, "note"), "say \"hi\"\\ \xc3\xa9") == 0);
    CHECK(polca__st_metadata(f, "absent") == NULL);
    CHECK(polca__st_find(f, "nope") == -1);
    int64_t a = polca__st_find(f, "a");
    CHECK(a >= 0);
    const polca__st_tensor *t = polca__st_tensor_at(f, a);
    CHECK(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && !strcmp(t->dtype, "F32"));
    CHECK(t->nbytes == 24);
    CHECK(read_matches_npy(f, "a", FIX "basic_a.npy"));
    CHECK(read_matches_npy(f, "b.weight", FIX "basic_b_weight.npy"));
    CHECK(read_matches_npy(f, "scalar", FIX "basic_scalar.npy"));
    int64_t s = polca__st_find(f, "scalar");
    CHECK(polca__st_tensor_at(f, s)->ndim == 0);
    int64_t e = polca__st_find(f, "empty");
    CHECK(e >= 0 && polca__st_tensor_at(f, e)->nbytes == 0);
    CHECK_OK(polca__st_read_f32(f, e, NULL, 0));
    int64_t u = polca__st_find(f, "n\xc3\xa4me/\xe4\xb8\xad");
    CHECK(u >= 0);
    float v[5];
    CHECK_OK(polca__st_read_f32(f, u, v, 5));
    CHECK(v[0] == 0.0f && v[4] == 4.0f);
    /* bad arguments */
    CHECK_STATUS(polca__st_read_f32(f, a, v, 5), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'a'");
    CHECK_STATUS(polca__st_read_f32(f, 99, v, 5), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_read_f32(f, -1, v, 5), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(polca__st_tensor_at(f, 5) == NULL && polca__st_tensor_at(f, -1) == NULL);
    polca__st_close(f);
    polca__st_close(NULL);
}

TEST(converts_f16_bf16_f64) {
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open(FIX "dtypes.safetensors", &f));
    CHECK(strcmp(polca__st_metadata(f, "step"), "77") == 0);
    CHECK(read_matches_npy(f, "h", FIX "dtypes_h.npy"));
    CHECK(read_matches_npy(f, "bf", FIX "dtypes_bf.npy"));
    CHECK(read_matches_npy(f, "d", FIX "dtypes_d.npy"));
    float x[5];
    int64_t i = polca__st_find(f, "i");
    CHECK(i >= 0 && !strcmp(polca__st_tensor_at(f, i)->dtype, "I64"));
    /* a valid file that does not hold float data there: a mismatch with
     * what the caller wants (exit 2 in the CLI), not a missing feature */
    CHECK_STATUS(polca__st_read_f32(f, i, x, 5), POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("I64");
    CHECK_ERROR_MENTIONS("'i'");
    polca__st_close(f);
}

TEST(missing_file_is_io_error) {
    polca__st_file *f = (polca__st_file *)(void *)&f;
    polca__st_file *const sentinel = f;
    CHECK_STATUS(polca__st_open("tests/fixtures/safetensors/none.safetensors", &f), POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("none.safetensors");
    CHECK(f == sentinel);
    CHECK_STATUS(polca__st_open("tests/fixtures", &f), POLCA_ERR_IO);
}

/* A file image: 8-byte length, header, then data_bytes zero bytes. */
static unsigned char *image(const char *header, size_t data_bytes, size_t *n) {
    size_t h = strlen(header);
    *n = 8 + h + data_bytes;
    unsigned char *b = calloc(1, *n + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

typedef struct hostile_case {
    const char *header;
    size_t data;
    int32_t status;
    const char *mentions;
} hostile_case;

TEST(hostile_headers) {
    static const hostile_case cases[] = {
        {"{}", 0, POLCA_OK, NULL},
        {"{}   ", 0, POLCA_OK, NULL},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":[{\"k\":[1,"
         "2.5e3,true,null,\"s\"]}]}}",
         8, POLCA_OK, NULL},
        {"{\"__metadata__\":null}", 0, POLCA_OK, NULL},
        {"", 0, POLCA_ERR_CORRUPT, "byte 0"},
        {"[]", 0, POLCA_ERR_CORRUPT, "JSON object"},
        {"{ ", 0, POLCA_ERR_CORRUPT, "byte 10"},
        {"{", 0, POLCA_ERR_CORRUPT, "byte 0"},
        {"{} x", 0, POLCA_ERR_CORRUPT, "byte 11: safetensors header: bytes after"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, POLCA_ERR_CORRUPT,
         "past the end"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12, POLCA_ERR_CORRUPT,
         "do not match"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, POLCA_ERR_CORRUPT,
         "begin after"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"x\":{\"dtype\":\"F32\","
         "\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, POLCA_ERR_CORRUPT, "duplicate tensor"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
         POLCA_ERR_CORRUPT, "duplicate key"},
        {"{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, POLCA_ERR_CORRUPT, "shape"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, POLCA_ERR_CORRUPT,
         "non-negative integer"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, POLCA_ERR_CORRUPT,
         "fraction"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, POLCA_ERR_CORRUPT,
         "leading zero"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8,
         POLCA_ERR_CORRUPT, "too large"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
         POLCA_ERR_CORRUPT, "overflows"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         POLCA_ERR_UNSUPPORTED, "dimensions"},
        {"{\"x\":{\"dtype\":\"FLOAT_WIDE_32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         POLCA_ERR_CORRUPT, "unknown dtype 'FLOAT_WIDE_32'"},
        /* a short name the format does not define: rejected too (it used to
         * open with no size check) */
        {"{\"x\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         POLCA_ERR_CORRUPT, "unknown dtype 'F31'"},
        {"{\"x\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         POLCA_ERR_CORRUPT, "unknown dtype"},
        /* The tensors must tile the data buffer (the reference's
         * Metadata::validate and MetadataIncompleteBuffer). */
        {"{}", 4, POLCA_ERR_CORRUPT, "4 bytes after the last tensor"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12,
         POLCA_ERR_CORRUPT, "4 bytes after the last tensor"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
         POLCA_ERR_CORRUPT, "4 bytes before tensor 'x'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":"
         "\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, POLCA_ERR_CORRUPT, "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":"
         "\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8, POLCA_ERR_CORRUPT, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":"
         "\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, POLCA_ERR_CORRUPT, "4 bytes before tensor 'b'"},
        /* a zero-size tensor inside another one overlaps it */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"z\":{\"dtype\":"
         "\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
         8, POLCA_ERR_CORRUPT, "tensor 'z'"},
        /* accepted: header order is free (sorted by offsets), zero-size
         * tensors may share an offset with the next one, as the reference
         * accepts */
        {"{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},\"a\":{\"dtype\":"
         "\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
         8, POLCA_OK, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"z\":{\"dtype\":"
         "\"I64\",\"shape\":[3,0],\"data_offsets\":[0,0]},\"y\":{\"dtype\":\"U8\","
         "\"shape\":[0],\"data_offsets\":[4,4]}}",
         4, POLCA_OK, NULL},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, POLCA_ERR_CORRUPT,
         "two integers"},
        {"{\"__metadata__\":{\"step\":12}}", 0, POLCA_ERR_CORRUPT, "must be strings"},
        {"{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, POLCA_ERR_CORRUPT, "duplicate"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, POLCA_ERR_CORRUPT, "duplicate"},
        {"{\"a\\u0000b\":{}}", 0, POLCA_ERR_CORRUPT, "NUL"},
        {"{\"a\\ud800\":{}}", 0, POLCA_ERR_CORRUPT, "surrogate"},
        {"{\"a\\udc00\":{}}", 0, POLCA_ERR_CORRUPT, "surrogate"},
        {"{\"a\\x\":{}}", 0, POLCA_ERR_CORRUPT, "unknown escape"},
        {"{\"a\\u12g4\":{}}", 0, POLCA_ERR_CORRUPT, "hex digit"},
        {"{\"a\xff\":{}}", 0, POLCA_ERR_CORRUPT, "UTF-8"},
        {"{\"a\xc0\xaf\":{}}", 0, POLCA_ERR_CORRUPT, "UTF-8"},
        {"{\"a\xed\xa0\x80\":{}}", 0, POLCA_ERR_CORRUPT, "UTF-8"},
        {"{\"a\tb\":{}}", 0, POLCA_ERR_CORRUPT, "control character"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"e\":tru}}", 4,
         POLCA_ERR_CORRUPT, "unexpected character"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"e\":-}}", 4,
         POLCA_ERR_CORRUPT, "bad number"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n;
        unsigned char *b = image(cases[c].header, cases[c].data, &n);
        polca__st_file *f = NULL;
        int32_t st = polca__st_open_mem(b, n, "hostile.st", &f);
        if (st != cases[c].status) {
            FAILF("case %zu (%s): status %d, expected %d: %s", c, cases[c].header, (int)st,
                  (int)cases[c].status, polca_last_error());
        } else if (st != POLCA_OK && (!strstr(polca_last_error(), "hostile.st") ||
                                      !strstr(polca_last_error(), cases[c].mentions))) {
            FAILF("case %zu: message '%s' lacks the file name or '%s'", c, polca_last_error(),
                  cases[c].mentions);
        }
        polca__st_close(f);
        free(b);
    }
}

TEST(deep_nesting_is_bounded) {
    /* An unknown key holding 100000 nested arrays must fail, not overflow the
     * stack. */
    size_t depth = 100000;
    const char *pre = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"e\":";
    size_t n = strlen(pre) + 2 * depth + 3;
    char *h = malloc(n + 1);
    strcpy(h, pre);
    size_t p = strlen(pre);
    memset(h + p, '[', depth);
    memset(h + p + depth, ']', depth);
    strcpy(h + p + 2 * depth, "}}");
    size_t len;
    unsigned char *b = image(h, 4, &len);
    polca__st_file *f = NULL;
    CHECK_STATUS(polca__st_open_mem(b, len, "deep.st", &f), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("nesting too deep");
    free(b);
    free(h);
}

TEST(oversize_header_length) {
    unsigned char b[64] = {0};
    polca__st_file *f = NULL;
    uint64_t lens[] = {100000001ull, UINT64_MAX, (uint64_t)1 << 40, 57};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(lens[i] >> (8 * k));
        CHECK_STATUS(polca__st_open_mem(b, sizeof b, "big.st", &f), POLCA_ERR_CORRUPT);
        CHECK_ERROR_MENTIONS("big.st: byte 0");
    }
    CHECK_STATUS(polca__st_open_mem(b, 5, "short.st", &f), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("short.st: byte 0");
}

/* Every truncation of the reference file is corrupt; every single-byte
 * change either opens (and then every tensor reads or fails cleanly) or
 * fails with a status. ASan/UBSan runs make this a memory-safety check. */
TEST(every_truncation_and_byte_flip) {
    size_t n;
    unsigned char *orig = slurp(FIX "basic.safetensors", &n);
    CHECK(orig);
    unsigned char *b = malloc(n);
    for (size_t cut = 0; cut < n; cut++) {
        memcpy(b, orig, cut);
        polca__st_file *f = NULL;
        int32_t st = polca__st_open_mem(b, cut, "cut.st", &f);
        if (st != POLCA_ERR_CORRUPT) {
            FAILF("truncated at %zu: status %d", cut, (int)st);
            polca__st_close(f);
            break;
        }
    }
    static const unsigned char flips[] = {0x01, 0x20, 0x80, 0xff};
    float buf[64];
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            memcpy(b, orig, n);
            b[pos] ^= flips[k];
            polca__st_file *f = NULL;
            int32_t st = polca__st_open_mem(b, n, "flip.st", &f);
            if (st == POLCA_OK) {
                for (int64_t t = 0; t < polca__st_count(f); t++) {
                    const polca__st_tensor *ti = polca__st_tensor_at(f, t);
                    int64_t c = 1;
                    for (int d = 0; d < ti->ndim; d++) c *= ti->shape[d];
                    if (c <= 64) {
                        int32_t r = polca__st_read_f32(f, t, buf, c);
                        EXPECT(r == POLCA_OK || r == POLCA_ERR_LAYOUT_MISMATCH);
                    }
                }
                polca__st_close(f);
            } else if (st != POLCA_ERR_CORRUPT && st != POLCA_ERR_UNSUPPORTED) {
                FAILF("flip at %zu: status %d (%s)", pos, (int)st, polca_last_error());
            } else if (!strstr(polca_last_error(), "flip.st: byte ")) {
                FAILF("flip at %zu: message without file and offset: %s", pos, polca_last_error());
            }
        }
    }
    free(b);
    free(orig);
}

/* ---- many names (issue 21, defect 7): correctness at sizes where the old
 * pairwise checks took minutes; the timing is bench/safetensors.c's ---- */

typedef struct text {
    char *p;
    size_t n, cap;
} text;

static void put(text *b, const char *s) {
    size_t n = strlen(s);
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

/* n one-element F32 tensors "t0".."t{n-1}" (with dup_of >= 0 the last one
 * is named like tensor dup_of), in reverse offset order. */
static unsigned char *many_tensors(int64_t n, int64_t dup_of, size_t *size) {
    text h = {0};
    char item[160];
    put(&h, "{");
    for (int64_t i = 0; i < n; i++) {
        int64_t name = (i == n - 1 && dup_of >= 0) ? dup_of : i, slot = n - 1 - i;
        snprintf(item, sizeof item,
                 "%s\"t%lld\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%lld,%lld]}",
                 i ? "," : "", (long long)name, (long long)(4 * slot), (long long)(4 * slot + 4));
        put(&h, item);
    }
    put(&h, "}");
    unsigned char *b = image(h.p, (size_t)n * 4, size);
    for (int64_t i = 0; i < n; i++) { /* tensor i holds the value i */
        float v = (float)i;
        memcpy(b + *size - 4 * (size_t)(i + 1), &v, 4);
    }
    free(h.p);
    return b;
}

TEST(hundred_thousand_tensors) {
    const int64_t n = 100000;
    size_t size;
    unsigned char *b = many_tensors(n, -1, &size);
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open_mem(b, size, "many.st", &f));
    CHECK(polca__st_count(f) == n);
    char name[32];
    for (int64_t i = 0; i < n; i += 997) {
        snprintf(name, sizeof name, "t%lld", (long long)i);
        int64_t k = polca__st_find(f, name);
        float v = -1;
        EXPECT(k == i && polca__st_read_f32(f, k, &v, 1) == POLCA_OK && v == (float)i);
    }
    CHECK(polca__st_find(f, "t100000") == -1 && polca__st_find(f, "t") == -1);
    polca__st_close(f);
    free(b);
    /* the last name repeats the first: still found, named, at its byte */
    b = many_tensors(n, 0, &size);
    CHECK_STATUS(polca__st_open_mem(b, size, "dup.st", &f), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS("duplicate tensor name");
    const char *at = strstr(polca_last_error(), "byte ");
    CHECK(at);
    unsigned long long byte = strtoull(at + 5, NULL, 10);
    size_t last = size - 6; /* where the last entry's name begins */
    while (last > 8 && memcmp(b + last, ",\"t0\":", 6) != 0) last--;
    CHECK(last > 8 && byte == last + 1);
    free(b);
}

TEST(hundred_thousand_metadata_keys) {
    const int64_t n = 100000;
    for (int dup = 0; dup < 2; dup++) {
        text h = {0};
        char item[64];
        put(&h, "{\"__metadata__\":{");
        for (int64_t i = 0; i < n; i++) {
            snprintf(item, sizeof item, "%s\"k%lld\":\"%lld\"", i ? "," : "",
                     (long long)(dup && i == n - 1 ? 12345 : i), (long long)i);
            put(&h, item);
        }
        put(&h, "}}");
        size_t size;
        unsigned char *b = image(h.p, 0, &size);
        polca__st_file *f = NULL;
        int32_t st = polca__st_open_mem(b, size, "meta.st", &f);
        free(b);
        free(h.p);
        if (dup) {
            CHECK_STATUS(st, POLCA_ERR_CORRUPT);
            CHECK_ERROR_MENTIONS("duplicate __metadata__ key");
            continue;
        }
        CHECK_OK(st);
        for (int64_t i = 0; i < n; i += 1009) {
            char key[32], val[32];
            snprintf(key, sizeof key, "k%lld", (long long)i);
            snprintf(val, sizeof val, "%lld", (long long)i);
            const char *v = polca__st_metadata(f, key);
            EXPECT(v && !strcmp(v, val));
        }
        CHECK(polca__st_metadata(f, "k100000") == NULL);
        polca__st_close(f);
    }
}

/* The set itself: every string found at its index, equal strings refused,
 * absent ones not found, a copy that answers the same. */
static const char *strs_at(const void *ctx, int64_t i) { return ((char *const *)ctx)[i]; }

TEST(strset_finds_and_refuses) {
    enum { N = 20000 };
    char **strs = calloc(N, sizeof *strs);
    CHECK(strs);
    polca__strset set, copy;
    polca__strset_init(&set);
    CHECK(polca__strset_find(&set, "x", strs_at, strs) == -1);
    for (int i = 0; i < N; i++) {
        char s[32];
        snprintf(s, sizeof s, i % 3 ? "name.%d" : "%d", i); /* short, long, "" */
        strs[i] = strdup(i == 7 ? "" : s);
        int64_t dup;
        CHECK_OK(polca__strset_add(&set, strs[i], i, strs_at, strs, &dup));
        CHECK(dup == -1);
    }
    CHECK(set.n == N && set.cap >= 2 * (uint64_t)N);
    for (int i = 0; i < N; i++) {
        int64_t dup;
        char *again = strdup(strs[i]);
        CHECK_OK(polca__strset_add(&set, again, N + i, strs_at, strs, &dup));
        EXPECT(dup == i);
        EXPECT(polca__strset_find(&set, again, strs_at, strs) == i);
        free(again);
    }
    CHECK(set.n == N);
    CHECK(polca__strset_find(&set, "name.0", strs_at, strs) == -1);
    CHECK(polca__strset_find(&set, "name.20001", strs_at, strs) == -1);
    CHECK_OK(polca__strset_copy(&copy, &set));
    for (int i = 0; i < N; i += 7) EXPECT(polca__strset_find(&copy, strs[i], strs_at, strs) == i);
    int64_t dup;
    CHECK_STATUS(polca__strset_add(&set, "new", -1, strs_at, strs, &dup),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca__strset_free(&copy);
    polca__strset_free(&set);
    polca__strset_free(&set); /* twice is harmless */
    for (int i = 0; i < N; i++) free(strs[i]);
    free(strs);
}

/* A series file whose layout lists 50000 tensors opens with the layout it
 * was written with (names, order, hash); a duplicate name in a layout is
 * still refused. */
TEST(fifty_thousand_tensor_layout) {
    const int64_t n = 50000;
    polca__layout l;
    polca__layout_init(&l);
    for (int64_t i = 0; i < n; i++) {
        char name[32];
        int64_t shape[2] = {1 + i % 3, 2};
        snprintf(name, sizeof name, "blocks.%lld.w", (long long)i);
        CHECK_OK(polca__layout_append(&l, name, 1 + (int32_t)(i % 2), shape));
    }
    polca__layout_rehash(&l);
    CHECK(l.hash == polca__layout_hash(&l));
    CHECK_STATUS(polca__layout_append(&l, "blocks.123.w", 1, (int64_t[]){1}),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("blocks.123.w");
    CHECK_STATUS(polca__layout_add(&l, "blocks.0.w", 1, (int64_t[]){1}),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK(l.n_tensors == n && polca__layout_find(&l, "blocks.49999.w") == n - 1);
    CHECK(polca__layout_find(&l, "blocks.50000.w") == -1);
    polca__layout cp;
    CHECK_OK(polca__layout_copy(&cp, &l));
    CHECK(polca__layout_equal(&cp, &l) && cp.hash == l.hash);
    CHECK(polca__layout_find(&cp, "blocks.777.w") == 777);
    CHECK_OK(polca__layout_add(&cp, "extra", 1, (int64_t[]){5}));
    CHECK(polca__layout_find(&cp, "extra") == n && cp.hash == polca__layout_hash(&cp));
    polca__layout_free(&cp);

    polca_context *ctx = NULL;
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "backend", "cpu"));
    CHECK_OK(polca_context_create(o, &ctx));
    polca_options_destroy(o);
    char path[] = "/tmp/polca_layout_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    polca_checkpoints *s = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "overwrite", 1));
    CHECK_OK(polca__checkpoints_create(ctx, &l, path, o, &s));
    polca_options_destroy(o);
    polca_checkpoints_destroy(s);
    s = NULL;
    CHECK_OK(polca_checkpoints_open(ctx, path, NULL, &s));
    const polca__layout *got = polca__checkpoints_layout(s);
    CHECK(got && polca__layout_equal(got, &l) && got->hash == l.hash);
    CHECK(polca__layout_find(got, "blocks.31337.w") == 31337);
    uint64_t h = 0;
    CHECK_OK(polca_checkpoints_layout_hash(s, &h));
    CHECK(h == l.hash);
    polca_checkpoints_destroy(s);
    unlink(path);
    polca_context_destroy(ctx);
    polca__layout_free(&l);
}

static int python_ok(const char *module) {
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import %s' >/dev/null 2>&1", py, module);
    return system(cmd) == 0;
}

TEST(writer_round_trip) {
    char path[] = "/tmp/polca_st_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    float a[6] = {1.5f, -2.0f, 0.0f, -0.0f, 1e-40f, 3.4e38f}, s = 7.0f, big[300];
    for (int i = 0; i < 300; i++) big[i] = (float)i * 0.25f - 10.0f;
    int64_t sa[2] = {2, 3}, sb[3] = {3, 10, 10}, sz[1] = {0};
    polca__st_out_tensor ts[4] = {
        {"w \"q\"\\\n\xc3\xa9", 2, sa, a},
        {"scalar", 0, NULL, &s},
        {"big.weight", 3, sb, big},
        {"empty", 1, sz, NULL},
    };
    const char *keys[2] = {"step", "why"}, *vals[2] = {"42", "tab\there"};
    CHECK_OK(polca__st_write_f32(path, 4, ts, 2, keys, vals));
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open(path, &f));
    CHECK(polca__st_count(f) == 4);
    CHECK(!strcmp(polca__st_metadata(f, "step"), "42"));
    CHECK(!strcmp(polca__st_metadata(f, "why"), "tab\there"));
    float got[300];
    int64_t i = polca__st_find(f, "w \"q\"\\\n\xc3\xa9");
    CHECK(i >= 0);
    CHECK_OK(polca__st_read_f32(f, i, got, 6));
    CHECK(same_bits(got, a, 6));
    CHECK_OK(polca__st_read_f32(f, polca__st_find(f, "big.weight"), got, 300));
    CHECK(same_bits(got, big, 300));
    CHECK_OK(polca__st_read_f32(f, polca__st_find(f, "scalar"), got, 1));
    CHECK(got[0] == 7.0f);
    CHECK(polca__st_tensor_at(f, polca__st_find(f, "scalar"))->ndim == 0);
    /* the data buffer starts 8-byte aligned, as the reference writer does */
    CHECK(polca__st_tensor_at(f, 0)->data_offset % 8 == 0);
    polca__st_close(f);

    /* An independent reader: Python's json module on the header, and the
     * reference implementation where it is installed. */
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s -c 'import json,struct,sys; b=open(sys.argv[1],\"rb\").read(); "
             "n=struct.unpack(\"<Q\",b[:8])[0]; h=json.loads(b[8:8+n]); "
             "assert h[\"__metadata__\"]=={\"step\":\"42\",\"why\":\"tab\\there\"}; "
             "t=h[\"big.weight\"]; assert t[\"shape\"]==[3,10,10] and t[\"dtype\"]==\"F32\"; "
             "v=struct.unpack(\"<300f\",b[8+n+t[\"data_offsets\"][0]:8+n+t[\"data_offsets\"][1]]);"
             " assert v[7]==7*0.25-10' %s",
             py, path);
    CHECK(system(cmd) == 0);
    if (python_ok("safetensors") && python_ok("numpy")) {
        snprintf(cmd, sizeof cmd,
                 "%s -c 'import sys,numpy as np; from safetensors.numpy import load_file; "
                 "d=load_file(sys.argv[1]); assert d[\"scalar\"].shape==() and d[\"scalar\"]==7; "
                 "assert d[\"empty\"].shape==(0,); "
                 "assert (d[\"big.weight\"].ravel()==np.arange(300,dtype=np.float32)*0.25-10)"
                 ".all(); assert d[\"w \\\"q\\\"\\\\\\n\\u00e9\"][0,0]==1.5' %s",
                 py, path);
        CHECK(system(cmd) == 0);
    }
    unlink(path);
}

TEST(writer_bad_input_and_atomicity) {
    float a[2] = {1, 2};
    int64_t sh[1] = {2}, neg[1] = {-1};
    polca__st_out_tensor ok = {"a", 1, sh, a};
    polca__st_out_tensor dup[2] = {{"a", 1, sh, a}, {"a", 1, sh, a}};
    polca__st_out_tensor reserved = {"__metadata__", 1, sh, a};
    polca__st_out_tensor badshape = {"a", 1, neg, a};
    polca__st_out_tensor nodata = {"a", 1, sh, NULL};
    polca__st_out_tensor noname = {NULL, 1, sh, a};
    polca__st_out_tensor badutf = {"\xff", 1, sh, a};
    const char *k[2] = {"x", "x"}, *v[2] = {"1", "2"};
    const char *p = "/tmp/polca_st_bad.safetensors";
    CHECK_STATUS(polca__st_write_f32(NULL, 1, &ok, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'path'");
    CHECK_STATUS(polca__st_write_f32(p, 1, NULL, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_write_f32(p, 2, dup, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("twice");
    CHECK_STATUS(polca__st_write_f32(p, 1, &reserved, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_write_f32(p, 1, &badshape, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_write_f32(p, 1, &nodata, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_write_f32(p, 1, &noname, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_write_f32(p, 1, &badutf, 0, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_write_f32(p, 1, &ok, 2, k, v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__st_write_f32(p, 1, &ok, 1, k, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(access(p, F_OK) != 0);
    CHECK_STATUS(polca__st_write_f32("/nonexistent-dir/x.safetensors", 1, &ok, 0, NULL, NULL),
                 POLCA_ERR_IO);
    CHECK_ERROR_MENTIONS("/nonexistent-dir/x.safetensors");
    /* Replacing an existing file leaves the new contents and no temporary. */
    CHECK_OK(polca__st_write_f32(p, 1, &ok, 0, NULL, NULL));
    float b2[2] = {5, 6};
    polca__st_out_tensor ok2 = {"b", 1, sh, b2};
    CHECK_OK(polca__st_write_f32(p, 1, &ok2, 1, k, v));
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open(p, &f));
    CHECK(polca__st_count(f) == 1 && polca__st_find(f, "b") == 0);
    polca__st_close(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s.tmp-* >/dev/null 2>&1", p);
    CHECK(system(cmd) != 0);
    unlink(p);
}

int main(void) {
    RUN(reads_reference_f32_file);
    RUN(converts_f16_bf16_f64);
    RUN(missing_file_is_io_error);
    RUN(hostile_headers);
    RUN(deep_nesting_is_bounded);
    RUN(oversize_header_length);
    RUN(every_truncation_and_byte_flip);
    RUN(hundred_thousand_tensors);
    RUN(hundred_thousand_metadata_keys);
    RUN(strset_finds_and_refuses);
    RUN(fifty_thousand_tensor_layout);
    RUN(writer_round_trip);
    RUN(writer_bad_input_and_atomicity);
    return harness_done();
}
