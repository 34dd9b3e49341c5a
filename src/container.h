/*
 * src/container.h - the libpolca container file: one format for checkpoint
 * series, bases, trajectories and clusterings. Private. docs/format.md is the
 * byte-level specification; this is the API over it.
 *
 * A container holds a header (file kind, optional parameter layout and its
 * hash, tagged fields that readers skip when they do not know them) and an
 * ordered list of records. A record is one array of n elements of one dtype,
 * with a record kind, a step (or any int64 key), and a payload that is
 * preconditioned (precond.h), cut into blocks and compressed as one zstd
 * frame per block with zstd's content checksum; the record header carries a
 * CRC-32C of itself and of the payload.
 *
 * Records may be stored as a delta against an earlier record (XOR or
 * difference, chosen per record by what compresses smallest). The writer
 * bounds the length of such reference chains (max_chain), so random access to
 * any record decodes at most max_chain + 1 records; sequential reads decode
 * one, because the container keeps the last decoded record.
 *
 * Two ways of writing:
 *   POLCA__CT_WHOLE   everything goes to a temporary file beside the path,
 *                     which polca__ct_finish fsyncs and renames over it
 *                     (bases, trajectories, clusterings, saved series).
 *   POLCA__CT_APPEND  the empty container is created that way at once; each
 *                     polca__ct_append then writes its record past the
 *                     committed end, fsyncs, and commits it by rewriting the
 *                     older of two checksummed commit slots in the header,
 *                     and fsyncs again (checkpoint series grown during
 *                     training). A kill at any moment leaves every record
 *                     committed before it readable; bytes past the committed
 *                     end are ignored by readers and overwritten by the next
 *                     append.
 *
 * Concurrency (docs/format.md 1.5): an APPEND writer holds an exclusive
 * flock on its file from before the file appears at the path, and checks
 * before writing and after committing each record that its file is still
 * the one at the path (else POLCA_ERR_IO, "replaced", and every later
 * append fails too). Readers take no lock and see the commit in force when
 * they opened the file.
 *
 * Memory: a reader holds the header, an index of 56-byte entries per record,
 * and at most a few arrays of one record's size; never the whole file.
 * Sizes read from a file are checked against the file size before any
 * allocation; arrays of a record's size are allocated only when the caller
 * asks to read it into a buffer of that size.
 */
#ifndef POLCA_CONTAINER_H
#define POLCA_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "layout.h"

#define POLCA__CT_VERSION 1 /* the format version this library writes and reads */

/* File kinds (a u32 in the header; readers may insist on one). */
#define POLCA__FILE_CHECKPOINTS 1u
#define POLCA__FILE_BASIS 2u
#define POLCA__FILE_TRAJECTORIES 3u
#define POLCA__FILE_CLUSTERING 4u

/* Record kinds: a u32 per record, free for each file kind to define; these
 * are the ones in use. */
#define POLCA__REC_CHECKPOINT 1u /* float32 [P] parameters at a training step */
#define POLCA__REC_ARRAY 2u      /* a generic array; meaning given by the file kind */

/* Element types. */
#define POLCA__DT_U8 1u
#define POLCA__DT_I32 2u
#define POLCA__DT_I64 3u
#define POLCA__DT_F32 4u
#define POLCA__DT_F64 5u

/* Header field tags. Tags below POLCA__FIELD_USER belong to the container;
 * file kinds number their own from POLCA__FIELD_USER. A tag with
 * POLCA__FIELD_REQUIRED set must be understood: a reader that does not know
 * it refuses the file with POLCA_ERR_VERSION; other unknown tags are skipped. */
#define POLCA__FIELD_LAYOUT 1u      /* the parameter layout (format.md)        */
#define POLCA__FIELD_LAYOUT_HASH 2u /* u64 polca__layout_hash of it            */
#define POLCA__FIELD_CREATOR 3u     /* UTF-8 text: "libpolca 0.1.0"             */
#define POLCA__FIELD_USER 0x100u
#define POLCA__FIELD_REQUIRED 0x80000000u

#define POLCA__CT_WHOLE 0
#define POLCA__CT_APPEND 1

#define POLCA__CT_MAX_HEADER (64u << 20)    /* bytes; larger headers are corrupt */
#define POLCA__CT_MAX_FIELD_LEN (16u << 20) /* bytes of one caller field */

typedef struct polca__ct_field {
    uint32_t tag;
    uint64_t len;
    const void *data; /* len bytes, copied at create */
} polca__ct_field;

/* Writer settings (polca__ct_config_default gives the defaults). */
typedef struct polca__ct_config {
    int32_t level;       /* zstd level, 1..19; default 3 */
    int32_t max_chain;   /* longest run of delta records, 0 = never delta; default 32 */
    uint32_t precond;    /* 0 = try every candidate and keep the smallest (default);
                            else POLCA__PRE_* bits + POLCA__CT_PRE_FORCED: always
                            that mode (where a delta is impossible, its shuffle bit
                            alone) */
    int32_t sync;        /* 1 (default): fsync as described above; 0: skip fsync
                            (still safe against a killed process, not against a
                            power cut) */
    int32_t block_log2;  /* elements per compressed block = 2^block_log2, 12..22;
                            default 18 */
    int32_t full_trials; /* 0 (default): candidates are compared on at most 4
                            blocks spread over the record (all blocks when it
                            has at most 4); 1: on the whole record */
    int32_t no_replace;  /* 0 (default): polca__ct_create replaces a file at
                            the path (unless a writer holds it:
                            POLCA_ERR_STATE); 1: a file there, even one
                            another process creates meanwhile, is
                            POLCA_ERR_IO "already exists" (atomically) */
} polca__ct_config;

