/*
 * examples/arithmetic/progress.h - the library's progress reports as lines
 * on stderr, each with the stage's elapsed time and, once enough of it is
 * done, an estimate of the time left:
 *   "  polca 30/101, 42 s elapsed, ~1 min 40 s left"
 * Uses the C standard library and POSIX clock_gettime only.
 */
#ifndef ARITH_PROGRESS_H
#define ARITH_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* No estimate before this share of the stage is done, nor before this many
 * seconds: the first units are too few to time. */
#define PROGRESS_ETA_MIN_SHARE 0.03
#define PROGRESS_ETA_MIN_SECONDS 2.0

/*
 * The clock text for `done` of `total` units finished in `elapsed` seconds:
 * "42 s elapsed, ~1 min 40 s left", or "42 s elapsed" alone when total is
 * unknown (<= 0), the stage is finished, or too little is done to time
 * (PROGRESS_ETA_MIN_*). The estimate assumes the remaining units take as
 * long each as the done ones did, and is rounded: to 1 s under a minute, to
 * 10 s under 10 minutes, to the minute above. Elapsed: tenths under 10 s,
 * whole seconds above. A pure function; writes at most cap bytes, always
 * NUL-terminated when cap > 0.
 */
void progress_eta_text(char *buf, size_t cap, int64_t done, int64_t total, double elapsed);

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
#define PROGRESS_STAGES 8
typedef struct progress_clock {
    struct {
        const char *name; /* the library's static text */
        int64_t done0, last_done, total;
        double t0;
    } stage[PROGRESS_STAGES];
    int n_stages, next_slot;
    int64_t epoch_reports; /* reports since the last one that finished a run */
    double epoch_t, prev_t;
} progress_clock;

/* Records a report made at time t (seconds, any origin); writes the units
 * done since the stage's run started, of how many, and the seconds since:
 * the arguments progress_eta_text wants. */
void progress_clock_update(progress_clock *c, const char *stage, int64_t done, int64_t total,
                           double t, int64_t *done_since, int64_t *total_since, double *elapsed);

/* A polca_progress_fn: prints a line per report on stderr, at most one per
 * 2 s plus the last of each run; skips "eigen" (one report per Hessian
 * product, and its total is a budget rather than the work). user: NULL, or
 * a progress_clock of the caller's (zeroed); NULL uses one of its own. */
int32_t progress_print(void *user, const char *stage, int64_t done, int64_t total, double value);

#endif
