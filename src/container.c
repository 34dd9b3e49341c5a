/*
 * src/container.c - the container file format (container.h, docs/format.md).
 *
 * File layout (all little-endian; docs/format.md is the specification):
 *
 *   [0, 32)    fixed header: magic, version, file kind, header length H, CRC
 *   [32, 96)   two commit slots (sequence, committed end, record count, CRC)
 *   [96, H)    tagged fields, a terminating empty field, a CRC of [96, H-4)
 *   [H, end)   records: a record header (64 bytes in version 1, with its own
 *              CRC and the payload's CRC), then the payload: one zstd frame
 *              per block of 2^block_log2 elements
 */
#define _GNU_SOURCE /* flock, ftruncate */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zstd.h>

#include "bytes.h"
#include "container.h"
#include "crc32c.h"
#include "fileio.h"
#include "precond.h"

static const unsigned char MAGIC[8] = {0x89, 'P', 'O', 'L', 'C', 'A', '\r', '\n'};
#define FIXED_LEN 32u
#define SLOT_OFF 32u
#define SLOT_LEN 32u
#define FIELDS_OFF 96u
#define REC_MAGIC 0x43455250u /* "PREC" */
#define REC_LEN 64u           /* record header bytes written by version 1 */
#define REC_MAX_LEN 4096u
#define CODEC_ZSTD 1u
#define ZSTD_MAGIC 0xFD2FB528u
#define BLOCK_LOG2_MIN 10
#define BLOCK_LOG2_MAX 24

struct polca__container {
    polca__src src;    /* reads; src.fd is also the write fd */
    polca__atomic tmp; /* POLCA__CT_WHOLE while unfinished */
    int mode;          /* -1 read-only, POLCA__CT_WHOLE, POLCA__CT_APPEND */
    int broken;        /* an append failed after touching the commit slots */
    int replaced;      /* APPEND: the file at the path is no longer ours */
    polca__anchor anchor; /* APPEND: where the file is, to notice a replacement */
    uint32_t kind;
    uint64_t header_len;
    unsigned char *fields; /* [96, H) as read/written */
    int has_layout;
    polca__layout layout;
    /* commit state */
    uint64_t seq, end;
    /* index */
    polca__ct_record *recs;
    int64_t n, cap;
    /* cache: the last decoded (or appended) record */
    unsigned char *cache;
    size_t cache_cap;
    int64_t cache_idx; /* -1 when empty */
    /* scratch */
    unsigned char *payload, *scratch, *enc, *out_a, *out_b;
    size_t payload_cap, scratch_cap, enc_cap, out_a_cap, out_b_cap;
    ZSTD_DCtx *dctx;
    ZSTD_CCtx *cctx;
    polca__ct_config cfg;
};

void polca__ct_config_default(polca__ct_config *cfg) {
    cfg->level = 3;
    cfg->max_chain = 32;
    cfg->precond = 0;
    cfg->sync = 1;
    cfg->block_log2 = 18;
    cfg->full_trials = 0;
    cfg->no_replace = 0;
}

size_t polca__ct_dtype_size(uint32_t dtype) {
    switch (dtype) {
    case POLCA__DT_U8: return 1;
    case POLCA__DT_I32: return 4;
    case POLCA__DT_I64: return 8;
    case POLCA__DT_F32: return 4;
    case POLCA__DT_F64: return 8;
    default: return 0;
    }
}

static int32_t corrupt(const polca__container *c, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int32_t corrupt(const polca__container *c, uint64_t off, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return polca__fail(POLCA_ERR_CORRUPT, "%s: byte %llu: %s", c->src.name, (unsigned long long)off,
                       what);
}

/* Grows a scratch buffer to at least n bytes (contents not kept). */
static int32_t reserve(unsigned char **buf, size_t *cap, size_t n, const char *what) {
    if (*cap >= n && *buf) return POLCA_OK;
    free(*buf);
    *cap = 0;
    *buf = polca__alloc(n, what);
    if (!*buf) return POLCA_ERR_OUT_OF_MEMORY;
    *cap = n;
    return POLCA_OK;
}

/* ---- header ---- */

static void put_field(unsigned char *p, size_t *pos, uint32_t tag, const void *data, uint64_t len) {
    polca__st32(p + *pos, tag);
    polca__st32(p + *pos + 4, 0);
    polca__st64(p + *pos + 8, len);
    if (len) memcpy(p + *pos + 16, data, (size_t)len);
    *pos += 16 + (size_t)len;
    while (*pos % 8) p[(*pos)++] = 0;
}

static size_t layout_field_len(const polca__layout *l) {
    size_t n = 16;
    for (int64_t i = 0; i < l->n_tensors; i++)
        n += 4 + strlen(l->tensors[i].name) + 4 + 8 * (size_t)l->tensors[i].ndim + 8;
    return n;
}

static void layout_field(const polca__layout *l, unsigned char *p) {
    polca__st64(p, (uint64_t)l->n_tensors);
    polca__st64(p + 8, (uint64_t)l->n_params);
    size_t pos = 16;
    for (int64_t i = 0; i < l->n_tensors; i++) {
        const polca__tensor_info *t = &l->tensors[i];
        uint32_t len = (uint32_t)strlen(t->name);
        polca__st32(p + pos, len);
        memcpy(p + pos + 4, t->name, len);
        pos += 4 + len;
        polca__st32(p + pos, (uint32_t)t->ndim);
        pos += 4;
        for (int d = 0; d < t->ndim; d++, pos += 8) polca__st64(p + pos, (uint64_t)t->shape[d]);
        polca__st64(p + pos, (uint64_t)t->offset);
        pos += 8;
    }
}

static void make_slot(unsigned char *s, uint64_t seq, uint64_t end, uint64_t n) {
    polca__st64(s, seq);
    polca__st64(s + 8, end);
    polca__st64(s + 16, n);
    polca__st32(s + 24, 0);
    polca__st32(s + 28, polca__crc32c(0, s, 28));
}

/* Builds the whole header [0, H) with slot A committing zero records. */
static int32_t build_header(polca__container *c, const polca__layout *layout,
                            const polca__ct_field *fields, int64_t n_fields,
                            unsigned char **out_buf) {
    char creator[64];
    snprintf(creator, sizeof creator, "libpolca %s", polca_version_string());
    size_t need = FIELDS_OFF + 16 + strlen(creator) + 8 + 16 /* terminator */ + 8 /* crc */;
    size_t lay_len = layout ? layout_field_len(layout) : 0;
    if (layout) need += (16 + lay_len + 7) + (16 + 8);
    for (int64_t i = 0; i < n_fields; i++) need += 16 + (size_t)fields[i].len + 7;
    if (need > POLCA__CT_MAX_HEADER)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: the header would take %zu bytes (limit %u)", c->src.name, need,
                           POLCA__CT_MAX_HEADER);
    unsigned char *h = polca__calloc(1, need, "a container header");
    if (!h) return POLCA_ERR_OUT_OF_MEMORY;
    size_t pos = FIELDS_OFF;
    put_field(h, &pos, POLCA__FIELD_CREATOR, creator, strlen(creator));
    if (layout) {
        unsigned char *lay = polca__alloc(lay_len, "a layout field");
        if (!lay) {
            free(h);
            return POLCA_ERR_OUT_OF_MEMORY;
        }
        layout_field(layout, lay);
        put_field(h, &pos, POLCA__FIELD_LAYOUT, lay, lay_len);
        free(lay);
        unsigned char hash[8];
        polca__st64(hash, polca__layout_hash(layout));
        put_field(h, &pos, POLCA__FIELD_LAYOUT_HASH, hash, 8);
    }
    for (int64_t i = 0; i < n_fields; i++)
        put_field(h, &pos, fields[i].tag, fields[i].data, fields[i].len);
    put_field(h, &pos, 0, NULL, 0); /* terminator */
    pos += 8;                       /* reserved u32 + CRC u32 */
    uint64_t H = pos;
    memcpy(h, MAGIC, 8);
    polca__st32(h + 8, POLCA__CT_VERSION);
    polca__st32(h + 12, c->kind);
    polca__st64(h + 16, H);
    polca__st32(h + 24, 0);
    polca__st32(h + 28, polca__crc32c(0, h, 28));
    make_slot(h + SLOT_OFF, 1, H, 0);
    memset(h + SLOT_OFF + SLOT_LEN, 0, SLOT_LEN); /* slot B: invalid until used */
    polca__st32(h + H - 8, 0);
    polca__st32(h + H - 4, polca__crc32c(0, h + FIELDS_OFF, (size_t)(H - 4 - FIELDS_OFF)));
    c->header_len = H;
    *out_buf = h;
    return POLCA_OK;
}

