/*
 * tests/test_progress_eta.c - the time-left estimate of the progress lines:
 * the arithmetic example's formatter and clock (examples/arithmetic/
 * progress.c) and the command-line tool's copy (tools/polca/progress.c),
 * both held to the same texts, worked out by hand from the rules in
 * progress.h (estimate = elapsed * (total - done) / done, rounded to 1 s
 * under a minute, 10 s under 10 minutes, the minute above; none before 3 %
 * or 2 s).
 */
#include "harness.h"

#include "../examples/arithmetic/progress.c"
#include "../tools/polca/progress.c"

static const struct {
    int64_t done, total;
    double elapsed;
    const char *want;
} eta_cases[] = {
    {0, 101, 0.0, "0.0 s elapsed"},
    {30, 101, 42.0, "42 s elapsed, ~1 min 40 s left"},  /* 42*71/30 = 99.4 -> 100 */
    {1, 101, 5.0, "5.0 s elapsed"},                      /* under 3 % done */
    {2, 100, 5.0, "5.0 s elapsed"},                      /* under 3 % done */
    {3, 100, 1.5, "1.5 s elapsed"},                      /* under 2 s */
    {3, 100, 2.0, "2.0 s elapsed, ~1 min left"},         /* 64.7 -> 60 */
    {4, 101, 5.0, "5.0 s elapsed, ~2 min left"},         /* 121.25 -> 120 */
    {101, 101, 250.7, "4 min 10 s elapsed"},             /* finished */
    {50, 100, 3725.0, "1 h 2 min elapsed, ~1 h 2 min left"},
    {10, 0, 12.34, "12 s elapsed"},                      /* total unknown */
    {1, 2, 30.0, "30 s elapsed, ~30 s left"},
    {99, 100, 100.0, "1 min 40 s elapsed, ~1 s left"},
    {999, 1000, 100.0, "1 min 40 s elapsed, ~1 s left"}, /* 0.1 s: at least 1 */
    {50, 100, 400000.0, "111 h 6 min elapsed, ~111 h 7 min left"},
    {5, 10, NAN, "0.0 s elapsed"},
    {5, 10, -3.0, "0.0 s elapsed"},
    {12, 10, 5.0, "5.0 s elapsed"}, /* more than the total: finished */
    {-1, 10, 5.0, "5.0 s elapsed"},
    {50, 100, 59.6, "59 s elapsed, ~1 min left"}, /* 59.6 -> 60 */
    {1, 2, 59.4, "59 s elapsed, ~59 s left"},
    {50, 100, 9.96, "9.9 s elapsed, ~10 s left"},
    {1, 2, 594.0, "9 min 54 s elapsed, ~9 min 50 s left"},
    {1, 2, 596.0, "9 min 56 s elapsed, ~10 min left"},
};

TEST(eta_text) {
    char a[128], b[128];
    for (size_t i = 0; i < sizeof eta_cases / sizeof eta_cases[0]; i++) {
        progress_eta_text(a, sizeof a, eta_cases[i].done, eta_cases[i].total, eta_cases[i].elapsed);
        cli_eta_text(b, sizeof b, eta_cases[i].done, eta_cases[i].total, eta_cases[i].elapsed);
        if (strcmp(a, eta_cases[i].want) != 0)
            FAILF("example (%lld, %lld, %g): '%s', expected '%s'", (long long)eta_cases[i].done,
                  (long long)eta_cases[i].total, eta_cases[i].elapsed, a, eta_cases[i].want);
        if (strcmp(b, eta_cases[i].want) != 0)
            FAILF("cli (%lld, %lld, %g): '%s', expected '%s'", (long long)eta_cases[i].done,
                  (long long)eta_cases[i].total, eta_cases[i].elapsed, b, eta_cases[i].want);
    }
}

TEST(eta_text_small_buffers) {
    char buf[16];
    memset(buf, 'x', sizeof buf);
    progress_eta_text(buf, 8, 30, 101, 42.0);
    EXPECT(strcmp(buf, "42 s el") == 0 && buf[8] == 'x');
    memset(buf, 'x', sizeof buf);
    cli_eta_text(buf, 8, 30, 101, 42.0);
    EXPECT(strcmp(buf, "42 s el") == 0 && buf[8] == 'x');
    memset(buf, 'x', sizeof buf);
    progress_eta_text(buf, 1, 30, 101, 42.0);
    cli_eta_text(buf + 2, 1, 30, 101, 42.0);
    EXPECT(buf[0] == '\0' && buf[1] == 'x' && buf[2] == '\0' && buf[3] == 'x');
    progress_eta_text(buf, 0, 30, 101, 42.0); /* nothing written */
    cli_eta_text(buf + 4, 0, 30, 101, 42.0);
    EXPECT(buf[0] == '\0' && buf[4] == 'x');
    progress_eta_text(NULL, 10, 1, 2, 3.0); /* no crash */
    cli_eta_text(NULL, 10, 1, 2, 3.0);
}

/* A report sequence like the example's: "eigen" runs inside "basis", then
 * "polca", then HDBSCAN's core distances per direction inside "clustering". */
