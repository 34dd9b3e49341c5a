/*
 * polca/basis.h - an orthonormal basis b_1..b_K of a subspace of parameter
 * space R^P, the directions POLCA decomposes loss changes along.
 *
 * A polca_basis holds K orthonormal vectors of P floats with metadata per
 * vector: how it was made (kind), the training step and index it came
 * from, and for Hessian eigenvectors the eigenvalue and the residual
 * ||A b - lambda b|| of the projected Hessian A. The vectors live with the
 * context's backend (device memory on CUDA) and are read through
 * polca_basis_get_vector; K * P need not fit in host memory at once.
 *
 * Kinds of basis (docs/method.md#the-basis-algorithm-1; paper Appendix H):
 *   - Hessian eigenbasis by Algorithm 1 (built from a model and its
 *     checkpoints; see the model API), in checkpoint order or over a
 *     seeded shuffle of the checkpoints; or in the optimizer's geometry
 *     (polca_basis_create_hessian_scaled);
 *   - random orthonormal (seeded)            polca_basis_create_random
 *   - axis-aligned e_j for the K largest |theta_T,j| (per-sample LCA)
 *                                            polca_basis_create_axis
 *   - host-supplied vectors, orthonormalized polca_basis_create_from_vectors
 *
 * Threads: see polca/core.h. A basis belongs to the context it was made
 * with.
 */
#ifndef POLCA_BASIS_H
#define POLCA_BASIS_H

#include "polca/core.h"
#include "polca/checkpoints.h"
#include "polca/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct polca_basis polca_basis;

/* Kinds of vector (polca_basis_get_info); values fixed forever. */
#define POLCA_BASIS_KIND_HESSIAN 1          /* Algorithm 1, checkpoints in order   */
#define POLCA_BASIS_KIND_HESSIAN_SHUFFLED 2 /* Algorithm 1, shuffled checkpoints   */
#define POLCA_BASIS_KIND_RANDOM 3           /* random orthonormal                  */
#define POLCA_BASIS_KIND_AXIS 4             /* unit vector e_j                     */
#define POLCA_BASIS_KIND_HOST 5             /* host-supplied, orthonormalized      */
#define POLCA_BASIS_KIND_HESSIAN_SCALED 6   /* Algorithm 1 in the optimizer's      */
#define POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED 7 /* geometry (in order / shuffled) */

/*
 * K random orthonormal vectors: Gaussian vectors orthonormalized in turn
 * (the span is uniformly distributed). 1 <= k <= n_params.
 * options (NULL for defaults):
 *   "seed"  int  default 0. Same seed, same vectors (for a given backend
 *                and thread count).
 * out: receives the basis (destroy with polca_basis_destroy); untouched on
 * failure.
 */
POLCA_API int32_t polca_basis_create_random(polca_context *ctx, int64_t n_params, int64_t k,
                                            const polca_options *options, polca_basis **out);

/*
 * The axis-aligned basis of the per-sample LCA baseline: e_j for the k
 * parameters j of largest |theta[j]|, in decreasing |theta[j]| (ties: the
 * lower index first). 1 <= k <= n_params.
 *   theta: in, [n_params] host memory (the parameters at the end of
 *          training), finite; copied.
 *   options: none are accepted (NULL, or an empty options handle).
 * Metadata: kind POLCA_BASIS_KIND_AXIS, source index j.
 */
POLCA_API int32_t polca_basis_create_axis(polca_context *ctx, int64_t n_params,
                                          const float *theta, int64_t k,
                                          const polca_options *options, polca_basis **out);

/*
 * The host's own directions, orthonormalized in the order given (Gram-
 * Schmidt, twice: vector i of the result spans the same space with
 * vectors 0..i as the input).
 *   vectors: in, [k][n_params] row-major host memory, finite; copied.
 *   options (NULL for defaults):
 *     "rank_tol"  double  in (0, 1), default 1e-4: a vector that keeps less
 *                         than this fraction of its norm after removing its
 *                         components along the vectors before it is
 *                         linearly dependent on them, and the call fails
 *                         with POLCA_ERR_RANK_DEFICIENT naming it.
 * Metadata: kind POLCA_BASIS_KIND_HOST, source index = input row.
 * Errors: POLCA_ERR_NOT_FINITE naming the vector and element,
 * POLCA_ERR_RANK_DEFICIENT naming the vector (a zero vector included).
 */
