/*
 * src/basis.c - the polca_basis handle: storage in backend memory,
 * appending with orthonormalization, dropping, queries.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basis.h"

int32_t polca__basis_new(polca_context *ctx, int64_t p, int64_t capacity, polca_basis **out) {
    if (capacity < 1) capacity = 1;
    size_t bytes;
    if (p < 1 || !polca__mul_size((size_t)capacity * sizeof(float), (size_t)p, &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "basis of %lld x %lld floats overflows",
                           (long long)capacity, (long long)p);
    polca_basis *b = polca__calloc(1, sizeof *b, "polca_basis");
    if (!b) return POLCA_ERR_OUT_OF_MEMORY;
    b->meta = polca__calloc((size_t)capacity, sizeof *b->meta, "basis metadata");
    if (!b->meta) {
        free(b);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    int32_t st = ctx->be->alloc(ctx->be_state, bytes, (void **)&b->rows);
    if (st) {
        free(b->meta);
        free(b);
        return st;
    }
    b->head.magic = POLCA_MAGIC_BASIS;
    b->head.ctx = ctx;
    b->p = p;
    b->capacity = capacity;
    *out = b;
    return POLCA_OK;
}

/* Makes room for `need` rows (doubling); K and the rows are kept. */
static int32_t grow(polca_basis *b, int64_t need) {
    if (need <= b->capacity) return POLCA_OK;
    int64_t cap = b->capacity * 2 > need ? b->capacity * 2 : need;
    const polca_backend *be = b->head.ctx->be;
    void *bs = b->head.ctx->be_state;
    size_t bytes;
    if (!polca__mul_size((size_t)cap * sizeof(float), (size_t)b->p, &bytes))
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "basis of %lld x %lld floats overflows",
                           (long long)cap, (long long)b->p);
    polca__basis_meta *meta = realloc(b->meta, (size_t)cap * sizeof *meta);
    if (!meta)
        return polca__fail(POLCA_ERR_OUT_OF_MEMORY, "out of memory growing basis metadata");
    b->meta = meta;
    float *rows = NULL;
    int32_t st = be->alloc(bs, bytes, (void **)&rows);
    if (st) return st;
    if (b->k > 0 && (st = be->copy(bs, rows, b->rows, (size_t)b->k * (size_t)b->p * sizeof(float)))) {
        be->release(bs, rows);
        return st;
    }
    be->release(bs, b->rows);
    b->rows = rows;
    b->capacity = cap;
    return POLCA_OK;
}

int32_t polca__basis_append(polca_basis *b, const float *rows, int64_t count,
                            const polca__basis_meta *meta, double rank_tol, const char *fn,
                            const char *what, int64_t label_base) {
    if (count <= 0) return POLCA_OK;
    const polca_backend *be = b->head.ctx->be;
    void *bs = b->head.ctx->be_state;
    int32_t st = grow(b, b->k + count);
    if (st) return st;
    float *dst = b->rows + b->k * b->p;
    if ((st = be->copy(bs, dst, rows, (size_t)count * (size_t)b->p * sizeof(float)))) return st;
    if (rank_tol > 0.0) {
        double *kept = polca__calloc((size_t)count, sizeof *kept, "basis append");
        if (!kept) return POLCA_ERR_OUT_OF_MEMORY;
        st = be->orthonormalize(bs, b->p, b->rows, b->k, dst, count, rank_tol, kept);
        for (int64_t i = 0; !st && i < count; i++)
            if (!(kept[i] >= rank_tol))
                st = polca__fail(POLCA_ERR_RANK_DEFICIENT,
                                 "%s: %s %lld is linearly dependent on the vectors before it: "
                                 "after removing its components along them it keeps %.3g of "
                                 "its norm (rank_tol %g)",
                                 fn, what, (long long)(label_base + i), kept[i], rank_tol);
        free(kept);
        if (st) return st;
    }
    memcpy(b->meta + b->k, meta, (size_t)count * sizeof *meta);
    b->k += count;
    return POLCA_OK;
}

int32_t polca__basis_load_rows(const polca_basis *b, int64_t first, int64_t count, float *dst) {
    if (first < 0 || count < 0 || first + count > b->k)
        return polca__fail(POLCA_ERR_INTERNAL, "basis rows %lld..%lld out of range (K = %lld)",
                           (long long)first, (long long)(first + count), (long long)b->k);
    if (count == 0) return POLCA_OK;
    return b->head.ctx->be->copy(b->head.ctx->be_state, dst, b->rows + first * b->p,
                                 (size_t)count * (size_t)b->p * sizeof(float));
}

const float *polca__basis_resident(const polca_basis *b) { return b->rows; }

