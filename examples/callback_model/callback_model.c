/*
 * examples/callback_model - a model defined by the host program through
 * callbacks: least-squares linear regression, loss_i = (w . x_i + b - y_i)^2 / 2,
 * with parameters theta = (w[0..D-1], b).
 *
 * The program gives libpolca the two required callbacks (per-sample losses,
 * mean-loss gradient) and an exact HVP callback, but no directional
 * derivative callbacks: libpolca then computes g and c by central finite
 * differences of the losses. It prints the gradient, an HVP and, for two
 * directions, every sample's g and c next to their closed forms
 *   g_i = r_i (x_i . d_w + d_b),   c_i = (x_i . d_w + d_b)^2,   r_i the residual,
 * and exits with status 1 if the finite differences miss the closed forms by
 * more than their documented error.
 *
 *   build/examples/callback_model/callback_model
 */
#include <math.h>
#include <polca/polca.h>
#include <stdio.h>
#include <string.h>

#define D 3       /* features */
#define P (D + 1) /* parameters: w, b */
#define N 6       /* samples */
#define K 2       /* directions */

/* The host's own data set; callbacks receive sample numbers into it. */
typedef struct dataset {
    float x[N][D];
    float y[N];
} dataset;

static double predict(const float *theta, const float *x) {
    double s = theta[D];
    for (int j = 0; j < D; j++) s += (double)theta[j] * x[j];
    return s;
}

static int32_t loss_cb(void *user, const float *theta, int64_t n, const int64_t *samples,
                       float *losses) {
    const dataset *ds = user;
    for (int64_t i = 0; i < n; i++) {
        double r = predict(theta, ds->x[samples[i]]) - ds->y[samples[i]];
        losses[i] = (float)(0.5 * r * r);
    }
    return 0;
}

static int32_t grad_cb(void *user, const float *theta, int64_t n, const int64_t *samples,
                       double *mean_loss, float *grad) {
    const dataset *ds = user;
    double g[P] = {0}, loss = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *x = ds->x[samples[i]];
        double r = predict(theta, x) - ds->y[samples[i]];
        loss += 0.5 * r * r;
        for (int j = 0; j < D; j++) g[j] += r * x[j];
        g[D] += r;
    }
    for (int j = 0; j < P; j++) grad[j] = (float)(g[j] / (double)n);
    *mean_loss = loss / (double)n;
    return 0;
}

/* H = mean_i z_i z_i^T with z_i = (x_i, 1): the loss is quadratic. */
static int32_t hvp_cb(void *user, const float *theta, int64_t n, const int64_t *samples,
                      const float *v, float *hv) {
    const dataset *ds = user;
    (void)theta;
    double h[P] = {0};
    for (int64_t i = 0; i < n; i++) {
        const float *x = ds->x[samples[i]];
        double zv = v[D];
        for (int j = 0; j < D; j++) zv += (double)x[j] * v[j];
        for (int j = 0; j < D; j++) h[j] += zv * x[j];
        h[D] += zv;
    }
    for (int j = 0; j < P; j++) hv[j] = (float)(h[j] / (double)n);
    return 0;
}

static int fail(const char *what, int32_t st) {
    fprintf(stderr, "callback_model: %s: %s: %s\n", what, polca_status_string(st),
            polca_last_error());
    return 1;
}

int main(void) {
    dataset ds;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) ds.x[i][j] = (float)sin(1.0 + i * D + j);
        ds.y[i] = (float)cos(0.5 * i);
    }
    const float theta[P] = {0.3f, -0.2f, 0.5f, 0.1f};
    const float v[P] = {1.0f, 0.0f, -1.0f, 0.5f};
    const float dirs[K][P] = {{1.0f, 0.0f, 0.0f, 0.0f}, {0.2f, -0.4f, 0.1f, 1.0f}};

    polca_options *opt = NULL;
    polca_context *ctx = NULL;
    polca_model *model = NULL;
    polca_data *data = NULL;
    int32_t st;
    if ((st = polca_options_create(&opt)) || (st = polca_options_set_string(opt, "backend", "cpu")) ||
        (st = polca_context_create(opt, &ctx)))
        return fail("context", st);
    polca_options_destroy(opt);
    if ((st = polca_model_create_host(ctx, P, N, NULL, &model)) ||
        (st = polca_model_set_loss_callback(model, loss_cb, &ds)) ||
        (st = polca_model_set_grad_callback(model, grad_cb, &ds)) ||
        (st = polca_model_set_hvp_callback(model, hvp_cb, &ds)))
        return fail("model", st);
    /* all N samples of the host's set, in order */
    if ((st = polca_data_create_indices(ctx, N, N, NULL, &data))) return fail("data", st);

    double mean = 0;
    float grad[P], hv[P], losses[N], g[K * N], c[K * N];
    if ((st = polca_model_grad(model, data, theta, &mean, grad))) return fail("gradient", st);
    if ((st = polca_model_hvp(model, data, theta, v, hv))) return fail("HVP", st);
    if ((st = polca_model_dirderivs(model, data, theta, K, &dirs[0][0], losses, g, c)))
        return fail("directional derivatives", st);

    printf("mean loss %.6f\ngradient  ", mean);
    for (int j = 0; j < P; j++) printf(" %+.6f", grad[j]);
    printf("\nH v       ");
    for (int j = 0; j < P; j++) printf(" %+.6f", hv[j]);
    printf("\n\nper-sample derivatives (finite differences vs closed form):\n");
    double worst_g = 0, worst_c = 0;
    for (int k = 0; k < K; k++) {
        printf("direction %d\n", k);
        for (int i = 0; i < N; i++) {
            double r = predict(theta, ds.x[i]) - ds.y[i];
            double zd = dirs[k][D];
            for (int j = 0; j < D; j++) zd += (double)ds.x[i][j] * dirs[k][j];
            double g_ref = r * zd, c_ref = zd * zd;
            double eg = fabs(g[k * N + i] - g_ref) / (fabs(g_ref) + 1e-3);
            double ec = fabs(c[k * N + i] - c_ref) / (fabs(c_ref) + 1e-3);
            worst_g = eg > worst_g ? eg : worst_g;
            worst_c = ec > worst_c ? ec : worst_c;
            printf("  sample %d: loss %.6f  g %+.6f (exact %+.6f)  c %.6f (exact %.6f)\n", i,
                   losses[i], g[k * N + i], g_ref, c[k * N + i], c_ref);
        }
    }
    /* polca/model.h: rounding ~6e-8/h relative for g (h = 1e-3) and
     * ~6e-8/h^2 for c (h = 1e-2); the loss is quadratic, so truncation is
     * nil. Allow 20x those. */
    printf("\nworst relative error: g %.2e, c %.2e\n", worst_g, worst_c);
    int bad = worst_g > 20 * 6e-5 || worst_c > 20 * 6e-4;
    if (bad) fprintf(stderr, "callback_model: finite differences outside their documented error\n");

    polca_data_destroy(data);
    polca_model_destroy(model);
    polca_context_destroy(ctx);
    return bad;
}
