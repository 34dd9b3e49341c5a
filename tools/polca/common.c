/*
 * tools/polca/common.c - errors and exit codes, option parsing, the
 * context with its progress bar (which cancels the running call after
 * Ctrl-C: output.c).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

cli g_cli;

/* ---- messages ---- */

/* Prints text with newlines and carriage returns flattened to spaces, so
 * an error is always one line. */
static void put_one_line(FILE *f, const char *text) {
    for (const char *p = text; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
}

static void vline(const char *kind, const char *fmt, va_list ap) {
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (g_cli.mpi && kind[0] == 'e') {
        /* held: the ranks agree on one error at the end (cli_mpi_finish) */
        if (!g_cli.error[0]) snprintf(g_cli.error, sizeof g_cli.error, "%s", buf);
        return;
    }
    if (g_cli.mpi && g_cli.rank > 0) return; /* rank 0's warnings are the job's */
    cli_progress_done();
    fprintf(stderr, "polca%s%s: %s: ", g_cli.command ? " " : "", g_cli.command ? g_cli.command : "",
            kind);
    put_one_line(stderr, buf);
    fputc('\n', stderr);
}

int cli_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("error", fmt, ap);
    va_end(ap);
    return code;
}

void cli_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vline("warning", fmt, ap);
    va_end(ap);
}