/* Parses the layout field into c->layout; offsets are relative to the
 * field's first byte at file offset `at`. */
static int32_t parse_layout(polca__container *c, const unsigned char *p, uint64_t len,
                            uint64_t at) {
    if (len < 16) return corrupt(c, at, "layout field of %llu bytes", (unsigned long long)len);
    uint64_t nt = polca__ld64(p), np = polca__ld64(p + 8);
    /* each tensor takes at least 4 + 1 + 4 + 8 bytes */
    if (nt > (len - 16) / 17)
        return corrupt(c, at, "layout claims %llu tensors", (unsigned long long)nt);
    uint64_t pos = 16;
    for (uint64_t i = 0; i < nt; i++) {
        char name[POLCA_LAYOUT_NAME_MAX + 1];
        int64_t shape[POLCA_LAYOUT_MAX_DIMS];
        if (len - pos < 4)
            return corrupt(c, at + pos, "layout field ends inside tensor %llu",
                           (unsigned long long)i);
        uint32_t nl = polca__ld32(p + pos);
        if (nl == 0 || nl > POLCA_LAYOUT_NAME_MAX || len - pos - 4 < (uint64_t)nl + 4)
            return corrupt(c, at + pos, "layout tensor %llu: bad name length %u",
                           (unsigned long long)i, nl);
        memcpy(name, p + pos + 4, nl);
        name[nl] = 0;
        if (strlen(name) != nl)
            return corrupt(c, at + pos, "layout tensor %llu: NUL in its name",
                           (unsigned long long)i);
        pos += 4 + nl;
        uint32_t nd = polca__ld32(p + pos);
        pos += 4;
        if (nd > POLCA_LAYOUT_MAX_DIMS || len - pos < 8 * (uint64_t)nd + 8)
            return corrupt(c, at + pos - 4, "layout tensor '%s': bad dimension count %u", name, nd);
        for (uint32_t d = 0; d < nd; d++, pos += 8) shape[d] = (int64_t)polca__ld64(p + pos);
        int64_t off = (int64_t)polca__ld64(p + pos);
        pos += 8;
        if (polca__layout_append(&c->layout, name, (int32_t)nd, shape) != POLCA_OK)
            return corrupt(c, at, "layout tensor %llu: %s", (unsigned long long)i,
                           polca_last_error());
        if (c->layout.tensors[i].offset != off)
            return corrupt(c, at + pos - 8, "layout tensor '%s': offset %lld, expected %lld", name,
                           (long long)off, (long long)c->layout.tensors[i].offset);
    }
    polca__layout_rehash(&c->layout); /* once: O(n), not per tensor */
    if (pos != len)
        return corrupt(c, at + pos, "layout field has %llu trailing bytes",
                       (unsigned long long)(len - pos));
    if ((uint64_t)c->layout.n_params != np)
        return corrupt(c, at + 8, "layout: %llu parameters stored, the tensors add up to %lld",
                       (unsigned long long)np, (long long)c->layout.n_params);
    return POLCA_OK;
}

