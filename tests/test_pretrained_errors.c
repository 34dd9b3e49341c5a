/*
 * tests/test_pretrained_errors.c - checkpoints that are not what they should
 * be get a status and a message naming the culprit (polca/model.h,
 * "Checkpoints in the layouts users have"): an unrecognised file, a
 * corrupt one, a configuration that does not fit the tensors, a missing
 * shard or tensor, config keys that change the function and are not
 * supported, no config.json (sizes from the shapes, n_heads required), and
 * checkpoint import from save_pretrained directories. Inputs are made from
 * the committed GPT-2 and sharded Llama fixtures in a temporary directory.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "safetensors.h"

#define FIX "tests/fixtures/pretrained/"

static polca_context *ctx;
static char tmp[] = "/tmp/polca_pterr_XXXXXX";

static char *tp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *tp(const char *fmt, ...) {
    static char buf[8][600];
    static int at;
    char *b = buf[at++ % 8], name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(b, 600, "%s/%s", tmp, name);
    return b;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[2000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int have_fixtures(void) {
    return access(FIX "gpt2/checkpoint/model.safetensors", R_OK) == 0 &&
           access(FIX "llama_tied/checkpoint/model.safetensors.index.json", R_OK) == 0;
}

/* A copy of the GPT-2 checkpoint whose config.json has `sed` applied. */
static const char *gpt2_with(const char *name, const char *sed) {
    const char *d = tp("%s", name);
    sh("rm -rf '%s' && cp -r " FIX "gpt2/checkpoint '%s' && sed -i '%s' '%s/config.json'", d, d, sed,
       d);
    return d;
}

#define EXPECT_FAIL(call, status, text)                                                           \
    do {                                                                                          \
        int32_t st_ = (call);                                                                     \
        const char *msg_ = polca_last_error();                                                    \
        if (st_ != (status) || !strstr(msg_, text))                                               \
            FAILF("%s: status %d (%s), expected %d with '%s'", #call, (int)st_, msg_, (int)(status), \
                  text);                                                                          \
        else                                                                                      \
            printf("  ok: %s\n", msg_);                                                           \
    } while (0)

TEST(unrecognised_and_corrupt) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    polca_model *m = NULL;
    /* a valid safetensors file of other tensors */
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    polca__st_out_tensor t[2] = {{"encoder.layer.0.weight", 2, shape, x},
                                 {"pooler.dense.bias", 2, shape, x}};
    CHECK_OK(polca__st_write_f32(tp("other.safetensors"), 2, t, 0, NULL, NULL));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, tp("other.safetensors"), NULL, &m),
                POLCA_ERR_LAYOUT_MISMATCH, "'encoder.layer.0.weight'");
    EXPECT_FAIL(polca_model_create_pretrained(ctx, tp("other.safetensors"), NULL, &m),
                POLCA_ERR_LAYOUT_MISMATCH, "tried transformerlens");
    /* truncated */
    sh("head -c 3000 " FIX "gpt2/checkpoint/model.safetensors > '%s'", tp("cut.safetensors"));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, tp("cut.safetensors"), NULL, &m),
                POLCA_ERR_CORRUPT, "cut.safetensors");
    /* a directory without weights; one with a PyTorch pickle */
    sh("mkdir -p '%s' '%s' && touch '%s/pytorch_model.bin'", tp("empty"), tp("pickle"), tp("pickle"));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, tp("empty"), NULL, &m), POLCA_ERR_IO,
                "no model.safetensors");
    EXPECT_FAIL(polca_model_create_pretrained(ctx, tp("pickle"), NULL, &m), POLCA_ERR_UNSUPPORTED,
                "safe_serialization");
    EXPECT_FAIL(polca_model_create_pretrained(ctx, tp("nothing"), NULL, &m), POLCA_ERR_IO,
                "nothing");
    /* a config.json that is not JSON */
    const char *d = gpt2_with("badjson", "s/{/[/");
    EXPECT_FAIL(polca_model_create_pretrained(ctx, d, NULL, &m), POLCA_ERR_CORRUPT, "config.json");
    /* a forced format that does not fit the names */
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_string(o, "format", "llama"));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, FIX "gpt2/checkpoint", o, &m),
                POLCA_ERR_UNSUPPORTED, "model_type");
    CHECK_OK(polca_options_set_string(o, "format", "bert"));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, FIX "gpt2/checkpoint", o, &m),
                POLCA_ERR_INVALID_ARGUMENT, "'format'");
    polca_options_destroy(o);
    CHECK(m == NULL);
}

