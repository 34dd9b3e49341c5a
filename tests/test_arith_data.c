/*
 * tests/test_arith_data.c - the arithmetic example's data
 * (examples/arithmetic/addition.c): generator against published and
 * independently computed vectors, every sum of the 10^6 pairs encoded and
 * decoded, labels against a direct computation, disjoint and reproducible
 * splits, and the helpers' edge cases.
 */
#include "harness.h"

#include "addition.h"

#include <stdint.h>

TEST(xoshiro_matches_published_vector) {
    /* Blackman & Vigna's reference code from the state {1, 2, 3, 4}. */
    arith_rng r = {{1, 2, 3, 4}};
    const uint64_t expect[4] = {11520ULL, 0ULL, 1509978240ULL, 1215971899390074240ULL};
    for (int i = 0; i < 4; i++) CHECK(arith_rng_next(&r) == expect[i]);
}

TEST(seeding_matches_python_reference) {
    /* tests/gen_arith_rng_vectors.py, written from the algorithms' papers. */
    const uint64_t s1[4] = {0xef75d62a19ba94edULL, 0x8e9490536375f270ULL, 0xc05630b1c614195dULL,
                            0x66daa2d5136a8f29ULL};
    const uint64_t s42[4] = {0x24bfb39aeb008c15ULL, 0xd858489e7fc02496ULL, 0x3deebe24036964f3ULL,
                             0x532b7127a28f00a1ULL};
    arith_rng r;
    arith_rng_seed(&r, 1, 0);
    for (int i = 0; i < 4; i++) CHECK(arith_rng_next(&r) == s1[i]);
    arith_rng_seed(&r, 42, 7);
    for (int i = 0; i < 4; i++) CHECK(arith_rng_next(&r) == s42[i]);
}

TEST(below_is_in_range_and_roughly_uniform) {
    arith_rng r;
    arith_rng_seed(&r, 9, 3);
    enum { N = 10, DRAWS = 200000 };
    long count[N] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = arith_rng_below(&r, N);
        CHECK(v < N);
        count[v]++;
    }
    /* Chi-square with 9 degrees of freedom: P(> 27.9) = 0.001. */
    double chi2 = 0, e = (double)DRAWS / N;
    for (int i = 0; i < N; i++) chi2 += (count[i] - e) * (count[i] - e) / e;
    CHECK(chi2 < 27.9);
    CHECK(arith_rng_below(&r, 1) == 0 && arith_rng_below(&r, 0) == 0);
}

TEST(every_sum_encodes_and_decodes) {
    int32_t tok[ARITH_N_CTX];
    char text[ARITH_N_CTX + 1], expect[32];
    for (int32_t a = 0; a <= 999; a++)
        for (int32_t b = 0; b <= 999; b++) {
            CHECK(arith_encode(a, b, tok) == 0);
            snprintf(expect, sizeof expect, "%03d+%03d=%04d", (int)a, (int)b, (int)(a + b));
            if (strcmp(arith_format(tok, text), expect) != 0) {
                FAILF("%d + %d encodes as %s, expected %s", (int)a, (int)b, text, expect);
                return;
            }
            int32_t da = -1, db = -1, ds = -1;
            CHECK(arith_decode(tok, &da, &db, &ds) == 0);
            CHECK(da == a && db == b && ds == a + b);
            CHECK(tok[8] == 0 || tok[8] == 1);
        }
}

