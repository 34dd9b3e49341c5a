/*
 * src/clustering.c - polca_clustering: per-direction HDBSCAN on loss
 * trajectories, with each cluster's members, medoid, mean trajectory,
 * breakthrough onset and hidden-breakthrough flag (docs/method.md#clustering
 * and docs/method.md#breakthroughs; include/polca/cluster.h has the
 * definitions).
 *
 * Reading of the paper (section 3.4 and Appendix G) for the plateau: "the
 * step where the mean exact loss plateaus (Appendix Figure 7)" is the loss of
 * the whole evaluation set, so by default tau comes from the mean exact loss
 * over all n samples and every cluster is compared with that one tau;
 * "plateau_over" = "members" gives each cluster the plateau of its own
 * members' mean exact loss instead.
 */
#include <stdlib.h>
#include <string.h>

#include "clustering.h"
#include "comm.h"
#include "crc32c.h"
#include "hdbscan.h"

static const polca__option_spec own_options[] = {
    {"min_samples_divisor", POLCA_OPT_INT}, {"filter", POLCA_OPT_STRING},
    {"smoothing", POLCA_OPT_INT},           {"onset_of", POLCA_OPT_STRING},
    {"plateau", POLCA_OPT_DOUBLE},          {"plateau_epsilon", POLCA_OPT_DOUBLE},
    {"plateau_over", POLCA_OPT_STRING},     {"medoid", POLCA_OPT_STRING},
    {"normalize", POLCA_OPT_STRING},        {"cluster_onset", POLCA_OPT_STRING},
    {NULL, 0},
};

/* The "cluster_onset" rule when the option is not set: the paper's (eq. 10). */
#define DEFAULT_CLUSTER_ONSET "mean"
#define ONSET_MEAN 0
#define ONSET_MEDIAN 1
#define ONSET_MEAN_CURVE 2

#define FILTER_DECREASE 0
#define FILTER_NET 1
#define FILTER_NONE 2

typedef struct settings {
    int filter, cumsum, over_members, medoid_euclid;
    int unit_norm; /* HDBSCAN sees each trajectory divided by its norm */
    int onset_rule; /* ONSET_*: a cluster's onset from its members' */
    int64_t smoothing, divisor, min_samples; /* min_samples 0: per direction */
    int tau_given;
    double tau, eps;
} settings;

static int32_t read_settings(const polca_options *o, const char *fn, settings *s) {
    memset(s, 0, sizeof *s);
    const char *f = polca__options_string(o, "filter", "decrease");
    if (!strcmp(f, "decrease"))
        s->filter = FILTER_DECREASE;
    else if (!strcmp(f, "net_decrease"))
        s->filter = FILTER_NET;
    else if (!strcmp(f, "none"))
        s->filter = FILTER_NONE;
    else
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'filter' is '%s'; expected decrease, net_decrease or none",
                           fn, f);
    const char *on = polca__options_string(o, "onset_of", "trajectory");
    if (strcmp(on, "trajectory") && strcmp(on, "cumsum"))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'onset_of' is '%s'; expected trajectory or cumsum", fn, on);
    s->cumsum = !strcmp(on, "cumsum");
    const char *ov = polca__options_string(o, "plateau_over", "all");
    if (strcmp(ov, "all") && strcmp(ov, "members"))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'plateau_over' is '%s'; expected all or members", fn, ov);
    s->over_members = !strcmp(ov, "members");
    const char *md = polca__options_string(o, "medoid", "squared");
    if (strcmp(md, "squared") && strcmp(md, "euclidean"))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'medoid' is '%s'; expected squared or euclidean", fn, md);
    s->medoid_euclid = !strcmp(md, "euclidean");
    const char *nm = polca__options_string(o, "normalize", "none");
    if (strcmp(nm, "none") && strcmp(nm, "unit"))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'normalize' is '%s'; expected none or unit", fn, nm);
    s->unit_norm = !strcmp(nm, "unit");
    const char *co = polca__options_string(o, "cluster_onset", DEFAULT_CLUSTER_ONSET);
    if (!strcmp(co, "mean"))
        s->onset_rule = ONSET_MEAN;
    else if (!strcmp(co, "median"))
        s->onset_rule = ONSET_MEDIAN;
    else if (!strcmp(co, "mean_curve"))
        s->onset_rule = ONSET_MEAN_CURVE;
    else
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'cluster_onset' is '%s'; expected mean, median or "
                           "mean_curve", fn, co);
    s->smoothing = polca__options_int(o, "smoothing", 1);
    if (s->smoothing < 1 || s->smoothing % 2 == 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'smoothing' is %lld; must be an odd width >= 1", fn,
                           (long long)s->smoothing);
    s->divisor = polca__options_int(o, "min_samples_divisor", 15);
    if (s->divisor < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'min_samples_divisor' is %lld; must be >= 1", fn,
                           (long long)s->divisor);
    s->min_samples = polca__options_int(o, "min_samples", 0);
    s->tau = polca__options_double(o, "plateau", NAN);
    s->tau_given = !isnan(s->tau);
    if (s->tau_given && !isfinite(s->tau))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: option 'plateau' is not finite", fn);
    s->eps = polca__options_double(o, "plateau_epsilon", 0.05);
    if (!(s->eps > 0.0 && s->eps < 1.0))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'plateau_epsilon' is %g; must be in (0, 1)", fn, s->eps);
    return POLCA_OK;
}

