/*
 * tests/test_model_transformer.c - the built-in transformer through the
 * public API (polca_model_create_transformer, token data, the five
 * computations): against the PyTorch fixtures of tests/fixtures/transformer
 * (tests/gen_transformer_fixtures.py; tolerances from the task: losses 1e-5
 * relative, gradient/HVP/g/c 1e-4 in ||a - b|| / ||b||), against the
 * backend's kernels called directly, padding of short sequences, subsets,
 * bad input, and a backend without the kernels (POLCA_ERR_UNSUPPORTED).
 * On a machine with a usable CUDA device the same computations run on a
 * CUDA context too.
 */
#include "harness.h"
#include "internal.h"
#include "npy.h"
#include "transformer.h"

#define LOSS_TOL 1e-5
#define DERIV_TOL 1e-4

static polca_context *context(const char *backend) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", backend);
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

/* config: n_layers d_model n_heads d_head d_mlp d_vocab n_ctx act(0 gelu,
 * 1 gelu_new, 2 relu) */
static polca_model *make_transformer(polca_context *ctx, const int32_t *c) {
    static const char *keys[7] = {"n_layers", "d_model", "n_heads", "d_head",
                                  "d_mlp",    "d_vocab", "n_ctx"};
    static const char *acts[3] = {"gelu", "gelu_new", "relu"};
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_options_create(&o);
    for (int i = 0; i < 7; i++) polca_options_set_int(o, keys[i], c[i]);
    polca_options_set_string(o, "act_fn", acts[c[7]]);
    if (polca_model_create_transformer(ctx, o, &m)) printf("  create: %s\n", polca_last_error());
    polca_options_destroy(o);
    return m;
}

