/*
 * tests/test_clustering.c - polca_clustering: onsets (eq. 9), plateau,
 * hidden breakthroughs (eq. 10), members/medoid/mean, scoring against
 * labels and automatic labels, each against values worked out by hand in the
 * comments; and every function's bad input.
 */
#include "clustering.h"
#include "harness.h"

/* ---- onset and plateau, by hand ---- */

TEST(onset_by_hand) {
    double work[64];
    /* A step: flat, then -1 from column 3 on. -(f[j+1] - 2 f[j] + f[j-1]) is
     * 1 at j = 2 (the last point before the drop), -1 at j = 3, 0 elsewhere. */
    float step[8] = {0, 0, 0, -1, -1, -1, -1, -1};
    CHECK(polca__onset(step, 8, 1, 0, work) == 2);
    /* A spike at 2 fools the raw curve: accelerations (j = 1..10) are
     * -1.2, 2.4, -1.2, 0, 0, 2, 1, -2, -1, 0, so j = 2. Width 3 (ends
     * shrink): s = 0, .4, .4, .4, 0, 0, -2/3, -7/3, -13/3, -17/3, -6, -6 and
     * the accelerations .4, 0, .4, -.4, 2/3, 1, 1/3, ... peak at j = 6. */
    float spike[12] = {0, 0, 1.2f, 0, 0, 0, 0, -2, -5, -6, -6, -6};
    CHECK(polca__onset(spike, 12, 1, 0, work) == 2);
    CHECK(polca__onset(spike, 12, 3, 0, work) == 6);
    /* Per-interval changes: their running sum is the step above. */
    float changes[8] = {0, 0, 0, -1, 0, 0, 0, 0};
    CHECK(polca__onset(changes, 8, 1, 1, work) == 2);
}

/* Eq. 9 takes the argmax of the negated second difference;
 * docs/method.md#onset-eq-9 and cluster.h: the first maximum when several
 * are equal. Every value below is an integer or a dyadic fraction, so the
 * tied accelerations are equal to the bit in float32 and in double (worked
 * out with exact fractions). */
TEST(onset_ties_take_the_first_maximum) {
    double work[64];
    /* Two equal drops: accelerations (j = 1..8) 0, 1, -1, 0, 0, 1, -1, 0:
     * a tie between j = 2 and j = 6, the first is 2. */
    float two_steps[10] = {0, 0, 0, -1, -1, -1, -1, -2, -2, -2};
    CHECK(polca__onset(two_steps, 10, 1, 0, work) == 2);
    /* Dyadic fractions: accelerations 1/4, 0, -1/4, 0, 1/4, 0, -1/4: j = 1. */
    float quarters[9] = {0, 0, -0.25f, -0.5f, -0.5f, -0.5f, -0.75f, -1, -1};
    CHECK(polca__onset(quarters, 9, 1, 0, work) == 1);
    /* A flat curve: every acceleration is 0, so the first candidate, j = 1. */
    float flat[6] = {0, 0, 0, 0, 0, 0};
    CHECK(polca__onset(flat, 6, 1, 0, work) == 1);
    CHECK(polca__onset(flat, 6, 3, 0, work) == 1);
    /* Smoothed (width 3, ends shrink to 2): f = 6 * steps of -1 at columns 4
     * and 10 gives s = 0, 0, 0, -2, -4, -6, -6, -6, -6, -8, -10, -12, -12,
     * -12 (exact: sums of multiples of 6 divided by 3 or 2), accelerations
     * 0, 2, 0, 0, -2, 0, 0, 2, 0, 0, -2, 0: tie at j = 2 and 8, first 2. */
    float smooth[14] = {0, 0, 0, 0, -6, -6, -6, -6, -6, -6, -12, -12, -12, -12};
    CHECK(polca__onset(smooth, 14, 3, 0, work) == 2);
    /* Per-interval changes (onset_of "cumsum"): running sum 0, 0, -1, -1,
     * -1, -1, -2, -2, -2, -2; accelerations tie at j = 1 and 5: 1. */
    float changes[10] = {0, 0, -1, 0, 0, 0, -1, 0, 0, 0};
    CHECK(polca__onset(changes, 10, 1, 1, work) == 1);
}

TEST(plateau_by_hand) {
    /* last = 2, drop D = 8, eps D = 0.4: |m - 2| <= 0.4 from index 3 on. */
    double m[8] = {10, 6, 3, 2.2, 2.05, 2.0, 2.02, 2.0};
    CHECK(polca__plateau(m, 8, 0.05) == 3.0);
    /* eps D = 0.8 reaches index 2? |3 - 2| = 1 > 0.8: still 3. */
    CHECK(polca__plateau(m, 8, 0.1) == 3.0);
    /* eps D = 1.6: index 2 (|3 - 2| = 1) joins, index 1 (4) does not. */
    CHECK(polca__plateau(m, 8, 0.2) == 2.0);
    double flat[4] = {1, 1, 1, 1}; /* no drop: flat from the start */
    CHECK(polca__plateau(flat, 4, 0.05) == 0.0);
}

