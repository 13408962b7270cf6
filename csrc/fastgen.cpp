// Every fastgen op's schema, declared once. Kernels register implementations against these
// names from their own files (TORCH_LIBRARY_IMPL(fastgen, CPU|CUDA, m)); autograd and fake
// (meta) implementations are registered from Python (fastgen/ops/*.py).
#include <ATen/Parallel.h>
#include <pybind11/pybind11.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#ifndef FASTGEN_VERSION
#define FASTGEN_VERSION "unknown"
#endif

TORCH_LIBRARY(fastgen, m) {
  // The random ops (corrupt_encode, reparameterize) draw element i of their call as number
  // base + i of the Philox stream keyed by seed (csrc/common/philox.h, PhiloxKey). Given a seed,
  // base = 0. Without one (CUDA kernels only; fastgen.ops draws a CPU call's seed from torch's
  // CPU generator), the kernel takes torch's CUDA generator's seed and an offset it reserves, as
  // torch's own random kernels do, so that a CUDA graph draws new numbers at every replay. The
  // forward returns the (seed, base) it used as rng_state, two int64 on the op's device, and
  // the backward draws the same numbers again from it, with no host read.
  // Philox4x32-10 streams (tests and users who want the same numbers as the kernels): element i is
  // number offsets[i] of the stream keyed by seed.
  m.def("philox_uniform(Tensor offsets, int seed) -> Tensor");
  m.def("philox_normal(Tensor offsets, int seed) -> Tensor");

  // Denoising autoencoder encoder: h = sigmoid(mask(x) @ weight + bias), element (i, j) of x
  // dropped when Philox uniform(seed, i * n_visible + j) < corruption; the backward draws the
  // mask again and returns (grad_x, grad_weight, grad_bias). grad_x is computed only when
  // grad_x_needed (a DAE's input is data: its GEMM would be a third of the backward for nothing);
  // otherwise it is an empty tensor of shape [0].
  m.def("corrupt_encode(Tensor x, Tensor weight, Tensor bias, float corruption, int? seed) -> (Tensor, Tensor)");
  m.def(
      "_corrupt_encode_backward(Tensor grad_h, Tensor h, Tensor x, Tensor weight, float corruption, "
      "Tensor rng_state, bool grad_x_needed) -> (Tensor, Tensor, Tensor)");

  // Least-squares GAN losses, each with the gradient of the loss in its inputs from the same
  // pass: (loss, dloss/d_real, dloss/d_fake) and (loss, dloss/d_fake).
  m.def("ls_discriminator_loss(Tensor d_real, Tensor d_fake, float a, float b) -> (Tensor, Tensor, Tensor)");
  m.def("ls_generator_loss(Tensor d_fake, float c) -> (Tensor, Tensor)");

  // VAE: z = mu + exp(logvar/2) * eps and the per-row KL to N(0, I). eps is drawn from
  // Philox(seed, element offset) unless given.
  m.def("reparameterize(Tensor mu, Tensor logvar, Tensor? eps, int? seed) -> (Tensor, Tensor, Tensor)");
  // grad_z: the shape of mu, or one element standing for a broadcast value (the grad of z.sum()).
  m.def(
      "_reparameterize_backward(Tensor grad_z, Tensor grad_kl, Tensor mu, Tensor logvar, "
      "Tensor? eps, Tensor rng_state) -> (Tensor, Tensor)");

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
#ifdef _OPENMP
    info["openmp"] = true;
#else
    info["openmp"] = false;
#endif
    return info;
  });
  // How many threads at::parallel_for spreads `tasks` one-element tasks over: torch's thread count
  // when the extension was compiled with OpenMP, 1 when not (ATen's parallel regions are inline
  // OpenMP pragmas, ignored without -fopenmp). The tests check it; it costs no kernel anything.
  m.def("parallel_threads", [](int64_t tasks) {
    std::vector<char> used(static_cast<size_t>(std::max(at::get_num_threads(), 1)), 0);
    at::parallel_for(0, tasks, 1, [&](int64_t, int64_t) { used[static_cast<size_t>(at::get_thread_num())] = 1; });
    return static_cast<int64_t>(std::count(used.begin(), used.end(), 1));
  });
}
