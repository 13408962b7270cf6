// CPU kernels of the least-squares GAN losses: one pass over each score tensor writes the
// gradient and reduces the loss. float32 scores run a vectorized loop (float32 partial sums per
// block of 4096 scores, blocks accumulated in double: the relative error stays at float32's over
// any count); the threads split tensors of more than 65536 scores.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "common/cpu_vectorize.h"
#include "common/dispatch.h"
#include "common/math.h"
#include "ls_loss/ls_loss.h"
#include "ls_loss/ls_loss_host.h"

namespace fastgen {
namespace ls_loss {
namespace {

constexpr int64_t kBlock = 4096;   // scores per float32 partial sum (then summed in double)
constexpr int64_t kGrain = 65536;  // scores per parallel task: below two tasks' worth, one thread

// float32 scores: writes grad over one block and returns the block's sum of 1/2 (d - t)^2 / count.
// Sixteen partial sums let the loop vectorize (and keep the float32 error at block scale).
FASTGEN_CPU_CLONES float half_square_block(const float* scores, float target, float inv_count, int64_t n,
                                           float* grad) {
  float partial[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 16; ++k) {
      const Term<float> t = term<float>(scores[i + k], target, inv_count);
      grad[i + k] = t.grad;
      partial[k] += t.loss;
    }
  }
  for (; i < n; ++i) {
    const Term<float> t = term<float>(scores[i], target, inv_count);
    grad[i] = t.grad;
    partial[0] += t.loss;
  }
  float sum = 0;
  for (int k = 0; k < 16; ++k) sum += partial[k];
  return sum;
}

// float16, bfloat16 (computed in float32) and float64 (in double), element by element.
template <typename scalar_t>
double half_square_block(const scalar_t* scores, double target, double inv_count, int64_t n, scalar_t* grad) {
  using acc_t = acc_type<scalar_t>;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const Term<acc_t> t = term<acc_t>(static_cast<acc_t>(scores[i]), static_cast<acc_t>(target),
                                      static_cast<acc_t>(inv_count));
    grad[i] = static_cast<scalar_t>(t.grad);
    sum += t.loss;
  }
  return sum;
}

// Writes dloss/dscores into grad and returns this tensor's share of the loss: float32 sums per
// block of kBlock scores, accumulated in double across blocks and threads.
double mean_half_square(const at::Tensor& scores, double target, at::Tensor& grad) {
  double loss = 0;
  FASTGEN_DISPATCH_FLOATING(scores.scalar_type(), "ls_loss_cpu", [&] {
    const scalar_t* d_p = scores.data_ptr<scalar_t>();
    scalar_t* g_p = grad.data_ptr<scalar_t>();
    const int64_t count = scores.numel();
    const double inv_count = 1.0 / static_cast<double>(count);
    auto blocks = [&](int64_t begin, int64_t end, double partial) {
      for (int64_t i = begin; i < end; i += kBlock) {
        const int64_t n = std::min(kBlock, end - i);
        partial += half_square_block(d_p + i, static_cast<acc_type<scalar_t>>(target),
                                     static_cast<acc_type<scalar_t>>(inv_count), n, g_p + i);
      }
      return partial;
    };
    // A small tensor (a discriminator's batch) skips parallel_reduce's setup.
    loss = count <= kGrain ? blocks(0, count, 0.0) : at::parallel_reduce(0, count, kGrain, 0.0, blocks, std::plus<double>());
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