/* ---- an end-to-end clustering worked out by hand ----
 * N = 60 samples, T = T1 = 12 checkpoints, K = 2 directions, tiny
 * deterministic jitter (1e-3) so that no two trajectories are equal.
 * Direction 0: A = samples 0..19 step to -1 at column 3 (onset 2);
 *              B = 20..39 step to -1 at column 8 (onset 7);
 *              C = 40..59 rise to +1 (left out by the "decrease" filter).
 * Direction 1: X = 0..29 step to -2 at column 9 (onset 8);
 *              Y = 30..59 step to -0.5 at column 4 (onset 3).
 * Exact loss of every sample: 5 4 3 2 1.5 1 1 1 1 1 1 1; its mean has
 * D = 4, eps D = 0.2, so tau = 5: B and X are hidden, A and Y are not. */
#define N 60
#define T 12

static float jitter(int i, int j) { return 1e-3f * (float)((i * 7 + j * 13) % 11) / 11.0f; }

static void make_data(float *traj, float *exact) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < T; j++) {
            float a = i < 20 ? (j >= 3 ? -1.0f : 0.0f)
                      : i < 40 ? (j >= 8 ? -1.0f : 0.0f)
                               : (float)j / (T - 1);
            float x = i < 30 ? (j >= 9 ? -2.0f : 0.0f) : (j >= 4 ? -0.5f : 0.0f);
            traj[(0 * N + i) * T + j] = a + jitter(i, j);
            traj[(1 * N + i) * T + j] = x + jitter(i, j + 3);
        }
    const float loss[T] = {5, 4, 3, 2, 1.5f, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < N; i++)
        for (int u = 0; u < T; u++) exact[i * T + u] = loss[u];
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

static polca_options *small_options(void) {
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "min_cluster_size", 5);
    polca_options_set_int(o, "min_samples", 3);
    return o;
}

/* The cluster of a direction that holds sample i, or -1. */
static int64_t cluster_of(const polca_clustering *c, int64_t dir, int64_t i) {
    int32_t labels[N];
    if (polca_clustering_labels(c, dir, labels, NULL, NULL, NULL)) return -9;
    return labels[i];
}

