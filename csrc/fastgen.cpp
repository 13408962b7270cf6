// Every fastgen op's schema, declared once. Kernels register implementations against these
// names from their own files (TORCH_LIBRARY_IMPL(fastgen, CPU|CUDA, m)); autograd and fake
// (meta) implementations are registered from Python (fastgen/ops/*.py).
#include <pybind11/pybind11.h>
#include <torch/library.h>

#ifndef FASTGEN_VERSION
#define FASTGEN_VERSION "unknown"
#endif

TORCH_LIBRARY(fastgen, m) {
  // Philox4x32-10 streams (tests and users who want the same numbers as the kernels).
  m.def("philox_uniform(Tensor offsets, int seed) -> Tensor");
  m.def("philox_normal(Tensor offsets, int seed) -> Tensor");

  // VAE: z = mu + exp(logvar/2) * eps and the per-row KL to N(0, I). eps is drawn from
  // Philox(seed, element offset) unless given.
  m.def("reparameterize(Tensor mu, Tensor logvar, Tensor? eps, int seed) -> (Tensor, Tensor)");
  // grad_z: the shape of mu, or one element standing for a broadcast value (the grad of z.sum()).
  m.def(
      "_reparameterize_backward(Tensor grad_z, Tensor grad_kl, Tensor mu, Tensor logvar, "
      "Tensor? eps, int seed) -> (Tensor, Tensor)");

  // Metrics: unbiased covariance of x [B, N, d] -> [B, d, d], and the shifted moments that
  // streaming statistics accumulate: sum_i (x_i - shift) [B, d] and sum_i (x_i - shift)(x_i - shift)^T.
  m.def("covariance(Tensor x) -> Tensor");
  m.def("shifted_moments(Tensor x, Tensor shift) -> (Tensor, Tensor)");
}

// Build information for fastgen.build_info(); the versions fastgen was built against are also
// written to fastgen/_build_config.py, readable even when this module cannot be loaded.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "fastgen's compiled kernels; the ops are reached through torch.ops.fastgen";
  m.def("build_info", [] {
    pybind11::dict info;
    info["version"] = FASTGEN_VERSION;
#ifdef FASTGEN_WITH_CUDA
    info["cuda"] = true;
    info["cuda_archs"] = FASTGEN_CUDA_ARCHS;
#else
    info["cuda"] = false;
    info["cuda_archs"] = pybind11::none();
#endif
    return info;
  });
}
