/*
 * tests/test_cluster_comm.c - polca_clustering_create with its directions
 * spread over the ranks of a communicator (polca/comm.h,
 * docs/scaling.md#clustering), over the in-process thread communicator of
 * thread_comm.h: with 2 and 3 ranks every rank's clustering (labels,
 * probabilities, outlier scores, onsets, and every cluster's direction,
 * size, medoid, onset, plateau, flag, members and mean) equals, bit for
 * bit, the one a single process computes; a failure on one rank (bad
 * options, a NaN, other data, a cancel in the middle of the work) gives the
 * same status and "rank R:" message on every rank, with no handle and no
 * hang.
 */
#include "harness.h"
#include "thread_comm.h"

/* ---- a synthetic POLCA-like input: K directions, several clusters each,
 * a share of samples the "decrease" filter leaves out that grows with the
 * direction, so the directions cost different amounts. ---- */

#define K 5
#define N 240
#define T 20
#define T1 22

static float g_traj[K * N * T], g_exact[N * T1];

static float jitter(unsigned long long *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return (float)((double)((*s * 2685821657736338717ULL) >> 40) / (double)(1 << 24) - 0.5);
}

static void make_data(void) {
    unsigned long long s = 12345;
    for (int d = 0; d < K; d++)
        for (int i = 0; i < N; i++) {
            float *row = g_traj + ((size_t)d * N + i) * T;
            int groups = 3 + d % 2, group = (i * 7 + d) % groups;
            int rising = i % 8 < d; /* direction d: d eighths left out */
            int at = 3 + 4 * group + d % 3;
            float depth = rising ? 0.7f : -(1.0f + group);
            for (int j = 0; j < T; j++)
                row[j] = (j >= at ? depth : 0.0f) + 0.03f * jitter(&s);
            row[0] = 0.0f;
        }
    for (int i = 0; i < N; i++)
        for (int u = 0; u < T1; u++)
            g_exact[(size_t)i * T1 + u] = 4.0f / (1.0f + u) + 0.01f * jitter(&s);
}

/* ---- everything a clustering handle gives, as one byte string ---- */

typedef struct dump {
    unsigned char *p;
    size_t len, cap;
} dump;

static void put(dump *b, const void *v, size_t bytes) {
    if (b->len + bytes > b->cap) {
        b->cap = 2 * (b->len + bytes);
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, v, bytes);
    b->len += bytes;
}

/* 0 on success. */
static int dump_clustering(const polca_clustering *c, dump *b) {
    int64_t k, n, t, t1, nc;
    double tau, frac;
    if (polca_clustering_shape(c, &k, &n, &t, &t1, &nc) || polca_clustering_plateau(c, &tau) ||
        polca_clustering_hidden_fraction(c, &frac))
        return 1;
    put(b, &k, 8), put(b, &n, 8), put(b, &t, 8), put(b, &t1, 8), put(b, &nc, 8);
    put(b, &tau, 8), put(b, &frac, 8);
    int32_t *lab = malloc((size_t)n * 4);
    float *prob = malloc((size_t)n * 4), *score = malloc((size_t)n * 4);
    double *on = malloc((size_t)n * 8);
    int64_t *members = malloc((size_t)n * 8);
    float *mean = malloc((size_t)t * 4);
    int bad = 0;
    for (int64_t d = 0; d < k && !bad; d++) {
        bad = polca_clustering_labels(c, d, lab, prob, score, on) != POLCA_OK;
        put(b, lab, (size_t)n * 4), put(b, prob, (size_t)n * 4);
        put(b, score, (size_t)n * 4), put(b, on, (size_t)n * 8);
    }
    for (int64_t g = 0; g < nc && !bad; g++) {
        int64_t dir, size, medoid;
        double onset, plateau;
        int32_t hidden;
        bad = polca_clustering_cluster(c, g, &dir, &size, &medoid, &onset, &plateau, &hidden) ||
              polca_clustering_members(c, g, members) || polca_clustering_mean(c, g, mean);
        put(b, &dir, 8), put(b, &size, 8), put(b, &medoid, 8), put(b, &onset, 8);
        put(b, &plateau, 8), put(b, &hidden, 4);
        put(b, members, (size_t)size * 8), put(b, mean, (size_t)t * 4);
    }
    free(lab), free(prob), free(score), free(on), free(members), free(mean);
    return bad;
}

/* ---- one job: every rank makes the same call, except as `fault` says ---- */

