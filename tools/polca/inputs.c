/*
 * tools/polca/inputs.c - the files a user brings: the model config (JSON),
 * tokens, masks and labels (.npy).
 *
 * Model config: one JSON object whose keys are the options of
 * polca_model_create_transformer (n_layers, d_model, ..., norm, positions,
 * the 0/1 switches) or TransformerLens HookedTransformerConfig fields,
 * mapped to those options or checked against what the built-in transformer
 * computes (cfg_keys below; docs/cli.md "Model config"). Any other key is an
 * error naming it (a misspelt "d_mlp" would otherwise silently give the
 * default), and so is a value that changes the math from what is computed.
 *
 * A checkpoint instead (a directory as save_pretrained writes it, a
 * .safetensors file, a model.safetensors.index.json), or a JSON object with
 * "pretrained": PATH (relative to the JSON file's directory), optionally
 * "format" and any option of polca_model_create_transformer ("n_ctx",
 * "norm_eps", ...) overriding what the checkpoint implies: the model comes
 * from polca_model_create_pretrained (`polca info CHECKPOINT` prints such a
 * JSON).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "json.h"
#include "npy.h"

int cli_check_input(const char *what, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return CLI_OK;
    /* checkpoints may be save_pretrained directories */
    if (S_ISDIR(st.st_mode) && (!strcmp(what, "--config") || !strcmp(what, "CHECKPOINT")))
        return CLI_OK;
    return cli_fail(CLI_INPUT, "%s %s: %s, not a regular file (polca reads regular files only)", what,
                    path, file_type_name((unsigned)st.st_mode));
}

int cli_check_inputs(const cli_args *a, const char *const *names, const char *pos_name) {
    int rc = CLI_OK;
    char what[80];
    for (int i = 0; names && names[i] && !rc; i++) {
        const char *v = cli_get(a, names[i]);
        snprintf(what, sizeof what, "--%s", names[i]);
        if (v && *v) rc = cli_check_input(what, v);
    }
    for (int i = 0; pos_name && i < a->n_pos && !rc; i++) rc = cli_check_input(pos_name, a->pos[i]);
    return rc;
}

static int read_text(const char *path, char **out, size_t *len) {
    char err[600];
    FILE *f = open_regular(path, err, sizeof err);
    if (!f) return cli_fail(CLI_INPUT, "%s", err);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return cli_fail(CLI_LIBRARY, "out of memory reading %s", path);
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        if (cap > (64u << 20)) {
            free(buf);
            fclose(f);
            return cli_fail(CLI_INPUT, "%s: larger than 64 MiB: not a model config", path);
        }
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cli_fail(CLI_INPUT, "%s: read error", path);
    }
    *out = buf;
    *len = n;
    return CLI_OK;
}

/* The model config's keys: our own option names, and TransformerLens
 * HookedTransformerConfig fields mapped to them or checked against what the
 * built-in transformer computes. The same table is in
 * bindings/python/polca/model.py (transformer_config); docs/cli.md
 * "Model config" documents it. */
enum {
    CK_INT,      /* integer -> opt; null = the default (TransformerLens's d_mlp of attn_only) */
    CK_SWITCH,   /* own 0/1 option: true/false or 0/1 */
    CK_DOUBLE,   /* own number option */
    CK_STRING,   /* own string option */
    CK_BOOL_TO,  /* true/false -> opt 0/1 */
    CK_NUM_TO,   /* number -> opt (double) */
    CK_NORM,     /* normalization_type -> norm */
    CK_POS,      /* positional_embedding_type -> positions */
    CK_FALSE,    /* true changes the math: refused (why) */
    CK_TRUE,     /* false changes the math: refused (why) */
    CK_NULL,     /* anything but null changes the math: refused (why) */
    CK_STR_EQ,   /* must be the string opt */
    CK_CAP,      /* soft cap: <= 0 is off; > 0 refused */
    CK_RMS_ONLY, /* true needs norm "rmsnorm" */
    CK_ATTN_ONLY,
    CK_VOCAB_OUT,
    CK_ATTN_SCALE,
    CK_IGNORE, /* informational, any value */
};

