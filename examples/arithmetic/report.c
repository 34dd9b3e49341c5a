/*
 * examples/arithmetic/report.c - summary.json and report.html writers
 * (report.h documents the inputs and the files).
 *
 * The page is static HTML: inline CSS and one inline <svg> per plot, drawn
 * here as polylines on linear or log axes with "nice" ticks (1, 2, 5 x 10^k).
 */
#include "report.h"
#include "report_late.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Errors */

static char err_buf[512];

static void set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
}

const char *report_error(void) { return err_buf; }

/* ---- Files: PATH.tmp.PID, then fsync and rename */

typedef struct out_file {
    FILE *f;
    char *tmp;
    const char *path;
} out_file;

static int out_open(out_file *o, const char *path) {
    size_t n = strlen(path) + 32;
    o->path = path;
    o->tmp = malloc(n);
    if (!o->tmp) {
        set_error("out of memory");
        return -2;
    }
    snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        set_error("cannot create '%s': %s", o->tmp, strerror(errno));
        free(o->tmp);
        return -2;
    }
    return 0;
}

static int out_close(out_file *o) {
    int bad = ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0;
    int err = errno;
    if (fclose(o->f) != 0 && !bad) bad = 1, err = errno;
    if (!bad && rename(o->tmp, o->path) != 0) bad = 1, err = errno;
    if (bad) {
        set_error("cannot write '%s': %s", o->path, strerror(err));
        remove(o->tmp);
    }
    free(o->tmp);
    return bad ? -2 : 0;
}

/* Drops the temporary file (the old PATH stays as it was). */
static void out_abort(out_file *o) {
    fclose(o->f);
    remove(o->tmp);
    free(o->tmp);
}

int report_make_dirs(const char *dir) {
    if (!dir || !*dir) {
        set_error("report_make_dirs: 'dir' is NULL or empty");
        return -1;
    }
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p) {
        set_error("out of memory");
        return -2;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            set_error("cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return -2;
        }
        p[i] = c;
    }
    struct stat st;
    int ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (!ok) set_error("'%s' is not a directory", dir);
    free(p);
    return ok ? 0 : -2;
}

/* ---- Text: UTF-8 checked, escaped for JSON or HTML */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) n = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000, c &= 0x07;
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return n;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        int n = utf8_len(p);
        if (n == 0) { /* invalid byte: U+FFFD */
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, (size_t)n, f);
        } else if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p, f);
        } else if (*p == '\n') {
            fputs("\\n", f);
        } else if (*p == '\t') {
            fputs("\\t", f);
        } else if (*p < 0x20 || *p == 0x7F) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
        p += n;
    }
    fputc('"', f);
}

static void json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.10g", v);
    else fputs("null", f);
}

/* The first n bytes of s (stops at a NUL), escaped for HTML. */
static void html_text_n(FILE *f, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *end = p + (s ? len : 0);
    while (p < end && *p) {
        int n = utf8_len(p);
        if (n > end - p) n = 0; /* a sequence cut by the range */
        if (n == 0) {
            fputs("\xEF\xBF\xBD", f);
            p++;
            continue;
        }
        if (n > 1) fwrite(p, 1, (size_t)n, f);
        else if (*p == '&') fputs("&amp;", f);
        else if (*p == '<') fputs("&lt;", f);
        else if (*p == '>') fputs("&gt;", f);
        else if (*p == '"') fputs("&quot;", f);
        else if (*p == '\'') fputs("&#39;", f);
        else if (*p < 0x20 && *p != '\n' && *p != '\t') fputc(' ', f);
        else fputc(*p, f);
        p += n;
    }
}

static void html_text(FILE *f, const char *s) { html_text_n(f, s, s ? strlen(s) : 0); }

/* A number for a table cell: 3 decimals, "–" when not finite. */
static void html_number(FILE *f, double v, int decimals) {
    if (isfinite(v)) fprintf(f, "%.*f", decimals, v);
    else fputs("&ndash;", f);
}

/* ---- Validation of the caller's structs */

static int check_array(const void *p, int32_t n, const char *what) {
    if (n < 0) {
        set_error("%s: negative count %d", what, (int)n);
        return -1;
    }
    if (n > 0 && !p) {
        set_error("%s: NULL with count %d", what, (int)n);
        return -1;
    }
    return 0;
}

static int check_panel(const report_panel *p, const char *where) {
    char what[160];
    snprintf(what, sizeof what, "%s.curves", where);
    if (check_array(p->curves, p->n_curves, what)) return -1;
    snprintf(what, sizeof what, "%s.markers", where);
    if (check_array(p->markers, p->n_markers, what)) return -1;
    for (int32_t c = 0; c < p->n_curves; c++) {
        const report_curve *cv = &p->curves[c];
        snprintf(what, sizeof what, "%s.curves[%d] x", where, (int)c);
        if (check_array(cv->x, cv->n, what)) return -1;
        snprintf(what, sizeof what, "%s.curves[%d] y", where, (int)c);
        if (check_array(cv->y, cv->n, what)) return -1;
    }
    for (int32_t m = 0; m < p->n_markers; m++)
        if (p->markers[m].curve < -1 || p->markers[m].curve >= p->n_curves) {
            set_error("%s.markers[%d]: curve %d is not -1 or a curve index (%d curves)", where,
                      (int)m, (int)p->markers[m].curve, (int)p->n_curves);
            return -1;
        }
    return 0;
}

static int check_keys(const char *what, int32_t n, const char *(*key)(const void *, int32_t),
                      const void *arr) {
    for (int32_t i = 0; i < n; i++) {
        const char *k = key(arr, i);
        if (!k || !*k) {
            set_error("%s[%d]: key is NULL or empty", what, (int)i);
            return -1;
        }
        for (int32_t j = 0; j < i; j++)
            if (strcmp(k, key(arr, j)) == 0) {
                set_error("%s[%d]: key '%s' repeats %s[%d]", what, (int)i, k, what, (int)j);
                return -1;
            }
    }
    return 0;
}

static const char *kv_key(const void *a, int32_t i) { return ((const report_kv *)a)[i].key; }
static const char *timing_key(const void *a, int32_t i) {
    return ((const report_timing *)a)[i].stage;
}
static const char *method_key(const void *a, int32_t i) {
    return ((const report_method *)a)[i].name;
}

