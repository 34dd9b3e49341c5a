/*
 * examples/arithmetic/progress.c - progress lines with a time-left
 * estimate (progress.h). tools/polca/progress.c holds the command-line
 * tool's copy of the formatter; tests/test_progress_eta.c holds both to the
 * same expected texts.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "progress.h"

/* s >= 0 whole seconds as "8 s", "1 min 40 s", "2 min", "1 h 2 min", "3 h". */
static void whole_seconds(char *buf, size_t cap, int64_t s) {
    int64_t h = s / 3600, m = s % 3600 / 60, sec = s % 60;
    if (h > 0 && m > 0)
        snprintf(buf, cap, "%lld h %lld min", (long long)h, (long long)m);
    else if (h > 0)
        snprintf(buf, cap, "%lld h", (long long)h);
    else if (m > 0 && sec > 0)
        snprintf(buf, cap, "%lld min %lld s", (long long)m, (long long)sec);
    else if (m > 0)
        snprintf(buf, cap, "%lld min", (long long)m);
    else
        snprintf(buf, cap, "%lld s", (long long)sec);
}

void progress_eta_text(char *buf, size_t cap, int64_t done, int64_t total, double elapsed) {
    if (!buf || cap == 0) return;
    if (!(elapsed >= 0)) elapsed = 0; /* NaN or negative: a clock gone wrong */
    if (elapsed > 1e9) elapsed = 1e9;
    char took[48], left[48];
    if (elapsed < 10)
        snprintf(took, sizeof took, "%.1f s", floor(elapsed * 10) / 10);
    else
        whole_seconds(took, sizeof took, (int64_t)elapsed);
    int timed = total > 0 && done > 0 && done < total && elapsed >= PROGRESS_ETA_MIN_SECONDS &&
                (double)done >= PROGRESS_ETA_MIN_SHARE * (double)total;
    if (!timed) {
        snprintf(buf, cap, "%s elapsed", took);
        return;
    }
    double rest = elapsed * (double)(total - done) / (double)done;
    if (rest > 1e9) rest = 1e9;
    double step = rest < 59.5 ? 1 : rest < 595 ? 10 : 60;
    int64_t s = (int64_t)(floor(rest / step + 0.5) * step);
    if (s < 1) s = 1;
    whole_seconds(left, sizeof left, s);
    snprintf(buf, cap, "%s elapsed, ~%s left", took, left);
}

void progress_clock_update(progress_clock *c, const char *stage, int64_t done, int64_t total,
                           double t, int64_t *done_since, int64_t *total_since, double *elapsed) {
    if (c->epoch_reports == 0) c->epoch_t = t;
    int i = 0;
    while (i < c->n_stages && strcmp(c->stage[i].name, stage) != 0) i++;
    if (i == c->n_stages) { /* first seen: a free slot, else the oldest one */
        if (c->n_stages < PROGRESS_STAGES)
            c->n_stages++;
        else
            i = c->next_slot, c->next_slot = (c->next_slot + 1) % PROGRESS_STAGES;
        c->stage[i].name = stage;
        c->stage[i].total = total;
        if (c->epoch_reports > 0) { /* inner stages' reports came first */
            c->stage[i].t0 = c->epoch_t;
            c->stage[i].done0 = 0;
        } else {
            c->stage[i].t0 = t;
            c->stage[i].done0 = done;
        }
    } else if (done < c->stage[i].last_done || total != c->stage[i].total) {
        c->stage[i].total = total; /* a new run: it began after the last report */
        c->stage[i].t0 = c->prev_t;
        c->stage[i].done0 = 0;
    }
    c->stage[i].last_done = done;
    c->epoch_reports = total > 0 && done >= total ? 0 : c->epoch_reports + 1;
    c->prev_t = t;
    *done_since = done - c->stage[i].done0;
    *total_since = total > 0 ? total - c->stage[i].done0 : total;
    *elapsed = t - c->stage[i].t0;
}

static double now_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int32_t progress_print(void *user, const char *stage, int64_t done, int64_t total,
                       double value) {
    static progress_clock own;
    static double last_line = -1e300;
    progress_clock *c = user ? user : &own;
    double t = now_monotonic();
    int64_t done_since, total_since;
    double elapsed;
    progress_clock_update(c, stage, done, total, t, &done_since, &total_since, &elapsed);
    if (strcmp(stage, "eigen") == 0) return 0; /* per product: too chatty */
    if (t - last_line < 2.0 && done != total) return 0;
    last_line = t;
    char clock[128], count[64], figure[32] = "";
    progress_eta_text(clock, sizeof clock, done_since, total_since, elapsed);
    if (total > 0)
        snprintf(count, sizeof count, "%lld/%lld", (long long)done, (long long)total);
    else
        snprintf(count, sizeof count, "%lld", (long long)done);
    if (!isnan(value)) snprintf(figure, sizeof figure, " (%.3g)", value);
    fprintf(stderr, "  %s %s%s, %s\n", stage, count, figure, clock);
    return 0;
}
