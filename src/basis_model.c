/*
 * src/basis_model.c - polca_basis_create_hessian: Algorithm 1 on a model's
 * exact Hessian-vector products over a checkpoint series. The driver
 * (basis_hessian.c) asks for H_c v; this file supplies it by keeping the
 * current checkpoint's parameters resident on the backend.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "basis.h"
#include "checkpoints.h"
#include "comm.h"
#include "layout.h"
#include "model.h"
#include "model_impl.h"
#include "progress_file.h"

typedef struct hvp_source {
    polca_context *ctx;
    const polca_model *model;
    const polca_data *data; /* this rank's share of the data (all of it alone) */
    polca_checkpoints *series;
    const int64_t *series_index; /* [n] position in the series of each basis checkpoint */
    int64_t p;
    float *host_theta;  /* [p] */
    float *theta;       /* backend [p]: parameters of checkpoint `loaded` */
    int64_t loaded;     /* -1: none */
    polca_checkpoints *scales;   /* NULL: plain Algorithm 1 */
    const int64_t *scale_index;  /* [n] position in `scales` of each basis checkpoint */
    const int64_t *steps;        /* [n] training step of each basis checkpoint */
} hvp_source;

/* root = sqrt(s) of basis checkpoint c, s read from the scales series and
 * checked (finite, >= 0). */
static int32_t scale_at(void *user, int64_t c, float *root) {
    hvp_source *s = user;
    int32_t st = polca_checkpoints_read(s->scales, s->scale_index[c], root, s->p);
    if (st)
        return polca__wrap(st, "reading the scales at step %lld", (long long)s->steps[c]);
    for (int64_t j = 0; j < s->p; j++) {
        float v = root[j];
        if (!isfinite(v) || v < 0.0f)
            return polca__fail(isfinite(v) ? POLCA_ERR_INVALID_ARGUMENT : POLCA_ERR_NOT_FINITE,
                               "argument 'scales': at step %lld (scales index %lld) the step "
                               "scale s[%lld] is %g; must be finite and >= 0",
                               (long long)s->steps[c], (long long)s->scale_index[c],
                               (long long)j, (double)v);
        root[j] = sqrtf(v);
    }
    return POLCA_OK;
}

/* A 32-bit hash of basis checkpoint c's parameters, for progress records:
 * from the host copy when it holds c, else read (the backend copy, which
 * `loaded` describes, is left alone). */
static int32_t weights_hash(void *user, int64_t c, uint32_t *out) {
    hvp_source *s = user;
    if (c != s->loaded) {
        int32_t st = polca_checkpoints_read(s->series, s->series_index[c], s->host_theta, s->p);
        if (st) return st;
        s->loaded = -1; /* host_theta no longer mirrors the backend copy */
    }
    uint64_t h = POLCA__FP_START;
    polca__fingerprint(&h, s->host_theta, (size_t)s->p * sizeof(float));
    *out = (uint32_t)(h ^ (h >> 32));
    return POLCA_OK;
}

static int32_t hvp_at(void *user, int64_t c, const float *v, float *hv) {
    hvp_source *s = user;
    if (!s->data) return POLCA_ERR_INTERNAL; /* no share: the driver does not call */
    if (c != s->loaded) {
        int32_t st = polca_checkpoints_read(s->series, s->series_index[c], s->host_theta, s->p);
        if (!st)
            st = s->ctx->be->upload(s->ctx->be_state, s->theta, s->host_theta,
                                    (size_t)s->p * sizeof(float));
        if (st) return st;
        s->loaded = c;
    }
    return polca__model_hvp_dev(s->model, s->data, s->theta, v, hv);
}

