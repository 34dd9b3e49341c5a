/*
 * src/cpu/transformer_rotary.c - rotary positions (positions ==
 * POLCA__POS_ROTARY): rotate-half on the first rotary_dim dims of every q
 * head and k head after the QKV bias, as src/transformer.c's header defines
 * (GPT-NeoX / Llama convention): with r = rotary_dim / 2 and
 * f_i = rope_theta^(-2i / rotary_dim), at position t,
 *   y_i     = x_i cos(t f_i) - x_{i+r} sin(t f_i)
 *   y_{i+r} = x_{i+r} cos(t f_i) + x_i sin(t f_i),   i < r,
 * dims rotary_dim .. d_head-1 pass through.
 *
 * The rotation is linear with coefficients that depend only on the
 * position, so first- and second-order tangents of q and k rotate the same
 * way, and the reverse pass applies its transpose (the inverse rotation) to
 * the adjoints dq, dk (and their tangents) before the QKV GEMM's backward.
 *
 * Angles: Hugging Face computes inv_freq = 1 / base^(2i/dim) and
 * t * inv_freq, cos and sin in float32; here the same formula runs in double
 * (f_i = rope_theta^(-2i/rotary_dim), the angle t f_i, its cos and sin) and
 * only the cos/sin table is rounded to float, once per kernel call. The two
 * differ by Hugging Face's float32 roundings of the angle (a few 6e-8
 * relative to t f_i, so up to ~1e-4 absolute at t ~ 2048 for f_0 = 1); the
 * table holds the float nearest to each cos and sin of the defined formula
 * (up to libm's double cos/sin), the same at every position.
 *
 * Cost: O(R (H + G) rotary_dim) per pass, row-parallel, next to the GEMMs'
 * O(R D (H + 2G) d_head).
 */
#include <math.h>
#include <stdlib.h>

#include "transformer_cpu.h"

TF_VECTORIZE_FILE

int32_t polca__tf_rope_table(const polca__tf_config *cfg, float **out) {
    *out = NULL;
    if (cfg->positions != POLCA__POS_ROTARY) return POLCA_OK;
    const int64_t T = cfg->n_ctx, r = cfg->rotary_dim / 2;
    float *tab = polca__alloc((size_t)(2 * T * r) * sizeof *tab, "rotary cos/sin table");
    if (!tab) return POLCA_ERR_OUT_OF_MEMORY;
    const double base = (double)cfg->rope_theta, dim = (double)cfg->rotary_dim;
    for (int64_t i = 0; i < r; i++) {
        const double f = pow(base, -2.0 * (double)i / dim);
        for (int64_t t = 0; t < T; t++) {
            const double ang = (double)t * f;
            tab[t * r + i] = (float)cos(ang);
            tab[T * r + t * r + i] = (float)sin(ang);
        }
    }
    *out = tab;
    return POLCA_OK;
}

/* Rows [0, R) of a chunk whose row r0 + r sits at position (r0 + r) % T;
 * heads (H + G of them, E apart) start at column 0 of each row; sgn = 1
 * rotates, -1 rotates back (the transpose). */
static TF_CLONES void rope_rows(int64_t r0, int64_t R, int64_t T, int64_t heads, int64_t E,
                                int64_t r, int64_t ld, const float *cs, float sgn, float *x) {
    const float *sn = cs + T * r;
    for (int64_t row = 0; row < R; row++) {
        const int64_t t = (r0 + row) % T;
        const float *c = cs + t * r, *s = sn + t * r;
        float *xr = x + row * ld;
        for (int64_t h = 0; h < heads; h++) {
            float *lo = xr + h * E, *hi = lo + r;
            for (int64_t i = 0; i < r; i++) {
                const float a = lo[i], b = hi[i], si = sgn * s[i];
                lo[i] = a * c[i] - b * si;
                hi[i] = b * c[i] + a * si;
            }
        }
    }
}

typedef struct rope_args {
    const polca__tf_config *cfg;
    const float *tab;
    float *qk;
    float sgn;
} rope_args;

static void rope_part(void *p, int64_t r0, int64_t r1, float *scratch) {
    const rope_args *a = p;
    const polca__tf_config *cfg = a->cfg;
    const int64_t LQ = tf_qkv_width(cfg);
    (void)scratch;
    rope_rows(r0, r1 - r0, cfg->n_ctx, (int64_t)cfg->n_heads + cfg->n_kv_heads, cfg->d_head,
              cfg->rotary_dim / 2, LQ, a->tab, a->sgn, a->qk + r0 * LQ);
}

void polca__tf_rope_apply(const polca__tf_config *cfg, int64_t R, const float *rope, float *qk,
                          int inverse) {
    if (!rope || !qk) return;
    rope_args a = {cfg, rope, qk, inverse ? -1.0f : 1.0f};
    polca__tf_parallel(R, 64, rope_part, &a, NULL);
}
