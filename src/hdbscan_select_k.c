/* src/hdbscan_select_k.c - the k-th smallest value of an array: Hoare
 * partitioning around a median-of-three value (Wirth's selection), which
 * stops on equal keys and so stays linear on runs of equal values (duplicate
 * points). */
#include "hdbscan.h"

static inline double median3(double a, double b, double c) {
    if (a < b) return b < c ? b : (a < c ? c : a);
    return a < c ? a : (b < c ? c : b);
}

double polca__hdb_kth_smallest(double *v, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1, want = k - 1; /* 0-based rank */
    while (lo < hi) {
        double pivot = median3(v[lo], v[want], v[hi]);
        int64_t i = lo, j = hi;
        do {
            while (v[i] < pivot) i++;
            while (pivot < v[j]) j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < want) lo = i;
        if (want < i) hi = j;
    }
    return v[want];
}

/* Sampled threshold + branchless compaction: cheap for k << n. The sample's
 * quantile a little above k/n is a threshold most likely exceeded by just
 * over k values; those are copied out (without a branch per value) and the
 * exact k-th is selected among them. When fewer than k pass (unlucky
 * sample), every value is copied. */
#define SAMPLE 256
double polca__hdb_kth_smallest_sampled(const double *v, int64_t n, int64_t k, double *buf) {
    double thr = INFINITY;
    if (n > 4 * SAMPLE) {
        double sample[SAMPLE];
        uint64_t s = 0x9E3779B97F4A7C15ull ^ (uint64_t)n * 31u ^ (uint64_t)k;
        for (int i = 0; i < SAMPLE; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            sample[i] = v[s % (uint64_t)n];
        }
        int64_t rank = (int64_t)((double)SAMPLE * (double)k / (double)n * 1.25) + 8;
        if (rank < SAMPLE) thr = polca__hdb_kth_smallest(sample, SAMPLE, rank + 1);
    }
    int64_t c = 0;
    for (int64_t j = 0; j < n; j++) {
        buf[c] = v[j];
        c += v[j] <= thr;
    }
    if (c < k) {
        for (int64_t j = 0; j < n; j++) buf[j] = v[j];
        c = n;
    }
    return polca__hdb_kth_smallest(buf, c, k);
}