int32_t polca__basis_remove(polca_basis *b, const int64_t *indices, int64_t count,
                            const char *fn) {
    if (count < 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'count' is %lld", fn,
                           (long long)count);
    if (count == 0) return POLCA_OK;
    if (count > b->k)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'count' is %lld; the basis has %lld vectors", fn,
                           (long long)count, (long long)b->k);
    if (!indices)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'indices' is NULL", fn);
    unsigned char *mark = polca__calloc((size_t)b->k + 1, 1, "drop marks");
    if (!mark) return POLCA_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < count; i++) {
        int64_t j = indices[i];
        if (j < 0 || j >= b->k || mark[j]) {
            free(mark);
            if (j < 0 || j >= b->k)
                return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                                   "%s: indices[%lld] = %lld is out of range 0..%lld", fn,
                                   (long long)i, (long long)j, (long long)b->k - 1);
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: indices[%lld] = %lld is given twice", fn, (long long)i,
                               (long long)j);
        }
        mark[j] = 1;
    }
    const polca_backend *be = b->head.ctx->be;
    void *bs = b->head.ctx->be_state;
    int64_t dst = 0;
    int32_t st = POLCA_OK;
    for (int64_t i = 0; i < b->k && !st; i++) {
        if (mark[i]) continue;
        if (dst != i) {
            st = be->copy(bs, b->rows + dst * b->p, b->rows + i * b->p,
                          (size_t)b->p * sizeof(float));
            b->meta[dst] = b->meta[i];
        }
        dst++;
    }
    free(mark);
    if (st) return st; /* a device copy failed: the basis is not trustworthy */
    b->k = dst;
    return POLCA_OK;
}

/* ---- public ---- */

void polca_basis_destroy(polca_basis *b) {
    if (!b || b->head.magic != POLCA_MAGIC_BASIS) return;
    b->head.ctx->be->release(b->head.ctx->be_state, b->rows);
    free(b->meta);
    b->head.magic = 0;
    free(b);
}

int32_t polca_basis_count(const polca_basis *b, int64_t *out_k) {
    polca__clear_error();
    int32_t st = polca__check_handle(b, POLCA_MAGIC_BASIS, "polca_basis_count", "basis",
                                     "polca_basis");
    if (st) return st;
    if (!out_k)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_basis_count: argument 'out_k' is NULL");
    *out_k = b->k;
    return POLCA_OK;
}

int32_t polca_basis_n_params(const polca_basis *b, int64_t *out_n_params) {
    polca__clear_error();
    int32_t st = polca__check_handle(b, POLCA_MAGIC_BASIS, "polca_basis_n_params", "basis",
                                     "polca_basis");
    if (st) return st;
    if (!out_n_params)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_basis_n_params: argument 'out_n_params' is NULL");
    *out_n_params = b->p;
    return POLCA_OK;
}

static int32_t check_index(const polca_basis *b, int64_t i, const char *fn) {
    if (i < 0 || i >= b->k)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'i' is %lld; the basis has %lld vectors", fn,
                           (long long)i, (long long)b->k);
    return POLCA_OK;
}

int32_t polca_basis_get_vector(const polca_basis *b, int64_t i, float *out, int64_t out_len) {
    static const char *fn = "polca_basis_get_vector";
    polca__clear_error();
    int32_t st = polca__check_handle(b, POLCA_MAGIC_BASIS, fn, "basis", "polca_basis");
    if (st || (st = check_index(b, i, fn))) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (out_len != b->p)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'out_len' is %lld; the vectors have %lld parameters",
                           fn, (long long)out_len, (long long)b->p);
    const polca_backend *be = b->head.ctx->be;
    void *bs = b->head.ctx->be_state;
    st = be->download(bs, out, b->rows + i * b->p, (size_t)b->p * sizeof(float));
    if (!st) st = be->sync(bs);
    return st;
}

int32_t polca_basis_get_info(const polca_basis *b, int64_t i, int32_t *out_kind,
                             int64_t *out_source_step, int64_t *out_source_index,
                             double *out_eigenvalue, double *out_residual,
                             int32_t *out_converged) {
    static const char *fn = "polca_basis_get_info";
    polca__clear_error();
    int32_t st = polca__check_handle(b, POLCA_MAGIC_BASIS, fn, "basis", "polca_basis");
    if (st || (st = check_index(b, i, fn))) return st;
    const polca__basis_meta *m = &b->meta[i];
    if (out_kind) *out_kind = m->kind;
    if (out_source_step) *out_source_step = m->source_step;
    if (out_source_index) *out_source_index = m->source_index;
    if (out_eigenvalue) *out_eigenvalue = m->eigenvalue;
    if (out_residual) *out_residual = m->residual;
    if (out_converged) *out_converged = m->converged;
    return POLCA_OK;
}

int32_t polca_basis_drop(polca_basis *b, const int64_t *indices, int64_t count) {
    static const char *fn = "polca_basis_drop";
    polca__clear_error();
    int32_t st = polca__check_handle(b, POLCA_MAGIC_BASIS, fn, "basis", "polca_basis");
    if (st) return st;
    return polca__basis_remove(b, indices, count, fn);
}
