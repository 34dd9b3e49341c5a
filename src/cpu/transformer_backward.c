/*
 * src/cpu/transformer_backward.c - the reverse pass of one chunk, optionally
 * differentiated once more along a direction v (forward-over-reverse), and
 * the tf_grad and tf_hvp entries.
 *
 * Gradient: reverse mode on the stored primal activations, with the mean
 * loss's weight 1/N folded into the logits' adjoint.
 * HVP: H v = d/ds grad L(theta + s v) at s = 0, exactly: the forward pass
 * carries tangents (transformer_tangent.c, first order), and the reverse pass
 * carries the tangent dx' of every adjoint dx; the tangent of each parameter
 * gradient is the Hessian-vector product. For a linear map y = x W + b:
 *   dx  = dy W^T                 dW  += x^T dy          db  += sum dy
 *   dx' = dy' W^T + dy v_W^T     dW' += x'^T dy + x^T dy'   db' += sum dy'
 * (the HVP never forms dW itself). Cost in forward-GEMM units: 1 (primal)
 * + 2 (tangent) + 1 (dx) + 4 (dx', dW') = 8.
 */
#include <stdlib.h>
#include <string.h>

#include "transformer_cpu.h"

/* Reverse of y = x W + b (W [k][n]); every output may be NULL (skipped).
 * dx is overwritten (beta_dx = 0) or accumulated (1); dx1 likewise. */
static void linear_bwd(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat x1, tf_mat W, tf_mat W1,
                       tf_mat dy, tf_mat dy1, float beta_dx, tf_mat dx, tf_mat dx1, float *gW,
                       float *gb, float *hW, float *hb) {
    if (dx.p) polca__tf_gemm_nt(R, n, k, dy, W, beta_dx, 1.0f, dx);
    if (gW) polca__tf_gemm_tn(R, k, n, x, dy, 1.0f, (tf_mat){gW, W.ld});
    polca__tf_col_sums(R, n, dy, gb);
    if (!dy1.p) return;
    if (dx1.p) {
        polca__tf_gemm_nt(R, n, k, dy1, W, beta_dx, 1.0f, dx1);
        polca__tf_gemm_nt(R, n, k, dy, W1, 1.0f, 1.0f, dx1);
    }
    if (hW) {
        polca__tf_gemm_tn(R, k, n, x1, dy, 1.0f, (tf_mat){hW, W.ld});
        polca__tf_gemm_tn(R, k, n, x, dy1, 1.0f, (tf_mat){hW, W.ld});
    }
    polca__tf_col_sums(R, n, dy1, hb);
}

/* Reverse of y = x W^T + b with W stored [n][k] (tied unembedding: W =
 * W_E [V][D]): dx = dy W, gW += dy^T x (gW [n][k]); tangents likewise.
 * dx and dx1 are overwritten. */
static void linear_bwd_t(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat x1, tf_mat W,
                         tf_mat W1, tf_mat dy, tf_mat dy1, tf_mat dx, tf_mat dx1, float *gW,
                         float *gb, float *hW, float *hb) {
    polca__tf_gemm_nn(R, n, k, dy, W, 0.0f, 1.0f, dx);
    if (gW) polca__tf_gemm_tn(R, n, k, dy, x, 1.0f, (tf_mat){gW, W.ld});
    polca__tf_col_sums(R, n, dy, gb);
    if (!dy1.p) return;
    polca__tf_gemm_nn(R, n, k, dy1, W, 0.0f, 1.0f, dx1);
    polca__tf_gemm_nn(R, n, k, dy, W1, 1.0f, 1.0f, dx1);
    if (hW) {
        polca__tf_gemm_tn(R, n, k, dy, x1, 1.0f, (tf_mat){hW, W.ld});
        polca__tf_gemm_tn(R, n, k, dy1, x, 1.0f, (tf_mat){hW, W.ld});
    }
    polca__tf_col_sums(R, n, dy1, hb);
}

static int64_t max3(int64_t a, int64_t b, int64_t c) {
    int64_t m = a > b ? a : b;
    return m > c ? m : c;
}

