/*
 * src/model.c - the polca_model handle: creation of MLP and host-defined
 * models, callbacks, layout queries, initialization, and the five
 * computations (public host-pointer functions over the private device-pointer
 * ones). The transformer's creation and kernels' glue are in
 * model_transformer.c, safetensors I/O in model_io.c.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---- handle ---- */

polca_model *polca__model_new(polca_context *ctx, int32_t kind) {
    polca_model *m = polca__calloc(1, sizeof *m, "polca_model");
    if (!m) return NULL;
    m->head.magic = POLCA_MAGIC_MODEL;
    m->head.ctx = ctx;
    m->kind = kind;
    polca__layout_init(&m->layout);
    return m;
}

void polca__model_free(polca_model *m) {
    if (!m) return;
    polca__layout_free(&m->layout);
    free(m->mlp.widths);
    free(m->pt_describe);
    m->head.magic = 0;
    free(m);
}

void polca_model_destroy(polca_model *model) {
    if (!model || model->head.magic != POLCA_MAGIC_MODEL) return;
    polca__model_free(model);
}

int32_t polca__check_model(const polca_model *m, const char *fn) {
    return polca__check_handle(m, POLCA_MAGIC_MODEL, fn, "model", "polca_model");
}

const polca__layout *polca__model_layout(const polca_model *model) { return &model->layout; }

int32_t polca_model_kind(const polca_model *model, const char **out_name) {
    static const char *fn = "polca_model_kind";
    polca__clear_error();
    int32_t st = polca__check_model(model, fn);
    if (st) return st;
    if (!out_name)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_name' is NULL", fn);
    *out_name = model->kind == POLCA__MODEL_TRANSFORMER ? "transformer"
                : model->kind == POLCA__MODEL_MLP       ? "mlp"
                                                        : "host";
    return POLCA_OK;
}

/* ---- MLP ---- */

static const polca__option_spec mlp_options[] = {
    {"n_features", POLCA_OPT_INT},
    {"n_classes", POLCA_OPT_INT},
    {"hidden", POLCA_OPT_STRING},
    {"activation", POLCA_OPT_STRING},
    {NULL, 0},
};

/* Parses "32,16" into widths[1..]; returns the count or -1 with a message. */
static int64_t parse_hidden(const char *s, int64_t *widths, int64_t cap, const char *fn) {
    int64_t n = 0;
    const char *p = s;
    while (*p == ' ') p++;
    if (!*p) return 0;
    for (;;) {
        while (*p == ' ') p++;
        if (!isdigit((unsigned char)*p)) break;
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 1 || v > ((int64_t)1 << 24)) break;
        if (n == cap) {
            polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                        "%s: option 'hidden' has more than %lld layers", fn, (long long)cap);
            return -1;
        }
        widths[n++] = v;
        p = end;
        while (*p == ' ') p++;
        if (!*p) return n;
        if (*p != ',') break;
        p++;
    }
    polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                "%s: option 'hidden' is \"%s\"; expected comma-separated widths in "
                "1..16777216, such as \"32,16\"",
                fn, s);
    return -1;
}

