/*
 * tests/test_cuda_transformer.c - the CUDA backend's transformer kernels
 * (tf_losses, tf_grad, tf_hvp, tf_dirderivs) against the CPU backend's on
 * the same random inputs: several configurations (gelu, gelu_new, relu,
 * attention-only, d_head != d_model / n_heads, a wider paper-like shape,
 * n_ctx and d_vocab over a warp's 32 lanes),
 * masks with unscored positions and an all-unscored sequence, a batch split
 * into many chunks, K = 1, 7 and 16 directions, c and losses NULL; TF32
 * with a looser tolerance; no samples; a token out of range; out of device
 * memory as a status, the context usable afterwards. The architecture
 * switches (src/transformer.c), each on its own and in the combinations of
 * the families people train: RMSNorm and LayerNorm without bias with other
 * eps, no positions, rotary (whole and partial heads, another base, rows
 * over a warp), grouped-query attention (groups of 2 and 3, one kv head),
 * each bias absent and all of them, silu plain and gated, gated gelu_new,
 * parallel residual, tied embeddings with and without b_U; Llama-, Qwen2-,
 * GPT-NeoX- and GPT-2-shaped configs, chunked and with TF32.
 *
 * The CPU kernels are the reference: they are checked against float64
 * differences and PyTorch in tests/test_transformer.c. Without a usable
 * CUDA device every test here is skipped, saying why.
 *
 * Tolerances (stated by the task, not tuned to results), as
 * ||cuda - cpu|| / ||cpu||: 1e-4 in float32 (both backends round
 * differently: summation order, libm, cuBLAS's blocking); 5e-3 with TF32
 * (10-bit mantissa products, unit roundoff 2^-11 ~ 4.9e-4, through several
 * layers). Outputs are poisoned with NaN before each call, so an element
 * left unwritten fails the comparison.
 */
#include <stdint.h>

#include "harness.h"
#include "internal.h"
#include "cpu/transformer_cpu.h"

#define TOL_FP32 1e-4
#define TOL_TF32 5e-3

static const polca_backend *cpu = &polca__cpu_backend; /* its tf_* ignore state */

/* ---- contexts ---- */

static polca_context *open_cuda(int tf32, int32_t *status) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cuda");
    polca_options_set_int(o, "allow_tf32", tf32);
    *status = polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

static polca_context *gpu;      /* float32, default chunking */
static char gpu_why[200];       /* why there is none */

#define NEED_GPU()                                                             \
    do {                                                                       \
        if (!gpu) SKIP("CUDA backend unavailable: %s", gpu_why);               \
    } while (0)

/* ---- device buffers ---- */

static float *dev_floats(polca_context *ctx, const float *host, int64_t n) {
    void *d = NULL;
    if (ctx->be->alloc(ctx->be_state, (size_t)(n > 0 ? n : 1) * 4, &d)) return NULL;
    if (host && n > 0 && ctx->be->upload(ctx->be_state, d, host, (size_t)n * 4)) {
        ctx->be->release(ctx->be_state, d);
        return NULL;
    }
    return d;
}

/* A device buffer of n floats, every one NaN. */
static float *dev_poisoned(polca_context *ctx, int64_t n) {
    float *h = malloc((size_t)(n > 0 ? n : 1) * 4);
    for (int64_t i = 0; i < n; i++) h[i] = NAN;
    float *d = dev_floats(ctx, h, n);
    free(h);
    return d;
}

static int download(polca_context *ctx, float *host, const float *dev, int64_t n) {
    return n <= 0 || ctx->be->download(ctx->be_state, host, dev, (size_t)n * 4) == POLCA_OK;
}

static void release(polca_context *ctx, void *p) { ctx->be->release(ctx->be_state, p); }

/* ---- a random model and batch ---- */

typedef struct model {
    polca__tf_config cfg;
    int64_t P, n_seq, N;
    float *theta;
    int32_t *tokens;
    uint8_t *mask;
} model;

static void model_free(model *m) {
    free(m->theta), free(m->tokens), free(m->mask);
    memset(m, 0, sizeof *m);
}

