/*
 * tests/test_transformer.c - the built-in transformer: layout (TransformerLens
 * names, shapes, order), config checks, initialization, and the CPU kernels
 * (losses, gradient, HVP, directional derivatives) against
 *   (a) float64 central differences of an independent float64 forward
 *       (tests/transformer_ref.h),
 *   (b) PyTorch float64 fixtures (tests/gen_transformer_fixtures.py),
 * plus identities (Hessian symmetry, sum of per-sample derivatives = N times
 * the mean-loss derivative), chunking (against float64, and against the
 * sequences one at a time within twice the tolerances below) and allocation
 * failure.
 *
 * Tolerances (stated by the task, never tuned to results): per-sample losses
 * 1e-5 relative; gradient, HVP, g and c 1e-4 in ||a - b|| / ||b||. The
 * model, the reference comparisons and the tolerances are shared with
 * tests/test_transformer_arch.c through tests/transformer_check.h.
 */
#include "npy.h"
#include "transformer_check.h"

#define CFG_GELU_NEW polca__tf_config_basic(2, 8, 2, 3, 12, 7, 6, POLCA__ACT_GELU_NEW)
#define CFG_ATTN_ONLY polca__tf_config_basic(2, 8, 3, 4, 0, 5, 5, POLCA__ACT_GELU)
#define CFG_RELU polca__tf_config_basic(1, 6, 2, 4, 10, 6, 5, POLCA__ACT_RELU)
#define CFG_GELU polca__tf_config_basic(1, 6, 1, 5, 9, 5, 6, POLCA__ACT_GELU)

/* ---- layout, config, init ---- */

TEST(layout_matches_transformerlens) {
    const polca__tf_config c = polca__tf_config_basic(2, 8, 2, 3, 12, 7, 6, POLCA__ACT_GELU);
    polca__layout l;
    CHECK_OK(polca__tf_layout(&c, &l));
    static const char *names[] = {
        "embed.W_E", "pos_embed.W_pos", "blocks.0.ln1.w", "blocks.0.ln1.b", "blocks.0.attn.W_Q",
        "blocks.0.attn.W_K", "blocks.0.attn.W_V", "blocks.0.attn.W_O", "blocks.0.attn.b_Q",
        "blocks.0.attn.b_K", "blocks.0.attn.b_V", "blocks.0.attn.b_O", "blocks.0.ln2.w",
        "blocks.0.ln2.b", "blocks.0.mlp.W_in", "blocks.0.mlp.b_in", "blocks.0.mlp.W_out",
        "blocks.0.mlp.b_out"};
    const int64_t shapes[][3] = {{7, 8, 0}, {6, 8, 0}, {8, 0, 0},  {8, 0, 0},  {2, 8, 3},
                                 {2, 8, 3}, {2, 8, 3}, {2, 3, 8},  {2, 3, 0},  {2, 3, 0},
                                 {2, 3, 0}, {8, 0, 0}, {8, 0, 0},  {8, 0, 0},  {8, 12, 0},
                                 {12, 0, 0}, {12, 8, 0}, {8, 0, 0}};
    CHECK(l.n_tensors == 2 + 2 * 16 + 4);
    for (int i = 0; i < 18; i++) {
        CHECK(strcmp(l.tensors[i].name, names[i]) == 0);
        for (int d = 0; d < l.tensors[i].ndim; d++) CHECK(l.tensors[i].shape[d] == shapes[i][d]);
    }
    CHECK(strcmp(l.tensors[18].name, "blocks.1.ln1.w") == 0);
    CHECK(strcmp(l.tensors[l.n_tensors - 1].name, "unembed.b_U") == 0);
    CHECK(strcmp(l.tensors[l.n_tensors - 2].name, "unembed.W_U") == 0);
    CHECK(l.tensors[l.n_tensors - 2].shape[0] == 8 && l.tensors[l.n_tensors - 2].shape[1] == 7);
    /* offsets_of agrees with the layout, tensor by tensor */
    polca__tf_offsets o;
    polca__tf_offsets_of(&c, &o);
    CHECK(o.n_params == l.n_params);
    CHECK(l.tensors[polca__layout_find(&l, "blocks.1.mlp.W_out")].offset ==
          o.layer0 + o.layer_stride + o.W_out);
    CHECK(l.tensors[polca__layout_find(&l, "blocks.1.attn.b_V")].offset ==
          o.layer0 + o.layer_stride + o.b_V);
    CHECK(l.tensors[polca__layout_find(&l, "unembed.W_U")].offset == o.W_U);
    polca__layout_free(&l);
    /* attention-only: TransformerLens's attn_only block has no ln2 and no mlp */
    polca__tf_config a = c;
    a.d_mlp = 0;
    CHECK_OK(polca__tf_layout(&a, &l));
    CHECK(l.n_tensors == 2 + 2 * 10 + 4);
    CHECK(polca__layout_find(&l, "blocks.0.ln2.w") < 0);
    CHECK(polca__layout_find(&l, "blocks.1.mlp.W_in") < 0);
    polca__tf_offsets_of(&a, &o);
    CHECK(o.n_params == l.n_params && o.W_in == -1 && o.ln2_w == -1);
    polca__layout_free(&l);
}

