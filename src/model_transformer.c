/*
 * src/model_transformer.c - the built-in transformer behind polca_model:
 * options to configuration (src/transformer.h), and the calls into the
 * backend's tf_* kernels (device pointers, host tokens and mask).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const polca__option_spec tf_options[] = {
    POLCA__TF_OPTIONS(POLCA__TF_OPTION_SPEC){NULL, 0},
};

#define TF_DIM_MAX ((int64_t)1 << 24)

/* A string option that names one of `names` (NULL-terminated); *out is its
 * index. */
static int32_t enum_option(const polca_options *o, const char *name, const char *const *names,
                           const char *fn, int32_t *out) {
    const char *v = polca__options_string(o, name, names[0]);
    char expected[160] = "";
    for (int32_t i = 0; names[i]; i++) {
        if (!strcmp(v, names[i])) {
            *out = i;
            return POLCA_OK;
        }
        size_t n = strlen(expected);
        snprintf(expected + n, sizeof expected - n, "%s%s", i ? ", " : "", names[i]);
    }
    return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: option '%s' is \"%s\"; expected one of %s",
                       fn, name, v, expected);
}

/* A positive finite double option that fits a float. */
static int32_t positive_option(const polca_options *o, const char *name, double dflt,
                               const char *fn, float *out) {
    double v = polca__options_double(o, name, dflt);
    if (!(v > 0.0) || v > 3.0e38)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option '%s' is %g; must be finite, > 0 and within float range", fn,
                           name, v);
    *out = (float)v;
    return POLCA_OK;
}

/* The architecture switches (transformer.h) from options; sizes already in
 * *cfg. */
static int32_t switch_options(const polca_options *o, const char *fn, polca__tf_config *cfg) {
    static const char *const acts[] = {"gelu_new", "gelu", "relu", "silu", NULL};
    static const int32_t act_ids[] = {POLCA__ACT_GELU_NEW, POLCA__ACT_GELU, POLCA__ACT_RELU,
                                      POLCA__ACT_SILU};
    static const char *const norms[] = {"layernorm", "layernorm_nobias", "rmsnorm", NULL};
    static const char *const positions[] = {"learned", "rotary", "none", NULL};
    int32_t st, act;
    int64_t v;
    if ((st = enum_option(o, "act_fn", acts, fn, &act)) ||
        (st = enum_option(o, "norm", norms, fn, &cfg->norm)) ||
        (st = enum_option(o, "positions", positions, fn, &cfg->positions)) ||
        (st = positive_option(o, "norm_eps", 1e-5, fn, &cfg->norm_eps)) ||
        (st = positive_option(o, "rope_theta", 10000.0, fn, &cfg->rope_theta)))
        return st;
    cfg->act_fn = act_ids[act];
    if ((st = polca__int_option(o, "n_kv_heads", cfg->n_heads, 1, cfg->n_heads, fn, &v)))
        return st;
    if (cfg->n_heads % v != 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'n_kv_heads' is %lld; it must divide n_heads = %d", fn,
                           (long long)v, (int)cfg->n_heads);
    cfg->n_kv_heads = (int32_t)v;
    if (cfg->positions == POLCA__POS_ROTARY) {
        if ((st = polca__int_option(o, "rotary_dim", cfg->d_head, 2, cfg->d_head, fn, &v)))
            return st;
        if (v % 2)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: option 'rotary_dim' is %lld; it must be even", fn,
                               (long long)v);
        cfg->rotary_dim = (int32_t)v;
    } else if (polca__options_int(o, "rotary_dim", INT64_MIN) != INT64_MIN) {
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'rotary_dim' is given but 'positions' is not \"rotary\"",
                           fn);
    }
    const struct {
        const char *name;
        int32_t *field;
    } flags[] = {{"qkv_bias", &cfg->qkv_bias},
                 {"out_bias", &cfg->out_bias},
                 {"mlp_bias", &cfg->mlp_bias},
                 {"mlp_gated", &cfg->mlp_gated},
                 {"parallel_residual", &cfg->parallel_residual},
                 {"tied_embeddings", &cfg->tied_embeddings},
                 {"unembed_bias", &cfg->unembed_bias}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if ((st = polca__int_option(o, flags[i].name, *flags[i].field, 0, 1, fn, &v))) return st;
        *flags[i].field = (int32_t)v;
    }
    if (cfg->parallel_residual && cfg->d_mlp == 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'parallel_residual' needs an MLP; d_mlp is 0", fn);
    return POLCA_OK;
}

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
    polca__tf_config cfg = polca__tf_config_basic(
        (int32_t)n_layers, (int32_t)d_model, (int32_t)n_heads, (int32_t)d_head, (int32_t)d_mlp,
        (int32_t)d_vocab, (int32_t)n_ctx, POLCA__ACT_GELU_NEW);
    if ((st = switch_options(options, fn, &cfg))) return st;
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

/* The batch in the kernels' shape [n_seq][cfg.n_ctx]. With learned
 * positions cfg is the model's and shorter sequences are padded (token 0,
 * not scored; attention is causal, so padding after a sequence changes
 * nothing before it). Without a W_pos the sequence length is not part of the
 * layout, so cfg.n_ctx becomes the data's width and nothing is padded (a
 * rotary model of n_ctx 2048 scores 128-token sequences at their cost). */
typedef struct tf_batch {
    polca__tf_config cfg;
    const int32_t *tokens;
    const uint8_t *mask;
    void *owned;
} tf_batch;

static int32_t batch_open(tf_batch *b, const polca_model *m, const polca_data *d) {
    b->cfg = m->tf;
    b->owned = NULL;
    b->tokens = d->tokens;
    b->mask = d->mask;
    int64_t T = m->tf.n_ctx, w = d->width;
    if (w == T) return POLCA_OK;
    if (m->tf.positions != POLCA__POS_LEARNED) {
        b->cfg.n_ctx = (int32_t)w; /* w < T: checked when the data met the model */
        return POLCA_OK;
    }
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
    st = BE(m)->tf_losses(BE_STATE(m), &b.cfg, theta, d->n_seq, b.tokens, b.mask, losses);
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
    st = BE(m)->tf_grad(BE_STATE(m), &b.cfg, theta, d->n_seq, b.tokens, b.mask, &mean, grad);
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
    st = BE(m)->tf_hvp(BE_STATE(m), &b.cfg, theta, d->n_seq, b.tokens, b.mask, v, hv);
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
    st = BE(m)->tf_dirderivs(BE_STATE(m), &b.cfg, theta, d->n_seq, b.tokens, b.mask, k, dirs,
                             losses, g, c);
    free(b.owned);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}
