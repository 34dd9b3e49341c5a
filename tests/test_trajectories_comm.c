/*
 * tests/test_trajectories_comm.c - polca_trajectories_create over ranks and
 * resumed from progress files, against one uninterrupted process:
 *   - 2, 3 and 7 ranks (7 > checkpoints: some ranks hold none), every
 *     curvature mode with first order, Fisher and LCA: every output bit for
 *     bit equal on every rank (the thread communicator of thread_comm.h);
 *   - a run cancelled after each checkpoint, then resumed: bit for bit;
 *     also over 2 ranks, with the cancel on one rank;
 *   - a failure on one rank fails every rank with its message;
 *   - a progress file of another computation is refused, one with garbage
 *     past its committed end is resumed.
 */
#include <unistd.h>

#include "harness.h"
#include "thread_comm.h"

enum { NSEQ = 4, NCTX = 5, T1 = 6, K = 3, KL = 4, MAXR = 7 };

static char dir[64], series_path[128], other_path[128], negative_path[128];

static polca_model *make_model(polca_context *ctx) {
    polca_options *o = NULL;
    polca_model *m = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_heads", 2);
    polca_options_set_int(o, "d_head", 3);
    polca_options_set_int(o, "d_mlp", 6);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", NCTX);
    polca_model_create_transformer(ctx, o, &m);
    polca_options_destroy(o);
    return m;
}

static polca_data *make_data(polca_context *ctx) {
    int32_t tokens[NSEQ * NCTX] = {1, 2, 3, 4, 0, 1, 4, 2, 3, 3, 0, 1, 2, 2, 4, 3, 1, 0, 4, 2};
    polca_data *d = NULL;
    polca_data_create_tokens(ctx, NSEQ, NCTX, tokens, NULL, &d);
    return d;
}

/* A series from a few gradient steps, saved once for every test; and one
 * of the same steps from another start (other_path). */
static int make_series_at(const char *path, uint64_t seed, int64_t step0) {
    polca_context *ctx = one_thread_cpu_context();
    polca_model *m = make_model(ctx);
    polca_data *d = make_data(ctx);
    polca_checkpoints *s = NULL;
    int64_t p = 0;
    double loss;
    int ok = m && d && polca_model_n_params(m, &p) == POLCA_OK;
    ok = ok && polca_checkpoints_create(ctx, m, path, NULL, &s) == POLCA_OK;
    float *theta = malloc((size_t)p * 4), *grad = malloc((size_t)p * 4);
    ok = ok && polca_model_init(m, seed, theta) == POLCA_OK;
    for (int t = 0; ok && t < T1; t++) {
        if (t > 0) {
            ok = polca_model_grad(m, d, theta, &loss, grad) == POLCA_OK;
            for (int64_t j = 0; j < p; j++) theta[j] -= 0.4f * grad[j];
        }
        ok = ok && polca_checkpoints_append(s, 7 * t + step0, theta, p) == POLCA_OK;
    }
    free(theta), free(grad);
    polca_checkpoints_destroy(s);
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    return ok;
}

static int make_series(void) {
    strcpy(dir, "/tmp/polca_trajcomm_XXXXXX");
    if (!mkdtemp(dir)) return 0;
    snprintf(series_path, sizeof series_path, "%s/series.polca", dir);
    snprintf(other_path, sizeof other_path, "%s/other.polca", dir);
    snprintf(negative_path, sizeof negative_path, "%s/negative.polca", dir);
    return make_series_at(series_path, 5, 1) && make_series_at(other_path, 6, 1) &&
           make_series_at(negative_path, 5, -100);
}

/* What one run produced: every output kind, or the failure. */
typedef struct result {
    int32_t status;
    char message[512];
    float *out[6];
    int64_t len[6];
} result;

static void result_free(result *r) {
    for (int k = 0; k < 6; k++) free(r->out[k]), r->out[k] = NULL;
}

typedef struct run_spec {
    const char *curvature;
    const char *progress_file; /* NULL: none */
    int resume;
    int32_t cancel_rank; /* -1: none */
    int64_t cancel_after; /* checkpoints done on that rank when it cancels */
    result res[MAXR];
    const char *series; /* NULL: series_path */
    int32_t bad_rank;   /* this rank passes a bad option (0: none; rank 0 is never bad here) */
    int32_t other_basis_rank; /* this rank passes another basis (0: none) */
    int32_t other_lca_rank;   /* this rank passes another LCA basis (0: none) */
} run_spec;

