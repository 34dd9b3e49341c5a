/*
 * src/cuda/transformer_ops.cu - the non-GEMM ops of the CUDA transformer
 * kernels other than attention: embedding, LayerNorm / RMSNorm, activation,
 * the gated MLP's product, rotary positions and cross-entropy, each with its
 * forward-mode derivatives (first and second order) and its reverse-mode
 * derivative (optionally with its tangent, for forward-over-reverse HVPs).
 *
 * The formulas, and which sums are taken in double, are those of
 * src/cpu/transformer_ops.c (its comments derive them); with -fmad=false the
 * float arithmetic rounds as the CPU's does (-ffp-contract=off), so only the
 * order of summation and the libm functions differ.
 *
 * Row kernels give each row one warp (lanes stride over the row); the
 * reductions shuffle within the warp, so a whole warp leaves together.
 */
#include "transformer_cuda.h"

namespace polca_cuda {

namespace {

#define ROW_SETUP(R)                                                           \
    const int64_t row = (int64_t)blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5); \
    const int lane = threadIdx.x & 31;                                         \
    if (row >= (R)) return

unsigned grid_for(int64_t n) {
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b < 1 ? 1 : (b > 65536 ? 65536 : b));
}

/* ---- embedding ---- */

__global__ void embed_kernel(int64_t R, int64_t D, int64_t T, const int32_t *__restrict__ tok,
                             const float *__restrict__ W_E, const float *__restrict__ W_pos,
                             float *__restrict__ x) {
    const int64_t total = R * D;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = idx / D, j = idx - r * D;
        const float e = W_E[(int64_t)tok[r] * D + j];
        x[idx] = W_pos ? e + W_pos[(r % T) * D + j] : e;
    }
}

/* One block per token segment: gW_E[token] += sum of the segment's rows. */
__global__ void embed_bwd_kernel(int64_t D, const int64_t *__restrict__ seg_start,
                                 const int32_t *__restrict__ seg_tok,
                                 const int32_t *__restrict__ seg_rows,
                                 const float *__restrict__ dx, float *__restrict__ gW_E) {
    const int64_t seg = blockIdx.x;
    const int64_t i0 = seg_start[seg], i1 = seg_start[seg + 1];
    float *out = gW_E + (int64_t)seg_tok[seg] * D;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
        double acc = 0.0;
        for (int64_t i = i0; i < i1; i++) acc += (double)dx[(int64_t)seg_rows[i] * D + j];
        out[j] += (float)acc;
    }
}

/* ---- LayerNorm (center = 1) and RMSNorm (center = 0) ----
 * RMSNorm is LayerNorm with every mean (of x, x', x'', dn, dn') taken as 0:
 * n = x s, s = 1/sqrt(mean(x^2) + eps), and the tangent and reverse
 * formulas below hold unchanged (s' = -s^2 alpha either way). b, b1 NULL:
 * no bias. */

__global__ void ln_fwd_kernel(int64_t R, int64_t D, int center, double eps,
                              const float *__restrict__ x, const float *__restrict__ w,
                              const float *__restrict__ b, float *__restrict__ n,
                              float *__restrict__ s, float *__restrict__ y) {
    ROW_SETUP(R);
    const float *xr = x + row * D;
    float *nr = n + row * D, *yr = y + row * D;
    double sum = 0.0, sq = 0.0;
    if (center)
        for (int64_t j = lane; j < D; j += 32) sum += xr[j];
    const double mean = center ? warp_sum(sum) / (double)D : 0.0;
    for (int64_t j = lane; j < D; j += 32) {
        double c = xr[j] - mean;
        sq += c * c;
    }
    sq = warp_sum(sq);
    const float sr = (float)(1.0 / sqrt(sq / (double)D + eps)), mf = (float)mean;
    if (lane == 0) s[row] = sr;
    for (int64_t j = lane; j < D; j += 32) {
        const float nv = (xr[j] - mf) * sr;
        nr[j] = nv;
        yr[j] = b ? nv * w[j] + b[j] : nv * w[j];
    }
}

/* n' = s (c1 - n alpha), y' = n' w + n w' + b';
 * n'' = s (c2 - n alpha') - 2 s alpha n', y'' = n'' w + 2 n' w'. */
