// Small helpers shared by the CPU and CUDA launchers (host code only).
#pragma once

#include <ATen/ATen.h>

namespace fastgen {

// Float inputs are read as float32, float16 or bfloat16 and computed in float32.
#define FASTGEN_DISPATCH_FLOATING(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

inline uint64_t seed_bits(int64_t seed) { return static_cast<uint64_t>(seed); }

}  // namespace fastgen
