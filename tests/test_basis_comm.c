/*
 * tests/test_basis_comm.c - polca_basis_create_hessian (and _scaled) under
 * a communicator, and resumed from a progress file.
 *
 * Sharded: the ranks are threads (tests/thread_comm.h), each with its own
 * context (threads = 1), model, data and series built identically. Every
 * rank must end with the same basis, bit for bit; that basis must equal the
 * single-process one up to the rounding of the other summation order
 * (eigenvectors compared up to sign by |<u, v>|, eigenvalues relatively); a
 * failure or a cancel on one rank must fail every rank with one status and
 * the message "rank R: ...".
 *
 * Resume: a run cancelled by its progress callback after basis checkpoint j
 * and resumed from its progress file must give the uninterrupted run's
 * basis bit for bit (vectors and metadata), without solving the first j
 * checkpoints again; a file of another computation is POLCA_ERR_STATE; junk
 * past the committed end of the file is ignored.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "thread_comm.h"

#define N_CKPT 4
#define N_SEQ 7
#define N_CTX 4

/* ---- one rank's fixture ---- */

typedef struct fixture {
    polca_context *ctx;
    polca_model *model;
    polca_data *data;
    polca_checkpoints *series, *scales;
    int64_t p;
} fixture;

/* A small transformer, N_SEQ sequences whose masks score 1..3 positions
 * (so shares of sequences hold different numbers of samples), N_CKPT
 * checkpoints, and step scales at their steps. bad_token: a token id past
 * the vocabulary (this rank's data fails the check). */
typedef struct data_choice {
    int bad_token; /* a token id past the vocabulary (the data fails the check) */
    int alt_token; /* one token changed (another data set) */
    int n_seq;     /* sequences; 0: N_SEQ */
    int empty_last; /* the last sequence scores no position */
    int huge;       /* checkpoint 2's parameters times 1e30: non-finite products */
    int poison_rank, poison_size; /* poison_size > 1: change every token outside
                                     this rank's share of the sequences */
    int other_weights; /* checkpoint 0's parameters moved, the steps the same */
} data_choice;

static int fixture_make(fixture *f, data_choice dc) {
    memset(f, 0, sizeof *f);
    f->ctx = one_thread_cpu_context();
    if (!f->ctx) return 0;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_heads", 1);
    polca_options_set_int(o, "d_mlp", 8);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", N_CTX);
    polca_options_set_string(o, "act_fn", "gelu_new");
    int ok = polca_model_create_transformer(f->ctx, o, &f->model) == POLCA_OK;
    polca_options_destroy(o);
    ok = ok && polca_model_n_params(f->model, &f->p) == POLCA_OK;
    int32_t tokens[N_SEQ * N_CTX];
    uint8_t mask[N_SEQ * N_CTX] = {0};
    int n_seq = dc.n_seq ? dc.n_seq : N_SEQ;
    unsigned long long r = 5;
    for (int i = 0; i < N_SEQ * N_CTX; i++)
        tokens[i] = (int32_t)((harness_uniform(&r) + 1.0f) * 2.49f);
    if (dc.bad_token) tokens[3] = 7;
    if (dc.alt_token) tokens[5] = (tokens[5] + 1) % 5;
    if (dc.poison_size > 1) {
        /* polca__comm_share: contiguous, the first n % size ranks one more */
        int base = n_seq / dc.poison_size, extra = n_seq % dc.poison_size, r = dc.poison_rank;
        int lo = r * base + (r < extra ? r : extra), hi = lo + base + (r < extra);
        for (int q = 0; q < n_seq; q++)
            for (int t = 0; (q < lo || q >= hi) && t < N_CTX; t++)
                tokens[q * N_CTX + t] = (tokens[q * N_CTX + t] + 1 + q) % 5;
    }
    for (int s = 0; s < n_seq; s++)
        for (int t = 0; t < 1 + s % 3 && !(dc.empty_last && s == n_seq - 1); t++)
            mask[s * N_CTX + t] = 1;
    ok = ok && polca_data_create_tokens(f->ctx, n_seq, N_CTX, tokens, mask, &f->data) == POLCA_OK;
    ok = ok && polca_checkpoints_create(f->ctx, f->model, NULL, NULL, &f->series) == POLCA_OK;
    ok = ok && polca_checkpoints_create(f->ctx, f->model, NULL, NULL, &f->scales) == POLCA_OK;
    float *theta = malloc(f->p * 4), *s = malloc(f->p * 4);
    unsigned long long rs = 99;
    for (int t = 0; ok && t < N_CKPT; t++) {
        ok = polca_model_init(f->model, 7 + t, theta) == POLCA_OK;
        for (int64_t j = 0; j < f->p; j++) theta[j] *= 3.0f; /* more curvature */
        for (int64_t j = 0; dc.huge && t == 2 && j < f->p; j++) theta[j] *= 1e30f;
        if (dc.other_weights && t == 0) theta[0] += 1e-3f;
        for (int64_t j = 0; j < f->p; j++) s[j] = (float)pow(10.0, harness_uniform(&rs));
        ok = ok && polca_checkpoints_append(f->series, 10 * t, theta, f->p) == POLCA_OK;
        ok = ok && polca_checkpoints_append(f->scales, 10 * t, s, f->p) == POLCA_OK;
    }
    free(theta);
    free(s);
    return ok;
}

