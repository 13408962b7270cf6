// CPU kernels of fastgen::reparameterize and its backward: one pass over [rows, d] in blocks of
// kPhiloxBlock elements; the noise is drawn (forward) and drawn again (backward) from Philox
// into a stack buffer, never stored. The float32 arithmetic runs in vectorized block
// functions; float16/bfloat16 are converted to float32 blocks around them, float64 stays double.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <tuple>
#include <type_traits>

#include "common/cpu_vectorize.h"
#include "common/dispatch.h"
#include "common/philox_block.h"
#include "reparameterize/reparameterize.h"
#include "reparameterize/reparameterize_host.h"

namespace fastgen {
namespace reparameterize {
namespace {

FASTGEN_CPU_CLONES void forward_block(const float* mu, const float* logvar, const float* eps, float* z,
                                      float* kl_terms, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto r = forward<float>(mu[i], logvar[i], eps[i]);
    z[i] = r.z;
    kl_terms[i] = r.kl_term;
  }
}

FASTGEN_CPU_CLONES void backward_block(const float* grad_z, float grad_kl, const float* mu, const float* logvar,
                                       const float* eps, float* grad_mu, float* grad_logvar, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const auto g = backward<float>(grad_z[i], grad_kl, mu[i], logvar[i], eps[i]);
    grad_mu[i] = g.grad_mu;
    grad_logvar[i] = g.grad_logvar;
  }
}

// Sums a block with eight partial sums: vectorizable and more accurate than one running sum.
inline float block_sum(const float* values, int64_t n) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) partial[k] += values[i + k];
  for (; i < n; ++i) partial[0] += values[i];
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

// A float32 view of n elements of src: the pointer itself for float, else a converted copy.
template <typename scalar_t>
inline const float* as_float(const scalar_t* src, int64_t n, float* buffer) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    return src;
  } else {
    for (int64_t i = 0; i < n; ++i) buffer[i] = static_cast<float>(src[i]);
    return buffer;
  }
}

template <typename scalar_t>
inline float* float_out(scalar_t* dst, float* buffer) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    return dst;
  } else {
    return buffer;
  }
}

template <typename scalar_t>
inline void store(const float* values, int64_t n, scalar_t* dst) {
  if constexpr (!std::is_same_v<scalar_t, float>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<scalar_t>(values[i]);
  }
}

template <typename scalar_t>
inline const float* noise_block(const scalar_t* eps, const PhiloxKey& key, int64_t base, int64_t n, float* buffer) {
  if (eps != nullptr) return as_float(eps + base, n, buffer);
  philox_normal_block(key.seed, key.base + static_cast<uint64_t>(base), n, buffer);
  return buffer;
}

int64_t grain_rows(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(d, 1)); }

template <typename scalar_t>
void forward_rows(const scalar_t* mu, const scalar_t* logvar, const scalar_t* eps, scalar_t* z, scalar_t* kl,
                  int64_t rows, int64_t d, const PhiloxKey& key) {
  at::parallel_for(0, rows, grain_rows(d), [&](int64_t row_begin, int64_t row_end) {
    float mu_buf[kPhiloxBlock], lv_buf[kPhiloxBlock], noise_buf[kPhiloxBlock], z_buf[kPhiloxBlock];
    float kl_terms[kPhiloxBlock];
    for (int64_t row = row_begin; row < row_end; ++row) {
      float kl_sum = 0.0f;
      for (int64_t j0 = 0; j0 < d; j0 += kPhiloxBlock) {
        const int64_t n = std::min(kPhiloxBlock, d - j0);
        const int64_t base = row * d + j0;
        const float* noise = noise_block(eps, key, base, n, noise_buf);
        float* z_out = float_out(z + base, z_buf);
        forward_block(as_float(mu + base, n, mu_buf), as_float(logvar + base, n, lv_buf), noise, z_out, kl_terms, n);
        store(z_out, n, z + base);
        kl_sum += block_sum(kl_terms, n);
      }
      kl[row] = static_cast<scalar_t>(kl_sum);
    }
  });
}

template <typename scalar_t>
void backward_rows(const scalar_t* grad_z, int64_t gz_stride, const scalar_t* grad_kl, const scalar_t* mu,
                   const scalar_t* logvar, const scalar_t* eps, scalar_t* grad_mu, scalar_t* grad_logvar, int64_t rows,
                   int64_t d, const PhiloxKey& key) {
  at::parallel_for(0, rows, grain_rows(d), [&](int64_t row_begin, int64_t row_end) {
    float gz_buf[kPhiloxBlock], mu_buf[kPhiloxBlock], lv_buf[kPhiloxBlock], noise_buf[kPhiloxBlock];
    float gmu_buf[kPhiloxBlock], glv_buf[kPhiloxBlock];
    if (gz_stride == 0) std::fill(gz_buf, gz_buf + kPhiloxBlock, static_cast<float>(grad_z[0]));
    for (int64_t row = row_begin; row < row_end; ++row) {
      const float gkl = static_cast<float>(grad_kl[row]);
      for (int64_t j0 = 0; j0 < d; j0 += kPhiloxBlock) {
        const int64_t n = std::min(kPhiloxBlock, d - j0);
        const int64_t base = row * d + j0;
        const float* noise = noise_block(eps, key, base, n, noise_buf);
        float* gmu_out = float_out(grad_mu + base, gmu_buf);
        float* glv_out = float_out(grad_logvar + base, glv_buf);
        const float* gz = gz_stride ? as_float(grad_z + base, n, gz_buf) : gz_buf;
        backward_block(gz, gkl, as_float(mu + base, n, mu_buf),
                       as_float(logvar + base, n, lv_buf), noise, gmu_out, glv_out, n);
        store(gmu_out, n, grad_mu + base);
        store(glv_out, n, grad_logvar + base);
      }
    }
  });
}

