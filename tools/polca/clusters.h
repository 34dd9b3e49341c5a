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

/* The clustering options every clustering command accepts (each command
 * lists its own --kind, whose default differs). */
extern const cli_opt cluster_opts[];
/* dst = a followed by b (both {NULL}-ended), at most cap entries. */
void cli_opts_join(cli_opt *dst, int cap, const cli_opt *a, const cli_opt *b);

/* --kind: "all" (every output present, *n > 1 possible) or one name;
 * kinds[6] receives the POLCA_TRAJ_* codes. dflt: used when not given. */
int parse_kinds(const cli_args *a, const polca_trajectories *t, const char *dflt, int32_t *kinds,
                int *n);

/* Clusters one output of t with the command-line options (and the paper's
 * per-kind defaults: filter "none" for exact loss, its change and Fisher,
 * onset of the running sum for the change). Prints a note naming the
 * knobs that matter (min cluster size, normalize, filter) on stdout when no
 * cluster is found. */
int cluster_kind(const cli_args *a, polca_trajectories *t, int32_t kind, polca_clustering **out);

/* Training step at a fractional checkpoint index (linear between steps). */
double step_at(const int64_t *steps, int64_t t1, double index);

/* JSON output helpers: strings escaped, non-finite numbers as null. */
void json_str(FILE *f, const char *s);
void json_num(FILE *f, double x);

/* The paper's Appendix G rule for `score` and `report`: a cluster counts
 * only if more than min_share of its labelled members have a tag value in
 * allowed (polca_clustering_score_restricted). From --tag TAG.npy ([N],
 * [N][C] with --tag-column C, or [n_seq][n_ctx] with --mask),
 * --tag-values V,... and --min-share S (default 0.5). tag is NULL when
 * --tag was not given. */
typedef struct cli_restriction {
    int32_t *tag;     /* [n_samples] or NULL */
    int32_t *allowed; /* [n_allowed] */
    int64_t n_allowed;
    double min_share;
} cli_restriction;
int cli_load_restriction(const cli_args *a, int64_t n_samples, cli_restriction *out);
void cli_restriction_free(cli_restriction *r);
/* "more than 0.5 of the labelled members with a tag in {1,2}" */
void cli_restriction_describe(const cli_restriction *r, char *buf, size_t len);

#endif /* POLCA_CLI_CLUSTERS_H */
