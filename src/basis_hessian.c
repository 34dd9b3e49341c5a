/*
 * src/basis_hessian.c - Algorithm 1 (docs/method.md#the-basis-algorithm-1):
 * the Hessian eigenbasis over a series of checkpoints, each checkpoint
 * contributing the top-k eigenvectors of its Hessian projected onto the
 * orthogonal complement of the basis so far; and the shuffled-checkpoint
 * variant (Appendix H).
 *
 * The operator at checkpoint c is A_c = P H_c P with P = I - B B^T, applied
 * as written (project the input, HVP, project the output), so the reported
 * eigenvalue and residual are those of A_c. The eigensolver also keeps every
 * Krylov vector orthogonal to B (its "constraint"): A_c is zero on span(B),
 * and without the constraint those K zero eigenvalues could be returned
 * when the wanted end of P H_c P is at or below 0.
 *
 * Warm start: the eigenvectors of checkpoint c are in B by the time c+1 is
 * solved, so they cannot seed it. What can is the next Ritz vectors of c's
 * Krylov space (approximations of eigenvectors k+1..2k of A_c), which are
 * orthogonal to the new B and approximate the top of A_{c+1} when the
 * Hessian changes slowly between checkpoints.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basis.h"
#include "prng.h"

const polca__option_spec polca__basis_hessian_option_names[] = {
    {"which", POLCA_OPT_STRING},     {"tol", POLCA_OPT_DOUBLE},
    {"max_products", POLCA_OPT_INT}, {"seed", POLCA_OPT_INT},
    {"krylov_size", POLCA_OPT_INT},  {"shuffle", POLCA_OPT_INT},
    {"shuffle_seed", POLCA_OPT_INT}, {"warm_start", POLCA_OPT_INT},
    {NULL, 0},
};

int32_t polca__basis_hessian_parse(const polca_options *options, const char *fn, int64_t p,
                                   int64_t n_checkpoints, int64_t k,
                                   polca__hessian_basis_opts *o) {
    memset(o, 0, sizeof *o);
    if (n_checkpoints < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: no basis checkpoints (n_checkpoints is %lld)", fn,
                           (long long)n_checkpoints);
    if (k < 1 || k > p / n_checkpoints)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: k is %lld; must be in 1..n_params / n_checkpoints (%lld / "
                           "%lld): the basis cannot hold more than n_params vectors",
                           fn, (long long)k, (long long)p, (long long)n_checkpoints);
    int32_t st = polca__eigen_parse(options, fn, p, k, &o->eig);
    if (st) return st;
    int64_t shuffle = polca__options_int(options, "shuffle", 0);
    int64_t warm = polca__options_int(options, "warm_start", 1);
    if (shuffle != 0 && shuffle != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'shuffle' is %lld; must be 0 or 1", fn,
                           (long long)shuffle);
    if (warm != 0 && warm != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'warm_start' is %lld; must be 0 or 1", fn,
                           (long long)warm);
    o->shuffle = (int32_t)shuffle;
    o->warm_start = (int32_t)warm;
    o->shuffle_seed = (uint64_t)polca__options_int(options, "shuffle_seed", 0);
    return POLCA_OK;
}

typedef struct proj_op {
    const polca_backend *be;
    void *bs;
    polca__hvp_at_fn hvp_at;
    void *user;
    int64_t checkpoint, step;
    const float *B; /* backend [K][p], orthonormal */
    int64_t K, p;
    float *xp; /* backend [p]: the projected input */
    const float *root; /* host [p]: sqrt(s) of the checkpoint, or NULL (plain) */
    float *tmp;        /* host [p] scratch when root is set */
} proj_op;

/* v <- root .* v for a backend vector v, through host memory (the backends
 * have no elementwise product; a download and an upload per call). */
static int32_t scale_dev(const proj_op *o, float *v) {
    size_t bytes = (size_t)o->p * sizeof(float);
    int32_t st = o->be->download(o->bs, o->tmp, v, bytes);
    if (st) return st;
    for (int64_t j = 0; j < o->p; j++) o->tmp[j] *= o->root[j];
    return o->be->upload(o->bs, v, o->tmp, bytes);
}

/* v <- (I - B B^T) v, one row at a time with double-accumulated dots. */
static int32_t project(const proj_op *o, float *v) {
    for (int64_t i = 0; i < o->K; i++) {
        double c;
        int32_t st = o->be->dot(o->bs, o->p, o->B + i * o->p, v, &c);
        if (!st && c != 0.0) st = o->be->axpy(o->bs, o->p, (float)-c, o->B + i * o->p, v);
        if (st) return st;
    }
    return POLCA_OK;
}

