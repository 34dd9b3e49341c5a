/*
 * tools/polca/svg.c - inline SVG line plots (svg.h): a frame, "nice" tick
 * values on both axes, one polyline per curve, vertical markers whose
 * labels stack in rows above the plot area (never over each other or the
 * curves), and a legend under the plot that wraps to rows and lines (never
 * past the right edge). 480 user units wide, as tall as the labels and the
 * legend need; the page scales them.
 */
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 480.0
#define PH 228.0 /* plot area height */
#define L 62.0   /* margins */
#define R 12.0
#define TITLE_H 24.0 /* the title's baseline is at 16 */
#define B 44.0       /* x ticks and label */
#define MROW 13.0    /* a row of marker labels (10px) */
#define MGAP 6.0     /* below the last row: the marker stems */
#define MPAD 6.0     /* between two labels on one row */
#define LROW 14.0    /* a legend line (11px) */
#define LSWATCH 22.0 /* swatch and gap before the legend text */
#define LSEP 14.0    /* between legend entries on one row */

static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#56b4e9", "#f0e442", "#000000"};

const char *svg_color(int i) { return i < 0 ? "#555555" : palette[i % 8]; }

static void html_text_n(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; s && i < n && s[i]; i++) {
        switch (s[i]) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(s[i], f);
        }
    }
}

void html_text(FILE *f, const char *s) { html_text_n(f, s, s ? strlen(s) : 0); }

/* A step of 1, 2 or 5 times a power of ten giving about 5 ticks. */
static double nice_step(double span) {
    if (!(span > 0)) return 1;
    double raw = span / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Width of n bytes of text at font size `size` px: an upper estimate for
 * DejaVu Sans (Debian's sans-serif; most are narrower), per character
 * class in em; UTF-8 continuation bytes do not count. */
static double text_width(const char *s, size_t n, double size) {
    double em = 0;
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80) continue;
        if (c >= 0x80) em += 0.85;
        else if (strchr(" il.,:;'!|jI", (int)c)) em += 0.33;
        else if (strchr("ftr()[]{}-/", (int)c)) em += 0.45;
        else if (strchr("mwMW%@", (int)c)) em += 1.0;
        else if (c >= 'A' && c <= 'Z') em += 0.78;
        else em += 0.66;
    }
    return em * size;
}

/* The next line of s from *pos, at most w px wide (broken at spaces; a
 * word wider than w at characters): its byte range; 0 when none is left. */
static int next_line(const char *s, size_t *pos, double w, size_t *start, size_t *len) {
    size_t n = strlen(s), p = *pos;
    while (p < n && s[p] == ' ') p++;
    if (p >= n) return 0;
    size_t fit = p;
    for (size_t next = p; next < n;) {
        while (next < n && s[next] == ' ') next++;
        while (next < n && s[next] != ' ') next++;
        if (text_width(s + p, next - p, 11) > w) break;
        fit = next;
    }
    if (fit == p) {
        fit = p + 1;
        while (fit < n && ((unsigned char)s[fit] & 0xC0) == 0x80) fit++;
        for (size_t q = fit; q < n && s[q] != ' ';) {
            q++;
            while (q < n && ((unsigned char)s[q] & 0xC0) == 0x80) q++;
            if (text_width(s + p, q - p, 11) > w) break;
            fit = q;
        }
    }
    *start = p, *len = fit - p, *pos = fit;
    return 1;
}

/* Legend layout: entry c at (lx[c], ly[c]) (swatch start, first line's
 * centre), from y0 down; returns the height (0: no entry). */
