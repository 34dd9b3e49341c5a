/*
 * src/data.c - polca_data: the samples a model is evaluated on (token,
 * feature or index data), copied from host arrays, and subsets of them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void data_free(polca_data *d) {
    if (!d) return;
    free(d->tokens);
    free(d->mask);
    free(d->sample_pos);
    free(d->features);
    free(d->labels);
    free(d->indices);
    d->head.magic = 0;
    free(d);
}

void polca_data_destroy(polca_data *data) {
    if (!data || data->head.magic != POLCA_MAGIC_DATA) return;
    data_free(data);
}

static polca_data *data_new(polca_context *ctx, int32_t kind, int64_t n_seq, int64_t width) {
    polca_data *d = polca__calloc(1, sizeof *d, "polca_data");
    if (!d) return NULL;
    d->head.magic = POLCA_MAGIC_DATA;
    d->head.ctx = ctx;
    d->kind = kind;
    d->n_seq = n_seq;
    d->width = width;
    return d;
}

/* Bytes of a [rows][cols] array of `item`-byte elements, or 0 with a message
 * when it overflows. */
static size_t array_bytes(int64_t rows, int64_t cols, size_t item, const char *fn,
                          const char *what, const char *dims) {
    size_t cells, bytes;
    if (!polca__mul_size((size_t)rows, (size_t)cols, &cells) ||
        !polca__mul_size(cells, item, &bytes)) {
        polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: '%s' of %lld x %lld (%s) is too large", fn,
                    what, (long long)rows, (long long)cols, dims);
        return 0;
    }
    return bytes;
}

/* Builds sample_pos and n_samples from d->mask; fails when none is scored. */
static int32_t index_samples(polca_data *d, const char *fn) {
    int64_t cells = d->n_seq * d->width, n = 0;
    for (int64_t i = 0; i < cells; i++) n += d->mask[i] != 0;
    if (n == 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'mask' scores no position (no samples)", fn);
    d->sample_pos = polca__alloc((size_t)n * sizeof *d->sample_pos, "sample positions");
    if (!d->sample_pos) return POLCA_ERR_OUT_OF_MEMORY;
    int64_t j = 0;
    for (int64_t i = 0; i < cells; i++)
        if (d->mask[i]) d->sample_pos[j++] = i;
    d->n_samples = n;
    return POLCA_OK;
}

int32_t polca_data_create_tokens(polca_context *ctx, int64_t n_seq, int64_t n_ctx,
                                 const int32_t *tokens, const uint8_t *mask, polca_data **out) {
    static const char *fn = "polca_data_create_tokens";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (!tokens)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'tokens' is NULL", fn);
    if (n_seq < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n_seq' is %lld; must be >= 1",
                           fn, (long long)n_seq);
    if (n_ctx < 2)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_ctx' is %lld; must be >= 2 (a scored position "
                           "needs a next token)",
                           fn, (long long)n_ctx);
    size_t tok_bytes = array_bytes(n_seq, n_ctx, sizeof(int32_t), fn, "tokens", "n_seq x n_ctx");
    if (!tok_bytes) return POLCA_ERR_INVALID_ARGUMENT;
    int64_t cells = n_seq * n_ctx;
    int32_t max_token = 0;
    for (int64_t i = 0; i < cells; i++) {
        if (tokens[i] < 0)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: tokens[%lld][%lld] is %d; token ids must be >= 0", fn,
                               (long long)(i / n_ctx), (long long)(i % n_ctx), (int)tokens[i]);
        if (tokens[i] > max_token) max_token = tokens[i];
    }
    if (mask)
        for (int64_t s = 0; s < n_seq; s++)
            if (mask[s * n_ctx + n_ctx - 1])
                return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                                   "%s: mask[%lld][%lld] is set: the last position of a "
                                   "sequence has no next token to score",
                                   fn, (long long)s, (long long)(n_ctx - 1));

    polca_data *d = data_new(ctx, POLCA__DATA_TOKENS, n_seq, n_ctx);
    if (!d) return POLCA_ERR_OUT_OF_MEMORY;
    d->tokens = polca__alloc(tok_bytes, "tokens");
    d->mask = polca__alloc((size_t)cells, "mask");
    if (!d->tokens || !d->mask) {
        data_free(d);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    memcpy(d->tokens, tokens, tok_bytes);
    for (int64_t i = 0; i < cells; i++)
        d->mask[i] = mask ? (mask[i] != 0) : (uint8_t)(i % n_ctx != n_ctx - 1);
    d->max_token = max_token;
    st = index_samples(d, fn);
    if (st) {
        data_free(d);
        return st;
    }
    *out = d;
    return POLCA_OK;
}

