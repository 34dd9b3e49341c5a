/*
 * src/pretrained_map.c - the tensor maps between each source layout and the
 * built-in transformer's parameter vector (src/transformer.c lists ours),
 * and reading / writing through them. Every map is a permutation of the
 * parameter indices: loading scatters the source's values into theta,
 * saving gathers them back, so save(load(x)) == x bit for bit.
 *
 * With H = n_heads, G = n_kv_heads, E = d_head, D = d_model, M = d_mlp,
 * V = d_vocab, T = n_ctx (docs/models.md has the same table):
 *
 *  GPT-2 (Conv1D weights are [in, out], applied as x W):
 *   wte.weight [V,D] = W_E; wpe.weight [T,D] = W_pos
 *   h.l.ln_1.{weight,bias} = ln1.{w,b}; h.l.ln_2.* = ln2.*; ln_f.* = ln_final.*
 *   h.l.attn.c_attn.weight [D,3HE]: column (which, h, e) = W_which[h][:, e]
 *   h.l.attn.c_attn.bias [3HE] = b_Q | b_K | b_V
 *   h.l.attn.c_proj.weight [HE,D] = W_O (as [H,E,D]); .bias = b_O
 *   h.l.mlp.c_fc.weight [D,M] = W_in; .bias = b_in
 *   h.l.mlp.c_proj.weight [M,D] = W_out; .bias = b_out
 *   lm_head.weight [V,D] = W_U^T (untied only; tied: absent, W_E serves)
 *  GPT-NeoX (Linear weights are [out, in]):
 *   embed_in.weight = W_E; embed_out.weight [V,D] = W_U^T
 *   layers.l.input_layernorm = ln1; post_attention_layernorm = ln2;
 *   final_layer_norm = ln_final
 *   attention.query_key_value.weight [3HE, D]: row (h, which, e) =
 *     W_which[h][:, e]; .bias [3HE]: (h, which, e) = b_which[h][e]
 *   attention.dense.weight [D, HE] = W_O^T; .bias = b_O
 *   mlp.dense_h_to_4h.weight [M,D] = W_in^T; mlp.dense_4h_to_h [D,M] = W_out^T
 *  Llama / Qwen2:
 *   embed_tokens.weight = W_E; norm.weight = ln_final.w; lm_head.weight = W_U^T
 *   layers.l.input_layernorm.weight = ln1.w; post_attention_layernorm = ln2.w
 *   self_attn.q_proj.weight [HE, D]: row (h, e) = W_Q[h][:, e] (k, v: G heads)
 *   self_attn.{q,k,v}_proj.bias = b_Q, b_K, b_V; o_proj.weight [D,HE] = W_O^T
 *   mlp.gate_proj.weight [M,D] = W_gate^T; up_proj = W_in^T; down_proj = W_out^T
 *  TransformerLens 2/3: the built-in names and shapes, copied.
 *  TransformerLens 4 TransformerBridge state_dict() (over GPT-2; q, k, v
 *  are nn.Linear [out, in] views of c_attn, o and the MLP keep GPT-2's
 *  Conv1D [in, out]):
 *   embed.weight = W_E; pos_embed.weight = W_pos; blocks.l.ln1.{weight,bias},
 *   ln2, ln_final; blocks.l.attn.{q,k,v}.weight [HE, D]: row (h, e) =
 *   W_which[h][:, e]; {q,k,v}.bias [HE]; attn.o.weight [HE, D] = W_O;
 *   mlp.in.weight [D,M] = W_in; mlp.out.weight [M,D] = W_out; biases;
 *   unembed.weight = W_U^T when untied (tied: a copy of embed.weight, and
 *   unembed.bias zeros, which is no parameter of GPT-2).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"
#include "pretrained.h"

int64_t polca__pt_dst(const polca__pt_map *m, int64_t i) {
    const int64_t a = m->a, b = m->b, c = m->c;
    switch (m->kind) {
    case POLCA__PTM_T: {
        int64_t r = i / b, col = i % b;
        return m->dst[0] + col * a + r;
    }
    case POLCA__PTM_HEADS_T: {
        int64_t r = i / c, d = i % c, h = r / b, e = r % b;
        return m->dst[0] + (h * c + d) * b + e;
    }
    case POLCA__PTM_QKV_COLS: {
        int64_t d = i / (3 * a * b), j = i % (3 * a * b);
        int64_t w = j / (a * b), r = j % (a * b), h = r / b, e = r % b;
        return m->dst[w] + (h * c + d) * b + e;
    }
    case POLCA__PTM_QKV_ROWS: {
        int64_t r = i / c, d = i % c, h = r / (3 * b), w = (r / b) % 3, e = r % b;
        return m->dst[w] + (h * c + d) * b + e;
    }
    case POLCA__PTM_QKV_BIAS: {
        int64_t h = i / (3 * b), w = (i / b) % 3, e = i % b;
        return m->dst[w] + h * b + e;
    }
    default:
        return m->dst[0] + i;
    }
}

/* ---- building ---- */

