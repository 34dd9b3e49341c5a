/* src/hdbscan_distance.c - exact pair distances for HDBSCAN through the
 * dispatch table (polca_backend.distance_pairs).
 *
 * A backend that lacks the entry leaves the work to the CPU backend's
 * implementation, which reads host memory and needs no state.
 * A backend with device memory gets one upload of the points and the pair
 * lists in chunks. */
#include <string.h>

#include "cpu/distance.h"
#include "hdbscan.h"

#define DEVICE_CHUNK ((int64_t)1 << 20) /* pairs per device round trip */

int32_t polca__hdb_dist_open(polca__hdb_dist *dd, const polca_context *ctx, int64_t n,
                             int64_t d, const float *x, int64_t ldx, int force_copy) {
    memset(dd, 0, sizeof *dd);
    dd->d = d;
    dd->ldx = ldx;
    if (POLCA_BACKEND_HAS(ctx->be, distance_pairs)) {
        dd->be = ctx->be;
        dd->state = ctx->be_state;
    } else {
        dd->be = &polca__cpu_backend;
        dd->state = NULL; /* the CPU entry ignores its state */
    }
    dd->copy = force_copy || dd->be != &polca__cpu_backend;
    if (!dd->copy) {
        dd->x = x;
        return POLCA_OK;
    }
    /* Device path: the points once, then reusable pair/out buffers. */
    size_t bytes;
    if (!polca__mul_size((size_t)n, (size_t)ldx * sizeof(float), &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "hdbscan: points too large to copy");
    void *p = NULL;
    int32_t st = dd->be->alloc(dd->state, bytes, &p);
    if (st) return st;
    dd->x_dev = p;
    dd->x = p;
    st = dd->be->upload(dd->state, p, x, bytes);
    if (st) {
        polca__hdb_dist_close(dd);
        return st;
    }
    dd->cap = DEVICE_CHUNK;
    st = dd->be->alloc(dd->state, (size_t)(2 * dd->cap) * sizeof(int64_t), &p);
    if (!st) {
        dd->pairs_dev = p;
        st = dd->be->alloc(dd->state, (size_t)dd->cap * sizeof(double), &p);
        if (!st) dd->out_dev = p;
    }
    if (st) polca__hdb_dist_close(dd);
    return st;
}

int32_t polca__hdb_dist_pairs(polca__hdb_dist *dd, int64_t n_pairs, const int64_t *pa,
                              const int64_t *pb, double *out) {
    if (!dd->copy)
        return dd->be->distance_pairs(dd->state, dd->d, dd->x, dd->ldx, n_pairs, pa, pb, out);
    for (int64_t p0 = 0; p0 < n_pairs; p0 += dd->cap) {
        int64_t m = n_pairs - p0 < dd->cap ? n_pairs - p0 : dd->cap;
        size_t ib = (size_t)m * sizeof(int64_t);
        int32_t st = dd->be->upload(dd->state, dd->pairs_dev, pa + p0, ib);
        if (!st) st = dd->be->upload(dd->state, dd->pairs_dev + dd->cap, pb + p0, ib);
        if (!st)
            st = dd->be->distance_pairs(dd->state, dd->d, dd->x, dd->ldx, m, dd->pairs_dev,
                                        dd->pairs_dev + dd->cap, dd->out_dev);
        if (!st) st = dd->be->download(dd->state, out + p0, dd->out_dev, (size_t)m * sizeof(double));
        if (st) return st;
    }
    return POLCA_OK;
}

void polca__hdb_dist_close(polca__hdb_dist *dd) {
    if (dd->copy && dd->be) {
        dd->be->release(dd->state, dd->x_dev);
        dd->be->release(dd->state, dd->pairs_dev);
        dd->be->release(dd->state, dd->out_dev);
    }
    memset(dd, 0, sizeof *dd);
}
