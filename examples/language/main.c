/*
 * examples/language - the paper's English language setting (section 5,
 * Appendix E.2) at CPU size, on libpolca's public API: a small word-level
 * transformer trained on prose with the host's own AdamW loop (checkpoints
 * appended as it trains), the Hessian basis (Algorithm 1), POLCA and the
 * baselines on held-out tokens, HDBSCAN per direction with the paper's
 * filters, automatic part-of-speech labels of each token and the three
 * before it (70% coverage, at most two tags), the label table, a report.
 *
 *   language [--data DIR] [--out DIR] [--steps N] [--val N] [--seed S] ...
 *
 * DIR holds what examples/language/prepare.py wrote (make demo-language
 * runs both). Progress to stderr, the label table to stdout; DIR/summary.json
 * and report.html are the results. The backend is POLCA_BACKEND.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

static void config_default(lang_config *c) {
    memset(c, 0, sizeof *c);
    c->data_dir = "out/language-data";
    c->out_dir = "out/language";
    c->seed = 1;
    /* the arithmetic example's CPU model, with a word vocabulary */
    c->n_layers = 2, c->d_model = 64, c->n_heads = 4, c->d_head = 16, c->d_mlp = 256;
    c->act_fn = "gelu";
    c->ctx = 24;
    c->steps = 2000, c->batch = 32;
    c->lr = 1e-3, c->weight_decay = 0.1, c->beta1 = 0.9, c->beta2 = 0.999, c->eps = 1e-8;
    c->polca_every = 40, c->basis_every = 200;
    c->n_val = 250;          /* 250 windows x 23 scored positions = 5750 tokens */
    c->n_basis_seq = 128;
    c->k_per_basis = 1;
    c->eig_tol = 1e-3, c->eig_max_products = 120;
    /* the paper: 300 of 12600 tokens, min_samples tokens / 15 */
    c->min_cluster_size = 150, c->min_samples_divisor = 15;
    /* a finer setting beside it (README: at the paper's, POLCA finds almost
     * no cluster at this size) */
    c->fine_min_cluster_size = 40, c->fine_min_samples_divisor = 50;
    c->normalize = "unit"; /* as the arithmetic example (README) */
    c->coverage = 0.7, c->max_tags = 2;
    c->n_contexts = 5;
    c->curvature = "exact";
    c->block = 16;
}

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--data DIR] [--out DIR] [--steps N] [--seed S] [--val N] [--ctx N]\n"
            "          [--batch N] [--lr LR] [--polca-every N] [--basis-every N] [--k K]\n"
            "          [--basis-seq N] [--layers N] [--d-model N] [--heads N] [--d-mlp N]\n"
            "          [--min-cluster-size N] [--min-samples-divisor N] [--normalize unit|none]\n"
            "          [--fine-min-cluster-size N] [--fine-min-samples-divisor N]\n"
            "          [--coverage C] [--max-tags N] [--eig-max-products N]\n"
            "  the paper's language setting (section 5) on DIR (default out/language-data,\n"
            "  written by examples/language/prepare.py); results in --out (out/language)\n",
            argv0);
    return 2;
}

static int parse_int(const char *flag, const char *v, int32_t lo, int32_t *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < lo || x > 100000000) {
        fprintf(stderr, "language: %s %s: expected an integer >= %d\n", flag, v, lo);
        return 2;
    }
    *out = (int32_t)x;
    return 0;
}

static int parse_double(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (*end || end == v || !(x > lo && x <= hi)) {
        fprintf(stderr, "language: %s %s: expected a number in (%g, %g]\n", flag, v, lo, hi);
        return 2;
    }
    *out = x;
    return 0;
}

