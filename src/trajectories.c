/*
 * src/trajectories.c - polca_trajectories: the POLCA engine (polca_engine.c)
 * fed by a model, a checkpoint series and bases; views and filters.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basis.h"
#include "checkpoints.h"
#include "layout.h"
#include "model.h"
#include "model_impl.h"
#include "polca_engine.h"
#include "comm.h"
#include "progress_file.h"
#include "trajectories.h"

static const polca__option_spec traj_options[] = {
    {"curvature", POLCA_OPT_STRING}, {"first_order", POLCA_OPT_INT},
    {"fisher", POLCA_OPT_INT},       {"block", POLCA_OPT_INT},
    {"progress_file", POLCA_OPT_STRING}, {"resume", POLCA_OPT_INT},
    {NULL, 0},
};

void polca__traj_shape(const polca_trajectories *t, int32_t kind, int64_t *k, int64_t *n,
                       int64_t *tt) {
    *n = t->n;
    *tt = kind == POLCA_TRAJ_LOSS_CHANGE ? t->t1 - 1 : t->t1;
    *k = kind == POLCA_TRAJ_LCA ? t->k_lca
         : kind == POLCA_TRAJ_EXACT_LOSS || kind == POLCA_TRAJ_LOSS_CHANGE ? 1
                                                                             : t->k;
}

int32_t polca__traj_new(polca_context *ctx, int64_t k, int64_t k_lca, int64_t n, int64_t t1,
                        int32_t curvature, uint32_t kinds, polca_trajectories **out) {
    polca_trajectories *t = polca__calloc(1, sizeof *t, "polca_trajectories");
    if (!t) return POLCA_ERR_OUT_OF_MEMORY;
    t->head.magic = POLCA_MAGIC_TRAJECTORIES;
    t->head.ctx = ctx;
    t->k = k, t->k_lca = k_lca, t->n = n, t->t1 = t1, t->curvature = curvature;
    t->steps = polca__calloc((size_t)t1, sizeof *t->steps, "checkpoint steps");
    int ok = t->steps != NULL;
    for (int32_t kind = 0; ok && kind < POLCA__TRAJ_KINDS; kind++) {
        if (!(kinds & (1u << kind))) continue;
        int64_t kk, nn, tt;
        size_t count;
        polca__traj_shape(t, kind, &kk, &nn, &tt);
        ok = polca__mul_size((size_t)kk, (size_t)nn, &count) &&
             polca__mul_size(count, (size_t)tt, &count);
        if (!ok) {
            polca__fail(POLCA_ERR_OUT_OF_MEMORY, "trajectories of %lld x %lld x %lld overflow",
                        (long long)kk, (long long)nn, (long long)tt);
            break;
        }
        ok = (t->data[kind] = polca__calloc(count, sizeof(float), "trajectories")) != NULL;
    }
    if (!ok) {
        polca_trajectories_destroy(t);
        return polca_last_error()[0] ? POLCA_ERR_OUT_OF_MEMORY : POLCA_ERR_INTERNAL;
    }
    *out = t;
    return POLCA_OK;
}

void polca_trajectories_destroy(polca_trajectories *t) {
    if (!t || t->head.magic != POLCA_MAGIC_TRAJECTORIES) return;
    for (int i = 0; i < POLCA__TRAJ_KINDS; i++) free(t->data[i]);
    free(t->steps);
    t->head.magic = 0;
    free(t);
}

/* ---- the engine's source: series + model on the context's backend ---- */

typedef struct traj_source {
    polca_context *ctx;
    const polca_model *model;
    const polca_data *data;
    polca_checkpoints *series;
    int64_t p, n;
    const float *dev_basis[2]; /* backend rows of the basis and the LCA basis */
    float *theta;              /* backend [p] */
    int64_t theta_t;           /* checkpoint held in theta, -1 none */
    float *g, *c, *losses;     /* backend [block][n], [block][n], [n] */
} traj_source;

static int32_t read_checkpoint(void *user, int64_t t, int64_t *step, float *theta) {
    traj_source *s = user;
    int32_t st = polca_checkpoints_step(s->series, t, step);
    return st ? st : polca_checkpoints_read(s->series, t, theta, s->p);
}

