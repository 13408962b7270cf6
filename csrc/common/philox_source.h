// Where a CUDA kernel of a random op takes its Philox key (csrc/common/philox.h, PhiloxKey) from:
// a plain struct passed by value to the kernel, shared by the .cu files and their launchers.
#pragma once

#include <ATen/cuda/PhiloxCudaState.h>

#include <cstdint>

namespace fastgen {

// A forward kernel unpacks `state` on the device (torch's CUDA generator's state, which under
// CUDA-graph capture points at the generator's per-replay offset, or an explicit seed's with
// base 0) and its first thread writes the (seed, base) it used to `record`. A backward kernel
// reads the pair its forward recorded from `recorded` instead.
struct PhiloxSource {
  at::PhiloxCudaState state;
  const int64_t* recorded = nullptr;
  int64_t* record = nullptr;
};

}  // namespace fastgen
