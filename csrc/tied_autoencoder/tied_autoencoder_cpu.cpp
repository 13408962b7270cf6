// CPU registration of fastgen::tied_autoencoder (tied_autoencoder.h), the mask applied by
// corrupt_encode's CPU kernel.
#include <torch/library.h>

#include "corrupt_encode/corrupt_encode_mask.h"
#include "tied_autoencoder/tied_autoencoder.h"

namespace fastgen {
namespace tied_autoencoder {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cpu(const at::Tensor& grad_logits,
                                                                        const at::Tensor& h, const at::Tensor& x,
                                                                        const at::Tensor& weight, double corruption,
                                                                        const at::Tensor& rng_state,
                                                                        bool grad_x_needed) {
  return backward(grad_logits, h, x, weight, corruption, rng_state, grad_x_needed, corrupt_encode::apply_mask_cpu);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("tied_autoencoder", &forward);
  m.impl("_tied_autoencoder_backward", &backward_cpu);
}

}  // namespace tied_autoencoder
}  // namespace fastgen
