/*
 * tools/polca/mpi.c - `mpirun -np N polca ...`: the tool under an MPI
 * launcher (docs/cli.md, "Several processes").
 *
 * The tool links no MPI. Under a launcher it dlopens the MPI module
 * (libpolca_mpi.so.0, beside libpolca, or POLCA_MPI_MODULE) and reaches
 * MPI through the few helpers the module exports for it (src/mpi/mpi_cli.h:
 * init, a world communicator, an agreement on the exit status, finalize,
 * abort). Without the module it refuses to run (exit 2) rather than run N
 * independent copies that would each write the outputs.
 */
#define _GNU_SOURCE /* dladdr */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define STR2(x) #x
#define STR(x) STR2(x)
#define MPI_MODULE_NAME "libpolca_mpi.so." STR(POLCA_VERSION_MAJOR)

/* the module's helpers for the tool (src/mpi/mpi_cli.h) */
typedef int32_t (*init_fn)(int *argc, char ***argv);
typedef int32_t (*world_fn)(double timeout_s, polca_comm **out);
typedef int32_t (*agree_fn)(int32_t code, const char *message, int32_t *out_code,
                            int32_t *out_rank, char *out_message, size_t len);
typedef int32_t (*finalize_fn)(void);
typedef void (*abort_fn)(int32_t code);
typedef const char *(*error_fn)(void);

static struct {
    init_fn init;
    world_fn world;
    agree_fn agree;
    finalize_fn finalize;
    abort_fn abort;
    error_fn error;
} g_mod;

static char g_scratch[PATH_MAX];

/* The first agreement that found a failure: every rank knows it, so no
 * rank takes part in another (cli_mpi_finish skips its own). */
static int32_t g_agreed_code, g_agreed_rank = -1;
static char g_agreed[sizeof g_cli.error];

/* The launcher variable that is set ("NAME=value" in buf), or NULL. */
static const char *launcher(char *buf, size_t len) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            snprintf(buf, len, "%s=%s", vars[i], v);
            return buf;
        }
    }
    return NULL;
}

/* This process' rank as the launcher gives it (-1 unknown), for the one
 * message printed before MPI is up. */
static long launcher_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return -1;
}

static void module_path(char *out, size_t n) {
    const char *env = getenv("POLCA_MPI_MODULE");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    Dl_info info;
    const char *lib = NULL;
    if (dladdr((void *)&polca_version_string, &info) && info.dli_fname) lib = info.dli_fname;
    const char *slash = lib ? strrchr(lib, '/') : NULL;
    if (slash) snprintf(out, n, "%.*s/%s", (int)(slash - lib), lib, MPI_MODULE_NAME);
    else snprintf(out, n, "%s", MPI_MODULE_NAME);
}

/* Prints one line without the held-error machinery (before MPI is up, or
 * when the job must end at once). */
static void say_error(const char *text) {
    fprintf(stderr, "polca%s%s: error: %s\n", g_cli.command ? " " : "",
            g_cli.command ? g_cli.command : "", text);
    fflush(stderr);
}

int cli_mpi_start(int *argc, char ***argv) {
    char var[256], path[PATH_MAX], text[PATH_MAX + 1024];
    const char *off = getenv("POLCA_MPI");
    if (!launcher(var, sizeof var) || (off && strcmp(off, "0") == 0)) return CLI_OK;
    module_path(path, sizeof path);
    /* RTLD_GLOBAL: MPI's own plugins expect libmpi's symbols global */
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    const char *why = h ? NULL : dlerror();
    if (h) {
        *(void **)&g_mod.init = dlsym(h, "polca_mpi__cli_init");
        *(void **)&g_mod.world = dlsym(h, "polca_mpi__cli_world");
        *(void **)&g_mod.agree = dlsym(h, "polca_mpi__cli_agree");
        *(void **)&g_mod.finalize = dlsym(h, "polca_mpi__cli_finalize");
        *(void **)&g_mod.abort = dlsym(h, "polca_mpi__cli_abort");
        *(void **)&g_mod.error = dlsym(h, "polca_mpi_last_error");
        if (!g_mod.init || !g_mod.world || !g_mod.agree || !g_mod.finalize || !g_mod.abort ||
            !g_mod.error)
            why = "it lacks the polca_mpi__cli_* helpers of this polca version";
    }
    if (why) {
        snprintf(text, sizeof text,
                 "started by an MPI launcher (%s) but the MPI module %s cannot be loaded: %s "
                 "(build it where mpicc is found, or set POLCA_MPI_MODULE; POLCA_MPI=0 runs "
                 "every process alone)",
                 var, path, why);
        if (launcher_rank() <= 0) say_error(text); /* once for the job */
        return CLI_INPUT;
    }
    if (g_mod.init(argc, argv)) {
        snprintf(text, sizeof text, "MPI: %s", g_mod.error());
        say_error(text);
        return CLI_LIBRARY;
    }
    int32_t st = g_mod.world(0, &g_cli.comm);
    if (!st) st = polca_comm_rank(g_cli.comm, &g_cli.rank, &g_cli.size);
    if (st) {
        snprintf(text, sizeof text, "MPI: %s", g_mod.error());
        say_error(text);
        g_mod.abort(CLI_LIBRARY);
        return CLI_LIBRARY;
    }
    g_cli.mpi = 1;
    if (g_cli.rank > 0) {
        /* one copy of the results: rank 0's */
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            fflush(stdout);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
    }
    return CLI_OK;
}

