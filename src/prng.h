/*
 * src/prng.h - a small seeded pseudo-random generator for the core
 * (start vectors, random bases, shuffles). Private.
 *
 * xoshiro256** seeded through splitmix64: the same seed gives the same
 * stream on every platform, which is what "deterministic for a given seed"
 * in the public documentation rests on. Not for cryptography.
 */
#ifndef POLCA_PRNG_H
#define POLCA_PRNG_H

#include <math.h>
#include <stdint.h>

typedef struct polca__prng {
    uint64_t s[4];
} polca__prng;

static inline uint64_t polca__splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* `stream` separates independent uses of one user seed (e.g. the start
 * vector and the breakdown vectors of one solve). */
static inline void polca__prng_seed(polca__prng *g, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) g->s[i] = polca__splitmix64(&x);
}

static inline uint64_t polca__prng_next(polca__prng *g) {
    uint64_t *s = g->s;
    uint64_t r = s[1] * 5;
    r = ((r << 7) | (r >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return r;
}

/* Uniform in [0, 1), 53 random bits. */
static inline double polca__prng_uniform(polca__prng *g) {
    return (double)(polca__prng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), n >= 1 (rejection: no modulo bias). */
static inline uint64_t polca__prng_below(polca__prng *g, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = polca__prng_next(g);
    while (r >= limit);
    return r % n;
}

/* Standard normal (Box-Muller; one draw per call, two uniforms). */
static inline double polca__prng_normal(polca__prng *g) {
    double u1 = 1.0 - polca__prng_uniform(g); /* (0, 1]: log is finite */
    double u2 = polca__prng_uniform(g);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif /* POLCA_PRNG_H */