/* First NaN/Inf of v, named as a 3-D ([a][b][c]) or 2-D ([b][c]) index. */
static int32_t check_finite(const char *fn, const char *arg, const float *v, int three_d,
                            int64_t a, int64_t b, int64_t c) {
    for (int64_t i = 0; i < a * b * c; i++)
        if (!isfinite(v[i])) {
            if (three_d)
                return polca__fail(POLCA_ERR_NOT_FINITE, "%s: %s[%lld][%lld][%lld] is not finite",
                                   fn, arg, (long long)(i / (b * c)), (long long)(i / c % b),
                                   (long long)(i % c));
            return polca__fail(POLCA_ERR_NOT_FINITE, "%s: %s[%lld][%lld] is not finite", fn, arg,
                               (long long)(i / c), (long long)(i % c));
        }
    return POLCA_OK;
}

void polca_clustering_destroy(polca_clustering *c) {
    if (!c || c->head.magic != POLCA_MAGIC_CLUSTERING) return;
    free(c->labels), free(c->prob), free(c->score), free(c->onset);
    free(c->dir), free(c->size), free(c->medoid), free(c->member_off), free(c->members);
    free(c->mean), free(c->c_onset), free(c->c_tau), free(c->hidden);
    c->head.magic = 0;
    free(c);
}

/* Appends room for `more` clusters to the per-cluster arrays. */
static int32_t grow_clusters(polca_clustering *c, int64_t more) {
    int64_t nc = c->n_clusters + more;
#define GROW(field, count)                                                                    \
    do {                                                                                      \
        void *p_ = realloc(c->field, (size_t)(count) * sizeof *c->field + 1);                 \
        if (!p_) return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "polca_clustering_create: out of " \
                                                             "memory for %lld clusters",      \
                                    (long long)nc);                                           \
        c->field = p_;                                                                        \
    } while (0)
    GROW(dir, nc);
    GROW(size, nc);
    GROW(medoid, nc);
    GROW(member_off, nc + 1);
    GROW(mean, nc * c->t);
    GROW(c_onset, nc);
    GROW(c_tau, nc);
    GROW(hidden, nc);
#undef GROW
    return POLCA_OK;
}

/* Medoid of one cluster: its m members are rows `rows` of xs [n_rows][t];
 * mean_d [t] is their mean. */