static void fixture_free(fixture *f) {
    polca_checkpoints_destroy(f->series);
    polca_checkpoints_destroy(f->scales);
    polca_data_destroy(f->data);
    polca_model_destroy(f->model);
    polca_context_destroy(f->ctx);
}

/* ---- one call, and what it returned ---- */

typedef struct result {
    int32_t status;
    char message[1024];
    int64_t k, p;
    float *vecs; /* [k][p] */
    int32_t kind[64], conv[64];
    int64_t step[64], src[64];
    double ev[64], res[64];
    int64_t eigen_before_basis; /* "eigen" reports before the first "basis" one */
} result;

typedef struct job {
    int scaled, shuffle, warm_start;
    int64_t k;
    const char *progress_file;
    const char *other_ranks_file; /* NULL: progress_file on every rank */
    int resume;
    int cancel_rank;        /* -1: none */
    const char *cancel_stage; /* "basis": after checkpoint cancel_at; "eigen": at once */
    int64_t cancel_at;
    int bad_token_rank;     /* -1: none */
    const char *bad_series; /* a series file for bad_series_rank, or NULL */
    int bad_series_rank;
    int huge_rank; /* -1: none */
    int poison_size; /* > 1: each rank's data differs outside its share (refused) */
    int64_t seed;
    double tol;
    int64_t max_products;
    data_choice data;
} job;

static job job_default(void) {
    job j;
    memset(&j, 0, sizeof j);
    j.warm_start = 1;
    j.k = 2;
    j.tol = 1e-5;
    j.max_products = 2000;
    j.cancel_rank = j.bad_token_rank = j.bad_series_rank = j.huge_rank = -1;
    return j;
}

typedef struct cb_state {
    const job *j;
    int rank;
    result *r;
    int seen_basis;
} cb_state;

static int32_t on_progress(void *user, const char *stage, int64_t done, int64_t total,
                           double value) {
    cb_state *c = user;
    (void)total, (void)value;
    if (!strcmp(stage, "basis")) c->seen_basis = 1;
    if (!strcmp(stage, "eigen") && !c->seen_basis) c->r->eigen_before_basis++;
    if (c->rank != c->j->cancel_rank || strcmp(stage, c->j->cancel_stage)) return 0;
    return !strcmp(stage, "eigen") || done == c->j->cancel_at;
}

static void keep_result(const polca_basis *b, int32_t st, result *r) {
    r->status = st;
    snprintf(r->message, sizeof r->message, "%s", polca_last_error());
    if (!b) return;
    polca_basis_count(b, &r->k);
    polca_basis_n_params(b, &r->p);
    r->vecs = malloc((size_t)(r->k * r->p) * 4);
    for (int64_t i = 0; i < r->k && i < 64; i++) {
        polca_basis_get_vector(b, i, r->vecs + i * r->p, r->p);
        polca_basis_get_info(b, i, &r->kind[i], &r->step[i], &r->src[i], &r->ev[i], &r->res[i],
                             &r->conv[i]);
    }
}

