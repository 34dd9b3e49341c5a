/*
 * src/eigen.h - the symmetric eigensolver (thick-restart Lanczos), written
 * once against the dispatch table. Private; the public face is
 * polca_eigen_solve (polca/eigen.h), and Algorithm 1 (basis_hessian.c) calls
 * it on the projected Hessian.
 *
 * Memory: every float vector here is BACKEND memory (ctx->be->alloc: device
 * memory on CUDA, host memory on the CPU backend); the small projected
 * problem and every scalar result live on the host.
 */
#ifndef POLCA_EIGEN_PRIVATE_H
#define POLCA_EIGEN_PRIVATE_H

#include <stdint.h>

#include "internal.h"

/* Which end of the spectrum is wanted. */
#define POLCA__WHICH_LA 0 /* largest algebraic (default)  */
#define POLCA__WHICH_LM 1 /* largest magnitude            */
#define POLCA__WHICH_SA 2 /* smallest algebraic           */

/* A symmetric operator given by products. apply writes y[n] = A x[n]; x and
 * y are backend memory and never alias. Returns POLCA_OK, or a status with
 * the message already recorded (polca__fail). */
typedef struct polca__linop {
    int64_t n;
    int32_t (*apply)(void *user, const float *x, float *y);
    void *user;
} polca__linop;

typedef struct polca__eigen_opts {
    int32_t which;        /* POLCA__WHICH_* */
    int64_t k;            /* wanted pairs, 1 <= k <= n - n_constraint */
    double tol;           /* relative residual, see lanczos.c */
    int64_t max_products; /* every product counts, verification included; >= 2k */
    uint64_t seed;        /* start vector and breakdown vectors */
    int64_t krylov_size;  /* Krylov subspace size m, >= k + 1; clipped to the
                             dimension of the admissible space */
    /* Optional warm start: n_start rows [n_start][n], any scale, not
     * necessarily orthonormal (only the first krylov_size rows are used).
     * Their sum, after orthonormalizing them against the constraint and each
     * other, is the start vector; the solver falls back to a random vector
     * when nothing is left of it. Read only before the first product, so
     * the same buffer may receive `spare`. */
    const float *start;
    int64_t n_start;
    /* Optional constraint: n_constraint orthonormal rows C [n_constraint][n].
     * Every Krylov vector is kept orthogonal to them and every product is
     * projected off them, so the solver returns eigenpairs of
     * (I - C C^T) A (I - C C^T) restricted to the complement of span(C)
     * (residuals measured with that operator). */
    const float *constraint;
    int64_t n_constraint;
    /* Extra Ritz vectors returned after the k wanted ones (unverified), to
     * warm-start a related problem. */
    int64_t n_spare;
    const char *fn;    /* calling function, for messages */
    const char *stage; /* progress stage, e.g. "eigen" */
} polca__eigen_opts;

typedef struct polca__eigen_out {
    double *values;     /* host [k], in wanted order */
    float *vectors;     /* backend [k][n], unit rows */
    double *residuals;  /* host [k]: ||A v - lambda v|| from a fresh product */
    int32_t *converged; /* host [k]: 1 when the relative residual <= tol */
    int64_t products;   /* products used, verification included */
    float *spare;       /* backend [n_spare][n], or NULL when n_spare = 0 */
    int64_t n_spare_out; /* spare rows actually written (may be < n_spare) */
} polca__eigen_out;

/*
 * Top-k eigenpairs of op. Returns POLCA_OK when every pair converged;
 * POLCA_ERR_NOT_CONVERGED when the product budget ran out or the residual of
 * some pair stalled above tol: every field of `out` is then filled with the
 * best estimates (Ritz pairs of the last Krylov space, their verified
 * residuals, converged flags per pair). Any other status: the contents of
 * `out` are unspecified. The options are assumed checked (polca__eigen_parse).
 */
POLCA_INTERNAL int32_t polca__eigen_solve(polca_context *ctx, const polca__linop *op,
                                          const polca__eigen_opts *opts,
                                          polca__eigen_out *out);

/* Option names of the solver, for consumers that accept them; ends in {NULL}. */
extern const polca__option_spec polca__eigen_option_names[] __attribute__((visibility("hidden")));

/* Reads the solver's options (names in polca__eigen_option_names) into
 * `opts` with their defaults, for a problem of dimension `dim` (admissible
 * space) and k pairs, and checks their ranges. `options` must already have
 * passed polca__options_check against a table holding these names. */
POLCA_INTERNAL int32_t polca__eigen_parse(const polca_options *options, const char *fn,
                                          int64_t dim, int64_t k, polca__eigen_opts *opts);

/* Default Krylov size for k pairs: max(2k + 1, 20). */
POLCA_INTERNAL int64_t polca__eigen_default_krylov(int64_t k);

#endif /* POLCA_EIGEN_PRIVATE_H */
