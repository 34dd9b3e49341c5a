/*
 * tools/polca/inputs.c - the files a user brings: the model config (JSON),
 * tokens, masks and labels (.npy).
 *
 * Model config: one JSON object with the built-in transformer's options
 *   n_layers, d_model, n_heads, d_vocab, n_ctx (integers, required),
 *   d_head, d_mlp (integers), act_fn ("gelu", "gelu_new", "relu"),
 * and, so that a TransformerLens HookedTransformerConfig's fields can be
 * copied as they are, these keys, checked against what the built-in model
 * implements: attn_only (true: d_mlp 0), normalization_type ("LN"),
 * positional_embedding_type ("standard"), d_vocab_out (-1 or d_vocab),
 * eps (1e-5), use_attn_scale (true), and model_name (ignored). Any other key
 * is an error naming it (a misspelt "d_mlp" would otherwise silently give
 * the default).
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

static const char *const int_keys[] = {"n_layers", "d_model", "n_heads", "d_head",
                                       "d_mlp", "d_vocab", "n_ctx", NULL};

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
    int64_t d_vocab = -1, d_mlp_forced = -1;
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
        const char *key = cfg->keys[k];
        const json_value *v = &cfg->items[k];
        int is_int = 0;
        for (int j = 0; int_keys[j]; j++) is_int |= strcmp(key, int_keys[j]) == 0;
        if (is_int) {
            if (v->type != JSON_NUMBER || !v->is_integer)
                rc = cli_fail(CLI_INPUT, "%s: \"%s\" must be an integer", path, key);
            else if (strcmp(key, "d_vocab") == 0)
                d_vocab = v->integer;
            if (!rc) rc = cli_opt_int(&o, key, v->integer);
        } else if (strcmp(key, "act_fn") == 0) {
            if (v->type != JSON_STRING)
                rc = cli_fail(CLI_INPUT, "%s: \"act_fn\" must be a string", path);
            else
                rc = cli_opt_string(&o, "act_fn", v->string);
        } else if (strcmp(key, "attn_only") == 0) {
            if (v->type != JSON_BOOL)
                rc = cli_fail(CLI_INPUT, "%s: \"attn_only\" must be true or false", path);
            else if (v->boolean)
                d_mlp_forced = 0;
        } else if (strcmp(key, "normalization_type") == 0 ||
                   strcmp(key, "positional_embedding_type") == 0) {
            const char *want = key[0] == 'n' ? "LN" : "standard";
            if (v->type != JSON_NULL && (v->type != JSON_STRING || strcmp(v->string, want) != 0))
                rc = cli_fail(CLI_INPUT, "%s: \"%s\": the built-in transformer implements only \"%s\"",
                              path, key, want);
        } else if (strcmp(key, "eps") == 0) {
            if (v->type != JSON_NUMBER || fabs(v->number - 1e-5) > 1e-12)
                rc = cli_fail(CLI_INPUT, "%s: \"eps\": the built-in transformer's LayerNorm uses 1e-5",
                              path);
        } else if (strcmp(key, "use_attn_scale") == 0) {
            if (v->type != JSON_BOOL || !v->boolean)
                rc = cli_fail(CLI_INPUT, "%s: \"use_attn_scale\": the built-in transformer always "
                              "scales attention by 1/sqrt(d_head)", path);
        } else if (strcmp(key, "d_vocab_out") == 0) {
            if (v->type != JSON_NUMBER || !v->is_integer)
                rc = cli_fail(CLI_INPUT, "%s: \"d_vocab_out\" must be an integer", path);
            /* compared with d_vocab below */
        } else if (strcmp(key, "model_name") == 0) {
            /* informational */
        } else {
            rc = cli_fail(CLI_INPUT, "%s: unknown key \"%s\" (known: n_layers, d_model, n_heads, "
                          "d_head, d_mlp, d_vocab, n_ctx, act_fn; docs/cli.md)", path, key);
        }
    }
    const json_value *dvo = json_get(cfg, "d_vocab_out");
    if (!rc && dvo && dvo->integer != -1 && dvo->integer != d_vocab)
        rc = cli_fail(CLI_INPUT, "%s: \"d_vocab_out\" %lld differs from \"d_vocab\": not implemented "
                      "by the built-in transformer", path, (long long)dvo->integer);
    if (!rc && d_mlp_forced == 0) {
        const json_value *dm = json_get(cfg, "d_mlp");
        if (dm && dm->integer != 0)
            rc = cli_fail(CLI_INPUT, "%s: \"attn_only\" is true but \"d_mlp\" is %lld", path,
                          (long long)dm->integer);
        else
            rc = cli_opt_int(&o, "d_mlp", 0);
    }
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
