// The Philox rounds run on 16 (AVX-512) or 8 (AVX2) counters at once with intrinsics: GCC's
// auto-vectorization of philox.h's loop multiplies in 64-bit lanes (vpmullq on AVX-512, half the
// lanes and several times the latency), which made the draws 2.5x slower than this. Each counter
// gives four consecutive numbers (philox.h's spec); the lanes hold their counters in a transposed
// order so that two rounds of unpacks put the four words of each counter next to each other and
// the results store in stream order. The lanes compute exactly philox.h's integer function, so
// the uniforms stay bit-identical; philox.h itself draws the runs whose low counter word wraps.
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
  // The counters of one round, base + 0 ... base + 15 (mod 2^32), in the lane order that
  // store_words undoes: lane 4L + k holds counter 4k + L.
  [[gnu::target("avx512f")]] static Bits counters(uint32_t base) {
    return _mm512_add_epi32(broadcast(base), _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
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
  // out[0, 64): the uniforms of the four words of counters base ... base + 15, in stream order,
  // each at least floor's lane (floor holds the lower bounds of four consecutive elements).
  [[gnu::target("avx512f")]] static void store_words(Bits x, Bits y, Bits z, Bits w, __m128 floor, float* out) {
    // Within each 128-bit lane L: t0 = x y of its counters 0 and 1, t1 = of 2 and 3, t2/t3 the
    // same for z w; r_k = x y z w of the lane's counter k, which is counter 4k + L.
    const Bits t0 = _mm512_unpacklo_epi32(x, y), t1 = _mm512_unpackhi_epi32(x, y);
    const Bits t2 = _mm512_unpacklo_epi32(z, w), t3 = _mm512_unpackhi_epi32(z, w);
    const __m512 lower = _mm512_broadcast_f32x4(floor);
    store_uniform(_mm512_unpacklo_epi64(t0, t2), lower, out);
    store_uniform(_mm512_unpackhi_epi64(t0, t2), lower, out + 16);
    store_uniform(_mm512_unpacklo_epi64(t1, t3), lower, out + 32);
    store_uniform(_mm512_unpackhi_epi64(t1, t3), lower, out + 48);
  }
  // out = max(uint_to_uniform(bits), lower), lane by lane.
  [[gnu::target("avx512f")]] static void store_uniform(Bits bits, __m512 lower, float* out) {
    const Bits folded = _mm512_xor_si512(bits, _mm512_srai_epi32(bits, 31));  // x < 0 ? ~x : x
    const __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(folded), _mm512_set1_ps(kUniformScale));
    _mm512_storeu_ps(out, _mm512_max_ps(u, lower));
  }
};

struct Avx2 {
  using Bits = __m256i;
  static constexpr int kLanes = 8;
  [[gnu::target("avx2")]] static Bits broadcast(uint32_t v) { return _mm256_set1_epi32(static_cast<int>(v)); }
  // base + 0 ... base + 7 with lane 4L + k holding counter 2k + L (see Avx512::counters).
  [[gnu::target("avx2")]] static Bits counters(uint32_t base) {
    return _mm256_add_epi32(broadcast(base), _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  }
  [[gnu::target("avx2")]] static Bits xor3(Bits a, Bits b, Bits c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
  [[gnu::target("avx2")]] static void mul_hi_lo(Bits k, Bits a, Bits& hi, Bits& lo) {
    const Bits even = _mm256_mul_epu32(a, k);
    const Bits odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), k);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  }
  [[gnu::target("avx2")]] static void store_words(Bits x, Bits y, Bits z, Bits w, __m128 floor, float* out) {
    const Bits t0 = _mm256_unpacklo_epi32(x, y), t1 = _mm256_unpackhi_epi32(x, y);
    const Bits t2 = _mm256_unpacklo_epi32(z, w), t3 = _mm256_unpackhi_epi32(z, w);
    const __m256 lower = _mm256_set_m128(floor, floor);
    store_uniform(_mm256_unpacklo_epi64(t0, t2), lower, out);
    store_uniform(_mm256_unpackhi_epi64(t0, t2), lower, out + 8);
    store_uniform(_mm256_unpacklo_epi64(t1, t3), lower, out + 16);
    store_uniform(_mm256_unpackhi_epi64(t1, t3), lower, out + 24);
  }
  [[gnu::target("avx2")]] static void store_uniform(Bits bits, __m256 lower, float* out) {
    const Bits folded = _mm256_xor_si256(bits, _mm256_srai_epi32(bits, 31));
    const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(folded), _mm256_set1_ps(kUniformScale));
    _mm256_storeu_ps(out, _mm256_max_ps(u, lower));
  }
};

// The four output words of philox4x32_10 for V::kLanes counters from counter_low on (in
// V::counters' lane order), whose high words are all counter_high (philox.h's rounds, lane by lane).
template <class V>
struct Words {
  typename V::Bits x, y, z, w;
};

template <class V>
inline Words<V> philox_lanes(uint64_t seed, uint32_t counter_low, uint32_t counter_high) {
  constexpr uint32_t kKeyA = 0x9E3779B9u, kKeyB = 0xBB67AE85u;
  const typename V::Bits round_a = V::broadcast(0xD2511F53u), round_b = V::broadcast(0xCD9E8D57u);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  typename V::Bits c0 = V::counters(counter_low), c1 = V::broadcast(counter_high);
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
  return {c0, c1, c2, c3};
}

