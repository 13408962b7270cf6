// The schemas of a tied-weight denoising autoencoder's reconstruction logits (Vincent et al.,
// ICML 2008), encoder and decoder in one op so that the tied weight's two gradients are one GEMM:
//   h      = sigmoid(mask(x) @ weight + hidden_bias)        (fastgen::corrupt_encode, its mask)
//   logits = h @ weight^T + visible_bias
// The forward returns (logits, h, rng_state); the backward draws the mask again from rng_state and
// returns (grad_x, grad_weight, grad_hidden_bias, grad_visible_bias), grad_x an empty [0] tensor
// unless grad_x_needed (a DAE's input is data). Kernels: tied_autoencoder.h, registered by
// tied_autoencoder_cpu.cpp and tied_autoencoder_cuda_launch.cpp; autograd: tied_autoencoder_autograd.cpp.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(fastgen, m) {
  m.def(
      "tied_autoencoder(Tensor x, Tensor weight, Tensor hidden_bias, Tensor visible_bias, float corruption, "
      "int? seed) -> (Tensor, Tensor, Tensor)");
  m.def(
      "_tied_autoencoder_backward(Tensor grad_logits, Tensor h, Tensor x, Tensor weight, float corruption, "
      "Tensor rng_state, bool grad_x_needed) -> (Tensor, Tensor, Tensor, Tensor)");
}
