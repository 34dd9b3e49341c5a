/*
 * tests/test_transformer_switches.c - the CPU transformer kernels with the
 * architecture switches of norms/eps, positions none, absent biases, silu,
 * gated MLP, parallel residual and tied embeddings, checked by what must hold
 * between the kernels themselves (tests/test_transformer_arch.c holds them to
 * a float64 reference):
 *
 *   - exact equivalences: absent tensors = zero ones (LayerNorm without bias,
 *     no positions, no q/k/v/o/MLP/unembedding biases), tied = untied with
 *     W_U = W_E^T (the tied gradient and HVP of W_E = the untied ones of W_E
 *     plus those of W_U transposed);
 *   - a one-layer forward recomputed in double from the stored activations
 *     (RMSNorm with a large eps, silu-gated MLP, parallel residual, tied
 *     unembedding with bias);
 *   - derivative consistency of each kernel with the others: the gradient
 *     against central differences of the float32 losses (summed in double),
 *     the HVP against differences of the gradient, c against differences of
 *     g, and sum_i g_i = N <grad, d>, sum_i c_i = N <d, H d>.
 *
 * Tolerances, from the arithmetic rather than from results: equivalences
 * differ only in the rounding of a sum order (1e-5 relative); recomputation
 * in double 1e-5 (float32 activations of size ~1); differences at steps
 * h = 1e-2, 2e-2 along a unit direction in float32: truncation ~h^2 plus
 * rounding ~1e-7 / h of values of size ~1, against directional derivatives
 * of size >= ~5e-3, so 2e-3; the sum identities only by float32 rounding of
 * N terms (1e-4).
 */
#include <stdint.h>

#include "harness.h"
#include "internal.h"
#include "cpu/transformer_cpu.h"
#include "transformer_model.h"

static const polca_backend *be = &polca__cpu_backend; /* its tf_* entries ignore state */




/* Same tokens and mask as `from` (same n_ctx and vocabulary). */
static void copy_data(model *to, const model *from) {
    memcpy(to->tokens, from->tokens, (size_t)(from->n_seq * from->cfg.n_ctx) * 4);
    memcpy(to->mask, from->mask, (size_t)(from->n_seq * from->cfg.n_ctx));
    to->N = from->N;
}

