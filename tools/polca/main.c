/*
 * tools/polca/main.c - `polca COMMAND ...`: dispatch, --help, --version.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "describe files: checkpoint series, bases, trajectories, safetensors, .npy, model configs"},
    {"import", cmd_import, "safetensors checkpoints -> a checkpoint series file"},
    {"basis", cmd_basis, "build a basis: Hessian eigenvectors (Algorithm 1), random, or axis-aligned"},
    {"decompose", cmd_decompose, "POLCA trajectories (and baselines) of every sample along a basis"},
    {"cluster", cmd_cluster, "cluster trajectories direction by direction (HDBSCAN); breakthroughs"},
    {"score", cmd_score, "score clusters against a binary label per sample"},
    {"report", cmd_report, "write an HTML report of trajectories and their clusters"},
    {"export", cmd_export, "a basis direction or checkpoint -> safetensors in the checkpoint's own layout"},
    {NULL, NULL, NULL},
};

static void main_usage(FILE *f) {
    fprintf(f,
            "usage: polca [--backend NAME] [--threads N] [--quiet] COMMAND [options]\n"
            "       polca COMMAND --help | polca --version\n\n"
            "Hidden breakthroughs in neural-network training (libpolca %s).\n\ncommands:\n",
            polca_version_string());
    for (const command *c = commands; c->name; c++) fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\nA typical run (docs/cli.md):\n"
               "  polca import --config model.json --out series.polca ckpts/*.safetensors\n"
               "  polca basis --config model.json --tokens train.npy --series series.polca --out basis.polca\n"
               "  polca decompose --config model.json --tokens eval.npy --mask mask.npy \\\n"
               "      --series series.polca --basis basis.polca --out traj.polca\n"
               "  polca score traj.polca --labels labels.npy\n"
               "  polca report traj.polca --labels labels.npy --out report.html\n\n"
               "exit status: 0 ok, 1 usage error, 2 input error (a file is missing, malformed or does\n"
               "not fit the others), 3 library error (memory, backend), 130 interrupted.\n");
}

static int run(int argc, char **argv) {
    int i = 1;
    /* global options before the command; commands accept them too */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            main_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--version") == 0) {
            /* the tool's own version (the headers it was built with) and the library loaded */
            printf("polca %d.%d.%d (libpolca %s)\n", POLCA_VERSION_MAJOR, POLCA_VERSION_MINOR,
                   POLCA_VERSION_PATCH, polca_version_string());
            return CLI_OK;
        }
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            g_cli.quiet = 1;
        } else if (strncmp(a, "--backend", 9) == 0 || strncmp(a, "--threads", 9) == 0) {
            const char *v = a[9] == '=' ? a + 10 : a[9] == '\0' && i + 1 < argc ? argv[++i] : NULL;
            if (!v || (a[9] != '=' && a[9] != '\0'))
                return cli_fail(CLI_USAGE, "option '%s' needs a value (see polca --help)", a);
            if (a[2] == 'b') g_cli.backend = v;
            else g_cli.threads = v;
        } else {
            return cli_fail(CLI_USAGE, "unknown option '%s' (see polca --help)", a);
        }
    }
    if (i >= argc) return cli_fail(CLI_USAGE, "no command given (see polca --help)");
    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        if (i + 1 >= argc) {
            main_usage(stdout);
            return CLI_OK;
        }
        name = argv[i + 1];
        for (const command *c = commands; c->name; c++)
            if (strcmp(c->name, name) == 0) {
                char *args[] = {"--help", NULL};
                int rc = c->run(1, args);
                return rc < 0 ? CLI_OK : rc;
            }
        return cli_fail(CLI_USAGE, "unknown command '%s' (see polca --help)", name);
    }
    for (const command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0) {
            int rc = c->run(argc - i - 1, argv + i + 1);
            cli_progress_done();
            polca_context_destroy(g_cli.ctx);
            g_cli.ctx = NULL;
            return rc < 0 ? CLI_OK : rc; /* -1: --help was printed */
        }
    return cli_fail(CLI_USAGE, "unknown command '%s' (see polca --help)", name);
}

int main(int argc, char **argv) {
    /* under an MPI launcher: the ranks share the work, rank 0 writes (mpi.c) */
    int rc = cli_mpi_start(&argc, &argv);
    if (rc) return rc;
    return cli_mpi_finish(run(argc, argv));
}
