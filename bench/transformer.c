/*
 * bench/transformer.c - the built-in transformer's CPU kernels at the
 * reference size, against PyTorch on the same model, data and threads, and
 * against the sgemm rate measured in the same run.
 *
 *   build/bench/transformer [--no-torch] [--no-gc] [--act gelu|gelu_new|relu] [--runs N]
 *   (--no-gc skips the longest operation, for quick experiments)
 *
 * Run it through bench/transformer.sh (make bench), which sets
 * OPENBLAS_NUM_THREADS=2 and OPENBLAS_CORETYPE=SkylakeX. Reference size:
 * 2 layers, d_model 128, 4 heads (d_head 32), d_mlp 512, vocab 14, n_ctx 12,
 * 1250 sequences, every position but the last scored (13750 samples),
 * K = 16 directions.
 *
 * FLOP counts (ours, multiply-add = 2): F = forward GEMM and attention
 * flops, per row 2 [L (3 D HE + HE D + 2 D M) + D V] + L 2 HE (T + 1)
 * (causal scores and values, half the square); gradient 3F (forward, dx,
 * dW); HVP 8F (forward 1, tangent 2, dx 1, dx' 2, dW' 2); g+c for K
 * directions (1 + 4K) F (tangent 2 and second order 2 per direction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "internal.h"
#include "transformer.h"

/* PyTorch in a child process that times one operation per request, so the
 * two sides of each comparison run back to back (the machine is shared and
 * its load drifts). Protocol: the child prints "ready"; we write an
 * operation name per line, it answers "<name> <median ms>". */
typedef struct torch_proc {
    pid_t pid;
    FILE *to, *from;
} torch_proc;

static int torch_start(torch_proc *tp, const char *dir, const char *act, int K) {
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char cmd[1024];
    /* its stderr (torch's import chatter) goes to DIR/torch.log, shown on failure */
    snprintf(cmd, sizeof cmd, "exec %s bench/transformer_torch.py %s %s %d 2>%s/torch.log", py, dir,
             act, K, dir);
    int to[2], from[2];
    if (pipe(to) || pipe(from)) return 0;
    tp->pid = fork();
    if (tp->pid < 0) return 0;
    if (tp->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(to[0]), close(from[1]);
    tp->to = fdopen(to[1], "w");
    tp->from = fdopen(from[0], "r");
    char line[256];
    return tp->to && tp->from && fgets(line, sizeof line, tp->from) && !strncmp(line, "ready", 5);
}

/* Median ms of `op` in torch, or 0 when the child failed. */
static double torch_time(torch_proc *tp, const char *op) {
    if (!tp->to) return 0;
    fprintf(tp->to, "%s\n", op);
    fflush(tp->to);
    char line[256], name[64];
    double v;
    if (!fgets(line, sizeof line, tp->from) || sscanf(line, "%63s %lf", name, &v) != 2 ||
        strcmp(name, op))
        return 0;
    return v;
}

static void torch_stop(torch_proc *tp) {
    if (tp->to) fclose(tp->to); /* EOF: the child exits */
    if (tp->from) fclose(tp->from);
    if (tp->pid > 0) waitpid(tp->pid, NULL, 0);
}

static int write_file(const char *dir, const char *name, const void *data, size_t bytes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, bytes, f) == bytes;
    return fclose(f) == 0 && ok;
}