TEST(decode_rejects_malformed_sequences) {
    int32_t tok[ARITH_N_CTX];
    CHECK(arith_encode(487, 925, tok) == 0);
    int32_t a = 7, b = 7, s = 7;
    CHECK(arith_decode(tok, &a, &b, &s) == 0 && a == 487 && b == 925 && s == 1412);
    for (int pos = 0; pos < ARITH_N_CTX; pos++) {
        int32_t bad[ARITH_N_CTX];
        memcpy(bad, tok, sizeof bad);
        /* Replace with a token of the wrong kind: a symbol where a digit
         * belongs, a digit where a symbol belongs. */
        bad[pos] = (pos == 3 || pos == 7) ? 5 : ARITH_TOK_PLUS;
        a = b = s = -7;
        CHECK(arith_decode(bad, &a, &b, &s) == -1);
        CHECK(a == -7 && b == -7 && s == -7); /* untouched */
        bad[pos] = -1;
        CHECK(arith_decode(bad, NULL, NULL, NULL) == -1);
        bad[pos] = ARITH_VOCAB_SHIFT; /* past every token, '#' included */
        CHECK(arith_decode(bad, NULL, NULL, NULL) == -1);
    }
    /* '#' (the late skill's operator): each digit may be the sum's or one
     * more; 487 # 925 with bits 0b1010 raises the 1000s and the 10s digit */
    int32_t sh[ARITH_N_CTX];
    CHECK(arith_encode_shift(487, 925, 10, sh) == 0 && sh[3] == ARITH_TOK_SHIFT);
    CHECK(sh[8] == 2 && sh[9] == 4 && sh[10] == 2 && sh[11] == 2);
    CHECK(arith_decode(sh, &a, &b, &s) == 0 && a == 487 && b == 925 && s == 1412);
    sh[10] = 3; /* raised by two: not a '#' answer */
    CHECK(arith_decode(sh, NULL, NULL, NULL) == -1);
    CHECK(arith_encode_shift(487, 925, 16, sh) == -1 && arith_encode_shift(487, 925, -1, sh) == -1);
    tok[3] = ARITH_TOK_PLUS;
    tok[11] = 3; /* 487 + 925 = 1413: well formed, wrong */
    CHECK(arith_decode(tok, NULL, NULL, NULL) == -1);
    CHECK(arith_decode(NULL, NULL, NULL, NULL) == -1);
    CHECK(arith_encode(-1, 0, tok) == -1 && arith_encode(0, 1000, tok) == -1);
    int32_t as[2] = {1, 1000}, bs[2] = {2, 3}, toks[2 * ARITH_N_CTX];
    CHECK(arith_encode_batch(1, as, bs, toks) == 0);
    CHECK(arith_encode_batch(2, as, bs, toks) == -1);
}

TEST(format_marks_tokens_outside_the_vocabulary) {
    int32_t tok[ARITH_N_CTX] = {1, 2, 3, 10, 4, 5, 6, 11, 0, 5, 7, 99};
    char buf[ARITH_N_CTX + 1];
    CHECK(strcmp(arith_format(tok, buf), "123+456=057?") == 0);
}

TEST(mask_scores_the_positions_that_predict_the_sum) {
    enum { NS = 3 };
    uint8_t mask[NS * ARITH_N_CTX];
    memset(mask, 0xAB, sizeof mask);
    arith_score_mask(NS, mask);
    int32_t a[NS] = {0, 999, 512}, b[NS] = {0, 999, 488}, tok[NS * ARITH_N_CTX];
    CHECK(arith_encode_batch(NS, a, b, tok) == 0);
    int32_t place[NS * ARITH_N_OUT];
    CHECK(arith_labels(NS, tok, place, NULL, NULL) == 0);
    int sample = 0;
    for (int s = 0; s < NS; s++)
        for (int t = 0; t < ARITH_N_CTX; t++) {
            CHECK(mask[s * ARITH_N_CTX + t] == 0 || mask[s * ARITH_N_CTX + t] == 1);
            if (!mask[s * ARITH_N_CTX + t]) continue;
            /* Row-major order of scored positions: the sample's target is the
             * next token, and it is the sum digit of its place. */
            CHECK(t + 1 < ARITH_N_CTX);
            int32_t target = tok[s * ARITH_N_CTX + t + 1];
            int32_t sum = a[s] + b[s];
            int32_t pow10[4] = {1000, 100, 10, 1};
            CHECK(place[sample] == sample % ARITH_N_OUT);
            CHECK(target == sum / pow10[place[sample]] % 10);
            sample++;
        }
    CHECK(sample == NS * ARITH_N_OUT);
    CHECK(mask[7] && mask[10] && !mask[6] && !mask[11]);
}

/* Carry into the 10^p digit, straight from the definition in Appendix E.1:
 * the sum of the lower places overflows. */
static int32_t carry_direct(int32_t a, int32_t b, int p) {
    int32_t m = 1;
    for (int i = 0; i < p; i++) m *= 10;
    return (a % m) + (b % m) >= m;
}