// out[i] = max(uniform(seed, 4 counter + i), floor[i mod 4]) for i < 4 counters: whole vectors of
// counters straight into out, a last partial vector through a buffer. Returns false, writing
// nothing, when the low counter word wraps inside the run (the high word then differs between
// lanes; once every 2^34 elements, left to philox.h).
template <class V>
inline bool uniform_lanes(uint64_t seed, uint64_t counter, int64_t counters, const float* floor, float* out) {
  const uint32_t low = static_cast<uint32_t>(counter), high = static_cast<uint32_t>(counter >> 32);
  if (static_cast<uint64_t>(low) + static_cast<uint64_t>(counters) > (uint64_t{1} << 32)) return false;
  constexpr int64_t kPerVector = 4 * V::kLanes;  // numbers per round of lanes
  const __m128 lower = _mm_loadu_ps(floor);
  int64_t c = 0;
  for (; c + V::kLanes <= counters; c += V::kLanes) {
    const Words<V> words = philox_lanes<V>(seed, low + static_cast<uint32_t>(c), high);
    V::store_words(words.x, words.y, words.z, words.w, lower, out + 4 * c);
  }
  if (c < counters) {
    float buffer[kPerVector];
    const Words<V> words = philox_lanes<V>(seed, low + static_cast<uint32_t>(c), high);
    V::store_words(words.x, words.y, words.z, words.w, lower, buffer);
    std::copy(buffer, buffer + 4 * (counters - c), out + 4 * c);
  }
  return true;
}

// flatten: the lane operations (and the intrinsics in them) inline into these ISA-specific
// functions, so the rounds run in registers.
[[gnu::target("avx512f"), gnu::flatten]] bool uniform_lanes_avx512(uint64_t seed, uint64_t counter, int64_t counters,
                                                                    const float* floor, float* out) {
  return uniform_lanes<Avx512>(seed, counter, counters, floor, out);
}

[[gnu::target("avx2"), gnu::flatten]] bool uniform_lanes_avx2(uint64_t seed, uint64_t counter, int64_t counters,
                                                                const float* floor, float* out) {
  return uniform_lanes<Avx2>(seed, counter, counters, floor, out);
}
#endif

using LanesFn = bool (*)(uint64_t, uint64_t, int64_t, const float*, float*);

bool no_lanes(uint64_t, uint64_t, int64_t, const float*, float*) { return false; }

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

// Numbers per block a stack buffer holds: a block, widened to whole counters at both ends.
constexpr int64_t kBufferLength = kPhiloxBlock + 8;

// out[i] = max(uniform(seed, offset + i), floor[(offset + i) mod 4]) for i < n <= kBufferLength - 8:
// the lanes draw whole counters (into a buffer when the run starts or ends inside one).
void uniform_run(uint64_t seed, uint64_t offset, int64_t n, const float* floor, float* out) {
  const uint64_t first = offset >> 2, last = (offset + static_cast<uint64_t>(n) + 3) >> 2;
  const int64_t counters = static_cast<int64_t>(last - first), skip = static_cast<int64_t>(offset & 3);
  const bool whole = skip == 0 && 4 * counters == n;
  float buffer[kBufferLength];
  if (kUniformLanes(seed, first, counters, floor, whole ? out : buffer)) {
    if (!whole) std::copy(buffer + skip, buffer + skip + n, out);
    return;
  }
  Philox4 words{};
  for (int64_t i = 0; i < n; ++i) {  // one Philox call per counter here too
    const uint64_t o = offset + static_cast<uint64_t>(i);
    if (i == 0 || (o & 3) == 0) words = philox4x32_10(seed, o >> 2);
    out[i] = std::max(uint_to_uniform(philox_lane(words, o)), floor[o & 3]);
  }
}

constexpr float kNoFloor[4] = {0.0f, 0.0f, 0.0f, 0.0f};
// Box-Muller's lower bound on u1, the first number of each pair (even offsets).
constexpr float kPairFloor[4] = {kNormalFloor, 0.0f, kNormalFloor, 0.0f};

// Each pair (u[2q], u[2q + 1]) -> out[2q] = r cos(2 pi u[2q + 1]), out[2q + 1] = r sin(...),
// r = sqrt(-2 log u[2q]); u[2q] already floored at kNormalFloor. The floor is applied while
// drawing, not here: a clamp feeding log_positive stops GCC vectorizing this loop.
FASTGEN_CPU_CLONES void box_muller_pairs(const float* u, int64_t pairs, float* out) {
  for (int64_t q = 0; q < pairs; ++q) {
    const float radius = __builtin_sqrtf(-2.0f * cpu::log_positive(u[2 * q]));
    const float theta = 6.283185307179586f * u[2 * q + 1];
    out[2 * q] = radius * cpu::cos_nonnegative(theta);
    out[2 * q + 1] = radius * cpu::sin_nonnegative(theta);
  }
}

}  // namespace

void philox_uniform_block(uint64_t seed, uint64_t offset, int64_t n, float* out) {
  uniform_run(seed, offset, n, kNoFloor, out);
}

void philox_normal_block(uint64_t seed, uint64_t offset, int64_t n, float* out) {
  // Whole pairs: from the even offset at or below offset to the even one at or above its end.
  const uint64_t start = offset & ~uint64_t{1};
  const int64_t pairs = static_cast<int64_t>((offset + static_cast<uint64_t>(n) + 1 - start) / 2);
  const bool whole = start == offset && 2 * pairs == n;
  float u[kBufferLength], normals[kBufferLength];
  uniform_run(seed, start, 2 * pairs, kPairFloor, u);
  box_muller_pairs(u, pairs, whole ? out : normals);
  if (!whole) std::copy(normals + (offset - start), normals + (offset - start) + n, out);
}

}  // namespace fastgen
