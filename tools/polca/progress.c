/*
 * tools/polca/progress.c - the progress bar's clock and line (progress.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"

/* s >= 0 whole seconds as "8 s", "1 min 40 s", "2 min", "1 h 2 min", "3 h". */
static void cli_duration(char *buf, size_t cap, int64_t s) {
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

void cli_eta_text(char *buf, size_t cap, int64_t done, int64_t total, double elapsed) {
    if (!buf || cap == 0) return;
    if (!(elapsed >= 0)) elapsed = 0; /* NaN or negative: a clock gone wrong */
    if (elapsed > 1e9) elapsed = 1e9;
    char took[48], left[48];
    if (elapsed < 10)
        snprintf(took, sizeof took, "%.1f s", floor(elapsed * 10) / 10);
    else
        cli_duration(took, sizeof took, (int64_t)elapsed);
    int timed = total > 0 && done > 0 && done < total && elapsed >= CLI_ETA_MIN_SECONDS &&
                (double)done >= CLI_ETA_MIN_SHARE * (double)total;
    if (!timed) {
        snprintf(buf, cap, "%s elapsed", took);
        return;
    }
    double rest = elapsed * (double)(total - done) / (double)done;
    if (rest > 1e9) rest = 1e9;
    double step = rest < 59.5 ? 1 : rest < 595 ? 10 : 60;
    int64_t s = (int64_t)(floor(rest / step + 0.5) * step);
    if (s < 1) s = 1;
    cli_duration(left, sizeof left, s);
    snprintf(buf, cap, "%s elapsed, ~%s left", took, left);
}

void cli_clock_update(cli_clock *c, const char *stage, int64_t done, int64_t total,
                      double t, int64_t *done_since, int64_t *total_since, double *elapsed) {
    if (c->epoch_reports == 0) c->epoch_t = t;
    int i = 0;
    while (i < c->n_stages && strcmp(c->stage[i].name, stage) != 0) i++;
    if (i == c->n_stages) { /* first seen: a free slot, else the oldest one */
        if (c->n_stages < CLI_CLOCK_STAGES)
            c->n_stages++;
        else
            i = c->next_slot, c->next_slot = (c->next_slot + 1) % CLI_CLOCK_STAGES;
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

int cli_stage_is_budget(const char *stage) { return strcmp(stage, "eigen") == 0; }

void cli_progress_line(char *buf, size_t cap, const char *stage, int64_t done, int64_t total,
                       double value, const char *clock, const char *outer, int columns) {
    if (!buf || cap == 0) return;
    char bar[24];
    const int width = 16;
    int fill = 0;
    if (total > 0) fill = (int)((double)width * (double)(done < total ? done : total) / (double)total);
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    int n = snprintf(buf, cap, "%-22.22s [%s] %lld", stage, total > 0 ? bar : "", (long long)done);
    if (total > 0 && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "/%lld", (long long)total);
    if (!isnan(value) && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "  %.3g", value);
    if (clock && *clock && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "  %s", clock);
    if (outer && *outer && n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "  | %s", outer);
    if (columns > 1 && (size_t)(columns - 1) < cap) buf[columns - 1] = '\0';
}

int cli_term_columns(void) {
#ifdef TIOCGWINSZ
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
#endif
    const char *env = getenv("COLUMNS");
    int c = env ? atoi(env) : 0;
    return c > 0 ? c : 80;
}
