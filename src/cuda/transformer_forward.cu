/*
 * src/cuda/transformer_forward.cu - the primal forward pass of one chunk
 * (src/cpu/transformer_forward.c on the GPU), and the tf_losses entry.
 */
#include "transformer_cuda.h"

namespace polca_cuda {

namespace {

/* y = x W + b (b may be NULL), or y += x W + b when accumulate; W [k][n],
 * or with wt W stored [n][k] and used transposed (tied unembedding: W_E). */
int32_t linear(const tf_run *r, int64_t k, int64_t n, const float *x, int64_t ldx, const float *W,
               bool wt, const float *b, bool accumulate, float *y, int64_t ldy) {
    const int64_t ldw = wt ? k : n;
    int32_t st;
    if (accumulate) {
        if ((st = gemm(r, false, wt, r->R, n, k, 1.0f, x, ldx, W, ldw, 1.0f, y, ldy))) return st;
        return bias_rows(r, r->R, n, b, y, ldy, true);
    }
    if (b) {
        if ((st = bias_rows(r, r->R, n, b, y, ldy, false))) return st;
        return gemm(r, false, wt, r->R, n, k, 1.0f, x, ldx, W, ldw, 1.0f, y, ldy);
    }
    return gemm(r, false, wt, r->R, n, k, 1.0f, x, ldx, W, ldw, 0.0f, y, ldy);
}

/* The MLP of a block on its stored norm output s->a2: pre = a2 W_in + b_in,
 * post = act(pre), or gated: gate = a2 W_gate, post = act(gate) * pre;
 * then x += post W_out + b_out. */
int32_t mlp_fwd(const tf_run *r, const tf_block_view *w, tf_block_acts *s, float *x) {
    const int64_t D = r->D, M = r->M, R = r->R;
    int32_t st;
    if ((st = linear(r, D, M, s->a2, D, w->W_in, false, w->b_in, false, s->pre, M))) return st;
    if (r->gated) {
        if ((st = linear(r, D, M, s->a2, D, w->W_gate, false, nullptr, false, s->gate, M)) ||
            (st = op_glu_fwd(r, R * M, s->gate, s->pre, s->post)))
            return st;
    } else if ((st = op_act_fwd(r, R * M, s->pre, s->post))) {
        return st;
    }
    return linear(r, M, D, s->post, M, w->W_out, false, w->b_out, true, x, D);
}

} // namespace

int32_t tf_forward_chunk(const tf_run *r, const tf_view *th, tf_acts *a, float *x, float *losses,
                         bool sum) {
    const int64_t D = r->D, E = r->E, M = r->M, V = r->V, R = r->R, L3 = r->L3, HE = r->HE;
    int32_t st;
    /* residual stream x [R][D] = W_E[token] (+ W_pos[position]) */
    if ((st = op_embed(r, th->W_E, th->W_pos, x))) return st;
    for (int64_t l = 0; l < r->n_layers; l++) {
        const tf_block_view *w = &th->blocks[l];
        tf_block_acts *s = &a->blocks[l];
        if ((st = op_ln_fwd(r, x, w->ln1_w, w->ln1_b, s->n1, s->s1, s->a1))) return st;
        /* parallel residual: both norms read the block's input */
        if (r->parallel && M > 0 &&
            (st = op_ln_fwd(r, x, w->ln2_w, w->ln2_b, s->n2, s->s2, s->a2)))
            return st;
        /* qkv = b_QKV + a1 W_[QKV][h] for all H + 2G heads: one batched GEMM */
        if (w->b_Q && (st = bias_rows(r, R, L3, w->b_Q, s->qkv, L3, false))) return st;
        if ((st = gemm_batched(r, false, false, R, E, D, 1.0f, s->a1, D, 0, w->W_Q, E, D * E,
                               w->b_Q ? 1.0f : 0.0f, s->qkv, L3, E, r->H + 2 * r->G)) ||
            (st = op_rope(r, s->qkv, false)))
            return st;
        if ((st = attn_fwd(r, s->qkv, s->P, s->z))) return st;
        /* W_O [H][E][D] is one [HE][D] matrix */
        if ((st = linear(r, HE, D, s->z, HE, w->W_O, false, w->b_O, true, x, D))) return st;
        if (M == 0) continue;
        if (!r->parallel && (st = op_ln_fwd(r, x, w->ln2_w, w->ln2_b, s->n2, s->s2, s->a2)))
            return st;
        if ((st = mlp_fwd(r, w, s, x))) return st;
    }
    /* logits = af W_U (+ b_U), or af W_E^T (+ b_U) when tied */
    if ((st = op_ln_fwd(r, x, th->lnf_w, th->lnf_b, a->nf, a->sf, a->af)) ||
        (st = linear(r, D, V, a->af, D, r->tied ? th->W_E : th->W_U, r->tied, th->b_U, false,
                     a->logits, V)))
        return st;
    return op_ce_fwd(r, a->logits, losses, sum);
}

int32_t tf_losses(void *state, const struct polca__tf_config *cfg, const float *theta,
                  int64_t n_seq, const int32_t *tokens, const uint8_t *mask, float *losses) {
    cuda_state *s = (cuda_state *)state;
    tf_call c;
    int32_t st = tf_call_open(s, cfg, TF_LOSSES, false, n_seq, tokens, mask, &c);
    if (!st) {
        polca__tf_view_of(cfg, theta, c.views, &c.th);
        for (int64_t i = 0; i < c.n_chunks && !st; i++) {
            tf_call_chunk(&c, i);
            st = tf_forward_chunk(&c.run, &c.th, &c.a, c.x, losses, false);
        }
    }
    return tf_call_close(&c, st);
}

} // namespace polca_cuda
