/*
 * tests/harness.h - the test harness: one binary per tests/test_*.c.
 *
 *   TEST(name) { CHECK(cond); CHECK_STATUS(call, POLCA_ERR_...); ... }
 *   int main(void) { RUN(name); ...; return harness_done(); }
 *
 * Each test prints "ok NAME", "FAIL NAME: where: what" or "skip NAME: why";
 * harness_done() prints "RESULT passed failed skipped" for tests/run.sh and
 * returns nonzero on any failure. SKIP(reason) ends a test as skipped.
 */
#ifndef POLCA_TEST_HARNESS_H
#define POLCA_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polca/polca.h"

static int harness_passed, harness_failed, harness_skipped;
static int harness_test_failed, harness_test_skipped;
static char harness_skip_reason[256];

#define TEST(name) static void name(void)

#define FAILF(...)                                                             \
    do {                                                                       \
        printf("  %s:%d: ", __FILE__, __LINE__);                               \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
        harness_test_failed = 1;                                               \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            FAILF("CHECK(%s) failed (last error: %s)", #cond, polca_last_error()); \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Soft check: records a failure but goes on (for loops over cases). */
#define EXPECT(cond)                                                           \
    do {                                                                       \
        if (!(cond)) FAILF("EXPECT(%s) failed", #cond);                        \
    } while (0)

#define CHECK_STATUS(call, expected)                                           \
    do {                                                                       \
        int32_t got_ = (call);                                                 \
        if (got_ != (expected)) {                                              \
            FAILF("%s returned %d (%s), expected %d (%s); last error: %s",     \
                  #call, (int)got_, polca_status_string(got_), (int)(expected), \
                  polca_status_string(expected), polca_last_error());          \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, POLCA_OK)

/* The message after a failure must name the culprit. */
#define CHECK_ERROR_MENTIONS(text)                                             \
    do {                                                                       \
        if (!strstr(polca_last_error(), (text))) {                             \
            FAILF("last error '%s' does not mention '%s'", polca_last_error(), (text)); \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_CLOSE(a, b, rel_tol)                                             \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        double scale_ = fabs(b_) > 1.0 ? fabs(b_) : 1.0;                       \
        if (!(fabs(a_ - b_) <= (rel_tol) * scale_)) {                          \
            FAILF("%s = %.9g, %s = %.9g, differ by more than %g", #a, a_, #b, b_, \
                  (double)(rel_tol));                                          \
            return;                                                            \
        }                                                                      \
    } while (0)

#define SKIP(...)                                                              \
    do {                                                                       \
        snprintf(harness_skip_reason, sizeof harness_skip_reason, __VA_ARGS__); \
        harness_test_skipped = 1;                                              \
        return;                                                                \
    } while (0)

#define RUN(name) harness_run(#name, name)

static void harness_run(const char *name, void (*fn)(void)) {
    harness_test_failed = harness_test_skipped = 0;
    fflush(stdout);
    fn();
    if (harness_test_failed) {
        printf("FAIL %s\n", name);
        harness_failed++;
    } else if (harness_test_skipped) {
        printf("skip %s: %s\n", name, harness_skip_reason);
        harness_skipped++;
    } else {
        printf("ok %s\n", name);
        harness_passed++;
    }
    fflush(stdout);
}

static int harness_done(void) {
    printf("RESULT %d %d %d\n", harness_passed, harness_failed, harness_skipped);
    return harness_failed ? 1 : 0;
}

/* Relative error ||a - b|| / ||b|| in double. */
static inline double rel_error_f(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Deterministic pseudo-random floats in [-1, 1) (xorshift64*). */
static inline float harness_uniform(unsigned long long *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    unsigned long long r = *state * 2685821657736338717ULL;
    return (float)((double)(r >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
}

#endif