/* Builds the fixture (on ctx with comm set, or alone) and runs the job. */
static void run_job(const job *j, int rank, polca_comm *comm, result *r) {
    memset(r, 0, sizeof *r);
    fixture f;
    data_choice dc = j->data;
    dc.bad_token = rank == j->bad_token_rank;
    dc.huge = rank == j->huge_rank;
    if (j->poison_size > 1) dc.poison_rank = rank, dc.poison_size = j->poison_size;
    if (!fixture_make(&f, dc)) {
        r->status = -9999;
        snprintf(r->message, sizeof r->message, "fixture: %s", polca_last_error());
        fixture_free(&f);
        return;
    }
    polca_checkpoints *series = f.series;
    if (rank == j->bad_series_rank &&
        polca_checkpoints_open(f.ctx, j->bad_series, NULL, &series) != POLCA_OK)
        series = NULL;
    if (comm) polca_context_set_comm(f.ctx, comm);
    cb_state cb = {j, rank, r, 0};
    polca_context_set_progress(f.ctx, on_progress, &cb);
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_double(o, "tol", j->tol);
    polca_options_set_int(o, "max_products", j->max_products);
    polca_options_set_int(o, "seed", j->seed);
    polca_options_set_int(o, "warm_start", j->warm_start);
    if (j->shuffle) {
        polca_options_set_int(o, "shuffle", 1);
        polca_options_set_int(o, "shuffle_seed", 3);
    }
    if (j->progress_file) {
        polca_options_set_string(o, "progress_file", rank && j->other_ranks_file
                                                         ? j->other_ranks_file
                                                         : j->progress_file);
        polca_options_set_int(o, "resume", j->resume);
    }
    polca_basis *b = NULL;
    int32_t st = j->scaled ? polca_basis_create_hessian_scaled(f.ctx, f.model, f.data, series,
                                                               f.scales, NULL, 0, j->k, o, &b)
                           : polca_basis_create_hessian(f.ctx, f.model, f.data, series, NULL, 0,
                                                        j->k, o, &b);
    keep_result(b, st, r);
    polca_basis_destroy(b);
    polca_options_destroy(o);
    if (series != f.series) polca_checkpoints_destroy(series);
    polca_context_set_comm(f.ctx, NULL);
    fixture_free(&f);
}

typedef struct world_job {
    const job *j;
    result *r; /* [size] */
} world_job;

static void world_body(int32_t rank, polca_comm *comm, void *arg) {
    world_job *w = arg;
    run_job(w->j, rank, comm, &w->r[rank]);
}

static void run_world(const job *j, int size, result *r) {
    thread_world *w = thread_world_new(size);
    world_job wj = {j, r};
    thread_world_run(w, world_body, &wj);
    thread_world_free(w);
}

static void free_results(result *r, int n) {
    for (int i = 0; i < n; i++) free(r[i].vecs);
}

/* Same vectors and metadata, bit for bit. */
static int same_bits(const result *a, const result *b) {
    if (a->k != b->k || a->p != b->p || a->k > 64) return 0;
    if (memcmp(a->vecs, b->vecs, (size_t)(a->k * a->p) * 4)) return 0;
    for (int64_t i = 0; i < a->k; i++)
        if (a->kind[i] != b->kind[i] || a->conv[i] != b->conv[i] || a->step[i] != b->step[i] ||
            a->src[i] != b->src[i] || memcmp(&a->ev[i], &b->ev[i], 8) ||
            memcmp(&a->res[i], &b->res[i], 8))
            return 0;
    return 1;
}

/* Largest 1 - |<u_i, v_i>| and relative eigenvalue difference. */
static void compare(const result *a, const result *b, double *vec_err, double *ev_err) {
    *vec_err = *ev_err = 0.0;
    if (!a->vecs || !b->vecs || a->k != b->k || a->p != b->p) {
        *vec_err = *ev_err = INFINITY;
        return;
    }
    for (int64_t i = 0; i < a->k; i++) {
        double d = 0;
        for (int64_t j = 0; j < a->p; j++)
            d += (double)a->vecs[i * a->p + j] * b->vecs[i * a->p + j];
        *vec_err = fmax(*vec_err, 1.0 - fabs(d));
        *ev_err = fmax(*ev_err, fabs(a->ev[i] - b->ev[i]) / fabs(a->ev[i]));
    }
}

/* ---- sharded products ---- */