int64_t polca__tf_backward_scratch_per_seq(const polca__tf_config *cfg, int tangent) {
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head, T = cfg->n_ctx;
    const int64_t wide = max3(cfg->d_vocab, cfg->d_mlp, HE);
    /* dx, dln [D]; dlogits / dpost / dz [wide]; dq, dk, dv [HE]; dgate [M]
     * (gated MLP); per row, once or twice (tangent); + the op scratch once
     * (counted per sequence). */
    const int64_t gate = cfg->mlp_gated ? cfg->d_mlp + 16 : 0;
    return (tangent ? 2 : 1) * T * (2 * D + wide + 3 * HE + 4 * 16 + gate) +
           polca__tf_op_scratch_floats(cfg) + 64;
}

/* Adjoint buffers of a chunk: one set for dx, another for dx'. */
typedef struct adj {
    float *dx, *dln, *wide, *dq, *dk, *dv;
    float *dgate; /* [R][M], gated MLP only */
} adj;

static float *take(float **cursor, int64_t n) {
    float *p = *cursor;
    *cursor += (n + 15) & ~(int64_t)15;
    return p;
}

static void carve_adj(const polca__tf_config *cfg, int64_t R, float **cur, adj *d) {
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head;
    d->dx = take(cur, R * D);
    d->dln = take(cur, R * D);
    d->wide = take(cur, R * max3(cfg->d_vocab, cfg->d_mlp, HE));
    d->dq = take(cur, R * 3 * HE); /* dq | dk | dv: [R][3HE] like q | k | v */
    d->dk = d->dq + HE;
    d->dv = d->dq + 2 * HE;
    d->dgate = cfg->mlp_gated ? take(cur, R * cfg->d_mlp) : NULL;
}

/* gE[token] += dx[r], gpos[t] += dx[r] (gpos NULL: no learned positions). */
static void embed_bwd(const tf_batch *bt, int64_t D, int64_t T, const float *dx, float *gE,
                      float *gpos) {
    for (int64_t r = 0; r < bt->R; r++) {
        const float *g = dx + r * D;
        float *e = gE + (int64_t)bt->tokens[r] * D;
        for (int64_t j = 0; j < D; j++) e[j] += g[j];
        if (!gpos) continue;
        float *p = gpos + (r % T) * D;
        for (int64_t j = 0; j < D; j++) p[j] += g[j];
    }
}

#define OPT(p, field) ((p) ? (p)->field : NULL)

