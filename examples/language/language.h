/*
 * examples/language/language.h - the paper's second setting (section 5,
 * Appendix E.2) at CPU size: a small word-level language model trained on
 * English prose with the host's own AdamW loop, POLCA and the baselines on
 * held-out tokens, HDBSCAN per direction, automatic part-of-speech labels of
 * each token and the three before it, a label table and a report page.
 *
 * Example code on libpolca's public API, not part of libpolca's ABI.
 */
#ifndef LANG_LANGUAGE_H
#define LANG_LANGUAGE_H

#include <polca/polca.h>
#include <stdint.h>

#define LANG_N_POS 4     /* tag positions: the token, then 1, 2, 3 before it */
#define LANG_N_METHODS 6 /* exact loss ... POLCA, as Table 1 of the arithmetic example */
#define LANG_MAX_VALUES 3 /* the autolabel's set size asked for: two tags plus PAD */

typedef struct lang_config {
    const char *data_dir, *out_dir;
    uint64_t seed;
    int32_t n_layers, d_model, n_heads, d_head, d_mlp;
    const char *act_fn;
    int32_t ctx;   /* tokens per sequence (training and held-out windows) */
    int32_t steps, batch;
    double lr, weight_decay, beta1, beta2, eps;
    int32_t polca_every, basis_every;
    int32_t n_val;       /* held-out windows; samples = n_val * (ctx - 1) */
    int32_t n_basis_seq; /* training windows Algorithm 1 uses */
    int32_t k_per_basis;
    double eig_tol;
    int32_t eig_max_products;
    int32_t min_cluster_size, min_samples_divisor; /* "paper" setting */
    int32_t fine_min_cluster_size, fine_min_samples_divisor; /* "fine" setting */
    const char *normalize;
    double coverage;  /* the autolabel's coverage, 0.7 */
    int32_t max_tags; /* a label counts with at most this many tags, PAD not counted: 2 */
    int32_t n_contexts; /* contexts shown per example cluster */
    const char *curvature;
    int32_t block;
} lang_config;

/* What prepare.py wrote (data.c reads and checks it). */
typedef struct lang_data {
    int32_t n_vocab, n_tags, pad_tag;
    char **vocab, **tagset; /* [n_vocab], [n_tags] */
    int32_t *train;         /* [n_train] token ids */
    int64_t n_train;
    int32_t *val, *val_tags; /* [n_heldout] */
    char **val_text;         /* [n_heldout] the tokens as written */
    int64_t n_heldout;
} lang_data;

/* Reads DIR/{vocab.txt,tagset.txt,train.ids,val.ids,val.tags,val.text}.
 * Returns 0; 2 with a message naming the file and the culprit when the data
 * is malformed or inconsistent; 1 when out of memory or unreadable. */
int lang_data_read(const char *dir, lang_data *d);
void lang_data_free(lang_data *d);

/* Seconds on a monotonic clock; failed(): prints a libpolca failure. */
double lang_now(void);
int lang_failed(int32_t status, const char *what);

/* A small deterministic generator (splitmix64). */
uint64_t lang_rng_next(uint64_t *state);

/* One method's labels (label.c). */
typedef struct lang_cluster_label {
    int32_t n_values[LANG_N_POS];                  /* the autolabel's, 0: discarded */
    int32_t values[LANG_N_POS][LANG_MAX_VALUES];   /* -1 in unused slots */
    int32_t simple[LANG_N_POS];                    /* 1: at most max_tags tags besides PAD */
    int32_t labelled;                              /* some position is simple */
} lang_cluster_label;

/* The simple-label rule on one position's autolabel (values sorted as the
 * library gives them): 1 when n_values >= 1 and at most max_tags of the
 * values are not pad. */
int lang_is_simple(const int32_t *values, int32_t n_values, int32_t pad, int32_t max_tags);

/* The smallest set of tag values covering coverage of a multiset (counts
 * per value, n_values values, total members): values by decreasing count
 * (ties: smaller value first), as polca_clustering_autolabel; returns its
 * size, or 0 when more than max_values would be needed. For the chance
 * baseline (random subsets of the same size). */
int32_t lang_cover(const int64_t *counts, int32_t n_values, int64_t total, double coverage,
                   int32_t max_values, int32_t *out);

#endif
