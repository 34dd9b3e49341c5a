/*
 * bench/pretrained.c - the CPU kernels on the architectures people train
 * (issue 15's speed item): a Pythia-14m-sized GPT-NeoX and a Llama-style
 * model of similar size, against the sgemm rate measured in the same run
 * and against PyTorch 2.x on the same Hugging Face architecture, size,
 * tokens and threads (bench/torch_pretrained.py, when a Python with torch
 * and transformers is given).
 *
 *   build/bench/pretrained [--model pythia|llama|both] [--runs N] [--no-gc]
 *                          [--torch-python PATH]
 *
 * Run it through bench/pretrained.sh (make bench), which sets 2 threads,
 * OPENBLAS_CORETYPE=SkylakeX and finds a torch venv (POLCA_TORCH_PYTHON).
 *
 * Models (random weights: timings do not depend on values):
 *   pythia  6 layers, d_model 128, 4 heads x 32, d_mlp 512, vocab 50304,
 *           rotary on 8 of 32 dims (rotary_pct 0.25), parallel residual,
 *           LayerNorm, gelu, biases, untied embed_out without bias
 *   llama   6 layers, d_model 128, 4 query heads x 32, 2 kv heads, SwiGLU
 *           d_mlp 352 (silu), RMSNorm eps 1e-6, rotary on all dims, no
 *           biases, untied lm_head, vocab 32000
 * Data: 16 sequences of 129 tokens, every position but the last scored:
 * N = 2048 samples. K = 16 directions for g+c.
 *
 * FLOPs (multiply-add = 2), per row: 2 [L (D (H + 2G) E + H E D + (2 or 3)
 * D M) + D V] + L 2 H E (T + 1) (causal scores and values, half the
 * square); gradient 3F, HVP 8F, g+c (1 + 4K) F as in bench/transformer.c.
 * The unembedding's share of the forward FLOPs is compared with its share
 * of the forward time, measured as the time saved by the same model with a
 * 512-token vocabulary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "internal.h"
#include "transformer.h"

typedef struct arch {
    const char *name;
    polca__tf_config cfg;
} arch;

static arch pythia(void) {
    polca__tf_config c = polca__tf_config_basic(6, 128, 4, 32, 512, 50304, 2048, POLCA__ACT_GELU);
    c.positions = POLCA__POS_ROTARY;
    c.rotary_dim = 8;
    c.parallel_residual = 1;
    c.unembed_bias = 0;
    return (arch){"pythia", c};
}

static arch llama(void) {
    polca__tf_config c = polca__tf_config_basic(6, 128, 4, 32, 352, 32000, 2048, POLCA__ACT_SILU);
    c.n_kv_heads = 2;
    c.norm = POLCA__NORM_RMS;
    c.norm_eps = 1e-6f;
    c.positions = POLCA__POS_ROTARY;
    c.rotary_dim = 32;
    c.qkv_bias = c.out_bias = c.mlp_bias = c.unembed_bias = 0;
    c.mlp_gated = 1;
    return (arch){"llama", c};
}

/* Forward FLOPs of n_rows rows of length T (see the header). */
static double forward_flops(const polca__tf_config *c, double n_rows) {
    const double D = c->d_model, H = c->n_heads, G = c->n_kv_heads, E = c->d_head, M = c->d_mlp,
                 V = c->d_vocab, L = c->n_layers, T = c->n_ctx;
    const double mlp = (c->mlp_gated ? 3.0 : 2.0) * D * M;
    return n_rows * (2 * (L * (D * (H + 2 * G) * E + H * E * D + mlp) + D * V) + L * 2 * H * E * (T + 1));
}

typedef struct run {
    const polca_backend *be;
    void *st;
    polca__tf_config cfg; /* n_ctx = the data's width */
    int64_t S, N, P, K;
    float *theta, *v, *dirs, *losses, *grad, *hv, *g, *c;
    int32_t *tokens;
    uint8_t *mask;
} run;

static void run_free(run *r) {
    free(r->theta), free(r->v), free(r->dirs), free(r->losses), free(r->grad), free(r->hv);
    free(r->g), free(r->c), free(r->tokens), free(r->mask);
}