/* A required positive integer option that fits int32 (lo..2^24). */
int32_t polca__int_option(const polca_options *o, const char *name, int64_t dflt, int64_t lo,
                          int64_t hi, const char *fn, int64_t *out) {
    int64_t v = polca__options_int(o, name, dflt);
    if (v == INT64_MIN)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: option '%s' is required", fn, name);
    if (v < lo || v > hi)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: option '%s' is %lld; must be in %lld..%lld",
                           fn, name, (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return POLCA_OK;
}

#define MLP_MAX_LAYERS 64
#define DIM_MAX ((int64_t)1 << 24)

int32_t polca_model_create_mlp(polca_context *ctx, const polca_options *options,
                               polca_model **out) {
    static const char *fn = "polca_model_create_mlp";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (!options)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'options' is NULL; 'n_features' and 'n_classes' are "
                           "required",
                           fn);
    if ((st = polca__options_check(options, mlp_options, fn))) return st;
    int64_t widths[MLP_MAX_LAYERS + 2];
    int64_t n_features, n_classes;
    if ((st = polca__int_option(options, "n_features", INT64_MIN, 1, DIM_MAX, fn, &n_features)))
        return st;
    if ((st = polca__int_option(options, "n_classes", INT64_MIN, 2, DIM_MAX, fn, &n_classes)))
        return st;
    int64_t n_hidden = parse_hidden(polca__options_string(options, "hidden", ""), widths + 1,
                                    MLP_MAX_LAYERS, fn);
    if (n_hidden < 0) return POLCA_ERR_INVALID_ARGUMENT;
    const char *act = polca__options_string(options, "activation", "tanh");
    int32_t act_id;
    if (!strcmp(act, "tanh"))
        act_id = POLCA__MLP_TANH;
    else if (!strcmp(act, "relu"))
        act_id = POLCA__MLP_RELU;
    else if (!strcmp(act, "gelu"))
        act_id = POLCA__MLP_GELU;
    else
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'activation' is \"%s\"; expected tanh, relu or gelu", fn,
                           act);
    widths[0] = n_features;
    widths[n_hidden + 1] = n_classes;
    int32_t L = (int32_t)n_hidden + 1;

    polca_model *m = polca__model_new(ctx, POLCA__MODEL_MLP);
    if (!m) return POLCA_ERR_OUT_OF_MEMORY;
    m->mlp.n_layers = L;
    m->mlp.act = act_id;
    m->mlp.widths = polca__alloc((size_t)(L + 1) * sizeof(int64_t), "MLP widths");
    if (!m->mlp.widths) {
        polca__model_free(m);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    memcpy(m->mlp.widths, widths, (size_t)(L + 1) * sizeof(int64_t));
    for (int32_t l = 0; l < L && !st; l++) {
        char name[64];
        int64_t shape[2] = {widths[l], widths[l + 1]};
        snprintf(name, sizeof name, "layers.%d.W", (int)l);
        st = polca__layout_add(&m->layout, name, 2, shape);
        if (st) break;
        snprintf(name, sizeof name, "layers.%d.b", (int)l);
        st = polca__layout_add(&m->layout, name, 1, shape + 1);
    }
    if (st) {
        polca__model_free(m);
        return polca__wrap(st, "%s", fn);
    }
    *out = m;
    return POLCA_OK;
}

/* ---- host-defined ---- */

static const polca__option_spec host_options[] = {
    {"fd_step", POLCA_OPT_DOUBLE},
    {"fd_step2", POLCA_OPT_DOUBLE},
    {NULL, 0},
};

int32_t polca_model_create_host(polca_context *ctx, int64_t n_params, int64_t n_samples,
                                const polca_options *options, polca_model **out) {
    static const char *fn = "polca_model_create_host";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if ((st = polca__options_check(options, host_options, fn))) return st;
    if (n_params < 1 || n_params > INT64_MAX / 16)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n_params' is %lld; must be >= 1",
                           fn, (long long)n_params);
    if (n_samples < 1 || n_samples > INT64_MAX / 16)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_samples' is %lld; must be >= 1", fn,
                           (long long)n_samples);
    double step = polca__options_double(options, "fd_step", POLCA__FD_STEP);
    double step2 = polca__options_double(options, "fd_step2", POLCA__FD_STEP2);
    if (!(step > 0.0 && step < 1.0))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'fd_step' is %g; must be in (0, 1)", fn, step);
    if (!(step2 > 0.0 && step2 < 1.0))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'fd_step2' is %g; must be in (0, 1)", fn, step2);
    polca_model *m = polca__model_new(ctx, POLCA__MODEL_HOST);
    if (!m) return POLCA_ERR_OUT_OF_MEMORY;
    m->host.n_samples = n_samples;
    m->host.fd_step = step;
    m->host.fd_step2 = step2;
    st = polca__layout_add(&m->layout, "theta", 1, &n_params);
    if (st) {
        polca__model_free(m);
        return polca__wrap(st, "%s", fn);
    }
    *out = m;
    return POLCA_OK;
}

