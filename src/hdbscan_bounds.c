/*
 * src/hdbscan_bounds.c - cheap, rigorous bounds on Euclidean distances, so
 * HDBSCAN computes few exact distances.
 *
 * The points are centred (mean mu) and projected on q <= 16 orthonormal
 * directions U [d][q] that hold most of their variance (subspace iteration on
 * a sample of rows). For any pair, with p = U^T (x - mu) and r = |x - mu - U p|:
 *
 *   |p_i - p_j|  <=  |x_i - x_j|  <=  sqrt(|p_i - p_j|^2 + (r_i + r_j)^2)
 *
 * The first because U has orthonormal columns (a zero column is harmless);
 * the second because x_i - x_j splits into U (p_i - p_j) and a part
 * orthogonal to U of norm <= r_i + r_j. U only decides how tight the bounds
 * are, never whether they hold, so a poor subspace costs time, not results.
 *
 * Rounding: centring, projection, residuals and the exact kernel's own sum
 * each err by far less than 1e-12 relative to the data's largest norm S (or
 * to the distance); the margins below (1e-9 relative plus 1e-9 S absolute)
 * cover them by three orders of magnitude. Pairs closer than ~1e-9 S are
 * then never decided by bounds: they always get an exact distance.
 */
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hdbscan.h"

#define Q_MAX 16        /* projected dimensions */
#define SAMPLE_MAX 2048 /* rows the subspace is estimated from */
#define POWER_STEPS 2

typedef double v4d __attribute__((vector_size(32)));

/* Modified Gram-Schmidt, twice, on the q columns of a [rows][q] row-major
 * matrix. A column that loses all but 1e-8 of its norm to the projection is
 * numerically dependent (rank-deficient data) and is set to zero, which keeps
 * the columns orthonormal-or-zero, all the lower bound needs. */
static void orthonormalize_columns(double *a, int64_t rows, int64_t q) {
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t c = 0; c < q; c++) {
            double before = 0.0;
            for (int64_t r = 0; r < rows; r++) before += a[r * q + c] * a[r * q + c];
            for (int64_t e = 0; e < c; e++) {
                double dot = 0.0;
                for (int64_t r = 0; r < rows; r++) dot += a[r * q + c] * a[r * q + e];
                for (int64_t r = 0; r < rows; r++) a[r * q + c] -= dot * a[r * q + e];
            }
            double after = 0.0;
            for (int64_t r = 0; r < rows; r++) after += a[r * q + c] * a[r * q + c];
            double scale = after > 1e-16 * before && after > 0.0 ? 1.0 / sqrt(after) : 0.0;
            for (int64_t r = 0; r < rows; r++) a[r * q + c] *= scale;
        }
    }
}

/* y[r][c] = sum_k (x[row(r)][k] - mu[k]) u[k][c] for the given rows. */
static void project_rows(const float *x, int64_t ldx, int64_t d, const double *mu,
                         const int64_t *rows, int64_t n_rows, const double *u, int64_t q,
                         double *y) {
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + rows[r] * ldx;
        double acc[Q_MAX] = {0};
        for (int64_t k = 0; k < d; k++) {
            double v = (double)xr[k] - mu[k];
            const double *uk = u + k * q;
            for (int64_t c = 0; c < q; c++) acc[c] += v * uk[c];
        }
        memcpy(y + r * q, acc, (size_t)q * sizeof *acc);
    }
}

/* z[k][c] = sum_r (x[row(r)][k] - mu[k]) y[r][c]. */
static void back_project(const float *x, int64_t ldx, int64_t d, const double *mu,
                         const int64_t *rows, int64_t n_rows, const double *y, int64_t q,
                         double *z) {
    memset(z, 0, (size_t)(d * q) * sizeof *z);
    for (int64_t r = 0; r < n_rows; r++) {
        const float *xr = x + rows[r] * ldx;
        const double *yr = y + r * q;
        for (int64_t k = 0; k < d; k++) {
            double v = (double)xr[k] - mu[k];
            double *zk = z + k * q;
            for (int64_t c = 0; c < q; c++) zk[c] += v * yr[c];
        }
    }
}

