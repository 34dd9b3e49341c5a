/*
 * tests/test_transformer_arch.c - the architecture switches of the built-in
 * transformer (polca__tf_config: norms and eps, rotary / no positions,
 * grouped-query attention, optional biases, silu, gated MLP, parallel
 * residual, tied embeddings, unembedding bias), each alone on top of
 * polca__tf_config_basic and combined as GPT-2, Pythia (GPT-NeoX), Llama
 * (tied and untied) and Qwen2 are, at tiny sizes:
 *
 *   - the CPU kernels against the float64 reference of tests/transformer_ref.h
 *     (losses; gradient, HVP, g and c against float64 differences of it:
 *     tests/transformer_check.h, which states the tolerances and why);
 *   - the reference against itself across switches (RMSNorm = LayerNorm
 *     without bias on zero-mean rows; absent tensors = zero ones; grouped-query
 *     attention with repeated key/value heads = multi-head; tied = untied with
 *     W_U = W_E^T; rotary at position 0 = no positions; parallel = sequential
 *     residual when attention adds nothing; rotary scores depend on i - j only),
 *     since the kernels are held to it; its basic path is held to PyTorch in
 *     tests/test_transformer.c (pytorch_fixture_*);
 *   - the public API: option errors naming the option, tensor names of a
 *     grouped + gated + tied model, and short data with rotary or no
 *     positions giving the results of the same sequences padded.
 *
 * ALLOW_UNSUPPORTED (default 1): while the CPU kernels of a switch are not
 * merged they return POLCA_ERR_UNSUPPORTED, and a config using it is reported
 * as a skip naming the switch. Build with -DALLOW_UNSUPPORTED=0 (or flip the
 * default once every kernel is in) to make that a failure.
 */
#include "npy.h"
#include "transformer_check.h"

#ifndef ALLOW_UNSUPPORTED
#define ALLOW_UNSUPPORTED 1
#endif

/* 1 when the CPU kernels refuse cfg with POLCA_ERR_UNSUPPORTED (any of the
 * four entries); why gets the message. */
static int kernels_refuse(const polca__tf_config *cfg, char *why, size_t n) {
    model m;
    if (!model_make(&m, *cfg, 1, 5)) {
        snprintf(why, n, "model_make failed: %s", polca_last_error());
        model_free(&m);
        return 0; /* the checks will fail on it */
    }
    const int64_t P = m.P, N = m.N > 0 ? m.N : 1;
    float *l = malloc((size_t)N * 4), *gr = malloc((size_t)P * 4), *hv = malloc((size_t)P * 4),
          *g = malloc((size_t)N * 4), *c = malloc((size_t)N * 4);
    double mean;
    int32_t st[4];
    st[0] = be->tf_losses(NULL, cfg, m.theta, 1, m.tokens, m.mask, l);
    st[1] = be->tf_grad(NULL, cfg, m.theta, 1, m.tokens, m.mask, &mean, gr);
    st[2] = be->tf_hvp(NULL, cfg, m.theta, 1, m.tokens, m.mask, m.theta, hv);
    st[3] = be->tf_dirderivs(NULL, cfg, m.theta, 1, m.tokens, m.mask, 1, m.theta, l, g, c);
    int refused = 0;
    for (int i = 0; i < 4 && !refused; i++)
        if (st[i] == POLCA_ERR_UNSUPPORTED) {
            static const char *entry[4] = {"tf_losses", "tf_grad", "tf_hvp", "tf_dirderivs"};
            snprintf(why, n, "%s: %s", entry[i], polca_last_error());
            refused = 1;
        }
    free(l), free(gr), free(hv), free(g), free(c);
    model_free(&m);
    return refused;
}

/* The three kernel checks of tests/transformer_check.h on cfg, or a skip
 * naming `what` while its kernels are not there (ALLOW_UNSUPPORTED). */
static void run_arch(polca__tf_config cfg, const char *what, unsigned long long seed) {
    char why[512];
    CHECK_OK(polca__tf_check_config(&cfg));
    if (kernels_refuse(&cfg, why, sizeof why)) {
        if (ALLOW_UNSUPPORTED)
            SKIP("%.90s: CPU kernels return POLCA_ERR_UNSUPPORTED (%.120s)", what, why);
        FAILF("%s: CPU kernels return POLCA_ERR_UNSUPPORTED (%s)", what, why);
        return;
    }
    check_losses_and_grad(cfg, seed);
    check_hvp(cfg, seed + 1000);
    check_dirderivs(cfg, seed + 2000);
}

/* ---- the matrix: each switch alone, then model families ---- */

/* basic: 2 layers, d_model 8, 2 heads of 4, d_mlp 12, vocab 7, n_ctx 6 */
static polca__tf_config base(void) {
    return polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_GELU_NEW);
}

#define ARCH(name, what, seed, ...)                                            \
    TEST(name) {                                                               \
        polca__tf_config c = base();                                           \
        __VA_ARGS__;                                                           \
        run_arch(c, what, seed);                                               \
    }

ARCH(arch_norm_layernorm_nobias, "norm layernorm_nobias", 101, c.norm = POLCA__NORM_LN_NOBIAS)
ARCH(arch_norm_rmsnorm, "norm rmsnorm", 102, c.norm = POLCA__NORM_RMS)
/* a large eps, so that a kernel ignoring it would miss by far more than 1e-5 */
ARCH(arch_norm_eps, "norm_eps 0.05", 103, c.norm_eps = 0.05f)
ARCH(arch_norm_rmsnorm_eps, "rmsnorm with norm_eps 0.05", 104, c.norm = POLCA__NORM_RMS, c.norm_eps = 0.05f)
/* rope_theta 30: every frequency pair turns by a visible angle over 6 positions */
ARCH(arch_rotary_full, "positions rotary (rotary_dim = d_head)", 105, c.positions = POLCA__POS_ROTARY,
     c.rotary_dim = 4, c.rope_theta = 30.0f)
ARCH(arch_rotary_partial, "positions rotary (rotary_dim = d_head / 2)", 106,
     c.positions = POLCA__POS_ROTARY, c.rotary_dim = 2, c.rope_theta = 10000.0f)
ARCH(arch_positions_none, "positions none", 107, c.positions = POLCA__POS_NONE)
ARCH(arch_gqa_mqa, "grouped-query attention (n_kv_heads 1 of 2)", 108, c.n_kv_heads = 1)
ARCH(arch_gqa, "grouped-query attention (n_kv_heads 2 of 4)", 109, c.n_heads = 4, c.d_head = 3,
     c.n_kv_heads = 2)
ARCH(arch_no_qkv_bias, "qkv_bias 0", 110, c.qkv_bias = 0)
ARCH(arch_no_out_bias, "out_bias 0", 111, c.out_bias = 0)
ARCH(arch_no_mlp_bias, "mlp_bias 0", 112, c.mlp_bias = 0)
ARCH(arch_no_unembed_bias, "unembed_bias 0", 113, c.unembed_bias = 0)
ARCH(arch_act_silu, "act_fn silu", 114, c.act_fn = POLCA__ACT_SILU)
ARCH(arch_mlp_gated, "mlp_gated (gelu_new)", 115, c.mlp_gated = 1)
ARCH(arch_mlp_gated_relu_nobias, "mlp_gated (relu, no mlp bias)", 116, c.mlp_gated = 1,
     c.act_fn = POLCA__ACT_RELU, c.mlp_bias = 0)
