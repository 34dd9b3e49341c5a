/*
 * tests/test_model_host_layout.c - polca_model_set_host_layout: a host
 * model given named tensors has that layout (tensor_info, find_tensor,
 * series made from it), reads safetensors files by those names, works
 * with a built-in model's series when the layouts agree, and a series of
 * another layout is refused with a message naming the first tensor that
 * differs (and saying when the tensors are the same in another order).
 * Before, every host model had the one layout "theta" [P]: two host models
 * with the same P but their parameters in different orders read each
 * other's series without a word.
 *
 * The reference model is the built-in MLP 2 -> 3 without a hidden layer:
 * "layers.0.W" [2,3] then "layers.0.b" [3], P = 9. The host model's
 * callbacks compute the same function by calling that MLP, with theta
 * translated from the host's order, so equal exact losses along a series
 * show that the host's series holds the MLP's checkpoints in its own
 * (named) order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

#define P 9
#define N 4

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static polca_model *make_mlp(polca_context *ctx) {
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", 2);
    polca_options_set_int(o, "n_classes", 3);
    polca_model_create_mlp(ctx, o, &m);
    polca_options_destroy(o);
    return m;
}

/* The host: the MLP on feature data, its theta in the host's order (b first
 * when reversed). */
typedef struct {
    polca_model *mlp;
    polca_data *feat;
    int reversed;
} host_user;

static void to_mlp(const host_user *u, const float *theta, float *out) {
    if (!u->reversed) {
        memcpy(out, theta, P * sizeof *out);
        return;
    }
    memcpy(out, theta + 3, 6 * sizeof *out); /* W after b */
    memcpy(out + 6, theta, 3 * sizeof *out);
}

static int32_t host_loss(void *user, const float *theta, int64_t n, const int64_t *s,
                         float *losses) {
    host_user *u = user;
    float th[P], all[N];
    to_mlp(u, theta, th);
    if (polca_model_losses(u->mlp, u->feat, th, all)) return 1;
    for (int64_t i = 0; i < n; i++) losses[i] = all[s[i]];
    return 0;
}

static int32_t host_grad(void *user, const float *theta, int64_t n, const int64_t *s,
                         double *mean, float *grad) {
    (void)user, (void)theta, (void)n, (void)s;
    *mean = 0;
    memset(grad, 0, P * sizeof *grad);
    return 0;
}

static const char *const MLP_NAMES[2] = {"layers.0.W", "layers.0.b"};
static const int32_t MLP_NDIMS[2] = {2, 1};
static const int64_t MLP_SHAPES[2 * POLCA_MODEL_MAX_DIMS] = {2, 3, 1, 1, 3, 1, 1, 1};
static const char *const REV_NAMES[2] = {"layers.0.b", "layers.0.W"};
static const int32_t REV_NDIMS[2] = {1, 2};
static const int64_t REV_SHAPES[2 * POLCA_MODEL_MAX_DIMS] = {3, 1, 1, 1, 2, 3, 1, 1};

static polca_model *make_host(polca_context *ctx, host_user *u) {
    polca_model *h = NULL;
    if (polca_model_create_host(ctx, P, N, NULL, &h)) return NULL;
    polca_model_set_loss_callback(h, host_loss, u);
    polca_model_set_grad_callback(h, host_grad, u);
    return h;
}

TEST(named_layout_is_the_models) {
    polca_context *ctx = cpu_context();
    host_user u = {0};
    polca_model *h = make_host(ctx, &u);
    CHECK(h != NULL);
    int64_t v = 0, shape[POLCA_MODEL_MAX_DIMS];
    const char *name = NULL;
    int32_t ndim = -1;
    CHECK_OK(polca_model_set_host_layout(h, 2, REV_NAMES, REV_NDIMS, REV_SHAPES));
    CHECK_OK(polca_model_n_tensors(h, &v));
    CHECK(v == 2);
    CHECK_OK(polca_model_tensor_info(h, 1, &name, &ndim, shape, &v));
    CHECK(!strcmp(name, "layers.0.W") && ndim == 2 && shape[0] == 2 && shape[1] == 3 && v == 3);
    CHECK_OK(polca_model_find_tensor(h, "layers.0.b", &v));
    CHECK(v == 0);
    CHECK_OK(polca_model_n_params(h, &v));
    CHECK(v == P);
    /* a series made from it carries it: the MLP's is another */
    polca_model *mlp = make_mlp(ctx);
    polca_checkpoints *sh = NULL, *sm = NULL;
    CHECK_OK(polca_checkpoints_create(ctx, h, NULL, NULL, &sh));
    CHECK_OK(polca_checkpoints_create(ctx, mlp, NULL, NULL, &sm));
    uint64_t hh = 0, hm = 0;
    CHECK_OK(polca_checkpoints_layout_hash(sh, &hh));
    CHECK_OK(polca_checkpoints_layout_hash(sm, &hm));
    CHECK(hh != hm);
    /* set again, in the MLP's order: the same hash as the MLP's series */
    CHECK_OK(polca_model_set_host_layout(h, 2, MLP_NAMES, MLP_NDIMS, MLP_SHAPES));
    polca_checkpoints_destroy(sh);
    CHECK_OK(polca_checkpoints_create(ctx, h, NULL, NULL, &sh));
    CHECK_OK(polca_checkpoints_layout_hash(sh, &hh));
    CHECK(hh == hm);
    polca_checkpoints_destroy(sh);
    polca_checkpoints_destroy(sm);
    polca_model_destroy(mlp);
    polca_model_destroy(h);
    polca_context_destroy(ctx);
}

