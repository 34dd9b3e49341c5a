/*
 * tools/polca/progress.h - the progress bar's clock: per stage, the time
 * elapsed and an estimate of the time left (docs/cli.md). The same
 * formatter and clock as examples/arithmetic/progress.c (the example cannot
 * use the tool's sources, nor the tool an example's); tests/test_progress_eta.c
 * holds both to the same expected texts.
 */
#ifndef POLCA_CLI_PROGRESS_H
#define POLCA_CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* No estimate before this share of the stage is done, nor before this many
 * seconds: the first units are too few to time. */
#define CLI_ETA_MIN_SHARE 0.03
#define CLI_ETA_MIN_SECONDS 2.0

/*
 * The clock text for `done` of `total` units finished in `elapsed` seconds:
 * "42 s elapsed, ~1 min 40 s left", or "42 s elapsed" alone when total is
 * unknown (<= 0), the stage is finished, or too little is done to time
 * (CLI_ETA_MIN_*). The estimate assumes the remaining units take as
 * long each as the done ones did, and is rounded: to 1 s under a minute, to
 * 10 s under 10 minutes, to the minute above. Elapsed: tenths under 10 s,
 * whole seconds above. A pure function; writes at most cap bytes, always
 * NUL-terminated when cap > 0.
 */
void cli_eta_text(char *buf, size_t cap, int64_t done, int64_t total, double elapsed);

/* Where each stage's clock started. The library reports after each unit,
 * so a stage's first report comes when its first unit is done. A stage
 * seen for the first time starts its clock at the first report made since
 * the last one that finished a run (done == total): an outer stage's first
 * unit is made of inner stages' reports (the basis's of "eigen" ones), so
 * its clock starts with the first of them; with no earlier report there,
 * the clock starts at this report and counts from the units it says are
 * done. A stage that reports fewer done than before, or another total,
 * starts a new run (HDBSCAN once per direction) whose clock starts at the
 * report before it, of any stage. */
#define CLI_CLOCK_STAGES 8
typedef struct cli_clock {
    struct {
        const char *name; /* the library's static text */
        int64_t done0, last_done, total;
        double t0;
    } stage[CLI_CLOCK_STAGES];
    int n_stages, next_slot;
    int64_t epoch_reports; /* reports since the last one that finished a run */
    double epoch_t, prev_t;
} cli_clock;

/* Records a report made at time t (seconds, any origin); writes the units
 * done since the stage's run started, of how many, and the seconds since:
 * the arguments cli_eta_text wants. */
void cli_clock_update(cli_clock *c, const char *stage, int64_t done, int64_t total,
                      double t, int64_t *done_since, int64_t *total_since, double *elapsed);

/* The bar's line (no "\r", no newline), cut to at most `columns` - 1
 * characters so that it never wraps:
 *   "polca                  [####............] 30/101  42 s elapsed, ~1 min 40 s left"
 * clock: cli_eta_text's text. outer, when not NULL or empty, follows after
 * " | ": under a stage whose total is a budget rather than the work
 * ("eigen": Lanczos stops when converged; clock without an estimate), the
 * tool shows the enclosing stage's count and estimate there. */
void cli_progress_line(char *buf, size_t cap, const char *stage, int64_t done, int64_t total,
                       double value, const char *clock, const char *outer, int columns);

/* Whether a stage's total is a budget (no estimate): "eigen". */
int cli_stage_is_budget(const char *stage);

/* The terminal's width on stderr; 80 when unknown. */
int cli_term_columns(void);

#endif
