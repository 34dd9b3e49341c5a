/*
 * src/cpu/transformer_tangent.c - forward-mode (Taylor) propagation of a
 * parameter direction through one chunk, first order, or first and second
 * order, on top of stored primal activations; and the tf_dirderivs entry,
 * which shares one primal pass per chunk across all K directions.
 *
 * For theta(s) = theta + s d every activation x(s) has x' and x'' at s = 0.
 * Parameters are linear in s (W' = d_W, W'' = 0), so a linear map
 * y = x W + b gives y' = x' W + x d_W + d_b and y'' = x'' W + 2 x' d_W; the
 * nonlinear ops are in transformer_ops.c. The loss then gives
 * g = l'(0) = <grad l, d> and c = l''(0) = d^T (Hessian of l) d.
 *
 * Cost per direction, in units of the forward GEMM flops: 2 (first order)
 * plus 2 (second order), on one shared primal pass.
 */
#include <stdlib.h>
#include <string.h>

#include "transformer_cpu.h"

/* y1 (+)= x1 W + x W1 + b1;  y2 (+)= x2 W + 2 x1 W1 (when y2.p != NULL).
 * accumulate = 0 overwrites y1, y2. */
static void linear_tan(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat x1, tf_mat x2, tf_mat W,
                       tf_mat W1, const float *b1, int accumulate, tf_mat y1, tf_mat y2) {
    polca__tf_gemm_nn(R, k, n, x1, W, accumulate ? 1.0f : 0.0f, 1.0f, y1);
    polca__tf_gemm_nn(R, k, n, x, W1, 1.0f, 1.0f, y1);
    polca__tf_add_bias(R, n, b1, y1);
    if (!y2.p) return;
    polca__tf_gemm_nn(R, k, n, x2, W, accumulate ? 1.0f : 0.0f, 1.0f, y2);
    polca__tf_gemm_nn(R, k, n, x1, W1, 1.0f, 2.0f, y2);
}

/* linear_tan with the weight stored transposed (W, W1 [n][k]: y = x W^T),
 * overwriting y1, y2. */
static void linear_tan_t(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat x1, tf_mat x2,
                         tf_mat W, tf_mat W1, const float *b1, tf_mat y1, tf_mat y2) {
    polca__tf_gemm_nt(R, k, n, x1, W, 0.0f, 1.0f, y1);
    polca__tf_gemm_nt(R, k, n, x, W1, 1.0f, 1.0f, y1);
    polca__tf_add_bias(R, n, b1, y1);
    if (!y2.p) return;
    polca__tf_gemm_nt(R, k, n, x2, W, 0.0f, 1.0f, y2);
    polca__tf_gemm_nt(R, k, n, x1, W1, 1.0f, 2.0f, y2);
}