__global__ void ln_tan_kernel(int64_t R, int64_t D, int center, const float *__restrict__ n,
                              const float *__restrict__ s, const float *__restrict__ w,
                              const float *__restrict__ x1, const float *__restrict__ w1,
                              const float *__restrict__ b1, const float *__restrict__ x2,
                              float *__restrict__ n1, float *__restrict__ alpha,
                              float *__restrict__ y1, float *__restrict__ y2) {
    ROW_SETUP(R);
    const double inv_d = 1.0 / (double)D;
    const float *nr = n + row * D, *x1r = x1 + row * D;
    float *n1r = n1 + row * D, *y1r = y1 + row * D;
    const float sr = s[row];
    double m1 = 0.0, m2 = 0.0, a = 0.0, a2 = 0.0;
    if (center) {
        for (int64_t j = lane; j < D; j += 32) m1 += x1r[j];
        if (x2)
            for (int64_t j = lane; j < D; j += 32) m2 += x2[row * D + j];
    }
    const float m1f = center ? (float)(warp_sum(m1) * inv_d) : 0.0f;
    const float m2f = center && x2 ? (float)(warp_sum(m2) * inv_d) : 0.0f;
    for (int64_t j = lane; j < D; j += 32) a += (double)nr[j] * (double)(x1r[j] - m1f);
    const float af = (float)(warp_sum(a) * inv_d);
    if (lane == 0) alpha[row] = af;
    for (int64_t j = lane; j < D; j += 32) {
        const float c1 = x1r[j] - m1f;
        const float n1v = sr * (c1 - nr[j] * af);
        n1r[j] = n1v;
        y1r[j] = b1 ? n1v * w[j] + nr[j] * w1[j] + b1[j] : n1v * w[j] + nr[j] * w1[j];
        if (x2) a2 += (double)n1v * (double)c1 + (double)nr[j] * (double)(x2[row * D + j] - m2f);
    }
    if (!x2) return;
    const float a2f = (float)(warp_sum(a2) * inv_d);
    const float *x2r = x2 + row * D;
    float *y2r = y2 + row * D;
    for (int64_t j = lane; j < D; j += 32) {
        const float n1v = n1r[j]; /* written by this lane above */
        const float n2 = sr * ((x2r[j] - m2f) - nr[j] * a2f) - 2.0f * sr * af * n1v;
        y2r[j] = n2 * w[j] + 2.0f * n1v * w1[j];
    }
}

/* dx += s (dn - mean dn - n beta), dn = dy w, beta = mean(dn n); tangent:
 * dx' += s (dn' - mean dn' - n' beta - n beta') - s alpha dx_row,
 * dn' = dy' w + dy w', beta' = mean(dn' n + dn n'). */
__global__ void ln_bwd_kernel(int64_t R, int64_t D, int center, const float *__restrict__ n,
                              const float *__restrict__ s, const float *__restrict__ w,
                              const float *__restrict__ dy, float *__restrict__ dx,
                              const float *__restrict__ n1, const float *__restrict__ alpha,
                              const float *__restrict__ w1, const float *__restrict__ dy1,
                              float *__restrict__ dx1) {
    ROW_SETUP(R);
    const double inv_d = 1.0 / (double)D;
    const int64_t o = row * D;
    const float sr = s[row];
    double mdn = 0.0, beta = 0.0, mdn1 = 0.0, beta1 = 0.0;
    for (int64_t j = lane; j < D; j += 32) {
        const float dn = dy[o + j] * w[j];
        mdn += dn;
        beta += (double)dn * (double)n[o + j];
        if (dy1) {
            const float dn1 = dy1[o + j] * w[j] + dy[o + j] * w1[j];
            mdn1 += dn1;
            beta1 += (double)dn1 * (double)n[o + j] + (double)dn * (double)n1[o + j];
        }
    }
    /* every lane of the warp takes part in each shuffle (center is uniform) */
    const float mdnf = center ? (float)(warp_sum(mdn) * inv_d) : 0.0f;
    const float betaf = (float)(warp_sum(beta) * inv_d);
    if (!dy1) {
        for (int64_t j = lane; j < D; j += 32) {
            const float dn = dy[o + j] * w[j];
            dx[o + j] += sr * (dn - mdnf - n[o + j] * betaf);
        }
        return;
    }
    const float mdn1f = center ? (float)(warp_sum(mdn1) * inv_d) : 0.0f;
    const float beta1f = (float)(warp_sum(beta1) * inv_d);
    const float sa = sr * alpha[row];
    for (int64_t j = lane; j < D; j += 32) {
        const float dn = dy[o + j] * w[j];
        const float dn1 = dy1[o + j] * w[j] + dy[o + j] * w1[j];
        const float dxj = sr * (dn - mdnf - n[o + j] * betaf);
        dx[o + j] += dxj;
        dx1[o + j] += sr * (dn1 - mdn1f - n1[o + j] * betaf - n[o + j] * beta1f) - sa * dxj;
    }
}

