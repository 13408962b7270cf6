// CUDA registration of fastgen::tied_autoencoder (tied_autoencoder.h), the mask applied by
// corrupt_encode's CUDA kernel. The GEMMs run in IEEE float32 whatever
// torch.backends.cuda.matmul.allow_tf32 says, as corrupt_encode's do (see its launcher). Without a
// seed the mask comes from torch's CUDA generator inside corrupt_encode, and the backward reads
// (seed, base) from rng_state on the device: the op can be captured in a CUDA graph.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "corrupt_encode/corrupt_encode_mask.h"
#include "tied_autoencoder/tied_autoencoder.h"

namespace fastgen {
namespace tied_autoencoder {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cuda(const at::Tensor& x, const at::Tensor& weight,
                                                            const at::Tensor& hidden_bias,
                                                            const at::Tensor& visible_bias, double corruption,
                                                            std::optional<int64_t> seed) {
  const c10::cuda::CUDAGuard guard(x.device());
  const at::NoTF32Guard ieee_float32;
  return forward(x, weight, hidden_bias, visible_bias, corruption, seed);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cuda(const at::Tensor& grad_logits,
                                                                         const at::Tensor& h, const at::Tensor& x,
                                                                         const at::Tensor& weight, double corruption,
                                                                         const at::Tensor& rng_state,
                                                                         bool grad_x_needed) {
  const c10::cuda::CUDAGuard guard(x.device());
  const at::NoTF32Guard ieee_float32;
  return backward(grad_logits, h, x, weight, corruption, rng_state, grad_x_needed, corrupt_encode::apply_mask_cuda);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CUDA, m) {
  m.impl("tied_autoencoder", &forward_cuda);
  m.impl("_tied_autoencoder_backward", &backward_cuda);
}

}  // namespace tied_autoencoder
}  // namespace fastgen
