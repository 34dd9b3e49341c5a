/*
 * tools/polca/clusters.h - clustering a trajectories file, shared by
 * `cluster`, `score` and `report`; and a small JSON writer.
 */
#ifndef POLCA_CLI_CLUSTERS_H
#define POLCA_CLI_CLUSTERS_H

#include <stdio.h>

#include "cli.h"

#define N_KINDS 6
extern const char *const traj_kind_names[N_KINDS]; /* "polca", ... as POLCA_TRAJ_* */
extern const char *const traj_kind_titles[N_KINDS]; /* "POLCA", "exact loss", ... */

/* The clustering options every clustering command accepts. */
extern const cli_opt cluster_opts[];
/* dst = a followed by b (both {NULL}-ended), at most cap entries. */
void cli_opts_join(cli_opt *dst, int cap, const cli_opt *a, const cli_opt *b);

/* --kind: "all" (every output present, *n > 1 possible) or one name;
 * kinds[6] receives the POLCA_TRAJ_* codes. dflt: used when not given. */
int parse_kinds(const cli_args *a, const polca_trajectories *t, const char *dflt, int32_t *kinds,
                int *n);

/* Clusters one output of t with the command-line options (and the paper's
 * per-kind defaults: filter "none" for exact loss, its change and Fisher,
 * onset of the running sum for the change). */
int cluster_kind(const cli_args *a, polca_trajectories *t, int32_t kind, polca_clustering **out);

/* Training step at a fractional checkpoint index (linear between steps). */
double step_at(const int64_t *steps, int64_t t1, double index);

/* JSON output helpers: strings escaped, non-finite numbers as null. */
void json_str(FILE *f, const char *s);
void json_num(FILE *f, double x);

#endif /* POLCA_CLI_CLUSTERS_H */