/* Positions of the basis checkpoints, sorted (series order), checked. */
static int32_t choose_checkpoints(polca_checkpoints *series, const int64_t *indices,
                                  int64_t n_indices, const char *fn, int64_t **out_idx,
                                  int64_t *out_n) {
    int64_t count = 0;
    int32_t st = polca_checkpoints_count(series, &count);
    if (st) return st;
    if (n_indices < 0 || (n_indices > 0 && !indices))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'indices' is NULL or n_indices = %lld < 0", fn,
                           (long long)n_indices);
    if (n_indices == 0 && indices)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_indices' is 0 with 'indices' non-NULL (an empty "
                           "choice); pass indices = NULL for every checkpoint", fn);
    if (n_indices > count)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_indices' is %lld; the series has %lld checkpoints", fn,
                           (long long)n_indices, (long long)count);
    int64_t n = n_indices ? n_indices : count;
    if (n < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: the series has no checkpoints", fn);
    int64_t *idx = polca__calloc((size_t)n, sizeof *idx, "basis checkpoint indices");
    uint8_t *seen = polca__calloc((size_t)count, 1, "basis checkpoint flags");
    if (!idx || !seen) {
        free(idx), free(seen);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t j = n_indices ? indices[i] : i;
        if (j < 0 || j >= count || seen[j]) {
            free(idx), free(seen);
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: indices[%lld] = %lld is %s (the series has %lld checkpoints)",
                               fn, (long long)i, (long long)j,
                               j < 0 || j >= count ? "out of range" : "repeated",
                               (long long)count);
        }
        seen[j] = 1;
    }
    for (int64_t j = 0, i = 0; j < count; j++)
        if (seen[j]) idx[i++] = j;
    free(seen);
    *out_idx = idx;
    *out_n = n;
    return POLCA_OK;
}

/* Hashes of every input of the model's side that decides the basis, one
 * per argument: for the check that the ranks make the same call, and the
 * progress file's fingerprint (the driver adds its own part). The
 * checkpoints' contents are not read for it; the progress path and
 * "resume" are not part of it (only rank 0's are used). */
enum { FP_MODEL, FP_DATA, FP_SERIES, FP_SCALES, FP_OPTIONS, FP_PARTS };
static const char *const fp_names[FP_PARTS] = {"model", "data", "series", "scales", "options"};

static void input_hashes(const polca_model *model, const polca_data *d, const int64_t *idx,
                         const int64_t *steps, const int64_t *sidx, int64_t n,
                         const polca__hessian_basis_opts *o, uint64_t parts[FP_PARTS]) {
    for (int i = 0; i < FP_PARTS; i++) parts[i] = POLCA__FP_START;
    polca__fingerprint_model(&parts[FP_MODEL], model);
    polca__fingerprint_data(&parts[FP_DATA], d);
    polca__fingerprint(&parts[FP_SERIES], idx, (size_t)n * sizeof *idx);
    polca__fingerprint(&parts[FP_SERIES], steps, (size_t)n * sizeof *steps);
    if (sidx) polca__fingerprint(&parts[FP_SCALES], sidx, (size_t)n * sizeof *sidx);
    int64_t v[] = {n,
                   o->eig.which,
                   o->eig.k,
                   o->eig.max_products,
                   (int64_t)o->eig.seed,
                   o->eig.krylov_size,
                   o->shuffle,
                   (int64_t)o->shuffle_seed,
                   o->warm_start};
    polca__fingerprint(&parts[FP_OPTIONS], v, sizeof v);
    polca__fingerprint(&parts[FP_OPTIONS], &o->eig.tol, sizeof o->eig.tol);
}

/* This rank's share of the data under a communicator of size > 1: the
 * contiguous run of sequences polca__comm_share gives it, and its weight,
 * the share's samples over all samples (so the weighted sum over the ranks
 * is the mean over all samples). No samples: *out NULL, weight 0. */
static int32_t data_share(const polca_context *ctx, const polca_data *data, polca_data **out,
                          double *weight) {
    int64_t lo, hi, n = 0;
    polca__comm_share(data->n_seq, polca__comm_size(ctx), polca__comm_rank(ctx), &lo, &hi);
    if (data->kind == POLCA__DATA_TOKENS) {
        for (int64_t i = 0; i < data->n_samples; i++) {
            int64_t seq = data->sample_pos[i] / data->width;
            n += seq >= lo && seq < hi;
        }
    } else {
        n = hi - lo;
    }
    *out = NULL;
    *weight = 0.0;
    if (n == 0) return POLCA_OK;
    int64_t *seq = polca__alloc((size_t)(hi - lo) * sizeof *seq, "data share");
    if (!seq) return POLCA_ERR_OUT_OF_MEMORY;
    for (int64_t i = lo; i < hi; i++) seq[i - lo] = i;
    int32_t st = polca_data_subset_sequences(data, hi - lo, seq, out);
    free(seq);
    if (st) return polca__wrap(st, "this rank's share of the data (sequences %lld..%lld)",
                               (long long)lo, (long long)hi - 1);
    *weight = (double)n / (double)data->n_samples;
    return POLCA_OK;
}