typedef struct {
    const char *key;
    int kind;
    const char *opt; /* the option it sets, or CK_STR_EQ's value */
    const char *why; /* refusals */
} cfg_key;

static const cfg_key cfg_keys[] = {
    {"n_layers", CK_INT, "n_layers", NULL},
    {"d_model", CK_INT, "d_model", NULL},
    {"n_heads", CK_INT, "n_heads", NULL},
    {"d_head", CK_INT, "d_head", NULL},
    {"d_mlp", CK_INT, "d_mlp", NULL},
    {"d_vocab", CK_INT, "d_vocab", NULL},
    {"n_ctx", CK_INT, "n_ctx", NULL},
    {"n_kv_heads", CK_INT, "n_kv_heads", NULL},
    {"rotary_dim", CK_INT, "rotary_dim", NULL},
    {"act_fn", CK_STRING, "act_fn", NULL},
    {"norm", CK_STRING, "norm", NULL},
    {"positions", CK_STRING, "positions", NULL},
    {"norm_eps", CK_DOUBLE, "norm_eps", NULL},
    {"rope_theta", CK_DOUBLE, "rope_theta", NULL},
    {"qkv_bias", CK_SWITCH, "qkv_bias", NULL},
    {"out_bias", CK_SWITCH, "out_bias", NULL},
    {"mlp_bias", CK_SWITCH, "mlp_bias", NULL},
    {"mlp_gated", CK_SWITCH, "mlp_gated", NULL},
    {"parallel_residual", CK_SWITCH, "parallel_residual", NULL},
    {"tied_embeddings", CK_SWITCH, "tied_embeddings", NULL},
    {"unembed_bias", CK_SWITCH, "unembed_bias", NULL},
    /* TransformerLens HookedTransformerConfig */
    {"normalization_type", CK_NORM, "norm", NULL},
    {"positional_embedding_type", CK_POS, "positions", NULL},
    {"eps", CK_NUM_TO, "norm_eps", NULL},
    {"n_key_value_heads", CK_INT, "n_kv_heads", NULL},
    {"gated_mlp", CK_BOOL_TO, "mlp_gated", NULL},
    {"parallel_attn_mlp", CK_BOOL_TO, "parallel_residual", NULL},
    {"tie_word_embeddings", CK_BOOL_TO, "tied_embeddings", NULL},
    {"rotary_base", CK_NUM_TO, "rope_theta", NULL},
    {"attn_only", CK_ATTN_ONLY, NULL, NULL},
    {"d_vocab_out", CK_VOCAB_OUT, NULL, NULL},
    {"attn_scale", CK_ATTN_SCALE, NULL, NULL},
    {"final_rms", CK_RMS_ONLY, NULL, "an RMSNorm final norm with another norm in the blocks"},
    {"uses_rms_norm", CK_RMS_ONLY, NULL, "RMSNorm where normalization_type says otherwise"},
    {"use_attn_scale", CK_TRUE, NULL, "attention scores are always scaled by 1/sqrt(d_head)"},
    {"rotary_adjacent_pairs", CK_FALSE, NULL,
     "GPT-J interleaved pairs; the built-in transformer rotates halves (GPT-NeoX, Llama)"},
    {"use_NTK_by_parts_rope", CK_FALSE, NULL, "rotary frequency scaling is not supported"},
    {"use_qk_norm", CK_FALSE, NULL, "query/key norms are not supported"},
    {"post_embedding_ln", CK_FALSE, NULL, "a norm after the embedding is not supported"},
    {"scale_attn_by_inverse_layer_idx", CK_FALSE, NULL, "per-layer attention scaling is not supported"},
    {"use_normalization_before_and_after", CK_FALSE, NULL, "norms after attention and MLP are not supported"},
    {"rmsnorm_uses_offset", CK_FALSE, NULL, "RMSNorm weights are used as they are (no 1 + w)"},
    {"use_local_attn", CK_FALSE, NULL, "attention is always global"},
    {"rope_scaling", CK_NULL, NULL, "rotary frequency scaling is not supported"},
    {"num_experts", CK_NULL, NULL, "mixture-of-experts MLPs are not supported"},
    {"attention_dir", CK_STR_EQ, "causal", "attention is always causal"},
    {"attn_scores_soft_cap", CK_CAP, NULL, "soft-capping is not supported"},
    {"output_logits_soft_cap", CK_CAP, NULL, "soft-capping is not supported"},
    {"model_name", CK_IGNORE, NULL, NULL},
    {"NTK_by_parts_low_freq_factor", CK_IGNORE, NULL, NULL}, /* used only by use_NTK_by_parts_rope */
    {"NTK_by_parts_high_freq_factor", CK_IGNORE, NULL, NULL},
    {"NTK_by_parts_factor", CK_IGNORE, NULL, NULL},
    {"NTK_original_ctx_len", CK_IGNORE, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

/* What the checks after all keys need; set_opt[i] was set by key set_by[i]
 * (two keys setting one option are an error). */
typedef struct {
    const char *set_by[24];
    const char *set_opt[24];
    int n_set;
    const char *norm, *positions;
    int rotary_dim_null, attn_only, rms_only_true;
    const char *rms_only_key, *rms_only_why;
    double attn_scale;
    int has_attn_scale;
} cfg_state;

static int cfg_set(const char *path, cfg_state *s, const char *key, const char *opt) {
    for (int i = 0; i < s->n_set; i++)
        if (!strcmp(s->set_opt[i], opt))
            return cli_fail(CLI_INPUT, "%s: \"%s\" and \"%s\" both set %s", path, s->set_by[i], key,
                            opt);
    if (s->n_set < 24) {
        s->set_opt[s->n_set] = opt;
        s->set_by[s->n_set++] = key;
    }
    return CLI_OK;
}

/* One key e of value v: sets options in *o, records in s. */
static int cfg_one(const char *path, const cfg_key *e, const json_value *v, polca_options **o,
                   cfg_state *s) {
    const char *key = e->key;
    int is_int = v->type == JSON_NUMBER && v->is_integer;
    int rc = e->opt && e->kind != CK_STR_EQ ? cfg_set(path, s, key, e->opt) : CLI_OK;
    if (rc) return rc;
    switch (e->kind) {
    case CK_INT:
        if (v->type == JSON_NULL) {
            s->rotary_dim_null |= !strcmp(e->opt, "rotary_dim");
            return CLI_OK;
        }
        if (!is_int) return cli_fail(CLI_INPUT, "%s: \"%s\" must be an integer or null", path, key);
        return cli_opt_int(o, e->opt, v->integer);
    case CK_SWITCH:
        if (v->type == JSON_BOOL) return cli_opt_int(o, e->opt, v->boolean);
        if (!is_int || (v->integer != 0 && v->integer != 1))
            return cli_fail(CLI_INPUT, "%s: \"%s\" must be true, false, 0 or 1", path, key);
        return cli_opt_int(o, e->opt, v->integer);
    case CK_BOOL_TO:
        if (v->type != JSON_BOOL)
            return cli_fail(CLI_INPUT, "%s: \"%s\" must be true or false", path, key);
        return cli_opt_int(o, e->opt, v->boolean);
    case CK_DOUBLE:
    case CK_NUM_TO:
        if (v->type != JSON_NUMBER)
            return cli_fail(CLI_INPUT, "%s: \"%s\" must be a number", path, key);
        return cli_opt_double(o, e->opt, v->number);
    case CK_STRING:
        if (v->type != JSON_STRING)
            return cli_fail(CLI_INPUT, "%s: \"%s\" must be a string", path, key);
        if (!strcmp(e->opt, "norm")) s->norm = v->string;
        if (!strcmp(e->opt, "positions")) s->positions = v->string;
        return cli_opt_string(o, e->opt, v->string);
    case CK_NORM:
    case CK_POS: {
        static const char *const norm_map[] = {"LN", "layernorm", "RMS", "rmsnorm", NULL};
        static const char *const pos_map[] = {"standard", "learned", "rotary", "rotary", NULL};
        const char *const *map = e->kind == CK_NORM ? norm_map : pos_map;
        for (int i = 0; v->type == JSON_STRING && map[i]; i += 2)
            if (!strcmp(v->string, map[i])) {
                if (e->kind == CK_NORM) s->norm = map[i + 1];
                else s->positions = map[i + 1];
                return cli_opt_string(o, e->opt, map[i + 1]);
            }
        const char *why = e->kind == CK_POS ? "not supported (\"standard\" or \"rotary\")"
                          : v->type == JSON_NULL ? "no normalization is not supported (\"LN\" or \"RMS\")"
                          : v->type == JSON_STRING && strstr(v->string, "Pre")
                              ? "norms without weights (folded) are not supported (\"LN\" or \"RMS\")"
                              : "not supported (\"LN\" or \"RMS\")";
        if (v->type == JSON_STRING)
            return cli_fail(CLI_INPUT, "%s: \"%s\": \"%s\": %s", path, key, v->string, why);
        return cli_fail(CLI_INPUT, "%s: \"%s\": %s: %s", path, key, json_type_name(v->type), why);
    }
    case CK_FALSE:
    case CK_TRUE:
        if (v->type != JSON_BOOL)
            return cli_fail(CLI_INPUT, "%s: \"%s\" must be true or false", path, key);
        if (v->boolean != (e->kind == CK_TRUE))
            return cli_fail(CLI_INPUT, "%s: \"%s\": %s: %s", path, key, v->boolean ? "true" : "false",
                            e->why);
        return CLI_OK;
    case CK_NULL:
        if (v->type != JSON_NULL)
            return cli_fail(CLI_INPUT, "%s: \"%s\" is not null: %s", path, key, e->why);
        return CLI_OK;
    case CK_STR_EQ:
        if (v->type != JSON_STRING || strcmp(v->string, e->opt))
            return cli_fail(CLI_INPUT, "%s: \"%s\" is not \"%s\": %s", path, key, e->opt, e->why);
        return CLI_OK;
    case CK_CAP:
        if (v->type != JSON_NUMBER)
            return cli_fail(CLI_INPUT, "%s: \"%s\" must be a number", path, key);
        if (v->number > 0)
            return cli_fail(CLI_INPUT, "%s: \"%s\": %g: %s", path, key, v->number, e->why);
        return CLI_OK;
    case CK_RMS_ONLY:
        if (v->type != JSON_BOOL)
            return cli_fail(CLI_INPUT, "%s: \"%s\" must be true or false", path, key);
        if (v->boolean) {
            s->rms_only_true = 1;
            s->rms_only_key = key;
            s->rms_only_why = e->why;
        }
        return CLI_OK;
    case CK_ATTN_ONLY:
        if (v->type != JSON_BOOL)
            return cli_fail(CLI_INPUT, "%s: \"attn_only\" must be true or false", path);
        s->attn_only = v->boolean;
        return CLI_OK;
    case CK_VOCAB_OUT:
        if (!is_int) return cli_fail(CLI_INPUT, "%s: \"d_vocab_out\" must be an integer", path);
        return CLI_OK; /* compared with d_vocab after all keys */
    case CK_ATTN_SCALE:
        if (v->type != JSON_NUMBER)
            return cli_fail(CLI_INPUT, "%s: \"attn_scale\" must be a number", path);
        s->attn_scale = v->number;
        s->has_attn_scale = 1;
        return CLI_OK;
    default:
        return CLI_OK; /* CK_IGNORE */
    }
}

/* An integer member of cfg, or dflt. */
static int64_t cfg_int(const json_value *cfg, const char *key, int64_t dflt) {
    const json_value *v = json_get(cfg, key);
    return v && v->type == JSON_NUMBER && v->is_integer ? v->integer : dflt;
}

/* The checks that need several keys. */
static int cfg_check(const char *path, const json_value *cfg, cfg_state *s, polca_options **o) {
    int64_t d_vocab = cfg_int(cfg, "d_vocab", -1);
    const json_value *dvo = json_get(cfg, "d_vocab_out");
    if (dvo && dvo->integer != -1 && dvo->integer != d_vocab)
        return cli_fail(CLI_INPUT, "%s: \"d_vocab_out\" %lld differs from \"d_vocab\": not "
                        "implemented by the built-in transformer", path, (long long)dvo->integer);
    const char *norm = s->norm ? s->norm : "layernorm";
    const char *positions = s->positions ? s->positions : "learned";
    if (s->rms_only_true && strcmp(norm, "rmsnorm"))
        return cli_fail(CLI_INPUT, "%s: \"%s\": true: %s (the norm is \"%s\"): the built-in "
                        "transformer uses one norm throughout", path, s->rms_only_key,
                        s->rms_only_why, norm);
    if (s->rotary_dim_null && !strcmp(positions, "rotary"))
        return cli_fail(CLI_INPUT, "%s: \"rotary_dim\": null with rotary positions: give the "
                        "rotated dims of each head", path);
    if (s->has_attn_scale && s->attn_scale != -1.0) {
        int64_t d_model = cfg_int(cfg, "d_model", 0), n_heads = cfg_int(cfg, "n_heads", 0);
        int64_t d_head = cfg_int(cfg, "d_head", n_heads > 0 ? d_model / n_heads : 0);
        double want = sqrt((double)d_head);
        if (d_head <= 0 || fabs(s->attn_scale - want) > 1e-6 * want)
            return cli_fail(CLI_INPUT, "%s: \"attn_scale\": %g: the built-in transformer divides "
                            "attention scores by sqrt(d_head) = %g", path, s->attn_scale, want);
    }
    /* TransformerLens builds no MLP for attn_only whatever d_mlp says */
    if (s->attn_only) return cli_opt_int(o, "d_mlp", 0);
    return CLI_OK;
}

int cli_is_checkpoint(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) return 1;
    size_t n = strlen(path);
    if (n > 11 && !strcmp(path + n - 11, ".index.json")) return 1;
    unsigned char head[9];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got < 9) return 0;
    uint64_t len = 0;
    for (int i = 0; i < 8; i++) len |= (uint64_t)head[i] << (8 * i);
    return len >> 32 == 0 && len >= 2 && head[8] == '{';
}