typedef struct builder {
    polca__pt_maps *maps;
    int64_t cap;
    int32_t st;
} builder;

static void add(builder *bd, int32_t kind, int64_t d0, int64_t d1, int64_t d2, int64_t a, int64_t b,
                int64_t c, int32_t ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 11, 12)));

static void add(builder *bd, int32_t kind, int64_t d0, int64_t d1, int64_t d2, int64_t a, int64_t b,
                int64_t c, int32_t ndim, const int64_t *shape, const char *fmt, ...) {
    if (bd->st) return;
    polca__pt_maps *ms = bd->maps;
    if (ms->n == bd->cap) {
        int64_t cap = bd->cap ? 2 * bd->cap : 64;
        polca__pt_map *m = realloc(ms->m, (size_t)cap * sizeof *m);
        if (!m) {
            bd->st = polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory for a tensor map");
            return;
        }
        ms->m = m;
        bd->cap = cap;
    }
    polca__pt_map *m = &ms->m[ms->n++];
    memset(m, 0, sizeof *m);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(m->name, sizeof m->name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof m->name) {
        bd->st = polca__fail(POLCA_ERR_INVALID_ARGUMENT, "a tensor name is longer than %d bytes",
                             POLCA_LAYOUT_NAME_MAX);
        return;
    }
    m->kind = kind;
    m->dst[0] = d0;
    m->dst[1] = d1;
    m->dst[2] = d2;
    m->a = a;
    m->b = b;
    m->c = c;
    m->ndim = ndim;
    m->count = 1;
    for (int32_t d = 0; d < ndim; d++) {
        m->shape[d] = shape[d];
        m->count *= shape[d];
    }
}

#define S1(x) (const int64_t[]){(x)}
#define S2(x, y) (const int64_t[]){(x), (y)}
#define COPY1(off, n, ...) add(bd, POLCA__PTM_COPY, off, 0, 0, 0, 0, 0, 1, S1(n), __VA_ARGS__)
#define COPY2(off, r, c, ...) add(bd, POLCA__PTM_COPY, off, 0, 0, 0, 0, 0, 2, S2(r, c), __VA_ARGS__)
#define TRANS(off, r, c, ...) add(bd, POLCA__PTM_T, off, 0, 0, r, c, 0, 2, S2(r, c), __VA_ARGS__)

/* A configuration the layout cannot hold: the checkpoint and the model do
 * not match (typically a config written for another model); the config the
 * checkpoint implies is the way out. */
static int32_t unsupported(const char *layout, const char *what) {
    return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                       "the %s layout has no place for %s (the checkpoint implies its own "
                       "config: give the checkpoint itself as the config, or start from what "
                       "`polca info CHECKPOINT` prints)",
                       layout, what);
}

static void build_native(builder *bd, const polca__layout *l) {
    for (int64_t j = 0; j < l->n_tensors; j++) {
        const polca__tensor_info *t = &l->tensors[j];
        add(bd, POLCA__PTM_COPY, t->offset, 0, 0, 0, 0, 0, t->ndim, t->shape, "%s", t->name);
    }
}

