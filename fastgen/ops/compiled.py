"""What the kernels of the compiled extension fastgen._C take, op by op: the cpp backend (the CPU
kernels of csrc/<op>/<op>_cpu.cpp) and the cuda backend (csrc/<op>/<op>_cuda.cu). Both serve one
custom op per name, ``fastgen::<name>``, declared in csrc/fastgen.cpp.

An op description lists ``**compiled.implementations("<name>")`` among its implementations; a
new op with C++ kernels adds its row to ``_KERNELS``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fastgen.ops._registry import Capabilities

# FASTGEN_DISPATCH_FLOATING (csrc/common/dispatch.h): half precision is read and written in its
# dtype and computed in float32; float32 and float64 keep their precision.
_FLOATING = {
    torch.float16: torch.float32,
    torch.bfloat16: torch.float32,
    torch.float32: torch.float32,
    torch.float64: torch.float64,
}
# The covariance kernels take float32 and float64 only (ops/covariance.py widens half precision).
_FLOAT32_64 = {torch.float32: torch.float32, torch.float64: torch.float64}
# The Philox draws take int64 element offsets and compute float32 numbers.
_OFFSETS = {torch.int64: torch.float32}

_CPU, _CUDA = ("cpu",), ("cuda",)

# op -> backend -> what its kernels take. covariance has no CUDA kernel: on a GPU it runs on Triton.
_KERNELS: dict[str, dict[str, Capabilities]] = {
    "reparameterize": {"cpp": Capabilities(_CPU, _FLOATING), "cuda": Capabilities(_CUDA, _FLOATING)},
    "corrupt_encode": {"cpp": Capabilities(_CPU, _FLOATING), "cuda": Capabilities(_CUDA, _FLOATING)},
    "ls_discriminator_loss": {"cpp": Capabilities(_CPU, _FLOATING), "cuda": Capabilities(_CUDA, _FLOATING)},
    "ls_generator_loss": {"cpp": Capabilities(_CPU, _FLOATING), "cuda": Capabilities(_CUDA, _FLOATING)},
    "philox_uniform": {"cpp": Capabilities(_CPU, _OFFSETS), "cuda": Capabilities(_CUDA, _OFFSETS)},
    "philox_normal": {"cpp": Capabilities(_CPU, _OFFSETS), "cuda": Capabilities(_CUDA, _OFFSETS)},
    "covariance": {"cpp": Capabilities(_CPU, _FLOAT32_64)},
    "shifted_moments": {"cpp": Capabilities(_CPU, _FLOAT32_64)},
}


def implementations(name: str) -> dict[str, Callable[[], Capabilities]]:
    """The op description's entries for fastgen._C's kernels of ``name``: backend -> loader.

    fastgen._C registers its ops when it is loaded (``fastgen._extension``), so the loaders
    import nothing; the registry calls them only where the extension is loaded.
    """
    return {backend: (lambda caps=caps: caps) for backend, caps in _KERNELS[name].items()}
