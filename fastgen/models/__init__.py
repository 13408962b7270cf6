"""The classic generative models, each an ``nn.Module`` with one training interface:

- ``make_optimizers(lr=None) -> dict[str, Optimizer]`` (the paper's optimizer and settings);
- ``training_step(batch, optimizers) -> dict[str, Tensor]``: one update on a batch in data space
  (images in [0, 1], points as they are), returning the losses as detached 0-d tensors on the
  batch's device (read them with ``float()`` when you log: each read waits for the step);
- ``sample(n)`` for the generative models, ``evaluate(batch)`` for the autoencoders.

The fused ops inside run on the backend ``fastgen.backend(...)`` selects (``"torch"``: the
reference ops, to compare "the same model" unfused). ``fastgen.models.layers`` holds what makes
the steps fast: fused Adam, a frozen discriminator in the generator update, channels_last
convolutions and GEMM projections.
"""

from fastgen.models.dae import DenoisingAutoencoder
from fastgen.models.dcgan import DCGAN
from fastgen.models.gan import GAN
from fastgen.models.lsgan import LSGAN
from fastgen.models.vae import VAE

__all__ = ["DCGAN", "GAN", "LSGAN", "VAE", "DenoisingAutoencoder"]
