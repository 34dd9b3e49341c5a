/*
 * src/lanczos.c - top-k eigenpairs of a symmetric operator given only by
 * products: Lanczos with full reorthogonalization and thick restarts (the
 * symmetric Krylov-Schur method). docs/design.md says why this and not
 * LOBPCG.
 *
 * The Krylov decomposition kept at all times is
 *
 *     A V = V S + v_cur c^T,     V = [v_0 .. v_{cur-1}] orthonormal,
 *
 * with S (cur x cur, symmetric, host, double) the projected matrix and
 * v_cur the next Krylov vector. After an ordinary step c = beta e_{cur-1};
 * after a thick restart S = diag(kept Ritz values) and c carries the
 * "arrow" couplings. A Ritz pair (theta, V z) then has the residual
 * |c . z|, which drives the convergence test without a product.
 *
 * One step: w = A v_j; h_i = <v_i, w> for i <= j (double-accumulated dots:
 * the whole column, not only the tridiagonal part, so loss of orthogonality
 * is absorbed into S); w is then reorthogonalized against every v_i and then
 * the constraint by the backend's `orthonormalize` (CGS2, see orth() for the
 * order) and becomes v_{j+1}.
 * beta = ||w|| after projection. A collapsed w (beta below 1e-6 of ||w||:
 * an invariant subspace, exact to float32 precision) is replaced by a random
 * vector with coupling 0.
 *
 * When the k wanted Ritz pairs pass the test on the estimated residual, the
 * Ritz vectors are formed and checked with one fresh product each: the
 * eigenvalue returned is the Rayleigh quotient v^T A v of that product and
 * the residual is ||A v - lambda v|| (float64 norm), so a reported residual
 * never rests on the recurrence alone. A pair converges when
 *
 *     ||A v - lambda v|| <= tol * max(|lambda|, FLT_EPSILON * ||A||_est)
 *
 * with ||A||_est the largest |Ritz value| seen (the floor stops an
 * eigenvalue at 0 from being unreachable). If a check fails the estimate
 * threshold is tightened tenfold and the iteration goes on.
 *
 * Memory (backend): V [m+1][n], the k output rows, one product row, and a
 * restart buffer of at most 4M floats (the restart V <- V Z is done in column
 * chunks, in place). Host: O(m^2) doubles and one n-float staging row for
 * random vectors.
 */
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eigen.h"
#include "prng.h"

/* Breakdown: the new direction keeps less than this fraction of ||A v_j||. */
#define BREAKDOWN_KEPT 1e-6
/* A random replacement vector that keeps less than this is taken as proof
 * that the admissible space is exhausted. */
#define EXHAUSTED_KEPT 1e-3
/* Restart chunk: at most this many floats of scratch (rows x columns). */
#define RESTART_SCRATCH ((int64_t)1 << 22)

const polca__option_spec polca__eigen_option_names[] = {
    {"which", POLCA_OPT_STRING},     {"tol", POLCA_OPT_DOUBLE},
    {"max_products", POLCA_OPT_INT}, {"seed", POLCA_OPT_INT},
    {"krylov_size", POLCA_OPT_INT},  {NULL, 0},
};

int64_t polca__eigen_default_krylov(int64_t k) { return 2 * k + 1 > 20 ? 2 * k + 1 : 20; }

int32_t polca__eigen_parse(const polca_options *options, const char *fn, int64_t dim,
                           int64_t k, polca__eigen_opts *o) {
    memset(o, 0, sizeof *o);
    o->fn = fn;
    o->stage = "eigen";
    o->k = k;
    const char *which = polca__options_string(options, "which", "largest_algebraic");
    if (strcmp(which, "largest_algebraic") == 0)
        o->which = POLCA__WHICH_LA;
    else if (strcmp(which, "largest_magnitude") == 0)
        o->which = POLCA__WHICH_LM;
    else if (strcmp(which, "smallest_algebraic") == 0)
        o->which = POLCA__WHICH_SA;
    else
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'which' is '%s'; expected largest_algebraic, "
                           "largest_magnitude or smallest_algebraic",
                           fn, which);
    o->tol = polca__options_double(options, "tol", 1e-4);
    if (!(o->tol > 0.0 && o->tol < 1.0))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'tol' is %g; must be in (0, 1)", fn, o->tol);
    int64_t m = polca__options_int(options, "krylov_size", polca__eigen_default_krylov(k));
    if (m <= k || m > 100000)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'krylov_size' is %lld; must be in k+1..100000 "
                           "(k = %lld)",
                           fn, (long long)m, (long long)k);
    o->krylov_size = m < dim ? m : dim;
    int64_t dflt_products = 20 * m > 1000 ? 20 * m : 1000;
    o->max_products = polca__options_int(options, "max_products", dflt_products);
    if (o->max_products < 2 * k)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'max_products' is %lld; must be at least 2k = %lld "
                           "(k products build the Ritz vectors, k verify them)",
                           fn, (long long)o->max_products, (long long)(2 * k));
    o->seed = (uint64_t)polca__options_int(options, "seed", 0);
    return POLCA_OK;
}

