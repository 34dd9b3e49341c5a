/*
 * src/trajectories_io.c - saving and loading trajectories in the container
 * format (docs/format.md, file kind 3), and .npy export.
 *
 * Layout of a trajectories file: header field POLCA__TRAJ_FIELD_DIMS (five
 * little-endian int64: K, K_lca, N, T1, curvature); one int64 record [T1]
 * of steps (record step -1); one float32 record per computed output, its
 * record step the POLCA_TRAJ_* kind.
 */
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "npy_write.h"
#include "polca_engine.h"
#include "trajectories.h"

#define POLCA__TRAJ_FIELD_DIMS POLCA__FIELD_USER
#define STEPS_KEY (-1)

static void put_le64(unsigned char *p, int64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static int64_t get_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

int32_t polca_trajectories_save(const polca_trajectories *t, const char *path) {
    static const char *fn = "polca_trajectories_save";
    polca__clear_error();
    int32_t st = polca__check_handle(t, POLCA_MAGIC_TRAJECTORIES, fn, "traj", "polca_trajectories");
    if (st) return st;
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    unsigned char dims[40];
    int64_t values[5] = {t->k, t->k_lca, t->n, t->t1, t->curvature};
    for (int i = 0; i < 5; i++) put_le64(dims + 8 * i, values[i]);
    polca__ct_field field = {POLCA__TRAJ_FIELD_DIMS, sizeof dims, dims};
    polca__container *c = NULL;
    st = polca__ct_create(path, POLCA__FILE_TRAJECTORIES, NULL, &field, 1, POLCA__CT_WHOLE, NULL, &c);
    if (!st)
        st = polca__ct_append(c, POLCA__REC_ARRAY, STEPS_KEY, POLCA__DT_I64, t->steps,
                              (uint64_t)t->t1, 0);
    for (int32_t kind = 0; !st && kind < POLCA__TRAJ_KINDS; kind++) {
        if (!t->data[kind]) continue;
        int64_t k, n, tt;
        polca__traj_shape(t, kind, &k, &n, &tt);
        st = polca__ct_append(c, POLCA__REC_ARRAY, kind, POLCA__DT_F32, t->data[kind],
                              (uint64_t)(k * n * tt), 0);
    }
    if (!st) st = polca__ct_finish(c);
    polca__ct_close(c); /* an unfinished file's temporary is removed */
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}

static const char *const kind_names[POLCA__TRAJ_KINDS] = {
    "POLCA_TRAJ_POLCA", "POLCA_TRAJ_FIRST_ORDER", "POLCA_TRAJ_FISHER",
    "POLCA_TRAJ_LCA",   "POLCA_TRAJ_EXACT_LOSS",  "POLCA_TRAJ_LOSS_CHANGE"};

/* Reads the dimensions field and checks it against the records before
 * anything of their size is allocated: one steps record, at most one record
 * of each kind, POLCA among them. */
static int32_t read_dims(polca__container *c, const char *path, int64_t dims[5], uint32_t *kinds) {
    const void *data;
    uint64_t len;
    if (!polca__ct_field_get(c, POLCA__TRAJ_FIELD_DIMS, &data, &len) || len != 40)
        return polca__fail(POLCA_ERR_CORRUPT, "'%s': no trajectories dimensions field", path);
    for (int i = 0; i < 5; i++) dims[i] = get_le64((const unsigned char *)data + 8 * i);
    if (dims[0] < 1 || dims[1] < 0 || dims[2] < 1 || dims[3] < 2 || dims[4] < POLCA__CURV_EXACT ||
        dims[4] > POLCA__CURV_NONE)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "'%s': trajectories dimensions K=%lld K_lca=%lld N=%lld T1=%lld "
                           "curvature=%lld are invalid",
                           path, (long long)dims[0], (long long)dims[1], (long long)dims[2],
                           (long long)dims[3], (long long)dims[4]);
    polca_trajectories shape = {.k = dims[0], .k_lca = dims[1], .n = dims[2], .t1 = dims[3]};
    *kinds = 0;
    int have_steps = 0;
    for (int64_t i = 0; i < polca__ct_count(c); i++) {
        const polca__ct_record *r = polca__ct_record_at(c, i);
        if (r->step == STEPS_KEY && r->dtype == POLCA__DT_I64 && r->n_elems == (uint64_t)dims[3]) {
            if (have_steps) /* a second one would silently replace the first */
                return polca__fail(POLCA_ERR_CORRUPT,
                                   "'%s': record %lld (offset %llu) is a second steps record", path,
                                   (long long)i, (unsigned long long)r->offset);
            have_steps = 1;
            continue;
        }
        int64_t k, n, tt;
        if (r->step < 0 || r->step >= POLCA__TRAJ_KINDS || r->dtype != POLCA__DT_F32)
            return polca__fail(POLCA_ERR_CORRUPT, "'%s': record %lld (offset %llu) is not a trajectories record",
                               path, (long long)i, (unsigned long long)r->offset);
        if (*kinds & 1u << r->step)
            return polca__fail(POLCA_ERR_CORRUPT,
                               "'%s': record %lld (offset %llu) is a second %s record", path,
                               (long long)i, (unsigned long long)r->offset, kind_names[r->step]);
        polca__traj_shape(&shape, (int32_t)r->step, &k, &n, &tt);
        /* k, n, tt >= 1; compare without overflow */
        if (r->n_elems / (uint64_t)tt / (uint64_t)n != (uint64_t)k || r->n_elems % ((uint64_t)tt * (uint64_t)n))
            return polca__fail(POLCA_ERR_CORRUPT,
                               "'%s': record %lld (offset %llu) holds %llu values, not %lld x %lld x %lld",
                               path, (long long)i, (unsigned long long)r->offset,
                               (unsigned long long)r->n_elems, (long long)k, (long long)n, (long long)tt);
        *kinds |= 1u << r->step;
    }
    if (!have_steps || !(*kinds & 1u << POLCA_TRAJ_POLCA))
        return polca__fail(POLCA_ERR_CORRUPT, "'%s': the steps or the POLCA record is missing", path);
    return POLCA_OK;
}