TEST(config_check_rejects_bad_fields) {
    const polca__tf_config good = CFG_GELU_NEW;
    CHECK_OK(polca__tf_check_config(&good));
    CHECK_STATUS(polca__tf_check_config(NULL), POLCA_ERR_INVALID_ARGUMENT);
    polca__tf_config c = good;
    c.n_layers = 0;
    CHECK_STATUS(polca__tf_check_config(&c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("n_layers");
    c = good, c.d_model = -3;
    CHECK_STATUS(polca__tf_check_config(&c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("d_model");
    c = good, c.d_mlp = -1;
    CHECK_STATUS(polca__tf_check_config(&c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("d_mlp");
    c = good, c.act_fn = 7;
    CHECK_STATUS(polca__tf_check_config(&c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("act_fn");
    c = good, c.d_vocab = INT32_MAX;
    CHECK_STATUS(polca__tf_check_config(&c), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("d_vocab");
    c = good, c.d_model = 1 << 20, c.d_vocab = 1 << 20; /* W_E of 2^40 elements */
    CHECK_STATUS(polca__tf_check_config(&c), POLCA_ERR_INVALID_ARGUMENT);
    c = good, c.n_ctx = 1 << 16, c.n_heads = 1 << 12, c.d_head = 1, c.n_layers = 1 << 10;
    CHECK_STATUS(polca__tf_check_config(&c), POLCA_ERR_INVALID_ARGUMENT); /* activations */
    polca__layout l;
    CHECK_STATUS(polca__tf_layout(&c, &l), POLCA_ERR_INVALID_ARGUMENT);
    float x;
    CHECK_STATUS(polca__tf_init(&c, 1, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca__tf_init(&good, 1, NULL), POLCA_ERR_INVALID_ARGUMENT);
}

TEST(init_follows_transformerlens_gpt2_scheme) {
    const polca__tf_config c = polca__tf_config_basic(2, 64, 4, 16, 256, 50, 32, POLCA__ACT_GELU);
    polca__layout l;
    CHECK_OK(polca__tf_layout(&c, &l));
    float *a = malloc((size_t)l.n_params * 4), *b = malloc((size_t)l.n_params * 4);
    CHECK_OK(polca__tf_init(&c, 42, a));
    CHECK_OK(polca__tf_init(&c, 42, b));
    CHECK(memcmp(a, b, (size_t)l.n_params * 4) == 0); /* seeded: reproducible */
    CHECK_OK(polca__tf_init(&c, 43, b));
    CHECK(memcmp(a, b, (size_t)l.n_params * 4) != 0);
    const double want = 0.8 / sqrt(64.0);
    for (int64_t t = 0; t < l.n_tensors; t++) {
        const polca__tensor_info *ti = &l.tensors[t];
        const float *x = a + ti->offset;
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < ti->count; i++) s1 += x[i], s2 += (double)x[i] * x[i];
        if (strstr(ti->name, "W_")) {
            double mean = s1 / ti->count, sd = sqrt(s2 / ti->count - mean * mean);
            /* N(0, 0.64/d_model): 5 standard errors for these sizes */
            if (fabs(sd - want) > 5 * want / sqrt(2.0 * ti->count) ||
                fabs(mean) > 5 * want / sqrt((double)ti->count))
                FAILF("%s: mean %g sd %g, want 0 and %g", ti->name, mean, sd, want);
        } else {
            const float v = strstr(ti->name, "ln") && ti->name[strlen(ti->name) - 1] == 'w' ? 1.0f : 0.0f;
            for (int64_t i = 0; i < ti->count; i++)
                if (x[i] != v) {
                    FAILF("%s[%lld] = %g, want %g", ti->name, (long long)i, x[i], v);
                    break;
                }
        }
    }
    free(a), free(b);
    polca__layout_free(&l);
}

/* ---- against float64 central differences ---- */

TEST(losses_and_gradient_vs_float64_differences) {
    check_losses_and_grad(CFG_GELU_NEW, 1);
    check_losses_and_grad(CFG_ATTN_ONLY, 2);
    check_losses_and_grad(CFG_RELU, 3);
    check_losses_and_grad(CFG_GELU, 4);
}

TEST(hvp_vs_float64_differences) {
    check_hvp(CFG_GELU_NEW, 11);
    check_hvp(CFG_ATTN_ONLY, 12);
    check_hvp(CFG_RELU, 13);
    check_hvp(CFG_GELU, 14);
}

TEST(dirderivs_vs_float64_differences) {
    check_dirderivs(CFG_GELU_NEW, 21);
    check_dirderivs(CFG_ATTN_ONLY, 22);
    check_dirderivs(CFG_RELU, 23);
    check_dirderivs(CFG_GELU, 24);
}

/* Degenerate shapes: width-1 model (LayerNorm of one value), one position
 * (nothing to score), one head of width 1. */
TEST(degenerate_shapes) {
    const polca__tf_config cfgs[] = {polca__tf_config_basic(1, 1, 1, 1, 0, 2, 3, POLCA__ACT_RELU),
                                     polca__tf_config_basic(2, 1, 1, 1, 1, 3, 2, POLCA__ACT_GELU_NEW),
                                     polca__tf_config_basic(1, 4, 1, 1, 2, 3, 1, POLCA__ACT_GELU)};
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        model m;
        CHECK(model_make(&m, cfgs[i], 2, 60 + i));
        const int64_t N = m.N, P = m.P;
        float *l = malloc((size_t)(N + 1) * 4), *g = malloc((size_t)(N + 1) * 4),
              *c = malloc((size_t)(N + 1) * 4), *grad = malloc((size_t)P * 4), *hv = malloc((size_t)P * 4);
        double *ref = malloc((size_t)(N + 1) * 8), *th = to_double(m.theta, P), mean;
        ref_mean(&m, th, ref);
        CHECK_OK(be->tf_losses(NULL, &m.cfg, m.theta, 2, m.tokens, m.mask, l));
        for (int64_t j = 0; j < N; j++) CHECK(fabs(l[j] - ref[j]) <= LOSS_TOL * fabs(ref[j]) + 1e-6);
        CHECK_OK(be->tf_grad(NULL, &m.cfg, m.theta, 2, m.tokens, m.mask, &mean, grad));
        CHECK_OK(be->tf_hvp(NULL, &m.cfg, m.theta, 2, m.tokens, m.mask, m.theta, hv));
        CHECK_OK(be->tf_dirderivs(NULL, &m.cfg, m.theta, 2, m.tokens, m.mask, 1, m.theta, l, g, c));
        for (int64_t j = 0; j < P; j++) CHECK(isfinite(grad[j]) && isfinite(hv[j]));
        for (int64_t j = 0; j < N; j++) CHECK(isfinite(g[j]) && isfinite(c[j]));
        if (N == 0) CHECK(mean == 0.0);
        free(l), free(g), free(c), free(grad), free(hv), free(ref), free(th);
        model_free(&m);
    }
}

/* ---- identities ---- */

static double dotd(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

TEST(hessian_symmetry_and_sample_sums) {
    const polca__tf_config cfg = polca__tf_config_basic(2, 16, 2, 6, 24, 9, 8, POLCA__ACT_GELU_NEW);
    model m;
    CHECK(model_make(&m, cfg, 6, 31));
    const int64_t P = m.P, N = m.N;
    enum { K = 2 };
    float *u = malloc((size_t)P * 4), *hu = malloc((size_t)P * 4), *grad = malloc((size_t)P * 4),
          *dirs = malloc((size_t)(K * P) * 4), *g = malloc((size_t)(K * N) * 4),
          *c = malloc((size_t)(K * N) * 4), *hd = malloc((size_t)P * 4);
    random_vec(u, P, 1);
    random_vec(dirs, K * P, 2);
    const float *v = dirs;
    CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, u, hu));
    CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, v, hd));
    const double uhv = dotd(u, hd, P), vhu = dotd(v, hu, P);
    const double scale = sqrt(dotd(u, u, P) * dotd(hd, hd, P));
    if (!(fabs(uhv - vhu) <= DERIV_TOL * scale)) FAILF("u.Hv = %.9g, v.Hu = %.9g", uhv, vhu);
    double mean;
    CHECK_OK(be->tf_grad(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, &mean, grad));
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, K, dirs, NULL, g, c));
    for (int k = 0; k < K; k++) {
        const float *d = dirs + k * P;
        double sg = 0, sc = 0;
        for (int64_t i = 0; i < N; i++) sg += g[k * N + i], sc += c[k * N + i];
        CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, d, hd));
        const double want_g = (double)N * dotd(grad, d, P), want_c = (double)N * dotd(d, hd, P);
        /* sums over samples of the per-sample derivatives = N x mean-loss ones */
        double abs_g = 0, abs_c = 0;
        for (int64_t i = 0; i < N; i++) abs_g += fabs(g[k * N + i]), abs_c += fabs(c[k * N + i]);
        if (!(fabs(sg - want_g) <= DERIV_TOL * abs_g)) FAILF("sum g = %.9g, N grad.d = %.9g", sg, want_g);
        if (!(fabs(sc - want_c) <= DERIV_TOL * abs_c)) FAILF("sum c = %.9g, N d.Hd = %.9g", sc, want_c);
    }
    free(u), free(hu), free(grad), free(dirs), free(g), free(c), free(hd);
    model_free(&m);
}

static double norm2(const float *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

static double diff_norm(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

/* A batch large enough to be split into several chunks, against the float64
 * reference and against its sequences one at a time.
 *
 * Not bitwise between the two: a sample's rows go through every sgemm
 * together with the rows of the other sequences of its chunk, and OpenBLAS
 * does not promise that a row of a product rounds the same whatever the
 * number of rows M. (Measured with 0.3.21: its Haswell kernels, also used
 * for Zen, and its Prescott ones round a row differently depending on the
 * tile of rows it falls in; and every kernel set runs a product on one
 * thread up to M*N*K = 262144 and splits it among threads above, after
 * which the Haswell kernels round some columns differently.) So
 * each result is held to the accuracy every result must have against
 * float64 (LOSS_TOL per loss and for the mean loss; DERIV_TOL in
 * ||a - b|| / ||b|| for g and c per direction, and for gradients), the
 * chunked one here against the reference directly, and the two may differ by
 * at most the sum of two such errors (triangle inequality). g and c are
 * compared in norm over the samples, as in their accuracy test: a sample's
 * g or c can be a small difference of large terms, where a relative bound
 * per value says nothing. Bitwise where it holds by construction: the same
 * call twice (the same sgemm calls, the same thread splits). */
TEST(chunked_batch_matches_single_sequences) {
    const polca__tf_config cfg = polca__tf_config_basic(1, 48, 4, 12, 192, 10, 48, POLCA__ACT_GELU);
    const int64_t per_seq = 3 * polca__tf_acts_floats_per_seq(&cfg) * 4;
    const int64_t n_seq = 2 * (int64_t)(TF_CHUNK_BYTES / (size_t)per_seq) + 3;
    model m;
    CHECK(model_make(&m, cfg, n_seq, 41));
    CHECK(polca__tf_chunk_seqs(&cfg, n_seq, 3, 0) < n_seq);
    const int64_t P = m.P, N = m.N, T = cfg.n_ctx;
    enum { K = 2 };
    float *dirs = malloc((size_t)(K * P) * 4), *g = malloc((size_t)(K * N) * 4),
          *c = malloc((size_t)(K * N) * 4), *l = malloc((size_t)N * 4), *grad = malloc((size_t)P * 4),
          *g1 = malloc((size_t)(K * T) * 4), *c1 = malloc((size_t)(K * T) * 4),
          *l1 = malloc((size_t)T * 4), *gs = malloc((size_t)P * 4),
          *gone = malloc((size_t)(K * N) * 4), *cone = malloc((size_t)(K * N) * 4),
          *lone = malloc((size_t)N * 4), *g2 = malloc((size_t)(K * N) * 4),
          *c2 = malloc((size_t)(K * N) * 4), *l2 = malloc((size_t)N * 4);
    double *gsum = calloc((size_t)P, 8);
    random_vec(dirs, K * P, 3);
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, n_seq, m.tokens, m.mask, K, dirs, l, g, c));
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, n_seq, m.tokens, m.mask, K, dirs, l2, g2, c2));
    CHECK(memcmp(l, l2, (size_t)N * 4) == 0);
    CHECK(memcmp(g, g2, (size_t)(K * N) * 4) == 0 && memcmp(c, c2, (size_t)(K * N) * 4) == 0);
    double mean;
    CHECK_OK(be->tf_grad(NULL, &cfg, m.theta, n_seq, m.tokens, m.mask, &mean, grad));
    /* the sequences one at a time, samples gathered in batch order */
    int64_t at = 0;
    double loss_sum = 0, gs_norms = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        const int32_t *tk = m.tokens + s * T;
        const uint8_t *mk = m.mask + s * T;
        const int64_t n = polca__tf_count_samples(&cfg, 1, mk);
        CHECK(at + n <= N);
        CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, 1, tk, mk, K, dirs, l1, g1, c1));
        memcpy(lone + at, l1, (size_t)n * 4);
        for (int k = 0; k < K; k++) {
            memcpy(gone + k * N + at, g1 + k * n, (size_t)n * 4);
            memcpy(cone + k * N + at, c1 + k * n, (size_t)n * 4);
        }
        double ms;
        CHECK_OK(be->tf_grad(NULL, &cfg, m.theta, 1, tk, mk, &ms, gs));
        const double w = (double)n / (double)N; /* the sequence's share of the mean */
        for (int64_t j = 0; j < P; j++) gsum[j] += w * gs[j];
        gs_norms += w * norm2(gs, P);
        loss_sum += ms * (double)n;
        at += n;
    }
    CHECK(at == N);
    /* float64 reference: losses, and g, c by central differences */
    double *th = to_double(m.theta, P), *l0 = malloc((size_t)N * 8), *lp = malloc((size_t)N * 8),
           *lm = malloc((size_t)N * 8), *fg = malloc((size_t)N * 8), *fc = malloc((size_t)N * 8);
    const double ref_mean_loss = ref_mean(&m, th, l0);
    for (int64_t i = 0; i < N; i++) {
        if (!(fabs(l[i] - l0[i]) <= LOSS_TOL * fabs(l0[i])))
            FAILF("chunked loss %lld: %.9g vs reference %.9g", (long long)i, l[i], l0[i]);
        if (!(fabs(lone[i] - l[i]) <= 2 * LOSS_TOL * fabs(l0[i])))
            FAILF("loss %lld: %.9g one at a time, %.9g chunked", (long long)i, lone[i], l[i]);
    }
    for (int k = 0; k < K; k++) {
        fd_dirderivs(&m, dirs + k * P, l0, th, lp, lm, fg, fc);
        double nfg = 0, nfc = 0;
        for (int64_t i = 0; i < N; i++) nfg += fg[i] * fg[i], nfc += fc[i] * fc[i];
        const double eg = rel_err_fd(g + k * N, fg, N), ec = rel_err_fd(c + k * N, fc, N);
        if (!(eg <= DERIV_TOL)) FAILF("chunked g, direction %d: relative error %g", k, eg);
        if (!(ec <= DERIV_TOL)) FAILF("chunked c, direction %d: relative error %g", k, ec);
        const double dg = diff_norm(gone + k * N, g + k * N, N), dc = diff_norm(cone + k * N, c + k * N, N);
        if (!(dg <= 2 * DERIV_TOL * sqrt(nfg)))
            FAILF("g, direction %d: one at a time vs chunked differ by %g of ||g||", k, dg / sqrt(nfg));
        if (!(dc <= 2 * DERIV_TOL * sqrt(nfc)))
            FAILF("c, direction %d: one at a time vs chunked differ by %g of ||c||", k, dc / sqrt(nfc));
    }
    /* mean loss: each within LOSS_TOL of the reference mean */
    CHECK_CLOSE(mean, ref_mean_loss, LOSS_TOL);
    CHECK_CLOSE(mean, loss_sum / (double)N, 2 * LOSS_TOL);
    /* gradient: the chunked one within DERIV_TOL ||grad||, each per-sequence
     * one within DERIV_TOL ||gs||, so their weighted sum within
     * DERIV_TOL sum_s w_s ||gs|| (norms of computed gradients, which are within
     * DERIV_TOL of the true ones: a second-order difference) */
    double dgrad = 0;
    for (int64_t j = 0; j < P; j++) dgrad += (grad[j] - gsum[j]) * (grad[j] - gsum[j]);
    dgrad = sqrt(dgrad);
    const double bound = DERIV_TOL * (norm2(grad, P) + gs_norms);
    if (!(dgrad <= bound)) FAILF("gradient: chunked vs one at a time differ by %g > %g", dgrad, bound);
    free(dirs), free(g), free(c), free(l), free(grad), free(g1), free(c1), free(l1), free(gs),
        free(gsum), free(gone), free(cone), free(lone), free(g2), free(c2), free(l2);
    free(th), free(l0), free(lp), free(lm), free(fg), free(fc);
    model_free(&m);
}

