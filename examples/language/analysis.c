/*
 * examples/language/analysis.c - the paper's section 5 after training:
 * Algorithm 1 on the basis checkpoints, POLCA and the baselines on every
 * held-out token, HDBSCAN per direction (the paper's filters: directions
 * whose mean projected loss falls, tokens whose projected loss falls,
 * HDBSCAN's outliers dropped), automatic labels (coverage 0.7, at most two
 * part-of-speech tags besides PAD) and the label table.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

static int set_int(polca_options *o, const char *k, int64_t v) {
    return lang_failed(polca_options_set_int(o, k, v), k);
}

static int build_basis(polca_context *ctx, polca_model *model, const lang_config *cfg,
                       const lang_data *d, const lang_training *tr, lang_analysis *an) {
    int32_t n = cfg->n_basis_seq;
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)n * cfg->ctx);
    if (!tokens) return 1;
    uint64_t rng = cfg->seed * 0x9e3779b97f4a7c15ULL + 2;
    lang_draw_windows(d, cfg->ctx, &rng, n, tokens);
    polca_data *bd = NULL;
    polca_options *o = NULL;
    int rc = lang_failed(polca_data_create_tokens(ctx, n, cfg->ctx, tokens, NULL, &bd), "basis data") ||
             lang_failed(polca_options_create(&o), "options") ||
             lang_failed(polca_options_set_double(o, "tol", cfg->eig_tol), "tol") ||
             set_int(o, "max_products", cfg->eig_max_products) || set_int(o, "seed", (int64_t)cfg->seed);
    if (!rc) {
        int32_t st = polca_basis_create_hessian(ctx, model, bd, tr->basis_series, NULL, 0,
                                                cfg->k_per_basis, o, &an->basis);
        if (st == POLCA_ERR_NOT_CONVERGED)
            fprintf(stderr, "  note: %s\n", polca_last_error()); /* best estimates kept */
        else
            rc = lang_failed(st, "Hessian basis (Algorithm 1)");
    }
    if (!rc) rc = lang_failed(polca_basis_count(an->basis, &an->k), "basis count");
    if (!rc) {
        int64_t p = 0;
        rc = lang_failed(polca_model_n_params(model, &p), "n_params") ||
             lang_failed(polca_basis_create_axis(ctx, p, tr->theta_final, an->k, NULL, &an->lca),
                         "axis basis (per-sample LCA)");
    }
    polca_options_destroy(o);
    polca_data_destroy(bd);
    free(tokens);
    return rc;
}

/* Algorithm 1's filter: directions whose mean projected loss does not rise. */
static int filter_directions(const polca_trajectories *t, int32_t kind, int64_t k, int64_t **kept,
                             int64_t *n_kept) {
    double *means = malloc(sizeof(double) * (size_t)k);
    *kept = malloc(sizeof(int64_t) * (size_t)k);
    *n_kept = 0;
    if (!means || !*kept) {
        free(means);
        return 1;
    }
    int rc = lang_failed(polca_trajectories_final_means(t, kind, means, k), "final means");
    for (int64_t q = 0; !rc && q < k; q++)
        if (means[q] <= 0.0) (*kept)[(*n_kept)++] = q;
    free(means);
    return rc;
}

static const struct {
    const char *name, *display, *filter;
    int32_t kind;
} specs[LANG_N_METHODS] = {
    {"exact_loss", "Exact loss", "none", POLCA_TRAJ_EXACT_LOSS},
    {"loss_change", "Change in exact loss", "none", POLCA_TRAJ_LOSS_CHANGE},
    {"fisher", "Empirical Fisher", "none", POLCA_TRAJ_FISHER},
    {"lca", "Per-sample LCA", "decrease", POLCA_TRAJ_LCA},
    {"polca_first_order", "First-order POLCA", "decrease", POLCA_TRAJ_FIRST_ORDER},
    {"polca", "POLCA", "decrease", POLCA_TRAJ_POLCA},
};

const char *const lang_setting_names[LANG_N_SETTINGS] = {"paper", "fine"};

