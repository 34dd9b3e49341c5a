/*
 * examples/arithmetic/analysis.h - after training: the Hessian basis,
 * POLCA trajectories and baselines, clustering, scoring against the carry
 * label, Table 1 and the report.
 */
#ifndef ARITH_ANALYSIS_H
#define ARITH_ANALYSIS_H

#include "experiment.h"
#include "report.h"
#include "report_late.h"

#define N_METHODS 6

/* A trajectory kind as Table 1 clusters it (analysis.c has the six). */
typedef struct method_spec {
    const char *name, *display, *filter;
    int32_t kind;
} method_spec;
extern const method_spec analysis_methods[N_METHODS];

/* The cluster-onset rule the late-skill section's hidden fractions and goal
 * use (libpolca's "cluster_onset" option; the paper's is "mean"). */
#define LATE_DEFAULT_RULE "mean"

/* The planted late skill's results (late_analysis.c), owned here. */
typedef struct late_result {
    report_late report;
    report_late_method methods[REPORT_LATE_N_NORMALIZE][N_METHODS];
    double *x, *mean_loss, *needs_loss, *cluster_projected, *cluster_exact; /* [t1] each */
    report_curve overview_curves[3], cluster_curves[1];
    report_marker overview_marks[2], cluster_marks[3];
    char caption[640];
} late_result;

/* One row of Table 1, with what the report draws from it. */
typedef struct method_result {
    const char *name, *display;
    polca_clustering *clustering; /* owned */
    int64_t *directions;          /* [k] basis index of each clustered row */
    int64_t k;
    report_method row;
} method_result;

typedef struct analysis {
    polca_basis *basis, *lca;
    polca_trajectories *traj;
    int64_t k, k_lca, n, t1;
    int64_t *kept, n_kept;         /* directions kept by Algorithm 1's filter */
    int64_t *kept_lca, n_kept_lca; /* the same filter on the LCA basis */
    int32_t *place, *carry, *tags; /* per validation sample */
    uint8_t *carry_u8;
    uint8_t *needs_late;           /* [n] needs the late skill (late runs), else NULL */
    method_result methods[N_METHODS];
    double seconds_basis, seconds_trajectories, seconds_clustering;
    late_result *late;             /* late-skill runs only, else NULL */
} analysis;

/* Clusters one kind's trajectories (its kept directions) with the run's
 * HDBSCAN settings, the given normalization and, unless NULL, the
 * "cluster_onset" rule. Returns 0 or prints why and returns 1. */
int cluster_kind(polca_context *ctx, const experiment_config *cfg, const analysis *an,
                 const method_spec *spec, const char *normalize, const char *onset_rule,
                 polca_clustering **out);

/* The late-skill section (late runs): every method under both
 * normalizations, scored for the late-skill label; prints its table.
 * final_pred: [n_val][ARITH_N_OUT] predictions of the final model. */
int analyse_late(polca_context *ctx, const experiment_config *cfg, analysis *an,
                 const int32_t *val_tokens, const int32_t *final_pred);
void late_result_free(late_result *r);

/* Runs every stage; prints progress and Table 1. Returns 0 or 1. */
int analyse(polca_context *ctx, polca_model *model, const experiment_config *cfg,
            const arith_data *data, const int32_t *val_tokens, polca_data *val,
            const training_result *tr, analysis *out);

/* Writes summary.json and report.html into cfg->out_dir. */
int write_outputs(polca_context *ctx, const experiment_config *cfg, const training_result *tr,
                  const analysis *an, const report_timing *timings, int32_t n_timings);

void analysis_free(analysis *an);

#endif
