/*
 * examples/arithmetic/experiment.h - the arithmetic experiment's settings
 * and the state passed between its stages (train.c, analysis.c, main.c).
 * Uses libpolca's public API only.
 */
#ifndef ARITH_EXPERIMENT_H
#define ARITH_EXPERIMENT_H

#include <polca/polca.h>
#include <stdint.h>

#include "addition.h"
#include "late_skill.h"

typedef struct experiment_config {
    const char *scale; /* "default" or "paper" */
    const char *out_dir;
    uint64_t seed;
    /* model */
    int32_t n_layers, d_model, n_heads, d_head, d_mlp;
    const char *act_fn;
    /* training (AdamW written in the example) */
    int32_t steps, batch;
    const char *optimizer; /* "adamw" (default) or "sgd" (momentum beta1) */
    double clip;           /* > 0: clip the gradient's norm to this */
    const char *basis;     /* "hessian" (Algorithm 1, default) or "displacement" */
    int32_t basis_scaled;  /* 1: Algorithm 1 in AdamW's geometry
                              (polca_basis_create_hessian_scaled) */
    double lr, weight_decay, beta1, beta2, eps;
    int32_t polca_every; /* POLCA checkpoint interval, steps */
    int32_t basis_every; /* basis checkpoint interval, steps */
    /* analysis */
    int32_t n_val;         /* validation sequences (samples = 4 x this) */
    int32_t n_basis_seq;   /* training sequences Algorithm 1 uses */
    int32_t k_per_basis;   /* eigenvectors per basis checkpoint */
    double eig_tol;
    int32_t eig_max_products;
    int32_t min_cluster_size;
    int32_t min_samples_divisor;
    const char *normalize; /* clustering input: "unit" (shapes) or "none" */
    int32_t smoothing;     /* onset (eq. 9): odd moving-average width, 1 = none */
    double carry_mid_share; /* Table 1's rule (Appendix G): a cluster counts for the
                               carry skill only if more than this share of its
                               carry tokens are in the 100s or 10s place; [0, 1) */
    const char *curvature; /* "exact" or "secant" */
    int32_t block;         /* directions per pass */
    /* training schedule and screening (README, "Finding a carry skill") */
    int32_t warmup;        /* linear lr warmup, steps (0: none) */
    const char *schedule;  /* lr after warmup: "constant" or "cosine" (to 0 at steps) */
    int32_t log_every;     /* > 0: per-place, per-carry validation accuracy every N steps */
    int32_t train_only;    /* 1: stop after training and the accuracy line */
    double mid_carry_keep; /* data mix: a training pair with a carry into the 10s or
                              100s place is kept with this probability (1: uniform) */
    late_skill_config late; /* the planted late skill (late_skill.h); off when
                               late.val_share is 0 */
} experiment_config;

/* 1 when the run plants the late skill ('#' problems, vocabulary 13). */
int experiment_has_late_skill(const experiment_config *c);

void experiment_config_default(experiment_config *c);
/* The paper's hyperparameters (Appendix D/E.1), for GPU machines. */
void experiment_config_paper(experiment_config *c);

typedef struct training_result {
    polca_checkpoints *polca_series; /* POLCA checkpoints, every polca_every */
    polca_checkpoints *basis_series; /* basis checkpoints, every basis_every */
    polca_checkpoints *scale_series; /* with basis_scaled: AdamW's step scale
                                        1/(sqrt(v_hat)+eps) at the basis steps */
    float *theta_final;              /* [P] */
    double val_token_accuracy;
    double val_accuracy_by_place[4];
    double final_train_loss;
} training_result;

/* Trains the model on fresh batches, appending checkpoints to files in
 * cfg->out_dir as it goes. Returns 0 or prints why and returns 1. */
int train(polca_context *ctx, polca_model *model, const experiment_config *cfg,
          const arith_data *data, training_result *out);

/* Predicted token (argmax over the vocabulary, teacher forcing) at every
 * scored position of n sequences: pred out [n][ARITH_N_OUT]. */
int predict_tokens(polca_context *ctx, polca_model *model, const int32_t *tokens, int32_t n,
                   const float *theta, int32_t *pred);

/* Token accuracy of theta on the validation data: for every scored
 * position the argmax over the vocabulary (teacher forcing). */
int token_accuracy(polca_context *ctx, polca_model *model, const int32_t *val_tokens,
                   int32_t n_val, const float *theta, double *overall, double by_place[4]);

/* Seconds on a monotonic clock. */
double now_seconds(void);

/* Prints "arithmetic: <what>: <status>: <message>" and returns 1 on a
 * failed libpolca call, 0 on success. */
int failed(int32_t status, const char *what);

#endif
