// The schemas of the least-squares GAN losses, each with the gradient of the loss in its inputs
// from the same pass: (loss, dloss/d_real, dloss/d_fake) and (loss, dloss/d_fake).
// Kernels: ls_loss_cpu.cpp, ls_loss_cuda.cu.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(fastgen, m) {
  m.def("ls_discriminator_loss(Tensor d_real, Tensor d_fake, float a, float b) -> (Tensor, Tensor, Tensor)");
  m.def("ls_generator_loss(Tensor d_fake, float c) -> (Tensor, Tensor)");
}
