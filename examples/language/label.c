/*
 * examples/language/label.c - the simple-label rule and the covering set
 * used for the chance baseline.
 */
#include <stdlib.h>

#include "language.h"

int lang_is_simple(const int32_t *values, int32_t n_values, int32_t pad, int32_t max_tags) {
    if (n_values < 1) return 0;
    int32_t tags = 0;
    for (int32_t v = 0; v < n_values; v++) tags += values[v] != pad;
    return tags <= max_tags;
}

int32_t lang_cover(const int64_t *counts, int32_t n_values, int64_t total, double coverage,
                   int32_t max_values, int32_t *out) {
    if (total <= 0) return 0;
    /* at least coverage of the members, with the library's relative slack
     * of 1e-12 (0.7 * 10 is 7.000000000000001 in binary) */
    const double need = coverage * (double)total * (1.0 - 1e-12);
    int64_t covered = 0;
    for (int32_t r = 0; r < max_values; r++) {
        int32_t pick = -1;
        for (int32_t v = 0; v < n_values; v++) {
            int taken = 0;
            for (int32_t q = 0; q < r && !taken; q++) taken = out[q] == v;
            if (!taken && counts[v] > 0 && (pick < 0 || counts[v] > counts[pick])) pick = v;
        }
        if (pick < 0) return 0;
        out[r] = pick;
        covered += counts[pick];
        if ((double)covered >= need) return r + 1;
    }
    return 0;
}