TEST(config_keys_that_change_the_function) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    polca_model *m = NULL;
    EXPECT_FAIL(polca_model_create_pretrained(
                    ctx, gpt2_with("inv", "s/\"scale_attn_by_inverse_layer_idx\": false/"
                                          "\"scale_attn_by_inverse_layer_idx\": true/"),
                    NULL, &m),
                POLCA_ERR_UNSUPPORTED, "scale_attn_by_inverse_layer_idx");
    EXPECT_FAIL(polca_model_create_pretrained(
                    ctx, gpt2_with("act", "s/\"gelu_new\"/\"gelu_fast\"/"), NULL, &m),
                POLCA_ERR_UNSUPPORTED, "activation_function");
    /* rope_scaling on the sharded Llama */
    const char *d = tp("llama_scaled");
    sh("rm -rf '%s' && cp -r " FIX "llama_tied/checkpoint '%s' && sed -i 's/^{/{\"rope_scaling\": "
       "{\"rope_type\": \"linear\", \"factor\": 2.0},/' '%s/config.json'",
       d, d, d);
    EXPECT_FAIL(polca_model_create_pretrained(ctx, d, NULL, &m), POLCA_ERR_UNSUPPORTED,
                "rope_scaling");
    /* reorder_and_upcast_attn only reorders float work: accepted */
    d = gpt2_with("upcast", "s/\"reorder_and_upcast_attn\": false/\"reorder_and_upcast_attn\": true/");
    CHECK_OK(polca_model_create_pretrained(ctx, d, NULL, &m));
    polca_model_destroy(m);
}