int32_t polca_data_create_features(polca_context *ctx, int64_t n, int64_t n_features,
                                   const float *features, const int32_t *labels,
                                   polca_data **out) {
    static const char *fn = "polca_data_create_features";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (!features)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'features' is NULL", fn);
    if (!labels)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'labels' is NULL", fn);
    if (n < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n' is %lld; must be >= 1",
                           fn, (long long)n);
    if (n_features < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_features' is %lld; must be >= 1", fn,
                           (long long)n_features);
    size_t f_bytes = array_bytes(n, n_features, sizeof(float), fn, "features", "n x n_features");
    if (!f_bytes) return POLCA_ERR_INVALID_ARGUMENT;
    for (int64_t i = 0; i < n * n_features; i++)
        if (!isfinite(features[i]))
            return polca__fail(POLCA_ERR_NOT_FINITE, "%s: features[%lld][%lld] is %g", fn,
                               (long long)(i / n_features), (long long)(i % n_features),
                               (double)features[i]);
    int32_t max_label = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: labels[%lld] is %d; labels must be >= 0", fn, (long long)i,
                               (int)labels[i]);
        if (labels[i] > max_label) max_label = labels[i];
    }
    polca_data *d = data_new(ctx, POLCA__DATA_FEATURES, n, n_features);
    if (!d) return POLCA_ERR_OUT_OF_MEMORY;
    d->n_samples = n;
    d->features = polca__alloc(f_bytes, "features");
    d->labels = polca__alloc((size_t)n * sizeof(int32_t), "labels");
    if (!d->features || !d->labels) {
        data_free(d);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    memcpy(d->features, features, f_bytes);
    memcpy(d->labels, labels, (size_t)n * sizeof(int32_t));
    d->max_label = max_label;
    *out = d;
    return POLCA_OK;
}

int32_t polca_data_create_indices(polca_context *ctx, int64_t n_total, int64_t n,
                                  const int64_t *indices, polca_data **out) {
    static const char *fn = "polca_data_create_indices";
    polca__clear_error();
    int32_t st = polca__check_handle(ctx, POLCA_MAGIC_CONTEXT, fn, "ctx", "polca_context");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (n_total < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n_total' is %lld; must be >= 1", fn,
                           (long long)n_total);
    if (n < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n' is %lld; must be >= 1",
                           fn, (long long)n);
    if (!indices && n != n_total)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'indices' is NULL (all samples) but n = %lld differs "
                           "from n_total = %lld",
                           fn, (long long)n, (long long)n_total);
    if (indices)
        for (int64_t i = 0; i < n; i++)
            if (indices[i] < 0 || indices[i] >= n_total)
                return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                                   "%s: indices[%lld] is %lld; must be in [0, %lld)", fn,
                                   (long long)i, (long long)indices[i], (long long)n_total);
    size_t bytes = array_bytes(n, 1, sizeof(int64_t), fn, "indices", "n");
    if (!bytes) return POLCA_ERR_INVALID_ARGUMENT;
    polca_data *d = data_new(ctx, POLCA__DATA_INDICES, n, 1);
    if (!d) return POLCA_ERR_OUT_OF_MEMORY;
    d->n_samples = n;
    d->n_total = n_total;
    d->indices = polca__alloc(bytes, "indices");
    if (!d->indices) {
        data_free(d);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    for (int64_t i = 0; i < n; i++) d->indices[i] = indices ? indices[i] : i;
    *out = d;
    return POLCA_OK;
}

