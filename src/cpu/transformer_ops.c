/*
 * src/cpu/transformer_ops.c - the non-GEMM ops of the transformer, each with
 * its forward-mode derivatives (first and second order) and its reverse-mode
 * derivative (optionally differentiated once more along a tangent, for
 * forward-over-reverse Hessian-vector products).
 *
 * Notation: x' and x'' are the first and second derivatives along the
 * direction (t1, t2 in code: x1, x2); dx is an adjoint and dx1 its tangent.
 * Parameters enter linearly, so parameter tangents have no second order.
 */
#include <math.h>
#include <string.h>

#include "fast_exp.h"
#include "transformer_cpu.h"

TF_VECTORIZE_FILE

/* Helpers must inline into the vectorized (and cloned) loops. */
#define TF_INLINE static inline __attribute__((always_inline))

/* ---- vectorizable elementary functions (float, branch-free) ---- */

/* e^x for the activations: tf_expf (fast_exp.h) on x clamped to
 * [-87, 88], so +Inf and huge x give e^88, -Inf and very negative x e^-87
 * (never Inf or a subnormal: the activations' formulas divide by and square
 * it), and NaN gives NaN. Within [-87, 88] the values are tf_expf's, bit for
 * bit (its two power-of-two scalings are exact for normal results). */
TF_INLINE float tf_exp(float x) {
    float xc = x < -87.0f ? -87.0f : x;
    xc = xc > 88.0f ? 88.0f : xc;
    return x == x ? tf_expf(xc) : x;
}

/* tf_exp out of line, for tests (tests/test_tf_exp.c). */
POLCA_INTERNAL float polca__tf_exp(float x);
float polca__tf_exp(float x) { return tf_exp(x); }

/* tanh(u) = 1 - 2 / (e^(2u) + 1): absolute error ~1e-7 (what gelu_new's
 * 0.5 x (1 + tanh) needs). */
TF_INLINE float tf_tanh(float u) { return 1.0f - 2.0f / (tf_exp(2.0f * u) + 1.0f); }

/* erf(x), Abramowitz & Stegun 7.1.26 extended with the sign: absolute error
 * below 1.5e-7. */
TF_INLINE float tf_erf(float x) {
    float ax = x < 0.0f ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    float y = 1.0f - p * t * tf_exp(-ax * ax);
    return x < 0.0f ? -y : y;
}

/* ---- LayerNorm ---- */

/* Row statistics in double with 8 partial sums (fixed order; vectorizes
 * without reassociation flags). */
TF_INLINE double fold8(const double *acc) {
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* sum_j (x[j] - shift) */
TF_INLINE double sum_d(const float *x, float shift, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)(x[i + l] - shift);
    double s = fold8(acc);
    for (; i < n; i++) s += (double)(x[i] - shift);
    return s;
}

/* sum_j (x[j] - shift)^2, the differences taken in float as n uses them */
TF_INLINE double sqdev_d(const float *x, float shift, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) {
            const double d = (double)(x[i + l] - shift);
            acc[l] += d * d;
        }
    double s = fold8(acc);
    for (; i < n; i++) {
        const double d = (double)(x[i] - shift);
        s += d * d;
    }
    return s;
}

/* sum_j a[j] (b[j] - shift) */
TF_INLINE double dot_d(const float *a, const float *b, float shift, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)a[i + l] * (double)(b[i + l] - shift);
    double s = fold8(acc);
    for (; i < n; i++) s += (double)a[i] * (double)(b[i] - shift);
    return s;
}

static TF_CLONES void ln_fwd_impl(int64_t R, int64_t D, int center, double eps, const float *x,
                                   const float *w, const float *b, float *n, float *s, float *y) {
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * D;
        float *nr = n + r * D, *yr = y + r * D;
        /* two passes: the mean, then the squares of the centered values n
         * is made of (RMSNorm: no centering, mean(x^2)) */
        const float mf = center ? (float)(sum_d(xr, 0.0f, D) / (double)D) : 0.0f;
        const float sr = (float)(1.0 / sqrt(sqdev_d(xr, mf, D) / (double)D + eps));
        s[r] = sr;
        if (b)
            for (int64_t j = 0; j < D; j++) {
                nr[j] = (xr[j] - mf) * sr;
                yr[j] = nr[j] * w[j] + b[j];
            }
        else
            for (int64_t j = 0; j < D; j++) {
                nr[j] = (xr[j] - mf) * sr;
                yr[j] = nr[j] * w[j];
            }
    }
}

/*
 * n = (x - mean x) s with s = 1/sqrt(var + eps). With c1 = x' - mean x' and
 * alpha = mean(n c1) (RMSNorm: n = x s, s = 1/sqrt(mean(x^2) + eps), and
 * every formula here and below holds with the means of x, x', x'', dn, dn'
 * taken as 0 - center = 0):
 *   n'  = s (c1 - n alpha)
 *   n'' = s (c2 - n alpha') - 2 s alpha n',  alpha' = mean(n' c1) + mean(n c2)
 *   y'  = n' w + n w' + b',   y'' = n'' w + 2 n' w'
 */
static TF_CLONES void ln_tan_impl(int64_t R, int64_t D, int center, const float *n,
                                   const float *s, const float *w, const float *x1,
                                   const float *w1, const float *b1, const float *x2, float *n1,
                                   float *alpha, float *y1, float *y2) {
    const double inv_d = 1.0 / (double)D;
    for (int64_t r = 0; r < R; r++) {
        const float *nr = n + r * D, *x1r = x1 + r * D;
        float *n1r = n1 + r * D, *y1r = y1 + r * D;
        const float sr = s[r];
        const float m1f = center ? (float)(sum_d(x1r, 0.0f, D) * inv_d) : 0.0f;
        const float af = (float)(dot_d(nr, x1r, m1f, D) * inv_d);
        alpha[r] = af;
        if (b1)
            for (int64_t j = 0; j < D; j++) {
                n1r[j] = sr * ((x1r[j] - m1f) - nr[j] * af);
                y1r[j] = n1r[j] * w[j] + nr[j] * w1[j] + b1[j];
            }
        else
            for (int64_t j = 0; j < D; j++) {
                n1r[j] = sr * ((x1r[j] - m1f) - nr[j] * af);
                y1r[j] = n1r[j] * w[j] + nr[j] * w1[j];
            }
        if (!x2) continue;
        const float *x2r = x2 + r * D;
        float *y2r = y2 + r * D;
        const float m2f = center ? (float)(sum_d(x2r, 0.0f, D) * inv_d) : 0.0f;
        const float a2f = (float)((dot_d(n1r, x1r, m1f, D) + dot_d(nr, x2r, m2f, D)) * inv_d);
        for (int64_t j = 0; j < D; j++) {
            float n2 = sr * ((x2r[j] - m2f) - nr[j] * a2f) - 2.0f * sr * af * n1r[j];
            y2r[j] = n2 * w[j] + 2.0f * n1r[j] * w1[j];
        }
    }
}

