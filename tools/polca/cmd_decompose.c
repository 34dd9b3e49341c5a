/*
 * tools/polca/cmd_decompose.c - `polca decompose`: every sample's loss
 * change along each basis direction over the series (POLCA), with the
 * baselines, saved as a trajectories file.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "npy.h"
#include "resume.h"

static const cli_opt opts[] = {
    {"config", "MODEL.json", "the model config, or a checkpoint (required; docs/cli.md)"},
    CLI_FORMAT_OPT,
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
    {"npy-dir", "DIR", "also write each output as DIR/<kind>.npy and DIR/steps.npy (DIR is "
                       "created when missing)"},
    {"overwrite", NULL, "replace existing output files"},
    CLI_RESUME_OPT,
    {NULL, NULL, NULL},
};

static const char *const kind_names[] = {"polca", "first_order", "fisher", "lca", "exact_loss",
                                         "loss_change"};

/* One pass, its progress in `partial` (resume.h). */
static int compute(polca_model *m, polca_data *d, polca_checkpoints *s, polca_basis *b,
                   polca_basis *lca, polca_options **o, const char *partial, int resume,
                   polca_trajectories **out) {
    int rc = cli_partial_options(o, partial, resume);
    if (!rc) rc = cli_mpi_agree(CLI_OK); /* under MPI: no rank failed before the collective call */
    int32_t st = rc ? 0 : polca_trajectories_create(g_cli.ctx, m, d, s, b, lca, *o, out);
    return rc ? rc : st ? cli_lib(st, NULL) : CLI_OK;
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

/* How much of the exact mean loss change the directions' projected changes
 * add up to: a basis that spans little of where training went shows here
 * (and then leaves little to cluster), not as an error. */
static void say_explained(const polca_trajectories *t, double projected_sum) {
    const float *exact;
    int64_t k, n, tt;
    if (polca_trajectories_view(t, POLCA_TRAJ_EXACT_LOSS, &exact, &k, &n, &tt) || n < 1 || tt < 2)
        return;
    double change = 0;
    for (int64_t i = 0; i < n; i++) change += (double)exact[i * tt + tt - 1] - exact[i * tt];
    change /= (double)n;
    cli_say("  the directions' projected changes sum to %+.4g; the exact mean loss changed by "
            "%+.4g%s",
            projected_sum, change,
            fabs(change) > 0 && projected_sum / change < 0.5
                ? " (the basis accounts for under half of it: more directions, or a basis "
                  "from later checkpoints, may find more)"
                : "");
}

/* The files --npy-dir DIR gets: one per output kind the options ask for,
 * and steps.npy. want[kind] = 1 for the kinds to write. */
static void npy_kinds(const cli_args *a, int want[6]) {
    want[POLCA_TRAJ_POLCA] = 1;
    want[POLCA_TRAJ_FIRST_ORDER] = !cli_flag(a, "no-first-order");
    want[POLCA_TRAJ_FISHER] = cli_flag(a, "fisher");
    want[POLCA_TRAJ_LCA] = cli_get(a, "lca") != NULL;
    want[POLCA_TRAJ_EXACT_LOSS] = 1;
    want[POLCA_TRAJ_LOSS_CHANGE] = 1;
}

#define N_NPY 7 /* six kinds and steps.npy */

static void npy_path(char *buf, size_t len, const char *dir, int i) {
    snprintf(buf, len, "%s/%s.npy", dir, i < 6 ? kind_names[i] : "steps");
}

/* Without --overwrite, refuses before any work when a file --npy-dir would
 * get exists (the publish step checks each again, atomically). */
static int check_npy_dir(const cli_args *a, const char *dir, int overwrite,
                         char paths[N_NPY][4096]) {
    int want[6];
    npy_kinds(a, want);
    for (int i = 0; i < N_NPY; i++) {
        npy_path(paths[i], sizeof paths[i], dir, i);
        int rc = i < 6 && !want[i] ? CLI_OK : cli_output_check("--npy-dir", paths[i], overwrite);
        if (rc) return rc;
    }
    return CLI_OK;
}

/* --npy-dir DIR: a directory, or missing with its parent directory present
 * (*create = 1: made once the outputs are computed). Refused before any
 * work otherwise. */
static int check_npy_dir_path(const char *dir, int *create) {
    struct stat st;
    *create = 0;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return CLI_OK;
        return cli_fail(CLI_USAGE, "--npy-dir %s: exists and is not a directory", dir);
    }
    if (errno != ENOENT) return cli_fail(CLI_INPUT, "--npy-dir %s: %s", dir, strerror(errno));
    /* the parent: DIR without its trailing slashes and last component */
    char parent[4096];
    size_t len = strlen(dir);
    if (len >= sizeof parent) return cli_fail(CLI_USAGE, "--npy-dir: path too long");
    memcpy(parent, dir, len + 1);
    while (len > 1 && parent[len - 1] == '/') parent[--len] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash) strcpy(parent, ".");
    else if (slash == parent) parent[1] = '\0';
    else *slash = '\0';
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_fail(CLI_USAGE, "--npy-dir %s: its parent %s is not a directory (only the last "
                        "component is created)", dir, parent);
    *create = 1;
    return CLI_OK;
}