static const char *const reserved_keys[] = {"format", "backend", "device", "val_token_accuracy",
                                            "config", "timings", "methods", "results"};

static int check_data(const report_data *d, const char *path, const char *fn) {
    if (!d) {
        set_error("%s: 'data' is NULL", fn);
        return -1;
    }
    if (!path || !*path) {
        set_error("%s: 'path' is NULL or empty", fn);
        return -1;
    }
    if (check_array(d->config, d->n_config, "config") ||
        check_array(d->results, d->n_results, "results") ||
        check_array(d->timings, d->n_timings, "timings") ||
        check_array(d->methods, d->n_methods, "methods") ||
        check_array(d->direction_rows, d->n_direction_rows, "direction_rows") ||
        check_array(d->figures, d->n_figures, "figures") ||
        check_array(d->notes, d->n_notes, "notes"))
        return -1;
    if (check_keys("config", d->n_config, kv_key, d->config) ||
        check_keys("results", d->n_results, kv_key, d->results) ||
        check_keys("timings", d->n_timings, timing_key, d->timings) ||
        check_keys("methods", d->n_methods, method_key, d->methods))
        return -1;
    for (int32_t m = 0; m < d->n_methods; m++) {
        const report_method *me = &d->methods[m];
        const report_scores *sc[2] = {&me->faithful, &me->unrestricted};
        for (int q = 0; q < 2; q++)
            if (sc[q]->n_best < 0 || sc[q]->n_best > REPORT_MAX_BEST) {
                set_error("methods[%d] '%s': %s.n_best %d is outside 0..%d", (int)m, me->name,
                          q ? "unrestricted" : "faithful", (int)sc[q]->n_best, REPORT_MAX_BEST);
                return -1;
            }
        for (size_t r = 0; r < sizeof reserved_keys / sizeof reserved_keys[0]; r++)
            if (strcmp(me->name, reserved_keys[r]) == 0) {
                set_error("methods[%d]: name '%s' is a reserved summary key", (int)m, me->name);
                return -1;
            }
    }
    if (d->place_curves && check_panel(d->place_curves, "place_curves")) return -1;
    for (int32_t i = 0; i < d->n_figures; i++) {
        char where[64];
        snprintf(where, sizeof where, "figures[%d].projected", (int)i);
        if (check_panel(&d->figures[i].projected, where)) return -1;
        snprintf(where, sizeof where, "figures[%d].exact", (int)i);
        if (check_panel(&d->figures[i].exact, where)) return -1;
    }
    if (d->late) {
        if (check_array(d->late->methods[0], d->late->n_methods, "late.methods[0]") ||
            check_array(d->late->methods[1], d->late->n_methods, "late.methods[1]") ||
            check_panel(&d->late->overview, "late.overview") ||
            check_panel(&d->late->cluster, "late.cluster"))
            return -1;
    }
    return 0;
}

/* ---- summary.json */

static void json_kv_object(FILE *f, int32_t n, const report_kv *kv) {
    fputc('{', f);
    for (int32_t i = 0; i < n; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        json_string(f, kv[i].key);
        fputs(": ", f);
        if (kv[i].str) json_string(f, kv[i].str);
        else json_number(f, kv[i].num);
    }
    fputs(n ? "\n  }" : "}", f);
}

static void json_list(FILE *f, int32_t n, const double *v) {
    fputc('[', f);
    for (int32_t i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        json_number(f, v[i]);
    }
    fputc(']', f);
}

static void json_scores(FILE *f, const char *key, const report_scores *sc) {
    fputs("\n    ", f);
    json_string(f, key);
    fputs(": {\"homogeneity\": ", f);
    json_list(f, sc->n_best, sc->homogeneity);
    fputs(", \"recall\": ", f);
    json_list(f, sc->n_best, sc->recall);
    fputs(", \"f1\": ", f);
    json_list(f, sc->n_best, sc->f1);
    fputs(",\n      \"direction\": [", f);
    for (int32_t i = 0; i < sc->n_best; i++) fprintf(f, "%s%d", i ? ", " : "", (int)sc->direction[i]);
    fputs("], \"carry_mid_share\": ", f);
    json_list(f, sc->n_best, sc->mid_share);
    fputc('}', f);
}

int report_write_summary_json(const char *path, const report_data *d) {
    if (check_data(d, path, "report_write_summary_json")) return -1;
    out_file o;
    int st = out_open(&o, path);
    if (st) return st;
    FILE *f = o.f;
    fputs("{\n  \"format\": \"libpolca-arithmetic-summary-2\",\n  \"backend\": ", f);
    if (d->backend) json_string(f, d->backend);
    else fputs("null", f);
    fputs(",\n  \"device\": ", f);
    if (d->device) json_string(f, d->device);
    else fputs("null", f);
    fputs(",\n  \"val_token_accuracy\": ", f);
    json_number(f, d->val_token_accuracy);
    fputs(",\n  \"config\": ", f);
    json_kv_object(f, d->n_config, d->config);
    fputs(",\n  \"timings\": {", f);
    for (int32_t i = 0; i < d->n_timings; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        json_string(f, d->timings[i].stage);
        fputs(": ", f);
        json_number(f, d->timings[i].seconds);
    }
    fputs(d->n_timings ? "\n  }" : "}", f);
    for (int32_t m = 0; m < d->n_methods; m++) {
        const report_method *me = &d->methods[m];
        fputs(",\n  ", f);
        json_string(f, me->name);
        fputs(": {", f);
        json_scores(f, "faithful", &me->faithful);
        fputc(',', f);
        json_scores(f, "unrestricted", &me->unrestricted);
        fputs(",\n    \"eligible_clusters\": ", f);
        if (me->n_eligible >= 0) fprintf(f, "%d", (int)me->n_eligible);
        else fputs("null", f);
        fputs(",\n    \"hidden_fraction\": ", f);
        json_number(f, me->hidden_fraction);
        fputs(",\n    \"n_clusters\": ", f);
        if (me->n_clusters >= 0) fprintf(f, "%d", (int)me->n_clusters);
        else fputs("null", f);
        fputs("\n  }", f);
    }
    fputs(",\n  \"methods\": [", f);
    for (int32_t m = 0; m < d->n_methods; m++) {
        if (m) fputs(", ", f);
        json_string(f, d->methods[m].name);
    }
    fputs("],", f);
    if (d->late) {
        fputs("\n  \"late_skill\": ", f);
        report_late_json(f, d->late);
        fputc(',', f);
    }
    fputs("\n  \"results\": ", f);
    json_kv_object(f, d->n_results, d->results);
    fputs("\n}\n", f);
    return out_close(&o);
}

