// Host-side checks and allocation shared by the CPU and CUDA registrations of reparameterize.
// The Python wrapper has already validated the arguments with user-facing messages; these
// checks guard direct calls of torch.ops.fastgen.* .
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace fastgen {
namespace reparameterize {

struct Layout {
  int64_t rows;
  int64_t d;
  int64_t grad_z_stride = 1;  // 0 when grad_z is one value broadcast to every element
};

inline void check_like(const at::Tensor& t, const at::Tensor& mu, const char* name) {
  TORCH_CHECK(t.sizes() == mu.sizes(), name, " must have the shape of mu ", mu.sizes(), ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == mu.scalar_type(), name, " must have the dtype of mu");
  TORCH_CHECK(t.device() == mu.device(), name, " must be on the device of mu");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

inline Layout check_forward(const at::Tensor& mu, const at::Tensor& logvar, const std::optional<at::Tensor>& eps) {
  TORCH_CHECK(mu.dim() >= 1, "mu must have at least one dimension");
  TORCH_CHECK(mu.is_contiguous(), "mu must be contiguous");
  check_like(logvar, mu, "logvar");
  if (eps) check_like(*eps, mu, "eps");
  const int64_t d = mu.size(-1);
  return {d == 0 ? 0 : mu.numel() / d, d};
}

inline Layout check_backward(const at::Tensor& grad_z, const at::Tensor& grad_kl, const at::Tensor& mu,
                             const at::Tensor& logvar, const std::optional<at::Tensor>& eps) {
  Layout layout = check_forward(mu, logvar, eps);
  // The gradient of z.sum() reaches backward as one value expanded to z's shape: it is passed
  // as a single element rather than materialised.
  if (grad_z.numel() == 1 && mu.numel() != 1) {
    TORCH_CHECK(grad_z.scalar_type() == mu.scalar_type(), "grad_z must have the dtype of mu");
    TORCH_CHECK(grad_z.device() == mu.device(), "grad_z must be on the device of mu");
    layout.grad_z_stride = 0;
  } else {
    check_like(grad_z, mu, "grad_z");
  }
  TORCH_CHECK(grad_kl.sizes() == mu.sizes().slice(0, mu.dim() - 1) && grad_kl.is_contiguous(),
              "grad_kl must be contiguous with one value per row of mu (shape mu.shape[:-1])");
  TORCH_CHECK(grad_kl.scalar_type() == mu.scalar_type(), "grad_kl must have the dtype of mu");
  TORCH_CHECK(grad_kl.device() == mu.device(), "grad_kl must be on the device of mu");
  return layout;
}

// kl [...]: every row is written by the kernels, except when d = 0, where no kernel runs and
// the KL of an empty latent is 0.
inline at::Tensor empty_kl(const at::Tensor& mu) {
  const auto shape = mu.sizes().slice(0, mu.dim() - 1);
  return mu.size(-1) == 0 ? at::zeros(shape, mu.options()) : at::empty(shape, mu.options());
}

}  // namespace reparameterize
}  // namespace fastgen