static int cluster_method(polca_context *ctx, const lang_config *cfg, lang_analysis *an, int s, int i) {
    lang_method *m = &an->methods[s][i];
    m->name = specs[i].name, m->display = specs[i].display;
    const float *view, *exact;
    int64_t k, n, t, k1, n1, t1;
    if (lang_failed(polca_trajectories_view(an->traj, specs[i].kind, &view, &k, &n, &t), m->name) ||
        lang_failed(polca_trajectories_view(an->traj, POLCA_TRAJ_EXACT_LOSS, &exact, &k1, &n1, &t1),
                    "exact loss"))
        return 1;
    static const int64_t whole = -1;
    const int64_t *dirs = an->kept;
    int64_t count = an->n_kept;
    if (specs[i].kind == POLCA_TRAJ_LCA) dirs = an->kept_lca, count = an->n_kept_lca;
    if (specs[i].kind == POLCA_TRAJ_EXACT_LOSS || specs[i].kind == POLCA_TRAJ_LOSS_CHANGE)
        dirs = &whole, count = 1;
    m->k = count;
    m->directions = malloc(sizeof(int64_t) * (size_t)count);
    float *x = malloc(sizeof(float) * (size_t)(count * n * t));
    if (!m->directions || !x) {
        free(x);
        return 1;
    }
    for (int64_t q = 0; q < count; q++) {
        m->directions[q] = dirs[q];
        memcpy(x + q * n * t, view + (dirs[q] < 0 ? 0 : dirs[q]) * n * t, sizeof(float) * (size_t)(n * t));
    }
    polca_options *o = NULL;
    int rc = lang_failed(polca_options_create(&o), "options") ||
             set_int(o, "min_cluster_size", s ? cfg->fine_min_cluster_size : cfg->min_cluster_size) ||
             set_int(o, "min_samples_divisor", s ? cfg->fine_min_samples_divisor : cfg->min_samples_divisor) ||
             lang_failed(polca_options_set_string(o, "filter", specs[i].filter), "filter") ||
             lang_failed(polca_options_set_string(o, "normalize", cfg->normalize), "normalize");
    if (!rc && specs[i].kind == POLCA_TRAJ_LOSS_CHANGE)
        rc = lang_failed(polca_options_set_string(o, "onset_of", "cumsum"), "onset_of");
    if (!rc) rc = lang_failed(polca_clustering_create(ctx, count, n, t, x, t1, exact, o, &m->clustering),
                              m->name);
    polca_options_destroy(o);
    free(x);
    return rc;
}

/* The automatic labels of every cluster of a method, the table's counts,
 * and the chance baseline: for each cluster, random subsets of its size
 * drawn from the samples clustered (not noise) in its direction, labelled
 * by the same rule (draws per cluster: LANG_CHANCE_DRAWS). */