enum fault { NO_FAULT, BAD_OPTION, NAN_INPUT, OTHER_DATA, OTHER_OPTIONS, CANCEL };

#define MAX_RANKS 3

typedef struct job {
    int64_t k;
    int variant;      /* 0: defaults; 1: plateau per members, euclidean medoids, ... */
    enum fault fault; /* on rank fault_rank */
    int32_t fault_rank;
    int32_t status[MAX_RANKS];
    char message[MAX_RANKS][512];
    int got_handle[MAX_RANKS];
    dump result[MAX_RANKS];
    int64_t dirs[MAX_RANKS]; /* directions each rank clustered (its progress) */
} job;

static polca_options *make_options(int variant) {
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "min_cluster_size", 10);
    if (variant == 1) {
        polca_options_set_string(o, "plateau_over", "members");
        polca_options_set_string(o, "medoid", "euclidean");
        polca_options_set_string(o, "cluster_onset", "median");
        polca_options_set_int(o, "smoothing", 3);
    }
    if (variant == 2) {
        polca_options_set_string(o, "normalize", "unit");
        polca_options_set_string(o, "cluster_onset", "mean_curve");
        polca_options_set_string(o, "filter", "net_decrease");
    }
    return o;
}

typedef struct counter {
    job *j;
    int32_t rank;
} counter;

/* Records how many directions the rank reports it clustered. */
static int32_t count_directions(void *user, const char *stage, int64_t done, int64_t total,
                                double value) {
    counter *cn = user;
    (void)total, (void)value;
    if (!strcmp(stage, "clustering")) cn->j->dirs[cn->rank] = done;
    return 0;
}

static int32_t cancel_at_once(void *user, const char *stage, int64_t done, int64_t total,
                              double value) {
    (void)user, (void)stage, (void)done, (void)total, (void)value;
    return 1;
}

/* The clustering of j->k directions on one context (comm NULL: alone). */
static void cluster_on(job *j, int32_t rank, polca_comm *comm) {
    polca_context *ctx = NULL;
    if (polca_context_create(NULL, &ctx) || (comm && polca_context_set_comm(ctx, comm))) abort();
    polca_options *o = make_options(j->variant);
    const int faulty = comm && rank == j->fault_rank;
    float *traj = g_traj, *mine = NULL;
    if (faulty && (j->fault == NAN_INPUT || j->fault == OTHER_DATA)) {
        mine = malloc(sizeof g_traj);
        memcpy(mine, g_traj, sizeof g_traj);
        mine[(size_t)(j->k - 1) * N * T + 7 * T + 5] = j->fault == NAN_INPUT ? NAN : 0.25f;
        traj = mine;
    }
    if (faulty && j->fault == BAD_OPTION) polca_options_set_string(o, "filter", "bogus");
    if (faulty && j->fault == OTHER_OPTIONS) polca_options_set_int(o, "min_cluster_size", 11);
    counter cn = {j, rank};
    polca_context_set_progress(ctx, count_directions, &cn);
    if (faulty && j->fault == CANCEL) polca_context_set_progress(ctx, cancel_at_once, NULL);
    polca_clustering *c = NULL;
    j->status[rank] = polca_clustering_create(ctx, j->k, N, T, traj, T1, g_exact, o, &c);
    snprintf(j->message[rank], sizeof j->message[rank], "%s", polca_last_error());
    j->got_handle[rank] = c != NULL;
    if (c && dump_clustering(c, &j->result[rank])) j->status[rank] = 999;
    polca_clustering_destroy(c);
    polca_options_destroy(o);
    free(mine);
    polca_context_set_comm(ctx, NULL);
    polca_context_destroy(ctx);
}

static void rank_body(int32_t rank, polca_comm *comm, void *arg) { cluster_on(arg, rank, comm); }

static void run_job(job *j, int32_t ranks) {
    thread_world *w = thread_world_new(ranks);
    thread_world_run(w, rank_body, j);
    thread_world_free(w);
}

static void free_job(job *j) {
    for (int r = 0; r < MAX_RANKS; r++) free(j->result[r].p);
}

/* ---- tests ---- */