static void sharded_case(int scaled, int shuffle, int size) {
    job j = job_default();
    j.scaled = scaled;
    j.shuffle = shuffle;
    if (scaled) j.tol = 1e-4; /* the scaled operator is worse conditioned */
    result one, r[3];
    run_job(&j, 0, NULL, &one);
    run_world(&j, size, r);
    EXPECT(one.status == POLCA_OK && one.k == N_CKPT * j.k);
    for (int q = 0; q < size; q++) {
        if (r[q].status != POLCA_OK) FAILF("rank %d: %d %s", q, (int)r[q].status, r[q].message);
        EXPECT(same_bits(&r[q], &r[0]));
    }
    double ve, ee;
    compare(&one, &r[0], &ve, &ee);
    printf("  %s%s, %d ranks vs one process: max 1-|<u,v>| %.2e, max eigenvalue rel. diff %.2e\n",
           scaled ? "scaled" : "plain", shuffle ? " shuffled" : "", size, ve, ee);
    /* the sums are taken in another order: rounding, amplified by the
     * solver's tolerance (1e-6) over the eigen-gaps of this small model */
    EXPECT(ve < 1e-5);
    EXPECT(ee < 1e-5);
    for (int64_t i = 0; i < one.k && i < r[0].k; i++)
        EXPECT(one.step[i] == r[0].step[i] && one.kind[i] == r[0].kind[i]);
    free_results(&one, 1);
    free_results(r, size);
}

TEST(two_and_three_ranks_hold_one_basis_equal_to_one_process) {
    sharded_case(0, 0, 2);
    sharded_case(0, 0, 3);
    sharded_case(0, 1, 3);
}

TEST(scaled_basis_over_ranks) {
    sharded_case(1, 0, 2);
    sharded_case(1, 0, 3);
}

/* A rank whose share holds no sample (more ranks than sequences; or a
 * share of sequences that score nothing) contributes nothing and still
 * holds the basis. */
static void empty_share_case(int n_seq, int empty_last) {
    job j = job_default();
    j.k = 1;
    j.data.n_seq = n_seq;
    j.data.empty_last = empty_last;
    result one, r[3];
    run_job(&j, 0, NULL, &one);
    run_world(&j, 3, r);
    EXPECT(one.status == POLCA_OK);
    for (int q = 0; q < 3; q++) {
        if (r[q].status != POLCA_OK) FAILF("rank %d: %d %s", q, (int)r[q].status, r[q].message);
        EXPECT(same_bits(&r[q], &r[0]));
    }
    double ve, ee;
    compare(&one, &r[0], &ve, &ee);
    printf("  %d sequences%s over 3 ranks vs one process: max 1-|<u,v>| %.2e, eigenvalue %.2e\n",
           n_seq, empty_last ? " (the last unscored)" : "", ve, ee);
    EXPECT(ve < 1e-5 && ee < 1e-5);
    free_results(&one, 1);
    free_results(r, 3);
}

TEST(ranks_without_samples_contribute_nothing) {
    empty_share_case(2, 0); /* rank 2 holds no sequence */
    empty_share_case(3, 1); /* rank 2 holds one sequence that scores nothing */
}

/* Each rank evaluates its share of the samples and nothing else: a
 * host-defined model whose sample s has the Hessian diag(a_s), logging
 * which samples each rank's product callback is given. */
#define H_P 12
#define H_N 7
static float h_weight(int64_t s, int64_t j) { return 1.0f + (float)((s * 7 + j * 3) % 11); }

typedef struct h_log {
    int64_t seen[H_N];
    int64_t calls;
} h_log;

static int32_t h_loss(void *user, const float *theta, int64_t n, const int64_t *samples,
                      float *losses) {
    (void)user;
    for (int64_t i = 0; i < n; i++) {
        double l = 0;
        for (int64_t j = 0; j < H_P; j++) l += 0.5 * h_weight(samples[i], j) * theta[j] * theta[j];
        losses[i] = (float)l;
    }
    return 0;
}

static int32_t h_grad(void *user, const float *theta, int64_t n, const int64_t *samples,
                      double *mean, float *grad) {
    (void)user;
    *mean = 0;
    for (int64_t j = 0; j < H_P; j++) {
        double g = 0;
        for (int64_t i = 0; i < n; i++) g += h_weight(samples[i], j) * theta[j];
        grad[j] = (float)(g / (double)n);
    }
    return 0;
}

static int32_t h_hvp(void *user, const float *theta, int64_t n, const int64_t *samples,
                     const float *v, float *hv) {
    h_log *L = user;
    (void)theta;
    L->calls++;
    for (int64_t i = 0; i < n; i++) L->seen[samples[i]]++;
    for (int64_t j = 0; j < H_P; j++) {
        double a = 0;
        for (int64_t i = 0; i < n; i++) a += h_weight(samples[i], j);
        hv[j] = (float)(a / (double)n * v[j]);
    }
    return 0;
}

