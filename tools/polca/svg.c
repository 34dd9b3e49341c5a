/*
 * tools/polca/svg.c - inline SVG line plots (svg.h): a frame, "nice" tick
 * values on both axes, one polyline per curve, dashed vertical markers and
 * a legend. Fixed size 480 x 300 user units; the page scales them.
 */
#include "svg.h"

#include <math.h>
#include <stdio.h>

#define W 480.0
#define H 300.0
#define L 62.0 /* margins */
#define R 12.0
#define T 28.0
#define B 44.0

static const char *const palette[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#56b4e9", "#f0e442", "#000000"};

const char *svg_color(int i) { return i < 0 ? "#555555" : palette[i % 8]; }

void html_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A step of 1, 2 or 5 times a power of ten giving about 5 ticks. */
static double nice_step(double span) {
    if (!(span > 0)) return 1;
    double raw = span / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

void svg_panel(FILE *f, const char *title, const char *x_label, const char *y_label,
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
#define PX(x) (L + ((x) - x0) / (x1 - x0) * (W - L - R))
#define PY(y) (H - B - ((y) - y0) / (y1 - y0) * (H - T - B))
    fprintf(f, "<svg viewBox=\"0 0 %.0f %.0f\" xmlns=\"http://www.w3.org/2000/svg\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", W, H);
    fputs("<text x=\"240\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">", f);
    html_text(f, title);
    fputs("</text>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#888\"/>\n", L, T, W - L - R, H - T - B);
    double sx = nice_step(x1 - x0), sy = nice_step(y1 - y0);
    for (double v = ceil(x0 / sx) * sx; v <= x1 + 1e-9 * sx; v += sx)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                PX(v), T, PX(v), H - B, PX(v), H - B + 14, fabs(v) < 1e-12 * sx ? 0.0 : v);
    for (double v = ceil(y0 / sy) * sy; v <= y1 + 1e-9 * sy; v += sy)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                L, PY(v), W - R, PY(v), L - 4, PY(v) + 4, fabs(v) < 1e-12 * sy ? 0.0 : v);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (L + W - R) / 2, H - 8);
    html_text(f, x_label);
    fprintf(f, "</text>\n<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">",
            (T + H - B) / 2, (T + H - B) / 2);
    html_text(f, y_label);
    fputs("</text>\n", f);
    for (int m = 0; m < n_markers; m++) {
        double x = markers[m].x;
        if (!isfinite(x) || x < x0 || x > x1) continue;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"%s/>\n", PX(x), T,
                PX(x), H - B, svg_color(markers[m].color),
                markers[m].dashed ? " stroke-dasharray=\"4 3\"" : " stroke-width=\"1.5\"");
        if (markers[m].label) {
            int left = PX(x) > 0.8 * W; /* keep the label inside the frame */
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\" font-size=\"10\"%s>",
                    PX(x) + (left ? -2 : 2), H - B - 4, svg_color(markers[m].color),
                    left ? " text-anchor=\"end\"" : "");
            html_text(f, markers[m].label);
            fputs("</text>\n", f);
        }
    }
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
    int row = 0;
    for (int c = 0; c < n_curves && row < 8; c++) {
        if (!curves[c].label) continue;
        double y = T + 12 + 13 * row++;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">", W - R - 120, y - 4, W - R - 104, y - 4,
                svg_color(curves[c].color), W - R - 100, y);
        html_text(f, curves[c].label);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
}