static int model_make(model *m, polca__tf_config cfg, int64_t n_seq, unsigned long long seed) {
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    polca__layout lay;
    if (polca__tf_layout(&cfg, &lay)) return 0;
    m->P = lay.n_params;
    polca__layout_free(&lay);
    m->n_seq = n_seq;
    const int64_t T = cfg.n_ctx;
    m->theta = malloc((size_t)m->P * 4);
    m->tokens = malloc((size_t)(n_seq * T) * 4);
    m->mask = malloc((size_t)(n_seq * T));
    if (!m->theta || !m->tokens || !m->mask || polca__tf_init(&cfg, seed, m->theta)) return 0;
    unsigned long long s = seed * 7919 + 13;
    /* off the init (LayerNorm weights 1, biases 0) so every term matters */
    for (int64_t i = 0; i < m->P; i++) m->theta[i] += 0.2f * harness_uniform(&s);
    for (int64_t i = 0; i < n_seq * T; i++) {
        m->tokens[i] = (int32_t)((harness_uniform(&s) + 1.0f) * 0.5f * (float)cfg.d_vocab);
        if (m->tokens[i] >= cfg.d_vocab) m->tokens[i] = cfg.d_vocab - 1;
        m->mask[i] = (i % T) + 1 < T && harness_uniform(&s) < 0.3f; /* ~65% scored */
    }
    if (n_seq > 2) memset(m->mask + T, 0, (size_t)T); /* sequence 1: nothing scored */
    m->N = polca__tf_count_samples(&cfg, n_seq, m->mask);
    return 1;
}

static void random_vec(float *x, int64_t n, unsigned long long seed, float scale) {
    unsigned long long s = seed * 0x9E3779B97F4A7C15ULL + 5;
    for (int64_t i = 0; i < n; i++) x[i] = scale * harness_uniform(&s);
}

/* ---- the comparison ---- */

/* err <= tol, or a failure naming what; NaN fails. */
#define EXPECT_REL(what, err, tol)                                             \
    do {                                                                       \
        double e_ = (err);                                                     \
        if (!(e_ <= (tol))) FAILF("%s: relative error %.3g > %.1g", (what), e_, (double)(tol)); \
    } while (0)

/*
 * Every entry on `g` against the CPU for model m: losses, gradient and mean
 * loss, HVP, directional derivatives for each K in ks (with losses and c),
 * then the largest K again with c NULL and losses NULL (g unchanged).
 */
