// CPU helper: fill a short block of consecutive Philox normals. The integer rounds run in a
// loop of their own so that the compiler vectorizes them; the per-element math is still the
// shared philox.h code, so the numbers are those of every other backend.
#pragma once

#include <cstdint>

#include "common/philox.h"

namespace fastgen {

constexpr int64_t kPhiloxBlock = 256;

template <typename T>
inline void philox_normal_block(uint64_t seed, uint64_t offset, int64_t n, T* out) {
  float u1[kPhiloxBlock], u2[kPhiloxBlock];
  for (int64_t i = 0; i < n; ++i) {
    const Philox4 r = philox4x32_10(seed, offset + static_cast<uint64_t>(i));
    u1[i] = uint_to_uniform(r.x);
    u2[i] = uint_to_uniform(r.y);
  }
  for (int64_t i = 0; i < n; ++i) {
    const float a = u1[i] > 1.0e-7f ? u1[i] : 1.0e-7f;
    out[i] = static_cast<T>(sqrtf(-2.0f * logf(a)) * cosf(6.283185307179586f * u2[i]));
  }
}

}  // namespace fastgen
