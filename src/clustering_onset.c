/* src/clustering_onset.c - breakthrough onsets (paper eq. 9) and the plateau
 * of the exact loss (docs/method.md#breakthroughs). */
#include <math.h>

#include "clustering.h"

int64_t polca__onset(const float *f, int64_t t, int64_t w, int cumsum, double *work) {
    double *prefix = work;    /* [t + 1] prefix sums of the curve */
    double *s = work + t + 1; /* [t] the curve, then smoothed */
    double run = 0.0;
    for (int64_t j = 0; j < t; j++) {
        run += (double)f[j];
        s[j] = cumsum ? run : (double)f[j];
    }
    const int64_t h = (w - 1) / 2;
    if (h > 0) {
        prefix[0] = 0.0;
        for (int64_t j = 0; j < t; j++) prefix[j + 1] = prefix[j] + s[j];
        for (int64_t j = 0; j < t; j++) {
            int64_t lo = j - h < 0 ? 0 : j - h, hi = j + h > t - 1 ? t - 1 : j + h;
            s[j] = (prefix[hi + 1] - prefix[lo]) / (double)(hi - lo + 1);
        }
    }
    int64_t best = 1;
    double best_v = -INFINITY;
    for (int64_t j = 1; j + 1 < t; j++) {
        double acc = -(s[j + 1] - 2.0 * s[j] + s[j - 1]);
        if (acc > best_v) {
            best_v = acc;
            best = j;
        }
    }
    return best;
}

double polca__plateau(const double *m, int64_t t1, double eps) {
    const double last = m[t1 - 1], drop = fabs(m[0] - last);
    int64_t u = t1 - 1;
    while (u > 0 && fabs(m[u - 1] - last) <= eps * drop) u--;
    return (double)u;
}
