// Host-side helpers of the *_cuda_launch.cpp files (ATen and c10/cuda; never included by .cu files).
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>

namespace fastgen {

// A random op takes its Philox seed as a launch argument, so a CUDA graph captured around it
// would replay the same noise at every replay: refuse the capture rather than return the same
// "random" numbers silently. (The philox_uniform/normal ops take the seed from the caller by
// contract and replay it on purpose; they are not refused.)
inline void refuse_graph_capture(const char* op) {
  TORCH_CHECK(c10::cuda::currentStreamCaptureStatusMayInitCtx() == c10::cuda::CaptureStatus::None, "fastgen::", op,
              " cannot be captured in a CUDA graph: its Philox seed is fixed at launch, so every replay would draw "
              "the same noise; call it outside the captured region (or pass eps / corruption=0)");
}

}  // namespace fastgen
