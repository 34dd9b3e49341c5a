/*
 * src/model_transformer.c - the built-in transformer behind polca_model:
 * options to configuration (src/transformer.h), and the calls into the
 * backend's tf_* kernels (device pointers, host tokens and mask).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const polca__option_spec tf_options[] = {
    {"n_layers", POLCA_OPT_INT}, {"d_model", POLCA_OPT_INT}, {"n_heads", POLCA_OPT_INT},
    {"d_head", POLCA_OPT_INT},   {"d_mlp", POLCA_OPT_INT},   {"d_vocab", POLCA_OPT_INT},
    {"n_ctx", POLCA_OPT_INT},    {"act_fn", POLCA_OPT_STRING}, {NULL, 0},
};

#define TF_DIM_MAX ((int64_t)1 << 24)

int32_t polca_model_create_transformer(polca_context *ctx, const polca_options *options,
                                       polca_model **out) {
    static const char *fn = "polca_model_create_transformer";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (!options)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'options' is NULL; n_layers, d_model, n_heads, d_vocab "
                           "and n_ctx are required",
                           fn);
    if ((st = polca__options_check(options, tf_options, fn))) return st;
    int64_t n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx;
    if ((st = polca__int_option(options, "n_layers", INT64_MIN, 1, TF_DIM_MAX, fn, &n_layers)) ||
        (st = polca__int_option(options, "d_model", INT64_MIN, 1, TF_DIM_MAX, fn, &d_model)) ||
        (st = polca__int_option(options, "n_heads", INT64_MIN, 1, TF_DIM_MAX, fn, &n_heads)) ||
        (st = polca__int_option(options, "d_vocab", INT64_MIN, 2, TF_DIM_MAX, fn, &d_vocab)) ||
        (st = polca__int_option(options, "n_ctx", INT64_MIN, 2, TF_DIM_MAX, fn, &n_ctx)) ||
        (st = polca__int_option(options, "d_mlp", 4 * d_model, 0, TF_DIM_MAX, fn, &d_mlp)))
        return st;
    if (polca__options_int(options, "d_head", 0) == 0 && d_model % n_heads != 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: n_heads = %lld does not divide d_model = %lld; set option "
                           "'d_head'",
                           fn, (long long)n_heads, (long long)d_model);
    if ((st = polca__int_option(options, "d_head", d_model / n_heads, 1, TF_DIM_MAX, fn, &d_head)))
        return st;
    const char *act = polca__options_string(options, "act_fn", "gelu_new");
    int32_t act_id;
    if (!strcmp(act, "gelu"))
        act_id = POLCA__ACT_GELU;
    else if (!strcmp(act, "gelu_new"))
        act_id = POLCA__ACT_GELU_NEW;
    else if (!strcmp(act, "relu"))
        act_id = POLCA__ACT_RELU;
    else
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'act_fn' is \"%s\"; expected gelu, gelu_new or relu", fn,
                           act);
    polca__tf_config cfg = {(int32_t)n_layers, (int32_t)d_model, (int32_t)n_heads,
                            (int32_t)d_head,   (int32_t)d_mlp,   (int32_t)d_vocab,
                            (int32_t)n_ctx,    act_id};
    if ((st = polca__tf_check_config(&cfg))) return polca__wrap(st, "%s", fn);
    polca_model *m = polca__model_new(ctx, POLCA__MODEL_TRANSFORMER);
    if (!m) return POLCA_ERR_OUT_OF_MEMORY;
    m->tf = cfg;
    if ((st = polca__tf_layout(&cfg, &m->layout))) {
        polca__model_free(m);
        return polca__wrap(st, "%s", fn);
    }
    *out = m;
    return POLCA_OK;
}

/* ---- kernels ---- */

/* The batch in the kernels' shape [n_seq][cfg n_ctx]: the data's own arrays
 * when its sequences are that long, else a padded copy (token 0, not
 * scored; attention is causal, so padding after a sequence changes nothing
 * before it). */
typedef struct tf_batch {
    const int32_t *tokens;
    const uint8_t *mask;
    void *owned;
} tf_batch;