static int32_t dirderivs(void *user, int64_t t, const float *theta, int32_t set, int64_t first,
                         int64_t k, const float *dirs, float *losses, float *g, float *c) {
    traj_source *s = user;
    const polca_backend *be = s->ctx->be;
    void *bs = s->ctx->be_state;
    (void)dirs; /* the same rows are resident on the backend */
    int32_t st = POLCA_OK;
    if (t != s->theta_t) {
        if ((st = be->upload(bs, s->theta, theta, (size_t)s->p * sizeof(float)))) return st;
        s->theta_t = t;
    }
    st = polca__model_dirderivs_dev(s->model, s->data, s->theta, k,
                                    s->dev_basis[set] + first * s->p, losses ? s->losses : NULL,
                                    s->g, c ? s->c : NULL);
    size_t gk = (size_t)k * (size_t)s->n * sizeof(float);
    if (!st) st = be->download(bs, g, s->g, gk);
    if (!st && c) st = be->download(bs, c, s->c, gk);
    if (!st && losses) st = be->download(bs, losses, s->losses, (size_t)s->n * sizeof(float));
    return st;
}

static int32_t check_inputs(polca_context *ctx, const polca_model *model, const polca_data *data,
                            polca_checkpoints *series, const polca_basis *basis,
                            const polca_basis *lca, const char *fn) {
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (!st) st = polca__check_model(model, fn);
    if (!st) st = polca__check_handle(data, POLCA_MAGIC_DATA, fn, "data", "polca_data");
    if (!st) st = polca__check_handle(series, POLCA_MAGIC_CHECKPOINTS, fn, "series",
                                      "polca_checkpoints");
    if (!st) st = polca__check_handle(basis, POLCA_MAGIC_BASIS, fn, "basis", "polca_basis");
    if (!st && lca) st = polca__check_handle(lca, POLCA_MAGIC_BASIS, fn, "lca_basis", "polca_basis");
    if (!st) st = polca__check_same_context(ctx, model, fn, "ctx", "model");
    if (!st) st = polca__check_same_context(ctx, data, fn, "ctx", "data");
    if (!st) st = polca__check_same_context(ctx, series, fn, "ctx", "series");
    if (!st) st = polca__check_same_context(ctx, basis, fn, "ctx", "basis");
    if (!st && lca) st = polca__check_same_context(ctx, lca, fn, "ctx", "lca_basis");
    if (st) return st;
    if ((st = polca__model_check_data(model, data, fn))) return st;
    const polca__layout *layout = polca__model_layout(model);
    if (!polca__layout_equal(layout, polca__checkpoints_layout(series)))
        return polca__layout_mismatch(layout, polca__checkpoints_layout(series), fn, "series");
    if (basis->p != layout->n_params || (lca && lca->p != layout->n_params))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: %s has vectors of %lld parameters, the model %lld", fn,
                           basis->p != layout->n_params ? "basis" : "lca_basis",
                           (long long)(basis->p != layout->n_params ? basis->p : lca->p),
                           (long long)layout->n_params);
    if (basis->k < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: the basis is empty", fn);
    return POLCA_OK;
}

static int32_t parse_options(const polca_options *o, const char *fn, int32_t *curvature,
                             int32_t *first, int32_t *fisher, int64_t *block) {
    int32_t st = polca__options_check(o, traj_options, fn);
    if (st) return st;
    const char *curv = polca__options_string(o, "curvature", "exact");
    if (!strcmp(curv, "exact")) *curvature = POLCA__CURV_EXACT;
    else if (!strcmp(curv, "secant")) *curvature = POLCA__CURV_SECANT;
    else if (!strcmp(curv, "none")) *curvature = POLCA__CURV_NONE;
    else
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'curvature' is '%s'; expected exact, secant or none", fn,
                           curv);
    int64_t f1 = polca__options_int(o, "first_order", 1), fi = polca__options_int(o, "fisher", 0);
    *block = polca__options_int(o, "block", 16);
    if ((f1 != 0 && f1 != 1) || (fi != 0 && fi != 1))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: options 'first_order' and 'fisher' must be 0 or 1", fn);
    int64_t resume = polca__options_int(o, "resume", 0);
    if (resume != 0 && resume != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: option 'resume' is %lld; must be 0 or 1",
                           fn, (long long)resume);
    if (resume && !polca__options_string(o, "progress_file", NULL))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'resume' is 1 but no 'progress_file' is set", fn);
    if (*block < 1 || *block > 4096)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: option 'block' is %lld; must be 1..4096",
                           fn, (long long)*block);
    *first = (int32_t)f1, *fisher = (int32_t)fi;
    return POLCA_OK;
}

/* Hashes of every input that decides the result, one per argument (for
 * the check that ranks make the same call, and the progress file). */
