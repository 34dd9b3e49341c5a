/*
 * src/model_impl.h - what the model*.c and data.c files share: the
 * definitions of the polca_model and polca_data handles and the per-kind
 * implementations. (Its name differs from the public polca/model.h so that
 * the ABI tools, which match headers by file name, keep these structs
 * private.)
 */
#ifndef POLCA_MODEL_IMPL_H
#define POLCA_MODEL_IMPL_H

#include <stdint.h>

#include "internal.h"
#include "layout.h"
#include "transformer.h"

#define POLCA_MAGIC_MODEL 0x4c444d50u /* "PMDL" */
#define POLCA_MAGIC_DATA 0x54414450u  /* "PDAT" */

/* ---- Data ---- */

#define POLCA__DATA_TOKENS 1
#define POLCA__DATA_FEATURES 2
#define POLCA__DATA_INDICES 3

struct polca_data {
    polca__head head;
    int32_t kind;      /* POLCA__DATA_* */
    int64_t n_seq;     /* sequences (tokens) or samples (features, indices) */
    int64_t width;     /* n_ctx (tokens), n_features (features), 1 (indices) */
    int64_t n_samples; /* N */
    /* tokens */
    int32_t *tokens;   /* [n_seq][width] */
    uint8_t *mask;     /* [n_seq][width], 0/1 */
    int64_t *sample_pos; /* [N] flat index s * width + t of each sample */
    int32_t max_token;   /* largest id present, for the d_vocab check */
    /* features */
    float *features;   /* [n_seq][width] */
    int32_t *labels;   /* [n_seq] */
    int32_t max_label;
    /* indices */
    int64_t n_total;   /* size of the host's sample set */
    int64_t *indices;  /* [n_seq] */
};

/* ---- Models ---- */

#define POLCA__MODEL_TRANSFORMER 1
#define POLCA__MODEL_MLP 2
#define POLCA__MODEL_HOST 3

#define POLCA__MLP_TANH 0
#define POLCA__MLP_RELU 1
#define POLCA__MLP_GELU 2

typedef struct polca__mlp_config {
    int32_t n_layers; /* linear maps = hidden layers + 1 */
    int64_t *widths;  /* [n_layers + 1]: n_features, hidden..., n_classes */
    int32_t act;      /* POLCA__MLP_* */
} polca__mlp_config;

/* Default relative finite-difference steps (polca/model.h). */
#define POLCA__FD_STEP 1e-3
#define POLCA__FD_STEP2 1e-2

typedef struct polca__host_model {
    int64_t n_samples;
    double fd_step;  /* relative step of first differences */
    double fd_step2; /* relative step of second differences of losses */
    polca_loss_fn loss;
    void *loss_user;
    polca_grad_fn grad;
    void *grad_user;
    polca_hvp_fn hvp;
    void *hvp_user;
    polca_dirderiv_fn g;
    void *g_user;
    polca_dirderiv_fn c;
    void *c_user;
} polca__host_model;

/* "[d0, d1, ...]" of a tensor shape into buf[n] (messages; model_io.c). */
POLCA_INTERNAL void polca__shape_text(char *buf, size_t n, int32_t ndim, const int64_t *shape);

/* The built-in transformer's options (polca_model_create_transformer), one
 * list for both tables that need them: the option check of
 * model_transformer.c and the configuration a checkpoint implies
 * (pretrained.c). X(name, ENUM_SUFFIX, POLCA_OPT_type). */
#define POLCA__TF_OPTIONS(X)                                                   \
    X(n_layers, N_LAYERS, POLCA_OPT_INT)                                       \
    X(d_model, D_MODEL, POLCA_OPT_INT)                                         \
    X(n_heads, N_HEADS, POLCA_OPT_INT)                                         \
    X(d_head, D_HEAD, POLCA_OPT_INT)                                           \
    X(d_mlp, D_MLP, POLCA_OPT_INT)                                             \
    X(d_vocab, D_VOCAB, POLCA_OPT_INT)                                         \
    X(n_ctx, N_CTX, POLCA_OPT_INT)                                             \
    X(act_fn, ACT_FN, POLCA_OPT_STRING)                                        \
    X(n_kv_heads, N_KV_HEADS, POLCA_OPT_INT)                                   \
    X(norm, NORM, POLCA_OPT_STRING)                                            \
    X(norm_eps, NORM_EPS, POLCA_OPT_DOUBLE)                                    \
    X(positions, POSITIONS, POLCA_OPT_STRING)                                  \
    X(rotary_dim, ROTARY_DIM, POLCA_OPT_INT)                                   \
    X(rope_theta, ROPE_THETA, POLCA_OPT_DOUBLE)                                \
    X(qkv_bias, QKV_BIAS, POLCA_OPT_INT)                                       \
    X(out_bias, OUT_BIAS, POLCA_OPT_INT)                                       \
    X(mlp_bias, MLP_BIAS, POLCA_OPT_INT)                                       \
    X(mlp_gated, MLP_GATED, POLCA_OPT_INT)                                     \
    X(parallel_residual, PARALLEL, POLCA_OPT_INT)                              \
    X(tied_embeddings, TIED, POLCA_OPT_INT)                                    \
    X(unembed_bias, UNEMBED_BIAS, POLCA_OPT_INT)