TEST(no_samples_gives_zero_mean_and_gradient) {
    model m;
    CHECK(model_make(&m, CFG_GELU_NEW, 2, 51));
    memset(m.mask, 0, (size_t)(2 * m.cfg.n_ctx));
    float *grad = malloc((size_t)m.P * 4), *hv = malloc((size_t)m.P * 4);
    double mean = -1;
    CHECK_OK(be->tf_grad(NULL, &m.cfg, m.theta, 2, m.tokens, m.mask, &mean, grad));
    CHECK(mean == 0.0);
    for (int64_t i = 0; i < m.P; i++) CHECK(grad[i] == 0.0f);
    CHECK_OK(be->tf_hvp(NULL, &m.cfg, m.theta, 2, m.tokens, m.mask, m.theta, hv));
    for (int64_t i = 0; i < m.P; i++) CHECK(hv[i] == 0.0f);
    free(grad), free(hv);
    model_free(&m);
}

TEST(allocation_failure_is_a_status) {
    /* one sequence needs H * T^2 = 2^37 floats of attention probabilities */
    const polca__tf_config cfg = polca__tf_config_basic(1, 4, 1 << 13, 1, 4, 5, 1 << 12, POLCA__ACT_RELU);
    CHECK_OK(polca__tf_check_config(&cfg));
    polca__tf_offsets o;
    polca__tf_offsets_of(&cfg, &o);
    float *theta = calloc((size_t)o.n_params, 4);
    int32_t tokens[1 << 12] = {0};
    uint8_t mask[1 << 12] = {0};
    mask[0] = 1;
    float out[4] = {7, 7, 7, 7};
    double mean = 7;
    CHECK(theta);
    CHECK_STATUS(be->tf_losses(NULL, &cfg, theta, 1, tokens, mask, out), POLCA_ERR_OUT_OF_MEMORY);
    CHECK_ERROR_MENTIONS("memory");
    CHECK(out[0] == 7);
    CHECK_STATUS(be->tf_grad(NULL, &cfg, theta, 1, tokens, mask, &mean, out), POLCA_ERR_OUT_OF_MEMORY);
    CHECK(mean == 7 && out[0] == 7);
    CHECK_STATUS(be->tf_hvp(NULL, &cfg, theta, 1, tokens, mask, theta, out), POLCA_ERR_OUT_OF_MEMORY);
    CHECK_STATUS(be->tf_dirderivs(NULL, &cfg, theta, 1, tokens, mask, 1, theta, out, out, out),
                 POLCA_ERR_OUT_OF_MEMORY);
    CHECK(out[0] == 7);
    free(theta);
}

