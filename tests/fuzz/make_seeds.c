/*
 * tests/fuzz/make_seeds.c - writes the seed corpus of fuzz_container into
 * tests/fuzz/corpus/container/ (small valid files that reach every branch of
 * the reader: layouts, user fields, both write modes, every
 * preconditioning, several blocks, several element types). Run from the
 * repository root after `make lib`:
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc tests/fuzz/make_seeds.c \
 *      lib/libpolca.a -lopenblas -llapacke -lzstd -lm -ldl -lpthread -o /tmp/make_seeds
 *   /tmp/make_seeds
 * The safetensors seeds are copies of tests/fixtures/safetensors/*.safetensors.
 */
#include <stdio.h>
#include <string.h>

#include "container.h"
#include "precond.h"

#define DIR "tests/fuzz/corpus/container/"

static void vec(float *v, int n, int t) {
    for (int i = 0; i < n; i++)
        v[i] = (float)((i * 37) % 101) * 0.01f - 0.5f + 0.001f * (float)(t * (i % 5));
}

static int make(const char *name, int mode, unsigned pre, int block_log2, int n, int T,
                int with_layout) {
    polca__layout l;
    polca__layout_init(&l);
    int64_t s1[2] = {2, 3}, s2[1] = {n - 6};
    polca__layout_add(&l, "w", 2, s1);
    polca__layout_add(&l, "b", 1, s2);
    polca__ct_config cfg;
    polca__ct_config_default(&cfg);
    cfg.precond = pre;
    cfg.block_log2 = block_log2;
    cfg.max_chain = 2;
    cfg.sync = 0;
    uint64_t k = 3;
    polca__ct_field f = {POLCA__FIELD_USER, 8, &k};
    polca__container *c = NULL;
    static float v[8192];
    if (polca__ct_create(name, POLCA__FILE_CHECKPOINTS, with_layout ? &l : NULL, &f, 1, mode, &cfg,
                         &c))
        return 1;
    for (int t = 0; t < T; t++) {
        vec(v, n, t);
        if (polca__ct_append(c, POLCA__REC_CHECKPOINT, 10 * t, POLCA__DT_F32, v, (uint64_t)n, 1))
            return 1;
    }
    if (!with_layout) {
        int32_t lab[9] = {0, 1, 1, -1, 2, 2, 2, 0, 1};
        double d[2] = {0.25, -1e10};
        if (polca__ct_append(c, POLCA__REC_ARRAY, -1, POLCA__DT_I32, lab, 9, 0) ||
            polca__ct_append(c, POLCA__REC_ARRAY, -2, POLCA__DT_F64, d, 2, 0) ||
            polca__ct_append(c, POLCA__REC_ARRAY, -3, POLCA__DT_U8, NULL, 0, 0))
            return 1;
    }
    int st = polca__ct_finish(c);
    polca__ct_close(c);
    polca__layout_free(&l);
    return st;
}

int main(void) {
    int bad = 0;
    bad |= make(DIR "whole_layout_auto.pct", POLCA__CT_WHOLE, 0, 12, 64, 4, 1);
    bad |= make(DIR "append_commits.pct", POLCA__CT_APPEND, 0, 12, 40, 3, 1);
    bad |= make(DIR "arrays_no_layout.pct", POLCA__CT_WHOLE, 0, 12, 16, 1, 0);
    bad |= make(DIR "multiblock.pct", POLCA__CT_WHOLE, 0, 12, 5000, 2, 1);
    bad |=
        make(DIR "xor.pct", POLCA__CT_WHOLE, POLCA__CT_PRE_FORCED | POLCA__PRE_XOR, 12, 32, 3, 1);
    bad |= make(DIR "diff_shuffle.pct", POLCA__CT_WHOLE,
                POLCA__CT_PRE_FORCED | POLCA__PRE_SUB | POLCA__PRE_SHUFFLE, 12, 32, 3, 1);
    bad |= make(DIR "none.pct", POLCA__CT_WHOLE, POLCA__CT_PRE_FORCED, 12, 20, 2, 1);
    bad |= make(DIR "empty.pct", POLCA__CT_APPEND, 0, 12, 10, 0, 1);
    if (bad) fprintf(stderr, "make_seeds failed: %s\n", polca_last_error());
    return bad;
}