static double rel_err_d(const float *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* ---- a fixture's arrays ---- */

typedef struct fixture {
    npy_array cfg, theta, tokens, mask, losses, mean, grad, v, hvp, dirs, g, c;
    int64_t P, S, T, N, K;
} fixture;

static int fixture_load(fixture *f, const char *name) {
    static const char *files[12] = {"config", "theta", "tokens", "mask", "losses", "mean_loss",
                                    "grad",   "v",     "hvp",    "dirs", "g",      "c"};
    npy_array *arr[12] = {&f->cfg, &f->theta, &f->tokens, &f->mask, &f->losses, &f->mean,
                          &f->grad, &f->v,    &f->hvp,    &f->dirs, &f->g,      &f->c};
    memset(f, 0, sizeof *f);
    for (int i = 0; i < 12; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/transformer/%s/%s.npy", name, files[i]);
        if (!npy_load(path, arr[i])) return 0;
    }
    f->P = f->theta.count;
    f->S = f->tokens.shape[0];
    f->T = f->tokens.shape[1];
    f->N = f->losses.count;
    f->K = f->dirs.shape[0];
    return 1;
}

static void fixture_free(fixture *f) {
    npy_array *arr[12] = {&f->cfg, &f->theta, &f->tokens, &f->mask, &f->losses, &f->mean,
                          &f->grad, &f->v,    &f->hvp,    &f->dirs, &f->g,      &f->c};
    for (int i = 0; i < 12; i++) npy_free(arr[i]);
}

/* Runs the five computations on `backend` and compares with PyTorch. */
static void check_against_pytorch(const char *name, const char *backend) {
    fixture f;
    CHECK(fixture_load(&f, name));
    polca_context *ctx = context(backend);
    CHECK(ctx != NULL);
    polca_model *m = make_transformer(ctx, f.cfg.data);
    polca_data *d = NULL;
    CHECK(m != NULL);
    int64_t P = 0, N = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    CHECK(P == f.P);
    CHECK_OK(polca_data_create_tokens(ctx, f.S, f.T, f.tokens.data, f.mask.data, &d));
    CHECK_OK(polca_data_n_samples(d, &N));
    CHECK(N == f.N);
    float *losses = malloc(N * 4), *l2 = malloc(N * 4), *grad = malloc(P * 4), *hv = malloc(P * 4);
    float *g = malloc(f.K * N * 4), *c = malloc(f.K * N * 4);
    double mean = 0;
    int32_t st = polca_model_losses(m, d, f.theta.data, losses);
    if (st == POLCA_ERR_UNSUPPORTED && strcmp(backend, "cpu") != 0) {
        /* A backend without the transformer kernels must say so, for each. */
        CHECK_ERROR_MENTIONS("tf_losses");
        CHECK_STATUS(polca_model_grad(m, d, f.theta.data, &mean, grad), POLCA_ERR_UNSUPPORTED);
        CHECK_STATUS(polca_model_hvp(m, d, f.theta.data, f.v.data, hv), POLCA_ERR_UNSUPPORTED);
        CHECK_STATUS(polca_model_dirderivs(m, d, f.theta.data, f.K, f.dirs.data, l2, g, c),
                     POLCA_ERR_UNSUPPORTED);
        CHECK_ERROR_MENTIONS("tf_dirderivs");
        printf("  %s on %s: kernels absent there, POLCA_ERR_UNSUPPORTED as documented\n", name,
               backend);
    } else {
        CHECK_OK(st);
        CHECK_OK(polca_model_grad(m, d, f.theta.data, &mean, grad));
        CHECK_OK(polca_model_hvp(m, d, f.theta.data, f.v.data, hv));
        CHECK_OK(polca_model_dirderivs(m, d, f.theta.data, f.K, f.dirs.data, l2, g, c));
        double worst = 0;
        for (int64_t i = 0; i < N; i++) {
            double r = ((double *)f.losses.data)[i], e = fabs(losses[i] - r) / fabs(r);
            worst = e > worst ? e : worst;
            double e2 = fabs(l2[i] - r) / fabs(r);
            worst = e2 > worst ? e2 : worst;
        }
        double rm = ((double *)f.mean.data)[0];
        double eg = rel_err_d(grad, f.grad.data, P), eh = rel_err_d(hv, f.hvp.data, P);
        double edg = rel_err_d(g, f.g.data, f.K * N), edc = rel_err_d(c, f.c.data, f.K * N);
        printf("  %s on %s: losses %.2g, mean %.2g, gradient %.2g, HVP %.2g, g %.2g, c %.2g\n",
               name, backend, worst, fabs(mean - rm) / rm, eg, eh, edg, edc);
        if (!(worst <= LOSS_TOL)) FAILF("losses relative error %g", worst);
        if (!(fabs(mean - rm) <= LOSS_TOL * rm)) FAILF("mean loss %.9g vs %.9g", mean, rm);
        if (!(eg <= DERIV_TOL)) FAILF("gradient relative error %g", eg);
        if (!(eh <= DERIV_TOL)) FAILF("HVP relative error %g", eh);
        if (!(edg <= DERIV_TOL)) FAILF("g relative error %g", edg);
        if (!(edc <= DERIV_TOL)) FAILF("c relative error %g", edc);
        /* c is optional and does not change g */
        float *g2 = malloc(f.K * N * 4);
        CHECK_OK(polca_model_dirderivs(m, d, f.theta.data, f.K, f.dirs.data, NULL, g2, NULL));
        CHECK(rel_error_f(g2, g, f.K * N) <= 1e-6);
        free(g2);
    }
    free(losses), free(l2), free(grad), free(hv), free(g), free(c);
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    fixture_free(&f);
}

TEST(public_api_vs_pytorch_gelu_new) { check_against_pytorch("gelu_new", "cpu"); }
TEST(public_api_vs_pytorch_attn_only) { check_against_pytorch("attn_only", "cpu"); }

static polca_context *cuda_or_null(void) { return context("cuda"); }

TEST(cuda_context_if_present) {
    polca_context *ctx = cuda_or_null();
    if (!ctx) SKIP("no usable CUDA device here (%s)", polca_last_error());
    polca_context_destroy(ctx);
    check_against_pytorch("gelu_new", "cuda");
    check_against_pytorch("attn_only", "cuda");
}

TEST(public_api_equals_kernels) {
    fixture f;
    CHECK(fixture_load(&f, "gelu_new"));
    polca_context *ctx = context("cpu");
    polca_model *m = make_transformer(ctx, f.cfg.data);
    polca_data *d = NULL;
    CHECK(m != NULL);
    CHECK_OK(polca_data_create_tokens(ctx, f.S, f.T, f.tokens.data, f.mask.data, &d));
    const int32_t *c = f.cfg.data;
    const polca__tf_config cfg = polca__tf_config_basic(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
    const polca_backend *be = ctx->be;
    float *a = malloc(f.K * f.N * 4), *b = malloc(f.K * f.N * 4);
    CHECK_OK(polca_model_losses(m, d, f.theta.data, a));
    CHECK_OK(be->tf_losses(ctx->be_state, &cfg, f.theta.data, f.S, f.tokens.data, f.mask.data, b));
    CHECK(memcmp(a, b, f.N * 4) == 0);
    CHECK_OK(polca_model_dirderivs(m, d, f.theta.data, f.K, f.dirs.data, NULL, a, NULL));
    CHECK_OK(be->tf_dirderivs(ctx->be_state, &cfg, f.theta.data, f.S, f.tokens.data, f.mask.data,
                              f.K, f.dirs.data, NULL, b, NULL));
    CHECK(memcmp(a, b, f.K * f.N * 4) == 0);
    /* the same through the upload/download path of a device backend (a
     * renamed copy of the CPU table: libpolca may not assume host memory) */
    polca_backend dev = *be;
    dev.name = "device-like";
    ctx->be = &dev;
    CHECK_OK(polca_model_dirderivs(m, d, f.theta.data, f.K, f.dirs.data, NULL, a, NULL));
    ctx->be = be;
    CHECK(memcmp(a, b, f.K * f.N * 4) == 0);
    free(a), free(b);
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    fixture_free(&f);
}

TEST(short_sequences_and_subsets) {
    fixture f;
    CHECK(fixture_load(&f, "gelu_new"));
    polca_context *ctx = context("cpu");
    polca_model *m = make_transformer(ctx, f.cfg.data);
    CHECK(m != NULL);
    /* the first T-2 positions of each sequence, as short data and as
     * explicitly padded data (other tokens after, not scored) */
    int64_t S = f.S, T = f.T, Ts = T - 2;
    int32_t *tok_s = malloc(S * Ts * 4), *tok_p = malloc(S * T * 4);
    uint8_t *mask_s = malloc(S * Ts), *mask_p = calloc(S * T, 1);
    const int32_t *tok = f.tokens.data;
    const uint8_t *mask = f.mask.data;
    for (int64_t s = 0; s < S; s++)
        for (int64_t t = 0; t < T; t++) {
            tok_p[s * T + t] = t < Ts ? tok[s * T + t] : (int32_t)((s + t) % 3);
            if (t < Ts) {
                tok_s[s * Ts + t] = tok[s * T + t];
                mask_s[s * Ts + t] = t < Ts - 1 && mask[s * T + t];
                mask_p[s * T + t] = mask_s[s * Ts + t];
            }
        }
    polca_data *ds = NULL, *dp = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, S, Ts, tok_s, mask_s, &ds));
    CHECK_OK(polca_data_create_tokens(ctx, S, T, tok_p, mask_p, &dp));
    int64_t N = 0, Np = 0;
    CHECK_OK(polca_data_n_samples(ds, &N));
    CHECK_OK(polca_data_n_samples(dp, &Np));
    CHECK(N == Np && N > 0);
    int64_t P = f.P, K = f.K;
    float *la = malloc(N * 4), *lb = malloc(N * 4), *ga = malloc(K * N * 4),
          *gb = malloc(K * N * 4), *ca = malloc(K * N * 4), *cb = malloc(K * N * 4);
    float *ha = malloc(P * 4), *hb = malloc(P * 4);
    CHECK_OK(polca_model_dirderivs(m, ds, f.theta.data, K, f.dirs.data, la, ga, ca));
    CHECK_OK(polca_model_dirderivs(m, dp, f.theta.data, K, f.dirs.data, lb, gb, cb));
    CHECK_OK(polca_model_hvp(m, ds, f.theta.data, f.v.data, ha));
    CHECK_OK(polca_model_hvp(m, dp, f.theta.data, f.v.data, hb));
    /* causal attention: the tokens after a sequence change nothing before */
    CHECK(rel_error_f(la, lb, N) <= 1e-6 && rel_error_f(ga, gb, K * N) <= 1e-6);
    CHECK(rel_error_f(ca, cb, K * N) <= 1e-6 && rel_error_f(ha, hb, P) <= 1e-6);
    /* a subset of samples gives the same per-sample numbers */
    polca_data *full = NULL, *sub = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, S, T, f.tokens.data, f.mask.data, &full));
    float *lf = malloc(f.N * 4), *lsub = malloc(f.N * 4);
    int64_t pick[3] = {1, f.N / 2, f.N - 1};
    CHECK_OK(polca_data_subset_samples(full, 3, pick, &sub));
    CHECK_OK(polca_model_losses(m, full, f.theta.data, lf));
    CHECK_OK(polca_model_losses(m, sub, f.theta.data, lsub));
    for (int i = 0; i < 3; i++) CHECK(fabsf(lsub[i] - lf[pick[i]]) <= 1e-6f * fabsf(lf[pick[i]]));
    free(lf), free(lsub);
    polca_data_destroy(full), polca_data_destroy(sub);
    free(la), free(lb), free(ga), free(gb), free(ca), free(cb), free(ha), free(hb);
    free(tok_s), free(tok_p), free(mask_s), free(mask_p);
    polca_data_destroy(ds), polca_data_destroy(dp);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    fixture_free(&f);
}

