/*
 * examples/arithmetic/outputs.c - fills report.h's structs from the
 * analysis: exact loss by digit place, the top POLCA directions' cluster
 * curves with onsets and the plateau, Table 1, the directions that gave
 * digit-place and carry clusters; writes summary.json and report.html.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "labels.h"

#define MAX_FIGURES 3
#define MAX_CURVES 6

/* Everything a figure pair points into, owned here until the files exist. */
typedef struct figure_store {
    report_curve proj[MAX_CURVES], exact[MAX_CURVES];
    report_marker proj_marks[MAX_CURVES + 1], exact_marks[MAX_CURVES + 1];
    double *y[2 * MAX_CURVES];
    char labels[MAX_CURVES][160], onset_labels[MAX_CURVES][32];
    char title[160];
    char caption[512];
} figure_store;

/* A cluster's automatic label in words (labels.h), e.g. "carry into the
 * 10s", "1000s digit"; "mixed" when the tags do not describe it. */
static void describe_cluster(const analysis *an, const polca_clustering *cl, int64_t c, char *out,
                             size_t len, int *is_place, int *is_carry) {
    int32_t values[ARITH_N_TAGS * 2], n_values[ARITH_N_TAGS];
    *is_place = *is_carry = 0;
    if (polca_clustering_autolabel(cl, c, ARITH_N_TAGS, an->tags, NULL, values, n_values)) {
        snprintf(out, len, "mixed");
        return;
    }
    arith_cluster_words(values, n_values, 2, out, len, is_place, is_carry);
}

/* The figure pair of clustering row `row` (a basis direction) of POLCA. */
static void fill_figure(const analysis *an, const method_result *m, int64_t row, const double *x,
                        double tau, figure_store *fs, report_direction_figure *fig) {
    const polca_clustering *cl = m->clustering;
    const int64_t t = an->t1;
    int64_t nc = 0, k1, n1, t1;
    const float *exact;
    polca_clustering_shape(cl, NULL, NULL, NULL, NULL, &nc);
    polca_trajectories_view(an->traj, POLCA_TRAJ_EXACT_LOSS, &exact, &k1, &n1, &t1);
    float *mean = malloc(sizeof(float) * t);
    int64_t *members = malloc(sizeof(int64_t) * an->n);
    int n = 0, in_row = 0, no_onset = 0;
    for (int64_t c = 0; c < nc; c++) {
        int64_t dir = -1;
        polca_clustering_cluster(cl, c, &dir, NULL, NULL, NULL, NULL, NULL);
        in_row += dir == row;
    }
    for (int64_t c = 0; c < nc && n < MAX_CURVES; c++) {
        int64_t dir = -1, size = 0;
        double onset = NAN;
        polca_clustering_cluster(cl, c, &dir, &size, NULL, &onset, NULL, NULL);
        if (dir != row || size == 0) continue;
        double *yp = malloc(sizeof(double) * t), *ye = calloc(t, sizeof(double));
        polca_clustering_mean(cl, c, mean);
        polca_clustering_members(cl, c, members);
        for (int64_t s = 0; s < t; s++) yp[s] = mean[s];
        for (int64_t i = 0; i < size; i++)
            for (int64_t s = 0; s < t; s++) ye[s] += exact[members[i] * t + s] / (double)size;
        fs->y[2 * n] = yp, fs->y[2 * n + 1] = ye;
        int place, carry;
        char what[64];
        describe_cluster(an, cl, c, what, sizeof what, &place, &carry);
        snprintf(fs->labels[n], sizeof fs->labels[n], "c%lld, %lld tokens: %s", (long long)c,
                 (long long)size, what);
        snprintf(fs->onset_labels[n], sizeof fs->onset_labels[n], "onset c%lld", (long long)c);
        /* onsets are checkpoint indices: draw them at that checkpoint's step */
        int64_t oi = (int64_t)lround(onset);
        double ox = isfinite(onset) && oi >= 0 && oi < t ? x[oi] : NAN;
        no_onset += !isfinite(ox);
        fs->proj[n] = (report_curve){fs->labels[n], (int32_t)t, x, yp, NULL, 0};
        fs->exact[n] = (report_curve){fs->labels[n], (int32_t)t, x, ye, NULL, 0};
        fs->proj_marks[n] = (report_marker){fs->onset_labels[n], ox, n, 1};
        fs->exact_marks[n] = (report_marker){fs->onset_labels[n], ox, n, 1};
        n++;
    }
    int64_t ti = (int64_t)lround(tau);
    double tx = isfinite(tau) && ti >= 0 && ti < t ? x[ti] : NAN;
    fs->proj_marks[n] = (report_marker){"τ", tx, -1, 0};
    fs->exact_marks[n] = (report_marker){"τ", tx, -1, 0};
    double lam = NAN;
    int64_t step = -1;
    polca_basis_get_info(an->basis, m->directions[row], NULL, &step, NULL, &lam, NULL, NULL);
    snprintf(fs->title, sizeof fs->title, "Direction b%lld (eigenvalue %.3g, basis step %lld)",
             (long long)m->directions[row], lam, (long long)step);
    fig->title = fs->title;
    /* what the pair draws, in the words of the report's own section text */
    int used = snprintf(fs->caption, sizeof fs->caption,
                        "Left: the mean projected loss of each cluster along this direction (eq. 8). "
                        "Right: the same clusters' mean exact loss, on a logarithmic axis. Dashed "
                        "vertical lines: each cluster's mean breakthrough onset in its projected "
                        "loss (eq. 9), drawn on both sides; solid: the plateau τ of the mean exact "
                        "loss.");
    if (n < in_row && used > 0 && (size_t)used < sizeof fs->caption)
        used += snprintf(fs->caption + used, sizeof fs->caption - used,
                         " The first %d of the direction's %d clusters are drawn.", n, in_row);
    if (no_onset && used > 0 && (size_t)used < sizeof fs->caption)
        snprintf(fs->caption + used, sizeof fs->caption - used,
                 " %d cluster%s no onset line (no breakthrough found).", no_onset,
                 no_onset > 1 ? "s have" : " has");
    fig->caption = fs->caption;
    fig->projected = (report_panel){"projected loss", "training step", "projected loss L_k(t)", 0, n,
                                    fs->proj, n + 1, fs->proj_marks};
    fig->exact = (report_panel){"exact loss", "training step", "loss", 1, n, fs->exact, n + 1,
                                fs->exact_marks};
    free(mean), free(members);
}