void cli_take_format(const cli_args *a) { g_cli.format = cli_get(a, "format"); }

/* The pretrained route: path, with options o (may be NULL; consumed). */
static int load_pretrained(const char *path, polca_options *o, polca_model **out) {
    int rc = CLI_OK;
    if (g_cli.format) rc = cli_opt_string(&o, "format", g_cli.format);
    polca_context *ctx = rc ? NULL : cli_context(&rc);
    if (!rc) {
        int32_t st = polca_model_create_pretrained(ctx, path, o, out);
        if (st) rc = cli_lib(st, NULL);
    }
    polca_options_destroy(o);
    return rc;
}

/* {"pretrained": PATH, "format": ..., option: value, ...} */
static int load_pretrained_json(const char *path, const json_value *cfg, polca_model **out) {
    static const char *const doubles[] = {"norm_eps", "rope_theta", NULL};
    static const char *const strings[] = {"act_fn", "norm", "positions", "format", NULL};
    polca_options *o = NULL;
    int rc = CLI_OK;
    const json_value *pv = json_get(cfg, "pretrained");
    if (pv->type != JSON_STRING || !pv->string[0])
        return cli_fail(CLI_INPUT, "%s: \"pretrained\" must be a path (a string)", path);
    for (size_t k = 0; k < cfg->length && !rc; k++) {
        const char *key = cfg->keys[k];
        const json_value *v = &cfg->items[k];
        int is_double = 0, is_string = 0;
        for (int j = 0; doubles[j]; j++) is_double |= !strcmp(key, doubles[j]);
        for (int j = 0; strings[j]; j++) is_string |= !strcmp(key, strings[j]);
        if (!strcmp(key, "pretrained")) continue;
        if (is_string) {
            if (v->type != JSON_STRING)
                rc = cli_fail(CLI_INPUT, "%s: \"%s\" must be a string", path, key);
            else if (!strcmp(key, "format") && g_cli.format)
                continue; /* --format wins */
            else
                rc = cli_opt_string(&o, key, v->string);
        } else if (is_double) {
            if (v->type != JSON_NUMBER)
                rc = cli_fail(CLI_INPUT, "%s: \"%s\" must be a number", path, key);
            else
                rc = cli_opt_double(&o, key, v->number);
        } else if (v->type == JSON_BOOL) {
            rc = cli_opt_int(&o, key, v->boolean); /* the 0/1 switches */
        } else if (v->type == JSON_NUMBER && v->is_integer) {
            rc = cli_opt_int(&o, key, v->integer); /* libpolca names an unknown one */
        } else {
            rc = cli_fail(CLI_INPUT, "%s: \"%s\" must be an integer, true or false", path, key);
        }
    }
    if (rc) {
        polca_options_destroy(o);
        return rc;
    }
    /* relative to the JSON file's directory */
    char full[4096];
    const char *slash = strrchr(path, '/');
    if (pv->string[0] != '/' && slash)
        snprintf(full, sizeof full, "%.*s/%s", (int)(slash - path), path, pv->string);
    else
        snprintf(full, sizeof full, "%s", pv->string);
    return load_pretrained(full, o, out);
}

