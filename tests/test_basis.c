/*
 * tests/test_basis.c - the polca_basis handle and the bases that need no
 * model: random orthonormal, axis-aligned (per-sample LCA), host-supplied
 * (against modified Gram-Schmidt in double); dropping; queries; bad input.
 * Tolerances: orthonormality ||B B^T - I||_max <= 1e-5 (float32 rows);
 * host vectors match the double Gram-Schmidt result to 1e-5 per element
 * relative to the row norm (up to sign: none expected, the order and signs
 * of Gram-Schmidt are fixed).
 */
#include "basis.h"
#include "eigen_ref.h"
#include "internal.h"

static float *all_vectors(polca_basis *b, int64_t *k_out, int64_t *p_out) {
    int64_t k = 0, p = 0;
    if (polca_basis_count(b, &k) || polca_basis_n_params(b, &p)) return NULL;
    float *v = malloc(sizeof(float) * (size_t)(k * p + 1));
    for (int64_t i = 0; v && i < k; i++)
        if (polca_basis_get_vector(b, i, v + i * p, p)) {
            free(v);
            return NULL;
        }
    *k_out = k, *p_out = p;
    return v;
}

TEST(random_orthonormal_and_seeded) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "seed", 9));
    polca_basis *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(polca_basis_create_random(ctx, 1000, 12, o, &a));
    CHECK_OK(polca_basis_create_random(ctx, 1000, 12, o, &b));
    CHECK_OK(polca_options_set_int(o, "seed", 10));
    CHECK_OK(polca_basis_create_random(ctx, 1000, 12, o, &c));
    int64_t k, p;
    float *va = all_vectors(a, &k, &p), *vb = all_vectors(b, &k, &p), *vc = all_vectors(c, &k, &p);
    CHECK(va && vb && vc && k == 12 && p == 1000);
    CHECK(ref_orthonormality(p, k, va) <= 1e-5);
    CHECK(memcmp(va, vb, sizeof(float) * 12000) == 0);
    CHECK(memcmp(va, vc, sizeof(float) * 12000) != 0);
    /* A Gaussian direction: no coordinate dominates (|b_ij| <= 6 / sqrt(P)
     * fails with probability ~1e-9 per entry). */
    for (int64_t i = 0; i < k * p; i++) CHECK(fabsf(va[i]) <= 6.0f / sqrtf(1000.0f));
    int32_t kind;
    int64_t step, index;
    double ev, res;
    int32_t conv;
    CHECK_OK(polca_basis_get_info(a, 5, &kind, &step, &index, &ev, &res, &conv));
    CHECK(kind == POLCA_BASIS_KIND_RANDOM && step == -1 && index == 5 && isnan(ev) &&
          isnan(res) && conv == 1);
    /* K = P: a complete basis, still orthonormal. */
    polca_basis *full = NULL;
    CHECK_OK(polca_basis_create_random(ctx, 7, 7, NULL, &full));
    float *vf = all_vectors(full, &k, &p);
    CHECK(vf && k == 7 && ref_orthonormality(7, 7, vf) <= 1e-5);
    free(va), free(vb), free(vc), free(vf);
    polca_basis_destroy(a), polca_basis_destroy(b), polca_basis_destroy(c);
    polca_basis_destroy(full);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(axis_picks_largest_magnitudes) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    enum { P = 5000, K = 40 };
    float *theta = malloc(sizeof(float) * P);
    CHECK(theta);
    unsigned long long s = 3;
    for (int j = 0; j < P; j++) theta[j] = harness_uniform(&s);
    theta[17] = -5.0f; /* a negative giant and a tie */
    theta[4000] = 5.0f;
    theta[123] = 2.0f;
    polca_basis *b = NULL;
    CHECK_OK(polca_basis_create_axis(ctx, P, theta, K, NULL, &b));
    /* Reference: sort all indices by (|theta| desc, index asc). */
    int64_t ref[P];
    for (int j = 0; j < P; j++) ref[j] = j;
    for (int i = 1; i < P; i++) {
        int64_t v = ref[i];
        int q = i;
        while (q > 0 && (fabsf(theta[v]) > fabsf(theta[ref[q - 1]]) ||
                         (fabsf(theta[v]) == fabsf(theta[ref[q - 1]]) && v < ref[q - 1]))) {
            ref[q] = ref[q - 1];
            q--;
        }
        ref[q] = v;
    }
    CHECK(ref[0] == 17 && ref[1] == 4000 && ref[2] == 123);
    int64_t k, p;
    float *v = all_vectors(b, &k, &p);
    CHECK(v && k == K && p == P);
    for (int i = 0; i < K; i++) {
        int64_t index;
        int32_t kind;
        CHECK_OK(polca_basis_get_info(b, i, &kind, NULL, &index, NULL, NULL, NULL));
        CHECK(kind == POLCA_BASIS_KIND_AXIS && index == ref[i]);
        for (int j = 0; j < P; j++) CHECK(v[i * P + j] == (j == ref[i] ? 1.0f : 0.0f));
    }
    /* k = P selects everything. */
    polca_basis *all = NULL;
    CHECK_OK(polca_basis_create_axis(ctx, 3, theta, 3, NULL, &all));
    polca_basis_destroy(all);
    theta[77] = NAN;
    polca_basis *sentinel = (polca_basis *)(void *)theta, *out = sentinel;
    CHECK_STATUS(polca_basis_create_axis(ctx, P, theta, K, NULL, &out), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("theta[77]");
    CHECK(out == sentinel);
    free(v), free(theta);
    polca_basis_destroy(b);
    polca_context_destroy(ctx);
}