void polca__tf_backward_chunk(const polca__tf_config *cfg, const tf_view *th, const tf_view *dv,
                              const tf_batch *bt, const tf_acts *a, const tf_acts *t1,
                              const tf_view *grad, const tf_view *hv, float *scratch) {
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head, M = cfg->d_mlp,
                  V = cfg->d_vocab, T = cfg->n_ctx, R = bt->R;
    const int tan = t1 != NULL;
    float *cur = scratch;
    adj d, d1 = {0};
    carve_adj(cfg, R, &cur, &d);
    if (tan) carve_adj(cfg, R, &cur, &d1);
    float *tmp = take(&cur, polca__tf_op_scratch_floats(cfg));
    const tf_block_view nob = {0};

    memset(d.dx, 0, (size_t)(R * D) * sizeof(float));
    if (tan) memset(d1.dx, 0, (size_t)(R * D) * sizeof(float));

    /* loss -> logits -> final LayerNorm */
    polca__tf_ce_bwd(cfg, bt, a->logits, d.wide, OPT(t1, logits), d1.wide);
    if (th->W_U)
        linear_bwd(R, D, V, (tf_mat){a->af, D}, (tf_mat){OPT(t1, af), D}, (tf_mat){th->W_U, V},
                   (tf_mat){OPT(dv, W_U), V}, (tf_mat){d.wide, V}, (tf_mat){d1.wide, V}, 0.0f,
                   (tf_mat){d.dln, D}, (tf_mat){d1.dln, D}, OPT(grad, W_U), OPT(grad, b_U),
                   OPT(hv, W_U), OPT(hv, b_U));
    else /* tied: logits = af W_E^T (+ b_U); W_E's gradient gets both uses */
        linear_bwd_t(R, D, V, (tf_mat){a->af, D}, (tf_mat){OPT(t1, af), D}, (tf_mat){th->W_E, D},
                     (tf_mat){OPT(dv, W_E), D}, (tf_mat){d.wide, V}, (tf_mat){d1.wide, V},
                     (tf_mat){d.dln, D}, (tf_mat){d1.dln, D}, OPT(grad, W_E), OPT(grad, b_U),
                     OPT(hv, W_E), OPT(hv, b_U));
    polca__tf_ln_bwd(cfg, R, a->nf, a->sf, th->lnf_w, d.dln, d.dx, OPT(grad, lnf_w), OPT(grad, lnf_b),
                     OPT(t1, nf), OPT(t1, sf), OPT(dv, lnf_w), tan ? d1.dln : NULL, d1.dx,
                     OPT(hv, lnf_w), OPT(hv, lnf_b), tmp);

    for (int32_t l = cfg->n_layers - 1; l >= 0; l--) {
        const tf_block_view *w = &th->blocks[l], *vb = dv ? &dv->blocks[l] : &nob;
        const tf_block_view *gb = grad ? &grad->blocks[l] : &nob, *hb = hv ? &hv->blocks[l] : &nob;
        const tf_block_acts *s = &a->blocks[l];
        const tf_block_acts *u = tan ? &t1->blocks[l] : NULL;
        const int par = cfg->parallel_residual;
        if (M > 0) {
            /* x += act(N2(x) W_in + b_in) W_out + b_out; gated:
             * x += (act(N2(x) W_gate) * (N2(x) W_in + b_in)) W_out + b_out */
            linear_bwd(R, M, D, (tf_mat){s->post, M}, (tf_mat){OPT(u, post), M},
                       (tf_mat){w->W_out, D}, (tf_mat){vb->W_out, D}, (tf_mat){d.dx, D},
                       (tf_mat){d1.dx, D}, 0.0f, (tf_mat){d.wide, M}, (tf_mat){d1.wide, M},
                       gb->W_out, gb->b_out, hb->W_out, hb->b_out);
            if (cfg->mlp_gated)
                polca__tf_glu_bwd(cfg->act_fn, R * M, s->gate, s->pre, d.wide, d.dgate,
                                  OPT(u, gate), OPT(u, pre), d1.wide, d1.dgate);
            else
                polca__tf_act_bwd(cfg->act_fn, R * M, s->pre, d.wide, OPT(u, pre), d1.wide);
            linear_bwd(R, D, M, (tf_mat){s->a2, D}, (tf_mat){OPT(u, a2), D}, (tf_mat){w->W_in, M},
                       (tf_mat){vb->W_in, M}, (tf_mat){d.wide, M}, (tf_mat){d1.wide, M}, 0.0f,
                       (tf_mat){d.dln, D}, (tf_mat){d1.dln, D}, gb->W_in, gb->b_in, hb->W_in,
                       hb->b_in);
            if (cfg->mlp_gated)
                linear_bwd(R, D, M, (tf_mat){s->a2, D}, (tf_mat){OPT(u, a2), D},
                           (tf_mat){w->W_gate, M}, (tf_mat){vb->W_gate, M},
                           (tf_mat){d.dgate, M}, (tf_mat){d1.dgate, M}, 1.0f, (tf_mat){d.dln, D},
                           (tf_mat){d1.dln, D}, gb->W_gate, NULL, hb->W_gate, NULL);
            /* parallel residual: the attention branch reads the block's
             * output adjoint, before N2's share is added to it */
            if (par)
                linear_bwd(R, HE, D, (tf_mat){s->z, HE}, (tf_mat){OPT(u, z), HE},
                           (tf_mat){w->W_O, D}, (tf_mat){vb->W_O, D}, (tf_mat){d.dx, D},
                           (tf_mat){d1.dx, D}, 0.0f, (tf_mat){d.wide, HE},
                           (tf_mat){d1.wide, HE}, gb->W_O, gb->b_O, hb->W_O, hb->b_O);
            polca__tf_ln_bwd(cfg, R, s->n2, s->s2, w->ln2_w, d.dln, d.dx, gb->ln2_w, gb->ln2_b,
                             OPT(u, n2), OPT(u, s2), vb->ln2_w, tan ? d1.dln : NULL, d1.dx,
                             hb->ln2_w, hb->ln2_b, tmp);
        }
        /* x += sum_h z_h W_O[h] + b_O, W_O as one [HE][D] matrix */
        if (!par)
            linear_bwd(R, HE, D, (tf_mat){s->z, HE}, (tf_mat){OPT(u, z), HE},
                       (tf_mat){w->W_O, D}, (tf_mat){vb->W_O, D}, (tf_mat){d.dx, D},
                       (tf_mat){d1.dx, D}, 0.0f, (tf_mat){d.wide, HE}, (tf_mat){d1.wide, HE},
                       gb->W_O, gb->b_O, hb->W_O, hb->b_O);
        polca__tf_attn_bwd(cfg, bt->B, s->q, s->k, s->v, s->P, d.wide, d.dq, d.dk, d.dv,
                           OPT(u, q), OPT(u, k), OPT(u, v), OPT(u, P), tan ? d1.wide : NULL,
                           d1.dq, d1.dk, d1.dv, tmp);
        /* q | k | v = a1 Wqkv + b_Q | b_K | b_V (packed, one GEMM per term) */
        linear_bwd(R, D, 3 * HE, (tf_mat){s->a1, D}, (tf_mat){OPT(u, a1), D},
                   (tf_mat){w->Wqkv, 3 * HE}, (tf_mat){vb->Wqkv, 3 * HE}, (tf_mat){d.dq, 3 * HE},
                   (tf_mat){tan ? d1.dq : NULL, 3 * HE}, 0.0f, (tf_mat){d.dln, D},
                   (tf_mat){d1.dln, D}, gb->Wqkv, gb->b_Q, hb->Wqkv, hb->b_Q);
        polca__tf_ln_bwd(cfg, R, s->n1, s->s1, w->ln1_w, d.dln, d.dx, gb->ln1_w, gb->ln1_b,
                         OPT(u, n1), OPT(u, s1), vb->ln1_w, tan ? d1.dln : NULL, d1.dx, hb->ln1_w,
                         hb->ln1_b, tmp);
    }
    /* x = W_E[token] (+ W_pos[t]): scatter-add the residual adjoint */
    if (grad) embed_bwd(bt, D, T, d.dx, grad->W_E, grad->W_pos);
    if (hv && tan) embed_bwd(bt, D, T, d1.dx, hv->W_E, hv->W_pos);
}

