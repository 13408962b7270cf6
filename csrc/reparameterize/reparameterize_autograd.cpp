// Autograd of fastgen::reparameterize for the CPU and CUDA kernels (csrc/common/autograd.h): the
// forward saves mu, logvar, eps and the rng_state it drew from; the backward op draws eps again
// from rng_state. The formula is that of fastgen/ops/reparameterize.py's (the Triton op's).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "common/autograd.h"

namespace fastgen {
namespace reparameterize {
namespace {

using ForwardOp = std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                  const std::optional<at::Tensor>&,
                                                                  std::optional<int64_t>);
using BackwardOp = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                      const at::Tensor&, const std::optional<at::Tensor>&,
                                                      const at::Tensor&);

// grad_z as the backward op takes it: one element when it is one value broadcast to every element
// (no gradient, or that of z.sum()), else contiguous; materialising the broadcast would cost a
// tensor the size of z.
at::Tensor compact(const at::Tensor& grad_z, const at::Tensor& mu) {
  if (!grad_z.defined()) return at::zeros({1}, mu.options());
  // Symbolic sizes (torch.compile with dynamic shapes) compare as well as concrete ones.
  bool broadcast = grad_z.sym_numel() > 1;
  for (const c10::SymInt& stride : grad_z.sym_strides()) broadcast = broadcast && stride == 0;
  return broadcast ? grad_z.as_strided({1}, {1}) : grad_z.contiguous();
}

// The backward op as a node of its own, whose derivative is refused.
struct BackwardFunction : torch::autograd::Function<BackwardFunction> {
  static variable_list forward(AutogradContext*, const at::Tensor& grad_z, const at::Tensor& grad_kl,
                               const at::Tensor& mu, const at::Tensor& logvar, const std::optional<at::Tensor>& eps,
                               const at::Tensor& rng_state) {
    static const auto op = find_op<BackwardOp>("fastgen::_reparameterize_backward");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    const auto [grad_mu, grad_logvar] = op.call(grad_z, grad_kl, mu, logvar, eps, rng_state);
    return {grad_mu, grad_logvar};
  }
  static variable_list backward(AutogradContext*, const variable_list&) {
    refuse_double_backward("fastgen::reparameterize");
  }
};

struct ForwardFunction : torch::autograd::Function<ForwardFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& mu, const at::Tensor& logvar,
                               const std::optional<at::Tensor>& eps, std::optional<int64_t> seed) {
    static const auto op = find_op<ForwardOp>("fastgen::reparameterize");
    const at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [z, kl, rng_state] = op.call(mu, logvar, eps, seed);
    ctx->save_for_backward({mu, logvar, eps.value_or(at::Tensor()), rng_state});
    ctx->mark_non_differentiable({rng_state});
    ctx->set_materialize_grads(false);  // an unused z or kl gets no gradient tensor (see compact)
    return {z, kl, rng_state};
  }

  static variable_list backward(AutogradContext* ctx, const variable_list& grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &mu = saved[0], &logvar = saved[1], &eps = saved[2], &rng_state = saved[3];
    const at::Tensor grad_z = compact(grads[0], mu);
    const at::Tensor grad_kl =
        grads[1].defined() ? grads[1].contiguous() : at::zeros_symint(mu.sym_sizes().slice(0, mu.dim() - 1), mu.options());
    const std::optional<at::Tensor> given_eps = eps.defined() ? std::optional<at::Tensor>(eps) : std::nullopt;
    const variable_list grad = BackwardFunction::apply(grad_z, grad_kl, mu, logvar, given_eps, rng_state);
    // eps is usually a constant; if the caller made it require grad, dz/deps = std. Its edge is
    // the third only when eps was given.
    at::Tensor grad_eps;
    if (eps.defined() && ctx->needs_input_grad(2)) grad_eps = grad_z.mul(logvar.mul(0.5).exp());
    return {grad[0], grad[1], grad_eps, at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> reparameterize_autograd(const at::Tensor& mu, const at::Tensor& logvar,
                                                                       const std::optional<at::Tensor>& eps,
                                                                       std::optional<int64_t> seed) {
  const variable_list out = ForwardFunction::apply(mu, logvar, eps, seed);
  return {out[0], out[1], out[2]};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, Autograd, m) { m.impl("reparameterize", &reparameterize_autograd); }

}  // namespace reparameterize
}  // namespace fastgen