/* Every rank's result equals one process' result, bit for bit. */
static void same_as_one_process(int64_t k, int variant, int32_t ranks) {
    job alone, many;
    memset(&alone, 0, sizeof alone);
    memset(&many, 0, sizeof many);
    alone.k = many.k = k;
    alone.variant = many.variant = variant;
    cluster_on(&alone, 0, NULL);
    CHECK(alone.status[0] == POLCA_OK);
    /* the reference is not trivial: clusters in every direction */
    int64_t nc;
    memcpy(&nc, alone.result[0].p + 32, 8);
    CHECK(nc >= 2 * k);
    CHECK(alone.dirs[0] == k);
    run_job(&many, ranks);
    /* the directions were shared: each clustered by one rank */
    int64_t total = 0;
    for (int32_t r = 0; r < ranks; r++) {
        EXPECT(many.dirs[r] < k || k == 1);
        total += many.dirs[r];
    }
    EXPECT(total == k);
    for (int32_t r = 0; r < ranks; r++) {
        EXPECT(many.status[r] == POLCA_OK);
        EXPECT(many.result[r].len == alone.result[0].len);
        EXPECT(many.result[r].len == alone.result[0].len &&
               !memcmp(many.result[r].p, alone.result[0].p, alone.result[0].len));
    }
    free_job(&alone);
    free_job(&many);
}

TEST(two_ranks_equal_one_process) {
    same_as_one_process(K, 0, 2);
    same_as_one_process(K, 1, 2);
}

TEST(three_ranks_equal_one_process) {
    same_as_one_process(K, 0, 3);
    same_as_one_process(K, 2, 3);
}

/* Fewer directions than ranks: a rank with nothing to cluster still takes
 * part, and ends with the others' directions. */
TEST(more_ranks_than_directions) {
    same_as_one_process(2, 0, 3);
    same_as_one_process(1, 1, 3);
}

/* The fault on rank `bad` of `ranks`: every rank fails with `status` and
 * one message that starts "rank <bad>: " and mentions `text`. */
static void fails_everywhere(enum fault fault, int32_t ranks, int32_t bad, int32_t status,
                             const char *text) {
    job j;
    memset(&j, 0, sizeof j);
    j.k = K;
    j.fault = fault;
    j.fault_rank = bad;
    run_job(&j, ranks);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "rank %d: ", (int)bad);
    for (int32_t r = 0; r < ranks; r++) {
        EXPECT(j.status[r] == status);
        EXPECT(!j.got_handle[r]);
        EXPECT(strncmp(j.message[r], prefix, strlen(prefix)) == 0);
        EXPECT(strstr(j.message[r], text) != NULL);
        EXPECT(!strcmp(j.message[r], j.message[0]));
        if (strncmp(j.message[r], prefix, strlen(prefix)) || !strstr(j.message[r], text))
            printf("  rank %d: %s\n", (int)r, j.message[r]);
    }
    free_job(&j);
}

TEST(bad_option_on_one_rank_fails_every_rank) {
    fails_everywhere(BAD_OPTION, 2, 1, POLCA_ERR_INVALID_ARGUMENT, "option 'filter' is 'bogus'");
    fails_everywhere(BAD_OPTION, 3, 0, POLCA_ERR_INVALID_ARGUMENT, "option 'filter' is 'bogus'");
}

TEST(nan_on_one_rank_fails_every_rank) {
    fails_everywhere(NAN_INPUT, 3, 2, POLCA_ERR_NOT_FINITE, "trajectories[4][7][5] is not finite");
}

TEST(other_arguments_on_one_rank_fail_every_rank) {
    fails_everywhere(OTHER_DATA, 3, 1, POLCA_ERR_INVALID_ARGUMENT,
                     "argument 'trajectories' differs from rank 0's");
    fails_everywhere(OTHER_OPTIONS, 2, 1, POLCA_ERR_INVALID_ARGUMENT,
                     "the options differ from rank 0's");
}

/* A failure in the middle of the work (the progress callback of rank 1
 * cancels its first direction) while the other ranks cluster theirs. */
TEST(cancel_on_one_rank_fails_every_rank) {
    fails_everywhere(CANCEL, 3, 1, POLCA_ERR_CANCELLED, "cancelled by the progress callback");
}

int main(void) {
    make_data();
    RUN(two_ranks_equal_one_process);
    RUN(three_ranks_equal_one_process);
    RUN(more_ranks_than_directions);
    RUN(bad_option_on_one_rank_fails_every_rank);
    RUN(nan_on_one_rank_fails_every_rank);
    RUN(other_arguments_on_one_rank_fail_every_rank);
    RUN(cancel_on_one_rank_fails_every_rank);
    return harness_done();
}