static int32_t find_medoid(const polca_context *ctx, const settings *s, const float *xs,
                           int64_t n_rows, int64_t m, int64_t t, const int64_t *rows,
                           const double *mean_d, int64_t *out_row) {
    int64_t best = rows[0];
    double best_v = INFINITY;
    if (!s->medoid_euclid) {
        for (int64_t r = 0; r < m; r++) {
            double acc = 0.0;
            for (int64_t j = 0; j < t; j++) {
                double dd = (double)xs[rows[r] * t + j] - mean_d[j];
                acc += dd * dd;
            }
            if (acc < best_v) best_v = acc, best = rows[r];
        }
        *out_row = best;
        return POLCA_OK;
    }
    polca__hdb_dist dd;
    int64_t *pa = polca__alloc((size_t)m * sizeof *pa, "medoid");
    double *dist = polca__alloc((size_t)m * sizeof *dist, "medoid");
    int32_t st = pa && dist ? polca__hdb_dist_open(&dd, ctx, n_rows, t, xs, t, 0)
                            : POLCA_ERR_OUT_OF_MEMORY;
    if (st) {
        free(pa), free(dist);
        return st;
    }
    for (int64_t r = 0; !st && r < m; r++) {
        for (int64_t q = 0; q < m; q++) pa[q] = rows[r];
        st = polca__hdb_dist_pairs(&dd, m, pa, rows, dist);
        double acc = 0.0;
        for (int64_t q = 0; q < m; q++) acc += dist[q];
        if (acc < best_v) best_v = acc, best = rows[r];
    }
    polca__hdb_dist_close(&dd);
    free(pa), free(dist);
    *out_row = best;
    return st;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A cluster's onset under the "cluster_onset" rule (docs/method.md#onset-eq-9):
 * the mean of its members' onsets on[size] (eq. 10), their median (the mean
 * of the two middle values for an even size; sorts `on`), or eq. 9 on its
 * mean trajectory mean[t] as a checkpoint index. work: [2t + 1] doubles. */
static double cluster_onset(const settings *s, double *on, int64_t size, const float *mean,
                            int64_t t, int64_t t1, double *work) {
    if (s->onset_rule == ONSET_MEAN_CURVE)
        return (double)(polca__onset(mean, t, s->smoothing, s->cumsum, work) + (t1 - t));
    if (s->onset_rule == ONSET_MEDIAN) {
        qsort(on, (size_t)size, sizeof *on, by_value);
        return size % 2 ? on[size / 2] : 0.5 * (on[size / 2 - 1] + on[size / 2]);
    }
    double sum = 0.0;
    for (int64_t q = 0; q < size; q++) sum += on[q];
    return sum / (double)size;
}