typedef struct h_world {
    h_log log[3];
    result r[3];
} h_world;

static void h_run(int32_t rank, polca_comm *comm, void *arg) {
    h_world *w = arg;
    result *r = &w->r[comm ? rank : 0];
    h_log *L = &w->log[comm ? rank : 0];
    memset(r, 0, sizeof *r);
    polca_context *ctx = one_thread_cpu_context();
    if (comm) polca_context_set_comm(ctx, comm);
    polca_model *m = NULL;
    polca_data *d = NULL;
    polca_checkpoints *series = NULL;
    polca_basis *b = NULL;
    float theta[H_P];
    for (int j = 0; j < H_P; j++) theta[j] = 0.1f * (float)j;
    int32_t st = polca_model_create_host(ctx, H_P, H_N, NULL, &m);
    if (!st) st = polca_model_set_loss_callback(m, h_loss, NULL);
    if (!st) st = polca_model_set_grad_callback(m, h_grad, NULL);
    if (!st) st = polca_model_set_hvp_callback(m, h_hvp, L);
    if (!st) st = polca_data_create_indices(ctx, H_N, H_N, NULL, &d);
    if (!st) st = polca_checkpoints_create(ctx, m, NULL, NULL, &series);
    if (!st) st = polca_checkpoints_append(series, 0, theta, H_P);
    if (!st) st = polca_basis_create_hessian(ctx, m, d, series, NULL, 0, 3, NULL, &b);
    keep_result(b, st, r);
    polca_basis_destroy(b);
    polca_checkpoints_destroy(series);
    polca_data_destroy(d);
    polca_model_destroy(m);
    polca_context_set_comm(ctx, NULL);
    polca_context_destroy(ctx);
}

TEST(each_rank_evaluates_its_share_alone) {
    h_world one, three;
    memset(&one, 0, sizeof one);
    memset(&three, 0, sizeof three);
    h_run(0, NULL, &one);
    thread_world *w = thread_world_new(3);
    thread_world_run(w, h_run, &three);
    thread_world_free(w);
    CHECK(one.r[0].status == POLCA_OK);
    /* 7 samples over 3 ranks: 0..2, 3..4, 5..6 (polca__comm_share) */
    const int lo[3] = {0, 3, 5}, hi[3] = {3, 5, 7};
    for (int q = 0; q < 3; q++) {
        EXPECT(three.r[q].status == POLCA_OK);
        EXPECT(same_bits(&three.r[q], &three.r[0]));
        EXPECT(three.log[q].calls > 0);
        for (int s = 0; s < H_N; s++) {
            int inside = s >= lo[q] && s < hi[q];
            /* every product of the rank saw each of its samples once */
            if (inside ? three.log[q].seen[s] != three.log[q].calls : three.log[q].seen[s] != 0)
                FAILF("rank %d saw sample %d %lld times in %lld products", q, s,
                      (long long)three.log[q].seen[s], (long long)three.log[q].calls);
        }
    }
    double ve, ee;
    compare(&one.r[0], &three.r[0], &ve, &ee);
    printf("  host model, 3 ranks vs one process: max 1-|<u,v>| %.2e, eigenvalue %.2e\n", ve, ee);
    EXPECT(ve < 1e-5 && ee < 1e-5);
    free_results(one.r, 1);
    free_results(three.r, 3);
}

/* Every rank gets the failing rank's status and "rank R: ..." message. */
static void expect_all_fail(const result *r, int size, int32_t status, int rank,
                            const char *needle) {
    char want[32];
    snprintf(want, sizeof want, "rank %d: ", rank);
    for (int q = 0; q < size; q++) {
        if (r[q].status != status || strncmp(r[q].message, want, strlen(want)) ||
            (needle && !strstr(r[q].message, needle)))
            FAILF("rank %d: status %d (want %d), message '%s' (want '%s...%s')", q,
                  (int)r[q].status, (int)status, r[q].message, want, needle ? needle : "");
        if (strcmp(r[q].message, r[0].message)) FAILF("rank %d has another message", q);
        EXPECT(r[q].vecs == NULL);
    }
}

