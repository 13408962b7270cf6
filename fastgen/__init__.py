"""fastgen: compiled kernels for classic generative models and the metrics that judge them.

The names below are imported when first used (PEP 562), so that ``import fastgen`` (and
``fastgen --help``) does not wait for torch: ``fastgen.DCGAN`` imports the models, and the first
op imported loads the compiled kernels (``fastgen._extension``), or warns once that it cannot.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "DCGAN": "fastgen.models",
    "GAN": "fastgen.models",
    "LSGAN": "fastgen.models",
    "VAE": "fastgen.models",
    "DenoisingAutoencoder": "fastgen.models",
    "available_backends": "fastgen.backends",
    "backend": "fastgen.backends",
    "build_info": "fastgen.info",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fastgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
