/*
 * bench/trajectories.c - seconds per checkpoint interval of
 * polca_trajectories_create at the step-2 reference size (2 layers,
 * d_model 128, 4 heads, d_mlp 512, vocab 14, n_ctx 12, 1250 sequences, all
 * positions but the last scored), for K = 16 and K = 50 basis directions,
 * split into primal work (per-sample losses: one forward pass) and tangent
 * work (the rest), with GFLOP/s against OpenBLAS sgemm measured in the same
 * run. The decomposition should cost like a few forward passes per
 * direction, not like N per-sample backward passes.
 *
 * FLOP count: matrix products only. F = 2 * tokens * (matrix parameters
 * touched per token) for one forward pass; the tangent work of one
 * direction with curvature is ~4F (first- and second-order tangents of
 * every product: W'x + Wx', Wx'' + 2W'x'); GFLOP/s = (F + 4 K F) / time.
 */
#include <cblas.h>
#include <polca/polca.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int ok(int32_t st, const char *what) {
    if (st) fprintf(stderr, "bench/trajectories: %s: %s\n", what, polca_last_error());
    return st == 0;
}

static double sgemm_gflops(void) {
    const int n = 1024;
    float *a = malloc(4L * n * n), *b = malloc(4L * n * n), *c = malloc(4L * n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t0 = now();
    for (int r = 0; r < 5; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double g = 5 * 2.0 * n * n * n / (now() - t0) / 1e9;
    free(a), free(b), free(c);
    return g;
}

int main(void) {
    enum { NSEQ = 1250, NCTX = 12, V = 14, D = 128, L = 2, DM = 512 };
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_model *m = NULL;
    polca_data *data = NULL;
    polca_checkpoints *series = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    if (!ok(polca_context_create(o, &ctx), "context")) return 1;
    polca_options_destroy(o);
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", L);
    polca_options_set_int(o, "d_model", D);
    polca_options_set_int(o, "n_heads", 4);
    polca_options_set_int(o, "d_mlp", DM);
    polca_options_set_int(o, "d_vocab", V);
    polca_options_set_int(o, "n_ctx", NCTX);
    if (!ok(polca_model_create_transformer(ctx, o, &m), "model")) return 1;
    polca_options_destroy(o);
    int32_t *tokens = malloc(sizeof(int32_t) * NSEQ * NCTX);
    for (int i = 0; i < NSEQ * NCTX; i++) tokens[i] = (i * 7 + i / 13) % V;
    if (!ok(polca_data_create_tokens(ctx, NSEQ, NCTX, tokens, NULL, &data), "data")) return 1;
    int64_t p = 0, n = 0;
    polca_model_n_params(m, &p);
    polca_data_n_samples(data, &n);
    float *theta = malloc(sizeof(float) * p), *losses = malloc(sizeof(float) * n);
    polca_model_init(m, 1, theta);
    if (!ok(polca_checkpoints_create(ctx, m, NULL, NULL, &series), "series")) return 1;
    for (int t = 0; t < 2; t++) {
        for (int64_t j = 0; j < p; j++) theta[j] += 1e-3f * (float)((j * 31 + t) % 17 - 8);
        polca_checkpoints_append(series, 100 * t, theta, p);
    }
    /* matrix parameters per token: embeddings are lookups, biases and norms
     * are not products; attention's T x T products add 2 * 2 * T * D. */
    double per_token = L * (4.0 * D * D + 2.0 * D * DM + 2.0 * NCTX * D) + (double)D * V;
    double F = 2.0 * per_token * NSEQ * NCTX;
    double peak = sgemm_gflops();
    double t0 = now();
    polca_model_losses(m, data, theta, losses);
    double primal = now() - t0;
    printf("reference size: P = %lld, N = %lld samples, 1250 x 12 tokens; OpenBLAS sgemm %.1f "
           "GFLOP/s (ceiling, this run)\n",
           (long long)p, (long long)n, peak);
    printf("forward (primal) %.3f s = %.1f GFLOP/s (%.0f%% of sgemm)\n", primal,
           F / primal / 1e9, 100 * F / primal / 1e9 / peak);
    const int ks[2] = {16, 50};
    for (int q = 0; q < 2; q++) {
        polca_basis *b = NULL;
        polca_trajectories *tr = NULL;
        polca_options *to = NULL;
        polca_options_create(&to);
        polca_options_set_int(to, "block", ks[q]);
        if (!ok(polca_basis_create_random(ctx, p, ks[q], NULL, &b), "basis")) return 1;
        t0 = now();
        if (!ok(polca_trajectories_create(ctx, m, data, series, b, NULL, to, &tr), "trajectories"))
            return 1;
        /* two checkpoints = one interval: each is evaluated once */
        double per_ckpt = (now() - t0) / 2.0;
        double tangent = per_ckpt - primal;
        double flops = F + 4.0 * ks[q] * F;
        printf("K = %2d: %.2f s per checkpoint interval (primal %.2f s, tangent %.2f s = %.1f "
               "forward passes per direction); %.1f GFLOP/s (%.0f%% of sgemm); %.1fx cheaper "
               "than K separate second-order passes\n",
               ks[q], per_ckpt, primal, tangent, tangent / primal / ks[q], flops / per_ckpt / 1e9,
               100 * flops / per_ckpt / 1e9 / peak, ks[q] * (primal + 4 * primal) / per_ckpt);
        polca_trajectories_destroy(tr);
        polca_basis_destroy(b);
        polca_options_destroy(to);
    }
    polca_checkpoints_destroy(series);
    polca_data_destroy(data);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    free(tokens), free(theta), free(losses);
    return 0;
}
