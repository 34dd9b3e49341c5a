/*
 * src/cuda/transformer_tangent.cu - forward-mode (Taylor) propagation of a
 * parameter direction through one chunk, first order or first and second
 * order, on the stored primal activations (src/cpu/transformer_tangent.c on
 * the GPU); and the tf_dirderivs entry, which runs one primal pass per chunk
 * and then every direction over it.
 *
 * Parameters are linear in s (W' = d_W, W'' = 0), so y = x W + b gives
 * y' = x' W + x d_W + d_b and y'' = x'' W + 2 x' d_W.
 */
#include "transformer_cuda.h"

namespace polca_cuda {

namespace {

/* y1 (+)= x1 W + x W1 + b1;  y2 (+)= x2 W + 2 x1 W1 (y2 NULL: skipped);
 * accumulate = false overwrites y1 and y2. W, W1 [k][n], or with wt stored
 * [n][k] and used transposed (tied unembedding). b1 may be NULL. */
int32_t linear_tan(const tf_run *r, int64_t k, int64_t n, const float *x, const float *x1,
                   const float *x2, int64_t ldx, const float *W, const float *W1, bool wt,
                   const float *b1, bool accumulate, float *y1, float *y2, int64_t ldy) {
    const int64_t R = r->R, ldw = wt ? k : n;
    const float beta = accumulate ? 1.0f : 0.0f;
    int32_t st;
    if ((st = gemm(r, false, wt, R, n, k, 1.0f, x1, ldx, W, ldw, beta, y1, ldy)) ||
        (st = gemm(r, false, wt, R, n, k, 1.0f, x, ldx, W1, ldw, 1.0f, y1, ldy)) ||
        (st = bias_rows(r, R, n, b1, y1, ldy, true)))
        return st;
    if (!y2) return POLCA_OK;
    if ((st = gemm(r, false, wt, R, n, k, 1.0f, x2, ldx, W, ldw, beta, y2, ldy))) return st;
    return gemm(r, false, wt, R, n, k, 2.0f, x1, ldx, W1, ldw, 1.0f, y2, ldy);
}

/* The same for the H + 2G projections q, k, v at once: x [R][D], W and W1
 * [H + 2G][D][E], outputs [R][L3]; then the rotation (linear, the same
 * for every order). */
int32_t qkv_tan(const tf_run *r, const float *x, const float *x1, const float *x2, const float *W,
                const float *W1, const float *b1, float *y1, float *y2) {
    const int64_t R = r->R, D = r->D, E = r->E, L3 = r->L3, n = r->H + 2 * r->G;
    int32_t st;
    if ((st = gemm_batched(r, false, false, R, E, D, 1.0f, x1, D, 0, W, E, D * E, 0.0f, y1, L3, E, n)) ||
        (st = gemm_batched(r, false, false, R, E, D, 1.0f, x, D, 0, W1, E, D * E, 1.0f, y1, L3, E, n)) ||
        (st = bias_rows(r, R, L3, b1, y1, L3, true)) || (st = op_rope(r, y1, false)))
        return st;
    if (!y2) return POLCA_OK;
    if ((st = gemm_batched(r, false, false, R, E, D, 1.0f, x2, D, 0, W, E, D * E, 0.0f, y2, L3, E, n)) ||
        (st = gemm_batched(r, false, false, R, E, D, 2.0f, x1, D, 0, W1, E, D * E, 1.0f, y2, L3, E, n)))
        return st;
    return op_rope(r, y2, false);
}

/* The MLP's tangents on the stored norm-2 tangents u->a2 (uu->a2), adding
 * to x1 (x2): up' = a2' W_in + a2 v_W_in + v_b_in (and ''), plain post' =
 * act'(pre) pre', gated post' from gate' = a2' W_gate + a2 v_W_gate. */
int32_t mlp_tan(const tf_run *r, const tf_block_view *w, const tf_block_view *d,
                const tf_block_acts *s, tf_block_acts *u, tf_block_acts *uu, float *x1,
                float *x2) {
    const int64_t D = r->D, M = r->M, R = r->R;
    const bool second = uu != nullptr;
    int32_t st;
    if ((st = linear_tan(r, D, M, s->a2, u->a2, second ? uu->a2 : nullptr, D, w->W_in, d->W_in,
                         false, d->b_in, false, u->pre, second ? uu->pre : nullptr, M)))
        return st;
    if (r->gated) {
        if ((st = linear_tan(r, D, M, s->a2, u->a2, second ? uu->a2 : nullptr, D, w->W_gate,
                             d->W_gate, false, nullptr, false, u->gate,
                             second ? uu->gate : nullptr, M)) ||
            (st = op_glu_tan(r, R * M, s->gate, s->pre, u->gate, u->pre,
                             second ? uu->gate : nullptr, second ? uu->pre : nullptr, u->post,
                             second ? uu->post : nullptr)))
            return st;
    } else if ((st = op_act_tan(r, R * M, s->pre, u->pre, second ? uu->pre : nullptr, u->post,
                                second ? uu->post : nullptr))) {
        return st;
    }
    return linear_tan(r, M, D, s->post, u->post, second ? uu->post : nullptr, M, w->W_out,
                      d->W_out, false, d->b_out, true, x1, x2, D);
}

} // namespace

int32_t tf_tangent_chunk(const tf_run *r, const tf_view *th, const tf_view *dv, const tf_acts *a,
                         tf_acts *t1, tf_acts *t2, float *x1, float *x2, float *g, float *c) {
    const int64_t D = r->D, HE = r->HE, M = r->M, V = r->V, R = r->R;
    const bool second = t2 != nullptr;
    int32_t st;
    /* x' = d_W_E[token] (+ d_W_pos[t]); x'' = 0 */
    if ((st = op_embed(r, dv->W_E, dv->W_pos, x1))) return st;
    if (second)
        CU(r->s, cudaMemsetAsync(x2, 0, (size_t)(R * D) * sizeof(float), r->s->stream),
           "cudaMemsetAsync (second-order residual)");
    for (int64_t l = 0; l < r->n_layers; l++) {
        const tf_block_view *w = &th->blocks[l], *d = &dv->blocks[l];
        const tf_block_acts *s = &a->blocks[l];
        tf_block_acts *u = &t1->blocks[l], *uu = second ? &t2->blocks[l] : nullptr;
        if ((st = op_ln_tan(r, s->n1, s->s1, w->ln1_w, x1, d->ln1_w, d->ln1_b, second ? x2 : nullptr,
                            u->n1, u->s1, u->a1, second ? uu->a1 : nullptr)))
            return st;
        /* parallel residual: norm 2 of the block's input, before attention adds */
        const bool par2 = r->parallel && M > 0;
        if (par2 && (st = op_ln_tan(r, s->n2, s->s2, w->ln2_w, x1, d->ln2_w, d->ln2_b,
                                    second ? x2 : nullptr, u->n2, u->s2, u->a2,
                                    second ? uu->a2 : nullptr)))
            return st;
        if ((st = qkv_tan(r, s->a1, u->a1, second ? uu->a1 : nullptr, w->W_Q, d->W_Q, d->b_Q, u->qkv,
                          second ? uu->qkv : nullptr)) ||
            (st = attn_tan(r, s->qkv, s->P, u->qkv, u->P, u->z, second ? uu->qkv : nullptr,
                           second ? uu->z : nullptr)) ||
            (st = linear_tan(r, HE, D, s->z, u->z, second ? uu->z : nullptr, HE, w->W_O, d->W_O,
                             false, d->b_O, true, x1, second ? x2 : nullptr, D)))
            return st;
        if (M == 0) continue;
        if (!par2 && (st = op_ln_tan(r, s->n2, s->s2, w->ln2_w, x1, d->ln2_w, d->ln2_b,
                                     second ? x2 : nullptr, u->n2, u->s2, u->a2,
                                     second ? uu->a2 : nullptr)))
            return st;
        if ((st = mlp_tan(r, w, d, s, u, uu, x1, second ? x2 : nullptr))) return st;
    }
    /* logits' = af' W + af v_W + v_b_U, W = W_U or (tied) W_E^T */
    if ((st = op_ln_tan(r, a->nf, a->sf, th->lnf_w, x1, dv->lnf_w, dv->lnf_b, second ? x2 : nullptr,
                        t1->nf, t1->sf, t1->af, second ? t2->af : nullptr)) ||
        (st = linear_tan(r, D, V, a->af, t1->af, second ? t2->af : nullptr, D,
                         r->tied ? th->W_E : th->W_U, r->tied ? dv->W_E : dv->W_U, r->tied,
                         dv->b_U, false, t1->logits, second ? t2->logits : nullptr, V)))
        return st;
    if (!g) return POLCA_OK;
    return op_ce_tan(r, a->logits, t1->logits, second ? t2->logits : nullptr, g,
                     second ? c : nullptr);
}

int32_t tf_dirderivs(void *state, const struct polca__tf_config *cfg, const float *theta,
                     int64_t n_seq, const int32_t *tokens, const uint8_t *mask, int64_t k,
                     const float *dirs, float *losses, float *g, float *c) {
    cuda_state *s = (cuda_state *)state;
    tf_call call;
    int32_t st = tf_call_open(s, cfg, TF_DIRDERIVS, c != nullptr, n_seq, tokens, mask, &call);
    if (!st) {
        const int64_t L = cfg->n_layers, P = call.P, N = call.N;
        polca__tf_view_of(cfg, theta, call.views, &call.th);
        for (int64_t i = 0; i < call.n_chunks && !st; i++) {
            tf_call_chunk(&call, i);
            st = tf_forward_chunk(&call.run, &call.th, &call.a, call.x, losses, false);
            for (int64_t kk = 0; kk < k && !st; kk++) {
                polca__tf_view_of(cfg, dirs + kk * P, call.views + L, &call.dv);
                st = tf_tangent_chunk(&call.run, &call.th, &call.dv, &call.a, &call.t1,
                                      c ? &call.t2 : nullptr, call.x1, call.x2,
                                      g ? g + kk * N : nullptr, c ? c + kk * N : nullptr);
            }
        }
    }
    return tf_call_close(&call, st);
}

} // namespace polca_cuda
