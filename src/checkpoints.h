/*
 * src/checkpoints.h - private side of polca_checkpoints (polca/checkpoints.h):
 * creating a series from a layout, importing safetensors files, and what
 * later stages need from a series. The public constructors that take a
 * polca_model wrap these with polca__model_layout(model).
 */
#ifndef POLCA_CHECKPOINTS_PRIVATE_H
#define POLCA_CHECKPOINTS_PRIVATE_H

#include <stdint.h>

#include "internal.h"
#include "layout.h"

#define POLCA_MAGIC_CHECKPOINTS 0x504b4350u /* "PCKP" */

/*
 * Creates an empty series for `layout` (copied; at least one parameter).
 * path NULL: in memory (each appended vector is copied and kept).
 * path non-NULL: a new file; the empty series is committed to it (temporary
 * file, fsync, rename) before this returns, and every append commits in
 * place (docs/format.md). Options (NULL for defaults): "zstd_level",
 * "max_chain", "precondition", "full_trials", "sync" as for
 * polca_checkpoints_open (ignored in memory), and
 *   "overwrite" int 0 (default): an existing file at path is an error
 *               (POLCA_ERR_IO); 1: it is replaced.
 */
POLCA_INTERNAL int32_t polca__checkpoints_create(polca_context *ctx, const polca__layout *layout,
                                                 const char *path, const polca_options *options,
                                                 polca_checkpoints **out);

/*
 * Builds a series from safetensors files, one checkpoint per file, in
 * increasing step order whatever the order of `files`. The step of a file is
 * the integer value of its metadata key "step" (option "step_key" names
 * another key); without that key, the first run of decimal digits in the
 * file's base name ("ckpt_000120.safetensors" -> 120). Two files with one
 * step, or a file without a step, are POLCA_ERR_INVALID_ARGUMENT naming them.
 * Each file must hold every tensor of the layout by name with the same shape
 * (F32, F16, BF16 or F64; converted to float32), else
 * POLCA_ERR_LAYOUT_MISMATCH naming the tensor and file; other tensors in the
 * files are ignored. path NULL: in memory; else a new file written through a
 * temporary file and renamed when complete (nothing appears at path on
 * failure). Options: those of polca__checkpoints_create, "step_key" (string),
 * and "writable" (int, 0 default: the returned file-backed series accepts
 * appends when 1).
 */
POLCA_INTERNAL int32_t polca__checkpoints_import_safetensors(
    polca_context *ctx, const polca__layout *layout, int64_t n_files, const char *const *files,
    const char *path, const polca_options *options, polca_checkpoints **out);

/* The same with a reader for each checkpoint (a file, or a directory):
 * reader(user, path, theta, fn) fills theta[layout's P] or fails with a
 * message; NULL reads safetensors files by the layout's names. A directory's
 * step is the first run of digits of its name ("step1000",
 * "checkpoint-500"). */
typedef int32_t (*polca__ckpt_reader)(void *user, const char *path, float *theta, const char *fn);
POLCA_INTERNAL int32_t polca__checkpoints_import_with(
    polca_context *ctx, const polca__layout *layout, polca__ckpt_reader reader, void *user,
    int64_t n_files, const char *const *files, const char *path, const polca_options *options,
    polca_checkpoints **out);

/* The series' layout (valid while it lives). */
POLCA_INTERNAL const polca__layout *polca__checkpoints_layout(const polca_checkpoints *series);

#endif /* POLCA_CHECKPOINTS_PRIVATE_H */