/*
 * Reverse: dn = dy w, u = dn - mean(dn) - n beta with beta = mean(dn n),
 * dx = s u; dw += dy n, db += dy.
 * Tangent: dn' = dy' w + dy w', beta' = mean(dn' n + dn n'),
 * u' = dn' - mean(dn') - n' beta - n beta', and since s' = -s^2 alpha,
 * dx' = -s alpha dx + s u'; dw' += dy' n + dy n', db' += dy'.
 */
static TF_CLONES void ln_bwd_impl(int64_t R, int64_t D, int center, const float *n, const float *s,
                                   const float *w, const float *dy, float *dx, float *dw,
                                   float *db, const float *n1, const float *alpha,
                                   const float *w1, const float *dy1, float *dx1, float *dw1,
                                   float *db1, float *tmp) {
    const double inv_d = 1.0 / (double)D;
    float *dn = tmp, *dn1 = tmp + D;
    for (int64_t r = 0; r < R; r++) {
        const float *nr = n + r * D, *dyr = dy + r * D;
        float *dxr = dx + r * D;
        const float sr = s[r];
        for (int64_t j = 0; j < D; j++) dn[j] = dyr[j] * w[j];
        const float mdnf = center ? (float)(sum_d(dn, 0.0f, D) * inv_d) : 0.0f,
                    betaf = (float)(dot_d(dn, nr, 0.0f, D) * inv_d);
        if (dw)
            for (int64_t j = 0; j < D; j++) dw[j] += dyr[j] * nr[j];
        if (db)
            for (int64_t j = 0; j < D; j++) db[j] += dyr[j];
        if (!dy1) {
            for (int64_t j = 0; j < D; j++) dxr[j] += sr * (dn[j] - mdnf - nr[j] * betaf);
            continue;
        }
        const float *n1r = n1 + r * D, *dy1r = dy1 + r * D;
        float *dx1r = dx1 + r * D;
        for (int64_t j = 0; j < D; j++) dn1[j] = dy1r[j] * w[j] + dyr[j] * w1[j];
        const float mdn1f = center ? (float)(sum_d(dn1, 0.0f, D) * inv_d) : 0.0f,
                    beta1f = (float)((dot_d(dn1, nr, 0.0f, D) + dot_d(dn, n1r, 0.0f, D)) * inv_d);
        const float sa = sr * alpha[r];
        for (int64_t j = 0; j < D; j++) {
            float dxj = sr * (dn[j] - mdnf - nr[j] * betaf);
            dxr[j] += dxj;
            dx1r[j] += sr * (dn1[j] - mdn1f - n1r[j] * betaf - nr[j] * beta1f) - sa * dxj;
        }
        if (dw1)
            for (int64_t j = 0; j < D; j++) dw1[j] += dy1r[j] * nr[j] + dyr[j] * n1r[j];
        if (db1)
            for (int64_t j = 0; j < D; j++) db1[j] += dy1r[j];
    }
}

/* ---- activation functions: f, f', f'' ---- */

#define GELU_C 0.7978845608028654f   /* sqrt(2 / pi) */
#define GELU_A 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

/* gelu (erf): f = x Phi(x), f' = Phi + x phi, f'' = phi (2 - x^2). */
TF_INLINE void gelu_erf(float x, float *f, float *d1, float *d2) {
    float Phi = 0.5f * (1.0f + tf_erf(x * INV_SQRT2));
    float phi = INV_SQRT_2PI * tf_exp(-0.5f * x * x);
    *f = x * Phi;
    *d1 = Phi + x * phi;
    *d2 = phi * (2.0f - x * x);
}

/* gelu_new: u = c (x + a x^3), t = tanh u, f = x (1 + t) / 2,
 * f' = (1 + t)/2 + x (1 - t^2) u'/2, f'' = (1 - t^2) (u' - x t u'^2 + x u''/2)
 * with u' = c (1 + 3 a x^2), u'' = 6 a c x. */
TF_INLINE void gelu_tanh(float x, float *f, float *d1, float *d2) {
    float x2 = x * x;
    float t = tf_tanh(GELU_C * (x + GELU_A * x2 * x));
    float up = GELU_C * (1.0f + 3.0f * GELU_A * x2), upp = 6.0f * GELU_A * GELU_C * x;
    float sech2 = 1.0f - t * t;
    *f = 0.5f * x * (1.0f + t);
    *d1 = 0.5f * (1.0f + t) + 0.5f * x * sech2 * up;
    *d2 = sech2 * (up - x * t * up * up + 0.5f * x * upp);
}

TF_INLINE void relu(float x, float *f, float *d1, float *d2) {
    *f = x > 0.0f ? x : 0.0f;
    *d1 = x > 0.0f ? 1.0f : 0.0f;
    *d2 = 0.0f;
}

/* silu: s = sigmoid(x), f = x s, f' = s (1 + x (1 - s)),
 * f'' = s (1 - s) (2 + x (1 - 2 s)). */
TF_INLINE void silu(float x, float *f, float *d1, float *d2) {
    float sg = 1.0f / (1.0f + tf_exp(-x));
    float sp = sg * (1.0f - sg);
    *f = x * sg;
    *d1 = sg + x * sp;
    *d2 = sp * (2.0f + x * (1.0f - 2.0f * sg));
}

/* One loop per activation so each inlines and vectorizes. BODY uses f, d1,
 * d2 of element i. */
#define ACT_LOOP(act, n, pre, BODY)                                            \
    do {                                                                       \
        float f, d1, d2;                                                       \
        switch (act) {                                                         \
        case POLCA__ACT_GELU:                                                  \
            for (int64_t i = 0; i < (n); i++) {                                \
                gelu_erf((pre)[i], &f, &d1, &d2);                              \
                BODY;                                                          \
            }                                                                  \
            break;                                                             \
        case POLCA__ACT_GELU_NEW:                                              \
            for (int64_t i = 0; i < (n); i++) {                                \
                gelu_tanh((pre)[i], &f, &d1, &d2);                             \
                BODY;                                                          \
            }                                                                  \
            break;                                                             \
        case POLCA__ACT_SILU:                                                  \
            for (int64_t i = 0; i < (n); i++) {                                \
                silu((pre)[i], &f, &d1, &d2);                                  \
                BODY;                                                          \
            }                                                                  \
            break;                                                             \
        default:                                                               \
            for (int64_t i = 0; i < (n); i++) {                                \
                relu((pre)[i], &f, &d1, &d2);                                  \
                BODY;                                                          \
            }                                                                  \
            break;                                                             \
        }                                                                      \
    } while (0)

