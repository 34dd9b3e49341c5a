/*
 * examples/arithmetic/addition.h - the data of the paper's arithmetic
 * experiment (section 4, Appendix E.1): sums of two 3-digit numbers, as
 * token sequences for the built-in transformer, with the labels the paper
 * scores clusters against (digit place and carry).
 *
 * Example code, C11 standard library only; not part of libpolca's ABI.
 *
 * Vocabulary (ARITH_VOCAB = 12): tokens 0..9 are the digits, 10 is '+',
 * 11 is '='. A sequence has ARITH_N_CTX = 12 tokens:
 *
 *   position  0  1  2  3  4  5  6  7  8  9  10 11
 *   token     a2 a1 a0 +  b2 b1 b0 =  s3 s2 s1 s0
 *
 * a = 100 a2 + 10 a1 + a0 and b likewise, each in [0, 999] written with
 * leading zeros (3 tokens each); the sum s = a + b in [0, 1998] is written as
 * 4 output tokens, most significant first, so s3 (the 1000s digit) is
 * always 0 or 1. Example: 487 + 925 = 1412 is "4 8 7 + 9 2 5 = 1 4 1 2".
 *
 * Scored positions (libpolca's next-token convention, src/transformer.h:
 * position t is scored with target tokens[t+1]): t = 7, 8, 9, 10, i.e. '='
 * predicts s3, s3 predicts s2, s2 predicts s1, s1 predicts s0. Each
 * sequence therefore gives ARITH_N_OUT = 4 samples, and samples are numbered
 * in row-major order of scored positions:
 *
 *   sample j = 4 * sequence + q,  q = 0 (1000s), 1 (100s), 2 (10s), 3 (1s)
 *
 * Labels of sample (sequence, q), place p = 3 - q (the digit is the 10^p
 * digit of the sum):
 *   place: q (ARITH_PLACE_1000 .. ARITH_PLACE_1)
 *   carry: 1 if the digit receives a carry from the place below, counting the
 *          carry chain, i.e. (a mod 10^p) + (b mod 10^p) >= 10^p (Appendix
 *          E.1: "the sum up to the next lowest digit place"). The 1s digit
 *          never receives one; the 1000s digit receives the carry out of the
 *          100s place, so for it carry == the digit itself.
 */
#ifndef ARITH_ADDITION_H
#define ARITH_ADDITION_H

#include <stddef.h>
#include <stdint.h>

#define ARITH_VOCAB 12
#define ARITH_TOK_PLUS 10
#define ARITH_TOK_EQUALS 11
/* '#', the planted late skill's operator (late_skill.h): only in runs that
 * use it, whose model then has ARITH_VOCAB_SHIFT tokens. */
#define ARITH_TOK_SHIFT 12
#define ARITH_VOCAB_SHIFT 13
#define ARITH_N_CTX 12
#define ARITH_N_OUT 4       /* scored positions (samples) per sequence */
#define ARITH_FIRST_SCORED 7 /* the '=' position; scored: 7, 8, 9, 10 */

/* Digit places, in sample order within a sequence. */
#define ARITH_PLACE_1000 0
#define ARITH_PLACE_100 1
#define ARITH_PLACE_10 2
#define ARITH_PLACE_1 3

/* Categorical tags per sample, for automatic cluster labels: [n][ARITH_N_TAGS]. */
#define ARITH_TAG_PLACE 0       /* 4 values: 1000s, 100s, 10s, 1s            */
#define ARITH_TAG_CARRY 1       /* 2 values: no carry, carry                 */
#define ARITH_TAG_DIGIT 2       /* 10 values: the target digit 0..9          */
#define ARITH_TAG_PLACE_CARRY 3 /* 8 values: 2 * place + carry               */
#define ARITH_N_TAGS 4

/* ---- Random numbers: xoshiro256** (Blackman & Vigna 2018), its state
 * seeded from splitmix64. Fast, 256-bit state, and the same sequence on
 * every platform for a given (seed, stream). */
typedef struct arith_rng {
    uint64_t s[4];
} arith_rng;

/* Seeds from (seed, stream): different streams of one seed are independent
 * sequences (e.g. stream 0 for validation, 1 for training batches, 2 for the
 * basis sample set). */
void arith_rng_seed(arith_rng *rng, uint64_t seed, uint64_t stream);
uint64_t arith_rng_next(arith_rng *rng);
/* Uniform in [0, n), unbiased (rejection); n >= 1. */
uint64_t arith_rng_below(arith_rng *rng, uint64_t n);

/* ---- Data set: a fixed validation set of distinct pairs and a training
 * distribution that never yields a validation pair. */
typedef struct arith_config {
    int32_t min_operand; /* inclusive; 0 <= min_operand <= max_operand <= 999 */
    int32_t max_operand; /* default 0 and 999: every 3-digit string          */
    int32_t n_val;       /* validation sequences, distinct (a, b) pairs;
                            at most half of all pairs                        */
    uint64_t seed;
} arith_config;

/* Defaults: operands 0..999, n_val 1250 (the paper's), seed 1. */
void arith_config_default(arith_config *cfg);

typedef struct arith_data {
    arith_config cfg;
    int32_t *val_a, *val_b;  /* [n_val] operands of the validation sequences,
                                in draw order (owned)                        */
    unsigned char *val_mark; /* bitmap over pairs (owned): is (a, b) in val  */
} arith_data;

