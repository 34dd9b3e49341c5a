/*
 * tests/test_clustering_score.c - polca_clustering_score_restricted (the
 * paper's Appendix G rule: a cluster counts only if more than a share of its
 * labelled members have an allowed tag value), against a straightforward
 * recomputation from the cluster memberships and against shares worked out
 * by hand, including the boundary (a share of exactly 0.5 is not "more than
 * half"); and every argument's bad input.
 */
#include "harness.h"

/* N = 80 samples, T = 12 columns, K = 2 directions; tiny deterministic
 * jitter so that no two trajectories are equal.
 * Direction 0: A = 0..19 step to -1 at column 3; B = 20..39 step to -1 at
 *              column 8; C = 40..59 step to -3 at column 3; D = 60..79
 *              step to -3 at column 8.
 * Direction 1: X = 0..39 step to -2 at column 9; Y = 40..79 step to -0.5
 *              at column 4.
 * Labels: 0..3, 40..43 and 60..63 (12 samples).
 * Tags (allowed values {1, 2}): among the labelled, 0, 1 -> 1; 2, 3 -> 0;
 * 40, 41, 42 -> 2; 43 -> 7; 60 -> 1; 61, 62, 63 -> 0. Unlabelled samples
 * get i % 5 (allowed values among them must not matter).
 * Shares of labelled members with an allowed tag:
 *   A 2/4 = 0.5, B none (NaN), C 3/4, D 1/4; X 2/4 = 0.5, Y 4/8 = 0.5.
 * So with min_share 0.5 only C is eligible; with 0.49, A, C, X, Y. */
#define N 80
#define T 12

static float jitter(int i, int j) { return 1e-3f * (float)((i * 7 + j * 13) % 11) / 11.0f; }

static void make_data(float *traj, float *exact, uint8_t *label, int32_t *tag) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < T; j++) {
            float depth = i < 40 ? -1.0f : -3.0f;
            int col = (i / 20) % 2 ? 8 : 3;
            float a = j >= col ? depth : 0.0f;
            float x = i < 40 ? (j >= 9 ? -2.0f : 0.0f) : (j >= 4 ? -0.5f : 0.0f);
            traj[(0 * N + i) * T + j] = a + jitter(i, j);
            traj[(1 * N + i) * T + j] = x + jitter(i, j + 3);
        }
    const float loss[T] = {5, 4, 3, 2, 1.5f, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < N; i++)
        for (int u = 0; u < T; u++) exact[i * T + u] = loss[u];
    for (int i = 0; i < N; i++) {
        label[i] = (i < 4) || (i >= 40 && i < 44) || (i >= 60 && i < 64);
        tag[i] = i % 5;
    }
    static const int who[12] = {0, 1, 2, 3, 40, 41, 42, 43, 60, 61, 62, 63};
    static const int what[12] = {1, 1, 0, 0, 2, 2, 2, 7, 1, 0, 0, 0};
    for (int q = 0; q < 12; q++) tag[who[q]] = what[q];
}

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static polca_clustering *make_clustering(polca_context *ctx, uint8_t *label, int32_t *tag) {
    static float traj[2 * N * T], exact[N * T];
    make_data(traj, exact, label, tag);
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "min_cluster_size", 5);
    polca_options_set_int(o, "min_samples", 3);
    polca_options_set_string(o, "filter", "none");
    polca_clustering *c = NULL;
    if (polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c)) c = NULL;
    polca_options_destroy(o);
    return c;
}

/* The reference: from the memberships alone (polca_clustering_labels),
 * every cluster's homogeneity, recall over labelled clustered samples of its
 * direction, F1, and share of labelled members with an allowed tag. */
