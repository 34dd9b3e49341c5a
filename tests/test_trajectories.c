/*
 * tests/test_trajectories.c - polca_trajectories on a small transformer,
 * against direct computations through the model API:
 *   - complete basis: sum_k first-order POLCA = <grad l_i(theta_t), dtheta>
 *     (per-sample gradients from single-sample data subsets);
 *   - secant form = 1/2 (g_t + g_{t+1}) s from separately computed g;
 *   - per-sample LCA = d_j l_i * dtheta_j per parameter;
 *   - exact losses = polca_model_losses; loss change = their differences;
 *   - a file-backed series gives bit-identical results to memory;
 *   - save/load round trip, .npy export, corrupt files, bad input.
 */
#include <unistd.h>

#include "container.h"
#include "harness.h"
#include "npy.h"

enum { NSEQ = 3, NCTX = 4, T1 = 4 };

typedef struct fixture {
    polca_context *ctx;
    polca_model *model;
    polca_data *data;
    polca_checkpoints *mem, *file;
    char dir[64], path[128];
    int64_t p, n;
    float *theta[T1];
} fixture;

static polca_context *cpu_ctx(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

/* Checkpoints from a few gradient steps, so the moves look like training. */
static int make_fixture(fixture *f) {
    memset(f, 0, sizeof *f);
    f->ctx = cpu_ctx();
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", 1);
    polca_options_set_int(o, "d_model", 4);
    polca_options_set_int(o, "n_heads", 2);
    polca_options_set_int(o, "d_head", 3);
    polca_options_set_int(o, "d_mlp", 6);
    polca_options_set_int(o, "d_vocab", 5);
    polca_options_set_int(o, "n_ctx", NCTX);
    int ok = polca_model_create_transformer(f->ctx, o, &f->model) == POLCA_OK;
    polca_options_destroy(o);
    ok = ok && polca_model_n_params(f->model, &f->p) == POLCA_OK;
    int32_t tokens[NSEQ * NCTX] = {1, 2, 3, 4, 0, 1, 4, 2, 3, 3, 0, 1};
    ok = ok && polca_data_create_tokens(f->ctx, NSEQ, NCTX, tokens, NULL, &f->data) == POLCA_OK;
    ok = ok && polca_data_n_samples(f->data, &f->n) == POLCA_OK;
    strcpy(f->dir, "/tmp/polca_traj_XXXXXX");
    ok = ok && mkdtemp(f->dir) != NULL;
    snprintf(f->path, sizeof f->path, "%s/series.polca", f->dir);
    ok = ok && polca_checkpoints_create(f->ctx, f->model, NULL, NULL, &f->mem) == POLCA_OK;
    ok = ok && polca_checkpoints_create(f->ctx, f->model, f->path, NULL, &f->file) == POLCA_OK;
    float *grad = malloc(f->p * 4);
    double loss;
    for (int t = 0; ok && t < T1; t++) {
        f->theta[t] = malloc(f->p * 4);
        if (t == 0) {
            ok = polca_model_init(f->model, 3, f->theta[0]) == POLCA_OK;
        } else {
            ok = polca_model_grad(f->model, f->data, f->theta[t - 1], &loss, grad) == POLCA_OK;
            for (int64_t j = 0; j < f->p; j++) f->theta[t][j] = f->theta[t - 1][j] - 0.5f * grad[j];
        }
        ok = ok && polca_checkpoints_append(f->mem, 10 * t, f->theta[t], f->p) == POLCA_OK;
        ok = ok && polca_checkpoints_append(f->file, 10 * t, f->theta[t], f->p) == POLCA_OK;
    }
    free(grad);
    return ok;
}

static void free_fixture(fixture *f) {
    for (int t = 0; t < T1; t++) free(f->theta[t]);
    polca_checkpoints_destroy(f->mem);
    polca_checkpoints_destroy(f->file);
    unlink(f->path);
    rmdir(f->dir);
    polca_data_destroy(f->data);
    polca_model_destroy(f->model);
    polca_context_destroy(f->ctx);
}

static polca_trajectories *run(fixture *f, polca_checkpoints *series, polca_basis *b,
                               polca_basis *lca, const char *curvature, int32_t *st) {
    polca_options *o = NULL;
    polca_trajectories *t = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "curvature", curvature);
    polca_options_set_int(o, "fisher", 1);
    polca_options_set_int(o, "block", 7);
    *st = polca_trajectories_create(f->ctx, f->model, f->data, series, b, lca, o, &t);
    polca_options_destroy(o);
    return t;
}