ARCH(arch_parallel_residual, "parallel_residual", 117, c.parallel_residual = 1)
ARCH(arch_tied_embeddings, "tied_embeddings", 118, c.tied_embeddings = 1)
ARCH(arch_attn_only_rotary_rms_gqa, "attention-only with rotary, rmsnorm, grouped-query", 119,
     c.d_mlp = 0, c.n_heads = 4, c.d_head = 2, c.n_kv_heads = 2, c.positions = POLCA__POS_ROTARY,
     c.rotary_dim = 2, c.rope_theta = 30.0f, c.norm = POLCA__NORM_RMS)

/* GPT-2: tied embeddings, learned positions, gelu_new, LayerNorm, every
 * bias but the unembedding's (lm_head has none). */
ARCH(family_gpt2, "GPT-2 (tied_embeddings, unembed_bias 0)", 201, c.tied_embeddings = 1,
     c.unembed_bias = 0)
/* Pythia / GPT-NeoX: rotary on a quarter of each head (rotary_pct 0.25),
 * parallel residual, untied embed_out without bias, gelu, LayerNorm. */
ARCH(family_pythia, "Pythia/GPT-NeoX (rotary_dim d_head/4, parallel_residual, unembed_bias 0)",
     202, c.d_head = 8, c.d_mlp = 16, c.d_vocab = 9, c.act_fn = POLCA__ACT_GELU,
     c.positions = POLCA__POS_ROTARY, c.rotary_dim = 2, c.parallel_residual = 1,
     c.unembed_bias = 0)
/* Llama: grouped-query, RMSNorm eps 1e-6, rotary on the whole head, SwiGLU,
 * no biases; untied and tied. */
#define LLAMA(c)                                                               \
    c.n_heads = 4, c.d_head = 4, c.n_kv_heads = 2, c.d_vocab = 9, c.norm = POLCA__NORM_RMS,   \
    c.norm_eps = 1e-6f, c.positions = POLCA__POS_ROTARY, c.rotary_dim = 4, c.rope_theta = 100.0f, \
    c.act_fn = POLCA__ACT_SILU, c.mlp_gated = 1, c.qkv_bias = c.out_bias = c.mlp_bias = 0, \
    c.unembed_bias = 0
ARCH(family_llama, "Llama (GQA, rmsnorm, rotary, silu gated, no biases, untied)", 203, LLAMA(c))
ARCH(family_llama_tied, "Llama (GQA, rmsnorm, rotary, silu gated, no biases, tied)", 204, LLAMA(c),
     c.tied_embeddings = 1)
/* Qwen2: Llama's layout with a q/k/v bias (and none elsewhere), rope_theta 1e6. */
ARCH(family_qwen2, "Qwen2 (Llama with qkv_bias 1)", 205, LLAMA(c), c.qkv_bias = 1,
     c.rope_theta = 1000000.0f)

/* ---- the reference against itself ---- */

/* A model's float64 parameters with random values (every tensor, biases and
 * norm weights included, off their init). */
typedef struct dmodel {
    polca__tf_config cfg;
    polca__layout lay;
    double *th;
} dmodel;

static int dmodel_make(dmodel *d, polca__tf_config cfg, unsigned long long seed) {
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    if (polca__tf_layout(&cfg, &d->lay)) return 0;
    d->th = malloc((size_t)d->lay.n_params * 8);
    unsigned long long s = seed * 31 + 7;
    for (int64_t i = 0; i < d->lay.n_params; i++) d->th[i] = 0.5 * harness_uniform(&s);
    /* norm weights near 1 */
    for (int64_t t = 0; t < d->lay.n_tensors; t++)
        if (strstr(d->lay.tensors[t].name, "ln") && d->lay.tensors[t].name[strlen(d->lay.tensors[t].name) - 1] == 'w')
            for (int64_t i = 0; i < d->lay.tensors[t].count; i++) d->th[d->lay.tensors[t].offset + i] += 1.0;
    return 1;
}

static void dmodel_free(dmodel *d) {
    polca__layout_free(&d->lay);
    free(d->th);
}

static double *dtensor(dmodel *d, const char *name) {
    int64_t i = polca__layout_find(&d->lay, name);
    return i >= 0 ? d->th + d->lay.tensors[i].offset : NULL;
}

/* Every tensor of dst that src has by the same name gets src's values. */
static void copy_by_name(const dmodel *src, dmodel *dst) {
    for (int64_t t = 0; t < dst->lay.n_tensors; t++) {
        const polca__tensor_info *ti = &dst->lay.tensors[t];
        int64_t i = polca__layout_find(&src->lay, ti->name);
        if (i >= 0 && src->lay.tensors[i].count == ti->count)
            memcpy(dst->th + ti->offset, src->th + src->lay.tensors[i].offset, (size_t)ti->count * 8);
    }
}

/* Tokens and mask [n_seq][T] (every position but the last scored). */
static void make_data(int64_t n_seq, int T, int V, unsigned long long seed, int32_t *tok, uint8_t *mask) {
    unsigned long long s = seed * 977 + 3;
    for (int64_t i = 0; i < n_seq * T; i++) {
        tok[i] = (int32_t)((harness_uniform(&s) + 1.0f) * 0.5f * (float)V);
        if (tok[i] >= V) tok[i] = V - 1;
        mask[i] = (int)(i % T) + 1 < T;
    }
}

/* ref losses of a and b on the same data agree within tol (relative). */
static double ref_max_rel_diff(const dmodel *a, const dmodel *b, int64_t n_seq, const int32_t *tok,
                               const uint8_t *mask, int64_t n) {
    double *la = malloc((size_t)n * 8), *lb = malloc((size_t)n * 8), worst = 0;
    ref_losses(&a->cfg, &a->lay, a->th, n_seq, tok, mask, la);
    ref_losses(&b->cfg, &b->lay, b->th, n_seq, tok, mask, lb);
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(la[i] - lb[i]) / fabs(lb[i]);
        worst = e > worst ? e : worst;
    }
    free(la), free(lb);
    return worst;
}

#define REF_SEQ 3
#define REF_TOL 1e-12 /* the same float64 arithmetic up to reordering */

TEST(ref_rmsnorm_equals_layernorm_nobias_on_zero_mean_rows) {
    enum { T = 3, D = 7 };
    double x[T * D], w[D], y1[T * D], y2[T * D];
    unsigned long long s = 11;
    for (int t = 0; t < T; t++) {
        double m = 0;
        for (int j = 0; j < D; j++) m += (x[t * D + j] = 2.0 * harness_uniform(&s) + 0.5);
        for (int j = 0; j < D; j++) x[t * D + j] -= m / D;
    }
    for (int j = 0; j < D; j++) w[j] = 1.0 + 0.3 * harness_uniform(&s);
    ref_norm(POLCA__NORM_RMS, 1e-3, T, D, x, w, NULL, y1);
    ref_norm(POLCA__NORM_LN_NOBIAS, 1e-3, T, D, x, w, NULL, y2);
    for (int i = 0; i < T * D; i++) CHECK(fabs(y1[i] - y2[i]) <= 1e-14 * (1 + fabs(y2[i])));
    /* and with eps: RMS(x) = x w / sqrt(mean(x^2) + eps), by hand for row 0 */
    double ms = 0;
    for (int j = 0; j < D; j++) ms += x[j] * x[j];
    ms /= D;
    for (int j = 0; j < D; j++) CHECK(fabs(y1[j] - x[j] * w[j] / sqrt(ms + 1e-3)) <= 1e-14);
    /* off zero mean they differ (the check above has teeth) */
    for (int j = 0; j < D; j++) x[j] += 1.0;
    ref_norm(POLCA__NORM_RMS, 1e-3, 1, D, x, w, NULL, y1);
    ref_norm(POLCA__NORM_LN_NOBIAS, 1e-3, 1, D, x, w, NULL, y2);
    CHECK(fabs(y1[0] - y2[0]) > 1e-3);
}