/* Which POLCA directions gave digit-place and carry clusters; texts[r]:
 * row r's cluster labels (owned by the caller, freed with free()). */
static void fill_direction_rows(const analysis *an, const method_result *m,
                                report_direction_row *rows, char **texts) {
    int64_t nc = 0;
    polca_clustering_shape(m->clustering, NULL, NULL, NULL, NULL, &nc);
    int32_t *labels = malloc(sizeof(int32_t) * an->n);
    for (int64_t r = 0; r < m->k; r++) {
        report_direction_row *row = &rows[r];
        memset(row, 0, sizeof *row);
        row->direction = (int32_t)m->directions[r];
        polca_clustering_labels(m->clustering, r, labels, NULL, NULL, NULL);
        for (int64_t i = 0; i < an->n; i++) row->n_kept += labels[i] != -2;
        int64_t in_row = 0;
        for (int64_t c = 0; c < nc; c++) {
            int64_t dir = -1;
            polca_clustering_cluster(m->clustering, c, &dir, NULL, NULL, NULL, NULL, NULL);
            in_row += dir == r;
        }
        /* "; c<id>: " and a label of under 64 bytes per cluster: whole */
        size_t cap = (size_t)in_row * 96 + 1, used = 0;
        texts[r] = malloc(cap);
        if (texts[r]) texts[r][0] = 0;
        for (int64_t c = 0; texts[r] && c < nc; c++) {
            int64_t dir = -1;
            polca_clustering_cluster(m->clustering, c, &dir, NULL, NULL, NULL, NULL, NULL);
            if (dir != r) continue;
            int place, carry;
            char what[64];
            describe_cluster(an, m->clustering, c, what, sizeof what, &place, &carry);
            row->n_clusters++;
            row->digit_place |= place;
            row->carry |= carry;
            if (used < cap)
                used += (size_t)snprintf(texts[r] + used, cap - used, "%sc%lld: %s", used ? "; " : "",
                                         (long long)c, what);
        }
        row->labels = texts[r];
    }
    free(labels);
}

