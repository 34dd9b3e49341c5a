/*
 * tools/polca/resume.h - progress files of `basis` and `decompose`, so a
 * killed run continues with --resume (docs/cli.md "Resuming a killed run").
 *
 * Each pass of a command writes its progress, as it goes, to the output's
 * progress file "<OUT>.partial" (a second pass of one command, such as
 * decompose's recomputation after --drop-rising, "<OUT>.partial2"); the
 * library commits each finished checkpoint to it. The file is removed once
 * the outputs are published. With --resume the pass continues from it, bit
 * for bit as an uninterrupted run. Under mpirun each rank of decompose has
 * its own file, "<OUT>.partial.<rank>-of-<size>" (the library's naming);
 * basis has rank 0's alone.
 */
#ifndef POLCA_CLI_RESUME_H
#define POLCA_CLI_RESUME_H

#include <stddef.h>

#include "cli.h"

#define CLI_RESUME_OPT {"resume", NULL, "continue a killed run from OUT.partial (docs/cli.md)"}

/* The progress file of pass `pass` (0, 1) of output `out`, into buf[n]. */
void cli_partial_path(char *buf, size_t n, const char *out, int pass);
/* Sets the library options "progress_file" and "resume" for a pass. */
int cli_partial_options(polca_options **o, const char *partial, int resume);
/* After the outputs are published: removes this rank's progress file. */
void cli_partial_remove(const char *partial);
#endif /* POLCA_CLI_RESUME_H */