static TF_CLONES void act_fwd_impl(int act, int64_t n, const float *pre, float *post) {
    ACT_LOOP(act, n, pre, (void)d1; (void)d2; post[i] = f);
}

static TF_CLONES void act_tan_impl(int act, int64_t n, const float *pre, const float *pre1,
                                    const float *pre2, float *post1, float *post2) {
    if (pre2)
        ACT_LOOP(act, n, pre, (void)f; post1[i] = d1 * pre1[i];
                 post2[i] = d1 * pre2[i] + d2 * pre1[i] * pre1[i]);
    else
        ACT_LOOP(act, n, pre, (void)f; (void)d2; post1[i] = d1 * pre1[i]);
}

static TF_CLONES void act_bwd_impl(int act, int64_t n, const float *pre, float *d,
                                    const float *pre1, float *d1out) {
    if (pre1)
        ACT_LOOP(act, n, pre, (void)f; d1out[i] = d1out[i] * d1 + d[i] * d2 * pre1[i];
                 d[i] = d[i] * d1);
    else
        ACT_LOOP(act, n, pre, (void)f; (void)d2; d[i] = d[i] * d1);
}

/* Gated MLP: post = f(gate) up (f of the gate recomputed where needed, so
 * only gate and up are stored). Tangents, h = f(gate):
 *   h' = f' g',  h'' = f' g'' + f'' g'^2,
 *   post' = h' up + h up',  post'' = h'' up + 2 h' up' + h up''.
 * Reverse (d = dpost): dup = d h, dg = d up f'; tangent (d1 = dpost'):
 *   dup' = d1 h + d h',  dg' = (d1 up + d up') f' + d up f'' g'. */
static TF_CLONES void glu_fwd_impl(int act, int64_t n, const float *gate, const float *up,
                                    float *post) {
    ACT_LOOP(act, n, gate, (void)d1; (void)d2; post[i] = f * up[i]);
}

static TF_CLONES void glu_tan_impl(int act, int64_t n, const float *gate, const float *up,
                                    const float *g1, const float *up1, const float *g2,
                                    const float *up2, float *post1, float *post2) {
    if (g2)
        ACT_LOOP(act, n, gate, const float h1 = d1 * g1[i];
                 post1[i] = h1 * up[i] + f * up1[i];
                 post2[i] = (d1 * g2[i] + d2 * g1[i] * g1[i]) * up[i] + 2.0f * h1 * up1[i] +
                            f * up2[i]);
    else
        ACT_LOOP(act, n, gate, (void)d2; post1[i] = d1 * g1[i] * up[i] + f * up1[i]);
}

static TF_CLONES void glu_bwd_impl(int act, int64_t n, const float *gate, const float *up,
                                    float *d, float *dg, const float *g1, const float *up1,
                                    float *dd1, float *dg1) {
    if (g1)
        ACT_LOOP(act, n, gate, const float dp = d[i]; const float dp1 = dd1[i];
                 const float dh = dp * up[i]; const float dh1 = dp1 * up[i] + dp * up1[i];
                 dd1[i] = dp1 * f + dp * (d1 * g1[i]); dg1[i] = dh1 * d1 + dh * d2 * g1[i];
                 dg[i] = dh * d1; d[i] = dp * f);
    else
        ACT_LOOP(act, n, gate, (void)d2; dg[i] = d[i] * up[i] * d1; d[i] = d[i] * f);
}

/* ---- causal attention ---- */

/* Dot product with 8 partial sums (a fixed order, so results do not depend
 * on the vector width), which vectorizes without reassociation flags. */