static int reference(const polca_clustering *c, const uint8_t *label, const int32_t *tag,
                     const int32_t *allowed, int n_allowed, double min_share, int64_t nc,
                     double *hom, double *rec, double *f1, double *share, int32_t *eligible) {
    int64_t k = 0;
    polca_clustering_shape(c, &k, NULL, NULL, NULL, NULL);
    for (int64_t g = 0; g < nc; g++) {
        int64_t dir = -1;
        polca_clustering_cluster(c, g, &dir, NULL, NULL, NULL, NULL, NULL);
        int32_t lab[N];
        if (polca_clustering_labels(c, dir, lab, NULL, NULL, NULL)) return -1;
        int64_t size = 0, pos = 0, in_dir = 0, hits = 0;
        for (int i = 0; i < N; i++) {
            if (lab[i] >= 0 && label[i]) in_dir++;
            if (lab[i] != g) continue;
            size++;
            if (!label[i]) continue;
            pos++;
            for (int v = 0; v < n_allowed; v++)
                if (tag[i] == allowed[v]) {
                    hits++;
                    break;
                }
        }
        double h = (double)pos / (double)size, r = in_dir ? (double)pos / (double)in_dir : 0.0;
        share[g] = pos ? (double)hits / (double)pos : NAN;
        eligible[g] = pos > 0 && share[g] > min_share;
        hom[g] = eligible[g] ? h : NAN;
        rec[g] = eligible[g] ? r : NAN;
        f1[g] = eligible[g] ? (h + r > 0 ? 2 * h * r / (h + r) : 0.0) : NAN;
    }
    return 0;
}

static int same(double a, double b) {
    return (isnan(a) && isnan(b)) || fabs(a - b) <= 1e-15;
}

TEST(restricted_against_reference_and_by_hand) {
    uint8_t label[N];
    int32_t tag[N];
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca_clustering *c = make_clustering(ctx, label, tag);
    CHECK(c);
    int64_t nc = 0;
    CHECK_OK(polca_clustering_shape(c, NULL, NULL, NULL, NULL, &nc));
    CHECK(nc == 6);
    int32_t l0[N], l1[N];
    CHECK_OK(polca_clustering_labels(c, 0, l0, NULL, NULL, NULL));
    CHECK_OK(polca_clustering_labels(c, 1, l1, NULL, NULL, NULL));
    int32_t A = l0[0], B = l0[20], C = l0[40], D = l0[60], X = l1[0], Y = l1[40];
    for (int i = 0; i < N; i++) CHECK(l0[i] == l0[i / 20 * 20] && l1[i] == l1[i / 40 * 40]);
    CHECK(A >= 0 && B >= 0 && C >= 0 && D >= 0 && X >= 0 && Y >= 0);

    const int32_t allowed[2] = {1, 2};
    const double shares[] = {0.5, 0.49, 0.0, 0.74, 0.75};
    for (size_t s = 0; s < sizeof shares / sizeof shares[0]; s++) {
        double h[6], r[6], f[6], sh[6], rh[6], rr[6], rf[6], rs[6];
        int32_t el[6], rel[6];
        CHECK_OK(polca_clustering_score_restricted(c, label, tag, 2, allowed, shares[s], h, r, f,
                                                   sh, el));
        CHECK(!reference(c, label, tag, allowed, 2, shares[s], nc, rh, rr, rf, rs, rel));
        for (int g = 0; g < 6; g++) {
            EXPECT(same(h[g], rh[g]) && same(r[g], rr[g]) && same(f[g], rf[g]));
            EXPECT(same(sh[g], rs[g]) && el[g] == rel[g]);
        }
        /* By hand (the comment above make_data). */
        CHECK(sh[A] == 0.5 && isnan(sh[B]) && sh[C] == 0.75 && sh[D] == 0.25 && sh[X] == 0.5 &&
              sh[Y] == 0.5);
        CHECK(el[B] == 0 && isnan(h[B]) && isnan(r[B]) && isnan(f[B]));
        if (shares[s] == 0.5) {
            /* exactly half is not "more than half" */
            CHECK(el[A] == 0 && el[X] == 0 && el[Y] == 0 && el[D] == 0 && el[C] == 1);
            CHECK(isnan(h[A]) && isnan(h[X]) && isnan(h[Y]) && isnan(h[D]));
            /* C: 4 labelled of 20 members; all 12 labelled samples are
             * clustered in direction 0. */
            CHECK(h[C] == 0.2 && r[C] == 4.0 / 12.0);
            CHECK_CLOSE(f[C], 2 * 0.2 * (4.0 / 12) / (0.2 + 4.0 / 12), 1e-15);
        }
        if (shares[s] == 0.49) CHECK(el[A] && el[C] && el[X] && el[Y] && !el[D] && !el[B]);
        if (shares[s] == 0.0) CHECK(el[A] && el[C] && el[D] && el[X] && el[Y] && !el[B]);
        if (shares[s] == 0.74) CHECK(el[C] && !el[A] && !el[D] && !el[X] && !el[Y]);
        if (shares[s] == 0.75) CHECK(!el[C]); /* 3/4 is not more than 0.75 */
    }
    /* Eligible clusters score as polca_clustering_score does. */
    double h[6], r[6], f[6], uh[6], ur[6], uf[6];
    CHECK_OK(polca_clustering_score(c, label, uh, ur, uf));
    CHECK_OK(polca_clustering_score_restricted(c, label, tag, 2, allowed, 0.0, h, r, f, NULL,
                                               NULL));
    for (int g = 0; g < 6; g++)
        if (g != B) CHECK(h[g] == uh[g] && r[g] == ur[g] && f[g] == uf[g]);
    /* Any output may be NULL; duplicates and unused values in allowed are
     * harmless. */
    const int32_t dup[5] = {2, 1, 2, 99, -5};
    int32_t el[6];
    CHECK_OK(polca_clustering_score_restricted(c, label, tag, 5, dup, 0.5, NULL, NULL, NULL,
                                               NULL, el));
    for (int g = 0; g < 6; g++) CHECK(el[g] == (g == C));
    /* Every value allowed: every cluster with a labelled member counts. */
    const int32_t every[6] = {0, 1, 2, 3, 4, 7};
    CHECK_OK(polca_clustering_score_restricted(c, label, tag, 6, every, 0.99, h, NULL, NULL,
                                               NULL, el));
    for (int g = 0; g < 6; g++) CHECK(el[g] == (g != B) && (g == B ? isnan(h[g]) : h[g] == uh[g]));
    polca_clustering_destroy(c);
    polca_context_destroy(ctx);
}

