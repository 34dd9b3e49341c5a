/*
 * polca/checkpoints.h - a series of training checkpoints: (training step,
 * parameter vector) pairs for one model's parameter layout, in increasing
 * step order.
 *
 * A series lives in memory or in a file. A file-backed series keeps only an
 * index of its records and one decoded checkpoint in memory, never the whole
 * series; its file is compressed losslessly (docs/format.md: each checkpoint
 * is stored byte-shuffled, and usually as the bitwise XOR or integer
 * difference from the checkpoint before it, whichever compresses smallest),
 * so reads return exactly the floats that were appended.
 *
 * A training loop appends one checkpoint per call, from host memory. Each
 * append to a file is durable when the call returns: a process killed at any
 * moment (even inside an append) leaves a file that opens with every
 * checkpoint whose append had returned.
 *
 * New series are created from a model (polca/model.h); existing files are
 * opened here.
 *
 * Threads: a series is used by one thread at a time (see polca/core.h).
 *
 * Processes (docs/format.md, "Concurrent processes"): of several processes
 * creating one new file, exactly one succeeds (the others get POLCA_ERR_IO,
 * "exists"). One writer per file: a second handle opened for writing on
 * the same file, in any process, gets POLCA_ERR_STATE. While a writer holds
 * a file, libpolca does not replace it ("overwrite", save, any export to
 * that path: POLCA_ERR_STATE); if another program replaces or removes it,
 * the writer's next append fails with POLCA_ERR_IO ("replaced"). Readers
 * may open a file while a writer appends; they see the checkpoints
 * committed when they opened it.
 *
 * Paths that are not regular files (a FIFO, a directory, a device) are
 * POLCA_ERR_IO naming them, at once.
 */
#ifndef POLCA_CHECKPOINTS_H
#define POLCA_CHECKPOINTS_H

#include "polca/core.h"
#include "polca/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct polca_checkpoints polca_checkpoints;

/*
 * Creates an empty series for the parameter layout of `model` (copied: the
 * model may be destroyed afterwards). path NULL: in memory (each appended
 * vector is copied). path non-NULL: a new file, created empty and committed
 * (temporary file, fsync, rename) before this returns; each append then
 * commits in place. Options (NULL for defaults): "zstd_level", "max_chain",
 * "precondition", "full_trials", "sync" as for polca_checkpoints_open
 * (ignored in memory), and
 *   "overwrite"    int  0 (default): an existing file at path is an error
 *                       (POLCA_ERR_IO), also one that another process
 *                       creates during this call; 1: it is replaced, unless
 *                       a writer holds it (POLCA_ERR_STATE).
 * out: receives the series; untouched on failure.
 */
POLCA_API int32_t polca_checkpoints_create(polca_context *ctx, const polca_model *model,
                                           const char *path, const polca_options *options,
                                           polca_checkpoints **out);

/*
 * Builds a series from checkpoints, one per file, sorted by step whatever
 * the order of files[n_files]. For the built-in transformer each may be a
 * safetensors file or a save_pretrained directory (or shard index) in any
 * layout polca_model_load_pretrained reads (polca/model.h: TransformerLens
 * 2/3/4, Hugging Face GPT-2, GPT-NeoX, Llama, Qwen2, detected per
 * checkpoint), converted exactly; for other models, safetensors files with
 * the layout's tensor names; n_files >= 1 (0 is
 * POLCA_ERR_INVALID_ARGUMENT: create an empty series with
 * polca_checkpoints_create). A file's step is the integer value
 * of its metadata key "step" (option "step_key" names another key), else the
 * first run of decimal digits in its base name ("ckpt_000120.safetensors" ->
 * 120; a directory's name: "step1000/" -> 1000, "checkpoint-500" -> 500).
 * Two files with one step, or a file with no step, are
 * POLCA_ERR_INVALID_ARGUMENT naming them. Each file must hold every tensor of
 * the model's layout with the same shape (F32, F16, BF16 or F64; converted to
 * float32), else POLCA_ERR_LAYOUT_MISMATCH naming the tensor and file; other
 * tensors are ignored. path NULL: in memory; else a new file written through
 * a temporary file and renamed when complete (nothing appears at path on
 * failure). Options: those of polca_checkpoints_create, "step_key" (string)
 * and "writable" (int, default 0: 1 lets the returned series take appends).
 * Progress goes to the context's callback (polca/core.h): stage "import
 * steps" (files whose step was read, of n_files), then "import" (tensors
 * read, of n_files x the layout's tensor count; for the transformer after
 * each whole checkpoint); a callback that returns
 * nonzero stops the import with POLCA_ERR_CANCELLED (nothing at path, out
 * untouched).
 */
POLCA_API int32_t polca_checkpoints_import_safetensors(polca_context *ctx,
                                                       const polca_model *model,
                                                       int64_t n_files,
                                                       const char *const *files,
                                                       const char *path,
                                                       const polca_options *options,
                                                       polca_checkpoints **out);

