/*
 * src/clustering_score.c - clusters against host labels (paper Table 1,
 * Appendix G, section 5): homogeneity, recall, F1, the best cluster per
 * direction and overall, and automatic labels from categorical tags.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clustering.h"

static int32_t check_label(const polca_clustering *c, const uint8_t *label, const char *fn) {
    if (!label) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'label' is NULL", fn);
    for (int64_t i = 0; i < c->n; i++)
        if (label[i] > 1)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: label[%lld] is %d; labels must be 0 or 1", fn, (long long)i,
                               (int)label[i]);
    return POLCA_OK;
}

/* hom/rec/f1 [n_clusters] (any may be NULL), or just hom into `hom`. */
static int32_t compute(const polca_clustering *c, const uint8_t *label, double *hom, double *rec,
                       double *f1) {
    int64_t *pos = polca__calloc((size_t)c->n_clusters + 1, sizeof *pos, "cluster scores");
    int64_t *labelled = polca__calloc((size_t)c->k, sizeof *labelled, "cluster scores");
    if (!pos || !labelled) {
        free(pos), free(labelled);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int64_t d = 0; d < c->k; d++)
        for (int64_t i = 0; i < c->n; i++) {
            int32_t g = c->labels[d * c->n + i];
            if (g >= 0 && label[i]) {
                pos[g]++;
                labelled[d]++; /* labelled samples in some cluster of direction d */
            }
        }
    for (int64_t g = 0; g < c->n_clusters; g++) {
        double h = (double)pos[g] / (double)c->size[g];
        int64_t l = labelled[c->dir[g]];
        double r = l ? (double)pos[g] / (double)l : 0.0;
        if (hom) hom[g] = h;
        if (rec) rec[g] = r;
        if (f1) f1[g] = h + r > 0.0 ? 2.0 * h * r / (h + r) : 0.0;
    }
    free(pos), free(labelled);
    return POLCA_OK;
}

#define CHECK_CLUSTERING(fn)                                                                   \
    polca__clear_error();                                                                      \
    int32_t st = polca__check_handle(c, POLCA_MAGIC_CLUSTERING, fn, "clustering",               \
                                     "polca_clustering");                                      \
    if (st) return st

