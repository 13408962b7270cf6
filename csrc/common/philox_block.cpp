#include "common/philox_block.h"

#include "common/cpu_math.h"
#include "common/cpu_vectorize.h"
#include "common/philox.h"

namespace fastgen {

FASTGEN_CPU_CLONES void philox_uniform_block(uint64_t seed, uint64_t offset, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = uint_to_uniform(philox4x32_10(seed, offset + static_cast<uint64_t>(i)).x);
}

FASTGEN_CPU_CLONES void philox_normal_block(uint64_t seed, uint64_t offset, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const Philox4 r = philox4x32_10(seed, offset + static_cast<uint64_t>(i));
    // u1 = max(u, 1e-7) as arithmetic: GCC does not vectorize this loop with a select here.
    const float u = uint_to_uniform(r.x);
    const float low = static_cast<float>(u < 1.0e-7f);
    const float u1 = low * 1.0e-7f + (1.0f - low) * u;
    const float u2 = uint_to_uniform(r.y);
    const float radius = __builtin_sqrtf(-2.0f * cpu::log_positive(u1));
    out[i] = radius * cpu::cos_nonnegative(6.283185307179586f * u2);
  }
}

}  // namespace fastgen