/* ||a - b|| / ||b|| */
static double rel(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double reld(const float *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - b[i];
        num += d * d;
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Copies every tensor of layout `from` into the tensor of the same name in
 * `to` (to's other tensors untouched). */
static void copy_by_name(const polca__layout *from, const float *xf, const polca__layout *to,
                         float *xt) {
    for (int64_t t = 0; t < from->n_tensors; t++) {
        const int64_t j = polca__layout_find(to, from->tensors[t].name);
        if (j < 0) continue;
        memcpy(xt + to->tensors[j].offset, xf + from->tensors[t].offset,
               (size_t)from->tensors[t].count * 4);
    }
}

static const float *tensor(const model *m, const float *x, const char *name) {
    const int64_t j = polca__layout_find(&m->lay, name);
    return j < 0 ? NULL : x + m->lay.tensors[j].offset;
}

static float *tensor_mut(const model *m, float *x, const char *name) {
    const int64_t j = polca__layout_find(&m->lay, name);
    return j < 0 ? NULL : x + m->lay.tensors[j].offset;
}

/* All four kernels at one point: losses [N], grad [P], hv = H d [P],
 * g and c [N] along d. */
typedef struct outs {
    float *losses, *grad, *hv, *g, *c;
    double mean;
} outs;

static int run_all(const model *m, const float *d, outs *o) {
    const int64_t N = m->N > 0 ? m->N : 1, P = m->P;
    o->losses = malloc((size_t)N * 4), o->g = malloc((size_t)N * 4), o->c = malloc((size_t)N * 4);
    o->grad = malloc((size_t)P * 4), o->hv = malloc((size_t)P * 4);
    const polca__tf_config *cfg = &m->cfg;
    if (be->tf_losses(NULL, cfg, m->theta, m->n_seq, m->tokens, m->mask, o->losses)) return 0;
    if (be->tf_grad(NULL, cfg, m->theta, m->n_seq, m->tokens, m->mask, &o->mean, o->grad))
        return 0;
    if (be->tf_hvp(NULL, cfg, m->theta, m->n_seq, m->tokens, m->mask, d, o->hv)) return 0;
    float *l2 = malloc((size_t)N * 4);
    int ok = !be->tf_dirderivs(NULL, cfg, m->theta, m->n_seq, m->tokens, m->mask, 1, d, l2,
                               o->g, o->c);
    free(l2);
    return ok;
}

static void outs_free(outs *o) {
    free(o->losses), free(o->grad), free(o->hv), free(o->g), free(o->c);
}

#define EQ_TOL 1e-5

#define CHECK_REL(a, b, n, tol, what)                                          \
    do {                                                                       \
        const double e_ = rel((a), (b), (n));                                  \
        if (!(e_ <= (tol))) FAILF("%s: relative difference %g > %g", (what), e_, (double)(tol)); \
    } while (0)

/* ---- absent tensors = zero tensors ---- */

static void check_absent_equals_zero(polca__tf_config small_cfg, const char *what) {
    polca__tf_config big_cfg = small_cfg;
    big_cfg.norm = small_cfg.norm == POLCA__NORM_LN_NOBIAS ? POLCA__NORM_LN : small_cfg.norm;
    big_cfg.positions = POLCA__POS_LEARNED;
    big_cfg.qkv_bias = big_cfg.out_bias = big_cfg.mlp_bias = big_cfg.unembed_bias = 1;
    model s, b;
    CHECK(model_make(&s, small_cfg, 3, 21));
    CHECK(model_make(&b, big_cfg, 3, 22));
    CHECK(s.P < b.P);
    copy_data(&b, &s);
    float *ds = malloc((size_t)s.P * 4), *db = calloc((size_t)b.P, 4), *r = malloc((size_t)s.P * 4);
    random_vec(ds, s.P, 23);
    memset(b.theta, 0, (size_t)b.P * 4);
    copy_by_name(&s.lay, s.theta, &b.lay, b.theta);
    copy_by_name(&s.lay, ds, &b.lay, db);
    outs os = {0}, ob = {0};
    CHECK(run_all(&s, ds, &os));
    CHECK(run_all(&b, db, &ob));
    printf("  %s: P %lld of %lld\n", what, (long long)s.P, (long long)b.P);
    CHECK_REL(os.losses, ob.losses, s.N, EQ_TOL, "losses");
    CHECK_CLOSE(os.mean, ob.mean, EQ_TOL);
    copy_by_name(&b.lay, ob.grad, &s.lay, r);
    CHECK_REL(os.grad, r, s.P, EQ_TOL, "gradient");
    copy_by_name(&b.lay, ob.hv, &s.lay, r);
    CHECK_REL(os.hv, r, s.P, EQ_TOL, "HVP");
    CHECK_REL(os.g, ob.g, s.N, EQ_TOL, "g");
    CHECK_REL(os.c, ob.c, s.N, EQ_TOL, "c");
    outs_free(&os), outs_free(&ob);
    free(ds), free(db), free(r);
    model_free(&s), model_free(&b);
}

TEST(absent_tensors_equal_zero_ones) {
    polca__tf_config c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_GELU);
    c.norm = POLCA__NORM_LN_NOBIAS;
    check_absent_equals_zero(c, "layernorm without bias");
    c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_GELU_NEW);
    c.positions = POLCA__POS_NONE;
    check_absent_equals_zero(c, "positions none");
    c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_RELU);
    c.qkv_bias = c.out_bias = c.mlp_bias = c.unembed_bias = 0;
    check_absent_equals_zero(c, "no biases");
    /* everything absent at once, with the other switches of this file on */
    c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_SILU);
    c.norm = POLCA__NORM_LN_NOBIAS, c.positions = POLCA__POS_NONE;
    c.qkv_bias = c.out_bias = c.mlp_bias = c.unembed_bias = 0;
    c.mlp_gated = 1, c.parallel_residual = 1, c.tied_embeddings = 1, c.norm_eps = 1e-3f;
    check_absent_equals_zero(c, "all absent, gated parallel tied silu");
    /* attention-only: no MLP biases to drop */
    c = polca__tf_config_basic(2, 8, 2, 4, 0, 7, 6, POLCA__ACT_GELU);
    c.norm = POLCA__NORM_RMS, c.qkv_bias = c.out_bias = c.unembed_bias = 0;
    check_absent_equals_zero(c, "attention-only rmsnorm, no biases");
}

/* ---- tied = untied with W_U = W_E^T ---- */

static void transpose_into(const float *a, int64_t rows, int64_t cols, float *out) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
}

