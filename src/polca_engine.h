/*
 * src/polca_engine.h - the POLCA decomposition, streamed over checkpoints.
 * Private. docs/method.md#the-decomposition and docs/method.md#baselines
 * are the spec.
 *
 * The engine never sees a model, a file or a basis handle: it reads them
 * through a source of callbacks, so the same code serves every model kind
 * and every checkpoint store, and tests can feed it analytic models.
 *
 * Memory: the K basis directions (+ K_lca axis directions) [K][P], two
 * parameter vectors [P], the previous checkpoint's g and c [K][N], the
 * running sums [D] (D = K N, + K N for first order, + K_lca N), and the
 * outputs. Never more than two checkpoints at once.
 *
 * Over ranks (polca/comm.h): rank r takes checkpoints [lo, hi) of a
 * contiguous share and the intervals that start there, reading only
 * checkpoints lo..hi. Its increments (double) are exactly the single
 * process' ones; the running sums are then passed from rank to rank in
 * order (rank r waits for the sum at lo, keeping its increments meanwhile:
 * [hi - lo][D] doubles on ranks > 0), so every addition happens in the
 * single-process order and the outputs are bit for bit the same. The
 * slices are then gathered, so every rank holds every output.
 *
 * Resume: with a progress file (progress_file.h), each finished checkpoint
 * appends a record of what it produced (its step, losses, Fisher values and
 * the increments of the interval ending there); a resumed run replays the
 * records in order, re-evaluates the last replayed checkpoint for the g and
 * c the next interval needs, and goes on.
 */
#ifndef POLCA_ENGINE_H
#define POLCA_ENGINE_H

#include <stdint.h>

#include "internal.h"

#define POLCA__CURV_EXACT 0  /* c = exact second directional derivative     */
#define POLCA__CURV_SECANT 1 /* trapezoid: 1/2 (g_t + g_{t+1}) s            */
#define POLCA__CURV_NONE 2   /* first order only                            */

typedef struct polca__engine_source {
    void *user;
    int64_t n_checkpoints; /* T + 1 >= 2 */
    int64_t n_params;      /* P */
    int64_t n_samples;     /* N */
    /* theta[P] (host) <- checkpoint t; *step <- its training step. */
    int32_t (*read_checkpoint)(void *user, int64_t t, int64_t *step, float *theta);
    /* At checkpoint t (parameters theta, host [P]; the same t comes in
     * consecutive calls, so a device source uploads theta once per t), for
     * directions first..first+k-1 of set 0 (the basis) or 1 (the LCA
     * basis), given also as host rows dirs[k][P]: losses[N] (may be NULL),
     * g[k][N], c[k][N] (may be NULL = not needed). */
    int32_t (*dirderivs)(void *user, int64_t t, const float *theta, int32_t set, int64_t first,
                         int64_t k, const float *dirs, float *losses, float *g, float *c);
} polca__engine_source;

typedef struct polca__engine_request {
    const float *basis; /* [K][P] host, orthonormal rows */
    int64_t k;
    const float *lca_basis; /* [K_lca][P] host unit vectors, or NULL */
    int64_t k_lca;
    int32_t curvature;   /* POLCA__CURV_* for the main output */
    int32_t first_order; /* also produce first-order POLCA (1) or not (0) */
    int32_t fisher;      /* also produce g^2 along each b_k (1) or not (0) */
    int64_t block;       /* directions per dirderivs call (>= 1) */
    struct polca__progress_file *progress; /* NULL, or this rank's progress
                                              file (records reused, then
                                              appended) */
} polca__engine_request;

/* Outputs, all host, caller-allocated, T1 = n_checkpoints:
 *   steps[T1]; exact_loss[N][T1]; polca[K][N][T1];
 *   first_order[K][N][T1] when requested (else NULL);
 *   fisher[K][N][T1] when requested (else NULL);
 *   lca[K_lca][N][T1] when k_lca > 0 (else NULL);
 *   loss_change[N][T1 - 1] = exact_loss differences, or NULL (not wanted).
 * Projected losses start at 0: L(0) = 0, L(t+1) = L(t) + Delta(t).
 *
 * With a communicator the call is collective and every rank's outputs are
 * whole on return.
 *
 * Every output passes through here, so this is where non-finite values are
 * refused: each checkpoint's losses, g and c as the source returns them,
 * each movement s_k, and each value stored (a float32 overflow of a finite
 * double sum, g^2 or a loss difference) - POLCA_ERR_NOT_FINITE naming the
 * checkpoint (index and step) and the first such quantity. Outputs are then
 * partly written; the caller discards them. */
typedef struct polca__engine_output {
    int64_t *steps;
    float *exact_loss;
    float *polca;
    float *first_order;
    float *fisher;
    float *lca;
    float *loss_change;
} polca__engine_output;

POLCA_INTERNAL int32_t polca__engine_run(const polca_context *ctx,
                                         const polca__engine_source *src,
                                         const polca__engine_request *req,
                                         const polca__engine_output *out);

#endif /* POLCA_ENGINE_H */