static int parse_args(int argc, char **argv, lang_config *c) {
    config_default(c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h") || !v) return usage(argv[0]);
        int rc = 0;
        if (!strcmp(a, "--data")) c->data_dir = v;
        else if (!strcmp(a, "--out")) c->out_dir = v;
        else if (!strcmp(a, "--seed")) c->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--steps")) rc = parse_int(a, v, 2, &c->steps);
        else if (!strcmp(a, "--val")) rc = parse_int(a, v, 1, &c->n_val);
        else if (!strcmp(a, "--ctx")) rc = parse_int(a, v, 5, &c->ctx);
        else if (!strcmp(a, "--batch")) rc = parse_int(a, v, 1, &c->batch);
        else if (!strcmp(a, "--polca-every")) rc = parse_int(a, v, 1, &c->polca_every);
        else if (!strcmp(a, "--basis-every")) rc = parse_int(a, v, 1, &c->basis_every);
        else if (!strcmp(a, "--k")) rc = parse_int(a, v, 1, &c->k_per_basis);
        else if (!strcmp(a, "--basis-seq")) rc = parse_int(a, v, 1, &c->n_basis_seq);
        else if (!strcmp(a, "--layers")) rc = parse_int(a, v, 1, &c->n_layers);
        else if (!strcmp(a, "--d-model")) rc = parse_int(a, v, 1, &c->d_model);
        else if (!strcmp(a, "--heads")) rc = parse_int(a, v, 1, &c->n_heads);
        else if (!strcmp(a, "--d-mlp")) rc = parse_int(a, v, 1, &c->d_mlp);
        else if (!strcmp(a, "--min-cluster-size")) rc = parse_int(a, v, 2, &c->min_cluster_size);
        else if (!strcmp(a, "--min-samples-divisor")) rc = parse_int(a, v, 1, &c->min_samples_divisor);
        else if (!strcmp(a, "--fine-min-cluster-size")) rc = parse_int(a, v, 2, &c->fine_min_cluster_size);
        else if (!strcmp(a, "--fine-min-samples-divisor")) rc = parse_int(a, v, 1, &c->fine_min_samples_divisor);
        else if (!strcmp(a, "--max-tags")) rc = parse_int(a, v, 1, &c->max_tags);
        else if (!strcmp(a, "--eig-max-products")) rc = parse_int(a, v, 1, &c->eig_max_products);
        else if (!strcmp(a, "--lr")) rc = parse_double(a, v, 0, 10, &c->lr);
        else if (!strcmp(a, "--coverage")) rc = parse_double(a, v, 0, 1, &c->coverage);
        else if (!strcmp(a, "--normalize")) {
            if (strcmp(v, "unit") && strcmp(v, "none")) return usage(argv[0]);
            c->normalize = v;
        } else return usage(argv[0]);
        if (rc) return rc;
        i++;
    }
    c->d_head = c->d_model / c->n_heads;
    if (c->d_head * c->n_heads != c->d_model) {
        fprintf(stderr, "language: --d-model %d is not a multiple of --heads %d\n", c->d_model, c->n_heads);
        return 2;
    }
    if (c->max_tags > LANG_MAX_VALUES - 1) {
        fprintf(stderr, "language: --max-tags %d: at most %d\n", c->max_tags, LANG_MAX_VALUES - 1);
        return 2;
    }
    if (c->steps < 2 * c->basis_every || c->basis_every % c->polca_every) {
        fprintf(stderr, "language: --steps must be at least two basis intervals and "
                        "--basis-every a multiple of --polca-every\n");
        return 2;
    }
    return 0;
}

/* ---- training ----------------------------------------------------------- */

typedef struct adamw {
    float *m, *v;
    int64_t t;
} adamw;

static void adamw_step(adamw *o, const lang_config *c, int64_t p, float *theta, const float *g) {
    o->t++;
    const double b1t = 1.0 - pow(c->beta1, (double)o->t), b2t = 1.0 - pow(c->beta2, (double)o->t);
    for (int64_t j = 0; j < p; j++) {
        o->m[j] = (float)(c->beta1 * o->m[j] + (1.0 - c->beta1) * g[j]);
        o->v[j] = (float)(c->beta2 * o->v[j] + (1.0 - c->beta2) * (double)g[j] * g[j]);
        double mh = o->m[j] / b1t, vh = o->v[j] / b2t;
        theta[j] = (float)(theta[j] - c->lr * (mh / (sqrt(vh) + c->eps) + c->weight_decay * theta[j]));
    }
}