TEST(layout_and_init_through_api) {
    static const int32_t cfg[8] = {2, 16, 2, 5, 24, 11, 7, 1};
    polca_context *ctx = context("cpu");
    polca_model *m = make_transformer(ctx, cfg);
    CHECK(m != NULL);
    const char *kind = NULL, *name = NULL;
    CHECK_OK(polca_model_kind(m, &kind));
    CHECK(strcmp(kind, "transformer") == 0);
    int64_t idx = -1, shape[POLCA_MODEL_MAX_DIMS], off = -1, nt = 0, P = 0;
    int32_t ndim = 0;
    CHECK_OK(polca_model_find_tensor(m, "blocks.1.attn.W_Q", &idx));
    CHECK_OK(polca_model_tensor_info(m, idx, &name, &ndim, shape, &off));
    CHECK(ndim == 3 && shape[0] == 2 && shape[1] == 16 && shape[2] == 5 && shape[3] == 1);
    CHECK_OK(polca_model_n_tensors(m, &nt));
    CHECK_OK(polca_model_n_params(m, &P));
    CHECK_OK(polca_model_tensor_info(m, nt - 1, &name, &ndim, shape, &off));
    CHECK(strcmp(name, "unembed.b_U") == 0 && ndim == 1 && shape[0] == 11 && off == P - 11);
    CHECK_OK(polca_model_tensor_info(m, 0, &name, NULL, shape, &off));
    CHECK(strcmp(name, "embed.W_E") == 0 && shape[0] == 11 && shape[1] == 16 && off == 0);
    float *a = malloc(P * 4), *b = malloc(P * 4);
    CHECK_OK(polca_model_init(m, 42, a));
    CHECK_OK(polca_model_init(m, 42, b));
    CHECK(memcmp(a, b, P * 4) == 0);
    CHECK_OK(polca_model_find_tensor(m, "ln_final.w", &idx));
    CHECK_OK(polca_model_tensor_info(m, idx, NULL, NULL, NULL, &off));
    CHECK(a[off] == 1.0f); /* LayerNorm weights start at 1 */
    free(a), free(b);
    /* defaults: d_head = d_model / n_heads, d_mlp = 4 d_model */
    polca_options *o = NULL;
    polca_model *m2 = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 8);
    polca_options_set_int(o, "n_heads", 2);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", 4);
    CHECK_OK(polca_model_create_transformer(ctx, o, &m2));
    CHECK_OK(polca_model_find_tensor(m2, "blocks.0.attn.W_K", &idx));
    CHECK_OK(polca_model_tensor_info(m2, idx, NULL, NULL, shape, NULL));
    CHECK(shape[0] == 2 && shape[1] == 8 && shape[2] == 4);
    CHECK_OK(polca_model_find_tensor(m2, "blocks.0.mlp.W_in", &idx));
    CHECK_OK(polca_model_tensor_info(m2, idx, NULL, NULL, shape, NULL));
    CHECK(shape[0] == 8 && shape[1] == 32);
    polca_options_destroy(o);
    polca_model_destroy(m2);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

