/*
 * tools/polca/cmd_report.c - `polca report`: one self-contained HTML page
 * (inline SVG and CSS, no script, no network) about a trajectories file:
 * the exact loss and its plateau, every direction, the clusters of the top
 * directions beside their exact loss (the paper's Figure 4), and, with a
 * label, the scores of every kind of trajectory (Table 1).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clusters.h"
#include "svg.h"

static const cli_opt report_own[] = {
    {"out", "REPORT.html", "the page to write (required)"},
    {"kind", "NAME", "the trajectories drawn: polca (default), first_order, fisher, lca, exact_loss, "
                     "or loss_change"},
    {"labels", "LABELS.npy", "a binary label per sample: scores every kind of trajectory"},
    {"mask", "MASK.npy", "the mask the samples came from, for per-position labels (default: every "
                         "position but the last, as decompose)"},
    {"basis", "BASIS.polca", "the basis the trajectories used: eigenvalues in the direction table"},
    {"top", "N", "directions drawn with their clusters (default 4)"},
    {"title", "TEXT", "page title"},
    {"overwrite", NULL, "replace an existing output file"},
    {"tag", "TAG.npy", "with --labels and --tag-values: also score as the paper's Appendix G does "
                       "(as polca score --tag)"},
    {"tag-column", "C", "the column of a [N][C] TAG.npy"},
    {"tag-values", "V,V", "the tag values that count"},
    {"min-share", "S", "a cluster counts when more than S of its labelled members have an allowed "
                       "tag (default 0.5)"},
    {NULL, NULL, NULL},
};

static const char css[] =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:.88em}td,th{border:1px solid #ccc;"
    "padding:3px 6px;"
    "text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}.meta{color:#555}"
    "figure{margin:1.5em 0}.pair{display:flex;gap:1em;flex-wrap:wrap}.pair svg{flex:1;min-width:420px}"
    ".wide{max-width:100%;overflow-x:auto}svg{max-width:100%;height:auto}figure>svg{max-width:640px}figcaption{color:#555;font-size:0.9em}";

typedef struct page {
    FILE *f;
    polca_trajectories *t;
    const int64_t *steps;
    int64_t t1, k, n;
    double *x;           /* steps as doubles [t1] */
    const float *polca;  /* [k][n][t1] */
    const float *exact;  /* [n][t1] or NULL */
    const uint8_t *label; /* [n] or NULL */
    const cli_restriction *rs; /* rs->tag NULL: no restricted scores */
} page;

/* Set when a section could not be drawn for want of memory: the page is
 * then not published (a page missing a section must not look complete). */
static int g_page_oom;

static void num(FILE *f, double x, const char *fmt) {
    if (isfinite(x)) fprintf(f, fmt, x);
    else fputs("&ndash;", f);
}

/* Mean exact loss over the samples with mask[i] == want (all when mask
 * NULL) into out[t1]; returns the count. */
static int64_t mean_exact(const page *p, const uint8_t *mask, int want, double *out) {
    int64_t c = 0;
    for (int64_t j = 0; j < p->t1; j++) out[j] = 0;
    for (int64_t i = 0; i < p->n; i++) {
        if (mask && mask[i] != want) continue;
        c++;
        for (int64_t j = 0; j < p->t1; j++) out[j] += p->exact[i * p->t1 + j];
    }
    for (int64_t j = 0; j < p->t1; j++) out[j] = c ? out[j] / (double)c : NAN;
    return c;
}

static void exact_figure(const page *p, double tau_step) {
    double *all = malloc(sizeof(double) * (size_t)p->t1 * 3);
    if (!all) {
        g_page_oom = 1;
        return;
    }
    svg_curve c[3];
    int nc = 0;
    mean_exact(p, NULL, 0, all);
    c[nc++] = (svg_curve){"all samples", (int)p->t1, p->x, all, 7, 0};
    if (p->label) {
        if (mean_exact(p, p->label, 1, all + p->t1))
            c[nc++] = (svg_curve){"labelled", (int)p->t1, p->x, all + p->t1, 0, 0};
        if (mean_exact(p, p->label, 0, all + 2 * p->t1))
            c[nc++] = (svg_curve){"not labelled", (int)p->t1, p->x, all + 2 * p->t1, 1, 0};
    }
    svg_marker m = {tau_step, "plateau", -1, 0};
    fputs("<h2>Exact loss</h2>\n<figure>\n", p->f);
    if (svg_panel(p->f, "Mean exact loss", "training step", "loss", c, nc, &m, 1)) g_page_oom = 1;
    fprintf(p->f, "<figcaption>Mean exact loss over training of all samples%s. The solid line, "
                  "labelled above the plot, marks the plateau of the mean exact loss; a "
                  "breakthrough whose onset comes later is hidden in it.</figcaption>\n</figure>\n",
            nc > 1 ? ", of the labelled ones and of the others" : "");
    free(all);
}