static int32_t build_gpt2(builder *bd, const char *p, const polca__tf_config *c,
                          const polca__tf_offsets *o) {
    const int64_t D = c->d_model, H = c->n_heads, E = c->d_head, M = c->d_mlp, V = c->d_vocab,
                  T = c->n_ctx;
    if (c->positions != POLCA__POS_LEARNED) return unsupported("gpt2", "rotary or no positions");
    if (c->norm != POLCA__NORM_LN) return unsupported("gpt2", "a norm other than LayerNorm");
    if (c->n_kv_heads != H) return unsupported("gpt2", "grouped-query attention");
    if (!c->qkv_bias || !c->out_bias || !c->mlp_bias || c->unembed_bias || c->mlp_gated || !M)
        return unsupported("gpt2", "these bias, gated-MLP or attention-only switches");
    COPY2(o->W_E, V, D, "%swte.weight", p);
    COPY2(o->W_pos, T, D, "%swpe.weight", p);
    for (int32_t l = 0; l < c->n_layers; l++) {
        int64_t b = o->layer0 + l * o->layer_stride;
        COPY1(b + o->ln1_w, D, "%sh.%d.ln_1.weight", p, l);
        COPY1(b + o->ln1_b, D, "%sh.%d.ln_1.bias", p, l);
        add(bd, POLCA__PTM_QKV_COLS, b + o->W_Q, b + o->W_K, b + o->W_V, H, E, D, 2,
            S2(D, 3 * H * E), "%sh.%d.attn.c_attn.weight", p, l);
        COPY1(b + o->b_Q, 3 * H * E, "%sh.%d.attn.c_attn.bias", p, l);
        COPY2(b + o->W_O, H * E, D, "%sh.%d.attn.c_proj.weight", p, l);
        COPY1(b + o->b_O, D, "%sh.%d.attn.c_proj.bias", p, l);
        COPY1(b + o->ln2_w, D, "%sh.%d.ln_2.weight", p, l);
        COPY1(b + o->ln2_b, D, "%sh.%d.ln_2.bias", p, l);
        COPY2(b + o->W_in, D, M, "%sh.%d.mlp.c_fc.weight", p, l);
        COPY1(b + o->b_in, M, "%sh.%d.mlp.c_fc.bias", p, l);
        COPY2(b + o->W_out, M, D, "%sh.%d.mlp.c_proj.weight", p, l);
        COPY1(b + o->b_out, D, "%sh.%d.mlp.c_proj.bias", p, l);
    }
    COPY1(o->lnf_w, D, "%sln_f.weight", p);
    COPY1(o->lnf_b, D, "%sln_f.bias", p);
    if (!c->tied_embeddings) TRANS(o->W_U, V, D, "lm_head.weight");
    return POLCA_OK;
}

static int32_t build_tl4(builder *bd, const polca__tf_config *c, const polca__tf_offsets *o) {
    const int64_t D = c->d_model, H = c->n_heads, E = c->d_head, M = c->d_mlp, V = c->d_vocab,
                  T = c->n_ctx;
    if (c->positions != POLCA__POS_LEARNED)
        return unsupported("transformerlens4", "rotary or no positions");
    if (c->norm != POLCA__NORM_LN)
        return unsupported("transformerlens4", "a norm other than LayerNorm");
    if (c->n_kv_heads != H) return unsupported("transformerlens4", "grouped-query attention");
    if (!c->qkv_bias || !c->out_bias || !c->mlp_bias || c->unembed_bias || c->mlp_gated || !M)
        return unsupported("transformerlens4", "these bias, gated-MLP or attention-only switches");
    COPY2(o->W_E, V, D, "embed.weight");
    COPY2(o->W_pos, T, D, "pos_embed.weight");
    for (int32_t l = 0; l < c->n_layers; l++) {
        int64_t b = o->layer0 + l * o->layer_stride;
        COPY1(b + o->ln1_w, D, "blocks.%d.ln1.weight", l);
        COPY1(b + o->ln1_b, D, "blocks.%d.ln1.bias", l);
        const int64_t w[3] = {o->W_Q, o->W_K, o->W_V}, bb[3] = {o->b_Q, o->b_K, o->b_V};
        const char *qkv = "qkv";
        for (int k = 0; k < 3; k++) {
            add(bd, POLCA__PTM_HEADS_T, b + w[k], 0, 0, H, E, D, 2, S2(H * E, D),
                "blocks.%d.attn.%c.weight", l, qkv[k]);
            COPY1(b + bb[k], H * E, "blocks.%d.attn.%c.bias", l, qkv[k]);
        }
        COPY2(b + o->W_O, H * E, D, "blocks.%d.attn.o.weight", l);
        COPY1(b + o->b_O, D, "blocks.%d.attn.o.bias", l);
        COPY1(b + o->ln2_w, D, "blocks.%d.ln2.weight", l);
        COPY1(b + o->ln2_b, D, "blocks.%d.ln2.bias", l);
        COPY2(b + o->W_in, D, M, "blocks.%d.mlp.in.weight", l);
        COPY1(b + o->b_in, M, "blocks.%d.mlp.in.bias", l);
        COPY2(b + o->W_out, M, D, "blocks.%d.mlp.out.weight", l);
        COPY1(b + o->b_out, D, "blocks.%d.mlp.out.bias", l);
    }
    COPY1(o->lnf_w, D, "ln_final.weight");
    COPY1(o->lnf_b, D, "ln_final.bias");
    if (!c->tied_embeddings) TRANS(o->W_U, V, D, "unembed.weight");
    return POLCA_OK;
}

