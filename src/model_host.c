/*
 * src/model_host.c - host-defined models: the host's callbacks, and central
 * finite differences standing in for the derivative callbacks it did not
 * give (polca/model.h documents the formulas, the step and the error order).
 *
 * Every callback writes into buffers owned here, so a failing callback
 * leaves the caller's outputs untouched.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static int32_t callback_failed(const char *which, int32_t rc) {
    return polca__fail(POLCA_ERR_BACKEND,
                       "host model: the %s callback returned %d (nonzero = failure)", which,
                       (int)rc);
}

static int32_t call_loss(const polca__host_model *h, const polca_data *data, const float *theta,
                         float *losses) {
    int32_t rc = h->loss(h->loss_user, theta, data->n_samples, data->indices, losses);
    return rc ? callback_failed("loss", rc) : POLCA_OK;
}

static int32_t call_grad(const polca__host_model *h, const polca_data *data, const float *theta,
                         double *mean_loss, float *grad) {
    int32_t rc = h->grad(h->grad_user, theta, data->n_samples, data->indices, mean_loss, grad);
    return rc ? callback_failed("gradient", rc) : POLCA_OK;
}

int32_t polca__host_losses(const polca__host_model *h, int64_t p, const polca_data *data,
                           const float *theta, float *losses) {
    (void)p;
    return call_loss(h, data, theta, losses);
}

int32_t polca__host_grad(const polca__host_model *h, int64_t p, const polca_data *data,
                         const float *theta, double *mean_loss, float *grad) {
    (void)p;
    double m = 0.0;
    int32_t st = call_grad(h, data, theta, &m, grad);
    if (!st && mean_loss) *mean_loss = m;
    return st;
}

/* rms(x) = ||x||_2 / sqrt(p), in double. */
static double rms(int64_t p, const float *x) {
    double s = 0;
    for (int64_t i = 0; i < p; i++) s += (double)x[i] * (double)x[i];
    return sqrt(s / (double)p);
}

/* The step h along direction d (see polca/model.h); 0 for a zero direction.
 * h d has length rel * max(1, rms theta) whatever the parameter count: the
 * divisor is ||d||_2, not rms(d) (which made the length grow as sqrt(p)). */
static double fd_step(double rel, int64_t p, double theta_rms, const float *d) {
    double d_norm = rms(p, d) * sqrt((double)p);
    if (d_norm == 0.0) return 0.0;
    return rel * (theta_rms > 1.0 ? theta_rms : 1.0) / d_norm;
}

/* out = theta + s * d, rounded to float32. */
static void shifted(int64_t p, const float *theta, double s, const float *d, float *out) {
    for (int64_t i = 0; i < p; i++) out[i] = (float)((double)theta[i] + s * (double)d[i]);
}

int32_t polca__host_hvp(const polca__host_model *h, int64_t p, const polca_data *data,
                        const float *theta, const float *v, float *hv) {
    if (h->hvp) {
        int32_t rc = h->hvp(h->hvp_user, theta, data->n_samples, data->indices, v, hv);
        return rc ? callback_failed("HVP", rc) : POLCA_OK;
    }
    double step = fd_step(h->fd_step, p, rms(p, theta), v);
    if (step == 0.0) {
        memset(hv, 0, (size_t)p * sizeof *hv);
        return POLCA_OK;
    }
    float *buf = polca__alloc((size_t)p * 3 * sizeof(float), "finite-difference HVP buffers");
    if (!buf) return POLCA_ERR_OUT_OF_MEMORY;
    float *th = buf, *gp = buf + p, *gm = buf + 2 * p;
    double m;
    shifted(p, theta, step, v, th);
    int32_t st = call_grad(h, data, th, &m, gp);
    if (!st) {
        shifted(p, theta, -step, v, th);
        st = call_grad(h, data, th, &m, gm);
    }
    if (!st)
        for (int64_t i = 0; i < p; i++)
            hv[i] = (float)(((double)gp[i] - (double)gm[i]) / (2.0 * step));
    free(buf);
    return st;
}

