/*
 * examples/arithmetic/analysis.h - after training: the Hessian basis,
 * POLCA trajectories and baselines, clustering, scoring against the carry
 * label, Table 1 and the report.
 */
#ifndef ARITH_ANALYSIS_H
#define ARITH_ANALYSIS_H

#include "experiment.h"
#include "report.h"

#define N_METHODS 6

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
    method_result methods[N_METHODS];
    double seconds_basis, seconds_trajectories, seconds_clustering;
} analysis;

/* Runs every stage; prints progress and Table 1. Returns 0 or 1. */
int analyse(polca_context *ctx, polca_model *model, const experiment_config *cfg,
            const arith_data *data, const int32_t *val_tokens, polca_data *val,
            const training_result *tr, analysis *out);

/* Writes summary.json and report.html into cfg->out_dir. */
int write_outputs(polca_context *ctx, const experiment_config *cfg, const training_result *tr,
                  const analysis *an, const report_timing *timings, int32_t n_timings);

void analysis_free(analysis *an);

#endif
