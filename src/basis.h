/*
 * src/basis.h - the polca_basis handle (private side): storage, the
 * constructor and appender the builders use, and Algorithm 1.
 *
 * Storage: the K x P vectors are rows in backend memory ([capacity][P],
 * grown by doubling). Every reader goes through polca__basis_load_rows or
 * polca__basis_resident, so a later version can keep the rows in a file
 * (the container format) and stream them without changing callers: such a
 * basis would return NULL from polca__basis_resident and load on demand.
 *
 * Invariant: the K rows are orthonormal (to float32 rounding, checked by
 * the tests at 1e-5); polca__basis_append enforces it.
 */
#ifndef POLCA_BASIS_PRIVATE_H
#define POLCA_BASIS_PRIVATE_H

#include <stdint.h>

#include "eigen.h"
#include "internal.h"

#define POLCA_MAGIC_BASIS 0x53414250u /* "PBAS" */

typedef struct polca__basis_meta {
    int32_t kind;         /* POLCA_BASIS_KIND_* */
    int32_t converged;    /* see polca_basis_get_info */
    int64_t source_step;  /* -1 when none */
    int64_t source_index; /* checkpoint, parameter, input row or draw */
    double eigenvalue;    /* NaN when none */
    double residual;      /* NaN when none */
} polca__basis_meta;

struct polca_basis {
    polca__head head;
    int64_t p;                /* parameters per vector */
    int64_t k;                /* vectors */
    int64_t capacity;         /* rows allocated */
    float *rows;              /* backend [capacity][p] */
    polca__basis_meta *meta;  /* host [capacity] */
};

/* An empty basis (K = 0) of vectors of length p, room for `capacity` rows
 * (grown as needed). Records the failure on error. */
POLCA_INTERNAL int32_t polca__basis_new(polca_context *ctx, int64_t p, int64_t capacity,
                                        polca_basis **out);

/*
 * Appends `count` rows (backend memory [count][p], not modified) with their
 * metadata (host [count]), after orthonormalizing them against the basis
 * and each other (the backend's CGS2). A row that keeps less than rank_tol
 * of its norm fails the call with POLCA_ERR_RANK_DEFICIENT, naming it as
 * "<what> <label_base + i>"; on any failure the basis is unchanged.
 */
POLCA_INTERNAL int32_t polca__basis_append(polca_basis *b, const float *rows, int64_t count,
                                           const polca__basis_meta *meta, double rank_tol,
                                           const char *fn, const char *what,
                                           int64_t label_base);

/* Copies rows first..first+count-1 into dst (backend memory [count][p]). */
POLCA_INTERNAL int32_t polca__basis_load_rows(const polca_basis *b, int64_t first,
                                              int64_t count, float *dst);

/* The rows in backend memory ([K][p]) when the basis holds them there, else
 * NULL (a streamed basis: use polca__basis_load_rows). */
POLCA_INTERNAL const float *polca__basis_resident(const polca_basis *b);

/* Removes rows by position (distinct, in range; checked, naming fn). */
POLCA_INTERNAL int32_t polca__basis_remove(polca_basis *b, const int64_t *indices,
                                           int64_t count, const char *fn);

/* ---- Algorithm 1 (basis_hessian.c) ---- */

/*
 * hv = H_c v: the Hessian of the basis loss at checkpoint `checkpoint`
 * (0..n_checkpoints-1, the caller's numbering) applied to v. v and hv are
 * BACKEND memory [p] (device memory on CUDA, so a model's HVP kernel
 * plugs in without copies) and never alias; hv must be fully written.
 * Returns POLCA_OK or a status with its message recorded (polca__fail).
 */
typedef int32_t (*polca__hvp_at_fn)(void *user, int64_t checkpoint, const float *v, float *hv);

/*
 * root = sqrt(s_c): the square roots of the optimizer's per-parameter step
 * scales at checkpoint `checkpoint` (same numbering), into HOST memory [p]
 * (finite, >= 0; the callback checks s). Returns POLCA_OK or a recorded
 * failure.
 */
typedef int32_t (*polca__scale_at_fn)(void *user, int64_t checkpoint, float *root);