enum { FP_MODEL, FP_DATA, FP_SERIES, FP_BASIS, FP_LCA, FP_OPTIONS, FP_PARTS };
static const char *const fp_names[FP_PARTS] = {"model", "data",      "series",
                                               "basis", "lca_basis", "options"};

static int32_t traj_fingerprint(const polca_model *model, const polca_data *data,
                                polca_checkpoints *series, const float *rows,
                                const int64_t shape[5], const int32_t flags[3], int64_t block,
                                uint64_t parts[FP_PARTS]) {
    for (int i = 0; i < FP_PARTS; i++) parts[i] = POLCA__FP_START;
    polca__fingerprint_model(&parts[FP_MODEL], model);
    polca__fingerprint_data(&parts[FP_DATA], data);
    for (int64_t t = 0; t < shape[4]; t++) {
        int64_t step;
        int32_t st = polca_checkpoints_step(series, t, &step);
        if (st) return st;
        polca__fingerprint(&parts[FP_SERIES], &step, sizeof step);
    }
    const size_t row = (size_t)shape[0] * sizeof *rows;
    polca__fingerprint(&parts[FP_BASIS], rows, (size_t)shape[2] * row);
    polca__fingerprint(&parts[FP_LCA], &shape[3], sizeof shape[3]); /* none: K_lca = 0 */
    polca__fingerprint(&parts[FP_LCA], rows + shape[2] * shape[0], (size_t)shape[3] * row);
    polca__fingerprint(&parts[FP_OPTIONS], shape, 5 * sizeof *shape); /* P, N, K, K_lca, T1 */
    polca__fingerprint(&parts[FP_OPTIONS], flags, 3 * sizeof *flags); /* curvature, 1st, Fisher */
    polca__fingerprint(&parts[FP_OPTIONS], &block, sizeof block);
    return POLCA_OK;
}

static int32_t open_progress(polca_context *ctx, const polca_options *o, uint64_t fingerprint,
                             polca__progress_file **out) {
    const char *path = polca__options_string(o, "progress_file", NULL);
    if (!path) return POLCA_OK;
    char *mine = polca__progress_path(ctx, path);
    if (!mine) return POLCA_ERR_OUT_OF_MEMORY;
    int32_t st = polca__progress_open(mine, POLCA__PROGRESS_TRAJECTORIES, fingerprint,
                                      (int)polca__options_int(o, "resume", 0), out);
    free(mine);
    return st;
}

/* What a call computes, from its checked inputs. */
typedef struct traj_plan {
    int32_t curvature, first_order, fisher;
    int64_t block, t1;
} traj_plan;

/* Checks every input and allocates the outputs; local to this rank. */
static int32_t prepare(polca_context *ctx, const polca_model *model, const polca_data *data,
                       polca_checkpoints *series, const polca_basis *basis, const polca_basis *lca,
                       const polca_options *options, polca_trajectories **out, const char *fn,
                       traj_plan *pl, polca_trajectories **t) {
    int32_t st = check_inputs(ctx, model, data, series, basis, lca, fn);
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if ((st = parse_options(options, fn, &pl->curvature, &pl->first_order, &pl->fisher,
                            &pl->block)))
        return st;
    if ((st = polca_checkpoints_count(series, &pl->t1))) return st;
    if (pl->t1 < 2)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: the series has %lld checkpoint(s); POLCA needs at least 2", fn,
                           (long long)pl->t1);
    const int64_t kl = lca ? lca->k : 0;
    if (pl->block > basis->k + kl) pl->block = basis->k + kl;
    uint32_t kinds = 1u << POLCA_TRAJ_POLCA | 1u << POLCA_TRAJ_EXACT_LOSS |
                     1u << POLCA_TRAJ_LOSS_CHANGE |
                     (uint32_t)pl->first_order << POLCA_TRAJ_FIRST_ORDER |
                     (uint32_t)pl->fisher << POLCA_TRAJ_FISHER | (kl ? 1u << POLCA_TRAJ_LCA : 0u);
    return polca__traj_new(ctx, basis->k, kl, polca__data_n_samples(data), pl->t1, pl->curvature,
                           kinds, t);
}

