/*
 * examples/arithmetic/late_analysis.c - the planted late skill after the
 * main analysis (late_skill.h): for every method, under the paper's
 * clustering (normalize "none") and under "unit", the best cluster for the
 * late-skill label, its onset under each cluster-onset rule against the
 * ground truth, and the figure of report_late.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"

static const char *const normalizations[REPORT_LATE_N_NORMALIZE] = {"none", "unit"};
static const char *const onset_rules[REPORT_LATE_N_RULES] = {"mean", "median", "mean_curve"};

static int default_rule_index(void) {
    for (int q = 0; q < REPORT_LATE_N_RULES; q++)
        if (!strcmp(onset_rules[q], LATE_DEFAULT_RULE)) return q;
    return 0;
}

/* A checkpoint column (possibly fractional: a mean of onsets) as a
 * training step, interpolating between the checkpoints' steps. */
static double column_step(const int64_t *steps, int64_t t1, double column) {
    if (!isfinite(column) || column < 0 || column > (double)(t1 - 1)) return NAN;
    int64_t lo = (int64_t)floor(column), hi = lo + 1 < t1 ? lo + 1 : lo;
    return (double)steps[lo] + (column - (double)lo) * (double)(steps[hi] - steps[lo]);
}

/* The best cluster (highest finite homogeneity, the lower index on ties) of
 * a clustering for the label, or -1. */
static int64_t best_cluster(const polca_clustering *cl, const uint8_t *label, double *h,
                            double *rec, double *f1, int64_t nc) {
    if (nc == 0 || failed(polca_clustering_score(cl, label, h, rec, f1), "late-skill score"))
        return -1;
    int64_t best = -1;
    for (int64_t g = 0; g < nc; g++)
        if (isfinite(h[g]) && (best < 0 || h[g] > h[best])) best = g;
    return best;
}

/* One method under one normalization: fills row. *cl_out: the clustering
 * scored, made with the default onset rule - Table 1's own when that one
 * fits, else a new one the caller destroys; *best_out: its best cluster for
 * the label, or -1. */
static int late_method(polca_context *ctx, const experiment_config *cfg, analysis *an, int m,
                       const char *normalize, const int64_t *steps, double truth_step,
                       report_late_method *row, polca_clustering **cl_out, int64_t *best_out) {
    method_result *tm = &an->methods[m];
    const method_spec *spec = &analysis_methods[m];
    memset(row, 0, sizeof *row);
    row->name = tm->name, row->display = tm->display;
    row->homogeneity = row->recall = row->f1 = row->hidden_fraction = NAN, row->direction = -1;
    for (int q = 0; q < REPORT_LATE_N_RULES; q++) row->onset_step[q] = NAN;
    *cl_out = NULL;
    *best_out = -1;
    polca_clustering *cl = tm->clustering;
    if ((strcmp(normalize, cfg->normalize) != 0 || strcmp(LATE_DEFAULT_RULE, "mean") != 0) &&
        cluster_kind(ctx, cfg, an, spec, normalize, LATE_DEFAULT_RULE, &cl))
        return 1;
    *cl_out = cl;
    int64_t nc = 0;
    if (failed(polca_clustering_shape(cl, NULL, NULL, NULL, NULL, &nc), "shape") ||
        failed(polca_clustering_hidden_fraction(cl, &row->hidden_fraction), "hidden fraction"))
        return 1;
    row->n_clusters = (int32_t)nc;
    double *buf = malloc(sizeof(double) * 3 * (size_t)(nc + 1));
    if (!buf) return 1;
    int64_t best = best_cluster(cl, an->needs_late, buf, buf + nc + 1, buf + 2 * (nc + 1), nc);
    *best_out = best;
    if (best >= 0) {
        row->homogeneity = buf[best], row->recall = buf[nc + 1 + best];
        row->f1 = buf[2 * (nc + 1) + best];
        int64_t dir = 0, size = 0;
        double onset = NAN;
        polca_clustering_cluster(cl, best, &dir, &size, NULL, &onset, NULL, NULL);
        row->size = (int32_t)size;
        row->direction = tm->directions && spec->kind != POLCA_TRAJ_EXACT_LOSS &&
                                 spec->kind != POLCA_TRAJ_LOSS_CHANGE
                             ? (int32_t)tm->directions[dir]
                             : -1;
        /* the same memberships under the other onset rules: HDBSCAN does not
         * depend on the rule, so the best cluster keeps its index */
        for (int q = 0; q < REPORT_LATE_N_RULES; q++) {
            double on = onset;
            if (strcmp(onset_rules[q], LATE_DEFAULT_RULE) != 0) {
                polca_clustering *other = NULL;
                if (cluster_kind(ctx, cfg, an, spec, normalize, onset_rules[q], &other)) {
                    free(buf);
                    return 1;
                }
                polca_clustering_cluster(other, best, NULL, NULL, NULL, &on, NULL, NULL);
                polca_clustering_destroy(other);
            }
            row->onset_step[q] = column_step(steps, an->t1, on);
        }
    }
    free(buf);
    double tau = NAN;
    polca_clustering_plateau(cl, &tau);
    double on = row->onset_step[default_rule_index()], tau_step = column_step(steps, an->t1, tau);
    row->meets_goal = best >= 0 && row->homogeneity >= 0.8 && on > tau_step &&
                      fabs(on - truth_step) <= 0.1 * cfg->steps;
    return 0;
}