TEST(configuration_must_fit_the_tensors) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    polca_model *m = NULL;
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    /* learned positions: n_ctx is wpe's row count */
    CHECK_OK(polca_options_set_int(o, "n_ctx", 7));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, FIX "gpt2/checkpoint", o, &m),
                POLCA_ERR_LAYOUT_MISMATCH, "transformer.wpe.weight");
    CHECK_OK(polca_options_unset(o, "n_ctx"));
    CHECK_OK(polca_options_set_int(o, "tied_embeddings", 0));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, FIX "gpt2/checkpoint", o, &m),
                POLCA_ERR_LAYOUT_MISMATCH, "lm_head.weight");
    CHECK_OK(polca_options_unset(o, "tied_embeddings"));
    CHECK_OK(polca_options_set_int(o, "n_kv_heads", 1));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, FIX "gpt2/checkpoint", o, &m),
                POLCA_ERR_LAYOUT_MISMATCH, "grouped-query");
    polca_options_destroy(o);
    /* rotary: n_ctx is free (the tensors do not fix it) */
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "n_ctx", 512));
    CHECK_OK(polca_model_create_pretrained(ctx, FIX "llama_tied/checkpoint", o, &m));
    const char *desc;
    CHECK_OK(polca_model_describe(m, &desc));
    CHECK(strstr(desc, "\"n_ctx\": 512"));
    polca_options_destroy(o);
    /* loading a checkpoint of another size into it */
    int64_t P;
    CHECK_OK(polca_model_n_params(m, &P));
    float *theta = calloc((size_t)P, sizeof(float));
    CHECK(theta);
    theta[0] = 42;
    EXPECT_FAIL(polca_model_load_pretrained(m, FIX "gpt2/checkpoint", theta),
                POLCA_ERR_LAYOUT_MISMATCH, "gpt2");
    CHECK(theta[0] == 42); /* untouched */
    /* a tensor missing, a tensor of another shape, an extra tensor */
    polca_model *g = NULL;
    CHECK_OK(polca_model_create_pretrained(ctx, FIX "gpt2/checkpoint", NULL, &g));
    int64_t Pg;
    CHECK_OK(polca_model_n_params(g, &Pg));
    float *tg = calloc((size_t)Pg + 64, sizeof(float));
    CHECK(tg);
    CHECK_OK(polca_model_load_pretrained(g, FIX "gpt2/checkpoint", tg));
    float one[64] = {0};
    int64_t s16[1] = {16}, s17[1] = {17}, s4[1] = {4};
    polca__st_out_tensor bad[1] = {{"transformer.ln_f.bias", 1, s17, one}};
    CHECK_OK(polca_model_save_pretrained(g, tp("g.safetensors"), tg));
    /* the saved file with ln_f.bias replaced by a [17] one */
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open(tp("g.safetensors"), &f));
    int64_t nt = polca__st_count(f);
    polca__st_out_tensor *ts = calloc((size_t)nt + 1, sizeof *ts);
    float *vals = malloc((size_t)Pg * sizeof(float)), *at = vals;
    int64_t kept = 0;
    for (int64_t i = 0; i < nt; i++) {
        const polca__st_tensor *ti = polca__st_tensor_at(f, i);
        int64_t cnt = 1;
        for (int32_t dd = 0; dd < ti->ndim; dd++) cnt *= ti->shape[dd];
        CHECK_OK(polca__st_read_f32(f, i, at, cnt));
        if (!strcmp(ti->name, "transformer.ln_f.bias")) continue;
        ts[kept].name = ti->name;
        ts[kept].ndim = ti->ndim;
        ts[kept].shape = ti->shape;
        ts[kept].data = at;
        kept++;
        at += cnt;
    }
    CHECK_OK(polca__st_write_f32(tp("missing.safetensors"), kept, ts, 0, NULL, NULL));
    EXPECT_FAIL(polca_model_load_pretrained(g, tp("missing.safetensors"), tg),
                POLCA_ERR_LAYOUT_MISMATCH, "transformer.ln_f.bias");
    ts[kept] = bad[0];
    CHECK_OK(polca__st_write_f32(tp("shape.safetensors"), kept + 1, ts, 0, NULL, NULL));
    EXPECT_FAIL(polca_model_load_pretrained(g, tp("shape.safetensors"), tg),
                POLCA_ERR_LAYOUT_MISMATCH, "[17]");
    ts[kept].name = "transformer.ln_f.bias";
    ts[kept].shape = s16;
    ts[kept + 1] = (polca__st_out_tensor){"transformer.h.0.attn.extra", 1, s4, one};
    CHECK_OK(polca__st_write_f32(tp("extra.safetensors"), kept + 2, ts, 0, NULL, NULL));
    EXPECT_FAIL(polca_model_load_pretrained(g, tp("extra.safetensors"), tg),
                POLCA_ERR_LAYOUT_MISMATCH, "transformer.h.0.attn.extra");
    /* save_pretrained wants a file name */
    EXPECT_FAIL(polca_model_save_pretrained(g, tmp, tg), POLCA_ERR_INVALID_ARGUMENT, "directory");
    polca__st_close(f);
    free(ts);
    free(vals);
    free(tg);
    free(theta);
    polca_model_destroy(g);
    polca_model_destroy(m);
}

TEST(shards) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    polca_model *m = NULL;
    const char *d = tp("shards");
    sh("rm -rf '%s' && cp -r " FIX "llama_tied/checkpoint '%s'", d, d);
    /* the index itself may be given */
    CHECK_OK(polca_model_create_pretrained(ctx, tp("shards/model.safetensors.index.json"), NULL, &m));
    polca_model_destroy(m);
    m = NULL;
    sh("rm -f '%s'/model-00002-of-*.safetensors", d);
    EXPECT_FAIL(polca_model_create_pretrained(ctx, d, NULL, &m), POLCA_ERR_IO, "model-00002-of-");
    CHECK(m == NULL);
}