TEST(a_failing_rank_fails_every_rank_with_its_message) {
    /* bad input on rank 2 only (found before any product) */
    job j = job_default();
    j.bad_token_rank = 2;
    result r[3];
    run_world(&j, 3, r);
    expect_all_fail(r, 3, POLCA_ERR_INVALID_ARGUMENT, 2, "d_vocab");
    free_results(r, 3);

    /* a checkpoint that fails its checksum on rank 1, read mid-run */
    const char *good = "test_basis_comm_series.polca", *bad = "test_basis_comm_bad.polca";
    fixture f;
    CHECK(fixture_make(&f, (data_choice){0}));
    polca_checkpoints *s = NULL;
    CHECK_OK(polca_checkpoints_create(f.ctx, f.model, good, NULL, &s));
    float *theta = malloc(f.p * 4);
    for (int t = 0; t < N_CKPT; t++) {
        CHECK_OK(polca_checkpoints_read(f.series, t, theta, f.p));
        CHECK_OK(polca_checkpoints_append(s, 10 * t, theta, f.p));
    }
    free(theta);
    polca_checkpoints_destroy(s);
    fixture_free(&f);
    FILE *in = fopen(good, "rb"), *out = fopen(bad, "wb");
    CHECK(in && out);
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, in) == (size_t)size);
    bytes[size - 100] ^= 0x5a; /* inside the last checkpoint's payload */
    fwrite(bytes, 1, (size_t)size, out);
    fclose(in), fclose(out), free(bytes);
    j = job_default();
    j.bad_series_rank = 1;
    j.bad_series = bad;
    run_world(&j, 3, r);
    expect_all_fail(r, 3, POLCA_ERR_CORRUPT, 1, bad);
    free_results(r, 3);
    remove(good), remove(bad);

    /* other data on ranks 1 and 2 (changed outside their shares only: a
     * rank reads only its share, but the call is collective and refuses
     * arguments that differ from rank 0's) */
    j = job_default();
    j.poison_size = 3;
    run_world(&j, 3, r);
    expect_all_fail(r, 3, POLCA_ERR_INVALID_ARGUMENT, 1, "argument 'data' differs from rank 0's");
    free_results(r, 3);

    /* a non-finite product on rank 2 only */
    j = job_default();
    j.huge_rank = 2;
    run_world(&j, 3, r);
    expect_all_fail(r, 3, POLCA_ERR_NOT_FINITE, 2, "this rank's share");
    free_results(r, 3);

    /* a cancel by one rank's callback, inside a solve and between checkpoints */
    j = job_default();
    j.cancel_rank = 1;
    j.cancel_stage = "eigen";
    run_world(&j, 2, r);
    expect_all_fail(r, 2, POLCA_ERR_CANCELLED, 1, "cancelled");
    free_results(r, 2);
    j.cancel_rank = 2;
    j.cancel_stage = "basis";
    j.cancel_at = 2;
    run_world(&j, 3, r);
    expect_all_fail(r, 3, POLCA_ERR_CANCELLED, 2, "basis: cancelled");
    free_results(r, 3);
}

/* ---- resume ---- */

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Cancelled after checkpoint `at`, then resumed: the uninterrupted basis. */
static void resume_case(int scaled, int shuffle, int warm, int size) {
    const char *path = "test_basis_comm.progress";
    job j = job_default();
    j.scaled = scaled;
    j.shuffle = shuffle;
    j.warm_start = warm;
    /* a budget some pairs miss: the not-converged bookkeeping resumes too */
    if (scaled) j.max_products = 24;
    result full[3], r[3];
    if (size == 1) run_job(&j, 0, NULL, &full[0]);
    else run_world(&j, size, full);
    if (full[0].status != (scaled ? POLCA_ERR_NOT_CONVERGED : POLCA_OK))
        FAILF("uninterrupted: %d %s", (int)full[0].status, full[0].message);
    for (int64_t at = 1; at <= N_CKPT; at++) {
        remove(path);
        j.progress_file = path;
        /* rank 0 alone opens the file: the others' path is never used */
        j.other_ranks_file = "no-such-directory/progress";
        j.resume = 0;
        j.cancel_rank = size - 1; /* under a communicator, the last rank cancels */
        j.cancel_stage = "basis";
        j.cancel_at = at;
        if (size == 1) run_job(&j, 0, NULL, &r[0]);
        else run_world(&j, size, r);
        EXPECT(r[0].status == POLCA_ERR_CANCELLED);
        free_results(r, size);
        EXPECT(file_exists(path));
        /* (at == N_CKPT: the resumed call installs every record, solves nothing) */
        if (size > 1) {
            char other[128];
            snprintf(other, sizeof other, "%s.0-of-%d", path, size);
            EXPECT(!file_exists(other)); /* rank 0 alone writes, at the path */
        }
        j.resume = 1;
        j.cancel_rank = -1;
        if (size == 1) run_job(&j, 0, NULL, &r[0]);
        else run_world(&j, size, r);
        for (int q = 0; q < size; q++) {
            if (r[q].status != full[0].status || strcmp(r[q].message, full[0].message))
                FAILF("at %lld rank %d: %d %s", (long long)at, q, (int)r[q].status, r[q].message);
            if (!same_bits(&r[q], &full[0]))
                FAILF("scaled %d shuffle %d warm %d size %d: resumed after checkpoint %lld, "
                      "rank %d differs from the uninterrupted run",
                      scaled, shuffle, warm, size, (long long)at, q);
            /* the first `at` checkpoints were installed, not solved again */
            EXPECT(r[q].eigen_before_basis == 0);
        }
        free_results(r, size);
    }
    remove(path);
    free_results(full, size);
}