/* ---- SVG plots */

static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00",
                                      "#56b4e9", "#000000", "#8c564b", "#7f7f7f", "#bcbd22"};
#define PALETTE_N ((int32_t)(sizeof palette / sizeof palette[0]))

static const char *curve_color(const report_panel *p, int32_t c) {
    if (c < 0 || c >= p->n_curves) return "#444444";
    return p->curves[c].color && *p->curves[c].color ? p->curves[c].color : palette[c % PALETTE_N];
}

/* Plot geometry, in SVG user units (px). From the top: the title, a band
 * with one row per level of marker labels (none without labels), the plot
 * area, the x ticks and label, then the legend rows. */
#define PW 560.0     /* panel width */
#define PLOT_H 250.0 /* plot area height */
#define ML 66.0      /* left margin: y tick labels and y label */
#define MR 14.0
#define TITLE_H 26.0 /* the title's baseline is at 19 */
#define MB 46.0      /* x tick labels and x label */
#define MARK_ROW 13.0 /* a row of marker labels (10px bold) */
#define MARK_GAP 6.0  /* below the last row: the marker stems */
#define MARK_FONT 10.0
#define LEG_ROW 15.0  /* a line of legend text (11px) */
#define LEG_FONT 11.0
#define LEG_SWATCH 26.0 /* swatch and gap before the text */
#define LEG_SEP 14.0    /* between entries on one row */

typedef struct axes {
    double x0, x1, y0, y1; /* data range (y in log10 units when log_y) */
    int log_y;
    double top;            /* plot area's top edge */
} axes;

static int point_ok(const axes *a, double x, double y) {
    return isfinite(x) && isfinite(y) && (!a->log_y || y > 0);
}
static double ty(const axes *a, double y) { return a->log_y ? log10(y) : y; }
static double px(const axes *a, double x) { return ML + (x - a->x0) / (a->x1 - a->x0) * (PW - ML - MR); }
static double py(const axes *a, double v) { /* v already transformed */
    return a->top + PLOT_H - (v - a->y0) / (a->y1 - a->y0) * PLOT_H;
}

