/*
 * tests/test_transformer_attn_switches.c - the CPU transformer kernels with
 * grouped-query attention (n_kv_heads < n_heads) and rotary positions:
 *   (a) exact invariants: a model with G kv heads is the multi-head model
 *       whose W_K[h], W_V[h], b_K[h], b_V[h] are kv head h / (H/G)'s copy,
 *       so losses, g and c along copied directions agree, and its gradient
 *       and HVP are the group sums of the multi-head ones (the multi-head
 *       kernels are checked against float64 in tests/test_transformer.c);
 *   (b) against a float64 forward written here from src/transformer.c's
 *       definition (GQA head map, rotate-half with f_i = theta^(-2i/rd)):
 *       losses, and gradient, HVP, g and c against its central differences;
 *   (c) identities: u.Hv = v.Hu, sum_i g_i = N grad.d, sum_i c_i = N d.Hd,
 *       on a batch split into several chunks.
 *
 * Tolerances (the ones tests/test_transformer.c states, not tuned to the
 * results): losses 1e-5 relative, derivatives 1e-4 in ||a - b|| / ||b||
 * against float64; the invariants (a) compare float32 kernels with float32
 * kernels that differ only in GEMM widths and summation order: 1e-5.
 */
#include <stdint.h>

#include "harness.h"
#include "internal.h"
#include "cpu/transformer_cpu.h"
#include "transformer_model.h"

#define LOSS_TOL 1e-5
#define DERIV_TOL 1e-4
#define SAME_TOL 1e-5

static const polca_backend *be = &polca__cpu_backend;

/* ---- a float64 forward of the configurations tested here: LayerNorm with
 * bias, every bias present, a plain MLP, learned or rotary positions, any
 * n_kv_heads. Tensors are found by name in the layout. ---- */

static const double *tensor(const polca__layout *lay, const double *th, const char *name) {
    int64_t i = polca__layout_find(lay, name);
    if (i < 0) {
        printf("  reference: tensor %s missing\n", name);
        exit(2);
    }
    return th + lay->tensors[i].offset;
}

static const double *blk(const polca__layout *lay, const double *th, int l, const char *s) {
    char name[128];
    snprintf(name, sizeof name, "blocks.%d.%s", l, s);
    return tensor(lay, th, name);
}

static void ln64(int T, int D, const double *x, const double *w, const double *b, double *y) {
    for (int t = 0; t < T; t++) {
        double m = 0, v = 0;
        for (int j = 0; j < D; j++) m += x[t * D + j];
        m /= D;
        for (int j = 0; j < D; j++) v += (x[t * D + j] - m) * (x[t * D + j] - m);
        v /= D;
        for (int j = 0; j < D; j++) y[t * D + j] = (x[t * D + j] - m) / sqrt(v + 1e-5) * w[j] + b[j];
    }
}

static double act64(int act, double x) {
    if (act == POLCA__ACT_GELU) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    if (act == POLCA__ACT_GELU_NEW)
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    return x > 0 ? x : 0;
}

/* rotate-half of the first rd values of x (one head) at position t */
static void rot64(double *x, int rd, double theta, int t) {
    const int r = rd / 2;
    for (int i = 0; i < r; i++) {
        const double ang = t * pow(theta, -2.0 * i / rd), a = x[i], b = x[i + r];
        x[i] = a * cos(ang) - b * sin(ang);
        x[i + r] = b * cos(ang) + a * sin(ang);
    }
}