/* Modified Gram-Schmidt in double, applied twice: the reference. */
static void gram_schmidt(int64_t k, int64_t p, double *v) {
    for (int64_t i = 0; i < k; i++)
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t j = 0; j < i; j++) {
                double d = 0;
                for (int64_t r = 0; r < p; r++) d += v[j * p + r] * v[i * p + r];
                for (int64_t r = 0; r < p; r++) v[i * p + r] -= d * v[j * p + r];
            }
            double n = 0;
            for (int64_t r = 0; r < p; r++) n += v[i * p + r] * v[i * p + r];
            n = sqrt(n);
            for (int64_t r = 0; r < p; r++) v[i * p + r] /= n;
        }
}

TEST(host_vectors_orthonormalized) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    enum { P = 300, K = 6 };
    float in[K * P];
    unsigned long long s = 11;
    for (int i = 0; i < K * P; i++) in[i] = harness_uniform(&s);
    for (int r = 0; r < P; r++) in[2 * P + r] += 3.0f * in[r]; /* correlated, not dependent */
    polca_basis *b = NULL;
    CHECK_OK(polca_basis_create_from_vectors(ctx, P, K, in, NULL, &b));
    double ref[K * P];
    for (int i = 0; i < K * P; i++) ref[i] = in[i];
    gram_schmidt(K, P, ref);
    int64_t k, p;
    float *v = all_vectors(b, &k, &p);
    CHECK(v && k == K && p == P);
    CHECK(ref_orthonormality(P, K, v) <= 1e-5);
    for (int i = 0; i < K * P; i++) CHECK(fabs(v[i] - ref[i]) <= 1e-5);
    int32_t kind;
    int64_t index;
    CHECK_OK(polca_basis_get_info(b, 4, &kind, NULL, &index, NULL, NULL, NULL));
    CHECK(kind == POLCA_BASIS_KIND_HOST && index == 4);
    polca_basis_destroy(b);

    /* Dependent: vector 3 = 2 v0 - v1 (+ float rounding). */
    for (int r = 0; r < P; r++) in[3 * P + r] = 2.0f * in[r] - in[P + r];
    polca_basis *sentinel = (polca_basis *)(void *)in, *out = sentinel;
    CHECK_STATUS(polca_basis_create_from_vectors(ctx, P, K, in, NULL, &out),
                 POLCA_ERR_RANK_DEFICIENT);
    CHECK_ERROR_MENTIONS("vector 3 is linearly dependent");
    CHECK(out == sentinel);
    /* Nearly dependent: 1e-3 of a new direction passes the default
     * rank_tol 1e-4 but not rank_tol 1e-2. */
    for (int r = 0; r < P; r++) in[3 * P + r] += 1e-3f * in[5 * P + r];
    CHECK_OK(polca_basis_create_from_vectors(ctx, P, K - 1, in, NULL, &out));
    polca_basis_destroy(out);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_double(o, "rank_tol", 1e-2));
    out = sentinel;
    CHECK_STATUS(polca_basis_create_from_vectors(ctx, P, K, in, o, &out), POLCA_ERR_RANK_DEFICIENT);
    CHECK_ERROR_MENTIONS("vector 3");
    /* A zero vector, and NaN. */
    memset(in + P, 0, sizeof(float) * P);
    CHECK_STATUS(polca_basis_create_from_vectors(ctx, P, K, in, NULL, &out), POLCA_ERR_RANK_DEFICIENT);
    CHECK_ERROR_MENTIONS("vector 1");
    in[4 * P + 7] = INFINITY;
    CHECK_STATUS(polca_basis_create_from_vectors(ctx, P, K, in, NULL, &out), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("vector 4 element 7");
    CHECK(out == sentinel);
    const double bad[] = {0.0, 1.0, -1.0, NAN};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(polca_options_set_double(o, "rank_tol", bad[i]));
        CHECK_STATUS(polca_basis_create_from_vectors(ctx, P, 1, in, o, &out),
                     POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS("'rank_tol'");
    }
    polca_options_destroy(o);
    free(v);
    polca_context_destroy(ctx);
}