/* 1, 2 or 5 times a power of ten, near span / target. */
static double nice_step(double span, int target) {
    double raw = span / target, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void tick_label(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    double av = fabs(v);
    if ((av >= 1e5 || (av > 0 && av < 1e-3)) && step < av) snprintf(buf, n, "%.3g", v);
    else if (av >= 1e5) snprintf(buf, n, "%.0e", v);
    else {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        if (dec > 6) dec = 6;
        snprintf(buf, n, "%.*f", dec, v);
    }
}

/* Widens a degenerate range so a single value sits in the middle. */
static void widen(double *lo, double *hi) {
    if (*hi > *lo) return;
    double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1.0;
    *lo -= d;
    *hi += d;
}

/* Width of n bytes of text in px at font size `size`, for layout. An upper
 * estimate for DejaVu Sans (what system-ui and sans-serif resolve to on a
 * Debian system; most sans-serif fonts are narrower): per character class,
 * in em, measured from its advance widths and rounded up; bold 12% wider. */
static double text_width_n(const char *s, size_t n, double size, int bold) {
    double em = 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    for (; p < end; p++) {
        unsigned c = *p;
        if ((c & 0xC0) == 0x80) continue; /* UTF-8 continuation byte */
        if (c >= 0x80) em += 0.85;        /* τ, ≥, —: at most this wide */
        else if (strchr(" il.,:;'!|jI", (int)c)) em += 0.33;
        else if (strchr("ftr()[]{}-/", (int)c)) em += 0.45;
        else if (strchr("mwMW%@", (int)c)) em += 1.0;
        else if (c >= 'A' && c <= 'Z') em += 0.78;
        else em += 0.66; /* lower case, digits, the rest */
    }
    return em * size * (bold ? 1.12 : 1.0);
}
static double text_width(const char *s, double size, int bold) {
    return text_width_n(s, strlen(s), size, bold);
}

/* ---- Marker labels: stacked in rows above the plot area, so that they
 * cross neither each other nor the curves. Each label is centred on its
 * line (moved inward at the panel's edges) and goes to the lowest row where
 * it keeps MARK_PAD px from every label already there. */
#define MARK_PAD 6.0

typedef struct mark_place {
    double x, w; /* line position (px) and label width */
    double lx;   /* label's left edge */
    int row;     /* 0: the row just above the plot area */
} mark_place;

/* Places the labelled markers of p (their px positions in x[m], NaN for a
 * marker not drawn); returns the number of rows (0: no label). */
static int place_marker_labels(const report_panel *p, const double *x, mark_place *out) {
    int32_t n = p->n_markers, rows = 0;
    int32_t *order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    double *right = malloc(sizeof *right * (size_t)(n > 0 ? n : 1)); /* per row: last right edge */
    if (!order || !right) {
        free(order), free(right);
        return -1;
    }
    int32_t k = 0;
    for (int32_t m = 0; m < n; m++) {
        out[m].row = -1;
        const char *l = p->markers[m].label;
        if (!isfinite(x[m]) || !l || !*l) continue;
        out[m].x = x[m];
        out[m].w = text_width(l, MARK_FONT, 1);
        double lx = x[m] - out[m].w / 2, lo = 2.0, hi = PW - 2.0;
        if (lx + out[m].w > hi) lx = hi - out[m].w;
        if (lx < lo) lx = lo;
        out[m].lx = lx;
        /* insertion sort by left edge, then by marker index */
        int32_t i = k++;
        while (i > 0 && out[order[i - 1]].lx > lx) order[i] = order[i - 1], i--;
        order[i] = m;
    }
    for (int32_t i = 0; i < k; i++) {
        mark_place *mp = &out[order[i]];
        int r = 0;
        while (r < rows && mp->lx < right[r] + MARK_PAD) r++;
        if (r == rows) rows++;
        right[r] = mp->lx + mp->w;
        mp->row = r;
    }
    free(order), free(right);
    return rows;
}

/* ---- Legend: entries flow left to right from ML and wrap to new rows; an
 * entry wider than a row breaks at spaces into lines (a word wider than a
 * row at characters), so no text passes the right edge. */
typedef struct leg_line {
    size_t start, len; /* a byte range of the entry's label */
} leg_line;

typedef struct leg_entry {
    double x, y;   /* swatch start; y: the first line's centre */
    int32_t first; /* its lines: lines[first .. first + n_lines) */
    int32_t n_lines;
} leg_entry;

static size_t utf8_next(const char *s, size_t i, size_t n) {
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    return i;
}

/* Breaks s into lines no wider than w px, appended to lines[*n_lines...];
 * returns the widest line's width. */
static double break_lines(const char *s, double w, leg_line *lines, int32_t *n_lines) {
    size_t n = strlen(s), pos = 0;
    double widest = 0;
    while (pos < n) {
        while (pos < n && s[pos] == ' ') pos++;
        if (pos == n) break;
        size_t fit = pos;
        for (size_t next = pos; next < n;) { /* whole words while they fit */
            while (next < n && s[next] == ' ') next++;
            while (next < n && s[next] != ' ') next++;
            if (text_width_n(s + pos, next - pos, LEG_FONT, 0) > w) break;
            fit = next;
        }
        if (fit == pos) { /* the first word alone is too wide: cut it */
            fit = utf8_next(s, pos, n);
            for (size_t q = fit; q < n && s[q] != ' ';) {
                q = utf8_next(s, q, n);
                if (text_width_n(s + pos, q - pos, LEG_FONT, 0) > w) break;
                fit = q;
            }
        }
        lines[*n_lines] = (leg_line){pos, fit - pos};
        (*n_lines)++;
        double lw = text_width_n(s + pos, fit - pos, LEG_FONT, 0);
        if (lw > widest) widest = lw;
        pos = fit;
    }
    return widest;
}

/* Lays the legend out from y0 down (lines: room for every byte of every
 * label); returns its height (0: no entry). */
static double layout_legend(const report_panel *p, double y0, leg_entry *out, leg_line *lines) {
    const double left = ML, right = PW - MR, text_max = right - left - LEG_SWATCH;
    double x = left, row_top = y0, row_h = 0;
    int32_t used = 0;
    int any = 0;
    for (int32_t c = 0; c < p->n_curves; c++) {
        const char *l = p->curves[c].label;
        out[c].first = used;
        out[c].n_lines = 0;
        if (!l || !*l) continue;
        double tw = break_lines(l, text_max, lines, &used);
        out[c].n_lines = used - out[c].first;
        if (out[c].n_lines == 0) continue; /* only spaces */
        double w = LEG_SWATCH + tw, h = out[c].n_lines * LEG_ROW;
        if (any && x + w > right) { /* next row */
            row_top += row_h;
            x = left;
            row_h = 0;
        }
        out[c].x = x;
        out[c].y = row_top + LEG_ROW / 2;
        if (h > row_h) row_h = h;
        x += w + LEG_SEP;
        any = 1;
    }
    return any ? row_top + row_h - y0 + 4 : 0;
}

static void svg_polyline_segments(FILE *f, const axes *a, const report_curve *cv, const char *color) {
    int32_t start = -1;
    for (int32_t i = 0; i <= cv->n; i++) {
        int ok = i < cv->n && point_ok(a, cv->x[i], cv->y[i]);
        if (ok && start < 0) start = i;
        if (ok || start < 0) continue;
        /* Segment [start, i). */
        if (i - start == 1) {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"", px(a, cv->x[start]),
                    py(a, ty(a, cv->y[start])));
            html_text(f, color);
            fputs("\"/>", f);
        } else {
            fputs("<polyline class=\"curve\" fill=\"none\" stroke=\"", f);
            html_text(f, color);
            fputs(cv->dashed ? "\" stroke-dasharray=\"6 3\" points=\"" : "\" points=\"", f);
            for (int32_t k = start; k < i; k++)
                fprintf(f, "%s%.1f,%.1f", k > start ? " " : "", px(a, cv->x[k]), py(a, ty(a, cv->y[k])));
            fputs("\"/>", f);
        }
        fputc('\n', f);
        start = -1;
    }
}

