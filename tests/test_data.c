/*
 * tests/test_data.c - polca_data: token, feature and index data, sample
 * numbering, subsets, and every data function's bad input.
 */
#include "harness.h"

static polca_context *cpu_context(void) {
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    polca_options_create(&o);
    polca_options_set_string(o, "backend", "cpu");
    polca_context_create(o, &ctx);
    polca_options_destroy(o);
    return ctx;
}

/* 3 sequences of 4 tokens */
static const int32_t TOK[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint8_t MASK[12] = {0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0};

TEST(tokens_numbering_row_major) {
    polca_context *ctx = cpu_context();
    polca_data *d = NULL, *all = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, 3, 4, TOK, MASK, &d));
    int64_t n = 0, seq = -1, pos = -1;
    CHECK_OK(polca_data_n_samples(d, &n));
    CHECK(n == 4);
    CHECK_OK(polca_data_n_seq(d, &n));
    CHECK(n == 3);
    static const int64_t want[4][2] = {{0, 1}, {0, 2}, {1, 0}, {2, 2}};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(polca_data_sample_at(d, i, &seq, &pos));
        CHECK(seq == want[i][0] && pos == want[i][1]);
    }
    CHECK_OK(polca_data_sample_at(d, 3, NULL, &pos)); /* either output optional */
    /* NULL mask: every position but the last */
    CHECK_OK(polca_data_create_tokens(ctx, 3, 4, TOK, NULL, &all));
    CHECK_OK(polca_data_n_samples(all, &n));
    CHECK(n == 9);
    CHECK_OK(polca_data_sample_at(all, 4, &seq, &pos));
    CHECK(seq == 1 && pos == 1);
    /* inputs were copied */
    int32_t tok[12];
    memcpy(tok, TOK, sizeof tok);
    polca_data *c = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, 3, 4, tok, NULL, &c));
    memset(tok, 0, sizeof tok);
    polca_data_destroy(c);
    polca_data_destroy(d);
    polca_data_destroy(all);
    polca_data_destroy(NULL);
    polca_context_destroy(ctx);
}

