// Per-element math of the VAE reparameterization and its KL term (Kingma & Welling, 2014):
//   z  = mu + exp(logvar / 2) * eps,            eps ~ N(0, 1) from Philox(seed, offset)
//   kl = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))      (one value per row)
// Called by both the CPU loop and the CUDA kernel. acc_t is float for float32/16/bf16 inputs
// and double for float64 (gradcheck); the noise itself is always Philox float32.
#pragma once

#include "common/math.h"
#include "common/philox.h"

namespace fastgen {
namespace reparameterize {

template <typename acc_t>
struct Forward {
  acc_t z;
  acc_t kl_term;  // -1/2 (1 + logvar - mu^2 - exp(logvar)); a row's kl is the sum of these
};

template <typename acc_t>
C10_HOST_DEVICE inline Forward<acc_t> forward(acc_t mu, acc_t logvar, acc_t eps) {
  const acc_t var = exp_(logvar);
  const acc_t std = exp_(acc_t(0.5) * logvar);
  return {mu + std * eps, acc_t(-0.5) * (acc_t(1) + logvar - mu * mu - var)};
}

template <typename acc_t>
struct Backward {
  acc_t grad_mu;
  acc_t grad_logvar;
};

// dz/dmu = 1, dz/dlogvar = eps * std / 2, dkl/dmu = mu, dkl/dlogvar = (exp(logvar) - 1) / 2.
template <typename acc_t>
C10_HOST_DEVICE inline Backward<acc_t> backward(acc_t grad_z, acc_t grad_kl, acc_t mu, acc_t logvar, acc_t eps) {
  const acc_t var = exp_(logvar);
  const acc_t std = exp_(acc_t(0.5) * logvar);
  return {grad_z + grad_kl * mu, acc_t(0.5) * (grad_z * eps * std + grad_kl * (var - acc_t(1)))};
}

}  // namespace reparameterize
}  // namespace fastgen
