// Host-side checks shared by the CPU and CUDA registrations of corrupt_encode. The Python
// wrapper has already validated the arguments with user-facing messages; these checks guard
// direct calls of torch.ops.fastgen.* .
#pragma once

#include <ATen/ATen.h>

namespace fastgen {
namespace corrupt_encode {

struct Layout {
  int64_t n;          // rows of x
  int64_t n_visible;  // columns of x, rows of weight
  int64_t n_hidden;   // columns of weight
};

inline Layout check_input(const at::Tensor& x, const at::Tensor& weight, double corruption) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "x must be a contiguous [N, n_visible] tensor");
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == x.size(1), "weight must be [n_visible, n_hidden]");
  TORCH_CHECK(weight.scalar_type() == x.scalar_type() && weight.device() == x.device(),
              "weight must have the dtype and device of x");
  TORCH_CHECK(corruption >= 0.0 && corruption < 1.0, "corruption must be in [0, 1), got ", corruption);
  return {x.size(0), x.size(1), weight.size(1)};
}

inline Layout check_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            double corruption) {
  const Layout layout = check_input(x, weight, corruption);
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == layout.n_hidden, "bias must be [n_hidden]");
  TORCH_CHECK(bias.scalar_type() == x.scalar_type() && bias.device() == x.device(),
              "bias must have the dtype and device of x");
  return layout;
}

inline Layout check_backward(const at::Tensor& grad_h, const at::Tensor& h, const at::Tensor& x,
                             const at::Tensor& weight, double corruption) {
  const Layout layout = check_input(x, weight, corruption);
  for (const at::Tensor* t : {&grad_h, &h}) {
    TORCH_CHECK(t->dim() == 2 && t->size(0) == layout.n && t->size(1) == layout.n_hidden && t->is_contiguous(),
                "grad_h and h must be contiguous [N, n_hidden] tensors");
    TORCH_CHECK(t->scalar_type() == x.scalar_type() && t->device() == x.device(),
                "grad_h and h must have the dtype and device of x");
  }
  return layout;
}

// The dtype the GEMMs run in: float32 for float32/16/bf16 inputs, float64 for float64.
inline at::ScalarType acc_dtype(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

}  // namespace corrupt_encode
}  // namespace fastgen
