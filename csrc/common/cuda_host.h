// Host-side helpers of the *_cuda_launch.cpp files (ATen and c10/cuda; never included by .cu files).
#pragma once

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>

#include <mutex>
#include <optional>

#include "common/dispatch.h"
#include "common/philox_source.h"

namespace fastgen {

// The Philox state a random op's forward draws `count` numbers from: an explicit seed's stream
// from its start (base 0), or, without a seed, `count` numbers reserved from torch's CUDA
// generator of `device` the way torch's own random kernels reserve theirs (under the generator's
// mutex; philox_cuda_state takes a multiple of 4). During CUDA-graph capture the state points at
// the generator's seed and per-replay offset, which the kernel reads when it runs: every replay
// draws new numbers, and eager calls and replays advance one generator.
inline at::PhiloxCudaState forward_philox_state(const std::optional<int64_t>& seed, int64_t count,
                                                c10::DeviceIndex device) {
  if (seed) return at::PhiloxCudaState(seed_bits(*seed), 0);
  auto* generator = at::get_generator_or_default<at::CUDAGeneratorImpl>(
      std::nullopt, at::cuda::detail::getDefaultCUDAGenerator(device));
  const std::lock_guard<std::mutex> lock(generator->mutex_);
  return generator->philox_cuda_state(static_cast<uint64_t>((count + 3) / 4 * 4));
}

// The forward's rng_state output, (seed, base) as two int64 on the device of `like`: written by the
// forward kernel (PhiloxSource::record); zeros when no kernel runs (an empty call draws nothing).
inline at::Tensor cuda_record(const at::Tensor& like, bool drawn) {
  const auto options = like.options().dtype(at::kLong);
  return drawn ? at::empty({2}, options) : at::zeros({2}, options);
}

inline PhiloxSource forward_source(const std::optional<int64_t>& seed, int64_t count, const at::Tensor& record) {
  return {forward_philox_state(seed, count, record.device().index()), nullptr, record.data_ptr<int64_t>()};
}

inline PhiloxSource backward_source(const at::Tensor& rng_state, const at::Tensor& like) {
  check_record(rng_state, like);
  return {at::PhiloxCudaState(), rng_state.data_ptr<int64_t>(), nullptr};
}

}  // namespace fastgen
