// Per-element math of the denoising autoencoder's encoder with masking noise (Vincent et al.,
// "Extracting and Composing Robust Features with Denoising Autoencoders", ICML 2008):
//   keep_ij = U(seed, i * n_visible + j) >= corruption,   x~ = x * keep
//   h       = sigmoid(x~ @ W + b)
// and of its backward: dpre = grad_h * h * (1 - h), grad_x = (dpre @ W^T) * keep.
// Called by the CPU loops and the CUDA kernels alike; the GEMMs between them are BLAS/cuBLAS.
// The comparison is done in float32 (the uniform's type), as the reference and Triton do, so
// that the masks are bit-identical on every backend.
#pragma once

#include "common/math.h"
#include "common/philox.h"

namespace fastgen {
namespace corrupt_encode {

C10_HOST_DEVICE inline bool keep(float uniform, float corruption) { return uniform >= corruption; }

template <typename acc_t>
C10_HOST_DEVICE inline acc_t masked(acc_t value, float uniform, float corruption) {
  return keep(uniform, corruption) ? value : acc_t(0);
}

template <typename acc_t>
C10_HOST_DEVICE inline acc_t sigmoid(acc_t pre) {
  return acc_t(1) / (acc_t(1) + exp_(-pre));
}

// The epilogue of the encoder GEMM: h = sigmoid(pre + b).
template <typename acc_t>
C10_HOST_DEVICE inline acc_t encode(acc_t pre, acc_t bias) {
  return sigmoid(pre + bias);
}

// d(loss)/d(pre) from d(loss)/dh and the saved output h: sigmoid' = h (1 - h).
template <typename acc_t>
C10_HOST_DEVICE inline acc_t pre_gradient(acc_t grad_h, acc_t h) {
  return grad_h * h * (acc_t(1) - h);
}

}  // namespace corrupt_encode
}  // namespace fastgen