#define LANG_CHANCE_DRAWS 20
static int label_method(const lang_config *cfg, const lang_data *d, lang_analysis *an, lang_method *m,
                        uint64_t seed) {
    if (lang_failed(polca_clustering_shape(m->clustering, NULL, NULL, NULL, NULL, &m->n_clusters), "shape") ||
        lang_failed(polca_clustering_hidden_fraction(m->clustering, &m->hidden_fraction), "hidden fraction"))
        return 1;
    polca_options *o = NULL;
    int rc = lang_failed(polca_options_create(&o), "options") ||
             lang_failed(polca_options_set_double(o, "coverage", cfg->coverage), "coverage") ||
             set_int(o, "max_values", LANG_MAX_VALUES);
    m->labels = calloc((size_t)m->n_clusters + 1, sizeof *m->labels);
    int32_t *row_labels = malloc(sizeof(int32_t) * (size_t)an->n);
    int64_t *pool = malloc(sizeof(int64_t) * (size_t)an->n);
    int64_t *counts = malloc(sizeof(int64_t) * (size_t)d->n_tags);
    int32_t *row_has = calloc((size_t)m->k + 1, sizeof(int32_t));
    if (!m->labels || !row_labels || !pool || !counts || !row_has) rc = 1;
    uint64_t rng = seed;
    double chance = 0.0;
    for (int64_t c = 0; !rc && c < m->n_clusters; c++) {
        lang_cluster_label *l = &m->labels[c];
        int32_t values[LANG_N_POS * LANG_MAX_VALUES];
        rc = lang_failed(polca_clustering_autolabel(m->clustering, c, LANG_N_POS, an->tags, o, values,
                                                    l->n_values),
                         "autolabel");
        int64_t dir = -1, size = 0;
        if (!rc) rc = lang_failed(polca_clustering_cluster(m->clustering, c, &dir, &size, NULL, NULL,
                                                           NULL, NULL), "cluster");
        for (int p = 0; !rc && p < LANG_N_POS; p++) {
            memcpy(l->values[p], values + p * LANG_MAX_VALUES, sizeof l->values[p]);
            l->simple[p] = lang_is_simple(l->values[p], l->n_values[p], d->pad_tag, cfg->max_tags);
            l->labelled |= l->simple[p];
            m->by_position[p] += l->simple[p];
        }
        if (rc) break;
        m->n_labelled += l->labelled;
        row_has[dir] |= l->labelled;
        /* chance: subsets of the same size from the direction's clustered samples */
        rc = lang_failed(polca_clustering_labels(m->clustering, dir, row_labels, NULL, NULL, NULL),
                         "labels");
        int64_t n_pool = 0;
        for (int64_t i = 0; !rc && i < an->n; i++)
            if (row_labels[i] >= 0) pool[n_pool++] = i;
        int hits = 0;
        for (int draw = 0; !rc && draw < LANG_CHANCE_DRAWS && size <= n_pool; draw++) {
            /* partial Fisher-Yates: the first size entries of pool */
            for (int64_t j = 0; j < size; j++) {
                int64_t r = j + (int64_t)(lang_rng_next(&rng) % (uint64_t)(n_pool - j));
                int64_t tmp = pool[j];
                pool[j] = pool[r], pool[r] = tmp;
            }
            int labelled = 0;
            for (int p = 0; p < LANG_N_POS && !labelled; p++) {
                memset(counts, 0, sizeof(int64_t) * (size_t)d->n_tags);
                for (int64_t j = 0; j < size; j++) counts[an->tags[pool[j] * LANG_N_POS + p]]++;
                int32_t set[LANG_MAX_VALUES];
                int32_t nv = lang_cover(counts, d->n_tags, size, cfg->coverage, LANG_MAX_VALUES, set);
                labelled = lang_is_simple(set, nv, d->pad_tag, cfg->max_tags);
            }
            hits += labelled;
        }
        chance += (double)hits / LANG_CHANCE_DRAWS;
    }
    for (int64_t r = 0; !rc && r < m->k; r++) m->directions_labelled += row_has[r] != 0;
    m->chance_labelled = chance;
    polca_options_destroy(o);
    free(row_labels), free(pool), free(counts), free(row_has);
    return rc;
}

