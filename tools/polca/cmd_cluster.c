/*
 * tools/polca/cmd_cluster.c - `polca cluster` (HDBSCAN per direction,
 * breakthrough onsets, hidden breakthroughs) and `polca score` (clusters
 * against a binary label: homogeneity, recall, F1, as the paper's Table 1).
 *
 * libpolca has no clustering file: clustering is deterministic, so `score`
 * and `report` cluster again with the same options rather than read one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clusters.h"
#include "npy.h"

static int load_traj(const cli_args *a, polca_trajectories **t) {
    if (a->n_pos == 0)
        return cli_fail(CLI_USAGE, "no TRAJ.polca given (see polca %s --help)", a->command);
    if (a->n_pos > 1) return cli_fail(CLI_USAGE, "one TRAJ.polca expected, got %d arguments", a->n_pos);
    int rc = CLI_OK;
    polca_context *ctx = cli_context(&rc);
    if (!ctx) return rc;
    int32_t st = polca_trajectories_load(ctx, a->pos[0], t);
    return st ? cli_lib(st, NULL) : CLI_OK;
}

/* ---- cluster ---- */

static const cli_opt cluster_own[] = {
    {"kind", "NAME", "polca (default), first_order, fisher, lca, exact_loss, loss_change, or all"},
    {"out", "CLUSTERS.json", "write the clusters (members, onsets, hidden flags) as JSON"},
    {"labels-out", "LABELS.npy", "write every sample's cluster per direction, int32 [K][N] "
                                 "(-1 noise, -2 left out by the filter)"},
    {"mask", "MASK.npy", "the mask the samples came from: medoids shown as sequence:position"},
    {"overwrite", NULL, "replace existing output files"},
    {NULL, NULL, NULL},
};

static int write_clusters_json(FILE *f, const char *traj_path, polca_trajectories *t,
                               const int32_t *kinds, polca_clustering **cls, int n_kinds) {
    const int64_t *steps;
    int64_t t1;
    polca_trajectories_steps(t, &steps, &t1);
    fputs("{\"format\": \"polca-clusters-1\", \"trajectories\": ", f);
    json_str(f, traj_path);
    fputs(", \"steps\": [", f);
    for (int64_t i = 0; i < t1; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)steps[i]);
    fputs("], \"kinds\": {", f);
    for (int q = 0; q < n_kinds; q++) {
        polca_clustering *c = cls[q];
        int64_t k, n, tt, tt1, nc;
        double tau, hidden;
        polca_clustering_shape(c, &k, &n, &tt, &tt1, &nc);
        polca_clustering_plateau(c, &tau);
        polca_clustering_hidden_fraction(c, &hidden);
        fprintf(f, "%s\n  ", q ? "," : "");
        json_str(f, traj_kind_names[kinds[q]]);
        fprintf(f, ": {\"directions\": %lld, \"samples\": %lld, \"plateau\": ", (long long)k,
                (long long)n);
        json_num(f, tau);
        fputs(", \"plateau_step\": ", f);
        json_num(f, step_at(steps, t1, tau));
        fputs(", \"hidden_fraction\": ", f);
        json_num(f, hidden);
        fputs(", \"clusters\": [", f);
        for (int64_t i = 0; i < nc; i++) {
            int64_t dir, size, medoid;
            double onset, plateau;
            int32_t hid;
            polca_clustering_cluster(c, i, &dir, &size, &medoid, &onset, &plateau, &hid);
            int64_t *members = malloc(sizeof *members * (size_t)(size + 1));
            if (!members) return cli_fail(CLI_LIBRARY, "out of memory");
            polca_clustering_members(c, i, members);
            fprintf(f, "%s\n    {\"id\": %lld, \"direction\": %lld, \"size\": %lld, \"medoid\": %lld, "
                       "\"onset\": ", i ? "," : "", (long long)i, (long long)dir, (long long)size,
                    (long long)medoid);
            json_num(f, onset);
            fputs(", \"onset_step\": ", f);
            json_num(f, step_at(steps, t1, onset));
            fputs(", \"plateau\": ", f);
            json_num(f, plateau);
            fprintf(f, ", \"hidden\": %s, \"members\": [", hid ? "true" : "false");
            for (int64_t m = 0; m < size; m++) fprintf(f, "%s%lld", m ? ", " : "", (long long)members[m]);
            fputs("]}", f);
            free(members);
        }
        fputs("]}", f);
    }
    fputs("}}\n", f);
    return CLI_OK;
}

