"""Build the fastgen._C torch extension.

C++ CPU kernels are always built. CUDA kernels are built when FASTGEN_CUDA says so:
  FASTGEN_CUDA=1     build them; a missing nvcc or a CPU-only torch is an error (CI, and machines
                     that build for GPUs they do not have, e.g. a container built on a CPU node)
  FASTGEN_CUDA=0     skip them
  FASTGEN_CUDA=auto  (default) build them when a GPU is visible, nvcc is found and torch is a CUDA
                     build: torchvision's rule (FORCE_CUDA=1 or torch.cuda.is_available()), so a
                     CPU-only machine with nvcc does not spend minutes compiling kernels it cannot run
TORCH_CUDA_ARCH_LIST picks the GPU architectures (default "8.0;9.0+PTX" when no GPU is visible:
A100 and H100 machine code, plus sm_90 PTX that newer GPUs compile at load time),
MAX_JOBS caps parallel compilation, DEBUG=1 builds without optimisation and with symbols.

Build against the torch already installed: `pip install --no-build-isolation .`
(the way flash-attention, apex and pytorch/extension-cpp build).
"""

import glob
import os
import re
import shutil
import subprocess
import sys

from setuptools import setup

ROOT = os.path.dirname(os.path.abspath(__file__))
VERSION = "0.1.0"


def log(message):
    print(f"[fastgen setup] {message}", file=sys.stderr, flush=True)


def _locate_cuda_home():
    """Set CUDA_HOME to a toolkit with headers, if the user did not.

    torch derives it from `which nvcc`; a wrapper script such as /usr/local/bin/nvcc would make
    that /usr/local, which has no CUDA headers. Prefer a directory that has both nvcc and
    include/cuda_runtime_api.h.
    """
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"):
        return
    candidates = []
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
    candidates.append("/usr/local/cuda")
    for home in candidates:
        if os.path.exists(os.path.join(home, "bin", "nvcc")) and os.path.exists(
            os.path.join(home, "include", "cuda_runtime_api.h")
        ):
            os.environ["CUDA_HOME"] = home
            return


def _torch():
    _locate_cuda_home()
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError:  # pragma: no cover - the message is the point
        sys.exit(
            "fastgen builds against the torch already installed; install torch first, then\n"
            "  pip install --no-build-isolation .\n"
            "(see the README for the exact commands)."
        )
    return torch, cpp_extension


def _nvcc_version(cuda_home):
    nvcc = os.path.join(cuda_home, "bin", "nvcc")
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"release (\d+)\.(\d+)", out)
    if not match:
        raise RuntimeError(f"cannot read the CUDA version from `{nvcc} --version`:\n{out}")
    return int(match.group(1)), int(match.group(2))


def _want_cuda(torch, cpp_extension):
    """Decide whether to build the CUDA kernels; returns (build, reason)."""
    mode = os.environ.get("FASTGEN_CUDA", "auto").strip().lower()
    if mode not in ("0", "1", "auto"):
        sys.exit(f"FASTGEN_CUDA must be 0, 1 or auto, got {mode!r}")
    if mode == "0":
        return False, "FASTGEN_CUDA=0"
    if mode == "auto" and not torch.cuda.is_available():
        return False, "no GPU visible (FASTGEN_CUDA=1 builds them anyway)"
    problems = []
    if torch.version.cuda is None:
        problems.append(f"torch {torch.__version__} is not a CUDA build")
    if cpp_extension.CUDA_HOME is None:
        problems.append("no CUDA toolkit found (set CUDA_HOME or put nvcc on PATH)")
    if not problems:
        nvcc_major, nvcc_minor = _nvcc_version(cpp_extension.CUDA_HOME)
        torch_major = int(torch.version.cuda.split(".")[0])
        # apex's rule: the major versions must match, or the objects will not link/load.
        if nvcc_major != torch_major:
            problems.append(
                f"nvcc is CUDA {nvcc_major}.{nvcc_minor} but torch was built with CUDA "
                f"{torch.version.cuda}; the major versions must match"
            )
    if problems:
        if mode == "1":
            sys.exit("FASTGEN_CUDA=1 but the CUDA kernels cannot be built: " + "; ".join(problems))
        return False, "; ".join(problems)
    return True, f"nvcc in {cpp_extension.CUDA_HOME}"