TEST(ref_activations) {
    CHECK(fabs(ref_act(POLCA__ACT_SILU, 1.0) - 0.7310585786300049) <= 1e-15);
    CHECK(fabs(ref_act(POLCA__ACT_SILU, -2.0) - -0.2384058440442351) <= 1e-15);
    CHECK(fabs(ref_act(POLCA__ACT_GELU, 1.0) - 0.8413447460685429) <= 1e-15);
    CHECK(fabs(ref_act(POLCA__ACT_GELU_NEW, 1.0) - 0.8411919906082768) <= 1e-15);
    CHECK(ref_act(POLCA__ACT_RELU, -1.0) == 0.0 && ref_act(POLCA__ACT_RELU, 2.0) == 2.0);
}

/* Absent tensors are zero ones: LayerNorm with zero biases = LayerNorm
 * without bias, learned positions with W_pos = 0 = no positions, zero
 * q/k/v, o, mlp and unembedding biases = none. Also RMSNorm and tied,
 * gated, parallel, grouped models with zero biases vs none, so each
 * optional-tensor lookup of the reference is exercised in context. */
TEST(ref_absent_tensors_equal_zero_ones) {
    polca__tf_config full[3], none[3];
    full[0] = base();
    full[1] = base(), full[1].norm = POLCA__NORM_RMS, full[1].mlp_gated = 1, full[1].act_fn = POLCA__ACT_SILU,
    full[1].tied_embeddings = 1, full[1].n_heads = 4, full[1].d_head = 2, full[1].n_kv_heads = 2;
    full[2] = base(), full[2].parallel_residual = 1, full[2].positions = POLCA__POS_ROTARY,
    full[2].rotary_dim = 2, full[2].rope_theta = 30.0f;
    for (int i = 0; i < 3; i++) {
        none[i] = full[i];
        none[i].qkv_bias = none[i].out_bias = none[i].mlp_bias = none[i].unembed_bias = 0;
        if (none[i].norm == POLCA__NORM_LN) none[i].norm = POLCA__NORM_LN_NOBIAS;
        if (none[i].positions == POLCA__POS_LEARNED) none[i].positions = POLCA__POS_NONE;
    }
    for (int i = 0; i < 3; i++) {
        dmodel a, b;
        CHECK(dmodel_make(&a, full[i], 40 + i) && dmodel_make(&b, none[i], 50 + i));
        /* zero what b lacks, then give b a's values */
        int zeroed = 0;
        for (int64_t t = 0; t < a.lay.n_tensors; t++)
            if (polca__layout_find(&b.lay, a.lay.tensors[t].name) < 0) {
                memset(a.th + a.lay.tensors[t].offset, 0, (size_t)a.lay.tensors[t].count * 8);
                zeroed++;
            }
        /* W_pos, per block ln1.b ln2.b b_Q b_K b_V b_O b_in b_out, ln_final.b, b_U;
         * RMSNorm: no norm biases to begin with; rotary: no W_pos to begin with */
        static const int want_zeroed[3] = {1 + 2 * 8 + 2, 1 + 2 * 6 + 1, 2 * 8 + 2};
        if (zeroed != want_zeroed[i]) FAILF("config %d: %d tensors absent, want %d", i, zeroed, want_zeroed[i]);
        copy_by_name(&a, &b);
        const int T = full[i].n_ctx;
        int32_t tok[REF_SEQ * 16];
        uint8_t mask[REF_SEQ * 16];
        make_data(REF_SEQ, T, full[i].d_vocab, 60 + i, tok, mask);
        const double e = ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1));
        if (!(e <= REF_TOL)) FAILF("config %d: zero tensors vs absent differ by %g", i, e);
        /* the zeroed tensors matter when nonzero (the comparison has teeth) */
        for (int64_t t = 0; t < a.lay.n_tensors; t++)
            if (polca__layout_find(&b.lay, a.lay.tensors[t].name) < 0)
                for (int64_t j = 0; j < a.lay.tensors[t].count; j++) a.th[a.lay.tensors[t].offset + j] = 0.3;
        if (!(ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1)) > 1e-3))
            FAILF("config %d: nonzero biases change nothing", i);
        dmodel_free(&a), dmodel_free(&b);
    }
}

/* Grouped-query attention = multi-head attention whose key/value heads are
 * the grouped ones repeated: query head h reads kv head h / (H / G). */
TEST(ref_grouped_query_equals_mha_with_repeated_kv) {
    polca__tf_config g = base();
    g.n_heads = 6, g.d_head = 3, g.n_kv_heads = 2; /* heads 0-2 read kv 0, 3-5 kv 1 */
    polca__tf_config m = g;
    m.n_kv_heads = 6;
    for (int rot = 0; rot < 2; rot++) {
        if (rot) g.positions = m.positions = POLCA__POS_ROTARY, g.rotary_dim = m.rotary_dim = 2,
                 g.rope_theta = m.rope_theta = 30.0f;
        dmodel a, b;
        CHECK(dmodel_make(&a, g, 70 + rot) && dmodel_make(&b, m, 80 + rot));
        copy_by_name(&a, &b);
        const int D = g.d_model, E = g.d_head;
        for (int l = 0; l < g.n_layers; l++) {
            static const char *kv[4][2] = {{"attn._W_K", "attn.W_K"},
                                           {"attn._W_V", "attn.W_V"},
                                           {"attn._b_K", "attn.b_K"},
                                           {"attn._b_V", "attn.b_V"}};
            for (int w = 0; w < 4; w++) {
                char na[64], nb[64];
                snprintf(na, sizeof na, "blocks.%d.%s", l, kv[w][0]);
                snprintf(nb, sizeof nb, "blocks.%d.%s", l, kv[w][1]);
                const double *src = dtensor(&a, na);
                double *dst = dtensor(&b, nb);
                CHECK(src && dst && !dtensor(&a, nb) && !dtensor(&b, na));
                const int per = w < 2 ? D * E : E; /* one head's block */
                for (int h = 0; h < 6; h++) memcpy(dst + h * per, src + (h / 3) * per, (size_t)per * 8);
            }
        }
        const int T = g.n_ctx;
        int32_t tok[REF_SEQ * 16];
        uint8_t mask[REF_SEQ * 16];
        make_data(REF_SEQ, T, g.d_vocab, 90 + rot, tok, mask);
        double e = ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1));
        if (!(e <= REF_TOL)) FAILF("rotary %d: grouped vs repeated multi-head differ by %g", rot, e);
        /* the mapping h / (H / G), not h % G: swapping the repeats changes it */
        for (int l = 0; l < g.n_layers; l++) {
            char na[64], nb[64];
            snprintf(na, sizeof na, "blocks.%d.attn._W_K", l);
            snprintf(nb, sizeof nb, "blocks.%d.attn.W_K", l);
            const double *src = dtensor(&a, na);
            double *dst = dtensor(&b, nb);
            for (int h = 0; h < 6; h++) memcpy(dst + h * D * E, src + (h % 2) * D * E, (size_t)(D * E) * 8);
        }
        e = ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1));
        if (!(e > 1e-4)) FAILF("rotary %d: kv head h %% G gives the same losses (%g)", rot, e);
        dmodel_free(&a), dmodel_free(&b);
    }
}

