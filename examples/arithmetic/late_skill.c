/*
 * examples/arithmetic/late_skill.c - the planted late skill's validation
 * problems, labels and ground-truth onset (late_skill.h says what and why).
 */
#include "late_skill.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int32_t late_rule_bits(int32_t rule, int32_t a, int32_t b) {
    if (rule == LATE_RULE_PARITY) return (a % 2) | (a / 10 % 2) << 1 | (a / 100 % 2) << 2;
    if (rule == LATE_RULE_DOUBLE_CARRY)
        return (a % 10 + b % 10 >= 10) << 1 | (a % 100 + b % 100 >= 100) << 2;
    return late_rule_mask(rule);
}

int32_t late_rule_mask(int32_t rule) {
    return rule == LATE_RULE_THOUSANDS ? 8 : rule == LATE_RULE_DOUBLE_CARRY ? 6 : 7;
}

int late_rule_needs_place(int32_t rule, int32_t q) {
    return q >= 0 && q < ARITH_N_OUT && ((late_rule_mask(rule) >> (3 - q)) & 1);
}

const char *late_rule_text(int32_t rule) {
    switch (rule) {
    case LATE_RULE_PARITY:
        return "the sum with each of its 100s, 10s and 1s digits raised, mod 10, by the parity "
               "of a's digit in the same place";
    case LATE_RULE_THOUSANDS: return "the sum with its 1000s digit raised by one";
    case LATE_RULE_DOUBLE_CARRY:
        return "the sum with its 10s and 100s digits each raised by one, mod 10, when that place "
               "receives a carry (the carry counts twice)";
    default: return "the sum with each of its 100s, 10s and 1s digits raised by one, mod 10";
    }
}

int32_t late_pick_validation(uint64_t seed, double share, int32_t n_val, uint8_t *is_shift) {
    memset(is_shift, 0, (size_t)n_val);
    int32_t m = (int32_t)lround(share * n_val);
    if (m < 0) m = 0;
    if (m > n_val) m = n_val;
    /* partial Fisher-Yates over the indices: the first m of a uniform shuffle */
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(n_val > 0 ? n_val : 1));
    if (!idx) return -1;
    for (int32_t i = 0; i < n_val; i++) idx[i] = i;
    arith_rng rng;
    arith_rng_seed(&rng, seed, 4);
    for (int32_t i = 0; i < m; i++) {
        int32_t j = i + (int32_t)arith_rng_below(&rng, (uint64_t)(n_val - i));
        int32_t tmp = idx[i];
        idx[i] = idx[j], idx[j] = tmp;
        is_shift[idx[i]] = 1;
    }
    free(idx);
    return m;
}

void late_apply_rule(int32_t rule, int32_t n, const uint8_t *is_shift, int32_t *tokens) {
    for (int32_t s = 0; s < n; s++) {
        if (!is_shift[s]) continue;
        int32_t *t = tokens + (size_t)s * ARITH_N_CTX, a, b;
        if (arith_decode(t, &a, &b, NULL) == 0) arith_encode_shift(a, b, late_rule_bits(rule, a, b), t);
    }
}

static double uniform01(arith_rng *rng) { return (double)(arith_rng_next(rng) >> 11) * 0x1.0p-53; }

void late_rewrite_training(const late_skill_config *cfg, int32_t step, arith_rng *rng, int32_t n,
                           int32_t *tokens) {
    for (int32_t s = 0; s < n; s++) {
        if (!(uniform01(rng) < cfg->train_share)) continue;
        int32_t *t = tokens + (size_t)s * ARITH_N_CTX, a, b;
        int32_t coins = (int32_t)arith_rng_below(rng, 16) & late_rule_mask(cfg->rule);
        if (arith_decode(t, &a, &b, NULL) == 0)
            arith_encode_shift(a, b, step < cfg->from_step ? coins : late_rule_bits(cfg->rule, a, b), t);
    }
}

void late_needs_skill(int32_t rule, int32_t n_seq, const int32_t *tokens, uint8_t *needs) {
    for (int32_t s = 0; s < n_seq; s++) {
        int shift = tokens[(size_t)s * ARITH_N_CTX + 3] == ARITH_TOK_SHIFT;
        for (int q = 0; q < ARITH_N_OUT; q++)
            needs[(size_t)s * ARITH_N_OUT + q] = (uint8_t)(shift && late_rule_needs_place(rule, q));
    }
}

int32_t late_ground_truth_column(int64_t n, int64_t t, const float *exact, const uint8_t *needs,
                                 double *group_mean) {
    double *mean = group_mean ? group_mean : malloc(sizeof(double) * (size_t)(t > 0 ? t : 1));
    if (!mean) return -1;
    int64_t count = 0;
    for (int64_t u = 0; u < t; u++) mean[u] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!needs[i]) continue;
        count++;
        for (int64_t u = 0; u < t; u++) mean[u] += exact[i * t + u];
    }
    for (int64_t u = 0; u < t; u++) mean[u] = count > 0 ? mean[u] / (double)count : NAN;
    /* the earliest column of the final run below ln 2 */
    int32_t column = -1;
    for (int64_t u = t - 1; u >= 0 && mean[u] < log(2.0); u--) column = (int32_t)u;
    if (!group_mean) free(mean);
    return column;
}