static int32_t host_model_for(polca_model *m, const char *fn) {
    polca__clear_error();
    int32_t st = polca__check_model(m, fn);
    if (st) return st;
    if (m->kind != POLCA__MODEL_HOST)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'model' is not a host-defined model "
                           "(polca_model_create_host)",
                           fn);
    return POLCA_OK;
}

int32_t polca_model_set_host_layout(polca_model *model, int64_t n_tensors,
                                    const char *const *names, const int32_t *ndims,
                                    const int64_t *shapes) {
    static const char *fn = "polca_model_set_host_layout";
    int32_t st = host_model_for(model, fn);
    if (st) return st;
    int64_t p = model->layout.n_params;
    if (n_tensors < 1 || n_tensors > p)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_tensors' is %lld; must be 1..%lld (n_params)", fn,
                           (long long)n_tensors, (long long)p);
    if (!names) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'names' is NULL", fn);
    if (!ndims) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'ndims' is NULL", fn);
    if (!shapes)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'shapes' is NULL", fn);
    polca__layout l;
    polca__layout_init(&l);
    for (int64_t i = 0; i < n_tensors && !st; i++) {
        if (!names[i])
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: names[%lld] is NULL", fn,
                             (long long)i);
        else if ((st = polca__layout_append(&l, names[i], ndims[i],
                                            shapes + i * POLCA_MODEL_MAX_DIMS)))
            polca__wrap(st, "%s: tensor %lld", fn, (long long)i);
        else if (l.n_params > p)
            st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                             "%s: the tensors up to '%s' (tensor %lld) hold %lld parameters, "
                             "more than the model's %lld",
                             fn, names[i], (long long)i, (long long)l.n_params, (long long)p);
    }
    if (!st && l.n_params != p)
        st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                         "%s: the %lld tensors hold %lld parameters, the model %lld", fn,
                         (long long)n_tensors, (long long)l.n_params, (long long)p);
    if (st) {
        polca__layout_free(&l);
        return st;
    }
    polca__layout_rehash(&l);
    polca__layout_free(&model->layout);
    model->layout = l;
    return POLCA_OK;
}

int32_t polca_model_set_loss_callback(polca_model *model, polca_loss_fn fn, void *user) {
    int32_t st = host_model_for(model, "polca_model_set_loss_callback");
    if (st) return st;
    model->host.loss = fn;
    model->host.loss_user = user;
    return POLCA_OK;
}

int32_t polca_model_set_grad_callback(polca_model *model, polca_grad_fn fn, void *user) {
    int32_t st = host_model_for(model, "polca_model_set_grad_callback");
    if (st) return st;
    model->host.grad = fn;
    model->host.grad_user = user;
    return POLCA_OK;
}

int32_t polca_model_set_hvp_callback(polca_model *model, polca_hvp_fn fn, void *user) {
    int32_t st = host_model_for(model, "polca_model_set_hvp_callback");
    if (st) return st;
    model->host.hvp = fn;
    model->host.hvp_user = user;
    return POLCA_OK;
}

int32_t polca_model_set_dirderiv_callback(polca_model *model, polca_dirderiv_fn fn, void *user) {
    int32_t st = host_model_for(model, "polca_model_set_dirderiv_callback");
    if (st) return st;
    model->host.g = fn;
    model->host.g_user = user;
    return POLCA_OK;
}

int32_t polca_model_set_second_dirderiv_callback(polca_model *model, polca_dirderiv_fn fn,
                                                 void *user) {
    int32_t st = host_model_for(model, "polca_model_set_second_dirderiv_callback");
    if (st) return st;
    model->host.c = fn;
    model->host.c_user = user;
    return POLCA_OK;
}

/* ---- layout queries ---- */

int32_t polca_model_n_params(const polca_model *model, int64_t *out) {
    polca__clear_error();
    int32_t st = polca__check_model(model, "polca_model_n_params");
    if (st) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca_model_n_params: argument 'out' is NULL");
    *out = model->layout.n_params;
    return POLCA_OK;
}