TEST(resumed_runs_are_bit_identical_to_uninterrupted_ones) {
    resume_case(0, 0, 1, 1);
    resume_case(0, 1, 1, 1);
    resume_case(0, 0, 0, 1);
    resume_case(1, 0, 1, 1);
}

TEST(resume_under_a_communicator) {
    resume_case(0, 0, 1, 2);
    resume_case(1, 1, 1, 3);
}

TEST(a_progress_file_of_another_computation_is_refused) {
    const char *path = "test_basis_comm_other.progress";
    remove(path);
    job j = job_default();
    j.progress_file = path;
    j.cancel_rank = 0;
    j.cancel_stage = "basis";
    j.cancel_at = 1;
    result r[2];
    run_job(&j, 0, NULL, &r[0]);
    EXPECT(r[0].status == POLCA_ERR_CANCELLED);
    free_results(r, 1);
    struct {
        const char *what;
        job j;
    } other[4];
    for (int i = 0; i < 4; i++) {
        other[i].j = j;
        other[i].j.resume = 1;
        other[i].j.cancel_rank = -1;
    }
    other[0].what = "seed", other[0].j.seed = 1;
    other[1].what = "k", other[1].j.k = 1;
    other[2].what = "scaled", other[2].j.scaled = 1;
    other[3].what = "warm_start", other[3].j.warm_start = 0;
    for (int i = 0; i < 4; i++) {
        run_job(&other[i].j, 0, NULL, &r[0]);
        if (r[0].status != POLCA_ERR_STATE || !strstr(r[0].message, path))
            FAILF("another %s: status %d, '%s'", other[i].what, (int)r[0].status, r[0].message);
        free_results(r, 1);
    }
    /* another data set (a token changed) */
    job d = j;
    d.resume = 1;
    d.cancel_rank = -1;
    d.data.alt_token = 1;
    run_job(&d, 0, NULL, &r[0]);
    if (r[0].status != POLCA_ERR_STATE) FAILF("another data set: %d %s", (int)r[0].status, r[0].message);
    free_results(r, 1);
    d.data.alt_token = 0;
    /* the same steps on other weights: the records' checkpoint hashes differ */
    d.data.other_weights = 1;
    run_job(&d, 0, NULL, &r[0]);
    if (r[0].status != POLCA_ERR_STATE || !strstr(r[0].message, "other parameters at the basis "
                                                                "checkpoint of step 0"))
        FAILF("other weights: %d %s", (int)r[0].status, r[0].message);
    free_results(r, 1);
    d.data.other_weights = 0;
    /* another number of ranks */
    run_world(&d, 2, r);
    for (int q = 0; q < 2; q++) EXPECT(r[q].status == POLCA_ERR_STATE);
    EXPECT(strstr(r[1].message, "rank 0: ") == r[1].message);
    free_results(r, 2);
    /* the file was left as it was: the original computation resumes */
    run_job(&d, 0, NULL, &r[0]);
    EXPECT(r[0].status == POLCA_OK);
    free_results(r, 1);
    remove(path);
}