static void direction_table(const page *p, polca_clustering *cl, polca_basis *basis) {
    double *means = malloc(sizeof *means * (size_t)p->k);
    uint8_t *mask = malloc((size_t)p->n);
    int64_t nc = 0;
    polca_clustering_shape(cl, NULL, NULL, NULL, NULL, &nc);
    int64_t *per_dir = calloc((size_t)p->k, sizeof *per_dir), *hid_dir = calloc((size_t)p->k, sizeof *hid_dir);
    if (!means || !mask || !per_dir || !hid_dir ||
        polca_trajectories_final_means(p->t, POLCA_TRAJ_POLCA, means, p->k)) {
        free(means), free(mask), free(per_dir), free(hid_dir);
        g_page_oom = 1;
        return;
    }
    for (int64_t c = 0; c < nc; c++) {
        int64_t d;
        int32_t h;
        polca_clustering_cluster(cl, c, &d, NULL, NULL, NULL, NULL, &h);
        per_dir[d]++;
        hid_dir[d] += h;
    }
    int64_t bk = -1;
    if (basis) polca_basis_count(basis, &bk);
    int with_basis = bk == p->k;
    fputs("<h2>Directions</h2>\n<table>\n<tr><th>Direction</th>", p->f);
    if (with_basis) fputs("<th class=\"l\">Basis vector</th><th>Eigenvalue</th>", p->f);
    fputs("<th>Final mean projected loss</th><th>Samples whose loss falls</th><th>Clusters</th>"
          "<th>Hidden</th></tr>\n", p->f);
    int64_t rows = p->k < 200 ? p->k : 200;
    for (int64_t d = 0; d < rows; d++) {
        int64_t falling = 0;
        polca_trajectories_decreasing(p->t, POLCA_TRAJ_POLCA, d, mask, p->n, &falling);
        fprintf(p->f, "<tr><td>%lld</td>", (long long)d);
        if (with_basis) {
            int32_t kind;
            int64_t step;
            double ev;
            polca_basis_get_info(basis, d, &kind, &step, NULL, &ev, NULL, NULL);
            if (kind == POLCA_BASIS_KIND_HESSIAN || kind == POLCA_BASIS_KIND_HESSIAN_SHUFFLED)
                fprintf(p->f, "<td class=\"l\">Hessian at step %lld</td>", (long long)step);
            else if (kind == POLCA_BASIS_KIND_HESSIAN_SCALED ||
                     kind == POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED)
                fprintf(p->f, "<td class=\"l\">scaled Hessian at step %lld</td>",
                        (long long)step);
            else
                fputs("<td class=\"l\">not a Hessian vector</td>", p->f);
            fputs("<td>", p->f);
            num(p->f, ev, "%.4g");
            fputs("</td>", p->f);
        }
        fputs("<td>", p->f);
        num(p->f, means[d], "%.4g");
        fprintf(p->f, "</td><td>%lld</td><td>%lld</td><td>%lld</td></tr>\n", (long long)falling,
                (long long)per_dir[d], (long long)hid_dir[d]);
    }
    fputs("</table>\n", p->f);
    if (rows < p->k) fprintf(p->f, "<p class=\"meta\">The first %lld of %lld directions.</p>\n",
                             (long long)rows, (long long)p->k);
    free(means), free(mask), free(per_dir), free(hid_dir);
}

/* The directions with the most clustered samples, best first. */
static int64_t top_directions(const page *p, polca_clustering *cl, int64_t want, int64_t *out) {
    int64_t nc = 0;
    polca_clustering_shape(cl, NULL, NULL, NULL, NULL, &nc);
    int64_t *members = calloc((size_t)p->k, sizeof *members);
    if (!members) {
        g_page_oom = 1;
        return 0;
    }
    for (int64_t c = 0; c < nc; c++) {
        int64_t d, size;
        polca_clustering_cluster(cl, c, &d, &size, NULL, NULL, NULL, NULL);
        members[d] += size;
    }
    int64_t got = 0;
    while (got < want) {
        int64_t best = -1;
        for (int64_t d = 0; d < p->k; d++)
            if (members[d] > 0 && (best < 0 || members[d] > members[best])) best = d;
        if (best < 0) break;
        out[got++] = best;
        members[best] = 0;
    }
    free(members);
    return got;
}

