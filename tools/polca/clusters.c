/*
 * tools/polca/clusters.c - clustering a trajectories file (clusters.h).
 */
#include "clusters.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

const char *const traj_kind_names[N_KINDS] = {"polca", "first_order", "fisher", "lca",
                                              "exact_loss", "loss_change"};
const char *const traj_kind_titles[N_KINDS] = {"POLCA", "first-order POLCA", "Fisher",
                                               "per-sample LCA", "exact loss",
                                               "change in exact loss"};

const cli_opt cluster_opts[] = {
    {"min-cluster-size", "N", "HDBSCAN min_cluster_size (default 150, the paper's)"},
    {"min-samples", "N", "HDBSCAN min_samples (default: samples clustered / 15)"},
    {"min-samples-divisor", "N", "that divisor (default 15)"},
    {"selection", "NAME", "eom (default) or leaf"},
    {"filter", "NAME", "decrease (default for polca, first_order, lca), net_decrease, or none "
                       "(default for exact_loss, loss_change, fisher)"},
    {"normalize", "HOW", "none (default, the paper's): cluster the trajectories as given; unit: "
                         "each divided by its norm, clustered by shape alone"},
    {"smoothing", "W", "odd moving-average width before the onset rule (default 1)"},
    {"cluster-onset", "RULE", "a cluster's onset: mean (default, the paper's eq. 10) of its "
                              "members' onsets, median of them, or mean_curve: eq. 9 on its mean "
                              "trajectory"},
    {"plateau", "INDEX", "the plateau tau as a checkpoint index (default: from the exact loss)"},
    {"plateau-epsilon", "E", "plateau tolerance (default 0.05)"},
    {"plateau-over", "WHAT", "all (default) or members"},
    {NULL, NULL, NULL},
};

void cli_opts_join(cli_opt *dst, int cap, const cli_opt *a, const cli_opt *b) {
    int n = 0;
    for (; a && a->name && n < cap - 1; a++) dst[n++] = *a;
    for (; b && b->name && n < cap - 1; b++) dst[n++] = *b;
    dst[n] = (cli_opt){NULL, NULL, NULL};
}

static int present(const polca_trajectories *t, int32_t kind) {
    const float *d;
    int64_t k, n, tt;
    return polca_trajectories_view(t, kind, &d, &k, &n, &tt) == POLCA_OK;
}

int parse_kinds(const cli_args *a, const polca_trajectories *t, const char *dflt, int32_t *kinds,
                int *n) {
    const char *name = cli_get(a, "kind") ? cli_get(a, "kind") : dflt;
    *n = 0;
    if (strcmp(name, "all") == 0) {
        for (int32_t k = 0; k < N_KINDS; k++)
            if (present(t, k)) kinds[(*n)++] = k;
        return CLI_OK;
    }
    for (int32_t k = 0; k < N_KINDS; k++)
        if (strcmp(name, traj_kind_names[k]) == 0) {
            if (!present(t, k))
                return cli_fail(CLI_INPUT, "the trajectories file has no %s output (see polca "
                                "decompose --help)", name);
            kinds[(*n)++] = k;
            return CLI_OK;
        }
    return cli_fail(CLI_USAGE, "--kind '%s': expected all or one of polca, first_order, fisher, "
                    "lca, exact_loss, loss_change", name);
}

/* The filter a kind is clustered with: --filter, else the paper's per-kind
 * default (keep every sample for the exact loss, its change and Fisher). */
static const char *kind_filter(const cli_args *a, int32_t kind) {
    if (cli_get(a, "filter")) return cli_get(a, "filter");
    if (kind == POLCA_TRAJ_EXACT_LOSS || kind == POLCA_TRAJ_LOSS_CHANGE || kind == POLCA_TRAJ_FISHER)
        return "none";
    return "decrease";
}

/* No cluster found: one note on stdout (not with --quiet; stderr stays one
 * line on a later failure) naming the knobs that decide it, with their
 * values, and how many samples the filter left to cluster. */