#define POLCA__CT_PRE_FORCED 0x100u

POLCA_INTERNAL void polca__ct_config_default(polca__ct_config *cfg);

/* One index entry (what polca__ct_record_at returns). */
typedef struct polca__ct_record {
    uint64_t offset;      /* byte offset of the record header */
    uint64_t payload_len; /* compressed bytes after the record header */
    uint64_t n_elems;
    int64_t step;
    int64_t ref; /* index of the reference record, or -1 */
    uint32_t kind;
    uint32_t payload_crc;
    uint16_t header_len; /* bytes of the record header */
    uint8_t dtype;
    uint8_t precond; /* POLCA__PRE_* bits */
    uint8_t block_log2;
    uint8_t chain; /* delta records since the last standalone one (writer) */
} polca__ct_record;

typedef struct polca__container polca__container;

/* Bytes per element of a dtype, 0 if unknown. */
POLCA_INTERNAL size_t polca__ct_dtype_size(uint32_t dtype);

/* Creates a container at path. layout may be NULL (no layout fields). fields
 * are the file kind's own header fields (tags >= POLCA__FIELD_USER). cfg NULL
 * = defaults. The handle is ready for polca__ct_append. */
POLCA_INTERNAL int32_t polca__ct_create(const char *path, uint32_t file_kind,
                                        const polca__layout *layout, const polca__ct_field *fields,
                                        int64_t n_fields, int32_t mode, const polca__ct_config *cfg,
                                        polca__container **out);

/* Opens an existing container. expect_kind 0 accepts any file kind, else a
 * different kind is POLCA_ERR_INVALID_ARGUMENT naming both. writable: open
 * for appending in place (POLCA__CT_APPEND rules; an exclusive advisory lock
 * keeps a second writer, and any libpolca replacement, out with
 * POLCA_ERR_STATE). cfg is used by appends
 * (NULL = defaults). Reads the header and builds the record index by reading
 * each record header (O(records) small reads, no payloads). */
POLCA_INTERNAL int32_t polca__ct_open(const char *path, uint32_t expect_kind, int32_t writable,
                                      const polca__ct_config *cfg, polca__container **out);
/* A read-only container over data[size] (borrowed until close). */
POLCA_INTERNAL int32_t polca__ct_open_mem(const void *data, size_t size, const char *name,
                                          uint32_t expect_kind, polca__container **out);

/* POLCA__CT_WHOLE: writes the commit, fsyncs and renames the temporary file
 * over the path. Afterwards the handle reads like an opened file. No-op for
 * other handles. */
POLCA_INTERNAL int32_t polca__ct_finish(polca__container *c);
/* Closes; an unfinished POLCA__CT_WHOLE container's temporary file is
 * removed (the destination is untouched). NULL is a no-op. */
POLCA_INTERNAL void polca__ct_close(polca__container *c);

POLCA_INTERNAL const char *polca__ct_path(const polca__container *c);
POLCA_INTERNAL uint32_t polca__ct_file_kind(const polca__container *c);
/* NULL when the file has no layout. */
POLCA_INTERNAL const polca__layout *polca__ct_layout(const polca__container *c);
/* A header field: 1 and (*data, *len) when present (valid while c lives), else 0. */
POLCA_INTERNAL int polca__ct_field_get(const polca__container *c, uint32_t tag, const void **data,
                                       uint64_t *len);
POLCA_INTERNAL int64_t polca__ct_count(const polca__container *c);
POLCA_INTERNAL const polca__ct_record *polca__ct_record_at(const polca__container *c, int64_t i);

/* Appends one record: data[n_elems] of dtype. delta_ok: the record may be
 * stored as a delta against the record before it (when that one has the same
 * kind, dtype and n_elems and the chain is shorter than max_chain). The
 * candidates (shuffle or not x no delta, XOR, difference) are all compressed
 * and the smallest kept, unless cfg->precond forces one. In APPEND mode the
 * record is committed (durable, per cfg->sync) when this returns POLCA_OK; on
 * failure the container is unchanged. */
POLCA_INTERNAL int32_t polca__ct_append(polca__container *c, uint32_t kind, int64_t step,
                                        uint32_t dtype, const void *data, uint64_t n_elems,
                                        int32_t delta_ok);

/* Reads record i into dst[n_elems] (n_elems must equal the record's). Checks
 * the payload CRC, the zstd content checksums and every size; failures are
 * POLCA_ERR_CORRUPT with the file name and byte offset. On failure dst's
 * contents are unspecified. */
POLCA_INTERNAL int32_t polca__ct_read(polca__container *c, int64_t i, void *dst, uint64_t n_elems);

#endif /* POLCA_CONTAINER_H */
