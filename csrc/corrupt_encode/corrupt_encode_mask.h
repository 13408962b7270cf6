// corrupt_encode's mask, applied to any [N, n_visible] matrix, for the ops built on the encoder
// (tied_autoencoder): out = in * keep, with keep drawn again from the rng_state a corrupt_encode
// forward returned, element (i, j) at Philox offset base + i * n_visible + j. `in` is x (any
// floating dtype) or a gradient in the compute dtype; `out` is contiguous, of in's shape, in the
// compute dtype (acc_dtype). CPU: corrupt_encode_cpu.cpp; CUDA: corrupt_encode_cuda_launch.cpp.
#pragma once

#include <ATen/ATen.h>

#include "corrupt_encode/corrupt_encode_host.h"

namespace fastgen {
namespace corrupt_encode {

inline void check_mask_arguments(const at::Tensor& in, const at::Tensor& out) {
  TORCH_CHECK(in.dim() == 2 && in.is_contiguous(), "the masked matrix must be a contiguous [N, n_visible] tensor");
  TORCH_CHECK(out.is_contiguous() && out.sizes() == in.sizes() && out.scalar_type() == acc_dtype(in) &&
                  out.device() == in.device(),
              "the mask's output must be contiguous, of the input's shape and device, in the compute dtype");
}

void apply_mask_cpu(const at::Tensor& in, const at::Tensor& out, double corruption, const at::Tensor& rng_state);
#ifdef FASTGEN_WITH_CUDA
void apply_mask_cuda(const at::Tensor& in, const at::Tensor& out, double corruption, const at::Tensor& rng_state);
#endif

}  // namespace corrupt_encode
}  // namespace fastgen