static void compare_all(polca_context *g, const model *m, double tol, const char *label) {
    const polca__tf_config *cfg = &m->cfg;
    const polca_backend *be = g->be;
    void *st = g->be_state;
    const int64_t P = m->P, N = m->N, S = m->n_seq;
    static const int64_t ks[] = {1, 7, 16};
    const int64_t KMAX = 16;
    float *v = malloc((size_t)P * 4), *dirs = malloc((size_t)(KMAX * P) * 4);
    float *ref = malloc((size_t)(KMAX * N + P) * 4), *ref2 = malloc((size_t)(KMAX * N + P) * 4);
    float *got = malloc((size_t)(KMAX * N + P) * 4), *got2 = malloc((size_t)(KMAX * N + P) * 4);
    float *lref = malloc((size_t)N * 4 + 4), *lgot = malloc((size_t)N * 4 + 4);
    CHECK(v && dirs && ref && ref2 && got && got2 && lref && lgot);
    random_vec(v, P, 101, 1.0f);
    random_vec(dirs, KMAX * P, 202, 1.0f);
    float *d_theta = dev_floats(g, m->theta, P), *d_v = dev_floats(g, v, P);
    float *d_dirs = dev_floats(g, dirs, KMAX * P);
    CHECK(d_theta && d_v && d_dirs);
    double e_loss = 0, e_grad = 0, e_hvp = 0, e_g = 0, e_c = 0;

    /* losses */
    CHECK_OK(cpu->tf_losses(NULL, cfg, m->theta, S, m->tokens, m->mask, lref));
    float *d_out = dev_poisoned(g, N);
    CHECK(d_out);
    CHECK_OK(be->tf_losses(st, cfg, d_theta, S, m->tokens, m->mask, d_out));
    CHECK(download(g, lgot, d_out, N));
    release(g, d_out);
    e_loss = rel_error_f(lgot, lref, (size_t)N);
    EXPECT_REL("losses", e_loss, tol);

    /* gradient and mean loss; twice on the GPU: bitwise the same */
    double mref = -1, mgot = -1, mgot2 = -2;
    CHECK_OK(cpu->tf_grad(NULL, cfg, m->theta, S, m->tokens, m->mask, &mref, ref));
    d_out = dev_poisoned(g, P);
    CHECK(d_out);
    CHECK_OK(be->tf_grad(st, cfg, d_theta, S, m->tokens, m->mask, &mgot, d_out));
    CHECK(download(g, got, d_out, P));
    CHECK_OK(be->tf_grad(st, cfg, d_theta, S, m->tokens, m->mask, &mgot2, d_out));
    CHECK(download(g, got2, d_out, P));
    release(g, d_out);
    e_grad = rel_error_f(got, ref, (size_t)P);
    EXPECT_REL("gradient", e_grad, tol);
    EXPECT_REL("mean loss", fabs(mgot - mref) / fabs(mref), tol);
    if (mgot2 != mgot || memcmp(got, got2, (size_t)P * 4) != 0)
        FAILF("two identical gradient calls differ (the kernels should be deterministic)");

    /* HVP */
    CHECK_OK(cpu->tf_hvp(NULL, cfg, m->theta, S, m->tokens, m->mask, v, ref));
    d_out = dev_poisoned(g, P);
    CHECK(d_out);
    CHECK_OK(be->tf_hvp(st, cfg, d_theta, S, m->tokens, m->mask, d_v, d_out));
    CHECK(download(g, got, d_out, P));
    release(g, d_out);
    e_hvp = rel_error_f(got, ref, (size_t)P);
    EXPECT_REL("HVP", e_hvp, tol);

    /* directional derivatives: ref/got hold g [K][N] then c [K][N] */
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        const int64_t K = ks[ki];
        float *rg = ref, *rc = ref2, *gg = got, *gc = got2;
        CHECK_OK(cpu->tf_dirderivs(NULL, cfg, m->theta, S, m->tokens, m->mask, K, dirs, lref, rg, rc));
        float *d_l = dev_poisoned(g, N), *d_g = dev_poisoned(g, K * N), *d_c = dev_poisoned(g, K * N);
        CHECK(d_l && d_g && d_c);
        CHECK_OK(be->tf_dirderivs(st, cfg, d_theta, S, m->tokens, m->mask, K, d_dirs, d_l, d_g, d_c));
        CHECK(download(g, lgot, d_l, N) && download(g, gg, d_g, K * N) && download(g, gc, d_c, K * N));
        double el = rel_error_f(lgot, lref, (size_t)N), eg = rel_error_f(gg, rg, (size_t)(K * N)),
               ec = rel_error_f(gc, rc, (size_t)(K * N));
        char what[64];
        snprintf(what, sizeof what, "dirderivs K=%lld losses", (long long)K);
        EXPECT_REL(what, el, tol);
        snprintf(what, sizeof what, "dirderivs K=%lld g", (long long)K);
        EXPECT_REL(what, eg, tol);
        snprintf(what, sizeof what, "dirderivs K=%lld c", (long long)K);
        EXPECT_REL(what, ec, tol);
        e_g = eg > e_g ? eg : e_g;
        e_c = ec > e_c ? ec : e_c;
        if (K == KMAX) {
            /* c NULL and losses NULL: the same g (the first-order pass
             * does not depend on the second-order one) */
            float *d_g2 = dev_poisoned(g, K * N);
            CHECK(d_g2);
            CHECK_OK(be->tf_dirderivs(st, cfg, d_theta, S, m->tokens, m->mask, K, d_dirs, NULL, d_g2,
                                      NULL));
            CHECK(download(g, rc, d_g2, K * N));
            EXPECT_REL("g with c NULL vs with c", rel_error_f(rc, gg, (size_t)(K * N)), 1e-6);
            release(g, d_g2);
        }
        release(g, d_l), release(g, d_g), release(g, d_c);
    }
    printf("  %s: P %lld, %lld seq, N %lld: losses %.2g, gradient %.2g, mean %.2g, HVP %.2g, "
           "g %.2g, c %.2g\n",
           label, (long long)P, (long long)S, (long long)N, e_loss, e_grad,
           fabs(mgot - mref) / fabs(mref), e_hvp, e_g, e_c);
    release(g, d_theta), release(g, d_v), release(g, d_dirs);
    free(v), free(dirs), free(ref), free(ref2), free(got), free(got2), free(lref), free(lgot);
}

static void run_config(polca_context *g, polca__tf_config cfg, int64_t n_seq, unsigned long long seed,
                       double tol, const char *label) {
    model m;
    CHECK(model_make(&m, cfg, n_seq, seed));
    CHECK(m.N > 0);
    compare_all(g, &m, tol, label);
    model_free(&m);
}