int32_t polca_model_n_tensors(const polca_model *model, int64_t *out) {
    polca__clear_error();
    int32_t st = polca__check_model(model, "polca_model_n_tensors");
    if (st) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_model_n_tensors: argument 'out' is NULL");
    *out = model->layout.n_tensors;
    return POLCA_OK;
}

int32_t polca_model_tensor_info(const polca_model *model, int64_t index, const char **out_name,
                                int32_t *out_ndim, int64_t *out_shape, int64_t *out_offset) {
    static const char *fn = "polca_model_tensor_info";
    polca__clear_error();
    int32_t st = polca__check_model(model, fn);
    if (st) return st;
    if (index < 0 || index >= model->layout.n_tensors)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'index' is %lld; must be in [0, %lld)", fn,
                           (long long)index, (long long)model->layout.n_tensors);
    const polca__tensor_info *t = &model->layout.tensors[index];
    if (out_name) *out_name = t->name;
    if (out_ndim) *out_ndim = t->ndim;
    if (out_shape)
        for (int d = 0; d < POLCA_MODEL_MAX_DIMS; d++) out_shape[d] = d < t->ndim ? t->shape[d] : 1;
    if (out_offset) *out_offset = t->offset;
    return POLCA_OK;
}

int32_t polca_model_find_tensor(const polca_model *model, const char *name, int64_t *out_index) {
    static const char *fn = "polca_model_find_tensor";
    polca__clear_error();
    int32_t st = polca__check_model(model, fn);
    if (st) return st;
    if (!name) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'name' is NULL", fn);
    if (!out_index)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_index' is NULL", fn);
    int64_t i = polca__layout_find(&model->layout, name);
    if (i < 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: the model has no tensor '%s'", fn,
                           name);
    *out_index = i;
    return POLCA_OK;
}

/* ---- initialization ---- */

int32_t polca_model_init(const polca_model *model, uint64_t seed, float *theta) {
    static const char *fn = "polca_model_init";
    polca__clear_error();
    int32_t st = polca__check_model(model, fn);
    if (st) return st;
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'theta' is NULL", fn);
    if (model->kind == POLCA__MODEL_HOST)
        return polca__fail(POLCA_ERR_UNSUPPORTED,
                           "%s: a host-defined model is initialized by the host, not by libpolca",
                           fn);
    if (model->kind == POLCA__MODEL_MLP)
        return polca__mlp_init(&model->mlp, &model->layout, seed, theta);
    st = polca__tf_init(&model->tf, seed, theta);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}

/* ---- data compatibility ---- */

static const char *data_kind_name(int32_t kind) {
    return kind == POLCA__DATA_TOKENS     ? "token data (polca_data_create_tokens)"
           : kind == POLCA__DATA_FEATURES ? "feature data (polca_data_create_features)"
                                          : "index data (polca_data_create_indices)";
}