typedef struct polca__hessian_basis_opts {
    polca__eigen_opts eig; /* per checkpoint: which, k, tol, max_products,
                              seed, krylov_size (start/constraint unused) */
    int32_t shuffle;       /* 1: visit the checkpoints in a seeded random order */
    uint64_t shuffle_seed;
    int32_t warm_start;    /* 1: start each checkpoint from the spare Ritz
                              vectors of the one before (default) */
    /* Resume ("progress_file", "resume"): NULL for none. Written (and read)
     * by rank 0 only; see basis_hessian.c "Progress records". */
    const char *progress_path;
    int32_t resume;
    /* The caller's part of the progress fingerprint: every input the driver
     * does not see (the model, the data, which series positions, the
     * scales). The driver adds its own (P, k, steps, order, options, ranks). */
    uint64_t fingerprint;
    /* With a communicator of size > 1 (data-parallel products): hvp_at
     * returns the Hessian of the mean loss over this rank's share of the
     * data, and the driver sums weight * hvp_at over the ranks (in double),
     * weight = the share's samples / all samples. 0: this rank holds no
     * samples (hvp_at is not called; it contributes zeros). Ignored without
     * a communicator. */
    double shard_weight;
    /* NULL, or a hash of checkpoint c's parameters (user: hvp_at's), kept
     * in each progress record and checked when the record is installed:
     * progress made on other weights is refused. */
    int32_t (*weights_hash)(void *user, int64_t checkpoint, uint32_t *out);
} polca__hessian_basis_opts;

/* Options of Algorithm 1: the solver's names plus "shuffle" (int 0/1,
 * default 0), "shuffle_seed" (int, default 0), "warm_start" (int 0/1,
 * default 1), "progress_file" (string) and "resume" (int 0/1, default 0). */
extern const polca__option_spec polca__basis_hessian_option_names[]
    __attribute__((visibility("hidden")));

/* Reads and checks those options for a basis of n_checkpoints * k vectors
 * of length p. `options` must already have passed polca__options_check
 * against a table holding these names. */
POLCA_INTERNAL int32_t polca__basis_hessian_parse(const polca_options *options, const char *fn,
                                                  int64_t p, int64_t n_checkpoints, int64_t k,
                                                  polca__hessian_basis_opts *o);

/*
 * Algorithm 1 (docs/method.md#the-basis-algorithm-1): B <- []; for each
 * checkpoint c (in order, or shuffled), the top-k eigenvectors of
 * A_c = (I - B B^T) H_c (I - B B^T) restricted to the orthogonal complement
 * of B are appended to B.
 *   p:             parameters; n_checkpoints >= 1 with n_checkpoints*k <= p.
 *   steps:         host [n_checkpoints]: the training step of each
 *                  checkpoint (metadata only).
 *   hvp_at, user:  the Hessian products.
 * Per vector: kind HESSIAN (or HESSIAN_SHUFFLED), source step and index,
 * eigenvalue, residual, converged.
 * Returns POLCA_OK; or POLCA_ERR_NOT_CONVERGED when some pair missed the
 * tolerance within its checkpoint's budget: *out IS then set to the full
 * basis (best estimates, converged = 0 on those vectors) and the caller
 * owns it; any other status: *out untouched.
 * Progress: stage "eigen" per product inside each solve (as
 * polca_eigen_solve), then stage "basis" with done = checkpoints finished,
 * total = n_checkpoints, value = the largest ||A b - lambda b|| / |lambda|
 * of that checkpoint's pairs. Either may cancel (POLCA_ERR_CANCELLED, *out
 * untouched).
 */
POLCA_INTERNAL int32_t polca__basis_hessian(polca_context *ctx, int64_t p,
                                            int64_t n_checkpoints, const int64_t *steps,
                                            polca__hvp_at_fn hvp_at, void *user,
                                            const polca__hessian_basis_opts *o,
                                            polca_basis **out);

/*
 * Algorithm 1 in the optimizer's geometry
 * (docs/method.md#a-basis-in-the-optimizers-geometry); polca__basis_hessian
 * is this with scale_at = NULL, the same code path. With S_c = diag(s_c)
 * (root = sqrt(s_c) from scale_at) and P = I - B B^T, each checkpoint
 * solves for the top-k eigenvectors w of
 * A_c = P S_c^{1/2} H_c S_c^{1/2} P (applied as written: project, scale,
 * HVP, scale, project; the solver's constraint keeps w orthogonal to B),
 * maps u = S_c^{1/2} w, and appends u after CGS2 against B and the u's
 * before it, normalized. A u that keeps less than 1e-5 of its norm fails
 * with POLCA_ERR_RANK_DEFICIENT naming the checkpoint's step (*out
 * untouched). Eigenvalue and residual are those of A_c for w. Kind
 * HESSIAN_SCALED (or HESSIAN_SCALED_SHUFFLED).
 */
POLCA_INTERNAL int32_t polca__basis_hessian_scaled(polca_context *ctx, int64_t p,
                                                   int64_t n_checkpoints, const int64_t *steps,
                                                   polca__hvp_at_fn hvp_at,
                                                   polca__scale_at_fn scale_at, void *user,
                                                   const polca__hessian_basis_opts *o,
                                                   polca_basis **out);

#endif /* POLCA_BASIS_PRIVATE_H */
