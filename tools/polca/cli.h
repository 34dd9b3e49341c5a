/*
 * tools/polca/cli.h - the `polca` command-line tool: shared pieces.
 *
 * The tool drives libpolca's public API only (it links libpolca.so like any
 * user program). docs/cli.md is its manual. Every failure prints ONE line,
 * "polca <command>: error: <what>", on stderr and exits with one of:
 */
#ifndef POLCA_CLI_H
#define POLCA_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "polca/polca.h"

#define CLI_OK 0          /* success                                           */
#define CLI_USAGE 1       /* bad command line: unknown option, missing value   */
#define CLI_INPUT 2       /* an input file is missing, unreadable, malformed,
                             or does not fit the others (the message names it) */
#define CLI_LIBRARY 3     /* libpolca failed for another reason: out of memory,
                             backend unavailable or failing, internal error    */
#define CLI_INTERRUPTED 130 /* interrupted (Ctrl-C) */

/* ---- command-line options ---- */

typedef struct cli_opt {
    const char *name;    /* long name without "--" */
    const char *metavar; /* NULL: a flag without value */
    const char *help;
} cli_opt;

#define CLI_MAX_OPTS 48
#define CLI_MAX_POS 4096

typedef struct cli_args {
    const char *command;            /* "basis", ... */
    const cli_opt *opts;            /* the command's own options, {NULL} ended */
    const char *value[CLI_MAX_OPTS]; /* by option index; flags get "" */
    const char *pos[CLI_MAX_POS];   /* positional arguments */
    int n_pos;
} cli_args;

/* Global state of one run (one command). */
typedef struct cli {
    const char *command;
    int quiet;            /* --quiet: no progress, no summary lines */
    int progress_tty;     /* progress bars drawn (stderr is a terminal) */
    const char *backend;  /* --backend */
    const char *threads;  /* --threads */
    const char *format;   /* --format of the commands that read a checkpoint */
    polca_context *ctx;   /* made on demand by cli_context */
    /* Under an MPI launcher (mpi.c; docs/cli.md "Several processes"): */
    int mpi;              /* 1: the ranks share the work over comm */
    int32_t rank, size;   /* this process' rank and the job's size (0 and 1 alone) */
    polca_comm *comm;     /* set on the context by cli_context */
    int comm_broken;      /* a libpolca call returned POLCA_ERR_COMM: abort the job */
    char error[4096];     /* the first error line's text, printed once, by rank 0 */
} cli;

extern cli g_cli;

/* Errors: print one line and return the exit code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A failed libpolca call: prints polca_last_error() (fetch nothing else
 * first) after an optional prefix, returns the exit code for the status. */
int cli_lib(int32_t status, const char *prefix);
/* The exit code a libpolca status maps to (CLI_INPUT or CLI_LIBRARY, or
 * CLI_INTERRUPTED for a cancelled call after Ctrl-C). */
int cli_status_code(int32_t status);
/* A warning line (not an error): "polca <command>: warning: ...". */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An informational line on stdout unless --quiet. */
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses argv (after the command name) against opts plus the common
 * options (--backend, --threads, --quiet, --help). Returns CLI_OK, CLI_USAGE
 * (message printed), or -1 when --help was given (usage printed). */
int cli_parse(cli_args *a, const char *command, const cli_opt *opts, int argc, char **argv,
              const char *synopsis, const char *description);
/* The value of option `name` (NULL when not given); flags give "". */
const char *cli_get(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);
/* Numeric option values; CLI_USAGE with a message when malformed or out of
 * [lo, hi]; *out untouched when the option was not given. */
int cli_get_int(const cli_args *a, const char *name, int64_t lo, int64_t hi, int64_t *out);
int cli_get_double(const cli_args *a, const char *name, double lo, double hi, double *out);
/* A required option: CLI_USAGE naming it when absent. */
int cli_require(const cli_args *a, const char *name, const char **out);
/* A list of non-negative indices "0,4,8", ranges "0:10" or "0:10:2"
 * (end exclusive), mixed with commas; max_value bounds each (exclusive).
 * *out malloc'd. */
int cli_parse_index_list(const char *text, const char *what, int64_t max_value, int64_t **out,
                         int64_t *n_out);

/* The context (made once, from --backend/--threads, with the progress and
 * Ctrl-C handling installed). NULL after printing the error; *code set. */
polca_context *cli_context(int *code);
/* Clears any progress bar line; call before printing results. */
void cli_progress_done(void);
/* Options handle helpers: create once, set, abort on failure. */
int cli_opt_int(polca_options **o, const char *name, int64_t v);
int cli_opt_double(polca_options **o, const char *name, double v);
int cli_opt_string(polca_options **o, const char *name, const char *v);

/* ---- several processes (mpi.c) ----
 * Under an MPI launcher (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE set,
 * POLCA_MPI not 0) the tool dlopens libpolca_mpi.so.0 from beside
 * libpolca, initializes MPI and sets a world communicator on its context.
 * Rank 0 alone writes: other ranks' stdout goes to /dev/null, their files
 * to a private scratch directory that is removed (output.c), their
 * warnings are dropped; errors are held (g_cli.error) and the ranks agree
 * at the end on one exit status and one message, which rank 0 prints.
 * cli_mpi_start returns CLI_OK or the exit status after printing why;
 * cli_mpi_finish(rc) returns the status every rank exits with (or ends the
 * job with MPI_Abort when the communicator failed). Both do nothing
 * without a launcher. */