TEST(no_config_json) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    polca_model *m = NULL;
    sh("mkdir -p '%s' && cp " FIX "gpt2/checkpoint/model.safetensors '%s/'", tp("bare"), tp("bare"));
    EXPECT_FAIL(polca_model_create_pretrained(ctx, tp("bare/model.safetensors"), NULL, &m),
                POLCA_ERR_INVALID_ARGUMENT, "n_heads");
    polca_options *o = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "n_heads", 4));
    CHECK_OK(polca_model_create_pretrained(ctx, tp("bare"), o, &m));
    const char *desc, *fmt;
    CHECK_OK(polca_model_describe(m, &desc));
    CHECK_OK(polca_model_source_format(m, &fmt));
    CHECK(!strcmp(fmt, "gpt2"));
    CHECK(strstr(desc, "\"config\": null"));
    CHECK(strstr(desc, "norm_eps: 1e-05 (the default; no config.json)"));
    /* the same parameters as with config.json */
    polca_model *w = NULL;
    CHECK_OK(polca_model_create_pretrained(ctx, FIX "gpt2/checkpoint", NULL, &w));
    int64_t P, Pw;
    CHECK_OK(polca_model_n_params(m, &P));
    CHECK_OK(polca_model_n_params(w, &Pw));
    CHECK(P == Pw);
    float *a = malloc((size_t)P * sizeof(float)), *b = malloc((size_t)P * sizeof(float));
    CHECK(a && b);
    CHECK_OK(polca_model_load_pretrained(m, tp("bare"), a));
    CHECK_OK(polca_model_load_pretrained(w, FIX "gpt2/checkpoint", b));
    CHECK(!memcmp(a, b, (size_t)P * sizeof(float)));
    free(a);
    free(b);
    polca_options_destroy(o);
    polca_model_destroy(w);
    polca_model_destroy(m);
}