TEST(subsets) {
    polca_context *ctx = cpu_context();
    polca_data *d = NULL, *s = NULL, *t = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, 3, 4, TOK, MASK, &d));
    int64_t n = 0, seq = 0, pos = 0;
    /* by sequences, reordered and repeated */
    static const int64_t seqs[3] = {2, 0, 2};
    CHECK_OK(polca_data_subset_sequences(d, 3, seqs, &s));
    CHECK_OK(polca_data_n_samples(s, &n));
    CHECK(n == 1 + 2 + 1);
    CHECK_OK(polca_data_sample_at(s, 1, &seq, &pos));
    CHECK(seq == 1 && pos == 1);
    CHECK_OK(polca_data_sample_at(s, 3, &seq, &pos));
    CHECK(seq == 2 && pos == 2);
    /* by samples: 1 (seq 0 pos 2) and 3 (seq 2 pos 2) */
    static const int64_t smp[2] = {1, 3};
    CHECK_OK(polca_data_subset_samples(d, 2, smp, &t));
    CHECK_OK(polca_data_n_samples(t, &n));
    CHECK(n == 2);
    CHECK_OK(polca_data_n_seq(t, &n));
    CHECK(n == 2);
    CHECK_OK(polca_data_sample_at(t, 0, &seq, &pos));
    CHECK(seq == 0 && pos == 2);
    CHECK_OK(polca_data_sample_at(t, 1, &seq, &pos));
    CHECK(seq == 1 && pos == 2);
    static const int64_t unsorted[2] = {3, 1}, dup[2] = {1, 1}, out_of_range[1] = {4};
    polca_data *x = (polca_data *)0x1;
    CHECK_STATUS(polca_data_subset_samples(d, 2, unsorted, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("strictly increasing");
    CHECK_STATUS(polca_data_subset_samples(d, 2, dup, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_subset_samples(d, 1, out_of_range, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("sample[0]");
    CHECK_STATUS(polca_data_subset_samples(d, 0, smp, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_subset_samples(d, 2, NULL, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'sample'");
    CHECK_STATUS(polca_data_subset_samples(d, 2, smp, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_subset_sequences(d, 1, out_of_range, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("seq[0]");
    CHECK_STATUS(polca_data_subset_sequences(d, 0, seqs, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_subset_sequences(d, 1, NULL, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_subset_sequences(d, 1, seqs, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_subset_sequences(NULL, 1, seqs, &x), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_subset_samples((polca_data *)(void *)ctx, 1, smp, &x),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_data");
    CHECK(x == (polca_data *)0x1); /* untouched */
    /* a subset of sequences with no scored position has no samples */
    static const int64_t empty_row[1] = {1};
    polca_data *e = NULL;
    static const uint8_t M2[12] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    polca_data *d2 = NULL;
    CHECK_OK(polca_data_create_tokens(ctx, 3, 4, TOK, M2, &d2));
    CHECK_STATUS(polca_data_subset_sequences(d2, 1, empty_row, &e), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("no samples");
    polca_data_destroy(d2);
    polca_data_destroy(s);
    polca_data_destroy(t);
    polca_data_destroy(d);
    polca_context_destroy(ctx);
}

TEST(features_and_indices) {
    polca_context *ctx = cpu_context();
    float X[6] = {1, 2, 3, 4, 5, 6};
    int32_t y[3] = {0, 2, 1};
    polca_data *f = NULL, *s = NULL, *ix = NULL, *all = NULL;
    CHECK_OK(polca_data_create_features(ctx, 3, 2, X, y, &f));
    int64_t n = 0, seq = 0, pos = 9;
    CHECK_OK(polca_data_n_samples(f, &n));
    CHECK(n == 3);
    CHECK_OK(polca_data_sample_at(f, 2, &seq, &pos));
    CHECK(seq == 2 && pos == 0);
    static const int64_t pick[2] = {2, 0};
    CHECK_OK(polca_data_subset_sequences(f, 2, pick, &s));
    CHECK_OK(polca_data_n_samples(s, &n));
    CHECK(n == 2);
    static const int64_t idx[4] = {5, 0, 5, 9};
    CHECK_OK(polca_data_create_indices(ctx, 10, 4, idx, &ix));
    CHECK_OK(polca_data_n_seq(ix, &n));
    CHECK(n == 4);
    CHECK_OK(polca_data_create_indices(ctx, 10, 10, NULL, &all));
    polca_data *x = NULL;
    static const int64_t inc[2] = {1, 3};
    CHECK_OK(polca_data_subset_samples(ix, 2, inc, &x));
    polca_data_destroy(x);
    polca_data_destroy(all);
    polca_data_destroy(ix);
    polca_data_destroy(s);
    polca_data_destroy(f);
    polca_context_destroy(ctx);
}

TEST(data_bad_input) {
    polca_context *ctx = cpu_context();
    polca_data *d = (polca_data *)0x1;
    int32_t tok[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    uint8_t mask[8] = {1, 1, 1, 0, 1, 0, 0, 0};
    /* tokens */
    CHECK_STATUS(polca_data_create_tokens(NULL, 2, 4, tok, mask, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'ctx'");
    CHECK_STATUS(polca_data_create_tokens((polca_context *)(void *)tok, 2, 4, tok, mask, &d),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_context");
    CHECK_STATUS(polca_data_create_tokens(ctx, 2, 4, NULL, mask, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'tokens'");
    CHECK_STATUS(polca_data_create_tokens(ctx, 2, 4, tok, mask, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'out'");
    CHECK_STATUS(polca_data_create_tokens(ctx, 0, 4, tok, mask, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_seq'");
    CHECK_STATUS(polca_data_create_tokens(ctx, 8, 1, tok, NULL, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_ctx'");
    CHECK_STATUS(polca_data_create_tokens(ctx, INT64_MAX / 2, 4, tok, mask, &d),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("too large");
    tok[5] = -3;
    CHECK_STATUS(polca_data_create_tokens(ctx, 2, 4, tok, mask, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("tokens[1][1] is -3");
    tok[5] = 5;
    mask[7] = 1; /* last position of sequence 1: no next token */
    CHECK_STATUS(polca_data_create_tokens(ctx, 2, 4, tok, mask, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("mask[1][3]");
    /* mask/shape mismatch: the same 8 cells read as 4 sequences of 2 put a
     * scored cell at a sequence end */
    mask[7] = 0;
    CHECK_STATUS(polca_data_create_tokens(ctx, 4, 2, tok, mask, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("mask[0][1]");
    uint8_t none[8] = {0};
    CHECK_STATUS(polca_data_create_tokens(ctx, 2, 4, tok, none, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("no position");
    /* features */
    float X[4] = {1, 2, 3, 4};
    int32_t y[2] = {0, 1};
    CHECK_STATUS(polca_data_create_features(NULL, 2, 2, X, y, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_create_features(ctx, 2, 2, NULL, y, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'features'");
    CHECK_STATUS(polca_data_create_features(ctx, 2, 2, X, NULL, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'labels'");
    CHECK_STATUS(polca_data_create_features(ctx, 2, 2, X, y, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_create_features(ctx, 0, 2, X, y, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n'");
    CHECK_STATUS(polca_data_create_features(ctx, 2, 0, X, y, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'n_features'");
    X[3] = NAN;
    CHECK_STATUS(polca_data_create_features(ctx, 2, 2, X, y, &d), POLCA_ERR_NOT_FINITE);
    CHECK_ERROR_MENTIONS("features[1][1]");
    X[3] = INFINITY;
    CHECK_STATUS(polca_data_create_features(ctx, 2, 2, X, y, &d), POLCA_ERR_NOT_FINITE);
    X[3] = 4;
    y[1] = -1;
    CHECK_STATUS(polca_data_create_features(ctx, 2, 2, X, y, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("labels[1]");
    /* indices */
    int64_t idx[3] = {0, 4, 2};
    CHECK_STATUS(polca_data_create_indices(NULL, 4, 3, idx, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_create_indices(ctx, 4, 3, idx, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("indices[1] is 4");
    idx[1] = -1;
    CHECK_STATUS(polca_data_create_indices(ctx, 4, 3, idx, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_create_indices(ctx, 4, 3, NULL, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("differs");
    CHECK_STATUS(polca_data_create_indices(ctx, 0, 3, idx, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_create_indices(ctx, 4, 0, idx, &d), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_create_indices(ctx, 4, 4, NULL, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(d == (polca_data *)0x1); /* untouched throughout */
    /* queries */
    int64_t n = 7;
    CHECK_STATUS(polca_data_n_samples(NULL, &n), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_n_seq(NULL, &n), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_n_samples((const polca_data *)(void *)ctx, &n),
                 POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("not a live polca_data");
    polca_data *ok = NULL;
    CHECK_OK(polca_data_create_indices(ctx, 4, 4, NULL, &ok));
    CHECK_STATUS(polca_data_n_samples(ok, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_n_seq(ok, NULL), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_sample_at(ok, 4, &n, &n), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("'sample'");
    CHECK_STATUS(polca_data_sample_at(ok, -1, &n, &n), POLCA_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(polca_data_sample_at(NULL, 0, &n, &n), POLCA_ERR_INVALID_ARGUMENT);
    CHECK(n == 7);
    polca_data_destroy(ok);
    polca_data_destroy((polca_data *)(void *)ctx); /* wrong type: ignored */
    polca_context_destroy(ctx);
}

int main(void) {
    RUN(tokens_numbering_row_major);
    RUN(subsets);
    RUN(features_and_indices);
    RUN(data_bad_input);
    return harness_done();
}