static int32_t parse_fields(polca__container *c) {
    const unsigned char *f = c->fields;
    uint64_t H = c->header_len, pos = FIELDS_OFF, end = H - 8;
    int have_hash = 0, have_layout = 0;
    uint64_t hash = 0;
    for (;;) {
        if (end - pos < 16) return corrupt(c, pos, "header fields run into the header checksum");
        uint32_t tag = polca__ld32(f + pos - FIELDS_OFF);
        uint64_t len = polca__ld64(f + pos - FIELDS_OFF + 8);
        if (tag == 0) {
            if (len != 0 || pos + 16 != end) return corrupt(c, pos, "bad header field terminator");
            break;
        }
        if (len > end - pos - 16)
            return corrupt(c, pos, "header field %#x of %llu bytes does not fit", tag,
                           (unsigned long long)len);
        const unsigned char *v = f + pos - FIELDS_OFF + 16;
        if (tag == POLCA__FIELD_LAYOUT) {
            if (have_layout) return corrupt(c, pos, "two layout fields");
            have_layout = 1;
            int32_t st = parse_layout(c, v, len, pos + 16);
            if (st) return st;
        } else if (tag == POLCA__FIELD_LAYOUT_HASH) {
            if (len != 8 || have_hash) return corrupt(c, pos, "bad layout hash field");
            have_hash = 1;
            hash = polca__ld64(v);
        } else if (tag & POLCA__FIELD_REQUIRED) {
            /* Required tags this version knows: none yet. */
            return polca__fail(POLCA_ERR_VERSION,
                               "%s: byte %llu: header field %#x must be understood and this "
                               "libpolca (format version %d) does not know it",
                               c->src.name, (unsigned long long)pos, tag, POLCA__CT_VERSION);
        }
        uint64_t adv = 16 + len;
        adv += (8 - adv % 8) % 8;
        if (adv > end - pos) return corrupt(c, pos, "header field padding does not fit");
        pos += adv;
    }
    if (have_layout != have_hash)
        return corrupt(c, FIELDS_OFF, "layout and layout hash must come together");
    if (have_layout && (hash != polca__layout_hash(&c->layout)))
        return corrupt(c, FIELDS_OFF, "layout hash %016llx does not match the layout (%016llx)",
                       (unsigned long long)hash,
                       (unsigned long long)polca__layout_hash(&c->layout));
    c->has_layout = have_layout;
    return POLCA_OK;
}

int polca__ct_field_get(const polca__container *c, uint32_t tag, const void **data, uint64_t *len) {
    uint64_t pos = FIELDS_OFF, end = c->header_len - 8;
    while (end - pos >= 16) {
        const unsigned char *f = c->fields + pos - FIELDS_OFF;
        uint32_t t = polca__ld32(f);
        uint64_t l = polca__ld64(f + 8);
        if (t == 0) break;
        if (t == tag) {
            *data = f + 16;
            *len = l;
            return 1;
        }
        pos += 16 + l + (8 - (16 + l) % 8) % 8; /* validated by parse_fields */
    }
    return 0;
}

/* ---- reading the header and the index ---- */

static int32_t push_record(polca__container *c, const polca__ct_record *r) {
    if (c->n == c->cap) {
        int64_t nc = c->cap ? c->cap * 2 : 64;
        polca__ct_record *g = realloc(c->recs, (size_t)nc * sizeof *g);
        if (!g) return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory growing a record index");
        c->recs = g;
        c->cap = nc;
    }
    c->recs[c->n++] = *r;
    return POLCA_OK;
}

/* Parses and checks one record header at pos (records before it are in the
 * index). limit: the committed end. */
static int32_t read_record_header(polca__container *c, uint64_t pos, uint64_t limit,
                                  polca__ct_record *r) {
    unsigned char h[REC_MAX_LEN];
    if (limit - pos < REC_LEN)
        return corrupt(c, pos, "record header cut short by the committed end");
    int32_t st = polca__src_read(&c->src, pos, h, REC_LEN, "a record header");
    if (st) return st;
    if (polca__ld32(h) != REC_MAGIC)
        return corrupt(c, pos, "no record header here (bad record magic)");
    uint32_t R = polca__ld16(h + 4);
    if (R < REC_LEN || R % 8 || R > REC_MAX_LEN || limit - pos < R)
        return corrupt(c, pos + 4, "bad record header length %u", R);
    if (R > REC_LEN &&
        (st = polca__src_read(&c->src, pos + REC_LEN, h + REC_LEN, R - REC_LEN, "a record header")))
        return st;
    if (polca__ld32(h + R - 4) != polca__crc32c(0, h, R - 4))
        return corrupt(c, pos, "record header checksum mismatch");
    memset(r, 0, sizeof *r);
    r->offset = pos;
    r->header_len = (uint16_t)R;
    r->dtype = h[6];
    r->precond = h[7];
    r->kind = polca__ld32(h + 8);
    r->block_log2 = h[12];
    unsigned codec = h[13];
    r->step = (int64_t)polca__ld64(h + 16);
    r->n_elems = polca__ld64(h + 24);
    r->payload_len = polca__ld64(h + 32);
    r->ref = (int64_t)polca__ld64(h + 40);
    r->payload_crc = polca__ld32(h + 48);
    size_t s = polca__ct_dtype_size(r->dtype);
    if (!s) return corrupt(c, pos + 6, "unknown element type %u", r->dtype);
    if (!polca__pre_valid(r->precond))
        return corrupt(c, pos + 7, "unknown preconditioning %#x", r->precond);
    if (codec != CODEC_ZSTD) return corrupt(c, pos + 13, "unknown codec %u", codec);
    if (r->block_log2 < BLOCK_LOG2_MIN || r->block_log2 > BLOCK_LOG2_MAX)
        return corrupt(c, pos + 12, "block size 2^%u out of range", r->block_log2);
    if (r->n_elems > (uint64_t)INT64_MAX / 8)
        return corrupt(c, pos + 24, "element count %llu too large", (unsigned long long)r->n_elems);
    if (r->payload_len > limit - pos - R)
        return corrupt(c, pos + 32,
                       "payload of %llu bytes runs past the committed end at byte %llu",
                       (unsigned long long)r->payload_len, (unsigned long long)limit);
    if ((r->n_elems == 0) != (r->payload_len == 0))
        return corrupt(c, pos + 24, "payload size %llu for %llu elements",
                       (unsigned long long)r->payload_len, (unsigned long long)r->n_elems);
    int delta = (r->precond & (POLCA__PRE_XOR | POLCA__PRE_SUB)) != 0;
    if (r->ref < -1 || r->ref >= c->n || delta != (r->ref >= 0))
        return corrupt(c, pos + 40, "bad reference record %lld for record %lld", (long long)r->ref,
                       (long long)c->n);
    if (r->ref >= 0) {
        const polca__ct_record *b = &c->recs[r->ref];
        if (b->dtype != r->dtype || b->n_elems != r->n_elems || b->kind != r->kind)
            return corrupt(c, pos + 40, "reference record %lld has another kind, type or size",
                           (long long)r->ref);
        r->chain = (uint8_t)(b->chain < 255 ? b->chain + 1 : 255);
    }
    return POLCA_OK;
}