int32_t polca__model_check_data(const polca_model *m, const polca_data *d, const char *fn) {
    static const int32_t wants[] = {0, POLCA__DATA_TOKENS, POLCA__DATA_FEATURES,
                                    POLCA__DATA_INDICES};
    static const char *names[] = {"", "a transformer", "an MLP", "a host-defined"};
    if (d->kind != wants[m->kind])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'data' holds %s; %s model needs %s", fn,
                           data_kind_name(d->kind), names[m->kind],
                           data_kind_name(wants[m->kind]));
    switch (m->kind) {
    case POLCA__MODEL_TRANSFORMER:
        if (d->width > m->tf.n_ctx)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: argument 'data' has sequences of %lld positions; the "
                               "model's n_ctx is %d",
                               fn, (long long)d->width, (int)m->tf.n_ctx);
        if (d->max_token >= m->tf.d_vocab) {
            int64_t i = 0;
            while (d->tokens[i] < m->tf.d_vocab) i++;
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: argument 'data': tokens[%lld][%lld] is %d, out of range for "
                               "the model's d_vocab = %d",
                               fn, (long long)(i / d->width), (long long)(i % d->width),
                               (int)d->tokens[i], (int)m->tf.d_vocab);
        }
        break;
    case POLCA__MODEL_MLP: {
        int64_t nf = m->mlp.widths[0], nc = m->mlp.widths[m->mlp.n_layers];
        if (d->width != nf)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: argument 'data' has %lld features per sample; the model "
                               "has n_features = %lld",
                               fn, (long long)d->width, (long long)nf);
        if (d->max_label >= nc) {
            int64_t i = 0;
            while (d->labels[i] < nc) i++;
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: argument 'data': labels[%lld] is %d, out of range for the "
                               "model's n_classes = %lld",
                               fn, (long long)i, (int)d->labels[i], (long long)nc);
        }
        break;
    }
    default:
        if (d->n_total != m->host.n_samples)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: argument 'data' indexes a set of %lld samples; the model "
                               "was created with n_samples = %lld",
                               fn, (long long)d->n_total, (long long)m->host.n_samples);
        if (!m->host.loss || !m->host.grad)
            return polca__fail(POLCA_ERR_STATE,
                               "%s: the host-defined model has no %s callback yet "
                               "(polca_model_set_%s_callback)",
                               fn, !m->host.loss ? "loss" : "gradient",
                               !m->host.loss ? "loss" : "grad");
    }
    return POLCA_OK;
}

/* ---- device-pointer computations ---- */

#define OP_LOSSES 0
#define OP_GRAD 1
#define OP_HVP 2
#define OP_DIRDERIVS 3

/* Runs an MLP or host-model computation. Its vectors are device memory:
 * on the CPU backend that is host memory and they are used in place; on a
 * device backend they are downloaded, computed on, and the results
 * uploaded. in = v (HVP) or dirs (dirderivs); out1 = losses or grad/hv;
 * g, c for dirderivs. */
static int32_t host_compute(const polca_model *m, const polca_data *d, int op, const float *theta,
                            const float *in, int64_t k, float *out1, double *mean, float *g,
                            float *c) {
    const polca_context *ctx = m->head.ctx;
    const polca_backend *be = ctx->be;
    int64_t P = m->layout.n_params, N = d->n_samples;
    int64_t n_in = op == OP_HVP ? P : op == OP_DIRDERIVS ? k * P : 0;
    int64_t n_out1 = op == OP_LOSSES || op == OP_DIRDERIVS ? N : P;
    int64_t n_kn = op == OP_DIRDERIVS ? k * N : 0;
    int on_host = be == &polca__cpu_backend;
    float *h_theta = (float *)theta, *h_in = (float *)in, *h_out1 = out1, *h_g = g, *h_c = c,
          *buf = NULL;
    int32_t st = POLCA_OK;
    if (!on_host) {
        size_t total = (size_t)(P + n_in + n_out1 + 2 * n_kn);
        buf = polca__alloc(total * sizeof(float), "host copies of device vectors");
        if (!buf) return POLCA_ERR_OUT_OF_MEMORY;
        h_theta = buf;
        h_in = h_theta + P;
        h_out1 = h_in + n_in;
        h_g = h_out1 + n_out1;
        h_c = h_g + n_kn;
        st = be->download(ctx->be_state, h_theta, theta, (size_t)P * sizeof(float));
        if (!st && n_in) st = be->download(ctx->be_state, h_in, in, (size_t)n_in * sizeof(float));
        if (st) {
            free(buf);
            return st;
        }
    }
    int is_mlp = m->kind == POLCA__MODEL_MLP;
    float *o1 = out1 ? h_out1 : NULL, *oc = c ? h_c : NULL;
    switch (op) {
    case OP_LOSSES:
        st = is_mlp ? polca__mlp_losses(&m->mlp, d, h_theta, o1)
                    : polca__host_losses(&m->host, P, d, h_theta, o1);
        break;
    case OP_GRAD:
        st = is_mlp ? polca__mlp_grad(&m->mlp, d, h_theta, mean, o1)
                    : polca__host_grad(&m->host, P, d, h_theta, mean, o1);
        break;
    case OP_HVP:
        st = is_mlp ? polca__mlp_hvp(&m->mlp, d, h_theta, h_in, o1)
                    : polca__host_hvp(&m->host, P, d, h_theta, h_in, o1);
        break;
    default:
        st = is_mlp ? polca__mlp_dirderivs(&m->mlp, d, h_theta, k, h_in, o1, h_g, oc)
                    : polca__host_dirderivs(&m->host, P, d, h_theta, k, h_in, o1, h_g, oc);
    }
    if (!on_host && !st) {
        if (out1) st = be->upload(ctx->be_state, out1, h_out1, (size_t)n_out1 * sizeof(float));
        if (!st && n_kn) st = be->upload(ctx->be_state, g, h_g, (size_t)n_kn * sizeof(float));
        if (!st && n_kn && c)
            st = be->upload(ctx->be_state, c, h_c, (size_t)n_kn * sizeof(float));
    }
    free(buf);
    return st;
}