/* Losses at theta + s d and theta - s d into fp[n], fm[n]; th[p] scratch. */
static int32_t losses_pm(const polca__host_model *h, int64_t p, const polca_data *data,
                         const float *theta, double s, const float *d, float *th, float *fp,
                         float *fm) {
    shifted(p, theta, s, d, th);
    int32_t st = call_loss(h, data, th, fp);
    if (st) return st;
    shifted(p, theta, -s, d, th);
    return call_loss(h, data, th, fm);
}

int32_t polca__host_dirderivs(const polca__host_model *h, int64_t p, const polca_data *data,
                              const float *theta, int64_t k, const float *dirs, float *losses,
                              float *g, float *c) {
    int64_t n = data->n_samples;
    const int64_t *idx = data->indices;
    int32_t st = POLCA_OK, rc;
    if (losses && (st = call_loss(h, data, theta, losses))) return st;
    if (h->g) {
        rc = h->g(h->g_user, theta, n, idx, k, dirs, g);
        if (rc) return callback_failed("directional-derivative", rc);
    }
    if (c && h->c) {
        rc = h->c(h->c_user, theta, n, idx, k, dirs, c);
        if (rc) return callback_failed("second-directional-derivative", rc);
    }
    int need_g = !h->g, need_c = c && !h->c;
    if (!need_g && !need_c) return POLCA_OK;

    /* Finite differences, one direction at a time. Buffers: shifted theta
     * [p], base losses [n], plus/minus values [n] each. */
    size_t floats = (size_t)p + 3 * (size_t)n;
    float *buf = polca__alloc(floats * sizeof(float), "finite-difference buffers");
    if (!buf) return POLCA_ERR_OUT_OF_MEMORY;
    float *th = buf, *l0 = buf + p, *fp = l0 + n, *fm = fp + n;
    double theta_rms = rms(p, theta);
    /* c from loss differences (no g callback) needs l(theta). */
    int c_from_losses = need_c && !h->g;
    if (c_from_losses) {
        if (losses)
            memcpy(l0, losses, (size_t)n * sizeof(float));
        else
            st = call_loss(h, data, theta, l0);
    }
    for (int64_t q = 0; q < k && !st; q++) {
        const float *d = dirs + q * p;
        double step = fd_step(h->fd_step, p, theta_rms, d);
        double step2 = fd_step(h->fd_step2, p, theta_rms, d);
        if (step == 0.0) { /* zero direction */
            if (need_g) memset(g + q * n, 0, (size_t)n * sizeof(float));
            if (need_c) memset(c + q * n, 0, (size_t)n * sizeof(float));
            continue;
        }
        int shared = c_from_losses && step2 == step;
        if (need_g) { /* g from losses at theta +- step d */
            if ((st = losses_pm(h, p, data, theta, step, d, th, fp, fm))) break;
            for (int64_t i = 0; i < n; i++) {
                double lp = fp[i], lm = fm[i];
                g[q * n + i] = (float)((lp - lm) / (2.0 * step));
                if (shared) c[q * n + i] = (float)((lp - 2.0 * (double)l0[i] + lm) / (step * step));
            }
        }
        if (c_from_losses && !(shared && need_g)) { /* c from losses at theta +- step2 d */
            if ((st = losses_pm(h, p, data, theta, step2, d, th, fp, fm))) break;
            for (int64_t i = 0; i < n; i++)
                c[q * n + i] =
                    (float)(((double)fp[i] - 2.0 * (double)l0[i] + (double)fm[i]) / (step2 * step2));
        } else if (need_c && !c_from_losses) { /* c from the g callback at theta +- step d */
            shifted(p, theta, step, d, th);
            rc = h->g(h->g_user, th, n, idx, 1, d, fp);
            if (!rc) {
                shifted(p, theta, -step, d, th);
                rc = h->g(h->g_user, th, n, idx, 1, d, fm);
            }
            if (rc) {
                st = callback_failed("directional-derivative", rc);
                break;
            }
            for (int64_t i = 0; i < n; i++)
                c[q * n + i] = (float)(((double)fp[i] - (double)fm[i]) / (2.0 * step));
        }
    }
    free(buf);
    return st;
}
