/*
 * examples/arithmetic/report_late.c - the planted late skill's section of
 * summary.json and report.html (report_late.h).
 */
#include "report_late.h"

#include <math.h>

static void json_key(FILE *f, const char *indent, const char *key, int first) {
    fputs(first ? "\n" : ",\n", f);
    fputs(indent, f);
    report__json_string(f, key);
    fputs(": ", f);
}

static void json_method(FILE *f, const report_late *r, const report_late_method *m) {
    static const char *ind = "        ";
    fputc('{', f);
    json_key(f, ind, "n_clusters", 1);
    fprintf(f, "%d", (int)m->n_clusters);
    json_key(f, ind, "hidden_fraction", 0);
    report__json_number(f, m->hidden_fraction);
    json_key(f, ind, "homogeneity", 0);
    report__json_number(f, m->homogeneity);
    json_key(f, ind, "recall", 0);
    report__json_number(f, m->recall);
    json_key(f, ind, "f1", 0);
    report__json_number(f, m->f1);
    json_key(f, ind, "size", 0);
    fprintf(f, "%d", (int)m->size);
    json_key(f, ind, "direction", 0);
    fprintf(f, "%d", (int)m->direction);
    json_key(f, ind, "onset_step", 0);
    fputc('{', f);
    for (int q = 0; q < REPORT_LATE_N_RULES; q++) {
        if (q) fputs(", ", f);
        report__json_string(f, r->rules[q]);
        fputs(": ", f);
        report__json_number(f, m->onset_step[q]);
    }
    fputc('}', f);
    json_key(f, ind, "meets_goal", 0);
    fputs(m->meets_goal ? "true" : "false", f);
    fputs("\n      }", f);
}

void report_late_json(FILE *f, const report_late *r) {
    static const char *ind = "    ";
    const struct {
        const char *key;
        double v;
    } nums[] = {{"val_share", r->val_share},       {"train_share", r->train_share},
                {"from_step", r->from_step},       {"steps", r->steps},
                {"needs_fraction", r->needs_fraction}, {"max_mean_drop", r->max_mean_drop},
                {"plateau_band", r->plateau_band}, {"tau_step", r->tau_step},
                {"truth_step", r->truth_step},     {"needs_accuracy", r->needs_accuracy}};
    fputc('{', f);
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        json_key(f, ind, nums[i].key, i == 0);
        report__json_number(f, nums[i].v);
    }
    json_key(f, ind, "rule", 0);
    report__json_string(f, r->rule_text);
    json_key(f, ind, "needs_places", 0);
    fputc('[', f);
    for (int32_t q = 0; q < r->n_needs_places; q++) {
        if (q) fputs(", ", f);
        report__json_string(f, r->needs_places[q]);
    }
    fputc(']', f);
    json_key(f, ind, "default_rule", 0);
    report__json_string(f, r->default_rule);
    json_key(f, ind, "rules", 0);
    fputc('[', f);
    for (int q = 0; q < REPORT_LATE_N_RULES; q++) {
        if (q) fputs(", ", f);
        report__json_string(f, r->rules[q]);
    }
    fputc(']', f);
    json_key(f, ind, "clusterings", 0);
    fputc('{', f);
    for (int z = 0; z < REPORT_LATE_N_NORMALIZE; z++) {
        json_key(f, "      ", r->normalize[z], z == 0);
        fputc('{', f);
        for (int32_t m = 0; m < r->n_methods; m++) {
            json_key(f, "      ", r->methods[z][m].name, m == 0);
            json_method(f, r, &r->methods[z][m]);
        }
        fputs("\n      }", f);
    }
    fputs("\n    }\n  }", f);
}

/* A step for a table cell: whole steps, "–" when not finite. */
static void html_step(FILE *f, double step) { report__html_number(f, step, 0); }

