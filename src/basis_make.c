/*
 * src/basis_make.c - the bases that need no model: random orthonormal,
 * axis-aligned (per-sample LCA), and host-supplied vectors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basis.h"
#include "prng.h"

static const polca__option_spec random_options[] = {{"seed", POLCA_OPT_INT}, {NULL, 0}};
static const polca__option_spec axis_options[] = {{NULL, 0}};
static const polca__option_spec vector_options[] = {{"rank_tol", POLCA_OPT_DOUBLE}, {NULL, 0}};

/* Checks shared by the creators: ctx, sizes, out. */
static int32_t check_common(polca_context *ctx, int64_t n_params, int64_t k, void *out,
                            const char *fn) {
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (n_params < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_params' is %lld; must be >= 1", fn,
                           (long long)n_params);
    if (k < 1 || k > n_params)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'k' is %lld; must be in 1..n_params (%lld)", fn,
                           (long long)k, (long long)n_params);
    size_t bytes;
    if ((uint64_t)n_params > SIZE_MAX / sizeof(float) ||
        !polca__mul_size((size_t)k * sizeof(float), (size_t)n_params, &bytes))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: arguments 'k' x 'n_params' = %lld x %lld floats are too large", fn,
                           (long long)k, (long long)n_params);
    return POLCA_OK;
}

static polca__basis_meta plain_meta(int32_t kind, int64_t index) {
    polca__basis_meta m;
    m.kind = kind;
    m.converged = 1;
    m.source_step = -1;
    m.source_index = index;
    m.eigenvalue = NAN;
    m.residual = NAN;
    return m;
}

int32_t polca_basis_create_random(polca_context *ctx, int64_t n_params, int64_t k,
                                  const polca_options *options, polca_basis **out) {
    static const char *fn = "polca_basis_create_random";
    polca__clear_error();
    int32_t st = check_common(ctx, n_params, k, out, fn);
    if (st || (st = polca__options_check(options, random_options, fn))) return st;
    uint64_t seed = (uint64_t)polca__options_int(options, "seed", 0);
    polca__prng g;
    polca__prng_seed(&g, seed, 0x52616e646f6dull /* "Random" */);
    const polca_backend *be = ctx->be;
    void *bs = ctx->be_state;
    polca_basis *b = NULL;
    float *host = polca__alloc((size_t)n_params * sizeof(float), "random vector");
    float *dev = NULL;
    if (!host) return POLCA_ERR_OUT_OF_MEMORY;
    if ((st = be->alloc(bs, (size_t)n_params * sizeof(float), (void **)&dev))) goto done;
    if ((st = polca__basis_new(ctx, n_params, k, &b))) goto done;
    for (int64_t i = 0; i < k && !st; i++) {
        polca__basis_meta m = plain_meta(POLCA_BASIS_KIND_RANDOM, i);
        /* A Gaussian draw inside the span so far has probability zero; a
         * draw that keeps too little of itself is redrawn. */
        for (int attempt = 0;; attempt++) {
            for (int64_t j = 0; j < n_params; j++) host[j] = (float)polca__prng_normal(&g);
            if ((st = be->upload(bs, dev, host, (size_t)n_params * sizeof(float)))) break;
            st = polca__basis_append(b, dev, 1, &m, 1e-3, fn, "random draw", i);
            if (st != POLCA_ERR_RANK_DEFICIENT) break;
            if (attempt == 20) {
                st = polca__fail(POLCA_ERR_INTERNAL, "%s: 20 random draws for vector %lld "
                                 "were all dependent", fn, (long long)i);
                break;
            }
        }
    }
    if (!st) st = be->sync(bs);
done:
    free(host);
    be->release(bs, dev);
    if (st) {
        polca_basis_destroy(b);
        return st;
    }
    *out = b;
    return POLCA_OK;
}

/* Heap of the k best parameter indices, the worst at the root. */
static int axis_better(const float *theta, int64_t a, int64_t b) {
    float fa = fabsf(theta[a]), fb = fabsf(theta[b]);
    return fa > fb || (fa == fb && a < b);
}

static void sift_down(const float *theta, int64_t *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < n && axis_better(theta, h[worst], h[l])) worst = l;
        if (r < n && axis_better(theta, h[worst], h[r])) worst = r;
        if (worst == i) return;
        int64_t t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