static double ref64(const polca__tf_config *c, const polca__layout *lay, const double *th,
                    int64_t n_seq, const int32_t *tokens, const uint8_t *mask, double *losses) {
    const int T = c->n_ctx, D = c->d_model, H = c->n_heads, G = c->n_kv_heads, E = c->d_head,
              M = c->d_mlp, V = c->d_vocab, grouped = G < H, rotary = c->positions == POLCA__POS_ROTARY;
    double *x = calloc((size_t)T * D, 8), *a = calloc((size_t)T * D, 8);
    double *q = calloc((size_t)T * H * E, 8), *k = calloc((size_t)T * G * E, 8),
           *v = calloc((size_t)T * G * E, 8), *z = calloc((size_t)T * H * E, 8);
    double *hid = calloc((size_t)T * (M > 0 ? M : 1), 8), *lg = calloc((size_t)V, 8),
           *p = calloc((size_t)T, 8);
    const double *WE = tensor(lay, th, "embed.W_E");
    const double *Wp = rotary ? NULL : tensor(lay, th, "pos_embed.W_pos");
    double sum = 0;
    int64_t n = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        const int32_t *tk = tokens + s * T;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < D; j++) x[t * D + j] = WE[tk[t] * D + j] + (Wp ? Wp[t * D + j] : 0);
        for (int l = 0; l < c->n_layers; l++) {
            ln64(T, D, x, blk(lay, th, l, "ln1.w"), blk(lay, th, l, "ln1.b"), a);
            const double *Wq = blk(lay, th, l, "attn.W_Q"),
                         *Wk = blk(lay, th, l, grouped ? "attn._W_K" : "attn.W_K"),
                         *Wv = blk(lay, th, l, grouped ? "attn._W_V" : "attn.W_V"),
                         *Wo = blk(lay, th, l, "attn.W_O"), *bq = blk(lay, th, l, "attn.b_Q"),
                         *bk = blk(lay, th, l, grouped ? "attn._b_K" : "attn.b_K"),
                         *bv = blk(lay, th, l, grouped ? "attn._b_V" : "attn.b_V"),
                         *bo = blk(lay, th, l, "attn.b_O");
            for (int t = 0; t < T; t++) {
                for (int h = 0; h < H; h++) {
                    for (int e = 0; e < E; e++) {
                        double acc = bq[h * E + e];
                        for (int d = 0; d < D; d++) acc += a[t * D + d] * Wq[(h * D + d) * E + e];
                        q[(t * H + h) * E + e] = acc;
                    }
                    if (rotary) rot64(q + (t * H + h) * E, c->rotary_dim, c->rope_theta, t);
                }
                for (int g = 0; g < G; g++) {
                    for (int e = 0; e < E; e++) {
                        double sk = bk[g * E + e], sv = bv[g * E + e];
                        for (int d = 0; d < D; d++) {
                            sk += a[t * D + d] * Wk[(g * D + d) * E + e];
                            sv += a[t * D + d] * Wv[(g * D + d) * E + e];
                        }
                        k[(t * G + g) * E + e] = sk;
                        v[(t * G + g) * E + e] = sv;
                    }
                    if (rotary) rot64(k + (t * G + g) * E, c->rotary_dim, c->rope_theta, t);
                }
            }
            for (int h = 0; h < H; h++) {
                const int g = h / (H / G);
                for (int i = 0; i < T; i++) {
                    double mx = -1e300, den = 0;
                    for (int j = 0; j <= i; j++) {
                        double sc = 0;
                        for (int e = 0; e < E; e++) sc += q[(i * H + h) * E + e] * k[(j * G + g) * E + e];
                        p[j] = sc / sqrt((double)E);
                        if (p[j] > mx) mx = p[j];
                    }
                    for (int j = 0; j <= i; j++) den += (p[j] = exp(p[j] - mx));
                    for (int e = 0; e < E; e++) {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) acc += p[j] / den * v[(j * G + g) * E + e];
                        z[(i * H + h) * E + e] = acc;
                    }
                }
            }
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    double acc = bo[d];
                    for (int h = 0; h < H; h++)
                        for (int e = 0; e < E; e++) acc += z[(t * H + h) * E + e] * Wo[(h * E + e) * D + d];
                    x[t * D + d] += acc;
                }
            if (M == 0) continue;
            ln64(T, D, x, blk(lay, th, l, "ln2.w"), blk(lay, th, l, "ln2.b"), a);
            const double *Wi = blk(lay, th, l, "mlp.W_in"), *bi = blk(lay, th, l, "mlp.b_in"),
                         *Wout = blk(lay, th, l, "mlp.W_out"), *bout = blk(lay, th, l, "mlp.b_out");
            for (int t = 0; t < T; t++)
                for (int m = 0; m < M; m++) {
                    double acc = bi[m];
                    for (int d = 0; d < D; d++) acc += a[t * D + d] * Wi[d * M + m];
                    hid[t * M + m] = act64(c->act_fn, acc);
                }
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    double acc = bout[d];
                    for (int m = 0; m < M; m++) acc += hid[t * M + m] * Wout[m * D + d];
                    x[t * D + d] += acc;
                }
        }
        ln64(T, D, x, tensor(lay, th, "ln_final.w"), tensor(lay, th, "ln_final.b"), a);
        const double *WU = tensor(lay, th, "unembed.W_U"), *bU = tensor(lay, th, "unembed.b_U");
        for (int t = 0; t + 1 < T; t++) {
            if (!mask[s * T + t]) continue;
            double mx = -1e300, den = 0;
            for (int u = 0; u < V; u++) {
                double acc = bU[u];
                for (int d = 0; d < D; d++) acc += a[t * D + d] * WU[d * V + u];
                lg[u] = acc;
                if (acc > mx) mx = acc;
            }
            for (int u = 0; u < V; u++) den += exp(lg[u] - mx);
            const double loss = mx + log(den) - lg[tk[t + 1]];
            if (losses) losses[n] = loss;
            sum += loss;
            n++;
        }
    }
    free(x), free(a), free(q), free(k), free(v), free(z), free(hid), free(lg), free(p);
    return n ? sum / (double)n : 0.0;
}

