/*
 * tools/polca/cmd_basis.c - `polca basis`: Algorithm 1 (Hessian
 * eigenvectors over chosen checkpoints), or a random or axis-aligned basis,
 * saved as a basis file (polca_basis_save).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "resume.h"

static const cli_opt opts[] = {
    {"series", "SERIES.polca", "the checkpoint series (required)"},
    {"out", "BASIS.polca", "the basis file to write (required)"},
    {"method", "NAME", "hessian (default: Algorithm 1), random, or axis"},
    {"k", "K", "hessian: eigenvectors per checkpoint (default 1); random/axis: vectors (required)"},
    {"config", "MODEL.json", "hessian: the model config, or a checkpoint (docs/cli.md)"},
    CLI_FORMAT_OPT,
    {"tokens", "TOKENS.npy", "hessian: the basis sample set, [n_seq][n_ctx] integers"},
    {"mask", "MASK.npy", "hessian: scored positions (default: all but the last)"},
    {"max-seqs", "N", "hessian: use N sequences drawn at random (--seed) from the tokens"},
    {"checkpoints", "LIST", "hessian: series indices, e.g. 0,5,10 or 0:50:5 (default all)"},
    {"every", "N", "hessian: every N-th checkpoint, from the first"},
    {"shuffle", NULL, "hessian: visit the checkpoints in a seeded random order (ablation)"},
    {"scales", "SCALES.polca", "hessian: the optimizer's step scales s at the basis steps (a "
                               "series); Algorithm 1 in its geometry (S^1/2 H S^1/2)"},
    {"which", "END", "largest_algebraic (default), largest_magnitude, smallest_algebraic"},
    {"tol", "X", "eigensolver tolerance (default 1e-4)"},
    {"max-products", "N", "Hessian-vector products per checkpoint (default: the solver's)"},
    {"krylov-size", "N", "Krylov subspace size per checkpoint"},
    {"no-warm-start", NULL, "start each checkpoint's solve from a random vector"},
    CLI_RESUME_OPT,
    {"seed", "N", "seed of the random basis, the sequence draw and the solver (default 0)"},
    {"at", "INDEX", "axis: the checkpoint whose largest |theta| pick the axes (default last)"},
    {"overwrite", NULL, "replace an existing output file"},
    {"npy", "FILE.npy", "also write the vectors as a [K][P] float32 .npy"},
    {NULL, NULL, NULL},
};

static const char *kind_name(int32_t k) {
    switch (k) {
    case POLCA_BASIS_KIND_HESSIAN: return "hessian";
    case POLCA_BASIS_KIND_HESSIAN_SHUFFLED: return "hessian (shuffled)";
    case POLCA_BASIS_KIND_RANDOM: return "random";
    case POLCA_BASIS_KIND_AXIS: return "axis";
    case POLCA_BASIS_KIND_HESSIAN_SCALED: return "hessian (scaled)";
    case POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED: return "hessian (scaled, shuffled)";
    default: return "host";
    }
}

/* The basis sample set: the tokens, or --max-seqs of them drawn without
 * replacement (a seeded Fisher-Yates shuffle, splitmix64). */
