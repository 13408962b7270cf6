"""Generative adversarial networks (Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014).

A generator G maps noise z ~ N(0, I) to data; a discriminator D returns a logit l(x) with
D(x) = sigmoid(l(x)). With BCE computed stably from logits (log sigmoid(l) = -softplus(-l)):

    L_D            = E_x[softplus(-l(x))] + E_z[softplus(l(G(z)))]     (= -E log D(x) - E log(1 - D(G(z))))
    L_G saturating = -E_z[softplus(l(G(z)))]                           (= E log(1 - D(G(z))), the minimax game)
    L_G non-sat.   = E_z[softplus(-l(G(z)))]                           (= -E log D(G(z)), §3 of the paper)

``Adversarial`` holds what every GAN here shares (the alternating D/G step, sampling, the
optimizers); ``GAN``, ``DCGAN`` and ``LSGAN`` choose the networks and the losses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fastgen.models.layers import adam, frozen

__all__ = ["GAN", "Adversarial", "MLPDiscriminator", "MLPGenerator", "bce_discriminator_loss", "bce_generator_loss"]


def bce_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """-E log D(x) - E log(1 - D(G(z))), from logits."""
    return F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()


def bce_generator_loss(logits_fake: torch.Tensor, *, saturating: bool = False) -> torch.Tensor:
    """Non-saturating -E log D(G(z)) by default; the minimax E log(1 - D(G(z))) when ``saturating``."""
    if saturating:
        return -F.softplus(logits_fake).mean()
    return F.softplus(-logits_fake).mean()


def is_image_shape(data_shape: tuple[int, ...]) -> bool:
    return len(data_shape) == 3


class MLPGenerator(nn.Module):
    """z ``[N, latent_dim]`` → sample ``[N, *data_shape]``; tanh output for images (range [-1, 1])."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], hidden: int, layers: int):
        super().__init__()
        self.data_shape = tuple(data_shape)
        blocks, width = [], latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        blocks.append(nn.Linear(width, math.prod(data_shape)))
        if is_image_shape(self.data_shape):
            blocks.append(nn.Tanh())
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
    """x ``[N, *data_shape]`` → one unbounded score per sample ``[N]`` (a logit, or the LSGAN output)."""

    def __init__(self, data_shape: tuple[int, ...], hidden: int, layers: int):
        super().__init__()
        blocks, width = [nn.Flatten()], math.prod(data_shape)
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


class Adversarial(nn.Module):
    """Alternating GAN training: one D step on a real and a generated batch, then one G step.

    Images live in [0, 1] outside the model and in [-1, 1] (tanh range) inside it; points (e.g.
    the 2-D Gaussian ring) are used as they are. Subclasses set ``generator``,
    ``discriminator`` and implement ``discriminator_loss`` / ``generator_loss``.
    """

    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, data_shape, latent_dim: int, lr: float, betas: tuple[float, float]):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.latent_dim = latent_dim
        self.lr = lr
        self.betas = betas
        self.images = is_image_shape(self.data_shape)

    def discriminator_loss(self, scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, scores_fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def make_optimizers(self, lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        lr = self.lr if lr is None else lr
        return {
            "discriminator": adam(self.discriminator.parameters(), lr, self.betas),
            "generator": adam(self.generator.parameters(), lr, self.betas),
        }

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 - 1.0 if self.images else x

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1.0) * 0.5).clamp(0.0, 1.0) if self.images else x

    def noise(self, n: int, device: torch.device | None = None) -> torch.Tensor:
        device = device if device is not None else next(self.parameters()).device
        return torch.randn(n, self.latent_dim, device=device)

    def training_step(
        self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]:
        """One D update then one G update on ``batch`` ``[N, *data_shape]`` (data space).

        Returns the two losses as detached 0-d tensors on the batch's device: reading them
        (``float(loss)``) waits for the step to finish, so the caller does it when it logs.
        During the G update D is frozen (``layers.frozen``): its backward computes the gradient
        of G's samples only, not D's weight gradients, which the next D update would discard.
        """
        real = self.to_model_space(batch)
        z = self.noise(real.shape[0], real.device)
        fake = self.generator(z)

        optimizers["discriminator"].zero_grad(set_to_none=True)
        # scores in float32 (a no-op unless the step runs under bfloat16 autocast): losses are reductions
        loss_d = self.discriminator_loss(self.discriminator(real).float(), self.discriminator(fake.detach()).float())
        loss_d.backward()
        optimizers["discriminator"].step()

        optimizers["generator"].zero_grad(set_to_none=True)
        with frozen(self.discriminator) as discriminator:
            loss_g = self.generator_loss(discriminator(fake).float())
        loss_g.backward()
        optimizers["generator"].step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    @torch.no_grad()
    def sample(self, n: int, z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples ``[n, *data_shape]`` in data space (images in [0, 1]), G in eval mode."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            z = self.noise(n) if z is None else z
            return self.to_data_space(self.generator(z))
        finally:
            self.generator.train(was_training)


class GAN(Adversarial):
    """The original GAN with MLP generator and discriminator (Goodfellow et al. 2014).

    Args:
        data_shape: shape of one sample, ``(C, H, W)`` for images in [0, 1] or ``(D,)`` for points.
        latent_dim: size of z ~ N(0, I).
        hidden, layers: width and number of hidden layers of both MLPs (G: ReLU, D: LeakyReLU(0.2)).
        saturating: train G on the minimax loss E log(1 - D(G(z))) instead of -E log D(G(z)).
        lr, betas: Adam's settings for both networks.

    Losses (module docstring): L_D = E softplus(-l(x)) + E softplus(l(G(z))), L_G as chosen.
    """

    def __init__(
        self,
        data_shape=(1, 28, 28),
        latent_dim: int = 64,
        hidden: int = 256,
        layers: int = 2,
        *,
        saturating: bool = False,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
    ):
        super().__init__(data_shape, latent_dim, lr, betas)
        self.saturating = saturating
        self.generator = MLPGenerator(latent_dim, self.data_shape, hidden, layers)
        self.discriminator = MLPDiscriminator(self.data_shape, hidden, layers)

    def discriminator_loss(self, scores_real, scores_fake):
        return bce_discriminator_loss(scores_real, scores_fake)

    def generator_loss(self, scores_fake):
        return bce_generator_loss(scores_fake, saturating=self.saturating)
