/*
 * tests/test_pretrained.c - checkpoints in the layouts users have, end to
 * end, on the committed fixtures (tests/fixtures/pretrained/<case>/, made
 * with the real transformers / TransformerLens 4 classes by
 * tests/gen_pretrained_fixtures.py; their README.md has the format):
 *
 *   - each layout detected (polca_model_source_format) with the configuration
 *     its config.json states (polca_model_describe);
 *   - save_pretrained(load_pretrained(checkpoint)) holds every tensor of the
 *     checkpoint (buffers aside) with the same names, shapes and bits, read
 *     back by this file's own safetensors reader; likewise each direction
 *     file dir*.safetensors (sharded and tied cases included);
 *   - the numbers: losses, mean loss, gradient, H dir0, g and c of the
 *     model on reference.safetensors' tokens against the float64 PyTorch
 *     references, <= 1e-4 relative (per-sample losses max relative, vectors
 *     norm-wise). The CPU kernels compute every switch, so a refusal
 *     (POLCA_ERR_UNSUPPORTED) fails; built with -DALLOW_UNSUPPORTED=1 it
 *     makes the case SKIP, naming it.
 *
 * tests/test_pretrained_errors.c covers bad inputs; tests/
 * test_python_pretrained.py checks every converted tensor against numpy.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "json_mini.h"

#ifndef ALLOW_UNSUPPORTED
#define ALLOW_UNSUPPORTED 0
#endif

#define FIX "tests/fixtures/pretrained/"
#define TOL 1e-4

/* ---- an independent safetensors reader (this file's own) ---- */

typedef struct st_mini {
    jm_value *head;
    unsigned char *data; /* the data buffer */
    size_t size;
} st_mini;

static int st_load(const char *path, st_mini *s) {
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char n8[8];
    if (fread(n8, 1, 8, f) != 8) {
        fclose(f);
        return -1;
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)n8[i] << (8 * i);
    fseek(f, 0, SEEK_END);
    long total = ftell(f);
    if (n > (uint64_t)total) {
        fclose(f);
        return -1;
    }
    char *text = malloc(n + 1);
    s->size = (size_t)total - 8 - n;
    s->data = malloc(s->size + 1);
    fseek(f, 8, SEEK_SET);
    int ok = text && s->data && fread(text, 1, n, f) == n &&
             fread(s->data, 1, s->size, f) == s->size;
    fclose(f);
    if (!ok) {
        free(text);
        free(s->data);
        return -1;
    }
    text[n] = 0;
    const char *err = NULL;
    s->head = jm_parse(text, &err);
    free(text);
    return s->head ? 0 : -1;
}

