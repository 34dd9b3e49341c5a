/*
 * tests/test_model_api.c - bad input to every polca_model function: NULL,
 * wrong sizes, wrong handle types, handles from another context, data of
 * the wrong kind or shape, NaN/Inf; each a status and a message naming the
 * culprit, with outputs untouched. (Transformer-specific cases, token ids
 * and n_ctx, are in test_model_transformer.c; file cases in
 * test_model_io.c.)
 */
#include "harness.h"

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static polca_model *make_mlp(polca_context *ctx, int nf, int nc, const char *hidden) {
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", nf);
    polca_options_set_int(o, "n_classes", nc);
    polca_options_set_string(o, "hidden", hidden);
    polca_model_create_mlp(ctx, o, &m);
    polca_options_destroy(o);
    return m;
}

TEST(create_mlp_bad_input) {
    polca_context *ctx = cpu_context();
    polca_model *m = (polca_model *)0x1;
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_STATUS(polca_model_create_mlp(ctx, NULL, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'options'");
    CHECK_STATUS(polca_model_create_mlp(ctx, o, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_features' is required");
    CHECK_OK(polca_options_set_int(o, "n_features", 3));
    CHECK_STATUS(polca_model_create_mlp(ctx, o, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_classes' is required");
    CHECK_OK(polca_options_set_int(o, "n_classes", 1));
    CHECK_STATUS(polca_model_create_mlp(ctx, o, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_classes' is 1");
    CHECK_OK(polca_options_set_int(o, "n_classes", 2));
    static const char *bad_hidden[] = {"4,", ",4", "4,,2", "a", "0", "-3", "4 2", "99999999999"};
    for (size_t i = 0; i < sizeof bad_hidden / sizeof *bad_hidden; i++) {
        CHECK_OK(polca_options_set_string(o, "hidden", bad_hidden[i]));
        CHECK_STATUS(polca_model_create_mlp(ctx, o, &m), POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS("'hidden'");
    }
    CHECK_OK(polca_options_set_string(o, "hidden", " 4, 2 "));
    CHECK_OK(polca_options_set_string(o, "activation", "sigmoid"));
    CHECK_STATUS(polca_model_create_mlp(ctx, o, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("sigmoid");
    CHECK_OK(polca_options_set_int(o, "activation", 1));
    CHECK_STATUS(polca_model_create_mlp(ctx, o, &m), POLCA_ERR_OPTION_TYPE);
    CHECK_OK(polca_options_unset(o, "activation"));
    CHECK_OK(polca_options_set_int(o, "n_layers", 2));
    CHECK_STATUS(polca_model_create_mlp(ctx, o, &m), POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("n_layers");
    CHECK_OK(polca_options_unset(o, "n_layers"));
    CHECK_STATUS(polca_model_create_mlp(NULL, o, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_STATUS(polca_model_create_mlp((polca_context *)(void *)o, o, &m),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_create_mlp(ctx, (polca_options *)(void *)ctx, &m),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_options");
    CHECK_STATUS(polca_model_create_mlp(ctx, o, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(m == (polca_model *)0x1);
    CHECK_OK(polca_model_create_mlp(ctx, o, &m)); /* " 4, 2 " is fine */
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    CHECK(P == 3 * 4 + 4 + 4 * 2 + 2 + 2 * 2 + 2);
    polca_model_destroy(m);
    polca_model_destroy(NULL);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(create_host_and_callbacks_bad_input) {
    polca_context *ctx = cpu_context();
    polca_model *m = (polca_model *)0x1;
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_STATUS(polca_model_create_host(NULL, 4, 4, NULL, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_create_host(ctx, 0, 4, NULL, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_params'");
    CHECK_STATUS(polca_model_create_host(ctx, 4, -1, NULL, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_samples'");
    CHECK_STATUS(polca_model_create_host(ctx, 4, 4, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    double bad_steps[] = {0.0, -1e-3, 1.0, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_steps / sizeof *bad_steps; i++) {
        CHECK_OK(polca_options_set_double(o, "fd_step", bad_steps[i]));
        CHECK_STATUS(polca_model_create_host(ctx, 4, 4, o, &m), POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS("'fd_step'");
    }
    CHECK_OK(polca_options_unset(o, "fd_step"));
    CHECK_OK(polca_options_set_double(o, "fd_step2", NAN));
    CHECK_STATUS(polca_model_create_host(ctx, 4, 4, o, &m), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'fd_step2'");
    CHECK_OK(polca_options_set_string(o, "fd_step2", "small"));
    CHECK_STATUS(polca_model_create_host(ctx, 4, 4, o, &m), POLCA_ERR_OPTION_TYPE);
    CHECK(m == (polca_model *)0x1);
    polca_options_destroy(o);
    /* setters: NULL, wrong handle type, not a host model */
    polca_model *mlp = make_mlp(ctx, 2, 2, "");
    CHECK(mlp != NULL);
    CHECK_STATUS(polca_model_set_loss_callback(NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'model'");
    CHECK_STATUS(polca_model_set_grad_callback((polca_model *)(void *)ctx, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_model");
    CHECK_STATUS(polca_model_set_loss_callback(mlp, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a host-defined model");
    CHECK_STATUS(polca_model_set_grad_callback(mlp, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_set_hvp_callback(mlp, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_set_dirderiv_callback(mlp, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_set_second_dirderiv_callback(mlp, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_set_hvp_callback(NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_set_dirderiv_callback(NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_set_second_dirderiv_callback(NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca_model_destroy(mlp);
    polca_context_destroy(ctx);
}

TEST(layout_queries_bad_input) {
    polca_context *ctx = cpu_context();
    polca_model *m = make_mlp(ctx, 2, 3, "4");
    CHECK(m != NULL);
    int64_t v = -7, shape[POLCA_MODEL_MAX_DIMS] = {-7, -7, -7, -7};
    const char *name = NULL;
    int32_t ndim = -7;
    CHECK_STATUS(polca_model_n_params(NULL, &v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_n_params(m, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_n_tensors(NULL, &v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_n_tensors(m, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_n_tensors((const polca_model *)(void *)ctx, &v),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_tensor_info(m, 4, &name, &ndim, shape, &v),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'index' is 4");
    CHECK_STATUS(polca_model_tensor_info(m, -1, &name, &ndim, shape, &v),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_tensor_info(NULL, 0, &name, &ndim, shape, &v),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_find_tensor(m, "layers.7.W", &v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("layers.7.W");
    CHECK_STATUS(polca_model_find_tensor(m, NULL, &v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_find_tensor(m, "layers.0.W", NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_find_tensor(NULL, "layers.0.W", &v), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(v == -7 && ndim == -7 && name == NULL && shape[0] == -7);
    CHECK_STATUS(polca_model_kind(NULL, &name), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_kind(m, NULL), POLCA_ERR_INVALID_ARGUMENT);
    float theta[64];
    CHECK_STATUS(polca_model_init(NULL, 1, theta), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_init(m, 1, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'theta'");
    CHECK_STATUS(polca_model_init((const polca_model *)(void *)ctx, 1, theta),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

/* ---- the five computations ---- */

static int32_t zero_loss(void *u, const float *t, int64_t n, const int64_t *s, float *l) {
    (void)u, (void)t, (void)s;
    memset(l, 0, (size_t)n * sizeof *l);
    return 0;
}
static int32_t zero_grad(void *u, const float *t, int64_t n, const int64_t *s, double *m,
                         float *g) {
    (void)u, (void)t, (void)n, (void)s;
    *m = 0;
    memset(g, 0, 4 * sizeof *g);
    return 0;
}

TEST(computations_bad_input) {
    polca_context *ctx = cpu_context(), *other = cpu_context();
    polca_model *m = make_mlp(ctx, 2, 3, "4");
    CHECK(m != NULL);
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    float X[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t y[4] = {0, 1, 2, 1}, y_bad[4] = {0, 1, 3, 1};
    polca_data *d = NULL, *d_other = NULL, *d_wide = NULL, *d_labels = NULL, *d_tok = NULL,
               *d_idx = NULL;
    CHECK_OK(polca_data_create_features(ctx, 4, 2, X, y, &d));
    CHECK_OK(polca_data_create_features(other, 4, 2, X, y, &d_other));
    CHECK_OK(polca_data_create_features(ctx, 2, 4, X, y, &d_wide));
    CHECK_OK(polca_data_create_features(ctx, 4, 2, X, y_bad, &d_labels));
    int32_t tok[4] = {0, 1, 0, 1};
    CHECK_OK(polca_data_create_tokens(ctx, 2, 2, tok, NULL, &d_tok));
    CHECK_OK(polca_data_create_indices(ctx, 4, 4, NULL, &d_idx));
    float *theta = calloc(P, sizeof(float)), *v = calloc(P, sizeof(float));
    float *dirs = calloc(2 * P, sizeof(float)), *out = malloc(P * sizeof(float));
    float losses[4], g[8], c[8];
    for (int64_t j = 0; j < P; j++) out[j] = -7.0f;
    memset(losses, 0x55, sizeof losses);
    memset(g, 0x55, sizeof g);
    memset(c, 0x55, sizeof c);
    double mean = -7.0;

    /* handles */
    CHECK_STATUS(polca_model_losses(NULL, d, theta, losses), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'model'");
    CHECK_STATUS(polca_model_losses((polca_model *)(void *)d, d, theta, losses),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_model");
    CHECK_STATUS(polca_model_losses(m, NULL, theta, losses), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'data'");
    CHECK_STATUS(polca_model_grad(m, (polca_data *)(void *)m, theta, &mean, out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_data");
    CHECK_STATUS(polca_model_losses(m, d_other, theta, losses), POLCA_ERR_WRONG_CONTEXT);
    CHECK_STATUS(polca_model_grad(m, d_other, theta, &mean, out), POLCA_ERR_WRONG_CONTEXT);
    CHECK_STATUS(polca_model_hvp(m, d_other, theta, v, out), POLCA_ERR_WRONG_CONTEXT);
    CHECK_STATUS(polca_model_dirderivs(m, d_other, theta, 2, dirs, losses, g, c),
                 POLCA_ERR_WRONG_CONTEXT);
    CHECK_ERROR_MENTIONS("different contexts");
    /* data of the wrong kind or shape */
    CHECK_STATUS(polca_model_losses(m, d_tok, theta, losses), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("token data");
    CHECK_STATUS(polca_model_hvp(m, d_idx, theta, v, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("index data");
    CHECK_STATUS(polca_model_grad(m, d_wide, theta, &mean, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("n_features = 2");
    CHECK_STATUS(polca_model_dirderivs(m, d_labels, theta, 2, dirs, losses, g, c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("labels[2] is 3");
    /* NULL arrays */
    CHECK_STATUS(polca_model_losses(m, d, NULL, losses), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'theta'");
    CHECK_STATUS(polca_model_losses(m, d, theta, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'losses'");
    CHECK_STATUS(polca_model_grad(m, d, theta, &mean, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'grad'");
    CHECK_STATUS(polca_model_hvp(m, d, theta, NULL, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'v'");
    CHECK_STATUS(polca_model_hvp(m, d, theta, v, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'hv'");
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 2, NULL, losses, g, c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'dirs'");
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 2, dirs, losses, NULL, c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'g'");
    /* sizes */
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 0, dirs, losses, g, c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'k' is 0");
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, -2, dirs, losses, g, c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, INT64_MAX / 2, dirs, losses, g, c),
                 POLCA_ERR_INVALID_ARGUMENT);
    /* NaN / Inf */
    theta[5] = NAN;
    CHECK_STATUS(polca_model_losses(m, d, theta, losses), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("theta[5]");
    CHECK_STATUS(polca_model_grad(m, d, theta, &mean, out), POLCA_ERR_NOT_FINITE);
    CHECK_STATUS(polca_model_hvp(m, d, theta, v, out), POLCA_ERR_NOT_FINITE);
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 2, dirs, losses, g, c), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("theta[5]");
    theta[5] = 0;
    v[P - 1] = -INFINITY;
    CHECK_STATUS(polca_model_hvp(m, d, theta, v, out), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("v[");
    dirs[P + 3] = INFINITY;
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 2, dirs, losses, g, c), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("dirs[1][3]");
    /* outputs untouched by every failure above */
    for (int64_t j = 0; j < P; j++) CHECK(out[j] == -7.0f);
    unsigned char pat[sizeof g];
    memset(pat, 0x55, sizeof pat);
    CHECK(memcmp(g, pat, sizeof g) == 0 && memcmp(c, pat, sizeof c) == 0);
    CHECK(memcmp(losses, pat, sizeof losses) == 0 && mean == -7.0);

    /* a host model: its data must index its own sample set */
    polca_model *h = NULL;
    polca_data *d_idx5 = NULL;
    CHECK_OK(polca_model_create_host(ctx, 4, 4, NULL, &h));
    CHECK_OK(polca_model_set_loss_callback(h, zero_loss, NULL));
    CHECK_OK(polca_model_set_grad_callback(h, zero_grad, NULL));
    CHECK_OK(polca_data_create_indices(ctx, 5, 5, NULL, &d_idx5));
    CHECK_STATUS(polca_model_losses(h, d_idx5, theta, losses), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("n_samples = 4");
    CHECK_STATUS(polca_model_losses(h, d, theta, losses), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("feature data");
    CHECK_OK(polca_model_losses(h, d_idx, theta, losses));
    polca_data_destroy(d_idx5);
    polca_model_destroy(h);

    free(theta), free(v), free(dirs), free(out);
    polca_data_destroy(d), polca_data_destroy(d_other), polca_data_destroy(d_wide);
    polca_data_destroy(d_labels), polca_data_destroy(d_tok), polca_data_destroy(d_idx);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    polca_context_destroy(other);
}

int main(void) {
    RUN(create_mlp_bad_input);
    RUN(create_host_and_callbacks_bad_input);
    RUN(layout_queries_bad_input);
    RUN(computations_bad_input);
    return harness_done();
}