static int32_t build_neox(builder *bd, const char *p, const polca__tf_config *c,
                          const polca__tf_offsets *o) {
    const int64_t D = c->d_model, H = c->n_heads, E = c->d_head, M = c->d_mlp, V = c->d_vocab;
    if (c->positions == POLCA__POS_LEARNED) return unsupported("gpt_neox", "learned positions");
    if (c->norm != POLCA__NORM_LN) return unsupported("gpt_neox", "a norm other than LayerNorm");
    if (c->n_kv_heads != H) return unsupported("gpt_neox", "grouped-query attention");
    if (c->qkv_bias != c->out_bias || !c->mlp_bias || c->unembed_bias || c->mlp_gated || !M)
        return unsupported("gpt_neox", "these bias, gated-MLP or attention-only switches");
    COPY2(o->W_E, V, D, "%sembed_in.weight", p);
    for (int32_t l = 0; l < c->n_layers; l++) {
        int64_t b = o->layer0 + l * o->layer_stride;
        COPY1(b + o->ln1_w, D, "%slayers.%d.input_layernorm.weight", p, l);
        COPY1(b + o->ln1_b, D, "%slayers.%d.input_layernorm.bias", p, l);
        COPY1(b + o->ln2_w, D, "%slayers.%d.post_attention_layernorm.weight", p, l);
        COPY1(b + o->ln2_b, D, "%slayers.%d.post_attention_layernorm.bias", p, l);
        add(bd, POLCA__PTM_QKV_ROWS, b + o->W_Q, b + o->W_K, b + o->W_V, H, E, D, 2,
            S2(3 * H * E, D), "%slayers.%d.attention.query_key_value.weight", p, l);
        if (c->qkv_bias)
            add(bd, POLCA__PTM_QKV_BIAS, b + o->b_Q, b + o->b_K, b + o->b_V, H, E, 0, 1,
                S1(3 * H * E), "%slayers.%d.attention.query_key_value.bias", p, l);
        TRANS(b + o->W_O, D, H * E, "%slayers.%d.attention.dense.weight", p, l);
        if (c->out_bias) COPY1(b + o->b_O, D, "%slayers.%d.attention.dense.bias", p, l);
        TRANS(b + o->W_in, M, D, "%slayers.%d.mlp.dense_h_to_4h.weight", p, l);
        COPY1(b + o->b_in, M, "%slayers.%d.mlp.dense_h_to_4h.bias", p, l);
        TRANS(b + o->W_out, D, M, "%slayers.%d.mlp.dense_4h_to_h.weight", p, l);
        COPY1(b + o->b_out, D, "%slayers.%d.mlp.dense_4h_to_h.bias", p, l);
    }
    COPY1(o->lnf_w, D, "%sfinal_layer_norm.weight", p);
    COPY1(o->lnf_b, D, "%sfinal_layer_norm.bias", p);
    if (!c->tied_embeddings) TRANS(o->W_U, V, D, "embed_out.weight");
    return POLCA_OK;
}

