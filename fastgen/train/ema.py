"""An exponential moving average of the weights that make samples.

After every optimisation step, for each floating-point parameter θ of the averaged network,

    θ_ema ← decay · θ_ema + (1 − decay) · θ        (θ_ema starts as θ at step 0)

(Polyak & Juditsky 1992; for GAN generators, Yazıcı et al., "The Unusual Effectiveness of
Averaging in GAN Training", ICLR 2019, and Karras et al.'s progressive GAN / StyleGAN, which
sample from such an average). Buffers (BatchNorm's running statistics, running averages
already) are not kept: the averaged weights run with the model's own, as StyleGAN2-ADA's G_ema
copies G's buffers. Under torch.distributed those are rank 0's in checkpoints and in evaluations
(``broadcast_buffers``), while the averaged weights are the same on every rank.

The averaged network is the one that makes samples: a GAN's ``generator``, a VAE's ``decoder``,
and the whole denoising autoencoder (its decoder is the tied weight of its encoder). The average
of its floating-point parameters is kept as tensors keyed like the model's ``state_dict``
(``generator.net.0.weight``), so a checkpoint's ``ema`` entry loads into the model with
``load_state_dict(ema, strict=False)``.

Under torch.distributed every rank holds the same parameters after each step (DDP averages the
gradients), so every rank's average is the same: rank 0's checkpoint resumes it exactly in any
world size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["AVERAGED_NETWORKS", "ModelEMA", "averaged_prefix", "check_decay"]

AVERAGED_NETWORKS = ("generator", "decoder")  # the first a model has is averaged; none: the whole model


def check_decay(decay) -> float:
    """``decay`` as a float in (0, 1), or a ValueError naming it."""
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
        raise ValueError(f"ema decay must be a number in (0, 1), e.g. 0.999, got {decay!r}")
    return float(decay)


def averaged_prefix(model: nn.Module) -> str:
    """The ``state_dict`` prefix of the network averaged for ``model`` (``""``: all of it)."""
    for name in AVERAGED_NETWORKS:
        if isinstance(getattr(model, name, None), nn.Module):
            return name + "."
    return ""


class ModelEMA:
    """The average of ``model``'s sampling network (see the module docstring).

    ``update()`` after each step; ``applied()`` puts the averaged weights in the model for a
    block (samples, metrics) and the trained ones back after it; ``state_dict()`` /
    ``load_state_dict()`` for checkpoints.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = check_decay(decay)
        self.model = model
        prefix = averaged_prefix(model)
        self.live = {
            name: parameter
            for name, parameter in model.named_parameters()
            if name.startswith(prefix) and parameter.is_floating_point()
        }
        self.average = {name: parameter.detach().clone() for name, parameter in self.live.items()}

    @torch.no_grad()
    def update(self) -> None:
        if self.live:
            names = list(self.live)
            averages = [self.average[n] for n in names]
            torch._foreach_lerp_(averages, [self.live[n].detach() for n in names], 1 - self.decay)

    @contextmanager
    @torch.no_grad()
    def applied(self) -> Iterator[None]:
        trained = {name: t.detach().clone() for name, t in self.live.items()}
        for name, tensor in self.live.items():
            tensor.data.copy_(self.average[name])
        try:
            yield
        finally:
            for name, tensor in self.live.items():
                tensor.data.copy_(trained[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: t.clone() for name, t in self.average.items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state.keys() != self.average.keys():
            missing = sorted(self.average.keys() - state.keys()) or sorted(state.keys() - self.average.keys())
            raise ValueError(f"the saved average does not match this model's network (first differing: {missing[0]})")
        for name, tensor in state.items():
            self.average[name].copy_(tensor)