const char *cli_scratch_dir(int *code) {
    if (g_scratch[0]) return g_scratch;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_scratch, sizeof g_scratch, "%s/polca-rank%d-XXXXXX", tmp && *tmp ? tmp : "/tmp",
             (int)g_cli.rank);
    if (!mkdtemp(g_scratch)) {
        g_scratch[0] = '\0';
        *code = cli_fail(CLI_INPUT, "rank %d: cannot make a scratch directory in %s for the "
                         "files other ranks than 0 write and discard (set TMPDIR)",
                         (int)g_cli.rank, tmp && *tmp ? tmp : "/tmp");
        return NULL;
    }
    return g_scratch;
}

/* Removes the scratch directory and whatever a failed writer left there. */
static void remove_scratch(void) {
    if (!g_scratch[0]) return;
    DIR *d = opendir(g_scratch);
    struct dirent *e;
    char p[PATH_MAX + 256];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", g_scratch, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(g_scratch);
    g_scratch[0] = '\0';
}

/* Every rank's code (and message, g_cli.error) -> the lowest failing
 * rank's; the first failure agreed is kept in g_agreed*. */
static int agree(int rc) {
    int32_t code = 0, first = -1;
    if (g_cli.comm_broken) return CLI_LIBRARY;
    if (g_agreed_code) return g_agreed_code;
    if (!rc) g_cli.error[0] = '\0';
    else if (!g_cli.error[0]) snprintf(g_cli.error, sizeof g_cli.error, "failed with exit status %d", rc);
    if (g_mod.agree(rc, g_cli.error, &code, &first, g_agreed, sizeof g_agreed)) {
        g_cli.comm_broken = 1; /* cli_mpi_finish ends the job */
        size_t at = strlen(g_cli.error);
        snprintf(g_cli.error + at, sizeof g_cli.error - at, "%s%s", at ? "; then " : "", g_mod.error());
        return CLI_LIBRARY;
    }
    g_agreed_code = code;
    g_agreed_rank = first;
    return code;
}

int cli_mpi_agree(int rc) { return g_cli.mpi ? agree(rc) : rc; }

int cli_mpi_finish(int rc) {
    if (!g_cli.mpi) return rc;
    char text[sizeof g_cli.error + 64];
    polca_context_destroy(g_cli.ctx); /* it borrows the communicator */
    g_cli.ctx = NULL;
    remove_scratch();
    /* after a failure every rank knows of (g_agreed_code), no rank agrees again */
    int code = agree(rc);
    if (g_cli.comm_broken) {
        /* the ranks cannot agree any more: this rank says why, and the job ends */
        say_error(g_cli.error);
        g_mod.abort(rc ? rc : CLI_LIBRARY);
        return rc ? rc : CLI_LIBRARY;
    }
    if (code && g_cli.rank == 0) {
        if (!strncmp(g_agreed, "rank ", 5)) snprintf(text, sizeof text, "%s", g_agreed);
        else snprintf(text, sizeof text, "rank %d: %s", (int)g_agreed_rank, g_agreed);
        say_error(text);
    }
    polca_comm_destroy(g_cli.comm);
    g_cli.comm = NULL;
    g_mod.finalize();
    return code;
}