TEST(clustering_by_hand) {
    static float traj[2 * N * T], exact[N * T];
    make_data(traj, exact);
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca_options *o = small_options();
    polca_clustering *c = NULL;
    CHECK_OK(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c));
    int64_t k, n, t, t1, nc;
    CHECK_OK(polca_clustering_shape(c, &k, &n, &t, &t1, &nc));
    CHECK(k == 2 && n == N && t == T && t1 == T && nc == 4);
    double tau;
    CHECK_OK(polca_clustering_plateau(c, &tau));
    CHECK(tau == 5.0);

    int32_t labels[N];
    float prob[N], score[N];
    double onsets[N];
    CHECK_OK(polca_clustering_labels(c, 0, labels, prob, score, onsets));
    int64_t A = labels[0], B = labels[20];
    CHECK(A >= 0 && B >= 0 && A != B && A < 2 && B < 2); /* direction 0 first */
    for (int i = 0; i < 20; i++) CHECK(labels[i] == A);
    for (int i = 20; i < 40; i++) CHECK(labels[i] == B);
    for (int i = 40; i < 60; i++) CHECK(labels[i] == -2 && prob[i] == 0.0f && isnan(score[i]));
    for (int i = 0; i < 20; i++) CHECK(onsets[i] == 2.0);
    for (int i = 20; i < 40; i++) CHECK(onsets[i] == 7.0);
    int64_t X = cluster_of(c, 1, 0), Y = cluster_of(c, 1, 30);
    CHECK(X >= 2 && Y >= 2 && X != Y);
    for (int i = 0; i < 30; i++) CHECK(cluster_of(c, 1, i) == X);
    for (int i = 30; i < 60; i++) CHECK(cluster_of(c, 1, i) == Y);

    struct {
        int64_t id, dir, size, first;
        double onset;
        int hidden;
    } want[4] = {{A, 0, 20, 0, 2.0, 0}, {B, 0, 20, 20, 7.0, 1},
                 {X, 1, 30, 0, 8.0, 1}, {Y, 1, 30, 30, 3.0, 0}};
    for (int w = 0; w < 4; w++) {
        int64_t dir, size, medoid;
        double onset, plateau;
        int32_t hidden;
        CHECK_OK(polca_clustering_cluster(c, want[w].id, &dir, &size, &medoid, &onset, &plateau,
                                          &hidden));
        CHECK(dir == want[w].dir && size == want[w].size);
        CHECK(onset == want[w].onset && plateau == 5.0 && hidden == want[w].hidden);
        int64_t members[30];
        CHECK_OK(polca_clustering_members(c, want[w].id, members));
        for (int64_t q = 0; q < size; q++) CHECK(members[q] == want[w].first + q);
        /* Mean: the members' average, recomputed here in double. */
        float mean[T];
        CHECK_OK(polca_clustering_mean(c, want[w].id, mean));
        const float *base = traj + dir * N * T;
        for (int j = 0; j < T; j++) {
            double s = 0;
            for (int64_t q = 0; q < size; q++) s += base[(want[w].first + q) * T + j];
            CHECK(fabs(mean[j] - s / (double)size) < 1e-6);
        }
        /* Medoid ("squared"): least sum of squared distances to the members,
         * brute force. */
        int64_t best = -1;
        double best_v = INFINITY;
        for (int64_t q = 0; q < size; q++) {
            double s = 0;
            for (int64_t r = 0; r < size; r++)
                for (int j = 0; j < T; j++) {
                    double d = (double)base[(want[w].first + q) * T + j] -
                               base[(want[w].first + r) * T + j];
                    s += d * d;
                }
            if (s < best_v - 1e-12) best_v = s, best = want[w].first + q;
        }
        CHECK(medoid == best);
    }
    double frac;
    CHECK_OK(polca_clustering_hidden_fraction(c, &frac));
    CHECK(frac == 0.5);

    /* ---- scoring: label 1 for samples 0..14 and 30..34 ----
     * direction 0: labelled in clusters = 15 (A) + 5 (B) = 20;
     *   A: 15/20 -> homogeneity .75, recall .75, F1 .75;
     *   B:  5/20 -> .25, .25, .25.
     * direction 1: labelled in clusters = 15 (X) + 5 (Y) = 20;
     *   X: 15/30 -> .5, recall .75, F1 2(.5)(.75)/1.25 = .6;
     *   Y:  5/30 -> 1/6, recall .25, F1 2(1/6)(1/4)/(5/12) = .2.
     * best per direction: A, X; top three: A (.75), X (.5), B (.25). */
    uint8_t label[N] = {0};
    for (int i = 0; i < 15; i++) label[i] = 1;
    for (int i = 30; i < 35; i++) label[i] = 1;
    double hom[4], rec[4], f1[4];
    CHECK_OK(polca_clustering_score(c, label, hom, rec, f1));
    CHECK_CLOSE(hom[A], 0.75, 1e-12);
    CHECK_CLOSE(rec[A], 0.75, 1e-12);
    CHECK_CLOSE(f1[A], 0.75, 1e-12);
    CHECK_CLOSE(hom[B], 0.25, 1e-12);
    CHECK_CLOSE(rec[B], 0.25, 1e-12);
    CHECK_CLOSE(hom[X], 0.5, 1e-12);
    CHECK_CLOSE(rec[X], 0.75, 1e-12);
    CHECK_CLOSE(f1[X], 0.6, 1e-12);
    CHECK_CLOSE(hom[Y], 1.0 / 6.0, 1e-12);
    CHECK_CLOSE(rec[Y], 0.25, 1e-12);
    CHECK_CLOSE(f1[Y], 0.2, 1e-12);
    CHECK_OK(polca_clustering_score(c, label, NULL, NULL, f1)); /* any output may be NULL */
    int64_t best[2], top[5];
    CHECK_OK(polca_clustering_best(c, label, best, 5, top));
    CHECK(best[0] == A && best[1] == X);
    CHECK(top[0] == A && top[1] == X && top[2] == B && top[3] == Y && top[4] == -1);

    /* ---- automatic labels of A (20 members) ----
     * position 0: i % 3 -> 0: 7, 1: 7, 2: 6 members; 70% = 14 needs {0, 1}
     *             (ties by the smaller value first);
     * position 1: 5 for i < 14, else 9 -> 14 fives cover exactly 70%. */
    int32_t tags[N * 2];
    for (int i = 0; i < N; i++) tags[2 * i] = i % 3, tags[2 * i + 1] = i < 14 ? 5 : 9;
    int32_t values[2 * 2], n_values[2];
    CHECK_OK(polca_clustering_autolabel(c, A, 2, tags, NULL, values, n_values));
    CHECK(n_values[0] == 2 && values[0] == 0 && values[1] == 1);
    CHECK(n_values[1] == 1 && values[2] == 5 && values[3] == -1);
    polca_options *ao = NULL;
    CHECK_OK(polca_options_create(&ao));
    CHECK_OK(polca_options_set_int(ao, "max_values", 1));
    int32_t v1[2], n1[2];
    CHECK_OK(polca_clustering_autolabel(c, A, 2, tags, ao, v1, n1));
    CHECK(n1[0] == 0 && v1[0] == -1); /* needs two values: discarded */
    CHECK(n1[1] == 1 && v1[1] == 5);
    CHECK_OK(polca_options_set_double(ao, "coverage", 0.75)); /* 15 of 20: {5} no longer */
    CHECK_OK(polca_clustering_autolabel(c, A, 2, tags, ao, v1, n1));
    CHECK(n1[1] == 0);
    polca_options_destroy(ao);
    polca_clustering_destroy(c);

    /* Euclidean medoid: least sum of distances, brute force. */
    CHECK_OK(polca_options_set_string(o, "medoid", "euclidean"));
    CHECK_OK(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c));
    for (int64_t g = 0; g < 4; g++) {
        int64_t dir, size, medoid, members[30];
        CHECK_OK(polca_clustering_cluster(c, g, &dir, &size, &medoid, NULL, NULL, NULL));
        CHECK_OK(polca_clustering_members(c, g, members));
        const float *base = traj + dir * N * T;
        int64_t best_m = -1;
        double best_v = INFINITY;
        for (int64_t q = 0; q < size; q++) {
            double s = 0;
            for (int64_t r = 0; r < size; r++) {
                double d2 = 0;
                for (int j = 0; j < T; j++) {
                    double d = (double)base[members[q] * T + j] - base[members[r] * T + j];
                    d2 += d * d;
                }
                s += sqrt(d2);
            }
            if (s < best_v - 1e-12) best_v = s, best_m = members[q];
        }
        CHECK(medoid == best_m);
    }
    polca_clustering_destroy(c);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(plateau_per_members_and_given) {
    /* Samples 20..39 (cluster B) keep dropping until column 8: their own
     * mean exact loss 5 4 3 2 1.8 1.6 1.4 1.3 1 1 1 1 has D = 4,
     * eps D = 0.2, so their tau is 8 (|1.3 - 1| > 0.2): B's onset 7 is not
     * later, so B is no longer hidden with plateau_over = members. */
    static float traj[2 * N * T], exact[N * T];
    make_data(traj, exact);
    const float late[T] = {5, 4, 3, 2, 1.8f, 1.6f, 1.4f, 1.3f, 1, 1, 1, 1};
    for (int i = 20; i < 40; i++)
        for (int u = 0; u < T; u++) exact[i * T + u] = late[u];
    polca_context *ctx = cpu_context();
    polca_options *o = small_options();
    CHECK_OK(polca_options_set_string(o, "plateau_over", "members"));
    polca_clustering *c = NULL;
    CHECK_OK(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c));
    int64_t B = cluster_of(c, 0, 20), A = cluster_of(c, 0, 0);
    double plateau;
    int32_t hidden;
    CHECK_OK(polca_clustering_cluster(c, B, NULL, NULL, NULL, NULL, &plateau, &hidden));
    CHECK(plateau == 8.0);
    CHECK(hidden == 0);
    CHECK_OK(polca_clustering_cluster(c, A, NULL, NULL, NULL, NULL, &plateau, &hidden));
    CHECK(plateau == 5.0 && hidden == 0);
    polca_clustering_destroy(c);

    /* A given tau (exact loss not needed): every onset above 2.5 is hidden,
     * B (7), X (8) and Y (3); A (2) is not: 3 of 4. */
    CHECK_OK(polca_options_unset(o, "plateau_over"));
    CHECK_OK(polca_options_set_double(o, "plateau", 2.5));
    CHECK_OK(polca_clustering_create(ctx, 2, N, T, traj, T, NULL, o, &c));
    double frac;
    CHECK_OK(polca_clustering_hidden_fraction(c, &frac));
    CHECK(frac == 0.75);
    polca_clustering_destroy(c);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(baselines_as_one_direction) {
    /* Change in exact loss: [N][T-1] per-interval changes, t1 = T, so column
     * j is the interval ending at checkpoint j + 1. Their running sum
     * ("cumsum") is traj[j + 1] - traj[0]: A's step (column 3 of traj) sits
     * at column 2, onset column 1, reported as checkpoint 1 + (t1 - t) = 2,
     * the onset of the curve itself; B's likewise 7. */
    static float changes[N * (T - 1)], exact[N * T];
    static float traj[2 * N * T];
    make_data(traj, exact);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < T - 1; j++)
            changes[i * (T - 1) + j] = traj[i * T + j + 1] - traj[i * T + j];
    polca_context *ctx = cpu_context();
    polca_options *o = small_options();
    CHECK_OK(polca_options_set_string(o, "filter", "none"));
    CHECK_OK(polca_options_set_string(o, "onset_of", "cumsum"));
    polca_clustering *c = NULL;
    CHECK_OK(polca_clustering_create(ctx, 1, N, T - 1, changes, T, exact, o, &c));
    double onsets[N];
    int32_t labels[N];
    CHECK_OK(polca_clustering_labels(c, 0, labels, NULL, NULL, onsets));
    /* running sum of changes = traj - traj[0]: A's step now sits at column
     * 2 of the changes array -> onset column 1 -> checkpoint 2. */
    for (int i = 0; i < 20; i++) CHECK(onsets[i] == 2.0);
    for (int i = 20; i < 40; i++) CHECK(onsets[i] == 7.0);
    for (int i = 0; i < N; i++) CHECK(labels[i] >= -1); /* nothing left out */
    polca_clustering_destroy(c);
    /* filter "net_decrease" on the exact-loss-like curves of direction 0
     * (C rises: left out). */
    CHECK_OK(polca_options_set_string(o, "filter", "net_decrease"));
    CHECK_OK(polca_options_unset(o, "onset_of"));
    CHECK_OK(polca_clustering_create(ctx, 1, N, T, traj, T, exact, o, &c));
    CHECK_OK(polca_clustering_labels(c, 0, labels, NULL, NULL, NULL));
    for (int i = 40; i < 60; i++) CHECK(labels[i] == -2);
    for (int i = 0; i < 40; i++) CHECK(labels[i] != -2);
    polca_clustering_destroy(c);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