static void direction_figure(const page *p, polca_clustering *cl, int32_t kind, int64_t dir,
                             double tau_step) {
    int64_t nc = 0, in_dir = 0;
    polca_clustering_shape(cl, NULL, NULL, NULL, NULL, &nc);
    for (int64_t c = 0; c < nc; c++) {
        int64_t d;
        polca_clustering_cluster(cl, c, &d, NULL, NULL, NULL, NULL, NULL);
        in_dir += d == dir;
    }
    int cap = 8; /* clusters drawn per direction */
    svg_curve left[8], right[8];
    svg_marker marks[9];
    char labels[8][96];
    double *buf = malloc(sizeof(double) * (size_t)p->t1 * 2 * (size_t)cap);
    float *mean = malloc(sizeof(float) * (size_t)p->t1);
    int drawn = 0, nm = 0;
    if (!buf || !mean) g_page_oom = 1;
    for (int64_t c = 0; buf && mean && c < nc && drawn < cap; c++) {
        int64_t d, size;
        double onset;
        int32_t hid;
        polca_clustering_cluster(cl, c, &d, &size, NULL, &onset, NULL, &hid);
        if (d != dir) continue;
        int64_t *members = malloc(sizeof *members * (size_t)size);
        if (!members) {
            g_page_oom = 1;
            break;
        }
        polca_clustering_members(cl, c, members);
        double *proj = buf + (size_t)(2 * drawn) * (size_t)p->t1, *ex = proj + p->t1;
        polca_clustering_mean(cl, c, mean);
        for (int64_t j = 0; j < p->t1; j++) {
            proj[j] = mean[j];
            ex[j] = 0;
        }
        int64_t labelled = 0;
        for (int64_t m = 0; m < size; m++) {
            if (p->label) labelled += p->label[members[m]];
            for (int64_t j = 0; p->exact && j < p->t1; j++) ex[j] += p->exact[members[m] * p->t1 + j];
        }
        for (int64_t j = 0; j < p->t1; j++) ex[j] = p->exact ? ex[j] / (double)size : NAN;
        free(members);
        if (p->label)
            snprintf(labels[drawn], sizeof labels[drawn], "c%lld: %lld samples, %.0f%% labelled%s",
                     (long long)c, (long long)size, 100.0 * (double)labelled / (double)size,
                     hid ? ", hidden breakthrough" : "");
        else
            snprintf(labels[drawn], sizeof labels[drawn], "c%lld: %lld samples%s", (long long)c,
                     (long long)size, hid ? ", hidden breakthrough" : "");
        left[drawn] = (svg_curve){labels[drawn], (int)p->t1, p->x, proj, drawn, 0};
        right[drawn] = (svg_curve){labels[drawn], (int)p->t1, p->x, ex, drawn, 0};
        marks[nm++] = (svg_marker){step_at(p->steps, p->t1, onset), NULL, drawn, 1};
        drawn++;
    }
    marks[nm++] = (svg_marker){tau_step, "plateau", -1, 0};
    char title[96], y_left[64];
    fprintf(p->f, "<figure>\n<h3>Direction %lld</h3>\n<div class=\"pair\">\n", (long long)dir);
    if (kind == POLCA_TRAJ_POLCA) {
        snprintf(title, sizeof title, "Projected loss along direction %lld", (long long)dir);
        snprintf(y_left, sizeof y_left, "projected loss");
    } else {
        snprintf(title, sizeof title, "%s, direction %lld", traj_kind_titles[kind], (long long)dir);
        title[0] = (char)(title[0] >= 'a' && title[0] <= 'z' ? title[0] - 'a' + 'A' : title[0]);
        snprintf(y_left, sizeof y_left, "%s", traj_kind_titles[kind]);
    }
    if (svg_panel(p->f, title, "training step", y_left, left, drawn, marks, nm) ||
        svg_panel(p->f, "Exact loss of the same clusters", "training step", "loss", right, drawn, marks, nm))
        g_page_oom = 1;
    fprintf(p->f, "</div>\n<figcaption>Left: each cluster's mean %s trajectory. Right: the same "
                  "samples' mean exact loss%s. Dashed lines, in a cluster's colour: its mean "
                  "breakthrough onset; solid line: the plateau of the mean exact loss (labelled "
                  "above the plot).",
            kind == POLCA_TRAJ_POLCA ? "projected-loss" : traj_kind_titles[kind],
            p->exact ? "" : " (none: the file holds no exact loss)");
    if (drawn < in_dir)
        fprintf(p->f, " The first %d of the direction's %lld clusters are drawn.", drawn, (long long)in_dir);
    fputs("</figcaption>\n</figure>\n", p->f);
    free(buf);
    free(mean);
}

