/*
 * examples/arithmetic/train.c - the host's own training loop: AdamW over
 * libpolca's gradient of the built-in transformer, fresh batches of 3-digit
 * additions, POLCA and basis checkpoints appended to files as it goes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "experiment.h"

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int failed(int32_t status, const char *what) {
    if (status == POLCA_OK) return 0;
    fprintf(stderr, "arithmetic: %s: %s: %s\n", what, polca_status_string(status),
            polca_last_error());
    return 1;
}

/*
 * Argmax under teacher forcing without a logits call: the loss of position q
 * against candidate v is -log p(v | prefix), and putting v at position q + 1
 * changes only later positions' inputs (causal attention). So for each
 * candidate, one pass over copies of the data with every output token set
 * to v, scoring one output position at a time, gives log p(v) there.
 */
int predict_tokens(polca_context *ctx, polca_model *model, const int32_t *val_tokens, int32_t n,
                   const float *theta, int32_t *pred) {
    const int32_t len = ARITH_N_CTX;
    int32_t *tokens = malloc(sizeof(int32_t) * n * len);
    uint8_t *mask = calloc((size_t)n * len, 1);
    float *loss = malloc(sizeof(float) * n);
    float *best = malloc(sizeof(float) * n * ARITH_N_OUT);
    int rc = !tokens || !mask || !loss || !best;
    for (int32_t i = 0; !rc && i < n * ARITH_N_OUT; i++) best[i] = INFINITY, pred[i] = -1;
    for (int32_t q = 0; !rc && q < ARITH_N_OUT; q++) {
        int32_t pos = ARITH_FIRST_SCORED + q; /* scored position, target at pos + 1 */
        memset(mask, 0, (size_t)n * len);
        for (int32_t s = 0; s < n; s++) mask[s * len + pos] = 1;
        for (int32_t v = 0; !rc && v < ARITH_VOCAB; v++) {
            memcpy(tokens, val_tokens, sizeof(int32_t) * n * len);
            for (int32_t s = 0; s < n; s++) tokens[s * len + pos + 1] = v;
            polca_data *d = NULL;
            rc = failed(polca_data_create_tokens(ctx, n, len, tokens, mask, &d),
                        "accuracy data") ||
                 failed(polca_model_losses(model, d, theta, loss), "accuracy losses");
            polca_data_destroy(d);
            for (int32_t s = 0; !rc && s < n; s++)
                if (loss[s] < best[s * ARITH_N_OUT + q])
                    best[s * ARITH_N_OUT + q] = loss[s], pred[s * ARITH_N_OUT + q] = v;
        }
    }
    free(tokens), free(mask), free(loss), free(best);
    return rc;
}

int token_accuracy(polca_context *ctx, polca_model *model, const int32_t *val_tokens,
                   int32_t n_val, const float *theta, double *overall, double by_place[4]) {
    int32_t *pred = malloc(sizeof(int32_t) * n_val * ARITH_N_OUT);
    int rc = !pred || predict_tokens(ctx, model, val_tokens, n_val, theta, pred);
    /* arith_token_accuracy compares the predicted output tokens */
    if (!rc) *overall = arith_token_accuracy(n_val, val_tokens, pred, by_place);
    free(pred);
    return rc;
}

/* The screening log (--log-every): validation accuracy and mean loss of
 * each (place, carry) group of tokens, on the first n validation
 * sequences. One line:
 *   val <step> acc <1000s no carry>/<carry> <100s ..>/<..> <10s ..>/<..> <1s> loss ... */