static void st_free(st_mini *s) {
    jm_free(s->head);
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* Tensor `name`: dtype, shape, and its bytes. */
static const jm_value *st_entry(const st_mini *s, const char *name) {
    return s->head ? jm_get(s->head, name) : NULL;
}

static int64_t st_count(const jm_value *e) {
    const jm_value *shape = jm_get(e, "shape");
    int64_t n = 1;
    for (int i = 0; i < shape->n; i++) n *= (int64_t)shape->items[i]->num;
    return n;
}

static const unsigned char *st_bytes(const st_mini *s, const jm_value *e) {
    return s->data + (size_t)jm_get(e, "data_offsets")->items[0]->num;
}

/* Element i as a double (F32, F64, I32, U8, I64). */
static double st_at(const st_mini *s, const jm_value *e, int64_t i) {
    const char *dt = jm_get(e, "dtype")->str;
    const unsigned char *b = st_bytes(s, e);
    if (!strcmp(dt, "F32")) {
        float v;
        memcpy(&v, b + 4 * i, 4);
        return v;
    }
    if (!strcmp(dt, "F64")) {
        double v;
        memcpy(&v, b + 8 * i, 8);
        return v;
    }
    if (!strcmp(dt, "I32")) {
        int32_t v;
        memcpy(&v, b + 4 * i, 4);
        return v;
    }
    if (!strcmp(dt, "I64")) {
        int64_t v;
        memcpy(&v, b + 8 * i, 8);
        return (double)v;
    }
    if (!strcmp(dt, "U8") || !strcmp(dt, "BOOL")) return b[i];
    return NAN;
}

static double *st_doubles(const st_mini *s, const char *name, int64_t *n) {
    const jm_value *e = st_entry(s, name);
    if (!e) return NULL;
    *n = st_count(e);
    double *x = malloc((size_t)(*n + 1) * sizeof *x);
    for (int64_t i = 0; x && i < *n; i++) x[i] = st_at(s, e, i);
    return x;
}

/* ---- cases ---- */

typedef struct pt_case {
    const char *name;       /* fixture directory */
    const char *checkpoint; /* in it */
    const char *format;     /* expected polca_model_source_format */
    const char *dirs;       /* direction files, printf with k */
    const char *grad, *hvp0;
    int sharded;
    /* expected configuration (from the generator's config) */
    const char *expect[8];  /* "key": value fragments of the describe JSON */
} pt_case;

static const pt_case cases[] = {
    {"gpt2", "checkpoint", "gpt2", "dir%d.safetensors", "grad.safetensors", "hvp0.safetensors", 0,
     {"\"positions\": \"learned\"", "\"tied_embeddings\": 1", "\"act_fn\": \"gelu_new\"",
      "\"unembed_bias\": 0", "\"norm\": \"layernorm\"", NULL}},
    {"neox", "checkpoint", "gpt_neox", "dir%d.safetensors", "grad.safetensors",
     "hvp0.safetensors", 0,
     {"\"positions\": \"rotary\"", "\"parallel_residual\": 1", "\"tied_embeddings\": 0",
      "\"act_fn\": \"gelu\"", NULL}},
    {"neox_seq", "checkpoint", "gpt_neox", "dir%d.safetensors", "grad.safetensors",
     "hvp0.safetensors", 0, {"\"positions\": \"rotary\"", "\"parallel_residual\": 0", NULL}},
    {"llama", "checkpoint", "llama", "dir%d.safetensors", "grad.safetensors", "hvp0.safetensors",
     0,
     {"\"norm\": \"rmsnorm\"", "\"norm_eps\": 1e-06", "\"mlp_gated\": 1", "\"act_fn\": \"silu\"",
      "\"n_kv_heads\": 2", "\"n_heads\": 4", "\"tied_embeddings\": 0", "\"qkv_bias\": 0"}},
    {"llama_tied", "checkpoint", "llama", "dir%d.safetensors", "grad.safetensors",
     "hvp0.safetensors", 1, {"\"tied_embeddings\": 1", "\"norm\": \"rmsnorm\"", NULL}},
    {"qwen2", "checkpoint", "qwen2", "dir%d.safetensors", "grad.safetensors", "hvp0.safetensors",
     0, {"\"qkv_bias\": 1", "\"out_bias\": 0", "\"norm\": \"rmsnorm\"", NULL}},
    {"tl4", "state_dict.safetensors", "transformerlens4", "sd_dir%d.safetensors",
     "sd_grad.safetensors", "sd_hvp0.safetensors", 0,
     {"\"tied_embeddings\": 1", "\"unembed_bias\": 0", "\"positions\": \"learned\"", NULL}},
    {"tl4", "get_params.safetensors", "transformerlens", "dir%d.safetensors", "grad.safetensors",
     "hvp0.safetensors", 0, {"\"tied_embeddings\": 1", "\"unembed_bias\": 0", NULL}},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))
#define K 3

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...) {
    static char buf[8][512];
    static int at;
    char *b = buf[at++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, 512, fmt, ap);
    va_end(ap);
    return b;
}

static polca_context *ctx;
static char tmp[] = "/tmp/polca_pretrained_XXXXXX";

/* The model of case c: options give n_heads where the file lacks them (a
 * TransformerLens 4 state_dict), read from the generator's hf_config.json. */
static int32_t model_of(const pt_case *c, polca_model **m) {
    polca_options *o = NULL;
    if (!strcmp(c->format, "transformerlens4")) {
        FILE *f = fopen(pathf(FIX "%s/hf_config.json", c->name), "rb");
        char text[8192] = "";
        if (f) {
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = 0;
            fclose(f);
        }
        const char *err;
        jm_value *cfg = jm_parse(text, &err);
        const jm_value *nh = cfg ? jm_get(cfg, "n_head") : NULL;
        polca_options_create(&o);
        polca_options_set_int(o, "n_heads", nh ? (int64_t)nh->num : 4);
        jm_free(cfg);
    }
    int32_t st = polca_model_create_pretrained(ctx, pathf(FIX "%s/%s", c->name, c->checkpoint), o, m);
    polca_options_destroy(o);
    return st;
}