/* Clusters one direction: `kept` rows of traj [n][t] (ascending ids). */
static int32_t cluster_direction(polca_context *ctx, polca_clustering *c, const settings *s,
                                 const polca_options *o, int64_t dir, const float *traj,
                                 const float *exact, const int64_t *kept, int64_t m,
                                 float *xs) {
    static const char *fn = "polca_clustering_create";
    const int64_t n = c->n, t = c->t, t1 = c->t1;
    int32_t *lab = c->labels + dir * n;
    float *prob = c->prob + dir * n, *score = c->score + dir * n;
    for (int64_t i = 0; i < n; i++) lab[i] = -2, prob[i] = 0.0f, score[i] = NAN;
    for (int64_t r = 0; r < m; r++) lab[kept[r]] = -1, score[kept[r]] = 0.0f;
    if (m < 2) return POLCA_OK; /* nothing to cluster: a lone sample is noise */

    for (int64_t r = 0; r < m; r++) memcpy(xs + r * t, traj + kept[r] * t, (size_t)t * sizeof *xs);
    polca__hdb_params p;
    int64_t ms = s->min_samples > 0 ? s->min_samples : m / s->divisor;
    int32_t st = polca__hdb_params_read(o, m, 150, ms > 0 ? ms : 1, fn, &p);
    if (st) return st;
    polca__hdb_result r;
    memset(&r, 0, sizeof r);
    r.labels = polca__alloc((size_t)m * sizeof *r.labels, "clustering labels");
    r.probabilities = polca__alloc((size_t)m * sizeof(double), "clustering probabilities");
    r.scores = polca__alloc((size_t)m * sizeof(double), "clustering scores");
    int64_t *rows = polca__alloc((size_t)m * sizeof *rows, "clustering members");
    double *mean_d = polca__alloc((size_t)(t > t1 ? t : t1) * sizeof *mean_d, "clustering mean");
    double *on = polca__alloc((size_t)m * sizeof *on, "clustering onsets");
    double *work = polca__alloc((size_t)(2 * t + 1) * sizeof *work, "clustering onsets");
    if (!r.labels || !r.probabilities || !r.scores || !rows || !mean_d || !on || !work) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    /* normalize=unit: cluster the shapes (rows scaled to unit Euclidean
     * norm, a zero row left zero); members' means, medoids and onsets below
     * still come from the trajectories as given. */
    float *hx = xs;
    if (s->unit_norm) {
        hx = polca__alloc((size_t)m * (size_t)t * sizeof *hx, "normalized trajectories");
        if (!hx) {
            st = POLCA_ERR_OUT_OF_MEMORY;
            goto done;
        }
        for (int64_t q = 0; q < m; q++) {
            double sq = 0.0;
            for (int64_t j = 0; j < t; j++) sq += (double)xs[q * t + j] * xs[q * t + j];
            double scale = sq > 0.0 ? 1.0 / sqrt(sq) : 0.0;
            for (int64_t j = 0; j < t; j++) hx[q * t + j] = (float)(xs[q * t + j] * scale);
        }
    }
    st = polca__hdb_run(ctx, m, t, hx, t, &p, 0, &r);
    if (hx != xs) free(hx);
    if (st) {
        polca__wrap(st, "%s: direction %lld", fn, (long long)dir);
        goto done;
    }
    const int64_t first = c->n_clusters;
    st = grow_clusters(c, r.n_clusters);
    if (st) goto done;
    for (int64_t q = 0; q < m; q++) {
        lab[kept[q]] = r.labels[q] >= 0 ? (int32_t)(first + r.labels[q]) : -1;
        prob[kept[q]] = (float)r.probabilities[q];
        score[kept[q]] = (float)r.scores[q];
    }
    for (int64_t cl = 0; cl < r.n_clusters; cl++) {
        const int64_t g = first + cl;
        int64_t size = 0;
        for (int64_t q = 0; q < m; q++)
            if (r.labels[q] == cl) rows[size++] = q;
        c->dir[g] = dir;
        c->size[g] = size;
        c->member_off[g + 1] = c->member_off[g] + size;
        /* mean trajectory (in double) and the cluster's onset */
        memset(mean_d, 0, (size_t)t * sizeof *mean_d);
        for (int64_t q = 0; q < size; q++) {
            for (int64_t j = 0; j < t; j++) mean_d[j] += (double)xs[rows[q] * t + j];
            on[q] = c->onset[dir * n + kept[rows[q]]];
        }
        for (int64_t j = 0; j < t; j++) {
            mean_d[j] /= (double)size;
            c->mean[g * t + j] = (float)mean_d[j];
        }
        c->c_onset[g] = cluster_onset(s, on, size, c->mean + g * t, t, t1, work);
        int64_t medoid_row = 0;
        st = find_medoid(ctx, s, xs, m, size, t, rows, mean_d, &medoid_row);
        if (st) goto done;
        c->medoid[g] = kept[medoid_row];
        if (s->over_members && !s->tau_given) {
            memset(mean_d, 0, (size_t)t1 * sizeof *mean_d);
            for (int64_t q = 0; q < size; q++)
                for (int64_t u = 0; u < t1; u++)
                    mean_d[u] += (double)exact[kept[rows[q]] * t1 + u];
            for (int64_t u = 0; u < t1; u++) mean_d[u] /= (double)size;
            c->c_tau[g] = polca__plateau(mean_d, t1, s->eps);
        } else {
            c->c_tau[g] = c->tau;
        }
        c->hidden[g] = c->c_onset[g] > c->c_tau[g];
    }
    c->n_clusters = first + r.n_clusters;
done:
    free(r.labels), free(r.probabilities), free(r.scores), free(rows), free(mean_d);
    free(on), free(work);
    return st;
}