/*
 * Opens a checkpoint series file; its parameter layout comes from the file.
 * path: UTF-8 file name. Options (NULL for defaults):
 *   "writable"     int  0 (default): read only. 1: polca_checkpoints_append
 *                       may add checkpoints (an interrupted append left by a
 *                       killed writer is discarded first).
 *   "zstd_level"   int  1..19, default 3: compression level of appends.
 *   "max_chain"    int  0..255, default 32: at most this many consecutive
 *                       checkpoints are stored as deltas, so a random read
 *                       decodes at most max_chain + 1 records. 0: every
 *                       checkpoint standalone.
 *   "precondition" string "auto" (default: try each and keep the smallest),
 *                       or always one of "none", "shuffle", "xor",
 *                       "xor_shuffle", "diff", "diff_shuffle".
 *   "full_trials"  int  0 (default): "auto" compares the candidates on up to
 *                       four 1 MiB blocks spread over the checkpoint; 1: on
 *                       all of it (slower appends, rarely smaller).
 *   "sync"         int  1 (default): fsync each append, so it survives a
 *                       power cut too. 0: survives a killed process only.
 * Errors: POLCA_ERR_IO (cannot open), POLCA_ERR_CORRUPT (a check failed: the
 * message names the file and byte offset), POLCA_ERR_VERSION (written by a
 * newer libpolca), POLCA_ERR_STATE (writable, and another writer holds it).
 * out: receives the series; untouched on failure.
 */
POLCA_API int32_t polca_checkpoints_open(polca_context *ctx, const char *path,
                                         const polca_options *options, polca_checkpoints **out);

/* Closes the series (a file-backed one is already durable). NULL: no-op. */
POLCA_API void polca_checkpoints_destroy(polca_checkpoints *series);

/*
 * Appends a checkpoint. step: the training step, greater than every step in
 * the series. theta: in: [n_params] float32, host memory, copied (not kept);
 * every value finite (else POLCA_ERR_NOT_FINITE naming the tensor and
 * element). n_params: must equal polca_checkpoints_n_params. A file-backed
 * series must have been created, or opened with "writable" = 1 (else
 * POLCA_ERR_STATE). If another program has replaced or removed the file at
 * the series' path since it was opened, the append fails with POLCA_ERR_IO
 * ("replaced"), as does every later one: reopen the path. On failure the
 * series is unchanged.
 */
POLCA_API int32_t polca_checkpoints_append(polca_checkpoints *series, int64_t step,
                                           const float *theta, int64_t n_params);

/* out_count: number of checkpoints. */
POLCA_API int32_t polca_checkpoints_count(const polca_checkpoints *series, int64_t *out_count);
/* out_n_params: P, the length of every parameter vector in the series. */
POLCA_API int32_t polca_checkpoints_n_params(const polca_checkpoints *series,
                                             int64_t *out_n_params);
/* out_hash: the 64-bit hash of the parameter layout (tensor names, shapes,
 * offsets); equal hashes mean vectors of the same model structure. */
POLCA_API int32_t polca_checkpoints_layout_hash(const polca_checkpoints *series,
                                                uint64_t *out_hash);
/* out_path: the file of a file-backed series (valid while the series lives),
 * NULL for an in-memory series. */
POLCA_API int32_t polca_checkpoints_path(const polca_checkpoints *series, const char **out_path);

/* out_step: the training step of checkpoint index (0 <= index < count). */
POLCA_API int32_t polca_checkpoints_step(const polca_checkpoints *series, int64_t index,
                                         int64_t *out_step);
/* out_steps: [count] caller-owned, receives every step in order; count must
 * equal polca_checkpoints_count. */
POLCA_API int32_t polca_checkpoints_steps(const polca_checkpoints *series, int64_t *out_steps,
                                          int64_t count);
/* out_index: the index of the checkpoint at training step `step`, or -1 when
 * the series has none at that step (status POLCA_OK). O(log count). */
POLCA_API int32_t polca_checkpoints_find_step(const polca_checkpoints *series, int64_t step,
                                              int64_t *out_index);

/*
 * Reads checkpoint index (0 <= index < count) into out_theta: out: [n_params]
 * float32, caller-owned; n_params must equal polca_checkpoints_n_params.
 * Bit-exact: the floats that were appended. Reading indices in increasing
 * order decodes each checkpoint once (the series keeps the last one read);
 * a random index decodes at most max_chain + 1 checkpoints. File errors are
 * POLCA_ERR_CORRUPT with the file name and byte offset; on any failure
 * out_theta's contents are unspecified.
 */
POLCA_API int32_t polca_checkpoints_read(polca_checkpoints *series, int64_t index, float *out_theta,
                                         int64_t n_params);

/*
 * Writes the whole series to a new file at path (replacing any file there,
 * except one a writer holds: POLCA_ERR_STATE) through a temporary file,
 * fsync and rename: the path holds either its old contents or the complete
 * series. Options: "zstd_level", "max_chain",
 * "precondition", "full_trials" as for polca_checkpoints_open. The series
 * itself is unchanged (an in-memory series stays in memory).
 */
POLCA_API int32_t polca_checkpoints_save(polca_checkpoints *series, const char *path,
                                         const polca_options *options);

/*
 * Writes checkpoint index as a NumPy .npy file (float32, shape [n_params],
 * little-endian) at path, atomically (temporary file, fsync, rename):
 * numpy.load(path) returns the vector.
 */
POLCA_API int32_t polca_checkpoints_export_npy(polca_checkpoints *series, int64_t index,
                                               const char *path);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_CHECKPOINTS_H */