/* The files of a checkpoint: one, or the shards of its index. */
static int source_files(const pt_case *c, char files[][512], int max) {
    const char *ck = pathf(FIX "%s/%s", c->name, c->checkpoint);
    if (strstr(ck, ".safetensors")) {
        snprintf(files[0], 512, "%s", ck);
        return 1;
    }
    FILE *f = fopen(pathf("%s/model.safetensors.index.json", ck), "rb");
    if (!f) {
        snprintf(files[0], 512, "%s/model.safetensors", ck);
        return 1;
    }
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *err;
    jm_value *idx = jm_parse(text, &err);
    const jm_value *wm = idx ? jm_get(idx, "weight_map") : NULL;
    int nf = 0;
    for (int i = 0; wm && i < wm->n; i++) {
        int seen = 0;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", ck, wm->items[i]->str);
        for (int j = 0; j < nf; j++) seen |= !strcmp(files[j], p);
        if (!seen && nf < max) snprintf(files[nf++], 512, "%s", p);
    }
    jm_free(idx);
    return nf;
}

static int is_ignored(const char *name) {
    static const char *const ends[] = {"attn.bias", "attn.masked_bias", "rotary_emb.inv_freq",
                                       "unembed.weight", "unembed.bias", "unembed.W_U",
                                       "unembed.b_U"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
        size_t k = strlen(ends[i]);
        if (n >= k && !strcmp(name + n - k, ends[i]) && (n == k || name[n - k - 1] == '.'))
            return 1;
    }
    return 0;
}

/* Every tensor of `written` is in one of files[] with its shape and bits
 * (F32), and every tensor of files[] that is a parameter is in `written`. */
static int same_tensors(const char *written, char files[][512], int nf, char *why, size_t whylen) {
    st_mini w;
    if (st_load(written, &w)) {
        snprintf(why, whylen, "cannot read %s", written);
        return 0;
    }
    int ok = 1, n_src = 0;
    st_mini src[16];
    for (int i = 0; i < nf && ok; i++) {
        if (st_load(files[i], &src[n_src])) {
            snprintf(why, whylen, "cannot read %s", files[i]);
            ok = 0;
        } else {
            n_src++;
        }
    }
    for (int i = 0; ok && i < w.head->n; i++) {
        const char *name = w.head->keys[i];
        if (!strcmp(name, "__metadata__")) continue;
        const jm_value *e = w.head->items[i], *s = NULL;
        int si = -1;
        for (int j = 0; j < n_src && !s; j++)
            if ((s = st_entry(&src[j], name))) si = j;
        if (!s) {
            snprintf(why, whylen, "%s: tensor '%s' is not in the source", written, name);
            ok = 0;
            break;
        }
        const jm_value *a = jm_get(e, "shape"), *b = jm_get(s, "shape");
        int same = a->n == b->n;
        for (int d = 0; same && d < a->n; d++) same = a->items[d]->num == b->items[d]->num;
        if (!same || strcmp(jm_get(s, "dtype")->str, "F32")) {
            snprintf(why, whylen, "tensor '%s': shape or dtype differs", name);
            ok = 0;
            break;
        }
        if (memcmp(st_bytes(&w, e), st_bytes(&src[si], s), (size_t)st_count(e) * 4)) {
            snprintf(why, whylen, "tensor '%s': values differ", name);
            ok = 0;
        }
    }
    for (int j = 0; ok && j < n_src; j++)
        for (int i = 0; ok && i < src[j].head->n; i++) {
            const char *name = src[j].head->keys[i];
            if (!strcmp(name, "__metadata__") || is_ignored(name)) continue;
            if (!st_entry(&w, name)) {
                snprintf(why, whylen, "source tensor '%s' was not written", name);
                ok = 0;
            }
        }
    for (int j = 0; j < n_src; j++) st_free(&src[j]);
    st_free(&w);
    return ok;
}

static int fixtures_present(void) { return access(FIX "gpt2/reference.safetensors", R_OK) == 0; }

/* ---- detection, configuration, round trips ---- */