/* Whether sample row[t] is clustered under the filter. */
static int kept_by_filter(const settings *s, const float *row, int64_t t) {
    return s->filter == FILTER_NONE       ? 1
           : s->filter == FILTER_DECREASE ? row[t - 1] < 0.0f
                                          : row[t - 1] < row[0];
}

/* Every check of polca_clustering_create's arguments (ctx already checked):
 * fills *s and *probe. */
static int32_t check_arguments(int64_t k, int64_t n, int64_t t, const float *traj, int64_t t1,
                               const float *exact, const polca_options *options,
                               polca_clustering **out, settings *s, polca__hdb_params *probe) {
    static const char *fn = "polca_clustering_create";
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (k < 1 || k > INT32_MAX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'k' is %lld; must be >= 1",
                           fn, (long long)k);
    if (n < 1 || n > INT32_MAX)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n' is %lld; must be 1..2147483647", fn, (long long)n);
    if (t < 3)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 't' is %lld; must be >= 3 (eq. 9 needs three points)",
                           fn, (long long)t);
    if (t1 < t)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 't1' is %lld; must be >= t (%lld)", fn, (long long)t1,
                           (long long)t);
    size_t total;
    if (!polca__mul_size((size_t)k, (size_t)n, &total) ||
        !polca__mul_size(total, (size_t)t1, &total) ||
        !polca__mul_size(total, sizeof(float), &total))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: k x n x t1 overflows", fn);
    if (!traj)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'trajectories' is NULL", fn);
    /* Options: HDBSCAN's and our own. */
    polca__option_spec spec[32];
    int ns = 0;
    for (const polca__option_spec *q = polca__hdb_option_names; q->name; q++) spec[ns++] = *q;
    for (const polca__option_spec *q = own_options; q->name; q++) spec[ns++] = *q;
    spec[ns] = (polca__option_spec){NULL, 0};
    int32_t st = polca__options_check(options, spec, fn);
    if (st) return st;
    st = read_settings(options, fn, s);
    if (st) return st;
    st = polca__hdb_params_read(options, n > 1 ? n : 2, 150, 1, fn, probe);
    if (st) return st;
    if (!exact && (!s->tau_given))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'exact_loss' is NULL and option 'plateau' is not set",
                           fn);
    st = check_finite(fn, "trajectories", traj, 1, k, n, t);
    if (!st && exact) st = check_finite(fn, "exact_loss", exact, 0, 1, n, t1);
    return st;
}

/* The arguments as every rank must pass them, one checksum per argument
 * (clustering_comm.c compares them with rank 0's). The options enter as
 * the settings and HDBSCAN parameters they resolve to. */
static void fingerprint(int64_t k, int64_t n, int64_t t, const float *traj, int64_t t1,
                        const float *exact, const settings *s, const polca__hdb_params *p,
                        uint64_t print[POLCA__CLUSTERING_PRINT]) {
    print[0] = (uint64_t)k, print[1] = (uint64_t)n, print[2] = (uint64_t)t;
    print[3] = (uint64_t)t1;
    print[4] = polca__crc32c(0, traj, (size_t)(k * n * t) * sizeof *traj);
    print[5] = exact ? polca__crc32c(0, exact, (size_t)(n * t1) * sizeof *exact) : 0;
    print[5] |= (uint64_t)(exact != NULL) << 32;
    double v[22] = {s->filter,    s->cumsum,          s->over_members,
                    s->medoid_euclid, s->unit_norm,   s->onset_rule,
                    (double)s->smoothing, (double)s->divisor, (double)s->min_samples,
                    s->tau_given, s->tau_given ? s->tau : 0.0, s->eps,
                    (double)p->min_cluster_size, (double)p->min_samples, p->alpha,
                    p->leaf,      p->epsilon,         isinf(p->epsilon_max) ? -1.0 : p->epsilon_max,
                    p->allow_single_cluster, (double)p->max_cluster_size, 0.0, 0.0};
    print[6] = polca__crc32c(0, v, sizeof v);
}

