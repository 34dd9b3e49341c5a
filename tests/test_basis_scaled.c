/*
 * tests/test_basis_scaled.c - polca_basis_create_hessian_scaled (Algorithm 1
 * in the optimizer's geometry) on a small transformer against a dense
 * reference done independently in double with LAPACK: the Hessian at each
 * basis checkpoint assembled column by column from HVPs and symmetrized,
 * M = S^{1/2} H S^{1/2}, A = P M P with P = I - B B^T, dsyev, u = S^{1/2} w,
 * modified Gram-Schmidt (twice) against B and the u's before it, normalize.
 * Plus: s = 1 gives the plain basis bit for bit; kinds; save/load; errors.
 */
#include <lapacke.h>
#include <unistd.h>

#include "harness.h"

static polca_context *cpu_ctx(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

typedef struct setup {
    polca_context *ctx;
    polca_model *model;
    polca_data *data;
    polca_checkpoints *series;
    int64_t p;
} setup;

static polca_model *transformer(polca_context *ctx, int d_mlp) {
    polca_model *m = NULL;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_heads", 1);
    polca_options_set_int(o, "d_mlp", d_mlp);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", 4);
    polca_options_set_string(o, "act_fn", "gelu_new");
    if (polca_model_create_transformer(ctx, o, &m) != POLCA_OK) m = NULL;
    polca_options_destroy(o);
    return m;
}

static int make_setup(setup *s, int d_mlp) {
    memset(s, 0, sizeof *s);
    s->ctx = cpu_ctx();
    s->model = transformer(s->ctx, d_mlp);
    int ok = s->model != NULL;
    ok = ok && polca_model_n_params(s->model, &s->p) == POLCA_OK;
    int32_t tokens[6 * 4];
    unsigned long long r = 5;
    for (int i = 0; i < 24; i++) tokens[i] = (int32_t)((harness_uniform(&r) + 1.0f) * 2.49f);
    ok = ok && polca_data_create_tokens(s->ctx, 6, 4, tokens, NULL, &s->data) == POLCA_OK;
    ok = ok && polca_checkpoints_create(s->ctx, s->model, NULL, NULL, &s->series) == POLCA_OK;
    float *theta = malloc(s->p * 4);
    for (int t = 0; ok && t < 3; t++) {
        ok = polca_model_init(s->model, 7 + t, theta) == POLCA_OK;
        for (int64_t j = 0; j < s->p; j++) theta[j] *= 3.0f; /* more curvature */
        ok = ok && polca_checkpoints_append(s->series, 10 * t, theta, s->p) == POLCA_OK;
    }
    free(theta);
    return ok;
}

static void free_setup(setup *s) {
    polca_checkpoints_destroy(s->series);
    polca_data_destroy(s->data);
    polca_model_destroy(s->model);
    polca_context_destroy(s->ctx);
}

/* Step scales at the given steps: s[j] = value, or (value < 0) a random
 * non-uniform s in [0.1, 10] log-uniform, different per step. */
static polca_checkpoints *make_scales(setup *s, const int64_t *steps, int n, float value,
                                      float **keep) {
    polca_checkpoints *sc = NULL;
    if (polca_checkpoints_create(s->ctx, s->model, NULL, NULL, &sc) != POLCA_OK) return NULL;
    float *v = malloc(s->p * 4);
    unsigned long long r = 99;
    for (int t = 0; t < n; t++) {
        for (int64_t j = 0; j < s->p; j++)
            v[j] = value >= 0 ? value : (float)pow(10.0, harness_uniform(&r)); /* [-1,1) */
        if (keep) memcpy(keep[t], v, s->p * 4);
        if (polca_checkpoints_append(sc, steps[t], v, s->p) != POLCA_OK) {
            polca_checkpoints_destroy(sc);
            free(v);
            return NULL;
        }
    }
    free(v);
    return sc;
}

/* Dense H (double, symmetrized) at series position c from P HVPs. */
static void dense_hessian(setup *s, int64_t c, double *h) {
    int64_t p = s->p;
    float *theta = malloc(p * 4), *e = calloc(p, 4), *col = malloc(p * 4);
    polca_checkpoints_read(s->series, c, theta, p);
    for (int64_t j = 0; j < p; j++) {
        e[j] = 1.0f;
        polca_model_hvp(s->model, s->data, theta, e, col);
        e[j] = 0.0f;
        for (int64_t i = 0; i < p; i++) h[i * p + j] = col[i];
    }
    for (int64_t i = 0; i < p; i++)
        for (int64_t j = 0; j < i; j++) h[i * p + j] = h[j * p + i] = 0.5 * (h[i * p + j] + h[j * p + i]);
    free(theta), free(e), free(col);
}

static double dotd(const double *a, const double *b, int64_t p) {
    double x = 0;
    for (int64_t i = 0; i < p; i++) x += a[i] * b[i];
    return x;
}

/* Distance of eigenvalue ev[col] (ascending) to its neighbours. */
static double w_gap(const double *ev, int64_t p, int64_t col) {
    double g = col > 0 ? ev[col] - ev[col - 1] : INFINITY;
    if (col + 1 < p) g = fmin(g, ev[col + 1] - ev[col]);
    return g;
}

TEST(scaled_basis_matches_dense_reference) {
    setup s;
    CHECK(make_setup(&s, 8));
    const int64_t p = s.p, k = 2, idx[2] = {2, 0};
    const int64_t steps[3] = {0, 10, 20};
    float *sv[3];
    for (int t = 0; t < 3; t++) sv[t] = malloc(p * 4);
    polca_checkpoints *sc = make_scales(&s, steps, 3, -1.0f, sv);
    CHECK(sc != NULL);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    const double tol = 1e-5;
    CHECK_OK(polca_options_set_double(o, "tol", tol));
    CHECK_OK(polca_options_set_int(o, "max_products", 4000));
    polca_basis *b = NULL;
    CHECK_OK(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, sc, idx, 2, k, o, &b));
    polca_options_destroy(o);
    int64_t kk = 0;
    CHECK_OK(polca_basis_count(b, &kk));
    CHECK(kk == 4);

    double *h = malloc(p * p * 8), *m = malloc(p * p * 8), *a = malloc(p * p * 8);
    double *tmp = malloc(p * p * 8), *ev = malloc(p * 8), *proj = malloc(p * p * 8);
    double *B = calloc(4 * p, 8), *root = malloc(p * 8), *u = malloc(p * 8);
    float *v = malloc(p * 4), *lib = malloc(4 * p * 4);
    int nb = 0;
    const int64_t order[2] = {0, 2};
    for (int64_t i = 0; i < 4; i++) CHECK_OK(polca_basis_get_vector(b, i, lib + i * p, p));
    for (int ci = 0; ci < 2; ci++) {
        int64_t c = order[ci];
        dense_hessian(&s, c, h);
        double rmax = 0;
        for (int64_t i = 0; i < p; i++) {
            root[i] = sqrt((double)sv[c][i]);
            rmax = fmax(rmax, root[i]);
        }
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) m[i * p + j] = root[i] * h[i * p + j] * root[j];
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                double x = i == j;
                for (int q = 0; q < nb; q++) x -= B[q * p + i] * B[q * p + j];
                proj[i * p + j] = x;
            }
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                double x = 0;
                for (int64_t l = 0; l < p; l++) x += proj[i * p + l] * m[l * p + j];
                tmp[i * p + j] = x;
            }
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                double x = 0;
                for (int64_t l = 0; l < p; l++) x += tmp[i * p + l] * proj[l * p + j];
                a[i * p + j] = x;
            }
        CHECK(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (int)p, a, (int)p, ev) == 0);
        int nb0 = nb;
        for (int q = 0; q < k; q++) {
            int64_t col = p - 1 - q, vi = ci * k + q;
            double lam_ref = ev[col], lam, res;
            int64_t src_step, src_index;
            int32_t kind, conv;
            CHECK_OK(polca_basis_get_info(b, vi, &kind, &src_step, &src_index, &lam, &res, &conv));
            CHECK(kind == POLCA_BASIS_KIND_HESSIAN_SCALED && conv == 1);
            CHECK(src_index == c && src_step == 10 * c);
            /* The residual r of (lam, w) bounds the eigenvector error of w:
             * sin <= r / gap (Davis-Kahan), |dlam| <= r^2 / gap; plus
             * float32 rounding of the HVP (~1e-6 of the largest eigenvalue). */
            double gap = w_gap(ev, p, col);
            double r = tol * fabs(lam_ref) + 1e-6 * fabs(ev[p - 1]);
            CHECK(gap > 10 * r);
            CHECK(lam_ref > 0); /* above the zero eigenvalues on span(B) */
            CHECK_CLOSE(lam, lam_ref, r * r / gap + 1e-6 * fabs(ev[p - 1]));
            /* reference u = S^{1/2} w, MGS twice against B (the earlier
             * checkpoints' vectors and this one's before it), normalized */
            for (int64_t i = 0; i < p; i++) u[i] = root[i] * a[i * p + col];
            double n0 = sqrt(dotd(u, u, p));
            for (int pass = 0; pass < 2; pass++)
                for (int qq = 0; qq < nb; qq++) {
                    double d = dotd(&B[qq * p], u, p);
                    for (int64_t i = 0; i < p; i++) u[i] -= d * B[qq * p + i];
                }
            double n1 = sqrt(dotd(u, u, p));
            for (int64_t i = 0; i < p; i++) B[nb * p + i] = u[i] / n1;
            nb++;
            /* An error e in w (sin_w) moves u = S^{1/2} w by at most
             * rmax * sin_w against |u| = n0, and the Gram-Schmidt divides
             * by what is kept (n1 / n0); the earlier vectors' own errors
             * enter through the projection, so allow twice that. */
            double sin_w = r / gap + 1e-5;
            double sin_u = 2.0 * rmax * sin_w / n1 + 1e-5;
            double cosv = 0;
            for (int64_t i = 0; i < p; i++) cosv += lib[vi * p + i] * B[(nb - 1) * p + i];
            printf("  vector %lld: lambda %.6g (ref %.6g), gap %.3g, kept %.3g, rmax %.3g, "
                   "cos %.9f (bound %.9f)\n",
                   (long long)vi, lam, lam_ref, gap, n1 / n0, rmax, cosv,
                   sqrt(fmax(0.0, 1.0 - sin_u * sin_u)));
            CHECK(fabs(cosv) >= sqrt(fmax(0.0, 1.0 - sin_u * sin_u)) - 1e-6);
        }
        (void)nb0;
    }
    /* orthonormal (Euclidean) */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double g = 0;
            for (int64_t l = 0; l < p; l++) g += (double)lib[i * p + l] * lib[j * p + l];
            CHECK(fabs(g - (i == j)) < 1e-5);
        }
    /* the scaling matters here: the scaled basis is not the plain one */
    polca_basis *plain = NULL;
    CHECK_OK(polca_basis_create_hessian(s.ctx, s.model, s.data, s.series, idx, 2, k, NULL, &plain));
    CHECK_OK(polca_basis_get_vector(plain, 0, v, p));
    double c0 = 0;
    for (int64_t i = 0; i < p; i++) c0 += (double)v[i] * lib[i];
    printf("  |cos| of the first scaled and plain vectors: %.4f\n", fabs(c0));
    CHECK(fabs(c0) < 0.99);
    polca_basis_destroy(plain);

    free(h), free(m), free(a), free(tmp), free(ev), free(proj), free(B), free(root), free(u);
    free(v), free(lib);
    for (int t = 0; t < 3; t++) free(sv[t]);
    polca_basis_destroy(b);
    polca_checkpoints_destroy(sc);
    free_setup(&s);
}