static void warn_no_clusters(const cli_args *a, polca_clustering *c, int32_t kind) {
    int64_t k, n, nc, kept_max = 0;
    polca_clustering_shape(c, &k, &n, NULL, NULL, &nc);
    int32_t *lab = malloc(sizeof *lab * (size_t)(n + 1));
    for (int64_t d = 0; lab && d < k; d++) {
        int64_t kept = 0;
        if (polca_clustering_labels(c, d, lab, NULL, NULL, NULL) == POLCA_OK)
            for (int64_t i = 0; i < n; i++) kept += lab[i] != -2;
        if (kept > kept_max) kept_max = kept;
    }
    free(lab);
    const char *mcs = cli_get(a, "min-cluster-size"), *norm = cli_get(a, "normalize");
    const char *filter = kind_filter(a, kind);
    int unit = norm && strcmp(norm, "unit") == 0, all = strcmp(filter, "none") == 0;
    cli_say("note: %s: 0 clusters (--min-cluster-size %s, --normalize %s, --filter %s keeps at "
            "most %lld of %lld samples per direction); the knobs that matter: a smaller "
            "--min-cluster-size%s%s", traj_kind_titles[kind], mcs ? mcs : "150",
            unit ? "unit" : "none", filter, (long long)kept_max, (long long)n,
            unit ? "" : ", --normalize unit", all ? "" : ", --filter none");
}

int cluster_kind(const cli_args *a, polca_trajectories *t, int32_t kind, polca_clustering **out) {
    const float *x, *exact = NULL;
    int64_t k, n, tt, ek, en, et, t1;
    const int64_t *steps;
    int32_t st = polca_trajectories_view(t, kind, &x, &k, &n, &tt);
    if (st) return cli_lib(st, NULL);
    polca_trajectories_steps(t, &steps, &t1);
    if (polca_trajectories_view(t, POLCA_TRAJ_EXACT_LOSS, &exact, &ek, &en, &et)) exact = NULL;
    polca_options *o = NULL;
    int rc = CLI_OK;
    int64_t v;
    double d;
    static const char *const int_opts[][2] = {{"min-cluster-size", "min_cluster_size"},
                                              {"min-samples", "min_samples"},
                                              {"min-samples-divisor", "min_samples_divisor"},
                                              {"smoothing", "smoothing"}};
    for (int i = 0; i < 4 && !rc; i++) {
        v = -1;
        rc = cli_get_int(a, int_opts[i][0], 1, INT32_MAX, &v);
        if (!rc && v >= 0) rc = cli_opt_int(&o, int_opts[i][1], v);
    }
    if (!rc && cli_get(a, "selection"))
        rc = cli_opt_string(&o, "cluster_selection_method", cli_get(a, "selection"));
    if (!rc) rc = cli_opt_string(&o, "filter", kind_filter(a, kind));
    const char *norm = cli_get(a, "normalize");
    if (!rc && norm && strcmp(norm, "none") != 0 && strcmp(norm, "unit") != 0)
        rc = cli_fail(CLI_USAGE, "--normalize '%s': expected none or unit", norm);
    if (!rc && norm) rc = cli_opt_string(&o, "normalize", norm);
    const char *rule = cli_get(a, "cluster-onset");
    if (!rc && rule && strcmp(rule, "mean") && strcmp(rule, "median") && strcmp(rule, "mean_curve"))
        rc = cli_fail(CLI_USAGE, "--cluster-onset '%s': expected mean, median or mean_curve", rule);
    if (!rc && rule) rc = cli_opt_string(&o, "cluster_onset", rule);
    if (!rc && kind == POLCA_TRAJ_LOSS_CHANGE) rc = cli_opt_string(&o, "onset_of", "cumsum");
    d = -1;
    if (!rc && !(rc = cli_get_double(a, "plateau", 0, 1e18, &d)) && d >= 0)
        rc = cli_opt_double(&o, "plateau", d);
    d = -1;
    if (!rc && !(rc = cli_get_double(a, "plateau-epsilon", 1e-12, 0.999999, &d)) && d > 0)
        rc = cli_opt_double(&o, "plateau_epsilon", d);
    if (!rc && cli_get(a, "plateau-over")) rc = cli_opt_string(&o, "plateau_over", cli_get(a, "plateau-over"));
    if (!rc && !exact && !cli_get(a, "plateau"))
        rc = cli_fail(CLI_INPUT, "the trajectories hold no exact loss to find the plateau: give --plateau");
    if (!rc) rc = cli_mpi_agree(CLI_OK); /* under MPI: no rank failed before the collective call */
    if (!rc) {
        st = polca_clustering_create(g_cli.ctx, k, n, tt, x, t1, exact, o, out);
        if (st) rc = cli_lib(st, kind == POLCA_TRAJ_POLCA ? "clustering the POLCA trajectories" : traj_kind_titles[kind]);
    }
    int64_t nc = 0;
    if (!rc && polca_clustering_shape(*out, NULL, NULL, NULL, NULL, &nc) == POLCA_OK && nc == 0)
        warn_no_clusters(a, *out, kind);
    polca_options_destroy(o);
    return rc;
}

