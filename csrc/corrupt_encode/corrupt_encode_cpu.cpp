// CPU kernels of fastgen::corrupt_encode and its backward. The batch is processed in chunks of
// rows; for each chunk the masked input x~ is written into a transient tile (the Philox
// uniforms drawn once, in parallel over rows), and the GEMMs run on whole chunks through
// at::mm (MKL, all threads), writing into the outputs directly: h rows forward, grad_x rows and
// grad_W (accumulated chunk by chunk with beta = 1) backward. Neither the mask nor x~ outlives
// its chunk; backward draws the mask again from Philox, once for both of its GEMMs.
//
// The earlier design (one 64-row tile per task, a single-threaded GEMM per tile, the mask drawn
// three times per step and drawn with branches) ran 1.3-1.5x slower than plain PyTorch: the
// chunked GEMMs pack W once per chunk instead of once per 64 rows, backward draws the uniforms
// once for both GEMMs, and the elementwise loops are branch-free and vectorized. What remains
// above the three GEMMs is mostly the Philox draws (bench/RESULTS.md).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "common/cpu_vectorize.h"
#include "common/dispatch.h"
#include "common/philox_block.h"
#include "corrupt_encode/corrupt_encode.h"
#include "corrupt_encode/corrupt_encode_host.h"
#include "corrupt_encode/corrupt_encode_mask.h"

