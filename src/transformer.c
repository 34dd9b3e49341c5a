/*
 * src/transformer.c - the built-in decoder-only transformer: configuration
 * check, parameter layout and seeded initialization. The kernels are
 * dispatch-table entries (src/cpu/transformer_*.c).
 *
 * The model is TransformerLens's HookedTransformer; with polca__tf_config_
 * basic's switches exactly its normalization_type "LN",
 * positional_embedding_type "standard", untied embeddings, attn_only =
 * (d_mlp == 0). Every switch and what it selects (H = n_heads, G =
 * n_kv_heads, E = d_head):
 *
 *   x      = W_E[token] (+ W_pos[position]   positions learned)
 *   for each block:
 *     a    = N1(x)                                        (pre-norm)
 *     q_h  = a W_Q[h] (+ b_Q[h]),  k_g = a W_K[g] (+ b_K[g]),  v_g likewise,
 *            g = h / (H / G)                              (grouped-query)
 *     (positions rotary: q_h, k_g <- rot(q_h, t), rot(k_g, t), below)
 *     P_h  = softmax(q_h k_g^T / sqrt(E), causal)          (j <= i)
 *     o    = sum_h (P_h v_g) W_O[h] (+ b_O)
 *     m    = W_out-projection of the MLP of N2(.), below  (unless d_mlp = 0)
 *     x   <- x + o, then x + m(N2(x))          sequential residual, or
 *     x   <- x + o + m(N2(x_in))              parallel_residual (GPT-NeoX)
 *   logits = N_final(x) W_U (+ b_U), W_U = W_E^T when tied_embeddings
 *
 *   MLP:   plain  m(a) = act(a W_in (+ b_in)) W_out (+ b_out)
 *          gated  m(a) = (act(a W_gate) * (a W_in (+ b_in))) W_out (+ b_out)
 *          (TransformerLens GatedMLP; Llama's down(act(gate a) * up a))
 *   norm:  LN(x)  = (x - mean) / sqrt(var + eps) * w (+ b), var biased
 *          RMS(x) = x / sqrt(mean(x^2) + eps) * w
 *   act:   gelu (erf form), gelu_new (tanh form), relu, silu (x sigmoid x)
 *   rot:   rotate-half on the first rotary_dim dims of a head (GPT-NeoX,
 *          Llama; the rest pass through): with r = rotary_dim / 2 and
 *          f_i = rope_theta^(-2i / rotary_dim), i < r, at position t
 *            y_i     = x_i cos(t f_i) - x_{i+r} sin(t f_i)
 *            y_{i+r} = x_{i+r} cos(t f_i) + x_i sin(t f_i)
 *
 * Layout: the tensors of TransformerLens's state_dict, in its order, with
 * its names and shapes (buffers such as attn.mask and attn.IGNORE are not
 * parameters and have no place here); a tensor a switch removes is absent:
 *
 *   embed.W_E            [d_vocab, d_model]
 *   pos_embed.W_pos      [n_ctx, d_model]             positions learned
 *   per block l:
 *   blocks.l.ln1.w       [d_model]
 *   blocks.l.ln1.b       [d_model]                    norm LN with bias
 *   blocks.l.attn.W_Q    [n_heads, d_model, d_head]
 *   blocks.l.attn.W_K    [n_kv_heads, d_model, d_head]  (W_V likewise; named
 *                        attn._W_K, attn._W_V when n_kv_heads < n_heads, as
 *                        TransformerLens's grouped-query attention does)
 *   blocks.l.attn.W_O    [n_heads, d_head, d_model]
 *   blocks.l.attn.b_Q    [n_heads, d_head]            qkv_bias
 *   blocks.l.attn.b_K    [n_kv_heads, d_head]         qkv_bias (b_V likewise;
 *                        attn._b_K, attn._b_V when grouped)
 *   blocks.l.attn.b_O    [d_model]                    out_bias
 *   blocks.l.ln2.w, .b   [d_model]          } absent when d_mlp = 0, as
 *   blocks.l.mlp.W_in    [d_model, d_mlp]   } TransformerLens has no ln2 and
 *   blocks.l.mlp.W_gate  [d_model, d_mlp]   } no mlp in an attn_only block;
 *   blocks.l.mlp.b_in    [d_mlp]            } W_gate only when gated, b_in
 *   blocks.l.mlp.W_out   [d_mlp, d_model]   } and b_out only with mlp_bias,
 *   blocks.l.mlp.b_out   [d_model]          } ln2.b only with LN bias
 *   ln_final.w, .b       [d_model]                    (.b: LN with bias)
 *   unembed.W_U          [d_model, d_vocab]           untied
 *   unembed.b_U          [d_vocab]                    unembed_bias
 *
 * Initialization (TransformerLens's default init_mode "gpt2"): every
 * weight matrix (a name containing "W_": W_E, W_pos, W_Q, W_K, W_V, W_O,
 * W_in, W_gate, W_out, W_U) is drawn from N(0, s^2) with s =
 * initializer_range = 0.8 / sqrt(d_model); biases are 0; norm weights are 1
 * and biases 0. What differs: the random numbers come from libpolca's own
 * generator (splitmix64 seeded with `seed`, Box-Muller in double, tensors
 * filled in layout order), not torch's, so the same seed gives other
 * (identically distributed) values than torch.manual_seed(seed) would.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "transformer.h"

/* Bounds that keep every size product well inside int64 and every single
 * tensor addressable by OpenBLAS's 32-bit indices. */