/* {n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx, act} */
TEST(cuda_tf_gelu) {
    NEED_GPU();
    run_config(gpu, polca__tf_config_basic(2, 16, 2, 8, 32, 11, 9, POLCA__ACT_GELU), 24, 1, TOL_FP32,
               "gelu");
}

TEST(cuda_tf_gelu_new_uneven_heads) {
    NEED_GPU();
    /* d_head 5 != d_model / n_heads = 4 */
    run_config(gpu, polca__tf_config_basic(2, 12, 3, 5, 20, 7, 8, POLCA__ACT_GELU_NEW), 20, 2, TOL_FP32,
               "gelu_new, d_head != d_model/n_heads");
}

TEST(cuda_tf_relu) {
    NEED_GPU();
    run_config(gpu, polca__tf_config_basic(1, 8, 2, 4, 16, 6, 7, POLCA__ACT_RELU), 30, 3, TOL_FP32,
               "relu");
}

TEST(cuda_tf_attention_only) {
    NEED_GPU();
    run_config(gpu, polca__tf_config_basic(2, 8, 3, 4, 0, 5, 6, POLCA__ACT_GELU), 25, 4, TOL_FP32,
               "attention-only");
}

TEST(cuda_tf_wide) {
    NEED_GPU();
    /* the paper's shape, scaled down: d_vocab 14, n_ctx 12, 4 heads; rows
     * and widths over one warp (32) and one cuBLAS tile */
    run_config(gpu, polca__tf_config_basic(3, 64, 4, 32, 256, 14, 12, POLCA__ACT_GELU), 40, 5,
               TOL_FP32, "wide");
}

TEST(cuda_tf_long_rows) {
    NEED_GPU();
    /* n_ctx and d_vocab over 32: the warp-per-row kernels (softmax rows,
     * cross-entropy) loop over their rows */
    run_config(gpu, polca__tf_config_basic(2, 24, 2, 12, 48, 45, 40, POLCA__ACT_GELU_NEW), 12, 11,
               TOL_FP32, "n_ctx 40, d_vocab 45");
}

/* ---- architecture switches ---- */

/* A small two-layer base for the switch tests: {layers 2, d_model 16,
 * 4 heads of 8, d_mlp 32, d_vocab 11, n_ctx 9, gelu}. */
static polca__tf_config arch_base(void) {
    return polca__tf_config_basic(2, 16, 4, 8, 32, 11, 9, POLCA__ACT_GELU);
}

static polca__tf_config with_rotary(polca__tf_config c, int32_t rotary_dim, float theta) {
    c.positions = POLCA__POS_ROTARY;
    c.rotary_dim = rotary_dim;
    c.rope_theta = theta;
    return c;
}

static polca__tf_config without_biases(polca__tf_config c) {
    c.qkv_bias = c.out_bias = c.mlp_bias = c.unembed_bias = 0;
    return c;
}

/* Llama: RMSNorm eps 1e-6, rotary on whole heads, grouped-query attention,
 * SwiGLU, no biases. */
static polca__tf_config llama_like(int32_t n_layers, int32_t d_model, int32_t n_heads,
                                   int32_t n_kv_heads, int32_t d_head, int32_t d_mlp,
                                   int32_t d_vocab, int32_t n_ctx) {
    polca__tf_config c = polca__tf_config_basic(n_layers, d_model, n_heads, d_head, d_mlp, d_vocab,
                                                n_ctx, POLCA__ACT_SILU);
    c = without_biases(with_rotary(c, d_head, 10000.0f));
    c.n_kv_heads = n_kv_heads;
    c.norm = POLCA__NORM_RMS;
    c.norm_eps = 1e-6f;
    c.mlp_gated = 1;
    return c;
}

/* GPT-NeoX (Pythia): LayerNorm, rotary on a quarter of each head,
 * parallel residual, gelu, biases but none on the untied unembedding. */
static polca__tf_config neox_like(int32_t n_layers, int32_t d_model, int32_t n_heads,
                                  int32_t d_head, int32_t d_vocab, int32_t n_ctx) {
    polca__tf_config c = polca__tf_config_basic(n_layers, d_model, n_heads, d_head, 4 * d_model,
                                                d_vocab, n_ctx, POLCA__ACT_GELU);
    c = with_rotary(c, d_head / 4, 10000.0f);
    c.parallel_residual = 1;
    c.unembed_bias = 0;
    return c;
}

