/*
 * src/basis_hessian.c - Algorithm 1 (docs/method.md#the-basis-algorithm-1):
 * the Hessian eigenbasis over a series of checkpoints, each checkpoint
 * contributing the top-k eigenvectors of its Hessian projected onto the
 * orthogonal complement of the basis so far; and the shuffled-checkpoint
 * variant (Appendix H).
 *
 * The operator at checkpoint c is A_c = P H_c P with P = I - B B^T, applied
 * as written (project the input, HVP, project the output), so the reported
 * eigenvalue and residual are those of A_c. The eigensolver also keeps every
 * Krylov vector orthogonal to B (its "constraint"): A_c is zero on span(B),
 * and without the constraint those K zero eigenvalues could be returned
 * when the wanted end of P H_c P is at or below 0.
 *
 * Warm start: the eigenvectors of checkpoint c are in B by the time c+1 is
 * solved, so they cannot seed it. What can is the next Ritz vectors of c's
 * Krylov space (approximations of eigenvectors k+1..2k of A_c), which are
 * orthogonal to the new B and approximate the top of A_{c+1} when the
 * Hessian changes slowly between checkpoints.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basis.h"
#include "comm.h"
#include "progress_file.h"
#include "prng.h"

const polca__option_spec polca__basis_hessian_option_names[] = {
    {"which", POLCA_OPT_STRING},     {"tol", POLCA_OPT_DOUBLE},
    {"max_products", POLCA_OPT_INT}, {"seed", POLCA_OPT_INT},
    {"krylov_size", POLCA_OPT_INT},  {"shuffle", POLCA_OPT_INT},
    {"shuffle_seed", POLCA_OPT_INT}, {"warm_start", POLCA_OPT_INT},
    {"progress_file", POLCA_OPT_STRING}, {"resume", POLCA_OPT_INT},
    {NULL, 0},
};

int32_t polca__basis_hessian_parse(const polca_options *options, const char *fn, int64_t p,
                                   int64_t n_checkpoints, int64_t k,
                                   polca__hessian_basis_opts *o) {
    memset(o, 0, sizeof *o);
    if (n_checkpoints < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: no basis checkpoints (n_checkpoints is %lld)", fn,
                           (long long)n_checkpoints);
    if (k < 1 || k > p / n_checkpoints)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: k is %lld; must be in 1..n_params / n_checkpoints (%lld / "
                           "%lld): the basis cannot hold more than n_params vectors",
                           fn, (long long)k, (long long)p, (long long)n_checkpoints);
    int32_t st = polca__eigen_parse(options, fn, p, k, &o->eig);
    if (st) return st;
    int64_t shuffle = polca__options_int(options, "shuffle", 0);
    int64_t warm = polca__options_int(options, "warm_start", 1);
    if (shuffle != 0 && shuffle != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'shuffle' is %lld; must be 0 or 1", fn,
                           (long long)shuffle);
    if (warm != 0 && warm != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'warm_start' is %lld; must be 0 or 1", fn,
                           (long long)warm);
    int64_t resume = polca__options_int(options, "resume", 0);
    const char *path = polca__options_string(options, "progress_file", NULL);
    if (resume != 0 && resume != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'resume' is %lld; must be 0 or 1", fn, (long long)resume);
    if (path && !path[0])
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'progress_file' is an empty path", fn);
    if (resume && !path)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'resume' is 1 without a 'progress_file' to resume from",
                           fn);
    o->progress_path = path;
    o->resume = (int32_t)resume;
    o->shard_weight = 1.0;
    o->shuffle = (int32_t)shuffle;
    o->warm_start = (int32_t)warm;
    o->shuffle_seed = (uint64_t)polca__options_int(options, "shuffle_seed", 0);
    return POLCA_OK;
}

/* ---- Data-parallel products (a communicator of size > 1) ----
 *
 * Every rank runs the same eigensolver on the same numbers; only the
 * Hessian product is shared. Each product is one exchange: a sum over the
 * ranks of P + 3 size doubles, the first P the rank's weighted share of H v,
 * then per rank a phase (1: a product, 2: the solve ended), a status and a
 * 32-bit hash of the rank's input vector. From the sums every rank draws
 * the same conclusion: all asked for a product with the same input and none
 * failed (use the sum); some failed (every rank agrees on the lowest failing
 * rank's status and message); or the ranks diverged (some ended the solve
 * while others asked for a product, or their inputs differ: different
 * backends or thread counts), which fails every rank alike instead of
 * leaving one waiting. A rank whose solve ends, for any reason, takes part
 * in one last exchange (phase 2) unless its failure came from an exchange,
 * which every rank saw. */