static int32_t batch_open(tf_batch *b, const polca_model *m, const polca_data *d) {
    b->owned = NULL;
    b->tokens = d->tokens;
    b->mask = d->mask;
    int64_t T = m->tf.n_ctx, w = d->width;
    if (w == T) return POLCA_OK;
    size_t cells = (size_t)(d->n_seq * T);
    int32_t *tok = polca__calloc(cells, sizeof(int32_t) + 1, "padded batch");
    if (!tok) return POLCA_ERR_OUT_OF_MEMORY;
    uint8_t *mask = (uint8_t *)(tok + cells);
    for (int64_t s = 0; s < d->n_seq; s++) {
        memcpy(tok + s * T, d->tokens + s * w, (size_t)w * sizeof(int32_t));
        memcpy(mask + s * T, d->mask + s * w, (size_t)w);
    }
    b->tokens = tok;
    b->mask = mask;
    b->owned = tok;
    return POLCA_OK;
}

static int32_t no_kernel(const polca_model *m, const char *fn, const char *entry) {
    return polca__fail(POLCA_ERR_UNSUPPORTED,
                       "%s: the '%s' backend has no transformer kernel '%s' (a module "
                       "older than this libpolca?); create the context with backend \"cpu\"",
                       fn, m->head.ctx->be->name, entry);
}

#define BE(m) ((m)->head.ctx->be)
#define BE_STATE(m) ((m)->head.ctx->be_state)

int32_t polca__tfm_losses(const polca_model *m, const polca_data *d, const float *theta,
                          float *losses) {
    static const char *fn = "polca_model_losses";
    if (!POLCA_BACKEND_HAS(BE(m), tf_losses)) return no_kernel(m, fn, "tf_losses");
    tf_batch b;
    int32_t st = batch_open(&b, m, d);
    if (st) return st;
    st = BE(m)->tf_losses(BE_STATE(m), &m->tf, theta, d->n_seq, b.tokens, b.mask, losses);
    free(b.owned);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}

int32_t polca__tfm_grad(const polca_model *m, const polca_data *d, const float *theta,
                        double *host_mean_loss, float *grad) {
    static const char *fn = "polca_model_grad";
    if (!POLCA_BACKEND_HAS(BE(m), tf_grad)) return no_kernel(m, fn, "tf_grad");
    tf_batch b;
    int32_t st = batch_open(&b, m, d);
    if (st) return st;
    double mean = 0.0;
    st = BE(m)->tf_grad(BE_STATE(m), &m->tf, theta, d->n_seq, b.tokens, b.mask, &mean, grad);
    free(b.owned);
    if (st) return polca__wrap(st, "%s", fn);
    if (host_mean_loss) *host_mean_loss = mean;
    return POLCA_OK;
}

int32_t polca__tfm_hvp(const polca_model *m, const polca_data *d, const float *theta,
                       const float *v, float *hv) {
    static const char *fn = "polca_model_hvp";
    if (!POLCA_BACKEND_HAS(BE(m), tf_hvp)) return no_kernel(m, fn, "tf_hvp");
    tf_batch b;
    int32_t st = batch_open(&b, m, d);
    if (st) return st;
    st = BE(m)->tf_hvp(BE_STATE(m), &m->tf, theta, d->n_seq, b.tokens, b.mask, v, hv);
    free(b.owned);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}

int32_t polca__tfm_dirderivs(const polca_model *m, const polca_data *d, const float *theta,
                             int64_t k, const float *dirs, float *losses, float *g, float *c) {
    static const char *fn = "polca_model_dirderivs";
    if (!POLCA_BACKEND_HAS(BE(m), tf_dirderivs)) return no_kernel(m, fn, "tf_dirderivs");
    tf_batch b;
    int32_t st = batch_open(&b, m, d);
    if (st) return st;
    st = BE(m)->tf_dirderivs(BE_STATE(m), &m->tf, theta, d->n_seq, b.tokens, b.mask, k, dirs,
                             losses, g, c);
    free(b.owned);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}