static int32_t load(polca__container *c, uint32_t expect_kind) {
    unsigned char h[FIELDS_OFF];
    uint64_t size = c->src.size;
    size_t got = size < FIELDS_OFF ? (size_t)size : FIELDS_OFF;
    int32_t st = polca__src_read(&c->src, 0, h, got, "the file header");
    if (st) return st;
    if (got < 8 || memcmp(h, MAGIC, 8) != 0)
        return corrupt(c, 0,
                       got < 8 ? "file too short for a libpolca container"
                               : "not a libpolca container (bad magic)");
    if (got < 12) return corrupt(c, 8, "file too short for a libpolca container");
    uint32_t version = polca__ld32(h + 8);
    if (version != POLCA__CT_VERSION)
        return polca__fail(
            POLCA_ERR_VERSION,
            "%s: byte 8: container format version %u; this libpolca reads version %d", c->src.name,
            version, POLCA__CT_VERSION);
    if (got < FIELDS_OFF) return corrupt(c, got, "file too short for a libpolca container header");
    if (polca__ld32(h + 28) != polca__crc32c(0, h, 28))
        return corrupt(c, 0, "file header checksum mismatch");
    c->kind = polca__ld32(h + 12);
    uint64_t H = polca__ld64(h + 16);
    if (H % 8 || H < FIELDS_OFF + 24 || H > POLCA__CT_MAX_HEADER)
        return corrupt(c, 16, "header length %llu out of range", (unsigned long long)H);
    if (H > size)
        return corrupt(c, 16, "header length %llu exceeds the file size %llu",
                       (unsigned long long)H, (unsigned long long)size);
    if (expect_kind && c->kind != expect_kind)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: a container of kind %u, expected kind %u", c->src.name, c->kind,
                           expect_kind);
    c->header_len = H;
    c->fields = polca__alloc((size_t)(H - FIELDS_OFF), "container header fields");
    if (!c->fields) return POLCA_ERR_OUT_OF_MEMORY;
    if ((st = polca__src_read(&c->src, FIELDS_OFF, c->fields, (size_t)(H - FIELDS_OFF),
                              "the header fields")))
        return st;
    if (polca__ld32(c->fields + H - 4 - FIELDS_OFF) !=
        polca__crc32c(0, c->fields, (size_t)(H - 4 - FIELDS_OFF)))
        return corrupt(c, H - 4, "header fields checksum mismatch");
    if ((st = parse_fields(c))) return st;
    /* commit slots: the valid one with the higher sequence. A writer may be
     * appending: it rewrites only the older slot, so one slot is always
     * valid unless two commits landed inside our read of both; read again
     * then. */
    uint64_t best_seq = 0, end = 0, count = 0;
    for (int tries = 0; !best_seq && tries < 4; tries++) {
        if (tries && (st = polca__src_read(&c->src, SLOT_OFF, h + SLOT_OFF, 2 * SLOT_LEN,
                                           "the commit slots")))
            return st;
        for (int k = 0; k < 2; k++) {
            const unsigned char *s = h + SLOT_OFF + SLOT_LEN * k;
            if (polca__ld32(s + 28) != polca__crc32c(0, s, 28)) continue;
            uint64_t seq = polca__ld64(s);
            if (seq > best_seq) {
                best_seq = seq;
                end = polca__ld64(s + 8);
                count = polca__ld64(s + 16);
            }
        }
        if (c->src.mem) break;
    }
    if (!best_seq) return corrupt(c, SLOT_OFF, "neither commit slot is valid");
    if (end < H)
        return corrupt(c, SLOT_OFF, "committed end %llu lies inside the header",
                       (unsigned long long)end);
    /* The size was taken when the file was opened; a writer may have
     * committed more since (its records are written before its commit): the
     * size now is what the commit just read must fit in. */
    if (end > size && (st = polca__src_refresh_size(&c->src))) return st;
    size = c->src.size;
    if (end > size)
        return corrupt(c, size, "file truncated: %llu bytes committed, %llu present",
                       (unsigned long long)end, (unsigned long long)size);
    if (count > (end - H) / REC_LEN)
        return corrupt(c, SLOT_OFF, "%llu records cannot fit in %llu bytes",
                       (unsigned long long)count, (unsigned long long)(end - H));
    c->seq = best_seq;
    c->end = end;
    uint64_t pos = H;
    while (pos < end) {
        polca__ct_record r;
        if ((uint64_t)c->n == count)
            return corrupt(c, pos, "data after the %llu committed records",
                           (unsigned long long)count);
        if ((st = read_record_header(c, pos, end, &r))) return st;
        if ((st = push_record(c, &r))) return st;
        pos += r.header_len + r.payload_len;
    }
    if ((uint64_t)c->n != count)
        return corrupt(c, end, "%lld records found, %llu committed", (long long)c->n,
                       (unsigned long long)count);
    return POLCA_OK;
}

static polca__container *new_container(void) {
    polca__container *c = polca__calloc(1, sizeof *c, "a container");
    if (!c) return NULL;
    c->src.fd = -1;
    c->tmp.fd = -1;
    c->anchor.dirfd = -1;
    c->mode = -1;
    c->cache_idx = -1;
    polca__layout_init(&c->layout);
    polca__ct_config_default(&c->cfg);
    return c;
}

static int32_t check_config(const polca__ct_config *cfg) {
    if (cfg->level < 1 || cfg->level > 19)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "zstd level %d out of range 1..19",
                           (int)cfg->level);
    if (cfg->max_chain < 0 || cfg->max_chain > 255)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "max_chain %d out of range 0..255",
                           (int)cfg->max_chain);
    if (cfg->block_log2 < 12 || cfg->block_log2 > 22)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "block_log2 %d out of range 12..22",
                           (int)cfg->block_log2);
    if (cfg->precond && (!(cfg->precond & POLCA__CT_PRE_FORCED) ||
                         !polca__pre_valid(cfg->precond & ~POLCA__CT_PRE_FORCED)))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "bad preconditioning choice %#x",
                           (unsigned)cfg->precond);
    return POLCA_OK;
}

