/*
 * bench/eigen.c - the eigensolver on a Hessian-like spectrum (make bench).
 *
 * The operator is diagonal, y = D x, with n = 1,000,000 (the order of a
 * small transformer's parameter count): a few outliers 100 * 0.85^i over a
 * bulk in [-2, 5], the shape of a trained network's Hessian spectrum. For a
 * random start, Lanczos behaves the same on Q D Q^T for any orthogonal Q, so
 * the product counts are those of a dense operator with this spectrum.
 *
 * Reports, for k = 1 and k = 4 at tol 1e-5: products per converged pair
 * (cold on the perturbed spectrum: the top eigenvalue printed is that of the
 * unperturbed one, as scipy sees it), cold and warm (warm: starting from the eigenvectors of the spectrum
 * perturbed by 1e-3 relative, like consecutive checkpoints), and the
 * solver's own time per product (reorthogonalization, restarts) next to the
 * time of a streaming pass over one vector measured in the same run.
 * With an argument, writes the diagonal (float64) there for the scipy
 * comparison in bench/eigen.sh.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polca/polca.h"

#define N 1000000

typedef struct diag_op {
    const float *d;
    int64_t calls;
    double seconds;
} diag_op;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int32_t diag_apply(void *user, const float *x, float *y) {
    diag_op *o = user;
    double t0 = now();
    for (int64_t i = 0; i < N; i++) y[i] = o->d[i] * x[i];
    o->seconds += now() - t0;
    o->calls++;
    return 0;
}

static unsigned long long rng = 0x2545F4914F6CDD1DULL;
static double uniform(void) { /* [0, 1) */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv) {
    float *d = malloc(sizeof(float) * N), *d2 = malloc(sizeof(float) * N);
    float *vec = malloc(sizeof(float) * 4 * N), *vec2 = malloc(sizeof(float) * 4 * N);
    if (!d || !d2 || !vec || !vec2) return 1;
    for (int64_t i = 0; i < N; i++) {
        /* outliers at scattered positions, so no coordinate order helps */
        d[i] = (float)(-2.0 + 7.0 * uniform());
        d2[i] = d[i] * (float)(1.0 + 1e-3 * (2.0 * uniform() - 1.0));
    }
    for (int i = 0; i < 10; i++) {
        int64_t at = (int64_t)(i * 99991 + 17) % N;
        d[at] = (float)(100.0 * pow(0.85, i));
        d2[at] = d[at] * (float)(1.0 + 1e-3 * (2.0 * uniform() - 1.0));
    }
    if (argc > 1) {
        FILE *f = fopen(argv[1], "wb");
        if (!f) return 1;
        for (int64_t i = 0; i < N; i++) {
            double v = d[i];
            fwrite(&v, sizeof v, 1, f);
        }
        fclose(f);
    }
    polca_context *ctx = NULL;
    if (polca_context_create(NULL, &ctx)) {
        fprintf(stderr, "context: %s\n", polca_last_error());
        return 1;
    }
    const char *dev = "";
    polca_context_device(ctx, &dev);
    printf("eigen bench: n = %d, tol 1e-5, %s\n", N, dev);
    /* Reference cost of one streaming pass (y = D x) measured here. */
    diag_op probe = {d, 0, 0};
    for (int r = 0; r < 20; r++) diag_apply(&probe, vec, vec + N);
    double pass = probe.seconds / 20;
    polca_options *o = NULL;
    polca_options_create(&o);
    polca_options_set_double(o, "tol", 1e-5);
    for (int k = 1; k <= 4; k += 3) {
        double vals[4], top, res[4];
        int64_t p_cold = 0, p_warm = 0;
        diag_op a = {d, 0, 0}, b = {d2, 0, 0}, c = {d2, 0, 0};
        double t0 = now();
        int32_t s1 = polca_eigen_solve(ctx, N, diag_apply, &a, k, NULL, 0, o, vals, vec, res,
                                       NULL, NULL);
        double t1 = now();
        top = vals[0];
        int32_t s2 = polca_eigen_solve(ctx, N, diag_apply, &b, k, NULL, 0, o, vals, vec2, res,
                                       NULL, &p_cold);
        double t2 = now();
        int32_t s3 = polca_eigen_solve(ctx, N, diag_apply, &c, k, vec, k, o, vals, vec2, res,
                                       NULL, &p_warm);
        double t3 = now();
        if (s1 || s2 || s3) {
            fprintf(stderr, "solve failed: %s\n", polca_last_error());
            return 1;
        }
        (void)t1;
        printf("k=%d: top eigenvalue %.6f; products per converged pair (k verification "
               "products included): cold %.1f (%lld), warm %.1f (%lld), warm/cold %.2f\n",
               k, top, (double)p_cold / k, (long long)p_cold, (double)p_warm / k,
               (long long)p_warm, (double)p_warm / (double)p_cold);
        double over_cold = (t2 - t1 - b.seconds) / (double)p_cold;
        double over_warm = (t3 - t2 - c.seconds) / (double)p_warm;
        printf("k=%d: seconds cold %.3f, warm %.3f; solver time per product %.2f ms "
               "(cold), %.2f ms (warm) = %.1f / %.1f streaming passes of one vector "
               "(%.2f ms each)\n",
               k, t2 - t1, t3 - t2, 1e3 * over_cold, 1e3 * over_warm, over_cold / pass,
               over_warm / pass, 1e3 * pass);
    }
    polca_options_destroy(o);
    polca_context_destroy(ctx);
    free(d), free(d2), free(vec), free(vec2);
    return 0;
}