void polca__tf_tangent_chunk(const polca__tf_config *cfg, const tf_view *th, const tf_view *dv,
                             const tf_batch *bt, const tf_acts *a, tf_acts *t1, tf_acts *t2,
                             float *x1, float *x2, float *tmp, float *g, float *c) {
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head, M = cfg->d_mlp,
                  V = cfg->d_vocab, T = cfg->n_ctx, R = bt->R, LQ = tf_qkv_width(cfg);
    const int second = t2 != NULL;
    /* embedding tangents: x' = d_W_E[token] (+ d_W_pos[t]); x'' = 0 */
    for (int64_t r = 0; r < R; r++) {
        const float *e = dv->W_E + (int64_t)bt->tokens[r] * D;
        float *xr = x1 + r * D;
        if (dv->W_pos) {
            const float *p = dv->W_pos + (r % T) * D;
            for (int64_t j = 0; j < D; j++) xr[j] = e[j] + p[j];
        } else {
            memcpy(xr, e, (size_t)D * sizeof *xr);
        }
    }
    if (second) memset(x2, 0, (size_t)(R * D) * sizeof *x2);
    for (int32_t l = 0; l < cfg->n_layers; l++) {
        const tf_block_view *w = &th->blocks[l], *d = &dv->blocks[l];
        const tf_block_acts *s = &a->blocks[l];
        tf_block_acts *u = &t1->blocks[l], *uu = second ? &t2->blocks[l] : NULL;
        polca__tf_ln_tan(cfg, R, s->n1, s->s1, w->ln1_w, x1, d->ln1_w, d->ln1_b, second ? x2 : NULL,
                         u->n1, u->s1, u->a1, second ? uu->a1 : NULL);
        /* q | k | v of all heads with the packed weights: one GEMM per term */
        linear_tan(R, D, LQ, (tf_mat){s->a1, D}, (tf_mat){u->a1, D},
                   (tf_mat){second ? uu->a1 : NULL, D}, (tf_mat){w->Wqkv, LQ},
                   (tf_mat){d->Wqkv, LQ}, d->b_Q, 0, (tf_mat){u->q, LQ},
                   (tf_mat){second ? uu->q : NULL, LQ});
        /* rotary is linear with constant coefficients: q', k' (q'', k'') rotate alike */
        polca__tf_rope_apply(cfg, R, bt->rope, u->q, 0);
        if (second) polca__tf_rope_apply(cfg, R, bt->rope, uu->q, 0);
        polca__tf_attn_tan(cfg, bt->B, s->q, s->k, s->v, s->P, u->q, u->k, u->v, u->P, u->z,
                           second ? uu->q : NULL, second ? uu->k : NULL, second ? uu->v : NULL,
                           second ? uu->z : NULL, tmp);
        if (cfg->parallel_residual) /* ln2 of the block's input */
            polca__tf_ln_tan(cfg, R, s->n2, s->s2, w->ln2_w, x1, d->ln2_w, d->ln2_b,
                             second ? x2 : NULL, u->n2, u->s2, u->a2, second ? uu->a2 : NULL);
        linear_tan(R, HE, D, (tf_mat){s->z, HE}, (tf_mat){u->z, HE},
                   (tf_mat){second ? uu->z : NULL, HE}, (tf_mat){w->W_O, D}, (tf_mat){d->W_O, D},
                   d->b_O, 1, (tf_mat){x1, D}, (tf_mat){second ? x2 : NULL, D});
        if (M == 0) continue;
        if (!cfg->parallel_residual)
            polca__tf_ln_tan(cfg, R, s->n2, s->s2, w->ln2_w, x1, d->ln2_w, d->ln2_b,
                             second ? x2 : NULL, u->n2, u->s2, u->a2, second ? uu->a2 : NULL);
        linear_tan(R, D, M, (tf_mat){s->a2, D}, (tf_mat){u->a2, D},
                   (tf_mat){second ? uu->a2 : NULL, D}, (tf_mat){w->W_in, M},
                   (tf_mat){d->W_in, M}, d->b_in, 0, (tf_mat){u->pre, M},
                   (tf_mat){second ? uu->pre : NULL, M});
        if (cfg->mlp_gated) {
            linear_tan(R, D, M, (tf_mat){s->a2, D}, (tf_mat){u->a2, D},
                       (tf_mat){second ? uu->a2 : NULL, D}, (tf_mat){w->W_gate, M},
                       (tf_mat){d->W_gate, M}, NULL, 0, (tf_mat){u->gate, M},
                       (tf_mat){second ? uu->gate : NULL, M});
            polca__tf_glu_tan(cfg->act_fn, R * M, s->gate, s->pre, u->gate, u->pre,
                              second ? uu->gate : NULL, second ? uu->pre : NULL, u->post,
                              second ? uu->post : NULL);
        } else {
            polca__tf_act_tan(cfg->act_fn, R * M, s->pre, u->pre, second ? uu->pre : NULL,
                              u->post, second ? uu->post : NULL);
        }
        linear_tan(R, M, D, (tf_mat){s->post, M}, (tf_mat){u->post, M},
                   (tf_mat){second ? uu->post : NULL, M}, (tf_mat){w->W_out, D},
                   (tf_mat){d->W_out, D}, d->b_out, 1, (tf_mat){x1, D},
                   (tf_mat){second ? x2 : NULL, D});
    }
    polca__tf_ln_tan(cfg, R, a->nf, a->sf, th->lnf_w, x1, dv->lnf_w, dv->lnf_b, second ? x2 : NULL,
                     t1->nf, t1->sf, t1->af, second ? t2->af : NULL);
    if (th->W_U)
        linear_tan(R, D, V, (tf_mat){a->af, D}, (tf_mat){t1->af, D},
                   (tf_mat){second ? t2->af : NULL, D}, (tf_mat){th->W_U, V},
                   (tf_mat){dv->W_U, V}, dv->b_U, 0, (tf_mat){t1->logits, V},
                   (tf_mat){second ? t2->logits : NULL, V});
    else /* tied: W_U = W_E^T, its tangent the direction's W_E^T */
        linear_tan_t(R, D, V, (tf_mat){a->af, D}, (tf_mat){t1->af, D},
                     (tf_mat){second ? t2->af : NULL, D}, (tf_mat){th->W_E, D},
                     (tf_mat){dv->W_E, D}, dv->b_U, (tf_mat){t1->logits, V},
                     (tf_mat){second ? t2->logits : NULL, V});
    if (g)
        polca__tf_ce_tan(cfg, bt, a->logits, t1->logits, second ? t2->logits : NULL, g,
                         second ? c : NULL);
}