#define PHASE_PRODUCT 1.0
#define PHASE_END 2.0

typedef struct shard_state {
    polca_context *ctx;
    int32_t size, rank;
    double weight;  /* this rank's samples / all samples; 0: none here */
    double *ex;     /* host [p + 3 size] */
    float *hbuf;    /* host [p] */
    int32_t agreed; /* the failure just returned was seen by every rank */
    /* a cancel asked by this rank's progress callback during a solve,
     * deferred to the next exchange so that every rank stops together */
    polca_progress_fn host_fn;
    void *host_user;
    int32_t cancel;
    const char *cancel_stage;
    int64_t cancel_done, cancel_total;
} shard_state;

static int32_t deferred_progress(void *user, const char *stage, int64_t done, int64_t total,
                                 double value) {
    shard_state *sh = user;
    if (!sh->cancel && sh->host_fn(sh->host_user, stage, done, total, value) != 0) {
        sh->cancel = 1;
        sh->cancel_stage = stage;
        sh->cancel_done = done;
        sh->cancel_total = total;
    }
    return 0;
}

static int32_t deferred_cancel(const shard_state *sh) {
    if (!sh->cancel) return POLCA_OK;
    return polca__fail(POLCA_ERR_CANCELLED, "%s: cancelled by the progress callback at %lld/%lld",
                       sh->cancel_stage, (long long)sh->cancel_done,
                       (long long)sh->cancel_total);
}

static int is_failure(int32_t st) { return st != POLCA_OK && st != POLCA_ERR_NOT_CONVERGED; }

/* One exchange (above): ex[0..p) already holds this rank's share. */
static int32_t exchange(shard_state *sh, int64_t p, double phase, int32_t status, uint32_t hash,
                        int64_t step) {
    const int32_t s = sh->size;
    double *slot = sh->ex + p;
    memset(slot, 0, (size_t)(3 * s) * sizeof *slot);
    slot[sh->rank] = phase;
    slot[s + sh->rank] = (double)status;
    slot[2 * s + sh->rank] = (double)hash;
    sh->agreed = 1;
    int32_t st = polca__comm_allreduce_sum(sh->ctx, sh->ex, p + 3 * s, "Hessian product");
    if (st) return st;
    int failed = 0, mixed = 0, differ = 0;
    for (int32_t q = 0; q < s; q++) {
        failed |= is_failure((int32_t)slot[s + q]);
        mixed |= slot[q] != slot[0];
        differ |= slot[2 * s + q] != slot[2 * s];
    }
    if (failed) return polca__comm_agree(sh->ctx, is_failure(status) ? status : POLCA_OK);
    if (mixed || differ)
        return polca__fail(POLCA_ERR_STATE,
                           "the ranks' eigensolvers diverged at the checkpoint of step %lld (%s); "
                           "every rank must compute with the same backend, the same thread "
                           "count and the same arguments",
                           (long long)step,
                           mixed ? "some ended the solve while others asked for another Hessian "
                                   "product"
                                 : "their Lanczos vectors differ");
    sh->agreed = 0;
    return POLCA_OK;
}

/* A 32-bit hash of a host vector's bytes (exact in a double). */
static uint32_t vector_hash(const float *v, int64_t p) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    const uint32_t *w = (const uint32_t *)(const void *)v;
    for (int64_t i = 0; i < p; i++) h = (h ^ w[i]) * 0x100000001b3ull;
    return (uint32_t)(h ^ (h >> 32));
}