TEST(bad_input_leaves_the_layout) {
    polca_context *ctx = cpu_context();
    host_user u = {0};
    polca_model *h = make_host(ctx, &u), *mlp = make_mlp(ctx);
    CHECK(h != NULL && mlp != NULL);
    CHECK_STATUS(polca_model_set_host_layout(mlp, 2, MLP_NAMES, MLP_NDIMS, MLP_SHAPES),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("host-defined");
    CHECK_STATUS(polca_model_set_host_layout(NULL, 2, MLP_NAMES, MLP_NDIMS, MLP_SHAPES),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_set_host_layout(h, 0, MLP_NAMES, MLP_NDIMS, MLP_SHAPES),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_tensors'");
    CHECK_STATUS(polca_model_set_host_layout(h, P + 1, MLP_NAMES, MLP_NDIMS, MLP_SHAPES),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_tensors'");
    CHECK_STATUS(polca_model_set_host_layout(h, 2, NULL, MLP_NDIMS, MLP_SHAPES),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'names'");
    CHECK_STATUS(polca_model_set_host_layout(h, 2, MLP_NAMES, NULL, MLP_SHAPES),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ndims'");
    CHECK_STATUS(polca_model_set_host_layout(h, 2, MLP_NAMES, MLP_NDIMS, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'shapes'");
    const char *null_name[2] = {"a", NULL};
    CHECK_STATUS(polca_model_set_host_layout(h, 2, null_name, MLP_NDIMS, MLP_SHAPES),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("names[1]");
    const char *twice[2] = {"w", "w"};
    const int64_t sh[2 * POLCA_MODEL_MAX_DIMS] = {6, 1, 1, 1, 3, 1, 1, 1};
    const int32_t nd1[2] = {1, 1};
    CHECK_STATUS(polca_model_set_host_layout(h, 2, twice, nd1, sh), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'w' appears twice");
    const int32_t nd5[2] = {1, 5};
    CHECK_STATUS(polca_model_set_host_layout(h, 2, MLP_NAMES, nd5, sh),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("layers.0.b");
    const int64_t zero[2 * POLCA_MODEL_MAX_DIMS] = {6, 1, 1, 1, 0, 1, 1, 1};
    CHECK_STATUS(polca_model_set_host_layout(h, 2, MLP_NAMES, nd1, zero),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("layers.0.b");
    const int64_t small[2 * POLCA_MODEL_MAX_DIMS] = {6, 1, 1, 1, 2, 1, 1, 1};
    CHECK_STATUS(polca_model_set_host_layout(h, 2, MLP_NAMES, nd1, small),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("hold 8 parameters, the model 9");
    const int64_t big[2 * POLCA_MODEL_MAX_DIMS] = {9, 1, 1, 1, 2, 1, 1, 1};
    CHECK_STATUS(polca_model_set_host_layout(h, 2, MLP_NAMES, nd1, big),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'layers.0.b'");
    char long_name[129];
    memset(long_name, 'x', 128);
    long_name[128] = '\0';
    const char *longs[2] = {"a", long_name};
    CHECK_STATUS(polca_model_set_host_layout(h, 2, longs, nd1, sh), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("tensor 1");
    /* still the default layout */
    int64_t v = 0;
    const char *name = NULL;
    CHECK_OK(polca_model_n_tensors(h, &v));
    CHECK(v == 1);
    CHECK_OK(polca_model_tensor_info(h, 0, &name, NULL, NULL, NULL));
    CHECK(!strcmp(name, "theta"));
    polca_model_destroy(mlp);
    polca_model_destroy(h);
    polca_context_destroy(ctx);
}

TEST(series_of_another_order_is_refused) {
    polca_context *ctx = cpu_context();
    polca_model *mlp = make_mlp(ctx);
    CHECK(mlp != NULL);
    float x[2 * N] = {0.5f, -1.0f, 1.5f, 0.25f, -0.75f, 2.0f, 1.0f, 1.0f};
    int32_t y[N] = {0, 2, 1, 2};
    host_user u = {mlp, NULL, 1};
    CHECK_OK(polca_data_create_features(ctx, N, 2, x, y, &u.feat));
    polca_data *idx = NULL;
    CHECK_OK(polca_data_create_indices(ctx, N, N, NULL, &idx));
    polca_model *h = make_host(ctx, &u);
    CHECK(h != NULL);
    CHECK_OK(polca_model_set_host_layout(h, 2, REV_NAMES, REV_NDIMS, REV_SHAPES));

    /* a series of the MLP (W then b) */
    polca_checkpoints *sm = NULL;
    CHECK_OK(polca_checkpoints_create(ctx, mlp, NULL, NULL, &sm));
    float theta[P];
    for (int s = 0; s < 3; s++) {
        CHECK_OK(polca_model_init(mlp, (uint64_t)s + 1, theta));
        CHECK_OK(polca_checkpoints_append(sm, 10 * s, theta, P));
    }
    polca_basis *basis = NULL;
    CHECK_OK(polca_basis_create_random(ctx, P, 2, NULL, &basis));
    polca_trajectories *t = NULL;
    CHECK_STATUS(polca_trajectories_create(ctx, h, idx, sm, basis, NULL, NULL, &t),
                 POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("tensor 0 is 'layers.0.W' [2,3] in the series, 'layers.0.b' [3] in "
                         "the model");
    CHECK_ERROR_MENTIONS("the same tensors in another order");
    polca_basis *hb = NULL;
    CHECK_STATUS(polca_basis_create_hessian(ctx, h, idx, sm, NULL, 0, 1, NULL, &hb),
                 POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("another order");
    CHECK(t == NULL && hb == NULL);

    /* the host's default layout "theta" [9]: another layout, not a reorder */
    polca_model *plain = make_host(ctx, &u);
    CHECK_STATUS(polca_trajectories_create(ctx, plain, idx, sm, basis, NULL, NULL, &t),
                 POLCA_ERR_LAYOUT_MISMATCH);
    CHECK_ERROR_MENTIONS("'layers.0.W' [2,3] in the series, 'theta' [9] in the model");
    if (strstr(polca_last_error(), "another order")) FAILF("%s", polca_last_error());

    /* a series of the host's own order, filled by name from the MLP's
     * safetensors files, gives the MLP's trajectories */
    char dir[] = "/tmp/polca_host_layout_XXXXXX", path[3][64];
    CHECK(mkdtemp(dir) != NULL);
    const char *files[3];
    for (int s = 0; s < 3; s++) {
        snprintf(path[s], sizeof path[s], "%s/ckpt_%d.safetensors", dir, 10 * s);
        CHECK_OK(polca_model_init(mlp, (uint64_t)s + 1, theta));
        CHECK_OK(polca_model_save_safetensors(mlp, path[s], theta));
        files[s] = path[s];
    }
    float hth[P];
    CHECK_OK(polca_model_load_safetensors(h, path[0], hth));
    CHECK_OK(polca_model_init(mlp, 1, theta));
    CHECK(!memcmp(hth, theta + 6, 3 * sizeof *hth) && !memcmp(hth + 3, theta, 6 * sizeof *hth));
    polca_checkpoints *sh = NULL;
    CHECK_OK(polca_checkpoints_import_safetensors(ctx, h, 3, files, NULL, NULL, &sh));
    polca_trajectories *th = NULL, *tm = NULL;
    CHECK_OK(polca_trajectories_create(ctx, h, idx, sh, basis, NULL, NULL, &th));
    CHECK_OK(polca_trajectories_create(ctx, mlp, u.feat, sm, basis, NULL, NULL, &tm));
    const float *a = NULL, *b = NULL;
    int64_t k1, n1, t1, k2, n2, t2;
    CHECK_OK(polca_trajectories_view(th, POLCA_TRAJ_EXACT_LOSS, &a, &k1, &n1, &t1));
    CHECK_OK(polca_trajectories_view(tm, POLCA_TRAJ_EXACT_LOSS, &b, &k2, &n2, &t2));
    CHECK(k1 == k2 && n1 == n2 && t1 == t2 && t1 == 3);
    for (int64_t i = 0; i < k1 * n1 * t1; i++) CHECK(a[i] == b[i]);
    for (int s = 0; s < 3; s++) unlink(path[s]);
    rmdir(dir);
    polca_trajectories_destroy(th);
    polca_trajectories_destroy(tm);
    polca_basis_destroy(basis);
    polca_checkpoints_destroy(sh);
    polca_checkpoints_destroy(sm);
    polca_model_destroy(plain);
    polca_model_destroy(h);
    polca_data_destroy(idx);
    polca_data_destroy(u.feat);
    polca_model_destroy(mlp);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(named_layout_is_the_models);
    RUN(bad_input_leaves_the_layout);
    RUN(series_of_another_order_is_refused);
    return harness_done();
}