/* ---- against PyTorch fixtures ---- */

static int load(const char *dir, const char *name, npy_array *a) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    return npy_load(path, a);
}

static void check_fixture(const char *name) {
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fixtures/transformer/%s", name);
    npy_array cfa, tha, toka, mka, lga, losa, mla, gra, va, hva, dira, ga, ca;
    CHECK(load(dir, "config", &cfa) && load(dir, "theta", &tha) && load(dir, "tokens", &toka) &&
          load(dir, "mask", &mka) && load(dir, "logits", &lga) && load(dir, "losses", &losa) &&
          load(dir, "mean_loss", &mla) && load(dir, "grad", &gra) && load(dir, "v", &va) &&
          load(dir, "hvp", &hva) && load(dir, "dirs", &dira) && load(dir, "g", &ga) &&
          load(dir, "c", &ca));
    const int32_t *cf = cfa.data;
    const polca__tf_config cfg = polca__tf_config_basic(cf[0], cf[1], cf[2], cf[3], cf[4], cf[5], cf[6], cf[7]);
    polca__layout lay;
    CHECK_OK(polca__tf_layout(&cfg, &lay));
    /* the torch module's state_dict order, names and shapes = our layout */
    char path[512];
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
        if (strcmp(nm, ti->name) || strcmp(shp, want)) FAILF("tensor %s %s vs ours %s %s", nm, shp, ti->name, want);
    }
    fclose(f);
    CHECK(t == lay.n_tensors && tha.count == lay.n_params);
    const int64_t P = lay.n_params, S = toka.shape[0], T = cfg.n_ctx, V = cfg.d_vocab,
                  N = losa.count, K = dira.shape[0];
    const float *theta = tha.data;
    const int32_t *tokens = toka.data;
    const uint8_t *mask = mka.data;
    CHECK(polca__tf_count_samples(&cfg, S, mask) == N);

    /* the float64 reference itself (tests/transformer_ref.h, which the
     * architecture tests rely on) against PyTorch's float64 losses: both
     * float64 from the same float32 parameters, so they agree to rounding */
    {
        double *thd = to_double(theta, P), *rl = malloc((size_t)N * 8), worst_ref = 0;
        const double rmean = ref_losses(&cfg, &lay, thd, S, tokens, mask, rl);
        for (int64_t i = 0; i < N; i++) {
            const double r = ((double *)losa.data)[i], e = fabs(rl[i] - r) / fabs(r);
            worst_ref = e > worst_ref ? e : worst_ref;
        }
        if (!(worst_ref <= 1e-10)) FAILF("%s: float64 reference losses differ by %g", name, worst_ref);
        if (!(fabs(rmean - ((double *)mla.data)[0]) <= 1e-10 * fabs(rmean)))
            FAILF("%s: float64 reference mean loss %.17g", name, rmean);
        free(thd), free(rl);
    }

    /* logits, through the forward pass with nothing scored (so the logits
     * buffer is not turned into probabilities) */
    {
        tf_acts a;
        tf_block_view *blocks = calloc((size_t)cfg.n_layers, sizeof *blocks);
        float *x = malloc((size_t)(S * T * cfg.d_model) * 4);
        uint8_t *none = calloc((size_t)(S * T), 1);
        CHECK_OK(polca__tf_acts_alloc(&cfg, S, &a));
        tf_view th;
        polca__tf_view_of(&cfg, theta, blocks, &th);
        float *packed = polca__tf_qkv_alloc(&cfg, &th);
        CHECK(packed);
        polca__tf_qkv_pack(&cfg, &th);
        const tf_batch bt = {S, S * T, tokens, none, 0.0f};
        CHECK(polca__tf_forward_chunk(&cfg, &th, &bt, &a, x, NULL, NULL) == 0);
        double err = 0, den = 0;
        for (int64_t i = 0; i < S * T * V; i++) {
            double r = ((double *)lga.data)[i];
            err += (a.logits[i] - r) * (a.logits[i] - r);
            den += r * r;
        }
        if (!(sqrt(err / den) <= LOSS_TOL)) FAILF("%s: logits relative error %g", name, sqrt(err / den));
        polca__tf_acts_free(&a);
        free(blocks), free(x), free(none), free(packed);
    }
    float *losses = malloc((size_t)N * 4), *grad = malloc((size_t)P * 4), *hv = malloc((size_t)P * 4),
          *g = malloc((size_t)(K * N) * 4), *c = malloc((size_t)(K * N) * 4);
    CHECK_OK(be->tf_losses(NULL, &cfg, theta, S, tokens, mask, losses));
    double worst = 0;
    for (int64_t i = 0; i < N; i++) {
        double r = ((double *)losa.data)[i], e = fabs(losses[i] - r) / fabs(r);
        worst = e > worst ? e : worst;
    }
    if (!(worst <= LOSS_TOL)) FAILF("%s: losses relative error %g", name, worst);
    double mean;
    CHECK_OK(be->tf_grad(NULL, &cfg, theta, S, tokens, mask, &mean, grad));
    const double rm = ((double *)mla.data)[0];
    if (!(fabs(mean - rm) <= LOSS_TOL * rm)) FAILF("%s: mean loss %.9g vs %.9g", name, mean, rm);
    double eg = rel_err_fd(grad, gra.data, P);
    CHECK_OK(be->tf_hvp(NULL, &cfg, theta, S, tokens, mask, va.data, hv));
    double eh = rel_err_fd(hv, hva.data, P);
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, theta, S, tokens, mask, K, dira.data, NULL, g, c));
    double edg = rel_err_fd(g, ga.data, K * N), edc = rel_err_fd(c, ca.data, K * N);
    printf("  %s: losses %.2g, gradient %.2g, HVP %.2g, g %.2g, c %.2g (relative errors)\n", name,
           worst, eg, eh, edg, edc);
    if (!(eg <= DERIV_TOL)) FAILF("%s: gradient relative error %g", name, eg);
    if (!(eh <= DERIV_TOL)) FAILF("%s: HVP relative error %g", name, eh);
    if (!(edg <= DERIV_TOL)) FAILF("%s: g relative error %g", name, edg);
    if (!(edc <= DERIV_TOL)) FAILF("%s: c relative error %g", name, edc);
    free(losses), free(grad), free(hv), free(g), free(c);
    polca__layout_free(&lay);
    npy_array *all[] = {&cfa, &tha, &toka, &mka, &lga, &losa, &mla, &gra, &va, &hva, &dira, &ga, &ca};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) npy_free(all[i]);
}

TEST(pytorch_fixture_gelu_new) { check_fixture("gelu_new"); }
TEST(pytorch_fixture_attn_only) { check_fixture("attn_only"); }
TEST(pytorch_fixture_relu) { check_fixture("relu"); }
TEST(pytorch_fixture_gelu) { check_fixture("gelu"); }

int main(void) {
    RUN(layout_matches_transformerlens);
    RUN(config_check_rejects_bad_fields);
    RUN(init_follows_transformerlens_gpt2_scheme);
    RUN(losses_and_gradient_vs_float64_differences);
    RUN(hvp_vs_float64_differences);
    RUN(dirderivs_vs_float64_differences);
    RUN(degenerate_shapes);
    RUN(hessian_symmetry_and_sample_sums);
    RUN(chunked_batch_matches_single_sequences);
    RUN(no_samples_gives_zero_mean_and_gradient);
    RUN(allocation_failure_is_a_status);
    RUN(pytorch_fixture_gelu_new);
    RUN(pytorch_fixture_attn_only);
    RUN(pytorch_fixture_relu);
    RUN(pytorch_fixture_gelu);
    return harness_done();
}
