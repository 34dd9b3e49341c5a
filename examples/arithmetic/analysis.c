/*
 * examples/arithmetic/analysis.c - the paper's section 4 after training:
 * Algorithm 1 on basis checkpoints, POLCA and the baselines on the
 * validation tokens, HDBSCAN per direction, carry scores (Table 1).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "progress.h"

static int set_int(polca_options *o, const char *k, int64_t v) {
    return failed(polca_options_set_int(o, k, v), k);
}

/* A basis that is not the paper's, for comparison (README, "A hidden
 * breakthrough"): the training displacement over each basis interval,
 * theta(s_j) - theta(s_{j-1}) with s_0 = 0 the first POLCA checkpoint,
 * orthonormalized in order. It spans where the parameters went; Algorithm 1
 * spans where the loss is most curved. */
static int displacement_basis(polca_context *ctx, polca_model *model, const training_result *tr,
                              polca_basis **out) {
    int64_t p = 0, k = 0;
    if (failed(polca_model_n_params(model, &p), "n_params") ||
        failed(polca_checkpoints_count(tr->basis_series, &k), "basis checkpoints"))
        return 1;
    float *v = malloc(sizeof(float) * (size_t)(p * (k + 1)));
    if (!v) return 1;
    /* row j + 1 holds theta(s_j + 1); row 0 theta(0) */
    int rc = failed(polca_checkpoints_read(tr->polca_series, 0, v, p), "reading step 0");
    for (int64_t j = 0; !rc && j < k; j++)
        rc = failed(polca_checkpoints_read(tr->basis_series, j, v + (j + 1) * p, p),
                    "reading a basis checkpoint");
    for (int64_t j = k; !rc && j >= 1; j--)
        for (int64_t i = 0; i < p; i++) v[j * p + i] -= v[(j - 1) * p + i];
    if (!rc) rc = failed(polca_basis_create_from_vectors(ctx, p, k, v + p, NULL, out),
                         "displacement basis");
    free(v);
    return rc;
}

static int build_basis(polca_context *ctx, polca_model *model, const experiment_config *cfg,
                       const arith_data *data, const training_result *tr, analysis *an) {
    /* Algorithm 1's sample set: fresh training sequences (paper: 1250). */
    int32_t n = cfg->n_basis_seq;
    int32_t *a = malloc(sizeof(int32_t) * n), *b = malloc(sizeof(int32_t) * n);
    int32_t *tokens = malloc(sizeof(int32_t) * n * ARITH_N_CTX);
    uint8_t *mask = malloc((size_t)n * ARITH_N_CTX);
    arith_rng rng;
    arith_rng_seed(&rng, cfg->seed, 2);
    arith_data_draw_train(data, &rng, n, a, b);
    arith_encode_batch(n, a, b, tokens);
    if (experiment_has_late_skill(cfg)) {
        arith_rng late;
        arith_rng_seed(&late, cfg->seed, 6);
        late_rewrite_training(&cfg->late, INT32_MAX, &late, n, tokens);
    }
    arith_score_mask(n, mask);
    polca_data *basis_data = NULL;
    polca_options *o = NULL;
    int rc = failed(polca_data_create_tokens(ctx, n, ARITH_N_CTX, tokens, mask, &basis_data),
                    "basis data") ||
             failed(polca_options_create(&o), "options") ||
             failed(polca_options_set_double(o, "tol", cfg->eig_tol), "tol") ||
             set_int(o, "max_products", cfg->eig_max_products) ||
             set_int(o, "seed", (int64_t)cfg->seed);
    if (!rc && cfg->basis && !strcmp(cfg->basis, "displacement")) {
        rc = displacement_basis(ctx, model, tr, &an->basis);
    } else if (!rc) {
        int32_t st =
            cfg->basis_scaled
                ? polca_basis_create_hessian_scaled(ctx, model, basis_data, tr->basis_series,
                                                    tr->scale_series, NULL, 0, cfg->k_per_basis,
                                                    o, &an->basis)
                : polca_basis_create_hessian(ctx, model, basis_data, tr->basis_series, NULL, 0,
                                             cfg->k_per_basis, o, &an->basis);
        if (st == POLCA_ERR_NOT_CONVERGED)
            fprintf(stderr, "  note: %s\n", polca_last_error()); /* best estimates kept */
        else
            rc = failed(st, "Hessian basis (Algorithm 1)");
    }
    if (!rc) rc = failed(polca_basis_count(an->basis, &an->k), "basis count");
    if (!rc) {
        int64_t p = 0;
        rc = failed(polca_model_n_params(model, &p), "n_params") ||
             failed(polca_basis_create_axis(ctx, p, tr->theta_final, an->k, NULL, &an->lca),
                    "axis basis (per-sample LCA)");
        an->k_lca = an->k;
    }
    polca_options_destroy(o);
    polca_data_destroy(basis_data);
    free(a), free(b), free(tokens), free(mask);
    return rc;
}