/* The figure: mean exact loss of all tokens and of the tokens that need the
 * skill; POLCA's best late-skill cluster (its mean projected loss and its
 * members' mean exact loss), with its onset. */
static void late_figure(late_result *L, const analysis *an, const polca_clustering *cl,
                        int64_t best, const report_late_method *row, const char *normalize,
                        double tau_step) {
    report_late *r = &L->report;
    const int64_t t1 = an->t1;
    L->overview_curves[0] =
        (report_curve){"all scored tokens", (int32_t)t1, L->x, L->mean_loss, NULL, 0};
    L->overview_curves[1] = (report_curve){"tokens that need the late skill", (int32_t)t1, L->x,
                                           L->needs_loss, NULL, 0};
    L->overview_marks[0] = (report_marker){"τ", tau_step, -1, 0};
    L->overview_marks[1] = (report_marker){"ground truth", r->truth_step, 1, 1};
    r->overview = (report_panel){"Mean exact loss", "training step", "loss", 1, 2,
                                 L->overview_curves, 2, L->overview_marks};
    int n_curves = 0;
    if (cl && best >= 0) {
        int64_t size = 0, k1, n1, tt;
        const float *exact;
        polca_clustering_cluster(cl, best, NULL, &size, NULL, NULL, NULL, NULL);
        polca_trajectories_view(an->traj, POLCA_TRAJ_EXACT_LOSS, &exact, &k1, &n1, &tt);
        float *mean = malloc(sizeof(float) * t1);
        int64_t *members = malloc(sizeof(int64_t) * (size_t)(size + 1));
        if (mean && members && size > 0 && !polca_clustering_mean(cl, best, mean) &&
            !polca_clustering_members(cl, best, members)) {
            for (int64_t u = 0; u < t1; u++) {
                double sum = 0.0;
                for (int64_t i = 0; i < size; i++) sum += exact[members[i] * t1 + u];
                L->cluster_projected[u] = mean[u];
                L->cluster_exact[u] = sum / (double)size;
            }
            n_curves = 1;
        }
        free(mean), free(members);
        snprintf(L->caption, sizeof L->caption,
                 "Left: mean exact loss of all scored tokens, of the tokens that need the late "
                 "skill and of the members of POLCA's best late-skill cluster (log scale). Right: "
                 "that cluster's mean projected loss along its direction (normalize %s, direction "
                 "b%d, %d members, homogeneity %.3f); dashed: its onset (%s rule) and the ground "
                 "truth; solid: τ.",
                 normalize, (int)row->direction, (int)size, row->homogeneity, LATE_DEFAULT_RULE);
    } else {
        snprintf(L->caption, sizeof L->caption,
                 "Left: mean exact loss of all scored tokens and of the tokens that need the late "
                 "skill (log scale). Right: empty, POLCA formed no cluster in either clustering.");
    }
    L->overview_curves[2] = (report_curve){"members of POLCA's cluster", (int32_t)t1, L->x,
                                           L->cluster_exact, NULL, 1};
    r->overview.n_curves = 2 + n_curves;
    L->cluster_curves[0] =
        (report_curve){"mean projected loss", (int32_t)t1, L->x, L->cluster_projected, NULL, 0};
    L->cluster_marks[0] =
        (report_marker){"onset", row ? row->onset_step[default_rule_index()] : NAN, 0, 1};
    L->cluster_marks[1] = (report_marker){"ground truth", r->truth_step, -1, 1};
    L->cluster_marks[2] = (report_marker){"τ", tau_step, -1, 0};
    r->cluster = (report_panel){"POLCA's late-skill cluster", "training step", "projected loss",
                                0, n_curves, L->cluster_curves, n_curves ? 3 : 0,
                                L->cluster_marks};
    r->caption = L->caption;
}

