/*
 * tools/polca/cmd_decompose.c - `polca decompose`: every sample's loss
 * change along each basis direction over the series (POLCA), with the
 * baselines, saved as a trajectories file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "npy.h"

static const cli_opt opts[] = {
    {"config", "MODEL.json", "the model config (required)"},
    {"tokens", "TOKENS.npy", "the samples: [n_seq][n_ctx] integers (required)"},
    {"mask", "MASK.npy", "scored positions (default: all but the last of each sequence)"},
    {"series", "SERIES.polca", "the checkpoint series (required)"},
    {"basis", "BASIS.polca", "the basis (required)"},
    {"out", "TRAJ.polca", "the trajectories file to write (required)"},
    {"curvature", "MODE", "exact (default), secant, or none (first order only)"},
    {"fisher", NULL, "also compute the Fisher baseline"},
    {"lca", "K", "also the per-sample LCA baseline on the K largest |theta| of the last checkpoint"},
    {"no-first-order", NULL, "do not keep first-order POLCA"},
    {"block", "N", "directions per pass (default 16)"},
    {"drop-rising", NULL, "Algorithm 1's filter: drop directions whose mean projected loss rises, "
                          "then recompute"},
    {"basis-out", "BASIS.polca", "with --drop-rising: write the kept basis here"},
    {"npy-dir", "DIR", "also write each output as DIR/<kind>.npy and DIR/steps.npy"},
    {"overwrite", NULL, "replace existing output files"},
    {NULL, NULL, NULL},
};

static const char *const kind_names[] = {"polca", "first_order", "fisher", "lca", "exact_loss",
                                         "loss_change"};

static int compute(polca_model *m, polca_data *d, polca_checkpoints *s, polca_basis *b,
                   polca_basis *lca, polca_options *o, polca_trajectories **out) {
    int32_t st = polca_trajectories_create(g_cli.ctx, m, d, s, b, lca, o, out);
    return st ? cli_lib(st, NULL) : CLI_OK;
}

/* Drops the directions whose mean final POLCA loss is > 0 from b. */
static int drop_rising(polca_trajectories *t, polca_basis *b, int64_t *dropped) {
    int64_t k = 0;
    polca_basis_count(b, &k);
    double *means = malloc(sizeof *means * (size_t)k);
    int64_t *idx = malloc(sizeof *idx * (size_t)k);
    int rc = CLI_OK;
    *dropped = 0;
    if (!means || !idx) rc = cli_fail(CLI_LIBRARY, "out of memory");
    int32_t st = rc ? 0 : polca_trajectories_final_means(t, POLCA_TRAJ_POLCA, means, k);
    if (st) rc = cli_lib(st, NULL);
    for (int64_t i = 0; !rc && i < k; i++)
        if (means[i] > 0) idx[(*dropped)++] = i;
    if (!rc && *dropped == k)
        rc = cli_fail(CLI_INPUT, "every direction's mean projected loss rises: nothing would be left");
    if (!rc && *dropped && (st = polca_basis_drop(b, idx, *dropped))) rc = cli_lib(st, NULL);
    free(means);
    free(idx);
    return rc;
}

static int export_npy(polca_trajectories *t, const char *dir) {
    char path[4096];
    for (int32_t kind = 0; kind < 6; kind++) {
        const float *data;
        int64_t k, n, tt;
        if (polca_trajectories_view(t, kind, &data, &k, &n, &tt)) continue;
        snprintf(path, sizeof path, "%s/%s.npy", dir, kind_names[kind]);
        int32_t st = polca_trajectories_export_npy(t, kind, path);
        if (st) return cli_lib(st, NULL);
    }
    const int64_t *steps;
    int64_t t1;
    polca_trajectories_steps(t, &steps, &t1);
    snprintf(path, sizeof path, "%s/steps.npy", dir);
    char err[512];
    if (npy_write(path, "<i8", 1, &t1, steps, err, sizeof err)) return cli_fail(CLI_INPUT, "%s", err);
    return CLI_OK;
}