/* Opens path for appending: the exclusive lock first, then a check that
 * the locked file is still the one at the path (a replacement between the
 * open and the lock would leave us appending to an unlinked file). While we
 * hold the lock no libpolca writer replaces it (fileio.c). */
static int32_t open_writer(polca__container *c, const char *path) {
    int32_t st = polca__anchor_open(&c->anchor, path);
    for (int attempt = 0; !st && attempt < 100; attempt++) {
        if ((st = polca__src_open_rw(&c->src, path))) return st;
        if (flock(c->src.fd, LOCK_EX | LOCK_NB) != 0)
            return polca__fail(errno == EWOULDBLOCK ? POLCA_ERR_STATE : POLCA_ERR_IO,
                               "%s: another writer holds this file, or is replacing it (%s)",
                               path, strerror(errno));
        st = polca__anchor_check(&c->anchor, c->src.fd, path, "while it was being opened");
        if (!st) return POLCA_OK;
        polca__src_close(&c->src); /* replaced meanwhile: open the new one */
        polca__clear_error();
        st = POLCA_OK;
    }
    if (st) return st;
    return polca__fail(POLCA_ERR_IO, "%s: replaced 100 times while being opened for appending",
                       path);
}

int32_t polca__ct_open(const char *path, uint32_t expect_kind, int32_t writable,
                       const polca__ct_config *cfg, polca__container **out) {
    if (cfg && check_config(cfg)) return POLCA_ERR_INVALID_ARGUMENT;
    polca__container *c = new_container();
    if (!c) return POLCA_ERR_OUT_OF_MEMORY;
    if (cfg) c->cfg = *cfg;
    int32_t st = writable ? open_writer(c, path) : polca__src_open(&c->src, path);
    if (!st) st = load(c, expect_kind);
    if (!st && writable) {
        c->mode = POLCA__CT_APPEND;
        /* Drop what a killed writer left past the committed end. */
        if (c->src.size > c->end && ftruncate(c->src.fd, (off_t)c->end) != 0)
            st = polca__fail(POLCA_ERR_IO, "%s: cannot drop an interrupted append: %s", path,
                             strerror(errno));
        c->src.size = c->end;
    }
    if (st) {
        polca__ct_close(c);
        return st;
    }
    *out = c;
    return POLCA_OK;
}

int32_t polca__ct_open_mem(const void *data, size_t size, const char *name, uint32_t expect_kind,
                           polca__container **out) {
    polca__container *c = new_container();
    if (!c) return POLCA_ERR_OUT_OF_MEMORY;
    int32_t st = polca__src_mem(&c->src, size ? data : "", size, name);
    if (!st) st = load(c, expect_kind);
    if (st) {
        polca__ct_close(c);
        return st;
    }
    *out = c;
    return POLCA_OK;
}

int32_t polca__ct_create(const char *path, uint32_t file_kind, const polca__layout *layout,
                         const polca__ct_field *fields, int64_t n_fields, int32_t mode,
                         const polca__ct_config *cfg, polca__container **out) {
    static const char fn[] = "polca__ct_create";
    if (!path || !path[0] || !out || (n_fields > 0 && !fields) || n_fields < 0 ||
        (mode != POLCA__CT_WHOLE && mode != POLCA__CT_APPEND) || file_kind == 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: bad argument", fn);
    for (int64_t i = 0; i < n_fields; i++)
        if (fields[i].tag < POLCA__FIELD_USER || fields[i].len > POLCA__CT_MAX_FIELD_LEN ||
            (fields[i].len && !fields[i].data))
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: field %lld: bad tag %#x or length",
                               fn, (long long)i, fields[i].tag);
    if (cfg && check_config(cfg)) return POLCA_ERR_INVALID_ARGUMENT;
    polca__container *c = new_container();
    if (!c) return POLCA_ERR_OUT_OF_MEMORY;
    if (cfg) c->cfg = *cfg;
    c->kind = file_kind;
    c->mode = mode;
    int32_t st = polca__src_mem(&c->src, "", 0, path); /* name only; fd below */
    unsigned char *h = NULL;
    if (!st) st = build_header(c, layout, fields, n_fields, &h);
    if (!st && layout) {
        st = polca__layout_copy(&c->layout, layout);
        c->has_layout = st == POLCA_OK;
    }
    if (!st) {
        c->fields = polca__alloc((size_t)(c->header_len - FIELDS_OFF), "container header fields");
        if (!c->fields)
            st = POLCA_ERR_OUT_OF_MEMORY;
        else
            memcpy(c->fields, h + FIELDS_OFF, (size_t)(c->header_len - FIELDS_OFF));
    }
    if (!st) st = polca__atomic_begin(&c->tmp, path);
    if (!st) st = polca__write_at(c->tmp.fd, 0, h, (size_t)c->header_len, c->tmp.tmp);
    free(h);
    c->src.mem = NULL;
    c->seq = 1;
    c->end = c->header_len;
    if (!st && mode == POLCA__CT_APPEND) {
        /* Keep the descriptor: it stays valid across the rename. The lock is
         * taken before the file appears at the path, so no other writer or
         * replacer ever gets between. */
        int fd = -1;
        if (flock(c->tmp.fd, LOCK_EX | LOCK_NB) != 0)
            st = polca__fail(POLCA_ERR_IO, "%s: cannot lock a new file: %s", c->tmp.tmp,
                             strerror(errno));
        if (!st) st = polca__anchor_open(&c->anchor, path);
        if (!st && (fd = dup(c->tmp.fd)) < 0)
            st = polca__fail(POLCA_ERR_IO, "%s: dup failed: %s", path, strerror(errno));
        if (!st) st = polca__atomic_commit_mode(&c->tmp, c->cfg.no_replace);
        if (st && fd >= 0) close(fd);
        if (!st) c->src.fd = fd;
    } else if (!st) {
        c->src.fd = c->tmp.fd;
    }
    c->src.size = c->end;
    if (st) {
        polca__ct_close(c);
        return st;
    }
    *out = c;
    return POLCA_OK;
}