/* The three best clusters: best[3] (-1 past the last) by homogeneity h,
 * NaN not counted, ties to the lower index. */
static void best3(const double *h, int64_t nc, int64_t *best) {
    for (int r = 0; r < 3; r++) {
        best[r] = -1;
        for (int64_t g = 0; g < nc; g++) {
            if (isnan(h[g])) continue;
            int taken = 0;
            for (int q = 0; q < r && !taken; q++) taken = best[q] == g;
            if (!taken && (best[r] < 0 || h[g] > h[best[r]])) best[r] = g;
        }
    }
}

static void score_cells(const page *p, polca_clustering *c, const int64_t *best, int i,
                        const double *h, const double *r, const double *f1, const double *share,
                        const char *none) {
    int cols = share ? 6 : 5;
    if (best[i] < 0) {
        if (i == 0) fprintf(p->f, "<td colspan=\"%d\" class=\"l\">%s</td>", cols, none);
        else
            for (int q = 0; q < cols; q++) fputs("<td></td>", p->f);
        return;
    }
    int64_t d, size;
    polca_clustering_cluster(c, best[i], &d, &size, NULL, NULL, NULL, NULL);
    fprintf(p->f, "<td>%lld</td><td>%lld</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>", (long long)d,
            (long long)size, h[best[i]], r[best[i]], f1[best[i]]);
    if (share) {
        fputs("<td>", p->f);
        num(p->f, share[best[i]], "%.3f");
        fputs("</td>", p->f);
    }
}

