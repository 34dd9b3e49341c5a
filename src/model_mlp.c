/*
 * src/model_mlp.c - the built-in MLP softmax classifier, computed on the host
 * in double precision, one sample at a time (it is for small tests and
 * examples; the transformer is the fast path).
 *
 * Network, layers l = 0..L-1 (L = cfg->n_layers), widths w_0..w_L:
 *   a_0 = x,  z_l = a_l W_l + b_l,  a_{l+1} = act(z_l) for l < L-1,
 *   logits = z_{L-1},  loss = logsumexp(logits) - logits[label].
 * W_l is [w_l][w_{l+1}] row-major at its layout offset, b_l [w_{l+1}] after it.
 *
 * Derivatives, along a direction V = (dW_l, db_l):
 *   forward mode, first order   dz_l = da_l W_l + a_l dW_l + db_l,
 *                               da_{l+1} = act'(z_l) dz_l
 *   second order                ddz_l = dda_l W_l + 2 da_l dW_l,
 *                               dda_{l+1} = act''(z_l) dz_l^2 + act'(z_l) ddz_l
 *   loss                        g = p.dz - dz[y],
 *                               c = p.ddz - ddz[y] + p.dz^2 - (p.dz)^2
 *   reverse mode (gradient)     delta_{L-1} = p - e_y, dW_l = a_l^T delta_l,
 *                               delta_{l-1} = (delta_l W_l^T) * act'(z_{l-1})
 *   forward-over-reverse (HVP)  the reverse sweep differentiated along V:
 *                               ddelta_{L-1} = p * dz - p (p.dz),
 *                               HW_l = da_l^T delta_l + a_l^T ddelta_l,
 *                               ddelta_{l-1} = (ddelta_l W_l^T + delta_l dW_l^T) * act'(z)
 *                                              + (delta_l W_l^T) * act''(z) dz
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* ---- activations ---- */

static void act_eval(int32_t act, double z, double *f, double *f1, double *f2) {
    switch (act) {
    case POLCA__MLP_RELU:
        *f = z > 0 ? z : 0;
        *f1 = z > 0 ? 1 : 0;
        *f2 = 0;
        break;
    case POLCA__MLP_GELU: {
        double phi = exp(-0.5 * z * z) * 0.39894228040143267794; /* 1/sqrt(2 pi) */
        double cdf = 0.5 * erfc(-z * 0.70710678118654752440);
        *f = z * cdf;
        *f1 = cdf + z * phi;
        *f2 = phi * (2.0 - z * z);
        break;
    }
    default: { /* tanh */
        double t = tanh(z);
        *f = t;
        *f1 = 1.0 - t * t;
        *f2 = -2.0 * t * (1.0 - t * t);
    }
    }
}

/* ---- workspace: per-layer vectors of one sample ---- */

typedef struct mlp_ws {
    int32_t L;
    const int64_t *w;   /* widths [L + 1] */
    int64_t *off_w;     /* [L] offset of W_l in theta */
    int64_t *off_b;     /* [L] offset of b_l */
    int64_t *at;        /* [L + 1] offset of layer l's vectors in the arrays below */
    double *a, *z;      /* a_l (at[l], width w_l), z_l (at[l+1], width w_{l+1}) */
    double *f1, *f2;    /* act'(z_l), act''(z_l) at at[l+1] */
    double *da, *dz;    /* first-order tangents */
    double *dda, *ddz;  /* second-order tangents */
    double *delta, *ddelta, *back, *dback; /* reverse sweep, width max_w */
    double *p;          /* softmax [w_L] */
    double loss;
} mlp_ws;

static void ws_free(mlp_ws *ws) {
    free(ws->off_w);
    free(ws->a);
    memset(ws, 0, sizeof *ws);
}

