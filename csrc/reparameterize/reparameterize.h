// Per-element math of the VAE reparameterization and its KL term (Kingma & Welling, 2014):
//   z  = mu + exp(logvar / 2) * eps,            eps ~ N(0, 1) from Philox(seed, offset)
//   kl = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))      (one value per row)
// Called by both the CPU loop and the CUDA kernel; everything is computed in float32.
#pragma once

#include "common/philox.h"

namespace fastgen {
namespace reparameterize {

struct Forward {
  float z;
  float kl_term;  // -1/2 (1 + logvar - mu^2 - exp(logvar)); a row's kl is the sum of these
};

C10_HOST_DEVICE inline Forward forward(float mu, float logvar, float eps) {
  const float var = expf(logvar);
  const float std = expf(0.5f * logvar);
  return {mu + std * eps, -0.5f * (1.0f + logvar - mu * mu - var)};
}

struct Backward {
  float grad_mu;
  float grad_logvar;
};

// d z/d mu = 1, d z/d logvar = eps * std / 2, d kl/d mu = mu, d kl/d logvar = (exp(logvar) - 1) / 2.
C10_HOST_DEVICE inline Backward backward(float grad_z, float grad_kl, float mu, float logvar, float eps) {
  const float var = expf(logvar);
  const float std = expf(0.5f * logvar);
  return {grad_z + grad_kl * mu, 0.5f * (grad_z * eps * std + grad_kl * (var - 1.0f))};
}

}  // namespace reparameterize
}  // namespace fastgen
