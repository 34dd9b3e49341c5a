/*
 * examples/arithmetic/labels.h - a cluster's automatic label in words, for
 * the report: "carry into the 10s", "no carry into the 100s or 10s",
 * "1000s digit", "carry (mixed places)", "mixed".
 *
 * Example code, not part of libpolca's ABI.
 */
#ifndef ARITH_LABELS_H
#define ARITH_LABELS_H

#include <stddef.h>
#include <stdint.h>

/* values, n_values: what polca_clustering_autolabel returned for the
 * ARITH_N_TAGS tags of addition.h with max_values values per tag
 * (values[tag * max_values + v], n_values[tag]; 0 values: the tag does not
 * describe the cluster). Uses the place and carry tags:
 *   one place, one carry value   "carry into the 10s" (the place_carry tag's
 *                                name), "no carry into the 100s"
 *   two places, one carry value  "carry into the 10s or 100s"
 *   places, no single carry      "1000s digit", "100s or 10s digit"
 *   no place, one carry value    "carry (mixed places)", "no carry (mixed places)"
 *   neither                      "mixed"
 * (places in the autolabel's order: the most frequent first). Writes at
 * most len bytes with the NUL (cut only when len is too small).
 * is_place (nonzero: one place), is_carry (nonzero: carry is its one carry
 * value): out, may be NULL. Returns the length it wanted, as snprintf. */
int arith_cluster_words(const int32_t *values, const int32_t *n_values, int32_t max_values, char *out,
                        size_t len, int *is_place, int *is_carry);

#endif /* ARITH_LABELS_H */
