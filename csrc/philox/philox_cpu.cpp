// Philox streams on the CPU: out[i] = uniform/normal(seed, offsets[i]). Runs of consecutive
// offsets (the common case) are drawn by the vectorized block functions.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "common/philox_block.h"

namespace fastgen {
namespace {

using BlockFn = void (*)(uint64_t, uint64_t, int64_t, float*);

at::Tensor draw(const at::Tensor& offsets, int64_t seed, BlockFn block) {
  TORCH_CHECK(offsets.scalar_type() == at::kLong, "offsets must be int64, got ", offsets.scalar_type());
  const at::Tensor offs = offsets.contiguous();
  at::Tensor out = at::empty(offs.sizes(), offs.options().dtype(at::kFloat));
  const int64_t* in = offs.data_ptr<int64_t>();
  float* dst = out.data_ptr<float>();
  const uint64_t key = static_cast<uint64_t>(seed);
  at::parallel_for(0, offs.numel(), 4096, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    while (i < end) {
      // The longest run of consecutive offsets starting at i, up to one block.
      int64_t n = 1;
      const int64_t limit = std::min(kPhiloxBlock, end - i);
      while (n < limit && in[i + n] == in[i] + n) ++n;
      block(key, static_cast<uint64_t>(in[i]), n, dst + i);
      i += n;
    }
  });
  return out;
}

at::Tensor uniform_cpu(const at::Tensor& offsets, int64_t seed) { return draw(offsets, seed, philox_uniform_block); }
at::Tensor normal_cpu(const at::Tensor& offsets, int64_t seed) { return draw(offsets, seed, philox_normal_block); }

}  // namespace

TORCH_LIBRARY_IMPL(fastgen, CPU, m) {
  m.impl("philox_uniform", &uniform_cpu);
  m.impl("philox_normal", &normal_cpu);
}

}  // namespace fastgen