// float64 (gradcheck): the same shared math in double, element by element (overloads of the
// templates above, chosen by overload resolution).
void forward_rows(const double* mu, const double* logvar, const double* eps, double* z, double* kl,
                         int64_t rows, int64_t d, const PhiloxKey& key) {
  at::parallel_for(0, rows, grain_rows(d), [&](int64_t row_begin, int64_t row_end) {
    for (int64_t row = row_begin; row < row_end; ++row) {
      double kl_sum = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const int64_t i = row * d + j;
        const double noise = eps ? eps[i] : philox_normal(key.seed, key.base + static_cast<uint64_t>(i));
        const auto r = forward<double>(mu[i], logvar[i], noise);
        z[i] = r.z;
        kl_sum += r.kl_term;
      }
      kl[row] = kl_sum;
    }
  });
}

void backward_rows(const double* grad_z, int64_t gz_stride, const double* grad_kl, const double* mu,
                   const double* logvar, const double* eps, double* grad_mu, double* grad_logvar, int64_t rows,
                   int64_t d, const PhiloxKey& key) {
  at::parallel_for(0, rows, grain_rows(d), [&](int64_t row_begin, int64_t row_end) {
    for (int64_t row = row_begin; row < row_end; ++row) {
      for (int64_t j = 0; j < d; ++j) {
        const int64_t i = row * d + j;
        const double noise = eps ? eps[i] : philox_normal(key.seed, key.base + static_cast<uint64_t>(i));
        const auto g = backward<double>(grad_z[i * gz_stride], grad_kl[row], mu[i], logvar[i], noise);
        grad_mu[i] = g.grad_mu;
        grad_logvar[i] = g.grad_logvar;
      }
    }
  });
}

template <typename T>
const T* optional_ptr(const std::optional<at::Tensor>& t) {
  return t ? t->data_ptr<T>() : nullptr;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cpu(const at::Tensor& mu, const at::Tensor& logvar,
                                                           const std::optional<at::Tensor>& eps,
                                                           std::optional<int64_t> seed) {
  const Layout layout = check_forward(mu, logvar, eps);
  const PhiloxKey key = cpu_key(seed, "reparameterize");
  at::Tensor z = at::empty_like(mu);
  at::Tensor kl = empty_kl(mu);
  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_cpu", [&] {
    // Overload resolution picks the double version for float64, the block template otherwise.
    forward_rows(mu.data_ptr<scalar_t>(), logvar.data_ptr<scalar_t>(), optional_ptr<scalar_t>(eps),
                 z.data_ptr<scalar_t>(), kl.data_ptr<scalar_t>(), layout.rows, layout.d, key);
  });
  return {z, kl, cpu_record(key)};
}

std::tuple<at::Tensor, at::Tensor> backward_cpu(const at::Tensor& grad_z, const at::Tensor& grad_kl,
                                                const at::Tensor& mu, const at::Tensor& logvar,
                                                const std::optional<at::Tensor>& eps,
                                                const at::Tensor& rng_state) {
  const Layout layout = check_backward(grad_z, grad_kl, mu, logvar, eps);
  const PhiloxKey key = cpu_recorded_key(rng_state, mu);
  at::Tensor grad_mu = at::empty_like(mu);
  at::Tensor grad_logvar = at::empty_like(mu);
  FASTGEN_DISPATCH_FLOATING(mu.scalar_type(), "reparameterize_backward_cpu", [&] {
    backward_rows(grad_z.data_ptr<scalar_t>(), layout.grad_z_stride, grad_kl.data_ptr<scalar_t>(), mu.data_ptr<scalar_t>(),
                  logvar.data_ptr<scalar_t>(), optional_ptr<scalar_t>(eps), grad_mu.data_ptr<scalar_t>(),
                  grad_logvar.data_ptr<scalar_t>(), layout.rows, layout.d, key);
  });
  return {grad_mu, grad_logvar};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("reparameterize", &forward_cpu);
  m.impl("_reparameterize_backward", &backward_cpu);
}

}  // namespace reparameterize
}  // namespace fastgen