TEST(junk_past_the_committed_end_is_ignored) {
    const char *path = "test_basis_comm_junk.progress";
    remove(path);
    job j = job_default();
    result full, r;
    run_job(&j, 0, NULL, &full);
    j.progress_file = path;
    j.cancel_rank = 0;
    j.cancel_stage = "basis";
    j.cancel_at = 2;
    run_job(&j, 0, NULL, &r);
    EXPECT(r.status == POLCA_ERR_CANCELLED);
    free_results(&r, 1);
    /* a record cut short by a kill leaves bytes past the committed end */
    FILE *fp = fopen(path, "ab");
    CHECK(fp != NULL);
    unsigned long long g = 42;
    for (int i = 0; i < 3000; i++) fputc((int)((harness_uniform(&g) + 1.0f) * 127.0f), fp);
    fclose(fp);
    j.resume = 1;
    j.cancel_rank = -1;
    run_job(&j, 0, NULL, &r);
    EXPECT(r.status == POLCA_OK);
    EXPECT(same_bits(&r, &full));
    free_results(&r, 1);
    /* a file cut inside its committed records is damaged: refused, named */
    j.resume = 0;
    j.cancel_rank = 0;
    run_job(&j, 0, NULL, &r);
    free_results(&r, 1);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    CHECK(truncate(path, sb.st_size - 200) == 0);
    j.resume = 1;
    j.cancel_rank = -1;
    run_job(&j, 0, NULL, &r);
    if (r.status != POLCA_ERR_CORRUPT || !strstr(r.message, path))
        FAILF("truncated: status %d, '%s'", (int)r.status, r.message);
    free_results(&r, 1);
    free_results(&full, 1);
    remove(path);
}

TEST(option_checks) {
    fixture f;
    CHECK(fixture_make(&f, (data_choice){0}));
    polca_options *o = NULL;
    polca_basis *b = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "resume", 1));
    CHECK_STATUS(polca_basis_create_hessian(f.ctx, f.model, f.data, f.series, NULL, 0, 1, o, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK(strstr(polca_last_error(), "progress_file"));
    CHECK_OK(polca_options_set_int(o, "resume", 2));
    CHECK_OK(polca_options_set_string(o, "progress_file", "x.progress"));
    CHECK_STATUS(polca_basis_create_hessian(f.ctx, f.model, f.data, f.series, NULL, 0, 1, o, &b),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK(strstr(polca_last_error(), "resume"));
    CHECK(b == NULL);
    polca_options_destroy(o);
    fixture_free(&f);
}

/* The device description is part of a progress file's fingerprint, and
 * thread ranks open their contexts at once: it must not depend on what
 * other threads do meanwhile. (OpenBLAS' openblas_get_config() rebuilds a
 * static string on each call; read concurrently it came out as "...
 * MAX_THREADS=64 MAX_THREADS=64" and a resumed run was refused as "another
 * computation", about one run in twenty of this file.) */
char *openblas_get_config(void);
static volatile int spin_stop;
static void *spin_config(void *arg) {
    (void)arg;
    while (!spin_stop) (void)openblas_get_config();
    return NULL;
}

TEST(one_device_description_whatever_other_threads_do) {
    polca_context *first = one_thread_cpu_context();
    CHECK(first != NULL);
    const char *want = NULL;
    CHECK_OK(polca_context_device(first, &want));
    pthread_t th;
    spin_stop = 0;
    CHECK(pthread_create(&th, NULL, spin_config, NULL) == 0);
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        polca_context *c = one_thread_cpu_context();
        const char *got = NULL;
        if (!c || polca_context_device(c, &got) != POLCA_OK || strcmp(got, want)) bad++;
        polca_context_destroy(c);
    }
    spin_stop = 1;
    pthread_join(th, NULL);
    polca_context_destroy(first);
    if (bad) FAILF("%d of 100000 contexts describe their device otherwise", bad);
}

int main(void) {
    RUN(two_and_three_ranks_hold_one_basis_equal_to_one_process);
    RUN(scaled_basis_over_ranks);
    RUN(ranks_without_samples_contribute_nothing);
    RUN(each_rank_evaluates_its_share_alone);
    RUN(a_failing_rank_fails_every_rank_with_its_message);
    RUN(resumed_runs_are_bit_identical_to_uninterrupted_ones);
    RUN(resume_under_a_communicator);
    RUN(a_progress_file_of_another_computation_is_refused);
    RUN(junk_past_the_committed_end_is_ignored);
    RUN(option_checks);
    RUN(one_device_description_whatever_other_threads_do);
    return harness_done();
}