static int sample_set(const cli_args *a, uint64_t seed, polca_data **out) {
    const char *tokens;
    int rc = cli_require(a, "tokens", &tokens);
    polca_data *all = NULL;
    if (rc || (rc = cli_load_tokens(tokens, cli_get(a, "mask"), &all))) return rc;
    int64_t n_seq = 0, want = -1;
    polca_data_n_seq(all, &n_seq);
    if ((rc = cli_get_int(a, "max-seqs", 1, INT64_MAX, &want)) || want < 0 || want >= n_seq) {
        if (rc) polca_data_destroy(all);
        else *out = all;
        return rc;
    }
    int64_t *perm = malloc(sizeof *perm * (size_t)n_seq);
    if (!perm) {
        polca_data_destroy(all);
        return cli_fail(CLI_LIBRARY, "out of memory");
    }
    for (int64_t i = 0; i < n_seq; i++) perm[i] = i;
    uint64_t s = seed ^ 0x5365717565ull;
    for (int64_t i = n_seq - 1; i > 0; i--) {
        s += 0x9e3779b97f4a7c15ull;
        uint64_t z = s;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        int64_t j = (int64_t)(z % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int32_t st = polca_data_subset_sequences(all, want, perm, out);
    free(perm);
    polca_data_destroy(all);
    return st ? cli_lib(st, NULL) : CLI_OK;
}

static int hessian(const cli_args *a, polca_checkpoints *series, int64_t count, int64_t seed,
                   const char *partial, polca_basis **out) {
    const char *config;
    int64_t k = 1, every = 0, max_products = 0, krylov = 0;
    double tol = 0;
    int rc;
    if ((rc = cli_require(a, "config", &config)) || (rc = cli_get_int(a, "k", 1, 1 << 20, &k)) ||
        (rc = cli_get_int(a, "every", 1, INT64_MAX, &every)) ||
        (rc = cli_get_int(a, "max-products", 2, INT64_MAX, &max_products)) ||
        (rc = cli_get_int(a, "krylov-size", 2, 100000, &krylov)) ||
        (rc = cli_get_double(a, "tol", 1e-12, 0.999, &tol)))
        return rc;
    if (every && cli_get(a, "checkpoints"))
        return cli_fail(CLI_USAGE, "give --checkpoints or --every, not both");
    int64_t *idx = NULL, n_idx = 0;
    if (cli_get(a, "checkpoints") &&
        (rc = cli_parse_index_list(cli_get(a, "checkpoints"), "--checkpoints", count, &idx, &n_idx)))
        return rc;
    if (every) {
        n_idx = (count + every - 1) / every;
        idx = malloc(sizeof *idx * (size_t)n_idx);
        if (!idx) return cli_fail(CLI_LIBRARY, "out of memory");
        for (int64_t i = 0; i < n_idx; i++) idx[i] = i * every;
    }
    polca_model *model = NULL;
    polca_data *data = NULL;
    polca_options *o = NULL;
    if (!(rc = cli_load_model(config, &model))) rc = sample_set(a, (uint64_t)seed, &data);
    if (!rc && cli_get(a, "which")) rc = cli_opt_string(&o, "which", cli_get(a, "which"));
    if (!rc && tol > 0) rc = cli_opt_double(&o, "tol", tol);
    if (!rc && max_products) rc = cli_opt_int(&o, "max_products", max_products);
    if (!rc && krylov) rc = cli_opt_int(&o, "krylov_size", krylov);
    if (!rc && cli_flag(a, "shuffle")) rc = cli_opt_int(&o, "shuffle", 1);
    if (!rc && cli_flag(a, "shuffle")) rc = cli_opt_int(&o, "shuffle_seed", seed);
    if (!rc && cli_flag(a, "no-warm-start")) rc = cli_opt_int(&o, "warm_start", 0);
    if (!rc) rc = cli_opt_int(&o, "seed", seed);
    /* progress after each basis checkpoint, so a killed run can --resume */
    if (!rc) rc = cli_partial_options(&o, partial, cli_flag(a, "resume"));
    polca_checkpoints *scales = NULL;
    if (!rc && cli_get(a, "scales")) {
        int32_t st = polca_checkpoints_open(g_cli.ctx, cli_get(a, "scales"), NULL, &scales);
        if (st) rc = cli_lib(st, NULL);
    }
    if (!rc) rc = cli_mpi_agree(CLI_OK); /* under MPI: no rank failed before the collective call */
    if (!rc) {
        int32_t st = scales ? polca_basis_create_hessian_scaled(g_cli.ctx, model, data, series,
                                                                scales, idx, n_idx, k, o, out)
                            : polca_basis_create_hessian(g_cli.ctx, model, data, series, idx,
                                                         n_idx, k, o, out);
        if (st == POLCA_ERR_NOT_CONVERGED) {
            cli_warn("%s; the basis keeps the best estimates (converged = no in polca info)",
                     polca_last_error());
        } else if (st) {
            rc = cli_lib(st, NULL);
        }
    }
    polca_checkpoints_destroy(scales);
    polca_options_destroy(o);
    polca_data_destroy(data);
    polca_model_destroy(model);
    free(idx);
    return rc;
}

int cmd_basis(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, "basis", opts, argc, argv,
                       "--series SERIES.polca --out BASIS.polca [--method hessian|random|axis] ...",
                       "Builds the basis the trajectories are decomposed along. hessian (the "
                       "paper's Algorithm 1): for each\nchosen checkpoint, the top-k eigenvectors of "
                       "the Hessian of the mean loss over the basis sample set,\nprojected off the "
                       "vectors found before; needs --config and --tokens. random: k random\n"
                       "orthonormal vectors. axis: the k parameters of largest |theta| (the per-sample "
                       "LCA baseline).");
    if (rc) return rc;
    cli_take_format(&a);
    if (a.n_pos) return cli_fail(CLI_USAGE, "unexpected argument '%s'", a.pos[0]);
    const char *series_path, *out, *method = cli_get(&a, "method") ? cli_get(&a, "method") : "hessian";
    int64_t seed = 0, k = 0, at = -1;
    if ((rc = cli_require(&a, "series", &series_path)) || (rc = cli_require(&a, "out", &out)) ||
        (rc = cli_get_int(&a, "seed", 0, INT64_MAX, &seed)) ||
        (rc = cli_get_int(&a, "at", 0, INT64_MAX, &at)))
        return rc;
    int is_hessian = strcmp(method, "hessian") == 0;
    if (!is_hessian && strcmp(method, "random") && strcmp(method, "axis"))
        return cli_fail(CLI_USAGE, "--method '%s': expected hessian, random or axis", method);
    if (!is_hessian) {
        if (!cli_get(&a, "k")) return cli_fail(CLI_USAGE, "--method %s needs --k", method);
        if ((rc = cli_get_int(&a, "k", 1, INT64_MAX, &k))) return rc;
        static const char *const hess_only[] = {"config", "format", "tokens", "mask", "max-seqs", "checkpoints",
                                                "every", "shuffle", "which", "tol", "max-products",
                                                "krylov-size", "no-warm-start", "scales",
                                                "resume", NULL};
        for (int i = 0; hess_only[i]; i++)
            if (cli_get(&a, hess_only[i]))
                return cli_fail(CLI_USAGE, "--%s applies to --method hessian only", hess_only[i]);
    }
    static const char *const inputs[] = {"series", "config", "tokens", "mask", "scales", NULL};
    int overwrite = cli_flag(&a, "overwrite");
    const char *npy = cli_get(&a, "npy");
    if (npy && strcmp(npy, out) == 0)
        return cli_fail(CLI_USAGE, "--out and --npy name the same file %s", out);
    if ((rc = cli_check_inputs(&a, inputs, NULL)) || (rc = cli_output_check("--out", out, overwrite)) ||
        (npy && (rc = cli_output_check("--npy", npy, overwrite))))
        return rc;
    polca_context *ctx = cli_context(&rc);
    if (!ctx) return rc;
    polca_checkpoints *series = NULL;
    polca_basis *b = NULL;
    int64_t count = 0, p = 0;
    int32_t status = polca_checkpoints_open(ctx, series_path, NULL, &series);
    if (!status) status = polca_checkpoints_count(series, &count);
    if (!status) status = polca_checkpoints_n_params(series, &p);
    if (status) {
        polca_checkpoints_destroy(series);
        return cli_lib(status, NULL);
    }
    if (count == 0) rc = cli_fail(CLI_INPUT, "%s: the series is empty", series_path);
    /* the progress file of a Hessian basis: OUT.partial, removed once OUT
     * is saved (rank 0 alone writes it under MPI) */
    char partial[4200];
    cli_partial_path(partial, sizeof partial, out, 0);
    if (!rc && is_hessian) {
        rc = hessian(&a, series, count, seed, partial, &b);
    } else if (!rc && strcmp(method, "random") == 0) {
        polca_options *o = NULL;
        rc = cli_opt_int(&o, "seed", seed);
        if (!rc && (status = polca_basis_create_random(ctx, p, k, o, &b))) rc = cli_lib(status, NULL);
        polca_options_destroy(o);
    } else if (!rc) {
        if (at < 0) at = count - 1;
        if (at >= count)
            rc = cli_fail(CLI_USAGE, "--at %lld: the series has %lld checkpoints", (long long)at,
                          (long long)count);
        float *theta = rc ? NULL : malloc(sizeof *theta * (size_t)p);
        if (!rc && !theta) rc = cli_fail(CLI_LIBRARY, "out of memory");
        if (!rc && (status = polca_checkpoints_read(series, at, theta, p))) rc = cli_lib(status, NULL);
        if (!rc && (status = polca_basis_create_axis(ctx, p, theta, k, NULL, &b)))
            rc = cli_lib(status, NULL);
        free(theta);
    }
    /* both outputs staged, then published together */
    cli_output basis_out = {0}, npy_out = {0};
    cli_output *outs[2] = {&basis_out, &npy_out};
    if (!rc && !(rc = cli_output_stage(&basis_out, "--out", out, overwrite)) &&
        (status = polca_basis_save(b, basis_out.tmp)))
        rc = cli_output_lib(&basis_out, status);
    if (!rc && npy && !(rc = cli_output_stage(&npy_out, "--npy", npy, overwrite)) &&
        (status = polca_basis_export_npy(b, npy_out.tmp)))
        rc = cli_output_lib(&npy_out, status);
    if (!rc) rc = cli_outputs_commit(outs, npy ? 2 : 1);
    cli_output_abort(&basis_out);
    cli_output_abort(&npy_out);
    if (!rc && is_hessian) {
        /* one file, rank 0's (not cli_partial_remove's per-rank naming);
         * on failure it stays, for --resume */
        polca_comm *comm = NULL;
        int32_t rank = 0;
        if (polca_context_comm(ctx, &comm) == POLCA_OK && comm) polca_comm_rank(comm, &rank, NULL);
        if (rank == 0) remove(partial);
    }
    if (!rc && !g_cli.quiet) {
        int64_t kk = 0;
        polca_basis_count(b, &kk);
        cli_say("%s: %lld %s vectors of %lld parameters", out, (long long)kk, method, (long long)p);
        for (int64_t i = 0; is_hessian && i < kk; i++) {
            int32_t kind, conv;
            int64_t step, src;
            double ev, res;
            polca_basis_get_info(b, i, &kind, &step, &src, &ev, &res, &conv);
            cli_say("  %4lld  %-18s step %-10lld eigenvalue %-12.6g residual %-10.3g%s", (long long)i,
                    kind_name(kind), (long long)step, ev, res, conv ? "" : "  (not converged)");
        }
    }
    polca_basis_destroy(b);
    polca_checkpoints_destroy(series);
    return rc;
}
