"""Reference least-squares GAN losses (Mao et al., "Least Squares Generative Adversarial
Networks", ICCV 2017, eq. 2):

    L_D = 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]
    L_G = 1/2 E[(D(G(z)) - c)^2]
"""

from __future__ import annotations

import torch

from fastgen.ops.reference.reparameterize import compute_dtype


def ls_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor, a: float, b: float) -> torch.Tensor:
    acc = compute_dtype(d_real.dtype)
    real = 0.5 * torch.mean((d_real.to(acc) - b) ** 2)
    fake = 0.5 * torch.mean((d_fake.to(acc) - a) ** 2)
    return (real + fake).to(d_real.dtype)


def ls_generator_loss(d_fake: torch.Tensor, c: float) -> torch.Tensor:
    acc = compute_dtype(d_fake.dtype)
    return (0.5 * torch.mean((d_fake.to(acc) - c) ** 2)).to(d_fake.dtype)
