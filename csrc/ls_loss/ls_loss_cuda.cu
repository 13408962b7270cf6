// CUDA kernels of the least-squares GAN losses, on raw pointers. The scores are spread over many
// blocks (2^20 scores would keep one block busy while the rest of the GPU idles): each block
// writes the gradient of its scores and one partial sum of their loss terms (ls_loss.h); a
// second, one-block kernel adds the partial sums in a fixed order, so the loss is deterministic.
#include <algorithm>

#include "common/cuda_launch.h"
#include "common/math.h"
#include "ls_loss/ls_loss.h"

namespace fastgen {
namespace ls_loss {
namespace {

constexpr int kThreads = 256;
constexpr int kElementsPerThread = 4;
constexpr int64_t kMaxPartials = 1024;  // per score tensor; the final kernel sums them with one block
constexpr int kSumThreads = 1024;

template <typename T, typename acc_t>
__global__ void partial_kernel(const T* __restrict__ scores, T* __restrict__ grad, int64_t count, double target,
                               acc_t* __restrict__ partials) {
  const acc_t t = static_cast<acc_t>(target);
  const acc_t inv_count = acc_t(1) / static_cast<acc_t>(count);
  acc_t partial = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const Term<acc_t> term_i = term<acc_t>(static_cast<acc_t>(scores[i]), t, inv_count);
    grad[i] = static_cast<T>(term_i.grad);
    partial += term_i.loss;
  }
  partial = block_sum(partial);
  if (threadIdx.x == 0) partials[blockIdx.x] = partial;
}

template <typename T, typename acc_t>
__global__ void sum_kernel(const acc_t* __restrict__ partials, int64_t count, T* __restrict__ loss) {
  acc_t total = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) total += partials[i];
  total = block_sum(total);
  if (threadIdx.x == 0) *loss = static_cast<T>(total);
}

}  // namespace

int64_t partial_count(int64_t count) {
  return std::min<int64_t>(ceil_div(count, int64_t{kThreads} * kElementsPerThread), kMaxPartials);
}

// loss = mean 1/2 (first - first_target)^2 [+ the same for second when second_count > 0];
// partials holds partial_count(first_count) + partial_count(second_count) values.
template <typename T>
void launch_loss(const T* first, T* first_grad, int64_t first_count, double first_target, const T* second,
                 T* second_grad, int64_t second_count, double second_target, acc_type<T>* partials, T* loss,
                 cudaStream_t stream) {
  using acc_t = acc_type<T>;
  const int64_t first_blocks = partial_count(first_count);
  const int64_t second_blocks = second_count > 0 ? partial_count(second_count) : 0;
  partial_kernel<T, acc_t><<<first_blocks, kThreads, 0, stream>>>(first, first_grad, first_count, first_target,
                                                                  partials);
  if (second_blocks > 0) {
    partial_kernel<T, acc_t><<<second_blocks, kThreads, 0, stream>>>(second, second_grad, second_count,
                                                                     second_target, partials + first_blocks);
  }
  sum_kernel<T, acc_t><<<1, kSumThreads, 0, stream>>>(partials, first_blocks + second_blocks, loss);
}

#define INSTANTIATE(T)                                                                                   \
  template void launch_loss<T>(const T*, T*, int64_t, double, const T*, T*, int64_t, double, acc_type<T>*, \
                               T*, cudaStream_t);
FASTGEN_INSTANTIATE_FLOATING(INSTANTIATE)
#undef INSTANTIATE

}  // namespace ls_loss
}  // namespace fastgen