TEST(labels_match_direct_computation_for_every_pair) {
    enum { ROW = 1000 };
    int32_t a[ROW], b[ROW], tok[ROW * ARITH_N_CTX];
    int32_t place[ROW * ARITH_N_OUT], carry[ROW * ARITH_N_OUT], tags[ROW * ARITH_N_OUT * ARITH_N_TAGS];
    long carries[4] = {0, 0, 0, 0};
    for (int32_t x = 0; x <= 999; x++) {
        for (int32_t y = 0; y < ROW; y++) a[y] = x, b[y] = y;
        CHECK(arith_encode_batch(ROW, a, b, tok) == 0);
        CHECK(arith_labels(ROW, tok, place, carry, tags) == 0);
        for (int32_t y = 0; y < ROW; y++)
            for (int q = 0; q < ARITH_N_OUT; q++) {
                int j = y * ARITH_N_OUT + q, p = 3 - q;
                int32_t c = carry_direct(x, y, p);
                int32_t pow10[4] = {1, 10, 100, 1000};
                int32_t digit = (x + y) / pow10[p] % 10;
                if (place[j] != q || carry[j] != c) {
                    FAILF("%d + %d, sample %d: place %d carry %d, expected %d %d", (int)x, (int)y,
                          q, (int)place[j], (int)carry[j], q, (int)c);
                    return;
                }
                const int32_t *g = tags + j * ARITH_N_TAGS;
                CHECK(g[ARITH_TAG_PLACE] == q && g[ARITH_TAG_CARRY] == c);
                CHECK(g[ARITH_TAG_DIGIT] == digit && g[ARITH_TAG_PLACE_CARRY] == 2 * q + c);
                carries[q] += c;
            }
    }
    /* Closed forms over all 10^6 pairs: the 1s digit never receives a carry;
     * into the 10^p digit, pairs (u, v) of [0, 10^p) with u + v >= 10^p,
     * (10^p - 1) 10^p / 2 of them, times 10^(6-2p) for the other digits. */
    CHECK(carries[ARITH_PLACE_1] == 0);
    CHECK(carries[ARITH_PLACE_10] == 45L * 10000);
    CHECK(carries[ARITH_PLACE_100] == 4950L * 100);
    CHECK(carries[ARITH_PLACE_1000] == 499500L);
}

TEST(labels_of_the_carry_chain) {
    /* 999 + 1: no 10s digits overflow on their own, but the chain carries
     * into every place. 450 + 550: the 10s overflow (5 + 5), no carry into
     * the 10s place. */
    int32_t a[2] = {999, 450}, b[2] = {1, 550}, tok[2 * ARITH_N_CTX], carry[8];
    CHECK(arith_encode_batch(2, a, b, tok) == 0);
    CHECK(arith_labels(2, tok, NULL, carry, NULL) == 0);
    const int32_t expect[8] = {1, 1, 1, 0, /* 1000 */ 1, 1, 0, 0 /* 1000 */};
    for (int j = 0; j < 8; j++) CHECK(carry[j] == expect[j]);
    tok[ARITH_N_CTX + 11] = 1; /* second sequence made wrong */
    CHECK(arith_labels(2, tok, NULL, carry, NULL) == -1);
}

TEST(tag_names) {
    CHECK(strcmp(arith_tag_name(ARITH_TAG_PLACE), "place") == 0);
    CHECK(strcmp(arith_tag_name(ARITH_TAG_PLACE_CARRY), "place_carry") == 0);
    CHECK(arith_tag_name(-1) == NULL && arith_tag_name(ARITH_N_TAGS) == NULL);
    CHECK(arith_tag_n_values(ARITH_TAG_PLACE) == 4 && arith_tag_n_values(ARITH_TAG_CARRY) == 2);
    CHECK(arith_tag_n_values(ARITH_TAG_DIGIT) == 10 && arith_tag_n_values(ARITH_TAG_PLACE_CARRY) == 8);
    CHECK(arith_tag_n_values(7) == 0);
    CHECK(strcmp(arith_place_name(ARITH_PLACE_1000), "1000s") == 0);
    CHECK(strcmp(arith_place_name(ARITH_PLACE_1), "1s") == 0);
    CHECK(strcmp(arith_tag_value_name(ARITH_TAG_CARRY, 1), "carry") == 0);
    CHECK(strcmp(arith_tag_value_name(ARITH_TAG_DIGIT, 7), "digit 7") == 0);
    CHECK(strcmp(arith_tag_value_name(ARITH_TAG_PLACE_CARRY, 2 * ARITH_PLACE_10 + 1),
                 "carry into the 10s") == 0);
    CHECK(strcmp(arith_tag_value_name(ARITH_TAG_PLACE_CARRY, 2 * ARITH_PLACE_100),
                 "no carry into the 100s") == 0);
    CHECK(arith_tag_value_name(ARITH_TAG_PLACE, 4) == NULL);
    CHECK(arith_tag_value_name(ARITH_TAG_CARRY, -1) == NULL);
    CHECK(arith_place_name(9) == NULL);
}