static int32_t build_llama(builder *bd, const char *p, const polca__tf_config *c,
                           const polca__tf_offsets *o, const char *name) {
    const int64_t D = c->d_model, H = c->n_heads, G = c->n_kv_heads, E = c->d_head,
                  M = c->d_mlp, V = c->d_vocab;
    if (c->positions == POLCA__POS_LEARNED) return unsupported(name, "learned positions");
    if (c->norm != POLCA__NORM_RMS) return unsupported(name, "a norm other than RMSNorm");
    if (!c->mlp_gated || !M) return unsupported(name, "a plain (ungated) MLP");
    if (c->mlp_bias)
        return unsupported(name, "MLP biases (its gate_proj bias has no counterpart here)");
    if (c->unembed_bias) return unsupported(name, "an unembedding bias");
    COPY2(o->W_E, V, D, "%sembed_tokens.weight", p);
    for (int32_t l = 0; l < c->n_layers; l++) {
        int64_t b = o->layer0 + l * o->layer_stride;
        COPY1(b + o->ln1_w, D, "%slayers.%d.input_layernorm.weight", p, l);
        add(bd, POLCA__PTM_HEADS_T, b + o->W_Q, 0, 0, H, E, D, 2, S2(H * E, D),
            "%slayers.%d.self_attn.q_proj.weight", p, l);
        add(bd, POLCA__PTM_HEADS_T, b + o->W_K, 0, 0, G, E, D, 2, S2(G * E, D),
            "%slayers.%d.self_attn.k_proj.weight", p, l);
        add(bd, POLCA__PTM_HEADS_T, b + o->W_V, 0, 0, G, E, D, 2, S2(G * E, D),
            "%slayers.%d.self_attn.v_proj.weight", p, l);
        if (c->qkv_bias) {
            COPY1(b + o->b_Q, H * E, "%slayers.%d.self_attn.q_proj.bias", p, l);
            COPY1(b + o->b_K, G * E, "%slayers.%d.self_attn.k_proj.bias", p, l);
            COPY1(b + o->b_V, G * E, "%slayers.%d.self_attn.v_proj.bias", p, l);
        }
        TRANS(b + o->W_O, D, H * E, "%slayers.%d.self_attn.o_proj.weight", p, l);
        if (c->out_bias) COPY1(b + o->b_O, D, "%slayers.%d.self_attn.o_proj.bias", p, l);
        COPY1(b + o->ln2_w, D, "%slayers.%d.post_attention_layernorm.weight", p, l);
        TRANS(b + o->W_gate, M, D, "%slayers.%d.mlp.gate_proj.weight", p, l);
        TRANS(b + o->W_in, M, D, "%slayers.%d.mlp.up_proj.weight", p, l);
        TRANS(b + o->W_out, D, M, "%slayers.%d.mlp.down_proj.weight", p, l);
    }
    COPY1(o->lnf_w, D, "%snorm.weight", p);
    if (!c->tied_embeddings) TRANS(o->W_U, V, D, "lm_head.weight");
    return POLCA_OK;
}

void polca__pt_maps_free(polca__pt_maps *maps) {
    if (!maps) return;
    free(maps->m);
    maps->m = NULL;
    maps->n = 0;
}

int32_t polca__pt_maps_build(int32_t format, const char *prefix, const polca__tf_config *cfg,
                             const polca__layout *layout, polca__pt_maps *out) {
    polca__pt_maps ms;
    memset(&ms, 0, sizeof ms);
    ms.format = format;
    snprintf(ms.prefix, sizeof ms.prefix, "%s", prefix ? prefix : "");
    builder bd = {&ms, 0, POLCA_OK};
    polca__tf_offsets o;
    polca__tf_offsets_of(cfg, &o);
    ms.n_params = o.n_params;
    ms.tied = cfg->tied_embeddings;
    ms.unembed_bias = cfg->unembed_bias;
    int32_t st = POLCA_OK;
    switch (format) {
    case POLCA__PT_NATIVE:
    case POLCA__PT_TL: build_native(&bd, layout); break;
    case POLCA__PT_TL4: st = build_tl4(&bd, cfg, &o); break;
    case POLCA__PT_GPT2: st = build_gpt2(&bd, ms.prefix, cfg, &o); break;
    case POLCA__PT_NEOX: st = build_neox(&bd, ms.prefix, cfg, &o); break;
    case POLCA__PT_LLAMA: st = build_llama(&bd, ms.prefix, cfg, &o, "llama"); break;
    case POLCA__PT_QWEN2: st = build_llama(&bd, ms.prefix, cfg, &o, "qwen2"); break;
    default: st = polca__fail(POLCA_ERR_INTERNAL, "unknown source layout %d", (int)format);
    }
    if (!st) st = bd.st;
    /* A permutation: every parameter index is hit exactly once. */
    unsigned char *hit = NULL;
    if (!st) {
        hit = polca__calloc((size_t)(ms.n_params ? ms.n_params : 1), 1, "a map check");
        if (!hit) st = POLCA_ERR_OUT_OF_MEMORY;
    }
    int64_t total = 0;
    for (int64_t j = 0; j < ms.n && !st; j++) {
        const polca__pt_map *m = &ms.m[j];
        total += m->count;
        for (int64_t i = 0; i < m->count && !st; i++) {
            int64_t d = polca__pt_dst(m, i);
            if (d < 0 || d >= ms.n_params || hit[d]++)
                st = polca__fail(POLCA_ERR_INTERNAL,
                                 "the %s map sends element %lld of '%s' to parameter %lld, "
                                 "out of range or taken (a bug in libpolca: please report)",
                                 polca__pt_format_name(format), (long long)i, m->name,
                                 (long long)d);
        }
    }
    if (!st && total != ms.n_params)
        st = polca__fail(POLCA_ERR_INTERNAL,
                         "the %s map covers %lld of %lld parameters (a bug in libpolca: please "
                         "report)",
                         polca__pt_format_name(format), (long long)total, (long long)ms.n_params);
    free(hit);
    if (st) {
        polca__pt_maps_free(&ms);
        return st;
    }
    *out = ms;
    return POLCA_OK;
}

