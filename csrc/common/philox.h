// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011),
// with the conventions of Triton's tl.randint4x / tl.rand4x / tl.randn4x, every output word used:
//   key     = (seed & 0xffffffff, seed >> 32)
//   element o of the stream is word (o & 3) of the Philox call on counter c = o >> 2,
//   counter = (c & 0xffffffff, c >> 32, 0, 0)
//   uniform = int32(word) mapped to [0, 1) by  (x < 0 ? ~x : x) * 4.6566127342e-10f
//   normal  = Box-Muller on the word pairs (0, 1) and (2, 3): with u1 = max(uniform(first word),
//             1e-7), u2 = uniform(second word), r = sqrt(-2 log u1), the even element of the pair
//             is r cos(2 pi u2) and the odd one r sin(2 pi u2) (tl.randn4x)
// Four numbers per call: the ten rounds were 3/4 wasted when each element took its own counter.
// One function for the host and the device, so that every backend draws the same numbers:
// integers and uniforms are bit-identical; normals agree to the ulp of the math library.
//
// The random ops (corrupt_encode, reparameterize) draw element i of their call as number
// base + i of the stream keyed by seed. Given a seed, base = 0. Without one (CUDA kernels only;
// fastgen.ops draws a CPU call's seed from torch's CPU generator), the kernel takes torch's CUDA
// generator's seed and an offset it reserves, as torch's own random kernels do, so that a CUDA
// graph draws new numbers at every replay (philox_source.h). The forward returns the (seed, base)
// it used as rng_state, two int64 on the op's device, and the backward draws the same numbers
// again from it, with no host read.
#pragma once

#include <c10/macros/Macros.h>
#include <cmath>
#include <cstdint>

namespace fastgen {

struct Philox4 {
  uint32_t x, y, z, w;
};

// A call's place in the stream: the key and the stream offset of the call's element 0, so that
// element i of the call is element base + i of the stream. An explicit seed draws from the start
// of its stream (base 0, the same numbers on every backend); a CUDA kernel without one takes the
// seed of torch's CUDA generator and the offset the generator reserved for the call.
struct PhiloxKey {
  uint64_t seed;
  uint64_t base;
};

C10_HOST_DEVICE inline uint32_t mulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

C10_HOST_DEVICE inline Philox4 philox4x32_10(uint64_t seed, uint64_t offset) {
  constexpr uint32_t kKeyA = 0x9E3779B9u, kKeyB = 0xBB67AE85u;
  constexpr uint32_t kRoundA = 0xD2511F53u, kRoundB = 0xCD9E8D57u;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  uint32_t c0 = static_cast<uint32_t>(offset), c1 = static_cast<uint32_t>(offset >> 32);
  uint32_t c2 = 0, c3 = 0;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    const uint32_t p0 = c0, p2 = c2;
    c0 = mulhi32(kRoundB, p2) ^ c1 ^ k0;
    c2 = mulhi32(kRoundA, p0) ^ c3 ^ k1;
    c1 = kRoundB * p2;
    c3 = kRoundA * p0;
    k0 += kKeyA;
    k1 += kKeyB;
  }
  return {c0, c1, c2, c3};
}

// Triton's uint_to_uniform_float: the largest int32 maps just below 1.0f.
C10_HOST_DEVICE inline float uint_to_uniform(uint32_t bits) {
  int32_t x = static_cast<int32_t>(bits);
  x = x < 0 ? ~x : x;
  return static_cast<float>(x) * 4.6566127342e-10f;
}

// Word `lane` (0-3) of a Philox call.
C10_HOST_DEVICE inline uint32_t philox_lane(const Philox4& r, uint64_t lane) {
  switch (lane & 3) {
    case 0: return r.x;
    case 1: return r.y;
    case 2: return r.z;
    default: return r.w;
  }
}

// The Philox word element `offset` of the stream takes.
C10_HOST_DEVICE inline uint32_t philox_word(uint64_t seed, uint64_t offset) {
  return philox_lane(philox4x32_10(seed, offset >> 2), offset);
}

C10_HOST_DEVICE inline float philox_uniform(uint64_t seed, uint64_t offset) {
  return uint_to_uniform(philox_word(seed, offset));
}

// Box-Muller on the element's word pair, as tl.randn4x (Box & Muller, 1958).
C10_HOST_DEVICE inline float philox_normal(uint64_t seed, uint64_t offset) {
  const Philox4 r = philox4x32_10(seed, offset >> 2);
  const bool second_pair = (offset & 2) != 0;
  float u1 = uint_to_uniform(second_pair ? r.z : r.x);
  const float u2 = uint_to_uniform(second_pair ? r.w : r.y);
  u1 = u1 > 1.0e-7f ? u1 : 1.0e-7f;
  const float theta = 6.283185307179586f * u2;
  const float radius = sqrtf(-2.0f * logf(u1));
#ifdef __CUDA_ARCH__
  // Neighbouring threads take the sine and the cosine: one sincosf, not both branches in turn.
  float sine, cosine;
  sincosf(theta, &sine, &cosine);
  return radius * ((offset & 1) != 0 ? sine : cosine);
#else
  return radius * ((offset & 1) != 0 ? sinf(theta) : cosf(theta));
#endif
}

}  // namespace fastgen