/* Algorithm 1's filter: keep the directions whose mean projected loss does
 * not rise over training (mean_i L_{i,k}(T) <= 0). */
static int filter_directions(const polca_trajectories *t, int32_t kind, int64_t k, int64_t **kept,
                             int64_t *n_kept) {
    double *means = malloc(sizeof(double) * k);
    *kept = malloc(sizeof(int64_t) * k);
    *n_kept = 0;
    int rc = failed(polca_trajectories_final_means(t, kind, means, k), "final means");
    for (int64_t d = 0; !rc && d < k; d++)
        if (means[d] <= 0.0) (*kept)[(*n_kept)++] = d;
    free(means);
    return rc;
}

/* Copies the chosen directions of a [K][N][T] view into a new array. */
static float *gather(const float *view, int64_t n, int64_t t, const int64_t *dirs, int64_t count) {
    float *out = malloc(sizeof(float) * (size_t)(count * n * t) + 1);
    for (int64_t q = 0; out && q < count; q++)
        memcpy(out + q * n * t, view + dirs[q] * n * t, sizeof(float) * n * t);
    return out;
}

/* Table 1's rows: trajectory kind, per-sample filter (Algorithm 1's for the
 * projected kinds; every sample for the whole-loss kinds and Fisher, as the
 * CLI) and which basis's kept directions it clusters. */
const method_spec analysis_methods[N_METHODS] = {
    {"exact_loss", "Exact loss", "none", POLCA_TRAJ_EXACT_LOSS},
    {"loss_change", "Change in exact loss", "none", POLCA_TRAJ_LOSS_CHANGE},
    {"fisher", "Empirical Fisher", "none", POLCA_TRAJ_FISHER},
    {"lca", "Per-sample LCA", "decrease", POLCA_TRAJ_LCA},
    {"polca_first_order", "First-order POLCA", "decrease", POLCA_TRAJ_FIRST_ORDER},
    {"polca", "POLCA", "decrease", POLCA_TRAJ_POLCA},
};

/* The rows a kind clusters: the LCA basis's kept directions, the POLCA
 * basis's for the projected kinds, the one row of the whole-loss kinds. */
static const int64_t *kind_directions(const analysis *an, int32_t kind, int64_t *count) {
    static const int64_t whole = 0;
    if (kind == POLCA_TRAJ_LCA) return *count = an->n_kept_lca, an->kept_lca;
    if (kind == POLCA_TRAJ_EXACT_LOSS || kind == POLCA_TRAJ_LOSS_CHANGE) return *count = 1, &whole;
    return *count = an->n_kept, an->kept;
}

int cluster_kind(polca_context *ctx, const experiment_config *cfg, const analysis *an,
                 const method_spec *spec, const char *normalize, const char *onset_rule,
                 polca_clustering **out) {
    const float *view, *exact;
    int64_t k, n, t, k1, n1, t1, count = 0;
    if (failed(polca_trajectories_view(an->traj, spec->kind, &view, &k, &n, &t), spec->name) ||
        failed(polca_trajectories_view(an->traj, POLCA_TRAJ_EXACT_LOSS, &exact, &k1, &n1, &t1),
               "exact loss"))
        return 1;
    const int64_t *dirs = kind_directions(an, spec->kind, &count);
    float *x = gather(view, n, t, dirs, count);
    polca_options *o = NULL;
    int rc = !x || failed(polca_options_create(&o), "options") ||
             set_int(o, "min_cluster_size", cfg->min_cluster_size) ||
             set_int(o, "min_samples_divisor", cfg->min_samples_divisor) ||
             set_int(o, "smoothing", cfg->smoothing) ||
             failed(polca_options_set_string(o, "filter", spec->filter), "filter") ||
             failed(polca_options_set_string(o, "normalize", normalize), "normalize");
    if (!rc && spec->kind == POLCA_TRAJ_LOSS_CHANGE)
        rc = failed(polca_options_set_string(o, "onset_of", "cumsum"), "onset_of");
    if (!rc && onset_rule)
        rc = failed(polca_options_set_string(o, "cluster_onset", onset_rule), "cluster_onset");
    if (!rc)
        rc = failed(polca_clustering_create(ctx, count, n, t, x, t1, exact, o, out), spec->name);
    polca_options_destroy(o);
    free(x);
    return rc;
}

