/*
 * tools/polca/cmd_import.c - `polca import`: checkpoints (one safetensors
 * file or save_pretrained directory per training step, in any layout
 * libpolca detects) into one compressed checkpoint series file
 * (polca_checkpoints_import_safetensors).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const cli_opt opts[] = {
    {"config", "MODEL.json", "the model config, or a checkpoint (required; docs/cli.md)"},
    CLI_FORMAT_OPT,
    {"out", "SERIES.polca", "the series file to write (required)"},
    {"step-key", "KEY", "metadata key holding each file's step (default \"step\"; else the "
                        "first digits of the file name)"},
    {"overwrite", NULL, "replace an existing output file"},
    {"zstd-level", "N", "compression level 1..19 (default 3)"},
    {NULL, NULL, NULL},
};

int cmd_import(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, "import", opts, argc, argv, "--config MODEL.json --out SERIES.polca CHECKPOINT...",
                       "Reads one checkpoint per training step (a safetensors file, or a directory "
                       "as save_pretrained\nwrites it; TransformerLens, TransformerLens 4, GPT-2, "
                       "GPT-NeoX, Llama or Qwen2 layout,\ndetected; buffers such as attn.mask are "
                       "ignored), sorts them by training step (metadata \"step\",\nelse the first "
                       "digits of the name: step1000/, ckpt_120.safetensors) and writes them as "
                       "one\nlosslessly compressed series. --config may name the first checkpoint "
                       "itself.");
    if (rc) return rc;
    cli_take_format(&a);
    const char *config, *out;
    int64_t level = 0;
    if ((rc = cli_require(&a, "config", &config)) || (rc = cli_require(&a, "out", &out)) ||
        (rc = cli_get_int(&a, "zstd-level", 1, 19, &level)))
        return rc;
    if (a.n_pos == 0) return cli_fail(CLI_USAGE, "no CHECKPOINT given (see polca import --help)");
    static const char *const inputs[] = {"config", NULL};
    int overwrite = cli_flag(&a, "overwrite");
    if ((rc = cli_check_inputs(&a, inputs, "CHECKPOINT")) || (rc = cli_output_check("--out", out, overwrite)))
        return rc;
    polca_model *model = NULL;
    if ((rc = cli_load_model(config, &model))) return rc; /* makes the context: Ctrl-C cancels */
    polca_options *o = NULL;
    polca_checkpoints *s = NULL;
    cli_output series = {0};
    /* libpolca writes the staged temporary file (replacing the empty one);
     * it is published under --out when complete */
    rc = cli_opt_int(&o, "overwrite", 1);
    if (!rc && cli_get(&a, "step-key")) rc = cli_opt_string(&o, "step_key", cli_get(&a, "step-key"));
    if (!rc && level) rc = cli_opt_int(&o, "zstd_level", level);
    if (!rc) rc = cli_output_stage(&series, "--out", out, overwrite);
    if (!rc) {
        int32_t status = polca_checkpoints_import_safetensors(g_cli.ctx, model, a.n_pos,
                                                              (const char *const *)a.pos, series.tmp, o, &s);
        /* a failure writing the staged file is the output's: name --out */
        const char *msg = polca_last_error();
        if (status)
            rc = msg && strstr(msg, series.tmp) ? cli_output_lib(&series, status)
                                                : cli_lib(status, NULL);
    }
    if (!rc) rc = cli_output_commit(&series);
    cli_output_abort(&series);
    struct stat st;
    if (!rc) {
        int64_t count = 0, p = 0, first = 0, last = 0;
        polca_checkpoints_count(s, &count);
        polca_checkpoints_n_params(s, &p);
        polca_checkpoints_step(s, 0, &first);
        polca_checkpoints_step(s, count - 1, &last);
        double ratio = stat(out, &st) == 0 ? 100.0 * (double)st.st_size / (4.0 * (double)p * (double)count)
                                           : 0.0;
        cli_say("%s: %lld checkpoints (steps %lld..%lld) of %lld parameters, %.1f%% of raw size",
                out, (long long)count, (long long)first, (long long)last, (long long)p, ratio);
    }
    polca_checkpoints_destroy(s);
    polca_options_destroy(o);
    polca_model_destroy(model);
    return rc;
}
