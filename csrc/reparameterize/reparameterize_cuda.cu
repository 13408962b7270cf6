// CUDA kernels of fastgen::reparameterize: one warp per row, so that the row's KL is a warp
// reduction; the noise is drawn from Philox in registers and redrawn in backward, at the (seed,
// base) the forward recorded (PhiloxSource).
#include "common/cuda_launch.h"
#include "reparameterize/reparameterize.h"

namespace fastgen {
namespace reparameterize {
namespace {

constexpr int kWarpsPerBlock = 8;

template <typename T, typename acc_t = acc_type<T>>
__device__ inline acc_t noise_at(const T* eps, const PhiloxKey& key, int64_t index) {
  return eps != nullptr ? static_cast<acc_t>(eps[index])
                        : static_cast<acc_t>(philox_normal(key.seed, key.base + static_cast<uint64_t>(index)));
}

template <typename T>
__global__ void forward_kernel(const T* __restrict__ mu, const T* __restrict__ logvar, const T* __restrict__ eps,
                               T* __restrict__ z, T* __restrict__ kl, int64_t rows, int64_t d, PhiloxSource source) {
  using acc_t = acc_type<T>;
  const PhiloxKey key = philox_key(source);  // before the early return: thread 0 records it
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  const int lane = threadIdx.x % kWarp;
  acc_t kl_sum = 0;
  for (int64_t j = lane; j < d; j += kWarp) {
    const int64_t i = row * d + j;
    const Forward<acc_t> r = forward<acc_t>(static_cast<acc_t>(mu[i]), static_cast<acc_t>(logvar[i]), noise_at(eps, key, i));
    z[i] = static_cast<T>(r.z);
    kl_sum += r.kl_term;
  }
  kl_sum = warp_sum(kl_sum);
  if (lane == 0) kl[row] = static_cast<T>(kl_sum);
}

template <typename T>
__global__ void backward_kernel(const T* __restrict__ grad_z, int64_t gz_stride, const T* __restrict__ grad_kl,
                                const T* __restrict__ mu, const T* __restrict__ logvar,
                                const T* __restrict__ eps, T* __restrict__ grad_mu, T* __restrict__ grad_logvar,
                                int64_t rows, int64_t d, PhiloxSource source) {
  using acc_t = acc_type<T>;
  const PhiloxKey key = philox_key(source);
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  const acc_t gkl = static_cast<acc_t>(grad_kl[row]);
  for (int64_t j = threadIdx.x % kWarp; j < d; j += kWarp) {
    const int64_t i = row * d + j;
    const Backward<acc_t> g = backward<acc_t>(static_cast<acc_t>(grad_z[i * gz_stride]), gkl, static_cast<acc_t>(mu[i]),
                                static_cast<acc_t>(logvar[i]), noise_at(eps, key, i));
    grad_mu[i] = static_cast<T>(g.grad_mu);
    grad_logvar[i] = static_cast<T>(g.grad_logvar);
  }
}

}  // namespace

template <typename T>
void launch_forward(const T* mu, const T* logvar, const T* eps, T* z, T* kl, int64_t rows, int64_t d,
                    const PhiloxSource& source, cudaStream_t stream) {
  if (rows == 0) return;
  forward_kernel<T><<<ceil_div(rows, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, stream>>>(
      mu, logvar, eps, z, kl, rows, d, source);
}

template <typename T>
void launch_backward(const T* grad_z, int64_t gz_stride, const T* grad_kl, const T* mu, const T* logvar, const T* eps, T* grad_mu,
                     T* grad_logvar, int64_t rows, int64_t d, const PhiloxSource& source, cudaStream_t stream) {
  if (rows == 0) return;
  backward_kernel<T><<<ceil_div(rows, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, stream>>>(
      grad_z, gz_stride, grad_kl, mu, logvar, eps, grad_mu, grad_logvar, rows, d, source);
}

#define INSTANTIATE(T)                                                                                     \
  template void launch_forward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,                 \
                                  const PhiloxSource&, cudaStream_t);                                     \
  template void launch_backward<T>(const T*, int64_t, const T*, const T*, const T*, const T*, T*, T*, int64_t,  \
                                   int64_t, const PhiloxSource&, cudaStream_t);
FASTGEN_INSTANTIATE_FLOATING(INSTANTIATE)
#undef INSTANTIATE

}  // namespace reparameterize
}  // namespace fastgen