TF_INLINE float dotf(const float *a, const float *b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[i + l] * b[i + l];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* out[e] (+)= sum_{j < n} p[j] rows[j * ld + e], e < E, accumulated in
 * registers 16 columns at a time (accumulate = 0 overwrites out). */
TF_INLINE void weighted_rows(const float *p, int64_t n, const float *rows, int64_t ld, int64_t E,
                             int accumulate, float *out) {
    int64_t e0 = 0;
    for (; e0 + 16 <= E; e0 += 16) {
        float acc[16];
        for (int l = 0; l < 16; l++) acc[l] = accumulate ? out[e0 + l] : 0.0f;
        for (int64_t j = 0; j < n; j++) {
            const float pj = p[j], *r = rows + j * ld + e0;
            for (int l = 0; l < 16; l++) acc[l] += pj * r[l];
        }
        for (int l = 0; l < 16; l++) out[e0 + l] = acc[l];
    }
    for (; e0 < E; e0++) {
        float acc = accumulate ? out[e0] : 0.0f;
        for (int64_t j = 0; j < n; j++) acc += p[j] * rows[j * ld + e0];
        out[e0] = acc;
    }
}

TF_INLINE void axpyf(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* Row i of head h of sequence b: q, k, v (their tangents and adjoints) are
 * column blocks of one [R][(H+2G)E] buffer (row stride LQ); z and its
 * tangents and adjoints are [R][HE]. Query head h reads kv head
 * g = h / (H/G) (HROW(k, b, j, g)); H = G is multi-head attention. */
#define HROW(buf, b, i, h) ((buf) + ((b) * T + (i)) * LQ + (h) * E)
#define ZROW(buf, b, i, h) ((buf) + ((b) * T + (i)) * HE + (h) * E)
#define PROW(buf, b, h, i) ((buf) + (((b) * H + (h)) * T + (i)) * T)

static TF_CLONES void attn_fwd_impl(const polca__tf_config *cfg, int64_t B, const float *q,
                                     const float *k, const float *v, float *P, float *z) {
    const int64_t T = cfg->n_ctx, H = cfg->n_heads, E = cfg->d_head, HE = H * E,
                  LQ = tf_qkv_width(cfg), rep = H / cfg->n_kv_heads;
    const float scale = (float)(1.0 / sqrt((double)E));
    /* Per (sequence, head): the [T][T] block of P holds the shifted scores,
     * then one exponential pass over the whole block (T*T values: long
     * enough to vectorize, unlike a row of T), then normalization. */
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t g = h / rep; /* its kv head */
            float *blk = PROW(P, b, h, 0);
            for (int64_t i = 0; i < T; i++) {
                const float *qi = HROW(q, b, i, h);
                float *p = blk + i * T, m = -INFINITY;
                for (int64_t j = 0; j <= i; j++) {
                    p[j] = scale * dotf(qi, HROW(k, b, j, g), E);
                    m = p[j] > m ? p[j] : m;
                }
                for (int64_t j = 0; j <= i; j++) p[j] -= m;
                for (int64_t j = i + 1; j < T; j++) p[j] = 0.0f; /* masked: zeroed below */
            }
            for (int64_t x = 0; x < T * T; x++) blk[x] = tf_exp(blk[x]);
            for (int64_t i = 0; i < T; i++) {
                float *p = blk + i * T, *zi = ZROW(z, b, i, h), sum = 0.0f;
                for (int64_t j = 0; j <= i; j++) sum += p[j];
                const float inv = 1.0f / sum;
                for (int64_t j = 0; j <= i; j++) p[j] *= inv;
                for (int64_t j = i + 1; j < T; j++) p[j] = 0.0f;
                weighted_rows(p, i + 1, HROW(v, b, 0, g), LQ, E, 0, zi);
            }
        }
}

/*
 * S = scale q k^T, P = softmax(S) row-wise, z = P v. Per row i:
 *   S'  = scale (q'_i k_j + q_i k'_j),  mu' = sum_j P S',  P' = P (S' - mu')
 *   z'  = P' v + P v'
 *   S'' = scale (q''_i k_j + 2 q'_i k'_j + q_i k''_j)
 *   mu'' = sum_j (P' S' + P S''),  P'' = P' (S' - mu') + P (S'' - mu'')
 *   z'' = P'' v + 2 P' v' + P v''
 */
static TF_CLONES void attn_tan_impl(const polca__tf_config *cfg, int64_t B, const float *q,
                                     const float *k, const float *v, const float *P,
                                     const float *q1, const float *k1, const float *v1,
                                     float *P1, float *z1, const float *q2, const float *k2,
                                     const float *v2, float *z2, float *tmp) {
    const int64_t T = cfg->n_ctx, H = cfg->n_heads, E = cfg->d_head, HE = H * E,
                  LQ = tf_qkv_width(cfg), rep = H / cfg->n_kv_heads;
    const float scale = (float)(1.0 / sqrt((double)E));
    float *S1 = tmp, *S2 = tmp + T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t g = h / rep; /* its kv head */
            for (int64_t i = 0; i < T; i++) {
                const float *qi = HROW(q, b, i, h), *q1i = HROW(q1, b, i, h);
                const float *p = PROW(P, b, h, i);
                float *p1 = PROW(P1, b, h, i), *z1i = ZROW(z1, b, i, h);
                float mu1 = 0.0f;
                for (int64_t j = 0; j <= i; j++) {
                    S1[j] = scale * (dotf(q1i, HROW(k, b, j, g), E) + dotf(qi, HROW(k1, b, j, g), E));
                    mu1 += p[j] * S1[j];
                }
                for (int64_t j = 0; j <= i; j++) p1[j] = p[j] * (S1[j] - mu1);
                for (int64_t j = i + 1; j < T; j++) p1[j] = 0.0f;
                weighted_rows(p1, i + 1, HROW(v, b, 0, g), LQ, E, 0, z1i);
                weighted_rows(p, i + 1, HROW(v1, b, 0, g), LQ, E, 1, z1i);
                if (!q2) continue;
                const float *q2i = HROW(q2, b, i, h);
                float *z2i = ZROW(z2, b, i, h);
                float mu2 = 0.0f;
                for (int64_t j = 0; j <= i; j++) {
                    S2[j] = scale * (dotf(q2i, HROW(k, b, j, g), E) +
                                     2.0f * dotf(q1i, HROW(k1, b, j, g), E) +
                                     dotf(qi, HROW(k2, b, j, g), E));
                    mu2 += p1[j] * S1[j] + p[j] * S2[j];
                }
                /* S2 becomes P'' in place; S1 becomes 2 P' */
                for (int64_t j = 0; j <= i; j++) {
                    S2[j] = p1[j] * (S1[j] - mu1) + p[j] * (S2[j] - mu2);
                    S1[j] = 2.0f * p1[j];
                }
                weighted_rows(S2, i + 1, HROW(v, b, 0, g), LQ, E, 0, z2i);
                weighted_rows(S1, i + 1, HROW(v1, b, 0, g), LQ, E, 1, z2i);
                weighted_rows(p, i + 1, HROW(v2, b, 0, g), LQ, E, 1, z2i);
            }
        }
}

/*
 * Reverse, per row i: dP_j = dz_i v_j, dv_j += P_ij dz_i,
 * gamma = sum_j P_ij dP_j, dS_j = P_ij (dP_j - gamma),
 * dq_i = scale sum_j dS_j k_j, dk_j += scale dS_j q_i.
 * Tangent: dP'_j = dz'_i v_j + dz_i v'_j, dv'_j += P'_ij dz_i + P_ij dz'_i,
 * gamma' = sum_j (P' dP + P dP'), dS'_j = P' (dP - gamma) + P (dP' - gamma'),
 * dq'_i = scale sum_j (dS' k + dS k'), dk'_j += scale (dS'_j q_i + dS_j q'_i).
 */