POLCA_API int32_t polca_basis_create_from_vectors(polca_context *ctx, int64_t n_params,
                                                  int64_t k, const float *vectors,
                                                  const polca_options *options,
                                                  polca_basis **out);

/* Frees the basis; NULL is a no-op. */
POLCA_API void polca_basis_destroy(polca_basis *basis);

/* out_k: number of vectors K (0 after dropping them all). */
POLCA_API int32_t polca_basis_count(const polca_basis *basis, int64_t *out_k);
/* out_n_params: length P of each vector. */
POLCA_API int32_t polca_basis_n_params(const polca_basis *basis, int64_t *out_n_params);

/*
 * Algorithm 1 (the paper's Hessian basis): for each chosen checkpoint c, in
 * series order, the top-k eigenvectors of A_c = (I - B B^T) H_c (I - B B^T),
 * H_c the Hessian of the model's mean loss over `data` (the basis sample
 * set) at checkpoint c and B the vectors found so far, are appended to B.
 * Hessian-vector products are exact (polca_model_hvp); eigenpairs come from
 * the Lanczos solver of polca/eigen.h.
 *   model, data, series:  one context; the series' layout must be the
 *                  model's (POLCA_ERR_LAYOUT_MISMATCH).
 *   indices:       in, [n_indices] host: positions in the series of the
 *                  basis checkpoints (distinct, any order: the basis is
 *                  built in series order unless "shuffle" is 1); NULL with
 *                  n_indices = 0 means every checkpoint of the series.
 *                  A non-NULL indices with n_indices = 0 (an empty choice),
 *                  or n_indices above the series' count, is
 *                  POLCA_ERR_INVALID_ARGUMENT naming n_indices.
 *   k:             eigenvectors per checkpoint, >= 1 (paper: 1);
 *                  k * checkpoints <= P.
 * Options (NULL for defaults):
 *   "which"        string "largest_algebraic" (default), "largest_magnitude",
 *                  "smallest_algebraic".
 *   "tol", "max_products", "seed", "krylov_size": the solver's, per
 *                  checkpoint (polca_eigen_solve).
 *   "shuffle"      int 0 (default) | 1: visit the checkpoints in a seeded
 *                  random order (the paper's shuffled-Hessian ablation,
 *                  kind POLCA_BASIS_KIND_HESSIAN_SHUFFLED).
 *   "shuffle_seed" int, default 0.
 *   "warm_start"   int 1 (default) | 0: start each checkpoint's solve from
 *                  the previous one's spare Ritz vectors.
 *   "progress_file" string, default none: a file the call writes its
 *                  progress to, so that a killed or cancelled run can be
 *                  continued (below).
 *   "resume"       int 0 (default) | 1: continue from "progress_file".
 * Per vector (polca_basis_get_info): source step and series index,
 * eigenvalue, residual, converged.
 * Returns POLCA_OK; or POLCA_ERR_NOT_CONVERGED when some pair missed the
 * tolerance within its budget: *out is then STILL set to the full basis
 * (best estimates, converged = 0 on those vectors) and the caller owns it.
 * Any other failure leaves *out untouched. Progress: stage "eigen" per
 * product, stage "basis" per checkpoint (value = its largest relative
 * residual); either may cancel.
 *
 * Progress file and resume. With "progress_file" set, the call creates
 * that file before the first solve (replacing any file there when "resume"
 * is 0) and, after each basis checkpoint and before reporting it as stage
 * "basis", appends one record (docs/format.md "Basis progress records":
 * the vectors that checkpoint added, exactly as stored, their metadata, the
 * solver's warm-start vectors and the count of pairs that missed the
 * tolerance) and commits it to disk (fsync), so a kill at any moment loses
 * at most the checkpoint in progress. The file is left in place when the
 * call returns, whatever it returns: the host removes it once it has saved
 * the result. With "resume" = 1 and a file at the path, the call checks
 * that the file belongs to this very computation (a fingerprint of the
 * model's configuration and layout, the data (tokens and masks, features
 * and labels, or indices), the chosen series positions and their steps,
 * the visiting order, k, every option above, the scales' positions for the
 * scaled variant, the backend with its device and thread count, and the
 * number of ranks), installs the vectors of its records as they are (no new
 * products, no Gram-Schmidt), appends to it, and goes on with the next
 * checkpoint: the result is bit for bit that of an uninterrupted run. A
 * file of another computation fails
 * with POLCA_ERR_STATE naming the path and is left untouched; a damaged
 * file (a record that fails its checksum, a file cut short inside its
 * committed records) fails with POLCA_ERR_CORRUPT naming it; bytes past
 * the last committed record (a kill during an append) are ignored and
 * overwritten. "resume" = 1 without a file at the path starts afresh;
 * "resume" = 1 without "progress_file" is POLCA_ERR_INVALID_ARGUMENT. Each
 * record keeps a hash of its checkpoint's parameters, checked when it is
 * installed: a series rewritten with the same steps but other weights is
 * refused with POLCA_ERR_STATE naming the checkpoint's step. Another
 * process writing the same progress file is refused (POLCA_ERR_STATE).
 *
 * Under a communicator of size > 1 (polca/comm.h; a collective call): the
 * data's sequences are split into contiguous shares, one per rank (sizes
 * differing by at most one; a rank may hold none). Each Hessian product is
 * the sum over the ranks of the product of its share's mean loss weighted
 * by the share's samples over all samples, summed in double by the
 * communicator, so every rank's solver sees the same numbers; after each
 * checkpoint rank 0's new vectors are broadcast, and every rank ends with
 * the same basis bit for bit. It equals the single-process basis up to
 * rounding (the sum is taken in another order; docs/scaling.md gives the
 * measured difference). Every rank must use the same backend and thread
 * count: ranks whose solvers diverge all fail with POLCA_ERR_STATE. A rank
 * whose model, data, series positions, scales positions or options differ
 * from rank 0's fails the call with POLCA_ERR_INVALID_ARGUMENT naming the
 * argument (the checkpoints' contents are not compared). A failure on one
 * rank (a bad checkpoint read, a NaN product, bad input,
 * its progress callback cancelling) fails every rank with that rank's
 * status and message, "rank R: ...". Only rank 0 reads and writes the
 * progress file, at the path given (the other ranks' "progress_file" must
 * be set alike but is not opened; it need not be on a shared file system);
 * rank 0 broadcasts what it read.
 */