/* ---- "cluster_onset": a cluster's onset from its members' ----
 * One direction, 40 samples, 16 checkpoints, filter "none", min_cluster_size
 * 11 (so neither group of 20 can split in two) and a given plateau tau = 6.
 * Cluster M, samples 0..19: two drops, -(1 + s) at column 3 and -(1 - s) at
 * column 11; accelerations 1 + s at column 2 and 1 - s at column 10, so the
 * onset is 2 when s > 0 and 10 when s < 0.
 *   P = 0..11:  s = 0.05 + 0.005 q  (q = 0..11): onset 2;  sum s = 0.93
 *   Q = 12..19: s = -(0.2 + 0.005 q) (q = 0..7): onset 10; sum s = -1.74
 *   mean: (12 * 2 + 8 * 10) / 20 = 5.2, a step where nothing happens;
 *   median: the 10th and 11th of the sorted onsets are both 2: 2;
 *   mean curve: drops 1 + mean s and 1 - mean s, mean s = -0.81 / 20 < 0,
 *       so the second drop is larger: 10.
 * Cluster R, samples 20..39: 5 + 0.001 (i - 20), dropping by 0.02 at
 * column c: 5 (10 samples, onset 4), 8 (6 samples, onset 7), 14 (4 samples,
 * onset 13).
 *   mean: (10 * 4 + 6 * 7 + 4 * 13) / 20 = 134 / 20 = 6.7;
 *   median: the 10th and 11th sorted onsets are 4 and 7: 5.5;
 *   mean curve: drops 0.01 at 5, 0.006 at 8, 0.004 at 14: 4.
 * Hidden (onset > 6): mean R; median none; mean curve M. */