static int scores_table(const cli_args *a, const page *p) {
    const int restricted = p->rs && p->rs->tag;
    char rule[256] = "";
    if (restricted) cli_restriction_describe(p->rs, rule, sizeof rule);
    fputs("<h2>Clusters against the label</h2>\n<p>For each kind of trajectory: the three clusters "
          "with the highest fraction of labelled members (homogeneity), their recall and F1 (noise "
          "excluded), and the fraction of all clusters whose onset comes after the plateau.", p->f);
    if (restricted) {
        fputs(" First the paper's rule (Appendix G): only clusters with ", p->f);
        html_text(p->f, rule);
        fputs(" count; then every cluster, with the share of its labelled members whose tag is "
              "allowed.", p->f);
    }
    fputs("</p>\n<div class=\"wide\"><table>\n<tr><th class=\"l\" rowspan=\"2\">Trajectories</th><th rowspan=\"2\">"
          "Clusters</th><th rowspan=\"2\">Hidden fraction</th><th rowspan=\"2\">#</th>", p->f);
    if (restricted) fputs("<th colspan=\"5\">The paper's rule</th><th colspan=\"6\">Every cluster</th>", p->f);
    else fputs("<th colspan=\"5\">Every cluster</th>", p->f);
    fputs("</tr>\n<tr>", p->f);
    for (int v = 0; v < 1 + restricted; v++)
        fputs("<th>Direction</th><th>Size</th><th>Homogeneity</th><th>Recall</th><th>F1</th>", p->f);
    if (restricted) fputs("<th>Tag share</th>", p->f);
    fputs("</tr>\n", p->f);
    for (int32_t kind = 0; kind < N_KINDS; kind++) {
        const float *v;
        int64_t k, n, tt;
        if (polca_trajectories_view(p->t, kind, &v, &k, &n, &tt)) continue;
        polca_clustering *c = NULL;
        int rc = cluster_kind(a, p->t, kind, &c);
        if (rc) return rc;
        int64_t nc = 0, best[3] = {-1, -1, -1}, rbest[3] = {-1, -1, -1}, n_eligible = 0;
        double hidden = NAN;
        polca_clustering_shape(c, NULL, NULL, NULL, NULL, &nc);
        polca_clustering_hidden_fraction(c, &hidden);
        size_t sz = sizeof(double) * (size_t)(nc + 1);
        double *h = malloc(sz), *r = malloc(sz), *f1 = malloc(sz), *rh = malloc(sz), *rr = malloc(sz),
               *rf = malloc(sz), *share = malloc(sz);
        int32_t *eligible = malloc(sizeof(int32_t) * (size_t)(nc + 1));
        int oom = !h || !r || !f1 || !rh || !rr || !rf || !share || !eligible;
        int32_t st = oom ? POLCA_ERR_OUT_OF_MEMORY : polca_clustering_score(c, p->label, h, r, f1);
        if (!st) st = polca_clustering_best(c, p->label, NULL, 3, best);
        if (!st && restricted)
            st = polca_clustering_score_restricted(c, p->label, p->rs->tag, p->rs->n_allowed,
                                                   p->rs->allowed, p->rs->min_share, rh, rr, rf,
                                                   share, eligible);
        if (st) {
            free(h), free(r), free(f1), free(rh), free(rr), free(rf), free(share), free(eligible);
            polca_clustering_destroy(c);
            return oom ? cli_fail(CLI_LIBRARY, "out of memory") : cli_lib(st, traj_kind_names[kind]);
        }
        if (restricted) {
            best3(rh, nc, rbest);
            for (int64_t g = 0; g < nc; g++) n_eligible += eligible[g] != 0;
        }
        int rows = 0;
        while (rows < 3 && (best[rows] >= 0 || rbest[rows] >= 0)) rows++;
        for (int i = 0; i < (rows ? rows : 1); i++) {
            fputs("<tr>", p->f);
            if (i == 0) {
                int span = rows ? rows : 1;
                fprintf(p->f, "<td class=\"l\" rowspan=\"%d\">%s</td><td rowspan=\"%d\">%lld",
                        span, traj_kind_titles[kind], span, (long long)nc);
                if (restricted) fprintf(p->f, "<br><small>%lld count</small>", (long long)n_eligible);
                fprintf(p->f, "</td><td rowspan=\"%d\">", span);
                num(p->f, hidden, "%.3f");
                fputs("</td>", p->f);
            }
            if (!rows) {
                fprintf(p->f, "<td colspan=\"%d\" class=\"l\">no cluster</td></tr>\n",
                        restricted ? 12 : 6);
                break;
            }
            fprintf(p->f, "<td>%d</td>", i + 1);
            if (restricted) score_cells(p, c, rbest, i, rh, rr, rf, NULL, "no cluster counts");
            score_cells(p, c, best, i, h, r, f1, restricted ? share : NULL, "no cluster");
            fputs("</tr>\n", p->f);
        }
        free(h), free(r), free(f1), free(rh), free(rr), free(rf), free(share), free(eligible);
        polca_clustering_destroy(c);
    }
    fputs("</table></div>\n", p->f);
    return CLI_OK;
}

