/*
 * examples/language/analysis.h - after training: the Hessian basis, POLCA
 * and the baselines on the held-out tokens, HDBSCAN per direction, the
 * automatic part-of-speech labels and the label table; the outputs.
 */
#ifndef LANG_ANALYSIS_H
#define LANG_ANALYSIS_H

#include "../arithmetic/report.h"
#include "language.h"

typedef struct lang_training {
    polca_checkpoints *polca_series, *basis_series;
    float *theta_final;
    double final_train_loss, final_val_loss;
} lang_training;

/* One row of the label table. */
typedef struct lang_method {
    const char *name, *display;
    polca_clustering *clustering; /* owned */
    int64_t *directions;          /* [k] basis index of each clustered row (-1: whole loss) */
    int64_t k;
    int64_t n_clusters;
    lang_cluster_label *labels;   /* [n_clusters] */
    int32_t n_labelled;           /* clusters with a simple label at some position */
    int32_t by_position[LANG_N_POS]; /* clusters with a simple label at each position */
    int32_t directions_labelled;  /* rows with at least one labelled cluster */
    double chance_labelled;       /* labelled random subsets of the same sizes, mean over draws */
    double hidden_fraction;
} lang_method;

/* Two HDBSCAN settings, both with the paper's filters: "paper" (its
 * min_cluster_size scaled to the sample count, min_samples = clustered
 * tokens / 15) and "fine" (smaller clusters, min_samples = tokens / 50). */
#define LANG_N_SETTINGS 2
extern const char *const lang_setting_names[LANG_N_SETTINGS];

typedef struct lang_analysis {
    polca_basis *basis, *lca;
    polca_trajectories *traj;
    int64_t k, n, t1;
    int64_t *kept, n_kept, *kept_lca, n_kept_lca;
    int32_t *tags;    /* [n][LANG_N_POS]: the tag of the token, then of the 1, 2, 3 before it */
    int64_t *text_at; /* [n] index of each sample's (target) token in the held-out text */
    int32_t *pos_in_window; /* [n] the target's position in its window (1..ctx-1) */
    lang_method methods[LANG_N_SETTINGS][LANG_N_METHODS];
    double seconds_basis, seconds_trajectories, seconds_clustering;
} lang_analysis;

int lang_analyse(polca_context *ctx, polca_model *model, const lang_config *cfg,
                 const lang_data *d, polca_data *val, const lang_training *tr, lang_analysis *an);
void lang_analysis_free(lang_analysis *an);

/* n random windows of ctx training tokens (main.c). */
void lang_draw_windows(const lang_data *d, int32_t ctx, uint64_t *rng, int32_t n, int32_t *out);

/* summary.json, report.html, tags.npy, clusters_<method>.npy (outputs.c). */
int lang_write_outputs(polca_context *ctx, const lang_config *cfg, const lang_data *d,
                       const lang_training *tr, const lang_analysis *an,
                       const report_timing *timings, int32_t n_timings);

#endif