static void check_tied(polca__tf_config tied_cfg, const char *what) {
    polca__tf_config un_cfg = tied_cfg;
    un_cfg.tied_embeddings = 0;
    model t, u;
    CHECK(model_make(&t, tied_cfg, 3, 31));
    CHECK(model_make(&u, un_cfg, 3, 32));
    copy_data(&u, &t);
    const int64_t V = tied_cfg.d_vocab, D = tied_cfg.d_model;
    CHECK(u.P == t.P + V * D);
    float *dt = malloc((size_t)t.P * 4), *du = malloc((size_t)u.P * 4), *r = malloc((size_t)t.P * 4);
    random_vec(dt, t.P, 33);
    copy_by_name(&t.lay, t.theta, &u.lay, u.theta);
    copy_by_name(&t.lay, dt, &u.lay, du);
    transpose_into(tensor(&t, t.theta, "embed.W_E"), V, D, tensor_mut(&u, u.theta, "unembed.W_U"));
    transpose_into(tensor(&t, dt, "embed.W_E"), V, D, tensor_mut(&u, du, "unembed.W_U"));
    outs ot = {0}, ou = {0};
    CHECK(run_all(&t, dt, &ot));
    CHECK(run_all(&u, du, &ou));
    printf("  %s\n", what);
    CHECK_REL(ot.losses, ou.losses, t.N, EQ_TOL, "losses");
    CHECK_REL(ot.g, ou.g, t.N, EQ_TOL, "g");
    CHECK_REL(ot.c, ou.c, t.N, EQ_TOL, "c");
    /* gradient and HVP: W_E gets W_E's and W_U's (transposed) */
    const float *outs_u[2] = {ou.grad, ou.hv};
    const float *outs_t[2] = {ot.grad, ot.hv};
    const char *names[2] = {"gradient", "HVP"};
    for (int k = 0; k < 2; k++) {
        copy_by_name(&u.lay, outs_u[k], &t.lay, r);
        float *e = tensor_mut(&t, r, "embed.W_E");
        const float *wu = tensor(&u, outs_u[k], "unembed.W_U");
        for (int64_t v = 0; v < V; v++)
            for (int64_t j = 0; j < D; j++) e[v * D + j] += wu[j * V + v];
        CHECK_REL(outs_t[k], r, t.P, EQ_TOL, names[k]);
    }
    outs_free(&ot), outs_free(&ou);
    free(dt), free(du), free(r);
    model_free(&t), model_free(&u);
}

TEST(tied_equals_untied_with_transposed_embedding) {
    polca__tf_config c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_GELU_NEW);
    c.tied_embeddings = 1;
    check_tied(c, "tied, unembedding bias");
    c.unembed_bias = 0, c.norm = POLCA__NORM_RMS, c.mlp_gated = 1, c.act_fn = POLCA__ACT_SILU;
    c.positions = POLCA__POS_NONE;
    check_tied(c, "tied, no bias, rmsnorm, silu-gated, no positions");
}

/* ---- one layer recomputed in double from the stored activations ---- */

static double silu_d(double x) { return x / (1.0 + exp(-x)); }

