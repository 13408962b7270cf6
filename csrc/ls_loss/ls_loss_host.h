// Host-side checks shared by the CPU and CUDA registrations of the least-squares GAN losses
// (they guard direct calls of torch.ops.fastgen.*; the Python wrapper checks with user-facing
// messages first).
#pragma once

#include <ATen/ATen.h>

namespace fastgen {
namespace ls_loss {

inline void check_scores(const at::Tensor& scores, const at::Tensor& like, const char* name) {
  TORCH_CHECK(scores.numel() > 0 && scores.is_contiguous(), name, " must be a non-empty contiguous tensor");
  TORCH_CHECK(scores.scalar_type() == like.scalar_type() && scores.device() == like.device(), name,
              " must have the dtype and device of the other scores");
}

// The loss is a 0-dim tensor in the scores' dtype.
inline at::Tensor empty_loss(const at::Tensor& scores) { return at::empty({}, scores.options()); }

}  // namespace ls_loss
}  // namespace fastgen
