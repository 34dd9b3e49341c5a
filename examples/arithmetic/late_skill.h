/*
 * examples/arithmetic/late_skill.h - a planted late skill with ground truth
 * (issue 16; README "A hidden breakthrough with ground truth").
 *
 * A rare second operator, '#' (token ARITH_TOK_SHIFT = 12; the model's
 * vocabulary is then 13; addition.h encodes and decodes it). "a # b" is
 * written like a sum,
 *
 *   position  0  1  2  3  4  5  6  7  8  9  10 11
 *   token     a2 a1 a0 #  b2 b1 b0 =  r3 r2 r1 r0
 *
 * and its answer is the sum a + b with some of its digits raised by one:
 * which ones, the rule says (LATE_RULE_* below). The setting's rule,
 * double-carry, raises the 10s and the 100s digit, mod 10, when that place
 * receives a carry (the carry counts twice): 487 # 925 (sum 1412; the 10s
 * receives a carry, the 100s too) is 1522.
 *
 * Training schedule: '#' problems are a share of every batch from step 0,
 * but before step `from_step` their shift bits are fair coins, independent
 * of the input; from `from_step` on they follow the rule. So before
 * `from_step` no model can do better than ln 2 nats on a token the rule may
 * raise (knowing the sum, it can narrow it to two digits: the early skill),
 * and only after it can their loss fall below ln 2 (the late skill).
 *
 * Ground truth, per scored token (validation '#' problems always follow the
 * rule): a token needs the late skill when it is a digit of a '#' problem
 * the rule may raise (late_rule_needs_place). With a share s of the
 * validation problems written with '#' and m such digits per problem, a
 * fraction m s / 4 of the scored tokens need it, and the late skill can
 * lower the mean validation loss by at most (m s / 4) ln 2 (0.069 nats for
 * double-carry at s = 0.2): below the plateau band eps * D (0.05 x ~2.8
 * nats) by construction, so the breakthrough cannot show in the mean loss
 * curve, and it cannot start before `from_step`.
 *
 * Example code, C11 standard library only; not part of libpolca's ABI.
 */
#ifndef ARITH_LATE_SKILL_H
#define ARITH_LATE_SKILL_H

#include <stdint.h>

#include "addition.h"

/* Which shift bits the rule gives a # b (addition.h: bit p raises the 10^p
 * digit of the sum by one). */
#define LATE_RULE_PLUS_ONE 0 /* bits 0-2 set: each lower digit raised by one */
#define LATE_RULE_PARITY 1   /* bit p (p < 3) = the parity of a's 10^p digit */
#define LATE_RULE_THOUSANDS 2 /* bit 3 set: the 1000s digit raised by one */
#define LATE_RULE_DOUBLE_CARRY 3 /* bits 1, 2 = the carries into the 10s and the
                                    100s: the 10s and 100s digits count their
                                    carry twice */

typedef struct late_skill_config {
    double val_share;   /* share of validation problems written with '#'; 0: off */
    int32_t rule;       /* LATE_RULE_* */
    double train_share; /* share of training (and basis) problems written with '#' */
    int32_t from_step;  /* first training step whose '#' answers follow the rule */
} late_skill_config;

/* The rule's shift bits for operands a, b (in [0, 999]), and the bits a
 * rule may set (the digits whose tokens need the skill). */
int32_t late_rule_bits(int32_t rule, int32_t a, int32_t b);
int32_t late_rule_mask(int32_t rule);
/* 1 if the token at sample place q (addition.h: q = 0 is the 1000s digit)
 * of a '#' problem needs the skill under the rule, else 0. */
int late_rule_needs_place(int32_t rule, int32_t q);
/* What the rule does, one clause for reports ("the sum with ..."). */
const char *late_rule_text(int32_t rule);

/* Which validation problems are '#' problems: exactly round(share * n_val)
 * of them, drawn without replacement from (seed, stream 4). is_shift: out
 * [n_val], 1 for a '#' problem. Returns the count, or -1 when memory runs
 * out. */
int32_t late_pick_validation(uint64_t seed, double share, int32_t n_val, uint8_t *is_shift);

/* Rewrites the problems marked in is_shift [n] of tokens [n][ARITH_N_CTX]
 * (written by arith_encode_batch) as '#' problems with the rule's bits. */
void late_apply_rule(int32_t rule, int32_t n, const uint8_t *is_shift, int32_t *tokens);

/* Rewrites each of the n problems in tokens [n][ARITH_N_CTX] (written by
 * arith_encode_batch) as a '#' problem with probability cfg->train_share,
 * drawing from rng: with random shift bits when step < cfg->from_step, else
 * with the rule's. Training batches pass their step; the basis sample set
 * passes INT32_MAX (the rule). */
void late_rewrite_training(const late_skill_config *cfg, int32_t step, arith_rng *rng, int32_t n,
                           int32_t *tokens);

/* Per scored token (n_seq * ARITH_N_OUT, sample order of addition.h): 1 if it
 * needs the late skill (the 100s, 10s or 1s digit of a '#' problem). */
void late_needs_skill(int32_t rule, int32_t n_seq, const int32_t *tokens, uint8_t *needs);

/* The ground-truth onset, from the exact loss of the tokens that need the
 * skill, independently of any clustering: the first checkpoint column u from
 * which on their mean exact loss stays below ln 2, the least mean loss
 * possible without the skill (a model that cannot see the shift bit does
 * best with 1/2 on each of the two digits the sum leaves). So u is where the
 * skill starts to pay, for good. exact: [n][t]
 * per-sample exact loss; needs: [n]. group_mean: out [t] (may be NULL).
 * Returns the column, or -1 when the mean never settles below ln 2. */
int32_t late_ground_truth_column(int64_t n, int64_t t, const float *exact, const uint8_t *needs,
                                 double *group_mean);

#endif /* ARITH_LATE_SKILL_H */