typedef struct lz {
    polca_context *ctx;
    const polca_backend *be;
    void *bs;
    const polca__linop *op;
    const polca__eigen_opts *o;
    int64_t n, m, k;
    int64_t dim;  /* n - n_constraint: dimension of the admissible space */
    float *V;     /* backend [m+1][n] */
    float *y;     /* backend [n]: a product during verification */
    float *chunk; /* backend restart scratch */
    int64_t chunk_floats;
    float *coef_dev; /* backend [m][m]: Ritz coefficients as float */
    float *coef_host; /* host [m][m] */
    float *host_row;  /* host [n]: random vectors before upload */
    double *S;        /* host [m][m], row-major, leading dimension m */
    double *Z;        /* host [cur][cur]: eigenvectors of S (columns) */
    double *theta;    /* host [m]: Ritz values, ascending */
    double *c;        /* host [m]: coupling of V to v_cur */
    double *zc;       /* host [m]: Ritz residual estimates |c . z| */
    int64_t *order;   /* host [m]: Ritz indices in wanted order */
    int64_t cur;      /* columns of S that are complete */
    int exhausted;    /* no further Krylov vector exists */
    double anorm;     /* largest |Ritz value| seen */
    polca__prng rng;
    int64_t products;
} lz;

static float *row(const lz *s, int64_t i) { return s->V + i * s->n; }

static int32_t apply(lz *s, const float *x, float *y) {
    int32_t st = s->op->apply(s->op->user, x, y);
    s->products++;
    return st;
}

/* Orthonormalizes v against V[0..nv-1] and then the constraint; returns
 * the fraction of the norm kept (0 for a zero vector, which stays zero).
 * The constraint comes last on purpose: V is orthogonal to it only to
 * rounding, and projecting against V re-injects those rounding-level
 * components with the Lanczos coefficients as weights. Done before the
 * constraint projection, they would grow from step to step as an
 * eigencomponent at 0 does when 0 lies outside the spectrum (found with a
 * negative definite operator: the vectors drifted into span(C) within 15
 * steps). */
static int32_t orth(lz *s, float *v, int64_t nv, double *kept) {
    double k1 = 1.0, k2 = 1.0;
    int32_t st;
    const polca__eigen_opts *o = s->o;
    if (nv > 0 || o->n_constraint == 0) {
        st = s->be->orthonormalize(s->bs, s->n, nv > 0 ? s->V : NULL, nv, v, 1, 0.0, &k1);
        if (st) return st;
    }
    if (k1 > 0.0 && o->n_constraint > 0) {
        st = s->be->orthonormalize(s->bs, s->n, o->constraint, o->n_constraint, v, 1, 0.0, &k2);
        if (st) return st;
    }
    *kept = k1 * k2;
    if (!(*kept > 0.0)) *kept = 0.0;
    return POLCA_OK;
}

/* A random unit vector in the admissible space, orthogonal to V[0..nv-1],
 * into v; *kept as for orth(). */
static int32_t random_vector(lz *s, float *v, int64_t nv, double *kept) {
    for (int64_t i = 0; i < s->n; i++) s->host_row[i] = (float)polca__prng_normal(&s->rng);
    int32_t st = s->be->upload(s->bs, v, s->host_row, (size_t)s->n * sizeof(float));
    if (st) return st;
    return orth(s, v, nv, kept);
}