int cli_load_model(const char *path, polca_model **out) {
    if (cli_is_checkpoint(path)) return load_pretrained(path, NULL, out);
    char *text = NULL;
    size_t len = 0;
    int rc = read_text(path, &text, &len);
    if (rc) return rc;
    json_value *cfg = NULL;
    char err[300];
    if (json_parse(text, len, &cfg, err, sizeof err)) {
        free(text);
        return cli_fail(CLI_INPUT, "%s: not valid JSON: %s", path, err);
    }
    free(text);
    polca_options *o = NULL;
    polca_context *ctx = NULL;
    cfg_state st;
    memset(&st, 0, sizeof st);
    if (cfg->type != JSON_OBJECT) {
        rc = cli_fail(CLI_INPUT, "%s: a model config is a JSON object, not %s", path,
                      json_type_name(cfg->type));
        goto done;
    }
    if (json_get(cfg, "pretrained")) {
        rc = load_pretrained_json(path, cfg, out);
        goto done;
    }
    for (size_t k = 0; k < cfg->length && !rc; k++) {
        const cfg_key *e = cfg_keys;
        while (e->key && strcmp(e->key, cfg->keys[k])) e++;
        if (e->key)
            rc = cfg_one(path, e, &cfg->items[k], &o, &st);
        else
            rc = cli_fail(CLI_INPUT, "%s: unknown key \"%s\" (the keys are the options of the "
                          "built-in transformer and TransformerLens HookedTransformerConfig "
                          "fields; docs/cli.md \"Model config\")", path, cfg->keys[k]);
    }
    if (!rc) rc = cfg_check(path, cfg, &st, &o);
    if (!rc && !o) rc = cli_fail(CLI_INPUT, "%s: the config is empty", path);
    if (!rc) ctx = cli_context(&rc);
    if (!rc) {
        int32_t st = polca_model_create_transformer(ctx, o, out);
        if (st) rc = cli_lib(st, path);
    }
done:
    polca_options_destroy(o);
    json_free(cfg);
    return rc;
}

