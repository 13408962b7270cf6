"""What the kernels of the compiled extension fastgen._C take: the cpp backend (the CPU kernels of
csrc/<op>/<op>_cpu.cpp) and the cuda backend (csrc/<op>/<op>_cuda.cu). Both serve one custom op
per name, ``fastgen::<name>``, declared with its kernels (``TORCH_LIBRARY_FRAGMENT`` in
csrc/<op>/<op>.cpp).

An op description lists ``**compiled.implementations(cpp=..., cuda=...)`` among its
implementations: for each backend with kernels, the dtypes they take (one of the tables below).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from fastgen.ops._registry import Capabilities

# FASTGEN_DISPATCH_FLOATING (csrc/common/dispatch.h): half precision is read and written in its
# dtype and computed in float32; float32 and float64 keep their precision.
FLOATING = {
    torch.float16: torch.float32,
    torch.bfloat16: torch.float32,
    torch.float32: torch.float32,
    torch.float64: torch.float64,
}
# float32 and float64 only (the covariance kernels: ops/covariance.py widens half precision).
FLOAT32_64 = {torch.float32: torch.float32, torch.float64: torch.float64}
# int64 element offsets in, float32 numbers out (the Philox draws).
OFFSETS = {torch.int64: torch.float32}

_DEVICES = {"cpp": ("cpu",), "cuda": ("cuda",)}


def implementations(**compute: Mapping[torch.dtype, torch.dtype]) -> dict[str, Callable[[], Capabilities]]:
    """The op description's entries for fastgen._C's kernels: backend (``cpp``, ``cuda``) -> a
    loader of what they take, ``compute[backend]`` on that backend's device.

    fastgen._C registers its ops when it is loaded (``fastgen._extension``), so the loaders
    import nothing; the registry calls them only where the extension is loaded.
    """
    unknown = set(compute) - set(_DEVICES)
    if unknown:
        raise ValueError(f"fastgen._C has backends {sorted(_DEVICES)}, not {sorted(unknown)}")
    return {backend: _loader(Capabilities(_DEVICES[backend], dtypes)) for backend, dtypes in compute.items()}


def _loader(capabilities: Capabilities) -> Callable[[], Capabilities]:
    return lambda: capabilities
