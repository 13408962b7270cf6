"""Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014).

The encoder gives q(z|x) = N(μ(x), diag exp(logvar(x))); with z = μ + exp(½ logvar)·ε and the
prior N(0, I), the ELBO of one sample (eq. 10) is

    ELBO(x) = log p(x | z) - KL(q(z|x) ‖ N(0, I)),   KL = -½ Σ_j (1 + logvar_j - μ_j² - exp(logvar_j))

z and the KL come from the fused ``fastgen.ops.reparameterize`` (ε drawn in the kernel from the
Philox stream). Likelihoods, for x ∈ [0, 1]^D and decoder output o:

    bernoulli: log p(x|z) = Σ_d [x_d log σ(o_d) + (1 - x_d) log(1 - σ(o_d))]     (from logits)
    gaussian:  log p(x|z) = Σ_d log N(x_d; o_d, s²), one learned scale s = exp(log_scale)

The loss is -mean ELBO over the batch; Adam (lr 1e-3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fastgen import ops
from fastgen.models.layers import adam

__all__ = ["VAE"]

ARCHITECTURES = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")


def _mlp_nets(data_shape, latent_dim: int, hidden: int) -> tuple[nn.Module, nn.Module]:
    size = math.prod(data_shape)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
    decoder = nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, size), nn.Unflatten(1, tuple(data_shape))
    )
    return encoder, decoder


def _conv_nets(data_shape, latent_dim: int, hidden: int) -> tuple[nn.Module, nn.Module]:
    """Two stride-2 4×4 convolutions (32, 64 channels) and a hidden layer; the decoder mirrors them."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] % 4:
        raise ValueError(f"arch='conv' needs square images (C, S, S) with S divisible by 4, got {tuple(data_shape)}")
    channels, side = data_shape[0], data_shape[1] // 4
    encoder = nn.Sequential(
        nn.Conv2d(channels, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * side * side, hidden), nn.ReLU(),
        nn.Linear(hidden, 2 * latent_dim),
    )  # fmt: skip
    decoder = nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.ReLU(),
        nn.Linear(hidden, 64 * side * side), nn.ReLU(), nn.Unflatten(1, (64, side, side)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, channels, 4, 2, 1),
    )  # fmt: skip
    return encoder, decoder


class VAE(nn.Module):
    """VAE with MLP or convolutional encoder/decoder.

    Args:
        data_shape: shape of one sample, ``(C, H, W)`` images or ``(D,)`` vectors, values in [0, 1]
            for the Bernoulli likelihood.
        latent_dim, hidden: sizes of z and of the hidden layer.
        arch: ``"mlp"`` (one ReLU hidden layer each way) or ``"conv"``.
        likelihood: ``"bernoulli"`` or ``"gaussian"`` (learned scale).
        lr: Adam's learning rate.

    ``reparameterize`` runs on the backend ``fastgen.backend`` selects.
    """

    def __init__(
        self,
        data_shape=(1, 28, 28),
        latent_dim: int = 20,
        hidden: int = 400,
        *,
        arch: str = "mlp",
        likelihood: str = "bernoulli",
        lr: float = 1e-3,
    ):
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.data_shape = tuple(data_shape)
        self.latent_dim, self.arch, self.likelihood = latent_dim, arch, likelihood
        self.lr = lr
        build = _mlp_nets if arch == "mlp" else _conv_nets
        self.encoder, self.decoder = build(self.data_shape, latent_dim, hidden)
        self.log_scale = nn.Parameter(torch.zeros(())) if likelihood == "gaussian" else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar), each ``[N, latent_dim]``."""
        return self.encoder(x).chunk(2, dim=1)

    def log_likelihood(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per sample ``[N]`` from the decoder output (logits or means)."""
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(output, x, reduction="none").flatten(1).sum(1)
        scale = self.log_scale.exp()
        per_input = -0.5 * ((x - output) / scale) ** 2 - self.log_scale - 0.5 * math.log(2 * math.pi)
        return per_input.flatten(1).sum(1)

    def elbo(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-sample ``elbo``, ``log_likelihood`` and ``kl`` (each ``[N]``) of x ``[N, *data_shape]``."""
        mu, logvar = self.encode(x)
        z, kl = ops.reparameterize(mu, logvar, eps=eps)
        log_likelihood = self.log_likelihood(x, self.decoder(z))
        return {"elbo": log_likelihood - kl, "log_likelihood": log_likelihood, "kl": kl}

    def loss(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """-mean ELBO over the batch."""
        return -self.elbo(x, eps)["elbo"].mean()

    def make_optimizers(self, lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        return {"vae": adam(self.parameters(), self.lr if lr is None else lr)}

    def training_step(
        self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]:
        """One Adam step on -mean ELBO; the loss comes back detached, on the batch's device."""
        optimizer = optimizers["vae"]
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    def mean_image(self, output: torch.Tensor) -> torch.Tensor:
        """E[x | z] from the decoder output, in [0, 1]."""
        return torch.sigmoid(output) if self.likelihood == "bernoulli" else output.clamp(0.0, 1.0)

    @torch.no_grad()
    def sample(self, n: int, z: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder means E[x | z] for z ~ N(0, I), ``[n, *data_shape]``."""
        z = torch.randn(n, self.latent_dim, device=self.decoder[0].weight.device) if z is None else z
        return self.mean_image(self.decoder(z))

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, float]:
        """Mean ELBO, log-likelihood and KL per sample on x."""
        parts = self.elbo(x)
        return {name: value.mean().item() for name, value in parts.items()}
