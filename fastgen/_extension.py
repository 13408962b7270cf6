"""Loading the compiled extension fastgen._C, or explaining why it is not there.

If the extension is missing or cannot be loaded, fastgen still imports: it warns once and
every op falls back to its pure-PyTorch reference.
"""

from __future__ import annotations

import warnings

import torch

try:  # written by setup.py at build time
    from fastgen import _build_config as build_config
except ImportError:  # a source checkout that was never built
    build_config = None


def _mismatch() -> str | None:
    """Words for a torch/CUDA mismatch between build time and now, or None."""
    if build_config is None:
        return None
    built_torch = build_config.torch_version.split("+")[0]
    have_torch = torch.__version__.split("+")[0]
    if built_torch == have_torch:
        return None
    cuda = f" with CUDA {build_config.cuda_version}" if build_config.cuda_version else " (CPU kernels only)"
    return (
        f"fastgen._C was built for torch {build_config.torch_version}{cuda}, you have torch "
        f"{torch.__version__} (CUDA {torch.version.cuda}); rebuild it with "
        "`pip install --no-build-isolation --force-reinstall --no-deps .`"
    )


def _load():
    try:
        from fastgen import _C as module
    except (ImportError, OSError) as error:
        reason = _mismatch() or f"fastgen._C could not be loaded ({error})"
        if build_config is None:
            reason = "fastgen._C is not built (install with `pip install --no-build-isolation .`)"
        warnings.warn(f"{reason}; every op falls back to its PyTorch reference", RuntimeWarning, stacklevel=3)
        return None, reason
    mismatch = _mismatch()
    if mismatch:
        warnings.warn(mismatch, RuntimeWarning, stacklevel=3)
    return module, None


C, load_error = _load()


def compiled_info() -> dict:
    """What the loaded extension was compiled with ({} when it is not loaded)."""
    return dict(C.build_info()) if C is not None else {}