int cmd_cluster(int argc, char **argv) {
    cli_opt all[CLI_MAX_OPTS];
    cli_opts_join(all, CLI_MAX_OPTS, cluster_own, cluster_opts);
    cli_args a;
    int rc = cli_parse(&a, "cluster", all, argc, argv, "TRAJ.polca [--kind NAME] [--out CLUSTERS.json]",
                       "Clusters the trajectories direction by direction with HDBSCAN (the "
                       "paper's settings by default),\nand finds each cluster's breakthrough onset "
                       "(eq. 9) and whether it comes after the exact loss\nplateaus (a hidden "
                       "breakthrough, eq. 10). Prints one line per cluster.");
    if (rc) return rc;
    static const char *const inputs[] = {"mask", NULL};
    int overwrite = cli_flag(&a, "overwrite");
    if ((rc = cli_check_inputs(&a, inputs, "TRAJ.polca"))) return rc;
    if (cli_get(&a, "out") && cli_get(&a, "labels-out") && strcmp(cli_get(&a, "out"), cli_get(&a, "labels-out")) == 0)
        return cli_fail(CLI_USAGE, "--out and --labels-out name the same file %s", cli_get(&a, "out"));
    if (cli_get(&a, "out") && (rc = cli_output_check("--out", cli_get(&a, "out"), overwrite))) return rc;
    if (cli_get(&a, "labels-out") &&
        (rc = cli_output_check("--labels-out", cli_get(&a, "labels-out"), overwrite)))
        return rc;
    polca_trajectories *t = NULL;
    if ((rc = load_traj(&a, &t))) return rc;
    int32_t kinds[N_KINDS];
    int n_kinds = 0;
    polca_clustering *cls[N_KINDS] = {NULL};
    int64_t *seq = NULL, *pos = NULL, n_pos = 0;
    rc = parse_kinds(&a, t, "polca", kinds, &n_kinds);
    if (!rc && cli_get(&a, "labels-out") && n_kinds != 1)
        rc = cli_fail(CLI_USAGE, "--labels-out needs one --kind");
    if (!rc && cli_get(&a, "mask")) rc = cli_load_positions(cli_get(&a, "mask"), &seq, &pos, &n_pos);
    for (int q = 0; !rc && q < n_kinds; q++) rc = cluster_kind(&a, t, kinds[q], &cls[q]);
    const int64_t *steps;
    int64_t t1;
    polca_trajectories_steps(t, &steps, &t1);
    for (int q = 0; !rc && q < n_kinds; q++) {
        int64_t k, n, tt, tt1, nc;
        double tau, hidden;
        polca_clustering_shape(cls[q], &k, &n, &tt, &tt1, &nc);
        if (seq && n_pos != n) {
            rc = cli_fail(CLI_INPUT, "%s scores %lld positions; the trajectories have %lld samples",
                          cli_get(&a, "mask"), (long long)n_pos, (long long)n);
            break;
        }
        polca_clustering_plateau(cls[q], &tau);
        polca_clustering_hidden_fraction(cls[q], &hidden);
        cli_progress_done();
        printf("%s: %lld clusters over %lld directions; plateau at checkpoint %g (step %g); "
               "hidden breakthroughs in %.3g of the clusters\n",
               traj_kind_names[kinds[q]], (long long)nc, (long long)k, tau, step_at(steps, t1, tau),
               hidden);
        if (nc) printf("  %7s %9s %7s %12s %12s %7s\n", "cluster", "direction", "size", "medoid",
                       "onset step", "hidden");
        for (int64_t i = 0; i < nc; i++) {
            int64_t dir, size, medoid;
            double onset, plateau;
            int32_t hid;
            polca_clustering_cluster(cls[q], i, &dir, &size, &medoid, &onset, &plateau, &hid);
            char where[48];
            if (seq) snprintf(where, sizeof where, "%lld:%lld", (long long)seq[medoid], (long long)pos[medoid]);
            else snprintf(where, sizeof where, "%lld", (long long)medoid);
            printf("  %7lld %9lld %7lld %12s %12.6g %7s\n", (long long)i, (long long)dir, (long long)size,
                   where, step_at(steps, t1, onset), hid ? "yes" : "no");
        }
    }
    /* both outputs complete in their temporary files, then published together */
    cli_output json_out = {0}, labels_out = {0};
    cli_output *outs[2];
    int n_outs = 0;
    if (!rc && cli_get(&a, "out") &&
        !(rc = cli_output_open(&json_out, "--out", cli_get(&a, "out"), overwrite))) {
        outs[n_outs++] = &json_out;
        rc = write_clusters_json(json_out.f, a.pos[0], t, kinds, cls, n_kinds);
    }
    if (!rc && cli_get(&a, "labels-out")) {
        int64_t k, n;
        polca_clustering_shape(cls[0], &k, &n, NULL, NULL, NULL);
        int32_t *lab = malloc(sizeof *lab * (size_t)(k * n + 1));
        if (!lab) rc = cli_fail(CLI_LIBRARY, "out of memory");
        for (int64_t d = 0; !rc && d < k; d++) {
            int32_t st = polca_clustering_labels(cls[0], d, lab + d * n, NULL, NULL, NULL);
            if (st) rc = cli_lib(st, NULL);
        }
        int64_t shape[2] = {k, n};
        if (!rc && !(rc = cli_output_open(&labels_out, "--labels-out", cli_get(&a, "labels-out"),
                                          overwrite))) {
            outs[n_outs++] = &labels_out;
            npy_write(labels_out.f, "<i4", 2, shape, lab); /* errors: cli_outputs_commit */
        }
        free(lab);
    }
    if (!rc && n_outs) rc = cli_outputs_commit(outs, n_outs);
    cli_output_abort(&json_out);
    cli_output_abort(&labels_out);
    for (int q = 0; q < n_kinds; q++) polca_clustering_destroy(cls[q]);
    free(seq);
    free(pos);
    polca_trajectories_destroy(t);
    return rc;
}