#define ON_N 40
#define ON_T 16

static void make_episodes(float *traj) {
    for (int i = 0; i < ON_N; i++)
        for (int j = 0; j < ON_T; j++) {
            float v;
            if (i < 20) {
                double s = i < 12 ? 0.05 + 0.005 * i : -(0.2 + 0.005 * (i - 12));
                v = (float)(-(1 + s) * (j >= 3) - (1 - s) * (j >= 11));
            } else {
                int c = i < 30 ? 5 : i < 36 ? 8 : 14;
                v = (float)(5 + 0.001 * (i - 20) - 0.02 * (j >= c));
            }
            traj[i * ON_T + j] = v;
        }
}

/* Eq. 9 written out again (docs/method.md#onset-eq-9): f, or its running
 * sum, averaged over the window of width w around each column (cut at the
 * ends), then the first argmax of the negated second difference. */
static int64_t onset_ref(const float *f, int64_t t, int64_t w, int cumsum) {
    double g[64], s[64];
    for (int64_t j = 0; j < t; j++) g[j] = (cumsum && j ? g[j - 1] : 0.0) + f[j];
    for (int64_t j = 0; j < t; j++) {
        double acc = 0.0;
        int64_t cnt = 0;
        for (int64_t u = j - (w - 1) / 2; u <= j + (w - 1) / 2; u++)
            if (u >= 0 && u < t) acc += g[u], cnt++;
        s[j] = acc / (double)cnt;
    }
    int64_t best = 1;
    for (int64_t j = 2; j + 1 < t; j++)
        if (-(s[j + 1] - 2 * s[j] + s[j - 1]) > -(s[best + 1] - 2 * s[best] + s[best - 1]))
            best = j;
    return best;
}

