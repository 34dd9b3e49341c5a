/*
 * examples/arithmetic/report_late.h - the planted late skill's section of
 * summary.json and report.html (late_skill.h has the setting; README "A
 * hidden breakthrough with ground truth" how to read it).
 *
 * Example code, not part of libpolca's ABI. Plain structs, borrowed for the
 * duration of the call, as in report.h.
 */
#ifndef ARITH_REPORT_LATE_H
#define ARITH_REPORT_LATE_H

#include <stdint.h>
#include <stdio.h>

#include "report.h"

#define REPORT_LATE_N_NORMALIZE 2 /* "none" (the paper's clustering), "unit" */
#define REPORT_LATE_N_RULES 3     /* cluster onset: "mean", "median", "mean_curve" */

/* One method under one clustering: its best cluster for the late-skill
 * label (highest homogeneity; ties: the lower index). Steps are training
 * steps; NaN (null) when there is no cluster. */
typedef struct report_late_method {
    const char *name;       /* summary.json key, as in Table 1 */
    const char *display;
    int32_t n_clusters;
    double hidden_fraction; /* eq. 10 over all its clusters, the default onset rule */
    double homogeneity, recall, f1;
    int32_t size;           /* members of the best cluster, 0 = none */
    int32_t direction;      /* its basis index; -1 for the whole-loss methods or no cluster */
    double onset_step[REPORT_LATE_N_RULES]; /* its onset under each rule */
    int32_t meets_goal;     /* homogeneity >= 0.8, onset (default rule) after
                               tau and within 10% of the steps of the ground truth */
} report_late_method;

typedef struct report_late {
    /* the setting (late_skill.h) */
    const char *rule_text; /* what '#' does, one clause ("the sum with ...") */
    int32_t n_needs_places;
    const char *needs_places[4]; /* the digit places of a '#' problem whose
                                    tokens need the skill ("100s", "10s") */
    double val_share, train_share;
    int32_t from_step, steps;
    double needs_fraction;  /* scored tokens that need the skill */
    double max_mean_drop;   /* needs_fraction * ln 2: the most the skill can lower the mean loss */
    double plateau_band;    /* eps * D of the mean exact loss */
    /* measured */
    double tau_step;        /* the plateau of the mean exact loss (eq. 10's tau) */
    double truth_step;      /* ground-truth onset (late_ground_truth_column); NaN: never */
    double needs_accuracy;  /* final token accuracy of the tokens that need the skill */
    const char *default_rule;                      /* one of rules[] */
    const char *rules[REPORT_LATE_N_RULES];        /* "mean", "median", "mean_curve" */
    const char *normalize[REPORT_LATE_N_NORMALIZE]; /* "none", "unit" */
    int32_t n_methods;
    const report_late_method *methods[REPORT_LATE_N_NORMALIZE]; /* [n_methods] each */
    /* The figure, two panels side by side: the mean exact loss of all
     * tokens, of the tokens that need the skill and of the members of
     * POLCA's best late-skill cluster, with tau and the ground truth marked;
     * that cluster's mean projected loss along its direction, with its
     * onset, tau and the ground truth marked. */
    report_panel overview, cluster;
    const char *caption; /* under the pair: which clustering the cluster is from */
} report_late;

/* summary.json's "late_skill" object, written after `"late_skill": ` (no
 * trailing comma):
 *   { "val_share", "train_share", "from_step", "steps", "needs_fraction",
 *     "max_mean_drop", "plateau_band", "tau_step", "truth_step",
 *     "needs_accuracy", "rule", "needs_places": ["100s", ...],
 *     "default_rule", "rules": [...],
 *     "clusterings": { "<normalize>": { "<method>": {
 *         "n_clusters", "hidden_fraction", "homogeneity", "recall", "f1",
 *         "size", "direction", "onset_step": {"<rule>": step, ...},
 *         "meets_goal": true|false }, ... }, ... } }
 * README "summary.json" documents each key. */
void report_late_json(FILE *f, const report_late *r);

/* report.html's section (h2, table and figure). */
void report_late_html(FILE *f, const report_late *r);

#endif /* ARITH_REPORT_LATE_H */