/* ---- .npy inputs ---- */

static int read_npy(const char *path, npy_file *f) {
    char err[512];
    if (npy_read(path, f, err, sizeof err)) return cli_fail(CLI_INPUT, "%s", err);
    return CLI_OK;
}

/* The scored positions of [n_seq][n_ctx] samples (1 = scored): from
 * mask_path, or without one every position but the last of each sequence,
 * polca_data_create_tokens's default. The one definition of the default
 * mask: decompose and basis (tokens) and per-position labels use it.
 * of: the file whose shape the mask must have (messages). *out malloc'd. */
static int scored_positions(const char *mask_path, int64_t n_seq, int64_t n_ctx, const char *of,
                            uint8_t **out) {
    npy_file m;
    memset(&m, 0, sizeof m);
    int rc = mask_path ? read_npy(mask_path, &m) : CLI_OK;
    char desc[128];
    if (!rc && mask_path) {
        npy_describe(&m, desc, sizeof desc);
        if (m.ndim != 2 || m.shape[0] != n_seq || m.shape[1] != n_ctx || m.kind == 'f')
            rc = cli_fail(CLI_INPUT, "%s: the mask must be bool or integers of the shape of %s "
                          "[%lld, %lld], not %s", mask_path, of, (long long)n_seq,
                          (long long)n_ctx, desc);
    }
    uint8_t *mask = rc ? NULL : malloc((size_t)(n_seq * n_ctx) + 1);
    if (!rc && !mask) rc = cli_fail(CLI_LIBRARY, "out of memory");
    for (int64_t i = 0; !rc && i < n_seq * n_ctx; i++) {
        int ok;
        mask[i] = mask_path ? npy_int(&m, i, &ok) != 0 : i % n_ctx != n_ctx - 1;
    }
    npy_free(&m);
    if (rc) return rc;
    *out = mask;
    return CLI_OK;
}