/* Draws the validation set from (cfg->seed, stream 0).
 * Returns 0, -1 on an invalid configuration or NULL argument (out untouched),
 * -2 when memory runs out. */
int arith_data_init(arith_data *out, const arith_config *cfg);
void arith_data_free(arith_data *d); /* NULL or zeroed: no-op */

/* 1 if (a, b) is a validation pair, else 0 (also for a pair out of range). */
int arith_data_is_val(const arith_data *d, int32_t a, int32_t b);

/* Draws n training pairs uniformly from the pairs in range that are not in
 * the validation set (with replacement; each call continues rng's stream).
 * a, b: out [n]. The host keeps rng (e.g. seeded from (seed, 1)), so the
 * training stream and any other draw (say the basis sample set, from
 * (seed, 2)) are independent of each other and of the validation set. */
void arith_data_draw_train(const arith_data *d, arith_rng *rng, int32_t n, int32_t *a,
                           int32_t *b);

/* ---- Encoding */

/* tokens: out [ARITH_N_CTX]. a, b in [0, 999]: returns 0, else -1 (untouched). */
int arith_encode(int32_t a, int32_t b, int32_t *tokens);
/* tokens: out [n][ARITH_N_CTX] row-major. Returns 0, or -1 if any operand is
 * out of range (tokens unspecified). */
int arith_encode_batch(int32_t n, const int32_t *a, const int32_t *b, int32_t *tokens);
/* The late skill's '#' problems (late_skill.h): "a # b = r", where r is the
 * sum a + b with its 10^p digit raised by one where bit p of `bits` is set:
 * mod 10 for p = 0, 1, 2 (no carry between places), and the 1000s digit
 * (p = 3) from 0 or 1 to 1 or 2. tokens: out [ARITH_N_CTX]. a, b in
 * [0, 999], bits in [0, 15]: returns 0, else -1 (untouched). */
int arith_encode_shift(int32_t a, int32_t b, int32_t bits, int32_t *tokens);
/* Reads a sequence: 0 if it has the format above with a correct sum (or, with
 * '#', the sum with some shift bits: each digit is the sum's or one more),
 * else -1. Outputs (any may be NULL) are written only
 * on success; sum is always a + b. */
int arith_decode(const int32_t *tokens, int32_t *a, int32_t *b, int32_t *sum);
/* mask: out [n][ARITH_N_CTX] uint8, 1 at the scored positions 7..10, else 0. */
void arith_score_mask(int32_t n, uint8_t *mask);
/* "487+925=1412" into buf (at least ARITH_N_CTX + 1 bytes); tokens out of the
 * vocabulary print as '?'. Returns buf. */
char *arith_format(const int32_t *tokens, char *buf);

/* ---- Labels, per sample (n = 4 * n_seq, sample order as above)
 * tokens: [n_seq][ARITH_N_CTX]. place, carry: out [n]; tags: out
 * [n][ARITH_N_TAGS] row-major; any output may be NULL. Returns 0, or -1 if a
 * sequence does not decode (arith_decode) - outputs then unspecified. */
int arith_labels(int32_t n_seq, const int32_t *tokens, int32_t *place, int32_t *carry,
                 int32_t *tags);

/* Names for reports: tag name ("place", "carry", "digit", "place_carry"),
 * number of values of a tag, and a value's name in words ("1000s",
 * "carry", "digit 7", "carry into the 10s", "no carry into the 100s").
 * NULL / 0 when out of range. Static strings. */
const char *arith_tag_name(int32_t tag);
int32_t arith_tag_n_values(int32_t tag);
const char *arith_tag_value_name(int32_t tag, int32_t value);
const char *arith_place_name(int32_t place); /* "1000s" .. "1s" */

/* ---- Summaries over samples */

/* Mean of values [n][n_t] over the samples of each group, at each t:
 * out [n_groups][n_t]. group: [n], values outside [0, n_groups) are ignored
 * (e.g. -1 for noise). Non-finite values are skipped; a (group, t) with no
 * finite value gets NaN. Accumulates in double. Returns 0, -1 on a
 * negative size or NULL array, -2 when memory runs out. */
int arith_group_mean(int32_t n, int32_t n_t, const float *values, const int32_t *group,
                     int32_t n_groups, double *out);

/* The paper's filter for carry clusters (Appendix G): among the members
 * (indices into the samples) that carry, the fraction whose place is 100s or
 * 10s - carries into the 1000s place only mean "predict a 1". NaN when no
 * member carries. place, carry: [n] from arith_labels. */
double arith_carry_mid_fraction(int32_t n_members, const int32_t *members, const int32_t *place,
                                const int32_t *carry);

/* Token accuracy of predictions [n_seq][ARITH_N_OUT] (the argmax at each
 * scored position) against tokens [n_seq][ARITH_N_CTX]: returns the overall
 * fraction; by_place (out [4], may be NULL) per digit place. NaN if n_seq 0. */
double arith_token_accuracy(int32_t n_seq, const int32_t *tokens, const int32_t *predicted,
                            double *by_place);
/* Index of the largest of logits [n][vocab] per row (first on ties, NaN rows
 * give -1): out [n]. */
void arith_argmax(int32_t n, int32_t vocab, const float *logits, int32_t *out);

#endif /* ARITH_ADDITION_H */
