/*
 * tests/transformer_model.h - a small built-in transformer with random
 * parameters and data for the CPU kernel tests (tests/transformer_check.h,
 * tests/test_transformer_switches.c, tests/test_transformer_attn_switches.c).
 */
#ifndef POLCA_TEST_TRANSFORMER_MODEL_H
#define POLCA_TEST_TRANSFORMER_MODEL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h"
#include "cpu/transformer_cpu.h"

typedef struct model {
    polca__tf_config cfg;
    polca__layout lay;
    int64_t P, n_seq, N;
    float *theta;
    int32_t *tokens;
    uint8_t *mask;
} model;

static inline void model_free(model *m) {
    polca__layout_free(&m->lay);
    free(m->theta), free(m->tokens), free(m->mask);
    memset(m, 0, sizeof *m);
}

/* n_seq sequences of random tokens; parameters moved off the init (norm
 * weights 1, biases 0) by theta_noise * U(-1, 1) each, so every term is
 * exercised; each position but the last scored with probability
 * scored_share. */
static inline int model_make_with(model *m, polca__tf_config cfg, int64_t n_seq,
                                  unsigned long long seed, float theta_noise, float scored_share) {
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    if (polca__tf_layout(&cfg, &m->lay)) return 0;
    m->P = m->lay.n_params;
    m->n_seq = n_seq;
    m->theta = malloc((size_t)m->P * 4);
    m->tokens = malloc((size_t)(n_seq * cfg.n_ctx) * 4);
    m->mask = malloc((size_t)(n_seq * cfg.n_ctx));
    if (polca__tf_init(&cfg, seed, m->theta)) return 0;
    unsigned long long s = seed * 7919 + 13;
    for (int64_t i = 0; i < m->P; i++) m->theta[i] += theta_noise * harness_uniform(&s);
    for (int64_t i = 0; i < n_seq * cfg.n_ctx; i++) {
        m->tokens[i] = (int32_t)((harness_uniform(&s) + 1.0f) * 0.5f * (float)cfg.d_vocab);
        if (m->tokens[i] >= cfg.d_vocab) m->tokens[i] = cfg.d_vocab - 1;
        int t = (int)(i % cfg.n_ctx);
        m->mask[i] = t + 1 < cfg.n_ctx && harness_uniform(&s) < scored_share;
    }
    m->N = polca__tf_count_samples(&cfg, n_seq, m->mask);
    return 1;
}

/* The default: noise 0.2, about half of the positions scored. */
static inline int model_make(model *m, polca__tf_config cfg, int64_t n_seq, unsigned long long seed) {
    return model_make_with(m, cfg, n_seq, seed, 0.2f, 0.5f);
}

static inline void random_vec(float *x, int64_t n, unsigned long long seed) {
    unsigned long long s = seed * 0x9E3779B97F4A7C15ULL + 5;
    for (int64_t i = 0; i < n; i++) x[i] = harness_uniform(&s);
}

#endif
