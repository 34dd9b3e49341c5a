/*
 * bench/scaling.c - strong scaling over ranks (polca/comm.h) at the step-2
 * reference size (2 layers, d_model 128, 4 heads, d_mlp 512, vocab 14,
 * n_ctx 12, 1250 sequences): polca_trajectories_create (K = 16, 6
 * checkpoints: 3 per rank at 2 ranks, so the split itself is even) and
 * polca_basis_create_hessian (2 checkpoints, k = 2),
 * each at 1 rank and at 2 ranks, 1 thread per rank, measured in the same
 * run. Ranks are threads of this process with their own contexts, over the
 * in-process communicator of tests/thread_comm.h (what an MPI job does,
 * without MPI's transport). Printed: seconds and the parallel efficiency
 * t1 / (2 t2) (1.00 = perfect); for the basis per Hessian-vector product,
 * since the eigensolver may take a different number of products when the
 * sums are taken in another order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../tests/thread_comm.h"

enum { NSEQ = 1250, NCTX = 12, V = 14, D = 128, L = 2, DM = 512, T1 = 6, K = 16 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct job {
    int basis;            /* 0: decompose, 1: Hessian basis */
    double seconds[8];    /* per rank */
    int64_t products[8];  /* Hessian-vector products per rank */
    int32_t status[8];
} job;

static int32_t count_products(void *user, const char *stage, int64_t done, int64_t total,
                              double value) {
    (void)done, (void)total, (void)value;
    if (!strcmp(stage, "eigen")) ++*(int64_t *)user;
    return 0;
}

static void run(int32_t rank, polca_comm *comm, void *arg) {
    job *j = arg;
    polca_options *o = NULL;
    polca_context *ctx = one_thread_cpu_context();
    polca_model *m = NULL;
    polca_data *data = NULL;
    polca_checkpoints *series = NULL;
    if (comm) polca_context_set_comm(ctx, comm);
    polca_context_set_progress(ctx, count_products, &j->products[rank]);
    polca_options_create(&o);
    polca_options_set_int(o, "n_layers", L);
    polca_options_set_int(o, "d_model", D);
    polca_options_set_int(o, "n_heads", 4);
    polca_options_set_int(o, "d_mlp", DM);
    polca_options_set_int(o, "d_vocab", V);
    polca_options_set_int(o, "n_ctx", NCTX);
    polca_model_create_transformer(ctx, o, &m);
    polca_options_destroy(o);
    int32_t *tokens = malloc(sizeof(int32_t) * NSEQ * NCTX);
    for (int i = 0; i < NSEQ * NCTX; i++) tokens[i] = (i * 7 + i / 13) % V;
    polca_data_create_tokens(ctx, NSEQ, NCTX, tokens, NULL, &data);
    int64_t p = 0;
    polca_model_n_params(m, &p);
    float *theta = malloc(sizeof(float) * p);
    polca_model_init(m, 1, theta);
    polca_checkpoints_create(ctx, m, NULL, NULL, &series);
    for (int t = 0; t < T1; t++) {
        for (int64_t q = 0; q < p; q++) theta[q] += 1e-3f * (float)((q * 31 + t) % 17 - 8);
        polca_checkpoints_append(series, 100 * t, theta, p);
    }
    polca_basis *b = NULL;
    double t0 = now();
    if (j->basis) {
        polca_options_create(&o);
        polca_options_set_double(o, "tol", 1e-3);
        int64_t idx[2] = {0, T1 - 1};
        j->status[rank] = polca_basis_create_hessian(ctx, m, data, series, idx, 2, 2, o, &b);
        if (j->status[rank] == POLCA_ERR_NOT_CONVERGED) j->status[rank] = POLCA_OK;
        polca_options_destroy(o);
    } else {
        polca_trajectories *tr = NULL;
        polca_basis_create_random(ctx, p, K, NULL, &b);
        t0 = now();
        j->status[rank] = polca_trajectories_create(ctx, m, data, series, b, NULL, NULL, &tr);
        polca_trajectories_destroy(tr);
    }
    j->seconds[rank] = now() - t0;
    if (j->status[rank]) fprintf(stderr, "bench/scaling: rank %d: %s\n", rank, polca_last_error());
    polca_basis_destroy(b);
    polca_checkpoints_destroy(series);
    polca_data_destroy(data);
    polca_model_destroy(m);
    polca_context_destroy(ctx);
    free(tokens), free(theta);
}

/* Wall time of the job at `ranks` ranks: the slowest rank's. */
static double timed(job *j, int32_t ranks) {
    memset(j->seconds, 0, sizeof j->seconds);
    memset(j->products, 0, sizeof j->products);
    if (ranks == 1) {
        run(0, NULL, j);
    } else {
        thread_world *w = thread_world_new(ranks);
        thread_world_run(w, run, j);
        thread_world_free(w);
    }
    double worst = 0.0;
    for (int32_t r = 0; r < ranks; r++) {
        if (j->status[r]) exit(1);
        if (j->seconds[r] > worst) worst = j->seconds[r];
    }
    return worst;
}

int main(void) {
    printf("strong scaling at the reference size (1250 x 12 tokens, 2 layers, d_model 128), 1 "
           "thread per rank; ranks are threads over tests/thread_comm.h\n");
    job j = {0};
    double d1 = timed(&j, 1), d2 = timed(&j, 2);
    printf("decompose, K = %d, %d checkpoints: 1 rank %.2f s, 2 ranks %.2f s: speed-up %.2f, "
           "efficiency %.2f\n",
           K, T1, d1, d2, d1 / d2, d1 / (2 * d2));
    j.basis = 1;
    double b1 = timed(&j, 1);
    int64_t n1 = j.products[0];
    double b2 = timed(&j, 2);
    int64_t n2 = j.products[0];
    double per1 = b1 / (double)(n1 ? n1 : 1), per2 = b2 / (double)(n2 ? n2 : 1);
    printf("Hessian basis, 2 checkpoints, k = 2: 1 rank %.2f s (%lld products, %.1f ms each), "
           "2 ranks %.2f s (%lld products, %.1f ms each): efficiency per product %.2f\n",
           b1, (long long)n1, 1e3 * per1, b2, (long long)n2, 1e3 * per2, per1 / (2 * per2));
    return 0;
}