static int log_groups(polca_context *ctx, polca_model *model, int32_t late_rule, int32_t step, int32_t n,
                      const int32_t *tokens, const uint8_t *mask, const int32_t *tags,
                      const float *theta) {
    int32_t *pred = malloc(sizeof(int32_t) * n * ARITH_N_OUT);
    float *loss = malloc(sizeof(float) * n * ARITH_N_OUT);
    polca_data *d = NULL;
    int rc = !pred || !loss || predict_tokens(ctx, model, tokens, n, theta, pred) ||
             failed(polca_data_create_tokens(ctx, n, ARITH_N_CTX, tokens, mask, &d), "log data") ||
             failed(polca_model_losses(model, d, theta, loss), "log losses");
    polca_data_destroy(d);
    if (!rc) {
        /* groups 0-7: (place, carry); 8: tokens that need the late skill */
        double right[9] = {0}, sum[9] = {0}, count[9] = {0};
        for (int32_t s = 0; s < n; s++)
            for (int q = 0; q < ARITH_N_OUT; q++) {
                int32_t j = s * ARITH_N_OUT + q, g = tags[j * ARITH_N_TAGS + ARITH_TAG_PLACE_CARRY];
                int late = tokens[s * ARITH_N_CTX + 3] == ARITH_TOK_SHIFT &&
                           late_rule_needs_place(late_rule, q);
                if (late) g = 8;
                count[g]++;
                sum[g] += loss[j];
                right[g] += pred[j] == tokens[s * ARITH_N_CTX + ARITH_FIRST_SCORED + 1 + q];
            }
        char acc[128] = "", ls[128] = "";
        for (int g = 0; g < 7; g++) {
            char b[24];
            snprintf(b, sizeof b, "%s%.2f", g % 2 ? "/" : " ", count[g] ? right[g] / count[g] : NAN);
            strcat(acc, b);
            snprintf(b, sizeof b, "%s%.3f", g % 2 ? "/" : " ", count[g] ? sum[g] / count[g] : NAN);
            strcat(ls, b);
        }
        if (count[8])
            fprintf(stderr, "  val %5d acc%s  loss%s  late acc %.2f loss %.3f\n", step, acc, ls,
                    right[8] / count[8], sum[8] / count[8]);
        else
            fprintf(stderr, "  val %5d acc%s  loss%s\n", step, acc, ls);
    }
    free(pred), free(loss);
    return rc;
}

/* The optimizer's state: AdamW's moments and step count; SGD uses m as
 * its velocity and leaves v unused. */
typedef struct adamw {
    float *m, *v;
    int64_t t;
} adamw;

/* Training pairs (--mid-carry-keep): uniform pairs off the validation set,
 * each one that carries into the 10s or 100s place kept with probability
 * keep (a second stream, so keep = 1 gives exactly the uniform stream). */
static void draw_train(const arith_data *d, arith_rng *rng, arith_rng *mix, double keep,
                       int32_t n, int32_t *a, int32_t *b) {
    for (int32_t i = 0; i < n;) {
        arith_data_draw_train(d, rng, 1, &a[i], &b[i]);
        int mid = a[i] % 10 + b[i] % 10 >= 10 || a[i] % 100 + b[i] % 100 >= 100;
        if (keep >= 1.0 || !mid || (double)(arith_rng_next(mix) >> 11) * 0x1.0p-53 < keep) i++;
    }
}

/* The learning rate at a step: linear warmup over cfg->warmup steps, then
 * constant or a cosine decay to 0 at cfg->steps. */
static double lr_at(const experiment_config *c, int32_t step) {
    double f = 1.0;
    if (c->warmup > 0 && step < c->warmup) f = (double)(step + 1) / c->warmup;
    else if (c->schedule && !strcmp(c->schedule, "cosine") && c->steps > c->warmup)
        f = 0.5 * (1.0 + cos(3.14159265358979323846 * (step - c->warmup) / (c->steps - c->warmup)));
    return c->lr * f;
}

/* SGD with heavy-ball momentum beta1 and decoupled weight decay (m holds
 * the velocity): theta -= lr (m + wd theta), m = beta1 m + g. */
static void sgd_step(adamw *opt, const experiment_config *c, double lr, int64_t p, float *theta,
                     const float *grad) {
    for (int64_t j = 0; j < p; j++) {
        opt->m[j] = (float)(c->beta1 * opt->m[j] + grad[j]);
        theta[j] = (float)(theta[j] - lr * (opt->m[j] + c->weight_decay * theta[j]));
    }
}

/* AdamW's per-parameter step scale at the current state, 1/(sqrt(v_hat)+eps)
 * (its update is lr * scale * m_hat): out [p]. SGD's is 1 everywhere. */