/* Tied embeddings = untied with W_U = W_E^T (with and without b_U). */
TEST(ref_tied_equals_untied_with_transposed_embedding) {
    for (int ub = 0; ub < 2; ub++) {
        polca__tf_config t = base();
        t.tied_embeddings = 1, t.unembed_bias = ub;
        polca__tf_config u = t;
        u.tied_embeddings = 0;
        dmodel a, b;
        CHECK(dmodel_make(&a, t, 100 + ub) && dmodel_make(&b, u, 110 + ub));
        copy_by_name(&a, &b);
        const int D = t.d_model, V = t.d_vocab;
        const double *WE = dtensor(&a, "embed.W_E");
        double *WU = dtensor(&b, "unembed.W_U");
        CHECK(WE && WU && !dtensor(&a, "unembed.W_U"));
        for (int d = 0; d < D; d++)
            for (int v = 0; v < V; v++) WU[d * V + v] = WE[v * D + d];
        const int T = t.n_ctx;
        int32_t tok[REF_SEQ * 16];
        uint8_t mask[REF_SEQ * 16];
        make_data(REF_SEQ, T, V, 120 + ub, tok, mask);
        double e = ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1));
        if (!(e <= REF_TOL)) FAILF("unembed_bias %d: tied vs untied differ by %g", ub, e);
        WU[1] += 0.5; /* teeth */
        e = ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1));
        if (!(e > 1e-4)) FAILF("unembed_bias %d: W_U not used (%g)", ub, e);
        dmodel_free(&a), dmodel_free(&b);
    }
}

/* Rotary at position 0 is the identity: a rotary model and the same model
 * without positions give the same loss at position 0 (which attends to
 * itself only) and different ones after it. */
TEST(ref_rotary_at_position_zero_is_identity) {
    polca__tf_config r = base();
    r.positions = POLCA__POS_ROTARY, r.rotary_dim = 4, r.rope_theta = 30.0f;
    polca__tf_config n = r;
    n.positions = POLCA__POS_NONE, n.rotary_dim = 0;
    dmodel a, b;
    CHECK(dmodel_make(&a, r, 130) && dmodel_make(&b, n, 131));
    copy_by_name(&a, &b);
    const int T = r.n_ctx;
    int32_t tok[REF_SEQ * 16];
    uint8_t mask[REF_SEQ * 16];
    make_data(REF_SEQ, T, r.d_vocab, 132, tok, mask);
    for (int i = 0; i < REF_SEQ * T; i++) mask[i] = i % T == 0;
    CHECK(ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ) <= REF_TOL);
    for (int i = 0; i < REF_SEQ * T; i++) mask[i] = i % T == 2;
    CHECK(ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ) > 1e-4);
    dmodel_free(&a), dmodel_free(&b);
}

/* The rotation itself: norm-preserving, dims past rotary_dim untouched, the
 * pairs (i, i + R/2) (rotate-half, not interleaved), f_i = theta^(-2i/R),
 * and q.k after rotation depends on the position difference only. */
TEST(ref_rotary_rotation) {
    enum { E = 6, R = 4 };
    const double theta = 50.0;
    double x[E] = {0.3, -1.2, 0.7, 2.0, -0.4, 0.9}, y[E];
    memcpy(y, x, sizeof x);
    ref_rotary(R, theta, 3, y);
    double nx = 0, ny = 0;
    for (int i = 0; i < E; i++) nx += x[i] * x[i], ny += y[i] * y[i];
    CHECK(fabs(nx - ny) <= 1e-14 * nx);
    CHECK(y[4] == x[4] && y[5] == x[5]);
    /* pair (1, 3), f_1 = theta^(-1/2), angle 3 f_1 */
    const double a1 = 3.0 * pow(theta, -0.5);
    CHECK(fabs(y[1] - (x[1] * cos(a1) - x[3] * sin(a1))) <= 1e-15);
    CHECK(fabs(y[3] - (x[3] * cos(a1) + x[1] * sin(a1))) <= 1e-15);
    /* pair (0, 2), f_0 = 1 */
    CHECK(fabs(y[0] - (x[0] * cos(3.0) - x[2] * sin(3.0))) <= 1e-15);
    double k[E] = {-0.8, 0.1, 1.1, -0.3, 0.6, 0.2};
    double dots[2];
    for (int s = 0; s < 2; s++) {
        double q1[E], k1[E];
        memcpy(q1, x, sizeof x), memcpy(k1, k, sizeof k);
        ref_rotary(R, theta, 5 + 4 * s, q1);
        ref_rotary(R, theta, 2 + 4 * s, k1);
        dots[s] = 0;
        for (int i = 0; i < E; i++) dots[s] += q1[i] * k1[i];
    }
    CHECK(fabs(dots[0] - dots[1]) <= 1e-13);
    memcpy(y, x, sizeof x);
    ref_rotary(R, theta, 0, y);
    CHECK(memcmp(x, y, sizeof x) == 0);
}

/* Parallel residual = sequential when attention adds nothing (W_O = 0, no
 * b_O), since then x + attn = x is what N2 sees either way; and they differ
 * when it adds something. */
TEST(ref_parallel_equals_sequential_without_attention_output) {
    polca__tf_config p = base();
    p.parallel_residual = 1, p.out_bias = 0;
    polca__tf_config s = p;
    s.parallel_residual = 0;
    dmodel a, b;
    CHECK(dmodel_make(&a, p, 140) && dmodel_make(&b, s, 141));
    copy_by_name(&a, &b);
    const int T = p.n_ctx;
    int32_t tok[REF_SEQ * 16];
    uint8_t mask[REF_SEQ * 16];
    make_data(REF_SEQ, T, p.d_vocab, 142, tok, mask);
    CHECK(ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1)) > 1e-4);
    for (int l = 0; l < p.n_layers; l++) {
        char nm[64];
        snprintf(nm, sizeof nm, "blocks.%d.attn.W_O", l);
        double *wa = dtensor(&a, nm), *wb = dtensor(&b, nm);
        memset(wa, 0, (size_t)(p.n_heads * p.d_head * p.d_model) * 8);
        memset(wb, 0, (size_t)(p.n_heads * p.d_head * p.d_model) * 8);
    }
    CHECK(ref_max_rel_diff(&a, &b, REF_SEQ, tok, mask, REF_SEQ * (T - 1)) <= REF_TOL);
    dmodel_free(&a), dmodel_free(&b);
}

/* ---- against Hugging Face transformers in float64 ----
 *
 * tests/gen_transformer_arch_fixtures.py evaluates the real
 * GPT2LMHeadModel, GPTNeoXForCausalLM (parallel with rotary on a quarter of
 * each head; sequential with full rotary), LlamaForCausalLM (GQA; untied, and
 * tied with one kv head) and Qwen2ForCausalLM in float64 on parameters given
 * in our layout (mapped to theirs by reshapes and transposes only), and takes
 * every derivative with respect to our flat vector. Checked here:
 *   - the layout (names, shapes, order) = the generator's copy of the spec;
 *   - the float64 reference's losses = PyTorch's within 1e-10 relative (both
 *     float64 from the same float32 parameters: they differ by rounding,
 *     <= 1e-15 measured);
 *   - the reference's float64 central-difference gradient = PyTorch's
 *     autograd gradient within 1e-6 in ||a - b|| / ||b|| (what the kernel
 *     checks above rely on: the differences are accurate to ~1e-8, far
 *     inside DERIV_TOL);
 *   - the CPU kernels: losses (LOSS_TOL), gradient, HVP, g and c (DERIV_TOL)
 *     against PyTorch, as for the basic fixtures in tests/test_transformer.c
 *     (a skip while a switch's kernels are missing, ALLOW_UNSUPPORTED). */