/* ---- activations: f, f', f'' ---- */

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f
#define INV_SQRT2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ void act_eval(int act, float x, float *f, float *d1, float *d2) {
    if (act == POLCA__ACT_GELU) {
        /* f = x Phi(x), f' = Phi + x phi, f'' = phi (2 - x^2) */
        const float Phi = 0.5f * (1.0f + erff(x * INV_SQRT2));
        const float phi = INV_SQRT_2PI * expf(-0.5f * x * x);
        *f = x * Phi;
        *d1 = Phi + x * phi;
        *d2 = phi * (2.0f - x * x);
    } else if (act == POLCA__ACT_GELU_NEW) {
        /* u = c (x + a x^3), t = tanh u, f = x (1 + t) / 2 */
        const float x2 = x * x;
        const float t = tanhf(GELU_C * (x + GELU_A * x2 * x));
        const float up = GELU_C * (1.0f + 3.0f * GELU_A * x2), upp = 6.0f * GELU_A * GELU_C * x;
        const float sech2 = 1.0f - t * t;
        *f = 0.5f * x * (1.0f + t);
        *d1 = 0.5f * (1.0f + t) + 0.5f * x * sech2 * up;
        *d2 = sech2 * (up - x * t * up * up + 0.5f * x * upp);
    } else if (act == POLCA__ACT_SILU) {
        /* f = x sig(x), f' = sig (1 + x (1 - sig)),
         * f'' = sig (1 - sig) (2 + x (1 - 2 sig)) */
        const float sg = 1.0f / (1.0f + expf(-x)), sp = sg * (1.0f - sg);
        *f = x * sg;
        *d1 = sg * (1.0f + x * (1.0f - sg));
        *d2 = sp * (2.0f + x * (1.0f - 2.0f * sg));
    } else {
        *f = x > 0.0f ? x : 0.0f;
        *d1 = x > 0.0f ? 1.0f : 0.0f;
        *d2 = 0.0f;
    }
}

__global__ void act_fwd_kernel(int act, int64_t count, const float *__restrict__ pre,
                               float *__restrict__ post) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        float f, d1, d2;
        act_eval(act, pre[i], &f, &d1, &d2);
        post[i] = f;
    }
}

/* post' = f' pre'; post'' = f' pre'' + f'' pre'^2 */
__global__ void act_tan_kernel(int act, int64_t count, const float *__restrict__ pre,
                               const float *__restrict__ pre1, const float *__restrict__ pre2,
                               float *__restrict__ post1, float *__restrict__ post2) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        float f, d1, d2;
        act_eval(act, pre[i], &f, &d1, &d2);
        const float p1 = pre1[i];
        post1[i] = d1 * p1;
        if (pre2) post2[i] = d1 * pre2[i] + d2 * p1 * p1;
    }
}

/* d = d f'; tangent: d' = d' f' + d f'' pre' (from the incoming d) */
__global__ void act_bwd_kernel(int act, int64_t count, const float *__restrict__ pre,
                               float *__restrict__ d, const float *__restrict__ pre1,
                               float *__restrict__ dd1) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        float f, d1, d2;
        act_eval(act, pre[i], &f, &d1, &d2);
        const float di = d[i];
        if (pre1) dd1[i] = dd1[i] * d1 + di * d2 * pre1[i];
        d[i] = di * d1;
    }
}

/* ---- gated MLP: post = f(g) up ---- */

__global__ void glu_fwd_kernel(int act, int64_t count, const float *__restrict__ gate,
                               const float *__restrict__ up, float *__restrict__ post) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        float f, d1, d2;
        act_eval(act, gate[i], &f, &d1, &d2);
        post[i] = f * up[i];
    }
}

