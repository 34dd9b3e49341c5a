/*
 * polca/eigen.h - eigenpairs of a symmetric operator given only by products.
 *
 * The host supplies y = A x as a callback; libpolca finds the k eigenpairs
 * at one end of the spectrum by Lanczos with full reorthogonalization and
 * thick restarts. The same solver, fed Hessian-vector products, builds the
 * Hessian eigenbasis (polca/basis.h).
 *
 * Threads: see polca/core.h (one context, one thread at a time). The
 * callback is called on the thread that called polca_eigen_solve.
 */
#ifndef POLCA_EIGEN_H
#define POLCA_EIGEN_H

#include "polca/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A symmetric linear operator: writes y = A x.
 *   x: in, [n] float32, HOST memory, valid only during the call; do not
 *      write to it.
 *   y: out, [n] float32, HOST memory; every element must be written.
 *   user: the pointer given to polca_eigen_solve.
 * Return 0 on success. Any other value stops the solve: polca_eigen_solve
 * then returns that value when it is a POLCA_ERR_* code, and
 * POLCA_ERR_CANCELLED for any other nonzero value. A must be symmetric
 * (x^T A y = y^T A x); the solver does not check this.
 */
typedef int32_t (*polca_operator_fn)(void *user, const float *x, float *y);

/*
 * The k eigenpairs of A (dimension n) at the end named by the option
 * "which", from products with A only.
 *
 *   ctx:      the context (its backend holds the Krylov vectors; on CUDA the
 *             vectors cross to the host for each callback).
 *   n:        dimension, >= 1.
 *   apply, user: the operator (see polca_operator_fn). apply non-NULL.
 *   k:        number of eigenpairs, 1 <= k <= n.
 *   start:    in, [n_start][n] row-major, host memory, or NULL: a warm start
 *             (e.g. the eigenvectors of a nearby operator). Rows need not be
 *             orthonormal, but each must be finite and nonzero. The solver
 *             starts from the sum of the rows after orthonormalizing them,
 *             so eigenvectors of a nearby operator cut the products needed.
 *             NULL (with n_start 0) starts from a seeded random vector.
 *   n_start:  0 when start is NULL, else 1..krylov_size (after clipping,
 *             see below).
 *   options:  NULL for defaults, or:
 *     "which"        string  "largest_algebraic" (default),
 *                            "largest_magnitude" or "smallest_algebraic".
 *     "tol"          double  in (0, 1), default 1e-4: a pair has converged
 *                            when ||A v - lambda v|| <= tol * max(|lambda|,
 *                            FLT_EPSILON * ||A||_est), ||A||_est the largest
 *                            |eigenvalue estimate| seen (so an eigenvalue
 *                            at 0 can converge). float32 vectors cannot
 *                            reach much below 1e-6.
 *     "max_products" int     products allowed, >= 2k; default
 *                            max(1000, 20 * krylov_size). Every call of
 *                            apply counts, including the one fresh product
 *                            per pair that checks each answer.
 *     "seed"         int     seed of the random start vector (and of the
 *                            vectors that replace a Krylov vector at an
 *                            invariant subspace), default 0. The result is
 *                            a deterministic function of the operator, the
 *                            options, the start block and the thread count.
 *     "krylov_size"  int     Krylov subspace size, k+1..100000; default
 *                            max(2k + 1, 20); clipped to n. Memory:
 *                            (krylov_size + k + 2) vectors of n floats on the
 *                            backend.
 *   out_values:    out, [k], caller-owned, required: eigenvalues (Rayleigh
 *                  quotients v^T A v), in wanted order: decreasing for
 *                  largest_algebraic, increasing for smallest_algebraic,
 *                  decreasing |lambda| for largest_magnitude.
 *   out_vectors:   out, [k][n] row-major, caller-owned, or NULL: unit
 *                  eigenvectors, row i belongs to out_values[i]. The sign of
 *                  each is arbitrary (but deterministic).
 *   out_residuals: out, [k] or NULL: ||A v - lambda v|| (absolute, 2-norm,
 *                  from a product made after convergence).
 *   out_converged: out, [k] or NULL: 1 when the pair met tol, else 0.
 *   out_products:  out or NULL: products used.
 *
 * Returns POLCA_OK when every pair converged. POLCA_ERR_NOT_CONVERGED when
 * max_products ran out first (or a residual stalled above tol at float32
 * precision): then every non-NULL out-parameter IS written, with the best
 * estimates: the Ritz pairs of the last Krylov space, their true residuals,
 * out_converged telling which pairs met tol, and out_products. On any other
 * status the out-parameters are untouched: POLCA_ERR_INVALID_ARGUMENT (bad
 * argument or option value), POLCA_ERR_UNKNOWN_OPTION / POLCA_ERR_OPTION_TYPE,
 * POLCA_ERR_NOT_FINITE (NaN/Inf in start, or returned by apply),
 * POLCA_ERR_CANCELLED (progress callback, or apply returned a nonzero value
 * that is not a status), the status apply returned, POLCA_ERR_OUT_OF_MEMORY.
 *
 * Progress: the context's progress callback is called after each product
 * of the iteration with stage "eigen", done = products used, total =
 * max_products, value = the largest relative residual estimate of the k
 * wanted pairs; it may cancel.
 */
POLCA_API int32_t polca_eigen_solve(polca_context *ctx, int64_t n, polca_operator_fn apply,
                                    void *user, int64_t k, const float *start,
                                    int64_t n_start, const polca_options *options,
                                    double *out_values, float *out_vectors,
                                    double *out_residuals, int32_t *out_converged,
                                    int64_t *out_products);

#ifdef __cplusplus
}
#endif

#endif /* POLCA_EIGEN_H */
