/*
 * examples/arithmetic/report.h - the arithmetic experiment's outputs:
 * out/arithmetic/summary.json (machine-readable) and out/arithmetic/report.html
 * (one self-contained page: inline SVG and CSS, no script, no network).
 *
 * Example code (C11 standard library, libm, and POSIX mkdir/fsync/getpid for
 * the files), not part of libpolca's ABI. The host fills plain structs from
 * libpolca's outputs; everything is borrowed for the duration of the call.
 * Numbers that are NaN or infinite are written as JSON null and skipped in
 * plots (a curve breaks at them); every string is escaped (JSON and HTML).
 *
 * Functions return 0 on success, -1 on an invalid argument, -2 on an I/O or
 * memory failure; report_error() then says what (static buffer, one thread).
 * Files are written to PATH.tmp.PID, flushed, fsynced and renamed over PATH,
 * so a reader sees the old file or the new one, never half of one.
 */
#ifndef ARITH_REPORT_H
#define ARITH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#define REPORT_MAX_BEST 3 /* Table 1: the best three clusters per method */

/* One line of a plot: points (x[i], y[i]); a point where either is not
 * finite (or y <= 0 on a log axis) is skipped and breaks the line. Legend
 * entries flow in rows under the plot; a label too long for a row wraps at
 * spaces (a word too long at characters), never past the panel's edge. */
typedef struct report_curve {
    const char *label; /* legend text; NULL or "" = not in the legend */
    int32_t n;         /* number of points, >= 0 */
    const double *x;   /* [n] */
    const double *y;   /* [n] */
    const char *color; /* CSS colour ("#0072b2"); NULL = palette by curve index */
    int32_t dashed;    /* nonzero: dashed line */
} report_curve;

/* A vertical line across a panel at x (a breakthrough onset, the plateau
 * tau). Its label sits above the plot area, centred on the line: labels
 * that would touch go to rows further up, so they never cover each other
 * or a curve (the panel grows to fit). Not drawn when x is not finite.
 * The place-curve caption reads dashed lines as breakthrough onsets and
 * solid ones as the plateau tau of the mean exact loss. */
typedef struct report_marker {
    const char *label; /* e.g. "onset c2", "τ"; NULL = no label */
    double x;
    int32_t curve;     /* index of a curve of the same panel whose colour it
                          takes, or -1: dark grey */
    int32_t dashed;    /* nonzero: dashed (the default look for onsets);
                          zero: solid (use it for tau) */
} report_marker;

/* One plot. */
typedef struct report_panel {
    const char *title;
    const char *x_label; /* e.g. "training step" */
    const char *y_label; /* e.g. "projected loss" */
    int32_t log_y;       /* nonzero: logarithmic y axis (base 10) */
    int32_t n_curves;
    const report_curve *curves;   /* [n_curves] */
    int32_t n_markers;
    const report_marker *markers; /* [n_markers] */
} report_panel;

/* For one top direction: its clusters' mean projected loss beside the same
 * clusters' mean exact loss (the paper's Figure 4), drawn side by side. */
typedef struct report_direction_figure {
    const char *title;   /* e.g. "Direction 1 (eigenvalue 3.2, basis step 200)" */
    const char *caption; /* free text under the pair; NULL = none */
    report_panel projected;
    report_panel exact;
} report_direction_figure;

/* The best clusters of one method for the carry label, best first. */
typedef struct report_scores {
    int32_t n_best;      /* 0..REPORT_MAX_BEST valid entries below */
    double homogeneity[REPORT_MAX_BEST];
    double recall[REPORT_MAX_BEST];
    double f1[REPORT_MAX_BEST];
    int32_t direction[REPORT_MAX_BEST]; /* basis index of each cluster, -1
                                           for the whole-loss methods */
    double mid_share[REPORT_MAX_BEST];  /* fraction of the cluster's carry
                                           tokens in the 100s or 10s place
                                           (NaN: unknown, null in JSON) */
} report_scores;

/* One row of Table 1: a trajectory type ("method") and its best clusters
 * for the carry label, scored two ways. */
typedef struct report_method {
    const char *name;    /* summary.json key: exact_loss, loss_change, fisher,
                            lca, polca_first_order, polca */
    const char *display; /* table text, e.g. "POLCA"; NULL = name */
    /* The paper's scoring (Appendix G,
     * docs/method.md#the-carry-scores-exclusion-rule): only clusters where
     * more than carry_mid_share of the carry tokens are in the 100s or 10s
     * place count. */
    report_scores faithful;
    /* Every cluster counts (the carry into the 1000s place, i.e. "the sum
     * starts with 1", included). */
    report_scores unrestricted;
    int32_t n_eligible;     /* clusters the rule keeps; -1 = unknown */
    double hidden_fraction; /* fraction of clusters with hidden breakthroughs
                               (NaN: unknown, written as null) */
    int32_t n_clusters;     /* over all kept directions; -1 = unknown */
} report_method;