int cli_load_tokens(const char *tokens_path, const char *mask_path, polca_data **out) {
    npy_file t;
    int rc = read_npy(tokens_path, &t);
    if (rc) return rc;
    char desc[128];
    npy_describe(&t, desc, sizeof desc);
    if (t.ndim != 2 || (t.kind != 'i' && t.kind != 'u'))
        rc = cli_fail(CLI_INPUT, "%s: tokens must be an integer array [n_seq][n_ctx], not %s",
                      tokens_path, desc);
    if (!rc && t.count == 0) rc = cli_fail(CLI_INPUT, "%s: no tokens", tokens_path);
    int32_t *tok = NULL;
    uint8_t *mask = NULL;
    if (!rc) rc = scored_positions(mask_path, t.shape[0], t.shape[1], tokens_path, &mask);
    if (!rc) {
        tok = malloc(sizeof *tok * (size_t)t.count);
        if (!tok) rc = cli_fail(CLI_LIBRARY, "out of memory");
    }
    for (int64_t i = 0; !rc && i < t.count; i++) {
        int ok;
        int64_t v = npy_int(&t, i, &ok);
        if (!ok || v < 0 || v > INT32_MAX)
            rc = cli_fail(CLI_INPUT, "%s: token [%lld][%lld] = %lld is not a token id", tokens_path,
                          (long long)(i / t.shape[1]), (long long)(i % t.shape[1]), (long long)v);
        else
            tok[i] = (int32_t)v;
    }
    polca_context *ctx = rc ? NULL : cli_context(&rc);
    if (!rc) {
        int32_t st = polca_data_create_tokens(ctx, t.shape[0], t.shape[1], tok, mask, out);
        if (st) rc = cli_lib(st, mask_path ? mask_path : tokens_path);
    }
    free(tok);
    free(mask);
    npy_free(&t);
    return rc;
}