TEST(native_models_and_import) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    /* a create_transformer model: "native", files in the built-in names */
    polca_options *o = NULL;
    polca_model *n = NULL, *m = NULL;
    CHECK_OK(polca_options_create(&o));
    CHECK_OK(polca_options_set_int(o, "n_layers", 1));
    CHECK_OK(polca_options_set_int(o, "d_model", 8));
    CHECK_OK(polca_options_set_int(o, "n_heads", 2));
    CHECK_OK(polca_options_set_int(o, "d_vocab", 11));
    CHECK_OK(polca_options_set_int(o, "n_ctx", 5));
    CHECK_OK(polca_model_create_transformer(ctx, o, &n));
    polca_options_destroy(o);
    const char *fmt;
    CHECK_OK(polca_model_source_format(n, &fmt));
    CHECK(!strcmp(fmt, "native"));
    int64_t P;
    CHECK_OK(polca_model_n_params(n, &P));
    float *a = malloc((size_t)P * sizeof(float)), *b = malloc((size_t)P * sizeof(float));
    CHECK(a && b);
    CHECK_OK(polca_model_init(n, 3, a));
    CHECK_OK(polca_model_save_pretrained(n, tp("native.safetensors"), a));
    CHECK_OK(polca_model_load_safetensors(n, tp("native.safetensors"), b)); /* built-in names */
    CHECK(!memcmp(a, b, (size_t)P * sizeof(float)));
    /* and create_pretrained on it: the TransformerLens layout, the same model */
    CHECK_OK(polca_model_create_pretrained(ctx, tp("native.safetensors"), NULL, &m));
    CHECK_OK(polca_model_source_format(m, &fmt));
    CHECK(!strcmp(fmt, "transformerlens"));
    memset(b, 0, (size_t)P * sizeof(float));
    CHECK_OK(polca_model_load_pretrained(m, tp("native.safetensors"), b));
    CHECK(!memcmp(a, b, (size_t)P * sizeof(float)));
    free(a);
    free(b);
    polca_model_destroy(m);
    polca_model_destroy(n);

    /* import: save_pretrained directories named by step, sharded */
    CHECK_OK(polca_model_create_pretrained(ctx, FIX "llama_tied/checkpoint", NULL, &m));
    CHECK_OK(polca_model_n_params(m, &P));
    sh("rm -rf '%s' '%s' && cp -r " FIX "llama_tied/checkpoint '%s' && cp -r " FIX
       "llama_tied/checkpoint '%s'",
       tp("step200"), tp("step100"), tp("step200"), tp("step100"));
    const char *files[2] = {tp("step200"), tp("step100/")};
    polca_checkpoints *s = NULL;
    CHECK_OK(polca_checkpoints_import_safetensors(ctx, m, 2, files, NULL, NULL, &s));
    int64_t count = 0, step0 = 0, step1 = 0;
    CHECK_OK(polca_checkpoints_count(s, &count));
    CHECK(count == 2);
    CHECK_OK(polca_checkpoints_step(s, 0, &step0));
    CHECK_OK(polca_checkpoints_step(s, 1, &step1));
    CHECK(step0 == 100 && step1 == 200);
    a = malloc((size_t)P * sizeof(float));
    b = malloc((size_t)P * sizeof(float));
    CHECK(a && b);
    CHECK_OK(polca_checkpoints_read(s, 1, a, P));
    CHECK_OK(polca_model_load_pretrained(m, FIX "llama_tied/checkpoint", b));
    CHECK(!memcmp(a, b, (size_t)P * sizeof(float)));
    polca_checkpoints_destroy(s);
    /* a GPT-2 directory is no checkpoint of this Llama */
    sh("rm -rf '%s' && cp -r " FIX "gpt2/checkpoint '%s'", tp("step5"), tp("step5"));
    const char *bad[1] = {tp("step5")};
    s = NULL;
    EXPECT_FAIL(polca_checkpoints_import_safetensors(ctx, m, 1, bad, NULL, NULL, &s),
                POLCA_ERR_LAYOUT_MISMATCH, "gpt2");
    CHECK(s == NULL);
    free(a);
    free(b);
    polca_model_destroy(m);
}

/* Every truncation of config.json, and bytes replaced by JSON's special
 * characters: a status (CORRUPT for broken JSON) or a model, never a crash
 * (run under ASan by make check-asan). */
TEST(mangled_config_json) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    char d[600];
    snprintf(d, sizeof d, "%s", tp("mangled")); /* tp's buffers are reused */
    sh("rm -rf '%s' && cp -r " FIX "gpt2/checkpoint '%s'", d, d);
    FILE *f = fopen(tp("mangled/config.json"), "rb");
    CHECK(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    int statuses[32] = {0}, models = 0;
    static const char specials[] = "{}[]\":,\\0-e.";
    for (size_t i = 0; i <= n + sizeof specials; i++) {
        f = fopen(tp("mangled/config.json"), "wb");
        CHECK(f);
        if (i <= n) {
            fwrite(text, 1, i, f); /* truncated */
        } else {
            char copy[1 << 16];
            memcpy(copy, text, n);
            for (size_t k = (i * 7919) % n; k < n; k += 97) copy[k] = specials[i % (sizeof specials - 1)];
            fwrite(copy, 1, n, f);
        }
        fclose(f);
        polca_model *m = NULL;
        int32_t st = polca_model_create_pretrained(ctx, d, NULL, &m);
        if (st == POLCA_OK) {
            models++;
            polca_model_destroy(m);
        } else {
            CHECK(st < 0 && -st < 32 && polca_last_error()[0]);
            statuses[-st]++;
        }
    }
    printf("  %d models, %d CORRUPT, %d other refusals of %zu inputs\n", models,
           statuses[-POLCA_ERR_CORRUPT], (int)(n + sizeof specials + 1) - models - statuses[-POLCA_ERR_CORRUPT],
           n + sizeof specials + 1);
    CHECK(statuses[-POLCA_ERR_CORRUPT] > 0);
    CHECK(models >= 1); /* the whole file */
}