int32_t polca_data_n_samples(const polca_data *data, int64_t *out) {
    polca__clear_error();
    int32_t st = polca__check_handle(data, POLCA_MAGIC_DATA, "polca_data_n_samples", "data",
                                     "polca_data");
    if (st) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "polca_data_n_samples: argument 'out' is NULL");
    *out = data->n_samples;
    return POLCA_OK;
}

int32_t polca_data_n_seq(const polca_data *data, int64_t *out) {
    polca__clear_error();
    int32_t st =
        polca__check_handle(data, POLCA_MAGIC_DATA, "polca_data_n_seq", "data", "polca_data");
    if (st) return st;
    if (!out)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "polca_data_n_seq: argument 'out' is NULL");
    *out = data->n_seq;
    return POLCA_OK;
}

int32_t polca_data_sample_at(const polca_data *data, int64_t sample, int64_t *out_seq,
                             int64_t *out_pos) {
    static const char *fn = "polca_data_sample_at";
    polca__clear_error();
    int32_t st = polca__check_handle(data, POLCA_MAGIC_DATA, fn, "data", "polca_data");
    if (st) return st;
    if (sample < 0 || sample >= data->n_samples)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'sample' is %lld; must be in [0, %lld)", fn,
                           (long long)sample, (long long)data->n_samples);
    int64_t seq = sample, pos = 0;
    if (data->kind == POLCA__DATA_TOKENS) {
        seq = data->sample_pos[sample] / data->width;
        pos = data->sample_pos[sample] % data->width;
    }
    if (out_seq) *out_seq = seq;
    if (out_pos) *out_pos = pos;
    return POLCA_OK;
}

int64_t polca__data_n_samples(const polca_data *data) { return data->n_samples; }

/* A copy of `src` restricted to rows row[0..n-1]; with `keep` non-NULL (token
 * data only), only cells whose keep flag is set stay scored. */
static int32_t copy_rows(const polca_data *src, int64_t n, const int64_t *row,
                         const uint8_t *keep, const char *fn, polca_data **out) {
    polca_data *d = data_new(src->head.ctx, src->kind, n, src->width);
    if (!d) return POLCA_ERR_OUT_OF_MEMORY;
    int64_t w = src->width;
    int32_t st = POLCA_OK;
    if (src->kind == POLCA__DATA_TOKENS) {
        d->tokens = polca__alloc((size_t)(n * w) * sizeof(int32_t), "tokens");
        d->mask = polca__alloc((size_t)(n * w), "mask");
        if (!d->tokens || !d->mask) {
            data_free(d);
            return POLCA_ERR_OUT_OF_MEMORY;
        }
        int32_t max_token = 0;
        for (int64_t j = 0; j < n; j++) {
            memcpy(d->tokens + j * w, src->tokens + row[j] * w, (size_t)w * sizeof(int32_t));
            for (int64_t t = 0; t < w; t++) {
                int64_t cell = row[j] * w + t;
                d->mask[j * w + t] = src->mask[cell] && (!keep || keep[cell]);
                if (d->tokens[j * w + t] > max_token) max_token = d->tokens[j * w + t];
            }
        }
        d->max_token = max_token;
        st = index_samples(d, fn);
    } else if (src->kind == POLCA__DATA_FEATURES) {
        d->n_samples = n;
        d->features = polca__alloc((size_t)(n * w) * sizeof(float), "features");
        d->labels = polca__alloc((size_t)n * sizeof(int32_t), "labels");
        if (!d->features || !d->labels) {
            data_free(d);
            return POLCA_ERR_OUT_OF_MEMORY;
        }
        int32_t max_label = 0;
        for (int64_t j = 0; j < n; j++) {
            memcpy(d->features + j * w, src->features + row[j] * w, (size_t)w * sizeof(float));
            d->labels[j] = src->labels[row[j]];
            if (d->labels[j] > max_label) max_label = d->labels[j];
        }
        d->max_label = max_label;
    } else {
        d->n_samples = n;
        d->n_total = src->n_total;
        d->indices = polca__alloc((size_t)n * sizeof(int64_t), "indices");
        if (!d->indices) {
            data_free(d);
            return POLCA_ERR_OUT_OF_MEMORY;
        }
        for (int64_t j = 0; j < n; j++) d->indices[j] = src->indices[row[j]];
    }
    if (st) {
        data_free(d);
        return st;
    }
    *out = d;
    return POLCA_OK;
}