TEST(transformer_bad_input) {
    static const int32_t cfg[8] = {1, 8, 2, 4, 16, 6, 5, 2};
    polca_context *ctx = context("cpu");
    polca_model *m = make_transformer(ctx, cfg), *x = (polca_model *)0x1;
    CHECK(m != NULL);
    /* creation */
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_STATUS(polca_model_create_transformer(ctx, NULL, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'options'");
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_layers' is required");
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 8);
    polca_options_set_int(o, "n_heads", 3);
    polca_options_set_int(o, "d_vocab", 6);
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_ctx' is required");
    polca_options_set_int(o, "n_ctx", 5);
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("does not divide");
    polca_options_set_int(o, "d_head", 3);
    polca_options_set_string(o, "act_fn", "swish");
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("swish");
    polca_options_set_string(o, "act_fn", "relu");
    polca_options_set_int(o, "d_mlp", -1);
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'d_mlp'");
    polca_options_set_int(o, "d_mlp", 0);
    polca_options_set_int(o, "d_vocab", 1);
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'d_vocab'");
    polca_options_set_int(o, "d_vocab", 6);
    polca_options_set_double(o, "n_ctx", 5.0);
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_OPTION_TYPE);
    polca_options_set_int(o, "n_ctx", 5);
    polca_options_set_int(o, "hidden", 5);
    CHECK_STATUS(polca_model_create_transformer(ctx, o, &x), POLCA_ERR_UNKNOWN_OPTION);
    polca_options_unset(o, "hidden");
    CHECK_STATUS(polca_model_create_transformer(NULL, o, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_model_create_transformer(ctx, o, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(x == (polca_model *)0x1);
    CHECK_OK(polca_model_create_transformer(ctx, o, &x)); /* attention-only, d_head 3 */
    polca_model_destroy(x);
    polca_options_destroy(o);

    /* data that does not fit the model */
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    float *theta = malloc(P * 4), *dirs = malloc(2 * P * 4), out[64];
    CHECK_OK(polca_model_init(m, 1, theta));
    memcpy(dirs, theta, P * 4);
    memcpy(dirs + P, theta, P * 4);
    for (int i = 0; i < 64; i++) out[i] = -9.0f;
    int32_t tok[12] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5};
    polca_data *d = NULL, *dlong = NULL, *dfeat = NULL;
    tok[7] = 6; /* = d_vocab */
    CHECK_OK(polca_data_create_tokens(ctx, 2, 5, tok, NULL, &d));
    CHECK_STATUS(polca_model_losses(m, d, theta, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("tokens[1][2] is 6");
    CHECK_ERROR_MENTIONS("d_vocab = 6");
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 2, dirs, NULL, out, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca_data_destroy(d);
    tok[7] = 1;
    CHECK_OK(polca_data_create_tokens(ctx, 2, 6, tok, NULL, &dlong)); /* n_ctx 6 > 5 */
    CHECK_STATUS(polca_model_grad(m, dlong, theta, NULL, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("n_ctx is 5");
    float X[4] = {1, 2, 3, 4};
    int32_t y[2] = {0, 1};
    CHECK_OK(polca_data_create_features(ctx, 2, 2, X, y, &dfeat));
    CHECK_STATUS(polca_model_hvp(m, dfeat, theta, theta, out), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("needs token data");
    CHECK_OK(polca_data_create_tokens(ctx, 2, 5, tok, NULL, &d));
    theta[3] = INFINITY;
    CHECK_STATUS(polca_model_losses(m, d, theta, out), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("theta[3]");
    theta[3] = 0;
    dirs[P + 1] = NAN;
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 2, dirs, NULL, out, NULL), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("dirs[1][1]");
    for (int i = 0; i < 64; i++) CHECK(out[i] == -9.0f);
    free(theta), free(dirs);
    polca_data_destroy(d), polca_data_destroy(dlong), polca_data_destroy(dfeat);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

/* A backend without the transformer kernels (like the CUDA module before
 * they exist there): each computation fails with POLCA_ERR_UNSUPPORTED
 * naming the entry, outputs untouched. */
TEST(backend_without_kernels) {
    static const int32_t cfg[8] = {1, 8, 2, 4, 16, 6, 5, 1};
    polca_context *ctx = context("cpu");
    polca_model *m = make_transformer(ctx, cfg);
    CHECK(m != NULL);
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    float *theta = malloc(P * 4), *out = malloc(P * 4);
    CHECK_OK(polca_model_init(m, 1, theta));
    for (int64_t j = 0; j < P; j++) out[j] = -9.0f;
    int32_t tok[10] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3};
    polca_data *d = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, 2, 5, tok, NULL, &d));
    const polca_backend *saved = ctx->be;
    polca_backend lacking = *saved;
    lacking.name = "test";
    lacking.tf_losses = NULL;
    lacking.tf_grad = NULL;
    lacking.tf_hvp = NULL;
    lacking.tf_dirderivs = NULL;
    ctx->be = &lacking;
    double mean = -9.0;
    CHECK_STATUS(polca_model_losses(m, d, theta, out), POLCA_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("'test' backend has no transformer kernel 'tf_losses'");
    CHECK_STATUS(polca_model_grad(m, d, theta, &mean, out), POLCA_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("tf_grad");
    CHECK_STATUS(polca_model_hvp(m, d, theta, theta, out), POLCA_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("tf_hvp");
    CHECK_STATUS(polca_model_dirderivs(m, d, theta, 1, theta, NULL, out, NULL),
                 POLCA_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("tf_dirderivs");
    /* an older module whose table ends before the tf_* entries */
    polca_backend old = *saved;
    old.struct_size = (uint32_t)offsetof(polca_backend, tf_losses);
    ctx->be = &old;
    CHECK_STATUS(polca_model_losses(m, d, theta, out), POLCA_ERR_UNSUPPORTED);
    ctx->be = saved;
    for (int64_t j = 0; j < P; j++) CHECK(out[j] == -9.0f);
    CHECK(mean == -9.0);
    CHECK_OK(polca_model_losses(m, d, theta, out));
    free(theta), free(out);
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(public_api_vs_pytorch_gelu_new);
    RUN(public_api_vs_pytorch_attn_only);
    RUN(cuda_context_if_present);
    RUN(public_api_equals_kernels);
    RUN(short_sequences_and_subsets);
    RUN(layout_and_init_through_api);
    RUN(transformer_bad_input);
    RUN(backend_without_kernels);
    return harness_done();
}
