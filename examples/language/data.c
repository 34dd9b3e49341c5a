/*
 * examples/language/data.c - reads and checks what prepare.py wrote.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "language.h"

double lang_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int lang_failed(int32_t status, const char *what) {
    if (status == POLCA_OK) return 0;
    fprintf(stderr, "language: %s: %s: %s\n", what, polca_status_string(status),
            polca_last_error());
    return 1;
}

uint64_t lang_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void path_of(char *buf, size_t n, const char *dir, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Every line of a file (without its newline); 2 with a message when it is
 * missing or has an empty line. */
static int read_lines(const char *dir, const char *name, char ***out, int64_t *count) {
    char path[1024];
    path_of(path, sizeof path, dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "language: cannot read %s: %s (run examples/language/prepare.py)\n", path,
                strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t n = 0, alloc = 0;
    char **v = NULL;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (len == 0) {
            fprintf(stderr, "language: %s: line %lld is empty\n", path, (long long)n + 1);
            rc = 2;
            break;
        }
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 1024;
            char **nv = realloc(v, sizeof(char *) * (size_t)alloc);
            if (!nv) { rc = 1; break; }
            v = nv;
        }
        if (!(v[n] = strdup(line))) { rc = 1; break; }
        n++;
    }
    free(line);
    fclose(f);
    if (rc) {
        for (int64_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return rc;
    }
    *out = v, *count = n;
    return 0;
}

/* Whitespace-separated integers, each in [0, limit). */
static int read_ints(const char *dir, const char *name, int32_t limit, int32_t **out,
                     int64_t *count) {
    char path[1024];
    path_of(path, sizeof path, dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "language: cannot read %s: %s (run examples/language/prepare.py)\n", path,
                strerror(errno));
        return 2;
    }
    int64_t n = 0, alloc = 1 << 16;
    int32_t *v = malloc(sizeof(int32_t) * (size_t)alloc);
    int rc = v ? 0 : 1;
    char word[32];
    int c = 0;
    while (!rc) {
        while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r') {}
        if (c == EOF) break;
        int len = 0;
        while (c != EOF && c != ' ' && c != '\n' && c != '\t' && c != '\r') {
            if (len < (int)sizeof word - 1) word[len++] = (char)c;
            else len = sizeof word; /* too long: rejected below */
            c = fgetc(f);
        }
        word[len < (int)sizeof word ? len : (int)sizeof word - 1] = 0;
        char *end = NULL;
        errno = 0;
        long x = strtol(word, &end, 10);
        if (len >= (int)sizeof word || *end || end == word || errno || x < 0 || x >= limit) {
            fprintf(stderr, "language: %s: entry %lld (\"%s\") is not an integer in [0, %d)\n",
                    path, (long long)n + 1, word, limit);
            rc = 2;
            break;
        }
        if (n == alloc) {
            alloc *= 2;
            int32_t *nv = realloc(v, sizeof(int32_t) * (size_t)alloc);
            if (!nv) { rc = 1; break; }
            v = nv;
        }
        v[n++] = (int32_t)x;
    }
    fclose(f);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v, *count = n;
    return 0;
}

int lang_data_read(const char *dir, lang_data *d) {
    memset(d, 0, sizeof *d);
    d->pad_tag = -1;
    int64_t nv = 0, nt = 0, nvt = 0, ntext = 0;
    int rc = read_lines(dir, "vocab.txt", &d->vocab, &nv);
    if (!rc) rc = read_lines(dir, "tagset.txt", &d->tagset, &nt);
    if (!rc && (nv < 2 || nv > 1000000)) {
        fprintf(stderr, "language: %s/vocab.txt: %lld tokens (need 2 to 1000000)\n", dir, (long long)nv);
        rc = 2;
    }
    if (!rc && (nt < 2 || nt > 256)) {
        fprintf(stderr, "language: %s/tagset.txt: %lld tags (need 2 to 256)\n", dir, (long long)nt);
        rc = 2;
    }
    if (!rc) d->n_vocab = (int32_t)nv, d->n_tags = (int32_t)nt;
    for (int32_t t = 0; !rc && t < d->n_tags; t++)
        if (!strcmp(d->tagset[t], "PAD")) d->pad_tag = t;
    if (!rc && d->pad_tag < 0) {
        fprintf(stderr, "language: %s/tagset.txt has no PAD tag\n", dir);
        rc = 2;
    }
    if (!rc) rc = read_ints(dir, "train.ids", d->n_vocab, &d->train, &d->n_train);
    if (!rc) rc = read_ints(dir, "val.ids", d->n_vocab, &d->val, &d->n_heldout);
    if (!rc) rc = read_ints(dir, "val.tags", d->n_tags, &d->val_tags, &nvt);
    if (!rc) rc = read_lines(dir, "val.text", &d->val_text, &ntext);
    if (!rc && (nvt != d->n_heldout || ntext != d->n_heldout)) {
        fprintf(stderr, "language: %s: val.ids has %lld tokens, val.tags %lld, val.text %lld\n",
                dir, (long long)d->n_heldout, (long long)nvt, (long long)ntext);
        rc = 2;
    }
    for (int64_t i = 0; !rc && i < d->n_heldout; i++)
        if (d->val_tags[i] == d->pad_tag) {
            fprintf(stderr, "language: %s/val.tags: token %lld is tagged PAD\n", dir, (long long)i + 1);
            rc = 2;
        }
    if (rc) {
        /* free what was read; counts for the string arrays */
        for (int64_t i = 0; d->vocab && i < nv; i++) free(d->vocab[i]);
        for (int64_t i = 0; d->tagset && i < nt; i++) free(d->tagset[i]);
        for (int64_t i = 0; d->val_text && i < ntext; i++) free(d->val_text[i]);
        free(d->vocab), free(d->tagset), free(d->val_text);
        free(d->train), free(d->val), free(d->val_tags);
        memset(d, 0, sizeof *d);
    }
    return rc;
}

void lang_data_free(lang_data *d) {
    for (int32_t i = 0; d->vocab && i < d->n_vocab; i++) free(d->vocab[i]);
    for (int32_t i = 0; d->tagset && i < d->n_tags; i++) free(d->tagset[i]);
    for (int64_t i = 0; d->val_text && i < d->n_heldout; i++) free(d->val_text[i]);
    free(d->vocab), free(d->tagset), free(d->val_text);
    free(d->train), free(d->val), free(d->val_tags);
    memset(d, 0, sizeof *d);
}
