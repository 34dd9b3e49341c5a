/*
 * src/cuda/transformer_attention.cu - causal multi-head attention of a chunk:
 * primal, first/second-order tangents and reverse mode (with its tangent).
 *
 * The matrix products of one head run for every sequence of the chunk as
 * one strided-batched sgemm (batch B; one call per head, since heads and
 * sequences are two different strides). The softmax and its derivatives are
 * row kernels over the B * H * T rows of the [B][H][T][T] score buffers,
 * one warp per row, j <= i only, writing zeros above the diagonal (the
 * GEMMs compute the whole T x T square; the row kernels ignore the upper
 * part). Formulas as src/cpu/transformer_ops.c:
 *
 *   S = scale q k^T, P = softmax(S), z = P v
 *   S' = scale (q' k^T + q k'^T), mu' = sum_j P S', P' = P (S' - mu'),
 *   z' = P' v + P v'
 *   S'' = scale (q'' k^T + 2 q' k'^T + q k''^T), mu'' = sum_j (P' S' + P S''),
 *   P'' = P' (S' - mu') + P (S'' - mu''), z'' = P'' v + 2 P' v' + P v''
 *   reverse: dP = dz v^T, dv = P^T dz, gamma = sum_j P dP, dS = P (dP - gamma),
 *   dq = scale dS k, dk = scale dS^T q; and the tangent of each.
 *
 * Grouped-query attention: query head h reads kv head g = h / (H / G); the
 * adjoints dk, dv of kv head g (and their tangents) are sums over the query
 * heads of its group, accumulated head by head in order (the first head of
 * a group overwrites, the rest add: one stream, so a fixed order).
 */
#include "transformer_cuda.h"

