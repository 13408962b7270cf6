// Per-element math of the least-squares GAN losses (Mao et al., "Least Squares Generative
// Adversarial Networks", ICCV 2017, eq. 2): a score d against its target label t contributes
//   1/2 (d - t)^2 / count      to the loss (a mean over the count scores), and
//   (d - t) / count            to the gradient of the loss in d,
// both from one read of d. Shared by the CPU loop and the CUDA kernel.
#pragma once

#include <c10/macros/Macros.h>

namespace fastgen {
namespace ls_loss {

template <typename acc_t>
struct Term {
  acc_t loss;  // 1/2 (d - t)^2 / count
  acc_t grad;  // (d - t) / count
};

template <typename acc_t>
C10_HOST_DEVICE inline Term<acc_t> term(acc_t score, acc_t target, acc_t inv_count) {
  const acc_t diff = score - target;
  return {acc_t(0.5) * diff * diff * inv_count, diff * inv_count};
}

}  // namespace ls_loss
}  // namespace fastgen