/* The start vector into V[0]. */
static int32_t start_vector(lz *s) {
    const polca__eigen_opts *o = s->o;
    double kept = 0.0;
    int32_t st;
    if (o->start && o->n_start > 0) {
        /* Rows 1..m of V are free now: orthonormalize the block (its first
         * m rows) there, against the constraint and among itself, with
         * dependent rows zeroed; their sum is the start vector. */
        int64_t rows = o->n_start < s->m ? o->n_start : s->m;
        float *blk = row(s, 1);
        size_t bytes = (size_t)rows * (size_t)s->n * sizeof(float);
        double *kept_rows = polca__calloc((size_t)rows, sizeof(double), "start block");
        if (!kept_rows) return POLCA_ERR_OUT_OF_MEMORY;
        st = s->be->copy(s->bs, blk, o->start, bytes);
        if (!st)
            st = s->be->orthonormalize(s->bs, s->n, o->constraint, o->n_constraint, blk,
                                       rows, 1e-6, kept_rows);
        free(kept_rows);
        if (!st) st = s->be->zero(s->bs, row(s, 0), (size_t)s->n * sizeof(float));
        for (int64_t r = 0; !st && r < rows; r++)
            st = s->be->axpy(s->bs, s->n, 1.0f, blk + r * s->n, row(s, 0));
        if (!st) st = orth(s, row(s, 0), 0, &kept);
        if (st) return st;
        if (kept > 0.0) return POLCA_OK;
        polca__log(s->ctx, POLCA_LOG_DEBUG,
                   "%s: nothing of the start block is left outside the constraint; "
                   "starting from a random vector",
                   o->fn);
    }
    if ((st = random_vector(s, row(s, 0), 0, &kept))) return st;
    if (!(kept > 0.0))
        return polca__fail(POLCA_ERR_INTERNAL, "%s: random start vector collapsed", o->fn);
    return POLCA_OK;
}

/* 1 when value a comes before value b in the wanted order. */
static int wanted_before(int32_t which, double a, double b) {
    switch (which) {
    case POLCA__WHICH_SA: return a < b;
    case POLCA__WHICH_LM: return fabs(a) > fabs(b) || (fabs(a) == fabs(b) && a > b);
    default: return a > b;
    }
}

/* Rayleigh-Ritz on S[0..cur-1]: theta, Z, order, zc; updates anorm. */
static int32_t ritz(lz *s) {
    int64_t r = s->cur;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < r; j++) s->Z[i * r + j] = s->S[i * s->m + j];
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)r, s->Z,
                                    (lapack_int)r, s->theta);
    if (info != 0)
        return polca__fail(POLCA_ERR_INTERNAL,
                           "%s: LAPACKE_dsyev on the %lld x %lld projected matrix failed "
                           "(info %d)",
                           s->o->fn, (long long)r, (long long)r, (int)info);
    /* Insertion sort of the indices (r is small); ties keep index order. */
    for (int64_t i = 0; i < r; i++) {
        int64_t v = i, p = i;
        while (p > 0 && wanted_before(s->o->which, s->theta[v], s->theta[s->order[p - 1]])) {
            s->order[p] = s->order[p - 1];
            p--;
        }
        s->order[p] = v;
    }
    for (int64_t i = 0; i < r; i++) {
        double a = fabs(s->theta[i]);
        if (a > s->anorm) s->anorm = a;
        double dot = 0.0;
        for (int64_t j = 0; j < r; j++) dot += s->c[j] * s->Z[j * r + i];
        s->zc[i] = fabs(dot);
    }
    return POLCA_OK;
}

/* Denominator of the relative residual. */
static double rel_scale(const lz *s, double lambda) {
    double floor = FLT_EPSILON * s->anorm;
    return fabs(lambda) > floor ? fabs(lambda) : (floor > 0.0 ? floor : 1.0);
}

/* Uploads the Ritz coefficients of wanted positions first..first+cnt-1 as a
 * float matrix [cnt][cur] into coef_dev. */
static int32_t upload_coefs(lz *s, int64_t first, int64_t cnt) {
    int64_t r = s->cur;
    for (int64_t i = 0; i < cnt; i++)
        for (int64_t j = 0; j < r; j++)
            s->coef_host[i * r + j] = (float)s->Z[j * r + s->order[first + i]];
    return s->be->upload(s->bs, s->coef_dev, s->coef_host, (size_t)(cnt * r) * sizeof(float));
}

/* Ritz vectors of wanted positions first..first+cnt-1 into dst [cnt][n],
 * normalized. */