TEST(cuda_tf_norms) {
    NEED_GPU();
    polca__tf_config c = arch_base();
    c.norm = POLCA__NORM_RMS;
    c.norm_eps = 1e-6f;
    run_config(gpu, c, 20, 21, TOL_FP32, "RMSNorm, eps 1e-6");
    c = arch_base();
    c.norm = POLCA__NORM_LN_NOBIAS;
    c.norm_eps = 1e-3f;
    run_config(gpu, c, 20, 22, TOL_FP32, "LayerNorm without bias, eps 1e-3");
    c = arch_base();
    c.norm_eps = 1e-2f; /* LayerNorm with bias, another eps */
    run_config(gpu, c, 20, 23, TOL_FP32, "LayerNorm, eps 1e-2");
}

TEST(cuda_tf_positions) {
    NEED_GPU();
    polca__tf_config c = arch_base();
    c.positions = POLCA__POS_NONE;
    run_config(gpu, c, 20, 24, TOL_FP32, "no positions");
    run_config(gpu, with_rotary(arch_base(), 8, 10000.0f), 20, 25, TOL_FP32,
               "rotary, whole heads");
    run_config(gpu, with_rotary(arch_base(), 2, 10000.0f), 20, 26, TOL_FP32,
               "rotary, 2 of 8 dims");
    run_config(gpu, with_rotary(arch_base(), 4, 500.0f), 20, 27, TOL_FP32,
               "rotary, 4 of 8 dims, base 500");
    /* d_head 5, 4 rotated; rows longer than a warp */
    c = with_rotary(polca__tf_config_basic(2, 24, 3, 5, 48, 45, 40, POLCA__ACT_GELU_NEW), 4,
                    10000.0f);
    run_config(gpu, c, 8, 28, TOL_FP32, "rotary, d_head 5, n_ctx 40");
}

TEST(cuda_tf_grouped_query) {
    NEED_GPU();
    polca__tf_config c = arch_base();
    c.n_kv_heads = 2;
    run_config(gpu, c, 20, 31, TOL_FP32, "4 heads, 2 kv heads");
    c = polca__tf_config_basic(2, 18, 6, 4, 24, 9, 10, POLCA__ACT_GELU_NEW);
    c.n_kv_heads = 2;
    run_config(gpu, c, 20, 32, TOL_FP32, "6 heads, 2 kv heads");
    c.n_kv_heads = 1;
    run_config(gpu, c, 20, 33, TOL_FP32, "6 heads, 1 kv head");
    c = with_rotary(arch_base(), 4, 10000.0f);
    c.n_kv_heads = 1;
    run_config(gpu, c, 20, 34, TOL_FP32, "1 kv head, rotary");
}

TEST(cuda_tf_biases) {
    NEED_GPU();
    static const char *names[] = {"no qkv bias", "no out bias", "no mlp bias", "no unembed bias"};
    for (int i = 0; i < 4; i++) {
        polca__tf_config c = arch_base();
        int32_t *flag[] = {&c.qkv_bias, &c.out_bias, &c.mlp_bias, &c.unembed_bias};
        *flag[i] = 0;
        run_config(gpu, c, 16, 40 + (unsigned long long)i, TOL_FP32, names[i]);
    }
    run_config(gpu, without_biases(arch_base()), 16, 44, TOL_FP32, "no biases");
    polca__tf_config c = without_biases(arch_base());
    c.d_mlp = 0; /* attention-only without biases */
    run_config(gpu, c, 16, 45, TOL_FP32, "attention-only, no biases");
}

TEST(cuda_tf_mlps) {
    NEED_GPU();
    polca__tf_config c = arch_base();
    c.act_fn = POLCA__ACT_SILU;
    run_config(gpu, c, 20, 51, TOL_FP32, "silu");
    c.mlp_gated = 1;
    run_config(gpu, c, 20, 52, TOL_FP32, "gated silu (SwiGLU) with b_in");
    c.mlp_bias = 0;
    run_config(gpu, c, 20, 53, TOL_FP32, "gated silu, no mlp bias");
    c = arch_base();
    c.act_fn = POLCA__ACT_GELU_NEW;
    c.mlp_gated = 1;
    run_config(gpu, c, 20, 54, TOL_FP32, "gated gelu_new");
    c.act_fn = POLCA__ACT_RELU;
    run_config(gpu, c, 20, 55, TOL_FP32, "gated relu");
}