TEST(one_layer_forward_recomputed) {
    /* RMSNorm with a large eps, silu-gated MLP with biases, parallel
     * residual, no positions, tied unembedding with bias, no q/k/v bias */
    polca__tf_config c = polca__tf_config_basic(1, 8, 2, 4, 12, 7, 6, POLCA__ACT_SILU);
    c.norm = POLCA__NORM_RMS, c.norm_eps = 0.05f, c.positions = POLCA__POS_NONE;
    c.qkv_bias = 0, c.mlp_gated = 1, c.parallel_residual = 1, c.tied_embeddings = 1;
    model m;
    CHECK(model_make(&m, c, 2, 41));
    const int64_t D = c.d_model, M = c.d_mlp, V = c.d_vocab, T = c.n_ctx, HE = c.n_heads * c.d_head;
    const int64_t R = m.n_seq * T;
    tf_block_view blocks[1];
    tf_view th;
    polca__tf_view_of(&c, m.theta, blocks, &th);
    float *packed = polca__tf_qkv_alloc(&c, &th);
    CHECK(packed);
    polca__tf_qkv_pack(&c, &th);
    tf_acts a;
    CHECK_OK(polca__tf_acts_alloc(&c, m.n_seq, &a));
    float *x = malloc((size_t)(R * D) * 4);
    const tf_batch bt = {m.n_seq, R, m.tokens, m.mask, 0.0f, NULL};
    CHECK(polca__tf_forward_chunk(&c, &th, &bt, &a, x, NULL, NULL) == m.N);
    CHECK(th.W_pos == NULL && th.W_U == NULL && blocks[0].b_Q == NULL);
    const tf_block_view *w = &blocks[0];
    const tf_block_acts *s = &a.blocks[0];
    /* parallel: ln2 normalizes the same input as ln1 */
    CHECK(memcmp(s->n1, s->n2, (size_t)(R * D) * 4) == 0);
    CHECK(memcmp(s->s1, s->s2, (size_t)R * 4) == 0);
    double worst = 0;
#define ERR(got, want)                                                         \
    do {                                                                       \
        const double e_ = fabs((double)(got) - (want)) / (1.0 + fabs(want));  \
        worst = e_ > worst ? e_ : worst;                                       \
    } while (0)
    double *xo = malloc((size_t)D * 8);
    for (int64_t r = 0; r < R; r++) {
        const float *x0 = th.W_E + (int64_t)m.tokens[r] * D; /* no positions */
        double ms = 0;
        for (int64_t j = 0; j < D; j++) ms += (double)x0[j] * x0[j];
        const double sr = 1.0 / sqrt(ms / D + 0.05);
        ERR(s->s1[r], sr);
        for (int64_t j = 0; j < D; j++) {
            ERR(s->n1[r * D + j], x0[j] * sr);
            ERR(s->a1[r * D + j], x0[j] * sr * w->ln1_w[j]);
            ERR(s->a2[r * D + j], x0[j] * sr * w->ln2_w[j]);
        }
        /* gated MLP from a2 */
        for (int64_t k = 0; k < M; k++) {
            double up = w->b_in[k], gt = 0;
            for (int64_t j = 0; j < D; j++) {
                up += (double)s->a2[r * D + j] * w->W_in[j * M + k];
                gt += (double)s->a2[r * D + j] * w->W_gate[j * M + k];
            }
            ERR(s->pre[r * M + k], up);
            ERR(s->gate[r * M + k], gt);
            ERR(s->post[r * M + k], silu_d(s->gate[r * M + k]) * s->pre[r * M + k]);
        }
        /* x + attn + mlp, from the stored z and post */
        for (int64_t j = 0; j < D; j++) {
            double v = (double)x0[j] + w->b_O[j] + w->b_out[j];
            for (int64_t e = 0; e < HE; e++) v += (double)s->z[r * HE + e] * w->W_O[e * D + j];
            for (int64_t k = 0; k < M; k++) v += (double)s->post[r * M + k] * w->W_out[k * D + j];
            xo[j] = v;
        }
        double ms2 = 0;
        for (int64_t j = 0; j < D; j++) ms2 += xo[j] * xo[j];
        const double sf = 1.0 / sqrt(ms2 / D + 0.05);
        ERR(a.sf[r], sf);
        for (int64_t j = 0; j < D; j++) ERR(a.af[r * D + j], xo[j] * sf * th.lnf_w[j]);
        /* tied unembedding with bias: probabilities of scored rows */
        if (!tf_scored(&c, &bt, r)) continue;
        double z[64], mx = -1e300, se = 0;
        for (int64_t v = 0; v < V; v++) {
            z[v] = th.b_U[v];
            for (int64_t j = 0; j < D; j++) z[v] += (double)a.af[r * D + j] * th.W_E[v * D + j];
            mx = z[v] > mx ? z[v] : mx;
        }
        for (int64_t v = 0; v < V; v++) se += exp(z[v] - mx);
        for (int64_t v = 0; v < V; v++) ERR(a.logits[r * V + v], exp(z[v] - mx) / se);
    }
#undef ERR
    printf("  worst relative difference %g\n", worst);
    EXPECT(worst <= 1e-5);
    free(xo), free(x), free(packed);
    polca__tf_acts_free(&a);
    model_free(&m);
}

/* ---- derivative consistency ---- */

static double mean_loss(const model *m, const float *theta, float *buf) {
    if (be->tf_losses(NULL, &m->cfg, theta, m->n_seq, m->tokens, m->mask, buf)) return NAN;
    double s = 0;
    for (int64_t i = 0; i < m->N; i++) s += buf[i];
    return s / (double)m->N;
}

