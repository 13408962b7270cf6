// CUDA registration of the least-squares GAN losses: checks, allocation (the outputs and the
// blocks' partial sums) and the launches on the current stream under a device guard; the
// kernels are in ls_loss_cuda.cu.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

#include "common/dispatch.h"
#include "common/math.h"
#include "ls_loss/ls_loss_host.h"

namespace fastgen {
namespace ls_loss {

int64_t partial_count(int64_t count);
template <typename T>
void launch_loss(const T* first, T* first_grad, int64_t first_count, double first_target, const T* second,
                 T* second_grad, int64_t second_count, double second_target, acc_type<T>* partials, T* loss,
                 cudaStream_t stream);

namespace {

// One partial sum per block of each score tensor, in the compute dtype.
at::Tensor partial_sums(const at::Tensor& first, const at::Tensor* second) {
  const int64_t count = partial_count(first.numel()) + (second != nullptr ? partial_count(second->numel()) : 0);
  return at::empty({count}, first.options().dtype(first.scalar_type() == at::kDouble ? at::kDouble : at::kFloat));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> discriminator_cuda(const at::Tensor& d_real, const at::Tensor& d_fake,
                                                                  double a, double b) {
  check_scores(d_real, d_real, "d_real");
  check_scores(d_fake, d_real, "d_fake");
  const c10::cuda::CUDAGuard guard(d_real.device());
  at::Tensor loss = empty_loss(d_real), grad_real = at::empty_like(d_real), grad_fake = at::empty_like(d_fake);
  at::Tensor partials = partial_sums(d_real, &d_fake);
  FASTGEN_DISPATCH_FLOATING(d_real.scalar_type(), "ls_discriminator_loss_cuda", [&] {
    launch_loss<scalar_t>(d_real.data_ptr<scalar_t>(), grad_real.data_ptr<scalar_t>(), d_real.numel(), b,
                          d_fake.data_ptr<scalar_t>(), grad_fake.data_ptr<scalar_t>(), d_fake.numel(), a,
                          partials.data_ptr<acc_type<scalar_t>>(), loss.data_ptr<scalar_t>(),
                          at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {loss, grad_real, grad_fake};
}

std::tuple<at::Tensor, at::Tensor> generator_cuda(const at::Tensor& d_fake, double c) {
  check_scores(d_fake, d_fake, "d_fake");
  const c10::cuda::CUDAGuard guard(d_fake.device());
  at::Tensor loss = empty_loss(d_fake), grad_fake = at::empty_like(d_fake);
  at::Tensor partials = partial_sums(d_fake, nullptr);
  FASTGEN_DISPATCH_FLOATING(d_fake.scalar_type(), "ls_generator_loss_cuda", [&] {
    launch_loss<scalar_t>(d_fake.data_ptr<scalar_t>(), grad_fake.data_ptr<scalar_t>(), d_fake.numel(), c, nullptr,
                          nullptr, 0, 0.0, partials.data_ptr<acc_type<scalar_t>>(), loss.data_ptr<scalar_t>(),
                          at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {loss, grad_fake};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CUDA, m) {
  m.impl("ls_discriminator_loss", &discriminator_cuda);
  m.impl("ls_generator_loss", &generator_cuda);
}

}  // namespace ls_loss
}  // namespace fastgen
