// CUDA registration of fastgen::reparameterize: checks, allocation and the launch on the
// current stream under a device guard; the kernels are in reparameterize_cuda.cu. Drawing the
// noise under CUDA-graph capture is refused (see common/cuda_host.h).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

#include "common/cuda_host.h"
#include "common/dispatch.h"
#include "reparameterize/reparameterize_host.h"

namespace fastgen {
namespace reparameterize {

template <typename T>
void launch_forward(const T* mu, const T* logvar, const T* eps, T* z, T* kl, int64_t rows, int64_t d,
                    uint64_t seed, cudaStream_t stream);
template <typename T>
void launch_backward(const T* grad_z, int64_t gz_stride, const T* grad_kl, const T* mu, const T* logvar, const T* eps, T* grad_mu,
                     T* grad_logvar, int64_t rows, int64_t d, uint64_t seed, cudaStream_t stream);

namespace {

template <typename T>
const T* optional_ptr(const std::optional<at::Tensor>& t) {
  return t ? t->data_ptr<T>() : nullptr;
}

std::tuple<at::Tensor, at::Tensor> forward_cuda(const at::Tensor& mu, const at::Tensor& logvar,
                                                const std::optional<at::Tensor>& eps, int64_t seed) {
  const Layout layout = check_forward(mu, logvar, eps);
  const c10::cuda::CUDAGuard guard(mu.device());
  if (!eps) refuse_graph_capture("reparameterize");
  at::Tensor z = at::empty_like(mu);
  at::Tensor kl = empty_kl(mu);
  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_cuda", [&] {
    launch_forward<scalar_t>(mu.data_ptr<scalar_t>(), logvar.data_ptr<scalar_t>(), optional_ptr<scalar_t>(eps),
                             z.data_ptr<scalar_t>(), kl.data_ptr<scalar_t>(), layout.rows, layout.d,
                             seed_bits(seed), at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {z, kl};
}

std::tuple<at::Tensor, at::Tensor> backward_cuda(const at::Tensor& grad_z, const at::Tensor& grad_kl,
                                                 const at::Tensor& mu, const at::Tensor& logvar,
                                                 const std::optional<at::Tensor>& eps, int64_t seed) {
  const Layout layout = check_backward(grad_z, grad_kl, mu, logvar, eps);
  const c10::cuda::CUDAGuard guard(mu.device());
  if (!eps) refuse_graph_capture("_reparameterize_backward");
  at::Tensor grad_mu = at::empty_like(mu);
  at::Tensor grad_logvar = at::empty_like(mu);
  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_backward_cuda", [&] {
    launch_backward<scalar_t>(grad_z.data_ptr<scalar_t>(), layout.grad_z_stride, grad_kl.data_ptr<scalar_t>(), mu.data_ptr<scalar_t>(),
                              logvar.data_ptr<scalar_t>(), optional_ptr<scalar_t>(eps),
                              grad_mu.data_ptr<scalar_t>(), grad_logvar.data_ptr<scalar_t>(), layout.rows,
                              layout.d, seed_bits(seed), at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_mu, grad_logvar};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CUDA, m) {
  m.impl("reparameterize", &forward_cuda);
  m.impl("_reparameterize_backward", &backward_cuda);
}

}  // namespace reparameterize
}  // namespace fastgen