/* ---- a small model with random data (transformer_model.h) ---- */

/* Off the init by 0.3 (the larger scale on q, k makes the attention far
 * from uniform); about 60% of the positions scored. */
static int model_make_attn(model *m, polca__tf_config cfg, int64_t n_seq, unsigned long long seed) {
    return model_make_with(m, cfg, n_seq, seed, 0.3f, 0.6f);
}

static double mean64(const model *m, const double *th, double *losses) {
    return ref64(&m->cfg, &m->lay, th, m->n_seq, m->tokens, m->mask, losses);
}


static double rel_err(const float *a, const double *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double rel_err_ff(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static double dotd(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* basic config with the two switches */
static polca__tf_config attn_cfg(int32_t L, int32_t D, int32_t H, int32_t G, int32_t E, int32_t M,
                                 int32_t V, int32_t T, int32_t act, int32_t rotary_dim) {
    polca__tf_config c = polca__tf_config_basic(L, D, H, E, M, V, T, act);
    c.n_kv_heads = G;
    if (rotary_dim > 0) {
        c.positions = POLCA__POS_ROTARY;
        c.rotary_dim = rotary_dim;
        c.rope_theta = 10000.0f;
    }
    return c;
}

/* ---- (a) grouped-query = multi-head with copied kv heads ---- */

/* The multi-head vector of a grouped one: kv tensors of head h copied from
 * kv head h / (H/G); every other tensor as is (same names, same order). */
static void expand(const polca__tf_config *gc, const polca__layout *gl, const polca__layout *ml,
                   const float *src, float *dst) {
    const int64_t H = gc->n_heads, G = gc->n_kv_heads, per = H / G;
    for (int64_t t = 0; t < ml->n_tensors; t++) {
        const polca__tensor_info *mt = &ml->tensors[t];
        const char *dot = strrchr(mt->name, '.');
        const int kv = strstr(mt->name, ".attn.") &&
                       (!strcmp(dot, ".W_K") || !strcmp(dot, ".W_V") || !strcmp(dot, ".b_K") ||
                        !strcmp(dot, ".b_V"));
        char gname[128];
        if (kv && G < H)
            snprintf(gname, sizeof gname, "%.*s._%s", (int)(dot - mt->name), mt->name, dot + 1);
        else
            snprintf(gname, sizeof gname, "%s", mt->name);
        const int64_t gi = polca__layout_find(gl, gname);
        CHECK(gi >= 0);
        if (gi < 0) return;
        const polca__tensor_info *gt = &gl->tensors[gi];
        if (!kv) {
            CHECK(gt->count == mt->count);
            memcpy(dst + mt->offset, src + gt->offset, (size_t)mt->count * 4);
            continue;
        }
        const int64_t head = mt->count / H; /* D*E or E floats per head */
        for (int64_t h = 0; h < H; h++)
            memcpy(dst + mt->offset + h * head, src + gt->offset + (h / per) * head,
                   (size_t)head * 4);
    }
}

/* The grouped gradient of a multi-head one: kv heads summed over groups. */
static void contract(const polca__tf_config *gc, const polca__layout *gl, const polca__layout *ml,
                     const float *src, double *dst) {
    const int64_t H = gc->n_heads, G = gc->n_kv_heads, per = H / G;
    memset(dst, 0, (size_t)gl->n_params * 8);
    for (int64_t t = 0; t < ml->n_tensors; t++) {
        const polca__tensor_info *mt = &ml->tensors[t];
        const char *dot = strrchr(mt->name, '.');
        const int kv = strstr(mt->name, ".attn.") &&
                       (!strcmp(dot, ".W_K") || !strcmp(dot, ".W_V") || !strcmp(dot, ".b_K") ||
                        !strcmp(dot, ".b_V"));
        char gname[128];
        if (kv && G < H)
            snprintf(gname, sizeof gname, "%.*s._%s", (int)(dot - mt->name), mt->name, dot + 1);
        else
            snprintf(gname, sizeof gname, "%s", mt->name);
        const int64_t gi = polca__layout_find(gl, gname);
        if (gi < 0) continue;
        const polca__tensor_info *gt = &gl->tensors[gi];
        const int64_t head = kv ? mt->count / H : mt->count;
        for (int64_t h = 0; h < (kv ? H : 1); h++)
            for (int64_t i = 0; i < head; i++)
                dst[gt->offset + (kv ? (h / per) * head : 0) + i] += src[mt->offset + h * head + i];
    }
}

static void check_gqa_is_shared_mha(polca__tf_config gc, unsigned long long seed) {
    polca__tf_config mc = gc;
    mc.n_kv_heads = gc.n_heads;
    model g;
    CHECK(model_make_attn(&g, gc, 3, seed));
    polca__layout ml;
    CHECK_OK(polca__tf_layout(&mc, &ml));
    const int64_t P = g.P, PM = ml.n_params, N = g.N;
    enum { K = 2 };
    float *thm = malloc((size_t)PM * 4), *dg = malloc((size_t)(K * P) * 4),
          *dm = malloc((size_t)(K * PM) * 4), *lg = malloc((size_t)N * 4),
          *lm = malloc((size_t)N * 4), *gg = malloc((size_t)(K * N) * 4),
          *gm = malloc((size_t)(K * N) * 4), *cg = malloc((size_t)(K * N) * 4),
          *cm = malloc((size_t)(K * N) * 4), *grg = malloc((size_t)P * 4),
          *grm = malloc((size_t)PM * 4), *hg = malloc((size_t)P * 4), *hm = malloc((size_t)PM * 4);
    double *want = malloc((size_t)P * 8);
    expand(&gc, &g.lay, &ml, g.theta, thm);
    random_vec(dg, K * P, seed + 1);
    for (int k = 0; k < K; k++) expand(&gc, &g.lay, &ml, dg + k * P, dm + k * PM);
    CHECK_OK(be->tf_dirderivs(NULL, &gc, g.theta, g.n_seq, g.tokens, g.mask, K, dg, lg, gg, cg));
    CHECK_OK(be->tf_dirderivs(NULL, &mc, thm, g.n_seq, g.tokens, g.mask, K, dm, lm, gm, cm));
    const double el = rel_err_ff(lg, lm, N), eg = rel_err_ff(gg, gm, K * N),
                 ec = rel_err_ff(cg, cm, K * N);
    if (!(el <= SAME_TOL && eg <= SAME_TOL && ec <= SAME_TOL))
        FAILF("G=%d vs shared MHA: losses %g, g %g, c %g", (int)gc.n_kv_heads, el, eg, ec);
    double mg, mm;
    CHECK_OK(be->tf_grad(NULL, &gc, g.theta, g.n_seq, g.tokens, g.mask, &mg, grg));
    CHECK_OK(be->tf_grad(NULL, &mc, thm, g.n_seq, g.tokens, g.mask, &mm, grm));
    CHECK_CLOSE(mg, mm, SAME_TOL);
    contract(&gc, &g.lay, &ml, grm, want);
    const double egr = rel_err(grg, want, P);
    CHECK_OK(be->tf_hvp(NULL, &gc, g.theta, g.n_seq, g.tokens, g.mask, dg, hg));
    CHECK_OK(be->tf_hvp(NULL, &mc, thm, g.n_seq, g.tokens, g.mask, dm, hm));
    contract(&gc, &g.lay, &ml, hm, want);
    const double ehv = rel_err(hg, want, P);
    if (!(egr <= SAME_TOL && ehv <= SAME_TOL))
        FAILF("G=%d vs shared MHA: gradient %g, HVP %g (group sums)", (int)gc.n_kv_heads, egr, ehv);
    printf("  H=%d G=%d rotary_dim=%d: losses %.1e, g %.1e, c %.1e, gradient %.1e, HVP %.1e\n",
           (int)gc.n_heads, (int)gc.n_kv_heads, (int)gc.rotary_dim, el, eg, ec, egr, ehv);
    free(thm), free(dg), free(dm), free(lg), free(lm), free(gg), free(gm), free(cg), free(cm);
    free(grg), free(grm), free(hg), free(hm), free(want);
    polca__layout_free(&ml);
    model_free(&g);
}

TEST(gqa_equals_multi_head_with_shared_kv) {
    check_gqa_is_shared_mha(attn_cfg(2, 8, 4, 2, 3, 10, 7, 6, POLCA__ACT_GELU_NEW, 0), 1);
    check_gqa_is_shared_mha(attn_cfg(1, 6, 3, 1, 4, 0, 5, 5, POLCA__ACT_GELU, 0), 2);
    check_gqa_is_shared_mha(attn_cfg(2, 8, 6, 2, 4, 9, 6, 7, POLCA__ACT_RELU, 2), 3);
}

/* ---- (b) against the float64 forward ---- */

static void check_vs_float64(polca__tf_config cfg, unsigned long long seed) {
    model m;
    CHECK(model_make_attn(&m, cfg, 2, seed));
    CHECK(m.N > 0);
    const int64_t P = m.P, N = m.N;
    enum { K = 2 };
    double *th = malloc((size_t)P * 8), *base = malloc((size_t)P * 8), *l0 = malloc((size_t)N * 8),
           *lp = malloc((size_t)N * 8), *lmn = malloc((size_t)N * 8), *fd = calloc((size_t)P, 8),
           *fg = malloc((size_t)N * 8), *fc = malloc((size_t)N * 8);
    float *losses = malloc((size_t)N * 4), *grad = malloc((size_t)P * 4), *hv = malloc((size_t)P * 4),
          *dirs = malloc((size_t)(K * P) * 4), *g = malloc((size_t)(K * N) * 4),
          *c = malloc((size_t)(K * N) * 4);
    for (int64_t i = 0; i < P; i++) base[i] = th[i] = m.theta[i];
    const double mean0 = mean64(&m, th, l0);
    /* losses */
    CHECK_OK(be->tf_losses(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, losses));
    double el = 0;
    for (int64_t i = 0; i < N; i++) {
        const double e = fabs(losses[i] - l0[i]) / fabs(l0[i]);
        el = e > el ? e : el;
    }
    if (!(el <= LOSS_TOL)) FAILF("losses: relative error %g", el);
    /* gradient: central differences, h = 1e-5 */
    double mean;
    CHECK_OK(be->tf_grad(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, &mean, grad));
    CHECK_CLOSE(mean, mean0, LOSS_TOL);
    for (int64_t j = 0; j < P; j++) {
        const double h = 1e-5;
        th[j] = base[j] + h;
        const double up = mean64(&m, th, NULL);
        th[j] = base[j] - h;
        const double dn = mean64(&m, th, NULL);
        th[j] = base[j];
        fd[j] = (up - dn) / (2 * h);
    }
    const double egr = rel_err(grad, fd, P);
    if (!(egr <= DERIV_TOL)) FAILF("gradient: relative error %g", egr);
    /* HVP: four-point mixed differences, h = 1e-4 */
    random_vec(dirs, K * P, seed + 7);
    CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, dirs, hv));
    for (int64_t j = 0; j < P; j++) {
        const double h = 1e-4;
        double f[4];
        for (int s = 0; s < 4; s++) {
            const double a = (s & 1) ? -h : h, b = (s & 2) ? -h : h;
            for (int64_t i = 0; i < P; i++) th[i] = base[i] + b * dirs[i];
            th[j] += a;
            f[s] = mean64(&m, th, NULL);
        }
        fd[j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h);
    }
    const double ehv = rel_err(hv, fd, P);
    if (!(ehv <= DERIV_TOL)) FAILF("HVP: relative error %g", ehv);
    /* g and c: central differences along each direction, h = 1e-4 */
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, K, dirs, NULL, g, c));
    double eg = 0, ec = 0;
    for (int k = 0; k < K; k++) {
        const double h = 1e-4;
        const float *d = dirs + k * P;
        for (int64_t i = 0; i < P; i++) th[i] = base[i] + h * d[i];
        mean64(&m, th, lp);
        for (int64_t i = 0; i < P; i++) th[i] = base[i] - h * d[i];
        mean64(&m, th, lmn);
        for (int64_t i = 0; i < N; i++) {
            fg[i] = (lp[i] - lmn[i]) / (2 * h);
            fc[i] = (lp[i] - 2 * l0[i] + lmn[i]) / (h * h);
        }
        const double a = rel_err(g + k * N, fg, N), b = rel_err(c + k * N, fc, N);
        eg = a > eg ? a : eg;
        ec = b > ec ? b : ec;
    }
    if (!(eg <= DERIV_TOL && ec <= DERIV_TOL)) FAILF("g: relative error %g, c: %g", eg, ec);
    printf("  H=%d G=%d E=%d rotary_dim=%d: losses %.1e, gradient %.1e, HVP %.1e, g %.1e, c %.1e\n",
           (int)cfg.n_heads, (int)cfg.n_kv_heads, (int)cfg.d_head, (int)cfg.rotary_dim, el, egr, ehv,
           eg, ec);
    free(th), free(base), free(l0), free(lp), free(lmn), free(fd), free(fg), free(fc);
    free(losses), free(grad), free(hv), free(dirs), free(g), free(c);
    model_free(&m);
}

