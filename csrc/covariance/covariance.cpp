// The schemas of the metrics' statistics: the unbiased covariance of x [B, N, d] -> [B, d, d], and
// the shifted moments that streaming statistics accumulate: sum_i (x_i - shift) [B, d] and
// sum_i (x_i - shift)(x_i - shift)^T [B, d, d]. Kernels: covariance_cpu.cpp (and Triton on a GPU:
// fastgen/ops/triton/covariance.py).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(fastgen, m) {
  m.def("covariance(Tensor x) -> Tensor");
  m.def("shifted_moments(Tensor x, Tensor shift) -> (Tensor, Tensor)");
}