int32_t polca_trajectories_load(polca_context *ctx, const char *path, polca_trajectories **out) {
    static const char *fn = "polca_trajectories_load";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!path || !out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' or 'out' is NULL", fn);
    polca__container *c = NULL;
    polca_trajectories *t = NULL;
    int64_t dims[5];
    uint32_t kinds = 0;
    st = polca__ct_open(path, POLCA__FILE_TRAJECTORIES, 0, NULL, &c);
    if (!st) st = read_dims(c, path, dims, &kinds);
    if (!st) st = polca__traj_new(ctx, dims[0], dims[1], dims[2], dims[3], (int32_t)dims[4], kinds, &t);
    for (int64_t i = 0; !st && i < polca__ct_count(c); i++) {
        const polca__ct_record *r = polca__ct_record_at(c, i);
        void *dst = r->step == STEPS_KEY ? (void *)t->steps : (void *)t->data[r->step];
        st = polca__ct_read(c, i, dst, r->n_elems);
    }
    for (int64_t s = 1; !st && s < dims[3]; s++)
        if (t->steps[s] <= t->steps[s - 1])
            st = polca__fail(POLCA_ERR_CORRUPT, "'%s': checkpoint steps are not increasing", path);
    polca__ct_close(c);
    if (st) {
        polca_trajectories_destroy(t);
        return polca__wrap(st, "%s", fn);
    }
    *out = t;
    return POLCA_OK;
}

int32_t polca_trajectories_export_npy(const polca_trajectories *t, int32_t kind, const char *path) {
    static const char *fn = "polca_trajectories_export_npy";
    const float *data;
    int64_t shape[3];
    int32_t st = polca_trajectories_view(t, kind, &data, &shape[0], &shape[1], &shape[2]);
    if (st) return polca__wrap(st, "%s", fn);
    if (!path) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'path' is NULL", fn);
    st = polca__npy_write(path, "<f4", 3, shape, data);
    return st ? polca__wrap(st, "%s", fn) : POLCA_OK;
}