int32_t polca__model_losses_dev(const polca_model *m, const polca_data *d, const float *theta,
                                float *losses) {
    int32_t st = polca__model_check_data(m, d, "polca_model_losses");
    if (st) return st;
    if (m->kind == POLCA__MODEL_TRANSFORMER) return polca__tfm_losses(m, d, theta, losses);
    return host_compute(m, d, OP_LOSSES, theta, NULL, 0, losses, NULL, NULL, NULL);
}

int32_t polca__model_grad_dev(const polca_model *m, const polca_data *d, const float *theta,
                              double *host_mean_loss, float *grad) {
    int32_t st = polca__model_check_data(m, d, "polca_model_grad");
    if (st) return st;
    if (m->kind == POLCA__MODEL_TRANSFORMER)
        return polca__tfm_grad(m, d, theta, host_mean_loss, grad);
    return host_compute(m, d, OP_GRAD, theta, NULL, 0, grad, host_mean_loss, NULL, NULL);
}

int32_t polca__model_hvp_dev(const polca_model *m, const polca_data *d, const float *theta,
                             const float *v, float *hv) {
    int32_t st = polca__model_check_data(m, d, "polca_model_hvp");
    if (st) return st;
    if (m->kind == POLCA__MODEL_TRANSFORMER) return polca__tfm_hvp(m, d, theta, v, hv);
    return host_compute(m, d, OP_HVP, theta, v, 0, hv, NULL, NULL, NULL);
}

int32_t polca__model_dirderivs_dev(const polca_model *m, const polca_data *d, const float *theta,
                                   int64_t k, const float *dirs, float *losses, float *g,
                                   float *c) {
    int32_t st = polca__model_check_data(m, d, "polca_model_dirderivs");
    if (st) return st;
    if (m->kind == POLCA__MODEL_TRANSFORMER)
        return polca__tfm_dirderivs(m, d, theta, k, dirs, losses, g, c);
    return host_compute(m, d, OP_DIRDERIVS, theta, dirs, k, losses, NULL, g, c);
}

/* ---- public computations: validate, upload, compute, download ---- */

/* First NaN/Inf of x[n] named as arg[i] (or arg[i / row][i % row] when row
 * > 0). */
static int32_t check_finite(const float *x, int64_t n, int64_t row, const char *fn,
                            const char *arg) {
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(x[i])) continue;
        if (row > 0)
            return polca__fail(POLCA_ERR_NOT_FINITE, "%s: %s[%lld][%lld] is %g", fn, arg,
                               (long long)(i / row), (long long)(i % row), (double)x[i]);
        return polca__fail(POLCA_ERR_NOT_FINITE, "%s: %s[%lld] is %g", fn, arg, (long long)i,
                           (double)x[i]);
    }
    return POLCA_OK;
}

/* The checks every computation starts with. */
static int32_t check_common(const polca_model *m, const polca_data *d, const float *theta,
                            const char *fn) {
    int32_t st = polca__check_model(m, fn);
    if (st) return st;
    if ((st = polca__check_handle(d, POLCA_MAGIC_DATA, fn, "data", "polca_data"))) return st;
    if ((st = polca__check_same_context(m, d, fn, "model", "data"))) return st;
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'theta' is NULL", fn);
    if ((st = polca__model_check_data(m, d, fn))) return st;
    return check_finite(theta, m->layout.n_params, 0, fn, "theta");
}