int cmd_report(int argc, char **argv) {
    cli_opt all[CLI_MAX_OPTS];
    cli_opts_join(all, CLI_MAX_OPTS, report_own, cluster_opts);
    cli_args a;
    int rc = cli_parse(&a, "report", all, argc, argv, "TRAJ.polca --out REPORT.html [--labels LABELS.npy]",
                       "Writes one static HTML page (no script, no network): the exact loss and "
                       "its plateau, every\ndirection, the clusters of the top directions beside "
                       "their exact loss, and with --labels the\nscores of every kind of trajectory. "
                       "Clustering options as for polca cluster (--kind picks the\ntrajectories "
                       "drawn, default polca).");
    if (rc) return rc;
    const char *out;
    int64_t top = 4;
    if ((rc = cli_require(&a, "out", &out)) || (rc = cli_get_int(&a, "top", 0, 1000, &top))) return rc;
    if (a.n_pos != 1)
        return cli_fail(CLI_USAGE, a.n_pos ? "one TRAJ.polca expected" : "no TRAJ.polca given (see "
                                                                         "polca report --help)");
    static const char *const inputs[] = {"labels", "mask", "basis", NULL};
    if ((rc = cli_check_inputs(&a, inputs, "TRAJ.polca")) ||
        (rc = cli_output_check("--out", out, cli_flag(&a, "overwrite"))))
        return rc;
    polca_context *ctx = cli_context(&rc);
    if (!ctx) return rc;
    page p;
    memset(&p, 0, sizeof p);
    polca_clustering *cl = NULL;
    polca_basis *basis = NULL;
    uint8_t *label = NULL;
    int32_t kind = POLCA_TRAJ_POLCA;
    int32_t st = polca_trajectories_load(ctx, a.pos[0], &p.t);
    if (st) return cli_lib(st, NULL);
    int64_t tt;
    polca_trajectories_steps(p.t, &p.steps, &p.t1);
    polca_trajectories_view(p.t, POLCA_TRAJ_POLCA, &p.polca, &p.k, &p.n, &tt);
    int64_t ek, en, et;
    if (polca_trajectories_view(p.t, POLCA_TRAJ_EXACT_LOSS, &p.exact, &ek, &en, &et)) p.exact = NULL;
    int n_kinds = 0;
    int32_t kinds[N_KINDS];
    if (!rc) rc = parse_kinds(&a, p.t, "polca", kinds, &n_kinds);
    if (!rc && n_kinds != 1) rc = cli_fail(CLI_USAGE, "--kind all: the report draws one kind (the "
                                          "scores table covers every kind)");
    if (!rc) kind = kinds[0];
    if (!rc && cli_get(&a, "labels")) rc = cli_load_labels(cli_get(&a, "labels"), cli_get(&a, "mask"), p.n, &label);
    p.label = label;
    cli_restriction rs;
    memset(&rs, 0, sizeof rs);
    if (!rc) rc = cli_load_restriction(&a, p.n, &rs);
    if (!rc && rs.tag && !label) rc = cli_fail(CLI_USAGE, "--tag scores against a label: give --labels");
    p.rs = &rs;
    if (!rc && cli_get(&a, "basis") && (st = polca_basis_load(ctx, cli_get(&a, "basis"), &basis)))
        rc = cli_lib(st, NULL);
    if (!rc) rc = cluster_kind(&a, p.t, kind, &cl);
    p.x = rc ? NULL : malloc(sizeof(double) * (size_t)p.t1);
    if (!rc && !p.x) rc = cli_fail(CLI_LIBRARY, "out of memory");
    for (int64_t j = 0; !rc && j < p.t1; j++) p.x[j] = (double)p.steps[j];
    cli_output html = {0};
    if (!rc && !(rc = cli_output_open(&html, "--out", out, cli_flag(&a, "overwrite")))) p.f = html.f;
    if (!rc) {
        const char *title = cli_get(&a, "title") ? cli_get(&a, "title") : "libpolca report";
        double tau;
        polca_clustering_plateau(cl, &tau);
        double tau_step = step_at(p.steps, p.t1, tau);
        const char *backend = "?";
        polca_context_backend(ctx, &backend);
        fprintf(p.f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
        html_text(p.f, title);
        fprintf(p.f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", css);
        html_text(p.f, title);
        fputs("</h1>\n<p class=\"meta\">", p.f);
        html_text(p.f, a.pos[0]);
        fprintf(p.f, " &middot; %lld samples &middot; %lld directions &middot; %lld checkpoints (steps "
                     "%lld to %lld) &middot; plateau at step %.6g &middot; libpolca %s, %s backend</p>\n",
                (long long)p.n, (long long)p.k, (long long)p.t1, (long long)p.steps[0],
                (long long)p.steps[p.t1 - 1], tau_step, polca_version_string(), backend);
        if (p.exact) exact_figure(&p, tau_step);
        direction_table(&p, cl, basis);
        if (label) rc = scores_table(&a, &p);
        int64_t *dirs = malloc(sizeof *dirs * (size_t)(top + 1));
        int64_t nd = dirs ? top_directions(&p, cl, top, dirs) : 0;
        if (!dirs) g_page_oom = 1;
        if (!rc) {
            fprintf(p.f, "<h2>Top directions: %s clusters and their exact loss</h2>\n",
                    traj_kind_titles[kind]);
            if (nd == 0)
                fputs("<p>No direction has a cluster with these settings (try a smaller "
                      "--min-cluster-size).</p>\n", p.f);
            for (int64_t i = 0; i < nd; i++) direction_figure(&p, cl, kind, dirs[i], tau_step);
            fputs("<p class=\"meta\"><small>Written by polca report. Static page: no script, no "
                  "network.</small></p>\n</body>\n</html>\n", p.f);
        }
        free(dirs);
        if (!rc && g_page_oom) rc = cli_fail(CLI_LIBRARY, "out of memory");
        if (!rc) rc = cli_output_commit(&html);
    }
    cli_output_abort(&html);
    if (!rc) cli_say("%s: report of %lld directions x %lld samples", out, (long long)p.k, (long long)p.n);
    free(p.x);
    free(label);
    cli_restriction_free(&rs);
    polca_basis_destroy(basis);
    polca_clustering_destroy(cl);
    polca_trajectories_destroy(p.t);
    return rc;
}