/* Each cluster's onset under `rule` recomputed from the members' onsets
 * (polca_clustering_labels) or from the mean trajectory
 * (polca_clustering_mean), and its hidden flag and the hidden fraction. */
static void check_rule(const polca_clustering *c, const char *rule, int64_t w, int cumsum) {
    int64_t t, t1, nc;
    CHECK_OK(polca_clustering_shape(c, NULL, NULL, &t, &t1, &nc));
    CHECK(nc == 2);
    int32_t labels[ON_N];
    double onsets[ON_N], want[2];
    CHECK_OK(polca_clustering_labels(c, 0, labels, NULL, NULL, onsets));
    int64_t hidden_count = 0;
    for (int64_t g = 0; g < nc; g++) {
        double on[ON_N], sum = 0.0;
        int64_t m = 0;
        for (int i = 0; i < ON_N; i++)
            if (labels[i] == g) on[m++] = onsets[i], sum += onsets[i];
        for (int64_t a = 1; a < m; a++) /* insertion sort */
            for (int64_t b = a; b > 0 && on[b - 1] > on[b]; b--) {
                double x = on[b];
                on[b] = on[b - 1], on[b - 1] = x;
            }
        float mean[ON_T];
        CHECK_OK(polca_clustering_mean(c, g, mean));
        want[g] = !strcmp(rule, "mean")     ? sum / (double)m
                  : !strcmp(rule, "median") ? (m % 2 ? on[m / 2] : (on[m / 2 - 1] + on[m / 2]) / 2)
                                            : (double)(onset_ref(mean, t, w, cumsum) + t1 - t);
        double onset, plateau;
        int32_t hidden;
        CHECK_OK(polca_clustering_cluster(c, g, NULL, NULL, NULL, &onset, &plateau, &hidden));
        if (onset != want[g]) FAILF("%s: cluster %lld onset %g, want %g", rule, (long long)g, onset, want[g]);
        CHECK(hidden == (want[g] > plateau));
        hidden_count += hidden;
    }
    double frac;
    CHECK_OK(polca_clustering_hidden_fraction(c, &frac));
    CHECK(frac == (double)hidden_count / (double)nc);
}