typedef struct proj_op {
    const polca_backend *be;
    void *bs;
    polca__hvp_at_fn hvp_at;
    void *user;
    int64_t checkpoint, step;
    const float *B; /* backend [K][p], orthonormal */
    int64_t K, p;
    float *xp; /* backend [p]: the projected input */
    const float *root; /* host [p]: sqrt(s) of the checkpoint, or NULL (plain) */
    float *tmp;        /* host [p] scratch when root is set */
    shard_state *sh;   /* NULL: this process alone */
} proj_op;

/* v <- root .* v for a backend vector v, through host memory (the backends
 * have no elementwise product; a download and an upload per call). */
static int32_t scale_dev(const proj_op *o, float *v) {
    size_t bytes = (size_t)o->p * sizeof(float);
    int32_t st = o->be->download(o->bs, o->tmp, v, bytes);
    if (st) return st;
    for (int64_t j = 0; j < o->p; j++) o->tmp[j] *= o->root[j];
    return o->be->upload(o->bs, v, o->tmp, bytes);
}

/* v <- (I - B B^T) v, one row at a time with double-accumulated dots. */
static int32_t project(const proj_op *o, float *v) {
    for (int64_t i = 0; i < o->K; i++) {
        double c;
        int32_t st = o->be->dot(o->bs, o->p, o->B + i * o->p, v, &c);
        if (!st && c != 0.0) st = o->be->axpy(o->bs, o->p, (float)-c, o->B + i * o->p, v);
        if (st) return st;
    }
    return POLCA_OK;
}

static int32_t local_hvp(const proj_op *o, const float *x, float *y) {
    int32_t st = o->hvp_at(o->user, o->checkpoint, x, y);
    if (st)
        return polca__wrap(st, "Hessian product at checkpoint %lld (step %lld)",
                           (long long)o->checkpoint, (long long)o->step);
    return POLCA_OK;
}

/* y = H x summed over the ranks' shares (see the top of this section). */
static int32_t shared_hvp(const proj_op *o, const float *x, float *y) {
    shard_state *sh = o->sh;
    const int64_t p = o->p;
    double *ex = sh->ex;
    int32_t st = deferred_cancel(sh);
    if (!st && sh->weight > 0.0) {
        st = local_hvp(o, x, y);
        if (!st) st = o->be->download(o->bs, sh->hbuf, y, (size_t)p * sizeof(float));
        for (int64_t j = 0; !st && j < p; j++) {
            if (!isfinite(sh->hbuf[j]))
                st = polca__fail(POLCA_ERR_NOT_FINITE,
                                 "Hessian product at checkpoint %lld (step %lld) over this "
                                 "rank's share of the data: element %lld is %g",
                                 (long long)o->checkpoint, (long long)o->step, (long long)j,
                                 (double)sh->hbuf[j]);
            ex[j] = sh->weight * (double)sh->hbuf[j];
        }
    }
    if (st || sh->weight == 0.0) memset(ex, 0, (size_t)p * sizeof *ex);
    uint32_t hash = 0;
    if (!st) {
        st = o->be->download(o->bs, sh->hbuf, x, (size_t)p * sizeof(float));
        if (!st) hash = vector_hash(sh->hbuf, p);
    }
    if ((st = exchange(sh, p, PHASE_PRODUCT, st, hash, o->step))) return st;
    for (int64_t j = 0; j < p; j++) sh->hbuf[j] = (float)ex[j];
    return o->be->upload(o->bs, y, sh->hbuf, (size_t)p * sizeof(float));
}

static int32_t proj_apply(void *u, const float *x, float *y) {
    proj_op *o = u;
    const float *in = x;
    int32_t st;
    if (o->K > 0 || o->root) {
        if ((st = o->be->copy(o->bs, o->xp, x, (size_t)o->p * sizeof(float)))) return st;
        if (o->K > 0 && (st = project(o, o->xp))) return st;
        if (o->root && (st = scale_dev(o, o->xp))) return st;
        in = o->xp;
    }
    if ((st = o->sh ? shared_hvp(o, in, y) : local_hvp(o, in, y))) return st;
    if (o->root && (st = scale_dev(o, y))) return st;
    return o->K > 0 ? project(o, y) : POLCA_OK;
}