int32_t polca__hdb_bounds_build(polca__hdb_bounds *b, int64_t n, int64_t d, const float *x,
                                int64_t ldx) {
    memset(b, 0, sizeof *b);
    int64_t q = d < Q_MAX ? d : Q_MAX;
    int64_t n_pad = (n + 3) & ~(int64_t)3;
    int64_t ns = n < SAMPLE_MAX ? n : SAMPLE_MAX;
    double *mu = polca__calloc((size_t)d, sizeof *mu, "hdbscan bounds (mean)");
    double *u = polca__calloc((size_t)(d * q), sizeof *u, "hdbscan bounds (subspace)");
    double *y = polca__calloc((size_t)(ns * q), sizeof *y, "hdbscan bounds (sample)");
    int64_t *rows = polca__calloc((size_t)(n > 0 ? n : 1), sizeof *rows, "hdbscan bounds (rows)");
    double *p = polca__calloc((size_t)q, sizeof *p, "hdbscan bounds");
    b->pt = polca__calloc((size_t)(q * n_pad), sizeof *b->pt, "hdbscan bounds (projections)");
    b->resid = polca__calloc((size_t)n, sizeof *b->resid, "hdbscan bounds (residuals)");
    if (!mu || !u || !y || !rows || !p || !b->pt || !b->resid) {
        free(mu), free(u), free(y), free(rows), free(p);
        polca__hdb_bounds_free(b);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    b->n = n;
    b->q = q;
    b->n_pad = n_pad;

    /* Mean and the largest norm S, in double. */
    double s_max = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * ldx;
        double nrm = 0.0;
        for (int64_t k = 0; k < d; k++) {
            mu[k] += (double)xi[k];
            nrm += (double)xi[k] * (double)xi[k];
        }
        if (nrm > s_max) s_max = nrm;
    }
    s_max = sqrt(s_max);
    for (int64_t k = 0; k < d; k++) mu[k] /= (double)n;

    if (q == d) {
        for (int64_t k = 0; k < d; k++) u[k * q + k] = 1.0; /* exact coordinates */
    } else {
        /* Subspace iteration on evenly spaced sample rows from a fixed
         * pseudo-random start (results never depend on it; speed does). */
        for (int64_t r = 0; r < ns; r++) rows[r] = r * n / ns;
        uint64_t s = 0x9E3779B97F4A7C15ull;
        for (int64_t i = 0; i < d * q; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            u[i] = (double)(s >> 11) * (1.0 / 9007199254740992.0) - 0.5;
        }
        orthonormalize_columns(u, d, q);
        for (int step = 0; step < POWER_STEPS; step++) {
            project_rows(x, ldx, d, mu, rows, ns, u, q, y);
            orthonormalize_columns(y, ns, q);
            back_project(x, ldx, d, mu, rows, ns, y, q, u);
            orthonormalize_columns(u, d, q);
        }
    }

    /* Projections of every point, and what they leave out. */
    double r_max = 0.0;
    for (int64_t i = 0; i < n; i++) {
        rows[0] = i;
        project_rows(x, ldx, d, mu, rows, 1, u, q, p);
        const float *xi = x + i * ldx;
        double res = 0.0;
        for (int64_t k = 0; k < d; k++) {
            double v = (double)xi[k] - mu[k];
            const double *uk = u + k * q;
            for (int64_t c = 0; c < q; c++) v -= uk[c] * p[c];
            res += v * v;
        }
        b->resid[i] = sqrt(res);
        if (b->resid[i] > r_max) r_max = b->resid[i];
        for (int64_t c = 0; c < q; c++) b->pt[c * n_pad + i] = p[c];
    }
    b->rel = 1e-9;
    b->abs = 1e-9 * s_max * (d > 100000 ? (double)d / 100000.0 : 1.0);
    for (int64_t i = 0; i < n; i++) b->resid[i] = b->resid[i] * (1.0 + b->rel) + b->abs;
    free(mu), free(u), free(y), free(rows), free(p);
    return POLCA_OK;
}

void polca__hdb_bounds_free(polca__hdb_bounds *b) {
    free(b->pt);
    free(b->resid);
    memset(b, 0, sizeof *b);
}

/* The two projection loops, compiled twice (AVX2 and baseline) and chosen
 * at run time; GCC's target_clones would export its resolvers. */
static inline __attribute__((always_inline)) void proj4_body(const polca__hdb_bounds *b,
                                                             int64_t i, int64_t j0,
                                                             double *out4) {
    v4d acc = {0, 0, 0, 0};
    for (int64_t c = 0; c < b->q; c++) {
        const double *row = b->pt + c * b->n_pad;
        v4d pj;
        memcpy(&pj, row + j0, sizeof pj);
        v4d t = row[i] - pj;
        acc += t * t;
    }
    memcpy(out4, &acc, sizeof acc);
}

static inline __attribute__((always_inline)) void proj_row_body(const polca__hdb_bounds *b,
                                                                int64_t i, double *out) {
    const int64_t n_pad = b->n_pad;
    memset(out, 0, (size_t)n_pad * sizeof *out);
    for (int64_t c = 0; c < b->q; c++) {
        const double *row = b->pt + c * n_pad;
        const double pi = row[i];
        for (int64_t j = 0; j < n_pad; j += 4) {
            v4d pj, o;
            memcpy(&pj, row + j, sizeof pj);
            memcpy(&o, out + j, sizeof o);
            v4d t = pi - pj;
            o += t * t;
            memcpy(out + j, &o, sizeof o);
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void proj4_avx2(const polca__hdb_bounds *b, int64_t i,
                                                       int64_t j0, double *out4) {
    proj4_body(b, i, j0, out4);
}
__attribute__((target("avx2"))) static void proj_row_avx2(const polca__hdb_bounds *b, int64_t i,
                                                          double *out) {
    proj_row_body(b, i, out);
}
/* Cached per process; atomic because threads clustering directions in
 * parallel may ask first together (they compute the same value). */
static int has_avx2(void) {
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}
#else
static int has_avx2(void) { return 0; }
#define proj4_avx2 proj4_body
#define proj_row_avx2 proj_row_body
#endif

void polca__hdb_bounds_proj4(const polca__hdb_bounds *b, int64_t i, int64_t j0, double *out4) {
    if (has_avx2())
        proj4_avx2(b, i, j0, out4);
    else
        proj4_body(b, i, j0, out4);
}

void polca__hdb_bounds_proj_row(const polca__hdb_bounds *b, int64_t i, double *out) {
    if (has_avx2())
        proj_row_avx2(b, i, out);
    else
        proj_row_body(b, i, out);
}
