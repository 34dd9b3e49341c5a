/*
 * tools/polca/clusters.c - clustering a trajectories file (clusters.h).
 */
#include "clusters.h"

#include <math.h>
#include <string.h>

const char *const traj_kind_names[N_KINDS] = {"polca", "first_order", "fisher", "lca",
                                              "exact_loss", "loss_change"};
const char *const traj_kind_titles[N_KINDS] = {"POLCA", "first-order POLCA", "Fisher",
                                               "per-sample LCA", "exact loss",
                                               "change in exact loss"};

const cli_opt cluster_opts[] = {
    {"kind", "NAME", "polca (default), first_order, fisher, lca, exact_loss, loss_change, or all"},
    {"min-cluster-size", "N", "HDBSCAN min_cluster_size (default 150, the paper's)"},
    {"min-samples", "N", "HDBSCAN min_samples (default: samples clustered / 15)"},
    {"min-samples-divisor", "N", "that divisor (default 15)"},
    {"selection", "NAME", "eom (default) or leaf"},
    {"filter", "NAME", "decrease (projected kinds' default), net_decrease, or none"},
    {"smoothing", "W", "odd moving-average width before the onset rule (default 1)"},
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
    const char *filter = cli_get(a, "filter");
    if (!filter && (kind == POLCA_TRAJ_EXACT_LOSS || kind == POLCA_TRAJ_LOSS_CHANGE ||
                    kind == POLCA_TRAJ_FISHER))
        filter = "none";
    if (!rc && filter) rc = cli_opt_string(&o, "filter", filter);
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
    if (!rc) {
        st = polca_clustering_create(g_cli.ctx, k, n, tt, x, t1, exact, o, out);
        if (st) rc = cli_lib(st, kind == POLCA_TRAJ_POLCA ? "clustering the POLCA trajectories" : traj_kind_titles[kind]);
    }
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
