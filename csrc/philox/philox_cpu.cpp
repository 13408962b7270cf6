// Philox streams on the CPU: out[i] = uniform/normal(seed, offsets[i]).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "common/philox.h"

namespace fastgen {
namespace {

template <typename Draw>
at::Tensor draw(const at::Tensor& offsets, int64_t seed, Draw fn) {
  TORCH_CHECK(offsets.scalar_type() == at::kLong, "offsets must be int64, got ", offsets.scalar_type());
  const at::Tensor offs = offsets.contiguous();
  at::Tensor out = at::empty(offs.sizes(), offs.options().dtype(at::kFloat));
  const int64_t* in = offs.data_ptr<int64_t>();
  float* dst = out.data_ptr<float>();
  const uint64_t key = static_cast<uint64_t>(seed);
  at::parallel_for(0, offs.numel(), 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = fn(key, static_cast<uint64_t>(in[i]));
  });
  return out;
}

at::Tensor uniform_cpu(const at::Tensor& offsets, int64_t seed) {
  return draw(offsets, seed, philox_uniform);
}

at::Tensor normal_cpu(const at::Tensor& offsets, int64_t seed) {
  return draw(offsets, seed, philox_normal);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("philox_uniform", &uniform_cpu);
  m.impl("philox_normal", &normal_cpu);
}

}  // namespace fastgen