int32_t polca_data_subset_sequences(const polca_data *data, int64_t n, const int64_t *seq,
                                    polca_data **out) {
    static const char *fn = "polca_data_subset_sequences";
    polca__clear_error();
    int32_t st = polca__check_handle(data, POLCA_MAGIC_DATA, fn, "data", "polca_data");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (!seq) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'seq' is NULL", fn);
    if (n < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n' is %lld; must be >= 1",
                           fn, (long long)n);
    if (n > INT64_MAX / (data->width > 0 ? data->width : 1) / 8)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'n' is too large (%lld)",
                           fn, (long long)n);
    for (int64_t j = 0; j < n; j++)
        if (seq[j] < 0 || seq[j] >= data->n_seq)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: seq[%lld] is %lld; must be in [0, %lld)", fn, (long long)j,
                               (long long)seq[j], (long long)data->n_seq);
    return copy_rows(data, n, seq, NULL, fn, out);
}

int32_t polca_data_subset_samples(const polca_data *data, int64_t n, const int64_t *sample,
                                  polca_data **out) {
    static const char *fn = "polca_data_subset_samples";
    polca__clear_error();
    int32_t st = polca__check_handle(data, POLCA_MAGIC_DATA, fn, "data", "polca_data");
    if (st) return st;
    if (!out) return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'out' is NULL", fn);
    if (!sample)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT, "%s: argument 'sample' is NULL", fn);
    if (n < 1 || n > data->n_samples)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: argument 'n' is %lld; must be in [1, %lld]", fn, (long long)n,
                           (long long)data->n_samples);
    for (int64_t j = 0; j < n; j++) {
        if (sample[j] < 0 || sample[j] >= data->n_samples)
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: sample[%lld] is %lld; must be in [0, %lld)", fn,
                               (long long)j, (long long)sample[j], (long long)data->n_samples);
        if (j > 0 && sample[j] <= sample[j - 1])
            return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                               "%s: sample[%lld] = %lld does not exceed sample[%lld] = %lld; "
                               "samples must be strictly increasing",
                               fn, (long long)j, (long long)sample[j], (long long)(j - 1),
                               (long long)sample[j - 1]);
    }
    if (data->kind != POLCA__DATA_TOKENS) return copy_rows(data, n, sample, NULL, fn, out);

    /* Token data: keep the sequences holding a chosen sample (in order, each
     * once), and score only the chosen cells. */
    int64_t w = data->width;
    uint8_t *keep = polca__calloc((size_t)(data->n_seq * w), 1, "subset flags");
    int64_t *rows = polca__alloc((size_t)n * sizeof *rows, "subset rows");
    if (!keep || !rows) {
        free(keep);
        free(rows);
        return POLCA_ERR_OUT_OF_MEMORY;
    }
    int64_t n_rows = 0;
    for (int64_t j = 0; j < n; j++) {
        int64_t cell = data->sample_pos[sample[j]];
        keep[cell] = 1;
        int64_t s = cell / w;
        if (n_rows == 0 || rows[n_rows - 1] != s) rows[n_rows++] = s;
    }
    st = copy_rows(data, n_rows, rows, keep, fn, out);
    free(keep);
    free(rows);
    return st;
}
