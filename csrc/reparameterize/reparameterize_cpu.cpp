// CPU kernels of fastgen::reparameterize and its backward: one pass over [rows, d], the noise
// drawn (forward) and drawn again (backward) from Philox in blocks, never stored.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "common/dispatch.h"
#include "common/philox_block.h"
#include "reparameterize/reparameterize.h"
#include "reparameterize/reparameterize_host.h"

namespace fastgen {
namespace {

int64_t grain_rows(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(d, 1)); }

// Loads the noise of elements [base, base + n): either the given eps or Philox(seed, offset).
template <typename scalar_t, typename acc_t>
inline void load_noise(const scalar_t* eps, uint64_t seed, int64_t base, int64_t n, acc_t* out) {
  if (eps != nullptr) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<acc_t>(eps[base + i]);
  } else {
    philox_normal_block(seed, static_cast<uint64_t>(base), n, out);
  }
}

std::tuple<at::Tensor, at::Tensor> forward_cpu(const at::Tensor& mu, const at::Tensor& logvar,
                                               const std::optional<at::Tensor>& eps, int64_t seed) {
  const auto [rows, d] = reparameterize::check_forward(mu, logvar, eps);
  at::Tensor z = at::empty_like(mu);
  at::Tensor kl = reparameterize::empty_kl(mu);
  const uint64_t key = seed_bits(seed);

  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    const scalar_t* mu_p = mu.data_ptr<scalar_t>();
    const scalar_t* lv_p = logvar.data_ptr<scalar_t>();
    const scalar_t* eps_p = eps ? eps->data_ptr<scalar_t>() : nullptr;
    scalar_t* z_p = z.data_ptr<scalar_t>();
    scalar_t* kl_p = kl.data_ptr<scalar_t>();
    at::parallel_for(0, rows, grain_rows(d), [&](int64_t row_begin, int64_t row_end) {
      acc_t noise[kPhiloxBlock];
      for (int64_t row = row_begin; row < row_end; ++row) {
        acc_t kl_sum = 0;
        for (int64_t j0 = 0; j0 < d; j0 += kPhiloxBlock) {
          const int64_t n = std::min(kPhiloxBlock, d - j0);
          const int64_t base = row * d + j0;
          load_noise(eps_p, key, base, n, noise);
          for (int64_t j = 0; j < n; ++j) {
            const auto r = reparameterize::forward<acc_t>(static_cast<acc_t>(mu_p[base + j]),
                                                   static_cast<acc_t>(lv_p[base + j]), noise[j]);
            z_p[base + j] = static_cast<scalar_t>(r.z);
            kl_sum += r.kl_term;
          }
        }
        kl_p[row] = static_cast<scalar_t>(kl_sum);
      }
    });
  });
  return {z, kl};
}

std::tuple<at::Tensor, at::Tensor> backward_cpu(const at::Tensor& grad_z, const at::Tensor& grad_kl,
                                                const at::Tensor& mu, const at::Tensor& logvar,
                                                const std::optional<at::Tensor>& eps, int64_t seed) {
  const auto [rows, d] = reparameterize::check_backward(grad_z, grad_kl, mu, logvar, eps);
  at::Tensor grad_mu = at::empty_like(mu);
  at::Tensor grad_logvar = at::empty_like(mu);
  const uint64_t key = seed_bits(seed);

  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_backward_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    const scalar_t* gz_p = grad_z.data_ptr<scalar_t>();
    const scalar_t* gkl_p = grad_kl.data_ptr<scalar_t>();
    using acc_t = acc_type<scalar_t>;
    const scalar_t* mu_p = mu.data_ptr<scalar_t>();
    const scalar_t* lv_p = logvar.data_ptr<scalar_t>();
    const scalar_t* eps_p = eps ? eps->data_ptr<scalar_t>() : nullptr;
    scalar_t* gmu_p = grad_mu.data_ptr<scalar_t>();
    scalar_t* glv_p = grad_logvar.data_ptr<scalar_t>();
    at::parallel_for(0, rows, grain_rows(d), [&](int64_t row_begin, int64_t row_end) {
      acc_t noise[kPhiloxBlock];
      for (int64_t row = row_begin; row < row_end; ++row) {
        const acc_t gkl = static_cast<acc_t>(gkl_p[row]);
        for (int64_t j0 = 0; j0 < d; j0 += kPhiloxBlock) {
          const int64_t n = std::min(kPhiloxBlock, d - j0);
          const int64_t base = row * d + j0;
          load_noise(eps_p, key, base, n, noise);
          for (int64_t j = 0; j < n; ++j) {
            const auto g = reparameterize::backward<acc_t>(static_cast<acc_t>(gz_p[base + j]), gkl,
                                                    static_cast<acc_t>(mu_p[base + j]),
                                                    static_cast<acc_t>(lv_p[base + j]), noise[j]);
            gmu_p[base + j] = static_cast<scalar_t>(g.grad_mu);
            glv_p[base + j] = static_cast<scalar_t>(g.grad_logvar);
          }
        }
      }
    });
  });
  return {grad_mu, grad_logvar};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("reparameterize", &forward_cpu);
  m.impl("_reparameterize_backward", &backward_cpu);
}

}  // namespace fastgen
