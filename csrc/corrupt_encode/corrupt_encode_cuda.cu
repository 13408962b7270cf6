// CUDA kernels of fastgen::corrupt_encode, on raw pointers: the elementwise pieces around the
// cuBLAS GEMMs that corrupt_encode_cuda_launch.cpp issues (mask into a packed x~, bias + sigmoid
// epilogue, the sigmoid's derivative, the mask on grad_x). The arithmetic is corrupt_encode.h,
// the same functions the CPU kernels call; the mask is Philox(seed, base + row-major offset).
#include <algorithm>

#include "common/cuda_launch.h"
#include "corrupt_encode/corrupt_encode.h"

namespace fastgen {
namespace corrupt_encode {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

unsigned blocks_for(int64_t count) { return static_cast<unsigned>(std::min<int64_t>(ceil_div(count, kThreads), kMaxBlocks)); }

__device__ inline int64_t first_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// out[i] = in[i] * keep(i): x -> x~ (In = T, Out = acc_t) and dx~ -> grad_x (In = acc_t, Out = T).
template <typename In, typename Out, typename acc_t>
__global__ void mask_kernel(const In* __restrict__ in, Out* __restrict__ out, int64_t count, float corruption,
                            PhiloxSource source) {
  const PhiloxKey key = philox_key(source);
  for (int64_t i = first_index(); i < count; i += stride()) {
    const float u = philox_uniform(key.seed, key.base + static_cast<uint64_t>(i));
    out[i] = static_cast<Out>(masked(static_cast<acc_t>(in[i]), u, corruption));
  }
}

template <typename T, typename acc_t>
__global__ void encode_kernel(const acc_t* __restrict__ pre, const T* __restrict__ bias, T* __restrict__ h,
                              int64_t count, int64_t n_hidden) {
  for (int64_t i = first_index(); i < count; i += stride()) {
    h[i] = static_cast<T>(encode(pre[i], static_cast<acc_t>(bias[i % n_hidden])));
  }
}

template <typename T, typename acc_t>
__global__ void pre_gradient_kernel(const T* __restrict__ grad_h, const T* __restrict__ h, acc_t* __restrict__ dpre,
                                    int64_t count) {
  for (int64_t i = first_index(); i < count; i += stride()) {
    dpre[i] = pre_gradient(static_cast<acc_t>(grad_h[i]), static_cast<acc_t>(h[i]));
  }
}

}  // namespace

template <typename T>
void launch_mask_input(const T* x, acc_type<T>* x_tilde, int64_t count, float corruption,
                       const PhiloxSource& source, cudaStream_t stream) {
  if (count == 0) return;
  mask_kernel<T, acc_type<T>, acc_type<T>><<<blocks_for(count), kThreads, 0, stream>>>(x, x_tilde, count, corruption, source);
}

template <typename T>
void launch_mask_gradient(const acc_type<T>* grad, T* grad_x, int64_t count, float corruption,
                          const PhiloxSource& source, cudaStream_t stream) {
  if (count == 0) return;
  mask_kernel<acc_type<T>, T, acc_type<T>><<<blocks_for(count), kThreads, 0, stream>>>(grad, grad_x, count, corruption, source);
}

template <typename T>
void launch_encode(const acc_type<T>* pre, const T* bias, T* h, int64_t count, int64_t n_hidden, cudaStream_t stream) {
  if (count == 0) return;
  encode_kernel<T, acc_type<T>><<<blocks_for(count), kThreads, 0, stream>>>(pre, bias, h, count, n_hidden);
}

template <typename T>
void launch_pre_gradient(const T* grad_h, const T* h, acc_type<T>* dpre, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  pre_gradient_kernel<T, acc_type<T>><<<blocks_for(count), kThreads, 0, stream>>>(grad_h, h, dpre, count);
}

#define INSTANTIATE(T)                                                                                      \
  template void launch_mask_input<T>(const T*, acc_type<T>*, int64_t, float, const PhiloxSource&,         \
                                     cudaStream_t);                                                       \
  template void launch_mask_gradient<T>(const acc_type<T>*, T*, int64_t, float, const PhiloxSource&,      \
                                        cudaStream_t);                                                    \
  template void launch_encode<T>(const acc_type<T>*, const T*, T*, int64_t, int64_t, cudaStream_t);       \
  template void launch_pre_gradient<T>(const T*, const T*, acc_type<T>*, int64_t, cudaStream_t);
FASTGEN_INSTANTIATE_FLOATING(INSTANTIATE)
#undef INSTANTIATE

}  // namespace corrupt_encode
}  // namespace fastgen
