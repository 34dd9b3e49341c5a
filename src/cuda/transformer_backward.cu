/*
 * src/cuda/transformer_backward.cu - the reverse pass of one chunk,
 * optionally differentiated once more along a direction v
 * (forward-over-reverse), and the tf_grad and tf_hvp entries
 * (src/cpu/transformer_backward.c on the GPU).
 *
 * Gradient: reverse mode on the stored primal activations, the mean loss's
 * weight 1/N folded into the logits' adjoint. HVP: the forward pass carries
 * first-order tangents (transformer_tangent.cu), the reverse pass carries
 * the tangent dx' of every adjoint dx, and the tangent of each parameter
 * gradient is H v. For y = x W + b:
 *   dx  = dy W^T                dW  += x^T dy              db  += sum dy
 *   dx' = dy' W^T + dy v_W^T    dW' += x'^T dy + x^T dy'   db' += sum dy'
 * Both accumulate over chunks into a private [P] vector that is copied to
 * the output only when everything succeeded.
 */
#include "transformer_cuda.h"

namespace polca_cuda {

namespace {

/* x^T dy (k x n) added to gW [k][n], or with wt (gW stored [n][k], the
 * tied W_E) dy^T x added to gW: the same numbers, transposed. */
int32_t weight_grad(const tf_run *r, int64_t k, int64_t n, bool wt, float alpha, const float *x,
                    int64_t ldx, const float *dy, int64_t ldy, float *gW) {
    if (wt) return gemm(r, true, false, n, k, r->R, alpha, dy, ldy, x, ldx, 1.0f, gW, k);
    return gemm(r, true, false, k, n, r->R, alpha, x, ldx, dy, ldy, 1.0f, gW, n);
}

/* Reverse of y = x W + b (W [k][n], or with wt stored [n][k] and used
 * transposed: the tied unembedding W_E^T); every output may be NULL
 * (skipped). dx and dx1 are overwritten (beta_dx = 0) or accumulated (1). */
int32_t linear_bwd(const tf_run *r, int64_t k, int64_t n, const float *x, const float *x1,
                   int64_t ldx, const float *W, const float *W1, bool wt, const float *dy,
                   const float *dy1, int64_t ldy, float beta_dx, float *dx, float *dx1,
                   int64_t lddx, float *gW, float *gb, float *hW, float *hb) {
    const int64_t R = r->R, ldw = wt ? k : n;
    /* dx = dy op(W)^T: W^T for W [k][n]; W itself when W is stored [n][k] */
    const bool tw = !wt;
    int32_t st;
    if (dx && (st = gemm(r, false, tw, R, k, n, 1.0f, dy, ldy, W, ldw, beta_dx, dx, lddx))) return st;
    if (gW && (st = weight_grad(r, k, n, wt, 1.0f, x, ldx, dy, ldy, gW))) return st;
    if ((st = col_sums(r, R, n, dy, ldy, nullptr, 0, nullptr, 0, nullptr, 0, gb))) return st;
    if (!dy1) return POLCA_OK;
    if (dx1 && ((st = gemm(r, false, tw, R, k, n, 1.0f, dy1, ldy, W, ldw, beta_dx, dx1, lddx)) ||
                (st = gemm(r, false, tw, R, k, n, 1.0f, dy, ldy, W1, ldw, 1.0f, dx1, lddx))))
        return st;
    if (hW && ((st = weight_grad(r, k, n, wt, 1.0f, x1, ldx, dy, ldy, hW)) ||
               (st = weight_grad(r, k, n, wt, 1.0f, x, ldx, dy1, ldy, hW))))
        return st;
    return col_sums(r, R, n, dy1, ldy, nullptr, 0, nullptr, 0, nullptr, 0, hb);
}

/* Reverse of qkv = a1 W_[QKV] + b_[QKV] for the H + 2G heads (W
 * [H + 2G][D][E]; dqkv already rotated back with rotary positions):
 * dln = dqkv W^T as ONE GEMM against the stacked transpose [L3][D];
 * weight gradients as one batched GEMM. Tangent: dln' = dqkv' W^T + dqkv
 * v_W^T, hW += a1'^T dqkv + a1^T dqkv'. */
int32_t qkv_bwd(const tf_run *r, const float *a1, const float *a1_1, const float *W,
                const float *W1, const float *dqkv, const float *dqkv1, float *dln, float *dln1,
                float *gW, float *gb, float *hW, float *hb) {
    const int64_t R = r->R, D = r->D, E = r->E, L3 = r->L3, n = r->H + 2 * r->G;
    int32_t st;
    if ((st = transpose_heads(r, n, D, E, W, r->Wt)) ||
        (st = gemm(r, false, false, R, D, L3, 1.0f, dqkv, L3, r->Wt, D, 0.0f, dln, D)))
        return st;
    if (gW && (st = gemm_batched(r, true, false, D, E, R, 1.0f, a1, D, 0, dqkv, L3, E, 1.0f, gW, E,
                                 D * E, n)))
        return st;
    if ((st = col_sums(r, R, L3, dqkv, L3, nullptr, 0, nullptr, 0, nullptr, 0, gb))) return st;
    if (!dqkv1) return POLCA_OK;
    if ((st = transpose_heads(r, n, D, E, W1, r->Wt1)) ||
        (st = gemm(r, false, false, R, D, L3, 1.0f, dqkv1, L3, r->Wt, D, 0.0f, dln1, D)) ||
        (st = gemm(r, false, false, R, D, L3, 1.0f, dqkv, L3, r->Wt1, D, 1.0f, dln1, D)))
        return st;
    if (hW && ((st = gemm_batched(r, true, false, D, E, R, 1.0f, a1_1, D, 0, dqkv, L3, E, 1.0f, hW,
                                  E, D * E, n)) ||
               (st = gemm_batched(r, true, false, D, E, R, 1.0f, a1, D, 0, dqkv1, L3, E, 1.0f, hW,
                                  E, D * E, n))))
        return st;
    return col_sums(r, R, L3, dqkv1, L3, nullptr, 0, nullptr, 0, nullptr, 0, hb);
}

#define OPT(p, field) ((p) ? (p)->field : nullptr)

/* Reverse of the MLP branch x += m(a2) of one block: reads the branch
 * output's adjoint dy (and dy1), leaves the adjoint of a2 in dln (dln1).
 * Plain: wide = dpost -> dpre; gated: wide = dpost -> dup, dgate, and
 * dln = dup W_in^T + dgate W_gate^T. */
int32_t mlp_bwd(const tf_call *c, const tf_block_view *w, const tf_block_view *vb,
                const tf_block_view *gb, const tf_block_view *hb, const tf_block_acts *s,
                const tf_block_acts *u, const float *dy, const float *dy1, float *dln,
                float *dln1) {
    const tf_run *r = &c->run;
    const int64_t D = r->D, M = r->M, R = r->R;
    const bool tan = u != nullptr;
    float *wide = c->wide, *wide1 = tan ? c->wide_1 : nullptr;
    int32_t st;
    if ((st = linear_bwd(r, M, D, s->post, OPT(u, post), M, w->W_out, vb->W_out, false, dy, dy1, D,
                         0.0f, wide, wide1, M, gb->W_out, gb->b_out, hb->W_out, hb->b_out)))
        return st;
    if (!r->gated) {
        if ((st = op_act_bwd(r, R * M, s->pre, wide, OPT(u, pre), wide1))) return st;
        return linear_bwd(r, D, M, s->a2, OPT(u, a2), D, w->W_in, vb->W_in, false, wide, wide1, M,
                          0.0f, dln, dln1, D, gb->W_in, gb->b_in, hb->W_in, hb->b_in);
    }
    float *dgate = c->dgate, *dgate1 = tan ? c->dgate_1 : nullptr;
    if ((st = op_glu_bwd(r, R * M, s->gate, s->pre, wide, dgate, OPT(u, gate), OPT(u, pre), wide1,
                         dgate1)) ||
        (st = linear_bwd(r, D, M, s->a2, OPT(u, a2), D, w->W_in, vb->W_in, false, wide, wide1, M,
                         0.0f, dln, dln1, D, gb->W_in, gb->b_in, hb->W_in, hb->b_in)))
        return st;
    return linear_bwd(r, D, M, s->a2, OPT(u, a2), D, w->W_gate, vb->W_gate, false, dgate, dgate1,
                      M, 1.0f, dln, dln1, D, gb->W_gate, nullptr, hb->W_gate, nullptr);
}

/* Adds the chunk's share of the mean loss's gradient to grad (its pointers
 * may be NULL: skipped) and, when t1 != NULL, the gradient's tangent along
 * dv to hv. */
int32_t backward_chunk(const tf_call *c, const tf_view *th, const tf_view *dv, const tf_acts *a,
                       const tf_acts *t1, const tf_view *grad, const tf_view *hv) {
    const tf_run *r = &c->run;
    const int64_t D = r->D, HE = r->HE, M = r->M, V = r->V, R = r->R;
    const bool tan = t1 != nullptr;
    const tf_block_view nob = {};
    float *dx = c->dx, *dln = c->dln, *wide = c->wide, *dqkv = c->dqkv;
    float *dx1 = tan ? c->dx_1 : nullptr, *dln1 = tan ? c->dln_1 : nullptr;
    float *wide1 = tan ? c->wide_1 : nullptr, *dqkv1 = tan ? c->dqkv_1 : nullptr;
    float *dalt = c->dalt, *dalt1 = tan ? c->dalt_1 : nullptr;
    const size_t rd_bytes = (size_t)(R * D) * sizeof(float);
    int32_t st;

    CU(r->s, cudaMemsetAsync(dx, 0, rd_bytes, r->s->stream), "cudaMemsetAsync (residual adjoint)");
    if (tan)
        CU(r->s, cudaMemsetAsync(dx1, 0, rd_bytes, r->s->stream),
           "cudaMemsetAsync (residual adjoint tangent)");

    /* loss -> logits -> final norm; tied: logits = af W_E^T, whose W_E
     * gradient (and HVP) adds to the embedding's below */
    const bool tied = r->tied;
    if ((st = op_ce_bwd(r, a->logits, wide, OPT(t1, logits), wide1)) ||
        (st = linear_bwd(r, D, V, a->af, OPT(t1, af), D, tied ? th->W_E : th->W_U,
                         tied ? OPT(dv, W_E) : OPT(dv, W_U), tied, wide, wide1, V, 0.0f, dln, dln1,
                         D, tied ? OPT(grad, W_E) : OPT(grad, W_U), OPT(grad, b_U),
                         tied ? OPT(hv, W_E) : OPT(hv, W_U), OPT(hv, b_U))) ||
        (st = op_ln_bwd(r, a->nf, a->sf, th->lnf_w, dln, dx, OPT(grad, lnf_w), OPT(grad, lnf_b),
                        OPT(t1, nf), OPT(t1, sf), OPT(dv, lnf_w), dln1, dx1, OPT(hv, lnf_w),
                        OPT(hv, lnf_b))))
        return st;

    for (int64_t l = r->n_layers - 1; l >= 0; l--) {
        const tf_block_view *w = &th->blocks[l], *vb = dv ? &dv->blocks[l] : &nob;
        const tf_block_view *gb = grad ? &grad->blocks[l] : &nob, *hb = hv ? &hv->blocks[l] : &nob;
        const tf_block_acts *s = &a->blocks[l];
        const tf_block_acts *u = tan ? &t1->blocks[l] : nullptr;
        /* The norms' adjoints add into dres. Sequential: dres = dx, so the
         * attention branch reads the adjoint of x after the MLP's norm
         * added to it. Parallel (x + attn(N1 x) + mlp(N2 x)): both
         * branches read the block output's adjoint dx unchanged; dres
         * starts as a copy of it, and becomes dx at the end. */
        const bool par = r->parallel;
        float *dres = par ? dalt : dx, *dres1 = par ? dalt1 : dx1;
        if (par) {
            CU(r->s, cudaMemcpyAsync(dalt, dx, rd_bytes, cudaMemcpyDeviceToDevice, r->s->stream),
               "copy of the residual adjoint");
            if (tan)
                CU(r->s,
                   cudaMemcpyAsync(dalt1, dx1, rd_bytes, cudaMemcpyDeviceToDevice, r->s->stream),
                   "copy of the residual adjoint tangent");
        }
        if (M > 0) {
            /* x += m(N2(x)) */
            if ((st = mlp_bwd(c, w, vb, gb, hb, s, u, dx, dx1, dln, dln1)) ||
                (st = op_ln_bwd(r, s->n2, s->s2, w->ln2_w, dln, dres, gb->ln2_w, gb->ln2_b,
                                OPT(u, n2), OPT(u, s2), vb->ln2_w, dln1, dres1, hb->ln2_w,
                                hb->ln2_b)))
                return st;
        }
        /* x += z W_O + b_O, then attention, the rotation back, then the
         * q/k/v projections */
        if ((st = linear_bwd(r, HE, D, s->z, OPT(u, z), HE, w->W_O, vb->W_O, false, dx, dx1, D,
                             0.0f, wide, wide1, HE, gb->W_O, gb->b_O, hb->W_O, hb->b_O)) ||
            (st = attn_bwd(r, s->qkv, s->P, wide, dqkv, OPT(u, qkv), OPT(u, P), wide1, dqkv1)) ||
            (st = op_rope(r, dqkv, true)) || (tan && (st = op_rope(r, dqkv1, true))) ||
            (st = qkv_bwd(r, s->a1, OPT(u, a1), w->W_Q, vb->W_Q, dqkv, dqkv1, dln, dln1, gb->W_Q,
                          gb->b_Q, hb->W_Q, hb->b_Q)) ||
            (st = op_ln_bwd(r, s->n1, s->s1, w->ln1_w, dln, dres, gb->ln1_w, gb->ln1_b, OPT(u, n1),
                            OPT(u, s1), vb->ln1_w, dln1, dres1, hb->ln1_w, hb->ln1_b)))
            return st;
        if (par) {
            dalt = dx, dx = dres;
            dalt1 = dx1, dx1 = dres1;
        }
    }
    /* x = W_E[token] (+ W_pos[t]) */
    if (grad && (st = op_embed_bwd(r, dx, grad->W_E, grad->W_pos))) return st;
    if (hv && tan && (st = op_embed_bwd(r, dx1, hv->W_E, hv->W_pos))) return st;
    return POLCA_OK;
}

/* Gradient (v == NULL) or HVP. */
int32_t reverse(cuda_state *s, const polca__tf_config *cfg, const float *theta, int64_t n_seq,
                const int32_t *tokens, const uint8_t *mask, const float *v, double *mean_loss,
                float *out) {
    const bool tan = v != nullptr;
    tf_call c;
    int32_t st = tf_call_open(s, cfg, tan ? TF_HVP : TF_GRAD, false, n_seq, tokens, mask, &c);
    double loss_sum = 0.0;
    if (!st) {
        const int64_t L = cfg->n_layers;
        polca__tf_view_of(cfg, theta, c.views, &c.th);
        polca__tf_view_of(cfg, v, c.views + L, &c.dv);
        polca__tf_view_of(cfg, c.acc, c.views + 2 * L, &c.out);
        for (int64_t i = 0; i < c.n_chunks && !st; i++) {
            tf_call_chunk(&c, i);
            st = tf_forward_chunk(&c.run, &c.th, &c.a, c.x, nullptr, !tan);
            if (!st && tan)
                st = tf_tangent_chunk(&c.run, &c.th, &c.dv, &c.a, &c.t1, nullptr, c.x1, nullptr,
                                      nullptr, nullptr);
            if (!st)
                st = backward_chunk(&c, &c.th, tan ? &c.dv : nullptr, &c.a, tan ? &c.t1 : nullptr,
                                    tan ? nullptr : &c.out, tan ? &c.out : nullptr);
        }
        if (!st) {
            cudaError_t e = cudaMemcpyAsync(out, c.acc, (size_t)c.P * sizeof(float),
                                            cudaMemcpyDeviceToDevice, s->stream);
            if (e != cudaSuccess) st = cuda_error(s, e, "copy of the result");
        }
        if (!st && !tan) {
            cudaError_t e = cudaMemcpyAsync(&loss_sum, c.run.loss_acc, sizeof(double),
                                            cudaMemcpyDeviceToHost, s->stream);
            if (e == cudaSuccess) e = cudaStreamSynchronize(s->stream);
            if (e != cudaSuccess) st = cuda_error(s, e, "read-back of the loss sum");
        }
    }
    const int64_t N = c.N;
    st = tf_call_close(&c, st);
    if (!st && mean_loss) *mean_loss = N > 0 ? loss_sum / (double)N : 0.0;
    return st;
}

} // namespace

int32_t tf_grad(void *state, const struct polca__tf_config *cfg, const float *theta,
                int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                double *host_mean_loss, float *grad) {
    return reverse((cuda_state *)state, cfg, theta, n_seq, tokens, mask, nullptr, host_mean_loss,
                   grad);
}

int32_t tf_hvp(void *state, const struct polca__tf_config *cfg, const float *theta, int64_t n_seq,
               const int32_t *tokens, const uint8_t *mask, const float *v, float *hv) {
    return reverse((cuda_state *)state, cfg, theta, n_seq, tokens, mask, v, nullptr, hv);
}

} // namespace polca_cuda
