"""Reference VAE reparameterization and KL term (Kingma & Welling, "Auto-Encoding Variational
Bayes", ICLR 2014, eq. 10 and appendix B)."""

from __future__ import annotations

import torch

from fastgen.ops import philox


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs are computed in float32; float64 stays float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def noise(mu: torch.Tensor, seed: int | None) -> torch.Tensor:
    """The eps of element i is Philox normal (seed, offset = i in row-major order); without a seed,
    normal (key[0], key[1] + i) for a key drawn on mu's device (``philox.draw_key``)."""
    offsets = torch.arange(mu.numel(), device=mu.device, dtype=torch.int64).view(mu.shape)
    if seed is None:
        key = philox.draw_key(mu.device)
        return philox.normal(key[0], key[1] + offsets)
    return philox.normal(seed, offsets)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None, seed: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """z = mu + exp(logvar / 2) * eps and kl = -1/2 sum_j (1 + logvar - mu^2 - exp(logvar)).

    Differentiable through torch's autograd (eps is a constant unless it requires grad).
    """
    acc = compute_dtype(mu.dtype)
    eps = noise(mu, seed) if eps is None else eps
    m, lv, e = mu.to(acc), logvar.to(acc), eps.to(acc)
    z = m + torch.exp(0.5 * lv) * e
    kl = -0.5 * torch.sum(1.0 + lv - m * m - torch.exp(lv), dim=-1)
    return z.to(mu.dtype), kl.to(mu.dtype)