/* Creates DIR (*made = 1), or accepts one that appeared meanwhile. */
static int create_npy_dir(const char *dir, int *made) {
    struct stat st;
    if (mkdir(dir, 0777) == 0) {
        *made = 1;
        return CLI_OK;
    }
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return CLI_OK;
    return cli_fail(CLI_INPUT, "--npy-dir %s: cannot create it: %s", dir, strerror(errno));
}

/* Every output kind the trajectories hold, and the steps, into staged
 * files outs[*n...] (published with the other outputs by the caller). */
static int export_npy(polca_trajectories *t, char paths[N_NPY][4096], int overwrite,
                      cli_output *npy, cli_output **outs, int *n) {
    for (int32_t kind = 0; kind < 6; kind++) {
        const float *data;
        int64_t k, nn, tt;
        if (polca_trajectories_view(t, kind, &data, &k, &nn, &tt)) continue;
        int rc = cli_output_stage(&npy[kind], "--npy-dir", paths[kind], overwrite);
        if (rc) return rc;
        outs[(*n)++] = &npy[kind];
        int32_t st = polca_trajectories_export_npy(t, kind, npy[kind].tmp);
        if (st) return cli_output_lib(&npy[kind], st);
    }
    const int64_t *steps;
    int64_t t1;
    polca_trajectories_steps(t, &steps, &t1);
    int rc = cli_output_open(&npy[6], "--npy-dir", paths[6], overwrite);
    if (rc) return rc;
    outs[(*n)++] = &npy[6];
    npy_write(npy[6].f, "<i8", 1, &t1, steps); /* errors: cli_outputs_commit */
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
    cli_take_format(&a);
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
    static const char *const inputs[] = {"config", "tokens", "mask", "series", "basis", NULL};
    if ((rc = cli_check_inputs(&a, inputs, NULL))) return rc;
    int overwrite = cli_flag(&a, "overwrite");
    const char *basis_out = cli_get(&a, "basis-out"), *npy_dir = cli_get(&a, "npy-dir");
    if (basis_out && strcmp(basis_out, out) == 0)
        return cli_fail(CLI_USAGE, "--out and --basis-out name the same file %s", out);
    if ((rc = cli_output_check("--out", out, overwrite)) ||
        (basis_out && (rc = cli_output_check("--basis-out", basis_out, overwrite))))
        return rc;
    char npy_paths[N_NPY][4096];
    int make_npy_dir = 0;
    if (npy_dir && (rc = check_npy_dir_path(npy_dir, &make_npy_dir))) return rc;
    if (npy_dir && (rc = check_npy_dir(&a, npy_dir, overwrite, npy_paths))) return rc;
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
    char partial[2][4200];
    const int resume = cli_flag(&a, "resume");
    cli_partial_path(partial[0], sizeof partial[0], out, 0);
    cli_partial_path(partial[1], sizeof partial[1], out, 1);
    int passes = 0;
    if (!rc) rc = compute(model, data, series, basis, lca, &o, partial[passes++], resume, &t);
    int64_t dropped = 0;
    if (!rc && cli_flag(&a, "drop-rising")) {
        rc = drop_rising(t, basis, &dropped);
        if (!rc && dropped) {
            polca_trajectories_destroy(t);
            t = NULL;
            rc = compute(model, data, series, basis, lca, &o, partial[passes++], resume, &t);
        }
    }
    /* every output staged, then all published together */
    cli_output traj_out = {0}, kept_out = {0}, npy[N_NPY];
    memset(npy, 0, sizeof npy);
    cli_output *outs[2 + N_NPY];
    int n_outs = 0;
    if (!rc && !(rc = cli_output_stage(&traj_out, "--out", out, overwrite))) {
        outs[n_outs++] = &traj_out;
        if ((status = polca_trajectories_save(t, traj_out.tmp))) rc = cli_output_lib(&traj_out, status);
    }
    if (!rc && basis_out && !(rc = cli_output_stage(&kept_out, "--basis-out", basis_out, overwrite))) {
        outs[n_outs++] = &kept_out;
        if ((status = polca_basis_save(basis, kept_out.tmp))) rc = cli_output_lib(&kept_out, status);
    }
    int made_npy_dir = 0;
    if (!rc && make_npy_dir && g_cli.rank == 0) rc = create_npy_dir(npy_dir, &made_npy_dir);
    if (!rc && npy_dir) rc = export_npy(t, npy_paths, overwrite, npy, outs, &n_outs);
    if (!rc) rc = cli_outputs_commit(outs, n_outs);
    for (int i = 0; i < n_outs; i++) cli_output_abort(outs[i]);
    if (rc && made_npy_dir) rmdir(npy_dir); /* all or nothing: the directory too */
    /* after a failure the progress stays for --resume */
    for (int i = 0; !rc && i < passes; i++) cli_partial_remove(partial[i]);
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
            double sum = 0;
            for (int64_t i = 0; i < k; i++) falling += means[i] < 0, sum += means[i];
            cli_say("  %lld of %lld directions lower the mean loss", (long long)falling, (long long)k);
            say_explained(t, sum);
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
