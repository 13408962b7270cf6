// The Philox rounds run on 16 (AVX-512) or 8 (AVX2) counters at once with intrinsics: GCC's
// auto-vectorization of philox.h's loop multiplies in 64-bit lanes (vpmullq on AVX-512, half the
// lanes and several times the latency), which made the draws 2.5x slower than this. The lanes
// compute exactly philox.h's integer function, so the uniforms stay bit-identical; philox.h
// itself draws the elements left over (a block's tail, or a run whose low counter word wraps).
// Box-Muller is a plain loop over the cpu_math.h functions, cloned per ISA and vectorized by GCC.
#include "common/philox_block.h"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized (their _mm512_undefined_* self-initialise,
// GCC bug 105593), and -Wpsabi notes that vector types cross the lane helpers' ABI: neither
// applies, the helpers are inlined into the ISA-specific functions below.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wpsabi"
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <string>

#include "common/cpu_math.h"
#include "common/cpu_vectorize.h"
#include "common/philox.h"

namespace fastgen {
namespace {

constexpr float kUniformScale = 4.6566127342e-10f;  // as uint_to_uniform
constexpr float kNormalFloor = 1.0e-7f;              // Box-Muller's lower bound on u1, as philox_normal

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTGEN_PHILOX_LANES 1

// The lane operations Philox needs, one struct per instruction set; the rounds below are
// written once against them.
struct Avx512 {
  using Bits = __m512i;
  static constexpr int kLanes = 16;
  [[gnu::target("avx512f")]] static Bits broadcast(uint32_t v) { return _mm512_set1_epi32(static_cast<int>(v)); }
  // base, base + 1, ..., base + 15 (mod 2^32)
  [[gnu::target("avx512f")]] static Bits consecutive(uint32_t base) {
    return _mm512_add_epi32(broadcast(base), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  }
  [[gnu::target("avx512f")]] static Bits xor3(Bits a, Bits b, Bits c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
  // The high and low words of the 64-bit products a * k: even lanes and odd lanes multiplied
  // separately (vpmuludq), then interleaved.
  [[gnu::target("avx512f")]] static void mul_hi_lo(Bits k, Bits a, Bits& hi, Bits& lo) {
    const Bits even = _mm512_mul_epu32(a, k);
    const Bits odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), k);
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  }
  // out = max(uint_to_uniform(bits), floor), lane by lane.
  [[gnu::target("avx512f")]] static void store_uniform(Bits bits, float floor, float* out) {
    const Bits folded = _mm512_xor_si512(bits, _mm512_srai_epi32(bits, 31));  // x < 0 ? ~x : x
    const __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(folded), _mm512_set1_ps(kUniformScale));
    _mm512_storeu_ps(out, _mm512_max_ps(u, _mm512_set1_ps(floor)));
  }
};

struct Avx2 {
  using Bits = __m256i;
  static constexpr int kLanes = 8;
  [[gnu::target("avx2")]] static Bits broadcast(uint32_t v) { return _mm256_set1_epi32(static_cast<int>(v)); }
  [[gnu::target("avx2")]] static Bits consecutive(uint32_t base) {
    return _mm256_add_epi32(broadcast(base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  [[gnu::target("avx2")]] static Bits xor3(Bits a, Bits b, Bits c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
  [[gnu::target("avx2")]] static void mul_hi_lo(Bits k, Bits a, Bits& hi, Bits& lo) {
    const Bits even = _mm256_mul_epu32(a, k);
    const Bits odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), k);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  }
  [[gnu::target("avx2")]] static void store_uniform(Bits bits, float floor, float* out) {
    const Bits folded = _mm256_xor_si256(bits, _mm256_srai_epi32(bits, 31));
    const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(folded), _mm256_set1_ps(kUniformScale));
    _mm256_storeu_ps(out, _mm256_max_ps(u, _mm256_set1_ps(floor)));
  }
};

// The first two output words of philox4x32_10(seed, offset) for V::kLanes consecutive offsets
// whose high words are all offset_high (philox.h's rounds, lane by lane).
template <class V>
struct Words {
  typename V::Bits x, y;
};

template <class V>
inline Words<V> philox_lanes(uint64_t seed, uint32_t offset_low, uint32_t offset_high) {
  constexpr uint32_t kKeyA = 0x9E3779B9u, kKeyB = 0xBB67AE85u;
  const typename V::Bits round_a = V::broadcast(0xD2511F53u), round_b = V::broadcast(0xCD9E8D57u);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  typename V::Bits c0 = V::consecutive(offset_low), c1 = V::broadcast(offset_high);
  typename V::Bits c2 = V::broadcast(0), c3 = V::broadcast(0);
  for (int round = 0; round < 10; ++round) {
    typename V::Bits hi_b, lo_b, hi_a, lo_a;
    V::mul_hi_lo(round_b, c2, hi_b, lo_b);
    V::mul_hi_lo(round_a, c0, hi_a, lo_a);
    c0 = V::xor3(hi_b, c1, V::broadcast(k0));
    c2 = V::xor3(hi_a, c3, V::broadcast(k1));
    c1 = lo_b;
    c3 = lo_a;
    k0 += kKeyA;
    k1 += kKeyB;
  }
  return {c0, c1};
}

// Fills whole vectors of lanes from the front of [0, n): u1[i] = max(uniform(x), floor) and,
// when u2 is given, u2[i] = uniform(y). Returns how many elements it wrote: 0 when the low
// counter word wraps inside the run (the high word then differs between lanes; philox.h draws
// such a run, once every 2^32 offsets).
template <class V>
inline int64_t uniform_lanes(uint64_t seed, uint64_t offset, int64_t n, float floor, float* u1, float* u2) {
  const uint32_t low = static_cast<uint32_t>(offset), high = static_cast<uint32_t>(offset >> 32);
  if (static_cast<uint64_t>(low) + static_cast<uint64_t>(n) > (uint64_t{1} << 32)) return 0;
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) {
    const Words<V> words = philox_lanes<V>(seed, low + static_cast<uint32_t>(i), high);
    V::store_uniform(words.x, floor, u1 + i);
    if (u2 != nullptr) V::store_uniform(words.y, 0.0f, u2 + i);
  }
  return i;
}

// flatten: the lane operations (and the intrinsics in them) inline into these ISA-specific
// functions, so the rounds run in registers.
[[gnu::target("avx512f"), gnu::flatten]] int64_t uniform_lanes_avx512(uint64_t seed, uint64_t offset, int64_t n,
                                                                       float floor, float* u1, float* u2) {
  return uniform_lanes<Avx512>(seed, offset, n, floor, u1, u2);
}

[[gnu::target("avx2"), gnu::flatten]] int64_t uniform_lanes_avx2(uint64_t seed, uint64_t offset, int64_t n,
                                                                   float floor, float* u1, float* u2) {
  return uniform_lanes<Avx2>(seed, offset, n, floor, u1, u2);
}
#endif

using LanesFn = int64_t (*)(uint64_t, uint64_t, int64_t, float, float*, float*);

int64_t no_lanes(uint64_t, uint64_t, int64_t, float, float*, float*) { return 0; }

// The widest lane implementation this CPU runs, chosen once. FASTGEN_CPU_LANES=avx2 or =none
// caps it, so that tests can check the narrower paths against the others on a wider CPU.
LanesFn lanes_for_this_cpu() {
  const char* cap = std::getenv("FASTGEN_CPU_LANES");
  const std::string limit = cap != nullptr ? cap : "";
  if (limit == "none") return no_lanes;
#ifdef FASTGEN_PHILOX_LANES
  __builtin_cpu_init();
  if (limit != "avx2" && __builtin_cpu_supports("avx512f")) return uniform_lanes_avx512;
  if (__builtin_cpu_supports("avx2")) return uniform_lanes_avx2;
#endif
  return no_lanes;
}

const LanesFn kUniformLanes = lanes_for_this_cpu();

// out[i] = sqrt(-2 log u1[i]) cos(2 pi u2[i]): u1 already floored at kNormalFloor. The floor is
// applied while drawing, not here: a clamp feeding log_positive stops GCC vectorizing this loop.
FASTGEN_CPU_CLONES void box_muller(const float* u1, const float* u2, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float radius = __builtin_sqrtf(-2.0f * cpu::log_positive(u1[i]));
    out[i] = radius * cpu::cos_nonnegative(6.283185307179586f * u2[i]);
  }
}

}  // namespace

void philox_uniform_block(uint64_t seed, uint64_t offset, int64_t n, float* out) {
  for (int64_t i = kUniformLanes(seed, offset, n, 0.0f, out, nullptr); i < n; ++i) {
    out[i] = philox_uniform(seed, offset + static_cast<uint64_t>(i));
  }
}

void philox_normal_block(uint64_t seed, uint64_t offset, int64_t n, float* out) {
  float u1[kPhiloxBlock], u2[kPhiloxBlock];
  for (int64_t i = kUniformLanes(seed, offset, n, kNormalFloor, u1, u2); i < n; ++i) {
    const Philox4 r = philox4x32_10(seed, offset + static_cast<uint64_t>(i));
    u1[i] = std::max(uint_to_uniform(r.x), kNormalFloor);
    u2[i] = uint_to_uniform(r.y);
  }
  box_muller(u1, u2, n, out);
}

}  // namespace fastgen