/* post' = f' g' u + f u'; post'' = (f' g'' + f'' g'^2) u + 2 f' g' u' + f u'' */
__global__ void glu_tan_kernel(int act, int64_t count, const float *__restrict__ gate,
                               const float *__restrict__ up, const float *__restrict__ gate1,
                               const float *__restrict__ up1, const float *__restrict__ gate2,
                               const float *__restrict__ up2, float *__restrict__ post1,
                               float *__restrict__ post2) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        float f, d1, d2;
        act_eval(act, gate[i], &f, &d1, &d2);
        const float u = up[i], g1 = gate1[i], u1 = up1[i];
        const float a1 = d1 * g1; /* f(g)' */
        post1[i] = a1 * u + f * u1;
        if (gate2) {
            const float a2 = d1 * gate2[i] + d2 * g1 * g1; /* f(g)'' */
            post2[i] = a2 * u + 2.0f * a1 * u1 + f * up2[i];
        }
    }
}

/* d: dpost -> dup = dpost f; dgate = dpost u f'. Tangent (from the incoming
 * dpost and dpost'): dup' = dpost' f + dpost f' g',
 * dgate' = dpost' u f' + dpost u' f' + dpost u f'' g'. */
__global__ void glu_bwd_kernel(int act, int64_t count, const float *__restrict__ gate,
                               const float *__restrict__ up, float *__restrict__ d,
                               float *__restrict__ dgate, const float *__restrict__ gate1,
                               const float *__restrict__ up1, float *__restrict__ dd1,
                               float *__restrict__ dgate1) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (int64_t)gridDim.x * blockDim.x) {
        float f, d1, d2;
        act_eval(act, gate[i], &f, &d1, &d2);
        const float dp = d[i], u = up[i];
        if (dd1) {
            const float dp1 = dd1[i], g1 = gate1[i], u1 = up1[i];
            dd1[i] = dp1 * f + dp * d1 * g1;
            dgate1[i] = dp1 * u * d1 + dp * u1 * d1 + dp * u * d2 * g1;
        }
        d[i] = dp * f;
        dgate[i] = dp * u * d1;
    }
}

/* ---- rotary positions ---- */

/* cs[t][i] = cos(t f_i), sn[t][i] = sin(t f_i), f_i = theta^(-2i / rotary_dim),
 * in double, rounded once. */
__global__ void rope_table_kernel(int64_t T, int64_t half, double theta, float *__restrict__ cs,
                                  float *__restrict__ sn) {
    const int64_t total = T * half;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = idx / half, i = idx - t * half;
        const double f = pow(theta, -(double)(2 * i) / (double)(2 * half));
        double sv, cv;
        sincos((double)t * f, &sv, &cv);
        cs[idx] = (float)cv;
        sn[idx] = (float)sv;
    }
}

/* Rotate-half on the first 2 half dims of each of the `heads` heads (width
 * E, starting at column 0 of rows of width ld): pairs (i, i + half),
 * y_i = x_i c - x_{i+half} s, y_{i+half} = x_{i+half} c + x_i s at the row's
 * position t = row mod T; sign = -1 applies the inverse (transpose). */
__global__ void rope_kernel(int64_t R, int64_t T, int64_t heads, int64_t E, int64_t half,
                            int64_t ld, float sign, const float *__restrict__ cs,
                            const float *__restrict__ sn, float *__restrict__ x) {
    const int64_t per_row = heads * half, total = R * per_row;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = idx / per_row, rem = idx - row * per_row;
        const int64_t h = rem / half, i = rem - h * half;
        const int64_t t = row % T;
        const float c = cs[t * half + i], sv = sign * sn[t * half + i];
        float *p = x + row * ld + h * E;
        const float a = p[i], b = p[i + half];
        p[i] = a * c - b * sv;
        p[i + half] = b * c + a * sv;
    }
}

/* ---- cross-entropy of the next token ---- */

/* Probabilities in place, loss of the row's sample; row_loss[row] (double)
 * when row_loss != NULL (0 on rows not scored). */
