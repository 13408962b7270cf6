// The tied autoencoder's forward and backward, written once over ATen for the CPU and CUDA
// registrations; all that differs between devices is how corrupt_encode's mask is applied
// (corrupt_encode/corrupt_encode_mask.h), passed in as `apply_mask`.
//
// Backward, with g = grad_logits and dpre = (g W) * h (1 - h):
//   grad_W = x~^T dpre + g^T h = [x~; g]^T [dpre; h]
// one GEMM over 2N rows instead of two GEMMs of N rows and a sum of two [n_visible, n_hidden]
// matrices. For a small batch (the DAE recipe: 20 rows, 784 -> 500) those GEMMs are outer products
// bound by writing W-sized outputs, so the two writes and the sum's three passes over W-sized
// memory become one write (bench/RESULTS.md, "... the DAE through `tied_autoencoder`").
// Everything is computed in the compute dtype (float32, float64 for float64) and cast back.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>
#include <tuple>

#include "corrupt_encode/corrupt_encode_host.h"

namespace fastgen {
namespace tied_autoencoder {

using corrupt_encode::acc_dtype;

inline void check_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& visible_bias) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 2 && weight.size(0) == x.size(1),
              "weight must be [n_visible, n_hidden] for x [N, n_visible]");
  TORCH_CHECK(visible_bias.dim() == 1 && visible_bias.size(0) == x.size(1), "visible_bias must be [n_visible]");
  TORCH_CHECK(visible_bias.scalar_type() == x.scalar_type() && visible_bias.device() == x.device(),
              "visible_bias must have the dtype and device of x");
}

// (logits, h, rng_state): h and rng_state from fastgen::corrupt_encode on this device.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& weight,
                                                              const at::Tensor& hidden_bias,
                                                              const at::Tensor& visible_bias, double corruption,
                                                              std::optional<int64_t> seed) {
  check_forward(x, weight, visible_bias);
  using EncodeOp = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                      double, std::optional<int64_t>);
  static const auto encode =
      c10::Dispatcher::singleton().findSchemaOrThrow("fastgen::corrupt_encode", "").typed<EncodeOp>();
  auto [h, rng_state] = encode.call(x, weight, hidden_bias, corruption, seed);
  const auto acc = acc_dtype(x);
  at::Tensor logits = at::addmm(visible_bias.to(acc), h.to(acc), weight.to(acc).t()).to(x.scalar_type());
  return {logits, h, rng_state};
}

template <typename ApplyMask>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_logits, const at::Tensor& h,
                                                                    const at::Tensor& x, const at::Tensor& weight,
                                                                    double corruption, const at::Tensor& rng_state,
                                                                    bool grad_x_needed, ApplyMask apply_mask) {
  const corrupt_encode::Layout layout = corrupt_encode::check_input(x, weight, corruption);
  const int64_t n = layout.n;
  TORCH_CHECK(grad_logits.sizes() == x.sizes() && grad_logits.scalar_type() == x.scalar_type() &&
                  grad_logits.device() == x.device(),
              "grad_logits must have the shape, dtype and device of x");
  TORCH_CHECK(h.dim() == 2 && h.size(0) == n && h.size(1) == layout.n_hidden && h.scalar_type() == x.scalar_type() &&
                  h.device() == x.device(),
              "h must be the forward's [N, n_hidden] output");
  const auto acc = acc_dtype(x);
  const at::Tensor w = weight.to(acc);
  const at::Tensor g = grad_logits.to(acc);
  const at::Tensor h_acc = h.to(acc);

  // left = [x~; g] (2N x n_visible), right = [dpre; h] (2N x n_hidden)
  const at::Tensor left = at::empty({2 * n, layout.n_visible}, x.options().dtype(acc));
  const at::Tensor right = at::empty({2 * n, layout.n_hidden}, x.options().dtype(acc));
  apply_mask(x, left.narrow(0, 0, n), corruption, rng_state);
  left.narrow(0, n, n).copy_(g);
  at::Tensor dpre = right.narrow(0, 0, n);
  at::mm_out(dpre, g, w);  // grad_h = g W
  dpre.mul_(h_acc * (1 - h_acc));
  right.narrow(0, n, n).copy_(h_acc);
  const at::Tensor grad_w = at::mm(left.t(), right);

  at::Tensor grad_x = at::empty({0}, x.options());
  if (grad_x_needed) {  // grad_x = (dpre W^T) * keep
    const at::Tensor grad_x_tilde = at::mm(dpre, w.t());
    const at::Tensor masked = at::empty_like(grad_x_tilde);
    apply_mask(grad_x_tilde, masked, corruption, rng_state);
    grad_x = masked.to(x.scalar_type());
  }
  const auto dtype = weight.scalar_type();
  return {grad_x, grad_w.to(dtype), dpre.sum(0).to(dtype), g.sum(0).to(dtype)};
}

}  // namespace tied_autoencoder
}  // namespace fastgen
