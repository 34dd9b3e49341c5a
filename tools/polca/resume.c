/* tools/polca/resume.c - progress files for --resume (resume.h). */
#include <stdio.h>
#include <unistd.h>

#include "resume.h"

void cli_partial_path(char *buf, size_t n, const char *out, int pass) {
    if (pass == 0) snprintf(buf, n, "%s.partial", out);
    else snprintf(buf, n, "%s.partial%d", out, pass + 1);
}

int cli_partial_options(polca_options **o, const char *partial, int resume) {
    int rc = cli_opt_string(o, "progress_file", partial);
    return rc ? rc : cli_opt_int(o, "resume", resume);
}

/* This rank's file: the library's naming over ranks (polca/trajectories.h). */
static void rank_file(char *buf, size_t n, const char *partial) {
    polca_comm *comm = NULL;
    int32_t rank = 0, size = 1;
    if (g_cli.ctx && !polca_context_comm(g_cli.ctx, &comm) && comm)
        polca_comm_rank(comm, &rank, &size);
    if (size > 1) snprintf(buf, n, "%s.%d-of-%d", partial, (int)rank, (int)size);
    else snprintf(buf, n, "%s", partial);
}

void cli_partial_remove(const char *partial) {
    char path[4200];
    rank_file(path, sizeof path, partial);
    unlink(path);
}