int lang_analyse(polca_context *ctx, polca_model *model, const lang_config *cfg,
                 const lang_data *d, polca_data *val, const lang_training *tr, lang_analysis *an) {
    memset(an, 0, sizeof *an);
    double t0 = lang_now();
    fprintf(stderr, "language: Hessian basis (Algorithm 1)\n");
    if (build_basis(ctx, model, cfg, d, tr, an)) return 1;
    an->seconds_basis = lang_now() - t0;
    for (int64_t q = 0; q < an->k; q++) {
        double lam = NAN;
        int64_t step = -1;
        polca_basis_get_info(an->basis, q, NULL, &step, NULL, &lam, NULL, NULL);
        fprintf(stderr, "  b%-2lld step %5lld  eigenvalue %.4g\n", (long long)q, (long long)step, lam);
    }
    t0 = lang_now();
    fprintf(stderr, "language: POLCA trajectories (%lld directions + %lld LCA)\n", (long long)an->k,
            (long long)an->k);
    polca_options *o = NULL;
    int rc = lang_failed(polca_options_create(&o), "options") ||
             lang_failed(polca_options_set_string(o, "curvature", cfg->curvature), "curvature") ||
             set_int(o, "fisher", 1) || set_int(o, "block", cfg->block) ||
             lang_failed(polca_trajectories_create(ctx, model, val, tr->polca_series, an->basis, an->lca,
                                                   o, &an->traj),
                         "trajectories");
    polca_options_destroy(o);
    if (rc) return 1;
    an->seconds_trajectories = lang_now() - t0;
    const int64_t *steps;
    polca_trajectories_steps(an->traj, &steps, &an->t1);
    polca_data_n_samples(val, &an->n);

    /* tags of every held-out sample: sample i is window w's position p
     * (scoring the token at p + 1); positions before the window are PAD */
    const int32_t per = cfg->ctx - 1;
    an->tags = malloc(sizeof(int32_t) * (size_t)an->n * LANG_N_POS);
    an->text_at = malloc(sizeof(int64_t) * (size_t)an->n);
    an->pos_in_window = malloc(sizeof(int32_t) * (size_t)an->n);
    if (!an->tags || !an->text_at || !an->pos_in_window || an->n != (int64_t)cfg->n_val * per) return 1;
    for (int64_t i = 0; i < an->n; i++) {
        int64_t w = i / per, p = i % per + 1; /* target position in the window */
        an->text_at[i] = w * cfg->ctx + p;
        an->pos_in_window[i] = (int32_t)p;
        for (int j = 0; j < LANG_N_POS; j++)
            an->tags[i * LANG_N_POS + j] = p - j >= 0 ? d->val_tags[w * cfg->ctx + p - j] : d->pad_tag;
    }

    if (filter_directions(an->traj, POLCA_TRAJ_POLCA, an->k, &an->kept, &an->n_kept) ||
        filter_directions(an->traj, POLCA_TRAJ_LCA, an->k, &an->kept_lca, &an->n_kept_lca))
        return 1;
    fprintf(stderr, "language: %lld of %lld directions kept (mean projected loss falls)\n",
            (long long)an->n_kept, (long long)an->k);
    if (an->n_kept == 0 || an->n_kept_lca == 0) {
        fprintf(stderr, "language: no direction left to cluster\n");
        return 1;
    }
    t0 = lang_now();
    for (int s = 0; s < LANG_N_SETTINGS && !rc; s++)
        for (int i = 0; i < LANG_N_METHODS && !rc; i++) {
            fprintf(stderr, "language: clustering %s (%s setting)\n", specs[i].name, lang_setting_names[s]);
            rc = cluster_method(ctx, cfg, an, s, i) ||
                 label_method(cfg, d, an, &an->methods[s][i],
                              cfg->seed * 1000003ULL + (uint64_t)(s * LANG_N_METHODS + i));
        }
    an->seconds_clustering = lang_now() - t0;
    if (rc) return 1;

    for (int s = 0; s < LANG_N_SETTINGS; s++) {
    printf("\nAutomatic labels (part of speech of the token and the 3 before it; coverage %g, "
           "at most %d tags besides PAD); HDBSCAN %s setting: min_cluster_size %d, min_samples = "
           "clustered tokens / %d\n", cfg->coverage, cfg->max_tags, lang_setting_names[s],
           s ? cfg->fine_min_cluster_size : cfg->min_cluster_size,
           s ? cfg->fine_min_samples_divisor : cfg->min_samples_divisor);
    printf("%-21s %8s %9s %15s %7s %7s %7s %7s %18s %7s\n", "method", "clusters", "labelled",
           "chance labelled", "token", "-1", "-2", "-3", "directions w/ label", "hidden");
    for (int i = 0; i < LANG_N_METHODS; i++) {
        const lang_method *m = &an->methods[s][i];
        printf("%-21s %8lld %9d %15.1f %7d %7d %7d %7d %12d of %-4lld %7.3f\n", m->display,
               (long long)m->n_clusters, m->n_labelled, m->chance_labelled, m->by_position[0],
               m->by_position[1], m->by_position[2], m->by_position[3], m->directions_labelled,
               (long long)m->k, m->hidden_fraction);
    }
    }
    return 0;
}

void lang_analysis_free(lang_analysis *an) {
    for (int s = 0; s < LANG_N_SETTINGS; s++)
        for (int i = 0; i < LANG_N_METHODS; i++) {
            polca_clustering_destroy(an->methods[s][i].clustering);
            free(an->methods[s][i].directions);
            free(an->methods[s][i].labels);
        }
    polca_trajectories_destroy(an->traj);
    polca_basis_destroy(an->basis);
    polca_basis_destroy(an->lca);
    free(an->kept), free(an->kept_lca), free(an->tags), free(an->text_at), free(an->pos_in_window);
}