__global__ void ce_fwd_kernel(int64_t R, int64_t V, float *__restrict__ z,
                              const int32_t *__restrict__ tok, const int64_t *__restrict__ sample,
                              float *__restrict__ losses, double *__restrict__ row_loss) {
    ROW_SETUP(R);
    const int64_t smp = sample[row];
    if (smp < 0) {
        if (row_loss && lane == 0) row_loss[row] = 0.0;
        return;
    }
    float *zr = z + row * V;
    const int64_t t = tok[row + 1];
    /* the target logit comes from the lane that later overwrites it */
    float m = -INFINITY, mine = 0.0f;
    for (int64_t j = lane; j < V; j += 32) {
        const float v = zr[j];
        m = fmaxf(m, v);
        if (j == t) mine = v;
    }
    m = warp_max(m);
    const float zt = __shfl_sync(0xffffffffu, mine, (int)(t & 31));
    double se = 0.0;
    for (int64_t j = lane; j < V; j += 32) se += exp((double)zr[j] - m);
    const double lse = m + log(warp_sum(se));
    const double loss = lse - zt;
    for (int64_t j = lane; j < V; j += 32) zr[j] = (float)exp((double)zr[j] - lse);
    if (lane == 0) {
        if (losses) losses[smp] = (float)loss;
        if (row_loss) row_loss[row] = loss;
    }
}

/* *acc += sum of row_loss[0 .. R-1], one block, in a fixed order. */
__global__ void sum_kernel(int64_t R, const double *__restrict__ v, double *__restrict__ acc) {
    __shared__ double lanes[kThreads / 32];
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < R; i += blockDim.x) s += v[i];
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) lanes[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int i = 0; i < kThreads / 32; i++) t += lanes[i];
        *acc += t;
    }
}

/* l' = <p, z'> - z'_t; l'' = <p, z''> - z''_t + <p, z'^2> - <p, z'>^2 */
__global__ void ce_tan_kernel(int64_t R, int64_t V, const float *__restrict__ p,
                              const float *__restrict__ z1, const float *__restrict__ z2,
                              const int32_t *__restrict__ tok, const int64_t *__restrict__ sample,
                              float *__restrict__ g, float *__restrict__ c) {
    ROW_SETUP(R);
    const int64_t smp = sample[row];
    if (smp < 0) return;
    const int64_t o = row * V, t = tok[row + 1];
    double mu = 0.0, sq = 0.0, m2 = 0.0;
    for (int64_t j = lane; j < V; j += 32) {
        const double pz = (double)p[o + j] * z1[o + j];
        mu += pz;
        sq += pz * z1[o + j];
        if (z2) m2 += (double)p[o + j] * z2[o + j];
    }
    mu = warp_sum(mu);
    sq = warp_sum(sq);
    if (z2) m2 = warp_sum(m2);
    if (lane != 0) return;
    g[smp] = (float)(mu - z1[o + t]);
    if (z2) c[smp] = (float)(m2 - z2[o + t] + sq - mu * mu);
}

__global__ void ce_bwd_kernel(int64_t R, int64_t V, float w, const float *__restrict__ p,
                              float *__restrict__ dz, const float *__restrict__ z1,
                              float *__restrict__ dz1, const int32_t *__restrict__ tok,
                              const int64_t *__restrict__ sample) {
    ROW_SETUP(R);
    const int64_t o = row * V;
    if (sample[row] < 0) {
        for (int64_t j = lane; j < V; j += 32) {
            dz[o + j] = 0.0f;
            if (dz1) dz1[o + j] = 0.0f;
        }
        return;
    }
    const int64_t t = tok[row + 1];
    for (int64_t j = lane; j < V; j += 32) {
        float v = w * p[o + j];
        if (j == t) v -= w;
        dz[o + j] = v;
    }
    if (!dz1) return;
    double mu = 0.0;
    for (int64_t j = lane; j < V; j += 32) mu += (double)p[o + j] * z1[o + j];
    const float muf = (float)warp_sum(mu);
    for (int64_t j = lane; j < V; j += 32) dz1[o + j] = w * p[o + j] * (z1[o + j] - muf);
}

} // namespace

/* ---- launchers ---- */

int32_t op_embed(const tf_run *r, const float *W_E, const float *W_pos, float *x) {
    if (r->R <= 0) return POLCA_OK;
    embed_kernel<<<grid_for(r->R * r->D), kThreads, 0, r->s->stream>>>(r->R, r->D, r->T,
                                                                        r->tokens, W_E, W_pos, x);
    LAUNCHED(r->s, "embedding kernel");
    return POLCA_OK;
}