static void check_consistency(polca__tf_config cfg, const char *what, unsigned long long seed) {
    model m;
    CHECK(model_make(&m, cfg, 3, seed));
    const int64_t P = m.P, N = m.N;
    CHECK(N > 0);
    float *d = malloc((size_t)P * 4), *th = malloc((size_t)P * 4), *buf = malloc((size_t)N * 4);
    float *gp = malloc((size_t)P * 4), *gm = malloc((size_t)P * 4);
    float *g1 = malloc((size_t)N * 4), *g2 = malloc((size_t)N * 4);
    double *fd = malloc((size_t)(P > N ? P : N) * 8), mean;
    /* a unit direction: steps h below move theta by h */
    random_vec(d, P, seed + 1);
    double nd = 0;
    for (int64_t i = 0; i < P; i++) nd += (double)d[i] * d[i];
    for (int64_t i = 0; i < P; i++) d[i] = (float)(d[i] / sqrt(nd));
    outs o = {0};
    CHECK(run_all(&m, d, &o));
    double gd = 0, dhd = 0, sg = 0, sc = 0;
    for (int64_t i = 0; i < P; i++) gd += (double)o.grad[i] * d[i], dhd += (double)o.hv[i] * d[i];
    for (int64_t i = 0; i < N; i++) sg += o.g[i], sc += o.c[i];
    const double e_g = fabs(sg - N * gd) / fabs(N * gd), e_c = fabs(sc - N * dhd) / fabs(N * dhd);
    /* gradient along d vs central differences of the losses */
    double e_fd = 0;
    const double hs[2] = {2e-2, 1e-2};
    for (int k = 0; k < 2; k++) {
        const double h = hs[k];
        for (int64_t i = 0; i < P; i++) th[i] = m.theta[i] + (float)h * d[i];
        const double up = mean_loss(&m, th, buf);
        for (int64_t i = 0; i < P; i++) th[i] = m.theta[i] - (float)h * d[i];
        const double dn = mean_loss(&m, th, buf);
        const double e = fabs((up - dn) / (2 * h) - gd) / fabs(gd);
        e_fd = e > e_fd ? e : e_fd;
    }
    /* HVP vs differences of the gradient; c vs differences of g (h = 1e-2) */
    const float h = 1e-2f;
    for (int64_t i = 0; i < P; i++) th[i] = m.theta[i] + h * d[i];
    CHECK_OK(be->tf_grad(NULL, &cfg, th, m.n_seq, m.tokens, m.mask, &mean, gp));
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, th, m.n_seq, m.tokens, m.mask, 1, d, NULL, g1, NULL));
    for (int64_t i = 0; i < P; i++) th[i] = m.theta[i] - h * d[i];
    CHECK_OK(be->tf_grad(NULL, &cfg, th, m.n_seq, m.tokens, m.mask, &mean, gm));
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, th, m.n_seq, m.tokens, m.mask, 1, d, NULL, g2, NULL));
    for (int64_t i = 0; i < P; i++) fd[i] = ((double)gp[i] - gm[i]) / (2.0 * h);
    const double e_hv = reld(o.hv, fd, P);
    for (int64_t i = 0; i < N; i++) fd[i] = ((double)g1[i] - g2[i]) / (2.0 * h);
    const double e_cfd = reld(o.c, fd, N);
    printf("  %s: sum g %.1e, sum c %.1e, grad.d vs losses %.1e, HVP vs grad %.1e, c vs g %.1e\n",
           what, e_g, e_c, e_fd, e_hv, e_cfd);
    EXPECT(e_g <= 1e-4);
    EXPECT(e_c <= 1e-4);
    EXPECT(e_fd <= 2e-3);
    EXPECT(e_hv <= 2e-3);
    EXPECT(e_cfd <= 2e-3);
    outs_free(&o);
    free(d), free(th), free(buf), free(gp), free(gm), free(g1), free(g2), free(fd);
    model_free(&m);
}

TEST(derivatives_consistent) {
    polca__tf_config c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_SILU);
    c.norm = POLCA__NORM_RMS, c.norm_eps = 1e-2f, c.positions = POLCA__POS_NONE;
    c.qkv_bias = c.out_bias = c.mlp_bias = c.unembed_bias = 0;
    c.mlp_gated = 1, c.parallel_residual = 1, c.tied_embeddings = 1;
    check_consistency(c, "rms, none, no biases, silu-gated, parallel, tied", 51);
    c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_GELU_NEW);
    c.norm = POLCA__NORM_LN_NOBIAS, c.norm_eps = 1e-3f, c.mlp_gated = 1, c.tied_embeddings = 1;
    c.qkv_bias = 0;
    check_consistency(c, "ln without bias, gelu_new-gated, tied with bias", 52);
    c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_SILU);
    c.parallel_residual = 1, c.out_bias = 0, c.mlp_bias = 0;
    check_consistency(c, "silu, parallel, learned positions", 53);
    c = polca__tf_config_basic(2, 8, 2, 4, 12, 7, 6, POLCA__ACT_GELU);
    c.mlp_gated = 1, c.norm = POLCA__NORM_RMS;
    check_consistency(c, "gelu-gated, rms", 54);
}

int main(void) {
    RUN(absent_tensors_equal_zero_ones);
    RUN(tied_equals_untied_with_transposed_embedding);
    RUN(one_layer_forward_recomputed);
    RUN(derivatives_consistent);
    return harness_done();
}