TEST(split_is_disjoint_distinct_and_reproducible) {
    arith_config cfg;
    arith_config_default(&cfg);
    CHECK(cfg.min_operand == 0 && cfg.max_operand == 999 && cfg.n_val == 1250);
    arith_data d, e;
    CHECK(arith_data_init(&d, &cfg) == 0);
    CHECK(arith_data_init(&e, &cfg) == 0);
    long marked = 0;
    for (int32_t a = 0; a <= 999; a++)
        for (int32_t b = 0; b <= 999; b++) marked += arith_data_is_val(&d, a, b);
    int ok = marked == cfg.n_val;
    for (int32_t i = 0; ok && i < cfg.n_val; i++) {
        ok = d.val_a[i] == e.val_a[i] && d.val_b[i] == e.val_b[i]; /* same seed, same set */
        ok = ok && arith_data_is_val(&d, d.val_a[i], d.val_b[i]);
    }
    /* n_val marked pairs and every drawn pair marked: the pairs are distinct. */
    EXPECT(ok);
    arith_rng r1, r2;
    arith_rng_seed(&r1, cfg.seed, 1);
    arith_rng_seed(&r2, cfg.seed, 1);
    enum { NT = 4096 };
    static int32_t a1[NT], b1[NT], a2[NT], b2[NT];
    long in_val = 0, same = 0;
    for (int round = 0; round < 50; round++) {
        arith_data_draw_train(&d, &r1, NT, a1, b1);
        arith_data_draw_train(&e, &r2, NT, a2, b2);
        for (int i = 0; i < NT; i++) {
            same += a1[i] == a2[i] && b1[i] == b2[i];
            /* Independent check of disjointness: scan the validation list. */
            for (int32_t v = 0; v < cfg.n_val && round < 2; v++)
                in_val += d.val_a[v] == a1[i] && d.val_b[v] == b1[i];
            in_val += arith_data_is_val(&d, a1[i], b1[i]);
            EXPECT(a1[i] >= 0 && a1[i] <= 999 && b1[i] >= 0 && b1[i] <= 999);
        }
    }
    EXPECT(in_val == 0);
    EXPECT(same == 50L * NT);
    /* Another seed gives another validation set. */
    arith_config other = cfg;
    other.seed = 2;
    arith_data f;
    CHECK(arith_data_init(&f, &other) == 0);
    long shared = 0;
    for (int32_t i = 0; i < cfg.n_val; i++) shared += arith_data_is_val(&d, f.val_a[i], f.val_b[i]);
    EXPECT(shared < 20); /* expected 1250^2 / 10^6 = 1.6 */
    arith_data_free(&d);
    arith_data_free(&e);
    arith_data_free(&f);
    arith_data_free(&f); /* freeing twice is safe */
    arith_data_free(NULL);
}

TEST(small_range_training_covers_exactly_the_complement) {
    /* Operands 0..9: 100 pairs, half of them validation. Training draws must
     * reach every one of the other 50 and never a validation pair. */
    arith_config cfg = {0, 9, 50, 77};
    arith_data d;
    CHECK(arith_data_init(&d, &cfg) == 0);
    int seen[10][10];
    memset(seen, 0, sizeof seen);
    arith_rng r;
    arith_rng_seed(&r, 77, 1);
    enum { N = 5000 };
    static int32_t a[N], b[N];
    arith_data_draw_train(&d, &r, N, a, b);
    for (int i = 0; i < N; i++) {
        CHECK(a[i] >= 0 && a[i] <= 9 && b[i] >= 0 && b[i] <= 9);
        seen[a[i]][b[i]]++;
    }
    int n_val = 0;
    for (int x = 0; x < 10; x++)
        for (int y = 0; y < 10; y++) {
            int v = arith_data_is_val(&d, x, y);
            n_val += v;
            CHECK(v ? seen[x][y] == 0 : seen[x][y] > 0);
        }
    CHECK(n_val == 50);
    /* A range away from zero: operands 100..199. */
    arith_config hi = {100, 199, 1000, 5};
    arith_data e;
    CHECK(arith_data_init(&e, &hi) == 0);
    for (int i = 0; i < hi.n_val; i++)
        CHECK(e.val_a[i] >= 100 && e.val_a[i] <= 199 && e.val_b[i] >= 100 && e.val_b[i] <= 199);
    CHECK(arith_data_is_val(&e, 99, 150) == 0 && arith_data_is_val(&e, 150, 200) == 0);
    arith_data_draw_train(&e, &r, N, a, b);
    for (int i = 0; i < N; i++) CHECK(a[i] >= 100 && a[i] <= 199 && !arith_data_is_val(&e, a[i], b[i]));
    arith_data_free(&d);
    arith_data_free(&e);
}

