/* src/progress_file.c - progress files for resumable calls (progress_file.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "comm.h"
#include "layout.h"
#include "model.h"
#include "model_impl.h"
#include "progress_file.h"

#define FIELD_WHAT (POLCA__FIELD_USER + 0u)        /* u32 */
#define FIELD_FINGERPRINT (POLCA__FIELD_USER + 1u) /* u64 */

void polca__fingerprint(uint64_t *h, const void *data, size_t bytes) {
    /* 8 bytes a step (gigabytes of basis vectors are hashed), then the tail */
    const unsigned char *p = data;
    uint64_t x = *h, w;
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        memcpy(&w, p + i, 8);
        x = (x ^ w) * 0x100000001b3ull;
        x ^= x >> 29;
    }
    for (; i < bytes; i++) x = (x ^ p[i]) * 0x100000001b3ull;
    *h = x;
}

char *polca__progress_path(const polca_context *ctx, const char *path) {
    int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    size_t n = strlen(path) + 32;
    char *out = polca__alloc(n, "progress file path");
    if (!out) return NULL;
    if (size > 1) snprintf(out, n, "%s.%d-of-%d", path, (int)rank, (int)size);
    else snprintf(out, n, "%s", path);
    return out;
}

/* Records are written as they are: checksummed and compressed at zstd's
 * fastest level, never as deltas (each one must stand alone). */
static void progress_config(polca__ct_config *cfg) {
    polca__ct_config_default(cfg);
    cfg->level = 1;
    cfg->max_chain = 0;
    cfg->precond = POLCA__CT_PRE_FORCED;
}

static int32_t check_header(polca__container *ct, const char *path, uint32_t what,
                            uint64_t fingerprint) {
    const void *w = NULL, *f = NULL;
    uint64_t wl = 0, fl = 0;
    uint32_t got_what = 0;
    uint64_t got_fp = 0;
    if (!polca__ct_field_get(ct, FIELD_WHAT, &w, &wl) || wl != 4 ||
        !polca__ct_field_get(ct, FIELD_FINGERPRINT, &f, &fl) || fl != 8)
        return polca__fail(POLCA_ERR_CORRUPT, "progress file '%s' lacks its header fields", path);
    memcpy(&got_what, w, 4);
    memcpy(&got_fp, f, 8);
    if (got_what != what)
        return polca__fail(POLCA_ERR_STATE,
                           "'%s' holds the progress of a %s, not of a %s; remove it or choose "
                           "another path",
                           path, got_what == POLCA__PROGRESS_BASIS ? "basis" : "decomposition",
                           what == POLCA__PROGRESS_BASIS ? "basis" : "decomposition");
    if (got_fp != fingerprint)
        return polca__fail(POLCA_ERR_STATE,
                           "'%s' belongs to another computation (its inputs, "
                           "options or number of ranks differ: fingerprint %016llx, this call "
                           "%016llx); remove it to start afresh",
                           path, (unsigned long long)got_fp, (unsigned long long)fingerprint);
    return POLCA_OK;
}

int32_t polca__progress_open(const char *path, uint32_t what, uint64_t fingerprint, int resume,
                             polca__progress_file **out) {
    polca__ct_config cfg;
    progress_config(&cfg);
    polca__progress_file *f = polca__calloc(1, sizeof *f, "progress file");
    if (!f) return POLCA_ERR_OUT_OF_MEMORY;
    struct stat sb;
    int32_t st = POLCA_OK;
    if (resume && stat(path, &sb) == 0) {
        st = polca__ct_open(path, POLCA__FILE_PROGRESS, 1, &cfg, &f->ct);
        if (!st) st = check_header(f->ct, path, what, fingerprint);
        if (!st) f->n_done = polca__ct_count(f->ct);
    } else {
        polca__ct_field fields[2] = {{FIELD_WHAT, 4, &what}, {FIELD_FINGERPRINT, 8, &fingerprint}};
        st = polca__ct_create(path, POLCA__FILE_PROGRESS, NULL, fields, 2, POLCA__CT_APPEND, &cfg,
                              &f->ct);
    }
    if (st) {
        polca__progress_close(f);
        return polca__wrap(st, "progress file");
    }
    *out = f;
    return POLCA_OK;
}

int32_t polca__progress_read(polca__progress_file *f, int64_t i, void *buf, size_t bytes) {
    const polca__ct_record *r = polca__ct_record_at(f->ct, i);
    if (!r || r->dtype != POLCA__DT_U8 || r->n_elems != bytes)
        return polca__fail(POLCA_ERR_CORRUPT,
                           "progress file '%s': record %lld is not the %zu bytes expected",
                           polca__ct_path(f->ct), (long long)i, bytes);
    return polca__ct_read(f->ct, i, buf, bytes);
}

int32_t polca__progress_append(polca__progress_file *f, const void *buf, size_t bytes) {
    return polca__ct_append(f->ct, POLCA__REC_ARRAY, polca__ct_count(f->ct), POLCA__DT_U8, buf,
                            bytes, 0);
}

void polca__progress_close(polca__progress_file *f) {
    if (!f) return;
    polca__ct_close(f->ct);
    free(f);
}

void polca__fingerprint_data(uint64_t *h, const polca_data *d) {
    polca__fingerprint(h, &d->kind, sizeof d->kind);
    polca__fingerprint(h, &d->n_seq, sizeof d->n_seq);
    polca__fingerprint(h, &d->width, sizeof d->width);
    polca__fingerprint(h, &d->n_samples, sizeof d->n_samples);
    size_t cells = (size_t)d->n_seq * (size_t)d->width;
    if (d->tokens) polca__fingerprint(h, d->tokens, cells * sizeof *d->tokens);
    if (d->mask) polca__fingerprint(h, d->mask, cells * sizeof *d->mask);
    if (d->features) polca__fingerprint(h, d->features, cells * sizeof *d->features);
    if (d->labels) polca__fingerprint(h, d->labels, (size_t)d->n_seq * sizeof *d->labels);
    if (d->indices) polca__fingerprint(h, d->indices, (size_t)d->n_seq * sizeof *d->indices);
    polca__fingerprint(h, &d->n_total, sizeof d->n_total);
}

void polca__fingerprint_model(uint64_t *h, const polca_model *m) {
    const polca__layout *l = polca__model_layout(m);
    polca__fingerprint(h, &m->kind, sizeof m->kind);
    polca__fingerprint(h, &l->n_params, sizeof l->n_params);
    polca__fingerprint(h, &l->hash, sizeof l->hash);
    /* the architecture beyond the layout: the transformer's switches (a
     * struct of 4-byte fields, zeroed before it is filled), the MLP's
     * activation (its widths are the layout's shapes) */
    if (m->kind == POLCA__MODEL_TRANSFORMER) polca__fingerprint(h, &m->tf, sizeof m->tf);
    if (m->kind == POLCA__MODEL_MLP) polca__fingerprint(h, &m->mlp.act, sizeof m->mlp.act);
}

void polca__fingerprint_context(uint64_t *h, const polca_context *ctx) {
    /* the backend and its threads decide the last bits of every sum; the
     * text past ';' only says why CUDA was not used */
    const char *text = ctx->device_text ? ctx->device_text : ctx->be->name;
    const char *semi = strchr(text, ';');
    polca__fingerprint(h, text, semi ? (size_t)(semi - text) : strlen(text));
    int32_t size = polca__comm_size(ctx), rank = polca__comm_rank(ctx);
    polca__fingerprint(h, &size, sizeof size);
    polca__fingerprint(h, &rank, sizeof rank);
}