int32_t polca__ct_finish(polca__container *c) {
    if (!c || c->mode != POLCA__CT_WHOLE || c->tmp.fd < 0) return POLCA_OK;
    unsigned char slot[SLOT_LEN];
    make_slot(slot, 1, c->end, (uint64_t)c->n);
    int32_t st = polca__write_at(c->tmp.fd, SLOT_OFF, slot, SLOT_LEN, c->tmp.tmp);
    int fd = st ? -1 : dup(c->tmp.fd);
    if (!st && fd < 0)
        st = polca__fail(POLCA_ERR_IO, "%s: dup failed: %s", c->tmp.path, strerror(errno));
    if (!st)
        st = polca__atomic_commit_mode(&c->tmp, c->cfg.no_replace);
    else
        polca__atomic_abort(&c->tmp);
    if (st) {
        if (fd >= 0) close(fd);
        c->src.fd = -1;
        c->mode = -1;
        c->broken = 1;
        return st;
    }
    c->src.fd = fd; /* the renamed file, for reads */
    c->mode = -1;
    return POLCA_OK;
}

void polca__ct_close(polca__container *c) {
    if (!c) return;
    if (c->tmp.fd >= 0 && c->src.fd == c->tmp.fd) c->src.fd = -1; /* closed by abort */
    polca__atomic_abort(&c->tmp);
    polca__src_close(&c->src);
    polca__anchor_close(&c->anchor);
    polca__layout_free(&c->layout);
    free(c->fields);
    free(c->recs);
    free(c->cache);
    free(c->payload);
    free(c->scratch);
    free(c->enc);
    free(c->out_a);
    free(c->out_b);
    ZSTD_freeDCtx(c->dctx);
    ZSTD_freeCCtx(c->cctx);
    free(c);
}

const char *polca__ct_path(const polca__container *c) { return c->src.name; }
uint32_t polca__ct_file_kind(const polca__container *c) { return c->kind; }
const polca__layout *polca__ct_layout(const polca__container *c) {
    return c->has_layout ? &c->layout : NULL;
}
int64_t polca__ct_count(const polca__container *c) { return c->n; }
const polca__ct_record *polca__ct_record_at(const polca__container *c, int64_t i) {
    return i >= 0 && i < c->n ? &c->recs[i] : NULL;
}

/* ---- decoding ---- */

/* Decodes record i's payload into dst, against ref (dst may equal ref;
 * ref unused for standalone records). */
static int32_t decode_one(polca__container *c, int64_t i, unsigned char *dst,
                          const unsigned char *ref) {
    const polca__ct_record *r = &c->recs[i];
    size_t s = polca__ct_dtype_size(r->dtype);
    uint64_t n = r->n_elems;
    if (n == 0) return POLCA_OK;
    uint64_t at = r->offset + r->header_len;
    int32_t st = reserve(&c->payload, &c->payload_cap, (size_t)r->payload_len, "a record payload");
    if (st) return st;
    if ((st = polca__src_read(&c->src, at, c->payload, (size_t)r->payload_len, "a record payload")))
        return st;
    if (polca__crc32c(0, c->payload, (size_t)r->payload_len) != r->payload_crc)
        return corrupt(c, at, "record %lld: payload checksum mismatch", (long long)i);
    uint64_t B = (uint64_t)1 << r->block_log2;
    size_t block_bytes = (size_t)((n < B ? n : B) * s);
    if ((st = reserve(&c->scratch, &c->scratch_cap, block_bytes, "a decode buffer"))) return st;
    if (!c->dctx && !(c->dctx = ZSTD_createDCtx()))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory creating a zstd decoder");
    const unsigned char *p = c->payload;
    size_t left = (size_t)r->payload_len;
    for (uint64_t first = 0; first < n; first += B) {
        uint64_t nb = n - first < B ? n - first : B;
        size_t bytes = (size_t)(nb * s);
        uint64_t frame_at = at + (uint64_t)(p - c->payload);
        if (left < 6 || polca__ld32(p) != ZSTD_MAGIC)
            return corrupt(c, frame_at, "record %lld: expected a zstd frame", (long long)i);
        if (!(p[4] & 0x04))
            return corrupt(c, frame_at, "record %lld: zstd frame without content checksum",
                           (long long)i);
        size_t fsize = ZSTD_findFrameCompressedSize(p, left);
        if (ZSTD_isError(fsize))
            return corrupt(c, frame_at, "record %lld: bad zstd frame (%s)", (long long)i,
                           ZSTD_getErrorName(fsize));
        unsigned long long content = ZSTD_getFrameContentSize(p, fsize);
        if (content != bytes)
            return corrupt(c, frame_at, "record %lld: zstd frame holds %lld bytes, expected %zu",
                           (long long)i,
                           content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR
                               ? -1LL
                               : (long long)content,
                           bytes);
        size_t got = ZSTD_decompressDCtx(c->dctx, c->scratch, bytes, p, fsize);
        if (ZSTD_isError(got) || got != bytes)
            return corrupt(c, frame_at, "record %lld: zstd frame does not decode (%s)",
                           (long long)i, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
        polca__pre_decode(dst + first * s, c->scratch, ref ? ref + first * s : NULL, (size_t)nb, s,
                          r->precond);
        p += fsize;
        left -= fsize;
    }
    if (left)
        return corrupt(c, at + (uint64_t)(p - c->payload),
                       "record %lld: %zu bytes after its last frame", (long long)i, left);
    return POLCA_OK;
}

static int32_t fill_cache(polca__container *c, const void *data, size_t bytes, int64_t idx) {
    c->cache_idx = -1;
    int32_t st = reserve(&c->cache, &c->cache_cap, bytes, "the record cache");
    if (st) return st;
    if (bytes) memcpy(c->cache, data, bytes);
    c->cache_idx = idx;
    return POLCA_OK;
}

int32_t polca__ct_read(polca__container *c, int64_t i, void *dst, uint64_t n_elems) {
    if (!c || i < 0 || i >= c->n)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__ct_read: no record %lld",
                           (long long)i);
    const polca__ct_record *r = &c->recs[i];
    if (n_elems != r->n_elems)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: record %lld has %llu elements, the caller expected %llu",
                           c->src.name, (long long)i, (unsigned long long)r->n_elems,
                           (unsigned long long)n_elems);
    if (n_elems && !dst)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca__ct_read: 'dst' is NULL");
    size_t bytes = (size_t)(n_elems * polca__ct_dtype_size(r->dtype));
    if (bytes == 0) return POLCA_OK;
    if (c->cache_idx == i) {
        memcpy(dst, c->cache, bytes);
        return POLCA_OK;
    }
    /* Walk the reference chain back to a standalone record or the cache. */
    int64_t len = 0;
    for (int64_t j = i; j >= 0 && j != c->cache_idx; j = c->recs[j].ref) len++;
    int64_t *chain = polca__alloc((size_t)len * sizeof *chain, "a reference chain");
    if (!chain) return POLCA_ERR_OUT_OF_MEMORY;
    int64_t k = 0, j = i;
    for (; j >= 0 && j != c->cache_idx; j = c->recs[j].ref) chain[k++] = j;
    int32_t st = POLCA_OK;
    if (j >= 0) memcpy(dst, c->cache, bytes); /* chain ends at the cache */
    for (k = len - 1; k >= 0 && !st; k--)
        st = decode_one(c, chain[k], dst, c->recs[chain[k]].ref >= 0 ? dst : NULL);
    free(chain);
    if (!st) st = fill_cache(c, dst, bytes, i);
    return st;
}

