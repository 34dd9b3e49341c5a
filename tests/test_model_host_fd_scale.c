/*
 * tests/test_model_host_fd_scale.c - the finite-difference step of host
 * models at realistic sizes. A host model wraps the built-in MLP (public API
 * only) with about 1.2e5 parameters and gives only the loss and gradient
 * callbacks (and, in a second model, the g callback); its finite-difference
 * HVP, g and c are compared with the MLP's exact forward-mode ones.
 *
 * The step's length in parameter space must not grow with the parameter
 * count: with the former rule h = s * max(1, rms theta) / rms(d) the
 * perturbation h d had length s * max(1, rms theta) * sqrt(P), about 3.4
 * here for fd_step2 = 1e-2, and c from losses was off by tens of percent.
 */
#include "harness.h"

#define NF 784
#define NC 10
#define HIDDEN "160"
#define NTOT 40
#define NIDX 8
#define K 2

static const int64_t IDX[NIDX] = {3, 1, 4, 15, 9, 26, 35, 8};

typedef struct wrap {
    polca_model *mlp;
    polca_data *rows;
} wrap;

static int32_t cb_loss(void *user, const float *theta, int64_t n, const int64_t *samples,
                       float *losses) {
    wrap *w = user;
    polca_data *d = NULL;
    int32_t st = polca_data_subset_sequences(w->rows, n, samples, &d);
    if (!st) st = polca_model_losses(w->mlp, d, theta, losses);
    polca_data_destroy(d);
    return st;
}

static int32_t cb_grad(void *user, const float *theta, int64_t n, const int64_t *samples,
                       double *mean, float *grad) {
    wrap *w = user;
    polca_data *d = NULL;
    int32_t st = polca_data_subset_sequences(w->rows, n, samples, &d);
    if (!st) st = polca_model_grad(w->mlp, d, theta, mean, grad);
    polca_data_destroy(d);
    return st;
}

static int32_t cb_g(void *user, const float *theta, int64_t n, const int64_t *samples, int64_t k,
                    const float *dirs, float *g) {
    wrap *w = user;
    polca_data *d = NULL;
    int32_t st = polca_data_subset_sequences(w->rows, n, samples, &d);
    if (!st) st = polca_model_dirderivs(w->mlp, d, theta, k, dirs, NULL, g, NULL);
    polca_data_destroy(d);
    return st;
}