POLCA_API int32_t polca_basis_create_hessian(polca_context *ctx, const polca_model *model,
                                             const polca_data *data,
                                             polca_checkpoints *series,
                                             const int64_t *indices, int64_t n_indices,
                                             int64_t k, const polca_options *options,
                                             polca_basis **out);

/*
 * Algorithm 1 in the optimizer's geometry
 * (docs/method.md#a-basis-in-the-optimizers-geometry). An adaptive
 * optimizer (Adam) moves theta by roughly -S g with S = diag(s) its
 * per-parameter step scales, so its displacement need not lie near the top
 * Hessian eigenvectors; in the coordinates y = S^{-1/2} theta it is roughly gradient descent on the
 * Hessian S^{1/2} H S^{1/2}. At each basis checkpoint c (same order,
 * options, k and progress stages as polca_basis_create_hessian), with B the
 * basis so far (orthonormal) and P = I - B B^T, the top-k eigenvectors w of
 *     A_c = P S_c^{1/2} H_c S_c^{1/2} P
 * are mapped back to parameter space, u = S_c^{1/2} w, and appended after
 * Gram-Schmidt against B and the vectors before them at c (normalized).
 * The basis stays orthonormal in the Euclidean inner product.
 *   scales: a checkpoint series of the model's layout (else
 *           POLCA_ERR_LAYOUT_MISMATCH naming 'scales') holding, at every
 *           training step of a basis checkpoint, the step scales s >= 0
 *           of that step (for Adam, s = 1/(sqrt(v_hat) + eps)); saved by the
 *           host with polca_checkpoints_append at the same steps. Other
 *           steps are ignored. A basis step missing from scales is
 *           POLCA_ERR_INVALID_ARGUMENT naming the step; a negative s is
 *           POLCA_ERR_INVALID_ARGUMENT, a NaN or infinite s
 *           POLCA_ERR_NOT_FINITE, naming the step and the parameter index
 *           (all checked before the first solve). s = 1 everywhere gives
 *           polca_basis_create_hessian's vectors.
 *   The other arguments and options are polca_basis_create_hessian's.
 * Per vector: kind POLCA_BASIS_KIND_HESSIAN_SCALED (or ..._SCALED_SHUFFLED
 * with "shuffle"), source step and series index; eigenvalue, residual and
 * converged are those of the eigenpair (lambda, w) of A_c, not of u.
 * A u that keeps less than 1e-5 of its norm after the Gram-Schmidt (it lies
 * in the span of the vectors before it, e.g. s = 0 where w lives) fails
 * the call with POLCA_ERR_RANK_DEFICIENT naming the checkpoint's step.
 * Returns as polca_basis_create_hessian (POLCA_ERR_NOT_CONVERGED: *out set
 * to the best estimates; any other failure: *out untouched); progress
 * files, resume and communicators as there.
 */
