/*
 * src/cuda/distance.cu - exact Euclidean distances of index pairs on the GPU
 * (polca_backend.distance_pairs), the kernel HDBSCAN asks for the distances
 * whose exact value matters (see src/cpu/distance.c for why exact).
 *
 * Bit parity with the CPU backend and the hdbscan package: one thread owns
 * one pair and runs its sum alone, in the order k = 0, 1, ..., d-1, of t*t
 * with t = (double)a[k] - (double)b[k]. The _rn intrinsics are never
 * contracted into a fused multiply-add (whatever -fmad says), and
 * __dsqrt_rn is the correctly rounded square root, as the CPU's sqrtsd.
 *
 * Speed is not the point here: the core prunes pairs with bounds before it
 * asks (about 1-2% of the pairs of n^2), so the uploads of pair lists cost as
 * much as the arithmetic. Runs of pairs sharing pair_a read the same row a
 * in neighbouring threads, which the cache serves once.
 */
#include "cuda_internal.h"

namespace {

__global__ void distance_pairs_kernel(int64_t d, const float *__restrict__ x, int64_t ldx,
                                      int64_t n_pairs, const int64_t *__restrict__ pair_a,
                                      const int64_t *__restrict__ pair_b,
                                      double *__restrict__ out) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < n_pairs; p += stride) {
        const float *a = x + pair_a[p] * ldx;
        const float *b = x + pair_b[p] * ldx;
        double sum = 0.0;
        for (int64_t k = 0; k < d; k++) {
            double t = __dsub_rn((double)a[k], (double)b[k]);
            sum = __dadd_rn(sum, __dmul_rn(t, t));
        }
        out[p] = __dsqrt_rn(sum);
    }
}

/* Enough blocks to fill an H100 several times over; the loop takes the rest. */
const int64_t kMaxBlocks = 8192;

} // namespace

namespace polca_cuda {

int32_t distance_pairs(void *state, int64_t d, const float *x, int64_t ldx, int64_t n_pairs,
                       const int64_t *pair_a, const int64_t *pair_b, double *out) {
    cuda_state *s = (cuda_state *)state;
    if (d < 1 || ldx < d || n_pairs < 0)
        return report(s, POLCA_ERR_INVALID_ARGUMENT,
                      "distance_pairs: d=%lld ldx=%lld n_pairs=%lld out of range", (long long)d,
                      (long long)ldx, (long long)n_pairs);
    if (n_pairs == 0) return POLCA_OK;
    int64_t blocks = (n_pairs + kThreads - 1) / kThreads;
    if (blocks > kMaxBlocks) blocks = kMaxBlocks;
    distance_pairs_kernel<<<(unsigned)blocks, kThreads, 0, s->stream>>>(d, x, ldx, n_pairs,
                                                                        pair_a, pair_b, out);
    LAUNCHED(s, "distance_pairs kernel");
    return POLCA_OK;
}

} // namespace polca_cuda