static void normalize(float *d, int64_t p) {
    double nrm = 0;
    for (int64_t j = 0; j < p; j++) nrm += (double)d[j] * d[j];
    nrm = sqrt(nrm);
    for (int64_t j = 0; j < p; j++) d[j] = (float)(d[j] / nrm);
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

TEST(host_fd_step_does_not_grow_with_parameter_count) {
    polca_context *ctx = cpu_context();
    CHECK(ctx != NULL);
    wrap w = {0};
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_int(o, "n_features", NF);
    polca_options_set_int(o, "n_classes", NC);
    polca_options_set_string(o, "hidden", HIDDEN);
    CHECK_OK(polca_model_create_mlp(ctx, o, &w.mlp));
    polca_options_destroy(o);
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(w.mlp, &P));
    CHECK(P >= 100000);

    static float X[NTOT * NF];
    int32_t y[NTOT];
    unsigned long long s = 5;
    for (int i = 0; i < NTOT * NF; i++) X[i] = harness_uniform(&s);
    for (int i = 0; i < NTOT; i++) y[i] = (i * 7) % NC;
    polca_data *idx = NULL, *sub = NULL;
    CHECK_OK(polca_data_create_features(ctx, NTOT, NF, X, y, &w.rows));
    CHECK_OK(polca_data_create_indices(ctx, NTOT, NIDX, IDX, &idx));
    CHECK_OK(polca_data_subset_sequences(w.rows, NIDX, IDX, &sub));

    float *theta = malloc((size_t)P * sizeof(float));
    float *v = malloc((size_t)P * sizeof(float));
    float *dirs = malloc((size_t)(K * P) * sizeof(float));
    float *hv_exact = malloc((size_t)P * sizeof(float));
    float *hv = malloc((size_t)P * sizeof(float));
    CHECK(theta && v && dirs && hv_exact && hv);
    CHECK_OK(polca_model_init(w.mlp, 3, theta));
    /* POLCA's directions are the top Hessian eigenvectors, unit length:
     * approximate the top K by power iteration with deflation (exact MLP
     * HVPs), and take v as a random unit vector. */
    s = 11;
    for (int64_t q = 0; q < K + 1; q++) {
        float *d = q < K ? dirs + q * P : v;
        for (int64_t j = 0; j < P; j++) d[j] = harness_uniform(&s);
        for (int it = 0; it < (q < K ? 30 : 0); it++) {
            CHECK_OK(polca_model_hvp(w.mlp, sub, theta, d, hv));
            for (int64_t r = 0; r < q; r++) { /* deflate earlier directions */
                double dot = 0;
                for (int64_t j = 0; j < P; j++) dot += (double)hv[j] * dirs[r * P + j];
                for (int64_t j = 0; j < P; j++) hv[j] -= (float)(dot * dirs[r * P + j]);
            }
            memcpy(d, hv, (size_t)P * sizeof(float));
            normalize(d, P);
        }
        normalize(d, P);
    }

    float g_exact[K * NIDX], c_exact[K * NIDX], g[K * NIDX], c[K * NIDX], g2[K * NIDX],
        c2[K * NIDX];
    CHECK_OK(polca_model_dirderivs(w.mlp, sub, theta, K, dirs, NULL, g_exact, c_exact));
    CHECK_OK(polca_model_hvp(w.mlp, sub, theta, v, hv_exact));

    /* Loss and gradient callbacks only: HVP, g and c all by differences. */
    polca_model *host = NULL, *host_g = NULL;
    CHECK_OK(polca_model_create_host(ctx, P, NTOT, NULL, &host));
    CHECK_OK(polca_model_set_loss_callback(host, cb_loss, &w));
    CHECK_OK(polca_model_set_grad_callback(host, cb_grad, &w));
    CHECK_OK(polca_model_dirderivs(host, idx, theta, K, dirs, NULL, g, c));
    CHECK_OK(polca_model_hvp(host, idx, theta, v, hv));
    /* With the g callback too: c from differences of g. */
    CHECK_OK(polca_model_create_host(ctx, P, NTOT, NULL, &host_g));
    CHECK_OK(polca_model_set_loss_callback(host_g, cb_loss, &w));
    CHECK_OK(polca_model_set_grad_callback(host_g, cb_grad, &w));
    CHECK_OK(polca_model_set_dirderiv_callback(host_g, cb_g, &w));
    CHECK_OK(polca_model_dirderivs(host_g, idx, theta, K, dirs, NULL, g2, c2));

    double e_hv = rel_error_f(hv, hv_exact, (size_t)P);
    double e_g = rel_error_f(g, g_exact, K * NIDX);
    double e_c = rel_error_f(c, c_exact, K * NIDX);
    double e_cg = rel_error_f(c2, c_exact, K * NIDX);
    if (getenv("POLCA_TEST_VERBOSE"))
        printf("  P = %lld: rel. errors HVP %.2e  g %.2e  c(losses) %.2e  c(g) %.2e\n",
               (long long)P, e_hv, e_g, e_c, e_cg);
    /* Bounds as for the small MLP in tests/test_model_host.c (polca/model.h's
     * truncation + rounding estimates with room for |f| > |result|). */
    if (!(e_hv < 1e-3)) FAILF("HVP rel. error %.3g at P = %lld", e_hv, (long long)P);
    if (!(e_g < 1e-3)) FAILF("g rel. error %.3g at P = %lld", e_g, (long long)P);
    if (!(e_c < 1e-2)) FAILF("c (loss differences) rel. error %.3g at P = %lld", e_c, (long long)P);
    if (!(e_cg < 1e-3)) FAILF("c (g differences) rel. error %.3g at P = %lld", e_cg, (long long)P);

    polca_model_destroy(host);
    polca_model_destroy(host_g);
    free(theta);
    free(v);
    free(dirs);
    free(hv_exact);
    free(hv);
    polca_data_destroy(idx);
    polca_data_destroy(sub);
    polca_data_destroy(w.rows);
    polca_model_destroy(w.mlp);
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(host_fd_step_does_not_grow_with_parameter_count);
    return harness_done();
}
