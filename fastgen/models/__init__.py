"""The classic generative models, each an ``nn.Module`` with one training interface:

- ``make_optimizers(lr=None) -> dict[str, Optimizer]`` (the paper's optimizer and settings);
- ``training_step(batch, optimizers) -> dict[str, float]``: one update on a batch in data space
  (images in [0, 1], points as they are), returning the losses;
- ``sample(n)`` for the generative models, ``evaluate(batch)`` for the autoencoders, and
  ``backend``: the fastgen backend of the model's fused ops (None: auto; "torch": the reference
  ops, to compare "the same model" unfused).
"""

from fastgen.models.dae import DenoisingAutoencoder
from fastgen.models.dcgan import DCGAN
from fastgen.models.gan import GAN
from fastgen.models.lsgan import LSGAN
from fastgen.models.vae import VAE

__all__ = ["DCGAN", "GAN", "LSGAN", "VAE", "DenoisingAutoencoder"]