static TF_CLONES void attn_bwd_impl(const polca__tf_config *cfg, int64_t B, const float *q,
                                     const float *k, const float *v, const float *P,
                                     const float *dz, float *dq, float *dk, float *dv,
                                     const float *q1, const float *k1, const float *v1,
                                     const float *P1, const float *dz1, float *dq1, float *dk1,
                                     float *dv1, float *tmp) {
    const int64_t T = cfg->n_ctx, H = cfg->n_heads, E = cfg->d_head, HE = H * E,
                  LQ = tf_qkv_width(cfg), rep = H / cfg->n_kv_heads;
    const float scale = (float)(1.0 / sqrt((double)E));
    float *dP = tmp, *dS = tmp + T, *dP1 = tmp + 2 * T, *dS1 = tmp + 3 * T;
    const size_t row_bytes = (size_t)E * sizeof(float);
    /* dk, dv of kv head g sum over the rep query heads of its group */
    const size_t kv_bytes = (size_t)(cfg->n_kv_heads * E) * sizeof(float);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t j = 0; j < T; j++) {
            memset(HROW(dk, b, j, 0), 0, kv_bytes);
            memset(HROW(dv, b, j, 0), 0, kv_bytes);
            if (dz1) {
                memset(HROW(dk1, b, j, 0), 0, kv_bytes);
                memset(HROW(dv1, b, j, 0), 0, kv_bytes);
            }
        }
        for (int64_t h = 0; h < H; h++) {
            const int64_t g = h / rep; /* its kv head */
            for (int64_t i = 0; i < T; i++) {
                const float *p = PROW(P, b, h, i), *dzi = ZROW(dz, b, i, h), *qi = HROW(q, b, i, h);
                float *dqi = HROW(dq, b, i, h);
                float gamma = 0.0f;
                for (int64_t j = 0; j <= i; j++) {
                    dP[j] = dotf(dzi, HROW(v, b, j, g), E);
                    gamma += p[j] * dP[j];
                    axpyf(p[j], dzi, HROW(dv, b, j, g), E);
                }
                memset(dqi, 0, row_bytes);
                for (int64_t j = 0; j <= i; j++) {
                    dS[j] = p[j] * (dP[j] - gamma);
                    axpyf(scale * dS[j], HROW(k, b, j, g), dqi, E);
                    axpyf(scale * dS[j], qi, HROW(dk, b, j, g), E);
                }
                if (!dz1) continue;
                const float *p1 = PROW(P1, b, h, i), *dz1i = ZROW(dz1, b, i, h);
                const float *q1i = HROW(q1, b, i, h);
                float *dq1i = HROW(dq1, b, i, h);
                float gamma1 = 0.0f;
                for (int64_t j = 0; j <= i; j++) {
                    dP1[j] = dotf(dz1i, HROW(v, b, j, g), E) + dotf(dzi, HROW(v1, b, j, g), E);
                    gamma1 += p1[j] * dP[j] + p[j] * dP1[j];
                    float *dv1j = HROW(dv1, b, j, g);
                    axpyf(p1[j], dzi, dv1j, E);
                    axpyf(p[j], dz1i, dv1j, E);
                }
                memset(dq1i, 0, row_bytes);
                for (int64_t j = 0; j <= i; j++) {
                    dS1[j] = p1[j] * (dP[j] - gamma) + p[j] * (dP1[j] - gamma1);
                    axpyf(scale * dS1[j], HROW(k, b, j, g), dq1i, E);
                    axpyf(scale * dS[j], HROW(k1, b, j, g), dq1i, E);
                    float *dk1j = HROW(dk1, b, j, g);
                    axpyf(scale * dS1[j], qi, dk1j, E);
                    axpyf(scale * dS[j], q1i, dk1j, E);
                }
            }
        }
    }
}

#undef HROW
#undef ZROW
#undef PROW

/* ---- cross-entropy of the next token ----
 *
 * One row (one position's V logits) at a time, each row by one worker: the
 * elementwise passes over a row vectorize (tf_expf, fast_exp.h), and the
 * sums over a row are accumulated in double in CE_LANES interleaved partial
 * sums (element j into lane j % CE_LANES) added in lane order at the end, an
 * order fixed by the C code, so a row's results are the same whichever
 * worker computes it, for any number of workers and on every clone. */

#define CE_LANES 8

TF_EXP_LOOPS_BEGIN

/* Max of a row (exact in any order). */
TF_INLINE float ce_row_max(int64_t V, const float *z) {
    float ml[16];
    for (int l = 0; l < 16; l++) ml[l] = -INFINITY;
    int64_t j = 0;
    for (; j + 16 <= V; j += 16)
        for (int l = 0; l < 16; l++) ml[l] = z[j + l] > ml[l] ? z[j + l] : ml[l];
    float m = -INFINITY;
    for (; j < V; j++) m = z[j] > m ? z[j] : m;
    for (int l = 0; l < 16; l++) m = ml[l] > m ? ml[l] : m;
    return m;
}

/* sum_j a_j (double), a float row. */
TF_INLINE double ce_row_sum(int64_t V, const float *a) {
    double acc[CE_LANES] = {0};
    int64_t j = 0;
    for (; j + CE_LANES <= V; j += CE_LANES)
        for (int l = 0; l < CE_LANES; l++) acc[l] += (double)a[j + l];
    for (int l = 0; j < V; j++, l++) acc[l] += (double)a[j];
    double s = 0.0;
    for (int l = 0; l < CE_LANES; l++) s += acc[l];
    return s;
}

/* <p, z> and, when sq != NULL, <p, z^2> (double). */
TF_INLINE double ce_row_dot(int64_t V, const float *p, const float *z, double *sq) {
    double acc[CE_LANES] = {0}, acc2[CE_LANES] = {0};
    int64_t j = 0;
    for (; j + CE_LANES <= V; j += CE_LANES)
        for (int l = 0; l < CE_LANES; l++) {
            const double pz = (double)p[j + l] * z[j + l];
            acc[l] += pz;
            acc2[l] += pz * z[j + l];
        }
    for (int l = 0; j < V; j++, l++) {
        const double pz = (double)p[j] * z[j];
        acc[l] += pz;
        acc2[l] += pz * z[j];
    }
    double s = 0.0, s2 = 0.0;
    for (int l = 0; l < CE_LANES; l++) s += acc[l], s2 += acc2[l];
    if (sq) *sq = s2;
    return s;
}

/* Logits -> probabilities in place; returns the loss lse(z) - z_t. */
static TF_CLONES double ce_fwd_row(int64_t V, float *z, int32_t t) {
    const float m = ce_row_max(V, z);
    const float zt = z[t];
    for (int64_t j = 0; j < V; j++) z[j] = tf_expf(z[j] - m);
    const double se = ce_row_sum(V, z);
    const float inv = (float)(1.0 / se);
    for (int64_t j = 0; j < V; j++) z[j] *= inv;
    return (double)m + log(se) - zt;
}

/* g = <p, z'> - z'_t; with z'': c = <p, z''> - z''_t + <p, z'^2> - <p, z'>^2. */
static TF_CLONES void ce_tan_row(int64_t V, const float *p, const float *z1, const float *z2,
                                 int32_t t, float *g, float *c) {
    double sq;
    const double mu = ce_row_dot(V, p, z1, &sq);
    *g = (float)(mu - z1[t]);
    if (z2) *c = (float)(ce_row_dot(V, p, z2, NULL) - z2[t] + sq - mu * mu);
}

/* dz = w (p - onehot_t); with z': dz' = w p (z' - <p, z'>). */
static TF_CLONES void ce_bwd_row(int64_t V, float w, const float *p, int32_t t, float *dz,
                                 const float *z1, float *dz1) {
    for (int64_t j = 0; j < V; j++) dz[j] = w * p[j];
    dz[t] -= w;
    if (!dz1) return;
    const float mu = (float)ce_row_dot(V, p, z1, NULL);
    for (int64_t j = 0; j < V; j++) dz1[j] = w * p[j] * (z1[j] - mu);
}