static int parse_config(const char *path, polca__tf_config *c) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    memset(c, 0, sizeof *c);
    char key[64], val[64];
    int n = 0;
    while (fscanf(f, "%63s %63s", key, val) == 2) {
        static const char *const acts[] = {"gelu", "gelu_new", "relu", "silu"};
        static const int act_ids[] = {POLCA__ACT_GELU, POLCA__ACT_GELU_NEW, POLCA__ACT_RELU, POLCA__ACT_SILU};
        static const char *const norms[] = {"layernorm", "layernorm_nobias", "rmsnorm"};
        static const char *const poss[] = {"learned", "rotary", "none"};
        const struct {
            const char *name;
            int32_t *field;
        } ints[] = {{"n_layers", &c->n_layers},   {"d_model", &c->d_model},
                    {"n_heads", &c->n_heads},     {"d_head", &c->d_head},
                    {"d_mlp", &c->d_mlp},         {"d_vocab", &c->d_vocab},
                    {"n_ctx", &c->n_ctx},         {"n_kv_heads", &c->n_kv_heads},
                    {"rotary_dim", &c->rotary_dim}, {"qkv_bias", &c->qkv_bias},
                    {"out_bias", &c->out_bias},   {"mlp_bias", &c->mlp_bias},
                    {"mlp_gated", &c->mlp_gated}, {"parallel_residual", &c->parallel_residual},
                    {"tied_embeddings", &c->tied_embeddings}, {"unembed_bias", &c->unembed_bias}};
        int known = 0;
        for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
            if (!strcmp(key, ints[i].name)) *ints[i].field = atoi(val), known = 1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(key, "act_fn") && !strcmp(val, acts[i])) c->act_fn = act_ids[i], known = 1;
        for (int i = 0; i < 3; i++) {
            if (!strcmp(key, "norm") && !strcmp(val, norms[i])) c->norm = i, known = 1;
            if (!strcmp(key, "positions") && !strcmp(val, poss[i])) c->positions = i, known = 1;
        }
        if (!strcmp(key, "norm_eps")) c->norm_eps = (float)atof(val), known = 1;
        if (!strcmp(key, "rope_theta")) c->rope_theta = (float)atof(val), known = 1;
        if (!known) {
            printf("  %s: unknown line '%s %s'\n", path, key, val);
            fclose(f);
            return 0;
        }
        n++;
    }
    fclose(f);
    return n == 21;
}

/* part 0: the layout and the reference; part 1: the CPU kernels. */
static void check_hf_fixture(const char *name, int part) {
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "tests/fixtures/transformer_arch/%s", name);
    snprintf(path, sizeof path, "%s/config.txt", dir);
    polca__tf_config cfg;
    CHECK(parse_config(path, &cfg));
    CHECK_OK(polca__tf_check_config(&cfg));
    polca__layout lay;
    CHECK_OK(polca__tf_layout(&cfg, &lay));
    /* our layout = the spec's list as the generator wrote it */
    snprintf(path, sizeof path, "%s/names.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK(f);
    char line[256];
    int64_t t = 0;
    while (fgets(line, sizeof line, f)) {
        char nm[128], shp[64], want[64] = "", *w = want;
        CHECK(sscanf(line, "%127s %63s", nm, shp) == 2 && t < lay.n_tensors);
        const polca__tensor_info *ti = &lay.tensors[t++];
        for (int d = 0; d < ti->ndim; d++) w += sprintf(w, d ? ",%lld" : "%lld", (long long)ti->shape[d]);
        if (strcmp(nm, ti->name) || strcmp(shp, want)) FAILF("%s: tensor %s %s vs ours %s %s", name, nm, shp, ti->name, want);
    }
    fclose(f);
    CHECK(t == lay.n_tensors);
    static const char *files[10] = {"theta", "tokens", "mask", "losses", "mean_loss",
                                    "grad",  "v",      "hvp",  "dirs",   "g"};
    npy_array a[11];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 11; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, i < 10 ? files[i] : "c");
        CHECK(npy_load(path, &a[i]));
    }
    const float *theta = a[0].data, *v = a[6].data, *dirs = a[8].data;
    const int32_t *tokens = a[1].data;
    const uint8_t *mask = a[2].data;
    const double *losses = a[3].data, *gr = a[5].data, *hvp = a[7].data, *g = a[9].data, *c = a[10].data;
    const int64_t P = lay.n_params, S = a[1].shape[0], N = a[3].count, K = a[8].shape[0];
    CHECK(a[0].count == P && a[1].shape[1] == cfg.n_ctx && polca__tf_count_samples(&cfg, S, mask) == N);

    /* the reference against PyTorch: losses, and its difference gradient */
    model m = {cfg, lay, P, S, N, (float *)theta, (int32_t *)tokens, (uint8_t *)mask};
    double *th = to_double(theta, P), *rl = malloc((size_t)N * 8), *fd = malloc((size_t)P * 8);
    const double rmean = ref_mean(&m, th, rl);
    char why[512];
    int refused = 0;
    if (part == 1) goto kernels;
    double worst = 0;
    for (int64_t i = 0; i < N; i++) {
        const double e = fabs(rl[i] - losses[i]) / fabs(losses[i]);
        worst = e > worst ? e : worst;
    }
    const double h = 1e-5;
    for (int64_t j = 0; j < P; j++) {
        const double keep = th[j];
        th[j] = keep + h;
        const double up = ref_mean(&m, th, NULL);
        th[j] = keep - h;
        fd[j] = (up - ref_mean(&m, th, NULL)) / (2 * h);
        th[j] = keep;
    }
    double num = 0, den = 0;
    for (int64_t j = 0; j < P; j++) num += (fd[j] - gr[j]) * (fd[j] - gr[j]), den += gr[j] * gr[j];
    const double egfd = sqrt(num / den);
    const double emean = fabs(rmean - ((double *)a[4].data)[0]) / rmean;
    printf("  %s: reference vs PyTorch: losses %.2g, mean %.2g, difference gradient %.2g\n", name,
           worst, emean, egfd);
    if (!(worst <= 1e-10 && emean <= 1e-10))
        FAILF("%s: reference losses differ from PyTorch's by %g (mean %g)", name, worst, emean);
    if (!(egfd <= 1e-6)) FAILF("%s: reference difference gradient differs by %g", name, egfd);

    goto done;
kernels: /* the CPU kernels against PyTorch */
    refused = kernels_refuse(&cfg, why, sizeof why);
    if (!refused) {
        float *l = malloc((size_t)N * 4), *kg = malloc((size_t)P * 4), *khv = malloc((size_t)P * 4),
              *gg = malloc((size_t)(K * N) * 4), *cc = malloc((size_t)(K * N) * 4);
        double mean;
        CHECK_OK(be->tf_losses(NULL, &cfg, theta, S, tokens, mask, l));
        double wl = 0;
        for (int64_t i = 0; i < N; i++) {
            const double e = fabs(l[i] - losses[i]) / fabs(losses[i]);
            wl = e > wl ? e : wl;
        }
        CHECK_OK(be->tf_grad(NULL, &cfg, theta, S, tokens, mask, &mean, kg));
        CHECK_OK(be->tf_hvp(NULL, &cfg, theta, S, tokens, mask, v, khv));
        CHECK_OK(be->tf_dirderivs(NULL, &cfg, theta, S, tokens, mask, K, dirs, NULL, gg, cc));
        const double eg = rel_err_fd(kg, gr, P), eh = rel_err_fd(khv, hvp, P),
                     edg = rel_err_fd(gg, g, K * N), edc = rel_err_fd(cc, c, K * N);
        printf("  %s: kernels vs PyTorch: losses %.2g, gradient %.2g, HVP %.2g, g %.2g, c %.2g\n",
               name, wl, eg, eh, edg, edc);
        if (!(wl <= LOSS_TOL)) FAILF("%s: kernel losses relative error %g", name, wl);
        if (!(fabs(mean - rmean) <= LOSS_TOL * rmean)) FAILF("%s: mean loss %.9g vs %.9g", name, mean, rmean);
        if (!(eg <= DERIV_TOL)) FAILF("%s: gradient relative error %g", name, eg);
        if (!(eh <= DERIV_TOL)) FAILF("%s: HVP relative error %g", name, eh);
        if (!(edg <= DERIV_TOL)) FAILF("%s: g relative error %g", name, edg);
        if (!(edc <= DERIV_TOL)) FAILF("%s: c relative error %g", name, edc);
        free(l), free(kg), free(khv), free(gg), free(cc);
    }
