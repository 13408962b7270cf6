// Small helpers shared by the CPU and CUDA launchers (host code only).
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "common/philox.h"

namespace fastgen {

// Float inputs are read as float32, float16 or bfloat16 and computed in float32.
#define FASTGEN_DISPATCH_FLOATING(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

inline uint64_t seed_bits(int64_t seed) { return static_cast<uint64_t>(seed); }

// The key of a CPU call: the CPU kernels take an explicit seed (fastgen.ops draws one from torch's
// CPU generator when the caller gives none, so that torch.manual_seed fixes it).
inline PhiloxKey cpu_key(const std::optional<int64_t>& seed, const char* op) {
  TORCH_CHECK(seed.has_value(), "fastgen::", op, " on CPU tensors takes an explicit seed");
  return {seed_bits(*seed), 0};
}

// What a random op's forward hands its backward: (seed, base) as two int64 on the op's device.
inline at::Tensor cpu_record(const PhiloxKey& key) {
  at::Tensor record = at::empty({2}, at::TensorOptions().dtype(at::kLong));
  record.data_ptr<int64_t>()[0] = static_cast<int64_t>(key.seed);
  record.data_ptr<int64_t>()[1] = static_cast<int64_t>(key.base);
  return record;
}

inline void check_record(const at::Tensor& rng_state, const at::Tensor& like) {
  TORCH_CHECK(rng_state.scalar_type() == at::kLong && rng_state.numel() == 2 && rng_state.is_contiguous(),
              "rng_state must be the int64 (seed, base) pair the forward returned");
  TORCH_CHECK(rng_state.device() == like.device(), "rng_state must be on the device of the op's tensors");
}

// The key a CPU forward recorded, read back by its backward.
inline PhiloxKey cpu_recorded_key(const at::Tensor& rng_state, const at::Tensor& like) {
  check_record(rng_state, like);
  const int64_t* pair = rng_state.data_ptr<int64_t>();
  return {static_cast<uint64_t>(pair[0]), static_cast<uint64_t>(pair[1])};
}

}  // namespace fastgen