int32_t polca_trajectories_create(polca_context *ctx, const polca_model *model,
                                  const polca_data *data, polca_checkpoints *series,
                                  const polca_basis *basis, const polca_basis *lca,
                                  const polca_options *options, polca_trajectories **out) {
    static const char *fn = "polca_trajectories_create";
    polca__clear_error();
    /* without a context there is no communicator to agree over */
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    traj_plan pl = {0, 0, 0, 1, 0};
    polca_trajectories *t = NULL;
    /* over ranks, a rank whose inputs fail must not leave the others
     * waiting in the engine: every rank learns of it here */
    if ((st = polca__comm_agree(ctx, prepare(ctx, model, data, series, basis, lca, options, out,
                                             fn, &pl, &t)))) {
        polca_trajectories_destroy(t);
        return st;
    }
    const int32_t curvature = pl.curvature, first_order = pl.first_order, fisher = pl.fisher;
    const int64_t block = pl.block, t1 = pl.t1;
    const int64_t p = basis->p, n = polca__data_n_samples(data), k = basis->k;
    const int64_t kl = lca ? lca->k : 0;

    /* Host copies of the directions (the engine projects theta moves onto
     * them) and backend-resident rows for the model. */
    traj_source src = {ctx, model, data, series, p, n, {NULL, NULL}, NULL, -1, NULL, NULL, NULL};
    float *host_basis = polca__calloc((size_t)(k + kl), (size_t)p * sizeof(float), "basis rows");
    float *dev_rows[2] = {NULL, NULL};
    const polca_backend *be = ctx->be;
    void *bs = ctx->be_state;
    if (!host_basis) st = POLCA_ERR_OUT_OF_MEMORY;
    for (int set = 0; !st && set < 2; set++) {
        const polca_basis *b = set ? lca : basis;
        if (!b) continue;
        src.dev_basis[set] = polca__basis_resident(b);
        if (!src.dev_basis[set]) {
            st = be->alloc(bs, (size_t)b->k * p * sizeof(float), (void **)&dev_rows[set]);
            if (!st) st = polca__basis_load_rows(b, 0, b->k, dev_rows[set]);
            src.dev_basis[set] = dev_rows[set];
        }
        if (!st)
            st = be->download(bs, host_basis + (set ? k : 0) * p, src.dev_basis[set],
                              (size_t)b->k * p * sizeof(float));
    }
    size_t gbytes = (size_t)block * (size_t)n * sizeof(float);
    if (!st) st = be->alloc(bs, (size_t)p * sizeof(float), (void **)&src.theta);
    if (!st) st = be->alloc(bs, gbytes, (void **)&src.g);
    if (!st && curvature == POLCA__CURV_EXACT) st = be->alloc(bs, gbytes, (void **)&src.c);
    if (!st) st = be->alloc(bs, (size_t)n * sizeof(float), (void **)&src.losses);
    /* From here every rank makes the same collective calls in the same
     * order, whatever failed where: a failure is agreed before the next. */
    polca__progress_file *pf = NULL;
    const int ranks = polca__comm_size(ctx);
    const int with_progress = polca__options_string(options, "progress_file", NULL) != NULL;
    st = polca__comm_agree(ctx, st);
    if (!st && (with_progress || ranks > 1)) {
        const int64_t shape[5] = {p, n, k, kl, t1};
        const int32_t flags[3] = {curvature, first_order, fisher};
        uint64_t parts[FP_PARTS], fp = POLCA__FP_START;
        st = polca__comm_agree(
            ctx, traj_fingerprint(model, data, series, host_basis, shape, flags, block, parts));
        /* a failed broadcast is a broken communicator: no agreeing over it */
        if (!st && ranks > 1 &&
            (st = polca__comm_same_as_rank0(ctx, parts, fp_names, FP_PARTS, fn)) !=
                POLCA_ERR_COMM)
            st = polca__comm_agree(ctx, st);
        polca__fingerprint(&fp, parts, sizeof parts);
        polca__fingerprint_context(&fp, ctx);
        if (!st && with_progress) st = open_progress(ctx, options, fp, &pf);
        if (st != POLCA_ERR_COMM) st = polca__comm_agree(ctx, st);
    }
    if (!st) {
        polca__engine_source es = {&src, t1, p, n, read_checkpoint, dirderivs};
        polca__engine_request req = {host_basis, k, kl ? host_basis + k * p : NULL, kl,
                                     curvature, first_order, fisher, block, pf};
        /* every output kind comes from the engine, which refuses
         * non-finite values (naming checkpoint and quantity) */
        polca__engine_output eo = {t->steps,
                                   t->data[POLCA_TRAJ_EXACT_LOSS],
                                   t->data[POLCA_TRAJ_POLCA],
                                   t->data[POLCA_TRAJ_FIRST_ORDER],
                                   t->data[POLCA_TRAJ_FISHER],
                                   t->data[POLCA_TRAJ_LCA],
                                   t->data[POLCA_TRAJ_LOSS_CHANGE]};
        st = polca__engine_run(ctx, &es, &req, &eo);
    }
    polca__progress_close(pf);
    be->release(bs, src.theta), be->release(bs, src.g), be->release(bs, src.c);
    be->release(bs, src.losses), be->release(bs, dev_rows[0]), be->release(bs, dev_rows[1]);
    free(host_basis);
    if (st) {
        polca_trajectories_destroy(t);
        return polca__wrap(st, "%s", fn);
    }
    *out = t;
    return POLCA_OK;
}