/* ---- reading and writing ---- */

/* Tensors a checkpoint holds that are not parameters (buffers), or that
 * repeat one (a tied lm_head saved anyway). */
static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0 && (n == k || s[n - k - 1] == '.');
}

#define NOT_PARAM 1  /* a buffer or a copy of a parameter: ignored */
#define ZERO_BIAS 2  /* an unembedding bias the model lacks: must be zeros */

static int is_buffer(const polca__pt_maps *maps, const char *name) {
    static const char *const suffixes[] = {"attn.mask",       "attn.IGNORE",
                                           "attn.bias",       "attn.masked_bias",
                                           "attention.bias",  "attention.masked_bias",
                                           "rotary_emb.inv_freq", "attn.rotary_sin",
                                           "attn.rotary_cos"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        /* GPT-2's attn.bias is its causal-mask buffer (the parameters are
         * attn.c_attn.bias and attn.c_proj.bias) */
        if (ends_with(name, suffixes[i])) return NOT_PARAM;
    }
    /* A tied output matrix some savers keep beside the embedding (the same
     * storage: TransformerLens 4's unembed.weight, a get_params unembed.W_U,
     * a tied lm_head.weight saved anyway). */
    if (maps->tied && (!strcmp(name, "lm_head.weight") || !strcmp(name, "embed_out.weight") ||
                       !strcmp(name, "unembed.weight") || !strcmp(name, "unembed.W_U")))
        return NOT_PARAM;
    /* TransformerLens shows the bias GPT-2 lacks as zeros. */
    if (!maps->unembed_bias && (!strcmp(name, "unembed.bias") || !strcmp(name, "unembed.b_U")))
        return ZERO_BIAS;
    return 0;
}

/* A tensor that must hold zeros (an unembedding bias the model lacks). */
static int32_t check_zeros(polca__st_file *f, int64_t i, const char *name, const char *fn) {
    const polca__st_tensor *t = polca__st_tensor_at(f, i);
    int64_t n = 1;
    for (int32_t d = 0; d < t->ndim; d++) n *= t->shape[d];
    float *buf = polca__alloc((size_t)(n ? n : 1) * sizeof(float), "a bias");
    if (!buf) return POLCA_ERR_OUT_OF_MEMORY;
    int32_t st = polca__st_read_f32(f, i, buf, n);
    for (int64_t k = 0; k < n && !st; k++)
        if (buf[k] != 0.0f)
            st = polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                             "%s: %s: tensor '%s' is not zero (element %lld is %g), but the model "
                             "has no unembedding bias (give option unembed_bias 1)",
                             fn, polca__st_path(f), name, (long long)k, (double)buf[k]);
    free(buf);
    return st;
}