double step_at(const int64_t *steps, int64_t t1, double index) {
    if (!isfinite(index)) return NAN;
    if (index <= 0) return (double)steps[0];
    if (index >= (double)(t1 - 1)) return (double)steps[t1 - 1];
    int64_t lo = (int64_t)floor(index);
    double f = index - (double)lo;
    return (1 - f) * (double)steps[lo] + f * (double)steps[lo + 1];
}

void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void json_num(FILE *f, double x) {
    if (!isfinite(x)) fputs("null", f);
    else if (x == floor(x) && fabs(x) < 9e15) fprintf(f, "%.0f", x);
    else fprintf(f, "%.17g", x);
}

/* ---- the paper's Appendix G rule (score, report) ---- */

int cli_load_restriction(const cli_args *a, int64_t n_samples, cli_restriction *out) {
    memset(out, 0, sizeof *out);
    out->min_share = 0.5;
    const char *path = cli_get(a, "tag"), *values = cli_get(a, "tag-values");
    if (!path) {
        if (values || cli_get(a, "min-share") || cli_get(a, "tag-column"))
            return cli_fail(CLI_USAGE, "--%s needs --tag TAG.npy",
                            values ? "tag-values" : cli_get(a, "min-share") ? "min-share" : "tag-column");
        return CLI_OK;
    }
    if (!values) return cli_fail(CLI_USAGE, "--tag needs --tag-values (the tag values that count, e.g. 1,2)");
    double share = 0.5;
    int rc = cli_get_double(a, "min-share", 0.0, 1.0, &share);
    if (!rc && share >= 1.0)
        rc = cli_fail(CLI_USAGE, "--min-share %s: must be in [0, 1) (a cluster counts when more "
                      "than this share of its labelled members have an allowed tag)", cli_get(a, "min-share"));
    int64_t column = -1;
    if (!rc) rc = cli_get_int(a, "tag-column", 0, INT32_MAX, &column);
    int64_t *vals = NULL, n_vals = 0;
    if (!rc) rc = cli_parse_index_list(values, "--tag-values", (int64_t)INT32_MAX + 1, &vals, &n_vals);
    if (!rc && n_vals == 0) rc = cli_fail(CLI_USAGE, "--tag-values '%s': no value", values);
    npy_file t, m;
    memset(&t, 0, sizeof t);
    memset(&m, 0, sizeof m);
    char err[512], desc[128] = "";
    if (!rc && npy_read(path, &t, err, sizeof err)) rc = cli_fail(CLI_INPUT, "%s", err);
    if (!rc) npy_describe(&t, desc, sizeof desc);
    if (!rc && t.kind != 'i' && t.kind != 'u' && t.kind != 'b')
        rc = cli_fail(CLI_INPUT, "%s: tags must be integers, not %s", path, desc);
    int32_t *tag = rc ? NULL : malloc(sizeof *tag * (size_t)(n_samples + 1));
    int32_t *allowed = rc ? NULL : malloc(sizeof *allowed * (size_t)n_vals);
    if (!rc && (!tag || !allowed)) rc = cli_fail(CLI_LIBRARY, "out of memory");
    /* Which elements of the file are the samples' tags, in sample order:
     * [N]; [N][C] column C; or [n_seq][n_ctx] at the mask's scored positions. */
    int64_t stride = 1, offset = 0, rows = 0;
    if (!rc && t.ndim == 1 && column < 0) {
        rows = t.shape[0];
    } else if (!rc && t.ndim == 2 && column >= 0) {
        if (column >= t.shape[1])
            rc = cli_fail(CLI_USAGE, "--tag-column %lld: %s has %lld columns", (long long)column, path,
                          (long long)t.shape[1]);
        rows = t.shape[0], stride = t.shape[1], offset = column;
    } else if (!rc && t.ndim == 2 && cli_get(a, "mask")) {
        const char *mp = cli_get(a, "mask");
        if (npy_read(mp, &m, err, sizeof err)) rc = cli_fail(CLI_INPUT, "%s", err);
        if (!rc && (m.ndim != 2 || m.shape[0] != t.shape[0] || m.shape[1] != t.shape[1]))
            rc = cli_fail(CLI_INPUT, "%s: the mask's shape differs from the tags' (%s)", mp, desc);
        int64_t j = 0;
        for (int64_t i = 0; !rc && i < m.count; i++) {
            int ok;
            if (npy_int(&m, i, &ok) == 0) continue;
            int64_t v = npy_int(&t, i, &ok);
            if (!ok || v < INT32_MIN || v > INT32_MAX)
                rc = cli_fail(CLI_INPUT, "%s: tag [%lld][%lld] does not fit int32", path,
                              (long long)(i / t.shape[1]), (long long)(i % t.shape[1]));
            else if (j < n_samples)
                tag[j] = (int32_t)v;
            j++;
        }
        if (!rc && j != n_samples)
            rc = cli_fail(CLI_INPUT, "%s: scores %lld positions; the trajectories have %lld samples", mp,
                          (long long)j, (long long)n_samples);
        rows = -1; /* done */
    } else if (!rc) {
        rc = cli_fail(CLI_INPUT, "%s: tags must be [n_samples], [n_samples][C] with --tag-column, or "
                      "[n_seq][n_ctx] with --mask; got %s%s", path, desc,
                      column >= 0 ? " with --tag-column" : "");
    }
    if (!rc && rows >= 0) {
        if (rows != n_samples)
            rc = cli_fail(CLI_INPUT, "%s: %lld tags for %lld samples", path, (long long)rows,
                          (long long)n_samples);
        for (int64_t i = 0; !rc && i < n_samples; i++) {
            int ok;
            int64_t v = npy_int(&t, i * stride + offset, &ok);
            if (!ok || v < INT32_MIN || v > INT32_MAX)
                rc = cli_fail(CLI_INPUT, "%s: tag [%lld] does not fit int32", path, (long long)i);
            else
                tag[i] = (int32_t)v;
        }
    }
    for (int64_t i = 0; !rc && i < n_vals; i++) allowed[i] = (int32_t)vals[i];
    npy_free(&t);
    npy_free(&m);
    free(vals);
    if (rc) {
        free(tag);
        free(allowed);
        return rc;
    }
    out->tag = tag, out->allowed = allowed, out->n_allowed = n_vals, out->min_share = share;
    return CLI_OK;
}

void cli_restriction_free(cli_restriction *r) {
    free(r->tag);
    free(r->allowed);
    memset(r, 0, sizeof *r);
}

void cli_restriction_describe(const cli_restriction *r, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "more than %g of the labelled members with a tag in {",
                                   r->min_share);
    for (int64_t i = 0; i < r->n_allowed && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", i ? "," : "", (int)r->allowed[i]);
    if (used < len) snprintf(buf + used, len - used, "}");
}
