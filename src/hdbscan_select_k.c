/* src/hdbscan_select_k.c - the k-th smallest value of an array (quickselect
 * with three-way partitioning, so runs of equal values - duplicate points -
 * cost no more than distinct ones). */
#include "hdbscan.h"

static inline void swap(double *v, int64_t a, int64_t b) {
    double t = v[a];
    v[a] = v[b];
    v[b] = t;
}

static inline double median3(double a, double b, double c) {
    if (a < b) return b < c ? b : (a < c ? c : a);
    return a < c ? a : (b < c ? c : b);
}

double polca__hdb_kth_smallest(double *v, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1, want = k - 1; /* 0-based rank */
    uint64_t s = 0x2545F4914F6CDD1Dull ^ (uint64_t)n;
    while (lo < hi) {
        /* Pivot: median of three entries at pseudo-random places. */
        int64_t span = hi - lo + 1;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double pivot = median3(v[lo + (int64_t)(s % (uint64_t)span)], v[lo + span / 2],
                               v[lo + (int64_t)((s >> 32) % (uint64_t)span)]);
        /* [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot */
        int64_t lt = lo, i = lo, gt = hi;
        while (i <= gt) {
            if (v[i] < pivot)
                swap(v, lt++, i++);
            else if (v[i] > pivot)
                swap(v, i, gt--);
            else
                i++;
        }
        if (want < lt)
            hi = lt - 1;
        else if (want > gt)
            lo = gt + 1;
        else
            return pivot;
    }
    return v[want];
}