done:
    free(th), free(rl), free(fd);
    for (int i = 0; i < 11; i++) npy_free(&a[i]);
    polca__layout_free(&lay);
    if (refused) {
        if (ALLOW_UNSUPPORTED)
            SKIP("%.30s: CPU kernels return POLCA_ERR_UNSUPPORTED (%.150s)", name, why);
        FAILF("%s: CPU kernels return POLCA_ERR_UNSUPPORTED (%s)", name, why);
    }
}

TEST(hf_gpt2_reference) { check_hf_fixture("gpt2", 0); }
TEST(hf_gpt2_kernels) { check_hf_fixture("gpt2", 1); }
TEST(hf_neox_reference) { check_hf_fixture("neox", 0); }
TEST(hf_neox_kernels) { check_hf_fixture("neox", 1); }
TEST(hf_neox_seq_reference) { check_hf_fixture("neox_seq", 0); }
TEST(hf_neox_seq_kernels) { check_hf_fixture("neox_seq", 1); }
TEST(hf_llama_reference) { check_hf_fixture("llama", 0); }
TEST(hf_llama_kernels) { check_hf_fixture("llama", 1); }
TEST(hf_llama_tied_reference) { check_hf_fixture("llama_tied", 0); }
TEST(hf_llama_tied_kernels) { check_hf_fixture("llama_tied", 1); }
TEST(hf_qwen2_reference) { check_hf_fixture("qwen2", 0); }
TEST(hf_qwen2_kernels) { check_hf_fixture("qwen2", 1); }

/* ---- the public API ---- */

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

/* Options from "key=value" strings (NULL-terminated): act_fn, norm and
 * positions are strings, norm_eps and rope_theta doubles, the rest ints. */
static polca_options *options_of(const char *const *kv) {
    polca_options *o = NULL;
    if (polca_options_create(&o)) return NULL;
    for (int i = 0; kv[i]; i++) {
        char key[64];
        const char *eq = strchr(kv[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv[i]), kv[i]);
        const char *val = eq + 1;
        if (!strcmp(key, "act_fn") || !strcmp(key, "norm") || !strcmp(key, "positions"))
            polca_options_set_string(o, key, val);
        else if (!strcmp(key, "norm_eps") || !strcmp(key, "rope_theta"))
            polca_options_set_double(o, key, atof(val));
        else
            polca_options_set_int(o, key, atoll(val));
    }
    return o;
}

#define SIZES "n_layers=2", "d_model=8", "n_heads=4", "d_mlp=12", "d_vocab=7", "n_ctx=8"

/* Each bad switch option: POLCA_ERR_INVALID_ARGUMENT naming the option, and
 * *out untouched. */
TEST(api_option_errors_name_the_option) {
    static const struct {
        const char *opt[4], *named;
    } cases[] = {
        {{"norm=layernorm2"}, "'norm'"},
        {{"norm=RMSNorm"}, "'norm'"},
        {{"norm_eps=0"}, "'norm_eps'"},
        {{"norm_eps=-1e-5"}, "'norm_eps'"},
        {{"positions=alibi"}, "'positions'"},
        {{"act_fn=swish"}, "'act_fn'"},
        {{"n_kv_heads=3"}, "'n_kv_heads' is 3; it must divide n_heads"},
        {{"n_kv_heads=0"}, "'n_kv_heads'"},
        {{"n_kv_heads=8"}, "'n_kv_heads'"},
        /* d_head is 8 / 4 = 2 unless given */
        {{"positions=rotary", "d_head=4", "rotary_dim=3"}, "'rotary_dim' is 3; it must be even"},
        {{"positions=rotary", "rotary_dim=1"}, "'rotary_dim'"},
        {{"positions=rotary", "rotary_dim=4"}, "'rotary_dim'"}, /* > d_head */
        {{"positions=rotary", "rotary_dim=0"}, "'rotary_dim'"},
        {{"rotary_dim=2"}, "'rotary_dim' is given but 'positions' is not"}, /* learned */
        {{"positions=none", "rotary_dim=2"}, "'rotary_dim' is given but 'positions' is not"},
        {{"positions=rotary", "rope_theta=0"}, "'rope_theta'"},
        {{"qkv_bias=2"}, "'qkv_bias'"},
        {{"out_bias=-1"}, "'out_bias'"},
        {{"mlp_bias=2"}, "'mlp_bias'"},
        {{"mlp_gated=2"}, "'mlp_gated'"},
        {{"parallel_residual=2"}, "'parallel_residual'"},
        {{"tied_embeddings=2"}, "'tied_embeddings'"},
        {{"unembed_bias=7"}, "'unembed_bias'"},
    };
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *kv[16] = {SIZES};
        int n = 6;
        for (int j = 0; j < 4 && cases[i].opt[j]; j++) kv[n++] = cases[i].opt[j];
        kv[n] = NULL;
        polca_options *o = options_of(kv);
        polca_model *sentinel = (polca_model *)&n, *m = sentinel;
        int32_t st = polca_model_create_transformer(ctx, o, &m);
        if (st != POLCA_ERR_INVALID_ARGUMENT || !strstr(polca_last_error(), cases[i].named) || m != sentinel)
            FAILF("%s%s%s: status %d, message '%s', want %s naming %s", cases[i].opt[0],
                  cases[i].opt[1] ? " " : "", cases[i].opt[1] ? cases[i].opt[1] : "", (int)st,
                  polca_last_error(), "POLCA_ERR_INVALID_ARGUMENT", cases[i].named);
        polca_options_destroy(o);
    }
    /* parallel_residual needs an MLP */
    {
        const char *kv[] = {"n_layers=2", "d_model=8", "n_heads=4", "d_mlp=0", "d_vocab=7", "n_ctx=8",
                            "parallel_residual=1", NULL};
        polca_options *o = options_of(kv);
        polca_model *m = NULL;
        CHECK_STATUS(polca_model_create_transformer(ctx, o, &m), POLCA_ERR_INVALID_ARGUMENT);
        CHECK_ERROR_MENTIONS("'parallel_residual'");
        CHECK(m == NULL);
        polca_options_destroy(o);
    }
    /* and the good ones pass (the errors above are the options' own) */
    {
        const char *kv[] = {SIZES, "n_kv_heads=2", "norm=rmsnorm", "norm_eps=1e-6", "positions=rotary",
                            "rotary_dim=2", "rope_theta=500000", "qkv_bias=0", "out_bias=0", "mlp_bias=0",
                            "mlp_gated=1", "parallel_residual=1", "tied_embeddings=1", "unembed_bias=0",
                            "act_fn=silu", NULL};
        polca_options *o = options_of(kv);
        polca_model *m = NULL;
        CHECK_OK(polca_model_create_transformer(ctx, o, &m));
        polca_model_destroy(m);
        polca_options_destroy(o);
    }
    polca_context_destroy(ctx);
}

/* polca_model_tensor_info of a model = the layout of src/transformer.c's
 * header comment, written out here for two models. */