int32_t polca__basis_hessian(polca_context *ctx, int64_t p, int64_t n_checkpoints,
                             const int64_t *steps, polca__hvp_at_fn hvp_at, void *user,
                             const polca__hessian_basis_opts *o, polca_basis **out) {
    return polca__basis_hessian_scaled(ctx, p, n_checkpoints, steps, hvp_at, NULL, user, o, out);
}

/* A mapped vector u = S^{1/2} w that keeps less than this fraction of its
 * norm after Gram-Schmidt against the basis fails the call: above the
 * float32 rounding of CGS2 (a vector in span(B) keeps ~1e-7..1e-6), so what
 * passes is a direction and not rounding noise. */
#define SCALED_RANK_TOL 1e-5

/* ---- Progress records (docs/format.md "Basis progress records") ----
 *
 * One record per basis checkpoint, in visiting order: everything the loop
 * below carries from one checkpoint to the next, exactly as it was after
 * that checkpoint, so installing records 0..j-1 and going on computes what
 * an uninterrupted run computes, bit for bit. Under a communicator the same
 * record, packed by rank 0, is broadcast after each checkpoint, so every
 * rank holds rank 0's basis bit for bit. Little-endian, packed:
 *     0  u32 version (1)         4  u32 hash of the checkpoint's parameters
 *                                     (0 when the caller gives none)
 *     8  i64 t (visit position) 16  i64 checkpoint (driver numbering)
 *    24  i64 P                  32  i64 k (vectors appended)
 *    40  i64 n_spare            48  i64 spare slots (k with warm_start, else 0)
 *    56  i64 eigenpairs missed so far   64 i64 first checkpoint that missed (-1)
 *    72  f64 the checkpoint's largest relative residual (progress value)
 *    80  k x {i32 kind, i32 converged, i64 source step, i64 source index,
 *             f64 eigenvalue, f64 residual}           (40 bytes each)
 *        f32 [k][P] the appended vectors as stored in the basis
 *        f32 [slots][P] the warm-start vectors (rows past n_spare are 0) */

#define RECORD_VERSION 1u
#define RECORD_HEAD 80
#define META_BYTES 40

typedef struct loop_state {
    int64_t n_spare, missed, first_missed;
    double worst;
} loop_state;

static size_t record_bytes(int64_t p, int64_t k, int64_t slots) {
    return (size_t)RECORD_HEAD + (size_t)k * META_BYTES + (size_t)(k + slots) * (size_t)p * 4;
}

static void put_i64(unsigned char *at, int64_t v) { memcpy(at, &v, 8); }
static int64_t get_i64(const unsigned char *at) {
    int64_t v;
    memcpy(&v, at, 8);
    return v;
}

/* Packs checkpoint t's record from the basis' rows K0.. and the spare rows. */
static int32_t pack_record(const polca_context *ctx, const polca_basis *b, int64_t K0,
                           const float *spare, int64_t slots, int64_t t, int64_t c,
                           const loop_state *ls, uint32_t weights, unsigned char *rec) {
    const int64_t p = b->p, k = b->k - K0;
    uint32_t v[2] = {RECORD_VERSION, weights};
    memcpy(rec, v, 8);
    int64_t head[8] = {t, c, p, k, ls->n_spare, slots, ls->missed, ls->first_missed};
    for (int i = 0; i < 8; i++) put_i64(rec + 8 + 8 * i, head[i]);
    memcpy(rec + 72, &ls->worst, 8);
    unsigned char *m = rec + RECORD_HEAD;
    for (int64_t i = 0; i < k; i++, m += META_BYTES) {
        const polca__basis_meta *e = &b->meta[K0 + i];
        memcpy(m, &e->kind, 4);
        memcpy(m + 4, &e->converged, 4);
        put_i64(m + 8, e->source_step);
        put_i64(m + 16, e->source_index);
        memcpy(m + 24, &e->eigenvalue, 8);
        memcpy(m + 32, &e->residual, 8);
    }
    size_t row = (size_t)p * sizeof(float);
    float *rows = (float *)(void *)m;
    int32_t st = ctx->be->download(ctx->be_state, rows, polca__basis_resident(b) + K0 * p,
                           (size_t)k * row);
    memset(rows + k * p, 0, (size_t)slots * row);
    if (!st && ls->n_spare > 0)
        st = ctx->be->download(ctx->be_state, rows + k * p, spare, (size_t)ls->n_spare * row);
    return st;
}