TF_EXP_LOOPS_END

/* Index among the scored rows of row r0 (scored rows before it). */
static int64_t ce_scored_before(const polca__tf_config *cfg, const tf_batch *bt, int64_t r0) {
    int64_t n = 0;
    for (int64_t r = 0; r < r0; r++) n += tf_scored(cfg, bt, r);
    return n;
}

/* Rows per worker at the least: a row of V logits is ~V exps. */
static int64_t ce_grain(int64_t V) { return V >= 4096 ? 1 : 4096 / V + 1; }

/* Rows of the forward per parallel step: their losses wait in a buffer of
 * this size to be summed in row order. */
#define CE_FWD_BLOCK 256

typedef struct ce_args {
    const polca__tf_config *cfg;
    const tf_batch *bt;
    int64_t r_base;            /* forward: first row of the block */
    float *logits;             /* forward */
    double *loss;              /* forward: [CE_FWD_BLOCK], set for scored rows */
    const float *p, *z1, *z2;  /* tangent, reverse */
    float *g, *c, *dz, *dz1;
} ce_args;

static void ce_fwd_part(void *arg, int64_t i0, int64_t i1, float *scratch) {
    const ce_args *a = arg;
    const int64_t V = a->cfg->d_vocab;
    (void)scratch;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t r = a->r_base + i;
        if (tf_scored(a->cfg, a->bt, r))
            a->loss[i] = ce_fwd_row(V, a->logits + r * V, a->bt->tokens[r + 1]);
    }
}

int64_t polca__tf_ce_fwd(const polca__tf_config *cfg, const tf_batch *bt, float *logits,
                         float *losses, double *sum) {
    const int64_t V = cfg->d_vocab;
    int64_t count = 0;
    double total = 0.0, loss[CE_FWD_BLOCK];
    ce_args a = {.cfg = cfg, .bt = bt, .logits = logits, .loss = loss};
    for (int64_t r0 = 0; r0 < bt->R; r0 += CE_FWD_BLOCK) {
        const int64_t n = bt->R - r0 < CE_FWD_BLOCK ? bt->R - r0 : CE_FWD_BLOCK;
        a.r_base = r0;
        polca__tf_parallel(n, ce_grain(V), ce_fwd_part, &a, NULL);
        for (int64_t i = 0; i < n; i++) { /* in row order: the same sum for any split */
            if (!tf_scored(cfg, bt, r0 + i)) continue;
            if (losses) losses[count] = (float)loss[i];
            total += loss[i];
            count++;
        }
    }
    if (sum) *sum += total;
    return count;
}

static void ce_tan_part(void *arg, int64_t r0, int64_t r1, float *scratch) {
    const ce_args *a = arg;
    const int64_t V = a->cfg->d_vocab;
    (void)scratch;
    int64_t idx = ce_scored_before(a->cfg, a->bt, r0);
    for (int64_t r = r0; r < r1; r++) {
        if (!tf_scored(a->cfg, a->bt, r)) continue;
        ce_tan_row(V, a->p + r * V, a->z1 + r * V, a->z2 ? a->z2 + r * V : NULL,
                   a->bt->tokens[r + 1], &a->g[idx], a->z2 ? &a->c[idx] : NULL);
        idx++;
    }
}

void polca__tf_ce_tan(const polca__tf_config *cfg, const tf_batch *bt, const float *p,
                      const float *z1, const float *z2, float *g, float *c) {
    ce_args a = {.cfg = cfg, .bt = bt, .p = p, .z1 = z1, .z2 = z2, .g = g, .c = c};
    polca__tf_parallel(bt->R, ce_grain(cfg->d_vocab), ce_tan_part, &a, NULL);
}

static void ce_bwd_part(void *arg, int64_t r0, int64_t r1, float *scratch) {
    const ce_args *a = arg;
    const int64_t V = a->cfg->d_vocab;
    (void)scratch;
    for (int64_t r = r0; r < r1; r++) {
        float *dzr = a->dz + r * V;
        float *dz1r = a->dz1 ? a->dz1 + r * V : NULL;
        if (!tf_scored(a->cfg, a->bt, r)) {
            memset(dzr, 0, (size_t)V * sizeof *dzr);
            if (dz1r) memset(dz1r, 0, (size_t)V * sizeof *dz1r);
            continue;
        }
        ce_bwd_row(V, a->bt->weight, a->p + r * V, a->bt->tokens[r + 1], dzr,
                   dz1r ? a->z1 + r * V : NULL, dz1r);
    }
}

void polca__tf_ce_bwd(const polca__tf_config *cfg, const tf_batch *bt, const float *p, float *dz,
                      const float *z1, float *dz1) {
    ce_args a = {.cfg = cfg, .bt = bt, .p = p, .z1 = z1, .dz = dz, .dz1 = dz1};
    polca__tf_parallel(bt->R, ce_grain(cfg->d_vocab), ce_bwd_part, &a, NULL);
}

/* ---- parallel dispatch: each op split by rows, elements or sequences among
 * the workers of the kernel's pool (transformer_par.c) ---- */

#define OFF(p, k) ((p) ? (p) + (k) : NULL)

/* Per-worker scratch: [4D] private accumulators of LayerNorm weight and
 * bias gradients (and tangents), then [max(4T, 2D)] op temporaries. */
int64_t polca__tf_op_scratch_floats(const polca__tf_config *cfg) {
    return 4 * (int64_t)cfg->n_ctx + 6 * (int64_t)cfg->d_model + 16;
}

typedef struct ln_fwd_args {
    int64_t D;
    int center;
    double eps;
    const float *x, *w, *b;
    float *n, *s, *y;
} ln_fwd_args;

static void ln_fwd_part(void *p, int64_t r0, int64_t r1, float *scratch) {
    const ln_fwd_args *a = p;
    const int64_t D = a->D;
    (void)scratch;
    ln_fwd_impl(r1 - r0, D, a->center, a->eps, a->x + r0 * D, a->w, a->b, a->n + r0 * D,
                a->s + r0, a->y + r0 * D);
}

/* LayerNorm subtracts the row mean; RMSNorm does not (tf_ln_center). */
static int tf_ln_center(const polca__tf_config *cfg) { return cfg->norm != POLCA__NORM_RMS; }

void polca__tf_ln_fwd(const polca__tf_config *cfg, int64_t R, const float *x, const float *w,
                      const float *b, float *n, float *s, float *y) {
    ln_fwd_args a = {cfg->d_model, tf_ln_center(cfg), (double)cfg->norm_eps, x, w, b, n, s, y};
    polca__tf_parallel(R, 16, ln_fwd_part, &a, NULL);
}

