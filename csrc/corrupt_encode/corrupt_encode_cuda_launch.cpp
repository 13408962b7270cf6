// CUDA registration of fastgen::corrupt_encode: the fused path is
//   forward:  mask kernel -> packed x~ (compute dtype) -> cuBLAS GEMM (at::mm) -> bias + sigmoid
//             epilogue kernel writing h;
//   backward: dpre kernel, cuBLAS GEMMs for grad_W = x~^T dpre (x~ packed again from the
//             redrawn mask) and dpre W^T, a mask kernel writing grad_x, a column sum for grad_b.
// The packed x~ lives only during one call (it is never saved for backward). Checks,
// allocation and launches on the current stream under a device guard are here; the kernels
// are in corrupt_encode_cuda.cu.
// The GEMMs run in IEEE float32 whatever torch.backends.cuda.matmul.allow_tf32 says
// (at::NoTF32Guard, thread-local): the op's contract is "computed in float32" on every backend
// (the Triton kernels force input_precision="ieee", the CPU computes in float32), and a TF32 flag
// set for some other network would otherwise move h by ~1e-3 here and only here.
// Without a seed the mask comes from torch's CUDA generator (common/cuda_host.h): the op can be
// captured in a CUDA graph, and every replay draws a new mask.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

#include "common/cuda_host.h"
#include "common/dispatch.h"
#include "common/math.h"
#include "corrupt_encode/corrupt_encode_host.h"
#include "corrupt_encode/corrupt_encode_mask.h"

namespace fastgen {
namespace corrupt_encode {

template <typename T>
void launch_mask_input(const T* x, acc_type<T>* x_tilde, int64_t count, float corruption,
                       const PhiloxSource& source, cudaStream_t stream);
template <typename T>
void launch_mask_gradient(const acc_type<T>* grad, T* grad_x, int64_t count, float corruption,
                          const PhiloxSource& source, cudaStream_t stream);
template <typename T>
void launch_encode(const acc_type<T>* pre, const T* bias, T* h, int64_t count, int64_t n_hidden, cudaStream_t stream);
template <typename T>
void launch_pre_gradient(const T* grad_h, const T* h, acc_type<T>* dpre, int64_t count, cudaStream_t stream);

namespace {

// x~ = x * keep in the compute dtype (float32, or float64 for float64 inputs).
at::Tensor masked_input(const at::Tensor& x, float corruption, const PhiloxSource& source) {
  at::Tensor x_tilde = at::empty(x.sizes(), x.options().dtype(acc_dtype(x)));
  FASTGEN_DISPATCH_FLOATING(x.scalar_type(), "corrupt_encode_mask_cuda", [&] {
    launch_mask_input<scalar_t>(x.data_ptr<scalar_t>(), x_tilde.data_ptr<acc_type<scalar_t>>(), x.numel(),
                                corruption, source, at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return x_tilde;
}

std::tuple<at::Tensor, at::Tensor> forward_cuda(const at::Tensor& x, const at::Tensor& weight,
                                                const at::Tensor& bias, double corruption,
                                                std::optional<int64_t> seed) {
  const Layout layout = check_forward(x, weight, bias, corruption);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::NoTF32Guard ieee_float32;
  // The mask kernel records the (seed, base) it drew from; no kernel runs when x is empty.
  at::Tensor rng_state = cuda_record(x, x.numel() > 0);
  const PhiloxSource source = x.numel() > 0 ? forward_source(seed, x.numel(), rng_state) : PhiloxSource{};
  const at::Tensor pre = at::mm(masked_input(x, static_cast<float>(corruption), source), weight.to(acc_dtype(x)));
  at::Tensor h = at::empty({layout.n, layout.n_hidden}, x.options());
  FASTGEN_DISPATCH_FLOATING(x.scalar_type(), "corrupt_encode_cuda", [&] {
    launch_encode<scalar_t>(pre.data_ptr<acc_type<scalar_t>>(), bias.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                            h.numel(), layout.n_hidden, at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {h, rng_state};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(const at::Tensor& grad_h, const at::Tensor& h,
                                                             const at::Tensor& x, const at::Tensor& weight,
                                                             double corruption, const at::Tensor& rng_state,
                                                             bool grad_x_needed) {
  check_backward(grad_h, h, x, weight, corruption);
  const c10::cuda::CUDAGuard guard(x.device());
  const at::NoTF32Guard ieee_float32;
  const float c = static_cast<float>(corruption);
  const PhiloxSource source = backward_source(rng_state, x);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  at::Tensor dpre = at::empty(h.sizes(), h.options().dtype(acc_dtype(x)));
  FASTGEN_DISPATCH_FLOATING(x.scalar_type(), "corrupt_encode_dpre_cuda", [&] {
    launch_pre_gradient<scalar_t>(grad_h.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                                  dpre.data_ptr<acc_type<scalar_t>>(), dpre.numel(), stream);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const at::Tensor grad_w = at::mm(masked_input(x, c, source).t(), dpre).to(weight.scalar_type());
  const at::Tensor grad_b = dpre.sum(0).to(weight.scalar_type());
  if (!grad_x_needed) return {at::empty({0}, x.options()), grad_w, grad_b};
  const at::Tensor grad_x_tilde = at::mm(dpre, weight.to(acc_dtype(x)).t());
  at::Tensor grad_x = at::empty_like(x);
  FASTGEN_DISPATCH_FLOATING(x.scalar_type(), "corrupt_encode_grad_x_cuda", [&] {
    launch_mask_gradient<scalar_t>(grad_x_tilde.data_ptr<acc_type<scalar_t>>(), grad_x.data_ptr<scalar_t>(),
                                   grad_x.numel(), c, source, stream);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_x, grad_w, grad_b};
}

}  // namespace

void apply_mask_cuda(const at::Tensor& in, const at::Tensor& out, double corruption, const at::Tensor& rng_state) {
  check_mask_arguments(in, out);
  const c10::cuda::CUDAGuard guard(in.device());
  if (in.numel() == 0) return;
  const PhiloxSource source = backward_source(rng_state, in);
  FASTGEN_DISPATCH_FLOATING(in.scalar_type(), "corrupt_encode_apply_mask_cuda", [&] {
    launch_mask_input<scalar_t>(in.data_ptr<scalar_t>(), out.data_ptr<acc_type<scalar_t>>(), in.numel(),
                                static_cast<float>(corruption), source, at::cuda::getCurrentCUDAStream());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

TORCH_LIBRARY_IMPL(fastgen, CUDA, m) {
  m.impl("corrupt_encode", &forward_cuda);
  m.impl("_corrupt_encode_backward", &backward_cuda);
}

}  // namespace corrupt_encode
}  // namespace fastgen