/* s = 1: the same vectors, eigenvalues and residuals as the plain basis, bit
 * for bit (one code path; sqrt(1) = 1 and x * 1 = x); shuffle gives the
 * shuffled scaled kind; a scaled basis saves and loads with its kind. */
TEST(unit_scales_give_the_plain_basis) {
    setup s;
    CHECK(make_setup(&s, 8));
    const int64_t p = s.p, steps[3] = {0, 10, 20};
    polca_checkpoints *ones = make_scales(&s, steps, 3, 1.0f, NULL);
    CHECK(ones != NULL);
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        polca_options *o = NULL;
        CHECK_OK(polca_options_create(&o));
        CHECK_OK(polca_options_set_int(o, "shuffle", shuffle));
        CHECK_OK(polca_options_set_int(o, "shuffle_seed", 3));
        polca_basis *plain = NULL, *scaled = NULL;
        CHECK_OK(polca_basis_create_hessian(s.ctx, s.model, s.data, s.series, NULL, 0, 2, o, &plain));
        CHECK_OK(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, ones, NULL, 0,
                                                   2, o, &scaled));
        polca_options_destroy(o);
        int64_t k1 = 0, k2 = 0;
        CHECK_OK(polca_basis_count(plain, &k1));
        CHECK_OK(polca_basis_count(scaled, &k2));
        CHECK(k1 == 6 && k2 == 6);
        float *v1 = malloc(p * 4), *v2 = malloc(p * 4);
        for (int64_t i = 0; i < k1; i++) {
            int32_t kind1, kind2, c1, c2;
            int64_t st1, st2, ix1, ix2;
            double l1, l2, r1, r2;
            CHECK_OK(polca_basis_get_vector(plain, i, v1, p));
            CHECK_OK(polca_basis_get_vector(scaled, i, v2, p));
            CHECK(memcmp(v1, v2, p * 4) == 0);
            CHECK_OK(polca_basis_get_info(plain, i, &kind1, &st1, &ix1, &l1, &r1, &c1));
            CHECK_OK(polca_basis_get_info(scaled, i, &kind2, &st2, &ix2, &l2, &r2, &c2));
            CHECK(kind1 == (shuffle ? POLCA_BASIS_KIND_HESSIAN_SHUFFLED : POLCA_BASIS_KIND_HESSIAN));
            CHECK(kind2 == (shuffle ? POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED
                                    : POLCA_BASIS_KIND_HESSIAN_SCALED));
            CHECK(st1 == st2 && ix1 == ix2 && l1 == l2 && r1 == r2 && c1 == c2);
        }
        /* the new kinds round-trip through a file */
        char path[64];
        snprintf(path, sizeof path, "/tmp/polca_scaled_%d_%d.basis", (int)getpid(), shuffle);
        CHECK_OK(polca_basis_save(scaled, path));
        polca_basis *back = NULL;
        CHECK_OK(polca_basis_load(s.ctx, path, &back));
        unlink(path);
        for (int64_t i = 0; back && i < k2; i++) {
            int32_t kind;
            CHECK_OK(polca_basis_get_info(back, i, &kind, NULL, NULL, NULL, NULL, NULL));
            CHECK(kind == (shuffle ? POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED
                                   : POLCA_BASIS_KIND_HESSIAN_SCALED));
            CHECK_OK(polca_basis_get_vector(back, i, v1, p));
            CHECK_OK(polca_basis_get_vector(scaled, i, v2, p));
            CHECK(memcmp(v1, v2, p * 4) == 0);
        }
        free(v1), free(v2);
        polca_basis_destroy(back);
        polca_basis_destroy(plain);
        polca_basis_destroy(scaled);
    }
    polca_checkpoints_destroy(ones);
    free_setup(&s);
}