int32_t polca_clustering_score(const polca_clustering *c, const uint8_t *label,
                               double *homogeneity, double *recall, double *f1) {
    static const char *fn = "polca_clustering_score";
    CHECK_CLUSTERING(fn);
    st = check_label(c, label, fn);
    if (st) return st;
    return compute(c, label, homogeneity, recall, f1);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int32_t polca_clustering_score_restricted(const polca_clustering *c, const uint8_t *label,
                                          const int32_t *tag, int64_t n_allowed,
                                          const int32_t *allowed, double min_share,
                                          double *homogeneity, double *recall, double *f1,
                                          double *share, int32_t *eligible) {
    static const char *fn = "polca_clustering_score_restricted";
    CHECK_CLUSTERING(fn);
    st = check_label(c, label, fn);
    if (st) return st;
    if (!tag) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'tag' is NULL", fn);
    if (n_allowed < 1 || n_allowed > INT32_MAX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_allowed' is %lld; must be in 1..2147483647", fn,
                           (long long)n_allowed);
    if (!allowed)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'allowed' is NULL", fn);
    if (!(min_share >= 0.0 && min_share < 1.0))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'min_share' is %g; must be in [0, 1)", fn, min_share);
    const int64_t nc = c->n_clusters;
    int32_t *set = polca__alloc((size_t)n_allowed * sizeof *set, fn);
    uint8_t *in = polca__alloc((size_t)c->n + 1, fn);
    int64_t *lab = polca__calloc((size_t)nc + 1, sizeof *lab, fn);
    int64_t *hit = polca__calloc((size_t)nc + 1, sizeof *hit, fn);
    if (!set || !in || !lab || !hit) {
        free(set), free(in), free(lab), free(hit);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    memcpy(set, allowed, (size_t)n_allowed * sizeof *set);
    qsort(set, (size_t)n_allowed, sizeof *set, cmp_i32);
    for (int64_t i = 0; i < c->n; i++)
        in[i] = bsearch(&tag[i], set, (size_t)n_allowed, sizeof *set, cmp_i32) != NULL;
    for (int64_t g = 0; g < nc; g++) {
        const int64_t *mem = c->members + c->member_off[g];
        for (int64_t q = 0; q < c->size[g]; q++)
            if (label[mem[q]]) {
                lab[g]++;
                hit[g] += in[mem[q]];
            }
    }
    /* Every allocation is done: from here on the outputs are written. */
    st = compute(c, label, homogeneity, recall, f1);
    if (!st)
        for (int64_t g = 0; g < nc; g++) {
            double s = lab[g] ? (double)hit[g] / (double)lab[g] : NAN;
            int ok = lab[g] > 0 && s > min_share;
            if (share) share[g] = s;
            if (eligible) eligible[g] = ok;
            if (!ok) {
                if (homogeneity) homogeneity[g] = NAN;
                if (recall) recall[g] = NAN;
                if (f1) f1[g] = NAN;
            }
        }
    free(set), free(in), free(lab), free(hit);
    return st;
}

int32_t polca_clustering_best(const polca_clustering *c, const uint8_t *label, int64_t *best,
                              int64_t n_top, int64_t *top) {
    static const char *fn = "polca_clustering_best";
    CHECK_CLUSTERING(fn);
    st = check_label(c, label, fn);
    if (st) return st;
    if (n_top < 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n_top' is %lld; must be >= 0",
                           fn, (long long)n_top);
    if (n_top > 0 && !top)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'top' is NULL", fn);
    double *hom = polca__alloc((size_t)c->n_clusters * sizeof *hom + 1, "cluster scores");
    if (!hom) return POLCA_ERR_OUT_OF_MEMORY;
    st = compute(c, label, hom, NULL, NULL);
    if (st) {
        free(hom);
        return st;
    }
    if (best) {
        for (int64_t d = 0; d < c->k; d++) best[d] = -1;
        for (int64_t g = 0; g < c->n_clusters; g++) {
            int64_t d = c->dir[g];
            if (best[d] < 0 || hom[g] > hom[best[d]]) best[d] = g; /* ties: lower index */
        }
    }
    /* Top n_top by homogeneity, ties to the lower index: repeated selection
     * (n_top is small). */
    for (int64_t r = 0; r < n_top; r++) {
        int64_t pick = -1;
        for (int64_t g = 0; g < c->n_clusters; g++) {
            int taken = 0;
            for (int64_t q = 0; q < r && !taken; q++) taken = top[q] == g;
            if (!taken && (pick < 0 || hom[g] > hom[pick])) pick = g;
        }
        top[r] = pick;
    }
    free(hom);
    return POLCA_OK;
}

typedef struct tally {
    int32_t value;
    int64_t count;
} tally;

static int by_count(const void *a, const void *b) {
    const tally *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->value > y->value) - (x->value < y->value);
}

static int by_int(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static const polca__option_spec autolabel_options[] = {
    {"coverage", POLCA_OPT_DOUBLE}, {"max_values", POLCA_OPT_INT}, {NULL, 0}};

int32_t polca_clustering_autolabel(const polca_clustering *c, int64_t cluster,
                                   int64_t n_positions, const int32_t *tags,
                                   const polca_options *options, int32_t *values,
                                   int32_t *n_values) {
    static const char *fn = "polca_clustering_autolabel";
    CHECK_CLUSTERING(fn);
    if (cluster < 0 || cluster >= c->n_clusters)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'cluster' is %lld; must be 0..%lld", fn,
                           (long long)cluster, (long long)c->n_clusters - 1);
    if (n_positions < 1 || n_positions > INT32_MAX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_positions' is %lld; must be >= 1", fn,
                           (long long)n_positions);
    if (!tags) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'tags' is NULL", fn);
    if (!values) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'values' is NULL", fn);
    if (!n_values)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n_values' is NULL", fn);
    st = polca__options_check(options, autolabel_options, fn);
    if (st) return st;
    double coverage = polca__options_double(options, "coverage", 0.7);
    int64_t max_values = polca__options_int(options, "max_values", 2);
    if (!(coverage > 0.0 && coverage <= 1.0))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'coverage' is %g; must be in (0, 1]", fn, coverage);
    if (max_values < 1 || max_values > 1000000)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'max_values' is %lld; must be >= 1", fn,
                           (long long)max_values);
    const int64_t m = c->size[cluster], *mem = c->members + c->member_off[cluster];
    int32_t *col = polca__alloc((size_t)m * sizeof *col, fn);
    tally *t = polca__alloc((size_t)m * sizeof *t, fn);
    if (!col || !t) {
        free(col), free(t);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    /* "At least coverage of the members": count >= coverage * m, with a
     * relative slack of 1e-12 so that 0.7 * 10 (= 7.000000000000001 in
     * binary) still accepts 7 members. */
    const double need = coverage * (double)m * (1.0 - 1e-12);
    for (int64_t p = 0; p < n_positions; p++) {
        for (int64_t q = 0; q < m; q++) col[q] = tags[mem[q] * n_positions + p];
        qsort(col, (size_t)m, sizeof *col, by_int);
        int64_t distinct = 0;
        for (int64_t q = 0; q < m; q++) {
            if (q == 0 || col[q] != col[q - 1]) t[distinct++] = (tally){col[q], 0};
            t[distinct - 1].count++;
        }
        qsort(t, (size_t)distinct, sizeof *t, by_count);
        int64_t used = 0, covered = 0;
        while (used < distinct && (double)covered < need) covered += t[used++].count;
        int ok = used <= max_values;
        n_values[p] = ok ? (int32_t)used : 0;
        for (int64_t v = 0; v < max_values; v++)
            values[p * max_values + v] = ok && v < used ? t[v].value : -1;
    }
    free(col), free(t);
    return POLCA_OK;
}