TEST(layouts_and_round_trips) {
    if (!fixtures_present()) SKIP("tests/fixtures/pretrained is not here");
    for (int ci = 0; ci < N_CASES; ci++) {
        const pt_case *c = &cases[ci];
        if (access(pathf(FIX "%s/%s", c->name, c->checkpoint), R_OK)) {
            FAILF("case %s: %s missing", c->name, c->checkpoint);
            continue;
        }
        polca_model *m = NULL;
        if (model_of(c, &m)) {
            FAILF("case %s: %s", c->name, polca_last_error());
            continue;
        }
        const char *fmt = NULL, *desc = NULL;
        CHECK_OK(polca_model_source_format(m, &fmt));
        CHECK_OK(polca_model_describe(m, &desc));
        if (strcmp(fmt, c->format)) FAILF("case %s: format %s, expected %s", c->name, fmt, c->format);
        for (int k = 0; k < 8 && c->expect[k]; k++)
            if (!strstr(desc, c->expect[k]))
                FAILF("case %s: describe lacks %s: %s", c->name, c->expect[k], desc);
        int64_t P = 0;
        polca_model_n_params(m, &P);
        float *theta = malloc((size_t)P * sizeof(float)), *d = malloc((size_t)P * sizeof(float));
        CHECK(theta && d);
        char files[16][512], why[400];
        int nf = source_files(c, files, 16);
        if (c->sharded && nf < 2) FAILF("case %s: expected shards, found %d file(s)", c->name, nf);
        const char *out = pathf("%s/%s_%d.safetensors", tmp, c->name, ci);
        if (polca_model_load_pretrained(m, pathf(FIX "%s/%s", c->name, c->checkpoint), theta) ||
            polca_model_save_pretrained(m, out, theta))
            FAILF("case %s: %s", c->name, polca_last_error());
        else if (!same_tensors(out, files, nf, why, sizeof why))
            FAILF("case %s: round trip of the checkpoint: %s", c->name, why);
        for (int k = 0; k < K; k++) {
            char dfile[1][512];
            snprintf(dfile[0], 512, FIX "%s/%s", c->name, pathf(c->dirs, k));
            if (polca_model_load_pretrained(m, dfile[0], d) ||
                polca_model_save_pretrained(m, out, d)) {
                FAILF("case %s: direction %d: %s", c->name, k, polca_last_error());
                continue;
            }
            /* the direction files use the model's names only when the
             * format writes them (tl4 get_params: TransformerLens names) */
            if (!same_tensors(out, dfile, 1, why, sizeof why))
                FAILF("case %s: round trip of direction %d: %s", c->name, k, why);
        }
        printf("  %s (%s): %s, P = %lld, %d file(s)\n", c->name, c->checkpoint, fmt, (long long)P,
               nf);
        free(theta);
        free(d);
        polca_model_destroy(m);
    }
}

/* ---- the numbers ---- */

static double rel_norm(const double *ref, const float *got, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)got[i] - ref[i];
        num += e * e;
        den += ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* A vector file (checkpoint names, F64) into the built-in layout, through
 * the converter under test; compared norm-wise in float64 against the
 * converted copy: the conversion only moves values. */
static int load_f64_as_theta(polca_model *m, const char *path, double *out, int64_t P) {
    float *f = malloc((size_t)P * sizeof(float));
    if (!f || polca_model_load_pretrained(m, path, f)) {
        free(f);
        return -1;
    }
    for (int64_t i = 0; i < P; i++) out[i] = f[i];
    free(f);
    return 0;
}

static int unsupported(int32_t st, const pt_case *c, const char *what, int *skipped) {
    if (st == POLCA_ERR_UNSUPPORTED && ALLOW_UNSUPPORTED) {
        printf("  SKIP %s (%s): %s: %s\n", c->name, c->checkpoint, what, polca_last_error());
        (*skipped)++;
        return 1;
    }
    return 0;
}