/* ---- score ---- */

static const cli_opt score_own[] = {
    {"kind", "NAME", "all (default: every output the file holds), polca, first_order, fisher, lca, "
                     "exact_loss, or loss_change"},
    {"labels", "LABELS.npy", "a binary label per sample: [N], or per position [n_seq][n_ctx] "
                             "(required)"},
    {"mask", "MASK.npy", "the mask the samples came from, for per-position labels (default: "
                         "every position but the last, as decompose)"},
    {"top", "N", "clusters listed per kind, most homogeneous first (default 3)"},
    {"out", "SCORES.json", "also write the scores of every cluster as JSON"},
    {"overwrite", NULL, "replace an existing output file"},
    {"tag", "TAG.npy", "a categorical tag per sample (integers): with --tag-values, also score as "
                       "the paper's Appendix G does, counting only clusters whose labelled members "
                       "mostly have an allowed tag ([N], [N][C] with --tag-column, or [n_seq][n_ctx] "
                       "with --mask)"},
    {"tag-column", "C", "the column of a [N][C] TAG.npy"},
    {"tag-values", "V,V", "the tag values that count, e.g. 1,2 (the 100s and 10s places)"},
    {"min-share", "S", "a cluster counts when more than S of its labelled members have an allowed "
                       "tag (default 0.5: more than half)"},
    {NULL, NULL, NULL},
};

/* The n_top clusters of highest finite homogeneity (NaN: not counted), best
 * first, ties to the lower index; -1 past the last. */
static void top_finite(const double *h, int64_t nc, int64_t n_top, int64_t *top) {
    for (int64_t r = 0; r < n_top; r++) {
        int64_t pick = -1;
        for (int64_t g = 0; g < nc; g++) {
            if (isnan(h[g])) continue;
            int taken = 0;
            for (int64_t q = 0; q < r && !taken; q++) taken = top[q] == g;
            if (!taken && (pick < 0 || h[g] > h[pick])) pick = g;
        }
        top[r] = pick;
    }
}

static void print_best(polca_clustering *c, const int64_t *best, int64_t top, const double *h,
                       const double *r, const double *f1, const double *share) {
    if (top > 0 && best[0] < 0) printf("  (none)\n");
    for (int64_t i = 0; i < top && best[i] >= 0; i++) {
        int64_t dir, size;
        int32_t hid;
        polca_clustering_cluster(c, best[i], &dir, &size, NULL, NULL, NULL, &hid);
        printf("  #%lld cluster %-5lld direction %-4lld size %-6lld homogeneity %.3f  recall %.3f"
               "  F1 %.3f", (long long)i + 1, (long long)best[i], (long long)dir,
               (long long)size, h[best[i]], r[best[i]], f1[best[i]]);
        if (share) printf("  tag share %.3f", share[best[i]]);
        printf("%s\n", hid ? "  (hidden)" : "");
    }
}

