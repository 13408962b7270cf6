"""Deep convolutional GAN (Radford, Metz & Chintala, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks", ICLR 2016; arXiv 2015).

The paper's guidelines (§3): no pooling or fully connected hidden layers (strided convolutions in
D, fractionally strided ones in G), batch norm in both nets except G's output and D's input
layers, ReLU in G with a tanh output, LeakyReLU(0.2) in D, weights from N(0, 0.02), Adam with
lr 2e-4 and β₁ = 0.5. The loss is the GAN's BCE with the non-saturating generator loss
(see ``fastgen.models.gan``):

    L_D = E softplus(-l(x)) + E softplus(l(G(z))),   L_G = E softplus(-l(G(z)))

Sizes 32 and 64 start G from a 4×4 map (as the paper's 64×64 LSUN net does) and double it with
4×4 stride-2 transposed convolutions; size 28 (MNIST) starts from 7×7. Channel counts halve at
each doubling from ``width · 2^(k-1)``, k being the number of doublings; D mirrors G.

Both networks train channels_last, and G's first and D's last layer (a 1 × 1 ↔ base × base
projection) run as one GEMM each (``fastgen.models.layers``): the same functions and parameters as
the paper's layers, several times faster on a CPU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fastgen.models.gan import Adversarial, bce_discriminator_loss, bce_generator_loss
from fastgen.models.layers import IMAGE_MEMORY_FORMAT, ConvToVector, VectorToMap

__all__ = ["DCGAN", "DCGANDiscriminator", "DCGANGenerator", "dcgan_init"]

SIZES = (28, 32, 64)


def _plan(image_size: int) -> tuple[int, int]:
    """(side of the smallest feature map, number of 2× resolution changes) for a supported size."""
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES}, got {image_size!r}")
    base = 7 if image_size == 28 else 4
    return base, int(math.log2(image_size // base))


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) for (transposed) convolutions, N(1, 0.02) scale and zero shift for batch norm."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z ``[N, latent_dim]`` → images ``[N, channels, image_size, image_size]`` in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 28, width: int = 64):
        super().__init__()
        base, doublings = _plan(image_size)
        ch = width * 2 ** (doublings - 1)
        layers = [VectorToMap(latent_dim, ch, base, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(doublings - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)
        self.to(memory_format=IMAGE_MEMORY_FORMAT)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images ``[N, channels, image_size, image_size]`` in [-1, 1] → one score per image ``[N]``."""

    def __init__(self, channels: int = 1, image_size: int = 28, width: int = 64):
        super().__init__()
        base, doublings = _plan(image_size)
        ch = width
        layers = [nn.Conv2d(channels, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(doublings - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers.append(ConvToVector(ch, 1, base))
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)
        self.to(memory_format=IMAGE_MEMORY_FORMAT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=IMAGE_MEMORY_FORMAT)).view(-1)


class DCGAN(Adversarial):
    """DCGAN on ``image_size`` ∈ {28, 32, 64} images with 1 or 3 channels.

    Args:
        image_size, channels: the images' side and channel count (data in [0, 1]).
        latent_dim: size of z ~ N(0, I) (100 in the paper).
        width: channels of D's first layer and G's last hidden layer (64 in the paper; smaller
            widths train faster on a CPU).
        lr, betas: Adam's settings, the paper's (2e-4, (0.5, 0.999)) by default.
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        latent_dim: int = 100,
        width: int = 64,
        *,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
    ):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        super().__init__((channels, image_size, image_size), latent_dim, lr, betas)
        self.generator = DCGANGenerator(latent_dim, channels, image_size, width)
        self.discriminator = DCGANDiscriminator(channels, image_size, width)

    def discriminator_loss(self, scores_real, scores_fake):
        return bce_discriminator_loss(scores_real, scores_fake)

    def generator_loss(self, scores_fake):
        return bce_generator_loss(scores_fake)
