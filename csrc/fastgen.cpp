// The Python module fastgen._C: build information and a threading probe. The ops are not here:
// each op declares its schemas beside its kernels (csrc/<op>/<op>.cpp, TORCH_LIBRARY_FRAGMENT,
// as torchvision does), its kernels register against them from their own files
// (TORCH_LIBRARY_IMPL(fastgen, CPU|CUDA|Autograd, m)), and fakes (meta) and the Triton ops'
// autograd are registered from Python (fastgen/ops/*.py). setup.py compiles every csrc/**/*.cpp.
#include <ATen/Parallel.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <vector>

#ifndef FASTGEN_VERSION
#define FASTGEN_VERSION "unknown"
#endif

// Build information for fastgen.build_info(); the versions fastgen was built against are also
// written to fastgen/_build_config.py, readable even when this module cannot be loaded.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "fastgen's compiled kernels; the ops are reached through torch.ops.fastgen";
  m.def("build_info", [] {
    pybind11::dict info;
    info["version"] = FASTGEN_VERSION;
#ifdef FASTGEN_WITH_CUDA
    info["cuda"] = true;
    info["cuda_archs"] = FASTGEN_CUDA_ARCHS;
#else
    info["cuda"] = false;
    info["cuda_archs"] = pybind11::none();
#endif
#ifdef _OPENMP
    info["openmp"] = true;
#else
    info["openmp"] = false;
#endif
    return info;
  });
  // How many threads at::parallel_for spreads `tasks` one-element tasks over: torch's thread count
  // when the extension was compiled with OpenMP, 1 when not (ATen's parallel regions are inline
  // OpenMP pragmas, ignored without -fopenmp). The tests check it; it costs no kernel anything.
  m.def("parallel_threads", [](int64_t tasks) {
    std::vector<char> used(static_cast<size_t>(std::max(at::get_num_threads(), 1)), 0);
    at::parallel_for(0, tasks, 1, [&](int64_t, int64_t) { used[static_cast<size_t>(at::get_thread_num())] = 1; });
    return static_cast<int64_t>(std::count(used.begin(), used.end(), 1));
  });
}