/* Per-sample gradient of sample i at theta (a one-sample subset's mean). */
static int sample_grad(fixture *f, int64_t i, const float *theta, float *g) {
    polca_data *one = NULL;
    double loss;
    int ok = polca_data_subset_samples(f->data, 1, &i, &one) == POLCA_OK &&
             polca_model_grad(f->model, one, theta, &loss, g) == POLCA_OK;
    polca_data_destroy(one);
    return ok;
}

TEST(complete_basis_first_order_identity_and_baselines) {
    fixture f;
    CHECK(make_fixture(&f));
    polca_basis *b = NULL, *lca = NULL;
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "seed", 9));
    CHECK_OK(polca_basis_create_random(f.ctx, f.p, f.p, o, &b)); /* K = P: complete */
    polca_options_destroy(o);
    CHECK_OK(polca_basis_create_axis(f.ctx, f.p, f.theta[T1 - 1], 5, NULL, &lca));
    int32_t st;
    polca_trajectories *t = run(&f, f.mem, b, lca, "exact", &st);
    CHECK_OK(st);
    const float *first, *lcav, *exact, *change, *fisher, *pol;
    int64_t k, n, tt;
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_FIRST_ORDER, &first, &k, &n, &tt));
    CHECK(k == f.p && n == f.n && tt == T1);
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_POLCA, &pol, &k, &n, &tt));
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_FISHER, &fisher, &k, &n, &tt));
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_LCA, &lcav, &k, &n, &tt));
    CHECK(k == 5);
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_EXACT_LOSS, &exact, &k, &n, &tt));
    CHECK(k == 1 && tt == T1);
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_LOSS_CHANGE, &change, &k, &n, &tt));
    CHECK(k == 1 && tt == T1 - 1);
    const int64_t *steps;
    int64_t t1;
    CHECK_OK(polca_trajectories_steps(t, &steps, &t1));
    CHECK(t1 == T1 && steps[1] == 10 && steps[3] == 30);

    float *g = malloc(f.p * 4), *losses = malloc(f.n * 4);
    int64_t axis[5];
    for (int q = 0; q < 5; q++)
        CHECK_OK(polca_basis_get_info(lca, q, NULL, NULL, &axis[q], NULL, NULL, NULL));
    for (int s = 0; s < T1; s++) {
        CHECK_OK(polca_model_losses(f.model, f.data, f.theta[s], losses));
        for (int64_t i = 0; i < f.n; i++) {
            CHECK(exact[i * T1 + s] == losses[i]);
            if (s + 1 < T1)
                CHECK(change[i * (T1 - 1) + s] == exact[i * T1 + s + 1] - exact[i * T1 + s]);
        }
    }
    for (int s = 0; s + 1 < T1; s++)
        for (int64_t i = 0; i < f.n; i++) {
            CHECK(sample_grad(&f, i, f.theta[s], g));
            double direct = 0, scale = 0, sum1 = 0;
            for (int64_t j = 0; j < f.p; j++) {
                double d = (double)f.theta[s + 1][j] - f.theta[s][j];
                direct += g[j] * d;
                scale += fabs(g[j] * d);
            }
            for (int64_t q = 0; q < f.p; q++)
                sum1 += (double)first[(q * f.n + i) * T1 + s + 1] - first[(q * f.n + i) * T1 + s];
            /* float32 g, s and L over P terms: error ~1e-6 of the absolute sum */
            if (!(fabs(sum1 - direct) <= 1e-5 * scale + 1e-7))
                FAILF("sample %lld interval %d: sum_k first order %.9g, <grad, dtheta> %.9g",
                      (long long)i, s, sum1, direct);
            for (int q = 0; q < 5; q++) {
                int64_t j = axis[q];
                double d = ((double)f.theta[s + 1][j] - f.theta[s][j]) * g[j];
                double got = (double)lcav[(q * f.n + i) * T1 + s + 1] - lcav[(q * f.n + i) * T1 + s];
                CHECK_CLOSE(got, d, 1e-5);
            }
        }
    /* Fisher = g^2 along b_0 at checkpoint 0 */
    float *b0 = malloc(f.p * 4), *g0 = malloc(f.n * 4);
    CHECK_OK(polca_basis_get_vector(b, 0, b0, f.p));
    CHECK_OK(polca_model_dirderivs(f.model, f.data, f.theta[0], 1, b0, NULL, g0, NULL));
    for (int64_t i = 0; i < f.n; i++) CHECK_CLOSE(fisher[i * T1], (double)g0[i] * g0[i], 1e-6);
    free(g), free(losses), free(b0), free(g0);
    polca_trajectories_destroy(t);
    polca_basis_destroy(b);
    polca_basis_destroy(lca);
    free_fixture(&f);
}