int32_t polca_basis_create_axis(polca_context *ctx, int64_t n_params, const float *theta,
                                int64_t k, const polca_options *options, polca_basis **out) {
    static const char *fn = "polca_basis_create_axis";
    polca__clear_error();
    int32_t st = check_common(ctx, n_params, k, out, fn);
    if (st || (st = polca__options_check(options, axis_options, fn))) return st;
    if (!theta) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'theta' is NULL", fn);
    for (int64_t j = 0; j < n_params; j++)
        if (!isfinite(theta[j]))
            return polca__fail(POLCA_ERR_NOT_FINITE, "%s: theta[%lld] is not finite", fn,
                               (long long)j);
    int64_t *heap = polca__alloc((size_t)k * sizeof *heap, "axis selection");
    float *host = polca__calloc((size_t)n_params, sizeof(float), "axis vector");
    if (!heap || !host) {
        free(heap), free(host);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    /* Selection: O(P log k). */
    for (int64_t j = 0; j < k; j++) heap[j] = j;
    for (int64_t i = k / 2; i-- > 0;) sift_down(theta, heap, k, i);
    for (int64_t j = k; j < n_params; j++)
        if (axis_better(theta, j, heap[0])) {
            heap[0] = j;
            sift_down(theta, heap, k, 0);
        }
    /* Heap sort: pop the worst to the back, leaving best-first order. */
    for (int64_t n = k; n > 1; n--) {
        int64_t t = heap[0];
        heap[0] = heap[n - 1];
        heap[n - 1] = t;
        sift_down(theta, heap, n - 1, 0);
    }
    const polca_backend *be = ctx->be;
    void *bs = ctx->be_state;
    polca_basis *b = NULL;
    float *dev = NULL;
    if ((st = be->alloc(bs, (size_t)n_params * sizeof(float), (void **)&dev))) goto done;
    if ((st = polca__basis_new(ctx, n_params, k, &b))) goto done;
    for (int64_t i = 0; i < k && !st; i++) {
        int64_t j = heap[i];
        polca__basis_meta m = plain_meta(POLCA_BASIS_KIND_AXIS, j);
        host[j] = 1.0f;
        st = be->upload(bs, dev, host, (size_t)n_params * sizeof(float));
        host[j] = 0.0f;
        /* Distinct unit vectors are orthonormal exactly: appended as they are. */
        if (!st) st = polca__basis_append(b, dev, 1, &m, 0.0, fn, "axis", j);
    }
    if (!st) st = be->sync(bs);
done:
    free(heap);
    free(host);
    be->release(bs, dev);
    if (st) {
        polca_basis_destroy(b);
        return st;
    }
    *out = b;
    return POLCA_OK;
}

int32_t polca_basis_create_from_vectors(polca_context *ctx, int64_t n_params, int64_t k,
                                        const float *vectors, const polca_options *options,
                                        polca_basis **out) {
    static const char *fn = "polca_basis_create_from_vectors";
    polca__clear_error();
    int32_t st = check_common(ctx, n_params, k, out, fn);
    if (st || (st = polca__options_check(options, vector_options, fn))) return st;
    if (!vectors)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'vectors' is NULL", fn);
    double rank_tol = polca__options_double(options, "rank_tol", 1e-4);
    if (!(rank_tol > 0.0 && rank_tol < 1.0))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'rank_tol' is %g; must be in (0, 1)", fn, rank_tol);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n_params; j++)
            if (!isfinite(vectors[i * n_params + j]))
                return polca__fail(POLCA_ERR_NOT_FINITE,
                                   "%s: vector %lld element %lld is not finite", fn,
                                   (long long)i, (long long)j);
    size_t bytes;
    if (!polca__mul_size((size_t)k * sizeof(float), (size_t)n_params, &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "%s: k x n_params overflows", fn);
    polca__basis_meta *meta = polca__alloc((size_t)k * sizeof *meta, "basis metadata");
    if (!meta) return POLCA_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < k; i++) meta[i] = plain_meta(POLCA_BASIS_KIND_HOST, i);
    const polca_backend *be = ctx->be;
    void *bs = ctx->be_state;
    polca_basis *b = NULL;
    float *dev = NULL;
    if ((st = be->alloc(bs, bytes, (void **)&dev))) goto done;
    if ((st = be->upload(bs, dev, vectors, bytes))) goto done;
    if ((st = polca__basis_new(ctx, n_params, k, &b))) goto done;
    st = polca__basis_append(b, dev, k, meta, rank_tol, fn, "vector", 0);
    if (!st) st = be->sync(bs);
done:
    free(meta);
    be->release(bs, dev);
    if (st) {
        polca_basis_destroy(b);
        return st;
    }
    *out = b;
    return POLCA_OK;
}
