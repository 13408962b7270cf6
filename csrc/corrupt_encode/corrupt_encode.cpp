// The schemas of the denoising autoencoder's encoder, h = sigmoid(mask(x) @ weight + bias), with
// element (i, j) of x dropped when Philox uniform(seed, base + i * n_visible + j) < corruption
// (the random ops' rule: csrc/common/philox.h). The forward returns h and its rng_state;
// the backward draws the mask again from rng_state and returns (grad_x, grad_weight, grad_bias).
// grad_x is computed only when grad_x_needed (a DAE's input is data: its GEMM would be a third of
// the backward for nothing); otherwise it is an empty tensor of shape [0].
// Kernels: corrupt_encode_cpu.cpp, corrupt_encode_cuda.cu; autograd: corrupt_encode_autograd.cpp.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(fastgen, m) {
  m.def("corrupt_encode(Tensor x, Tensor weight, Tensor bias, float corruption, int? seed) -> (Tensor, Tensor)");
  m.def(
      "_corrupt_encode_backward(Tensor grad_h, Tensor h, Tensor x, Tensor weight, float corruption, "
      "Tensor rng_state, bool grad_x_needed) -> (Tensor, Tensor, Tensor)");
}