int cmd_decompose(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, "decompose", opts, argc, argv,
                       "--config MODEL.json --tokens TOKENS.npy [--mask MASK.npy] --series "
                       "SERIES.polca --basis BASIS.polca --out TRAJ.polca",
                       "Streams the series once and computes, for every sample (scored position) "
                       "and every basis\ndirection, the projected loss L(t) (POLCA, second order), "
                       "and the baselines: first-order\nPOLCA, exact loss and its change, and on "
                       "request Fisher and per-sample LCA.");
    if (rc) return rc;
    if (a.n_pos) return cli_fail(CLI_USAGE, "unexpected argument '%s'", a.pos[0]);
    const char *config, *tokens, *series_path, *basis_path, *out;
    int64_t lca_k = 0, block = 0;
    if ((rc = cli_require(&a, "config", &config)) || (rc = cli_require(&a, "tokens", &tokens)) ||
        (rc = cli_require(&a, "series", &series_path)) || (rc = cli_require(&a, "basis", &basis_path)) ||
        (rc = cli_require(&a, "out", &out)) || (rc = cli_get_int(&a, "lca", 1, INT64_MAX, &lca_k)) ||
        (rc = cli_get_int(&a, "block", 1, 1 << 20, &block)))
        return rc;
    if (cli_get(&a, "basis-out") && !cli_flag(&a, "drop-rising"))
        return cli_fail(CLI_USAGE, "--basis-out goes with --drop-rising");
    struct stat st;
    if (!cli_flag(&a, "overwrite")) {
        if (stat(out, &st) == 0) return cli_fail(CLI_USAGE, "%s exists (--overwrite replaces it)", out);
        if (cli_get(&a, "basis-out") && stat(cli_get(&a, "basis-out"), &st) == 0)
            return cli_fail(CLI_USAGE, "%s exists (--overwrite replaces it)", cli_get(&a, "basis-out"));
    }
    if (cli_get(&a, "npy-dir") && (stat(cli_get(&a, "npy-dir"), &st) != 0 || !S_ISDIR(st.st_mode)))
        return cli_fail(CLI_USAGE, "--npy-dir %s: not a directory", cli_get(&a, "npy-dir"));
    polca_model *model = NULL;
    polca_data *data = NULL;
    polca_checkpoints *series = NULL;
    polca_basis *basis = NULL, *lca = NULL;
    polca_options *o = NULL;
    polca_trajectories *t = NULL;
    int32_t status = 0;
    if (!(rc = cli_load_model(config, &model))) rc = cli_load_tokens(tokens, cli_get(&a, "mask"), &data);
    if (!rc && (status = polca_checkpoints_open(g_cli.ctx, series_path, NULL, &series)))
        rc = cli_lib(status, NULL);
    if (!rc && (status = polca_basis_load(g_cli.ctx, basis_path, &basis))) rc = cli_lib(status, NULL);
    if (!rc && lca_k) {
        int64_t count = 0, p = 0;
        polca_checkpoints_count(series, &count);
        polca_checkpoints_n_params(series, &p);
        float *theta = malloc(sizeof *theta * (size_t)(p > 0 ? p : 1));
        if (!theta) rc = cli_fail(CLI_LIBRARY, "out of memory");
        if (!rc && count < 1) rc = cli_fail(CLI_INPUT, "%s: the series is empty", series_path);
        if (!rc && (status = polca_checkpoints_read(series, count - 1, theta, p))) rc = cli_lib(status, NULL);
        if (!rc && (status = polca_basis_create_axis(g_cli.ctx, p, theta, lca_k, NULL, &lca)))
            rc = cli_lib(status, "--lca");
        free(theta);
    }
    if (!rc && cli_get(&a, "curvature")) rc = cli_opt_string(&o, "curvature", cli_get(&a, "curvature"));
    if (!rc && cli_flag(&a, "fisher")) rc = cli_opt_int(&o, "fisher", 1);
    if (!rc && cli_flag(&a, "no-first-order")) rc = cli_opt_int(&o, "first_order", 0);
    if (!rc && block) rc = cli_opt_int(&o, "block", block);
    if (!rc) rc = compute(model, data, series, basis, lca, o, &t);
    int64_t dropped = 0;
    if (!rc && cli_flag(&a, "drop-rising")) {
        rc = drop_rising(t, basis, &dropped);
        if (!rc && dropped) {
            polca_trajectories_destroy(t);
            t = NULL;
            rc = compute(model, data, series, basis, lca, o, &t);
        }
        if (!rc && cli_get(&a, "basis-out") && (status = polca_basis_save(basis, cli_get(&a, "basis-out"))))
            rc = cli_lib(status, NULL);
    }
    if (!rc && (status = polca_trajectories_save(t, out))) rc = cli_lib(status, NULL);
    if (!rc && cli_get(&a, "npy-dir")) rc = export_npy(t, cli_get(&a, "npy-dir"));
    if (!rc && !g_cli.quiet) {
        const float *v;
        int64_t k, n, tt;
        polca_trajectories_view(t, POLCA_TRAJ_POLCA, &v, &k, &n, &tt);
        cli_say("%s: %lld directions x %lld samples x %lld checkpoints", out, (long long)k,
                (long long)n, (long long)tt);
        if (cli_flag(&a, "drop-rising"))
            cli_say("  dropped %lld direction(s) whose mean projected loss rises", (long long)dropped);
        double *means = malloc(sizeof *means * (size_t)k);
        if (means && !polca_trajectories_final_means(t, POLCA_TRAJ_POLCA, means, k)) {
            int64_t falling = 0;
            for (int64_t i = 0; i < k; i++) falling += means[i] < 0;
            cli_say("  %lld of %lld directions lower the mean loss", (long long)falling, (long long)k);
        }
        free(means);
    }
    polca_trajectories_destroy(t);
    polca_options_destroy(o);
    polca_basis_destroy(lca);
    polca_basis_destroy(basis);
    polca_checkpoints_destroy(series);
    polca_data_destroy(data);
    polca_model_destroy(model);
    return rc;
}