/* The checks and preparations of create() before the driver. */
typedef struct prepared {
    int64_t *idx, n, *steps, *sidx;
    polca_data *share;
    polca__hessian_basis_opts o;
    uint64_t parts[FP_PARTS];
} prepared;

static int32_t prepare_rest(polca_context *ctx, const polca_model *model, const polca_data *data,
                            polca_checkpoints *series, polca_checkpoints *scales, int64_t k,
                            const polca_options *options, const char *fn, hvp_source *src,
                            prepared *pp);

static int32_t prepare(polca_context *ctx, const polca_model *model, const polca_data *data,
                       polca_checkpoints *series, polca_checkpoints *scales,
                       const int64_t *indices, int64_t n_indices, int64_t k,
                       const polca_options *options, polca_basis **out, const char *fn,
                       hvp_source *src, prepared *pp) {
    int32_t st = polca__check_model(model, fn);
    if (!st) st = polca__check_handle(data, POLCA_MAGIC_DATA, fn, "data", "polca_data");
    if (!st) st = polca__check_handle(series, POLCA_MAGIC_CHECKPOINTS, fn, "series",
                                      "polca_checkpoints");
    if (!st && scales != NULL)
        st = polca__check_handle(scales, POLCA_MAGIC_CHECKPOINTS, fn, "scales",
                                 "polca_checkpoints");
    if (!st) st = polca__check_same_context(ctx, model, fn, "ctx", "model");
    if (!st) st = polca__check_same_context(ctx, data, fn, "ctx", "data");
    if (!st) st = polca__check_same_context(ctx, series, fn, "ctx", "series");
    if (!st && scales) st = polca__check_same_context(ctx, scales, fn, "ctx", "scales");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if ((st = polca__model_check_data(model, data, fn))) return st;
    const polca__layout *layout = polca__model_layout(model);
    if (!polca__layout_equal(layout, polca__checkpoints_layout(series)))
        return polca__layout_mismatch(layout, polca__checkpoints_layout(series), fn, "series");
    if (scales && !polca__layout_equal(layout, polca__checkpoints_layout(scales)))
        return polca__layout_mismatch(layout, polca__checkpoints_layout(scales), fn, "scales");
    if ((st = polca__options_check(options, polca__basis_hessian_option_names, fn))) return st;
    if ((st = choose_checkpoints(series, indices, n_indices, fn, &pp->idx, &pp->n))) return st;
    if ((st = prepare_rest(ctx, model, data, series, scales, k, options, fn, src, pp)))
        polca__wrap(st, "%s", fn);
    return st;
}

static int32_t prepare_rest(polca_context *ctx, const polca_model *model, const polca_data *data,
                            polca_checkpoints *series, polca_checkpoints *scales, int64_t k,
                            const polca_options *options, const char *fn, hvp_source *src,
                            prepared *pp) {
    int32_t st;
    const polca__layout *layout = polca__model_layout(model);
    const int64_t n = pp->n;
    if (!(pp->steps = polca__calloc((size_t)n, sizeof *pp->steps, "basis checkpoint steps")))
        return POLCA_ERR_OUT_OF_MEMORY;
    *src = (hvp_source){ctx, model, data, series, pp->idx, layout->n_params, NULL, NULL, -1,
                        scales, NULL, pp->steps};
    if ((st = polca__basis_hessian_parse(options, fn, src->p, n, k, &pp->o))) return st;
    for (int64_t i = 0; !st && i < n; i++)
        st = polca_checkpoints_step(series, pp->idx[i], &pp->steps[i]);
    if (!st && !(src->host_theta = polca__calloc((size_t)src->p, sizeof(float), "parameters")))
        st = POLCA_ERR_OUT_OF_MEMORY;
    if (!st && scales) {
        /* every basis step must be in `scales`, with valid values: checked
         * before the first solve */
        if (!(pp->sidx = polca__calloc((size_t)n, sizeof *pp->sidx, "scale checkpoint indices")))
            st = POLCA_ERR_OUT_OF_MEMORY;
        for (int64_t i = 0; !st && i < n; i++) {
            st = polca_checkpoints_find_step(scales, pp->steps[i], &pp->sidx[i]);
            if (!st && pp->sidx[i] < 0)
                st = polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                                 "argument 'scales' has no checkpoint at step %lld (basis "
                                 "checkpoint %lld of the series); append the optimizer's step "
                                 "scales at every step the basis uses",
                                 (long long)pp->steps[i], (long long)pp->idx[i]);
        }
        src->scale_index = pp->sidx;
        for (int64_t i = 0; !st && i < n; i++) st = scale_at(src, i, src->host_theta);
    }
    if (!st) {
        input_hashes(model, data, pp->idx, pp->steps, pp->sidx, n, &pp->o, pp->parts);
        uint64_t h = POLCA__FP_START;
        polca__fingerprint(&h, pp->parts, sizeof pp->parts);
        polca__fingerprint_context(&h, ctx);
        pp->o.fingerprint = h;
        pp->o.weights_hash = weights_hash;
    }
    if (!st && polca__comm_size(ctx) > 1) {
        st = data_share(ctx, data, &pp->share, &pp->o.shard_weight);
        src->data = pp->share;
    }
    if (!st)
        st = ctx->be->alloc(ctx->be_state, (size_t)src->p * sizeof(float), (void **)&src->theta);
    return st;
}

