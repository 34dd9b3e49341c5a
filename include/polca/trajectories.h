/*
 * polca/trajectories.h - POLCA: every sample's loss change between
 * checkpoints, decomposed along each basis vector, and the paper's
 * baselines (docs/method.md#the-decomposition and docs/method.md#baselines).
 *
 * With checkpoints theta_0..theta_T (T1 = T + 1 of them), basis vectors b_k,
 * s_{k,t} = <b_k, theta_{t+1} - theta_t>, g_{i,k,t} = <grad l_i(theta_t), b_k>
 * and c_{i,k,t} = b_k^T hess l_i(theta_t) b_k:
 *   first order      Delta1_{i,k,t} = g_{i,k,t} s_{k,t}
 *   POLCA (exact)    Delta2_{i,k,t} = g s + 1/2 c s^2
 *   POLCA (secant)   Delta2_{i,k,t} = 1/2 (g_{i,k,t} + g_{i,k,t+1}) s
 *   projected loss   L_{i,k}(0) = 0,  L_{i,k}(t+1) = L_{i,k}(t) + Delta_{i,k,t}
 * Samples are the data's samples (scored positions), in its order.
 *
 * Threads: one thread at a time per context (polca/core.h).
 */
#ifndef POLCA_TRAJECTORIES_H
#define POLCA_TRAJECTORIES_H

#include "polca/basis.h"
#include "polca/checkpoints.h"
#include "polca/core.h"
#include "polca/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct polca_trajectories polca_trajectories;

/* What a view holds. Shapes: [K][N][T1] unless noted. */
#define POLCA_TRAJ_POLCA 0       /* projected loss L, second order per "curvature" */
#define POLCA_TRAJ_FIRST_ORDER 1 /* projected loss with first-order increments     */
#define POLCA_TRAJ_FISHER 2      /* empirical Fisher along b_k: g_{i,k,t}^2        */
#define POLCA_TRAJ_LCA 3         /* per-sample LCA: first order on the axis basis,
                                    [K_lca][N][T1]                                 */
#define POLCA_TRAJ_EXACT_LOSS 4  /* exact loss l_i(theta_t), [1][N][T1]            */
#define POLCA_TRAJ_LOSS_CHANGE 5 /* l_i(theta_{t+1}) - l_i(theta_t), [1][N][T]     */

/*
 * Streams the series once, checkpoint by checkpoint: at each checkpoint one
 * call of the model's directional derivatives per block of directions gives
 * the losses, g (and c) for every sample; memory is O(P K) for the basis
 * plus the outputs, never more than two checkpoints.
 *   model, data, series, basis: one context; the series' layout must be the
 *              model's (POLCA_ERR_LAYOUT_MISMATCH), the basis' P its P; the
 *              series needs at least 2 checkpoints.
 *   lca_basis: NULL, or an axis-aligned basis (polca_basis_create_axis) for
 *              the per-sample LCA baseline, computed in the same pass.
 * Options (NULL for defaults):
 *   "curvature"   string "exact" (default): c from second-order forward mode;
 *                 "secant": the trapezoid form, no c needed; "none": first
 *                 order only.
 *   "first_order" int 1 (default) | 0: also keep first-order POLCA.
 *   "fisher"      int 0 (default) | 1: also keep the Fisher baseline.
 *   "block"       int directions per pass, default 16 (>= 1): larger blocks
 *                 share one primal pass among more directions.
 *   "progress_file" string: path of a progress file (default: none). As
 *                 each checkpoint is finished, what it produced (its step,
 *                 losses, Fisher values and the increments of the interval
 *                 ending there) is appended and committed durably, so a
 *                 run killed at any moment (kill -9, preemption) loses at
 *                 most the checkpoint in progress. The file stays when the
 *                 call returns: the host removes it once it has saved the
 *                 result. With a communicator of size S, rank r uses
 *                 "<path>.<r>-of-<S>".
 *   "resume"      int 0 (default) | 1 (needs "progress_file"): 0 starts a
 *                 fresh progress file, replacing one at the path. 1
 *                 continues from the file's records: they are replayed, the
 *                 last one's checkpoint is evaluated once more for the g
 *                 and c the next interval needs, and the run goes on; the
 *                 result is bit for bit that of an uninterrupted run. A
 *                 missing file starts afresh. A file of another computation
 *                 (another model layout or architecture, data, basis,
 *                 series steps, option, backend, thread count or number
 *                 of ranks) is refused with POLCA_ERR_STATE naming it, and
 *                 never overwritten; remove it to start again. A host
 *                 model's callbacks are not checked: resume with the same
 *                 ones.
 * Collective (polca/comm.h): with a communicator on the context, rank r
 * takes a contiguous share of the checkpoints and the intervals that start
 * there, and reads only the checkpoints lo..hi it needs; the running sums
 * are then handed from rank to rank in order, so every addition is the
 * single-process one and every rank returns the whole result, bit for bit
 * the single-process one when the ranks compute with the same backend and
 * thread count. Ranks other than 0 keep their increments, [share][D]
 * doubles (D = K N, + K N with first order, + K_lca N), until the sums
 * reach them.
 * Progress: stage "polca", one report per checkpoint (done/total = T1; over
 * ranks, this rank's share).
 * Every value must be finite: a loss, g, c or s_k that is NaN or infinite,
 * or an output that exceeds the float32 range (e.g. a checkpoint with huge
 * weights), fails with POLCA_ERR_NOT_FINITE naming the checkpoint (index
 * and step) and the first such quantity.
 * out: untouched on failure.
 */