/* Returns -2 when memory runs out (nothing usable written), else 0. */
static int svg_panel(FILE *f, const report_panel *p) {
    /* Ranges over the drawable points and the markers. */
    axes a = {INFINITY, -INFINITY, INFINITY, -INFINITY, p->log_y != 0, 0};
    long n_points = 0;
    for (int32_t c = 0; c < p->n_curves; c++) {
        const report_curve *cv = &p->curves[c];
        for (int32_t i = 0; i < cv->n; i++) {
            if (!point_ok(&a, cv->x[i], cv->y[i])) continue;
            double v = ty(&a, cv->y[i]);
            a.x0 = fmin(a.x0, cv->x[i]);
            a.x1 = fmax(a.x1, cv->x[i]);
            a.y0 = fmin(a.y0, v);
            a.y1 = fmax(a.y1, v);
            n_points++;
        }
    }
    for (int32_t m = 0; m < p->n_markers; m++)
        if (isfinite(p->markers[m].x) && n_points > 0) {
            a.x0 = fmin(a.x0, p->markers[m].x);
            a.x1 = fmax(a.x1, p->markers[m].x);
        }
    int drawable = n_points > 0;
    if (drawable) {
        widen(&a.x0, &a.x1);
        widen(&a.y0, &a.y1);
        drawable = isfinite(a.x1 - a.x0) && isfinite(a.y1 - a.y0); /* spans beyond double range */
    }
    size_t nm = (size_t)(p->n_markers > 0 ? p->n_markers : 1);
    size_t nl = (size_t)(p->n_curves > 0 ? p->n_curves : 1), bytes = 1;
    for (int32_t c = 0; c < p->n_curves; c++)
        if (p->curves[c].label) bytes += strlen(p->curves[c].label);
    double *mx = malloc(sizeof *mx * nm);
    mark_place *mp = malloc(sizeof *mp * nm);
    leg_entry *leg = malloc(sizeof *leg * nl);
    leg_line *lines = malloc(sizeof *lines * bytes);
    if (!mx || !mp || !leg || !lines) {
        free(mx), free(mp), free(leg), free(lines);
        set_error("out of memory");
        return -2;
    }
    for (int32_t m = 0; m < p->n_markers; m++)
        mx[m] = drawable && isfinite(p->markers[m].x) ? px(&a, p->markers[m].x) : NAN;
    int rows = place_marker_labels(p, mx, mp);
    if (rows < 0) {
        free(mx), free(mp), free(leg), free(lines);
        set_error("out of memory");
        return -2;
    }
    a.top = TITLE_H + (rows ? rows * MARK_ROW + MARK_GAP : 4.0);
    double leg_h = layout_legend(p, a.top + PLOT_H + MB, leg, lines);
    double height = a.top + PLOT_H + MB + leg_h;

    fprintf(f, "<svg class=\"panel\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"",
            PW, height, PW, height);
    html_text(f, p->title);
    fputs("\">\n<title>", f);
    html_text(f, p->title);
    fputs("</title>\n", f);
    fprintf(f, "<text class=\"ptitle\" x=\"%.1f\" y=\"19\">", ML);
    html_text(f, p->title);
    fputs("</text>\n", f);
    fprintf(f, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", ML, a.top,
            PW - ML - MR, PLOT_H);
    if (!drawable) {
        fprintf(f, "<text class=\"nodata\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n</svg>\n",
                (ML + PW - MR) / 2, a.top + PLOT_H / 2, n_points ? "values out of range" : "no data");
        free(mx), free(mp), free(leg), free(lines);
        return 0;
    }
    double pad = (a.y1 - a.y0) * 0.04;
    a.y0 -= pad;
    a.y1 += pad;
    const double top = a.top, bottom = a.top + PLOT_H;

    /* x ticks and grid */
    char buf[48];
    double step = nice_step(a.x1 - a.x0, 6);
    for (double k = ceil(a.x0 / step - 1e-9), n = 0; k * step <= a.x1 + step * 1e-9 && n < 40; k++, n++) {
        double v = k * step, x = px(&a, v);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, top, x, bottom);
        tick_label(buf, sizeof buf, v, step);
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x,
                bottom + 15, buf);
    }
    /* y ticks: decades on a log axis spanning one or more, else 1-2-5 steps
     * (in data units, placed on the log scale when log_y). */
    if (a.log_y && a.y1 - a.y0 >= 1.0) {
        double dstep = ceil((a.y1 - a.y0) / 6.0);
        for (double k = ceil(a.y0 / dstep - 1e-9), n = 0; k * dstep <= a.y1 + 1e-9 && n < 40; k++, n++) {
            double e = k * dstep, y = py(&a, e);
            fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", ML, y, PW - MR, y);
            snprintf(buf, sizeof buf, "%g", pow(10.0, e));
            fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML - 5,
                    y + 4, buf);
        }
    } else {
        double lo = a.log_y ? pow(10.0, a.y0) : a.y0, hi = a.log_y ? pow(10.0, a.y1) : a.y1;
        double ystep = nice_step(hi - lo, 5);
        for (double k = ceil(lo / ystep - 1e-9), n = 0; k * ystep <= hi + ystep * 1e-9 && n < 40; k++, n++) {
            double v = k * ystep;
            if (a.log_y && v <= 0) continue;
            double y = py(&a, a.log_y ? log10(v) : v);
            fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", ML, y, PW - MR, y);
            tick_label(buf, sizeof buf, v, ystep);
            fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML - 5,
                    y + 4, buf);
        }
    }
    /* Axis labels */
    fprintf(f, "<text class=\"alabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (ML + PW - MR) / 2,
            bottom + 36);
    html_text(f, p->x_label);
    fputs("</text>\n", f);
    fprintf(f, "<text class=\"alabel\" transform=\"translate(15 %.1f) rotate(-90)\" text-anchor=\"middle\">",
            top + PLOT_H / 2);
    html_text(f, p->y_label);
    if (p->log_y) fputs(" (log scale)", f);
    fputs("</text>\n", f);

    for (int32_t c = 0; c < p->n_curves; c++) svg_polyline_segments(f, &a, &p->curves[c], curve_color(p, c));

    /* Markers: vertical lines across the plot area; a labelled one also
     * gets a thin stem up to its label in the band above. */
    for (int32_t m = 0; m < p->n_markers; m++) {
        const report_marker *mk = &p->markers[m];
        if (!isfinite(mx[m])) continue;
        const char *col = curve_color(p, mk->curve);
        fprintf(f, "<line class=\"marker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"", mx[m], top,
                mx[m], bottom);
        html_text(f, col);
        fputs(mk->dashed ? "\" stroke-dasharray=\"4 3\"/>\n" : "\" stroke-width=\"1.6\"/>\n", f);
        if (mp[m].row < 0) continue;
        double base = top - MARK_GAP - mp[m].row * MARK_ROW - 3; /* the label's baseline */
        fprintf(f, "<line class=\"stem\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"", mx[m],
                base + 2, mx[m], top);
        html_text(f, col);
        fputs("\"/>\n", f);
    }
    /* the labels last, over the stems (their white halo hides a stem that
     * passes behind a lower row) */
    for (int32_t m = 0; m < p->n_markers; m++) {
        if (!isfinite(mx[m]) || mp[m].row < 0) continue;
        double base = top - MARK_GAP - mp[m].row * MARK_ROW - 3;
        fprintf(f, "<text class=\"mlabel\" x=\"%.1f\" y=\"%.1f\" fill=\"", mp[m].lx, base);
        html_text(f, curve_color(p, p->markers[m].curve));
        fputs("\">", f);
        html_text(f, p->markers[m].label);
        fputs("</text>\n", f);
    }

    /* Legend under the plot. */
    for (int32_t c = 0; c < p->n_curves; c++) {
        const leg_entry *e = &leg[c];
        if (e->n_lines == 0) continue;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke-width=\"2.5\" stroke=\"", e->x,
                e->y, e->x + 20, e->y);
        html_text(f, curve_color(p, c));
        fputs(p->curves[c].dashed ? "\" stroke-dasharray=\"6 3\"/>" : "\"/>", f);
        fprintf(f, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", e->x + LEG_SWATCH, e->y + 4);
        for (int32_t q = 0; q < e->n_lines; q++) {
            const leg_line *ln = &lines[e->first + q];
            if (e->n_lines > 1)
                fprintf(f, "<tspan x=\"%.1f\" y=\"%.1f\">", e->x + LEG_SWATCH, e->y + 4 + q * LEG_ROW);
            html_text_n(f, p->curves[c].label + ln->start, ln->len);
            if (e->n_lines > 1) fputs("</tspan>", f);
        }
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    free(mx), free(mp), free(leg), free(lines);
    return 0;
}