typedef struct ln_tan_args {
    int64_t D;
    int center;
    const float *n, *s, *w, *x1, *w1, *b1, *x2;
    float *n1, *alpha, *y1, *y2;
} ln_tan_args;

static void ln_tan_part(void *p, int64_t r0, int64_t r1, float *scratch) {
    const ln_tan_args *a = p;
    const int64_t o = r0 * a->D;
    (void)scratch;
    ln_tan_impl(r1 - r0, a->D, a->center, a->n + o, a->s + r0, a->w, a->x1 + o, a->w1, a->b1, OFF(a->x2, o),
                a->n1 + o, a->alpha + r0, a->y1 + o, OFF(a->y2, o));
}

void polca__tf_ln_tan(const polca__tf_config *cfg, int64_t R, const float *n, const float *s,
                      const float *w, const float *x1, const float *w1, const float *b1,
                      const float *x2, float *n1, float *alpha, float *y1, float *y2) {
    ln_tan_args a = {cfg->d_model, tf_ln_center(cfg), n, s, w, x1, w1, b1, x2, n1, alpha, y1, y2};
    polca__tf_parallel(R, 16, ln_tan_part, &a, NULL);
}

typedef struct ln_bwd_args {
    int64_t D;
    int center;
    const float *n, *s, *w, *dy;
    float *dx;
    int want_w, want_b, want_w1, want_b1;
    const float *n1, *alpha, *w1, *dy1;
    float *dx1;
} ln_bwd_args;

static void ln_bwd_part(void *p, int64_t r0, int64_t r1, float *scratch) {
    const ln_bwd_args *a = p;
    const int64_t D = a->D, o = r0 * D;
    float *acc = scratch; /* this worker's dw | db | dw1 | db1 */
    ln_bwd_impl(r1 - r0, D, a->center, a->n + o, a->s + r0, a->w, a->dy + o, a->dx + o,
                a->want_w ? acc : NULL, a->want_b ? acc + D : NULL, OFF(a->n1, o),
                OFF(a->alpha, r0), a->w1, OFF(a->dy1, o), OFF(a->dx1, o),
                a->want_w1 ? acc + 2 * D : NULL, a->want_b1 ? acc + 3 * D : NULL, scratch + 4 * D);
}

void polca__tf_ln_bwd(const polca__tf_config *cfg, int64_t R, const float *n, const float *s,
                      const float *w, const float *dy, float *dx, float *dw, float *db,
                      const float *n1, const float *alpha, const float *w1, const float *dy1,
                      float *dx1, float *dw1, float *db1, float *tmp) {
    const int64_t D = cfg->d_model;
    /* dw, db (and their tangents) sum over rows: each worker accumulates its
     * rows privately, then the sums are added here in worker order. */
    const ln_bwd_args a = {D,  tf_ln_center(cfg), n,  s,  w,  dy, dx, dw != NULL, db != NULL,
                           dw1 != NULL && dy1 != NULL, db1 != NULL && dy1 != NULL,
                           n1, alpha, w1, dy1, dx1};
    const int W = polca__tf_parallel_workers();
    for (int k = 0; k < W; k++) {
        float *sc = polca__tf_worker_scratch(k);
        memset(sc ? sc : tmp, 0, (size_t)(4 * D) * sizeof(float));
    }
    polca__tf_parallel(R, 16, ln_bwd_part, (void *)&a, tmp);
    float *outs[4] = {dw, db, a.want_w1 ? dw1 : NULL, a.want_b1 ? db1 : NULL};
    for (int k = 0; k < W; k++) {
        const float *sc = polca__tf_worker_scratch(k);
        const float *acc = sc ? sc : tmp;
        for (int m = 0; m < 4; m++)
            if (outs[m])
                for (int64_t j = 0; j < D; j++) outs[m][j] += acc[m * D + j];
    }
}

typedef struct act_args {
    int act;
    const float *pre, *pre1, *pre2;
    float *post, *post1, *post2, *d, *d1;
} act_args;

static void act_fwd_part(void *p, int64_t i0, int64_t i1, float *scratch) {
    const act_args *a = p;
    (void)scratch;
    act_fwd_impl(a->act, i1 - i0, a->pre + i0, a->post + i0);
}

static void act_tan_part(void *p, int64_t i0, int64_t i1, float *scratch) {
    const act_args *a = p;
    (void)scratch;
    act_tan_impl(a->act, i1 - i0, a->pre + i0, a->pre1 + i0, OFF(a->pre2, i0), a->post1 + i0,
                 OFF(a->post2, i0));
}

static void act_bwd_part(void *p, int64_t i0, int64_t i1, float *scratch) {
    const act_args *a = p;
    (void)scratch;
    act_bwd_impl(a->act, i1 - i0, a->pre + i0, a->d + i0, OFF(a->pre1, i0), OFF(a->d1, i0));
}

#define ACT_GRAIN 4096

void polca__tf_act_fwd(int act, int64_t n, const float *pre, float *post) {
    act_args a = {act, pre, NULL, NULL, post, NULL, NULL, NULL, NULL};
    polca__tf_parallel(n, ACT_GRAIN, act_fwd_part, &a, NULL);
}

void polca__tf_act_tan(int act, int64_t n, const float *pre, const float *pre1, const float *pre2,
                       float *post1, float *post2) {
    act_args a = {act, pre, pre1, pre2, NULL, post1, post2, NULL, NULL};
    polca__tf_parallel(n, ACT_GRAIN, act_tan_part, &a, NULL);
}

void polca__tf_act_bwd(int act, int64_t n, const float *pre, float *d, const float *pre1,
                       float *d1out) {
    act_args a = {act, pre, pre1, NULL, NULL, NULL, NULL, d, d1out};
    polca__tf_parallel(n, ACT_GRAIN, act_bwd_part, &a, NULL);
}

typedef struct glu_args {
    int act;
    const float *gate, *up, *g1, *up1, *g2, *up2;
    float *post, *post1, *post2, *d, *dg, *d1, *dg1;
} glu_args;

static void glu_fwd_part(void *p, int64_t i0, int64_t i1, float *scratch) {
    const glu_args *a = p;
    (void)scratch;
    glu_fwd_impl(a->act, i1 - i0, a->gate + i0, a->up + i0, a->post + i0);
}