static int cluster_method(polca_context *ctx, const experiment_config *cfg, analysis *an,
                          method_result *m, const method_spec *spec) {
    int64_t count = 0;
    const int64_t *dirs = kind_directions(an, spec->kind, &count);
    m->name = spec->name, m->display = spec->display;
    m->directions = malloc(sizeof(int64_t) * count);
    if (!m->directions) return 1;
    memcpy(m->directions, dirs, sizeof(int64_t) * count);
    m->k = count;
    return cluster_kind(ctx, cfg, an, spec, cfg->normalize, NULL, &m->clustering);
}

/* The n_top clusters of highest finite score, best first (ties: the lower
 * index); -1 past the last. NaN marks a cluster that does not count. */
static void top_finite(const double *score, int64_t nc, int n_top, int64_t *top) {
    for (int r = 0; r < n_top; r++) {
        int64_t pick = -1;
        for (int64_t g = 0; g < nc; g++) {
            if (isnan(score[g])) continue;
            int taken = 0;
            for (int q = 0; q < r && !taken; q++) taken = top[q] == g;
            if (!taken && (pick < 0 || score[g] > score[pick])) pick = g;
        }
        top[r] = pick;
    }
}

static int fill_scores(const method_result *m, const int64_t *top, const double *h,
                       const double *rec, const double *f1, const double *share,
                       report_scores *out) {
    int whole_loss = !strcmp(m->name, "exact_loss") || !strcmp(m->name, "loss_change");
    out->n_best = 0;
    for (int q = 0; q < REPORT_MAX_BEST && top[q] >= 0; q++) {
        int64_t dir = 0;
        if (failed(polca_clustering_cluster(m->clustering, top[q], &dir, NULL, NULL, NULL, NULL,
                                            NULL),
                   "cluster"))
            return 1;
        out->homogeneity[q] = h[top[q]], out->recall[q] = rec[top[q]], out->f1[q] = f1[top[q]];
        out->mid_share[q] = share[top[q]];
        out->direction[q] = whole_loss ? -1 : (int32_t)m->directions[dir];
        out->n_best = q + 1;
    }
    return 0;
}

/* Table 1 for one method: the three clusters of highest carry homogeneity
 * over all its directions, under the paper's rule (Appendix G: more than
 * cfg->carry_mid_share of the cluster's carry tokens in the 100s or 10s
 * place) and over every cluster; and the hidden-breakthrough share. */
static int score_method(const experiment_config *cfg, analysis *an, method_result *m) {
    int64_t nc = 0, top[REPORT_MAX_BEST];
    report_method *r = &m->row;
    memset(r, 0, sizeof *r);
    r->name = m->name, r->display = m->display;
    if (failed(polca_clustering_shape(m->clustering, NULL, NULL, NULL, NULL, &nc), "shape"))
        return 1;
    r->n_clusters = (int32_t)nc;
    double *buf = malloc(sizeof(double) * 7 * (size_t)(nc + 1));
    int32_t *eligible = malloc(sizeof(int32_t) * (size_t)(nc + 1));
    if (!buf || !eligible) {
        free(buf), free(eligible);
        fprintf(stderr, "arithmetic: out of memory scoring %s\n", m->name);
        return 1;
    }
    double *h = buf, *rec = h + nc + 1, *f1 = rec + nc + 1, *hr = f1 + nc + 1,
           *rr = hr + nc + 1, *fr = rr + nc + 1, *share = fr + nc + 1;
    static const int32_t mid[2] = {ARITH_PLACE_100, ARITH_PLACE_10};
    int rc = failed(polca_clustering_score(m->clustering, an->carry_u8, h, rec, f1), "score") ||
             failed(polca_clustering_score_restricted(m->clustering, an->carry_u8, an->place, 2,
                                                      mid, cfg->carry_mid_share, hr, rr, fr,
                                                      share, eligible),
                    "score (Appendix G rule)") ||
             failed(polca_clustering_best(m->clustering, an->carry_u8, NULL, REPORT_MAX_BEST, top),
                    "best") ||
             failed(polca_clustering_hidden_fraction(m->clustering, &r->hidden_fraction),
                    "hidden fraction");
    if (!rc) rc = fill_scores(m, top, h, rec, f1, share, &r->unrestricted);
    if (!rc) {
        top_finite(hr, nc, REPORT_MAX_BEST, top);
        rc = fill_scores(m, top, hr, rr, fr, share, &r->faithful);
    }
    for (int64_t g = 0; !rc && g < nc; g++) r->n_eligible += eligible[g] != 0;
    free(buf), free(eligible);
    return rc;
}