static int32_t ritz_vectors(lz *s, int64_t first, int64_t cnt, float *dst) {
    int32_t st = upload_coefs(s, first, cnt);
    if (!st)
        st = s->be->gemm(s->bs, POLCA_TRANS_NO, POLCA_TRANS_NO, cnt, s->n, s->cur, 1.0f,
                         s->coef_dev, s->cur, s->V, s->n, 0.0f, dst, s->n);
    for (int64_t i = 0; !st && i < cnt; i++) {
        double nrm;
        st = s->be->nrm2(s->bs, s->n, dst + i * s->n, &nrm);
        if (!st && nrm > 0.0) st = s->be->scal(s->bs, s->n, (float)(1.0 / nrm), dst + i * s->n);
    }
    return st;
}

static int32_t not_finite(const lz *s) {
    return polca__fail(POLCA_ERR_NOT_FINITE,
                       "%s: the operator returned NaN or Inf (product %lld)", s->o->fn,
                       (long long)s->products);
}

/* One Lanczos step: column cur of S, next Krylov vector V[cur+1]. */
static int32_t extend(lz *s) {
    int64_t j = s->cur, n = s->n;
    float *w = row(s, j + 1);
    int32_t st = apply(s, row(s, j), w);
    if (st) return st;
    for (int64_t i = 0; i <= j; i++) {
        double h;
        if ((st = s->be->dot(s->bs, n, row(s, i), w, &h))) return st;
        if (!isfinite(h)) return not_finite(s);
        s->S[i * s->m + j] = h;
        s->S[j * s->m + i] = h;
    }
    double before, kept;
    if ((st = s->be->nrm2(s->bs, n, w, &before))) return st;
    if (!isfinite(before)) return not_finite(s);
    if ((st = orth(s, w, j + 1, &kept))) return st;
    s->cur = j + 1;
    memset(s->c, 0, (size_t)s->m * sizeof *s->c);
    if (s->cur >= s->dim) {
        s->exhausted = 1; /* the Krylov space is the whole admissible space */
    } else if (kept < BREAKDOWN_KEPT) {
        /* Invariant subspace: go on from a fresh direction, coupling 0. */
        double kr;
        if ((st = random_vector(s, w, s->cur, &kr))) return st;
        if (kr < EXHAUSTED_KEPT) s->exhausted = 1;
    } else {
        s->c[j] = before * kept;
    }
    return POLCA_OK;
}

/* Thick restart: keep the l best Ritz vectors, move v_cur after them. */
static int32_t restart(lz *s, int64_t l) {
    int64_t r = s->cur, n = s->n;
    int32_t st = upload_coefs(s, 0, l);
    if (st) return st;
    int64_t cw = s->chunk_floats / l;
    for (int64_t c0 = 0; c0 < n; c0 += cw) {
        int64_t w = n - c0 < cw ? n - c0 : cw;
        if ((st = s->be->gemm(s->bs, POLCA_TRANS_NO, POLCA_TRANS_NO, l, w, r, 1.0f, s->coef_dev,
                              r, s->V + c0, n, 0.0f, s->chunk, w)))
            return st;
        for (int64_t i = 0; i < l; i++)
            if ((st = s->be->copy(s->bs, s->V + i * n + c0, s->chunk + i * w,
                                  (size_t)w * sizeof(float))))
                return st;
    }
    if ((st = s->be->copy(s->bs, row(s, l), row(s, r), (size_t)n * sizeof(float)))) return st;
    double *cnew = s->zc; /* zc is recomputed by ritz() below */
    for (int64_t i = 0; i < l; i++) {
        double dot = 0.0;
        for (int64_t j = 0; j < r; j++) dot += s->c[j] * s->Z[j * r + s->order[i]];
        cnew[i] = dot;
    }
    memset(s->S, 0, (size_t)(s->m * s->m) * sizeof *s->S);
    for (int64_t i = 0; i < l; i++) s->S[i * s->m + i] = s->theta[s->order[i]];
    memset(s->c, 0, (size_t)s->m * sizeof *s->c);
    memcpy(s->c, cnew, (size_t)l * sizeof *s->c);
    s->cur = l;
    return ritz(s);
}

static int32_t swap_rows(lz *s, float *a, float *b) {
    size_t bytes = (size_t)s->n * sizeof(float);
    int32_t st = s->be->copy(s->bs, s->y, a, bytes);
    if (!st) st = s->be->copy(s->bs, a, b, bytes);
    if (!st) st = s->be->copy(s->bs, b, s->y, bytes);
    return st;
}

/* y <- (I - C C^T) y for the constraint rows C: the solver's operator is
 * the product projected onto their complement. */