typedef struct cancel_state {
    int64_t after;
} cancel_state;

static int32_t cancel_after(void *user, const char *stage, int64_t done, int64_t total,
                            double value) {
    (void)total, (void)value;
    cancel_state *c = user;
    return !strcmp(stage, "polca") && done >= c->after;
}

/* One rank's run (comm NULL: one process). */
static void run_rank(int32_t rank, polca_comm *comm, void *arg) {
    run_spec *spec = arg;
    result *r = &spec->res[rank];
    polca_context *ctx = one_thread_cpu_context();
    if (comm) polca_context_set_comm(ctx, comm);
    cancel_state cs = {spec->cancel_after};
    if (spec->cancel_rank == rank) polca_context_set_progress(ctx, cancel_after, &cs);
    polca_model *m = make_model(ctx);
    polca_data *d = make_data(ctx);
    polca_checkpoints *s = NULL;
    polca_basis *b = NULL, *lca = NULL;
    polca_trajectories *traj = NULL;
    polca_options *o = NULL;
    int64_t p = 0;
    polca_model_n_params(m, &p);
    polca_checkpoints_open(ctx, spec->series ? spec->series : series_path, NULL, &s);
    /* the LCA axes from the default series, whichever series is decomposed */
    float *last = malloc((size_t)p * 4);
    polca_checkpoints *base = NULL;
    polca_checkpoints_open(ctx, series_path, NULL, &base);
    polca_checkpoints_read(base, T1 - 1, last, p);
    polca_checkpoints_destroy(base);
    polca_options *bo = NULL;
    polca_options_create(&bo);
    if (spec->other_basis_rank && rank == spec->other_basis_rank) polca_options_set_int(bo, "seed", 9);
    polca_basis_create_random(ctx, p, K, bo, &b);
    polca_options_destroy(bo);
    polca_basis_create_axis(ctx, p, last,
                            spec->other_lca_rank && rank == spec->other_lca_rank ? KL - 1 : KL,
                            NULL, &lca);
    polca_options_create(&o);
    polca_options_set_string(o, "curvature",
                             spec->bad_rank && rank == spec->bad_rank ? "bogus" : spec->curvature);
    polca_options_set_int(o, "fisher", 1);
    polca_options_set_int(o, "block", 2);
    if (spec->progress_file) polca_options_set_string(o, "progress_file", spec->progress_file);
    if (spec->resume) polca_options_set_int(o, "resume", 1);
    r->status = polca_trajectories_create(ctx, m, d, s, b, lca, o, &traj);
    snprintf(r->message, sizeof r->message, "%s", polca_last_error());
    for (int kind = 0; kind < 6 && r->status == POLCA_OK; kind++) {
        const float *v;
        int64_t kk, nn, tt;
        if (polca_trajectories_view(traj, kind, &v, &kk, &nn, &tt) != POLCA_OK) continue;
        r->len[kind] = kk * nn * tt;
        r->out[kind] = malloc((size_t)r->len[kind] * 4);
        memcpy(r->out[kind], v, (size_t)r->len[kind] * 4);
    }
    free(last);
    polca_options_destroy(o);
    polca_trajectories_destroy(traj);
    polca_basis_destroy(b), polca_basis_destroy(lca);
    polca_checkpoints_destroy(s);
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
}

static void run_ranks(run_spec *spec, int32_t ranks) {
    if (ranks == 1) {
        run_rank(0, NULL, spec);
        return;
    }
    thread_world *w = thread_world_new(ranks);
    thread_world_run(w, run_rank, spec);
    thread_world_free(w);
}

static int same(const result *a, const result *b) {
    for (int k = 0; k < 6; k++) {
        if (a->len[k] != b->len[k]) return 0;
        if (a->len[k] && memcmp(a->out[k], b->out[k], (size_t)a->len[k] * 4)) return 0;
    }
    return 1;
}

static run_spec reference(const char *curvature) {
    run_spec ref = {curvature, NULL, 0, -1, 0, {{0}}, NULL, 0, 0, 0};
    run_ranks(&ref, 1);
    return ref;
}