static int run_make(run *r, const polca_backend *be, void *st, polca__tf_config cfg, int64_t S,
                    int64_t T, int64_t K) {
    memset(r, 0, sizeof *r);
    r->be = be, r->st = st, r->cfg = cfg, r->S = S, r->K = K;
    r->cfg.n_ctx = (int32_t)T; /* rotary: no W_pos, the kernels run at the data's width */
    if (polca__tf_check_config(&r->cfg)) return 0;
    polca__tf_offsets o;
    polca__tf_offsets_of(&r->cfg, &o);
    r->P = o.n_params, r->N = S * (T - 1);
    const size_t P = (size_t)r->P, N = (size_t)r->N;
    r->theta = malloc(P * 4), r->v = malloc(P * 4), r->dirs = malloc((size_t)K * P * 4);
    r->losses = malloc(N * 4), r->grad = malloc(P * 4), r->hv = malloc(P * 4);
    r->g = malloc((size_t)K * N * 4), r->c = malloc((size_t)K * N * 4);
    r->tokens = malloc((size_t)(S * T) * 4), r->mask = malloc((size_t)(S * T));
    if (!r->theta || !r->v || !r->dirs || !r->losses || !r->grad || !r->hv || !r->g || !r->c ||
        !r->tokens || !r->mask)
        return 0;
    polca__tf_init(&r->cfg, 1, r->theta);
    unsigned long long s = 99;
    for (size_t i = 0; i < P; i++) r->v[i] = bench_uniform(&s);
    for (size_t i = 0; i < (size_t)K * P; i++) r->dirs[i] = bench_uniform(&s);
    for (int64_t i = 0; i < S * T; i++) {
        r->tokens[i] = (int32_t)(((double)bench_uniform(&s) + 1.0) * 0.5 * r->cfg.d_vocab) % r->cfg.d_vocab;
        r->mask[i] = (i % T) + 1 < T;
    }
    return 1;
}

/* Median ms of operation `op` (0 forward, 1 gradient, 2 HVP, 3 g+c) over
 * `runs`; < 0 when the kernel failed. */
static double time_op(run *r, int op, int runs) {
    double t[16], mean;
    for (int i = 0; i < runs; i++) {
        const double t0 = bench_now();
        int32_t bad = op == 0   ? r->be->tf_losses(r->st, &r->cfg, r->theta, r->S, r->tokens, r->mask, r->losses)
                      : op == 1 ? r->be->tf_grad(r->st, &r->cfg, r->theta, r->S, r->tokens, r->mask, &mean, r->grad)
                      : op == 2 ? r->be->tf_hvp(r->st, &r->cfg, r->theta, r->S, r->tokens, r->mask, r->v, r->hv)
                                : r->be->tf_dirderivs(r->st, &r->cfg, r->theta, r->S, r->tokens, r->mask,
                                                      r->K, r->dirs, NULL, r->g, r->c);
        if (bad) {
            fprintf(stderr, "kernel failed: %s\n", polca_last_error());
            return -1;
        }
        t[i] = bench_now() - t0;
    }
    return 1e3 * bench_median(t, runs);
}

/* The number after "key": in a JSON line, or 0. */
static double json_number(const char *line, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\":", key);
    const char *at = strstr(line, quoted);
    return at ? atof(at + strlen(quoted)) : 0.0;
}

/* PyTorch's ms for the four operations of `model` on the same sizes, from
 * one run of bench/torch_pretrained.py (a JSON line per model); zeros when
 * unavailable. Each is PyTorch's fastest correct path: the HVP is the
 * faster of jvp-of-grad and double backward; g+c on a LayerNorm model is
 * the composite-LayerNorm path, because torch 2.15's nested jvp through
 * F.layer_norm gives wrong c (bench/torch_pretrained.py says more). */
static void torch_times(const char *python, const char *model, int threads, int S, int T, int K,
                        int runs, int do_gc, double ms[4]) {
    memset(ms, 0, 4 * sizeof *ms);
    if (!python) return;
    char cmd[1024], line[4096];
    snprintf(cmd, sizeof cmd,
             "%s bench/torch_pretrained.py --model %s --threads %d --seqs %d --seqlen %d "
             "--K %d --runs %d 2>/tmp/polca_bench_torch.log",
             python, model, threads, S, T, do_gc ? K : 1, runs);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    while (fgets(line, sizeof line, p)) {
        if (!strstr(line, "\"forward_ms\"")) continue;
        ms[0] = json_number(line, "forward_ms");
        ms[1] = json_number(line, "gradient_ms");
        const double jvp_grad = json_number(line, "hvp_ms"), dbl = json_number(line, "hvp_double_ms");
        ms[2] = dbl > 0 && dbl < jvp_grad ? dbl : jvp_grad;
        const double composite = json_number(line, "gc_ln_composite_ms");
        ms[3] = do_gc ? (composite > 0 ? composite : json_number(line, "gc_ms")) : 0.0;
    }
    if (pclose(p) != 0) memset(ms, 0, 4 * sizeof *ms);
}

