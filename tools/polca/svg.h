/*
 * tools/polca/svg.h - line plots as inline SVG for the HTML report, and
 * HTML text escaping. Points that are not finite are skipped and break the
 * line.
 */
#ifndef POLCA_CLI_SVG_H
#define POLCA_CLI_SVG_H

#include <stdio.h>

typedef struct svg_curve {
    const char *label; /* legend text, NULL = none */
    int n;
    const double *x, *y;
    int color;  /* index into the palette */
    int dashed;
} svg_curve;

typedef struct svg_marker {
    double x;
    const char *label;
    int color; /* palette index, or -1: dark grey */
    int dashed;
} svg_marker;

void svg_panel(FILE *f, const char *title, const char *x_label, const char *y_label,
               const svg_curve *curves, int n_curves, const svg_marker *markers, int n_markers);
void html_text(FILE *f, const char *s);
/* Palette colour i (cycled). */
const char *svg_color(int i);

#endif /* POLCA_CLI_SVG_H */
