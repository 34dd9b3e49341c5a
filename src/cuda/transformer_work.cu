/*
 * src/cuda/transformer_work.cu - chunk planning, the
 * per-call workspace and the batch's index arrays for the CUDA transformer
 * kernels.
 *
 * Memory bound. Each call makes ONE device allocation (from the backend's
 * stream-ordered pool, so repeated calls neither synchronize nor go back to
 * the driver): a per-call part (token ids and sample numbers of the whole
 * batch, 12 to 28 bytes per position; the [P] accumulator of the gradient
 * and HVP; two [L3][D] weight transposes; column-sum partials of at most
 * 8 MiB; with rotary positions the [T][rotary_dim / 2] cos and sin tables)
 * plus one chunk's activations and scratch (the gated MLP's gate
 * activations and adjoints, the parallel residual's second adjoint
 * included). Chunks are whole
 * sequences, as many as fit the state's chunk budget (default: an eighth of
 * the device memory, between 256 MiB and 4 GiB; environment variable
 * POLCA_CUDA_TF_CHUNK_BYTES at context creation), never fewer than one,
 * and balanced (equal sizes but the last) so no chunk is a sliver.
 *
 * Stored activation sets: losses keep one layer's (every layer reuses it);
 * the gradient keeps every layer's primal activations; the HVP the primal
 * and first-order tangents; directional derivatives the primal, and one
 * layer's worth of each tangent order (a tangent layer is consumed by the
 * next layer only).
 *
 * Index arrays, built on the host once per call and uploaded in one copy:
 * tokens, the sample number of each position (-1 if not scored), and for
 * the gradient and HVP each chunk's rows grouped by token (so the embedding
 * gradient is a deterministic segmented sum rather than atomics).
 */
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "transformer_cuda.h"