TEST(ranks_give_the_single_process_bits) {
    const char *modes[3] = {"exact", "secant", "none"};
    const int32_t sizes[3] = {2, 3, 7};
    for (int m = 0; m < 3; m++) {
        run_spec ref = reference(modes[m]);
        CHECK_OK(ref.res[0].status);
        CHECK(ref.res[0].len[2] > 0 && ref.res[0].len[3] > 0); /* Fisher and LCA kept */
        for (int s = 0; s < 3; s++) {
            run_spec spec = {modes[m], NULL, 0, -1, 0, {{0}}, NULL, 0, 0, 0};
            run_ranks(&spec, sizes[s]);
            for (int32_t r = 0; r < sizes[s]; r++) {
                if (spec.res[r].status != POLCA_OK || !same(&spec.res[r], &ref.res[0]))
                    FAILF("%s, %d ranks: rank %d differs from one process (status %d: %s)",
                          modes[m], (int)sizes[s], (int)r, (int)spec.res[r].status,
                          spec.res[r].message);
                result_free(&spec.res[r]);
            }
        }
        result_free(&ref.res[0]);
    }
}

TEST(a_cancelled_run_resumes_to_the_same_bits) {
    run_spec ref = reference("exact");
    CHECK_OK(ref.res[0].status);
    char path[160];
    snprintf(path, sizeof path, "%s/one.progress", dir);
    for (int64_t j = 1; j < T1; j++) {
        run_spec cut = {"exact", path, 0, 0, j, {{0}}, NULL, 0, 0, 0};
        run_ranks(&cut, 1);
        CHECK_STATUS(cut.res[0].status, POLCA_ERR_CANCELLED);
        run_spec again = {"exact", path, 1, -1, 0, {{0}}, NULL, 0, 0, 0};
        run_ranks(&again, 1);
        CHECK_OK(again.res[0].status);
        if (!same(&again.res[0], &ref.res[0])) FAILF("resumed after %lld checkpoints: differs", (long long)j);
        result_free(&again.res[0]);
        /* resuming a finished file replays it whole */
        run_ranks(&again, 1);
        CHECK_OK(again.res[0].status);
        CHECK(same(&again.res[0], &ref.res[0]));
        result_free(&again.res[0]);
    }
    result_free(&ref.res[0]);
}

TEST(ranks_resume_and_agree_on_a_failure) {
    run_spec ref = reference("secant");
    CHECK_OK(ref.res[0].status);
    char path[160];
    snprintf(path, sizeof path, "%s/two.progress", dir);
    run_spec cut = {"secant", path, 0, 1, 1, {{0}}, NULL, 0, 0, 0};
    run_ranks(&cut, 2);
    for (int r = 0; r < 2; r++) {
        CHECK(cut.res[r].status == POLCA_ERR_CANCELLED);
        CHECK(strstr(cut.res[r].message, "rank 1: ") != NULL);
    }
    char rank_file[200];
    snprintf(rank_file, sizeof rank_file, "%s.1-of-2", path);
    CHECK(access(rank_file, F_OK) == 0);
    run_spec again = {"secant", path, 1, -1, 0, {{0}}, NULL, 0, 0, 0};
    run_ranks(&again, 2);
    for (int r = 0; r < 2; r++) {
        CHECK_OK(again.res[r].status);
        CHECK(same(&again.res[r], &ref.res[0]));
        result_free(&again.res[r]);
    }
    result_free(&ref.res[0]);
}

