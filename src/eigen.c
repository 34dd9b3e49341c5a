/*
 * src/eigen.c - polca_eigen_solve: the public face of the eigensolver
 * (lanczos.c) for an operator the host gives as a callback on host memory.
 *
 * On the CPU backend, backend memory is host memory and the callback sees
 * the Krylov vectors directly; on a device backend each product goes
 * through two host staging rows (download x, callback, upload y).
 * Results are staged and copied out only on POLCA_OK or
 * POLCA_ERR_NOT_CONVERGED, so every other failure leaves the caller's
 * buffers untouched.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eigen.h"

typedef struct host_op {
    polca_context *ctx;
    polca_operator_fn fn;
    void *user;
    int64_t n;
    float *xh, *yh; /* host staging [n] each; NULL on the CPU backend */
    int64_t calls;
} host_op;

static int32_t host_apply(void *u, const float *x, float *y) {
    host_op *h = u;
    const polca_backend *be = h->ctx->be;
    void *bs = h->ctx->be_state;
    size_t bytes = (size_t)h->n * sizeof(float);
    int32_t st;
    h->calls++;
    if (h->xh && (st = be->download(bs, h->xh, x, bytes))) return st;
    int32_t rc = h->fn(h->user, h->xh ? h->xh : x, h->yh ? h->yh : y);
    if (rc != 0) {
        int32_t status = rc < 0 && rc >= POLCA_ERR_INTERNAL ? rc : POLCA_ERR_CANCELLED;
        return polca__fail(status,
                           "polca_eigen_solve: the operator callback 'apply' returned %d at "
                           "product %lld",
                           (int)rc, (long long)h->calls);
    }
    if (h->yh && (st = be->upload(bs, y, h->yh, bytes))) return st;
    return POLCA_OK;
}

static const polca__option_spec *option_spec(void) { return polca__eigen_option_names; }

/* Checks the host start block: finite, no zero row. */
static int32_t check_start(const float *start, int64_t n_start, int64_t n) {
    for (int64_t r = 0; r < n_start; r++) {
        const float *x = start + r * n;
        int nonzero = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(x[i]))
                return polca__fail(POLCA_ERR_NOT_FINITE,
                                   "polca_eigen_solve: argument 'start' row %lld element "
                                   "%lld is not finite",
                                   (long long)r, (long long)i);
            nonzero |= x[i] != 0.0f;
        }
        if (!nonzero)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "polca_eigen_solve: argument 'start' row %lld is zero",
                               (long long)r);
    }
    return POLCA_OK;
}

int32_t polca_eigen_solve(polca_context *ctx, int64_t n, polca_operator_fn apply, void *user,
                          int64_t k, const float *start, int64_t n_start,
                          const polca_options *options, double *out_values, float *out_vectors,
                          double *out_residuals, int32_t *out_converged,
                          int64_t *out_products) {
    static const char *fn = "polca_eigen_solve";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (n < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n' is %lld; must be >= 1",
                           fn, (long long)n);
    if (!apply) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'apply' is NULL", fn);
    if (k < 1 || k > n)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'k' is %lld; must be in 1..n (n = %lld)", fn,
                           (long long)k, (long long)n);
    if (!out_values)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out_values' is NULL", fn);
    if ((start == NULL) != (n_start == 0) || n_start < 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: arguments 'start' (%s) and 'n_start' (%lld) disagree: give "
                           "both or neither",
                           fn, start ? "set" : "NULL", (long long)n_start);
    if ((st = polca__options_check(options, option_spec(), fn))) return st;
    polca__eigen_opts o;
    if ((st = polca__eigen_parse(options, fn, n, k, &o))) return st;
    if (n_start > o.krylov_size)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_start' is %lld; at most krylov_size = %lld rows",
                           fn, (long long)n_start, (long long)o.krylov_size);
    size_t row_bytes = (size_t)n * sizeof(float), bytes;
    if (!polca__mul_size(row_bytes, (size_t)k, &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "%s: k x n overflows", fn);
    if (start && (st = check_start(start, n_start, n))) return st;

    const polca_backend *be = ctx->be;
    void *bs = ctx->be_state;
    int on_host = be == &polca__cpu_backend;
    host_op h = {ctx, apply, user, n, NULL, NULL, 0};
    polca__eigen_out out;
    memset(&out, 0, sizeof out);
    float *dstart = NULL;
    out.values = polca__calloc((size_t)k, sizeof(double), "eigenvalues");
    out.residuals = polca__calloc((size_t)k, sizeof(double), "residuals");
    out.converged = polca__calloc((size_t)k, sizeof(int32_t), "converged flags");
    if (!out.values || !out.residuals || !out.converged) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto done;
    }
    if (!on_host) {
        h.xh = polca__alloc(row_bytes, "operator staging");
        h.yh = polca__alloc(row_bytes, "operator staging");
        if (!h.xh || !h.yh) {
            st = POLCA_ERR_OUT_OF_MEMORY;
            goto done;
        }
    }
    if ((st = be->alloc(bs, bytes, (void **)&out.vectors))) goto done;
    if (start) {
        size_t sbytes = row_bytes * (size_t)n_start; /* <= krylov_size rows: no overflow */
        if ((st = be->alloc(bs, sbytes, (void **)&dstart))) goto done;
        if ((st = be->upload(bs, dstart, start, sbytes))) goto done;
        o.start = dstart;
        o.n_start = n_start;
    }
    polca__linop op = {n, host_apply, &h};
    st = polca__eigen_solve(ctx, &op, &o, &out);
    if (st == POLCA_OK || st == POLCA_ERR_NOT_CONVERGED) {
        int32_t st2 = POLCA_OK;
        if (out_vectors) st2 = be->download(bs, out_vectors, out.vectors, bytes);
        if (!st2) st2 = be->sync(bs);
        if (st2) {
            st = st2;
            goto done;
        }
        memcpy(out_values, out.values, (size_t)k * sizeof(double));
        if (out_residuals) memcpy(out_residuals, out.residuals, (size_t)k * sizeof(double));
        if (out_converged) memcpy(out_converged, out.converged, (size_t)k * sizeof(int32_t));
        if (out_products) *out_products = out.products;
    }
done:
    be->release(bs, out.vectors);
    be->release(bs, dstart);
    free(out.values);
    free(out.residuals);
    free(out.converged);
    free(h.xh);
    free(h.yh);
    return st;
}