int cli_load_positions(const char *mask_path, int64_t **seq, int64_t **pos, int64_t *n) {
    npy_file m;
    int rc = read_npy(mask_path, &m);
    if (rc) return rc;
    if (m.ndim != 2 || m.kind == 'f') {
        npy_free(&m);
        return cli_fail(CLI_INPUT, "%s: a mask is a bool or integer array [n_seq][n_ctx]", mask_path);
    }
    int64_t count = 0;
    for (int64_t i = 0; i < m.count; i++) {
        int ok;
        count += npy_int(&m, i, &ok) != 0;
    }
    *seq = malloc(sizeof **seq * (size_t)(count + 1));
    *pos = malloc(sizeof **pos * (size_t)(count + 1));
    if (!*seq || !*pos) {
        free(*seq);
        free(*pos);
        npy_free(&m);
        return cli_fail(CLI_LIBRARY, "out of memory");
    }
    int64_t j = 0;
    for (int64_t i = 0; i < m.count; i++) {
        int ok;
        if (npy_int(&m, i, &ok) != 0) {
            (*seq)[j] = i / m.shape[1];
            (*pos)[j++] = i % m.shape[1];
        }
    }
    *n = count;
    npy_free(&m);
    return CLI_OK;
}

int cli_load_labels(const char *labels_path, const char *mask_path, int64_t n_samples,
                    uint8_t **out) {
    npy_file l;
    int rc = read_npy(labels_path, &l);
    if (rc) return rc;
    char desc[128];
    npy_describe(&l, desc, sizeof desc);
    if (l.kind == 'f')
        rc = cli_fail(CLI_INPUT, "%s: labels must be bool or integers 0/1, not %s", labels_path, desc);
    uint8_t *lab = rc ? NULL : malloc((size_t)n_samples + 1);
    if (!rc && !lab) rc = cli_fail(CLI_LIBRARY, "out of memory");
    if (!rc && l.ndim == 1) {
        if (l.shape[0] != n_samples)
            rc = cli_fail(CLI_INPUT, "%s: %lld labels for %lld samples", labels_path,
                          (long long)l.shape[0], (long long)n_samples);
        for (int64_t i = 0; !rc && i < n_samples; i++) {
            int ok;
            int64_t v = npy_int(&l, i, &ok);
            if (v != 0 && v != 1)
                rc = cli_fail(CLI_INPUT, "%s: label [%lld] is %lld, not 0 or 1", labels_path,
                              (long long)i, (long long)v);
            else
                lab[i] = (uint8_t)v;
        }
    } else if (!rc && l.ndim == 2) {
        uint8_t *m = NULL;
        rc = scored_positions(mask_path, l.shape[0], l.shape[1], labels_path, &m);
        int64_t j = 0;
        for (int64_t i = 0; !rc && i < l.count; i++) {
            int ok;
            if (!m[i]) continue;
            int64_t v = npy_int(&l, i, &ok);
            if (v != 0 && v != 1)
                rc = cli_fail(CLI_INPUT, "%s: label [%lld][%lld] is %lld, not 0 or 1", labels_path,
                              (long long)(i / l.shape[1]), (long long)(i % l.shape[1]), (long long)v);
            else if (j < n_samples)
                lab[j] = (uint8_t)v;
            j++;
        }
        if (!rc && j != n_samples && mask_path)
            rc = cli_fail(CLI_INPUT, "%s: scores %lld positions; the trajectories have %lld samples",
                          mask_path, (long long)j, (long long)n_samples);
        if (!rc && j != n_samples)
            rc = cli_fail(CLI_INPUT, "%s: labels per position [%lld, %lld] at the default mask "
                          "(every position but the last) give %lld samples; the trajectories "
                          "have %lld: give --mask, the mask decompose used", labels_path,
                          (long long)l.shape[0], (long long)l.shape[1], (long long)j,
                          (long long)n_samples);
        free(m);
    } else if (!rc) {
        rc = cli_fail(CLI_INPUT, "%s: labels must be [n_samples] or [n_seq][n_ctx], not %s",
                      labels_path, desc);
    }
    npy_free(&l);
    if (rc) {
        free(lab);
        return rc;
    }
    *out = lab;
    return CLI_OK;
}