TEST(a_progress_file_of_another_computation_is_refused) {
    char path[160];
    snprintf(path, sizeof path, "%s/other.progress", dir);
    run_spec cut = {"exact", path, 0, 0, 2, {{0}}, NULL, 0, 0, 0};
    run_ranks(&cut, 1);
    CHECK(cut.res[0].status == POLCA_ERR_CANCELLED);
    run_spec other = {"none", path, 1, -1, 0, {{0}}, NULL, 0, 0, 0};
    run_ranks(&other, 1);
    CHECK(other.res[0].status == POLCA_ERR_STATE);
    CHECK(strstr(other.res[0].message, path) && strstr(other.res[0].message, "another computation"));
    /* garbage past the committed end (a write cut by a kill) is ignored */
    FILE *f = fopen(path, "ab");
    CHECK(f != NULL);
    fputs("torn record bytes", f);
    fclose(f);
    run_spec again = {"exact", path, 1, -1, 0, {{0}}, NULL, 0, 0, 0};
    run_ranks(&again, 1);
    CHECK_OK(again.res[0].status);
    run_spec ref = reference("exact");
    CHECK(same(&again.res[0], &ref.res[0]));
    result_free(&again.res[0]);
    result_free(&ref.res[0]);
    /* the same steps on other weights: the replayed records do not fit */
    run_spec moved = {"exact", path, 1, -1, 0, {{0}}, other_path, 0, 0, 0};
    run_ranks(&moved, 1);
    CHECK(moved.res[0].status == POLCA_ERR_STATE);
    CHECK(strstr(moved.res[0].message, "other parameters at checkpoint 0 (step 1)"));
}

TEST(a_rank_with_bad_input_fails_every_rank) {
    for (int32_t bad = 1; bad < 3; bad++) {
        run_spec spec = {"exact", NULL, 0, -1, 0, {{0}}, NULL, bad, 0, 0};
        run_ranks(&spec, 3);
        char want[64];
        snprintf(want, sizeof want, "rank %d: ", (int)bad);
        for (int r = 0; r < 3; r++) {
            CHECK(spec.res[r].status == POLCA_ERR_INVALID_ARGUMENT);
            CHECK(strstr(spec.res[r].message, want) && strstr(spec.res[r].message, "bogus"));
        }
    }
}

TEST(a_rank_with_other_inputs_is_refused) {
    run_spec spec = {"exact", NULL, 0, -1, 0, {{0}}, NULL, 0, 2, 0};
    run_ranks(&spec, 3);
    for (int r = 0; r < 3; r++) {
        CHECK(spec.res[r].status == POLCA_ERR_INVALID_ARGUMENT);
        CHECK(strstr(spec.res[r].message, "rank 2: ") &&
              strstr(spec.res[r].message, "argument 'basis' differs from rank 0's"));
    }
}

TEST(another_lca_basis_is_named) {
    run_spec spec = {"exact", NULL, 0, -1, 0, {{0}}, NULL, 0, 0, 1};
    run_ranks(&spec, 2);
    for (int r = 0; r < 2; r++) {
        CHECK(spec.res[r].status == POLCA_ERR_INVALID_ARGUMENT);
        CHECK(strstr(spec.res[r].message, "argument 'lca_basis' differs from rank 0's"));
    }
}

/* Steps at or below 0 (polca_checkpoints_append allows them): a rank's
 * first step is not compared with a slot it never filled. */
TEST(negative_steps_over_ranks) {
    run_spec ref = {"secant", NULL, 0, -1, 0, {{0}}, negative_path, 0, 0, 0};
    run_ranks(&ref, 1);
    CHECK_OK(ref.res[0].status);
    for (int32_t size = 2; size <= 3; size++) {
        run_spec spec = {"secant", NULL, 0, -1, 0, {{0}}, negative_path, 0, 0, 0};
        run_ranks(&spec, size);
        for (int32_t r = 0; r < size; r++) {
            if (spec.res[r].status != POLCA_OK || !same(&spec.res[r], &ref.res[0]))
                FAILF("%d ranks, rank %d: status %d (%s)", (int)size, (int)r,
                      (int)spec.res[r].status, spec.res[r].message);
            result_free(&spec.res[r]);
        }
    }
    result_free(&ref.res[0]);
}

int main(void) {
    if (!make_series()) {
        printf("FAIL fixture: %s\n", polca_last_error());
        return 1;
    }
    RUN(ranks_give_the_single_process_bits);
    RUN(a_cancelled_run_resumes_to_the_same_bits);
    RUN(ranks_resume_and_agree_on_a_failure);
    RUN(a_progress_file_of_another_computation_is_refused);
    RUN(a_rank_with_bad_input_fails_every_rank);
    RUN(a_rank_with_other_inputs_is_refused);
    RUN(another_lca_basis_is_named);
    RUN(negative_steps_over_ranks);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return harness_done();
}