/* ---- The paper's numbers (Tables 8 and 9) */

typedef struct paper_row {
    const char *name;
    int n;
    double h[3], r[3], f1[3], hidden;
} paper_row;

static const paper_row paper_rows[] = {
    {"exact_loss", 1, {0.514}, {0.771}, {0.617}, 0.0},
    {"loss_change", 1, {0.524}, {0.958}, {0.678}, 0.0},
    {"fisher", 3, {0.664, 0.643, 0.637}, {0.947, 0.740, 0.874}, {0.781, 0.688, 0.737}, 0.284},
    {"lca", 3, {0.792, 0.614, 0.592}, {0.772, 0.873, 0.626}, {0.782, 0.721, 0.609}, 0.019},
    {"polca_first_order", 3, {0.948, 0.928, 0.887}, {0.767, 0.769, 0.751}, {0.848, 0.841, 0.813}, 0.307},
    {"polca", 3, {0.973, 0.946, 0.903}, {0.736, 0.773, 0.762}, {0.838, 0.850, 0.827}, 0.355},
};

int report_paper_reference(const char *name, report_method *out) {
    if (!name || !out) {
        set_error("report_paper_reference: 'name' or 'out' is NULL");
        return -1;
    }
    for (size_t i = 0; i < sizeof paper_rows / sizeof paper_rows[0]; i++) {
        const paper_row *r = &paper_rows[i];
        if (strcmp(name, r->name) != 0) continue;
        memset(out, 0, sizeof *out);
        out->name = r->name;
        report_scores *sc = &out->faithful;
        sc->n_best = r->n;
        for (int k = 0; k < REPORT_MAX_BEST; k++) {
            sc->homogeneity[k] = k < r->n ? r->h[k] : NAN;
            sc->recall[k] = k < r->n ? r->r[k] : NAN;
            sc->f1[k] = k < r->n ? r->f1[k] : NAN;
            sc->direction[k] = -1;
            sc->mid_share[k] = NAN;
            out->unrestricted.homogeneity[k] = out->unrestricted.recall[k] = NAN;
            out->unrestricted.f1[k] = out->unrestricted.mid_share[k] = NAN;
            out->unrestricted.direction[k] = -1;
        }
        out->n_eligible = -1;
        out->hidden_fraction = r->hidden;
        out->n_clusters = -1;
        return 0;
    }
    set_error("report_paper_reference: the paper reports no method '%s'", name);
    return -1;
}

/* ---- report.html */

static const char *css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "max-width:1180px;margin:24px auto;padding:0 16px;color:#1a1a1a;background:#fff;line-height:1.45}\n"
    "h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}"
    "h3{font-size:1.05em;margin:1.2em 0 .3em}\n"
    ".meta{color:#444}\n"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.88em}\n"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}\n"
    ".wide{max-width:100%;overflow-x:auto}\n"
    "th{background:#f2f2f2;text-align:center}td.l,th.l{text-align:left}\n"
    "td.paper,th.paper{color:#666;background:#fafafa}\n"
    "tr.first td{border-top:2px solid #999}\n"
    ".pair{display:flex;flex-wrap:wrap;gap:12px}\n"
    "figure{margin:0 0 1.2em 0}figcaption{color:#444;font-size:.92em;max-width:1140px}\n"
    "svg.panel{background:#fff;border:1px solid #e4e4e4}\n"
    "svg text{font-family:system-ui,'DejaVu Sans',sans-serif}\n"
    ".ptitle{font-size:13px;font-weight:600;fill:#1a1a1a}\n"
    ".tick{font-size:10.5px;fill:#333}.alabel{font-size:11.5px;fill:#1a1a1a}\n"
    ".legend{font-size:11px;fill:#1a1a1a}\n"
    ".mlabel{font-size:10px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}\n"
    ".grid{stroke:#ececec;stroke-width:1}.frame{fill:none;stroke:#888}\n"
    ".curve{stroke-width:1.8;stroke-linejoin:round}\n"
    ".nodata{font-size:14px;fill:#888}\n"
    ".yes{color:#0a7a3b;font-weight:600}.no{color:#999}\n";

