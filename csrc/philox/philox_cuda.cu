// Philox streams on the GPU, one element per thread.
#include "common/cuda_launch.h"
#include "common/philox.h"

namespace fastgen {
namespace {

template <bool kNormal>
__global__ void draw_kernel(const int64_t* __restrict__ offsets, float* __restrict__ out, int64_t n, uint64_t seed) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint64_t offset = static_cast<uint64_t>(offsets[i]);
  out[i] = kNormal ? philox_normal(seed, offset) : philox_uniform(seed, offset);
}

}  // namespace

void launch_philox(const int64_t* offsets, float* out, int64_t n, uint64_t seed, bool normal, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  if (normal) {
    draw_kernel<true><<<ceil_div(n, kThreads), kThreads, 0, stream>>>(offsets, out, n, seed);
  } else {
    draw_kernel<false><<<ceil_div(n, kThreads), kThreads, 0, stream>>>(offsets, out, n, seed);
  }
}

}  // namespace fastgen