TEST(secant_is_the_trapezoid_rule) {
    fixture f;
    CHECK(make_fixture(&f));
    polca_basis *b = NULL;
    CHECK_OK(polca_basis_create_random(f.ctx, f.p, 3, NULL, &b));
    int32_t st;
    polca_trajectories *t = run(&f, f.mem, b, NULL, "secant", &st);
    CHECK_OK(st);
    const float *pol;
    int64_t k, n, tt;
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_POLCA, &pol, &k, &n, &tt));
    float *dirs = malloc(3 * f.p * 4), *ga = malloc(3 * f.n * 4), *gb = malloc(3 * f.n * 4);
    for (int q = 0; q < 3; q++) CHECK_OK(polca_basis_get_vector(b, q, dirs + q * f.p, f.p));
    for (int s = 0; s + 1 < T1; s++) {
        CHECK_OK(polca_model_dirderivs(f.model, f.data, f.theta[s], 3, dirs, NULL, ga, NULL));
        CHECK_OK(polca_model_dirderivs(f.model, f.data, f.theta[s + 1], 3, dirs, NULL, gb, NULL));
        for (int q = 0; q < 3; q++) {
            double sk = 0;
            for (int64_t j = 0; j < f.p; j++)
                sk += (double)dirs[q * f.p + j] * ((double)f.theta[s + 1][j] - f.theta[s][j]);
            for (int64_t i = 0; i < f.n; i++) {
                double want = 0.5 * ((double)ga[q * f.n + i] + gb[q * f.n + i]) * sk;
                double got = (double)pol[(q * f.n + i) * T1 + s + 1] - pol[(q * f.n + i) * T1 + s];
                CHECK_CLOSE(got, want, 1e-6);
            }
        }
    }
    CHECK_STATUS(polca_trajectories_view(t, POLCA_TRAJ_LCA, (const float **)&dirs, &k, &n, &tt),
                 POLCA_ERR_STATE);
    CHECK_ERROR_MENTIONS("lca_basis");
    free(dirs), free(ga), free(gb);
    polca_trajectories_destroy(t);
    polca_basis_destroy(b);
    free_fixture(&f);
}