static void step_scale(const adamw *opt, const experiment_config *c, int64_t p, float *out) {
    int sgd = c->optimizer && !strcmp(c->optimizer, "sgd");
    const double b2t = 1.0 - pow(c->beta2, (double)(opt->t > 0 ? opt->t : 1));
    for (int64_t j = 0; j < p; j++)
        out[j] = sgd ? 1.0f : (float)(1.0 / (sqrt(opt->v[j] / b2t) + c->eps));
}

static void adamw_step(adamw *opt, const experiment_config *c, double lr, int64_t p,
                       float *theta, const float *grad) {
    opt->t++;
    const double b1t = 1.0 - pow(c->beta1, (double)opt->t);
    const double b2t = 1.0 - pow(c->beta2, (double)opt->t);
    for (int64_t j = 0; j < p; j++) {
        double g = grad[j];
        opt->m[j] = (float)(c->beta1 * opt->m[j] + (1.0 - c->beta1) * g);
        opt->v[j] = (float)(c->beta2 * opt->v[j] + (1.0 - c->beta2) * g * g);
        double mhat = opt->m[j] / b1t, vhat = opt->v[j] / b2t;
        /* decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW */
        theta[j] = (float)(theta[j] - lr * (mhat / (sqrt(vhat) + c->eps) + c->weight_decay * theta[j]));
    }
}