int main(int argc, char **argv) {
    int use_torch = 1, runs = 5, do_gc = 1;
    const char *act = "gelu";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-torch")) use_torch = 0;
        else if (!strcmp(argv[i], "--no-gc")) do_gc = 0;
        else if (!strcmp(argv[i], "--act") && i + 1 < argc) act = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--no-torch] [--no-gc] [--act gelu|gelu_new|relu] [--runs N]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 15) runs = 5;
    const int act_id = !strcmp(act, "relu") ? POLCA__ACT_RELU
                       : !strcmp(act, "gelu_new") ? POLCA__ACT_GELU_NEW : POLCA__ACT_GELU;
    const polca__tf_config cfg = polca__tf_config_basic(2, 128, 4, 32, 512, 14, 12, act_id);
    const int64_t S = 1250, T = cfg.n_ctx, K = 16;
    polca__tf_offsets o;
    if (polca__tf_check_config(&cfg)) return 1;
    polca__tf_offsets_of(&cfg, &o);
    const int64_t P = o.n_params, N = S * (T - 1);

    polca_context *ctx = NULL;
    polca_options *opt = NULL;
    polca_options_create(&opt);
    polca_options_set_string(opt, "backend", "cpu");
    if (polca_context_create(opt, &ctx)) {
        fprintf(stderr, "context: %s\n", polca_last_error());
        return 1;
    }
    polca_options_destroy(opt);
    const polca_backend *be = ctx->be;
    void *st = ctx->be_state;

    float *theta = malloc((size_t)P * 4), *v = malloc((size_t)P * 4), *dirs = malloc((size_t)(K * P) * 4);
    float *losses = malloc((size_t)N * 4), *grad = malloc((size_t)P * 4), *hv = malloc((size_t)P * 4);
    float *g = malloc((size_t)(K * N) * 4), *c = malloc((size_t)(K * N) * 4);
    int32_t *tokens = malloc((size_t)(S * T) * 4);
    uint8_t *mask = malloc((size_t)(S * T));
    polca__tf_init(&cfg, 1, theta);
    unsigned long long s = 99;
    for (int64_t i = 0; i < P; i++) theta[i] += 0.02f * bench_uniform(&s), v[i] = bench_uniform(&s);
    for (int64_t i = 0; i < K * P; i++) dirs[i] = bench_uniform(&s);
    for (int64_t i = 0; i < S * T; i++) {
        tokens[i] = (int32_t)((bench_uniform(&s) + 1.0f) * 7.0f) % 14;
        mask[i] = (i % T) + 1 < T;
    }

    printf("transformer benchmark: %s\n", ctx->device_text);
    printf("model: 2 layers, d_model 128, 4 heads x 32, d_mlp 512 (%s), vocab 14, n_ctx 12; "
           "P = %lld; %lld sequences, N = %lld samples; K = %lld; median of %d runs\n",
           act, (long long)P, (long long)S, (long long)N, (long long)K, runs);

    const double gem = bench_sgemm_rate(2048, 2048, 2048, 3);
    const double gem_model = bench_sgemm_rate(4096, 512, 128, 5);
    printf("sgemm ceiling: %.1f GFLOP/s at 2048^3, %.1f GFLOP/s at 4096x512x128 (an MLP GEMM)\n",
           gem, gem_model);

    /* FLOPs (see header) */
    const double D = 128, HE = 128, M = 512, V = 14, L = 2;
    const double F = N / (double)(T - 1) * T *
                     (2 * (L * (3 * D * HE + HE * D + 2 * D * M) + D * V) + L * 2 * HE * (T + 1));
    const double flops[4] = {F, 3 * F, 8 * F, (1 + 4 * K) * F};

    torch_proc tp = {0, NULL, NULL};
    char dir[] = "/tmp/polca_bench_XXXXXX";
    const char *files[] = {"theta.f32", "v.f32", "dirs.f32", "tokens.i32"};
    int have_dir = 0;
    if (use_torch) {
        have_dir = mkdtemp(dir) != NULL;
        if (!(have_dir && write_file(dir, files[0], theta, (size_t)P * 4) &&
              write_file(dir, files[1], v, (size_t)P * 4) &&
              write_file(dir, files[2], dirs, (size_t)(K * P) * 4) &&
              write_file(dir, files[3], tokens, (size_t)(S * T) * 4) &&
              torch_start(&tp, dir, act, (int)K))) {
            printf("(PyTorch comparison unavailable)\n");
            torch_stop(&tp);
            tp.to = NULL, tp.from = NULL, tp.pid = 0;
        }
    }

    /* each operation: ours (median of runs), then torch's right after */
    const char *ops[4] = {"forward", "gradient", "hvp", "gc"};
    double ms[4] = {0, 0, 0, 0}, torch_ms[4] = {0, 0, 0, 0};
    double mean;
    for (int i = 0; i < (do_gc ? 4 : 3); i++) {
        const int n = i == 3 ? (runs < 3 ? runs : 3) : runs; /* g+c: at most 3 runs */
        double t[16];
        for (int r = 0; r < n; r++) {
            const double t0 = bench_now();
            int32_t bad = i == 0   ? be->tf_losses(st, &cfg, theta, S, tokens, mask, losses)
                          : i == 1 ? be->tf_grad(st, &cfg, theta, S, tokens, mask, &mean, grad)
                          : i == 2 ? be->tf_hvp(st, &cfg, theta, S, tokens, mask, v, hv)
                                   : be->tf_dirderivs(st, &cfg, theta, S, tokens, mask, K, dirs,
                                                      NULL, g, c);
            if (bad) goto fail;
            t[r] = bench_now() - t0;
        }
        ms[i] = 1e3 * bench_median(t, n);
        torch_ms[i] = torch_time(&tp, ops[i]);
    }
    torch_stop(&tp);
    const int torch_ok = torch_ms[0] > 0;
    if (have_dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/torch.log", dir);
        FILE *log = use_torch && !torch_ok ? fopen(path, "r") : NULL;
        if (log) { /* why PyTorch failed */
            char line[512];
            while (fgets(line, sizeof line, log)) fputs(line, stdout);
            fclose(log);
        }
        unlink(path);
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    const char *names[4] = {"forward (losses)", "gradient", "HVP", "g+c, K=16"};
    printf("\n%-18s %10s %9s %8s %10s %12s %9s\n", "operation", "ms", "GFLOP/s", "%sgemm", "x forward",
           "PyTorch ms", "speedup");
    for (int i = 0; i < (do_gc ? 4 : 3); i++) {
        const double rate = flops[i] / (ms[i] * 1e-3) * 1e-9;
        printf("%-18s %10.1f %9.1f %7.0f%% %10.2f", names[i], ms[i], rate, 100 * rate / gem,
               ms[i] / ms[0]);
        if (torch_ok && torch_ms[i] > 0) printf(" %12.1f %8.2fx", torch_ms[i], torch_ms[i] / ms[i]);
        printf("\n");
    }
    if (do_gc) {
        const double per_dir = (ms[3] - ms[0]) / ms[0] / K;
        printf("\ng+c for K=16: %.2f forward passes in all, %.2f per direction on one shared primal;\n"
               "K separate second-order forward passes (each with its primal) would cost about\n"
               "%.1f forward passes (%.2fx ours)\n",
               ms[3] / ms[0], per_dir, K * (1 + per_dir), K * (1 + per_dir) / (ms[3] / ms[0]));
    }
    printf("FLOPs per op (ours): forward F = %.2f GFLOP, gradient 3F, HVP 8F, g+c (1+4K)F\n", F * 1e-9);
    polca_context_destroy(ctx);
    return 0;
fail:
    fprintf(stderr, "kernel failed: %s\n", polca_last_error());
    return 1;
}