/* A record read back must have been made on the parameters the series
 * holds now at checkpoint c (a series rewritten with the same steps is not
 * the computation the progress belongs to). */
static int32_t check_weights(const polca__hessian_basis_opts *o, void *user,
                             const unsigned char *rec, int64_t c, int64_t step,
                             const char *path) {
    uint32_t stored, now;
    if (!o->weights_hash) return POLCA_OK;
    memcpy(&stored, rec + 4, 4);
    int32_t st = o->weights_hash(user, c, &now);
    if (st) return st;
    if (stored != now)
        return polca__fail(POLCA_ERR_STATE,
                           "progress file '%s' was made with other parameters at the basis "
                           "checkpoint of step %lld than the series holds; remove it to start "
                           "afresh",
                           path, (long long)step);
    return POLCA_OK;
}

/* Installs record t (checked against this call) into the basis, the spare
 * rows and the loop state: the vectors are appended as stored, with no
 * Gram-Schmidt. vecs: backend scratch [k][p]. */
static int32_t install_record(const polca_context *ctx, polca_basis *b, const unsigned char *rec,
                              int64_t t, int64_t c, int64_t k, int64_t slots, float *vecs,
                              float *spare, loop_state *ls, const char *source, const char *fn) {
    const int64_t p = b->p;
    uint32_t v[2];
    memcpy(v, rec, 8);
    int64_t h[8];
    for (int i = 0; i < 8; i++) h[i] = get_i64(rec + 8 + 8 * i);
    if (v[0] != RECORD_VERSION || h[0] != t || h[1] != c || h[2] != p || h[3] != k ||
        h[4] < 0 || h[4] > slots || h[5] != slots || h[6] < 0 || h[7] < -1)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "%s: %s: record %lld does not describe basis checkpoint %lld of this "
                           "call (version %u, position %lld, checkpoint %lld, P %lld, k %lld)",
                           fn, source, (long long)t, (long long)c, (unsigned)v[0],
                           (long long)h[0], (long long)h[1], (long long)h[2], (long long)h[3]);
    polca__basis_meta *meta = polca__calloc((size_t)k, sizeof *meta, "basis metadata");
    if (!meta) return POLCA_ERR_OUT_OF_MEMORY;
    const unsigned char *m = rec + RECORD_HEAD;
    for (int64_t i = 0; i < k; i++, m += META_BYTES) {
        memcpy(&meta[i].kind, m, 4);
        memcpy(&meta[i].converged, m + 4, 4);
        meta[i].source_step = get_i64(m + 8);
        meta[i].source_index = get_i64(m + 16);
        memcpy(&meta[i].eigenvalue, m + 24, 8);
        memcpy(&meta[i].residual, m + 32, 8);
    }
    size_t row = (size_t)p * sizeof(float);
    const float *rows = (const float *)(const void *)m;
    int32_t st = ctx->be->upload(ctx->be_state, vecs, rows, (size_t)k * row);
    if (!st) st = polca__basis_append(b, vecs, k, meta, 0.0, fn, "stored vector", 0);
    if (!st && h[4] > 0) st = ctx->be->upload(ctx->be_state, spare, rows + k * p, (size_t)h[4] * row);
    free(meta);
    if (st) return st;
    ls->n_spare = h[4];
    ls->missed = h[6];
    ls->first_missed = h[7];
    memcpy(&ls->worst, rec + 72, 8);
    return POLCA_OK;
}