static int32_t null_arg(const char *fn, const char *arg) {
    return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL", fn, arg);
}

/* Device memory for one call: one allocation holding the outputs and, on a
 * device backend, copies of the inputs. On the CPU backend device memory is
 * host memory, so the caller's input arrays are used in place. */
typedef struct dev_scratch {
    const polca_backend *be;
    void *state;
    int host_memory; /* the CPU backend */
    float *base, *cursor;
} dev_scratch;

/* out_floats: outputs; in_floats: inputs (copied only on a device). */
static int32_t scratch_alloc(dev_scratch *s, const polca_model *m, int64_t out_floats,
                             int64_t in_floats) {
    s->be = m->head.ctx->be;
    s->state = m->head.ctx->be_state;
    s->host_memory = s->be == &polca__cpu_backend;
    s->base = s->cursor = NULL;
    size_t floats = (size_t)out_floats + (s->host_memory ? 0 : (size_t)in_floats), bytes;
    if (!polca__mul_size(floats, sizeof(float), &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "device scratch size overflows");
    void *p = NULL;
    int32_t st = s->be->alloc(s->state, bytes, &p);
    if (st) return st;
    s->base = s->cursor = p;
    return POLCA_OK;
}

static void scratch_free(dev_scratch *s) {
    if (s->base) s->be->release(s->state, s->base);
    s->base = NULL;
}

/* The next n floats of the scratch. */
static float *take(dev_scratch *s, int64_t n) {
    float *p = s->cursor;
    s->cursor += n;
    return p;
}

/* The device view of host input x[n]: x itself on the CPU backend, else an
 * uploaded copy. */
static int32_t input(dev_scratch *s, const float *x, int64_t n, const float **dev) {
    if (s->host_memory) {
        *dev = x;
        return POLCA_OK;
    }
    float *d = take(s, n);
    *dev = d;
    return s->be->upload(s->state, d, x, (size_t)n * sizeof(float));
}

/* Downloads consecutive device results dev[...] to a host temporary, then
 * copies them to the caller's outputs, so that no output is written unless
 * all arrived. */
typedef struct out_part {
    float *host; /* caller's output, or NULL (skipped) */
    int64_t n;
} out_part;

static int32_t deliver(dev_scratch *s, const float *dev, const out_part *parts, int n_parts) {
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++)
        if (parts[i].host) total += parts[i].n;
    float *tmp = polca__alloc((size_t)total * sizeof(float), "results");
    if (!tmp) return POLCA_ERR_OUT_OF_MEMORY;
    int32_t st = POLCA_OK;
    int64_t at = 0, dev_at = 0;
    for (int i = 0; i < n_parts && !st; i++) {
        if (parts[i].host) {
            st = s->be->download(s->state, tmp + at, dev + dev_at,
                                 (size_t)parts[i].n * sizeof(float));
            at += parts[i].n;
        }
        dev_at += parts[i].n;
    }
    if (!st) {
        at = 0;
        for (int i = 0; i < n_parts; i++)
            if (parts[i].host) {
                memcpy(parts[i].host, tmp + at, (size_t)parts[i].n * sizeof(float));
                at += parts[i].n;
            }
    }
    free(tmp);
    return st;
}

int32_t polca_model_losses(const polca_model *model, const polca_data *data, const float *theta,
                           float *losses) {
    static const char *fn = "polca_model_losses";
    polca__clear_error();
    int32_t st = check_common(model, data, theta, fn);
    if (st) return st;
    if (!losses) return null_arg(fn, "losses");
    int64_t P = model->layout.n_params, N = data->n_samples;
    dev_scratch s;
    if ((st = scratch_alloc(&s, model, N, P))) return polca__wrap(st, "%s", fn);
    float *d_out = take(&s, N);
    const float *d_theta = NULL;
    st = input(&s, theta, P, &d_theta);
    if (!st) st = polca__model_losses_dev(model, data, d_theta, d_out);
    if (!st) {
        out_part parts[] = {{losses, N}};
        st = deliver(&s, d_out, parts, 1);
    }
    scratch_free(&s);
    return st;
}

