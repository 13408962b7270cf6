// CPU helpers: fill a short block of consecutive Philox numbers, vectorized. The integer rounds
// are the shared philox.h code; Box-Muller uses the vectorizable cpu_math.h functions, so the
// normals agree with the other backends' to a few ulp, the uniforms bit for bit.
#pragma once

#include <cstdint>

namespace fastgen {

constexpr int64_t kPhiloxBlock = 256;

// out[i] = uniform(seed, offset + i) for i < n <= kPhiloxBlock.
void philox_uniform_block(uint64_t seed, uint64_t offset, int64_t n, float* out);

// out[i] = normal(seed, offset + i) for i < n <= kPhiloxBlock.
void philox_normal_block(uint64_t seed, uint64_t offset, int64_t n, float* out);

}  // namespace fastgen
