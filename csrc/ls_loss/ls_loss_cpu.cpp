// CPU kernels of the least-squares GAN losses: one pass over each score tensor writes the
// gradient and reduces the loss (accumulated in double: D outputs are few, the sum is exact
// enough for any batch).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>

#include "common/dispatch.h"
#include "ls_loss/ls_loss.h"
#include "ls_loss/ls_loss_host.h"

namespace fastgen {
namespace ls_loss {
namespace {

// Writes dloss/dscores into grad and returns this tensor's share of the loss.
double mean_half_square(const at::Tensor& scores, double target, at::Tensor& grad) {
  double loss = 0;
  FASTGEN_DISPATCH_FLOATING(scores.scalar_type(), "ls_loss_cpu", [&] {
    const scalar_t* d_p = scores.data_ptr<scalar_t>();
    scalar_t* g_p = grad.data_ptr<scalar_t>();
    const double inv_count = 1.0 / static_cast<double>(scores.numel());
    loss = at::parallel_reduce(
        0, scores.numel(), 32768, 0.0,
        [&](int64_t begin, int64_t end, double partial) {
          for (int64_t i = begin; i < end; ++i) {
            const Term<double> t = term<double>(static_cast<double>(d_p[i]), target, inv_count);
            g_p[i] = static_cast<scalar_t>(t.grad);
            partial += t.loss;
          }
          return partial;
        },
        std::plus<double>());
  });
  return loss;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> discriminator_cpu(const at::Tensor& d_real, const at::Tensor& d_fake,
                                                                 double a, double b) {
  check_scores(d_real, d_real, "d_real");
  check_scores(d_fake, d_real, "d_fake");
  at::Tensor grad_real = at::empty_like(d_real), grad_fake = at::empty_like(d_fake);
  const double loss = mean_half_square(d_real, b, grad_real) + mean_half_square(d_fake, a, grad_fake);
  return {empty_loss(d_real).fill_(loss), grad_real, grad_fake};
}

std::tuple<at::Tensor, at::Tensor> generator_cpu(const at::Tensor& d_fake, double c) {
  check_scores(d_fake, d_fake, "d_fake");
  at::Tensor grad_fake = at::empty_like(d_fake);
  const double loss = mean_half_square(d_fake, c, grad_fake);
  return {empty_loss(d_fake).fill_(loss), grad_fake};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("ls_discriminator_loss", &discriminator_cpu);
  m.impl("ls_generator_loss", &generator_cpu);
}

}  // namespace ls_loss
}  // namespace fastgen