static void check_names(const char *const *kv, const char *const *want, const int64_t (*shapes)[3]) {
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca_options *o = options_of(kv);
    polca_model *m = NULL;
    CHECK_OK(polca_model_create_transformer(ctx, o, &m));
    int64_t n = 0, P = 0, at = 0;
    CHECK_OK(polca_model_n_tensors(m, &n));
    CHECK_OK(polca_model_n_params(m, &P));
    int64_t i = 0;
    for (; want[i]; i++) {
        const char *name = NULL;
        int32_t nd = 0;
        int64_t shape[POLCA_MODEL_MAX_DIMS] = {0}, off = -1, count = 1;
        if (i >= n) {
            FAILF("tensor %lld: the model has only %lld, want %s", (long long)i, (long long)n, want[i]);
            break;
        }
        CHECK_OK(polca_model_tensor_info(m, i, &name, &nd, shape, &off));
        int same = !strcmp(name, want[i]) && off == at;
        for (int d = 0; d < 3; d++) {
            if (d < nd) count *= shape[d];
            same = same && (d < nd ? shape[d] == shapes[i][d] : shapes[i][d] == 0);
        }
        if (!same) FAILF("tensor %lld: %s (ndim %d, offset %lld), want %s", (long long)i, name, (int)nd,
                         (long long)off, want[i]);
        at += count;
    }
    CHECK(i == n && at == P);
    polca_model_destroy(m);
    polca_options_destroy(o);
    polca_context_destroy(ctx);
}

TEST(api_tensor_names_grouped_gated_tied) {
    /* LayerNorm with bias, learned positions, every bias: the grouped
     * tensors are _W_K, _W_V, _b_K, _b_V; W_gate after W_in; no W_U */
    const char *kv[] = {"n_layers=2", "d_model=8", "n_heads=4", "d_mlp=12", "d_vocab=7", "n_ctx=6",
                        "n_kv_heads=2", "mlp_gated=1", "tied_embeddings=1", NULL};
    static const char *const block[] = {"ln1.w", "ln1.b", "attn.W_Q", "attn._W_K", "attn._W_V", "attn.W_O",
                                        "attn.b_Q", "attn._b_K", "attn._b_V", "attn.b_O", "ln2.w", "ln2.b",
                                        "mlp.W_in", "mlp.W_gate", "mlp.b_in", "mlp.W_out", "mlp.b_out"};
    static const int64_t bshape[][3] = {{8, 0, 0}, {8, 0, 0}, {4, 8, 2}, {2, 8, 2}, {2, 8, 2}, {4, 2, 8},
                                        {4, 2, 0}, {2, 2, 0}, {2, 2, 0}, {8, 0, 0}, {8, 0, 0}, {8, 0, 0},
                                        {8, 12, 0}, {8, 12, 0}, {12, 0, 0}, {12, 8, 0}, {8, 0, 0}};
    enum { NB = 17, NT = 2 + 2 * NB + 3 };
    char names[NT][64];
    const char *want[NT + 1];
    int64_t shapes[NT][3];
    int t = 0;
    const int64_t e0[3] = {7, 8, 0}, p0[3] = {6, 8, 0}, d8[3] = {8, 0, 0}, v7[3] = {7, 0, 0};
#define PUT(nm, sh) (snprintf(names[t], 64, "%s", nm), memcpy(shapes[t], sh, sizeof shapes[t]), t++)
    PUT("embed.W_E", e0);
    PUT("pos_embed.W_pos", p0);
    for (int l = 0; l < 2; l++)
        for (int j = 0; j < NB; j++) {
            char nm[64];
            snprintf(nm, sizeof nm, "blocks.%d.%s", l, block[j]);
            PUT(nm, bshape[j]);
        }
    PUT("ln_final.w", d8);
    PUT("ln_final.b", d8);
    PUT("unembed.b_U", v7);
#undef PUT
    for (int i = 0; i < NT; i++) want[i] = names[i];
    want[NT] = NULL;
    check_names(kv, want, (const int64_t(*)[3])shapes);
}

TEST(api_tensor_names_llama_tied) {
    /* RMSNorm, rotary, no biases, gated, tied: per block ln1.w, W_Q, _W_K,
     * _W_V, W_O, ln2.w, W_in, W_gate, W_out */
    const char *kv[] = {"n_layers=1", "d_model=8", "n_heads=4", "d_mlp=12", "d_vocab=7", "n_ctx=6",
                        "n_kv_heads=1", "norm=rmsnorm", "positions=rotary", "qkv_bias=0", "out_bias=0",
                        "mlp_bias=0", "unembed_bias=0", "mlp_gated=1", "tied_embeddings=1",
                        "act_fn=silu", NULL};
    static const char *const want[] = {"embed.W_E", "blocks.0.ln1.w", "blocks.0.attn.W_Q",
                                       "blocks.0.attn._W_K", "blocks.0.attn._W_V", "blocks.0.attn.W_O",
                                       "blocks.0.ln2.w", "blocks.0.mlp.W_in", "blocks.0.mlp.W_gate",
                                       "blocks.0.mlp.W_out", "ln_final.w", NULL};
    static const int64_t shapes[][3] = {{7, 8, 0}, {8, 0, 0}, {4, 8, 2}, {1, 8, 2}, {1, 8, 2}, {4, 2, 8},
                                        {8, 0, 0}, {8, 12, 0}, {8, 12, 0}, {12, 8, 0}, {8, 0, 0}};
    check_names(kv, want, shapes);
}

/* With rotary or no positions the kernels run at the data's width: data
 * narrower than n_ctx gives, per sample, the results of the same sequences
 * padded to n_ctx by the caller (other tokens after them, not scored). Both
 * are held to the float64 reference (losses LOSS_TOL) and to each other
 * within twice the tolerances (each is within them of the exact values; the
 * two runs put different row counts through sgemm, which may round rows
 * differently, so not bitwise: see chunked_batch_matches_single_sequences in
 * tests/test_transformer.c). */
