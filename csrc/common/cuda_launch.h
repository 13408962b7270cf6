// Host/device helpers for the .cu files: kept free of ATen so that nvcc compiles them quickly.
#pragma once

#include <ATen/cuda/PhiloxUtils.cuh>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <tuple>

#include "common/philox.h"
#include "common/philox_source.h"

namespace fastgen {

constexpr int kWarp = 32;

template <typename T>
__device__ inline T warp_sum(T value) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// The sum of value over the block, valid in thread 0; every thread of the block must call it
// (blockDim.x a multiple of the warp size, at most 1024). The order of the additions depends
// only on blockDim, so the result is deterministic.
template <typename T>
__device__ inline T block_sum(T value) {
  __shared__ T warp_sums[1024 / kWarp];
  value = warp_sum(value);
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x / kWarp) ? warp_sums[lane] : T(0);
    value = warp_sum(value);
  }
  return value;
}

// The key of this call (see PhiloxSource). Every thread calls it; thread 0 of block 0 records it.
__device__ inline PhiloxKey philox_key(const PhiloxSource& source) {
  if (source.recorded != nullptr) {
    return {static_cast<uint64_t>(source.recorded[0]), static_cast<uint64_t>(source.recorded[1])};
  }
  const auto unpacked = at::cuda::philox::unpack(source.state);
  const PhiloxKey key{std::get<0>(unpacked), std::get<1>(unpacked)};
  if (source.record != nullptr && blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0) {
    source.record[0] = static_cast<int64_t>(key.seed);
    source.record[1] = static_cast<int64_t>(key.base);
  }
  return key;
}

inline unsigned ceil_div(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace fastgen

// Explicit instantiation of a launcher template for the three floating types fastgen accepts.
#define FASTGEN_INSTANTIATE_FLOATING(MACRO) \
  MACRO(double)                             \
  MACRO(float)                              \
  MACRO(c10::Half)                          \
  MACRO(c10::BFloat16)