TEST(cuda_tf_parallel_residual) {
    NEED_GPU();
    polca__tf_config c = arch_base();
    c.parallel_residual = 1;
    run_config(gpu, c, 20, 61, TOL_FP32, "parallel residual");
    c.mlp_gated = 1;
    c.act_fn = POLCA__ACT_SILU;
    c.n_layers = 3;
    run_config(gpu, c, 20, 62, TOL_FP32, "parallel residual, gated, 3 layers");
}

TEST(cuda_tf_tied_embeddings) {
    NEED_GPU();
    polca__tf_config c = arch_base();
    c.tied_embeddings = 1;
    run_config(gpu, c, 20, 71, TOL_FP32, "tied, with b_U");
    c.unembed_bias = 0;
    run_config(gpu, c, 20, 72, TOL_FP32, "tied, no b_U");
    c.positions = POLCA__POS_NONE; /* W_E is the only embedding tensor */
    run_config(gpu, c, 20, 73, TOL_FP32, "tied, no b_U, no positions");
}

TEST(cuda_tf_families) {
    NEED_GPU();
    run_config(gpu, llama_like(2, 16, 4, 2, 4, 40, 13, 12), 16, 81, TOL_FP32,
               "Llama-shaped (RMSNorm, rotary, GQA 4/2, SwiGLU, no biases)");
    polca__tf_config c = llama_like(2, 16, 4, 2, 4, 40, 13, 12);
    c.tied_embeddings = 1;
    run_config(gpu, c, 16, 82, TOL_FP32, "Llama-shaped, tied");
    c = llama_like(2, 16, 4, 2, 4, 40, 13, 12);
    c.qkv_bias = 1; /* Qwen2: q/k/v biases only */
    run_config(gpu, c, 16, 83, TOL_FP32, "Qwen2-shaped (qkv bias)");
    run_config(gpu, neox_like(2, 16, 4, 8, 13, 12), 16, 84, TOL_FP32,
               "GPT-NeoX-shaped (rotary 1/4, parallel residual)");
    c = polca__tf_config_basic(2, 16, 4, 4, 64, 13, 12, POLCA__ACT_GELU_NEW);
    c.tied_embeddings = 1;
    c.unembed_bias = 0;
    run_config(gpu, c, 16, 85, TOL_FP32, "GPT-2-shaped (tied, no b_U)");
    /* wider rows: d_model and d_mlp over a warp, vocab over 32 */
    run_config(gpu, llama_like(2, 64, 8, 2, 8, 160, 50, 33), 6, 86, TOL_FP32,
               "Llama-shaped, wide");
    run_config(gpu, neox_like(2, 64, 4, 16, 50, 33), 6, 87, TOL_FP32, "GPT-NeoX-shaped, wide");
}

/* The switches' extra stored activations (gate, second adjoint, rotary
 * tables, kv widths) under a chunk budget far below the batch: many chunks
 * give what the CPU gives in one. */
TEST(cuda_tf_switches_chunked) {
    NEED_GPU();
    polca__tf_config c = llama_like(2, 16, 4, 2, 4, 40, 13, 10);
    c.parallel_residual = 1;
    c.tied_embeddings = 1;
    const int64_t n_seq = 37;
    const size_t budget = 64 << 10;
    CHECK((size_t)(n_seq * polca__tf_acts_floats_per_seq(&c) * 4) > 8 * budget);
    char text[32];
    snprintf(text, sizeof text, "%zu", budget);
    setenv("POLCA_CUDA_TF_CHUNK_BYTES", text, 1);
    int32_t s;
    polca_context *g = open_cuda(0, &s);
    unsetenv("POLCA_CUDA_TF_CHUNK_BYTES");
    CHECK_OK(s);
    run_config(g, c, n_seq, 91, TOL_FP32, "Llama-shaped, parallel, tied, chunked");
    run_config(g, neox_like(2, 16, 4, 8, 13, 10), n_seq, 92, TOL_FP32, "GPT-NeoX-shaped, chunked");
    polca_context_destroy(g);
}

TEST(cuda_tf_switches_tf32) {
    NEED_GPU();
    int32_t s;
    polca_context *g = open_cuda(1, &s);
    CHECK_OK(s);
    run_config(g, llama_like(3, 64, 8, 2, 8, 160, 14, 12), 40, 93, TOL_TF32,
               "Llama-shaped, wide, TF32 allowed");
    polca_context_destroy(g);
}