TEST(restricted_bad_arguments) {
    uint8_t label[N];
    int32_t tag[N];
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca_clustering *c = make_clustering(ctx, label, tag);
    CHECK(c);
    const int32_t allowed[2] = {1, 2};
    double h[6], r[6], f[6], sh[6];
    int32_t el[6];
    for (int g = 0; g < 6; g++) h[g] = r[g] = f[g] = sh[g] = -7.0, el[g] = -7;
#define BAD(call, culprit)                                                                      \
    do {                                                                                        \
        CHECK_STATUS(call, POLCA_ERR_INVALID_ARGUMENT);                                         \
        CHECK_ERROR_MENTIONS(culprit);                                                          \
        for (int g = 0; g < 6; g++)                                                             \
            CHECK(h[g] == -7.0 && r[g] == -7.0 && f[g] == -7.0 && sh[g] == -7.0 && el[g] == -7); \
    } while (0)
    BAD(polca_clustering_score_restricted(NULL, label, tag, 2, allowed, 0.5, h, r, f, sh, el),
        "clustering");
    BAD(polca_clustering_score_restricted(c, NULL, tag, 2, allowed, 0.5, h, r, f, sh, el),
        "'label'");
    label[5] = 2;
    BAD(polca_clustering_score_restricted(c, label, tag, 2, allowed, 0.5, h, r, f, sh, el),
        "label[5]");
    label[5] = 0;
    BAD(polca_clustering_score_restricted(c, label, NULL, 2, allowed, 0.5, h, r, f, sh, el),
        "'tag'");
    BAD(polca_clustering_score_restricted(c, label, tag, 0, allowed, 0.5, h, r, f, sh, el),
        "'n_allowed'");
    BAD(polca_clustering_score_restricted(c, label, tag, -1, allowed, 0.5, h, r, f, sh, el),
        "'n_allowed'");
    BAD(polca_clustering_score_restricted(c, label, tag, 2, NULL, 0.5, h, r, f, sh, el),
        "'allowed'");
    BAD(polca_clustering_score_restricted(c, label, tag, 2, allowed, -0.01, h, r, f, sh, el),
        "'min_share'");
    BAD(polca_clustering_score_restricted(c, label, tag, 2, allowed, 1.0, h, r, f, sh, el),
        "'min_share'");
    BAD(polca_clustering_score_restricted(c, label, tag, 2, allowed, NAN, h, r, f, sh, el),
        "'min_share'");
    BAD(polca_clustering_score_restricted(c, label, tag, 2, allowed, INFINITY, h, r, f, sh, el),
        "'min_share'");
#undef BAD
    polca_clustering_destroy(c);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(restricted_against_reference_and_by_hand);
    RUN(restricted_bad_arguments);
    return harness_done();
}
