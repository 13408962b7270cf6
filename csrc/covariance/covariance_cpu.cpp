// CPU kernels of fastgen::covariance and fastgen::shifted_moments.
//
// Each set is centred (x - shift) into one packed, contiguous buffer, its column sums taken, and
// its Gram product formed with BLAS (addmm) on the upper-triangle tile rows only: G is symmetric,
// so the tiles below the diagonal are mirrored at the end instead of computed. Measured at
// 10,000 x 2048 float32 on the 2-core CI machine: 1.3 s against 2.3 s for the full product; streaming
// the rows in panels of 1,024 or 4,096 (to bound the buffer) was slower (2.0 s and 1.6 s), as the
// short inner dimension starves the GEMM, so the buffer is one set's rows (x's own size).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

namespace fastgen {
namespace {

constexpr int64_t kTile = 512;  // rows of a tile row of G; below 2 tiles the full product is as cheap

void check_input(const at::Tensor& x, const char* op) {
  TORCH_CHECK(x.dim() == 3, op, ": x must be [B, N, d], got ", x.dim(), " dimensions");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(x.device().is_cpu(), op, ": x must be a CPU tensor");
}

// gram += centred^T centred on the tiles (i, j >= i) of gram [d, d]; centred is [rows, d] contiguous.
void add_upper_gram(const at::Tensor& centred, at::Tensor& gram) {
  const int64_t d = centred.size(1);
  if (d < 2 * kTile) {
    gram.addmm_(centred.t(), centred);
    return;
  }
  for (int64_t i = 0; i < d; i += kTile) {
    const int64_t ti = std::min(kTile, d - i);
    const at::Tensor left = centred.narrow(1, i, ti).t();
    // One GEMM per tile row: the tiles (i, i..d) share the left operand.
    at::Tensor out = gram.narrow(0, i, ti).narrow(1, i, d - i);
    out.addmm_(left, centred.narrow(1, i, d - i));
  }
}

// Copies the upper triangle of each [d, d] matrix onto its lower triangle.
void mirror_upper(at::Tensor& gram) {
  gram.copy_(at::triu(gram) + at::triu(gram, 1).transpose(-1, -2));
}

std::tuple<at::Tensor, at::Tensor> shifted_moments_cpu(const at::Tensor& x_in, const at::Tensor& shift_in) {
  check_input(x_in, "shifted_moments");
  TORCH_CHECK(shift_in.dim() == 2 && shift_in.size(0) == x_in.size(0) && shift_in.size(1) == x_in.size(2),
              "shifted_moments: shift must be [B, d] = [", x_in.size(0), ", ", x_in.size(2), "], got ",
              shift_in.sizes());
  TORCH_CHECK(shift_in.scalar_type() == x_in.scalar_type(), "shifted_moments: shift must have x's dtype ",
              x_in.scalar_type(), ", got ", shift_in.scalar_type());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor shift = shift_in.contiguous();
  const int64_t sets = x.size(0), rows = x.size(1), d = x.size(2);
  at::Tensor sums = at::zeros({sets, d}, x.options());
  at::Tensor gram = at::zeros({sets, d, d}, x.options());
  at::Tensor centred = at::empty({rows, d}, x.options());
  for (int64_t b = 0; b < sets; ++b) {
    at::Tensor g = gram.select(0, b);
    at::Tensor s = sums.select(0, b);
    at::sub_out(centred, x.select(0, b), shift.select(0, b));
    at::sum_out(s, centred, 0);
    add_upper_gram(centred, g);
  }
  mirror_upper(gram);
  return {sums, gram};
}

at::Tensor covariance_cpu(const at::Tensor& x) {
  check_input(x, "covariance");
  const int64_t rows = x.size(1);
  TORCH_CHECK(rows >= 2, "covariance: needs at least 2 rows, got ", rows);
  // Centring on the mean makes the correction term s s^T / N vanish up to rounding; it is still
  // subtracted so that the result is exact for whatever mean the rounding produced.
  const at::Tensor mean = x.mean(1);
  auto [sums, gram] = shifted_moments_cpu(x, mean);
  gram.sub_(sums.unsqueeze(2) * sums.unsqueeze(1) / static_cast<double>(rows));
  return gram.div_(static_cast<double>(rows - 1));
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("covariance", &covariance_cpu);
  m.impl("shifted_moments", &shifted_moments_cpu);
}

}  // namespace fastgen