/* A GPT-2 checkpoint that keeps lm_head.weight beside wte: tied when the two
 * are equal bit for bit (the saver wrote one tensor twice), untied when not. */
TEST(lm_head_saved_anyway) {
    if (!have_fixtures()) SKIP("tests/fixtures/pretrained is not here");
    polca__st_file *f = NULL;
    CHECK_OK(polca__st_open(FIX "gpt2/checkpoint/model.safetensors", &f));
    int64_t nt = polca__st_count(f), total = 0, wte = -1;
    for (int64_t i = 0; i < nt; i++) {
        const polca__st_tensor *t = polca__st_tensor_at(f, i);
        int64_t c = 1;
        for (int32_t d = 0; d < t->ndim; d++) c *= t->shape[d];
        total += c;
        if (!strcmp(t->name, "transformer.wte.weight")) wte = i;
    }
    CHECK(wte >= 0);
    polca__st_out_tensor *ts = calloc((size_t)nt + 1, sizeof *ts);
    float *vals = malloc((size_t)total * sizeof(float)), *at = vals;
    CHECK(ts && vals);
    for (int64_t i = 0; i < nt; i++) {
        const polca__st_tensor *t = polca__st_tensor_at(f, i);
        int64_t c = 1;
        for (int32_t d = 0; d < t->ndim; d++) c *= t->shape[d];
        CHECK_OK(polca__st_read_f32(f, i, at, c));
        ts[i] = (polca__st_out_tensor){t->name, t->ndim, t->shape, at};
        at += c;
    }
    ts[nt] = ts[wte];
    ts[nt].name = "lm_head.weight";
    polca_model *m = NULL;
    int64_t P_tied = 0, P = 0;
    const char *desc;
    for (int differ = 0; differ < 2; differ++) {
        float *copy = NULL;
        if (differ) { /* lm_head one ulp away from wte in one element */
            const polca__st_tensor *t = polca__st_tensor_at(f, wte);
            size_t n = (size_t)(t->shape[0] * t->shape[1]);
            copy = malloc(n * sizeof(float));
            CHECK(copy);
            memcpy(copy, ts[wte].data, n * sizeof(float));
            copy[5] = nextafterf(copy[5], 1e30f);
            ts[nt].data = copy;
        }
        const char *d = tp("lm_head_%d", differ);
        sh("rm -rf '%s' && mkdir -p '%s' && cp " FIX "gpt2/checkpoint/config.json '%s/'", d, d, d);
        CHECK_OK(polca__st_write_f32(tp("lm_head_%d/model.safetensors", differ), nt + 1, ts, 0, NULL, NULL));
        CHECK_OK(polca_model_create_pretrained(ctx, tp("lm_head_%d", differ), NULL, &m));
        CHECK_OK(polca_model_describe(m, &desc));
        CHECK_OK(polca_model_n_params(m, differ ? &P : &P_tied));
        CHECK(strstr(desc, differ ? "\"tied_embeddings\": 0" : "\"tied_embeddings\": 1"));
        polca_model_destroy(m);
        free(copy);
    }
    const polca__st_tensor *t = polca__st_tensor_at(f, wte);
    CHECK(P == P_tied + t->shape[0] * t->shape[1]);
    polca__st_close(f);
    free(ts);
    free(vals);
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    if (polca_context_create(NULL, &ctx)) return 1;
    RUN(unrecognised_and_corrupt);
    RUN(config_keys_that_change_the_function);
    RUN(configuration_must_fit_the_tensors);
    RUN(shards);
    RUN(no_config_json);
    RUN(native_models_and_import);
    RUN(mangled_config_json);
    RUN(lm_head_saved_anyway);
    polca_context_destroy(ctx);
    sh("rm -rf '%s'", tmp);
    return harness_done();
}