static int32_t ws_init(mlp_ws *ws, const polca__mlp_config *cfg) {
    memset(ws, 0, sizeof *ws);
    int32_t L = cfg->n_layers;
    ws->L = L;
    ws->w = cfg->widths;
    int64_t total = 0, max_w = 0;
    for (int32_t l = 0; l <= L; l++) {
        total += cfg->widths[l];
        if (cfg->widths[l] > max_w) max_w = cfg->widths[l];
    }
    ws->off_w = polca__alloc((size_t)(3 * L + 1) * sizeof(int64_t), "MLP offsets");
    /* 8 arrays of `total` doubles, 4 of max_w, p of w_L */
    ws->a = polca__calloc((size_t)(8 * total + 4 * max_w + cfg->widths[L]), sizeof(double),
                          "MLP workspace");
    if (!ws->off_w || !ws->a) {
        ws_free(ws);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    ws->off_b = ws->off_w + L;
    ws->at = ws->off_b + L;
    int64_t off = 0, at = 0;
    for (int32_t l = 0; l < L; l++) {
        ws->off_w[l] = off;
        off += cfg->widths[l] * cfg->widths[l + 1];
        ws->off_b[l] = off;
        off += cfg->widths[l + 1];
    }
    for (int32_t l = 0; l <= L; l++) {
        ws->at[l] = at;
        at += cfg->widths[l];
    }
    ws->z = ws->a + total;
    ws->f1 = ws->z + total;
    ws->f2 = ws->f1 + total;
    ws->da = ws->f2 + total;
    ws->dz = ws->da + total;
    ws->dda = ws->dz + total;
    ws->ddz = ws->dda + total;
    ws->delta = ws->ddz + total;
    ws->ddelta = ws->delta + max_w;
    ws->back = ws->ddelta + max_w;
    ws->dback = ws->back + max_w;
    ws->p = ws->dback + max_w;
    return POLCA_OK;
}

/* z_l lives at at[l+1] so that z_l and a_{l+1} share an index. */
#define ZL(ws, arr, l) ((arr) + (ws)->at[(l) + 1])
#define AL(ws, arr, l) ((arr) + (ws)->at[l])

/* Primal pass of one sample: fills a, z, f1, f2, p and loss. */
static void forward(mlp_ws *ws, int32_t act, const float *theta, const float *x, int32_t y) {
    const int64_t *w = ws->w;
    double *a0 = AL(ws, ws->a, 0);
    for (int64_t i = 0; i < w[0]; i++) a0[i] = x[i];
    for (int32_t l = 0; l < ws->L; l++) {
        const float *W = theta + ws->off_w[l], *b = theta + ws->off_b[l];
        const double *a = AL(ws, ws->a, l);
        double *z = ZL(ws, ws->z, l);
        int64_t n_in = w[l], n_out = w[l + 1];
        for (int64_t j = 0; j < n_out; j++) z[j] = b[j];
        for (int64_t i = 0; i < n_in; i++) {
            double ai = a[i];
            if (ai == 0.0) continue;
            const float *Wi = W + i * n_out;
            for (int64_t j = 0; j < n_out; j++) z[j] += ai * Wi[j];
        }
        if (l < ws->L - 1) {
            double *an = AL(ws, ws->a, l + 1);
            double *f1 = ZL(ws, ws->f1, l), *f2 = ZL(ws, ws->f2, l);
            for (int64_t j = 0; j < n_out; j++) act_eval(act, z[j], &an[j], &f1[j], &f2[j]);
        }
    }
    const double *logits = ZL(ws, ws->z, ws->L - 1);
    int64_t C = w[ws->L];
    double m = logits[0];
    for (int64_t j = 1; j < C; j++)
        if (logits[j] > m) m = logits[j];
    double s = 0;
    for (int64_t j = 0; j < C; j++) s += exp(logits[j] - m);
    double lse = m + log(s);
    for (int64_t j = 0; j < C; j++) ws->p[j] = exp(logits[j] - lse);
    ws->loss = lse - logits[y];
}

/* Tangent pass along direction d (theta layout): fills da, dz and, when
 * second != 0, dda, ddz. */
static void tangent(mlp_ws *ws, const float *theta, const float *d, int second) {
    const int64_t *w = ws->w;
    double *da0 = AL(ws, ws->da, 0), *dda0 = AL(ws, ws->dda, 0);
    for (int64_t i = 0; i < w[0]; i++) da0[i] = dda0[i] = 0.0;
    for (int32_t l = 0; l < ws->L; l++) {
        const float *W = theta + ws->off_w[l];
        const float *dW = d + ws->off_w[l], *db = d + ws->off_b[l];
        const double *a = AL(ws, ws->a, l), *da = AL(ws, ws->da, l), *dda = AL(ws, ws->dda, l);
        double *dz = ZL(ws, ws->dz, l), *ddz = ZL(ws, ws->ddz, l);
        int64_t n_in = w[l], n_out = w[l + 1];
        for (int64_t j = 0; j < n_out; j++) {
            dz[j] = db[j];
            ddz[j] = 0.0;
        }
        for (int64_t i = 0; i < n_in; i++) {
            const float *Wi = W + i * n_out, *dWi = dW + i * n_out;
            double ai = a[i], dai = da[i];
            for (int64_t j = 0; j < n_out; j++) dz[j] += dai * Wi[j] + ai * dWi[j];
            if (second) {
                double ddai = dda[i];
                for (int64_t j = 0; j < n_out; j++) ddz[j] += ddai * Wi[j] + 2.0 * dai * dWi[j];
            }
        }
        if (l < ws->L - 1) {
            const double *f1 = ZL(ws, ws->f1, l), *f2 = ZL(ws, ws->f2, l);
            double *dan = AL(ws, ws->da, l + 1), *ddan = AL(ws, ws->dda, l + 1);
            for (int64_t j = 0; j < n_out; j++) {
                dan[j] = f1[j] * dz[j];
                if (second) ddan[j] = f2[j] * dz[j] * dz[j] + f1[j] * ddz[j];
            }
        }
    }
}

/* Reverse sweep of one sample. Adds the loss gradient into gacc[P]; with
 * v non-NULL (after tangent(v)), adds the Hessian-vector product into hacc[P]
 * instead. */
static void backward(mlp_ws *ws, const float *theta, int32_t y, const float *v, double *gacc,
                     double *hacc) {
    const int64_t *w = ws->w;
    int32_t L = ws->L;
    int64_t C = w[L];
    double *delta = ws->delta, *ddelta = ws->ddelta;
    const double *dzL = ZL(ws, ws->dz, L - 1);
    double pdz = 0;
    if (v)
        for (int64_t j = 0; j < C; j++) pdz += ws->p[j] * dzL[j];
    for (int64_t j = 0; j < C; j++) {
        delta[j] = ws->p[j] - (j == y ? 1.0 : 0.0);
        if (v) ddelta[j] = ws->p[j] * (dzL[j] - pdz);
    }
    for (int32_t l = L - 1; l >= 0; l--) {
        int64_t n_in = w[l], n_out = w[l + 1];
        const float *W = theta + ws->off_w[l];
        const double *a = AL(ws, ws->a, l), *da = AL(ws, ws->da, l);
        if (!v) {
            double *gW = gacc + ws->off_w[l], *gb = gacc + ws->off_b[l];
            for (int64_t i = 0; i < n_in; i++)
                for (int64_t j = 0; j < n_out; j++) gW[i * n_out + j] += a[i] * delta[j];
            for (int64_t j = 0; j < n_out; j++) gb[j] += delta[j];
        } else {
            double *hW = hacc + ws->off_w[l], *hb = hacc + ws->off_b[l];
            for (int64_t i = 0; i < n_in; i++)
                for (int64_t j = 0; j < n_out; j++)
                    hW[i * n_out + j] += da[i] * delta[j] + a[i] * ddelta[j];
            for (int64_t j = 0; j < n_out; j++) hb[j] += ddelta[j];
        }
        if (l == 0) break;
        const float *dW = v ? v + ws->off_w[l] : NULL;
        const double *f1 = ZL(ws, ws->f1, l - 1), *f2 = ZL(ws, ws->f2, l - 1);
        const double *dz = ZL(ws, ws->dz, l - 1);
        for (int64_t i = 0; i < n_in; i++) {
            const float *Wi = W + i * n_out;
            double s = 0, ds = 0;
            for (int64_t j = 0; j < n_out; j++) s += Wi[j] * delta[j];
            if (v)
                for (int64_t j = 0; j < n_out; j++)
                    ds += Wi[j] * ddelta[j] + dW[i * n_out + j] * delta[j];
            ws->back[i] = s;
            ws->dback[i] = ds;
        }
        for (int64_t i = 0; i < n_in; i++) {
            delta[i] = ws->back[i] * f1[i];
            if (v) ddelta[i] = ws->dback[i] * f1[i] + ws->back[i] * f2[i] * dz[i];
        }
    }
}

/* ---- entry points ---- */

static int64_t n_params(const polca__mlp_config *cfg) {
    int64_t p = 0;
    for (int32_t l = 0; l < cfg->n_layers; l++)
        p += cfg->widths[l] * cfg->widths[l + 1] + cfg->widths[l + 1];
    return p;
}

int32_t polca__mlp_losses(const polca__mlp_config *cfg, const polca_data *data,
                          const float *theta, float *losses) {
    mlp_ws ws;
    int32_t st = ws_init(&ws, cfg);
    if (st) return st;
    for (int64_t i = 0; i < data->n_samples; i++) {
        forward(&ws, cfg->act, theta, data->features + i * data->width, data->labels[i]);
        losses[i] = (float)ws.loss;
    }
    ws_free(&ws);
    return POLCA_OK;
}

/* Shared by grad and hvp: accumulates per-sample sweeps into a double [P]
 * vector, then writes its mean as float. */
static int32_t mean_sweep(const polca__mlp_config *cfg, const polca_data *data,
                          const float *theta, const float *v, double *mean_loss, float *out) {
    int64_t P = n_params(cfg);
    mlp_ws ws;
    int32_t st = ws_init(&ws, cfg);
    if (st) return st;
    double *acc = polca__calloc((size_t)P, sizeof(double), "MLP accumulator");
    if (!acc) {
        ws_free(&ws);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    double loss_sum = 0;
    for (int64_t i = 0; i < data->n_samples; i++) {
        int32_t y = data->labels[i];
        forward(&ws, cfg->act, theta, data->features + i * data->width, y);
        loss_sum += ws.loss;
        if (v) tangent(&ws, theta, v, 0);
        backward(&ws, theta, y, v, acc, acc);
    }
    double inv = 1.0 / (double)data->n_samples;
    for (int64_t j = 0; j < P; j++) out[j] = (float)(acc[j] * inv);
    if (mean_loss) *mean_loss = loss_sum * inv;
    free(acc);
    ws_free(&ws);
    return POLCA_OK;
}

int32_t polca__mlp_grad(const polca__mlp_config *cfg, const polca_data *data, const float *theta,
                        double *mean_loss, float *grad) {
    return mean_sweep(cfg, data, theta, NULL, mean_loss, grad);
}

int32_t polca__mlp_hvp(const polca__mlp_config *cfg, const polca_data *data, const float *theta,
                       const float *v, float *hv) {
    return mean_sweep(cfg, data, theta, v, NULL, hv);
}

int32_t polca__mlp_dirderivs(const polca__mlp_config *cfg, const polca_data *data,
                             const float *theta, int64_t k, const float *dirs, float *losses,
                             float *g, float *c) {
    int64_t P = n_params(cfg), N = data->n_samples, C = cfg->widths[cfg->n_layers];
    mlp_ws ws;
    int32_t st = ws_init(&ws, cfg);
    if (st) return st;
    for (int64_t i = 0; i < N; i++) {
        int32_t y = data->labels[i];
        forward(&ws, cfg->act, theta, data->features + i * data->width, y);
        if (losses) losses[i] = (float)ws.loss;
        for (int64_t q = 0; q < k; q++) { /* one primal pass, k tangent passes */
            tangent(&ws, theta, dirs + q * P, c != NULL);
            const double *dz = ZL(&ws, ws.dz, ws.L - 1), *ddz = ZL(&ws, ws.ddz, ws.L - 1);
            double pdz = 0, pddz = 0, pdz2 = 0;
            for (int64_t j = 0; j < C; j++) {
                pdz += ws.p[j] * dz[j];
                pddz += ws.p[j] * ddz[j];
                pdz2 += ws.p[j] * dz[j] * dz[j];
            }
            g[q * N + i] = (float)(pdz - dz[y]);
            if (c) c[q * N + i] = (float)(pddz - ddz[y] + pdz2 - pdz * pdz);
        }
    }
    ws_free(&ws);
    return POLCA_OK;
}

/* splitmix64: a small, well-mixed generator with a fixed definition, so the
 * same seed gives the same parameters everywhere. */
static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int32_t polca__mlp_init(const polca__mlp_config *cfg, const polca__layout *layout, uint64_t seed,
                        float *theta) {
    uint64_t s = seed;
    for (int64_t t = 0; t < layout->n_tensors; t++) {
        const polca__tensor_info *ti = &layout->tensors[t];
        int64_t fan_in = cfg->widths[t / 2]; /* layers.<l>.W then layers.<l>.b */
        double bound = 1.0 / sqrt((double)fan_in);
        for (int64_t j = 0; j < ti->count; j++) {
            double u = (double)(splitmix64(&s) >> 11) * 0x1.0p-53; /* [0, 1) */
            theta[ti->offset + j] = (float)((2.0 * u - 1.0) * bound);
        }
    }
    return POLCA_OK;
}