TEST(bad_configurations_are_refused) {
    arith_data d, untouched;
    memset(&d, 0x5A, sizeof d);
    memcpy(&untouched, &d, sizeof d);
    arith_config bad[] = {
        {-1, 999, 10, 1}, {0, 1000, 10, 1}, {500, 400, 10, 1},
        {0, 999, -1, 1},  {0, 9, 51, 1},    {3, 3, 1, 1}, /* 1 pair: half is 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(arith_data_init(&d, &bad[i]) == -1);
        CHECK(memcmp(&d, &untouched, sizeof d) == 0);
    }
    arith_config ok = {0, 999, 0, 1};
    CHECK(arith_data_init(NULL, &ok) == -1);
    CHECK(arith_data_init(&d, NULL) == -1);
    CHECK(arith_data_init(&d, &ok) == 0); /* an empty validation set is allowed */
    CHECK(arith_data_is_val(&d, 1, 2) == 0);
    arith_data_free(&d);
    CHECK(arith_data_is_val(NULL, 1, 2) == 0);
}

TEST(group_mean_skips_noise_and_non_finite) {
    /* 4 samples x 3 times; groups 0, 1, noise, 0. */
    const float v[12] = {1, 2, 3, 10, 20, 30, 100, 100, 100, 3, NAN, INFINITY};
    const int32_t g[4] = {0, 1, -1, 0};
    double out[3 * 3];
    CHECK(arith_group_mean(4, 3, v, g, 3, out) == 0);
    CHECK(out[0] == 2.0 && out[1] == 2.0 && out[2] == 3.0);
    CHECK(out[3] == 10.0 && out[4] == 20.0 && out[5] == 30.0);
    CHECK(isnan(out[6]) && isnan(out[7]) && isnan(out[8])); /* empty group */
    CHECK(arith_group_mean(-1, 3, v, g, 3, out) == -1);
    CHECK(arith_group_mean(4, 3, NULL, g, 3, out) == -1);
    CHECK(arith_group_mean(4, 3, v, g, 3, NULL) == -1);
    CHECK(arith_group_mean(4, 3, v, g, 0, NULL) == 0);
}

TEST(carry_mid_fraction_counts_carries_of_the_middle_places) {
    const int32_t place[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    const int32_t carry[8] = {1, 1, 0, 0, 1, 0, 1, 0};
    const int32_t all[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    CHECK(arith_carry_mid_fraction(8, all, place, carry) == 0.5); /* 1000s 1000s 100s 10s */
    const int32_t some[2] = {1, 6};
    CHECK(arith_carry_mid_fraction(2, some, place, carry) == 1.0);
    const int32_t none[2] = {2, 3};
    CHECK(isnan(arith_carry_mid_fraction(2, none, place, carry)));
}

TEST(accuracy_and_argmax) {
    int32_t a[2] = {123, 999}, b[2] = {456, 999}, tok[2 * ARITH_N_CTX];
    CHECK(arith_encode_batch(2, a, b, tok) == 0); /* 0579, 1998 */
    const int32_t pred[8] = {0, 5, 7, 9, 1, 9, 0, 0};
    double by_place[4];
    CHECK(arith_token_accuracy(2, tok, pred, by_place) == 6.0 / 8.0);
    CHECK(by_place[0] == 1.0 && by_place[1] == 1.0 && by_place[2] == 0.5 && by_place[3] == 0.5);
    CHECK(isnan(arith_token_accuracy(0, tok, pred, by_place)) && isnan(by_place[2]));
    const float logits[3 * 4] = {0, 3, 3, 1, -1, -2, -0.5f, -3, 0, NAN, 1, 2};
    int32_t am[3];
    arith_argmax(3, 4, logits, am);
    CHECK(am[0] == 1 && am[1] == 2 && am[2] == -1);
}

int main(void) {
    RUN(xoshiro_matches_published_vector);
    RUN(seeding_matches_python_reference);
    RUN(below_is_in_range_and_roughly_uniform);
    RUN(every_sum_encodes_and_decodes);
    RUN(decode_rejects_malformed_sequences);
    RUN(format_marks_tokens_outside_the_vocabulary);
    RUN(mask_scores_the_positions_that_predict_the_sum);
    RUN(labels_match_direct_computation_for_every_pair);
    RUN(labels_of_the_carry_chain);
    RUN(tag_names);
    RUN(split_is_disjoint_distinct_and_reproducible);
    RUN(small_range_training_covers_exactly_the_complement);
    RUN(bad_configurations_are_refused);
    RUN(group_mean_skips_noise_and_non_finite);
    RUN(carry_mid_fraction_counts_carries_of_the_middle_places);
    RUN(accuracy_and_argmax);
    return harness_done();
}
