/*
 * src/progress_file.h - the progress file of a long call, so a killed run
 * can resume (docs/format.md "Progress files"; the options "progress_file"
 * and "resume" of polca_trajectories_create and polca_basis_create_hessian).
 *
 * A container file of kind POLCA__FILE_PROGRESS grown in APPEND mode: one
 * record per finished unit of work (a checkpoint interval, a basis
 * checkpoint), each committed durably before the call goes on, so a kill at
 * any moment leaves every record committed before it readable. A record is
 * one packed byte array whose layout the calling code defines; the header
 * says which computation the file belongs to:
 *   - `what`: POLCA__PROGRESS_TRAJECTORIES or POLCA__PROGRESS_BASIS;
 *   - a 64-bit fingerprint of every input that decides the result (shapes,
 *     options, steps, basis vectors, data, rank and size), so progress of
 *     another computation is never mixed in.
 * With a communicator of size > 1, rank r of s uses "<path>.<r>-of-<s>".
 */
#ifndef POLCA_PROGRESS_FILE_H
#define POLCA_PROGRESS_FILE_H

#include "container.h"
#include "internal.h"

#define POLCA__FILE_PROGRESS 5u
#define POLCA__PROGRESS_TRAJECTORIES 1u
#define POLCA__PROGRESS_BASIS 2u

typedef struct polca__progress_file {
    polca__container *ct;
    int64_t n_done; /* records found when the file was opened (0: fresh) */
} polca__progress_file;

/* A 64-bit hash of bytes (FNV-style, 8 bytes a step), accumulated into *h
 * (start from POLCA__FP_START). Not cryptographic: it tells inputs apart. */
#define POLCA__FP_START 0xcbf29ce484222325ull
POLCA_INTERNAL void polca__fingerprint(uint64_t *h, const void *data, size_t bytes);

/* Fingerprints of a call's inputs: a data set's contents; a model's kind
 * parameter layout and architecture (the transformer's switches, the MLP's
 * activation; a host model's callbacks are not covered); the context's backend, its device
 * and thread count, and this rank and the communicator's size. */
POLCA_INTERNAL void polca__fingerprint_data(uint64_t *h, const polca_data *data);
POLCA_INTERNAL void polca__fingerprint_model(uint64_t *h, const polca_model *model);
POLCA_INTERNAL void polca__fingerprint_context(uint64_t *h, const polca_context *ctx);

/* The file this rank uses for the host's path (see above); malloc'd. */
POLCA_INTERNAL char *polca__progress_path(const polca_context *ctx, const char *path);

/*
 * Opens the progress file at path (already per-rank).
 *   resume 0: a fresh file replaces whatever is at path.
 *   resume 1: a file of the same `what` and fingerprint is kept and its
 *             records reused (n_done of them); a missing file starts fresh;
 *             a file of another computation fails with POLCA_ERR_STATE
 *             naming path and what differs (never overwritten); a damaged
 *             one is POLCA_ERR_CORRUPT.
 */
POLCA_INTERNAL int32_t polca__progress_open(const char *path, uint32_t what, uint64_t fingerprint,
                                            int resume, polca__progress_file **out);
/* Record i (< n_done + appended) into buf[bytes]; its size must be bytes. */
POLCA_INTERNAL int32_t polca__progress_read(polca__progress_file *f, int64_t i, void *buf,
                                            size_t bytes);
/* Appends and commits one record. */
POLCA_INTERNAL int32_t polca__progress_append(polca__progress_file *f, const void *buf,
                                              size_t bytes);
/* NULL is a no-op. The file stays on disk: the host removes it after it has
 * saved the result. */
POLCA_INTERNAL void polca__progress_close(polca__progress_file *f);

#endif /* POLCA_PROGRESS_FILE_H */