int32_t op_embed_bwd(const tf_run *r, const float *dx, float *gW_E, float *gW_pos) {
    if (r->R <= 0) return POLCA_OK;
    if (gW_E && r->nseg > 0) {
        embed_bwd_kernel<<<(unsigned)r->nseg, 128, 0, r->s->stream>>>(
            r->D, r->seg_start + r->seg0, r->seg_tok + r->seg0, r->seg_rows, dx, gW_E);
        LAUNCHED(r->s, "embedding gradient kernel");
    }
    /* W_pos[t] collects row t of every sequence: column sums of [B][T*D] */
    return col_sums(r, r->B, r->T * r->D, dx, r->T * r->D, nullptr, 0, nullptr, 0, nullptr, 0,
                    gW_pos);
}

int32_t op_ln_fwd(const tf_run *r, const float *x, const float *w, const float *b, float *n,
                  float *s, float *y) {
    if (r->R <= 0) return POLCA_OK;
    ln_fwd_kernel<<<row_blocks(r->R), kThreads, 0, r->s->stream>>>(r->R, r->D, r->center, r->eps,
                                                                    x, w, b, n, s, y);
    LAUNCHED(r->s, "LayerNorm kernel");
    return POLCA_OK;
}

int32_t op_ln_tan(const tf_run *r, const float *n, const float *s, const float *w,
                  const float *x1, const float *w1, const float *b1, const float *x2, float *n1,
                  float *alpha, float *y1, float *y2) {
    if (r->R <= 0) return POLCA_OK;
    ln_tan_kernel<<<row_blocks(r->R), kThreads, 0, r->s->stream>>>(
        r->R, r->D, r->center, n, s, w, x1, w1, b1, x2, n1, alpha, y1, y2);
    LAUNCHED(r->s, "LayerNorm tangent kernel");
    return POLCA_OK;
}

int32_t op_ln_bwd(const tf_run *r, const float *n, const float *s, const float *w,
                  const float *dy, float *dx, float *dw, float *db, const float *n1,
                  const float *alpha, const float *w1, const float *dy1, float *dx1, float *dw1,
                  float *db1) {
    if (r->R <= 0) return POLCA_OK;
    const int64_t R = r->R, D = r->D;
    ln_bwd_kernel<<<row_blocks(R), kThreads, 0, r->s->stream>>>(R, D, r->center, n, s, w, dy, dx,
                                                                 n1, alpha, w1, dy1, dx1);
    LAUNCHED(r->s, "LayerNorm reverse kernel");
    int32_t st;
    if ((st = col_sums(r, R, D, dy, D, n, D, nullptr, 0, nullptr, 0, dw))) return st;
    if ((st = col_sums(r, R, D, dy, D, nullptr, 0, nullptr, 0, nullptr, 0, db))) return st;
    if (!dy1) return POLCA_OK;
    if ((st = col_sums(r, R, D, dy1, D, n, D, dy, D, n1, D, dw1))) return st;
    return col_sums(r, R, D, dy1, D, nullptr, 0, nullptr, 0, nullptr, 0, db1);
}

int32_t op_act_fwd(const tf_run *r, int64_t count, const float *pre, float *post) {
    if (count <= 0) return POLCA_OK;
    act_fwd_kernel<<<grid_for(count), kThreads, 0, r->s->stream>>>(r->act, count, pre, post);
    LAUNCHED(r->s, "activation kernel");
    return POLCA_OK;
}

int32_t op_act_tan(const tf_run *r, int64_t count, const float *pre, const float *pre1,
                   const float *pre2, float *post1, float *post2) {
    if (count <= 0) return POLCA_OK;
    act_tan_kernel<<<grid_for(count), kThreads, 0, r->s->stream>>>(r->act, count, pre, pre1, pre2,
                                                                    post1, post2);
    LAUNCHED(r->s, "activation tangent kernel");
    return POLCA_OK;
}

int32_t op_act_bwd(const tf_run *r, int64_t count, const float *pre, float *d, const float *pre1,
                   float *d1) {
    if (count <= 0) return POLCA_OK;
    act_bwd_kernel<<<grid_for(count), kThreads, 0, r->s->stream>>>(r->act, count, pre, d, pre1,
                                                                    d1);
    LAUNCHED(r->s, "activation reverse kernel");
    return POLCA_OK;
}