/* polca_basis_create_hessian (scales NULL) and its scaled variant. A
 * collective call under a communicator: every rank prepares, the ranks
 * agree (one fails, all fail with its message), then the driver. */
static int32_t create(polca_context *ctx, const polca_model *model, const polca_data *data,
                      polca_checkpoints *series, polca_checkpoints *scales,
                      const int64_t *indices, int64_t n_indices, int64_t k,
                      const polca_options *options, polca_basis **out, const char *fn) {
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    hvp_source src;
    memset(&src, 0, sizeof src);
    prepared pp;
    memset(&pp, 0, sizeof pp);
    st = prepare(ctx, model, data, series, scales, indices, n_indices, k, options, out, fn, &src,
                 &pp);
    /* rank R: its own message names fn; a failed broadcast is a broken
     * communicator, with no agreeing over it */
    st = polca__comm_agree(ctx, st);
    if (!st && polca__comm_size(ctx) > 1 &&
        (st = polca__comm_same_as_rank0(ctx, pp.parts, fp_names, FP_PARTS, fn)) !=
            POLCA_ERR_COMM)
        st = polca__comm_agree(ctx, st);
    if (!st) {
        polca_basis *b = NULL;
        st = polca__basis_hessian_scaled(ctx, src.p, pp.n, pp.steps, hvp_at,
                                         scales ? scale_at : NULL, &src, &pp.o, &b);
        if (b) {
            /* the driver numbers checkpoints 0..n-1; users want series positions */
            for (int64_t i = 0; i < b->k; i++)
                b->meta[i].source_index = pp.idx[b->meta[i].source_index];
            *out = b;
        }
        /* under a communicator the message is already "rank R: ..." */
        if (st && st != POLCA_ERR_NOT_CONVERGED && polca__comm_size(ctx) == 1)
            polca__wrap(st, "%s", fn);
    }
    if (src.theta) ctx->be->release(ctx->be_state, src.theta);
    polca_data_destroy(pp.share);
    free(src.host_theta), free(pp.steps), free(pp.idx), free(pp.sidx);
    return st;
}

int32_t polca_basis_create_hessian(polca_context *ctx, const polca_model *model,
                                   const polca_data *data, polca_checkpoints *series,
                                   const int64_t *indices, int64_t n_indices, int64_t k,
                                   const polca_options *options, polca_basis **out) {
    return create(ctx, model, data, series, NULL, indices, n_indices, k, options, out,
                  "polca_basis_create_hessian");
}

int32_t polca_basis_create_hessian_scaled(polca_context *ctx, const polca_model *model,
                                          const polca_data *data, polca_checkpoints *series,
                                          polca_checkpoints *scales, const int64_t *indices,
                                          int64_t n_indices, int64_t k,
                                          const polca_options *options, polca_basis **out) {
    static const char *fn = "polca_basis_create_hessian_scaled";
    if (!scales) {
        polca__clear_error();
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'scales' is NULL", fn);
    }
    return create(ctx, model, data, series, scales, indices, n_indices, k, options, out, fn);
}
