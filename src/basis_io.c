/*
 * src/basis_io.c - saving and loading bases in the container format (file
 * kind POLCA__FILE_BASIS), and .npy export of the vectors.
 *
 * Layout of a basis file: header field BASIS_FIELD_DIMS (two little-endian
 * int64: K, P); six metadata records of K elements each, their record step
 * naming them (-1 kind i32, -2 converged i32, -3 source step i64, -4 source
 * index i64, -5 eigenvalue f64, -6 residual f64); then one float32 record of
 * P elements per vector, its record step the vector's position 0..K-1.
 * One record per vector keeps the host memory of save and load at O(P):
 * K x P need not fit in host memory (the vectors live on the backend).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basis.h"
#include "container.h"
#include "npy_write.h"

#define BASIS_FIELD_DIMS POLCA__FIELD_USER
#define N_META 6

static const uint32_t meta_dtype[N_META] = {POLCA__DT_I32, POLCA__DT_I32, POLCA__DT_I64,
                                            POLCA__DT_I64, POLCA__DT_F64, POLCA__DT_F64};
static const char *const meta_name[N_META] = {"kind", "converged", "source_step",
                                              "source_index", "eigenvalue", "residual"};

static void put_le64(unsigned char *p, int64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static int64_t get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

/* Copies metadata field f of the K vectors into (or out of) an array of its
 * dtype. to_array 1: meta -> arr; 0: arr -> meta. */
static void meta_field(polca__basis_meta *meta, int64_t k, int f, void *arr, int to_array) {
    for (int64_t i = 0; i < k; i++) {
        polca__basis_meta *m = &meta[i];
        switch (f) {
        case 0:
            if (to_array) ((int32_t *)arr)[i] = m->kind;
            else m->kind = ((const int32_t *)arr)[i];
            break;
        case 1:
            if (to_array) ((int32_t *)arr)[i] = m->converged;
            else m->converged = ((const int32_t *)arr)[i];
            break;
        case 2:
            if (to_array) ((int64_t *)arr)[i] = m->source_step;
            else m->source_step = ((const int64_t *)arr)[i];
            break;
        case 3:
            if (to_array) ((int64_t *)arr)[i] = m->source_index;
            else m->source_index = ((const int64_t *)arr)[i];
            break;
        case 4:
            if (to_array) ((double *)arr)[i] = m->eigenvalue;
            else m->eigenvalue = ((const double *)arr)[i];
            break;
        default:
            if (to_array) ((double *)arr)[i] = m->residual;
            else m->residual = ((const double *)arr)[i];
            break;
        }
    }
}

int32_t polca_basis_save(const polca_basis *b, const char *path) {
    static const char *fn = "polca_basis_save";
    polca__clear_error();
    int32_t st = polca__check_handle(b, POLCA_MAGIC_BASIS, fn, "basis", "polca_basis");
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    unsigned char dims[16];
    put_le64(dims, b->k);
    put_le64(dims + 8, b->p);
    polca__ct_field field = {BASIS_FIELD_DIMS, sizeof dims, dims};
    size_t row_bytes = (size_t)b->p * sizeof(float);
    size_t meta_bytes = (size_t)(b->k > 0 ? b->k : 1) * 8;
    void *buf = polca__alloc(row_bytes > meta_bytes ? row_bytes : meta_bytes, "basis save buffer");
    if (!buf) return POLCA_ERR_OUT_OF_MEMORY;
    polca__container *c = NULL;
    const polca_backend *be = b->head.ctx->be;
    void *bs = b->head.ctx->be_state;
    st = polca__ct_create(path, POLCA__FILE_BASIS, NULL, &field, 1, POLCA__CT_WHOLE, NULL, &c);
    for (int f = 0; !st && f < N_META; f++) {
        meta_field(b->meta, b->k, f, buf, 1);
        st = polca__ct_append(c, POLCA__REC_ARRAY, -1 - f, meta_dtype[f], buf, (uint64_t)b->k, 0);
    }
    for (int64_t i = 0; !st && i < b->k; i++) {
        st = be->download(bs, buf, b->rows + i * b->p, row_bytes);
        if (!st) st = be->sync(bs);
        if (!st) st = polca__ct_append(c, POLCA__REC_ARRAY, i, POLCA__DT_F32, buf, (uint64_t)b->p, 0);
    }
    if (!st) st = polca__ct_finish(c);
    polca__ct_close(c); /* an unfinished file's temporary is removed */
    free(buf);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}

/* Finds the record of each metadata field and vector, checking kinds,
 * dtypes and sizes before anything of their size is allocated.
 * where[f] (f < N_META) and where[N_META + i] receive record indices. */