static int32_t proj_apply(void *u, const float *x, float *y) {
    proj_op *o = u;
    const float *in = x;
    int32_t st;
    if (o->K > 0 || o->root) {
        if ((st = o->be->copy(o->bs, o->xp, x, (size_t)o->p * sizeof(float)))) return st;
        if (o->K > 0 && (st = project(o, o->xp))) return st;
        if (o->root && (st = scale_dev(o, o->xp))) return st;
        in = o->xp;
    }
    if ((st = o->hvp_at(o->user, o->checkpoint, in, y)))
        return polca__wrap(st, "Hessian product at checkpoint %lld (step %lld)",
                           (long long)o->checkpoint, (long long)o->step);
    if (o->root && (st = scale_dev(o, y))) return st;
    return o->K > 0 ? project(o, y) : POLCA_OK;
}

int32_t polca__basis_hessian(polca_context *ctx, int64_t p, int64_t n_checkpoints,
                             const int64_t *steps, polca__hvp_at_fn hvp_at, void *user,
                             const polca__hessian_basis_opts *o, polca_basis **out) {
    return polca__basis_hessian_scaled(ctx, p, n_checkpoints, steps, hvp_at, NULL, user, o, out);
}

/* A mapped vector u = S^{1/2} w that keeps less than this fraction of its
 * norm after Gram-Schmidt against the basis fails the call: above the
 * float32 rounding of CGS2 (a vector in span(B) keeps ~1e-7..1e-6), so what
 * passes is a direction and not rounding noise. */
#define SCALED_RANK_TOL 1e-5

