/*
 * src/pending_transformer.c - stands in for src/transformer.c (branch
 * `transformer`) until that branch is merged into this one; the merge
 * deletes this file. Every entry reports POLCA_ERR_UNSUPPORTED, so
 * polca_model_create_transformer says the transformer is not in this build.
 */
#include "transformer.h"

static int32_t absent(void) {
    return polca__fail(POLCA_ERR_UNSUPPORTED,
                       "the built-in transformer is not part of this build of libpolca");
}

int32_t polca__tf_check_config(const polca__tf_config *cfg) {
    (void)cfg;
    return absent();
}

int32_t polca__tf_layout(const polca__tf_config *cfg, polca__layout *out) {
    (void)cfg;
    (void)out;
    return absent();
}

int32_t polca__tf_init(const polca__tf_config *cfg, uint64_t seed, float *theta) {
    (void)cfg;
    (void)seed;
    (void)theta;
    return absent();
}