namespace polca_cuda {

size_t tf_default_chunk_bytes(size_t total_bytes) {
    const size_t lo = (size_t)256 << 20, hi = (size_t)4 << 30;
    size_t b = total_bytes / 8;
    return b < lo ? lo : (b > hi ? hi : b);
}

namespace {

/* Hands out 256-byte aligned pieces of one block; with base NULL it only
 * counts (a dry run gives the size). */
struct carver {
    char *base;
    size_t used;
};

template <class T> T *take(carver *cv, int64_t count) {
    size_t off = (cv->used + 255) & ~(size_t)255;
    cv->used = off + (size_t)count * sizeof(T);
    return cv->base ? (T *)(cv->base + off) : nullptr;
}

/* One activation set for B sequences; `shared`: every layer uses layer 0's
 * buffers (the set is only read within a layer). */
void carve_acts(const tf_run *r, int64_t B, bool shared, carver *cv, tf_acts *a) {
    const int64_t R = B * r->T, D = r->D, M = r->M;
    for (int64_t l = 0; l < r->n_layers; l++) {
        tf_block_acts *k = &a->blocks[l];
        if (shared && l > 0) {
            *k = a->blocks[0];
            continue;
        }
        k->n1 = take<float>(cv, R * D);
        k->s1 = take<float>(cv, R);
        k->a1 = take<float>(cv, R * D);
        k->qkv = take<float>(cv, R * r->L3);
        k->P = take<float>(cv, R * r->H * r->T);
        k->z = take<float>(cv, R * r->HE);
        if (M > 0) {
            k->n2 = take<float>(cv, R * D);
            k->s2 = take<float>(cv, R);
            k->a2 = take<float>(cv, R * D);
            k->pre = take<float>(cv, R * M);
            k->post = take<float>(cv, R * M);
            k->gate = r->gated ? take<float>(cv, R * M) : nullptr;
        } else {
            k->n2 = k->s2 = k->a2 = k->pre = k->post = k->gate = nullptr;
        }
    }
    a->nf = take<float>(cv, R * D);
    a->sf = take<float>(cv, R);
    a->af = take<float>(cv, R * D);
    a->logits = take<float>(cv, R * r->V);
}

int64_t max_of(int64_t a, int64_t b) { return a > b ? a : b; }

/* The chunk part of the workspace for B sequences. */
void carve_chunk(tf_call *c, int64_t B, carver *cv) {
    tf_run *r = &c->run;
    const int64_t R = B * r->T, D = r->D, att = B * r->H * r->T * r->T;
    const int64_t wide = max_of(max_of(r->V, r->M), r->HE);
    const bool grad = c->kind == TF_GRAD, hvp = c->kind == TF_HVP, dd = c->kind == TF_DIRDERIVS;
    carve_acts(r, B, c->kind == TF_LOSSES, cv, &c->a);
    if (hvp || dd) carve_acts(r, B, dd, cv, &c->t1);
    if (dd && c->curvature) carve_acts(r, B, true, cv, &c->t2);
    c->x = take<float>(cv, R * D);
    c->x1 = hvp || dd ? take<float>(cv, R * D) : nullptr;
    c->x2 = dd && c->curvature ? take<float>(cv, R * D) : nullptr;
    r->S1 = hvp || dd ? take<float>(cv, att) : nullptr;
    r->S2 = dd && c->curvature ? take<float>(cv, att) : nullptr;
    r->row_loss = grad ? take<double>(cv, R) : nullptr;
    const bool gate = r->gated && r->M > 0, par = r->parallel;
    if (grad || hvp) {
        c->dx = take<float>(cv, R * D);
        c->dln = take<float>(cv, R * D);
        c->wide = take<float>(cv, R * wide);
        c->dqkv = take<float>(cv, R * r->L3);
        c->dgate = gate ? take<float>(cv, R * r->M) : nullptr;
        c->dalt = par ? take<float>(cv, R * D) : nullptr;
        r->dP = take<float>(cv, att);
    }
    if (hvp) {
        c->dx_1 = take<float>(cv, R * D);
        c->dln_1 = take<float>(cv, R * D);
        c->wide_1 = take<float>(cv, R * wide);
        c->dqkv_1 = take<float>(cv, R * r->L3);
        c->dgate_1 = gate ? take<float>(cv, R * r->M) : nullptr;
        c->dalt_1 = par ? take<float>(cv, R * D) : nullptr;
        r->dP1 = take<float>(cv, att);
    }
}

size_t chunk_bytes(tf_call *c, int64_t B) {
    carver cv = {nullptr, 0};
    carve_chunk(c, B, &cv);
    return cv.used;
}

/* The index arrays: first in the workspace, so a host buffer carved the
 * same way has the same offsets and one copy uploads them all. */
struct index_arrays {
    int64_t *sample, *seg_start;
    int32_t *tokens, *seg_rows, *seg_tok;
};

void carve_index(const tf_call *c, carver *cv, index_arrays *ix) {
    const bool segs = c->kind == TF_GRAD || c->kind == TF_HVP;
    ix->sample = take<int64_t>(cv, c->n_rows);
    ix->tokens = take<int32_t>(cv, c->n_rows);
    ix->seg_start = segs ? take<int64_t>(cv, c->n_rows + 1) : nullptr;
    ix->seg_rows = segs ? take<int32_t>(cv, c->n_rows) : nullptr;
    ix->seg_tok = segs ? take<int32_t>(cv, c->n_rows) : nullptr;
}

/* The per-call part after the index arrays. */
void carve_call(tf_call *c, carver *cv) {
    tf_run *r = &c->run;
    const bool grad = c->kind == TF_GRAD, hvp = c->kind == TF_HVP;
    c->acc = grad || hvp ? take<float>(cv, c->P) : nullptr;
    r->loss_acc = grad ? take<double>(cv, 1) : nullptr;
    r->Wt = grad || hvp ? take<float>(cv, r->L3 * r->D) : nullptr;
    r->Wt1 = hvp ? take<float>(cv, r->L3 * r->D) : nullptr;
    if (r->rot_half > 0) {
        r->rope_cos = take<float>(cv, r->T * r->rot_half);
        r->rope_sin = take<float>(cv, r->T * r->rot_half);
    } else {
        r->rope_cos = r->rope_sin = nullptr;
    }
    if (grad || hvp) {
        /* column sums: up to 64 row groups of the widest sum (W_pos's T*D) */
        const int64_t widest = max_of(max_of(r->T * r->D, r->V), max_of(r->M, r->L3));
        int64_t n = 64 * widest;
        r->partial_count = n < ((int64_t)1 << 20) ? n : ((int64_t)1 << 20);
        r->partial = take<double>(cv, r->partial_count);
    } else {
        r->partial = nullptr;
        r->partial_count = 0;
    }
}

int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Fills the host copy of the index arrays and c->chunk_seg, c->N. */
int32_t build_index(tf_call *c, const int32_t *tokens, const uint8_t *mask, index_arrays *ix) {
    const int64_t T = c->run.T, V = c->run.V;
    int64_t n = 0;
    for (int64_t i = 0; i < c->n_rows; i++) {
        const int32_t tok = tokens[i];
        if (tok < 0 || tok >= V)
            return report(c->run.s, POLCA_ERR_INVALID_ARGUMENT,
                          "transformer kernel: token %lld of the batch is %d, outside [0, %lld)",
                          (long long)i, (int)tok, (long long)V);
        ix->tokens[i] = tok;
        ix->sample[i] = mask[i] != 0 && (i % T) + 1 < T ? n++ : -1;
    }
    c->N = n;
    if (!ix->seg_start) return POLCA_OK;
    /* rows of each chunk sorted by (token, row): one segment per token */
    const int64_t rows_max = c->chunk * T;
    uint64_t *keys = (uint64_t *)malloc((size_t)(rows_max > 0 ? rows_max : 1) * sizeof *keys);
    if (!keys)
        return report(c->run.s, POLCA_ERR_OUT_OF_MEMORY,
                      "transformer kernel: out of host memory sorting %lld rows",
                      (long long)rows_max);
    int64_t seg = 0, at = 0;
    for (int64_t ci = 0; ci < c->n_chunks; ci++) {
        const int64_t r0 = ci * c->chunk * T;
        const int64_t rows = (c->n_seq - ci * c->chunk < c->chunk ? c->n_seq - ci * c->chunk
                                                                 : c->chunk) * T;
        for (int64_t i = 0; i < rows; i++)
            keys[i] = (uint64_t)(uint32_t)tokens[r0 + i] << 32 | (uint64_t)i;
        qsort(keys, (size_t)rows, sizeof *keys, cmp_u64);
        c->chunk_seg[ci] = seg;
        for (int64_t i = 0; i < rows; i++) {
            const int32_t tok = (int32_t)(keys[i] >> 32);
            if (i == 0 || tok != (int32_t)(keys[i - 1] >> 32)) {
                ix->seg_start[seg] = at;
                ix->seg_tok[seg] = tok;
                seg++;
            }
            ix->seg_rows[at++] = (int32_t)(keys[i] & 0xffffffffu);
        }
    }
    c->chunk_seg[c->n_chunks] = seg;
    ix->seg_start[seg] = at;
    free(keys);
    return POLCA_OK;
}

} // namespace

int32_t tf_call_open(cuda_state *s, const polca__tf_config *cfg, int kind, bool curvature,
                     int64_t n_seq, const int32_t *tokens, const uint8_t *mask, tf_call *c) {
    memset(c, 0, sizeof *c);
    /* Every switch of src/transformer.c's spec is computed here; a value
     * outside the known ones (a newer core) is refused by name rather than
     * computed as something else. */
    const char *unknown = nullptr;
    if (cfg->norm != POLCA__NORM_LN && cfg->norm != POLCA__NORM_LN_NOBIAS &&
        cfg->norm != POLCA__NORM_RMS)
        unknown = "norm";
    else if (cfg->positions != POLCA__POS_LEARNED && cfg->positions != POLCA__POS_ROTARY &&
             cfg->positions != POLCA__POS_NONE)
        unknown = "positions";
    else if (cfg->act_fn != POLCA__ACT_GELU && cfg->act_fn != POLCA__ACT_GELU_NEW &&
             cfg->act_fn != POLCA__ACT_RELU && cfg->act_fn != POLCA__ACT_SILU)
        unknown = "act_fn";
    else if (cfg->n_kv_heads < 1 || cfg->n_heads % cfg->n_kv_heads != 0)
        unknown = "n_kv_heads";
    else if (cfg->positions == POLCA__POS_ROTARY &&
             (cfg->rotary_dim < 2 || cfg->rotary_dim % 2 || cfg->rotary_dim > cfg->d_head))
        unknown = "rotary_dim";
    if (unknown)
        return report(s, POLCA_ERR_UNSUPPORTED,
                      "CUDA transformer kernels: the config's %s is not one this module computes; "
                      "use backend \"cpu\"",
                      unknown);
    tf_run *r = &c->run;
    r->s = s;
    r->cfg = cfg;
    r->D = cfg->d_model;
    r->H = cfg->n_heads;
    r->E = cfg->d_head;
    r->HE = r->H * r->E;
    r->G = cfg->n_kv_heads;
    r->KE = r->G * r->E;
    r->group = r->H / r->G;
    r->L3 = r->HE + 2 * r->KE;
    r->M = cfg->d_mlp;
    r->V = cfg->d_vocab;
    r->T = cfg->n_ctx;
    r->n_layers = cfg->n_layers;
    r->act = cfg->act_fn;
    r->scale = (float)(1.0 / sqrt((double)r->E));
    r->center = cfg->norm != POLCA__NORM_RMS;
    r->eps = (double)cfg->norm_eps;
    r->gated = cfg->mlp_gated != 0;
    r->parallel = cfg->parallel_residual != 0;
    r->tied = cfg->tied_embeddings != 0;
    r->rot_half = cfg->positions == POLCA__POS_ROTARY ? cfg->rotary_dim / 2 : 0;
    c->kind = kind;
    c->curvature = curvature;
    c->n_seq = n_seq > 0 ? n_seq : 0;
    c->n_rows = c->n_seq * r->T;
    polca__tf_offsets o;
    polca__tf_offsets_of(cfg, &o);
    c->P = o.n_params;
    CU(s, cudaSetDevice(s->device), "cudaSetDevice");

    const int64_t L = cfg->n_layers;
    c->views = (tf_block_view *)calloc((size_t)(3 * L), sizeof *c->views);
    c->act_blocks = (tf_block_acts *)calloc((size_t)(3 * L), sizeof *c->act_blocks);
    if (!c->views || !c->act_blocks)
        return report(s, POLCA_ERR_OUT_OF_MEMORY, "transformer kernel: out of host memory");
    c->a.blocks = c->act_blocks;
    c->t1.blocks = c->act_blocks + L;
    c->t2.blocks = c->act_blocks + 2 * L;

    /* the largest chunk within the budget (at least one sequence, rows
     * within int32 for the sort keys), then balanced */
    int64_t lo = 1, hi = c->n_seq > 1 ? c->n_seq : 1;
    if (hi > INT32_MAX / r->T) hi = INT32_MAX / r->T;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (chunk_bytes(c, mid) <= s->tf_chunk_bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    c->n_chunks = c->n_seq > 0 ? (c->n_seq + lo - 1) / lo : 0;
    c->chunk = c->n_chunks > 0 ? (c->n_seq + c->n_chunks - 1) / c->n_chunks : 1;

    c->chunk_seg = (int64_t *)calloc((size_t)(c->n_chunks + 1), sizeof *c->chunk_seg);
    if (!c->chunk_seg)
        return report(s, POLCA_ERR_OUT_OF_MEMORY, "transformer kernel: out of host memory");

    /* sizes: index arrays | per-call | chunk */
    carver cv = {nullptr, 0};
    index_arrays ix;
    carve_index(c, &cv, &ix);
    const size_t index_bytes = cv.used;
    carve_call(c, &cv);
    carve_chunk(c, c->chunk, &cv);
    const size_t total = cv.used;

    char *host = (char *)malloc(index_bytes > 0 ? index_bytes : 1);
    if (!host)
        return report(s, POLCA_ERR_OUT_OF_MEMORY,
                      "transformer kernel: out of host memory (%zu bytes of index arrays)",
                      index_bytes);
    carver hc = {host, 0};
    carve_index(c, &hc, &ix);
    int32_t st = build_index(c, tokens, mask, &ix);
    if (!st) st = work_alloc(s, total, &c->mem, "transformer workspace");
    if (!st) {
        carver dc = {(char *)c->mem, 0};
        carve_index(c, &dc, &ix);
        c->sample = ix.sample;
        c->tokens = ix.tokens;
        c->seg_start = ix.seg_start;
        c->seg_rows = ix.seg_rows;
        c->seg_tok = ix.seg_tok;
        carve_call(c, &dc);
        carve_chunk(c, c->chunk, &dc);
        cudaError_t e = cudaMemcpyAsync(c->mem, host, index_bytes, cudaMemcpyHostToDevice,
                                        s->stream);
        if (e != cudaSuccess) st = cuda_error(s, e, "upload of the batch's index arrays");
    }
    if (!st && c->acc) {
        cudaError_t e = cudaMemsetAsync(c->acc, 0, (size_t)c->P * sizeof(float), s->stream);
        if (e != cudaSuccess) st = cuda_error(s, e, "cudaMemsetAsync (accumulator)");
    }
    if (!st && r->loss_acc) {
        cudaError_t e = cudaMemsetAsync(r->loss_acc, 0, sizeof(double), s->stream);
        if (e != cudaSuccess) st = cuda_error(s, e, "cudaMemsetAsync (loss sum)");
    }
    if (!st && r->rot_half > 0) st = op_rope_table(r);
    /* a pageable source is staged before cudaMemcpyAsync returns: the host
     * copy may go now */
    free(host);
    r->weight = c->N > 0 ? (float)(1.0 / (double)c->N) : 0.0f;
    return st;
}

void tf_call_chunk(tf_call *c, int64_t index) {
    tf_run *r = &c->run;
    const int64_t s0 = index * c->chunk;
    r->B = c->n_seq - s0 < c->chunk ? c->n_seq - s0 : c->chunk;
    r->R = r->B * r->T;
    r->tokens = c->tokens + s0 * r->T;
    r->sample = c->sample + s0 * r->T;
    r->seg_rows = c->seg_rows;
    r->seg_start = c->seg_start;
    r->seg_tok = c->seg_tok;
    r->seg0 = c->chunk_seg[index];
    r->nseg = c->chunk_seg[index + 1] - c->chunk_seg[index];
}

int32_t tf_call_close(tf_call *c, int32_t st) {
    cuda_state *s = c->run.s;
    if (c->mem) work_free(s, c->mem);
    c->mem = nullptr;
    if (!st && s) {
        cudaError_t e = cudaStreamSynchronize(s->stream);
        if (e != cudaSuccess) st = cuda_error(s, e, "transformer kernel (asynchronous error)");
    }
    free(c->views);
    free(c->act_blocks);
    free(c->chunk_seg);
    c->views = nullptr;
    c->act_blocks = nullptr;
    c->chunk_seg = nullptr;
    return st;
}

} // namespace polca_cuda