/* The driver's part of the fingerprint of a resumable call. */
static uint64_t driver_fingerprint(const polca_context *ctx, int64_t p, int64_t n,
                                   const int64_t *steps, const int64_t *order, int scaled,
                                   const polca__hessian_basis_opts *o) {
    uint64_t h = o->fingerprint;
    const char tag[] = "polca basis 1";
    polca__fingerprint(&h, tag, sizeof tag);
    int64_t v[] = {p,
                   n,
                   scaled,
                   o->eig.which,
                   o->eig.k,
                   o->eig.max_products,
                   (int64_t)o->eig.seed,
                   o->eig.krylov_size,
                   o->shuffle,
                   (int64_t)o->shuffle_seed,
                   o->warm_start,
                   polca__comm_size(ctx)};
    polca__fingerprint(&h, v, sizeof v);
    polca__fingerprint(&h, &o->eig.tol, sizeof o->eig.tol);
    polca__fingerprint(&h, steps, (size_t)n * sizeof *steps);
    polca__fingerprint(&h, order, (size_t)n * sizeof *order);
    return h;
}

int32_t polca__basis_hessian_scaled(polca_context *ctx, int64_t p, int64_t n_checkpoints,
                                    const int64_t *steps, polca__hvp_at_fn hvp_at,
                                    polca__scale_at_fn scale_at, void *user,
                                    const polca__hessian_basis_opts *o, polca_basis **out) {
    static const char *fn = "polca__basis_hessian";
    const int64_t k = o->eig.k;
    if (!ctx || !steps || !hvp_at || !out || p < 1 || n_checkpoints < 1 || k < 1 ||
        k > p / n_checkpoints)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: bad arguments (p %lld, checkpoints %lld, k %lld, steps %s, "
                           "hvp_at %s)",
                           fn, (long long)p, (long long)n_checkpoints, (long long)k,
                           steps ? "set" : "NULL", hvp_at ? "set" : "NULL");
    const polca_backend *be = ctx->be;
    void *bs = ctx->be_state;
    size_t row = (size_t)p * sizeof(float);
    const int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    const int64_t slots = o->warm_start ? k : 0;
    int64_t *order = polca__alloc((size_t)n_checkpoints * sizeof *order, "checkpoint order");
    double *values = polca__calloc((size_t)k, sizeof(double), "eigenvalues");
    double *residuals = polca__calloc((size_t)k, sizeof(double), "residuals");
    int32_t *converged = polca__calloc((size_t)k, sizeof(int32_t), "converged flags");
    polca__basis_meta *meta = polca__calloc((size_t)k, sizeof *meta, "basis metadata");
    float *vecs = NULL, *spare = NULL, *xp = NULL, *root = NULL, *tmp = NULL;
    polca_basis *b = NULL;
    polca__progress_file *pf = NULL;
    unsigned char *rec = NULL;
    shard_state sh = {ctx, size, rank, o->shard_weight, NULL, NULL, 0, NULL, NULL, 0, NULL, 0, 0};
    const int sharded = size > 1, recording = sharded || o->progress_path;
    const size_t rec_bytes = record_bytes(p, k, slots);
    int32_t st = POLCA_OK;
    loop_state ls = {0, 0, -1, 0.0};
    int64_t n_done = 0;
    if (!order || !values || !residuals || !converged || !meta) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto agreed;
    }
    if (scale_at && (!(root = polca__alloc(row, "scale roots")) ||
                     !(tmp = polca__alloc(row, "scaling scratch")))) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto agreed;
    }
    if (sharded && (!(sh.ex = polca__alloc((size_t)(p + 3 * size) * sizeof(double),
                                           "Hessian product exchange")) ||
                    !(sh.hbuf = polca__alloc(row, "Hessian product scratch")))) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto agreed;
    }
    if (recording && !(rec = polca__alloc(rec_bytes, "basis progress record"))) {
        st = POLCA_ERR_OUT_OF_MEMORY;
        goto agreed;
    }
    /* Visiting order: as given, or a seeded Fisher-Yates shuffle. */
    for (int64_t i = 0; i < n_checkpoints; i++) order[i] = i;
    if (o->shuffle) {
        polca__prng g;
        polca__prng_seed(&g, o->shuffle_seed, 0x53687566666c65ull /* "Shuffle" */);
        for (int64_t i = n_checkpoints - 1; i > 0; i--) {
            int64_t j = (int64_t)polca__prng_below(&g, (uint64_t)i + 1);
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    if ((st = be->alloc(bs, row * (size_t)k, (void **)&vecs))) goto agreed;
    if (o->warm_start && (st = be->alloc(bs, row * (size_t)k, (void **)&spare))) goto agreed;
    if ((st = be->alloc(bs, row, (void **)&xp))) goto agreed;
    if ((st = polca__basis_new(ctx, p, n_checkpoints * k, &b))) goto agreed;
    if (o->progress_path && rank == 0) {
        uint64_t fp = driver_fingerprint(ctx, p, n_checkpoints, steps, order, scale_at != NULL, o);
        st = polca__progress_open(o->progress_path, POLCA__PROGRESS_BASIS, fp, o->resume, &pf);
        if (!st && pf->n_done > n_checkpoints)
            st = polca__fail(POLCA_ERR_CORRUPT,
                             "progress file '%s' holds %lld records; this basis has %lld "
                             "checkpoints",
                             o->progress_path, (long long)pf->n_done, (long long)n_checkpoints);
        if (!st) n_done = pf->n_done;
    }
agreed:
    /* every rank prepared, or all fail together */
    st = polca__comm_agree(ctx, st);
    /* (whatever the other ranks' options say: rank 0's file decides) */
    if (!st) st = polca__comm_broadcast(ctx, &n_done, sizeof n_done, 0, "resumed checkpoints");
    if (st) goto done;

    int32_t kind = o->shuffle ? POLCA_BASIS_KIND_HESSIAN_SHUFFLED : POLCA_BASIS_KIND_HESSIAN;
    if (scale_at)
        kind = o->shuffle ? POLCA_BASIS_KIND_HESSIAN_SCALED_SHUFFLED
                          : POLCA_BASIS_KIND_HESSIAN_SCALED;
    for (int64_t t = 0; t < n_checkpoints; t++) {
        int64_t c = order[t], K0 = b->k;
        if (t < n_done) {
            /* resumed: rank 0 reads the record, every rank installs it */
            if (rank == 0) st = polca__progress_read(pf, t, rec, rec_bytes);
            if (rank == 0 && !st) st = check_weights(o, user, rec, c, steps[c], o->progress_path);
            if (!(st = polca__comm_agree(ctx, st)))
                st = polca__comm_broadcast(ctx, rec, (int64_t)rec_bytes, 0, "progress record");
            if (!st)
                st = install_record(ctx, b, rec, t, c, k, slots, vecs, spare, &ls,
                                    o->progress_path, fn);
            if (st) goto done;
        } else {
            if (scale_at) st = scale_at(user, c, root);
            if ((st = polca__comm_agree(ctx, st))) goto done;
            proj_op op = {be,   bs, hvp_at, user, c, steps[c], polca__basis_resident(b), b->k,
                          p,    xp, root,   tmp,  sharded ? &sh : NULL};
            polca__linop lin = {p, proj_apply, &op};
            polca__eigen_opts eo = o->eig;
            uint64_t mix = o->eig.seed + (uint64_t)c;
            eo.seed = polca__splitmix64(&mix);
            eo.constraint = op.B;
            eo.n_constraint = b->k;
            /* The solver copies the start block before it writes the spare
             * vectors, so one buffer serves as both. */
            eo.start = ls.n_spare > 0 ? spare : NULL;
            eo.n_start = ls.n_spare;
            eo.n_spare = o->warm_start ? k : 0;
            eo.fn = fn;
            eo.stage = "eigen";
            polca__eigen_out eout = {values, vecs, residuals, converged, 0, spare, 0};
            if (sharded) {
                /* a cancel by one rank's callback waits for the next exchange */
                sh.cancel = 0;
                sh.agreed = 0;
                sh.host_fn = ctx->progress_fn;
                sh.host_user = ctx->progress_user;
                if (sh.host_fn) {
                    ctx->progress_fn = deferred_progress;
                    ctx->progress_user = &sh;
                }
            }
            st = polca__eigen_solve(ctx, &lin, &eo, &eout);
            if (sharded) {
                ctx->progress_fn = sh.host_fn;
                ctx->progress_user = sh.host_user;
                if (!sh.agreed) {
                    int32_t local = st;
                    if (!is_failure(local) && sh.cancel) local = deferred_cancel(&sh);
                    memset(sh.ex, 0, (size_t)p * sizeof *sh.ex);
                    int32_t e = exchange(&sh, p, PHASE_END, local, 0, steps[c]);
                    if (e) st = e;
                }
            }
            if (is_failure(st)) goto done;
            if (st == POLCA_ERR_NOT_CONVERGED) {
                for (int64_t i = 0; i < k; i++) ls.missed += !converged[i];
                if (ls.first_missed < 0) ls.first_missed = c;
            }
            st = POLCA_OK;
            ls.worst = 0.0;
            for (int64_t i = 0; i < k; i++) {
                meta[i].kind = kind;
                meta[i].converged = converged[i];
                meta[i].source_step = steps[c];
                meta[i].source_index = c;
                meta[i].eigenvalue = values[i];
                meta[i].residual = residuals[i];
                double rel =
                    fabs(values[i]) > 0.0 ? residuals[i] / fabs(values[i]) : residuals[i];
                if (rel > ls.worst) ls.worst = rel;
            }
            if (rank == 0) {
                /* rank 0 appends; under a communicator the others install
                 * its record, so every rank holds the same bits */
                if (!scale_at) {
                    /* The eigenvectors are orthogonal to B already (the
                     * constraint): the append's CGS2 only polishes rounding,
                     * so a loss of more than half the norm would be a bug. */
                    st = polca__basis_append(b, vecs, k, meta, 0.5, fn, "eigenvector", b->k);
                } else {
                    /* u = S^{1/2} w, then Gram-Schmidt (CGS2) against B and
                     * the vectors before it at this checkpoint, normalized.
                     * u is no longer orthogonal to B, and may even lie in
                     * span(B) (s = 0 on the support of w): that fails the
                     * call, naming the checkpoint. */
                    for (int64_t i = 0; i < k && !st; i++) st = scale_dev(&op, vecs + i * p);
                    char what[128];
                    snprintf(what, sizeof what,
                             "the mapped eigenvector u = S^(1/2) w of the checkpoint at step "
                             "%lld, number",
                             (long long)steps[c]);
                    if (!st)
                        st = polca__basis_append(b, vecs, k, meta, SCALED_RANK_TOL, fn, what, 0);
                }
                ls.n_spare = o->warm_start ? eout.n_spare_out : 0;
                uint32_t weights = 0;
                if (!st && pf && o->weights_hash) st = o->weights_hash(user, c, &weights);
                if (!st && recording)
                    st = pack_record(ctx, b, K0, spare, slots, t, c, &ls, weights, rec);
                if (!st && pf) st = polca__progress_append(pf, rec, rec_bytes);
            }
            if (sharded) {
                if (!(st = polca__comm_agree(ctx, st)))
                    st = polca__comm_broadcast(ctx, rec, (int64_t)rec_bytes, 0, "basis vectors");
                if (!st && rank != 0)
                    st = install_record(ctx, b, rec, t, c, k, slots, vecs, spare, &ls,
                                        "rank 0's vectors", fn);
            }
            if (st) goto done;
        }
        st = polca__progress(ctx, "basis", t + 1, n_checkpoints, ls.worst);
        if ((st = polca__comm_agree(ctx, st))) goto done;
    }
    if ((st = be->sync(bs))) goto done;
    if (ls.missed > 0)
        st = polca__fail(POLCA_ERR_NOT_CONVERGED,
                         "%s: %lld of %lld eigenpairs missed the tolerance %g within %lld "
                         "products per checkpoint (first at checkpoint %lld); the basis "
                         "holds the best estimates",
                         fn, (long long)ls.missed, (long long)(n_checkpoints * k), o->eig.tol,
                         (long long)o->eig.max_products, (long long)ls.first_missed);
done:
    polca__progress_close(pf);
    free(rec);
    free(sh.ex);
    free(sh.hbuf);
    free(order);
    free(values);
    free(residuals);
    free(converged);
    free(meta);
    be->release(bs, vecs);
    be->release(bs, spare);
    be->release(bs, xp);
    free(root);
    free(tmp);
    if (st && st != POLCA_ERR_NOT_CONVERGED) {
        polca_basis_destroy(b);
        return st;
    }
    *out = b;
    return st;
}