TEST(rotary_and_gqa_vs_float64_differences) {
    /* rotary on part of each head (Pythia's rotary_pct), grouped */
    check_vs_float64(attn_cfg(2, 8, 4, 2, 6, 10, 7, 6, POLCA__ACT_GELU_NEW, 4), 11);
    /* rotary on the whole head, multi-head, attention-only */
    check_vs_float64(attn_cfg(2, 8, 2, 2, 4, 0, 6, 7, POLCA__ACT_GELU, 4), 12);
    /* grouped-query with learned positions, one kv head */
    check_vs_float64(attn_cfg(1, 6, 3, 1, 3, 8, 5, 5, POLCA__ACT_RELU, 0), 13);
    /* rotary_dim 2 with an odd d_head, a large base */
    polca__tf_config c = attn_cfg(1, 6, 2, 1, 5, 7, 5, 6, POLCA__ACT_GELU, 2);
    c.rope_theta = 500000.0f;
    check_vs_float64(c, 14);
}

/* ---- (c) identities on a batch of several chunks ---- */

TEST(identities_over_chunks) {
    /* long sequences and many of them: several chunks of TF_CHUNK_BYTES */
    const polca__tf_config cfg = attn_cfg(2, 32, 8, 2, 8, 64, 50, 64, POLCA__ACT_GELU_NEW, 4);
    model m;
    CHECK(model_make_attn(&m, cfg, 40, 31));
    CHECK(polca__tf_chunk_seqs(&cfg, m.n_seq, 3, 0) < m.n_seq);
    const int64_t P = m.P, N = m.N;
    enum { K = 2 };
    float *u = malloc((size_t)P * 4), *hu = malloc((size_t)P * 4), *grad = malloc((size_t)P * 4),
          *dirs = malloc((size_t)(K * P) * 4), *g = malloc((size_t)(K * N) * 4),
          *c = malloc((size_t)(K * N) * 4), *hd = malloc((size_t)P * 4);
    random_vec(u, P, 1);
    random_vec(dirs, K * P, 2);
    CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, u, hu));
    CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, dirs, hd));
    const double uhv = dotd(u, hd, P), vhu = dotd(dirs, hu, P);
    const double scale = sqrt(dotd(u, u, P) * dotd(hd, hd, P));
    if (!(fabs(uhv - vhu) <= 1e-5 * scale)) FAILF("u.Hv = %.9g, v.Hu = %.9g", uhv, vhu);
    double mean;
    CHECK_OK(be->tf_grad(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, &mean, grad));
    CHECK_OK(be->tf_dirderivs(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, K, dirs, NULL, g, c));
    for (int k = 0; k < K; k++) {
        const float *d = dirs + k * P;
        double sg = 0, sc = 0, abs_g = 0, abs_c = 0;
        for (int64_t i = 0; i < N; i++) {
            sg += g[k * N + i], sc += c[k * N + i];
            abs_g += fabs(g[k * N + i]), abs_c += fabs(c[k * N + i]);
        }
        CHECK_OK(be->tf_hvp(NULL, &cfg, m.theta, m.n_seq, m.tokens, m.mask, d, hd));
        const double want_g = (double)N * dotd(grad, d, P), want_c = (double)N * dotd(d, hd, P);
        if (!(fabs(sg - want_g) <= 1e-5 * abs_g)) FAILF("sum g = %.9g, N grad.d = %.9g", sg, want_g);
        if (!(fabs(sc - want_c) <= 1e-5 * abs_c)) FAILF("sum c = %.9g, N d.Hd = %.9g", sc, want_c);
        printf("  direction %d: sum g %.9g vs %.9g, sum c %.9g vs %.9g\n", k, sg, want_g, sc, want_c);
    }
    free(u), free(hu), free(grad), free(dirs), free(g), free(c), free(hd);
    model_free(&m);
}

int main(void) {
    RUN(gqa_equals_multi_head_with_shared_kv);
    RUN(rotary_and_gqa_vs_float64_differences);
    RUN(identities_over_chunks);
    return harness_done();
}