namespace polca_cuda {

namespace {

#define ROW_SETUP(R)                                                           \
    const int64_t row = (int64_t)blockIdx.x * kRowsPerBlock + (threadIdx.x >> 5); \
    const int lane = threadIdx.x & 31;                                         \
    if (row >= (R)) return

__global__ void softmax_rows(int64_t rows, int64_t T, float *__restrict__ P) {
    ROW_SETUP(rows);
    const int64_t i = row % T;
    float *p = P + row * T;
    float m = -INFINITY;
    for (int64_t j = lane; j <= i; j += 32) m = fmaxf(m, p[j]);
    m = warp_max(m);
    float sum = 0.0f;
    for (int64_t j = lane; j <= i; j += 32) {
        const float e = expf(p[j] - m);
        p[j] = e;
        sum += e;
    }
    const float inv = 1.0f / warp_sum(sum);
    for (int64_t j = lane; j <= i; j += 32) p[j] *= inv;
    for (int64_t j = i + 1 + lane; j < T; j += 32) p[j] = 0.0f;
}

/* P1 = P (S1 - mu1); with S2: S2 <- P2 = P1 (S1 - mu1) + P (S2 - mu2). */
__global__ void tangent_rows(int64_t rows, int64_t T, const float *__restrict__ P,
                             const float *__restrict__ S1, float *__restrict__ P1,
                             float *__restrict__ S2) {
    ROW_SETUP(rows);
    const int64_t i = row % T, o = row * T;
    float mu1 = 0.0f;
    for (int64_t j = lane; j <= i; j += 32) mu1 += P[o + j] * S1[o + j];
    mu1 = warp_sum(mu1);
    for (int64_t j = lane; j <= i; j += 32) P1[o + j] = P[o + j] * (S1[o + j] - mu1);
    for (int64_t j = i + 1 + lane; j < T; j += 32) P1[o + j] = 0.0f;
    if (!S2) return;
    float mu2 = 0.0f;
    for (int64_t j = lane; j <= i; j += 32) mu2 += P1[o + j] * S1[o + j] + P[o + j] * S2[o + j];
    mu2 = warp_sum(mu2);
    for (int64_t j = lane; j <= i; j += 32)
        S2[o + j] = P1[o + j] * (S1[o + j] - mu1) + P[o + j] * (S2[o + j] - mu2);
    for (int64_t j = i + 1 + lane; j < T; j += 32) S2[o + j] = 0.0f;
}

/* dP <- dS = P (dP - gamma); with dP1: dP1 <- dS1 = P1 (dP - gamma) + P (dP1 - gamma1). */
__global__ void reverse_rows(int64_t rows, int64_t T, const float *__restrict__ P,
                             float *__restrict__ dP, const float *__restrict__ P1,
                             float *__restrict__ dP1) {
    ROW_SETUP(rows);
    const int64_t i = row % T, o = row * T;
    float gamma = 0.0f, gamma1 = 0.0f;
    for (int64_t j = lane; j <= i; j += 32) {
        gamma += P[o + j] * dP[o + j];
        if (dP1) gamma1 += P1[o + j] * dP[o + j] + P[o + j] * dP1[o + j];
    }
    gamma = warp_sum(gamma);
    if (dP1) gamma1 = warp_sum(gamma1);
    for (int64_t j = lane; j <= i; j += 32) {
        const float d = dP[o + j];
        dP[o + j] = P[o + j] * (d - gamma);
        if (dP1) dP1[o + j] = P1[o + j] * (d - gamma) + P[o + j] * (dP1[o + j] - gamma1);
    }
    for (int64_t j = i + 1 + lane; j < T; j += 32) {
        dP[o + j] = 0.0f;
        if (dP1) dP1[o + j] = 0.0f;
    }
}

/* One head's operand for every sequence of the chunk: base pointer, leading
 * dimension, stride between sequences. */
struct mat {
    const float *p;
    int64_t ld, stride;
};

/* q of query head h, and k, v of the kv head query head h reads, in a qkv
 * buffer ([R][L3]) */
mat qh(const tf_run *r, const float *qkv, int64_t h) { return {qkv + h * r->E, r->L3, r->T * r->L3}; }
mat kh(const tf_run *r, const float *qkv, int64_t h) {
    return {qkv + r->HE + (h / r->group) * r->E, r->L3, r->T * r->L3};
}
mat vh(const tf_run *r, const float *qkv, int64_t h) {
    return {qkv + r->HE + r->KE + (h / r->group) * r->E, r->L3, r->T * r->L3};
}
/* beta for an adjoint of kv head h / group: 0 for the group's first query
 * head (overwrite), 1 after (sum over the group) */
float kv_beta(const tf_run *r, int64_t h) { return h % r->group == 0 ? 0.0f : 1.0f; }
/* head h of a [B][H][T][T] buffer */
mat ph(const tf_run *r, const float *P, int64_t h) {
    return {P + h * r->T * r->T, r->T, r->H * r->T * r->T};
}
/* head h of a [R][HE] buffer */
mat zh(const tf_run *r, const float *z, int64_t h) { return {z + h * r->E, r->HE, r->T * r->HE}; }

/* C_b = alpha op(A_b) op(B_b) + beta C_b for every sequence b. */
int32_t each_seq(const tf_run *r, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                 mat A, mat B, float beta, mat C) {
    return gemm_batched(r, ta, tb, m, n, k, alpha, A.p, A.ld, A.stride, B.p, B.ld, B.stride, beta,
                        (float *)C.p, C.ld, C.stride, r->B);
}

/* S (T x T) = alpha x y^T for x, y [T][E] */
int32_t scores(const tf_run *r, float alpha, mat x, mat y, float beta, mat S) {
    return each_seq(r, false, true, r->T, r->T, r->E, alpha, x, y, beta, S);
}
/* out (T x E) = alpha P x, P [T][T], x [T][E] */
int32_t mix(const tf_run *r, float alpha, mat P, mat x, float beta, mat out) {
    return each_seq(r, false, false, r->T, r->E, r->T, alpha, P, x, beta, out);
}
/* out (T x E) = alpha P^T x */
int32_t mix_t(const tf_run *r, float alpha, mat P, mat x, float beta, mat out) {
    return each_seq(r, true, false, r->T, r->E, r->T, alpha, P, x, beta, out);
}

} // namespace

int32_t attn_fwd(const tf_run *r, const float *qkv, float *P, float *z) {
    const int64_t rows = r->B * r->H * r->T;
    if (rows <= 0) return POLCA_OK;
    int32_t st;
    for (int64_t h = 0; h < r->H; h++)
        if ((st = scores(r, r->scale, qh(r, qkv, h), kh(r, qkv, h), 0.0f, ph(r, P, h)))) return st;
    softmax_rows<<<row_blocks(rows), kThreads, 0, r->s->stream>>>(rows, r->T, P);
    LAUNCHED(r->s, "attention softmax kernel");
    for (int64_t h = 0; h < r->H; h++)
        if ((st = mix(r, 1.0f, ph(r, P, h), vh(r, qkv, h), 0.0f, zh(r, z, h)))) return st;
    return POLCA_OK;
}

int32_t attn_tan(const tf_run *r, const float *qkv, const float *P, const float *qkv1, float *P1,
                 float *z1, const float *qkv2, float *z2) {
    const int64_t rows = r->B * r->H * r->T;
    if (rows <= 0) return POLCA_OK;
    const float sc = r->scale;
    int32_t st;
    for (int64_t h = 0; h < r->H; h++) {
        const mat q = qh(r, qkv, h), k = kh(r, qkv, h), q1 = qh(r, qkv1, h), k1 = kh(r, qkv1, h);
        const mat S1 = ph(r, r->S1, h);
        if ((st = scores(r, sc, q1, k, 0.0f, S1)) || (st = scores(r, sc, q, k1, 1.0f, S1))) return st;
        if (!qkv2) continue;
        const mat q2 = qh(r, qkv2, h), k2 = kh(r, qkv2, h), S2 = ph(r, r->S2, h);
        if ((st = scores(r, sc, q2, k, 0.0f, S2)) || (st = scores(r, 2.0f * sc, q1, k1, 1.0f, S2)) ||
            (st = scores(r, sc, q, k2, 1.0f, S2)))
            return st;
    }
    tangent_rows<<<row_blocks(rows), kThreads, 0, r->s->stream>>>(rows, r->T, P, r->S1, P1,
                                                                   qkv2 ? r->S2 : nullptr);
    LAUNCHED(r->s, "attention tangent kernel");
    for (int64_t h = 0; h < r->H; h++) {
        const mat v = vh(r, qkv, h), v1 = vh(r, qkv1, h), p = ph(r, P, h), p1 = ph(r, P1, h);
        if ((st = mix(r, 1.0f, p1, v, 0.0f, zh(r, z1, h))) ||
            (st = mix(r, 1.0f, p, v1, 1.0f, zh(r, z1, h))))
            return st;
        if (!qkv2) continue;
        const mat v2 = vh(r, qkv2, h), p2 = ph(r, r->S2, h), out = zh(r, z2, h);
        if ((st = mix(r, 1.0f, p2, v, 0.0f, out)) || (st = mix(r, 2.0f, p1, v1, 1.0f, out)) ||
            (st = mix(r, 1.0f, p, v2, 1.0f, out)))
            return st;
    }
    return POLCA_OK;
}

int32_t attn_bwd(const tf_run *r, const float *qkv, const float *P, const float *dz, float *dqkv,
                 const float *qkv1, const float *P1, const float *dz1, float *dqkv1) {
    const int64_t rows = r->B * r->H * r->T;
    if (rows <= 0) return POLCA_OK;
    const float sc = r->scale;
    const bool tan = dz1 != nullptr;
    int32_t st;
    for (int64_t h = 0; h < r->H; h++) {
        const mat v = vh(r, qkv, h), p = ph(r, P, h), dzh = zh(r, dz, h);
        const mat dP = ph(r, r->dP, h), dv = vh(r, dqkv, h);
        const float kb = kv_beta(r, h);
        /* dP = dz v^T (T x T), dv (+)= P^T dz */
        if ((st = scores(r, 1.0f, dzh, v, 0.0f, dP)) || (st = mix_t(r, 1.0f, p, dzh, kb, dv)))
            return st;
        if (!tan) continue;
        const mat v1 = vh(r, qkv1, h), p1 = ph(r, P1, h), dz1h = zh(r, dz1, h);
        const mat dP1 = ph(r, r->dP1, h), dv1 = vh(r, dqkv1, h);
        if ((st = scores(r, 1.0f, dz1h, v, 0.0f, dP1)) || (st = scores(r, 1.0f, dzh, v1, 1.0f, dP1)) ||
            (st = mix_t(r, 1.0f, p1, dzh, kb, dv1)) || (st = mix_t(r, 1.0f, p, dz1h, 1.0f, dv1)))
            return st;
    }
    reverse_rows<<<row_blocks(rows), kThreads, 0, r->s->stream>>>(rows, r->T, P, r->dP,
                                                                   tan ? P1 : nullptr,
                                                                   tan ? r->dP1 : nullptr);
    LAUNCHED(r->s, "attention reverse kernel");
    for (int64_t h = 0; h < r->H; h++) {
        const mat q = qh(r, qkv, h), k = kh(r, qkv, h), dS = ph(r, r->dP, h);
        const mat dq = qh(r, dqkv, h), dk = kh(r, dqkv, h);
        const float kb = kv_beta(r, h);
        /* dq = scale dS k, dk (+)= scale dS^T q */
        if ((st = mix(r, sc, dS, k, 0.0f, dq)) || (st = mix_t(r, sc, dS, q, kb, dk))) return st;
        if (!tan) continue;
        const mat q1 = qh(r, qkv1, h), k1 = kh(r, qkv1, h), dS1 = ph(r, r->dP1, h);
        const mat dq1 = qh(r, dqkv1, h), dk1 = kh(r, dqkv1, h);
        if ((st = mix(r, sc, dS1, k, 0.0f, dq1)) || (st = mix(r, sc, dS, k1, 1.0f, dq1)) ||
            (st = mix_t(r, sc, dS1, q, kb, dk1)) || (st = mix_t(r, sc, dS, q1, 1.0f, dk1)))
            return st;
    }
    return POLCA_OK;
}

} // namespace polca_cuda
