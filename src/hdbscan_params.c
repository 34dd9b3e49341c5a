/* src/hdbscan_params.c - HDBSCAN options, checked and resolved with the
 * hdbscan package's rules (min_samples unset -> min_cluster_size, clamped to
 * n-1, 0 -> 1). */
#include <math.h>
#include <string.h>

#include "hdbscan.h"

const polca__option_spec polca__hdb_option_names[] = {
    {"min_cluster_size", POLCA_OPT_INT},
    {"min_samples", POLCA_OPT_INT},
    {"alpha", POLCA_OPT_DOUBLE},
    {"cluster_selection_method", POLCA_OPT_STRING},
    {"cluster_selection_epsilon", POLCA_OPT_DOUBLE},
    {"cluster_selection_epsilon_max", POLCA_OPT_DOUBLE},
    {"allow_single_cluster", POLCA_OPT_INT},
    {"max_cluster_size", POLCA_OPT_INT},
    {NULL, 0},
};

int32_t polca__hdb_params_read(const polca_options *o, int64_t n, int64_t dflt_mcs,
                               int64_t dflt_ms, const char *fn, polca__hdb_params *out) {
    polca__hdb_params p;
    p.min_cluster_size = polca__options_int(o, "min_cluster_size", dflt_mcs);
    if (p.min_cluster_size < 2)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'min_cluster_size' is %lld; must be >= 2", fn,
                           (long long)p.min_cluster_size);
    p.min_samples = polca__options_int(o, "min_samples", dflt_ms > 0 ? dflt_ms : p.min_cluster_size);
    if (p.min_samples < 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'min_samples' is %lld; must be >= 1", fn,
                           (long long)p.min_samples);
    if (p.min_samples > n - 1) p.min_samples = n - 1;
    if (p.min_samples < 1) p.min_samples = 1;
    p.alpha = polca__options_double(o, "alpha", 1.0);
    if (!(p.alpha > 0.0) || !isfinite(p.alpha))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'alpha' is %g; must be finite and > 0", fn, p.alpha);
    const char *method = polca__options_string(o, "cluster_selection_method", "eom");
    if (strcmp(method, "eom") == 0)
        p.leaf = 0;
    else if (strcmp(method, "leaf") == 0)
        p.leaf = 1;
    else
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'cluster_selection_method' is '%s'; expected eom or leaf",
                           fn, method);
    p.epsilon = polca__options_double(o, "cluster_selection_epsilon", 0.0);
    if (!(p.epsilon >= 0.0) || !isfinite(p.epsilon))
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'cluster_selection_epsilon' is %g; must be finite and "
                           ">= 0",
                           fn, p.epsilon);
    p.epsilon_max = polca__options_double(o, "cluster_selection_epsilon_max", INFINITY);
    if (isnan(p.epsilon_max) || p.epsilon_max < p.epsilon)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'cluster_selection_epsilon_max' is %g; must be >= "
                           "cluster_selection_epsilon (%g)",
                           fn, p.epsilon_max, p.epsilon);
    int64_t single = polca__options_int(o, "allow_single_cluster", 0);
    if (single != 0 && single != 1)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'allow_single_cluster' is %lld; must be 0 or 1", fn,
                           (long long)single);
    p.allow_single_cluster = (int32_t)single;
    p.max_cluster_size = polca__options_int(o, "max_cluster_size", 0);
    if (p.max_cluster_size < 0)
        return polca__fail(POLCA_ERR_INVALID_ARGUMENT,
                           "%s: option 'max_cluster_size' is %lld; must be >= 0 (0: no limit)",
                           fn, (long long)p.max_cluster_size);
    *out = p;
    return POLCA_OK;
}