static int bench_model(const polca_backend *be, void *st, arch a, int runs, int do_gc,
                       const char *python, double gem) {
    const int64_t S = 16, T = 129, K = 16;
    run r;
    if (!run_make(&r, be, st, a.cfg, S, T, K)) {
        fprintf(stderr, "%s: could not set up (config or memory)\n", a.name);
        run_free(&r);
        return 0;
    }
    const polca__tf_config *c = &r.cfg;
    printf("\n%s: %d layers, d_model %d, %d heads (%d kv) x %d, d_mlp %d%s, vocab %d; P = %lld; "
           "%lld x %lld tokens, N = %lld; K = %lld; median of %d runs\n",
           a.name, c->n_layers, c->d_model, c->n_heads, c->n_kv_heads, c->d_head, c->d_mlp,
           c->mlp_gated ? " gated" : "", c->d_vocab, (long long)r.P, (long long)S, (long long)T,
           (long long)r.N, (long long)K, runs);
    const double F = forward_flops(c, (double)(S * T));
    const double flops[4] = {F, 3 * F, 8 * F, (1 + 4.0 * K) * F};
    double ms[4] = {0, 0, 0, 0};
    for (int op = 0; op < (do_gc ? 4 : 3); op++)
        if ((ms[op] = time_op(&r, op, op == 3 ? 1 : runs)) < 0) {
            run_free(&r);
            return 0;
        }
    double torch_ms[4];
    torch_times(python, a.name, 2, (int)S, (int)T, (int)K, runs, do_gc, torch_ms);
    const char *names[4] = {"forward (losses)", "gradient", "HVP", "g+c, K=16"};
    printf("%-18s %10s %9s %8s %12s %9s\n", "operation", "ms", "GFLOP/s", "%sgemm", "PyTorch ms",
           "speedup");
    for (int i = 0; i < (do_gc ? 4 : 3); i++) {
        const double rate = flops[i] / (ms[i] * 1e-3) * 1e-9;
        printf("%-18s %10.1f %9.1f %7.0f%%", names[i], ms[i], rate, 100 * rate / gem);
        if (torch_ms[i] > 0) printf(" %12.1f %8.2fx", torch_ms[i], torch_ms[i] / ms[i]);
        printf("\n");
    }
    if (torch_ms[0] <= 0)
        printf("(PyTorch comparison unavailable: set POLCA_TORCH_PYTHON to a Python with torch 2 "
               "and transformers; /tmp/polca_bench_torch.log says why)\n");
    /* the unembedding's share: the same model with a 512-token vocabulary */
    run small;
    polca__tf_config sc = *c;
    sc.d_vocab = 512;
    const double share_flops = (F - forward_flops(&sc, (double)(S * T))) / F;
    double ms_small[3] = {0, 0, 0};
    if (run_make(&small, be, st, sc, S, T, K)) {
        ms_small[0] = time_op(&small, 0, runs);
        ms_small[2] = time_op(&small, 2, runs);
    }
    run_free(&small);
    if (ms_small[0] > 0 && ms_small[2] > 0)
        printf("unembedding (vocab %d vs 512): %.0f%% of the forward FLOPs; %.0f%% of the forward "
               "time, %.0f%% of the HVP time\n",
               c->d_vocab, 100 * share_flops, 100 * (ms[0] - ms_small[0]) / ms[0],
               100 * (ms[2] - ms_small[2]) / ms[2]);
    run_free(&r);
    return 1;
}

int main(int argc, char **argv) {
    int runs = 3, do_gc = 1;
    const char *which = "both", *python = getenv("POLCA_TORCH_PYTHON");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-gc")) do_gc = 0;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) which = argv[++i];
        else if (!strcmp(argv[i], "--torch-python") && i + 1 < argc) python = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--model pythia|llama|both] [--runs N] [--no-gc] "
                            "[--torch-python PATH]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 15) runs = 3;
    if (python && !*python) python = NULL;
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line as it is measured */
    polca_context *ctx = NULL;
    polca_options *opt = NULL;
    polca_options_create(&opt);
    polca_options_set_string(opt, "backend", "cpu");
    if (polca_context_create(opt, &ctx)) {
        fprintf(stderr, "context: %s\n", polca_last_error());
        return 1;
    }
    polca_options_destroy(opt);
    printf("pretrained-architecture benchmark: %s\n", ctx->device_text);
    const double gem = bench_sgemm_rate(2048, 2048, 2048, 3);
    printf("sgemm ceiling: %.1f GFLOP/s at 2048^3\n", gem);
    int ok = 1;
    if (!strcmp(which, "pythia") || !strcmp(which, "both"))
        ok &= bench_model(ctx->be, ctx->be_state, pythia(), runs, do_gc, python, gem);
    if (!strcmp(which, "llama") || !strcmp(which, "both"))
        ok &= bench_model(ctx->be, ctx->be_state, llama(), runs, do_gc, python, gem);
    polca_context_destroy(ctx);
    return ok ? 0 : 1;
}
