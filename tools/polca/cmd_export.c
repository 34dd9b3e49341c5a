/*
 * tools/polca/cmd_export.c - `polca export`: one parameter-space vector (a
 * basis direction, or a checkpoint of a series) written as safetensors in
 * the model's source layout (polca_model_save_pretrained): Hugging Face
 * names and shapes for a model made from a Hugging Face checkpoint, so it
 * loads into PyTorch as a state_dict delta.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt opts[] = {
    {"config", "CHECKPOINT", "the model: a checkpoint (or a model config JSON; required)"},
    CLI_FORMAT_OPT,
    {"basis", "BASIS.polca", "export a basis direction (with --direction)"},
    {"direction", "K", "the basis vector to export (0-based)"},
    {"series", "SERIES.polca", "export a checkpoint of a series (with --step)"},
    {"step", "STEP", "the training step to export"},
    {"out", "FILE.safetensors", "the file to write (required)"},
    {"overwrite", NULL, "replace an existing output file"},
    {NULL, NULL, NULL},
};

int cmd_export(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, "export", opts, argc, argv,
                       "--config CHECKPOINT (--basis B --direction K | --series S --step N) --out "
                       "FILE.safetensors",
                       "Writes one parameter vector in the checkpoint's own layout (tensor names "
                       "and shapes, e.g.\nHugging Face's; a tied embedding once): a basis "
                       "direction, to load into PyTorch as a\nstate_dict delta and ablate or "
                       "steer along it, or a checkpoint of a series.");
    if (rc) return rc;
    cli_take_format(&a);
    if (a.n_pos) return cli_fail(CLI_USAGE, "unexpected argument '%s'", a.pos[0]);
    const char *config, *out, *basis_path = cli_get(&a, "basis"), *series_path = cli_get(&a, "series");
    if ((rc = cli_require(&a, "config", &config)) || (rc = cli_require(&a, "out", &out))) return rc;
    if (!basis_path == !series_path)
        return cli_fail(CLI_USAGE, "give --basis with --direction, or --series with --step");
    if (basis_path && !cli_get(&a, "direction"))
        return cli_fail(CLI_USAGE, "--basis needs --direction K");
    if (series_path && !cli_get(&a, "step")) return cli_fail(CLI_USAGE, "--series needs --step N");
    if ((basis_path && cli_get(&a, "step")) || (series_path && cli_get(&a, "direction")))
        return cli_fail(CLI_USAGE, "--direction goes with --basis, --step with --series");
    int64_t k = 0, step = 0;
    if ((rc = cli_get_int(&a, "direction", 0, INT64_MAX, &k)) ||
        (rc = cli_get_int(&a, "step", INT64_MIN, INT64_MAX, &step)))
        return rc;
    static const char *const inputs[] = {"config", "basis", "series", NULL};
    int overwrite = cli_flag(&a, "overwrite");
    if ((rc = cli_check_inputs(&a, inputs, NULL)) || (rc = cli_output_check("--out", out, overwrite)))
        return rc;
    polca_model *model = NULL;
    polca_basis *basis = NULL;
    polca_checkpoints *series = NULL;
    float *v = NULL;
    int64_t p = 0, count = 0;
    cli_output file = {0};
    if ((rc = cli_load_model(config, &model))) return rc;
    polca_model_n_params(model, &p);
    v = malloc((size_t)(p ? p : 1) * sizeof(float));
    if (!v) rc = cli_fail(CLI_LIBRARY, "out of memory for %lld parameters", (long long)p);
    int32_t st = 0;
    if (!rc && basis_path) {
        int64_t bp = 0;
        if ((st = polca_basis_load(g_cli.ctx, basis_path, &basis))) rc = cli_lib(st, NULL);
        if (!rc) {
            polca_basis_count(basis, &count);
            polca_basis_n_params(basis, &bp);
            if (bp != p)
                rc = cli_fail(CLI_INPUT, "--basis %s has vectors of %lld parameters; the model from "
                              "%s has %lld", basis_path, (long long)bp, config, (long long)p);
            else if (k >= count)
                rc = cli_fail(CLI_USAGE, "--direction %lld: %s has %lld vectors (0..%lld)",
                              (long long)k, basis_path, (long long)count, (long long)count - 1);
        }
        if (!rc && (st = polca_basis_get_vector(basis, k, v, p))) rc = cli_lib(st, NULL);
    }
    if (!rc && series_path) {
        int64_t sp = 0, index = -1;
        if ((st = polca_checkpoints_open(g_cli.ctx, series_path, NULL, &series))) rc = cli_lib(st, NULL);
        if (!rc) {
            polca_checkpoints_n_params(series, &sp);
            if (sp != p)
                rc = cli_fail(CLI_INPUT, "--series %s holds checkpoints of %lld parameters; the model "
                              "from %s has %lld", series_path, (long long)sp, config, (long long)p);
        }
        if (!rc && (st = polca_checkpoints_find_step(series, step, &index))) rc = cli_lib(st, "--step");
        if (!rc && index < 0)
            rc = cli_fail(CLI_INPUT, "--step %lld: %s holds no such step", (long long)step, series_path);
        if (!rc && (st = polca_checkpoints_read(series, index, v, p))) rc = cli_lib(st, NULL);
    }
    if (!rc) rc = cli_output_stage(&file, "--out", out, overwrite);
    if (!rc && (st = polca_model_save_pretrained(model, file.tmp, v))) rc = cli_output_lib(&file, st);
    if (!rc) rc = cli_output_commit(&file);
    cli_output_abort(&file);
    if (!rc) {
        const char *fmt = "native";
        polca_model_source_format(model, &fmt);
        cli_say("%s: %s %lld of %s in the %s layout (%lld parameters)", out,
                basis_path ? "direction" : "step", (long long)(basis_path ? k : step),
                basis_path ? basis_path : series_path, fmt, (long long)p);
    }
    free(v);
    polca_basis_destroy(basis);
    polca_checkpoints_destroy(series);
    polca_model_destroy(model);
    return rc;
}