#define POLCA__TF_OPTION_SPEC(name, suffix, type) {#name, type},

struct polca_model {
    polca__head head;
    int32_t kind; /* POLCA__MODEL_* */
    polca__layout layout;
    polca__tf_config tf;
    polca__mlp_config mlp;
    polca__host_model host;
    /* Source layout (src/pretrained.h): POLCA__PT_NATIVE for
     * polca_model_create_transformer, else what create_pretrained detected. */
    int32_t pt_format;
    char pt_prefix[16];
    char *pt_describe; /* JSON of the implied configuration, or NULL */
};

/* ---- Per-kind implementations (host pointers for MLP and host models,
 * device pointers for the transformer). Arguments already validated. ---- */

POLCA_INTERNAL int32_t polca__mlp_losses(const polca__mlp_config *cfg, const polca_data *data,
                                         const float *theta, float *losses);
POLCA_INTERNAL int32_t polca__mlp_grad(const polca__mlp_config *cfg, const polca_data *data,
                                       const float *theta, double *mean_loss, float *grad);
POLCA_INTERNAL int32_t polca__mlp_hvp(const polca__mlp_config *cfg, const polca_data *data,
                                      const float *theta, const float *v, float *hv);
POLCA_INTERNAL int32_t polca__mlp_dirderivs(const polca__mlp_config *cfg,
                                            const polca_data *data, const float *theta,
                                            int64_t k, const float *dirs, float *losses,
                                            float *g, float *c);
POLCA_INTERNAL int32_t polca__mlp_init(const polca__mlp_config *cfg, const polca__layout *layout,
                                       uint64_t seed, float *theta);

POLCA_INTERNAL int32_t polca__host_losses(const polca__host_model *h, int64_t p,
                                          const polca_data *data, const float *theta,
                                          float *losses);
POLCA_INTERNAL int32_t polca__host_grad(const polca__host_model *h, int64_t p,
                                        const polca_data *data, const float *theta,
                                        double *mean_loss, float *grad);
POLCA_INTERNAL int32_t polca__host_hvp(const polca__host_model *h, int64_t p,
                                       const polca_data *data, const float *theta,
                                       const float *v, float *hv);
POLCA_INTERNAL int32_t polca__host_dirderivs(const polca__host_model *h, int64_t p,
                                             const polca_data *data, const float *theta,
                                             int64_t k, const float *dirs, float *losses,
                                             float *g, float *c);

/* ---- Shared by model*.c ---- */

POLCA_INTERNAL polca_model *polca__model_new(polca_context *ctx, int32_t kind);
POLCA_INTERNAL void polca__model_free(polca_model *m);
/* polca__check_handle for a model argument named 'model'. */
POLCA_INTERNAL int32_t polca__check_model(const polca_model *m, const char *fn);
/* Integer option `name` in lo..hi; dflt INT64_MIN makes it required. */
POLCA_INTERNAL int32_t polca__int_option(const polca_options *o, const char *name, int64_t dflt,
                                         int64_t lo, int64_t hi, const char *fn, int64_t *out);

/* Transformer glue (model_transformer.c): device pointers, data checked. */
POLCA_INTERNAL int32_t polca__tfm_losses(const polca_model *m, const polca_data *d,
                                         const float *theta, float *losses);
POLCA_INTERNAL int32_t polca__tfm_grad(const polca_model *m, const polca_data *d,
                                       const float *theta, double *host_mean_loss, float *grad);
POLCA_INTERNAL int32_t polca__tfm_hvp(const polca_model *m, const polca_data *d,
                                      const float *theta, const float *v, float *hv);
POLCA_INTERNAL int32_t polca__tfm_dirderivs(const polca_model *m, const polca_data *d,
                                            const float *theta, int64_t k, const float *dirs,
                                            float *losses, float *g, float *c);

#endif /* POLCA_MODEL_IMPL_H */