int32_t polca__pt_read(const polca__pt_maps *maps, const polca__pt_source *src, int strict,
                       float *theta, const char *fn) {
    int32_t st = POLCA_OK;
    const char *layout = polca__pt_format_name(maps->format);
    if (strict) {
        for (int32_t f = 0; f < src->n_files; f++) {
            int64_t n = polca__st_count(src->files[f]);
            for (int64_t i = 0; i < n; i++) {
                const char *name = polca__st_tensor_at(src->files[f], i)->name;
                int known = 0;
                for (int64_t j = 0; j < maps->n && !known; j++)
                    known = !strcmp(maps->m[j].name, name);
                int what = known ? 0 : is_buffer(maps, name);
                if (!known && !what)
                    return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                                       "%s: %s holds tensor '%s', which the %s layout of this "
                                       "model does not have",
                                       fn, polca__st_path(src->files[f]), name, layout);
                if (what == ZERO_BIAS) {
                    int32_t st2 = check_zeros(src->files[f], i, name, fn);
                    if (st2) return st2;
                }
            }
        }
    }
    for (int64_t j = 0; j < maps->n; j++) {
        const polca__pt_map *m = &maps->m[j];
        int32_t f;
        int64_t k;
        if (!polca__pt_find(src, m->name, &f, &k))
            return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                               "%s: %s has no tensor '%s' (the %s layout of this model needs it)",
                               fn, src->path, m->name, layout);
        const polca__st_tensor *t = polca__st_tensor_at(src->files[f], k);
        int same = t->ndim == m->ndim;
        for (int32_t d = 0; same && d < m->ndim; d++) same = t->shape[d] == m->shape[d];
        if (!same) {
            char want[128], got[128];
            polca__shape_text(want, sizeof want, m->ndim, m->shape);
            polca__shape_text(got, sizeof got, t->ndim, t->shape);
            return polca__fail(POLCA_ERR_LAYOUT_MISMATCH,
                               "%s: %s: tensor '%s' has shape %s; the model's configuration "
                               "wants %s",
                               fn, polca__st_path(src->files[f]), m->name, got, want);
        }
    }
    if (!theta) return POLCA_OK;
    int64_t biggest = 1;
    for (int64_t j = 0; j < maps->n; j++)
        if (maps->m[j].count > biggest) biggest = maps->m[j].count;
    float *tmp = polca__alloc((size_t)maps->n_params * sizeof(float), "loaded parameters");
    float *buf = polca__alloc((size_t)biggest * sizeof(float), "a tensor buffer");
    if (!tmp || !buf) {
        free(tmp);
        free(buf);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int64_t j = 0; j < maps->n && !st; j++) {
        const polca__pt_map *m = &maps->m[j];
        int32_t f;
        int64_t k;
        polca__pt_find(src, m->name, &f, &k);
        st = polca__st_read_f32(src->files[f], k, buf, m->count);
        if (st) {
            st = polca__wrap(st, "%s: tensor '%s'", fn, m->name);
            break;
        }
        if (m->kind == POLCA__PTM_COPY)
            memcpy(tmp + m->dst[0], buf, (size_t)m->count * sizeof(float));
        else
            for (int64_t i = 0; i < m->count; i++) tmp[polca__pt_dst(m, i)] = buf[i];
    }
    if (!st) memcpy(theta, tmp, (size_t)maps->n_params * sizeof(float));
    free(tmp);
    free(buf);
    return st;
}

int32_t polca__pt_write(const polca__pt_maps *maps, const float *theta, const char *path,
                        const char *fn) {
    float *data = polca__alloc((size_t)(maps->n_params ? maps->n_params : 1) * sizeof(float),
                               "tensors to write");
    polca__st_out_tensor *ts = polca__calloc((size_t)maps->n, sizeof *ts, "a tensor list");
    if (!data || !ts) {
        free(data);
        free(ts);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    int64_t at = 0;
    for (int64_t j = 0; j < maps->n; j++) {
        const polca__pt_map *m = &maps->m[j];
        float *dst = data + at;
        if (m->kind == POLCA__PTM_COPY)
            memcpy(dst, theta + m->dst[0], (size_t)m->count * sizeof(float));
        else
            for (int64_t i = 0; i < m->count; i++) dst[i] = theta[polca__pt_dst(m, i)];
        ts[j].name = m->name;
        ts[j].ndim = m->ndim;
        ts[j].shape = m->shape;
        ts[j].data = dst;
        at += m->count;
    }
    const char *keys[] = {"format", "polca_layout"};
    const char *values[] = {"pt", polca__pt_format_name(maps->format)};
    int32_t st = polca__st_write_f32(path, maps->n, ts, 2, keys, values);
    free(data);
    free(ts);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}