def _cuda_library_includes():
    """Headers of the pip CUDA wheels (nvidia/cu13/include, nvidia/*/include).

    torch's extension build includes cusparse.h, cublas_v2.h, ...; with a pip-installed CUDA
    torch they live under site-packages/nvidia rather than in the toolkit.
    """
    try:
        import nvidia
    except ImportError:
        return []
    dirs = []
    for base in nvidia.__path__:
        dirs += sorted(glob.glob(os.path.join(base, "*", "include")))
    return [d for d in dirs if os.path.isdir(d)]


def _write_build_config(config):
    path = os.path.join(ROOT, "fastgen", "_build_config.py")
    body = "".join(f"{key} = {value!r}\n" for key, value in config.items())
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write('"""Written by setup.py: what fastgen._C was built against."""\n\n' + body)
    os.replace(tmp, path)


def extensions():
    torch, cpp_extension = _torch()
    build_cuda, why = _want_cuda(torch, cpp_extension)
    debug = os.environ.get("DEBUG", "0") == "1"

    # <op>_cuda_launch.cpp files register the CUDA kernels of <op>_cuda.cu (checks, allocation,
    # stream: the host side); they build only with CUDA. (Not <op>_cuda.cpp: the two object
    # files would have the same name.)
    all_cpp = sorted(glob.glob("csrc/**/*.cpp", recursive=True))
    sources = [s for s in all_cpp if not s.endswith("_cuda_launch.cpp")]
    cuda_sources = [s for s in all_cpp if s.endswith("_cuda_launch.cpp")]
    cuda_sources += sorted(glob.glob("csrc/**/*.cu", recursive=True))
    opt = ["-O0", "-g"] if debug else ["-O3"]
    cxx_flags = [*opt, "-std=c++20", "-fno-math-errno"]
    nvcc_flags = [*opt, "-std=c++20", "--expt-relaxed-constexpr", "-lineinfo"]
    define_macros = [("FASTGEN_VERSION", f'"{VERSION}"')]
    # ATen's parallel_for and parallel_reduce are inline OpenMP regions in its headers
    # (ATen/ParallelOpenMP.h, under #ifdef _OPENMP): compiled without -fopenmp they run every
    # kernel on one thread, whatever torch.set_num_threads says. At run time the OpenMP calls
    # resolve to the libgomp that libtorch_cpu has loaded already (same SONAME), so torch's
    # thread count governs ours.
    openmp = ["-fopenmp"] if torch.backends.openmp.is_available() and sys.platform.startswith("linux") else []
    cxx_flags += openmp

    archs = ""
    if build_cuda:
        # ATen/cuda/CUDAContext.h (in the *_cuda_launch.cpp files) includes cusparse.h, cublas_v2.h:
        # searched after the toolkit's headers (-idirafter), because the wheels also ship a
        # partial copy of the runtime headers (cuda_runtime_api.h without crt/) that must not
        # shadow nvcc's. The .cu files include no library headers.
        cxx_flags += [flag for d in _cuda_library_includes() for flag in ("-idirafter", d)]
        if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
            os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0+PTX"  # A100, H100, and PTX for what comes after
        archs = os.environ.get("TORCH_CUDA_ARCH_LIST", "visible GPUs")
        define_macros.append(("FASTGEN_WITH_CUDA", None))
        define_macros.append(("FASTGEN_CUDA_ARCHS", f'"{archs}"'))
        ext_cls = cpp_extension.CUDAExtension
        sources = sources + cuda_sources
    else:
        ext_cls = cpp_extension.CppExtension

    log(f"torch {torch.__version__} (CUDA {torch.version.cuda}), python {sys.version.split()[0]}")
    log(f"CUDA kernels: {'yes' if build_cuda else 'no'} ({why})" + (f", archs {archs}" if archs else ""))
    log(f"{len(sources)} sources, {'debug' if debug else 'release'}, MAX_JOBS={os.environ.get('MAX_JOBS', 'auto')}")

    _write_build_config(
        {
            "version": VERSION,
            "torch_version": torch.__version__,
            "cuda_version": torch.version.cuda if build_cuda else None,
            "cuda_archs": archs or None,
        }
    )
    ext = ext_cls(
        name="fastgen._C",
        sources=sources,
        include_dirs=[os.path.join(ROOT, "csrc")],
        define_macros=define_macros,
        extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags} if build_cuda else {"cxx": cxx_flags},
        extra_link_args=openmp,
    )
    return [ext], cpp_extension.BuildExtension


ext_modules, build_ext = extensions()
setup(
    version=VERSION,
    ext_modules=ext_modules,
    cmdclass={"build_ext": build_ext},
)