POLCA_API int32_t polca_trajectories_create(polca_context *ctx, const polca_model *model,
                                            const polca_data *data,
                                            polca_checkpoints *series,
                                            const polca_basis *basis,
                                            const polca_basis *lca_basis,
                                            const polca_options *options,
                                            polca_trajectories **out);
POLCA_API void polca_trajectories_destroy(polca_trajectories *traj);

/*
 * Zero-copy, read-only view of one output: *out_data points to
 * [out_k][out_n][out_t] float32, row-major, valid while traj lives (numpy
 * can wrap it). POLCA_ERR_STATE when that output was not computed (the
 * message says which option enables it).
 */
POLCA_API int32_t polca_trajectories_view(const polca_trajectories *traj, int32_t kind,
                                          const float **out_data, int64_t *out_k,
                                          int64_t *out_n, int64_t *out_t);

/* The training steps of the T1 checkpoints: *out_steps [T1], valid while
 * traj lives. */
POLCA_API int32_t polca_trajectories_steps(const polca_trajectories *traj,
                                           const int64_t **out_steps, int64_t *out_t1);

/*
 * Mean final projected loss of each direction, mean_i L_{i,k}(T) (the filter
 * of Algorithm 1 drops directions where it is > 0), for a projected kind
 * (POLCA, FIRST_ORDER or LCA).
 *   out: [k_len] host, k_len = that kind's K.
 */
POLCA_API int32_t polca_trajectories_final_means(const polca_trajectories *traj, int32_t kind,
                                                 double *out, int64_t k_len);

/*
 * The samples whose projected loss decreases overall along direction k,
 * L_{i,k}(T) < 0 (those the paper clusters), for a projected kind.
 *   out_mask: [n_len] host, n_len = N: 1 for such samples, else 0.
 *   out_count: may be NULL; receives how many.
 */
POLCA_API int32_t polca_trajectories_decreasing(const polca_trajectories *traj, int32_t kind,
                                                int64_t k, uint8_t *out_mask, int64_t n_len,
                                                int64_t *out_count);

/* Saves every computed output and the steps to a libpolca container file
 * (docs/format.md; temporary file, fsync, rename). */
POLCA_API int32_t polca_trajectories_save(const polca_trajectories *traj, const char *path);
/* Loads what polca_trajectories_save wrote. POLCA_ERR_CORRUPT (naming the
 * file and the record's offset) for a damaged file, including one with two
 * records of one kind. */
POLCA_API int32_t polca_trajectories_load(polca_context *ctx, const char *path,
                                          polca_trajectories **out);
/* Writes one output as a .npy file (float32, its view's shape). */
POLCA_API int32_t polca_trajectories_export_npy(const polca_trajectories *traj, int32_t kind,
                                                const char *path);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_TRAJECTORIES_H */