TEST(numbers_match_pytorch) {
    if (!fixtures_present()) SKIP("tests/fixtures/pretrained is not here");
    int skipped = 0, checked = 0;
    for (int ci = 0; ci < N_CASES; ci++) {
        const pt_case *c = &cases[ci];
        polca_model *m = NULL;
        if (model_of(c, &m)) {
            FAILF("case %s: %s", c->name, polca_last_error());
            continue;
        }
        st_mini ref;
        if (st_load(pathf(FIX "%s/reference.safetensors", c->name), &ref)) {
            FAILF("case %s: cannot read reference.safetensors", c->name);
            polca_model_destroy(m);
            continue;
        }
        const jm_value *te = st_entry(&ref, "tokens");
        int64_t S = (int64_t)jm_get(te, "shape")->items[0]->num,
                T = (int64_t)jm_get(te, "shape")->items[1]->num, n = 0;
        int32_t *tokens = malloc((size_t)(S * T) * sizeof(int32_t));
        uint8_t *mask = malloc((size_t)(S * T));
        for (int64_t i = 0; i < S * T; i++) {
            tokens[i] = (int32_t)st_at(&ref, te, i);
            mask[i] = (uint8_t)st_at(&ref, st_entry(&ref, "mask"), i);
        }
        double *losses_ref = st_doubles(&ref, "losses", &n), *g_ref = NULL, *c_ref = NULL;
        int64_t N = n, nk = 0;
        g_ref = st_doubles(&ref, "g", &nk);
        c_ref = st_doubles(&ref, "c", &nk);
        double *mean_ref = st_doubles(&ref, "mean_loss", &n);
        int64_t P = 0;
        polca_model_n_params(m, &P);
        float *theta = malloc((size_t)P * sizeof(float)), *dirs = malloc((size_t)(K * P) * sizeof(float)),
              *losses = malloc((size_t)N * sizeof(float)), *grad = malloc((size_t)P * sizeof(float)),
              *hv = malloc((size_t)P * sizeof(float)), *g = malloc((size_t)(K * N) * sizeof(float)),
              *cc = malloc((size_t)(K * N) * sizeof(float));
        double *vref = malloc((size_t)P * sizeof(double));
        polca_data *data = NULL;
        int32_t st = polca_model_load_pretrained(m, pathf(FIX "%s/%s", c->name, c->checkpoint), theta);
        for (int k = 0; k < K && !st; k++)
            st = polca_model_load_pretrained(m, pathf(FIX "%s/%s", c->name, pathf(c->dirs, k)),
                                             dirs + k * P);
        if (!st) st = polca_data_create_tokens(ctx, S, T, tokens, mask, &data);
        if (st) FAILF("case %s: inputs: %s", c->name, polca_last_error());
        double mean = 0;
        int done = 0;
        if (!st) {
            st = polca_model_losses(m, data, theta, losses);
            if (unsupported(st, c, "losses", &skipped)) goto next;
            if (st) {
                FAILF("case %s: losses: %s", c->name, polca_last_error());
                goto next;
            }
            double worst = 0;
            for (int64_t i = 0; i < N; i++) {
                double r = fabs(losses[i] - losses_ref[i]) / fabs(losses_ref[i]);
                worst = r > worst ? r : worst;
            }
            if (worst > TOL) FAILF("case %s: losses max relative error %.3g", c->name, worst);
            st = polca_model_grad(m, data, theta, &mean, grad);
            if (unsupported(st, c, "grad", &skipped)) goto next;
            double eg = -1, eh = -1, eG = 0, eC = 0;
            if (!st && fabs(mean - mean_ref[0]) > TOL * fabs(mean_ref[0]))
                FAILF("case %s: mean loss %.9g, reference %.9g", c->name, mean, mean_ref[0]);
            if (!st && !load_f64_as_theta(m, pathf(FIX "%s/%s", c->name, c->grad), vref, P))
                eg = rel_norm(vref, grad, P);
            if (!st) st = polca_model_hvp(m, data, theta, dirs, hv);
            if (unsupported(st, c, "hvp", &skipped)) goto next;
            if (!st && !load_f64_as_theta(m, pathf(FIX "%s/%s", c->name, c->hvp0), vref, P))
                eh = rel_norm(vref, hv, P);
            if (!st) st = polca_model_dirderivs(m, data, theta, K, dirs, NULL, g, cc);
            if (unsupported(st, c, "dirderivs", &skipped)) goto next;
            if (st) {
                FAILF("case %s: %s", c->name, polca_last_error());
                goto next;
            }
            for (int k = 0; k < K; k++) {
                double a = rel_norm(g_ref + k * N, g + k * N, N), b = rel_norm(c_ref + k * N, cc + k * N, N);
                eG = a > eG ? a : eG;
                eC = b > eC ? b : eC;
            }
            if (eg < 0 || eg > TOL) FAILF("case %s: gradient relative error %.3g", c->name, eg);
            if (eh < 0 || eh > TOL) FAILF("case %s: HVP relative error %.3g", c->name, eh);
            if (eG > TOL) FAILF("case %s: g relative error %.3g", c->name, eG);
            if (eC > TOL) FAILF("case %s: c relative error %.3g", c->name, eC);
            printf("  %s (%s): losses %.2g, grad %.2g, hvp %.2g, g %.2g, c %.2g (max relative)\n",
                   c->name, c->checkpoint, worst, eg, eh, eG, eC);
            done = 1;
        }
    next:
        checked += done;
        polca_data_destroy(data);
        free(tokens);
        free(mask);
        free(losses_ref);
        free(g_ref);
        free(c_ref);
        free(mean_ref);
        free(theta);
        free(dirs);
        free(losses);
        free(grad);
        free(hv);
        free(g);
        free(cc);
        free(vref);
        st_free(&ref);
        polca_model_destroy(m);
    }
    if (skipped && !checked && !harness_test_failed)
        SKIP("every case needs a kernel this build refuses (ALLOW_UNSUPPORTED; see above)");
}

int main(void) {
    if (!mkdtemp(tmp)) return 1;
    if (polca_context_create(NULL, &ctx)) return 1;
    RUN(layouts_and_round_trips);
    RUN(numbers_match_pytorch);
    polca_context_destroy(ctx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) return 1;
    return harness_done();
}
