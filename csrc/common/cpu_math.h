// Branch-free float32 exp, log, cos and sin for the CPU kernels, written so that GCC vectorizes the
// loops that call them (glibc's scalar expf/logf/cosf do not vectorize, and dominated the CPU
// time of Box-Muller). Polynomials and range reductions are Cephes' (S. L. Moshier, "Methods
// and Programs for Mathematical Functions", 1989): within 2 ulp of the correctly rounded value
// over the ranges fastgen uses, which tests/ops/test_philox.py checks against torch.
// Host only: CUDA code calls the device library's expf/logf/cosf/sinf.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace fastgen {
namespace cpu {

inline float bits_to_float(int32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

inline int32_t float_to_bits(float value) {
  int32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

// exp(x): n = round(x / ln 2), r = x - n ln 2 (ln 2 split in two for exactness), exp(r) by a
// degree-6 polynomial, times 2^n applied as two powers of two so that overflow gives inf and
// underflow 0 or a denormal, as expf does. Clamps are std::min/max and the rounding is the
// 1.5 * 2^23 trick: GCC vectorizes neither fminf/fmaxf nor floorf under strict FP semantics.
__attribute__((always_inline)) inline float exp(float x) {
  const float clamped = std::min(std::max(x, -104.0f), 89.0f);
  const float n = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = clamped - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r2 + r + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni >> 1;
  const float result = y * bits_to_float((half + 127) << 23) * bits_to_float((ni - half + 127) << 23);
  return result;
}

// log(x) for finite x > 0 (Box-Muller's u1 >= 1e-7): x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// log(m) by a degree-9 polynomial in m - 1, e ln 2 added in two parts.
__attribute__((always_inline)) inline float log_positive(float x) {
  const int32_t bits = float_to_bits(x);
  int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = bits_to_float((bits & 0x007fffff) | 0x3f000000);  // [0.5, 1)
  // Below sqrt(1/2), use 2m and e - 1 (as arithmetic, not a branch, so that loops vectorize;
  // doubling is exact).
  const int32_t low = m < 0.707106781186547524f;
  e -= low;
  m = m * static_cast<float>(1 + low) - 1.0f;
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  const float fe = static_cast<float>(e);
  float y = p * m * z;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return (m + y) + 0.693359375f * fe;
}

// cos(x - quarter_turns pi/2) for 0 <= x < 2^13: cos(x) for quarter_turns 0, sin(x) for 1.
// Octant j = floor(x 4/pi) rounded up to even, r = x - j pi/4 with pi/4 split in three parts,
// then the sine or cosine polynomial and the octant's sign; a quarter turn moves the octant
// by two, so sin costs what cos does and shares its reduction of x.
__attribute__((always_inline)) inline float cos_quarter_turned(float x, int32_t quarter_turns) {
  int32_t j = static_cast<int32_t>(x * 1.27323954473516f);
  j += j & 1;
  const float y = static_cast<float>(j);
  // j is even: octant 0 -> cos r, 2 -> -sin r, 4 -> -cos r, 6 -> sin r. Bit arithmetic, not
  // branches, so that the loop vectorizes.
  const int32_t octant = (j - 2 * quarter_turns) & 7;
  const int32_t use_sin = (octant >> 1) & 1;
  const int32_t negate = ((octant >> 2) ^ use_sin) & 1;
  const float r = ((x - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
  const float z = r * r;
  const float cos_poly =
      ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
  const float sin_poly = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  // Select and negate on the bits: a ternary here stays a branch in some inlining contexts
  // (GCC 12, AVX2), which stops the loop from vectorizing.
  const int32_t sin_mask = -use_sin;
  const int32_t value = (float_to_bits(sin_poly) & sin_mask) | (float_to_bits(cos_poly) & ~sin_mask);
  return bits_to_float(value ^ static_cast<int32_t>(static_cast<uint32_t>(negate) << 31));
}

__attribute__((always_inline)) inline float cos_nonnegative(float x) { return cos_quarter_turned(x, 0); }
__attribute__((always_inline)) inline float sin_nonnegative(float x) { return cos_quarter_turned(x, 1); }

}  // namespace cpu
}  // namespace fastgen
