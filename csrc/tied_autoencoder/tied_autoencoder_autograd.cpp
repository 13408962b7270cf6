// Autograd of fastgen::tied_autoencoder for the CPU and CUDA kernels (csrc/common/autograd.h): the
// forward saves x, weight, h and the rng_state corrupt_encode drew the mask from; the backward op
// draws the mask again from rng_state and computes grad_x only when x needs it. The formula is
// fastgen/ops/tied_autoencoder.py's (which the Triton op keeps): in Python it cost ~0.1 ms of a
// 1.6 ms DAE step on a CPU (profiled).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "common/autograd.h"

namespace fastgen {
namespace tied_autoencoder {
namespace {

using ForwardOp = std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                 const at::Tensor&, const at::Tensor&, double,
                                                                 std::optional<int64_t>);
using BackwardOp = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                              const at::Tensor&, const at::Tensor&,
                                                                              double, const at::Tensor&, bool);

// The backward op as a node of its own, whose derivative is refused.
struct BackwardFunction : torch::autograd::Function<BackwardFunction> {
  static variable_list forward(AutogradContext*, const at::Tensor& grad_logits, const at::Tensor& h,
                               const at::Tensor& x, const at::Tensor& weight, double corruption,
                               const at::Tensor& rng_state, bool grad_x_needed) {
    static const auto op = find_op<BackwardOp>("fastgen::_tied_autoencoder_backward");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    const auto [grad_x, grad_weight, grad_hidden_bias, grad_visible_bias] =
        op.call(grad_logits, h, x, weight, corruption, rng_state, grad_x_needed);
    return {grad_x, grad_weight, grad_hidden_bias, grad_visible_bias};
  }
  static variable_list backward(AutogradContext*, const variable_list&) {
    refuse_double_backward("fastgen::tied_autoencoder");
  }
};

struct ForwardFunction : torch::autograd::Function<ForwardFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                               const at::Tensor& hidden_bias, const at::Tensor& visible_bias, double corruption,
                               std::optional<int64_t> seed) {
    static const auto op = find_op<ForwardOp>("fastgen::tied_autoencoder");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [logits, h, rng_state] = op.call(x, weight, hidden_bias, visible_bias, corruption, seed);
    ctx->save_for_backward({x, weight, h, rng_state});
    ctx->saved_data["corruption"] = corruption;
    ctx->mark_non_differentiable({h, rng_state});
    return {logits, h, rng_state};
  }

  static variable_list backward(AutogradContext* ctx, const variable_list& grads) {
    const variable_list saved = ctx->get_saved_variables();
    const bool grad_x_needed = ctx->needs_input_grad(0);
    const variable_list grad = BackwardFunction::apply(grads[0].contiguous(), saved[2], saved[0], saved[1],
                                                       ctx->saved_data["corruption"].toDouble(), saved[3],
                                                       grad_x_needed);
    return {grad_x_needed ? grad[0] : at::Tensor(), grad[1], grad[2], grad[3], at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> tied_autoencoder_autograd(const at::Tensor& x,
                                                                         const at::Tensor& weight,
                                                                         const at::Tensor& hidden_bias,
                                                                         const at::Tensor& visible_bias,
                                                                         double corruption,
                                                                         std::optional<int64_t> seed) {
  const variable_list out = ForwardFunction::apply(x, weight, hidden_bias, visible_bias, corruption, seed);
  return {out[0], out[1], out[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, Autograd, m) { m.impl("tied_autoencoder", &tied_autoencoder_autograd); }

}  // namespace tied_autoencoder
}  // namespace fastgen