int train(polca_context *ctx, polca_model *model, const experiment_config *cfg,
          const arith_data *data, training_result *out) {
    int64_t p = 0;
    if (failed(polca_model_n_params(model, &p), "n_params")) return 1;
    char path_polca[512], path_basis[512];
    snprintf(path_polca, sizeof path_polca, "%s/polca_checkpoints.polca", cfg->out_dir);
    snprintf(path_basis, sizeof path_basis, "%s/basis_checkpoints.polca", cfg->out_dir);
    char path_scale[512];
    snprintf(path_scale, sizeof path_scale, "%s/scale_checkpoints.polca", cfg->out_dir);
    polca_options *o = NULL;
    if (failed(polca_options_create(&o), "options") ||
        failed(polca_options_set_int(o, "overwrite", 1), "options") ||
        failed(polca_checkpoints_create(ctx, model, path_polca, o, &out->polca_series),
               "creating the POLCA checkpoint file") ||
        failed(polca_checkpoints_create(ctx, model, path_basis, o, &out->basis_series),
               "creating the basis checkpoint file") ||
        (cfg->basis_scaled &&
         failed(polca_checkpoints_create(ctx, model, path_scale, o, &out->scale_series),
                "creating the step-scale checkpoint file"))) {
        polca_options_destroy(o);
        return 1;
    }
    polca_options_destroy(o);

    float *theta = malloc(sizeof(float) * p), *grad = malloc(sizeof(float) * p);
    adamw opt = {calloc(p, sizeof(float)), calloc(p, sizeof(float)), 0};
    int32_t *a = malloc(sizeof(int32_t) * cfg->batch), *b = malloc(sizeof(int32_t) * cfg->batch);
    int32_t *tokens = malloc(sizeof(int32_t) * cfg->batch * ARITH_N_CTX);
    uint8_t *mask = malloc((size_t)cfg->batch * ARITH_N_CTX);
    if (!theta || !grad || !opt.m || !opt.v || !a || !b || !tokens || !mask) {
        fprintf(stderr, "arithmetic: out of memory\n");
        return 1;
    }
    arith_score_mask(cfg->batch, mask);
    arith_rng rng;
    arith_rng_seed(&rng, cfg->seed, 1);
    arith_rng mix, late;
    arith_rng_seed(&mix, cfg->seed, 3);
    arith_rng_seed(&late, cfg->seed, 5);
    int rc = failed(polca_model_init(model, cfg->seed, theta), "init");
    /* screening log: the first (at most 500) validation sequences */
    int32_t n_log = cfg->log_every > 0 ? (data->cfg.n_val < 500 ? data->cfg.n_val : 500) : 0;
    int32_t *log_tokens = malloc(sizeof(int32_t) * (n_log + 1) * ARITH_N_CTX);
    int32_t *log_tags = malloc(sizeof(int32_t) * (n_log + 1) * ARITH_N_OUT * ARITH_N_TAGS);
    uint8_t *log_mask = malloc((size_t)(n_log + 1) * ARITH_N_CTX);
    if (!log_tokens || !log_tags || !log_mask) rc = 1;
    if (!rc && n_log) {
        arith_encode_batch(n_log, data->val_a, data->val_b, log_tokens);
        if (experiment_has_late_skill(cfg)) { /* the validation set's own '#' problems */
            uint8_t *is_shift = malloc((size_t)data->cfg.n_val);
            rc = !is_shift ||
                 late_pick_validation(cfg->seed, cfg->late.val_share, data->cfg.n_val, is_shift) < 0;
            if (!rc) late_apply_rule(cfg->late.rule, n_log, is_shift, log_tokens);
            free(is_shift);
        }
        arith_labels(n_log, log_tokens, NULL, NULL, log_tags);
        arith_score_mask(n_log, log_mask);
    }
    double loss = NAN, t0 = now_seconds(), smooth = NAN;
    for (int32_t step = 0; !rc && step <= cfg->steps; step++) {
        if (step % cfg->polca_every == 0)
            rc = failed(polca_checkpoints_append(out->polca_series, step, theta, p),
                        "appending a POLCA checkpoint");
        if (!rc && step % cfg->basis_every == 0 && step > 0)
            rc = failed(polca_checkpoints_append(out->basis_series, step, theta, p),
                        "appending a basis checkpoint");
        if (!rc && step % cfg->basis_every == 0 && step > 0 && cfg->basis_scaled) {
            step_scale(&opt, cfg, p, grad); /* grad is free until the next batch */
            rc = failed(polca_checkpoints_append(out->scale_series, step, grad, p),
                        "appending a step-scale checkpoint");
        }
        if (!rc && n_log && step % cfg->log_every == 0)
            rc = log_groups(ctx, model, cfg->late.rule, step, n_log, log_tokens, log_mask, log_tags, theta);
        if (rc || step == cfg->steps) break;
        draw_train(data, &rng, &mix, cfg->mid_carry_keep, cfg->batch, a, b);
        arith_encode_batch(cfg->batch, a, b, tokens);
        if (experiment_has_late_skill(cfg))
            late_rewrite_training(&cfg->late, step, &late, cfg->batch, tokens);
        polca_data *batch = NULL;
        rc = failed(polca_data_create_tokens(ctx, cfg->batch, ARITH_N_CTX, tokens, mask, &batch),
                    "batch") ||
             failed(polca_model_grad(model, batch, theta, &loss, grad), "gradient");
        polca_data_destroy(batch);
        if (rc) break;
        if (cfg->clip > 0) { /* global gradient-norm clipping */
            double norm = 0.0;
            for (int64_t j = 0; j < p; j++) norm += (double)grad[j] * grad[j];
            norm = sqrt(norm);
            if (norm > cfg->clip)
                for (int64_t j = 0; j < p; j++) grad[j] = (float)(grad[j] * (cfg->clip / norm));
        }
        if (cfg->optimizer && !strcmp(cfg->optimizer, "sgd"))
            sgd_step(&opt, cfg, lr_at(cfg, step), p, theta, grad);
        else
            adamw_step(&opt, cfg, lr_at(cfg, step), p, theta, grad);
        smooth = isnan(smooth) ? loss : 0.98 * smooth + 0.02 * loss;
        if ((step + 1) % 250 == 0)
            fprintf(stderr, "  train step %5d/%d  loss %.4f  (%.1f s)\n", step + 1, cfg->steps,
                    smooth, now_seconds() - t0);
    }
    out->final_train_loss = smooth;
    out->theta_final = theta;
    free(grad), free(opt.m), free(opt.v), free(a), free(b), free(tokens), free(mask);
    free(log_tokens), free(log_tags), free(log_mask);
    return rc;
}