/* ---- appending ---- */

/* Compresses data[n] (s-byte elements) with mode into out (room for the
 * sum of the per-block bounds); returns the compressed size or 0 with an
 * error recorded. Blocks [b0, b1) only (trials) unless b1 == 0. */
static size_t compress_with(polca__container *c, unsigned char *out, size_t out_cap,
                            const unsigned char *data, const unsigned char *ref, uint64_t n,
                            size_t s, unsigned mode, uint64_t B, const uint64_t *blocks,
                            size_t n_blocks) {
    size_t pos = 0;
    for (size_t bi = 0; bi < n_blocks; bi++) {
        uint64_t first = blocks ? blocks[bi] * B : bi * B;
        uint64_t nb = n - first < B ? n - first : B;
        polca__pre_encode(c->enc, data + first * s, ref ? ref + first * s : NULL, (size_t)nb, s,
                          mode);
        size_t z = ZSTD_compress2(c->cctx, out + pos, out_cap - pos, c->enc, (size_t)(nb * s));
        if (ZSTD_isError(z)) {
            polca__fail(POLCA_ERR_INTERNAL, "%s: zstd compression failed: %s", c->src.name,
                        ZSTD_getErrorName(z));
            return 0;
        }
        pos += z;
    }
    return pos;
}

int32_t polca__ct_append(polca__container *c, uint32_t kind, int64_t step, uint32_t dtype,
                         const void *data, uint64_t n_elems, int32_t delta_ok) {
    static const char fn[] = "polca__ct_append";
    if (!c) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: NULL container", fn);
    if (c->mode < 0 || c->broken)
        return polca__fail(POLCA_ERR_STATE, "%s: %s", c->src.name,
                           c->broken ? "an earlier write failed; reopen the file"
                                     : "opened read-only (open it with option "
                                       "'writable' = 1 to append)");
    /* Another program may have renamed a file over ours, or removed it: the
     * appends would go to a file nobody can open any more. */
    if (c->mode == POLCA__CT_APPEND) {
        if (c->replaced)
            return polca__fail(POLCA_ERR_IO,
                               "%s: replaced or removed since it was opened for appending; "
                               "nothing more can be appended to this series (reopen the path)",
                               c->src.name);
        int32_t gone = polca__anchor_check(&c->anchor, c->src.fd, c->src.name,
                                           "since it was opened for appending; nothing more can "
                                           "be appended to this series (reopen the path)");
        if (gone) {
            c->replaced = 1;
            return gone;
        }
    }
    size_t s = polca__ct_dtype_size(dtype);
    if (!s || (n_elems && !data) || n_elems > (uint64_t)SIZE_MAX / 16)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: bad dtype, data or n_elems", fn);
    const uint64_t B = (uint64_t)1 << c->cfg.block_log2;
    const uint64_t n_blocks = (n_elems + B - 1) / B;
    const size_t bytes = (size_t)(n_elems * s);
    int32_t st;
    /* The reference: the previous record, if compatible and the chain allows. */
    const unsigned char *ref = NULL;
    int64_t ref_idx = -1;
    if (delta_ok && c->n > 0 && c->cfg.max_chain > 0 && n_elems > 0) {
        const polca__ct_record *p = &c->recs[c->n - 1];
        if (p->kind == kind && p->dtype == dtype && p->n_elems == n_elems &&
            p->chain < c->cfg.max_chain) {
            if (c->cache_idx != c->n - 1) {
                /* decode into a temporary; polca__ct_read keeps it as the cache */
                unsigned char *tmp = polca__alloc(bytes, "a reference record");
                if (!tmp) return POLCA_ERR_OUT_OF_MEMORY;
                st = polca__ct_read(c, c->n - 1, tmp, n_elems);
                free(tmp);
                if (st) return polca__wrap(st, "%s: reading the previous record", fn);
            }
            ref = c->cache;
            ref_idx = c->n - 1;
        }
    }
    /* Candidates. */
    unsigned cands[6], nc = 0;
    if (c->cfg.precond) {
        unsigned m = c->cfg.precond & ~POLCA__CT_PRE_FORCED;
        if (!ref) m &= POLCA__PRE_SHUFFLE;
        cands[nc++] = m;
    } else {
        cands[nc++] = 0;
        cands[nc++] = POLCA__PRE_SHUFFLE;
        if (ref) {
            cands[nc++] = POLCA__PRE_XOR;
            cands[nc++] = POLCA__PRE_XOR | POLCA__PRE_SHUFFLE;
            cands[nc++] = POLCA__PRE_SUB;
            cands[nc++] = POLCA__PRE_SUB | POLCA__PRE_SHUFFLE;
        }
    }
    if (!c->cctx) {
        c->cctx = ZSTD_createCCtx();
        if (!c->cctx)
            return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory creating a zstd encoder");
    }
    ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, c->cfg.level);
    ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1);
    size_t block_bytes = (size_t)((n_elems < B ? n_elems : B) * s);
    size_t bound = (size_t)n_blocks * ZSTD_compressBound(block_bytes);
    if ((st = reserve(&c->enc, &c->enc_cap, block_bytes, "an encode buffer"))) return st;
    if ((st = reserve(&c->out_a, &c->out_a_cap, REC_LEN + bound, "a compressed record"))) return st;
    unsigned mode = cands[0];
    size_t done = 0; /* bytes of the finished record in out_a, 0 = not yet */
    if (nc > 1 && n_elems > 0) {
        /* Trials: every block when the record is small or cfg->full_trials,
         * else up to 4 blocks spread evenly. */
        uint64_t sample[4];
        size_t ns = 0;
        if (n_blocks <= 4 || c->cfg.full_trials) {
            ns = (size_t)n_blocks;
        } else {
            for (size_t k = 0; k < 4; k++) sample[k] = (uint64_t)k * (n_blocks - 1) / 3;
            ns = 4;
        }
        /* With every block in the trial, the best trial is the record:
         * keep it (in out_a, the other buffer takes the next trial). */
        int whole = ns == n_blocks;
        if (whole &&
            (st = reserve(&c->out_b, &c->out_b_cap, REC_LEN + bound, "a compressed record")))
            return st;
        size_t best = SIZE_MAX;
        for (unsigned k = 0; k < nc; k++) {
            unsigned char *dst = whole && best != SIZE_MAX ? c->out_b : c->out_a;
            size_t z = compress_with(c, dst + REC_LEN, bound, data, ref, n_elems, s, cands[k], B,
                                     whole ? NULL : sample, ns);
            if (!z) return POLCA_ERR_INTERNAL;
            if (z < best) {
                best = z;
                mode = cands[k];
                if (dst == c->out_b) { /* swap: out_a holds the best */
                    unsigned char *t = c->out_a;
                    size_t tc = c->out_a_cap;
                    c->out_a = c->out_b;
                    c->out_a_cap = c->out_b_cap;
                    c->out_b = t;
                    c->out_b_cap = tc;
                }
            }
        }
        if (whole) done = best;
    }
    size_t z = done;
    if (n_elems && !done) {
        z = compress_with(c, c->out_a + REC_LEN, bound, data,
                          mode & (POLCA__PRE_XOR | POLCA__PRE_SUB) ? ref : NULL, n_elems, s, mode,
                          B, NULL, (size_t)n_blocks);
        if (!z) return POLCA_ERR_INTERNAL;
    }
    if (!(mode & (POLCA__PRE_XOR | POLCA__PRE_SUB))) ref_idx = -1;
    /* The record header. */
    unsigned char *h = c->out_a;
    memset(h, 0, REC_LEN);
    polca__st32(h, REC_MAGIC);
    polca__st16(h + 4, REC_LEN);
    h[6] = (unsigned char)dtype;
    h[7] = (unsigned char)mode;
    polca__st32(h + 8, kind);
    h[12] = (unsigned char)c->cfg.block_log2;
    h[13] = CODEC_ZSTD;
    polca__st64(h + 16, (uint64_t)step);
    polca__st64(h + 24, n_elems);
    polca__st64(h + 32, z);
    polca__st64(h + 40, (uint64_t)ref_idx);
    polca__st32(h + 48, polca__crc32c(0, h + REC_LEN, z));
    polca__st32(h + 60, polca__crc32c(0, h, REC_LEN - 4));
    polca__ct_record r = {0};
    r.offset = c->end;
    r.payload_len = z;
    r.n_elems = n_elems;
    r.step = step;
    r.ref = ref_idx;
    r.kind = kind;
    r.payload_crc = polca__ld32(h + 48);
    r.header_len = REC_LEN;
    r.dtype = (uint8_t)dtype;
    r.precond = (uint8_t)mode;
    r.block_log2 = (uint8_t)c->cfg.block_log2;
    r.chain = ref_idx >= 0 ? (uint8_t)(c->recs[ref_idx].chain + 1) : 0;
    if (c->n == c->cap) { /* grow first so a failure after the write cannot lose the entry */
        if ((st = push_record(c, &r))) return st;
        c->n--;
    }
    const char *wpath = c->mode == POLCA__CT_WHOLE ? c->tmp.tmp : c->src.name;
    /* 1. the record, past the committed end */
    if ((st = polca__write_at(c->src.fd, c->end, h, REC_LEN + z, wpath))) return st;
    uint64_t new_end = c->end + REC_LEN + z;
    if (c->mode == POLCA__CT_APPEND) {
        /* 2. durable before it is committed */
        if (c->cfg.sync && (st = polca__fsync(c->src.fd, wpath))) return st;
        /* 3. commit: overwrite the older slot */
        unsigned char slot[SLOT_LEN];
        make_slot(slot, c->seq + 1, new_end, (uint64_t)c->n + 1);
        uint64_t slot_off = SLOT_OFF + SLOT_LEN * ((c->seq + 1) % 2 == 1 ? 0 : 1);
        st = polca__write_at(c->src.fd, slot_off, slot, SLOT_LEN, wpath);
        if (!st && c->cfg.sync) st = polca__fsync(c->src.fd, wpath);
        if (st) {
            c->broken = 1; /* the commit may or may not be on disk */
            return st;
        }
        c->seq++;
        /* Replaced while we wrote: the commit went to the old file. */
        if ((st = polca__anchor_check(&c->anchor, c->src.fd, c->src.name,
                                      "during this append, which went to the old file; nothing "
                                      "more can be appended to this series (reopen the path)"))) {
            c->replaced = 1;
            return st;
        }
    }
    c->end = new_end;
    c->src.size = new_end;
    c->recs[c->n++] = r;
    /* The appended data is the next record's reference. */
    if (fill_cache(c, data, bytes, c->n - 1)) polca__clear_error(); /* cache is optional */
    return POLCA_OK;
}