/* Shared driver: gradient (hv == NULL) or HVP (v != NULL, grad == NULL). */
static int32_t reverse(const polca__tf_config *cfg, const float *theta, int64_t n_seq,
                       const int32_t *tokens, const uint8_t *mask, const float *v,
                       double *mean_loss, float *grad_out, float *hv_out) {
    const int64_t T = cfg->n_ctx, D = cfg->d_model;
    polca__tf_offsets o;
    polca__tf_offsets_of(cfg, &o);
    const int64_t P = o.n_params, N = polca__tf_count_samples(cfg, n_seq, mask);
    const int tan = v != NULL;
    /* + residual x and its tangent [T][D] each, the tangent pass's op scratch */
    const int64_t op_scratch = polca__tf_op_scratch_floats(cfg);
    const int64_t scratch_per_seq =
        polca__tf_backward_scratch_per_seq(cfg, tan) + 2 * T * D + op_scratch + 32;
    const int64_t chunk = polca__tf_chunk_seqs(cfg, n_seq, tan ? 2 : 1, scratch_per_seq);
    tf_block_view *blocks = polca__calloc(4 * (size_t)cfg->n_layers, sizeof *blocks, "transformer view");
    float *scratch = NULL, *acc = NULL, *pk[3] = {NULL, NULL, NULL};
    tf_acts a = {0}, t1 = {0};
    tf_view th, dvv, out;
    int32_t st = blocks ? POLCA_OK : POLCA_ERR_OUT_OF_MEMORY;
    tf_pool *pool = NULL;
    if (!st) st = polca__tf_pool_open(cfg, &pool);
    if (!st) st = polca__tf_acts_alloc(cfg, chunk, &a);
    if (!st && tan) st = polca__tf_acts_alloc(cfg, chunk, &t1);
    if (!st && !(scratch = polca__alloc((size_t)(chunk * scratch_per_seq) * sizeof *scratch,
                                        "transformer reverse scratch")))
        st = POLCA_ERR_OUT_OF_MEMORY;
    /* accumulate into a private [P] vector: the output stays untouched on failure */
    if (!st && !(acc = polca__calloc((size_t)P, sizeof *acc, "transformer gradient")))
        st = POLCA_ERR_OUT_OF_MEMORY;
    if (!st) {
        /* packed QKV weights of theta and v, and the packed QKV accumulator */
        polca__tf_view_of(cfg, theta, blocks, &th);
        polca__tf_view_of(cfg, v, blocks + cfg->n_layers, &dvv);
        polca__tf_view_of(cfg, acc, blocks + 2 * cfg->n_layers, &out);
        if (!(pk[0] = polca__tf_qkv_alloc(cfg, &th)) || (tan && !(pk[1] = polca__tf_qkv_alloc(cfg, &dvv))) ||
            !(pk[2] = polca__tf_qkv_alloc(cfg, &out)))
            st = POLCA_ERR_OUT_OF_MEMORY;
    }
    if (!st) {
        polca__tf_qkv_pack(cfg, &th);
        if (tan) polca__tf_qkv_pack(cfg, &dvv);
        polca__tf_qkv_pack(cfg, &out); /* zeros: acc is zeroed */
        double loss_sum = 0.0;
        for (int64_t s0 = 0; s0 < n_seq; s0 += chunk) {
            const int64_t B = n_seq - s0 < chunk ? n_seq - s0 : chunk;
            const tf_batch bt = {B, B * T, tokens + s0 * T, mask + s0 * T,
                                 N > 0 ? (float)(1.0 / (double)N) : 0.0f};
            float *x = scratch, *x1 = x + B * T * D, *tmp = x1 + B * T * D;
            float *rest = tmp + op_scratch + 32;
            polca__tf_forward_chunk(cfg, &th, &bt, &a, x, NULL, &loss_sum);
            if (tan) polca__tf_tangent_chunk(cfg, &th, &dvv, &bt, &a, &t1, NULL, x1, NULL, tmp, NULL, NULL);
            polca__tf_backward_chunk(cfg, &th, tan ? &dvv : NULL, &bt, &a, tan ? &t1 : NULL,
                                     tan ? NULL : &out, tan ? &out : NULL, rest);
        }
        polca__tf_qkv_unpack_add(cfg, &out);
        if (mean_loss) *mean_loss = N > 0 ? loss_sum / (double)N : 0.0;
        memcpy(tan ? hv_out : grad_out, acc, (size_t)P * sizeof *acc);
    }
    polca__tf_pool_close(pool);
    free(acc);
    free(scratch);
    for (int i = 0; i < 3; i++) free(pk[i]);
    polca__tf_acts_free(&a);
    polca__tf_acts_free(&t1);
    free(blocks);
    return st;
}

int32_t polca__cpu_tf_grad(void *state, const struct polca__tf_config *cfg, const float *theta,
                           int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                           double *host_mean_loss, float *grad) {
    (void)state;
    int32_t chk = polca__tf_cpu_check(cfg);
    if (chk) return chk;
    return reverse(cfg, theta, n_seq, tokens, mask, NULL, host_mean_loss, grad, NULL);
}

int32_t polca__cpu_tf_hvp(void *state, const struct polca__tf_config *cfg, const float *theta,
                          int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                          const float *v, float *hv) {
    (void)state;
    int32_t chk = polca__tf_cpu_check(cfg);
    if (chk) return chk;
    return reverse(cfg, theta, n_seq, tokens, mask, v, NULL, NULL, hv);
}