static void check_short_vs_padded(const char *const *kv, polca__tf_config cfg, const char *what) {
    enum { S = 3, W = 5, TP = 8, K = 2 };
    polca_context *ctx = cpu_context();
    CHECK(ctx);
    polca_options *o = options_of(kv);
    polca_model *m = NULL;
    CHECK_OK(polca_model_create_transformer(ctx, o, &m));
    polca_options_destroy(o);
    int64_t P = 0;
    CHECK_OK(polca_model_n_params(m, &P));
    float *theta = malloc((size_t)P * 4), *v = malloc((size_t)P * 4), *dirs = malloc((size_t)(K * P) * 4);
    CHECK_OK(polca_model_init(m, 3, theta));
    unsigned long long s = 17;
    for (int64_t i = 0; i < P; i++) theta[i] += 0.2f * harness_uniform(&s);
    random_vec(v, P, 4);
    random_vec(dirs, K * P, 5);
    int32_t tok_s[S * W], tok_p[S * TP];
    uint8_t mask_p[S * TP];
    for (int i = 0; i < S * TP; i++) {
        const int q = i / TP, t = i % TP;
        tok_p[i] = (int32_t)((harness_uniform(&s) + 1.0f) * 3.49f); /* 0..6 */
        if (t < W) tok_s[q * W + t] = tok_p[i];
        mask_p[i] = t < W - 1; /* the short data's scored positions: all but its last */
    }
    polca_data *ds = NULL, *dp = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, S, W, tok_s, NULL, &ds));
    CHECK_OK(polca_data_create_tokens(ctx, S, TP, tok_p, mask_p, &dp));
    int64_t N = 0, Np = 0;
    CHECK_OK(polca_data_n_samples(ds, &N));
    CHECK_OK(polca_data_n_samples(dp, &Np));
    CHECK(N == S * (W - 1) && Np == N);
    float *l[2], *gr[2], *hv[2], *g[2], *c[2];
    double mean[2];
    int32_t st = POLCA_OK;
    for (int r = 0; r < 2; r++) {
        l[r] = malloc((size_t)N * 4), gr[r] = malloc((size_t)P * 4), hv[r] = malloc((size_t)P * 4);
        g[r] = malloc((size_t)(K * N) * 4), c[r] = malloc((size_t)(K * N) * 4);
    }
    for (int r = 0; r < 2 && !st; r++) {
        const polca_data *d = r ? dp : ds;
        if ((st = polca_model_losses(m, d, theta, l[r]))) break;
        if ((st = polca_model_grad(m, d, theta, &mean[r], gr[r]))) break;
        if ((st = polca_model_hvp(m, d, theta, v, hv[r]))) break;
        st = polca_model_dirderivs(m, d, theta, K, dirs, NULL, g[r], c[r]);
    }
    char why[300];
    snprintf(why, sizeof why, "%s", polca_last_error());
    if (!st) {
        /* the float64 reference at the short width (cfg: what the options
         * say, written out by the caller) */
        cfg.n_ctx = W;
        polca__layout lay;
        CHECK_OK(polca__tf_layout(&cfg, &lay));
        CHECK(lay.n_params == P);
        double *th = to_double(theta, P), *rl = malloc((size_t)N * 8);
        uint8_t mask_s[S * W];
        for (int i = 0; i < S * W; i++) mask_s[i] = i % W < W - 1;
        ref_losses(&cfg, &lay, th, S, tok_s, mask_s, rl);
        for (int64_t i = 0; i < N; i++)
            for (int r = 0; r < 2; r++)
                if (!(fabs(l[r][i] - rl[i]) <= LOSS_TOL * fabs(rl[i])))
                    FAILF("%s, %s data: loss %lld %.9g vs reference %.9g", what, r ? "padded" : "short",
                          (long long)i, l[r][i], rl[i]);
        CHECK_CLOSE(mean[0], mean[1], 2 * LOSS_TOL);
        const double eg = rel_error_f(gr[0], gr[1], (size_t)P), eh = rel_error_f(hv[0], hv[1], (size_t)P);
        if (!(eg <= 2 * DERIV_TOL)) FAILF("%s: gradient short vs padded %g", what, eg);
        if (!(eh <= 2 * DERIV_TOL)) FAILF("%s: HVP short vs padded %g", what, eh);
        for (int k = 0; k < K; k++) {
            const double e1 = rel_error_f(g[0] + k * N, g[1] + k * N, (size_t)N),
                         e2 = rel_error_f(c[0] + k * N, c[1] + k * N, (size_t)N);
            if (!(e1 <= 2 * DERIV_TOL)) FAILF("%s: g direction %d short vs padded %g", what, k, e1);
            if (!(e2 <= 2 * DERIV_TOL)) FAILF("%s: c direction %d short vs padded %g", what, k, e2);
        }
        /* the padding matters to nothing: other padding tokens, same result */
        for (int i = 0; i < S * TP; i++)
            if (i % TP >= W) tok_p[i] = (tok_p[i] + 3) % 7;
        polca_data *dq = NULL;
        float *lq = malloc((size_t)N * 4);
        CHECK_OK(polca_data_create_tokens(ctx, S, TP, tok_p, mask_p, &dq));
        CHECK_OK(polca_model_losses(m, dq, theta, lq));
        CHECK(memcmp(lq, l[1], (size_t)N * 4) == 0);
        polca_data_destroy(dq);
        free(lq), free(th), free(rl);
        polca__layout_free(&lay);
    }
    for (int r = 0; r < 2; r++) free(l[r]), free(gr[r]), free(hv[r]), free(g[r]), free(c[r]);
    free(theta), free(v), free(dirs);
    polca_data_destroy(ds), polca_data_destroy(dp);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    if (st == POLCA_ERR_UNSUPPORTED && ALLOW_UNSUPPORTED)
        SKIP("%.60s: CPU kernels return POLCA_ERR_UNSUPPORTED (%.150s)", what, why);
    if (st) FAILF("%s: status %d (%s)", what, (int)st, why);
}

TEST(api_short_data_equals_padded_rotary) {
    const char *kv[] = {SIZES, "positions=rotary", "rope_theta=30", NULL};
    polca__tf_config c = polca__tf_config_basic(2, 8, 4, 2, 12, 7, 8, POLCA__ACT_GELU_NEW);
    c.positions = POLCA__POS_ROTARY, c.rotary_dim = 2, c.rope_theta = 30.0f; /* rotary_dim: d_head */
    check_short_vs_padded(kv, c, "positions rotary");
}

TEST(api_short_data_equals_padded_no_positions) {
    const char *kv[] = {SIZES, "positions=none", NULL};
    polca__tf_config c = polca__tf_config_basic(2, 8, 4, 2, 12, 7, 8, POLCA__ACT_GELU_NEW);
    c.positions = POLCA__POS_NONE;
    check_short_vs_padded(kv, c, "positions none");
}

int main(void) {
    printf("  ALLOW_UNSUPPORTED = %d\n", ALLOW_UNSUPPORTED);
    RUN(ref_rmsnorm_equals_layernorm_nobias_on_zero_mean_rows);
    RUN(ref_activations);
    RUN(ref_absent_tensors_equal_zero_ones);
    RUN(ref_grouped_query_equals_mha_with_repeated_kv);
    RUN(ref_tied_equals_untied_with_transposed_embedding);
    RUN(ref_rotary_at_position_zero_is_identity);
    RUN(ref_rotary_rotation);
    RUN(ref_parallel_equals_sequential_without_attention_output);
    RUN(arch_norm_layernorm_nobias);
    RUN(arch_norm_rmsnorm);
    RUN(arch_norm_eps);
    RUN(arch_norm_rmsnorm_eps);
    RUN(arch_rotary_full);
    RUN(arch_rotary_partial);
    RUN(arch_positions_none);
    RUN(arch_gqa_mqa);
    RUN(arch_gqa);
    RUN(arch_no_qkv_bias);
    RUN(arch_no_out_bias);
    RUN(arch_no_mlp_bias);
    RUN(arch_no_unembed_bias);
    RUN(arch_act_silu);
    RUN(arch_mlp_gated);
    RUN(arch_mlp_gated_relu_nobias);
    RUN(arch_parallel_residual);
    RUN(arch_tied_embeddings);
    RUN(arch_attn_only_rotary_rms_gqa);
    RUN(family_gpt2);
    RUN(family_pythia);
    RUN(family_llama);
    RUN(family_llama_tied);
    RUN(family_qwen2);
    RUN(api_option_errors_name_the_option);
    RUN(api_tensor_names_grouped_gated_tied);
    RUN(api_tensor_names_llama_tied);
    RUN(api_short_data_equals_padded_rotary);
    RUN(api_short_data_equals_padded_no_positions);
    RUN(hf_gpt2_reference);
    RUN(hf_gpt2_kernels);
    RUN(hf_neox_reference);
    RUN(hf_neox_kernels);
    RUN(hf_neox_seq_reference);
    RUN(hf_neox_seq_kernels);
    RUN(hf_llama_reference);
    RUN(hf_llama_kernels);
    RUN(hf_llama_tied_reference);
    RUN(hf_llama_tied_kernels);
    RUN(hf_qwen2_reference);
    RUN(hf_qwen2_kernels);
    return harness_done();
}