/* What one direction's clusters turned out to be: the page lists which
 * directions gave digit-place clusters (and carry clusters). */
typedef struct report_direction_row {
    int32_t direction;   /* basis index */
    int32_t n_kept;      /* samples whose projected loss decreased, -1 = unknown */
    int32_t n_clusters;
    int32_t digit_place; /* nonzero: some cluster is a digit-place cluster */
    int32_t carry;       /* nonzero: some cluster is a carry cluster */
    const char *labels;  /* free text, e.g. "c0: 1000s (0.98); c1: carry (0.95)" */
} report_direction_row;

/* A configuration or result entry: a string when str is non-NULL, else the
 * number num (null in JSON when not finite). */
typedef struct report_kv {
    const char *key;
    const char *str;
    double num;
} report_kv;

typedef struct report_timing {
    const char *stage; /* e.g. "train", "basis", "trajectories", "clustering" */
    double seconds;
} report_timing;

/* Everything one run reports. Arrays may be NULL when their count is 0. */
typedef struct report_data {
    const char *title;   /* page title; NULL = "libpolca: arithmetic experiment" */
    const char *backend; /* "cpu" / "cuda"; NULL = unknown (null) */
    const char *device;  /* free text; NULL = none */
    double val_token_accuracy;
    int32_t n_config;
    const report_kv *config;
    int32_t n_results; /* further results, summary.json "results" */
    const report_kv *results;
    int32_t n_timings;
    const report_timing *timings;
    int32_t n_methods;
    const report_method *methods; /* names must be distinct */
    const report_panel *place_curves; /* exact loss by digit place; NULL = none */
    int32_t n_direction_rows;
    const report_direction_row *direction_rows;
    int32_t n_figures;
    const report_direction_figure *figures;
    int32_t n_notes;
    const char *const *notes; /* paragraphs of plain text, at the end */
    const struct report_late *late; /* the planted late skill (report_late.h);
                                       NULL = the run has none */
} report_data;

/* summary.json:
 *   { "format": "libpolca-arithmetic-summary-2",
 *     "backend": "cpu", "device": "...", "val_token_accuracy": 0.97,
 *     "config": { key: value, ... },
 *     "timings": { stage: seconds, ... },
 *     "<method name>": {
 *         "faithful":     { "homogeneity": [h1, h2, h3], "recall": [...],
 *                           "f1": [...], "direction": [...],
 *                           "carry_mid_share": [...] },
 *         "unrestricted": { the same keys },
 *         "eligible_clusters": n, "hidden_fraction": x, "n_clusters": n }, ...
 *     "methods": [ "<method name>", ... ],   (the order of Table 1)
 *     "late_skill": { ... },                 (only when d->late: report_late.h)
 *     "results": { key: value, ... } }
 * The method keys sit at the top level (summary["polca"]["faithful"]
 * ["homogeneity"]); they may not be one of the other top-level keys.
 * Format 1 had the unrestricted lists directly under the method key. */
int report_write_summary_json(const char *path, const report_data *d);

/* report.html: header with the run's backend, accuracy and configuration;
 * the exact-loss curves by digit place; Table 1 with the paper's numbers
 * beside the run's; the directions that gave digit-place / carry clusters;
 * one figure pair per top direction; timings; notes. */
int report_write_html(const char *path, const report_data *d);

/* mkdir -p: creates dir and its missing parents (mode 0777 & ~umask).
 * 0 when it exists as a directory afterwards. */
int report_make_dirs(const char *dir);

/* The paper's numbers for a method name (Table 8, Table 9): fills
 * faithful (n_best, homogeneity, recall, f1; directions -1, mid_share NaN:
 * the paper scores under its Appendix G rule) and hidden_fraction of out
 * (unrestricted.n_best 0, n_eligible -1, n_clusters -1). Returns 0, or -1
 * for a name the paper does not report. */
int report_paper_reference(const char *name, report_method *out);

/* The message of the last failure. */
const char *report_error(void);

/* Shared with the report's sections in other files (report_late.c): JSON
 * string and number (null when not finite), HTML-escaped text, a table
 * number ("–" when not finite), one SVG plot. */
struct report_late;
void report__json_string(FILE *f, const char *s);
void report__json_number(FILE *f, double v);
void report__html_text(FILE *f, const char *s);
void report__html_number(FILE *f, double v, int decimals);
void report__svg_panel(FILE *f, const report_panel *p);

#endif /* ARITH_REPORT_H */