/* Clusters the directions with owner[dir] == rank (every direction when
 * owner is NULL) into c, in ascending order; dir_first[dir] and dir_nc[dir]
 * receive where each one's clusters start in c and how many it has. */
static int32_t cluster_own(polca_context *ctx, polca_clustering *c, const settings *s,
                           const polca_options *options, const float *traj, const float *exact,
                           const int32_t *owner, int32_t rank, int64_t *dir_first,
                           int64_t *dir_nc) {
    const int64_t k = c->k, n = c->n, t = c->t, t1 = c->t1;
    float *xs = polca__alloc((size_t)(n * t) * sizeof *xs, "polca_clustering_create");
    double *work =
        polca__alloc((size_t)(2 * (t > t1 ? t : t1) + 1) * sizeof *work, "polca_clustering_create");
    int64_t *kept = polca__alloc((size_t)n * sizeof *kept, "polca_clustering_create");
    int32_t st = POLCA_OK;
    if (!xs || !work || !kept) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    int64_t mine = 0, done_dirs = 0;
    for (int64_t dir = 0; dir < k; dir++) mine += !owner || owner[dir] == rank;
    for (int64_t dir = 0; dir < k; dir++) {
        if (owner && owner[dir] != rank) continue;
        const float *traj_k = traj + dir * n * t;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            const float *row = traj_k + i * t;
            c->onset[dir * n + i] =
                (double)(polca__onset(row, t, s->smoothing, s->cumsum, work) + (t1 - t));
            if (kept_by_filter(s, row, t)) kept[m++] = i;
        }
        dir_first[dir] = c->n_clusters;
        st = cluster_direction(ctx, c, s, options, dir, traj_k, exact, kept, m, xs);
        if (st) break;
        dir_nc[dir] = c->n_clusters - dir_first[dir];
        st = polca__progress(ctx, "clustering", ++done_dirs, mine, NAN);
        if (st) break;
    }
done:
    free(xs), free(work), free(kept);
    return st;
}

/* The members of every cluster, from the labels: direction by direction in
 * cluster order, ascending sample indices. */
static int32_t fill_members(polca_clustering *c) {
    static const char *fn = "polca_clustering_create";
    c->members = polca__alloc((size_t)(c->member_off[c->n_clusters] + 1) * sizeof *c->members, fn);
    int64_t *fill = polca__calloc((size_t)(c->n_clusters + 1), sizeof *fill, fn);
    if (!c->members || !fill) {
        free(fill);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int64_t dir = 0; dir < c->k; dir++)
        for (int64_t i = 0; i < c->n; i++) {
            int32_t g = c->labels[dir * c->n + i];
            if (g >= 0) c->members[c->member_off[g] + fill[g]++] = i;
        }
    free(fill);
    return POLCA_OK;
}

/* A local status agreed over the ranks, except a failure of the
 * communicator itself: the other ranks may not be listening any more. */
static int32_t agree(const polca_context *ctx, int32_t st) {
    return st == POLCA_ERR_COMM ? st : polca__comm_agree(ctx, st);
}