#define TF_MAX_DIM ((int64_t)1 << 24)
#define TF_MAX_TENSOR ((int64_t)INT32_MAX)

static int32_t check_dim(const char *name, int64_t v, int64_t lo) {
    if (v < lo || v > TF_MAX_DIM)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "transformer config: %s = %lld is out of range [%lld, %lld]", name,
                           (long long)v, (long long)lo, (long long)TF_MAX_DIM);
    return POLCA_OK;
}

static int32_t bad(const char *what, long long v, const char *expected) {
    return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "transformer config: %s = %lld; expected %s",
                       what, v, expected);
}

static int is_bool(int32_t v) { return v == 0 || v == 1; }

/* The architecture switches (transformer.h), each on its own. */
static int32_t check_switches(const polca__tf_config *cfg) {
    if (cfg->n_kv_heads < 1 || cfg->n_kv_heads > cfg->n_heads ||
        cfg->n_heads % cfg->n_kv_heads != 0)
        return bad("n_kv_heads", cfg->n_kv_heads, "a divisor of n_heads");
    if (cfg->norm < POLCA__NORM_LN || cfg->norm > POLCA__NORM_RMS)
        return bad("norm", cfg->norm, "LayerNorm (0), LayerNorm without bias (1) or RMSNorm (2)");
    if (!(cfg->norm_eps > 0.0f) || !isfinite(cfg->norm_eps))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "transformer config: norm_eps = %g; expected a finite value > 0",
                           (double)cfg->norm_eps);
    if (cfg->positions < POLCA__POS_LEARNED || cfg->positions > POLCA__POS_NONE)
        return bad("positions", cfg->positions, "learned (0), rotary (1) or none (2)");
    if (cfg->positions == POLCA__POS_ROTARY) {
        if (cfg->rotary_dim < 2 || cfg->rotary_dim > cfg->d_head || cfg->rotary_dim % 2)
            return bad("rotary_dim", cfg->rotary_dim, "an even number in [2, d_head]");
        if (!(cfg->rope_theta > 0.0f) || !isfinite(cfg->rope_theta))
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "transformer config: rope_theta = %g; expected a finite value > 0",
                               (double)cfg->rope_theta);
    }
    const struct {
        const char *name;
        int32_t v;
    } flags[] = {{"qkv_bias", cfg->qkv_bias},
                 {"out_bias", cfg->out_bias},
                 {"mlp_bias", cfg->mlp_bias},
                 {"mlp_gated", cfg->mlp_gated},
                 {"parallel_residual", cfg->parallel_residual},
                 {"tied_embeddings", cfg->tied_embeddings},
                 {"unembed_bias", cfg->unembed_bias}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!is_bool(flags[i].v)) return bad(flags[i].name, flags[i].v, "0 or 1");
    if (cfg->parallel_residual && cfg->d_mlp == 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "transformer config: parallel_residual needs an MLP (d_mlp = 0)");
    return POLCA_OK;
}