static void html_kv_table(FILE *f, int32_t n, const report_kv *kv) {
    fputs("<table>\n", f);
    for (int32_t i = 0; i < n; i++) {
        fputs("<tr><th class=\"l\">", f);
        html_text(f, kv[i].key);
        fputs("</th><td class=\"l\">", f);
        if (kv[i].str) html_text(f, kv[i].str);
        else if (isfinite(kv[i].num)) fprintf(f, "%.10g", kv[i].num);
        else fputs("&ndash;", f);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Cells of one method's k-th best cluster: direction, homogeneity, then
 * recall and F1 (with_rf) or the 100s/10s share of its carry tokens. */
static void html_score_cells(FILE *f, const report_scores *sc, int k, int with_rf,
                             const char *none) {
    int cols = with_rf ? 4 : 3;
    if (k >= sc->n_best) {
        if (k == 0) fprintf(f, "<td class=\"l\" colspan=\"%d\">%s</td>", cols, none);
        else
            for (int c = 0; c < cols; c++) fputs("<td></td>", f);
        return;
    }
    if (sc->direction[k] >= 0) fprintf(f, "<td>%d</td>", (int)sc->direction[k]);
    else fputs("<td>&ndash;</td>", f);
    fputs("<td>", f);
    html_number(f, sc->homogeneity[k], 3);
    if (with_rf) {
        fputs("</td><td>", f);
        html_number(f, sc->recall[k], 3);
        fputs("</td><td>", f);
        html_number(f, sc->f1[k], 3);
    } else {
        fputs("</td><td>", f);
        html_number(f, sc->mid_share[k], 3);
    }
    fputs("</td>", f);
}

static void html_table1(FILE *f, const report_data *d) {
    fputs("<div class=\"wide\"><table class=\"table1\">\n<tr><th class=\"l\" rowspan=\"2\">Trajectories</th>"
          "<th rowspan=\"2\">Cluster</th><th colspan=\"4\">This run, the paper's rule "
          "(Appendix G)</th><th colspan=\"3\">This run, every cluster</th>"
          "<th class=\"paper\" colspan=\"3\">Paper (Table 8)</th>"
          "<th colspan=\"2\">Fraction of clusters with hidden breakthroughs</th></tr>\n"
          "<tr><th>Direction</th><th>Carry homogeneity</th><th>Recall</th><th>F1</th>"
          "<th>Direction</th><th>Carry homogeneity</th><th>Carries in 100s/10s</th>"
          "<th class=\"paper\">Homogeneity</th><th class=\"paper\">Recall</th><th class=\"paper\">F1</th>"
          "<th>This run</th><th class=\"paper\">Paper (Table 9)</th></tr>\n",
          f);
    for (int32_t m = 0; m < d->n_methods; m++) {
        const report_method *me = &d->methods[m];
        report_method ref;
        int has_ref = report_paper_reference(me->name, &ref) == 0;
        int rows = me->faithful.n_best;
        if (me->unrestricted.n_best > rows) rows = me->unrestricted.n_best;
        if (has_ref && ref.faithful.n_best > rows) rows = ref.faithful.n_best;
        if (rows < 1) rows = 1;
        for (int k = 0; k < rows; k++) {
            fputs(k == 0 ? "<tr class=\"first\">" : "<tr>", f);
            if (k == 0) {
                fprintf(f, "<td class=\"l\" rowspan=\"%d\">", rows);
                html_text(f, me->display ? me->display : me->name);
                if (me->n_clusters >= 0) {
                    fprintf(f, "<br><small>%d clusters", (int)me->n_clusters);
                    if (me->n_eligible >= 0) fprintf(f, ", %d eligible", (int)me->n_eligible);
                    fputs("</small>", f);
                }
                fputs("</td>", f);
            }
            fprintf(f, "<td>%d</td>", k + 1);
            html_score_cells(f, &me->faithful, k, 1, "no eligible cluster");
            html_score_cells(f, &me->unrestricted, k, 0, "no cluster");
            if (has_ref && k < ref.faithful.n_best) {
                fputs("<td class=\"paper\">", f);
                html_number(f, ref.faithful.homogeneity[k], 3);
                fputs("</td><td class=\"paper\">", f);
                html_number(f, ref.faithful.recall[k], 3);
                fputs("</td><td class=\"paper\">", f);
                html_number(f, ref.faithful.f1[k], 3);
                fputs("</td>", f);
            } else {
                fputs("<td class=\"paper\"></td><td class=\"paper\"></td><td class=\"paper\"></td>", f);
            }
            if (k == 0) {
                fprintf(f, "<td rowspan=\"%d\">", rows);
                html_number(f, me->hidden_fraction, 3);
                fprintf(f, "</td><td class=\"paper\" rowspan=\"%d\">", rows);
                html_number(f, has_ref ? ref.hidden_fraction : NAN, 3);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
    }
    fputs("</table></div>\n", f);
}

static void html_direction_list(FILE *f, const report_data *d, int carry) {
    int any = 0;
    for (int32_t i = 0; i < d->n_direction_rows; i++) {
        const report_direction_row *r = &d->direction_rows[i];
        if (carry ? !r->carry : !r->digit_place) continue;
        fprintf(f, "%s%d", any ? ", " : "", (int)r->direction);
        any = 1;
    }
    if (!any) fputs("none", f);
}

static void html_directions(FILE *f, const report_data *d) {
    fputs("<p><b>Directions with digit-place clusters:</b> ", f);
    html_direction_list(f, d, 0);
    fputs(".<br><b>Directions with carry clusters:</b> ", f);
    html_direction_list(f, d, 1);
    fputs(".</p>\n<table>\n<tr><th>Direction</th><th>Samples kept</th><th>Clusters</th>"
          "<th>Digit-place cluster</th><th>Carry cluster</th><th class=\"l\">Cluster labels</th></tr>\n",
          f);
    for (int32_t i = 0; i < d->n_direction_rows; i++) {
        const report_direction_row *r = &d->direction_rows[i];
        fprintf(f, "<tr><td>%d</td><td>", (int)r->direction);
        if (r->n_kept >= 0) fprintf(f, "%d", (int)r->n_kept);
        else fputs("&ndash;", f);
        fprintf(f, "</td><td>%d</td>", (int)r->n_clusters);
        fputs(r->digit_place ? "<td class=\"yes\">yes</td>" : "<td class=\"no\">no</td>", f);
        fputs(r->carry ? "<td class=\"yes\">yes</td>" : "<td class=\"no\">no</td>", f);
        fputs("<td class=\"l\">", f);
        html_text(f, r->labels);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void html_timings(FILE *f, const report_data *d) {
    double total = 0;
    for (int32_t i = 0; i < d->n_timings; i++)
        if (isfinite(d->timings[i].seconds)) total += d->timings[i].seconds;
    fputs("<table>\n<tr><th class=\"l\">Stage</th><th>Seconds</th><th>Share</th></tr>\n", f);
    for (int32_t i = 0; i < d->n_timings; i++) {
        fputs("<tr><td class=\"l\">", f);
        html_text(f, d->timings[i].stage);
        fputs("</td><td>", f);
        html_number(f, d->timings[i].seconds, 2);
        fputs("</td><td>", f);
        html_number(f, total > 0 ? 100.0 * d->timings[i].seconds / total : NAN, 1);
        fputs(" %</td></tr>\n", f);
    }
    fputs("<tr><th class=\"l\">total</th><th>", f);
    html_number(f, total, 2);
    fputs("</th><th></th></tr>\n</table>\n", f);
}

/* A sentence on the vertical lines a panel draws, from what it draws:
 * dashed ones (`dashed_what`, e.g. "breakthrough onsets") and solid ones
 * (the plateau tau); nothing when it draws none. */
static void html_marker_caption(FILE *f, const report_panel *p, const char *dashed_what) {
    int dashed = 0, solid = 0, coloured = 1;
    for (int32_t m = 0; m < p->n_markers; m++) {
        if (!isfinite(p->markers[m].x)) continue;
        if (p->markers[m].dashed) {
            dashed++;
            coloured &= p->markers[m].curve >= 0;
        } else {
            solid++;
        }
    }
    if (dashed)
        fprintf(f, " Dashed vertical line%s: %s%s.", dashed > 1 ? "s" : "", dashed_what,
                coloured ? ", in the colour of their curve" : "");
    if (solid)
        fprintf(f, " Solid vertical line%s: the plateau &tau; of the mean exact loss.", solid > 1 ? "s" : "");
    if (dashed || solid)
        fputs(dashed + solid > 1 ? " The lines are labelled above the plot."
                                 : " The line is labelled above the plot.",
              f);
}

int report_write_html(const char *path, const report_data *d) {
    if (check_data(d, path, "report_write_html")) return -1;
    out_file o;
    int st = out_open(&o, path);
    if (st) return st;
    FILE *f = o.f;
    const char *title = d->title ? d->title : "libpolca: arithmetic experiment";
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    html_text(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", css);
    html_text(f, title);
    fputs("</h1>\n<p class=\"meta\">Validation token accuracy <b>", f);
    html_number(f, d->val_token_accuracy, 4);
    fputs("</b> &middot; backend <b>", f);
    html_text(f, d->backend ? d->backend : "unknown");
    fputs("</b>", f);
    if (d->device) {
        fputs(" &middot; ", f);
        html_text(f, d->device);
    }
    fputs("</p>\n<p>The paper's arithmetic experiment (section 4): a transformer learns the sum of two "
          "3-digit numbers, written as 4 output tokens. Each output token is a sample, labelled by its "
          "digit place and by whether it receives a carry. Clusters of per-sample trajectories are scored "
          "against the carry label (Table 1).</p>\n",
          f);

    if (d->place_curves) {
        fputs("<h2>Exact loss by digit place</h2>\n<figure>\n", f);
        if (svg_panel(f, d->place_curves)) {
            out_abort(&o);
            return -2;
        }
        fputs("<figcaption>Mean validation loss of the output tokens of each digit place over "
              "training", f);
        fputs(d->place_curves->log_y ? " (logarithmic axis)." : ".", f);
        html_marker_caption(f, d->place_curves, "breakthrough onsets");
        fputs("</figcaption>\n</figure>\n", f);
    }

    fputs("<h2>Table 1: carry clusters and hidden breakthroughs</h2>\n"
          "<p>For each kind of trajectory: the three clusters with the highest fraction of carry tokens "
          "(homogeneity), their recall and F1 (noise excluded), and the fraction of all clusters whose "
          "mean breakthrough onset comes after the exact-loss plateau &tau;. First column group: the "
          "paper's scoring (Appendix G), which counts a cluster only if most of its carry tokens are in "
          "the 100s or 10s place (the share is in the configuration, carry_mid_share); a carry into the "
          "1000s place only means the sum starts with 1. Second group: every cluster, with the share of "
          "its carry tokens in the 100s or 10s place. The paper's numbers are beside them, in grey.</p>\n",
          f);
    html_table1(f, d);

    if (d->late) report_late_html(f, d->late);

    if (d->n_direction_rows > 0) {
        fputs("<h2>What each direction's clusters are</h2>\n", f);
        html_directions(f, d);
    }

    if (d->n_figures > 0) {
        fputs("<h2>Top directions: projected loss and exact loss of the same clusters</h2>\n"
              "<p>Left: each cluster's mean projected loss along the direction (the POLCA trajectory). "
              "Right: the same clusters' mean exact loss. Vertical lines, labelled above each plot: "
              "dashed, in a cluster's colour, its mean breakthrough onset; solid, the plateau &tau; of "
              "the mean exact loss.</p>\n",
              f);
        for (int32_t i = 0; i < d->n_figures; i++) {
            const report_direction_figure *fig = &d->figures[i];
            fputs("<figure>\n<h3>", f);
            html_text(f, fig->title);
            fputs("</h3>\n<div class=\"pair\">\n", f);
            if (svg_panel(f, &fig->projected) || svg_panel(f, &fig->exact)) {
                out_abort(&o);
                return -2;
            }
            fputs("</div>\n", f);
            if (fig->caption) {
                fputs("<figcaption>", f);
                html_text(f, fig->caption);
                fputs("</figcaption>\n", f);
            }
            fputs("</figure>\n", f);
        }
    }

    if (d->n_timings > 0) {
        fputs("<h2>Timings</h2>\n", f);
        html_timings(f, d);
    }
    if (d->n_config > 0) {
        fputs("<h2>Configuration</h2>\n", f);
        html_kv_table(f, d->n_config, d->config);
    }
    if (d->n_results > 0) {
        fputs("<h2>Other results</h2>\n", f);
        html_kv_table(f, d->n_results, d->results);
    }
    if (d->n_notes > 0) {
        fputs("<h2>Notes</h2>\n", f);
        for (int32_t i = 0; i < d->n_notes; i++) {
            fputs("<p>", f);
            html_text(f, d->notes[i]);
            fputs("</p>\n", f);
        }
    }
    fputs("<p class=\"meta\"><small>Written by examples/arithmetic (libpolca). Static page: no script, "
          "no network.</small></p>\n</body>\n</html>\n",
          f);
    return out_close(&o);
}

/* ---- For the sections in other files (report.h) */

void report__json_string(FILE *f, const char *s) { json_string(f, s); }
void report__json_number(FILE *f, double v) { json_number(f, v); }
void report__html_text(FILE *f, const char *s) { html_text(f, s); }
void report__html_number(FILE *f, double v, int decimals) { html_number(f, v, decimals); }
void report__svg_panel(FILE *f, const report_panel *p) { svg_panel(f, p); }