static void print_table(const report_late *r) {
    printf("\nHidden breakthrough with ground truth (late skill '#'; %.3f of the scored tokens need "
           "it; it can lower the mean loss by at most %.3f, plateau band %.3f)\n"
           "tau = step %.0f, ground truth = step %.0f, final accuracy of the late-skill tokens "
           "%.3f; onsets in steps, goal: homogeneity >= 0.8, onset (%s) after tau and within "
           "%d steps of the ground truth\n",
           r->needs_fraction, r->max_mean_drop, r->plateau_band, r->tau_step, r->truth_step,
           r->needs_accuracy, r->default_rule, (int)lround(0.1 * r->steps));
    printf("%-9s %-21s %8s %6s %6s %6s %6s %5s %5s %7s %7s %7s %s\n", "normalize", "method",
           "clusters", "hidden", "homog", "recall", "F1", "size", "dir", r->rules[0], r->rules[1],
           r->rules[2], "goal");
    for (int z = 0; z < REPORT_LATE_N_NORMALIZE; z++)
        for (int32_t m = 0; m < r->n_methods; m++) {
            const report_late_method *me = &r->methods[z][m];
            char dir[16] = "-";
            if (me->direction >= 0) snprintf(dir, sizeof dir, "b%d", (int)me->direction);
            if (me->size == 0)
                printf("%-9s %-21s %8d %6.3f %s\n", r->normalize[z], me->display, (int)me->n_clusters,
                       me->hidden_fraction, "no cluster");
            else
                printf("%-9s %-21s %8d %6.3f %6.3f %6.3f %6.3f %5d %5s %7.0f %7.0f %7.0f %s\n",
                       r->normalize[z], me->display, (int)me->n_clusters, me->hidden_fraction,
                       me->homogeneity, me->recall, me->f1, (int)me->size, dir, me->onset_step[0],
                       me->onset_step[1], me->onset_step[2], me->meets_goal ? "met" : "not met");
        }
}