/* A chunk budget far below the batch's activations: many chunks (and an
 * uneven last one) give what the CPU gives in one. */
TEST(cuda_tf_chunked) {
    NEED_GPU();
    const polca__tf_config cfg = polca__tf_config_basic(2, 16, 2, 8, 32, 9, 10, POLCA__ACT_GELU_NEW);
    const int64_t n_seq = 37;
    const size_t budget = 64 << 10;
    /* one activation set of the batch is far over the budget: chunks */
    CHECK((size_t)(n_seq * polca__tf_acts_floats_per_seq(&cfg) * 4) > 8 * budget);
    char text[32];
    snprintf(text, sizeof text, "%zu", budget);
    setenv("POLCA_CUDA_TF_CHUNK_BYTES", text, 1);
    int32_t s;
    polca_context *g = open_cuda(0, &s);
    unsetenv("POLCA_CUDA_TF_CHUNK_BYTES");
    CHECK_OK(s);
    run_config(g, cfg, n_seq, 6, TOL_FP32, "chunked (64 KiB budget)");
    polca_context_destroy(g);
}

TEST(cuda_tf_chunk_budget_checked) {
    NEED_GPU();
    setenv("POLCA_CUDA_TF_CHUNK_BYTES", "lots", 1);
    int32_t s;
    polca_context *g = open_cuda(0, &s);
    unsetenv("POLCA_CUDA_TF_CHUNK_BYTES");
    CHECK(g == NULL);
    /* the loader reports any failure to open the module's backend so */
    CHECK_STATUS(s, POLCA_ERR_BACKEND_UNAVAILABLE);
    CHECK_ERROR_MENTIONS("POLCA_CUDA_TF_CHUNK_BYTES");
    CHECK_ERROR_MENTIONS("'lots'");
}

TEST(cuda_tf_tf32) {
    NEED_GPU();
    int32_t s;
    polca_context *g = open_cuda(1, &s);
    CHECK_OK(s);
    run_config(g, polca__tf_config_basic(3, 64, 4, 32, 256, 14, 12, POLCA__ACT_GELU), 40, 7, TOL_TF32,
               "wide, TF32 allowed");
    polca_context_destroy(g);
}

TEST(cuda_tf_no_samples) {
    NEED_GPU();
    model m;
    CHECK(model_make(&m, polca__tf_config_basic(2, 12, 3, 5, 20, 7, 8, POLCA__ACT_GELU_NEW), 3, 8));
    memset(m.mask, 0, (size_t)(3 * m.cfg.n_ctx));
    const polca_backend *be = gpu->be;
    void *st = gpu->be_state;
    float *d_theta = dev_floats(gpu, m.theta, m.P), *d_out = dev_poisoned(gpu, m.P);
    float *host = malloc((size_t)m.P * 4);
    CHECK(d_theta && d_out && host);
    double mean = -1;
    CHECK_OK(be->tf_grad(st, &m.cfg, d_theta, 3, m.tokens, m.mask, &mean, d_out));
    CHECK(mean == 0.0);
    CHECK(download(gpu, host, d_out, m.P));
    for (int64_t i = 0; i < m.P; i++) CHECK(host[i] == 0.0f);
    CHECK_OK(be->tf_hvp(st, &m.cfg, d_theta, 3, m.tokens, m.mask, d_theta, d_out));
    CHECK(download(gpu, host, d_out, m.P));
    for (int64_t i = 0; i < m.P; i++) CHECK(host[i] == 0.0f);
    /* no sample: nothing to write, and nothing goes wrong */
    CHECK_OK(be->tf_dirderivs(st, &m.cfg, d_theta, 3, m.tokens, m.mask, 1, d_theta, NULL, d_out,
                              d_out));
    release(gpu, d_theta), release(gpu, d_out);
    free(host);
    model_free(&m);
}