/* ---- views and filters ---- */

static int32_t check_kind(const polca_trajectories *t, int32_t kind, const char *fn,
                          int projected) {
    int32_t st = polca__check_handle(t, POLCA_MAGIC_TRAJECTORIES, fn, "traj",
                                     "polca_trajectories");
    if (st) return st;
    if (kind < 0 || kind >= POLCA__TRAJ_KINDS)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'kind' is %d; not a POLCA_TRAJ_*",
                           fn, (int)kind);
    if (projected && kind != POLCA_TRAJ_POLCA && kind != POLCA_TRAJ_FIRST_ORDER &&
        kind != POLCA_TRAJ_LCA)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: kind %d is not a projected loss (POLCA, FIRST_ORDER or LCA)", fn,
                           (int)kind);
    if (!t->data[kind]) {
        static const char *how[POLCA__TRAJ_KINDS] = {
            "", "option first_order=1", "option fisher=1", "an lca_basis", "", ""};
        return polca__fail(POLCA_ERR_STATE, "%s: output %d was not computed (it needs %s)", fn,
                           (int)kind, how[kind]);
    }
    return POLCA_OK;
}

int32_t polca_trajectories_view(const polca_trajectories *t, int32_t kind, const float **out_data,
                                int64_t *out_k, int64_t *out_n, int64_t *out_t) {
    static const char *fn = "polca_trajectories_view";
    polca__clear_error();
    int32_t st = check_kind(t, kind, fn, 0);
    if (st) return st;
    if (!out_data || !out_k || !out_n || !out_t)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL", fn,
                           !out_data ? "out_data" : !out_k ? "out_k" : !out_n ? "out_n" : "out_t");
    polca__traj_shape(t, kind, out_k, out_n, out_t);
    *out_data = t->data[kind];
    return POLCA_OK;
}

int32_t polca_trajectories_steps(const polca_trajectories *t, const int64_t **out_steps,
                                 int64_t *out_t1) {
    static const char *fn = "polca_trajectories_steps";
    polca__clear_error();
    int32_t st = polca__check_handle(t, POLCA_MAGIC_TRAJECTORIES, fn, "traj", "polca_trajectories");
    if (st) return st;
    if (!out_steps || !out_t1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL", fn,
                           !out_steps ? "out_steps" : "out_t1");
    *out_steps = t->steps;
    *out_t1 = t->t1;
    return POLCA_OK;
}

int32_t polca_trajectories_final_means(const polca_trajectories *t, int32_t kind, double *out,
                                       int64_t k_len) {
    static const char *fn = "polca_trajectories_final_means";
    polca__clear_error();
    int32_t st = check_kind(t, kind, fn, 1);
    if (st) return st;
    int64_t k, n, tt;
    polca__traj_shape(t, kind, &k, &n, &tt);
    if (!out || k_len != k)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'out' is NULL or k_len = %lld is not K = %lld", fn,
                           (long long)k_len, (long long)k);
    for (int64_t d = 0; d < k; d++) {
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) sum += t->data[kind][(d * n + i) * tt + tt - 1];
        out[d] = sum / (double)n;
    }
    return POLCA_OK;
}

int32_t polca_trajectories_decreasing(const polca_trajectories *t, int32_t kind, int64_t dir,
                                      uint8_t *out_mask, int64_t n_len, int64_t *out_count) {
    static const char *fn = "polca_trajectories_decreasing";
    polca__clear_error();
    int32_t st = check_kind(t, kind, fn, 1);
    if (st) return st;
    int64_t k, n, tt;
    polca__traj_shape(t, kind, &k, &n, &tt);
    if (dir < 0 || dir >= k)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'k' (direction) is %lld; must be 0..%lld",
                           fn, (long long)dir, (long long)k - 1);
    if (!out_mask || n_len != n)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'out_mask' is NULL or n_len = %lld is not N = %lld", fn,
                           (long long)n_len, (long long)n);
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        out_mask[i] = t->data[kind][(dir * n + i) * tt + tt - 1] < 0.0f;
        count += out_mask[i];
    }
    if (out_count) *out_count = count;
    return POLCA_OK;
}