int write_outputs(polca_context *ctx, const experiment_config *cfg, const training_result *tr,
                  const analysis *an, const report_timing *timings, int32_t n_timings) {
    const int64_t *steps;
    int64_t t1;
    const float *exact;
    int64_t k1, n1, tt;
    polca_trajectories_steps(an->traj, &steps, &t1);
    polca_trajectories_view(an->traj, POLCA_TRAJ_EXACT_LOSS, &exact, &k1, &n1, &tt);
    double *x = malloc(sizeof(double) * t1);
    for (int64_t s = 0; s < t1; s++) x[s] = (double)steps[s];

    /* exact loss by digit place */
    double *by_place = malloc(sizeof(double) * 4 * t1);
    arith_group_mean((int32_t)an->n, (int32_t)t1, exact, an->place, 4, by_place);
    report_curve place_curves[4];
    for (int q = 0; q < 4; q++)
        place_curves[q] = (report_curve){arith_place_name(q), (int32_t)t1, x, by_place + q * t1,
                                         NULL, 0};
    const method_result *polca = &an->methods[N_METHODS - 1];
    double tau = NAN;
    polca_clustering_plateau(polca->clustering, &tau);
    int64_t ti = (int64_t)lround(tau);
    report_marker tau_mark = {"τ", isfinite(tau) && ti >= 0 && ti < t1 ? x[ti] : NAN, -1, 0};
    report_panel place_panel = {"Exact loss by digit place", "training step", "loss", 1, 4,
                                place_curves, 1, &tau_mark};

    /* figures: the directions of POLCA's best carry clusters, under the paper's rule first,
     * then unrestricted */
    figure_store *stores = calloc(MAX_FIGURES, sizeof *stores);
    report_direction_figure figs[MAX_FIGURES];
    int n_figs = 0;
    int64_t rows_used[MAX_FIGURES];
    const report_scores *by[2] = {&polca->row.faithful, &polca->row.unrestricted};
    for (int q = 0; q < 2 * REPORT_MAX_BEST && n_figs < MAX_FIGURES; q++) {
        const report_scores *sc = by[q / REPORT_MAX_BEST];
        if (q % REPORT_MAX_BEST >= sc->n_best) continue;
        int64_t row = -1;
        for (int64_t r = 0; r < polca->k; r++)
            if (polca->directions[r] == sc->direction[q % REPORT_MAX_BEST]) row = r;
        int seen = 0;
        for (int f = 0; f < n_figs; f++) seen |= rows_used[f] == row;
        if (row < 0 || seen) continue;
        rows_used[n_figs] = row;
        fill_figure(an, polca, row, x, tau, &stores[n_figs], &figs[n_figs]);
        n_figs++;
    }

    report_direction_row *drows = calloc((size_t)polca->k + 1, sizeof *drows);
    char **texts = calloc((size_t)polca->k + 1, sizeof *texts);
    fill_direction_rows(an, polca, drows, texts);

    report_method methods[N_METHODS];
    for (int i = 0; i < N_METHODS; i++) methods[i] = an->methods[i].row;

    char model_text[128];
    snprintf(model_text, sizeof model_text, "%d layers, d_model %d, %d heads (d_head %d), d_mlp %d, %s",
             cfg->n_layers, cfg->d_model, cfg->n_heads, cfg->d_head, cfg->d_mlp, cfg->act_fn);
    report_kv config[] = {
        {"scale", cfg->scale, NAN},
        {"model", model_text, NAN},
        {"seed", NULL, (double)cfg->seed},
        {"steps", NULL, cfg->steps},
        {"batch", NULL, cfg->batch},
        {"lr", NULL, cfg->lr},
        {"weight_decay", NULL, cfg->weight_decay},
        {"warmup", NULL, cfg->warmup},
        {"schedule", cfg->schedule, NAN},
        {"mid_carry_keep", NULL, cfg->mid_carry_keep},
        {"polca_every", NULL, cfg->polca_every},
        {"basis_every", NULL, cfg->basis_every},
        {"k_per_basis_checkpoint", NULL, cfg->k_per_basis},
        {"basis_sequences", NULL, cfg->n_basis_seq},
        {"validation_sequences", NULL, cfg->n_val},
        {"curvature", cfg->curvature, NAN},
        {"min_cluster_size", NULL, cfg->min_cluster_size},
        {"min_samples_divisor", NULL, cfg->min_samples_divisor},
        {"normalize", cfg->normalize, NAN},
        {"onset_smoothing", NULL, cfg->smoothing},
        {"carry_mid_share", NULL, cfg->carry_mid_share},
        {"late_val_share", NULL, cfg->late.val_share},
        {"late_train_share", NULL, cfg->late.train_share},
        {"late_from_step", NULL, cfg->late.from_step},
    };
    report_kv results[] = {
        {"directions", NULL, (double)an->k},
        {"directions_kept", NULL, (double)an->n_kept},
        {"lca_directions_kept", NULL, (double)an->n_kept_lca},
        {"checkpoints", NULL, (double)t1},
        {"plateau_tau_step", NULL, tau_mark.x},
        {"final_train_loss", NULL, tr->final_train_loss},
        {"val_accuracy_1000s", NULL, tr->val_accuracy_by_place[0]},
        {"val_accuracy_100s", NULL, tr->val_accuracy_by_place[1]},
        {"val_accuracy_10s", NULL, tr->val_accuracy_by_place[2]},
        {"val_accuracy_1s", NULL, tr->val_accuracy_by_place[3]},
    };
    const char *backend = NULL, *device = NULL;
    polca_context_backend(ctx, &backend);
    polca_context_device(ctx, &device);
    const char *notes[] = {
        "Carry label: the token receives a carry from the place below it (counting the carry "
        "chain). Homogeneity, recall and F1 are over non-noise samples of the clustering "
        "(Appendix G); the best three clusters over all kept directions are shown. The paper's "
        "rule (Appendix G) counts a cluster for the carry skill only if more than carry_mid_share "
        "of its carry tokens are in the 100s or 10s place; the unrestricted columns count every "
        "cluster, including those of carries into the 1000s place (the sum starting with 1).",
        "Filter (Algorithm 1): directions whose mean projected loss rises over training are "
        "dropped; per direction only samples whose projected loss decreases are clustered.",
    };
    report_data d = {
        .title = "libpolca: the arithmetic experiment (paper section 4)",
        .backend = backend,
        .device = device,
        .val_token_accuracy = tr->val_token_accuracy,
        .n_config = (int32_t)(sizeof config / sizeof config[0]),
        .config = config,
        .n_results = (int32_t)(sizeof results / sizeof results[0]),
        .results = results,
        .n_timings = n_timings,
        .timings = timings,
        .n_methods = N_METHODS,
        .methods = methods,
        .place_curves = &place_panel,
        .n_direction_rows = (int32_t)polca->k,
        .direction_rows = drows,
        .n_figures = n_figs,
        .figures = figs,
        .n_notes = 2,
        .notes = notes,
        .late = an->late ? &an->late->report : NULL,
    };
    char path[600];
    int rc = 0;
    snprintf(path, sizeof path, "%s/summary.json", cfg->out_dir);
    if (report_write_summary_json(path, &d)) {
        fprintf(stderr, "arithmetic: %s: %s\n", path, report_error());
        rc = 1;
    }
    snprintf(path, sizeof path, "%s/report.html", cfg->out_dir);
    if (!rc && report_write_html(path, &d)) {
        fprintf(stderr, "arithmetic: %s: %s\n", path, report_error());
        rc = 1;
    }
    if (!rc) fprintf(stderr, "arithmetic: wrote %s/summary.json and %s/report.html\n",
                     cfg->out_dir, cfg->out_dir);
    for (int f = 0; f < MAX_FIGURES; f++)
        for (int c = 0; c < 2 * MAX_CURVES; c++) free(stores[f].y[c]);
    for (int64_t r = 0; texts && r < polca->k; r++) free(texts[r]);
    free(stores), free(drows), free(texts), free(x), free(by_place);
    return rc;
}
