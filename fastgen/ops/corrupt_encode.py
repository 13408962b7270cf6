"""``fastgen.ops.corrupt_encode``: masking corruption + encoder GEMM + sigmoid of a denoising
autoencoder, fused (Vincent et al., ICML 2008). The mask is drawn from the Philox stream
(seed, element offset of x) and regenerated in backward: neither the mask nor the corrupted
input is stored.

This first version dispatches to the reference only; compiled paths are being added.
"""

from __future__ import annotations

import torch

from fastgen import backends
from fastgen.ops import _checks, seeds
from fastgen.ops.reference.corrupt_encode import corrupt_encode as reference

__all__ = ["corrupt_encode"]


def corrupt_encode(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    *,
    corruption: float,
    seed: int | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """h = sigmoid(mask(x) @ weight + bias), each input zeroed with probability ``corruption``.

    Args:
        x: ``[N, n_visible]``; weight: ``[n_visible, n_hidden]``; bias: ``[n_hidden]``.
        corruption: the masking level c, 0 <= c < 1.
        seed: Philox seed of the mask (element (i, j) is dropped when
            tl.rand(seed, i * n_visible + j) < c); drawn from torch's generator when None.

    Returns:
        h ``[N, n_hidden]`` in the dtype of x; differentiable in x, weight and bias.
    """
    _checks.floating(x, "x")
    _checks.floating(weight, "weight")
    _checks.floating(bias, "bias")
    if x.dim() != 2:
        raise ValueError(f"x must have shape [N, n_visible], got {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"weight must have shape [n_visible={x.shape[1]}, n_hidden], got {tuple(weight.shape)}")
    if bias.shape != (weight.shape[1],):
        raise ValueError(f"bias must have shape [n_hidden={weight.shape[1]}], got {tuple(bias.shape)}")
    _checks.same_device(weight, "weight", x, "x")
    _checks.same_device(bias, "bias", x, "x")
    if not isinstance(corruption, (int, float)) or not 0.0 <= corruption < 1.0:
        raise ValueError(f"corruption must be a number with 0 <= corruption < 1, got {corruption!r}")
    seed = seeds.resolve(seed)
    impl = backends.select("corrupt_encode", {"torch": reference}, x.device, backend)
    return impl(x, weight, bias, float(corruption), seed)