TEST(drop_keeps_order_and_metadata) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    enum { P = 50, K = 6 };
    float in[K * P];
    unsigned long long s = 5;
    for (int i = 0; i < K * P; i++) in[i] = harness_uniform(&s);
    polca_basis *b = NULL;
    CHECK_OK(polca_basis_create_from_vectors(ctx, P, K, in, NULL, &b));
    int64_t k, p;
    float *before = all_vectors(b, &k, &p);
    CHECK(before);
    const int64_t drop[] = {4, 1, 5};
    CHECK_OK(polca_basis_drop(b, drop, 3));
    float *after = all_vectors(b, &k, &p);
    CHECK(after && k == 3);
    const int64_t kept[] = {0, 2, 3};
    for (int i = 0; i < 3; i++) {
        int64_t index;
        CHECK_OK(polca_basis_get_info(b, i, NULL, NULL, &index, NULL, NULL, NULL));
        CHECK(index == kept[i]);
        CHECK(memcmp(after + i * P, before + kept[i] * P, sizeof(float) * P) == 0);
    }
    /* Bad indices leave the basis as it is. */
    const int64_t dup[] = {0, 0}, out_of_range[] = {3}, negative[] = {-1};
    CHECK_STATUS(polca_basis_drop(b, dup, 2), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("given twice");
    CHECK_STATUS(polca_basis_drop(b, out_of_range, 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("indices[0] = 3 is out of range");
    CHECK_STATUS(polca_basis_drop(b, negative, 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_drop(b, NULL, 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'indices'");
    CHECK_STATUS(polca_basis_drop(b, dup, -1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_OK(polca_basis_drop(b, NULL, 0));
    CHECK_OK(polca_basis_count(b, &k));
    CHECK(k == 3);
    /* Dropping everything leaves an empty basis whose queries still work. */
    const int64_t every[] = {2, 0, 1};
    CHECK_OK(polca_basis_drop(b, every, 3));
    CHECK_OK(polca_basis_count(b, &k));
    CHECK(k == 0);
    float x[P];
    CHECK_STATUS(polca_basis_get_vector(b, 0, x, P), POLCA_ERR_INVALID_ARGUMENT);
    free(before), free(after);
    polca_basis_destroy(b);
    polca_context_destroy(ctx);
}

/* The private constructor used by the builders: append orthonormalizes,
 * and a failed append leaves the basis unchanged. */
TEST(private_append) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    enum { P = 40 };
    polca_basis *b = NULL;
    CHECK_OK(polca__basis_new(ctx, P, 1, &b)); /* capacity 1: appends must grow it */
    float rows[3 * P], *dev = NULL;
    unsigned long long s = 8;
    for (int i = 0; i < 3 * P; i++) rows[i] = harness_uniform(&s);
    CHECK_OK(ctx->be->alloc(ctx->be_state, sizeof rows, (void **)&dev));
    CHECK_OK(ctx->be->upload(ctx->be_state, dev, rows, sizeof rows));
    polca__basis_meta m[3];
    for (int i = 0; i < 3; i++)
        m[i] = (polca__basis_meta){POLCA_BASIS_KIND_HESSIAN, 1, 100 * i, i, 1.0 / (i + 1), 1e-7};
    CHECK_OK(polca__basis_append(b, dev, 2, m, 1e-4, "test", "row", 0));
    CHECK_OK(polca__basis_append(b, dev + 2 * P, 1, m + 2, 1e-4, "test", "row", 2));
    CHECK_STATUS(polca__basis_append(b, dev, 1, m, 1e-4, "test", "row", 3), POLCA_ERR_RANK_DEFICIENT);
    CHECK_ERROR_MENTIONS("row 3");
    int64_t k, p;
    float *v = all_vectors(b, &k, &p);
    CHECK(v && k == 3 && ref_orthonormality(P, 3, v) <= 1e-5);
    double ev;
    int64_t step;
    CHECK_OK(polca_basis_get_info(b, 2, NULL, &step, NULL, &ev, NULL, NULL));
    CHECK(step == 200 && ev == 1.0 / 3);
    CHECK(polca__basis_resident(b) != NULL);
    float *back = NULL;
    CHECK_OK(ctx->be->alloc(ctx->be_state, sizeof(float) * 2 * P, (void **)&back));
    CHECK_OK(polca__basis_load_rows(b, 1, 2, back));
    float host[2 * P];
    CHECK_OK(ctx->be->download(ctx->be_state, host, back, sizeof host));
    CHECK(memcmp(host, v + P, sizeof host) == 0);
    ctx->be->release(ctx->be_state, back);
    ctx->be->release(ctx->be_state, dev);
    free(v);
    polca_basis_destroy(b);
    polca_context_destroy(ctx);
}

TEST(bad_input) {
    polca_context *ctx = ref_context();
    CHECK(ctx);
    polca_basis *b = NULL, *sentinel = (polca_basis *)(void *)&b, *out = sentinel;
    float theta[4] = {1, 2, 3, 4};
    CHECK_STATUS(polca_basis_create_random(NULL, 4, 2, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_STATUS(polca_basis_create_random(ctx, 4, 2, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out'");
    CHECK_STATUS(polca_basis_create_random(ctx, 0, 1, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_params'");
    CHECK_STATUS(polca_basis_create_random(ctx, 4, 5, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'k'");
    CHECK_STATUS(polca_basis_create_axis(ctx, 4, theta, 0, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_create_axis(ctx, 4, NULL, 2, NULL, &out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'theta'");
    CHECK_STATUS(polca_basis_create_from_vectors(ctx, 4, 1, NULL, NULL, &out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'vectors'");
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "seeed", 1));
    CHECK_STATUS(polca_basis_create_random(ctx, 4, 2, o, &out), POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("seeed");
    CHECK_STATUS(polca_basis_create_axis(ctx, 4, theta, 2, o, &out), POLCA_ERR_UNKNOWN_OPTION);
    CHECK_OK(polca_options_unset(o, "seeed"));
    CHECK_OK(polca_options_set_string(o, "seed", "one"));
    CHECK_STATUS(polca_basis_create_random(ctx, 4, 2, o, &out), POLCA_ERR_OPTION_TYPE);
    CHECK(out == sentinel);

    /* Handle checks on every query: NULL, wrong type, bad index/size. */
    CHECK_OK(polca_basis_create_axis(ctx, 4, theta, 2, NULL, &b));
    polca_basis *wrong = (polca_basis *)(void *)ctx;
    int64_t k;
    float x[4];
    CHECK_STATUS(polca_basis_count(NULL, &k), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'basis'");
    CHECK_STATUS(polca_basis_count(wrong, &k), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_basis");
    CHECK_STATUS(polca_basis_count(b, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_n_params(wrong, &k), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_n_params(b, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_get_vector(wrong, 0, x, 4), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_get_vector(b, 2, x, 4), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'i'");
    CHECK_STATUS(polca_basis_get_vector(b, -1, x, 4), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_get_vector(b, 0, NULL, 4), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out'");
    CHECK_STATUS(polca_basis_get_vector(b, 0, x, 3), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out_len'");
    CHECK_STATUS(polca_basis_get_info(wrong, 0, NULL, NULL, NULL, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_get_info(b, 2, NULL, NULL, NULL, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_OK(polca_basis_get_info(b, 1, NULL, NULL, NULL, NULL, NULL, NULL));
    const int64_t idx[] = {0};
    CHECK_STATUS(polca_basis_drop(wrong, idx, 1), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_basis_drop(NULL, idx, 1), POLCA_ERR_INVALID_ARGUMENT);
    polca_basis_destroy(b);
    polca_basis_destroy(NULL);
    polca_basis_destroy(wrong); /* not a basis: ignored */
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(random_orthonormal_and_seeded);
    RUN(axis_picks_largest_magnitudes);
    RUN(host_vectors_orthonormalized);
    RUN(drop_keeps_order_and_metadata);
    RUN(private_append);
    RUN(bad_input);
    return harness_done();
}