static double legend_layout(const svg_curve *curves, int n_curves, double y0, double *lx, double *ly) {
    const double text_max = W - R - L - LSWATCH;
    double x = L, row_top = y0, row_h = 0;
    int any = 0;
    for (int c = 0; c < n_curves; c++) {
        lx[c] = ly[c] = NAN;
        if (!curves[c].label || !curves[c].label[0]) continue;
        size_t pos = 0, st, len;
        double tw = 0;
        int lines = 0;
        while (next_line(curves[c].label, &pos, text_max, &st, &len)) {
            double lw = text_width(curves[c].label + st, len, 11);
            if (lw > tw) tw = lw;
            lines++;
        }
        if (!lines) continue;
        double w = LSWATCH + tw;
        if (any && x + w > W - R) {
            row_top += row_h;
            x = L;
            row_h = 0;
        }
        lx[c] = x, ly[c] = row_top + LROW / 2;
        if (lines * LROW > row_h) row_h = lines * LROW;
        x += w + LSEP;
        any = 1;
    }
    return any ? row_top + row_h - y0 + 4 : 0;
}

/* Stacks marker labels in rows: label m of width mw[m] centred on mx[m]
 * (moved inside the panel), row[m] the lowest row (0: just above the plot)
 * where it keeps MPAD from the labels already there; -1 without a label.
 * Returns the number of rows, -1 without memory. */
static int stack_labels(const svg_marker *markers, int n, const double *mx, double *left, int *row) {
    int *order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    double *right = malloc(sizeof *right * (size_t)(n > 0 ? n : 1));
    if (!order || !right) {
        free(order), free(right);
        return -1;
    }
    int k = 0, rows = 0;
    for (int m = 0; m < n; m++) {
        row[m] = -1;
        if (!isfinite(mx[m]) || !markers[m].label || !markers[m].label[0]) continue;
        double w = text_width(markers[m].label, strlen(markers[m].label), 10);
        double lx = mx[m] - w / 2;
        if (lx + w > W - 2) lx = W - 2 - w;
        if (lx < 2) lx = 2;
        left[m] = lx;
        int i = k++;
        while (i > 0 && left[order[i - 1]] > lx) order[i] = order[i - 1], i--;
        order[i] = m;
    }
    for (int i = 0; i < k; i++) {
        int m = order[i], r = 0;
        while (r < rows && left[m] < right[r] + MPAD) r++;
        if (r == rows) rows++;
        right[r] = left[m] + text_width(markers[m].label, strlen(markers[m].label), 10);
        row[m] = r;
    }
    free(order), free(right);
    return rows;
}

int svg_panel(FILE *f, const char *title, const char *x_label, const char *y_label,
              const svg_curve *curves, int n_curves, const svg_marker *markers, int n_markers) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int c = 0; c < n_curves; c++)
        for (int i = 0; i < curves[c].n; i++) {
            double x = curves[c].x[i], y = curves[c].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 == x0) x0 -= 0.5, x1 += 0.5;
    if (y1 == y0) y0 -= 0.5, y1 += 0.5;
    double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;
    int nm = n_markers > 0 ? n_markers : 1, nc = n_curves > 0 ? n_curves : 1;
    double *mx = malloc(sizeof *mx * (size_t)nm), *ml = malloc(sizeof *ml * (size_t)nm);
    int *mrow = malloc(sizeof *mrow * (size_t)nm);
    double *lx = malloc(sizeof *lx * (size_t)nc), *ly = malloc(sizeof *ly * (size_t)nc);
    int rows = -1, oom = 0;
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (W - L - R))
    if (mx && ml && mrow && lx && ly) {
        for (int m = 0; m < n_markers; m++) {
            double x = markers[m].x;
            mx[m] = isfinite(x) && x >= x0 && x <= x1 ? PX(x) : NAN;
        }
        rows = stack_labels(markers, n_markers, mx, ml, mrow);
    }
    if (rows < 0) { /* no memory: no labels and no legend, still a plot */
        oom = 1;
        rows = 0;
        for (int m = 0; mrow && m < n_markers; m++) mrow[m] = -1;
    }
    const double T = TITLE_H + (rows ? rows * MROW + MGAP : 4.0), bottom = T + PH;
    double leg_h = lx && ly ? legend_layout(curves, n_curves, bottom + B, lx, ly) : 0;
    const double H = bottom + B + leg_h;