static const struct {
    const char *stage;
    int64_t done, total;
    double t;
    int64_t want_done, want_total;
    double want_elapsed;
} clock_cases[] = {
    {"eigen", 1, 120, 0.0, 0, 119, 0.0},   /* first report: counts from here */
    {"eigen", 60, 120, 5.0, 59, 119, 5.0},
    {"basis", 1, 4, 10.0, 1, 4, 10.0},      /* outer: from the first eigen report */
    {"eigen", 1, 120, 10.5, 1, 120, 0.5},   /* a new run: from the report before */
    {"basis", 2, 4, 20.0, 2, 4, 20.0},
    {"basis", 4, 4, 40.0, 4, 4, 40.0},      /* finishes a run */
    {"polca", 1, 101, 41.0, 0, 100, 0.0},   /* first report after a finish */
    {"polca", 31, 101, 71.0, 30, 100, 30.0},
    {"polca", 101, 101, 141.0, 100, 100, 100.0},
    {"hdbscan core distances", 100, 800, 142.0, 0, 700, 0.0},
    {"hdbscan core distances", 800, 800, 149.0, 700, 700, 7.0},
    {"clustering", 1, 3, 150.0, 0, 2, 0.0},
    {"hdbscan core distances", 50, 400, 151.0, 50, 400, 1.0}, /* another total: new run */
    {"hdbscan core distances", 400, 400, 155.0, 400, 400, 5.0},
    {"clustering", 2, 3, 156.0, 1, 2, 6.0},
    {"import", 5, 0, 160.0, 5, 0, 4.0}, /* unknown total; epoch began at 156 */
};

TEST(clock_runs) {
    progress_clock a;
    cli_clock b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    for (size_t i = 0; i < sizeof clock_cases / sizeof clock_cases[0]; i++) {
        int64_t d1, t1, d2, t2;
        double e1, e2;
        progress_clock_update(&a, clock_cases[i].stage, clock_cases[i].done, clock_cases[i].total,
                              clock_cases[i].t, &d1, &t1, &e1);
        cli_clock_update(&b, clock_cases[i].stage, clock_cases[i].done, clock_cases[i].total,
                         clock_cases[i].t, &d2, &t2, &e2);
        if (d1 != clock_cases[i].want_done || t1 != clock_cases[i].want_total ||
            e1 != clock_cases[i].want_elapsed || d2 != d1 || t2 != t1 || e2 != e1)
            FAILF("report %zu (%s %lld/%lld at %g): example %lld/%lld in %g, cli %lld/%lld in %g; "
                  "expected %lld/%lld in %g",
                  i, clock_cases[i].stage, (long long)clock_cases[i].done,
                  (long long)clock_cases[i].total, clock_cases[i].t, (long long)d1, (long long)t1,
                  e1, (long long)d2, (long long)t2, e2, (long long)clock_cases[i].want_done,
                  (long long)clock_cases[i].want_total, clock_cases[i].want_elapsed);
    }
    /* the line the example prints at "polca 31/101" */
    char text[128];
    progress_eta_text(text, sizeof text, 30, 100, 30.0);
    EXPECT(strcmp(text, "30 s elapsed, ~1 min 10 s left") == 0);
}

TEST(clock_more_stages_than_slots) {
    static const char *names[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"};
    progress_clock a;
    cli_clock b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    int64_t d, t;
    double e;
    for (int i = 0; i < 10; i++) {
        progress_clock_update(&a, names[i], 1, 10, (double)i, &d, &t, &e);
        cli_clock_update(&b, names[i], 1, 10, (double)i, &d, &t, &e);
    }
    EXPECT(a.n_stages == PROGRESS_STAGES && b.n_stages == CLI_CLOCK_STAGES);
    /* s0 lost its slot: seen anew, its clock starts with the epoch (t = 0) */
    progress_clock_update(&a, "s0", 2, 10, 10.0, &d, &t, &e);
    EXPECT(d == 2 && t == 10 && e == 10.0);
    cli_clock_update(&b, "s0", 2, 10, 10.0, &d, &t, &e);
    EXPECT(d == 2 && t == 10 && e == 10.0);
    /* s9 kept its slot: the same run */
    progress_clock_update(&a, "s9", 3, 10, 11.0, &d, &t, &e);
    EXPECT(d == 3 && t == 10 && e == 11.0);
}

TEST(cli_line) {
    char line[256];
    cli_progress_line(line, sizeof line, "polca", 30, 101, NAN, "42 s elapsed, ~1 min 40 s left",
                      NULL, 200);
    EXPECT(strcmp(line, "polca                  [####............] 30/101  42 s elapsed, ~1 min "
                        "40 s left") == 0);
    cli_progress_line(line, sizeof line, "polca", 30, 101, NAN, "42 s elapsed, ~1 min 40 s left",
                      NULL, 40);
    EXPECT(strlen(line) == 39 && strcmp(line, "polca                  [####...........") == 0);
    cli_progress_line(line, sizeof line, "eigen", 40, 120, 0.00123, "3.1 s elapsed",
                      "basis 2/5, ~1 min left", 200);
    EXPECT(strcmp(line, "eigen                  [#####...........] 40/120  0.00123  3.1 s elapsed  "
                        "| basis 2/5, ~1 min left") == 0);
    cli_progress_line(line, sizeof line, "import", 7, 0, NAN, "1.0 s elapsed", "", 80);
    EXPECT(strcmp(line, "import                 [] 7  1.0 s elapsed") == 0);
    EXPECT(cli_stage_is_budget("eigen") && !cli_stage_is_budget("basis"));
}

int main(void) {
    RUN(eta_text);
    RUN(eta_text_small_buffers);
    RUN(clock_runs);
    RUN(clock_more_stages_than_slots);
    RUN(cli_line);
    return harness_done();
}