TEST(file_series_bit_identical_and_round_trips) {
    fixture f;
    CHECK(make_fixture(&f));
    polca_basis *b = NULL, *lca = NULL;
    CHECK_OK(polca_basis_create_random(f.ctx, f.p, 9, NULL, &b));
    CHECK_OK(polca_basis_create_axis(f.ctx, f.p, f.theta[T1 - 1], 4, NULL, &lca));
    int32_t st1, st2;
    polca_trajectories *a = run(&f, f.mem, b, lca, "exact", &st1);
    polca_trajectories *c = run(&f, f.file, b, lca, "exact", &st2);
    CHECK_OK(st1);
    CHECK_OK(st2);
    char path[160], npy[160];
    snprintf(path, sizeof path, "%s/traj.polca", f.dir);
    snprintf(npy, sizeof npy, "%s/polca.npy", f.dir);
    CHECK_OK(polca_trajectories_save(a, path));
    polca_trajectories *l = NULL;
    CHECK_OK(polca_trajectories_load(f.ctx, path, &l));
    for (int32_t kind = POLCA_TRAJ_POLCA; kind <= POLCA_TRAJ_LOSS_CHANGE; kind++) {
        const float *x, *y, *z;
        int64_t k1, n1, t1, k2, n2, t2, k3, n3, t3;
        CHECK_OK(polca_trajectories_view(a, kind, &x, &k1, &n1, &t1));
        CHECK_OK(polca_trajectories_view(c, kind, &y, &k2, &n2, &t2));
        CHECK_OK(polca_trajectories_view(l, kind, &z, &k3, &n3, &t3));
        CHECK(k1 == k2 && n1 == n2 && t1 == t2 && k1 == k3 && n1 == n3 && t1 == t3);
        CHECK(memcmp(x, y, k1 * n1 * t1 * 4) == 0);
        CHECK(memcmp(x, z, k1 * n1 * t1 * 4) == 0);
    }
    CHECK_OK(polca_trajectories_export_npy(a, POLCA_TRAJ_POLCA, npy));
    npy_array arr;
    CHECK(npy_load(npy, &arr));
    const float *x;
    int64_t k, n, tt;
    CHECK_OK(polca_trajectories_view(a, POLCA_TRAJ_POLCA, &x, &k, &n, &tt));
    CHECK(arr.ndim == 3 && arr.shape[0] == k && arr.shape[1] == n && arr.shape[2] == tt);
    CHECK(strcmp(arr.dtype, "<f4") == 0 && memcmp(arr.data, x, k * n * tt * 4) == 0);
    npy_free(&arr);
    /* filters */
    double means[9];
    uint8_t mask[64];
    int64_t count = -1;
    CHECK_OK(polca_trajectories_final_means(a, POLCA_TRAJ_POLCA, means, 9));
    CHECK_OK(polca_trajectories_decreasing(a, POLCA_TRAJ_POLCA, 2, mask, f.n, &count));
    double mean2 = 0;
    int64_t dec = 0;
    for (int64_t i = 0; i < f.n; i++) {
        float last = x[(2 * f.n + i) * tt + tt - 1];
        mean2 += last;
        dec += last < 0;
        CHECK(mask[i] == (last < 0));
    }
    CHECK(count == dec);
    CHECK_CLOSE(means[2], mean2 / f.n, 1e-12);
    /* a truncated file is corrupt, not a crash */
    FILE *fp = fopen(path, "r+b");
    CHECK(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    CHECK(truncate(path, size / 2) == 0);
    polca_trajectories *bad = NULL;
    CHECK_STATUS(polca_trajectories_load(f.ctx, path, &bad), POLCA_ERR_CORRUPT);
    CHECK_ERROR_MENTIONS(path);
    CHECK(bad == NULL);
    unlink(path), unlink(npy);
    polca_trajectories_destroy(a), polca_trajectories_destroy(c), polca_trajectories_destroy(l);
    polca_basis_destroy(b), polca_basis_destroy(lca);
    free_fixture(&f);
}

TEST(bad_input) {
    fixture f, g;
    CHECK(make_fixture(&f) && make_fixture(&g));
    polca_basis *b = NULL, *wrong = NULL;
    CHECK_OK(polca_basis_create_random(f.ctx, f.p, 2, NULL, &b));
    CHECK_OK(polca_basis_create_random(f.ctx, f.p - 1, 2, NULL, &wrong));
    polca_trajectories *t = (polca_trajectories *)(void *)&t, *const sentinel = t;
    CHECK_STATUS(polca_trajectories_create(f.ctx, f.model, g.data, f.mem, b, NULL, NULL, &t),
                 POLCA_ERR_WRONG_CONTEXT);
    CHECK_STATUS(polca_trajectories_create(f.ctx, f.model, f.data, f.mem, wrong, NULL, NULL, &t),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("basis");
    CHECK_STATUS(polca_trajectories_create(f.ctx, f.model, f.data, f.mem, NULL, NULL, NULL, &t),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "curvature", "cubic"));
    CHECK_STATUS(polca_trajectories_create(f.ctx, f.model, f.data, f.mem, b, NULL, o, &t),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("cubic");
    polca_options_destroy(o);
    polca_checkpoints *one = NULL;
    CHECK_OK(polca_checkpoints_create(f.ctx, f.model, NULL, NULL, &one));
    CHECK_OK(polca_checkpoints_append(one, 0, f.theta[0], f.p));
    CHECK_STATUS(polca_trajectories_create(f.ctx, f.model, f.data, one, b, NULL, NULL, &t),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("at least 2");
    CHECK(t == sentinel);
    CHECK_STATUS(polca_trajectories_load(f.ctx, "/nonexistent/t.polca", &t), POLCA_ERR_IO);
    CHECK_STATUS(polca_trajectories_view(NULL, 0, NULL, NULL, NULL, NULL),
                 POLCA_ERR_INVALID_ARGUMENT);
    polca_checkpoints_destroy(one);
    polca_basis_destroy(b), polca_basis_destroy(wrong);
    free_fixture(&f), free_fixture(&g);
}

/* A checkpoint with finite but huge weights (x 1e30: NaN losses; x 1e5:
 * finite losses and g, NaN second derivatives) fails with
 * POLCA_ERR_NOT_FINITE naming that checkpoint, for every curvature mode and
 * with every baseline on; what succeeds has only finite outputs. */
TEST(huge_finite_weights_fail_naming_the_checkpoint) {
    fixture f;
    CHECK(make_fixture(&f));
    polca_basis *b = NULL, *lca = NULL;
    CHECK_OK(polca_basis_create_random(f.ctx, f.p, 4, NULL, &b));
    CHECK_OK(polca_basis_create_axis(f.ctx, f.p, f.theta[T1 - 1], 3, NULL, &lca));
    float *huge = malloc(f.p * 4);
    const double scales[2] = {1e30, 1e5};
    const char *modes[3] = {"exact", "secant", "none"};
    int failed[2][3] = {{0}};
    for (int sc = 0; sc < 2; sc++) {
        polca_checkpoints *s = NULL;
        CHECK_OK(polca_checkpoints_create(f.ctx, f.model, NULL, NULL, &s));
        for (int t = 0; t < T1; t++) {
            for (int64_t j = 0; j < f.p; j++)
                huge[j] = t == 2 ? (float)(f.theta[t][j] * scales[sc]) : f.theta[t][j];
            CHECK_OK(polca_checkpoints_append(s, 10 * t, huge, f.p));
        }
        for (int mode = 0; mode < 3; mode++) {
            int32_t st;
            polca_trajectories *t = run(&f, s, b, lca, modes[mode], &st);
            if (st == POLCA_OK) {
                for (int32_t kind = 0; kind < 6; kind++) {
                    const float *x;
                    int64_t k, n, tt;
                    CHECK_OK(polca_trajectories_view(t, kind, &x, &k, &n, &tt));
                    for (int64_t e = 0; e < k * n * tt; e++)
                        if (!isfinite(x[e])) {
                            FAILF("x%g %s: output %d holds %g", scales[sc], modes[mode], kind, x[e]);
                            break;
                        }
                }
                polca_trajectories_destroy(t);
                continue;
            }
            failed[sc][mode] = 1;
            EXPECT(t == NULL);
            if (st != POLCA_ERR_NOT_FINITE || !strstr(polca_last_error(), "checkpoint 2 (step 20)"))
                FAILF("x%g %s: status %d, '%s'", scales[sc], modes[mode], (int)st,
                      polca_last_error());
        }
        polca_checkpoints_destroy(s);
    }
    /* x1e30 fails in every mode at the loss; x1e5's NaN c fails "exact" */
    CHECK(failed[0][0] && failed[0][1] && failed[0][2] && failed[1][0]);
    free(huge);
    polca_basis_destroy(b), polca_basis_destroy(lca);
    free_fixture(&f);
}

/* A trajectories file written record by record with the container API:
 * dims K=2, K_lca=0, N=3, T1=3; records in the order given, each "S" the
 * steps, else a float32 record of that POLCA_TRAJ_* kind (its values the
 * record's position). Returns the byte offset of record `want` (or 0). */
static uint64_t write_crafted(const char *path, const int *records, int n, int want) {
    enum { K = 2, N = 3, T = 3 };
    unsigned char dims[40] = {0};
    int64_t d[5] = {K, 0, N, T, 0}, steps[T] = {0, 10, 20};
    for (int i = 0; i < 5; i++)
        for (int b = 0; b < 8; b++) dims[8 * i + b] = (unsigned char)((uint64_t)d[i] >> (8 * b));
    polca__ct_field field = {POLCA__FIELD_USER, sizeof dims, dims};
    polca__container *c = NULL;
    int32_t st = polca__ct_create(path, POLCA__FILE_TRAJECTORIES, NULL, &field, 1, POLCA__CT_WHOLE,
                                  NULL, &c);
    for (int r = 0; !st && r < n; r++) {
        float v[K * N * T];
        for (int e = 0; e < K * N * T; e++) v[e] = (float)r;
        if (records[r] < 0)
            st = polca__ct_append(c, POLCA__REC_ARRAY, -1, POLCA__DT_I64, steps, T, 0);
        else
            st = polca__ct_append(c, POLCA__REC_ARRAY, records[r], POLCA__DT_F32, v,
                                  (uint64_t)(records[r] == POLCA_TRAJ_EXACT_LOSS ? N * T : K * N * T),
                                  0);
    }
    if (!st) st = polca__ct_finish(c);
    uint64_t offset = !st && want >= 0 ? polca__ct_record_at(c, want)->offset : 0;
    polca__ct_close(c);
    return st ? 0 : offset;
}

/* Two records of one kind (or two steps records) are corrupt, with the
 * kind and the second record's offset named; before, the last one silently
 * won. */
TEST(duplicate_records_are_corrupt) {
    polca_context *ctx = cpu_ctx();
    char dir[] = "/tmp/polca_trajdup_XXXXXX", path[96], want[96];
    CHECK(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.polca", dir);
    const int ok[] = {-1, POLCA_TRAJ_POLCA, POLCA_TRAJ_FISHER, POLCA_TRAJ_EXACT_LOSS};
    polca_trajectories *t = NULL;
    CHECK(write_crafted(path, ok, 4, 1) > 0);
    CHECK_OK(polca_trajectories_load(ctx, path, &t)); /* the crafting itself is sound */
    const float *x;
    int64_t k, n, tt;
    CHECK_OK(polca_trajectories_view(t, POLCA_TRAJ_FISHER, &x, &k, &n, &tt));
    CHECK(k == 2 && n == 3 && tt == 3 && x[0] == 2.0f);
    polca_trajectories_destroy(t);
    struct {
        int records[5], n, second;
        const char *kind;
    } cases[] = {
        {{-1, POLCA_TRAJ_POLCA, POLCA_TRAJ_POLCA}, 3, 2, "second POLCA_TRAJ_POLCA record"},
        {{POLCA_TRAJ_FISHER, -1, POLCA_TRAJ_POLCA, POLCA_TRAJ_FISHER}, 4, 3,
         "second POLCA_TRAJ_FISHER record"},
        {{-1, POLCA_TRAJ_EXACT_LOSS, POLCA_TRAJ_POLCA, POLCA_TRAJ_EXACT_LOSS}, 4, 3,
         "second POLCA_TRAJ_EXACT_LOSS record"},
        {{-1, POLCA_TRAJ_POLCA, -1}, 3, 2, "second steps record"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t off = write_crafted(path, cases[c].records, cases[c].n, cases[c].second);
        CHECK(off > 0);
        t = (polca_trajectories *)(void *)&t;
        CHECK_STATUS(polca_trajectories_load(ctx, path, &t), POLCA_ERR_CORRUPT);
        CHECK(t == (polca_trajectories *)(void *)&t);
        CHECK_ERROR_MENTIONS(path);
        CHECK_ERROR_MENTIONS(cases[c].kind);
        snprintf(want, sizeof want, "offset %llu", (unsigned long long)off);
        CHECK_ERROR_MENTIONS(want);
    }
    unlink(path);
    rmdir(dir);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(complete_basis_first_order_identity_and_baselines);
    RUN(secant_is_the_trapezoid_rule);
    RUN(file_series_bit_identical_and_round_trips);
    RUN(bad_input);
    RUN(huge_finite_weights_fail_naming_the_checkpoint);
    RUN(duplicate_records_are_corrupt);
    return harness_done();
}