int32_t polca__tf_check_config(const polca__tf_config *cfg) {
    if (!cfg) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "transformer config is NULL");
    int32_t st;
    if ((st = check_dim("n_layers", cfg->n_layers, 1)) || (st = check_dim("d_model", cfg->d_model, 1)) ||
        (st = check_dim("n_heads", cfg->n_heads, 1)) || (st = check_dim("d_head", cfg->d_head, 1)) ||
        (st = check_dim("d_mlp", cfg->d_mlp, 0)) || (st = check_dim("d_vocab", cfg->d_vocab, 1)) ||
        (st = check_dim("n_ctx", cfg->n_ctx, 1)))
        return st;
    if (cfg->act_fn < POLCA__ACT_GELU || cfg->act_fn > POLCA__ACT_SILU)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "transformer config: act_fn = %d is not gelu (%d), gelu_new (%d), "
                           "relu (%d) or silu (%d)",
                           (int)cfg->act_fn, POLCA__ACT_GELU, POLCA__ACT_GELU_NEW, POLCA__ACT_RELU,
                           POLCA__ACT_SILU);
    if ((st = check_switches(cfg))) return st;
    /* Largest single tensors and per-row widths the kernels index with int. */
    const int64_t D = cfg->d_model, HE = (int64_t)cfg->n_heads * cfg->d_head;
    const int64_t prods[][2] = {{cfg->d_vocab, D}, {cfg->n_ctx, D},  {HE, D},
                                {D, cfg->d_mlp},   {cfg->n_ctx, cfg->n_ctx}, {HE, 3}};
    for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++)
        if (prods[i][0] * prods[i][1] > TF_MAX_TENSOR)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "transformer config: a tensor of %lld x %lld elements exceeds %lld",
                               (long long)prods[i][0], (long long)prods[i][1],
                               (long long)TF_MAX_TENSOR);
    /* Activations of one sequence (what a kernel stores at least): bounded so
     * that chunk arithmetic never overflows. */
    const double T = cfg->n_ctx, per_seq =
        T * (cfg->n_layers * (4.0 * D + 2 + 4.0 * HE + (double)cfg->n_heads * T + 2.0 * cfg->d_mlp) +
             2.0 * D + 1 + cfg->d_vocab);
    if (per_seq > 1099511627776.0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "transformer config: one sequence needs %.3g floats of activations "
                           "(more than 2^40)",
                           per_seq);
    return POLCA_OK;
}

static int32_t add(polca__layout *l, const char *name, int32_t ndim, int64_t d0, int64_t d1,
                   int64_t d2) {
    const int64_t shape[3] = {d0, d1, d2};
    return polca__layout_add(l, name, ndim, shape);
}

int32_t polca__tf_layout(const polca__tf_config *cfg, polca__layout *out) {
    int32_t st = polca__tf_check_config(cfg);
    if (st) return st;
    const int64_t D = cfg->d_model, H = cfg->n_heads, G = cfg->n_kv_heads, E = cfg->d_head,
                  M = cfg->d_mlp, V = cfg->d_vocab, T = cfg->n_ctx;
    polca__layout l;
    polca__layout_init(&l);
    char name[POLCA_LAYOUT_NAME_MAX + 1];
#define TF_ADD(nm, nd, a, b, c)                                                \
    do {                                                                       \
        if ((st = add(&l, (nm), (nd), (a), (b), (c)))) goto fail;              \
    } while (0)
#define TF_BLOCK(suffix, nd, a, b, c)                                          \
    do {                                                                       \
        snprintf(name, sizeof name, "blocks.%d.%s", (int)layer, (suffix));     \
        TF_ADD(name, nd, a, b, c);                                             \
    } while (0)
    const int norm_bias = cfg->norm == POLCA__NORM_LN, grouped = G < H;
    TF_ADD("embed.W_E", 2, V, D, 0);
    if (cfg->positions == POLCA__POS_LEARNED) TF_ADD("pos_embed.W_pos", 2, T, D, 0);
    for (int32_t layer = 0; layer < cfg->n_layers; layer++) {
        TF_BLOCK("ln1.w", 1, D, 0, 0);
        if (norm_bias) TF_BLOCK("ln1.b", 1, D, 0, 0);
        TF_BLOCK("attn.W_Q", 3, H, D, E);
        TF_BLOCK(grouped ? "attn._W_K" : "attn.W_K", 3, G, D, E);
        TF_BLOCK(grouped ? "attn._W_V" : "attn.W_V", 3, G, D, E);
        TF_BLOCK("attn.W_O", 3, H, E, D);
        if (cfg->qkv_bias) {
            TF_BLOCK("attn.b_Q", 2, H, E, 0);
            TF_BLOCK(grouped ? "attn._b_K" : "attn.b_K", 2, G, E, 0);
            TF_BLOCK(grouped ? "attn._b_V" : "attn.b_V", 2, G, E, 0);
        }
        if (cfg->out_bias) TF_BLOCK("attn.b_O", 1, D, 0, 0);
        if (M > 0) {
            TF_BLOCK("ln2.w", 1, D, 0, 0);
            if (norm_bias) TF_BLOCK("ln2.b", 1, D, 0, 0);
            TF_BLOCK("mlp.W_in", 2, D, M, 0);
            if (cfg->mlp_gated) TF_BLOCK("mlp.W_gate", 2, D, M, 0);
            if (cfg->mlp_bias) TF_BLOCK("mlp.b_in", 1, M, 0, 0);
            TF_BLOCK("mlp.W_out", 2, M, D, 0);
            if (cfg->mlp_bias) TF_BLOCK("mlp.b_out", 1, D, 0, 0);
        }
    }
    TF_ADD("ln_final.w", 1, D, 0, 0);
    if (norm_bias) TF_ADD("ln_final.b", 1, D, 0, 0);
    if (!cfg->tied_embeddings) TF_ADD("unembed.W_U", 2, D, V, 0);
    if (cfg->unembed_bias) TF_ADD("unembed.b_U", 1, V, 0, 0);
#undef TF_BLOCK
#undef TF_ADD
    *out = l;
    return POLCA_OK;
fail:
    polca__layout_free(&l);
    return st;
}