static void glu_tan_part(void *p, int64_t i0, int64_t i1, float *scratch) {
    const glu_args *a = p;
    (void)scratch;
    glu_tan_impl(a->act, i1 - i0, a->gate + i0, a->up + i0, a->g1 + i0, a->up1 + i0,
                 OFF(a->g2, i0), OFF(a->up2, i0), a->post1 + i0, OFF(a->post2, i0));
}

static void glu_bwd_part(void *p, int64_t i0, int64_t i1, float *scratch) {
    const glu_args *a = p;
    (void)scratch;
    glu_bwd_impl(a->act, i1 - i0, a->gate + i0, a->up + i0, a->d + i0, a->dg + i0,
                 OFF(a->g1, i0), OFF(a->up1, i0), OFF(a->d1, i0), OFF(a->dg1, i0));
}

void polca__tf_glu_fwd(int act, int64_t n, const float *gate, const float *up, float *post) {
    glu_args a = {0};
    a.act = act, a.gate = gate, a.up = up, a.post = post;
    polca__tf_parallel(n, ACT_GRAIN, glu_fwd_part, &a, NULL);
}

void polca__tf_glu_tan(int act, int64_t n, const float *gate, const float *up, const float *g1,
                       const float *up1, const float *g2, const float *up2, float *post1,
                       float *post2) {
    glu_args a = {0};
    a.act = act, a.gate = gate, a.up = up, a.g1 = g1, a.up1 = up1, a.g2 = g2, a.up2 = up2;
    a.post1 = post1, a.post2 = post2;
    polca__tf_parallel(n, ACT_GRAIN, glu_tan_part, &a, NULL);
}

void polca__tf_glu_bwd(int act, int64_t n, const float *gate, const float *up, float *d,
                       float *dg, const float *g1, const float *up1, float *d1, float *dg1) {
    glu_args a = {0};
    a.act = act, a.gate = gate, a.up = up, a.d = d, a.dg = dg, a.g1 = g1, a.up1 = up1;
    a.d1 = d1, a.dg1 = dg1;
    polca__tf_parallel(n, ACT_GRAIN, glu_bwd_part, &a, NULL);
}

/* Attention is split by sequences: offsets of sequence b0 in each buffer. */
typedef struct attn_args {
    const polca__tf_config *cfg;
    const float *q, *k, *v, *P, *q1, *k1, *v1, *q2, *k2, *v2, *P1, *dz, *dz1;
    float *Pout, *z, *P1out, *z1, *z2, *dq, *dk, *dv, *dq1, *dk1, *dv1;
} attn_args;

typedef struct attn_off {
    int64_t qkv, z, P;
} attn_off;

static attn_off attn_offsets(const polca__tf_config *cfg, int64_t b0) {
    const int64_t T = cfg->n_ctx, HE = (int64_t)cfg->n_heads * cfg->d_head;
    attn_off o = {b0 * T * tf_qkv_width(cfg), b0 * T * HE, b0 * cfg->n_heads * T * T};
    return o;
}

static void attn_fwd_part(void *p, int64_t b0, int64_t b1, float *scratch) {
    const attn_args *a = p;
    const attn_off o = attn_offsets(a->cfg, b0);
    (void)scratch;
    attn_fwd_impl(a->cfg, b1 - b0, a->q + o.qkv, a->k + o.qkv, a->v + o.qkv, a->Pout + o.P,
                  a->z + o.z);
}

static void attn_tan_part(void *p, int64_t b0, int64_t b1, float *scratch) {
    const attn_args *a = p;
    const attn_off o = attn_offsets(a->cfg, b0);
    attn_tan_impl(a->cfg, b1 - b0, a->q + o.qkv, a->k + o.qkv, a->v + o.qkv, a->P + o.P,
                  a->q1 + o.qkv, a->k1 + o.qkv, a->v1 + o.qkv, a->P1out + o.P, a->z1 + o.z,
                  OFF(a->q2, o.qkv), OFF(a->k2, o.qkv), OFF(a->v2, o.qkv), OFF(a->z2, o.z),
                  scratch);
}

static void attn_bwd_part(void *p, int64_t b0, int64_t b1, float *scratch) {
    const attn_args *a = p;
    const attn_off o = attn_offsets(a->cfg, b0);
    attn_bwd_impl(a->cfg, b1 - b0, a->q + o.qkv, a->k + o.qkv, a->v + o.qkv, a->P + o.P,
                  a->dz + o.z, a->dq + o.qkv, a->dk + o.qkv, a->dv + o.qkv, OFF(a->q1, o.qkv),
                  OFF(a->k1, o.qkv), OFF(a->v1, o.qkv), OFF(a->P1, o.P), OFF(a->dz1, o.z),
                  OFF(a->dq1, o.qkv), OFF(a->dk1, o.qkv), OFF(a->dv1, o.qkv), scratch);
}

void polca__tf_attn_fwd(const polca__tf_config *cfg, int64_t B, const float *q, const float *k,
                        const float *v, float *P, float *z) {
    attn_args a = {0};
    a.cfg = cfg, a.q = q, a.k = k, a.v = v, a.Pout = P, a.z = z;
    polca__tf_parallel(B, 2, attn_fwd_part, &a, NULL);
}

void polca__tf_attn_tan(const polca__tf_config *cfg, int64_t B, const float *q, const float *k,
                        const float *v, const float *P, const float *q1, const float *k1,
                        const float *v1, float *P1, float *z1, const float *q2, const float *k2,
                        const float *v2, float *z2, float *tmp) {
    attn_args a = {0};
    a.cfg = cfg, a.q = q, a.k = k, a.v = v, a.P = P, a.q1 = q1, a.k1 = k1, a.v1 = v1;
    a.P1out = P1, a.z1 = z1, a.q2 = q2, a.k2 = k2, a.v2 = v2, a.z2 = z2;
    polca__tf_parallel(B, 2, attn_tan_part, &a, tmp);
}

void polca__tf_attn_bwd(const polca__tf_config *cfg, int64_t B, const float *q, const float *k,
                        const float *v, const float *P, const float *dz, float *dq, float *dk,
                        float *dv, const float *q1, const float *k1, const float *v1,
                        const float *P1, const float *dz1, float *dq1, float *dk1, float *dv1,
                        float *tmp) {
    attn_args a = {0};
    a.cfg = cfg, a.q = q, a.k = k, a.v = v, a.P = P, a.dz = dz, a.dq = dq, a.dk = dk, a.dv = dv;
    a.q1 = q1, a.k1 = k1, a.v1 = v1, a.P1 = P1, a.dz1 = dz1, a.dq1 = dq1, a.dk1 = dk1, a.dv1 = dv1;
    polca__tf_parallel(B, 2, attn_bwd_part, &a, tmp);
}