int32_t polca__cpu_tf_dirderivs(void *state, const struct polca__tf_config *cfg,
                                const float *theta, int64_t n_seq, const int32_t *tokens,
                                const uint8_t *mask, int64_t k, const float *dirs, float *losses,
                                float *g, float *c) {
    (void)state;
    int32_t chk = polca__tf_cpu_check(cfg);
    if (chk) return chk;
    const int64_t T = cfg->n_ctx, D = cfg->d_model;
    polca__tf_offsets o;
    polca__tf_offsets_of(cfg, &o);
    const int64_t P = o.n_params, N = polca__tf_count_samples(cfg, n_seq, mask);
    const int sets = c ? 3 : 2;
    const int64_t chunk = polca__tf_chunk_seqs(cfg, n_seq, sets, 3 * T * D);
    tf_block_view *blocks = polca__calloc(2 * (size_t)cfg->n_layers, sizeof *blocks, "transformer view");
    float *x = NULL, *packed = NULL, *dpacked = NULL, *rope = NULL;
    tf_acts a = {0}, t1 = {0}, t2 = {0};
    tf_view th, dv;
    int32_t st = blocks ? POLCA_OK : POLCA_ERR_OUT_OF_MEMORY;
    if (!st) {
        polca__tf_view_of(cfg, theta, blocks, &th);
        polca__tf_view_of(cfg, dirs, blocks + cfg->n_layers, &dv);
        if (!(packed = polca__tf_qkv_alloc(cfg, &th)) || !(dpacked = polca__tf_qkv_alloc(cfg, &dv)))
            st = POLCA_ERR_OUT_OF_MEMORY;
    }
    tf_pool *pool = NULL;
    if (!st) st = polca__tf_pool_open(cfg, &pool);
    if (!st) st = polca__tf_acts_alloc(cfg, chunk, &a);
    if (!st) st = polca__tf_acts_alloc(cfg, chunk, &t1);
    if (!st && c) st = polca__tf_acts_alloc(cfg, chunk, &t2);
    if (!st) st = polca__tf_rope_table(cfg, &rope);
    if (!st && !(x = polca__alloc((size_t)(3 * chunk * T * D + polca__tf_op_scratch_floats(cfg)) *
                                      sizeof *x,
                                  "transformer residuals")))
        st = POLCA_ERR_OUT_OF_MEMORY;
    if (!st) {
        polca__tf_qkv_pack(cfg, &th);
        int64_t done = 0;
        for (int64_t s0 = 0; s0 < n_seq; s0 += chunk) {
            const int64_t B = n_seq - s0 < chunk ? n_seq - s0 : chunk;
            const tf_batch bt = {B, B * T, tokens + s0 * T, mask + s0 * T, 0.0f, rope};
            float *x1 = x + B * T * D, *x2 = x1 + B * T * D, *tmp = x2 + B * T * D;
            const int64_t n = polca__tf_forward_chunk(cfg, &th, &bt, &a, x,
                                                      losses ? losses + done : NULL, NULL);
            for (int64_t kk = 0; kk < k; kk++) {
                polca__tf_view_of(cfg, dirs + kk * P, blocks + cfg->n_layers, &dv);
                for (int32_t l = 0; l < cfg->n_layers; l++)
                    dv.blocks[l].Wqkv = dpacked + l * (int64_t)D * tf_qkv_width(cfg);
                polca__tf_qkv_pack(cfg, &dv);
                polca__tf_tangent_chunk(cfg, &th, &dv, &bt, &a, &t1, c ? &t2 : NULL, x1, x2,
                                        tmp, g + kk * N + done, c ? c + kk * N + done : NULL);
            }
            done += n;
        }
    }
    polca__tf_pool_close(pool);
    free(x);
    free(packed);
    free(dpacked);
    free(rope);
    polca__tf_acts_free(&a);
    polca__tf_acts_free(&t1);
    polca__tf_acts_free(&t2);
    free(blocks);
    return st;
}
