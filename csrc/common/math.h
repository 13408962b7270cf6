// Precision-generic math for the host/device headers: float calls the float functions
// (expf...), double the double ones, on the CPU and on the GPU alike.
#pragma once

#include <c10/macros/Macros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cmath>

namespace fastgen {

C10_HOST_DEVICE inline float exp_(float x) { return expf(x); }
C10_HOST_DEVICE inline double exp_(double x) { return exp(x); }
C10_HOST_DEVICE inline float log1p_(float x) { return log1pf(x); }
C10_HOST_DEVICE inline double log1p_(double x) { return log1p(x); }

// Inputs are computed in float, except float64 which stays double.
template <typename scalar_t>
struct Acc {
  using type = float;
};
template <>
struct Acc<double> {
  using type = double;
};
template <typename scalar_t>
using acc_type = typename Acc<scalar_t>::type;

}  // namespace fastgen