/* n random windows of ctx training tokens (uniform start positions). */
void lang_draw_windows(const lang_data *d, int32_t ctx, uint64_t *rng, int32_t n, int32_t *out) {
    int64_t span = d->n_train - ctx + 1;
    for (int32_t s = 0; s < n; s++) {
        int64_t start = (int64_t)(lang_rng_next(rng) % (uint64_t)span);
        memcpy(out + (size_t)s * ctx, d->train + start, sizeof(int32_t) * ctx);
    }
}

static int train(polca_context *ctx, polca_model *model, const lang_config *cfg,
                 const lang_data *d, polca_data *val, lang_training *out) {
    int64_t p = 0;
    if (lang_failed(polca_model_n_params(model, &p), "n_params")) return 1;
    char path_polca[600], path_basis[600];
    snprintf(path_polca, sizeof path_polca, "%s/polca_checkpoints.polca", cfg->out_dir);
    snprintf(path_basis, sizeof path_basis, "%s/basis_checkpoints.polca", cfg->out_dir);
    polca_options *o = NULL;
    int rc = lang_failed(polca_options_create(&o), "options") ||
             lang_failed(polca_options_set_int(o, "overwrite", 1), "options") ||
             lang_failed(polca_checkpoints_create(ctx, model, path_polca, o, &out->polca_series),
                         "creating the POLCA checkpoint file") ||
             lang_failed(polca_checkpoints_create(ctx, model, path_basis, o, &out->basis_series),
                         "creating the basis checkpoint file");
    polca_options_destroy(o);
    if (rc) return 1;
    float *theta = malloc(sizeof(float) * p), *grad = malloc(sizeof(float) * p);
    adamw opt = {calloc(p, sizeof(float)), calloc(p, sizeof(float)), 0};
    int32_t *tokens = malloc(sizeof(int32_t) * cfg->batch * cfg->ctx);
    int64_t n_val = 0;
    polca_data_n_samples(val, &n_val);
    float *val_loss = malloc(sizeof(float) * (n_val + 1));
    if (!theta || !grad || !opt.m || !opt.v || !tokens || !val_loss) {
        fprintf(stderr, "language: out of memory\n");
        free(theta), free(grad), free(opt.m), free(opt.v), free(tokens), free(val_loss);
        return 1;
    }
    uint64_t rng = cfg->seed * 0x100000001b3ULL + 1;
    rc = lang_failed(polca_model_init(model, cfg->seed, theta), "init");
    double loss = NAN, smooth = NAN, t0 = lang_now();
    for (int32_t step = 0; !rc && step <= cfg->steps; step++) {
        if (step % cfg->polca_every == 0)
            rc = lang_failed(polca_checkpoints_append(out->polca_series, step, theta, p),
                             "appending a POLCA checkpoint");
        if (!rc && step % cfg->basis_every == 0 && step > 0)
            rc = lang_failed(polca_checkpoints_append(out->basis_series, step, theta, p),
                             "appending a basis checkpoint");
        if (rc || step == cfg->steps) break;
        lang_draw_windows(d, cfg->ctx, &rng, cfg->batch, tokens);
        polca_data *batch = NULL;
        rc = lang_failed(polca_data_create_tokens(ctx, cfg->batch, cfg->ctx, tokens, NULL, &batch),
                         "batch") ||
             lang_failed(polca_model_grad(model, batch, theta, &loss, grad), "gradient");
        polca_data_destroy(batch);
        if (rc) break;
        adamw_step(&opt, cfg, p, theta, grad);
        smooth = isnan(smooth) ? loss : 0.98 * smooth + 0.02 * loss;
        if ((step + 1) % 250 == 0)
            fprintf(stderr, "  train step %5d/%d  loss %.4f  (%.1f s)\n", step + 1, cfg->steps,
                    smooth, lang_now() - t0);
    }
    if (!rc) rc = lang_failed(polca_model_losses(model, val, theta, val_loss), "held-out losses");
    if (!rc) {
        double s = 0;
        for (int64_t i = 0; i < n_val; i++) s += val_loss[i];
        out->final_val_loss = s / (double)n_val;
    }
    out->final_train_loss = smooth;
    out->theta_final = theta;
    free(grad), free(opt.m), free(opt.v), free(tokens), free(val_loss);
    return rc;
}

