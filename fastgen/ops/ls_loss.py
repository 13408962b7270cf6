"""``fastgen.ops.ls_discriminator_loss`` / ``ls_generator_loss``: the least-squares GAN losses
(Mao et al., ICCV 2017) with labels a (fake), b (real) and c (what G wants D to say).

This first version dispatches to the reference only; compiled paths are being added.
"""

from __future__ import annotations

import torch

from fastgen import backends
from fastgen.ops import _checks
from fastgen.ops.reference import ls_loss as reference

__all__ = ["ls_discriminator_loss", "ls_generator_loss"]


def _label(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def ls_discriminator_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor, a: float, b: float, *, backend: str | None = None
) -> torch.Tensor:
    """1/2 mean((d_real - b)^2) + 1/2 mean((d_fake - a)^2), a scalar; d_real and d_fake are the
    discriminator's outputs on real and generated samples (any shapes, same dtype/device)."""
    _checks.floating(d_real, "d_real")
    _checks.floating(d_fake, "d_fake")
    _checks.same_device(d_fake, "d_fake", d_real, "d_real")
    if d_real.numel() == 0 or d_fake.numel() == 0:
        raise ValueError("d_real and d_fake must not be empty")
    a, b = _label(a, "a"), _label(b, "b")
    impl = backends.select("ls_discriminator_loss", {"torch": reference.ls_discriminator_loss}, d_real.device, backend)
    return impl(d_real, d_fake, a, b)


def ls_generator_loss(d_fake: torch.Tensor, c: float, *, backend: str | None = None) -> torch.Tensor:
    """1/2 mean((d_fake - c)^2), a scalar."""
    _checks.floating(d_fake, "d_fake")
    if d_fake.numel() == 0:
        raise ValueError("d_fake must not be empty")
    c = _label(c, "c")
    impl = backends.select("ls_generator_loss", {"torch": reference.ls_generator_loss}, d_fake.device, backend)
    return impl(d_fake, c)
