/*
 * examples/arithmetic/addition.c - 3-digit addition data and labels
 * (addition.h documents the format and the labels).
 */
#include "addition.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- splitmix64 (seeding) and xoshiro256** (the stream) */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void arith_rng_seed(arith_rng *rng, uint64_t seed, uint64_t stream) {
    /* Mix the stream number in through one splitmix64 step of its own, so
     * (seed, stream) and (seed + 1, stream - 1) do not collide. */
    uint64_t x = stream;
    uint64_t sm = seed ^ splitmix64(&x);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&sm);
    /* splitmix64 output is a bijection of its counter, so the 4 words cannot
     * all be zero; xoshiro only needs a nonzero state. */
}

uint64_t arith_rng_next(arith_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t arith_rng_below(arith_rng *rng, uint64_t n) {
    if (n <= 1) return 0;
    /* Reject the lowest (2^64 mod n) values so every residue is equally likely. */
    uint64_t threshold = (0 - n) % n;
    uint64_t r;
    do r = arith_rng_next(rng);
    while (r < threshold);
    return r % n;
}

/* ---- Data set */

void arith_config_default(arith_config *cfg) {
    cfg->min_operand = 0;
    cfg->max_operand = 999;
    cfg->n_val = 1250;
    cfg->seed = 1;
}

static int64_t pair_index(const arith_config *cfg, int32_t a, int32_t b) {
    int64_t r = (int64_t)cfg->max_operand - cfg->min_operand + 1;
    return (int64_t)(a - cfg->min_operand) * r + (b - cfg->min_operand);
}

static int in_range(const arith_config *cfg, int32_t v) {
    return v >= cfg->min_operand && v <= cfg->max_operand;
}

/* A uniform pair of the configured range. */
static void draw_pair(const arith_config *cfg, arith_rng *rng, int32_t *a, int32_t *b) {
    uint64_t r = (uint64_t)(cfg->max_operand - cfg->min_operand + 1);
    *a = cfg->min_operand + (int32_t)arith_rng_below(rng, r);
    *b = cfg->min_operand + (int32_t)arith_rng_below(rng, r);
}

int arith_data_init(arith_data *out, const arith_config *cfg) {
    if (!out || !cfg) return -1;
    if (cfg->min_operand < 0 || cfg->max_operand > 999 || cfg->min_operand > cfg->max_operand)
        return -1;
    int64_t r = (int64_t)cfg->max_operand - cfg->min_operand + 1;
    int64_t n_pairs = r * r;
    /* At most half the pairs go to validation: the rejection sampling below
     * and in arith_data_draw_train then needs at most 2 draws on average. */
    if (cfg->n_val < 0 || (int64_t)cfg->n_val * 2 > n_pairs) return -1;

    arith_data d;
    memset(&d, 0, sizeof d);
    d.cfg = *cfg;
    size_t nv = cfg->n_val > 0 ? (size_t)cfg->n_val : 1;
    d.val_a = malloc(nv * sizeof *d.val_a);
    d.val_b = malloc(nv * sizeof *d.val_b);
    d.val_mark = calloc((size_t)((n_pairs + 7) / 8), 1);
    if (!d.val_a || !d.val_b || !d.val_mark) {
        arith_data_free(&d);
        return -2;
    }
    arith_rng rng;
    arith_rng_seed(&rng, cfg->seed, 0);
    for (int32_t i = 0; i < cfg->n_val;) {
        int32_t a, b;
        draw_pair(cfg, &rng, &a, &b);
        int64_t k = pair_index(cfg, a, b);
        if (d.val_mark[k >> 3] & (1u << (k & 7))) continue; /* already drawn */
        d.val_mark[k >> 3] |= (unsigned char)(1u << (k & 7));
        d.val_a[i] = a;
        d.val_b[i] = b;
        i++;
    }
    *out = d;
    return 0;
}

void arith_data_free(arith_data *d) {
    if (!d) return;
    free(d->val_a);
    free(d->val_b);
    free(d->val_mark);
    d->val_a = d->val_b = NULL;
    d->val_mark = NULL;
}

int arith_data_is_val(const arith_data *d, int32_t a, int32_t b) {
    if (!d || !d->val_mark || !in_range(&d->cfg, a) || !in_range(&d->cfg, b)) return 0;
    int64_t k = pair_index(&d->cfg, a, b);
    return (d->val_mark[k >> 3] >> (k & 7)) & 1;
}

void arith_data_draw_train(const arith_data *d, arith_rng *rng, int32_t n, int32_t *a,
                           int32_t *b) {
    for (int32_t i = 0; i < n;) {
        draw_pair(&d->cfg, rng, &a[i], &b[i]);
        if (!arith_data_is_val(d, a[i], b[i])) i++;
    }
}

/* ---- Encoding */

int arith_encode(int32_t a, int32_t b, int32_t *tokens) {
    if (a < 0 || a > 999 || b < 0 || b > 999) return -1;
    int32_t s = a + b;
    tokens[0] = a / 100;
    tokens[1] = a / 10 % 10;
    tokens[2] = a % 10;
    tokens[3] = ARITH_TOK_PLUS;
    tokens[4] = b / 100;
    tokens[5] = b / 10 % 10;
    tokens[6] = b % 10;
    tokens[7] = ARITH_TOK_EQUALS;
    tokens[8] = s / 1000;
    tokens[9] = s / 100 % 10;
    tokens[10] = s / 10 % 10;
    tokens[11] = s % 10;
    return 0;
}

int arith_encode_shift(int32_t a, int32_t b, int32_t bits, int32_t *tokens) {
    if (bits < 0 || bits > 15 || arith_encode(a, b, tokens) != 0) return -1;
    tokens[3] = ARITH_TOK_SHIFT;
    for (int p = 0; p < 3; p++) tokens[11 - p] = (tokens[11 - p] + ((bits >> p) & 1)) % 10;
    tokens[8] += (bits >> 3) & 1; /* 0 or 1 becomes 1 or 2 */
    return 0;
}

int arith_encode_batch(int32_t n, const int32_t *a, const int32_t *b, int32_t *tokens) {
    for (int32_t i = 0; i < n; i++)
        if (arith_encode(a[i], b[i], tokens + (size_t)i * ARITH_N_CTX) != 0) return -1;
    return 0;
}

static int is_digit_token(int32_t t) { return t >= 0 && t <= 9; }

int arith_decode(const int32_t *t, int32_t *a, int32_t *b, int32_t *sum) {
    if (!t) return -1;
    static const int digit_pos[] = {0, 1, 2, 4, 5, 6, 8, 9, 10, 11};
    for (size_t i = 0; i < sizeof digit_pos / sizeof digit_pos[0]; i++)
        if (!is_digit_token(t[digit_pos[i]])) return -1;
    if ((t[3] != ARITH_TOK_PLUS && t[3] != ARITH_TOK_SHIFT) || t[7] != ARITH_TOK_EQUALS) return -1;
    int32_t va = t[0] * 100 + t[1] * 10 + t[2];
    int32_t vb = t[4] * 100 + t[5] * 10 + t[6];
    int32_t expect[ARITH_N_CTX];
    arith_encode(va, vb, expect);
    for (int i = 8; i < 12; i++) {
        /* '#' may raise each digit by one (the 3 lower ones mod 10) */
        int raised = t[3] == ARITH_TOK_SHIFT && t[i] == (i > 8 ? (expect[i] + 1) % 10 : expect[i] + 1);
        if (t[i] != expect[i] && !raised) return -1;
    }
    int32_t vs = va + vb;
    if (a) *a = va;
    if (b) *b = vb;
    if (sum) *sum = vs;
    return 0;
}

void arith_score_mask(int32_t n, uint8_t *mask) {
    for (int32_t i = 0; i < n; i++) {
        uint8_t *m = mask + (size_t)i * ARITH_N_CTX;
        memset(m, 0, ARITH_N_CTX);
        for (int q = 0; q < ARITH_N_OUT; q++) m[ARITH_FIRST_SCORED + q] = 1;
    }
}

char *arith_format(const int32_t *tokens, char *buf) {
    static const char sym[] = "0123456789+=#";
    for (int i = 0; i < ARITH_N_CTX; i++)
        buf[i] = tokens[i] >= 0 && tokens[i] < ARITH_VOCAB_SHIFT ? sym[tokens[i]] : '?';
    buf[ARITH_N_CTX] = 0;
    return buf;
}

/* ---- Labels */

int arith_labels(int32_t n_seq, const int32_t *tokens, int32_t *place, int32_t *carry,
                 int32_t *tags) {
    for (int32_t s = 0; s < n_seq; s++) {
        const int32_t *t = tokens + (size_t)s * ARITH_N_CTX;
        int32_t a, b;
        if (arith_decode(t, &a, &b, NULL) != 0) return -1;
        /* carry_in[p]: carry into the 10^p digit, following the chain from
         * the 1s place up (carry_in[0] = 0). */
        int32_t carry_in[4] = {0, 0, 0, 0};
        int32_t da[3] = {a % 10, a / 10 % 10, a / 100};
        int32_t db[3] = {b % 10, b / 10 % 10, b / 100};
        for (int p = 0; p < 3; p++) carry_in[p + 1] = da[p] + db[p] + carry_in[p] >= 10;
        for (int q = 0; q < ARITH_N_OUT; q++) {
            size_t j = (size_t)s * ARITH_N_OUT + (size_t)q;
            int32_t c = carry_in[3 - q];
            if (place) place[j] = q;
            if (carry) carry[j] = c;
            if (tags) {
                int32_t *g = tags + j * ARITH_N_TAGS;
                g[ARITH_TAG_PLACE] = q;
                g[ARITH_TAG_CARRY] = c;
                g[ARITH_TAG_DIGIT] = t[ARITH_FIRST_SCORED + 1 + q];
                g[ARITH_TAG_PLACE_CARRY] = 2 * q + c;
            }
        }
    }
    return 0;
}

/* Human names of the tag values, as words a report can use in a sentence:
 * a place is "the 10s" in "carry into the 10s"; a digit tag is "digit 7". */
static const char *const place_names[4] = {"1000s", "100s", "10s", "1s"};
static const char *const carry_names[2] = {"no carry", "carry"};
static const char *const digit_names[10] = {"digit 0", "digit 1", "digit 2", "digit 3", "digit 4",
                                            "digit 5", "digit 6", "digit 7", "digit 8", "digit 9"};
static const char *const place_carry_names[8] = {"no carry into the 1000s", "carry into the 1000s",
                                                 "no carry into the 100s",  "carry into the 100s",
                                                 "no carry into the 10s",   "carry into the 10s",
                                                 "no carry into the 1s",    "carry into the 1s"};

const char *arith_tag_name(int32_t tag) {
    static const char *const names[ARITH_N_TAGS] = {"place", "carry", "digit", "place_carry"};
    return tag >= 0 && tag < ARITH_N_TAGS ? names[tag] : NULL;
}

int32_t arith_tag_n_values(int32_t tag) {
    static const int32_t n[ARITH_N_TAGS] = {4, 2, 10, 8};
    return tag >= 0 && tag < ARITH_N_TAGS ? n[tag] : 0;
}

const char *arith_tag_value_name(int32_t tag, int32_t value) {
    if (value < 0 || value >= arith_tag_n_values(tag)) return NULL;
    switch (tag) {
    case ARITH_TAG_PLACE: return place_names[value];
    case ARITH_TAG_CARRY: return carry_names[value];
    case ARITH_TAG_DIGIT: return digit_names[value];
    case ARITH_TAG_PLACE_CARRY: return place_carry_names[value];
    default: return NULL;
    }
}

const char *arith_place_name(int32_t place) {
    return arith_tag_value_name(ARITH_TAG_PLACE, place);
}

/* ---- Summaries */

int arith_group_mean(int32_t n, int32_t n_t, const float *values, const int32_t *group,
                     int32_t n_groups, double *out) {
    if (n < 0 || n_t < 0 || n_groups < 0 || (n > 0 && n_t > 0 && (!values || !group)) ||
        (n_groups > 0 && n_t > 0 && !out))
        return -1;
    size_t cells = (size_t)n_groups * (size_t)n_t;
    if (cells == 0) return 0;
    int32_t *count = calloc(cells, sizeof *count);
    if (!count) return -2;
    for (size_t c = 0; c < cells; c++) out[c] = 0.0;
    for (int32_t i = 0; i < n; i++) {
        int32_t g = group[i];
        if (g < 0 || g >= n_groups) continue;
        const float *row = values + (size_t)i * n_t;
        double *sum = out + (size_t)g * n_t;
        int32_t *k = count + (size_t)g * n_t;
        for (int32_t t = 0; t < n_t; t++)
            if (isfinite(row[t])) {
                sum[t] += row[t];
                k[t]++;
            }
    }
    for (size_t c = 0; c < cells; c++) out[c] = count[c] > 0 ? out[c] / count[c] : NAN;
    free(count);
    return 0;
}

double arith_carry_mid_fraction(int32_t n_members, const int32_t *members, const int32_t *place,
                                const int32_t *carry) {
    int32_t n_carry = 0, n_mid = 0;
    for (int32_t m = 0; m < n_members; m++) {
        int32_t j = members[m];
        if (!carry[j]) continue;
        n_carry++;
        if (place[j] == ARITH_PLACE_100 || place[j] == ARITH_PLACE_10) n_mid++;
    }
    return n_carry ? (double)n_mid / n_carry : NAN;
}

double arith_token_accuracy(int32_t n_seq, const int32_t *tokens, const int32_t *predicted,
                            double *by_place) {
    int64_t right[ARITH_N_OUT] = {0, 0, 0, 0}, total = 0;
    for (int32_t s = 0; s < n_seq; s++)
        for (int q = 0; q < ARITH_N_OUT; q++) {
            int32_t target = tokens[(size_t)s * ARITH_N_CTX + ARITH_FIRST_SCORED + 1 + q];
            if (predicted[(size_t)s * ARITH_N_OUT + q] == target) right[q]++;
        }
    for (int q = 0; q < ARITH_N_OUT; q++) {
        total += right[q];
        if (by_place) by_place[q] = n_seq > 0 ? (double)right[q] / n_seq : NAN;
    }
    return n_seq > 0 ? (double)total / ((double)n_seq * ARITH_N_OUT) : NAN;
}

void arith_argmax(int32_t n, int32_t vocab, const float *logits, int32_t *out) {
    for (int32_t i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * vocab;
        int32_t best = -1;
        for (int32_t v = 0; v < vocab; v++) {
            if (isnan(row[v])) {
                best = -1;
                break;
            }
            if (best < 0 || row[v] > row[best]) best = v;
        }
        out[i] = best;
    }
}