int32_t polca_clustering_create(polca_context *ctx, int64_t k, int64_t n, int64_t t,
                                const float *traj, int64_t t1, const float *exact,
                                const polca_options *options, polca_clustering **out) {
    static const char *fn = "polca_clustering_create";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st; /* without a context there is no communicator to agree over */
    settings s;
    polca__hdb_params probe;
    st = agree(ctx, check_arguments(k, n, t, traj, t1, exact, options, out, &s, &probe));
    if (st) return st;
    const int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    int32_t *owner = NULL;
    int64_t *dir_first = NULL, *dir_nc = NULL;
    polca_clustering *c = NULL;
    if (size > 1) {
        uint64_t print[POLCA__CLUSTERING_PRINT];
        fingerprint(k, n, t, traj, t1, exact, &s, &probe, print);
        st = polca__clustering_same_everywhere(ctx, print);
        if (st) return st;
    }

    c = polca__calloc(1, sizeof *c, "polca_clustering");
    if (c) c->head.magic = POLCA_MAGIC_CLUSTERING, c->head.ctx = ctx;
    owner = polca__alloc((size_t)k * sizeof *owner, fn);
    dir_first = polca__calloc((size_t)k, sizeof *dir_first, fn);
    dir_nc = polca__calloc((size_t)k, sizeof *dir_nc, fn);
    if (!c || !owner || !dir_first || !dir_nc) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto agreed;
    }
    c->k = k, c->n = n, c->t = t, c->t1 = t1;
    c->labels = polca__alloc((size_t)(k * n) * sizeof *c->labels, fn);
    c->prob = polca__alloc((size_t)(k * n) * sizeof *c->prob, fn);
    c->score = polca__alloc((size_t)(k * n) * sizeof *c->score, fn);
    c->onset = polca__alloc((size_t)(k * n) * sizeof *c->onset, fn);
    c->member_off = polca__calloc(1, sizeof *c->member_off, fn);
    if (!c->labels || !c->prob || !c->score || !c->onset || !c->member_off) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto agreed;
    }
    /* The overall plateau (every rank: it is cheap and every cluster needs it). */
    if (s.tau_given) {
        c->tau = s.tau;
    } else {
        double *m = polca__calloc((size_t)t1, sizeof *m, fn);
        if (!m) {
            st = POLCA_ERR_OUT_OF_MEMORY;
            goto agreed;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t u = 0; u < t1; u++) m[u] += (double)exact[i * t1 + u];
        for (int64_t u = 0; u < t1; u++) m[u] /= (double)n;
        c->tau = polca__plateau(m, t1, s.eps);
        free(m);
    }
    /* Which rank clusters which direction: by the samples each clusters. */
    if (size > 1) {
        int64_t *count = polca__calloc((size_t)k, sizeof *count, fn);
        if (!count) {
            st = POLCA_ERR_OUT_OF_MEMORY;
            goto agreed;
        }
        for (int64_t dir = 0; dir < k; dir++)
            for (int64_t i = 0; i < n; i++)
                count[dir] += kept_by_filter(&s, traj + (dir * n + i) * t, t);
        st = polca__clustering_owners(k, n, count, size, owner);
        free(count);
        if (st) goto agreed;
    }
    st = cluster_own(ctx, c, &s, options, traj, exact, size > 1 ? owner : NULL, rank, dir_first,
                     dir_nc);
agreed:
    st = agree(ctx, st);
    if (!st && size > 1) st = polca__clustering_combine(ctx, &c, owner, dir_first, dir_nc);
    if (!st) st = agree(ctx, fill_members(c));
    free(owner), free(dir_first), free(dir_nc);
    if (st) {
        polca_clustering_destroy(c);
        return st;
    }
    *out = c;
    return POLCA_OK;
}

/* ---- getters ---- */

#define CHECK_CLUSTERING(fn)                                                                   \
    polca__clear_error();                                                                      \
    int32_t st_ = polca__check_handle(c, POLCA_MAGIC_CLUSTERING, fn, "clustering",              \
                                      "polca_clustering");                                     \
    if (st_) return st_

static int32_t check_cluster(const polca_clustering *c, int64_t cluster, const char *fn) {
    if (cluster < 0 || cluster >= c->n_clusters)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'cluster' is %lld; must be 0..%lld", fn,
                           (long long)cluster, (long long)c->n_clusters - 1);
    return POLCA_OK;
}

