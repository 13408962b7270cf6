// Host/device helpers for the .cu files: kept free of ATen so that nvcc compiles them quickly.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace fastgen {

constexpr int kWarp = 32;

template <typename T>
__device__ inline T warp_sum(T value) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

inline unsigned ceil_div(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace fastgen

// Explicit instantiation of a launcher template for the three floating types fastgen accepts.
#define FASTGEN_INSTANTIATE_FLOATING(MACRO) \
  MACRO(double)                             \
  MACRO(float)                              \
  MACRO(c10::Half)                          \
  MACRO(c10::BFloat16)