TEST(cuda_tf_token_out_of_range) {
    NEED_GPU();
    model m;
    CHECK(model_make(&m, polca__tf_config_basic(1, 8, 2, 4, 16, 6, 7, POLCA__ACT_RELU), 4, 9));
    m.tokens[10] = m.cfg.d_vocab;
    float *d_theta = dev_floats(gpu, m.theta, m.P), *d_out = dev_poisoned(gpu, m.P);
    CHECK(d_theta && d_out);
    double mean = 7;
    CHECK_STATUS(gpu->be->tf_grad(gpu->be_state, &m.cfg, d_theta, 4, m.tokens, m.mask, &mean, d_out),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("token");
    CHECK(mean == 7);
    release(gpu, d_theta), release(gpu, d_out);
    model_free(&m);
}

/* One sequence needing more device memory than any GPU has (H * T^2 =
 * 2^37 floats of attention probabilities, 512 GiB): every entry reports
 * POLCA_ERR_OUT_OF_MEMORY, leaves its outputs alone, and the context works
 * afterwards. (A batch too large for the device by its number of sequences
 * alone is chunked, so only the per-call index arrays grow with n_seq: an
 * absurd n_seq would need as absurd host token arrays; an absurd sequence
 * is the same failure, reachable in a test.) */
TEST(cuda_tf_out_of_memory) {
    NEED_GPU();
    const polca__tf_config cfg = polca__tf_config_basic(1, 4, 1 << 13, 1, 4, 5, 1 << 12, POLCA__ACT_RELU);
    CHECK_OK(polca__tf_check_config(&cfg));
    polca__tf_offsets o;
    polca__tf_offsets_of(&cfg, &o);
    float *theta = calloc((size_t)o.n_params, 4);
    static int32_t tokens[1 << 12];
    static uint8_t mask[1 << 12];
    mask[0] = 1;
    CHECK(theta);
    float *d_theta = dev_floats(gpu, theta, o.n_params);
    float sevens[4] = {7, 7, 7, 7}, back[4];
    float *d_out = dev_floats(gpu, sevens, 4);
    CHECK(d_theta && d_out);
    const polca_backend *be = gpu->be;
    void *st = gpu->be_state;
    double mean = 7;
    CHECK_STATUS(be->tf_losses(st, &cfg, d_theta, 1, tokens, mask, d_out), POLCA_ERR_OUT_OF_MEMORY);
    CHECK_ERROR_MENTIONS("memory");
    printf("  %s\n", polca_last_error());
    CHECK_STATUS(be->tf_grad(st, &cfg, d_theta, 1, tokens, mask, &mean, d_out),
                 POLCA_ERR_OUT_OF_MEMORY);
    CHECK(mean == 7);
    CHECK_STATUS(be->tf_hvp(st, &cfg, d_theta, 1, tokens, mask, d_theta, d_out),
                 POLCA_ERR_OUT_OF_MEMORY);
    CHECK_STATUS(be->tf_dirderivs(st, &cfg, d_theta, 1, tokens, mask, 1, d_theta, d_out, d_out, d_out),
                 POLCA_ERR_OUT_OF_MEMORY);
    CHECK(download(gpu, back, d_out, 4));
    CHECK(memcmp(back, sevens, sizeof back) == 0);
    release(gpu, d_theta), release(gpu, d_out);
    free(theta);
    /* still usable */
    run_config(gpu, polca__tf_config_basic(1, 8, 2, 4, 16, 6, 7, POLCA__ACT_RELU), 5, 10, TOL_FP32,
               "after out-of-memory");
}

int main(void) {
    int32_t s;
    gpu = open_cuda(0, &s);
    if (!gpu) snprintf(gpu_why, sizeof gpu_why, "%s", polca_last_error());
    RUN(cuda_tf_gelu);
    RUN(cuda_tf_gelu_new_uneven_heads);
    RUN(cuda_tf_relu);
    RUN(cuda_tf_attention_only);
    RUN(cuda_tf_wide);
    RUN(cuda_tf_long_rows);
    RUN(cuda_tf_chunked);
    RUN(cuda_tf_chunk_budget_checked);
    RUN(cuda_tf_tf32);
    RUN(cuda_tf_no_samples);
    RUN(cuda_tf_token_out_of_range);
    RUN(cuda_tf_out_of_memory);
    RUN(cuda_tf_norms);
    RUN(cuda_tf_positions);
    RUN(cuda_tf_grouped_query);
    RUN(cuda_tf_biases);
    RUN(cuda_tf_mlps);
    RUN(cuda_tf_parallel_residual);
    RUN(cuda_tf_tied_embeddings);
    RUN(cuda_tf_families);
    RUN(cuda_tf_switches_chunked);
    RUN(cuda_tf_switches_tf32);
    polca_context_destroy(gpu);
    return harness_done();
}