static void html_method_rows(FILE *f, const report_late *r, int z) {
    for (int32_t m = 0; m < r->n_methods; m++) {
        const report_late_method *me = &r->methods[z][m];
        fputs("<tr><td>", f);
        if (m == 0) report__html_text(f, r->normalize[z]);
        fputs("</td><td>", f);
        report__html_text(f, me->display ? me->display : me->name);
        fprintf(f, "</td><td>%d</td><td>", (int)me->n_clusters);
        report__html_number(f, me->hidden_fraction, 3);
        if (me->size == 0) {
            fputs("</td><td colspan=\"8\">no cluster</td>", f);
        } else {
            fputs("</td><td>", f);
            report__html_number(f, me->homogeneity, 3);
            fputs("</td><td>", f);
            report__html_number(f, me->recall, 3);
            fputs("</td><td>", f);
            report__html_number(f, me->f1, 3);
            fprintf(f, "</td><td>%d</td><td>", (int)me->size);
            if (me->direction >= 0) fprintf(f, "b%d", (int)me->direction);
            else fputs("&ndash;", f);
            for (int q = 0; q < REPORT_LATE_N_RULES; q++) {
                fputs("</td><td>", f);
                html_step(f, me->onset_step[q]);
            }
            fputs("</td>", f);
        }
        fprintf(f, "<td>%s</td></tr>\n", me->meets_goal ? "yes" : "no");
    }
}

void report_late_html(FILE *f, const report_late *r) {
    fputs("<h2>A hidden breakthrough with ground truth</h2>\n<p>", f);
    fprintf(f, "A share %.2f of the validation problems are written <code>a # b</code>: ",
            r->val_share);
    report__html_text(f, r->rule_text);
    fprintf(f,
            ". In training (share %.2f) their shift bits are coin flips until step %d and follow "
            "the rule after it, so the skill cannot start before step %d. %.3f of the scored "
            "tokens need it; it can lower the mean loss by at most ",
            r->train_share, (int)r->from_step, (int)r->from_step, r->needs_fraction);
    report__html_number(f, r->max_mean_drop, 3);
    fputs(" nats, inside the plateau band &epsilon;D = ", f);
    report__html_number(f, r->plateau_band, 3);
    fputs(", so it is hidden in the mean loss by construction. Plateau &tau; = step ", f);
    html_step(f, r->tau_step);
    fputs("; ground truth (the first checkpoint from which on the tokens that need the skill "
          "stay below ln 2 mean loss) = step ",
          f);
    html_step(f, r->truth_step);
    fputs("; their final accuracy ", f);
    report__html_number(f, r->needs_accuracy, 3);
    fputs(".</p>\n<table>\n<tr><th>clustering</th><th>method</th><th>clusters</th><th>hidden "
          "fraction</th><th>homogeneity</th><th>recall</th><th>F1</th><th>size</th>"
          "<th>direction</th>",
          f);
    for (int q = 0; q < REPORT_LATE_N_RULES; q++) {
        fputs("<th>onset (", f);
        report__html_text(f, r->rules[q]);
        fputs(")", f);
        fputs("</th>", f);
    }
    fputs("<th>goal met</th></tr>\n", f);
    for (int z = 0; z < REPORT_LATE_N_NORMALIZE; z++) html_method_rows(f, r, z);
    fputs("</table>\n<p class=\"note\">Best cluster per method for the late-skill label "
          "(highest homogeneity). Onsets in training steps under each rule; the default rule, ",
          f);
    report__html_text(f, r->default_rule);
    fputs(", decides the hidden fraction and the goal: homogeneity &ge; 0.8, onset after "
          "&tau; and within 10% of the training steps of the ground truth.</p>\n",
          f);
    fputs("<figure>\n<div class=\"pair\">\n", f);
    report__svg_panel(f, &r->overview);
    report__svg_panel(f, &r->cluster);
    fputs("</div>\n", f);
    if (r->caption) {
        fputs("<figcaption>", f);
        report__html_text(f, r->caption);
        fputs("</figcaption>\n", f);
    }
    fputs("</figure>\n", f);
}
