// The schemas of fastgen::philox_uniform and fastgen::philox_normal: Philox4x32-10 streams, for
// tests and for users who want the same numbers as the kernels. Element i is number offsets[i] of
// the stream keyed by seed (csrc/common/philox.h). Kernels: philox_cpu.cpp, philox_cuda.cu.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(fastgen, m) {
  m.def("philox_uniform(Tensor offsets, int seed) -> Tensor");
  m.def("philox_normal(Tensor offsets, int seed) -> Tensor");
}
