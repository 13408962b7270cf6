// CUDA registration of the Philox stream ops; the kernel is in philox_cuda.cu.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace fastgen {

void launch_philox(const int64_t* offsets, float* out, int64_t n, uint64_t seed, bool normal, cudaStream_t stream);

namespace {

at::Tensor draw_cuda(const at::Tensor& offsets, int64_t seed, bool normal) {
  TORCH_CHECK(offsets.scalar_type() == at::kLong, "offsets must be int64, got ", offsets.scalar_type());
  const c10::cuda::CUDAGuard guard(offsets.device());
  const at::Tensor offs = offsets.contiguous();
  at::Tensor out = at::empty(offs.sizes(), offs.options().dtype(at::kFloat));
  launch_philox(offs.data_ptr<int64_t>(), out.data_ptr<float>(), offs.numel(), static_cast<uint64_t>(seed), normal,
                at::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor uniform_cuda(const at::Tensor& offsets, int64_t seed) { return draw_cuda(offsets, seed, false); }
at::Tensor normal_cuda(const at::Tensor& offsets, int64_t seed) { return draw_cuda(offsets, seed, true); }

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CUDA, m) {
  m.impl("philox_uniform", &uniform_cuda);
  m.impl("philox_normal", &normal_cuda);
}

}  // namespace fastgen