/* A C-order array as .npy (format 1.0): descr "<i4" or "|u1", shape (n,) when
 * cols is 0, else (n, cols). So numpy can score the exported trajectories. */
static int write_npy(const char *path, const char *descr, int64_t n, int32_t cols,
                     const void *data, size_t item) {
    char header[128], shape[64];
    if (cols) snprintf(shape, sizeof shape, "(%lld, %d)", (long long)n, cols);
    else snprintf(shape, sizeof shape, "(%lld,)", (long long)n);
    int len = snprintf(header, sizeof header,
                       "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "arithmetic: cannot write %s\n", path);
        return 1;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    pre[8] = (unsigned char)((len + pad + 1) & 0xff), pre[9] = (unsigned char)((len + pad + 1) >> 8);
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t count = (size_t)n * (size_t)(cols ? cols : 1);
    size_t wrote = fwrite(data, item, count, f);
    int rc = fclose(f) != 0 || wrote != count;
    if (rc) fprintf(stderr, "arithmetic: writing %s failed\n", path);
    return rc;
}

int analyse(polca_context *ctx, polca_model *model, const experiment_config *cfg,
            const arith_data *data, const int32_t *val_tokens, polca_data *val,
            const training_result *tr, analysis *an) {
    memset(an, 0, sizeof *an);
    polca_context_set_progress(ctx, progress_print, NULL);
    double t0 = now_seconds();
    fprintf(stderr, "arithmetic: Hessian basis (Algorithm 1)\n");
    if (build_basis(ctx, model, cfg, data, tr, an)) return 1;
    an->seconds_basis = now_seconds() - t0;
    for (int64_t d = 0; d < an->k; d++) {
        double lam = NAN;
        int64_t step = -1;
        polca_basis_get_info(an->basis, d, NULL, &step, NULL, &lam, NULL, NULL);
        fprintf(stderr, "  b%-2lld step %5lld  eigenvalue %.4g\n", (long long)d, (long long)step, lam);
    }

    t0 = now_seconds();
    fprintf(stderr, "arithmetic: POLCA trajectories (%lld directions + %lld LCA)\n",
            (long long)an->k, (long long)an->k_lca);
    polca_options *o = NULL;
    int rc = failed(polca_options_create(&o), "options") ||
             failed(polca_options_set_string(o, "curvature", cfg->curvature), "curvature") ||
             set_int(o, "fisher", 1) || set_int(o, "block", cfg->block) ||
             failed(polca_trajectories_create(ctx, model, val, tr->polca_series, an->basis,
                                              an->lca, o, &an->traj),
                    "trajectories");
    polca_options_destroy(o);
    if (rc) return 1;
    an->seconds_trajectories = now_seconds() - t0;
    /* Keep the decomposition for later analysis (polca CLI, numpy). */
    static const struct {
        int32_t kind;
        const char *file;
    } exports[] = {{POLCA_TRAJ_POLCA, "polca.npy"},
                   {POLCA_TRAJ_EXACT_LOSS, "exact_loss.npy"},
                   {POLCA_TRAJ_LCA, "lca.npy"}};
    char path[600];
    snprintf(path, sizeof path, "%s/trajectories.polca", cfg->out_dir);
    rc = failed(polca_trajectories_save(an->traj, path), path);
    for (size_t e = 0; !rc && e < sizeof exports / sizeof exports[0]; e++) {
        snprintf(path, sizeof path, "%s/%s", cfg->out_dir, exports[e].file);
        rc = failed(polca_trajectories_export_npy(an->traj, exports[e].kind, path), path);
    }
    if (rc) return 1;
    const int64_t *steps;
    polca_trajectories_steps(an->traj, &steps, &an->t1);
    polca_data_n_samples(val, &an->n);

    /* labels of every validation token */
    an->place = malloc(sizeof(int32_t) * an->n);
    an->carry = malloc(sizeof(int32_t) * an->n);
    an->tags = malloc(sizeof(int32_t) * an->n * ARITH_N_TAGS);
    an->carry_u8 = malloc((size_t)an->n);
    arith_labels(cfg->n_val, val_tokens, an->place, an->carry, an->tags);
    snprintf(path, sizeof path, "%s/tags.npy", cfg->out_dir);
    if (write_npy(path, "<i4", an->n, ARITH_N_TAGS, an->tags, sizeof(int32_t))) return 1;
    if (experiment_has_late_skill(cfg)) {
        an->needs_late = malloc((size_t)an->n);
        if (!an->needs_late) return 1;
        late_needs_skill(cfg->late.rule, cfg->n_val, val_tokens, an->needs_late);
        snprintf(path, sizeof path, "%s/late_skill.npy", cfg->out_dir);
        if (write_npy(path, "|u1", an->n, 0, an->needs_late, 1)) return 1;
    }
    for (int64_t i = 0; i < an->n; i++) an->carry_u8[i] = (uint8_t)an->carry[i];

    if (filter_directions(an->traj, POLCA_TRAJ_POLCA, an->k, &an->kept, &an->n_kept) ||
        filter_directions(an->traj, POLCA_TRAJ_LCA, an->k_lca, &an->kept_lca, &an->n_kept_lca))
        return 1;
    fprintf(stderr, "arithmetic: %lld of %lld directions kept (mean projected loss falls)\n",
            (long long)an->n_kept, (long long)an->k);
    if (an->n_kept == 0 || an->n_kept_lca == 0) {
        fprintf(stderr, "arithmetic: no direction left to cluster\n");
        return 1;
    }

    t0 = now_seconds();
    for (int i = 0; i < N_METHODS && !rc; i++) {
        method_result *m = &an->methods[i];
        fprintf(stderr, "arithmetic: clustering %s\n", analysis_methods[i].name);
        rc = cluster_method(ctx, cfg, an, m, &analysis_methods[i]) || score_method(cfg, an, m);
    }
    an->seconds_clustering = now_seconds() - t0;
    if (rc) return 1;

    printf("\nTable 1 (carry label; best three clusters, best first)\n"
           "faithful: the paper's rule (Appendix G), only clusters with more than %g of their "
           "carry tokens in the 100s or 10s place count\n"
           "unrestricted: every cluster counts (carries into the 1000s place included); "
           "mid: share of its carry tokens in the 100s or 10s place\n",
           cfg->carry_mid_share);
    printf("%-21s %-20s %-20s %-20s | %-20s %-20s | %s\n", "method", "faithful homogeneity",
           "faithful recall", "faithful F1", "unrestricted homog.", "(mid share)",
           "hidden (clusters, eligible)");
    for (int i = 0; i < N_METHODS; i++) {
        const report_method *r = &an->methods[i].row;
        const report_scores *sc[2] = {&r->faithful, &r->unrestricted};
        char col[5][64];
        for (int c = 0; c < 5; c++) col[c][0] = 0;
        for (int v = 0; v < 2; v++)
            for (int q = 0; q < sc[v]->n_best; q++) {
                const double *src[3] = {sc[v]->homogeneity, v ? sc[v]->mid_share : sc[v]->recall,
                                        sc[v]->f1};
                for (int c = 0; c < (v ? 2 : 3); c++) {
                    char buf[16];
                    snprintf(buf, sizeof buf, "%s%.3f", q ? " " : "", src[c][q]);
                    strcat(col[v ? 3 + c : c], buf);
                }
            }
        if (!r->faithful.n_best) snprintf(col[0], sizeof col[0], "none eligible");
        printf("%-21s %-20s %-20s %-20s | %-20s %-20s | %.3f (%d, %d)\n", r->display, col[0],
               col[1], col[2], col[3], col[4], r->hidden_fraction, r->n_clusters, r->n_eligible);
    }
    return 0;
}

void analysis_free(analysis *an) {
    for (int i = 0; i < N_METHODS; i++) {
        polca_clustering_destroy(an->methods[i].clustering);
        free(an->methods[i].directions);
    }
    polca_trajectories_destroy(an->traj);
    polca_basis_destroy(an->basis);
    polca_basis_destroy(an->lca);
    free(an->kept), free(an->kept_lca), free(an->place), free(an->carry), free(an->tags);
    free(an->carry_u8), free(an->needs_late);
    late_result_free(an->late);
}