TEST(cluster_onset_rules) {
    static float traj[ON_N * ON_T];
    make_episodes(traj);
    polca_context *ctx = cpu_context();
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "min_cluster_size", 11));
    CHECK_OK(polca_options_set_int(o, "min_samples", 3));
    CHECK_OK(polca_options_set_string(o, "filter", "none"));
    CHECK_OK(polca_options_set_double(o, "plateau", 6.0));
    struct {
        const char *rule; /* NULL: the option unset, the default (eq. 10) */
        double m, r;      /* onsets of M and R, worked out above */
        double frac;
    } want[] = {{NULL, 104.0 / 20, 134.0 / 20, 0.5},
                {"mean", 104.0 / 20, 134.0 / 20, 0.5},
                {"median", 2.0, 5.5, 0.0},
                {"mean_curve", 10.0, 4.0, 0.5}};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        if (want[w].rule) CHECK_OK(polca_options_set_string(o, "cluster_onset", want[w].rule));
        polca_clustering *c = NULL;
        CHECK_OK(polca_clustering_create(ctx, 1, ON_N, ON_T, traj, ON_T, NULL, o, &c));
        int64_t nc;
        CHECK_OK(polca_clustering_shape(c, NULL, NULL, NULL, NULL, &nc));
        CHECK(nc == 2);
        int32_t labels[ON_N];
        double onsets[ON_N];
        CHECK_OK(polca_clustering_labels(c, 0, labels, NULL, NULL, onsets));
        int32_t M = labels[0], R = labels[20];
        CHECK(M >= 0 && R >= 0 && M != R);
        for (int i = 0; i < ON_N; i++) CHECK(labels[i] == (i < 20 ? M : R));
        for (int i = 0; i < ON_N; i++)
            CHECK(onsets[i] == (i < 12 ? 2 : i < 20 ? 10 : i < 30 ? 4 : i < 36 ? 7 : 13));
        double om, or_;
        int32_t hm, hr;
        CHECK_OK(polca_clustering_cluster(c, M, NULL, NULL, NULL, &om, NULL, &hm));
        CHECK_OK(polca_clustering_cluster(c, R, NULL, NULL, NULL, &or_, NULL, &hr));
        if (om != want[w].m || or_ != want[w].r)
            FAILF("cluster_onset %s: M %g (want %g), R %g (want %g)",
                  want[w].rule ? want[w].rule : "unset", om, want[w].m, or_, want[w].r);
        CHECK(hm == (want[w].m > 6.0) && hr == (want[w].r > 6.0));
        double frac;
        CHECK_OK(polca_clustering_hidden_fraction(c, &frac));
        CHECK(frac == want[w].frac);
        check_rule(c, want[w].rule ? want[w].rule : "mean", 1, 0);
        polca_clustering_destroy(c);
    }
    /* Every rule against the independent computation with smoothing,
     * onset_of "cumsum" and columns offset from checkpoints (t1 > t): the
     * mean curve's onset follows the per-sample options. */
    static const char *rules[] = {"mean", "median", "mean_curve"};
    struct {
        int64_t w, t1;
        int cumsum;
    } cfg[] = {{3, ON_T, 0}, {5, ON_T + 2, 0}, {1, ON_T + 1, 1}, {3, ON_T, 1}};
    for (size_t q = 0; q < sizeof cfg / sizeof cfg[0]; q++)
        for (int r = 0; r < 3; r++) {
            CHECK_OK(polca_options_set_string(o, "cluster_onset", rules[r]));
            CHECK_OK(polca_options_set_int(o, "smoothing", cfg[q].w));
            CHECK_OK(polca_options_set_string(o, "onset_of", cfg[q].cumsum ? "cumsum" : "trajectory"));
            polca_clustering *c = NULL;
            CHECK_OK(polca_clustering_create(ctx, 1, ON_N, ON_T, traj, cfg[q].t1, NULL, o, &c));
            check_rule(c, rules[r], cfg[q].w, cfg[q].cumsum);
            polca_clustering_destroy(c);
        }
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(paper_defaults_min_samples_from_count) {
    /* Defaults: min_cluster_size 150, min_samples = kept / 15. With 60
     * samples nothing reaches 150: no cluster, everyone kept is noise. */
    static float traj[2 * N * T], exact[N * T];
    make_data(traj, exact);
    polca_context *ctx = cpu_context();
    polca_clustering *c = NULL;
    CHECK_OK(polca_clustering_create(ctx, 2, N, T, traj, T, exact, NULL, &c));
    int64_t nc;
    CHECK_OK(polca_clustering_shape(c, NULL, NULL, NULL, NULL, &nc));
    CHECK(nc == 0);
    int32_t labels[N];
    CHECK_OK(polca_clustering_labels(c, 0, labels, NULL, NULL, NULL));
    for (int i = 0; i < 40; i++) CHECK(labels[i] == -1);
    double frac = -1;
    CHECK_OK(polca_clustering_hidden_fraction(c, &frac));
    CHECK(frac == 0.0);
    int64_t best[2], top[1];
    uint8_t label[N] = {0};
    CHECK_OK(polca_clustering_best(c, label, best, 1, top));
    CHECK(best[0] == -1 && best[1] == -1 && top[0] == -1);
    polca_clustering_destroy(c);
    polca_context_destroy(ctx);
}

