/*
 * src/cpu/transformer_forward.c - the primal forward pass of one chunk, and
 * the tf_losses entry (per-sample cross-entropy).
 */
#include <stdlib.h>
#include <string.h>

#include "transformer_cpu.h"

/* y = x W + b (b may be NULL), or y += x W + b when accumulate. */
static void linear(int64_t R, int64_t k, int64_t n, tf_mat x, tf_mat W, const float *b,
                   int accumulate, tf_mat y) {
    if (accumulate) {
        polca__tf_gemm_nn(R, k, n, x, W, 1.0f, 1.0f, y);
        polca__tf_add_bias(R, n, b, y);
        return;
    }
    if (b) {
        for (int64_t r = 0; r < R; r++) memcpy(y.p + r * y.ld, b, (size_t)n * sizeof(float));
        polca__tf_gemm_nn(R, k, n, x, W, 1.0f, 1.0f, y);
    } else {
        polca__tf_gemm_nn(R, k, n, x, W, 0.0f, 1.0f, y);
    }
}

int64_t polca__tf_forward_chunk(const polca__tf_config *cfg, const tf_view *th, const tf_batch *bt,
                                tf_acts *a, float *x, float *losses, double *loss_sum) {
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head, M = cfg->d_mlp,
                  V = cfg->d_vocab, T = cfg->n_ctx, R = bt->R, LQ = tf_qkv_width(cfg);
    /* residual stream x [R][D] = W_E[token] (+ W_pos[position] when learned) */
    for (int64_t r = 0; r < R; r++) {
        const float *e = th->W_E + (int64_t)bt->tokens[r] * D;
        float *xr = x + r * D;
        if (th->W_pos) {
            const float *p = th->W_pos + (r % T) * D;
            for (int64_t j = 0; j < D; j++) xr[j] = e[j] + p[j];
        } else {
            memcpy(xr, e, (size_t)D * sizeof *xr);
        }
    }
    for (int32_t l = 0; l < cfg->n_layers; l++) {
        const tf_block_view *w = &th->blocks[l];
        tf_block_acts *s = &a->blocks[l];
        polca__tf_ln_fwd(cfg, R, x, w->ln1_w, w->ln1_b, s->n1, s->s1, s->a1);
        /* q | k | v of all heads: one GEMM, bias b_Q | b_K | b_V */
        linear(R, D, LQ, (tf_mat){s->a1, D}, (tf_mat){w->Wqkv, LQ}, w->b_Q, 0,
               (tf_mat){s->q, LQ});
        polca__tf_rope_apply(cfg, R, bt->rope, s->q, 0); /* rotary: q, k rotated */
        polca__tf_attn_fwd(cfg, bt->B, s->q, s->k, s->v, s->P, s->z);
        /* parallel residual: ln2 reads the block's input x, before o is added */
        if (cfg->parallel_residual)
            polca__tf_ln_fwd(cfg, R, x, w->ln2_w, w->ln2_b, s->n2, s->s2, s->a2);
        /* W_O [H][E][D] is one [HE][D] matrix: all heads in one GEMM */
        linear(R, HE, D, (tf_mat){s->z, HE}, (tf_mat){w->W_O, D}, w->b_O, 1, (tf_mat){x, D});
        if (M == 0) continue;
        if (!cfg->parallel_residual)
            polca__tf_ln_fwd(cfg, R, x, w->ln2_w, w->ln2_b, s->n2, s->s2, s->a2);
        linear(R, D, M, (tf_mat){s->a2, D}, (tf_mat){w->W_in, M}, w->b_in, 0, (tf_mat){s->pre, M});
        if (cfg->mlp_gated) {
            linear(R, D, M, (tf_mat){s->a2, D}, (tf_mat){w->W_gate, M}, NULL, 0,
                   (tf_mat){s->gate, M});
            polca__tf_glu_fwd(cfg->act_fn, R * M, s->gate, s->pre, s->post);
        } else {
            polca__tf_act_fwd(cfg->act_fn, R * M, s->pre, s->post);
        }
        linear(R, M, D, (tf_mat){s->post, M}, (tf_mat){w->W_out, D}, w->b_out, 1, (tf_mat){x, D});
    }
    polca__tf_ln_fwd(cfg, R, x, th->lnf_w, th->lnf_b, a->nf, a->sf, a->af);
    if (th->W_U) {
        linear(R, D, V, (tf_mat){a->af, D}, (tf_mat){th->W_U, V}, th->b_U, 0,
               (tf_mat){a->logits, V});
    } else { /* tied: logits = af W_E^T (+ b_U), W_E [V][D] */
        polca__tf_gemm_nt(R, D, V, (tf_mat){a->af, D}, (tf_mat){th->W_E, D}, 0.0f, 1.0f,
                          (tf_mat){a->logits, V});
        polca__tf_add_bias(R, V, th->b_U, (tf_mat){a->logits, V});
    }
    return polca__tf_ce_fwd(cfg, bt, a->logits, losses, loss_sum);
}

int32_t polca__cpu_tf_losses(void *state, const struct polca__tf_config *cfg, const float *theta,
                             int64_t n_seq, const int32_t *tokens, const uint8_t *mask,
                             float *losses) {
    (void)state;
    int32_t chk = polca__tf_cpu_check(cfg);
    if (chk) return chk;
    const int64_t T = cfg->n_ctx, D = cfg->d_model;
    const int64_t chunk = polca__tf_chunk_seqs(cfg, n_seq, 1, T * D);
    tf_block_view *blocks = polca__calloc((size_t)cfg->n_layers, sizeof *blocks, "transformer view");
    float *x = NULL, *packed = NULL, *rope = NULL;
    tf_acts a = {0};
    tf_view th;
    int32_t st = blocks ? POLCA_OK : POLCA_ERR_OUT_OF_MEMORY;
    if (!st) {
        polca__tf_view_of(cfg, theta, blocks, &th);
        if (!(packed = polca__tf_qkv_alloc(cfg, &th))) st = POLCA_ERR_OUT_OF_MEMORY;
    }
    tf_pool *pool = NULL;
    if (!st) st = polca__tf_pool_open(cfg, &pool);
    if (!st) st = polca__tf_acts_alloc(cfg, chunk, &a);
    if (!st) st = polca__tf_rope_table(cfg, &rope);
    if (!st && !(x = polca__alloc((size_t)(chunk * T * D) * sizeof *x, "transformer residual")))
        st = POLCA_ERR_OUT_OF_MEMORY;
    if (!st) {
        polca__tf_qkv_pack(cfg, &th);
        int64_t done = 0;
        for (int64_t s0 = 0; s0 < n_seq; s0 += chunk) {
            const int64_t B = n_seq - s0 < chunk ? n_seq - s0 : chunk;
            const tf_batch bt = {B, B * T, tokens + s0 * T, mask + s0 * T, 0.0f, rope};
            done += polca__tf_forward_chunk(cfg, &th, &bt, &a, x, losses + done, NULL);
        }
    }
    polca__tf_pool_close(pool);
    free(x);
    free(packed);
    free(rope);
    polca__tf_acts_free(&a);
    free(blocks);
    return st;
}
