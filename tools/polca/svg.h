/*
 * tools/polca/svg.h - line plots as inline SVG for the HTML report, and
 * HTML text escaping. Points that are not finite are skipped and break the
 * line. Classes for styling and tests: ptitle, frame (the plot area),
 * mlabel (a marker's label), legend.
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

/* One plot: marker labels stacked in rows above the plot area, the legend
 * under it (wrapped to the width). Returns 0, or -1 when memory ran out
 * (the plot is then written without its labels and legend). */
int svg_panel(FILE *f, const char *title, const char *x_label, const char *y_label,
              const svg_curve *curves, int n_curves, const svg_marker *markers, int n_markers);
void html_text(FILE *f, const char *s);
/* Palette colour i (cycled). */
const char *svg_color(int i);

#endif /* POLCA_CLI_SVG_H */