TEST(bad_scales) {
    setup s, other;
    CHECK(make_setup(&s, 8) && make_setup(&other, 6)); /* other: another layout */
    const int64_t p = s.p, steps[3] = {0, 10, 20};
    polca_basis *b = (polca_basis *)(void *)&b, *const sentinel = b;
    /* NULL scales */
    CHECK_STATUS(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, NULL, NULL, 0,
                                                   1, NULL, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("scales");
    /* another layout */
    polca_checkpoints *wrong = make_scales(&other, steps, 3, 1.0f, NULL);
    CHECK(wrong != NULL);
    CHECK_STATUS(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, wrong, NULL, 0,
                                                   1, NULL, &b),
                 POLCA_ERR_WRONG_CONTEXT);
    polca_checkpoints_destroy(wrong);
    polca_checkpoints *other_layout = NULL;
    polca_model *other_model = transformer(s.ctx, 6);
    CHECK(other_model != NULL);
    CHECK_OK(polca_checkpoints_create(s.ctx, other_model, NULL, NULL, &other_layout));
    polca_model_destroy(other_model);
    CHECK_STATUS(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, other_layout,
                                                   NULL, 0, 1, NULL, &b),
                 POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("scales");
    polca_checkpoints_destroy(other_layout);
    /* a basis step missing from the scales (only steps 0 and 20 saved) */
    const int64_t some[2] = {0, 20};
    polca_checkpoints *partial = make_scales(&s, some, 2, 1.0f, NULL);
    CHECK(partial != NULL);
    CHECK_STATUS(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, partial, NULL,
                                                   0, 1, NULL, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("step 10");
    /* ... fine when the basis does not use step 10 */
    const int64_t idx[2] = {0, 2};
    polca_basis *ok = NULL;
    CHECK_OK(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, partial, idx, 2,
                                               1, NULL, &ok));
    polca_basis_destroy(ok);
    polca_checkpoints_destroy(partial);
    /* a negative s, named by step and parameter index (a NaN or infinite s
     * cannot be appended to a series: polca_checkpoints_append refuses it) */
    float *v = malloc(p * 4);
    for (int bad = 0; bad < 1; bad++) {
        polca_checkpoints *sc = NULL;
        CHECK_OK(polca_checkpoints_create(s.ctx, s.model, NULL, NULL, &sc));
        for (int t = 0; t < 3; t++) {
            for (int64_t j = 0; j < p; j++) v[j] = 1.0f;
            if (t == 2) v[17] = bad ? NAN : -0.5f;
            CHECK_OK(polca_checkpoints_append(sc, steps[t], v, p));
        }
        CHECK_STATUS(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, sc, NULL,
                                                       0, 1, NULL, &b),
                     bad ? POLCA_ERR_NOT_FINITE : POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS("step 20");
        CHECK_ERROR_MENTIONS("s[17]");
        polca_checkpoints_destroy(sc);
    }
    free(v);
    /* s = 0: S^{1/2} w = 0 cannot be appended; the call names the step */
    polca_checkpoints *zeros = make_scales(&s, steps, 3, 0.0f, NULL);
    CHECK(zeros != NULL);
    CHECK_STATUS(polca_basis_create_hessian_scaled(s.ctx, s.model, s.data, s.series, zeros, NULL, 0,
                                                   1, NULL, &b),
                 POLCA_ERR_RANK_DEFICIENT);
    CHECK_ERROR_MENTIONS("step 0");
    polca_checkpoints_destroy(zeros);
    CHECK(b == sentinel);
    free_setup(&s);
    free_setup(&other);
}

int main(void) {
    RUN(scaled_basis_matches_dense_reference);
    RUN(unit_scales_give_the_plain_basis);
    RUN(bad_scales);
    return harness_done();
}
