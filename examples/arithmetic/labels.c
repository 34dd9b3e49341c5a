/*
 * examples/arithmetic/labels.c - a cluster's automatic label in words
 * (labels.h), from the tag value names of addition.c.
 */
#include "labels.h"

#include <stdio.h>

#include "addition.h"

int arith_cluster_words(const int32_t *values, const int32_t *n_values, int32_t max_values, char *out,
                        size_t len, int *is_place, int *is_carry) {
    int32_t n_place = n_values[ARITH_TAG_PLACE], n_carry = n_values[ARITH_TAG_CARRY];
    const int32_t *place = values + (size_t)ARITH_TAG_PLACE * (size_t)max_values;
    int32_t carry = n_carry == 1 ? values[(size_t)ARITH_TAG_CARRY * (size_t)max_values] : -1;
    const char *p0 = n_place >= 1 ? arith_tag_value_name(ARITH_TAG_PLACE, place[0]) : NULL;
    const char *p1 = n_place >= 2 ? arith_tag_value_name(ARITH_TAG_PLACE, place[1]) : NULL;
    const char *c = carry >= 0 ? arith_tag_value_name(ARITH_TAG_CARRY, carry) : NULL;
    if (n_place > 2 || (n_place >= 1 && !p0) || (n_place >= 2 && !p1)) p0 = p1 = NULL; /* not ours */
    if (is_place) *is_place = p0 && !p1;
    if (is_carry) *is_carry = c && carry == 1;
    if (p0 && !p1 && c)
        return snprintf(out, len, "%s", arith_tag_value_name(ARITH_TAG_PLACE_CARRY, 2 * place[0] + carry));
    if (p0 && p1 && c) return snprintf(out, len, "%s into the %s or %s", c, p0, p1);
    if (p0 && p1) return snprintf(out, len, "%s or %s digit", p0, p1);
    if (p0) return snprintf(out, len, "%s digit", p0);
    if (c) return snprintf(out, len, "%s (mixed places)", c);
    return snprintf(out, len, "mixed");
}