/* ---- seeded normal numbers ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, never 0 (log is taken). */
static double uniform_open(uint64_t *s) {
    return ((double)(splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void fill_normal(float *x, int64_t n, double std, uint64_t *s) {
    const double two_pi = 6.283185307179586476925;
    for (int64_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform_open(s))), a = two_pi * uniform_open(s);
        x[i] = (float)(std * r * cos(a));
        if (i + 1 < n) x[i + 1] = (float)(std * r * sin(a));
    }
}

static void fill_const(float *x, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++) x[i] = v;
}

int32_t polca__tf_init(const polca__tf_config *cfg, uint64_t seed, float *theta) {
    int32_t st = polca__tf_check_config(cfg);
    if (st) return st;
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "transformer init: theta is NULL");
    polca__tf_offsets o;
    polca__tf_offsets_of(cfg, &o);
    const int64_t D = cfg->d_model, H = cfg->n_heads, G = cfg->n_kv_heads, E = cfg->d_head,
                  M = cfg->d_mlp, V = cfg->d_vocab, T = cfg->n_ctx;
    const double std = 0.8 / sqrt((double)D);
    uint64_t s = seed;
    /* Layout order; absent tensors (offset -1) are skipped. */
#define TF_NORMAL(off, n)                                                      \
    do {                                                                       \
        if ((off) >= 0) fill_normal(base + (off), (n), std, &s);               \
    } while (0)
#define TF_CONST(off, n, v)                                                    \
    do {                                                                       \
        if ((off) >= 0) fill_const(base + (off), (n), (v));                    \
    } while (0)
    float *base = theta;
    TF_NORMAL(o.W_E, V * D);
    TF_NORMAL(o.W_pos, T * D);
    for (int32_t l = 0; l < cfg->n_layers; l++) {
        base = theta + o.layer0 + l * o.layer_stride;
        TF_CONST(o.ln1_w, D, 1.0f);
        TF_CONST(o.ln1_b, D, 0.0f);
        TF_NORMAL(o.W_Q, H * D * E);
        TF_NORMAL(o.W_K, G * D * E);
        TF_NORMAL(o.W_V, G * D * E);
        TF_NORMAL(o.W_O, H * E * D);
        TF_CONST(o.b_Q, H * E, 0.0f);
        TF_CONST(o.b_K, G * E, 0.0f);
        TF_CONST(o.b_V, G * E, 0.0f);
        TF_CONST(o.b_O, D, 0.0f);
        if (M > 0) {
            TF_CONST(o.ln2_w, D, 1.0f);
            TF_CONST(o.ln2_b, D, 0.0f);
            TF_NORMAL(o.W_in, D * M);
            TF_NORMAL(o.W_gate, D * M);
            TF_CONST(o.b_in, M, 0.0f);
            TF_NORMAL(o.W_out, M * D);
            TF_CONST(o.b_out, D, 0.0f);
        }
    }
    base = theta;
    TF_CONST(o.lnf_w, D, 1.0f);
    TF_CONST(o.lnf_b, D, 0.0f);
    TF_NORMAL(o.W_U, D * V);
    TF_CONST(o.b_U, V, 0.0f);
#undef TF_NORMAL
#undef TF_CONST
    return POLCA_OK;
}
