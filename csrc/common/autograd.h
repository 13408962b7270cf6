// Autograd of the compiled ops in C++ (torchvision's pattern: a torch::autograd::Function per op,
// registered with TORCH_LIBRARY_IMPL(fastgen, Autograd, m)): a call that records its graph costs a
// few µs of host time instead of the tens a Python autograd formula costs. The ops' kernels are
// reached below autograd through the dispatcher, so the CPU and CUDA kernels share one formula.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>

#include <string>

namespace fastgen {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The typed handle of fastgen::<name>, looked up once.
template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// What differentiating a backward op's outputs raises: double backward is refused naming the op
// (fastgen/ops/_registry.py states the same policy for the ops whose autograd is in Python).
[[noreturn]] inline void refuse_double_backward(const char* op) {
  TORCH_CHECK(false, op,
              " does not support double backward (gradients of gradients) on this backend; use backend='torch' "
              "for that");
}

}  // namespace fastgen