static int32_t project_constraint(lz *s, float *y) {
    for (int64_t i = 0; i < s->o->n_constraint; i++) {
        const float *c = s->o->constraint + i * s->n;
        double d;
        int32_t st = s->be->dot(s->bs, s->n, c, y, &d);
        if (!st && d != 0.0) st = s->be->axpy(s->bs, s->n, (float)-d, c, y);
        if (st) return st;
    }
    return POLCA_OK;
}

/* Forms the k wanted Ritz vectors into out and checks each with a fresh
 * product; *all_ok = 1 when every pair converged. */
static int32_t verify(lz *s, polca__eigen_out *out, int *all_ok) {
    int64_t k = s->k, n = s->n;
    int32_t st = ritz_vectors(s, 0, k, out->vectors);
    if (st) return st;
    *all_ok = 1;
    for (int64_t i = 0; i < k; i++) {
        float *x = out->vectors + i * n;
        double lam, res;
        if ((st = apply(s, x, s->y))) return st;
        if ((st = project_constraint(s, s->y))) return st;
        if ((st = s->be->dot(s->bs, n, x, s->y, &lam))) return st;
        if (!isfinite(lam)) return not_finite(s);
        if ((st = s->be->axpy(s->bs, n, (float)-lam, x, s->y))) return st;
        if ((st = s->be->nrm2(s->bs, n, s->y, &res))) return st;
        if (!isfinite(res)) return not_finite(s);
        if (fabs(lam) > s->anorm) s->anorm = fabs(lam);
        out->values[i] = lam;
        out->residuals[i] = res;
    }
    for (int64_t i = 0; i < k; i++) {
        out->converged[i] = out->residuals[i] <= s->o->tol * rel_scale(s, out->values[i]);
        if (!out->converged[i]) *all_ok = 0;
    }
    /* The Rayleigh quotients may reorder near-equal pairs: sort again. */
    for (int64_t a = 0; a < k; a++) {
        int64_t best = a;
        for (int64_t b = a + 1; b < k; b++)
            if (wanted_before(s->o->which, out->values[b], out->values[best])) best = b;
        if (best == a) continue;
        double tv = out->values[a], tr = out->residuals[a];
        int32_t tc = out->converged[a];
        out->values[a] = out->values[best], out->residuals[a] = out->residuals[best];
        out->converged[a] = out->converged[best];
        out->values[best] = tv, out->residuals[best] = tr, out->converged[best] = tc;
        if ((st = swap_rows(s, out->vectors + a * n, out->vectors + best * n))) return st;
    }
    return POLCA_OK;
}

static void release_all(lz *s) {
    if (s->be) {
        s->be->release(s->bs, s->V);
        s->be->release(s->bs, s->y);
        s->be->release(s->bs, s->chunk);
        s->be->release(s->bs, s->coef_dev);
    }
    free(s->coef_host);
    free(s->host_row);
    free(s->S);
    free(s->Z);
    free(s->theta);
    free(s->c);
    free(s->zc);
    free(s->order);
}

