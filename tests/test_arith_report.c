/*
 * tests/test_arith_report.c - the arithmetic example's summary.json and
 * report.html writers (examples/arithmetic/report.c) on synthetic data:
 * the JSON parses with a strict reader and holds what was given (NaN as
 * null, strings escaped), the page holds its figures and tables with every
 * string escaped, bad inputs are refused without touching files.
 *
 * ARITH_REPORT_OUT=DIR keeps the files of the full synthetic report in DIR
 * (tests/test_report_render.sh renders them in Chromium).
 */
#include "harness.h"
#include "json_mini.h"

#include "addition.h"
#include "labels.h"
#include "report.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[512];

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) free(s), s = NULL;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void path_in(char *buf, size_t n, const char *dir, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Files in dir whose name contains ".tmp." (left-overs of a write). */
static int tmp_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* ---- A synthetic run: T checkpoints every 20 steps; four digit places
 * whose loss drops at different times; two directions with three clusters. */
enum { T = 101, NCL = 3, NFIG = 2 };
static double steps[T], place_y[4][T], proj_y[NFIG][NCL][T], exact_y[NFIG][NCL][T];
static report_curve place_c[5], proj_c[NFIG][NCL], exact_c[NFIG][NCL];
static report_marker place_m[2], proj_m[NFIG][NCL + 1], exact_m[NFIG][NCL + 1];
static report_panel place_panel;
static report_direction_figure figs[NFIG];
static report_method methods[6];
static report_kv config[6], results[2];
static report_timing timings[4];
static report_direction_row dir_rows[4];
static const char *notes[2];
static double single_x = 400, single_y = 0.5; /* a one-point curve */

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static void build_synthetic(report_data *d) {
    static const char *place_names[4] = {"1000s", "100s", "10s", "1s"};
    static const double onset[4] = {200, 900, 1500, 700};
    for (int t = 0; t < T; t++) steps[t] = 20.0 * t;
    for (int q = 0; q < 4; q++) {
        for (int t = 0; t < T; t++)
            place_y[q][t] = 0.01 + 2.3 * (1 - sigmoid((steps[t] - onset[q]) / 60.0));
        place_c[q] = (report_curve){place_names[q], T, steps, place_y[q], NULL, 0};
    }
    place_y[2][50] = NAN; /* a gap in the 10s curve */
    place_y[3][10] = INFINITY;
    place_c[4] = (report_curve){"single point", 1, &single_x, &single_y, "#444444", 1};
    place_m[0] = (report_marker){"τ = 1700", 1700, -1, 0};
    place_m[1] = (report_marker){"10s onset", 1500, 2, 1};
    place_panel = (report_panel){"Exact loss by digit place", "training step", "validation loss", 1, 5,
                                 place_c, 2, place_m};
    for (int k = 0; k < NFIG; k++) {
        for (int c = 0; c < NCL; c++) {
            double on = k == 1 ? 1000 + 20 * c : 300 + 500 * c + 200 * k;
            for (int t = 0; t < T; t++) {
                proj_y[k][c][t] = -(0.2 + 0.3 * c) * sigmoid((steps[t] - on) / 40.0);
                exact_y[k][c][t] = 0.05 + 2.0 * (1 - sigmoid((steps[t] - 800 - 100 * c) / 150.0));
            }
            static char labels[NFIG][NCL][160], onsets[NFIG][NCL][32];
            /* figure 1: onsets 20 steps apart, the last at tau, and legend
             * texts too long for one row (one word longer than a row) */
            if (k == 1) {
                snprintf(labels[k][c], sizeof labels[k][c],
                         c == 2 ? "c%d, %d tokens: %s" : "c%d, %d tokens: no carry into the 1000s or 100s%s",
                         c, 150 + 40 * c,
                         c == 2 ? "Averyveryveryveryveryveryveryveryveryveryveryveryveryveryveryvery"
                                  "veryveryveryverylongwordthatcannotbreak" : "");
            } else {
                snprintf(labels[k][c], sizeof labels[k][c], "cluster %d (n=%d)", c, 150 + 40 * c);
            }
            snprintf(onsets[k][c], sizeof onsets[k][c], "onset c%d", c);
            proj_c[k][c] = (report_curve){labels[k][c], T, steps, proj_y[k][c], NULL, 0};
            exact_c[k][c] = (report_curve){labels[k][c], T, steps, exact_y[k][c], NULL, 0};
            proj_m[k][c] = (report_marker){onsets[k][c], on, c, 1};
            exact_m[k][c] = (report_marker){onsets[k][c], on, c, 1};
        }
        proj_m[k][NCL] = (report_marker){"τ", k == 1 ? 1040 : 1700, -1, 0};
        exact_m[k][NCL] = (report_marker){"τ", k == 1 ? 1040 : 1700, -1, 0};
        static char titles[NFIG][64];
        snprintf(titles[k], sizeof titles[k], "Direction %d (eigenvalue %.1f)", k, 12.5 - 4 * k);
        figs[k].title = titles[k];
        figs[k].caption = k == 0 ? "Cluster 2 is the <carry> cluster & it breaks through late." : NULL;
        figs[k].projected = (report_panel){"projected loss", "training step", "projected loss", 0, NCL,
                                           proj_c[k], NCL + 1, proj_m[k]};
        figs[k].exact = (report_panel){"exact loss of the same clusters", "training step", "loss", 0, NCL,
                                       exact_c[k], NCL + 1, exact_m[k]};
    }
    static const char *names[6] = {"exact_loss", "loss_change", "fisher", "lca", "polca_first_order", "polca"};
    static const char *display[6] = {"Exact loss", "Change in exact loss", "Fisher", "LCA",
                                     "First-order POLCA", "POLCA"};
    for (int m = 0; m < 6; m++) {
        report_method *me = &methods[m];
        memset(me, 0, sizeof *me);
        me->name = names[m];
        me->display = display[m];
        /* faithful (the paper's rule) and unrestricted scores differ so
         * that a mix-up shows: the unrestricted ones are higher (the 1000s
         * place clusters), with a share of carries in the 100s/10s of
         * 0.01 * k. */
        me->faithful.n_best = m < 2 ? 1 : 3;
        me->unrestricted.n_best = m < 2 ? 2 : 3;
        for (int k = 0; k < 3; k++) {
            me->faithful.homogeneity[k] = 0.5 + 0.08 * m - 0.02 * k;
            me->faithful.recall[k] = 0.7 + 0.01 * k;
            me->faithful.f1[k] = 0.6 + 0.01 * m;
            me->faithful.direction[k] = m < 2 ? -1 : k + m;
            me->faithful.mid_share[k] = 0.9 - 0.1 * k;
            me->unrestricted.homogeneity[k] = 0.901 + 0.01 * m - 0.02 * k;
            me->unrestricted.recall[k] = 0.3 + 0.01 * k;
            me->unrestricted.f1[k] = 0.4 + 0.01 * m;
            me->unrestricted.direction[k] = m < 2 ? -1 : 2 * k + m;
            me->unrestricted.mid_share[k] = 0.01 * k;
        }
        me->n_eligible = 3 + m;
        me->hidden_fraction = 0.05 * m;
        me->n_clusters = 10 + m;
    }
    methods[2].faithful.f1[1] = NAN;        /* unknown: null in JSON */
    methods[3].hidden_fraction = INFINITY;  /* not finite: null */
    methods[5].faithful.homogeneity[0] = 0.975;
    methods[5].unrestricted.homogeneity[0] = 0.996;
    config[0] = (report_kv){"steps", NULL, 2000};
    config[1] = (report_kv){"model", "2 layers, d_model 64", 0};
    config[2] = (report_kv){"quote\"back\\slash", "line\nbreak\ttab\x01 ctl", 0};
    config[3] = (report_kv){"unicode", "τ ≥ 0.95 — ok", 0};
    config[4] = (report_kv){"bad utf8", "a\xff" "b\xc3", 0};
    config[5] = (report_kv){"lr", NULL, 1e-3};
    results[0] = (report_kv){"missing_result", NULL, NAN};
    results[1] = (report_kv){"kept_directions", NULL, 12};
    timings[0] = (report_timing){"train", 120.5};
    timings[1] = (report_timing){"basis", 60.25};
    timings[2] = (report_timing){"trajectories", 30};
    timings[3] = (report_timing){"clustering", 4.5};
    dir_rows[0] = (report_direction_row){0, 2600, 3, 1, 0, "c0: 1000s (0.99); c1: 10s (0.81)"};
    dir_rows[1] = (report_direction_row){1, 2400, 2, 0, 1, "c0: carry (0.97) <b>"};
    dir_rows[2] = (report_direction_row){2, -1, 0, 0, 0, NULL};
    dir_rows[3] = (report_direction_row){5, 1900, 4, 1, 1, "c2: 100s; c3: carry"};
    notes[0] = "Synthetic data for the test <script>alert(1)</script>.";
    notes[1] = "Second note.";

    memset(d, 0, sizeof *d);
    d->title = "Synthetic arithmetic report";
    d->backend = "cpu";
    d->device = "test machine";
    d->val_token_accuracy = 0.9875;
    d->n_config = 6, d->config = config;
    d->n_results = 2, d->results = results;
    d->n_timings = 4, d->timings = timings;
    d->n_methods = 6, d->methods = methods;
    d->place_curves = &place_panel;
    d->n_direction_rows = 4, d->direction_rows = dir_rows;
    d->n_figures = NFIG, d->figures = figs;
    d->n_notes = 2, d->notes = notes;
}

static double num_at(const jm_value *v, int i) {
    return v && v->type == JM_ARRAY && i < v->n && v->items[i]->type == JM_NUMBER ? v->items[i]->num : -999;
}

TEST(summary_json_parses_and_holds_the_run) {
    report_data d;
    build_synthetic(&d);
    char path[600];
    path_in(path, sizeof path, tmp_dir, "summary.json");
    CHECK(report_write_summary_json(path, &d) == 0);
    CHECK(tmp_leftovers(tmp_dir) == 0);
    char *text = read_all(path);
    CHECK(text);
    const char *err = NULL;
    jm_value *root = jm_parse(text, &err);
    if (!root) {
        FAILF("summary.json does not parse: %s", err);
        free(text);
        return;
    }
    EXPECT(!strstr(text, "NaN") && !strstr(text, "nan") && !strstr(text, "Infinity") && !strstr(text, "inf"));
    jm_value *v = jm_get(root, "val_token_accuracy");
    EXPECT(v && v->type == JM_NUMBER && v->num == 0.9875);
    v = jm_get(root, "backend");
    EXPECT(v && v->type == JM_STRING && !strcmp(v->str, "cpu"));
    static const char *names[6] = {"exact_loss", "loss_change", "fisher", "lca", "polca_first_order", "polca"};
    for (int m = 0; m < 6; m++) {
        jm_value *me = jm_get(root, names[m]);
        if (!me || me->type != JM_OBJECT) {
            FAILF("no object for method %s", names[m]);
            continue;
        }
        EXPECT(!jm_get(me, "homogeneity")); /* format 1's key is gone, not reused */
        for (int v = 0; v < 2; v++) {
            const report_scores *want = v ? &methods[m].unrestricted : &methods[m].faithful;
            jm_value *sc = jm_get(me, v ? "unrestricted" : "faithful");
            if (!sc || sc->type != JM_OBJECT) {
                FAILF("no %s object for method %s", v ? "unrestricted" : "faithful", names[m]);
                continue;
            }
            jm_value *h = jm_get(sc, "homogeneity"), *r = jm_get(sc, "recall"),
                     *f1 = jm_get(sc, "f1"), *ms = jm_get(sc, "carry_mid_share");
            int nb = want->n_best;
            EXPECT(h && h->type == JM_ARRAY && h->n == nb && r && r->n == nb && f1 && f1->n == nb);
            EXPECT(ms && ms->type == JM_ARRAY && ms->n == nb);
            EXPECT(fabs(num_at(h, 0) - want->homogeneity[0]) < 1e-9);
            EXPECT(fabs(num_at(r, nb - 1) - want->recall[nb - 1]) < 1e-9);
            EXPECT(fabs(num_at(ms, nb - 1) - want->mid_share[nb - 1]) < 1e-9);
            jm_value *dir = jm_get(sc, "direction");
            EXPECT(dir && dir->type == JM_ARRAY && dir->n == nb && num_at(dir, 0) == (m < 2 ? -1 : m));
            if (nb > 1) EXPECT(num_at(dir, 1) == want->direction[1]);
        }
        jm_value *hf = jm_get(me, "hidden_fraction");
        if (m == 3) EXPECT(hf && hf->type == JM_NULL);
        else EXPECT(hf && hf->type == JM_NUMBER && fabs(hf->num - 0.05 * m) < 1e-9);
        jm_value *el = jm_get(me, "eligible_clusters");
        EXPECT(el && el->type == JM_NUMBER && el->num == 3 + m);
    }
    jm_value *fisher_f1 = jm_get(jm_get(jm_get(root, "fisher"), "faithful"), "f1");
    EXPECT(fisher_f1 && fisher_f1->n == 3 && fisher_f1->items[1]->type == JM_NULL);
    jm_value *pol = jm_get(root, "polca");
    EXPECT(fabs(num_at(jm_get(jm_get(pol, "faithful"), "homogeneity"), 0) - 0.975) < 1e-12);
    EXPECT(fabs(num_at(jm_get(jm_get(pol, "unrestricted"), "homogeneity"), 0) - 0.996) < 1e-12);
    jm_value *fmt = jm_get(root, "format");
    EXPECT(fmt && fmt->type == JM_STRING && !strcmp(fmt->str, "libpolca-arithmetic-summary-2"));
    jm_value *order = jm_get(root, "methods");
    EXPECT(order && order->type == JM_ARRAY && order->n == 6 && !strcmp(order->items[5]->str, "polca"));
    jm_value *cfg = jm_get(root, "config");
    EXPECT(cfg && cfg->type == JM_OBJECT && cfg->n == 6);
    v = jm_get(cfg, "quote\"back\\slash");
    EXPECT(v && v->type == JM_STRING && !strcmp(v->str, "line\nbreak\ttab\x01 ctl"));
    v = jm_get(cfg, "unicode");
    EXPECT(v && !strcmp(v->str, "τ ≥ 0.95 — ok"));
    v = jm_get(cfg, "bad utf8");
    EXPECT(v && !strcmp(v->str, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD")); /* U+FFFD for each bad byte */
    v = jm_get(cfg, "steps");
    EXPECT(v && v->type == JM_NUMBER && v->num == 2000);
    v = jm_get(cfg, "lr");
    EXPECT(v && v->type == JM_NUMBER && v->num == 1e-3);
    jm_value *tm = jm_get(root, "timings");
    EXPECT(tm && tm->n == 4 && jm_get(tm, "basis") && jm_get(tm, "basis")->num == 60.25);
    jm_value *res = jm_get(root, "results");
    EXPECT(res && jm_get(res, "missing_result") && jm_get(res, "missing_result")->type == JM_NULL);
    jm_free(root);
    free(text);
}

TEST(html_has_figures_tables_and_escapes) {
    report_data d;
    build_synthetic(&d);
    char path[600];
    path_in(path, sizeof path, tmp_dir, "report.html");
    CHECK(report_write_html(path, &d) == 0);
    CHECK(tmp_leftovers(tmp_dir) == 0);
    char *h = read_all(path);
    CHECK(h);
    EXPECT(!strncmp(h, "<!DOCTYPE html>", 15));
    EXPECT(strstr(h, "</html>\n"));
    /* One svg for the place curves, two per direction figure. */
    EXPECT(count_of(h, "<svg ") == 1 + 2 * NFIG);
    EXPECT(count_of(h, "</svg>") == 1 + 2 * NFIG);
    /* 4 place curves, one of them split by its NaN and one by its Inf, plus
     * 2 x 2 x 3 cluster curves; the single point is a circle. */
    EXPECT(count_of(h, "<polyline") == 4 + 2 + 2 * NFIG * NCL);
    EXPECT(count_of(h, "<circle") == 1);
    /* Markers: 2 on the place panel, 4 per cluster panel. */
    EXPECT(count_of(h, "class=\"marker\"") == 2 + 2 * NFIG * (NCL + 1));
    EXPECT(strstr(h, "τ = 1700") && strstr(h, "(log scale)"));
    EXPECT(strstr(h, "class=\"table1\""));
    static const char *display[6] = {"Exact loss", "Change in exact loss", "Fisher", "LCA",
                                     "First-order POLCA", "POLCA"};
    for (int m = 0; m < 6; m++) EXPECT(strstr(h, display[m]));
    EXPECT(strstr(h, "<td>0.975</td>"));  /* this run's best POLCA homogeneity, the paper's rule */
    EXPECT(strstr(h, "<td>0.996</td>"));  /* and over every cluster */
    EXPECT(strstr(h, "the paper's rule") && strstr(h, "every cluster"));
    /* the faithful column comes first in POLCA's row */
    const char *row = strstr(h, ">POLCA<");
    EXPECT(row && strstr(row, "<td>0.975</td>") && strstr(row, "<td>0.996</td>") &&
           strstr(row, "<td>0.975</td>") < strstr(row, "<td>0.996</td>"));
    EXPECT(strstr(h, "15 clusters, 8 eligible"));
    EXPECT(strstr(h, ">0.973</td>"));     /* the paper's, beside it */
    EXPECT(strstr(h, ">0.355</td>"));     /* the paper's hidden fraction for POLCA */
    EXPECT(strstr(h, "Directions with digit-place clusters:</b> 0, 5."));
    EXPECT(strstr(h, "Directions with carry clusters:</b> 1, 5."));
    /* Escaping: no raw markup from the caller's strings. */
    EXPECT(!strstr(h, "<script>") && strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    EXPECT(!strstr(h, "<carry>") && strstr(h, "the &lt;carry&gt; cluster &amp; it"));
    EXPECT(!strstr(h, "(0.97) <b>") && strstr(h, "(0.97) &lt;b&gt;"));
    EXPECT(strstr(h, "quote&quot;back\\slash"));
    /* No number was printed as nan or inf anywhere (coordinates, cells). */
    EXPECT(!strstr(h, "nan") && !strstr(h, "NaN") && !strstr(h, "inf") && !strstr(h, "Inf"));
    EXPECT(!strstr(h, "<script") && !strstr(h, "http://www.w3.org/1999") && !strstr(h, "src="));
    free(h);
}

/* ---- Geometry of the SVG the writer produces, read back from the page.
 * Text widths here are those of DejaVu Sans (what the page's fonts resolve
 * to on Debian), about 0.6 em a character regular and 0.7 em bold, half
 * that for a space; tests/test_report_render.sh measures the real boxes in
 * Chromium. */
static double est_width(const char *s, size_t n, double size, int bold) {
    double em = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80) continue;
        em += c == ' ' ? 0.32 : bold ? 0.70 : 0.58;
    }
    return em * size;
}

static double attr_num(const char *tag, const char *name) {
    char key[32];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(tag, key);
    return p ? atof(p + strlen(key)) : NAN;
}

typedef struct box {
    double x0, y0, x1, y1;
} box;

static int boxes_overlap(box a, box b) {
    return a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5;
}

/* Checks every <svg> of the page: marker labels (class mlabel) sit above
 * the plot area (rect.frame) and do not overlap each other; legend lines
 * sit below the plot area and end inside the viewBox. Returns the number
 * of labels checked; *legend_lines the legend lines. */
static int check_svg_geometry(const char *h, int *legend_lines) {
    int labels = 0;
    *legend_lines = 0;
    for (const char *svg = strstr(h, "<svg "); svg; svg = strstr(svg + 1, "<svg ")) {
        const char *end = strstr(svg, "</svg>");
        if (!end) {
            FAILF("an <svg> without </svg>");
            return -1;
        }
        const char *vb = strstr(svg, "viewBox=\"");
        double vw = 0, vh = 0;
        if (!vb || sscanf(vb, "viewBox=\"0 0 %lf %lf\"", &vw, &vh) != 2) {
            FAILF("an <svg> without a viewBox");
            return -1;
        }
        const char *fr = strstr(svg, "<rect class=\"frame\"");
        if (!fr || fr > end) continue; /* no plot area: nothing placed around it */
        double fy = attr_num(fr, "y"), fh = attr_num(fr, "height");
        box lab[64];
        int n = 0;
        for (const char *t = strstr(svg, "<text class=\"mlabel\""); t && t < end;
             t = strstr(t + 1, "<text class=\"mlabel\"")) {
            const char *gt = strchr(t, '>'), *close = strstr(t, "</text>");
            double x = attr_num(t, "x"), y = attr_num(t, "y");
            double w = est_width(gt + 1, (size_t)(close - gt - 1), 10, 1);
            box b = {x, y - 9.3, x + w, y + 2.4}; /* DejaVu: ascent 0.93 em, descent 0.24 em */
            if (b.y1 > fy) FAILF("marker label '%.*s' reaches into the plot area (y %.1f > %.1f)",
                                 (int)(close - gt - 1), gt + 1, b.y1, fy);
            if (b.x0 < 0 || b.x1 > vw) FAILF("marker label '%.*s' leaves the panel (%.1f..%.1f of %.0f)",
                                             (int)(close - gt - 1), gt + 1, b.x0, b.x1, vw);
            for (int q = 0; q < n; q++)
                if (boxes_overlap(b, lab[q]))
                    FAILF("marker label '%.*s' at (%.1f, %.1f) overlaps another at (%.1f, %.1f)",
                          (int)(close - gt - 1), gt + 1, b.x0, b.y0, lab[q].x0, lab[q].y0);
            if (n < 64) lab[n++] = b;
            labels++;
        }
        for (const char *t = strstr(svg, "<text class=\"legend\""); t && t < end;
             t = strstr(t + 1, "<text class=\"legend\"")) {
            const char *close = strstr(t, "</text>");
            const char *ts = strstr(t, "<tspan");
            int spans = ts && ts < close;
            for (const char *q = spans ? ts : t; q && q < close; q = spans ? strstr(q + 1, "<tspan") : NULL) {
                const char *gt = strchr(q, '>'), *stop = spans ? strstr(q, "</tspan>") : close;
                double x = attr_num(q, "x"), y = attr_num(q, "y");
                double w = est_width(gt + 1, (size_t)(stop - gt - 1), 11, 0);
                if (x + w > vw) FAILF("legend line '%.*s' ends at %.1f, past the viewBox width %.0f",
                                      (int)(stop - gt - 1), gt + 1, x + w, vw);
                if (y - 10.2 < fy + fh || y + 2.6 > vh)
                    FAILF("legend line '%.*s' at y %.1f is not between the plot (%.1f) and the bottom (%.0f)",
                          (int)(stop - gt - 1), gt + 1, y, fy + fh, vh);
                (*legend_lines)++;
            }
        }
    }
    return labels;
}

TEST(labels_and_legends_keep_their_place) {
    report_data d;
    build_synthetic(&d);
    char path[600];
    path_in(path, sizeof path, tmp_dir, "geometry.html");
    CHECK(report_write_html(path, &d) == 0);
    char *h = read_all(path);
    CHECK(h);
    int lines = 0;
    int labels = check_svg_geometry(h, &lines);
    /* 2 on the place panel, 4 on each of the 4 direction panels */
    EXPECT(labels == 2 + 4 * 2 * NFIG);
    /* 4 place curves and a single point, 3 short labels per panel of
     * figure 0, and figure 1's long ones over several lines each */
    EXPECT(lines > 5 + 2 * 3 + 2 * 3);
    /* the unbreakable word is cut at characters, never dropped: all of it
     * is on the page, over two lines */
    EXPECT(strstr(h, "Averyveryvery") && strstr(h, "longwordthatcannotbreak"));
    free(h);
    remove(path);

    /* Many onsets at one step and the plateau there too: every label still
     * has its own place, above the plot. */
    double xs[3] = {0, 50, 100}, ys[3] = {1, 0.5, 0.2};
    report_curve cv[1] = {{"one curve", 3, xs, ys, NULL, 0}};
    report_marker mk[9];
    static const char *names[9] = {"onset c0", "onset c1", "onset c2", "onset c3", "onset c4",
                                   "onset c5", "onset c6", "onset c7", "τ"};
    for (int m = 0; m < 9; m++) mk[m] = (report_marker){names[m], m < 4 ? 50 : m < 8 ? 98 : 99, 0, m < 8};
    report_panel p = {"crowded", "step", "loss", 0, 1, cv, 9, mk};
    report_data e;
    memset(&e, 0, sizeof e);
    e.place_curves = &p;
    CHECK(report_write_html(path, &e) == 0);
    h = read_all(path);
    CHECK(h);
    EXPECT(check_svg_geometry(h, &lines) == 9);
    free(h);
    remove(path);
}

/* The caption under the place curves says what the panel draws. */
TEST(place_caption_matches_the_markers) {
    double xs[3] = {0, 50, 100}, ys[3] = {1, 0.5, 0.2};
    report_curve cv[1] = {{"1000s", 3, xs, ys, NULL, 0}};
    report_marker tau = {"τ", 60, -1, 0}, both[2] = {{"τ", 60, -1, 0}, {"onset", 30, 0, 1}};
    report_panel p = {"Exact loss by digit place", "step", "loss", 1, 1, cv, 1, &tau};
    report_data d;
    memset(&d, 0, sizeof d);
    d.place_curves = &p;
    char path[600];
    path_in(path, sizeof path, tmp_dir, "caption.html");
    CHECK(report_write_html(path, &d) == 0);
    char *h = read_all(path);
    CHECK(h);
    char *cap = strstr(h, "<figcaption>");
    CHECK(cap && strstr(cap, "</figcaption>"));
    *strstr(cap, "</figcaption>") = 0; /* the caption alone */
    /* only the plateau is drawn: the caption names it and nothing else */
    EXPECT(strstr(cap, "Solid vertical line: the plateau &tau; of the mean exact loss."));
    EXPECT(strstr(cap, "(logarithmic axis)"));
    EXPECT(!strstr(cap, "breakthroughs") && !strstr(cap, "Dashed") && !strstr(cap, "onset"));
    free(h);
    p.n_markers = 2, p.markers = both;
    CHECK(report_write_html(path, &d) == 0);
    h = read_all(path);
    CHECK(h);
    cap = strstr(h, "<figcaption>");
    CHECK(cap && strstr(cap, "</figcaption>"));
    *strstr(cap, "</figcaption>") = 0;
    EXPECT(strstr(cap, "Dashed vertical line: breakthrough onsets, in the colour of their curve."));
    EXPECT(strstr(cap, "Solid vertical line: the plateau"));
    free(h);
    tau.x = NAN; /* no plateau found: no line, no sentence */
    p.n_markers = 1, p.markers = &tau;
    CHECK(report_write_html(path, &d) == 0);
    h = read_all(path);
    CHECK(h);
    cap = strstr(h, "<figcaption>");
    CHECK(cap && strstr(cap, "</figcaption>"));
    *strstr(cap, "</figcaption>") = 0;
    EXPECT(!strstr(cap, "vertical line"));
    free(h);
    remove(path);
}

/* Cluster labels read as words (labels.h over addition.c's names). */
TEST(cluster_labels_are_words) {
    char out[96];
    int place = -1, carry = -1;
    /* values[tag][2]: place, carry, digit, place_carry; -1 unused */
    int32_t v[ARITH_N_TAGS * 2], n[ARITH_N_TAGS];
#define SET(P0, P1, NP, C, NC)                                                          \
    do {                                                                                \
        for (int i = 0; i < ARITH_N_TAGS * 2; i++) v[i] = -1;                           \
        for (int i = 0; i < ARITH_N_TAGS; i++) n[i] = 0;                                \
        v[0] = P0, v[1] = P1, n[ARITH_TAG_PLACE] = NP;                                  \
        v[2 * ARITH_TAG_CARRY] = C, n[ARITH_TAG_CARRY] = NC;                            \
    } while (0)
    SET(ARITH_PLACE_10, -1, 1, 1, 1);
    arith_cluster_words(v, n, 2, out, sizeof out, &place, &carry);
    EXPECT(!strcmp(out, "carry into the 10s") && place == 1 && carry == 1);
    SET(ARITH_PLACE_100, -1, 1, 0, 1);
    arith_cluster_words(v, n, 2, out, sizeof out, &place, &carry);
    EXPECT(!strcmp(out, "no carry into the 100s") && place == 1 && carry == 0);
    SET(ARITH_PLACE_1000, -1, 1, -1, 0);
    arith_cluster_words(v, n, 2, out, sizeof out, &place, &carry);
    EXPECT(!strcmp(out, "1000s digit") && place == 1 && carry == 0);
    SET(ARITH_PLACE_10, ARITH_PLACE_1, 2, 0, 1);
    arith_cluster_words(v, n, 2, out, sizeof out, &place, &carry);
    EXPECT(!strcmp(out, "no carry into the 10s or 1s") && place == 0 && carry == 0);
    SET(ARITH_PLACE_10, ARITH_PLACE_1, 2, -1, 0);
    arith_cluster_words(v, n, 2, out, sizeof out, &place, &carry);
    EXPECT(!strcmp(out, "10s or 1s digit") && place == 0);
    SET(-1, -1, 0, 1, 1);
    arith_cluster_words(v, n, 2, out, sizeof out, &place, &carry);
    EXPECT(!strcmp(out, "carry (mixed places)") && place == 0 && carry == 1);
    SET(-1, -1, 0, -1, 0);
    arith_cluster_words(v, n, 2, out, sizeof out, NULL, NULL);
    EXPECT(!strcmp(out, "mixed"));
    /* carry with both values is no carry label: the place alone speaks */
    SET(ARITH_PLACE_100, -1, 1, 1, 2);
    v[2 * ARITH_TAG_CARRY + 1] = 0;
    arith_cluster_words(v, n, 2, out, sizeof out, &place, &carry);
    EXPECT(!strcmp(out, "100s digit") && carry == 0);
#undef SET
    /* no label contains a raw tag separator */
    for (int32_t t = 0; t < ARITH_N_TAGS; t++)
        for (int32_t val = 0; val < arith_tag_n_values(t); val++)
            EXPECT(!strchr(arith_tag_value_name(t, val), '|'));
}

/* A long device description is written whole, in the page and the JSON. */
TEST(device_text_is_written_whole) {
    static char device[1200];
    for (int i = 0; i < 1199; i++) device[i] = (char)('a' + i % 26);
    memcpy(device + 1195, " end", 5);
    report_data d;
    build_synthetic(&d);
    d.device = device;
    char hp[600], jp[600];
    path_in(hp, sizeof hp, tmp_dir, "device.html");
    path_in(jp, sizeof jp, tmp_dir, "device.json");
    CHECK(report_write_html(hp, &d) == 0 && report_write_summary_json(jp, &d) == 0);
    char *h = read_all(hp), *j = read_all(jp);
    CHECK(h && j);
    EXPECT(strstr(h, device) != NULL);
    const char *err = NULL;
    jm_value *root = jm_parse(j, &err);
    jm_value *v = root ? jm_get(root, "device") : NULL;
    EXPECT(v && v->type == JM_STRING && strlen(v->str) == 1199 && !strcmp(v->str, device));
    jm_free(root);
    free(h), free(j);
    remove(hp), remove(jp);
}

TEST(empty_report_is_valid) {
    report_data d;
    memset(&d, 0, sizeof d);
    d.val_token_accuracy = NAN;
    report_panel empty = {"nothing", "x", "y", 0, 0, NULL, 0, NULL};
    report_curve all_nan_c;
    double xs[3] = {0, 1, 2}, ys[3] = {NAN, NAN, NAN}, neg[3] = {-1, 0, -2};
    all_nan_c = (report_curve){"all NaN", 3, xs, ys, NULL, 0};
    report_curve log_neg = {"non-positive on a log axis", 3, xs, neg, NULL, 0};
    report_curve both[2] = {all_nan_c, log_neg};
    report_panel nan_panel = {"nan", "x", "y", 1, 2, both, 0, NULL};
    report_direction_figure fig = {"empty figure", NULL, empty, nan_panel};
    d.place_curves = &empty;
    d.n_figures = 1;
    d.figures = &fig;
    report_method none;
    memset(&none, 0, sizeof none);
    none.name = "polca";
    none.n_eligible = -1, none.hidden_fraction = NAN, none.n_clusters = -1;
    d.n_methods = 1;
    d.methods = &none;
    char jp[600], hp[600];
    path_in(jp, sizeof jp, tmp_dir, "empty.json");
    path_in(hp, sizeof hp, tmp_dir, "empty.html");
    CHECK(report_write_summary_json(jp, &d) == 0);
    CHECK(report_write_html(hp, &d) == 0);
    char *text = read_all(jp);
    CHECK(text);
    const char *err = NULL;
    jm_value *root = jm_parse(text, &err);
    if (!root) FAILF("empty summary does not parse: %s", err);
    EXPECT(root && jm_get(root, "backend")->type == JM_NULL);
    EXPECT(root && jm_get(root, "val_token_accuracy")->type == JM_NULL);
    EXPECT(root && jm_get(jm_get(jm_get(root, "polca"), "faithful"), "homogeneity")->n == 0);
    EXPECT(root && jm_get(jm_get(jm_get(root, "polca"), "unrestricted"), "homogeneity")->n == 0);
    EXPECT(root && jm_get(jm_get(root, "polca"), "eligible_clusters")->type == JM_NULL);
    EXPECT(root && jm_get(jm_get(root, "polca"), "n_clusters")->type == JM_NULL);
    jm_free(root);
    free(text);
    char *h = read_all(hp);
    CHECK(h);
    EXPECT(count_of(h, "<svg ") == 3 && count_of(h, ">no data</text>") == 3);
    EXPECT(count_of(h, "<polyline") == 0);
    EXPECT(strstr(h, "no eligible cluster") && strstr(h, ">no cluster<"));
    free(h);
}

TEST(degenerate_ranges_still_draw) {
    /* A constant curve, and a curve at one x: the axes widen around them. */
    double xs[4] = {5, 5, 5, 5}, ys[4] = {1, 2, 3, 4}, cx[3] = {0, 10, 20}, cy[3] = {2, 2, 2};
    report_curve c[2] = {{"vertical", 4, xs, ys, NULL, 0}, {"flat", 3, cx, cy, "#123456", 1}};
    report_panel p = {"degenerate", "x", "y", 0, 2, c, 0, NULL};
    report_data d;
    memset(&d, 0, sizeof d);
    d.place_curves = &p;
    char hp[600];
    path_in(hp, sizeof hp, tmp_dir, "degenerate.html");
    CHECK(report_write_html(hp, &d) == 0);
    char *h = read_all(hp);
    CHECK(h);
    EXPECT(count_of(h, "<polyline") == 2 && strstr(h, "stroke=\"#123456\" stroke-dasharray"));
    EXPECT(!strstr(h, "nan") && !strstr(h, "inf"));
    free(h);
}

TEST(bad_input_is_refused_and_files_are_untouched) {
    report_data d;
    build_synthetic(&d);
    char path[600];
    path_in(path, sizeof path, tmp_dir, "keep.json");
    FILE *f = fopen(path, "wb");
    CHECK(f);
    fputs("previous", f);
    fclose(f);
    CHECK(report_write_summary_json(path, NULL) == -1);
    CHECK(strstr(report_error(), "'data'"));
    CHECK(report_write_summary_json(NULL, &d) == -1 && strstr(report_error(), "'path'"));
    CHECK(report_write_html("", &d) == -1);

    report_method bad[2];
    memcpy(bad, methods, sizeof bad);
    d.methods = bad;
    d.n_methods = 2;
    bad[1].name = "exact_loss";
    CHECK(report_write_summary_json(path, &d) == -1 && strstr(report_error(), "repeats"));
    bad[1].name = "config";
    CHECK(report_write_summary_json(path, &d) == -1 && strstr(report_error(), "reserved"));
    bad[1].name = NULL;
    CHECK(report_write_summary_json(path, &d) == -1 && strstr(report_error(), "methods[1]"));
    bad[1].name = "loss_change";
    bad[1].faithful.n_best = 4;
    CHECK(report_write_html(path, &d) == -1 && strstr(report_error(), "faithful.n_best"));
    bad[1].faithful.n_best = 1;
    bad[1].unrestricted.n_best = -1;
    CHECK(report_write_html(path, &d) == -1 && strstr(report_error(), "unrestricted.n_best"));
    bad[1].unrestricted.n_best = 1;
    d.n_methods = -1;
    CHECK(report_write_html(path, &d) == -1 && strstr(report_error(), "negative"));
    build_synthetic(&d);
    d.n_notes = 1;
    d.notes = NULL;
    CHECK(report_write_html(path, &d) == -1 && strstr(report_error(), "notes"));
    build_synthetic(&d);
    proj_m[1][0].curve = NCL; /* no such curve */
    CHECK(report_write_html(path, &d) == -1 && strstr(report_error(), "figures[1].projected.markers[0]"));
    build_synthetic(&d);
    exact_c[0][2].x = NULL;
    CHECK(report_write_html(path, &d) == -1 && strstr(report_error(), "figures[0].exact.curves[2] x"));
    build_synthetic(&d);
    config[1].key = "steps";
    CHECK(report_write_summary_json(path, &d) == -1 && strstr(report_error(), "config[1]"));
    build_synthetic(&d);
    timings[2].stage = "";
    CHECK(report_write_summary_json(path, &d) == -1 && strstr(report_error(), "timings[2]"));

    char *text = read_all(path);
    CHECK(text && !strcmp(text, "previous"));
    free(text);
    CHECK(tmp_leftovers(tmp_dir) == 0);

    /* A directory that does not exist: an I/O failure naming the file. */
    build_synthetic(&d);
    char missing[600];
    path_in(missing, sizeof missing, tmp_dir, "no/such/dir/summary.json");
    CHECK(report_write_summary_json(missing, &d) == -2 && strstr(report_error(), "no/such/dir"));
}

TEST(make_dirs_creates_parents) {
    char dir[600], file[700];
    path_in(dir, sizeof dir, tmp_dir, "a/b/c");
    CHECK(report_make_dirs(dir) == 0);
    CHECK(report_make_dirs(dir) == 0); /* exists already */
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "wb");
    CHECK(f);
    fclose(f);
    CHECK(report_make_dirs(file) == -2 && strstr(report_error(), "not a directory"));
    snprintf(file, sizeof file, "%s/plain/below", dir);
    CHECK(report_make_dirs(file) == -2);
    CHECK(report_make_dirs(NULL) == -1 && report_make_dirs("") == -1);
    remove(file);
    snprintf(file, sizeof file, "%s/plain", dir);
    remove(file);
    remove(dir);
    path_in(dir, sizeof dir, tmp_dir, "a/b");
    remove(dir);
    path_in(dir, sizeof dir, tmp_dir, "a");
    remove(dir);
}

TEST(paper_reference_numbers) {
    report_method r;
    CHECK(report_paper_reference("polca", &r) == 0);
    const report_scores *f = &r.faithful; /* the paper scores under its Appendix G rule */
    CHECK(f->n_best == 3 && f->homogeneity[0] == 0.973 && f->recall[1] == 0.773 && f->f1[2] == 0.827);
    CHECK(r.hidden_fraction == 0.355 && f->direction[0] == -1 && r.n_clusters == -1);
    CHECK(r.unrestricted.n_best == 0 && r.n_eligible == -1 && isnan(f->mid_share[0]));
    CHECK(report_paper_reference("exact_loss", &r) == 0 && f->n_best == 1 && f->homogeneity[0] == 0.514);
    CHECK(isnan(f->homogeneity[1]) && r.hidden_fraction == 0.0);
    CHECK(report_paper_reference("lca", &r) == 0 && r.hidden_fraction == 0.019);
    CHECK(report_paper_reference("fisher", &r) == 0 && f->homogeneity[0] == 0.664);
    CHECK(report_paper_reference("polca_first_order", &r) == 0 && f->homogeneity[0] == 0.948);
    CHECK(report_paper_reference("loss_change", &r) == 0 && f->recall[0] == 0.958);
    CHECK(report_paper_reference("random", &r) == -1 && strstr(report_error(), "random"));
    CHECK(report_paper_reference(NULL, &r) == -1 && report_paper_reference("polca", NULL) == -1);
}

static void remove_outputs(const char *dir) {
    static const char *files[] = {"summary.json", "report.html", "empty.json", "empty.html",
                                  "degenerate.html", "keep.json"};
    char p[700];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    rmdir(dir);
}

int main(void) {
    const char *keep = getenv("ARITH_REPORT_OUT");
    if (keep && *keep) {
        snprintf(tmp_dir, sizeof tmp_dir, "%s", keep);
        if (report_make_dirs(tmp_dir) != 0) {
            printf("FAIL setup: %s\nRESULT 0 1 0\n", report_error());
            return 1;
        }
    } else {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/test_arith_report.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) {
            printf("FAIL setup: mkdtemp %s\nRESULT 0 1 0\n", tmp_dir);
            return 1;
        }
    }
    RUN(summary_json_parses_and_holds_the_run);
    RUN(html_has_figures_tables_and_escapes);
    RUN(labels_and_legends_keep_their_place);
    RUN(place_caption_matches_the_markers);
    RUN(cluster_labels_are_words);
    RUN(device_text_is_written_whole);
    RUN(empty_report_is_valid);
    RUN(degenerate_ranges_still_draw);
    RUN(bad_input_is_refused_and_files_are_untouched);
    RUN(make_dirs_creates_parents);
    RUN(paper_reference_numbers);
    if (!(keep && *keep)) remove_outputs(tmp_dir);
    return harness_done();
}
