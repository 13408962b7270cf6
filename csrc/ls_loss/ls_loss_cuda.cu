// CUDA kernel of the least-squares GAN losses, on raw pointers: one block walks one or two score
// tensors, writing each gradient and summing the loss terms of ls_loss.h, then reduces the
// block's partial sums (warp shuffles, then one warp over the warps' sums). Discriminator
// outputs are one number per sample: a single block is enough and keeps the sum deterministic.
#include "common/cuda_launch.h"
#include "common/math.h"
#include "ls_loss/ls_loss.h"

namespace fastgen {
namespace ls_loss {
namespace {

constexpr int kThreads = 512;

template <typename T, typename acc_t>
__device__ inline acc_t segment(const T* __restrict__ scores, T* __restrict__ grad, int64_t count, acc_t target) {
  acc_t partial = 0;
  const acc_t inv_count = count > 0 ? acc_t(1) / static_cast<acc_t>(count) : acc_t(0);
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const Term<acc_t> t = term<acc_t>(static_cast<acc_t>(scores[i]), target, inv_count);
    grad[i] = static_cast<T>(t.grad);
    partial += t.loss;
  }
  return partial;
}

template <typename T>
__global__ void loss_kernel(const T* first, T* first_grad, int64_t first_count, double first_target,
                            const T* second, T* second_grad, int64_t second_count, double second_target, T* loss) {
  using acc_t = acc_type<T>;
  __shared__ acc_t warp_sums[kThreads / kWarp];
  acc_t partial = segment<T, acc_t>(first, first_grad, first_count, static_cast<acc_t>(first_target)) +
                  segment<T, acc_t>(second, second_grad, second_count, static_cast<acc_t>(second_target));
  partial = warp_sum(partial);
  if (threadIdx.x % kWarp == 0) warp_sums[threadIdx.x / kWarp] = partial;
  __syncthreads();
  if (threadIdx.x < kWarp) {
    acc_t total = threadIdx.x < kThreads / kWarp ? warp_sums[threadIdx.x] : acc_t(0);
    total = warp_sum(total);
    if (threadIdx.x == 0) *loss = static_cast<T>(total);
  }
}

}  // namespace

// loss = mean 1/2 (first - first_target)^2 [+ the same for second when second_count > 0].
template <typename T>
void launch_loss(const T* first, T* first_grad, int64_t first_count, double first_target, const T* second,
                 T* second_grad, int64_t second_count, double second_target, T* loss, cudaStream_t stream) {
  loss_kernel<T><<<1, kThreads, 0, stream>>>(first, first_grad, first_count, first_target, second, second_grad,
                                             second_count, second_target, loss);
}

#define INSTANTIATE(T)                                                                                     \
  template void launch_loss<T>(const T*, T*, int64_t, double, const T*, T*, int64_t, double, T*, cudaStream_t);
FASTGEN_INSTANTIATE_FLOATING(INSTANTIATE)
#undef INSTANTIATE

}  // namespace ls_loss
}  // namespace fastgen
