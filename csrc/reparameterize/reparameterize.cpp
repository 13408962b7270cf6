// The schemas of the VAE's reparameterization: z = mu + exp(logvar/2) * eps and the per-row KL to
// N(0, I). eps is drawn from Philox(seed, base + element offset) unless given (the random ops'
// rule: csrc/common/philox.h); the forward returns (z, kl, rng_state) and the backward draws
// eps again from rng_state. grad_z: the shape of mu, or one element standing for a broadcast value
// (the grad of z.sum()). Kernels: reparameterize_cpu.cpp, reparameterize_cuda.cu; autograd:
// reparameterize_autograd.cpp.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(fastgen, m) {
  m.def("reparameterize(Tensor mu, Tensor logvar, Tensor? eps, int? seed) -> (Tensor, Tensor, Tensor)");
  m.def(
      "_reparameterize_backward(Tensor grad_z, Tensor grad_kl, Tensor mu, Tensor logvar, "
      "Tensor? eps, Tensor rng_state) -> (Tensor, Tensor)");
}