TEST(bad_arguments) {
    static float traj[2 * N * T], exact[N * T];
    make_data(traj, exact);
    polca_context *ctx = cpu_context();
    polca_options *o = small_options();
    polca_clustering *c = (polca_clustering *)(void *)0x1;
    CHECK_STATUS(polca_clustering_create(NULL, 2, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_STATUS(polca_clustering_create(ctx, 0, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'k'");
    CHECK_STATUS(polca_clustering_create(ctx, 2, 0, T, traj, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n'");
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, 2, traj, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'t'");
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T - 1, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'t1'");
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, NULL, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'trajectories'");
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, NULL, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'exact_loss'");
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out'");
    CHECK_STATUS(polca_clustering_create(ctx, INT64_MAX / 4, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    traj[(1 * N + 7) * T + 4] = NAN;
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("trajectories[1][7][4]");
    traj[(1 * N + 7) * T + 4] = 0.0f;
    exact[3 * T + 11] = INFINITY;
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("exact_loss[3][11]");
    exact[3 * T + 11] = 1.0f;
    struct {
        const char *name, *svalue;
        double value;
    } bad[] = {
        {"filter", "up", 0},          {"onset_of", "loss", 0},    {"plateau_over", "some", 0},
        {"medoid", "mean", 0},        {"smoothing", NULL, 2},     {"smoothing", NULL, 0},
        {"plateau_epsilon", NULL, 0}, {"plateau_epsilon", NULL, 1}, {"min_samples_divisor", NULL, 0},
        {"min_cluster_size", NULL, 1}, {"min_samples", NULL, 0},  {"alpha", NULL, -1},
        {"cluster_onset", "average", 0}, {"cluster_onset", "Median", 0},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        polca_options *ob = small_options();
        if (bad[b].svalue)
            CHECK_OK(polca_options_set_string(ob, bad[b].name, bad[b].svalue));
        else if (!strcmp(bad[b].name, "plateau_epsilon") || !strcmp(bad[b].name, "alpha"))
            CHECK_OK(polca_options_set_double(ob, bad[b].name, bad[b].value));
        else
            CHECK_OK(polca_options_set_int(ob, bad[b].name, (int64_t)bad[b].value));
        CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, exact, ob, &c),
                     POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS(bad[b].name);
        polca_options_destroy(ob);
    }
    CHECK_OK(polca_options_set_string(o, "cluster_onset", "average"));
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("option 'cluster_onset' is 'average'; expected mean, median or mean_curve");
    CHECK_OK(polca_options_unset(o, "cluster_onset"));
    CHECK_OK(polca_options_set_double(o, "plateau", INFINITY));
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("plateau");
    CHECK_OK(polca_options_unset(o, "plateau"));
    CHECK_OK(polca_options_set_int(o, "smooth", 3));
    CHECK_STATUS(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c),
                 POLCA_ERR_UNKNOWN_OPTION);
    CHECK_ERROR_MENTIONS("smooth");
    CHECK_OK(polca_options_unset(o, "smooth"));
    CHECK(c == (polca_clustering *)(void *)0x1); /* untouched by every failure */

    /* Getters. */
    CHECK_OK(polca_clustering_create(ctx, 2, N, T, traj, T, exact, o, &c));
    int32_t labels[N];
    int64_t members[N];
    float mean[T];
    double d;
    uint8_t label[N] = {0};
    CHECK_STATUS(polca_clustering_shape(NULL, NULL, NULL, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'clustering'");
    CHECK_STATUS(polca_clustering_labels((const polca_clustering *)(void *)o, 0, labels, NULL,
                                         NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_clustering");
    CHECK_STATUS(polca_clustering_labels(c, 2, labels, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'direction'");
    CHECK_STATUS(polca_clustering_labels(c, -1, labels, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_cluster(c, 4, NULL, NULL, NULL, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'cluster'");
    CHECK_STATUS(polca_clustering_members(c, -1, members), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_members(c, 0, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'members'");
    CHECK_STATUS(polca_clustering_mean(c, 9, mean), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_mean(c, 0, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_plateau(c, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_hidden_fraction(c, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_plateau(NULL, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_score(c, NULL, NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'label'");
    label[17] = 2;
    CHECK_STATUS(polca_clustering_score(c, label, NULL, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("label[17]");
    label[17] = 0;
    int64_t best[2];
    CHECK_STATUS(polca_clustering_best(c, label, best, 3, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'top'");
    CHECK_STATUS(polca_clustering_best(c, label, best, -1, NULL), POLCA_ERR_INVALID_ARGUMENT);
    int32_t tags[N], values[4], n_values[2];
    for (int i = 0; i < N; i++) tags[i] = i % 2;
    CHECK_STATUS(polca_clustering_autolabel(c, 7, 1, tags, NULL, values, n_values),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_autolabel(c, 0, 0, tags, NULL, values, n_values),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_positions'");
    CHECK_STATUS(polca_clustering_autolabel(c, 0, 1, NULL, NULL, values, n_values),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_autolabel(c, 0, 1, tags, NULL, NULL, n_values),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_clustering_autolabel(c, 0, 1, tags, NULL, values, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca_options *ao = NULL;
    CHECK_OK(polca_options_create(&ao));
    CHECK_OK(polca_options_set_double(ao, "coverage", 1.5));
    CHECK_STATUS(polca_clustering_autolabel(c, 0, 1, tags, ao, values, n_values),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("coverage");
    CHECK_OK(polca_options_set_double(ao, "coverage", 0.5));
    CHECK_OK(polca_options_set_int(ao, "max_values", 0));
    CHECK_STATUS(polca_clustering_autolabel(c, 0, 1, tags, ao, values, n_values),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("max_values");
    CHECK_OK(polca_options_unset(ao, "max_values"));
    CHECK_OK(polca_options_set_int(ao, "min_cluster_size", 3));
    CHECK_STATUS(polca_clustering_autolabel(c, 0, 1, tags, ao, values, n_values),
                 POLCA_ERR_UNKNOWN_OPTION);
    polca_options_destroy(ao);
    polca_clustering_destroy(c);
    polca_clustering_destroy(NULL);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(onset_by_hand);
    RUN(onset_ties_take_the_first_maximum);
    RUN(plateau_by_hand);
    RUN(clustering_by_hand);
    RUN(plateau_per_members_and_given);
    RUN(baselines_as_one_direction);
    RUN(cluster_onset_rules);
    RUN(paper_defaults_min_samples_from_count);
    RUN(bad_arguments);
    return harness_done();
}