/* "restricted" / "unrestricted": the best clusters and their scores. */
static void json_best(FILE *jf, const char *key, const int64_t *best, int64_t top, const double *h,
                      const double *r, const double *f1) {
    const double *v[3] = {h, r, f1};
    static const char *names[3] = {"homogeneity", "recall", "f1"};
    fprintf(jf, "\"%s\": {\"top\": [", key);
    for (int64_t i = 0; i < top && best[i] >= 0; i++) fprintf(jf, "%s%lld", i ? ", " : "", (long long)best[i]);
    fputc(']', jf);
    for (int q = 0; q < 3; q++) {
        fprintf(jf, ", \"%s\": [", names[q]);
        for (int64_t i = 0; i < top && best[i] >= 0; i++) {
            if (i) fputs(", ", jf);
            json_num(jf, v[q][best[i]]);
        }
        fputc(']', jf);
    }
    fputs("}, ", jf);
}

int cmd_score(int argc, char **argv) {
    cli_opt all[CLI_MAX_OPTS];
    cli_opts_join(all, CLI_MAX_OPTS, score_own, cluster_opts);
    cli_args a;
    int rc = cli_parse(&a, "score", all, argc, argv, "TRAJ.polca --labels LABELS.npy [--kind all]",
                       "Clusters the trajectories (as polca cluster, with the same options) and "
                       "scores every cluster against\na binary label: homogeneity (labelled "
                       "members / members), recall and F1 over clustered samples of\nthe same "
                       "direction, as the paper's Table 1. --kind all (the default) scores every "
                       "output the file\nholds, the baselines included. With --tag and --tag-values, "
                       "the clusters are also scored as the\npaper's Appendix G does: a cluster "
                       "counts only if more than --min-share of its labelled members\nhave an "
                       "allowed tag value (e.g. carries in the 10s or 100s place); that restricted "
                       "score is\nlisted first, the unrestricted one after it.");
    if (rc) return rc;
    const char *labels_path;
    int64_t top = 3;
    if ((rc = cli_require(&a, "labels", &labels_path)) || (rc = cli_get_int(&a, "top", 1, 1000, &top)))
        return rc;
    static const char *const inputs[] = {"labels", "mask", NULL};
    if ((rc = cli_check_inputs(&a, inputs, "TRAJ.polca"))) return rc;
    if (cli_get(&a, "out") &&
        (rc = cli_output_check("--out", cli_get(&a, "out"), cli_flag(&a, "overwrite"))))
        return rc;
    polca_trajectories *t = NULL;
    if ((rc = load_traj(&a, &t))) return rc;
    int32_t kinds[N_KINDS];
    int n_kinds = 0;
    uint8_t *label = NULL;
    FILE *jf = NULL;
    cli_output out = {0};
    const float *x;
    int64_t k0, n, tt;
    polca_trajectories_view(t, POLCA_TRAJ_POLCA, &x, &k0, &n, &tt);
    rc = parse_kinds(&a, t, "all", kinds, &n_kinds);
    if (!rc) rc = cli_load_labels(labels_path, cli_get(&a, "mask"), n, &label);
    cli_restriction rs;
    memset(&rs, 0, sizeof rs);
    if (!rc) rc = cli_load_restriction(&a, n, &rs);
    char rule[256] = "";
    if (rs.tag) cli_restriction_describe(&rs, rule, sizeof rule);
    if (!rc && cli_get(&a, "out")) {
        /* written to a temporary file as the kinds are scored, published
         * only when every kind was */
        rc = cli_output_open(&out, "--out", cli_get(&a, "out"), cli_flag(&a, "overwrite"));
        if (!rc) {
            jf = out.f;
            fputs("{\"format\": \"polca-scores-1\", ", jf);
            if (rs.tag) {
                fputs("\"restriction\": {\"tag\": ", jf);
                json_str(jf, cli_get(&a, "tag"));
                fputs(", \"values\": [", jf);
                for (int64_t i = 0; i < rs.n_allowed; i++) fprintf(jf, "%s%d", i ? ", " : "", (int)rs.allowed[i]);
                fputs("], \"min_share\": ", jf);
                json_num(jf, rs.min_share);
                fputs("}, ", jf);
            }
            fputs("\"kinds\": {", jf);
        }
    }
    int64_t positives = 0;
    for (int64_t i = 0; label && i < n; i++) positives += label[i];
    if (!rc) cli_say("%lld of %lld samples carry the label", (long long)positives, (long long)n);
    for (int q = 0; !rc && q < n_kinds; q++) {
        polca_clustering *c = NULL;
        if ((rc = cluster_kind(&a, t, kinds[q], &c))) break;
        int64_t nc;
        double hidden;
        polca_clustering_shape(c, NULL, NULL, NULL, NULL, &nc);
        polca_clustering_hidden_fraction(c, &hidden);
        size_t sz = sizeof(double) * (size_t)(nc + 1);
        double *h = malloc(sz), *r = malloc(sz), *f1 = malloc(sz);
        double *rh = malloc(sz), *rr = malloc(sz), *rf = malloc(sz), *share = malloc(sz);
        int32_t *eligible = malloc(sizeof(int32_t) * (size_t)(nc + 1));
        int64_t *best = malloc(sizeof(int64_t) * (size_t)top), *rbest = malloc(sizeof(int64_t) * (size_t)top);
        int32_t st = 0;
        int64_t n_eligible = 0;
        if (!h || !r || !f1 || !rh || !rr || !rf || !share || !eligible || !best || !rbest)
            rc = cli_fail(CLI_LIBRARY, "out of memory");
        if (!rc && (st = polca_clustering_score(c, label, h, r, f1))) rc = cli_lib(st, NULL);
        if (!rc && (st = polca_clustering_best(c, label, NULL, top, best))) rc = cli_lib(st, NULL);
        if (!rc && rs.tag &&
            (st = polca_clustering_score_restricted(c, label, rs.tag, rs.n_allowed, rs.allowed,
                                                    rs.min_share, rh, rr, rf, share, eligible)))
            rc = cli_lib(st, NULL);
        if (!rc && rs.tag) {
            top_finite(rh, nc, top, rbest);
            for (int64_t i = 0; i < nc; i++) n_eligible += eligible[i] != 0;
        }
        if (!rc) {
            cli_progress_done();
            printf("%-22s %4lld clusters, hidden breakthroughs in %.3f of them\n",
                   traj_kind_titles[kinds[q]], (long long)nc, hidden);
            if (rs.tag) {
                printf(" restricted (the paper's rule: %s): %lld clusters count\n", rule,
                       (long long)n_eligible);
                print_best(c, rbest, top, rh, rr, rf, share);
                printf(" unrestricted (every cluster):\n");
            }
            print_best(c, best, top, h, r, f1, rs.tag ? share : NULL);
            if (jf) {
                fprintf(jf, "%s\n  ", q ? "," : "");
                json_str(jf, traj_kind_names[kinds[q]]);
                fputs(": {", jf);
                if (rs.tag) {
                    json_best(jf, "restricted", rbest, top, rh, rr, rf);
                    json_best(jf, "unrestricted", best, top, h, r, f1);
                    fprintf(jf, "\"eligible_clusters\": %lld, ", (long long)n_eligible);
                }
                fputs("\"hidden_fraction\": ", jf);
                json_num(jf, hidden);
                fputs(", \"clusters\": [", jf);
                for (int64_t i = 0; i < nc; i++) {
                    int64_t dir, size;
                    int32_t hid;
                    polca_clustering_cluster(c, i, &dir, &size, NULL, NULL, NULL, &hid);
                    fprintf(jf, "%s{\"id\": %lld, \"direction\": %lld, \"size\": %lld, \"hidden\": %s, "
                                "\"homogeneity\": ", i ? ", " : "", (long long)i, (long long)dir,
                            (long long)size, hid ? "true" : "false");
                    json_num(jf, h[i]);
                    fputs(", \"recall\": ", jf);
                    json_num(jf, r[i]);
                    fputs(", \"f1\": ", jf);
                    json_num(jf, f1[i]);
                    if (rs.tag) {
                        fputs(", \"tag_share\": ", jf);
                        json_num(jf, share[i]);
                        fprintf(jf, ", \"eligible\": %s", eligible[i] ? "true" : "false");
                    }
                    fputs("}", jf);
                }
                fputs("]}", jf);
            }
        }
        free(h), free(r), free(f1), free(rh), free(rr), free(rf), free(share), free(eligible);
        free(best), free(rbest);
        polca_clustering_destroy(c);
    }
    if (jf && !rc) {
        fputs("}}\n", jf);
        rc = cli_output_commit(&out);
    }
    cli_output_abort(&out);
    free(label);
    cli_restriction_free(&rs);
    polca_trajectories_destroy(t);
    return rc;
}
