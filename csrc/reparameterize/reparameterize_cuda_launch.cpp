// CUDA registration of fastgen::reparameterize: checks, allocation and the launch on the
// current stream under a device guard; the kernels are in reparameterize_cuda.cu. Without a seed the
// noise comes from torch's CUDA generator (common/cuda_host.h), so the op can be captured in a
// CUDA graph and every replay draws new noise.
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
                    const PhiloxSource& source, cudaStream_t stream);
template <typename T>
void launch_backward(const T* grad_z, int64_t gz_stride, const T* grad_kl, const T* mu, const T* logvar, const T* eps, T* grad_mu,
                     T* grad_logvar, int64_t rows, int64_t d, const PhiloxSource& source, cudaStream_t stream);

namespace {

template <typename T>
const T* optional_ptr(const std::optional<at::Tensor>& t) {
  return t ? t->data_ptr<T>() : nullptr;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cuda(const at::Tensor& mu, const at::Tensor& logvar,
                                                            const std::optional<at::Tensor>& eps,
                                                            std::optional<int64_t> seed) {
  const Layout layout = check_forward(mu, logvar, eps);
  const c10::cuda::CUDAGuard guard(mu.device());
  at::Tensor z = at::empty_like(mu);
  at::Tensor kl = empty_kl(mu);
  const bool drawn = layout.rows > 0;
  at::Tensor rng_state = cuda_record(mu, drawn);
  if (!drawn) return {z, kl, rng_state};
  // Given eps, nothing is drawn: the generator is not advanced (a seed of 0 stands in when none is given).
  const PhiloxSource source =
      forward_source(eps ? std::optional<int64_t>(seed.value_or(0)) : seed, mu.numel(), rng_state);
  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_cuda", [&] {
    launch_forward<scalar_t>(mu.data_ptr<scalar_t>(), logvar.data_ptr<scalar_t>(), optional_ptr<scalar_t>(eps),
                             z.data_ptr<scalar_t>(), kl.data_ptr<scalar_t>(), layout.rows, layout.d, source,
                             at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {z, kl, rng_state};
}

std::tuple<at::Tensor, at::Tensor> backward_cuda(const at::Tensor& grad_z, const at::Tensor& grad_kl,
                                                 const at::Tensor& mu, const at::Tensor& logvar,
                                                 const std::optional<at::Tensor>& eps,
                                                 const at::Tensor& rng_state) {
  const Layout layout = check_backward(grad_z, grad_kl, mu, logvar, eps);
  const c10::cuda::CUDAGuard guard(mu.device());
  const PhiloxSource source = backward_source(rng_state, mu);
  at::Tensor grad_mu = at::empty_like(mu);
  at::Tensor grad_logvar = at::empty_like(mu);
  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_backward_cuda", [&] {
    launch_backward<scalar_t>(grad_z.data_ptr<scalar_t>(), layout.grad_z_stride, grad_kl.data_ptr<scalar_t>(), mu.data_ptr<scalar_t>(),
                              logvar.data_ptr<scalar_t>(), optional_ptr<scalar_t>(eps),
                              grad_mu.data_ptr<scalar_t>(), grad_logvar.data_ptr<scalar_t>(), layout.rows,
                              layout.d, source, at::cuda::getCurrentCUDAStream());
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
