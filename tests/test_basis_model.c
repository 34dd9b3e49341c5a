/*
 * tests/test_basis_model.c - polca_basis_create_hessian on a small
 * transformer against a dense reference: the full Hessian at each basis
 * checkpoint assembled column by column from HVPs in double, then
 * Algorithm 1 done densely with LAPACK (dsyev on the projected matrix).
 */
#include <lapacke.h>

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

static int make_setup(setup *s) {
    memset(s, 0, sizeof *s);
    s->ctx = cpu_ctx();
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_heads", 1);
    polca_options_set_int(o, "d_mlp", 8);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", 4);
    polca_options_set_string(o, "act_fn", "gelu_new");
    int ok = polca_model_create_transformer(s->ctx, o, &s->model) == POLCA_OK;
    polca_options_destroy(o);
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

TEST(hessian_basis_matches_dense_algorithm1) {
    setup s;
    CHECK(make_setup(&s));
    const int64_t p = s.p, k = 2, idx[2] = {2, 0}; /* any order: built in series order */
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    const double tol = 1e-4; /* the solver's default relative residual */
    CHECK_OK(polca_options_set_double(o, "tol", tol));
    CHECK_OK(polca_options_set_int(o, "max_products", 2000));
    polca_basis *b = NULL;
    CHECK_OK(polca_basis_create_hessian(s.ctx, s.model, s.data, s.series, idx, 2, k, o, &b));
    polca_options_destroy(o);
    int64_t kk = 0;
    CHECK_OK(polca_basis_count(b, &kk));
    CHECK(kk == 4);

    /* dense Algorithm 1: B = [], for c in (0, 2): top-k eigvecs of (I-BB^T)H(I-BB^T) */
    double *h = malloc(p * p * 8), *a = malloc(p * p * 8), *w = malloc(p * 8), *proj = malloc(p * p * 8);
    double *B = calloc(4 * p, 8);
    float *v = malloc(p * 4);
    int nb = 0;
    const int64_t order[2] = {0, 2};
    for (int ci = 0; ci < 2; ci++) {
        dense_hessian(&s, order[ci], h);
        /* proj = I - B B^T */
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                double x = i == j;
                for (int q = 0; q < nb; q++) x -= B[q * p + i] * B[q * p + j];
                proj[i * p + j] = x;
            }
        /* a = proj h proj (naive; p is small) */
        double *tmp = malloc(p * p * 8);
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                double x = 0;
                for (int64_t l = 0; l < p; l++) x += proj[i * p + l] * h[l * p + j];
                tmp[i * p + j] = x;
            }
        for (int64_t i = 0; i < p; i++)
            for (int64_t j = 0; j < p; j++) {
                double x = 0;
                for (int64_t l = 0; l < p; l++) x += tmp[i * p + l] * proj[l * p + j];
                a[i * p + j] = x;
            }
        free(tmp);
        CHECK(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (int)p, a, (int)p, w) == 0);
        /* ascending: the top k are the last columns */
        for (int q = 0; q < k; q++) {
            int64_t col = p - 1 - q, vi = ci * k + q;
            double lam_ref = w[col], lam;
            int64_t src_step, src_index;
            int32_t kind, conv;
            CHECK_OK(polca_basis_get_info(b, vi, &kind, &src_step, &src_index, &lam, NULL, &conv));
            CHECK(kind == POLCA_BASIS_KIND_HESSIAN && conv == 1);
            CHECK(src_index == order[ci] && src_step == 10 * order[ci]);
            /* Residual r <= tol |lam| bounds the errors (Davis-Kahan /
             * Kato-Temple): sin(angle) <= r / gap, |dlam| <= r^2 / gap;
             * plus float32 rounding of the HVP (~1e-6 relative). */
            double gap = fmin(w[col + (col + 1 < p)] - w[col] > 0 ? w[col + 1] - w[col] : INFINITY,
                              w[col] - w[col - 1]);
            double r = tol * fabs(lam_ref) + 1e-6 * fabs(w[p - 1]);
            CHECK(gap > 10 * r); /* the reference vector is well defined */
            CHECK_CLOSE(lam, lam_ref, r * r / gap + 1e-6 * fabs(w[p - 1]));
            CHECK_OK(polca_basis_get_vector(b, vi, v, p));
            double cosv = 0;
            for (int64_t i = 0; i < p; i++) cosv += v[i] * a[i * p + col];
            double sin_bound = r / gap + 1e-5;
            printf("  vector %lld: lambda %.6g (ref %.6g), gap %.3g, r %.3g, cos %.8f\n", (long long)vi, lam, lam_ref, gap, r, cosv);
            /* minus 1e-6: v is a float32 unit vector, its norm is 1 to ~1e-7 */
            CHECK(fabs(cosv) >= sqrt(fmax(0.0, 1.0 - sin_bound * sin_bound)) - 1e-6);
            for (int64_t i = 0; i < p; i++) B[nb * p + i] = a[i * p + col];
            nb++;
        }
    }
    free(h), free(a), free(w), free(proj), free(B), free(v);
    polca_basis_destroy(b);
    free_setup(&s);
}

TEST(bad_input) {
    setup s, other;
    CHECK(make_setup(&s) && make_setup(&other));
    polca_basis *b = (polca_basis *)(void *)&b, *const sentinel = b;
    int64_t idx[2] = {0, 0}, oob[1] = {3};
    CHECK_STATUS(polca_basis_create_hessian(s.ctx, s.model, s.data, s.series, idx, 2, 1, NULL, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("repeated");
    CHECK_STATUS(polca_basis_create_hessian(s.ctx, s.model, s.data, s.series, oob, 1, 1, NULL, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("out of range");
    CHECK_STATUS(polca_basis_create_hessian(s.ctx, s.model, s.data, s.series, NULL, 0, 0, NULL, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_create_hessian(s.ctx, s.model, other.data, s.series, NULL, 0, 1, NULL, &b),
                 POLCA_ERR_WRONG_CONTEXT);
    CHECK_STATUS(polca_basis_create_hessian(s.ctx, s.model, s.data, NULL, NULL, 0, 1, NULL, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("series");
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "kk", 1));
    CHECK_STATUS(polca_basis_create_hessian(s.ctx, s.model, s.data, s.series, NULL, 0, 1, o, &b),
                 POLCA_ERR_UNKNOWN_OPTION);
    polca_options_destroy(o);
    CHECK(b == sentinel);
    free_setup(&s);
    free_setup(&other);
}

int main(void) {
    RUN(hessian_basis_matches_dense_algorithm1);
    RUN(bad_input);
    return harness_done();
}