static polca_model *make_model(polca_context *ctx, const lang_config *c, int32_t n_vocab) {
    polca_options *o = NULL;
    polca_model *m = NULL;
    int rc = lang_failed(polca_options_create(&o), "options");
    const char *names[] = {"n_layers", "d_model", "n_heads", "d_head", "d_mlp", "d_vocab", "n_ctx"};
    int64_t values[] = {c->n_layers, c->d_model, c->n_heads, c->d_head, c->d_mlp, n_vocab, c->ctx};
    for (int i = 0; !rc && i < 7; i++)
        rc = lang_failed(polca_options_set_int(o, names[i], values[i]), names[i]);
    if (!rc) rc = lang_failed(polca_options_set_string(o, "act_fn", c->act_fn), "act_fn");
    if (!rc) rc = lang_failed(polca_model_create_transformer(ctx, o, &m), "transformer");
    polca_options_destroy(o);
    return rc ? NULL : m;
}

int main(int argc, char **argv) {
    lang_config cfg;
    int rc = parse_args(argc, argv, &cfg);
    if (rc) return rc;
    lang_data data;
    rc = lang_data_read(cfg.data_dir, &data);
    if (rc) return rc;
    if ((int64_t)cfg.n_val * cfg.ctx > data.n_heldout || data.n_train < 2 * cfg.ctx) {
        fprintf(stderr,
                "language: %s holds %lld held-out and %lld training tokens: too few for --val %d "
                "windows of --ctx %d\n",
                cfg.data_dir, (long long)data.n_heldout, (long long)data.n_train, cfg.n_val, cfg.ctx);
        lang_data_free(&data);
        return 2;
    }
    if (report_make_dirs(cfg.out_dir)) {
        fprintf(stderr, "language: cannot create %s: %s\n", cfg.out_dir, report_error());
        lang_data_free(&data);
        return 1;
    }
    polca_context *ctx = NULL;
    if (lang_failed(polca_context_create(NULL, &ctx), "context")) {
        lang_data_free(&data);
        return 1;
    }
    const char *device = NULL;
    polca_context_device(ctx, &device);
    fprintf(stderr, "language: %s; %lld training tokens, vocabulary %d, %d held-out windows of %d\n",
            device, (long long)data.n_train, data.n_vocab, cfg.n_val, cfg.ctx);

    polca_model *model = make_model(ctx, &cfg, data.n_vocab);
    polca_data *val = NULL;
    rc = !model || lang_failed(polca_data_create_tokens(ctx, cfg.n_val, cfg.ctx, data.val, NULL, &val),
                               "held-out data");
    lang_training tr = {0};
    lang_analysis an;
    memset(&an, 0, sizeof an);
    report_timing timings[4];
    double t0 = lang_now();
    if (!rc) {
        fprintf(stderr, "language: training %d steps (checkpoints every %d, basis every %d)\n",
                cfg.steps, cfg.polca_every, cfg.basis_every);
        rc = train(ctx, model, &cfg, &data, val, &tr);
        fprintf(stderr, "language: held-out loss %.4f (uniform over the vocabulary: %.4f)\n",
                tr.final_val_loss, log((double)data.n_vocab));
    }
    timings[0] = (report_timing){"train", lang_now() - t0};
    if (!rc) rc = lang_analyse(ctx, model, &cfg, &data, val, &tr, &an);
    if (!rc) {
        timings[1] = (report_timing){"basis", an.seconds_basis};
        timings[2] = (report_timing){"trajectories", an.seconds_trajectories};
        timings[3] = (report_timing){"clustering", an.seconds_clustering};
        rc = lang_write_outputs(ctx, &cfg, &data, &tr, &an, timings, 4);
    }
    lang_analysis_free(&an);
    polca_checkpoints_destroy(tr.polca_series);
    polca_checkpoints_destroy(tr.basis_series);
    free(tr.theta_final);
    polca_data_destroy(val);
    polca_model_destroy(model);
    polca_context_destroy(ctx);
    lang_data_free(&data);
    return rc ? 1 : 0;
}