int32_t polca_clustering_shape(const polca_clustering *c, int64_t *k, int64_t *n, int64_t *t,
                               int64_t *t1, int64_t *n_clusters) {
    CHECK_CLUSTERING("polca_clustering_shape");
    if (k) *k = c->k;
    if (n) *n = c->n;
    if (t) *t = c->t;
    if (t1) *t1 = c->t1;
    if (n_clusters) *n_clusters = c->n_clusters;
    return POLCA_OK;
}

int32_t polca_clustering_labels(const polca_clustering *c, int64_t direction, int32_t *labels,
                                float *probabilities, float *outlier_scores, double *onsets) {
    static const char *fn = "polca_clustering_labels";
    CHECK_CLUSTERING(fn);
    if (direction < 0 || direction >= c->k)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'direction' is %lld; must be 0..%lld", fn,
                           (long long)direction, (long long)c->k - 1);
    if (!labels)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'labels' is NULL", fn);
    const size_t off = (size_t)(direction * c->n), cnt = (size_t)c->n;
    memcpy(labels, c->labels + off, cnt * sizeof *labels);
    if (probabilities) memcpy(probabilities, c->prob + off, cnt * sizeof *probabilities);
    if (outlier_scores) memcpy(outlier_scores, c->score + off, cnt * sizeof *outlier_scores);
    if (onsets) memcpy(onsets, c->onset + off, cnt * sizeof *onsets);
    return POLCA_OK;
}

int32_t polca_clustering_cluster(const polca_clustering *c, int64_t cluster, int64_t *direction,
                                 int64_t *size, int64_t *medoid, double *onset, double *plateau,
                                 int32_t *hidden) {
    static const char *fn = "polca_clustering_cluster";
    CHECK_CLUSTERING(fn);
    int32_t st = check_cluster(c, cluster, fn);
    if (st) return st;
    if (direction) *direction = c->dir[cluster];
    if (size) *size = c->size[cluster];
    if (medoid) *medoid = c->medoid[cluster];
    if (onset) *onset = c->c_onset[cluster];
    if (plateau) *plateau = c->c_tau[cluster];
    if (hidden) *hidden = c->hidden[cluster];
    return POLCA_OK;
}

int32_t polca_clustering_members(const polca_clustering *c, int64_t cluster, int64_t *members) {
    static const char *fn = "polca_clustering_members";
    CHECK_CLUSTERING(fn);
    int32_t st = check_cluster(c, cluster, fn);
    if (st) return st;
    if (!members) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'members' is NULL", fn);
    memcpy(members, c->members + c->member_off[cluster],
           (size_t)c->size[cluster] * sizeof *members);
    return POLCA_OK;
}

int32_t polca_clustering_mean(const polca_clustering *c, int64_t cluster, float *mean) {
    static const char *fn = "polca_clustering_mean";
    CHECK_CLUSTERING(fn);
    int32_t st = check_cluster(c, cluster, fn);
    if (st) return st;
    if (!mean) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'mean' is NULL", fn);
    memcpy(mean, c->mean + cluster * c->t, (size_t)c->t * sizeof *mean);
    return POLCA_OK;
}

int32_t polca_clustering_plateau(const polca_clustering *c, double *tau) {
    static const char *fn = "polca_clustering_plateau";
    CHECK_CLUSTERING(fn);
    if (!tau) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'tau' is NULL", fn);
    *tau = c->tau;
    return POLCA_OK;
}

int32_t polca_clustering_hidden_fraction(const polca_clustering *c, double *fraction) {
    static const char *fn = "polca_clustering_hidden_fraction";
    CHECK_CLUSTERING(fn);
    if (!fraction)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'fraction' is NULL", fn);
    int64_t h = 0;
    for (int64_t g = 0; g < c->n_clusters; g++) h += c->hidden[g];
    *fraction = c->n_clusters ? (double)h / (double)c->n_clusters : 0.0;
    return POLCA_OK;
}
