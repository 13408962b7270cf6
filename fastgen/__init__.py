"""fastgen: compiled kernels for classic generative models and the metrics that judge them."""

from fastgen._extension import C as _C  # noqa: F401  (loads the kernels, or warns once)
from fastgen.backends import available_backends, backend
from fastgen.info import build_info
from fastgen.models import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder

__version__ = "0.1.0"

__all__ = [
    "DCGAN",
    "GAN",
    "LSGAN",
    "VAE",
    "DenoisingAutoencoder",
    "available_backends",
    "backend",
    "build_info",
    "__version__",
]