static int32_t index_records(polca__container *c, const char *path, int64_t k, int64_t p,
                             int64_t *where) {
    for (int64_t j = 0; j < N_META + k; j++) where[j] = -1;
    for (int64_t r = 0; r < polca__ct_count(c); r++) {
        const polca__ct_record *rec = polca__ct_record_at(c, r);
        int64_t slot;
        uint32_t dtype;
        uint64_t n;
        if (rec->step < 0 && rec->step >= -N_META) {
            slot = -1 - rec->step;
            dtype = meta_dtype[slot];
            n = (uint64_t)k;
        } else if (rec->step >= 0 && rec->step < k) {
            slot = N_META + rec->step;
            dtype = POLCA__DT_F32;
            n = (uint64_t)p;
        } else {
            return polca__fail(POLCA_ERR_CORRUPT,
                               "'%s': record %lld (offset %llu) has key %lld, not a basis record",
                               path, (long long)r, (unsigned long long)rec->offset,
                               (long long)rec->step);
        }
        if (rec->dtype != dtype || rec->n_elems != n || where[slot] >= 0)
            return polca__fail(POLCA_ERR_CORRUPT,
                               "'%s': record %lld (offset %llu) is a duplicate or has the "
                               "wrong type or size (%llu elements; expected %llu)",
                               path, (long long)r, (unsigned long long)rec->offset,
                               (unsigned long long)rec->n_elems, (unsigned long long)n);
        where[slot] = r;
    }
    for (int64_t j = 0; j < N_META + k; j++)
        if (where[j] < 0) {
            if (j < N_META)
                return polca__fail(POLCA_ERR_CORRUPT, "'%s': the basis metadata '%s' is missing",
                                   path, meta_name[j]);
            return polca__fail(POLCA_ERR_CORRUPT, "'%s': basis vector %lld is missing", path,
                               (long long)(j - N_META));
        }
    return POLCA_OK;
}

static int32_t check_meta(const polca__basis_meta *m, int64_t k, const char *path) {
    for (int64_t i = 0; i < k; i++)
        if (m[i].kind < POLCA_BASIS_KIND_HESSIAN || m[i].kind > POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED ||
            (m[i].converged != 0 && m[i].converged != 1))
            return polca__fail(POLCA_ERR_CORRUPT,
                               "'%s': vector %lld has kind %d and converged %d (invalid)", path,
                               (long long)i, (int)m[i].kind, (int)m[i].converged);
    return POLCA_OK;
}

int32_t polca_basis_load(polca_context *ctx, const char *path, polca_basis **out) {
    static const char *fn = "polca_basis_load";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!path || !out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL", fn,
                           path ? "out" : "path");
    polca__container *c = NULL;
    polca_basis *b = NULL;
    int64_t *where = NULL;
    void *buf = NULL;
    int64_t k = 0, p = 0;
    st = polca__ct_open(path, POLCA__FILE_BASIS, 0, NULL, &c);
    if (!st) {
        const void *data;
        uint64_t len;
        if (!polca__ct_field_get(c, BASIS_FIELD_DIMS, &data, &len) || len != 16) {
            st = polca__fail(POLCA_ERR_CORRUPT, "'%s': no basis dimensions field", path);
        } else {
            k = get_le64(data);
            p = get_le64((const unsigned char *)data + 8);
            /* every vector is a record, so K is bounded by the file's records */
            if (k < 0 || p < 1 || k > p || k > polca__ct_count(c))
                st = polca__fail(POLCA_ERR_CORRUPT,
                                 "'%s': basis dimensions K=%lld P=%lld are invalid for a file "
                                 "of %lld records",
                                 path, (long long)k, (long long)p, (long long)polca__ct_count(c));
        }
    }
    if (!st) {
        where = polca__calloc((size_t)(N_META + k), sizeof *where, "basis record index");
        if (!where) st = POLCA_ERR_OUT_OF_MEMORY;
    }
    if (!st) st = index_records(c, path, k, p, where);
    if (!st) st = polca__basis_new(ctx, p, k, &b);
    if (!st) {
        size_t row_bytes = (size_t)p * sizeof(float);
        size_t meta_bytes = (size_t)(k > 0 ? k : 1) * 8;
        buf = polca__alloc(row_bytes > meta_bytes ? row_bytes : meta_bytes, "basis load buffer");
        if (!buf) st = POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int f = 0; !st && f < N_META; f++) {
        st = polca__ct_read(c, where[f], buf, (uint64_t)k);
        if (!st) meta_field(b->meta, k, f, buf, 0);
    }
    if (!st) st = check_meta(b->meta, k, path);
    const polca_backend *be = ctx->be;
    for (int64_t i = 0; !st && i < k; i++) {
        st = polca__ct_read(c, where[N_META + i], buf, (uint64_t)p);
        if (!st) st = be->upload(ctx->be_state, b->rows + i * p, buf, (size_t)p * sizeof(float));
    }
    if (!st) st = be->sync(ctx->be_state);
    polca__ct_close(c);
    free(where);
    free(buf);
    if (st) {
        polca_basis_destroy(b);
        return polca__wrap(st, "%s", fn);
    }
    b->k = k;
    *out = b;
    return POLCA_OK;
}

int32_t polca_basis_export_npy(const polca_basis *b, const char *path) {
    static const char *fn = "polca_basis_export_npy";
    polca__clear_error();
    int32_t st = polca__check_handle(b, POLCA_MAGIC_BASIS, fn, "basis", "polca_basis");
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    int64_t shape[2] = {b->k, b->p};
    float *row = polca__alloc((size_t)b->p * sizeof(float), "basis export buffer");
    if (!row) return POLCA_ERR_OUT_OF_MEMORY;
    polca__npy_writer *w = NULL;
    const polca_backend *be = b->head.ctx->be;
    void *bs = b->head.ctx->be_state;
    st = polca__npy_begin(path, "<f4", 2, shape, &w);
    for (int64_t i = 0; !st && i < b->k; i++) {
        st = be->download(bs, row, b->rows + i * b->p, (size_t)b->p * sizeof(float));
        if (!st) st = be->sync(bs);
        if (!st) st = polca__npy_put(w, row, (uint64_t)b->p);
    }
    if (!st)
        st = polca__npy_end(w); /* frees w, also on failure */
    else
        polca__npy_abort(w); /* NULL (begin failed) is a no-op */
    free(row);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}