int32_t polca__basis_hessian_scaled(polca_context *ctx, int64_t p, int64_t n_checkpoints,
                                    const int64_t *steps, polca__hvp_at_fn hvp_at,
                                    polca__scale_at_fn scale_at, void *user,
                                    const polca__hessian_basis_opts *o, polca_basis **out) {
    static const char *fn = "polca__basis_hessian";
    const int64_t k = o->eig.k;
    if (!ctx || !steps || !hvp_at || !out || p < 1 || n_checkpoints < 1 || k < 1 ||
        k > p / n_checkpoints)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: bad arguments (p %lld, checkpoints %lld, k %lld, steps %s, "
                           "hvp_at %s)",
                           fn, (long long)p, (long long)n_checkpoints, (long long)k,
                           steps ? "set" : "NULL", hvp_at ? "set" : "NULL");
    const polca_backend *be = ctx->be;
    void *bs = ctx->be_state;
    size_t row = (size_t)p * sizeof(float);
    int64_t *order = polca__alloc((size_t)n_checkpoints * sizeof *order, "checkpoint order");
    double *values = polca__calloc((size_t)k, sizeof(double), "eigenvalues");
    double *residuals = polca__calloc((size_t)k, sizeof(double), "residuals");
    int32_t *converged = polca__calloc((size_t)k, sizeof(int32_t), "converged flags");
    polca__basis_meta *meta = polca__calloc((size_t)k, sizeof *meta, "basis metadata");
    float *vecs = NULL, *spare = NULL, *xp = NULL, *root = NULL, *tmp = NULL;
    polca_basis *b = NULL;
    int32_t st = POLCA_OK;
    int64_t missed = 0, first_missed = -1;
    if (!order || !values || !residuals || !converged || !meta) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    if (scale_at && (!(root = polca__alloc(row, "scale roots")) ||
                     !(tmp = polca__alloc(row, "scaling scratch")))) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    /* Visiting order: as given, or a seeded Fisher-Yates shuffle. */
    for (int64_t i = 0; i < n_checkpoints; i++) order[i] = i;
    if (o->shuffle) {
        polca__prng g;
        polca__prng_seed(&g, o->shuffle_seed, 0x53687566666c65ull /* "Shuffle" */);
        for (int64_t i = n_checkpoints - 1; i > 0; i--) {
            int64_t j = (int64_t)polca__prng_below(&g, (uint64_t)i + 1);
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    if ((st = be->alloc(bs, row * (size_t)k, (void **)&vecs))) goto done;
    if (o->warm_start && (st = be->alloc(bs, row * (size_t)k, (void **)&spare))) goto done;
    if ((st = be->alloc(bs, row, (void **)&xp))) goto done;
    if ((st = polca__basis_new(ctx, p, n_checkpoints * k, &b))) goto done;

    int64_t n_spare = 0;
    int32_t kind = o->shuffle ? POLCA_BASIS_KIND_HESSIAN_SHUFFLED : POLCA_BASIS_KIND_HESSIAN;
    if (scale_at)
        kind = o->shuffle ? POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED
                          : POLCA_BASIS_KIND_HESSIAN_SCALED;
    for (int64_t t = 0; t < n_checkpoints; t++) {
        int64_t c = order[t];
        if (scale_at && (st = scale_at(user, c, root))) goto done;
        proj_op op = {be, bs,   hvp_at, user, c, steps[c], polca__basis_resident(b), b->k, p,
                      xp, root, tmp};
        polca__linop lin = {p, proj_apply, &op};
        polca__eigen_opts eo = o->eig;
        uint64_t mix = o->eig.seed + (uint64_t)c;
        eo.seed = polca__splitmix64(&mix);
        eo.constraint = op.B;
        eo.n_constraint = b->k;
        /* The solver copies the start block before it writes the spare
         * vectors, so one buffer serves as both. */
        eo.start = n_spare > 0 ? spare : NULL;
        eo.n_start = n_spare;
        eo.n_spare = o->warm_start ? k : 0;
        eo.fn = fn;
        eo.stage = "eigen";
        polca__eigen_out eout = {values, vecs, residuals, converged, 0, spare, 0};
        st = polca__eigen_solve(ctx, &lin, &eo, &eout);
        if (st == POLCA_ERR_NOT_CONVERGED) {
            for (int64_t i = 0; i < k; i++) missed += !converged[i];
            if (first_missed < 0) first_missed = c;
        } else if (st) {
            goto done;
        }
        double worst = 0.0;
        for (int64_t i = 0; i < k; i++) {
            meta[i].kind = kind;
            meta[i].converged = converged[i];
            meta[i].source_step = steps[c];
            meta[i].source_index = c;
            meta[i].eigenvalue = values[i];
            meta[i].residual = residuals[i];
            double rel = fabs(values[i]) > 0.0 ? residuals[i] / fabs(values[i]) : residuals[i];
            if (rel > worst) worst = rel;
        }
        if (!scale_at) {
            /* The eigenvectors are orthogonal to B already (the constraint):
             * the append's CGS2 only polishes rounding, so a loss of more
             * than half the norm would be a bug. */
            if ((st = polca__basis_append(b, vecs, k, meta, 0.5, fn, "eigenvector", b->k)))
                goto done;
        } else {
            /* u = S^{1/2} w, then Gram-Schmidt (CGS2) against B and the
             * vectors before it at this checkpoint, normalized. u is no
             * longer orthogonal to B, and may even lie in span(B) (s = 0 on
             * the support of w): that fails the call, naming the checkpoint. */
            for (int64_t i = 0; i < k && !st; i++) st = scale_dev(&op, vecs + i * p);
            char what[128];
            snprintf(what, sizeof what,
                     "the mapped eigenvector u = S^(1/2) w of the checkpoint at step %lld, number",
                     (long long)steps[c]);
            if (!st)
                st = polca__basis_append(b, vecs, k, meta, SCALED_RANK_TOL, fn, what, 0);
            if (st) goto done;
        }
        n_spare = o->warm_start ? eout.n_spare_out : 0;
        if ((st = polca__progress(ctx, "basis", t + 1, n_checkpoints, worst))) goto done;
    }
    if ((st = be->sync(bs))) goto done;
    if (missed > 0)
        st = polca__fail(POLCA_ERR_NOT_CONVERGED,
                         "%s: %lld of %lld eigenpairs missed the tolerance %g within %lld "
                         "products per checkpoint (first at checkpoint %lld); the basis "
                         "holds the best estimates",
                         fn, (long long)missed, (long long)(n_checkpoints * k), o->eig.tol,
                         (long long)o->eig.max_products, (long long)first_missed);
done:
    free(order);
    free(values);
    free(residuals);
    free(converged);
    free(meta);
    be->release(bs, vecs);
    be->release(bs, spare);
    be->release(bs, xp);
    free(root);
    free(tmp);
    if (st && st != POLCA_ERR_NOT_CONVERGED) {
        polca_basis_destroy(b);
        return st;
    }
    *out = b;
    return st;
}