#define PY(y) (bottom - ((y) - y0) / (y1 - y0) * PH)
    fprintf(f, "<svg viewBox=\"0 0 %.0f %.0f\" xmlns=\"http://www.w3.org/2000/svg\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", W, H);
    fputs("<text class=\"ptitle\" x=\"240\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" "
          "font-weight=\"bold\">", f);
    html_text(f, title);
    fputs("</text>\n", f);
    fprintf(f, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#888\"/>\n", L, T, W - L - R, PH);
    double sx = nice_step(x1 - x0), sy = nice_step(y1 - y0);
    for (double v = ceil(x0 / sx) * sx; v <= x1 + 1e-9 * sx; v += sx)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                PX(v), T, PX(v), bottom, PX(v), bottom + 14, fabs(v) < 1e-12 * sx ? 0.0 : v);
    for (double v = ceil(y0 / sy) * sy; v <= y1 + 1e-9 * sy; v += sy)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                L, PY(v), W - R, PY(v), L - 4, PY(v) + 4, fabs(v) < 1e-12 * sy ? 0.0 : v);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (L + W - R) / 2, bottom + 34);
    html_text(f, x_label);
    fprintf(f, "</text>\n<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">",
            (T + bottom) / 2, (T + bottom) / 2);
    html_text(f, y_label);
    fputs("</text>\n", f);
    for (int c = 0; c < n_curves; c++) {
        int open = 0;
        for (int i = 0; i < curves[c].n; i++) {
            double x = curves[c].x[i], y = curves[c].y[i];
            if (!isfinite(x) || !isfinite(y)) {
                if (open) fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            if (!open)
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"%s points=\"",
                        svg_color(curves[c].color), curves[c].dashed ? " stroke-dasharray=\"5 3\"" : "");
            fprintf(f, "%s%.1f,%.1f", open ? " " : "", PX(x), PY(y));
            open = 1;
        }
        if (open) fputs("\"/>\n", f);
    }
    /* markers over the curves; a labelled one gets a stem up to its label */
    for (int m = 0; mx && m < n_markers; m++) {
        if (!isfinite(mx[m])) continue;
        fprintf(f, "<line class=\"marker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"%s/>\n",
                mx[m], T, mx[m], bottom, svg_color(markers[m].color),
                markers[m].dashed ? " stroke-dasharray=\"4 3\"" : " stroke-width=\"1.5\"");
        if (mrow[m] >= 0)
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", mx[m],
                    T - MGAP - mrow[m] * MROW - 1, mx[m], T, svg_color(markers[m].color));
    }
    for (int m = 0; mx && m < n_markers; m++) {
        if (!isfinite(mx[m]) || mrow[m] < 0) continue;
        fprintf(f, "<text class=\"mlabel\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\" font-size=\"10\" "
                   "paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">",
                ml[m], T - MGAP - mrow[m] * MROW - 3, svg_color(markers[m].color));
        html_text(f, markers[m].label);
        fputs("</text>\n", f);
    }
    for (int c = 0; lx && ly && c < n_curves; c++) {
        if (!isfinite(lx[c])) continue;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>"
                   "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">",
                lx[c], ly[c], lx[c] + 16, ly[c], svg_color(curves[c].color),
                curves[c].dashed ? " stroke-dasharray=\"5 3\"" : "", lx[c] + LSWATCH, ly[c] + 4);
        size_t pos = 0, st, len;
        for (int q = 0; next_line(curves[c].label, &pos, W - R - L - LSWATCH, &st, &len); q++) {
            fprintf(f, "<tspan x=\"%.1f\" y=\"%.1f\">", lx[c] + LSWATCH, ly[c] + 4 + q * LROW);
            html_text_n(f, curves[c].label + st, len);
            fputs("</tspan>", f);
        }
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    free(mx), free(ml), free(mrow), free(lx), free(ly);
    return oom ? -1 : 0;
#undef PX
#undef PY
}