void cli_say(const char *fmt, ...) {
    if (g_cli.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    cli_progress_done();
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

int cli_status_code(int32_t status) {
    switch (status) {
    case POLCA_OK: return CLI_OK;
    case POLCA_ERR_CANCELLED: return cli_interrupted() ? CLI_INTERRUPTED : CLI_LIBRARY;
    case POLCA_ERR_INVALID_ARGUMENT:
    case POLCA_ERR_IO:
    case POLCA_ERR_CORRUPT:
    case POLCA_ERR_VERSION:
    case POLCA_ERR_NOT_FINITE:
    case POLCA_ERR_RANK_DEFICIENT:
    case POLCA_ERR_LAYOUT_MISMATCH:
    case POLCA_ERR_UNKNOWN_OPTION:
    case POLCA_ERR_OPTION_TYPE:
        return CLI_INPUT;
    default: return CLI_LIBRARY;
    }
}

int cli_lib(int32_t status, const char *prefix) {
    const char *msg = polca_last_error();
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", msg && *msg ? msg : polca_status_string(status));
    if (status == POLCA_ERR_COMM) g_cli.comm_broken = 1; /* cli_mpi_finish aborts the job */
    if (status == POLCA_ERR_CANCELLED && cli_interrupted())
        return cli_fail(CLI_INTERRUPTED, "interrupted");
    if (prefix) return cli_fail(cli_status_code(status), "%s: %s", prefix, copy);
    return cli_fail(cli_status_code(status), "%s", copy);
}

/* ---- options ---- */

static const cli_opt common_opts[] = {
    {"backend", "NAME", "auto (default), cpu or cuda (also POLCA_BACKEND)"},
    {"threads", "N", "CPU threads (default: OpenBLAS's choice)"},
    {"quiet", NULL, "no progress bar, no summary (errors still print)"},
    {"help", NULL, "this help"},
    {NULL, NULL, NULL},
};

static void print_opts(FILE *f, const cli_opt *o) {
    for (; o && o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(f, "  %-26s %s\n", left, o->help);
    }
}

static void usage(FILE *f, const char *command, const cli_opt *opts, const char *synopsis,
                  const char *description) {
    fprintf(f, "usage: polca %s %s\n\n%s\n\noptions:\n", command, synopsis, description);
    print_opts(f, opts);
    print_opts(f, common_opts);
    fprintf(f, "\nexit status: 0 ok, 1 usage, 2 input error, 3 library error, "
               "130 interrupted (docs/cli.md)\n");
}

static int find_opt(const cli_opt *opts, const char *name, size_t len) {
    for (int i = 0; opts[i].name; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return i;
    return -1;
}

int cli_parse(cli_args *a, const char *command, const cli_opt *opts, int argc, char **argv,
              const char *synopsis, const char *description) {
    memset(a, 0, sizeof *a);
    a->command = command;
    a->opts = opts;
    g_cli.command = command;
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            if (a->n_pos == CLI_MAX_POS)
                return cli_fail(CLI_USAGE, "more than %d arguments", CLI_MAX_POS);
            a->pos[a->n_pos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0) arg = "--help";
        if (strcmp(arg, "-q") == 0) arg = "--quiet";
        if (arg[1] != '-')
            return cli_fail(CLI_USAGE, "unknown option '%s' (see polca %s --help)", arg, command);
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int idx = find_opt(opts, name, len);
        int common = idx < 0 ? find_opt(common_opts, name, len) : -1;
        if (idx < 0 && common < 0)
            return cli_fail(CLI_USAGE, "unknown option '--%.*s' (see polca %s --help)", (int)len,
                            name, command);
        const cli_opt *o = idx >= 0 ? &opts[idx] : &common_opts[common];
        const char *value = "";
        if (o->metavar) {
            if (eq) {
                value = eq + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                return cli_fail(CLI_USAGE, "option '--%s' needs a value (%s)", o->name,
                                o->metavar);
            }
        } else if (eq) {
            return cli_fail(CLI_USAGE, "option '--%s' takes no value", o->name);
        }
        if (idx >= 0) {
            a->value[idx] = value;
            continue;
        }
        if (strcmp(o->name, "help") == 0) {
            usage(stdout, command, opts, synopsis, description);
            return -1;
        }
        if (strcmp(o->name, "quiet") == 0) g_cli.quiet = 1;
        if (strcmp(o->name, "backend") == 0) g_cli.backend = value;
        if (strcmp(o->name, "threads") == 0) g_cli.threads = value;
    }
    return CLI_OK;
}

const char *cli_get(const cli_args *a, const char *name) {
    int i = find_opt(a->opts, name, strlen(name));
    return i >= 0 ? a->value[i] : NULL;
}

int cli_flag(const cli_args *a, const char *name) { return cli_get(a, name) != NULL; }

int cli_require(const cli_args *a, const char *name, const char **out) {
    const char *v = cli_get(a, name);
    if (!v || !*v)
        return cli_fail(CLI_USAGE, "option '--%s' is required (see polca %s --help)", name,
                        a->command);
    *out = v;
    return CLI_OK;
}

static int parse_i64(const char *s, int64_t *out) {
    if (!s || !*s) return 0;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

int cli_get_int(const cli_args *a, const char *name, int64_t lo, int64_t hi, int64_t *out) {
    const char *v = cli_get(a, name);
    if (!v) return CLI_OK;
    int64_t x;
    if (!parse_i64(v, &x))
        return cli_fail(CLI_USAGE, "option '--%s': '%s' is not an integer", name, v);
    if (x < lo || x > hi)
        return cli_fail(CLI_USAGE, "option '--%s': %lld is out of range %lld..%lld", name,
                        (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return CLI_OK;
}

int cli_get_double(const cli_args *a, const char *name, double lo, double hi, double *out) {
    const char *v = cli_get(a, name);
    if (!v) return CLI_OK;
    errno = 0;
    char *end;
    double x = strtod(v, &end);
    if (!*v || errno || *end || !isfinite(x))
        return cli_fail(CLI_USAGE, "option '--%s': '%s' is not a number", name, v);
    if (x < lo || x > hi)
        return cli_fail(CLI_USAGE, "option '--%s': %g is out of range [%g, %g]", name, x, lo, hi);
    *out = x;
    return CLI_OK;
}

int cli_parse_index_list(const char *text, const char *what, int64_t max_value, int64_t **out,
                         int64_t *n_out) {
    int64_t cap = 16, n = 0;
    int64_t *v = malloc(sizeof *v * (size_t)cap);
    char *copy = strdup(text);
    if (!v || !copy) {
        free(v);
        free(copy);
        return cli_fail(CLI_LIBRARY, "out of memory");
    }
    int rc = CLI_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        int64_t lo, hi, step = 1;
        char *c1 = strchr(tok, ':');
        if (!c1) {
            if (!parse_i64(tok, &lo)) rc = CLI_USAGE;
            hi = lo + 1;
        } else {
            *c1 = '\0';
            char *c2 = strchr(c1 + 1, ':');
            if (c2) *c2 = '\0';
            if (!parse_i64(tok, &lo) || !parse_i64(c1 + 1, &hi) || (c2 && !parse_i64(c2 + 1, &step)) ||
                step < 1)
                rc = CLI_USAGE;
        }
        if (rc) {
            rc = cli_fail(CLI_USAGE, "%s: '%s' is not a list like 0,4,8 or 0:20:4", what, text);
            break;
        }
        for (int64_t x = lo; x < hi && !rc; x += step) {
            if (x < 0 || x >= max_value) {
                rc = cli_fail(CLI_USAGE, "%s: %lld is out of range 0..%lld", what, (long long)x,
                              (long long)max_value - 1);
                break;
            }
            if (n == cap) {
                int64_t *nv = realloc(v, sizeof *v * (size_t)(cap *= 2));
                if (!nv) {
                    rc = cli_fail(CLI_LIBRARY, "out of memory");
                    break;
                }
                v = nv;
            }
            v[n++] = x;
        }
    }
    free(copy);
    if (!rc && n == 0) rc = cli_fail(CLI_USAGE, "%s: '%s' selects nothing", what, text);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n_out = n;
    return CLI_OK;
}

/* ---- progress and Ctrl-C ---- */

static int g_bar_shown;
static double g_last_draw;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int32_t progress(void *user, const char *stage, int64_t done, int64_t total, double value) {
    static cli_clock clock;
    static char outer[96]; /* the enclosing stage's count and estimate, under "eigen" */
    (void)user;
    if (cli_interrupted()) return 1; /* Ctrl-C (output.c): cancel the running call */
    if (!g_cli.progress_tty) return 0;
    double t = now_seconds();
    int64_t done_since, total_since;
    double elapsed;
    cli_clock_update(&clock, stage, done, total, t, &done_since, &total_since, &elapsed);
    int budget = cli_stage_is_budget(stage);
    char eta[96];
    cli_eta_text(eta, sizeof eta, done_since, budget ? 0 : total_since, elapsed);
    if (!budget) {
        const char *left = strstr(eta, ", ~"); /* its elapsed would go stale */
        if (total > 0 && done < total)
            snprintf(outer, sizeof outer, "%s %lld/%lld%s", stage, (long long)done,
                     (long long)total, left ? left : "");
        else
            outer[0] = '\0';
    }
    if (t - g_last_draw < 0.1 && !(total > 0 && done >= total)) return 0;
    g_last_draw = t;
    char line[512];
    cli_progress_line(line, sizeof line, stage, done, total, value, eta, budget ? outer : NULL,
                      cli_term_columns());
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    g_bar_shown = 1;
    return 0;
}

void cli_progress_done(void) {
    if (g_bar_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        g_bar_shown = 0;
    }
}

/* Under an MPI launcher, this process' rank among the ranks of its node
 * (-1: not launched so, or POLCA_MPI=0). */
static long local_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                       "SLURM_LOCALID", "MV2_COMM_WORLD_LOCAL_RANK", NULL};
    const char *off = getenv("POLCA_MPI");
    if (off && !strcmp(off, "0")) return -1;
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long r = v && *v ? strtol(v, &end, 10) : -1;
        if (v && *v && !*end && r >= 0) return r;
    }
    return -1;
}

polca_context *cli_context(int *code) {
    if (g_cli.ctx) return g_cli.ctx;
    int32_t st;
    polca_options *o = NULL;
    int rc = CLI_OK;
    if (g_cli.backend && strcmp(g_cli.backend, "auto") && strcmp(g_cli.backend, "cpu") &&
        strcmp(g_cli.backend, "cuda"))
        rc = cli_fail(CLI_USAGE, "--backend '%s': expected auto, cpu or cuda", g_cli.backend);
    if (!rc && g_cli.backend) rc = cli_opt_string(&o, "backend", g_cli.backend);
    if (!rc && g_cli.threads) {
        char *end;
        long long t = strtoll(g_cli.threads, &end, 10);
        if (!*g_cli.threads || *end || t < 1 || t > 4096)
            rc = cli_fail(CLI_USAGE, "option '--threads': '%s' is not a count 1..4096", g_cli.threads);
        else
            rc = cli_opt_int(&o, "threads", t);
    }
    /* one GPU per rank: the node's rank r takes CUDA device r, unless the
     * launcher or the user narrowed each rank's view (CUDA_VISIBLE_DEVICES) */
    long local = local_rank();
    if (!rc && local > 0 && !getenv("CUDA_VISIBLE_DEVICES"))
        rc = cli_opt_int(&o, "cuda_device", local);
    if (!rc) {
        st = polca_context_create(o, &g_cli.ctx);
        if (st) rc = cli_lib(st, NULL);
    }
    polca_options_destroy(o);
    if (rc) {
        *code = rc;
        return NULL;
    }
    if (g_cli.comm && (st = polca_context_set_comm(g_cli.ctx, g_cli.comm))) {
        *code = cli_lib(st, NULL);
        return NULL;
    }
    g_cli.progress_tty = !g_cli.quiet && g_cli.rank == 0 && isatty(STDERR_FILENO);
    polca_context_set_progress(g_cli.ctx, progress, NULL);
    cli_catch_sigint();
    return g_cli.ctx;
}

/* ---- options handles ---- */

static int ensure(polca_options **o) {
    if (*o) return CLI_OK;
    int32_t st = polca_options_create(o);
    return st ? cli_lib(st, NULL) : CLI_OK;
}

int cli_opt_int(polca_options **o, const char *name, int64_t v) {
    int rc = ensure(o);
    int32_t st = rc ? 0 : polca_options_set_int(*o, name, v);
    return rc ? rc : st ? cli_lib(st, NULL) : CLI_OK;
}

int cli_opt_double(polca_options **o, const char *name, double v) {
    int rc = ensure(o);
    int32_t st = rc ? 0 : polca_options_set_double(*o, name, v);
    return rc ? rc : st ? cli_lib(st, NULL) : CLI_OK;
}

int cli_opt_string(polca_options **o, const char *name, const char *v) {
    int rc = ensure(o);
    int32_t st = rc ? 0 : polca_options_set_string(*o, name, v);
    return rc ? rc : st ? cli_lib(st, NULL) : CLI_OK;
}