namespace fastgen {
namespace corrupt_encode {
namespace {

// Rows per chunk: each GEMM large enough for MKL to run at its full rate on every thread, and
// grad_W's accumulation (read and written once per chunk) rare; the transient tiles (x~, the
// mask, dpre: 2 MiB at 784 -> 1024) bounded whatever the batch. Measured at 1024 x 784 -> 1024,
// one thread: chunks of 128, 512 and 1024 rows within 5 % of each other.
constexpr int64_t kChunkRows = 256;
constexpr int64_t kRowsPerTask = 4;  // parallel_for grain over the rows of a chunk

// The elementwise loops, written once as templates; float32 (the common case) runs them
// through clones compiled per ISA (FASTGEN_CPU_CLONES), where GCC vectorizes them. Selections
// are ternaries on values, not branches: the mask is random, a branch would mispredict.

// h = sigmoid(pre + b) over one row.
template <typename scalar_t, typename acc_t>
inline void encode_row_impl(const acc_t* pre, const scalar_t* bias, int64_t n, scalar_t* h) {
  for (int64_t k = 0; k < n; ++k) h[k] = static_cast<scalar_t>(encode(pre[k], static_cast<acc_t>(bias[k])));
}

// x~ = keep ? x : 0 and, unless kept is null, keep itself, for n elements with their uniforms.
template <typename scalar_t, typename acc_t>
inline void mask_block_impl(const scalar_t* x, const float* uniforms, float corruption, int64_t n, acc_t* x_tilde,
                            uint8_t* kept) {
  if (kept == nullptr) {  // forward, and a backward without grad_x: only the GEMMs read the mask
    for (int64_t j = 0; j < n; ++j) x_tilde[j] = keep(uniforms[j], corruption) ? static_cast<acc_t>(x[j]) : acc_t(0);
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    const bool k = keep(uniforms[j], corruption);
    x_tilde[j] = k ? static_cast<acc_t>(x[j]) : acc_t(0);
    kept[j] = k;
  }
}

// dpre = grad_h * h (1 - h).
template <typename scalar_t, typename acc_t>
inline void pre_gradient_impl(const scalar_t* grad_h, const scalar_t* h, int64_t n, acc_t* dpre) {
  for (int64_t i = 0; i < n; ++i) dpre[i] = pre_gradient(static_cast<acc_t>(grad_h[i]), static_cast<acc_t>(h[i]));
}

// grad_x = keep ? g : 0.
template <typename scalar_t, typename acc_t>
inline void masked_gradient_impl(const acc_t* g, const uint8_t* kept, int64_t n, scalar_t* grad_x) {
  for (int64_t i = 0; i < n; ++i) grad_x[i] = static_cast<scalar_t>(kept[i] ? g[i] : acc_t(0));
}

FASTGEN_CPU_CLONES void encode_row_f32(const float* pre, const float* bias, int64_t n, float* h) {
  encode_row_impl(pre, bias, n, h);
}
FASTGEN_CPU_CLONES void mask_block_f32(const float* x, const float* uniforms, float corruption, int64_t n,
                                       float* x_tilde, uint8_t* kept) {
  mask_block_impl(x, uniforms, corruption, n, x_tilde, kept);
}
FASTGEN_CPU_CLONES void pre_gradient_f32(const float* grad_h, const float* h, int64_t n, float* dpre) {
  pre_gradient_impl(grad_h, h, n, dpre);
}
FASTGEN_CPU_CLONES void masked_gradient_f32(const float* g, const uint8_t* kept, int64_t n, float* grad_x) {
  masked_gradient_impl(g, kept, n, grad_x);
}

// Each loop for any dtype: the float32 clone when scalar_t is float, the template otherwise.
template <typename scalar_t, typename acc_t>
void encode_row(const acc_t* pre, const scalar_t* bias, int64_t n, scalar_t* h) {
  if constexpr (std::is_same_v<scalar_t, float>) encode_row_f32(pre, bias, n, h);
  else encode_row_impl(pre, bias, n, h);
}
template <typename scalar_t, typename acc_t>
void mask_block(const scalar_t* x, const float* uniforms, float corruption, int64_t n, acc_t* x_tilde,
                uint8_t* kept) {
  if constexpr (std::is_same_v<scalar_t, float>) mask_block_f32(x, uniforms, corruption, n, x_tilde, kept);
  else mask_block_impl(x, uniforms, corruption, n, x_tilde, kept);
}
template <typename scalar_t, typename acc_t>
void pre_gradient_rows(const scalar_t* grad_h, const scalar_t* h, int64_t n, acc_t* dpre) {
  if constexpr (std::is_same_v<scalar_t, float>) pre_gradient_f32(grad_h, h, n, dpre);
  else pre_gradient_impl(grad_h, h, n, dpre);
}
template <typename scalar_t, typename acc_t>
void masked_gradient(const acc_t* g, const uint8_t* kept, int64_t n, scalar_t* grad_x) {
  if constexpr (std::is_same_v<scalar_t, float>) masked_gradient_f32(g, kept, n, grad_x);
  else masked_gradient_impl(g, kept, n, grad_x);
}

// The rows [r0, r0 + rows) of x~ into tile and (unless keep_tile is null) their mask into
// keep_tile, in parallel over rows, each row's uniforms drawn a Philox block at a time.
template <typename scalar_t, typename acc_t>
void mask_rows(const scalar_t* x, int64_t n_visible, int64_t r0, int64_t rows, const PhiloxKey& key, float corruption,
               acc_t* tile, uint8_t* keep_tile) {
  at::parallel_for(0, rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
    float uniforms[kPhiloxBlock];
    for (int64_t i = begin; i < end; ++i) {
      const int64_t r = r0 + i;
      for (int64_t j0 = 0; j0 < n_visible; j0 += kPhiloxBlock) {
        const int64_t count = std::min(kPhiloxBlock, n_visible - j0);
        philox_uniform_block(key.seed, key.base + static_cast<uint64_t>(r * n_visible + j0), count, uniforms);
        const int64_t at = i * n_visible + j0;
        mask_block(x + r * n_visible + j0, uniforms, corruption, count, tile + at,
                   keep_tile != nullptr ? keep_tile + at : nullptr);
      }
    }
  });
}

// A view of `rows` rows of a transient [kChunkRows, cols] tile.
at::Tensor rows_of(const at::Tensor& tile, int64_t rows) { return tile.narrow(0, 0, rows); }

std::tuple<at::Tensor, at::Tensor> forward_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                               double corruption, std::optional<int64_t> seed) {
  const auto [n, n_visible, n_hidden] = check_forward(x, weight, bias, corruption);
  const at::Tensor w = weight.to(acc_dtype(x));  // no copy for float32 and float64
  at::Tensor h = at::empty({n, n_hidden}, x.options());
  const PhiloxKey key = cpu_key(seed, "corrupt_encode");
  const float c = static_cast<float>(corruption);
  const int64_t chunk = std::min(kChunkRows, n);

  FASTGEN_DISPATCH_FLOATING(x.scalar_type(), "corrupt_encode_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    constexpr bool in_place = std::is_same_v<scalar_t, acc_t>;  // the GEMM writes h directly
    const at::Tensor x_tile = at::empty({chunk, n_visible}, w.options());
    const at::Tensor pre_tile = in_place ? at::Tensor() : at::empty({chunk, n_hidden}, w.options());
    const scalar_t* b_p = bias.data_ptr<scalar_t>();
    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t rows = std::min(chunk, n - r0);
      mask_rows(x.data_ptr<scalar_t>(), n_visible, r0, rows, key, c, x_tile.data_ptr<acc_t>(), nullptr);
      at::Tensor pre = in_place ? h.narrow(0, r0, rows) : rows_of(pre_tile, rows);
      at::mm_out(pre, rows_of(x_tile, rows), w);
      const acc_t* pre_p = pre.data_ptr<acc_t>();
      scalar_t* h_p = h.data_ptr<scalar_t>() + r0 * n_hidden;
      at::parallel_for(0, rows, kRowsPerTask, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) encode_row(pre_p + i * n_hidden, b_p, n_hidden, h_p + i * n_hidden);
      });
    }
  });
  return {h, cpu_record(key)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(const at::Tensor& grad_h, const at::Tensor& h,
                                                            const at::Tensor& x, const at::Tensor& weight,
                                                            double corruption, const at::Tensor& rng_state,
                                                            bool grad_x_needed) {
  const auto [n, n_visible, n_hidden] = check_backward(grad_h, h, x, weight, corruption);
  const at::Tensor w = weight.to(acc_dtype(x));
  const at::TensorOptions acc_options = w.options();
  at::Tensor grad_x = grad_x_needed ? at::empty_like(x) : at::empty({0}, x.options());
  at::Tensor grad_w = at::empty({n_visible, n_hidden}, acc_options);
  at::Tensor grad_b = at::zeros({n_hidden}, acc_options);
  const PhiloxKey key = cpu_recorded_key(rng_state, x);
  const float c = static_cast<float>(corruption);
  const int64_t chunk = std::max<int64_t>(1, std::min(kChunkRows, n));
  if (n == 0) grad_w.zero_();

  FASTGEN_DISPATCH_FLOATING(x.scalar_type(), "corrupt_encode_backward_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    constexpr bool in_place = std::is_same_v<scalar_t, acc_t>;  // the GEMM writes grad_x directly
    const at::Tensor x_tile = at::empty({chunk, n_visible}, acc_options);
    // The mask itself is read only by grad_x's epilogue.
    const at::Tensor keep_tile =
        grad_x_needed ? at::empty({chunk, n_visible}, x.options().dtype(at::kByte)) : at::Tensor();
    const at::Tensor dpre_tile = at::empty({chunk, n_hidden}, acc_options);
    const bool gx_in_place = in_place || !grad_x_needed;  // no tile when grad_x is written directly or skipped
    const at::Tensor gx_tile = gx_in_place ? at::Tensor() : at::empty({chunk, n_visible}, acc_options);
    const scalar_t* gh_p = grad_h.data_ptr<scalar_t>();
    const scalar_t* h_p = h.data_ptr<scalar_t>();
    acc_t* dpre_p = dpre_tile.data_ptr<acc_t>();
    uint8_t* keep_p = grad_x_needed ? keep_tile.data_ptr<uint8_t>() : nullptr;

    for (int64_t r0 = 0; r0 < n; r0 += chunk) {
      const int64_t rows = std::min(chunk, n - r0);
      // dpre = grad_h * h (1 - h), and x~ with its mask, for this chunk.
      at::parallel_for(0, rows * n_hidden, kRowsPerTask * n_hidden, [&](int64_t begin, int64_t end) {
        const int64_t base = r0 * n_hidden;
        pre_gradient_rows(gh_p + base + begin, h_p + base + begin, end - begin, dpre_p + begin);
      });
      mask_rows(x.data_ptr<scalar_t>(), n_visible, r0, rows, key, c, x_tile.data_ptr<acc_t>(), keep_p);
      const at::Tensor dpre = rows_of(dpre_tile, rows);

      const at::Tensor x_tilde_t = rows_of(x_tile, rows).t();
      if (r0 == 0) {
        at::mm_out(grad_w, x_tilde_t, dpre);  // grad_W = x~^T dpre over the first chunk,
      } else {
        grad_w.addmm_(x_tilde_t, dpre);  // then += for each further chunk
      }
      grad_b.add_(dpre.sum(0));
      if (!grad_x_needed) continue;

      // grad_x = (dpre W^T) * keep
      at::Tensor gx = in_place ? grad_x.narrow(0, r0, rows) : rows_of(gx_tile, rows);
      at::mm_out(gx, dpre, w.t());
      const acc_t* gx_p = gx.data_ptr<acc_t>();
      scalar_t* out_p = grad_x.data_ptr<scalar_t>() + r0 * n_visible;
      at::parallel_for(0, rows * n_visible, kRowsPerTask * n_visible, [&](int64_t begin, int64_t end) {
        masked_gradient(gx_p + begin, keep_p + begin, end - begin, out_p + begin);
      });
    }
  });
  return {grad_x, grad_w.to(weight.scalar_type()), grad_b.to(weight.scalar_type())};
}

}  // namespace

void apply_mask_cpu(const at::Tensor& in, const at::Tensor& out, double corruption, const at::Tensor& rng_state) {
  check_mask_arguments(in, out);
  const PhiloxKey key = cpu_recorded_key(rng_state, in);
  FASTGEN_DISPATCH_FLOATING(in.scalar_type(), "corrupt_encode_mask_cpu", [&] {
    mask_rows(in.data_ptr<scalar_t>(), in.size(1), 0, in.size(0), key, static_cast<float>(corruption),
              out.data_ptr<acc_type<scalar_t>>(), nullptr);
  });
}

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("corrupt_encode", &forward_cpu);
  m.impl("_corrupt_encode_backward", &backward_cpu);
}

}  // namespace corrupt_encode
}  // namespace fastgen