static int32_t setup(lz *s) {
    size_t n = (size_t)s->n, m = (size_t)s->m, bytes;
    int32_t st;
    if (!polca__mul_size((m + 1) * sizeof(float), n, &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "%s: Krylov basis size overflows",
                           s->o->fn);
    if ((st = s->be->alloc(s->bs, bytes, (void **)&s->V))) return st;
    if ((st = s->be->alloc(s->bs, n * sizeof(float), (void **)&s->y))) return st;
    int64_t cf = (int64_t)(m * n) < RESTART_SCRATCH ? (int64_t)(m * n) : RESTART_SCRATCH;
    if (cf < (int64_t)m) cf = (int64_t)m;
    s->chunk_floats = cf;
    if ((st = s->be->alloc(s->bs, (size_t)cf * sizeof(float), (void **)&s->chunk))) return st;
    if ((st = s->be->alloc(s->bs, m * m * sizeof(float), (void **)&s->coef_dev))) return st;
    s->coef_host = polca__calloc(m * m, sizeof(float), "Ritz coefficients");
    s->host_row = polca__calloc(n, sizeof(float), "random vector");
    s->S = polca__calloc(m * m, sizeof(double), "projected matrix");
    s->Z = polca__calloc(m * m, sizeof(double), "projected eigenvectors");
    s->theta = polca__calloc(m, sizeof(double), "Ritz values");
    s->c = polca__calloc(m, sizeof(double), "Krylov coupling");
    s->zc = polca__calloc(m, sizeof(double), "Ritz residual estimates");
    s->order = polca__calloc(m, sizeof(int64_t), "Ritz order");
    if (!s->coef_host || !s->host_row || !s->S || !s->Z || !s->theta || !s->c || !s->zc ||
        !s->order)
        return POLCA_ERR_OUT_OF_MEMORY;
    return POLCA_OK;
}

static int32_t run(lz *s, polca__eigen_out *out) {
    const polca__eigen_opts *o = s->o;
    int64_t k = s->k;
    double tol_est = o->tol;
    int verified = 0, all_ok = 0;
    int32_t st = start_vector(s);
    if (st) return st;
    for (;;) {
        if (s->exhausted || s->products + 1 + k > o->max_products) break;
        if ((st = extend(s))) return st;
        verified = 0;
        if ((st = ritz(s))) return st;
        double worst = 0.0;
        int64_t nw = s->cur < k ? s->cur : k;
        for (int64_t i = 0; i < nw; i++) {
            double th = s->theta[s->order[i]];
            double rel = s->zc[s->order[i]] / rel_scale(s, th);
            if (rel > worst) worst = rel;
        }
        if ((st = polca__progress(s->ctx, o->stage, s->products, o->max_products, worst)))
            return st;
        if (s->cur >= k && (worst <= tol_est || s->exhausted)) {
            if ((st = verify(s, out, &all_ok))) return st;
            verified = 1;
            if (all_ok || s->exhausted) break;
            tol_est *= 0.1; /* the estimate was optimistic: ask more of it */
        }
        if (s->cur == s->m && !s->exhausted) {
            int64_t l = k + (s->m - k) / 2;
            if (l > s->m - 1) l = s->m - 1;
            if ((st = restart(s, l))) return st;
        }
    }
    if (!verified) {
        if (s->cur < k || s->products + k > o->max_products)
            return polca__fail(POLCA_ERR_INTERNAL,
                               "%s: budget accounting failed (%lld Ritz pairs, %lld of %lld "
                               "products)",
                               o->fn, (long long)s->cur, (long long)s->products,
                               (long long)o->max_products);
        if ((st = verify(s, out, &all_ok))) return st;
    }
    double worst = 0.0;
    for (int64_t i = 0; i < k; i++) {
        double rel = out->residuals[i] / rel_scale(s, out->values[i]);
        if (rel > worst) worst = rel;
    }
    if ((st = polca__progress(s->ctx, o->stage, s->products, o->max_products, worst)))
        return st;
    out->n_spare_out = 0;
    if (o->n_spare > 0 && out->spare && s->cur > k) {
        int64_t cnt = s->cur - k < o->n_spare ? s->cur - k : o->n_spare;
        if ((st = ritz_vectors(s, k, cnt, out->spare))) return st;
        out->n_spare_out = cnt;
    }
    out->products = s->products;
    if (all_ok) return POLCA_OK;
    int64_t bad = 0;
    for (int64_t i = 0; i < k; i++) bad += !out->converged[i];
    return polca__fail(POLCA_ERR_NOT_CONVERGED,
                       "%s: %lld of %lld eigenpairs did not reach the relative residual "
                       "%g within %lld products (best estimates returned)",
                       o->fn, (long long)bad, (long long)k, o->tol, (long long)s->products);
}

int32_t polca__eigen_solve(polca_context *ctx, const polca__linop *op,
                           const polca__eigen_opts *o, polca__eigen_out *out) {
    lz s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.be = ctx->be;
    s.bs = ctx->be_state;
    s.op = op;
    s.o = o;
    s.n = op->n;
    s.k = o->k;
    s.dim = op->n - o->n_constraint;
    if (s.k < 1 || s.k > s.dim || o->max_products < 2 * s.k || o->krylov_size <= 0 ||
        o->n_start < 0 || o->n_constraint < 0)
        return polca__fail(POLCA_ERR_INTERNAL,
                           "%s: eigensolver called with unchecked sizes (k %lld, dimension "
                           "%lld, krylov %lld, start rows %lld)",
                           o->fn, (long long)s.k, (long long)s.dim, (long long)o->krylov_size,
                           (long long)o->n_start);
    s.m = o->krylov_size < s.dim ? o->krylov_size : s.dim;
    if (s.m < s.k) s.m = s.k;
    polca__prng_seed(&s.rng, o->seed, 0x4c616e637a6f73ull /* "Lanczos" */);
    int32_t st = setup(&s);
    if (!st) st = run(&s, out);
    release_all(&s);
    return st;
}