int32_t op_glu_fwd(const tf_run *r, int64_t count, const float *gate, const float *up,
                   float *post) {
    if (count <= 0) return POLCA_OK;
    glu_fwd_kernel<<<grid_for(count), kThreads, 0, r->s->stream>>>(r->act, count, gate, up, post);
    LAUNCHED(r->s, "gated MLP kernel");
    return POLCA_OK;
}

int32_t op_glu_tan(const tf_run *r, int64_t count, const float *gate, const float *up,
                   const float *gate1, const float *up1, const float *gate2, const float *up2,
                   float *post1, float *post2) {
    if (count <= 0) return POLCA_OK;
    glu_tan_kernel<<<grid_for(count), kThreads, 0, r->s->stream>>>(
        r->act, count, gate, up, gate1, up1, gate2, gate2 ? up2 : nullptr, post1, post2);
    LAUNCHED(r->s, "gated MLP tangent kernel");
    return POLCA_OK;
}

int32_t op_glu_bwd(const tf_run *r, int64_t count, const float *gate, const float *up, float *d,
                   float *dgate, const float *gate1, const float *up1, float *d1, float *dgate1) {
    if (count <= 0) return POLCA_OK;
    glu_bwd_kernel<<<grid_for(count), kThreads, 0, r->s->stream>>>(
        r->act, count, gate, up, d, dgate, gate1, up1, d1, d1 ? dgate1 : nullptr);
    LAUNCHED(r->s, "gated MLP reverse kernel");
    return POLCA_OK;
}

int32_t op_rope_table(const tf_run *r) {
    const int64_t n = r->T * r->rot_half;
    if (n <= 0) return POLCA_OK;
    rope_table_kernel<<<grid_for(n), kThreads, 0, r->s->stream>>>(
        r->T, r->rot_half, (double)r->cfg->rope_theta, r->rope_cos, r->rope_sin);
    LAUNCHED(r->s, "rotary table kernel");
    return POLCA_OK;
}

int32_t op_rope(const tf_run *r, float *qkv, bool inverse) {
    /* q (H heads) and k (G heads) are adjacent: H + G heads from column 0 */
    const int64_t heads = r->H + r->G, n = r->R * heads * r->rot_half;
    if (r->rot_half <= 0 || n <= 0) return POLCA_OK;
    rope_kernel<<<grid_for(n), kThreads, 0, r->s->stream>>>(r->R, r->T, heads, r->E, r->rot_half,
                                                             r->L3, inverse ? -1.0f : 1.0f,
                                                             r->rope_cos, r->rope_sin, qkv);
    LAUNCHED(r->s, "rotary kernel");
    return POLCA_OK;
}

int32_t op_ce_fwd(const tf_run *r, float *logits, float *losses, bool sum) {
    if (r->R <= 0) return POLCA_OK;
    double *row_loss = sum ? r->row_loss : nullptr;
    ce_fwd_kernel<<<row_blocks(r->R), kThreads, 0, r->s->stream>>>(r->R, r->V, logits, r->tokens,
                                                                    r->sample, losses, row_loss);
    LAUNCHED(r->s, "cross-entropy kernel");
    if (!sum) return POLCA_OK;
    sum_kernel<<<1, kThreads, 0, r->s->stream>>>(r->R, r->row_loss, r->loss_acc);
    LAUNCHED(r->s, "loss sum kernel");
    return POLCA_OK;
}

int32_t op_ce_tan(const tf_run *r, const float *p, const float *z1, const float *z2, float *g,
                  float *c) {
    if (r->R <= 0) return POLCA_OK;
    ce_tan_kernel<<<row_blocks(r->R), kThreads, 0, r->s->stream>>>(r->R, r->V, p, z1, c ? z2 : nullptr,
                                                                    r->tokens, r->sample, g, c);
    LAUNCHED(r->s, "cross-entropy tangent kernel");
    return POLCA_OK;
}

int32_t op_ce_bwd(const tf_run *r, const float *p, float *dz, const float *z1, float *dz1) {
    if (r->R <= 0) return POLCA_OK;
    ce_bwd_kernel<<<row_blocks(r->R), kThreads, 0, r->s->stream>>>(
        r->R, r->V, r->weight, p, dz, z1, z1 ? dz1 : nullptr, r->tokens, r->sample);
    LAUNCHED(r->s, "cross-entropy reverse kernel");
    return POLCA_OK;
}

} // namespace polca_cuda