int cli_mpi_start(int *argc, char ***argv);
int cli_mpi_finish(int rc);
/* Collective under MPI: every rank passes its exit code (0: fine); every
 * rank returns the lowest failing rank's (its message is that rank's held
 * error). A broken communicator: CLI_LIBRARY, and cli_mpi_finish aborts. */
int cli_mpi_agree(int rc);
/* Rank > 0: a private directory for the files the rank writes and then
 * discards (made on first use); NULL after printing the error, *code set. */
const char *cli_scratch_dir(int *code);

/* ---- outputs and Ctrl-C (output.c; docs/cli.md "Output files") ----
 *
 * Every file a command writes: a temporary file beside the destination,
 * written, checked, fsynced, then published under the final name without
 * following a symlink there (without --overwrite: only if the name is still
 * free, atomically; with it: rename(2) replaces the name), the directory
 * fsynced. On failure or Ctrl-C nothing appears and nothing is replaced. */
typedef struct cli_output {
    const char *option; /* "--out", for messages */
    const char *path;   /* the destination */
    int overwrite;
    FILE *f;            /* cli_output_open: write here */
    char *tmp;          /* the temporary file (cli_output_stage: libpolca writes this path) */
    int slot;           /* known to the second Ctrl-C */
    int published;
    uint64_t dev, ino;  /* of the file published */
} cli_output;

/* Refuses (CLI_USAGE, message naming option and path) a destination that
 * exists without overwrite (a symlink counts, even a dangling one), a
 * directory, or a name ending in '/'. A convenience before long work: the
 * publish step checks again, atomically. Under MPI collective: rank 0
 * checks, every rank returns its answer. */
int cli_output_check(const char *option, const char *path, int overwrite);
/* Checks as above, creates the temporary file and opens it for writing:
 * o->f. */
int cli_output_open(cli_output *o, const char *option, const char *path, int overwrite);
/* Checks as above and creates the temporary file for a libpolca writer,
 * which writes o->tmp (its own atomic save replaces the empty file). */
int cli_output_stage(cli_output *o, const char *option, const char *path, int overwrite);
/* Publishes outs[n] together (each fsynced first; none when Ctrl-C came:
 * CLI_INTERRUPTED). On failure every temporary file is removed and the
 * outputs of this call published without overwrite are removed again. */
int cli_outputs_commit(cli_output *const *outs, int n);
int cli_output_commit(cli_output *o);
/* A failed libpolca writer of o->tmp: the library's message (which names
 * the temporary file) after "<option> <path>: ". */
int cli_output_lib(const cli_output *o, int32_t status);
/* Removes the temporary file; safe on a zeroed, committed or aborted one. */
void cli_output_abort(cli_output *o);
/* Installs the Ctrl-C handler (idempotent): the first sets the flag that
 * cancels the running libpolca call and the publish step, the second exits
 * at once (130) after removing the temporary files. */
void cli_catch_sigint(void);
int cli_interrupted(void);

/* ---- inputs (inputs.c) ---- */

/* Refuses (CLI_INPUT) an input path that exists but is not a regular file
 * (FIFO, device, socket, directory), naming `what` (an option such as
 * "--tokens", or "FILE") and the path; a missing path passes (the reader
 * says why it cannot open it). Never blocks. */
int cli_check_input(const char *what, const char *path);
/* cli_check_input for each option in names (NULL-terminated) that was
 * given, and, when pos_name is not NULL, for every positional argument. */
int cli_check_inputs(const cli_args *a, const char *const *names, const char *pos_name);

/* A built-in transformer from a model config JSON, or from a checkpoint
 * (a save_pretrained directory, a .safetensors file, a shard index) through
 * polca_model_create_pretrained with g_cli.format (docs/cli.md). */
int cli_load_model(const char *config_path, polca_model **out);
/* 1 when path is a checkpoint rather than a model config JSON: a
 * directory, a file that begins as safetensors, or a *.index.json. */
int cli_is_checkpoint(const char *path);
/* Sets g_cli.format from --format (checked when the model is made). */
void cli_take_format(const cli_args *a);
/* The --format option's table entry. */
#define CLI_FORMAT_OPT                                                                             \
    {"format", "NAME",                                                                              \
     "force the checkpoint layout: transformerlens, transformerlens4, gpt2, gpt_neox, llama, "     \
     "qwen2 (default: detected)"}
/* Token data from tokens.npy [n_seq][n_ctx] (integers) and an optional
 * mask.npy of the same shape (bool or integers; NULL = every position but
 * the last). *n_seq_out and *n_ctx_out may be NULL. */
int cli_load_tokens(const char *tokens_path, const char *mask_path, polca_data **out);
/* A binary label per sample from labels.npy: [N] (bool / 0-1 integers), or
 * [n_seq][n_ctx] per token position, taken at the scored positions of
 * mask_path in row-major order (NULL: cli_load_tokens's default mask, every
 * position but the last). *out malloc'd [n]. */
int cli_load_labels(const char *labels_path, const char *mask_path, int64_t n_samples,
                    uint8_t **out);
/* (sequence, position) of every sample from a mask .npy: *seq, *pos
 * malloc'd [*n]. */
int cli_load_positions(const char *mask_path, int64_t **seq, int64_t **pos, int64_t *n);

/* ---- commands ---- */
int cmd_info(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_basis(int argc, char **argv);
int cmd_decompose(int argc, char **argv);
int cmd_cluster(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif /* POLCA_CLI_H */