POLCA_API int32_t polca_basis_create_hessian_scaled(polca_context *ctx,
                                                    const polca_model *model,
                                                    const polca_data *data,
                                                    polca_checkpoints *series,
                                                    polca_checkpoints *scales,
                                                    const int64_t *indices, int64_t n_indices,
                                                    int64_t k, const polca_options *options,
                                                    polca_basis **out);

/*
 * Copies vector i (0 <= i < K) into out.
 *   out: out, [out_len] host memory, caller-owned; out_len must equal P.
 */
POLCA_API int32_t polca_basis_get_vector(const polca_basis *basis, int64_t i, float *out,
                                         int64_t out_len);

/*
 * Metadata of vector i (0 <= i < K). Every out-parameter may be NULL.
 *   out_kind:         POLCA_BASIS_KIND_*.
 *   out_source_step:  training step of the checkpoint the vector came from
 *                     (Hessian kinds); -1 for the other kinds.
 *   out_source_index: Hessian kinds: index of that checkpoint in the series;
 *                     axis: the parameter index j; host: the input row;
 *                     random: the draw (0..K-1). Unchanged by dropping.
 *   out_eigenvalue:   Hessian kinds: eigenvalue of the projected Hessian
 *                     (I - B B^T) H (I - B B^T) for the vector (scaled
 *                     kinds: of A_c, see polca_basis_create_hessian_scaled);
 *                     NaN else.
 *   out_residual:     Hessian kinds: ||A b - lambda b||; NaN else.
 *   out_converged:    Hessian kinds: 1 when the pair met the solver's
 *                     tolerance, 0 when it is a best estimate; 1 else.
 */
POLCA_API int32_t polca_basis_get_info(const polca_basis *basis, int64_t i, int32_t *out_kind,
                                       int64_t *out_source_step, int64_t *out_source_index,
                                       double *out_eigenvalue, double *out_residual,
                                       int32_t *out_converged);

/*
 * Removes the vectors at the given positions; the others keep their order
 * and metadata (so positions shift down). This is the filter of Algorithm 1
 * (drop each direction whose mean projected loss rises), and a host's own
 * pruning.
 *   indices: in, [count] host memory: distinct positions in 0..K-1, any
 *            order; 0 <= count <= K (0 does nothing; indices may then be
 *            NULL).
 * On failure the basis is unchanged.
 */
POLCA_API int32_t polca_basis_drop(polca_basis *basis, const int64_t *indices, int64_t count);

/*
 * Saves the vectors and their metadata to a libpolca container file (file
 * kind "basis"; temporary file, fsync, rename: on failure nothing appears
 * at path). Host memory used: one vector, whatever K. A basis of K = 0
 * (every vector dropped) saves and loads too.
 */
POLCA_API int32_t polca_basis_save(const polca_basis *basis, const char *path);

/*
 * Loads what polca_basis_save wrote, bit for bit (vectors are not
 * re-orthonormalized), into a new basis of ctx. Errors: POLCA_ERR_IO (cannot
 * open), POLCA_ERR_CORRUPT (a check failed: the message names the file and
 * the record), POLCA_ERR_VERSION (a newer format), POLCA_ERR_INVALID_ARGUMENT
 * (a libpolca file of another kind, e.g. a checkpoint series).
 * out: receives the basis; untouched on failure.
 */
POLCA_API int32_t polca_basis_load(polca_context *ctx, const char *path, polca_basis **out);

/*
 * Writes the vectors as a NumPy .npy file: float32, shape [K][P], C order
 * (numpy.load(path) returns them as rows), atomically. Host memory used:
 * one vector.
 */
POLCA_API int32_t polca_basis_export_npy(const polca_basis *basis, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_BASIS_H */