int analyse_late(polca_context *ctx, const experiment_config *cfg, analysis *an,
                 const int32_t *val_tokens, const int32_t *final_pred) {
    const int64_t t1 = an->t1, n = an->n;
    late_result *L = calloc(1, sizeof *L);
    if (!L) return 1;
    an->late = L;
    double *buf = malloc(sizeof(double) * 5 * (size_t)t1);
    if (!buf) return 1;
    L->x = buf, L->mean_loss = buf + t1, L->needs_loss = buf + 2 * t1;
    L->cluster_projected = buf + 3 * t1, L->cluster_exact = buf + 4 * t1;
    const int64_t *steps;
    const float *exact;
    int64_t k1, n1, tt, t_steps;
    polca_trajectories_steps(an->traj, &steps, &t_steps);
    polca_trajectories_view(an->traj, POLCA_TRAJ_EXACT_LOSS, &exact, &k1, &n1, &tt);
    for (int64_t u = 0; u < t1; u++) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += exact[i * t1 + u];
        L->x[u] = (double)steps[u];
        L->mean_loss[u] = sum / (double)n;
    }
    report_late *r = &L->report;
    int32_t truth = late_ground_truth_column(n, t1, exact, an->needs_late, L->needs_loss);
    int64_t n_needs = 0, right = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!an->needs_late[i]) continue;
        n_needs++;
        int64_t s = i / ARITH_N_OUT, q = i % ARITH_N_OUT;
        right += final_pred[i] == val_tokens[s * ARITH_N_CTX + ARITH_FIRST_SCORED + 1 + q];
    }
    double tau = NAN;
    polca_clustering_plateau(an->methods[0].clustering, &tau);
    r->rule_text = late_rule_text(cfg->late.rule);
    for (int q = 0; q < ARITH_N_OUT; q++)
        if (late_rule_needs_place(cfg->late.rule, q))
            r->needs_places[r->n_needs_places++] = arith_place_name(q);
    r->val_share = cfg->late.val_share, r->train_share = cfg->late.train_share;
    r->from_step = cfg->late.from_step, r->steps = cfg->steps;
    r->needs_fraction = (double)n_needs / (double)n;
    r->max_mean_drop = r->needs_fraction * log(2.0);
    r->plateau_band = 0.05 * fabs(L->mean_loss[0] - L->mean_loss[t1 - 1]); /* eps: the default */
    r->tau_step = column_step(steps, t1, tau);
    r->truth_step = truth >= 0 ? (double)steps[truth] : NAN;
    r->needs_accuracy = n_needs ? (double)right / (double)n_needs : NAN;
    r->default_rule = LATE_DEFAULT_RULE;
    for (int q = 0; q < REPORT_LATE_N_RULES; q++) r->rules[q] = onset_rules[q];
    r->n_methods = N_METHODS;

    int rc = 0, fig_z = -1;
    polca_clustering *fig_cl = NULL;
    int64_t fig_best = -1;
    for (int z = 0; z < REPORT_LATE_N_NORMALIZE && !rc; z++) {
        r->normalize[z] = normalizations[z];
        r->methods[z] = L->methods[z];
        for (int m = 0; m < N_METHODS && !rc; m++) {
            polca_clustering *cl = NULL;
            int64_t best = -1;
            fprintf(stderr, "arithmetic: late skill, %s, normalize %s\n", analysis_methods[m].name,
                    normalizations[z]);
            rc = late_method(ctx, cfg, an, m, normalizations[z], steps, r->truth_step,
                             &L->methods[z][m], &cl, &best);
            int owned = cl && cl != an->methods[m].clustering;
            if (!rc && m == N_METHODS - 1 && fig_z < 0 && best >= 0) {
                fig_z = z, fig_best = best, fig_cl = cl;
                owned = 0; /* kept for the figure */
            }
            if (owned) polca_clustering_destroy(cl);
        }
    }
    if (!rc) {
        late_figure(L, an, fig_cl, fig_best, fig_z >= 0 ? &L->methods[fig_z][N_METHODS - 1] : NULL,
                    fig_z >= 0 ? normalizations[fig_z] : "", r->tau_step);
        print_table(r);
    }
    if (fig_cl && fig_cl != an->methods[N_METHODS - 1].clustering) polca_clustering_destroy(fig_cl);
    return rc;
}

void late_result_free(late_result *r) {
    if (!r) return;
    free(r->x);
    free(r);
}