int32_t polca_model_grad(const polca_model *model, const polca_data *data, const float *theta,
                         double *mean_loss, float *grad) {
    static const char *fn = "polca_model_grad";
    polca__clear_error();
    int32_t st = check_common(model, data, theta, fn);
    if (st) return st;
    if (!grad) return null_arg(fn, "grad");
    int64_t P = model->layout.n_params;
    dev_scratch s;
    if ((st = scratch_alloc(&s, model, P, P))) return polca__wrap(st, "%s", fn);
    float *d_out = take(&s, P);
    const float *d_theta = NULL;
    double mean = 0.0;
    st = input(&s, theta, P, &d_theta);
    if (!st) st = polca__model_grad_dev(model, data, d_theta, &mean, d_out);
    if (!st) {
        out_part parts[] = {{grad, P}};
        st = deliver(&s, d_out, parts, 1);
    }
    if (!st && mean_loss) *mean_loss = mean;
    scratch_free(&s);
    return st;
}

int32_t polca_model_hvp(const polca_model *model, const polca_data *data, const float *theta,
                        const float *v, float *hv) {
    static const char *fn = "polca_model_hvp";
    polca__clear_error();
    int32_t st = check_common(model, data, theta, fn);
    if (st) return st;
    if (!v) return null_arg(fn, "v");
    if (!hv) return null_arg(fn, "hv");
    int64_t P = model->layout.n_params;
    if ((st = check_finite(v, P, 0, fn, "v"))) return st;
    dev_scratch s;
    if ((st = scratch_alloc(&s, model, P, 2 * P))) return polca__wrap(st, "%s", fn);
    float *d_out = take(&s, P);
    const float *d_theta = NULL, *d_v = NULL;
    st = input(&s, theta, P, &d_theta);
    if (!st) st = input(&s, v, P, &d_v);
    if (!st) st = polca__model_hvp_dev(model, data, d_theta, d_v, d_out);
    if (!st) {
        out_part parts[] = {{hv, P}};
        st = deliver(&s, d_out, parts, 1);
    }
    scratch_free(&s);
    return st;
}

int32_t polca_model_dirderivs(const polca_model *model, const polca_data *data,
                              const float *theta, int64_t k, const float *dirs, float *losses,
                              float *g, float *c) {
    static const char *fn = "polca_model_dirderivs";
    polca__clear_error();
    int32_t st = check_common(model, data, theta, fn);
    if (st) return st;
    int64_t P = model->layout.n_params, N = data->n_samples;
    if (k < 1 || k > INT64_MAX / 4 / (P > N ? P : N))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'k' is %lld; must be >= 1",
                           fn, (long long)k);
    if (!dirs) return null_arg(fn, "dirs");
    if (!g) return null_arg(fn, "g");
    if ((st = check_finite(dirs, k * P, P, fn, "dirs"))) return st;
    dev_scratch s;
    if ((st = scratch_alloc(&s, model, N + 2 * k * N, P + k * P)))
        return polca__wrap(st, "%s", fn);
    float *d_l = take(&s, N), *d_g = take(&s, k * N), *d_c = take(&s, k * N);
    const float *d_theta = NULL, *d_dirs = NULL;
    st = input(&s, theta, P, &d_theta);
    if (!st) st = input(&s, dirs, k * P, &d_dirs);
    if (!st)
        st = polca__model_dirderivs_dev(model, data, d_theta, k, d_dirs, losses ? d_l : NULL,
                                        d_g, c ? d_c : NULL);
    if (!st) {
        out_part parts[] = {{losses, N}, {g, k * N}, {c, k * N}};
        st = deliver(&s, d_l, parts, 3);
    }
    scratch_free(&s);
    return st;
}
