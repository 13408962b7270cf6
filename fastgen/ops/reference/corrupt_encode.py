"""Reference denoising-autoencoder encoder with masking corruption (Vincent, Larochelle, Bengio
& Manzagol, "Extracting and Composing Robust Features with Denoising Autoencoders", ICML 2008):

    keep_ij = U(seed, i * n_visible + j) >= corruption        (each input zeroed w.p. corruption)
    h       = sigmoid((x * keep) @ weight + bias)
"""

from __future__ import annotations

import torch

from fastgen.ops import philox
from fastgen.ops.reference.reparameterize import compute_dtype


def keep_mask(x: torch.Tensor, corruption: float, seed: int | None) -> torch.Tensor:
    """Boolean mask of the inputs that survive: Philox uniform(seed, row-major offset) >= corruption;
    without a seed, uniform(key[0], key[1] + offset) for a key drawn on x's device (``philox.draw_key``)."""
    offsets = torch.arange(x.numel(), device=x.device, dtype=torch.int64).view(x.shape)
    if seed is None:
        key = philox.draw_key(x.device)
        return philox.uniform(key[0], key[1] + offsets) >= corruption
    return philox.uniform(seed, offsets) >= corruption


def corrupt_encode(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, corruption: float, seed: int | None
) -> torch.Tensor:
    """h = sigmoid(mask(x) @ weight + bias) for x [N, n_visible], weight [n_visible, n_hidden]."""
    acc = compute_dtype(x.dtype)
    x_tilde = x.to(acc) * keep_mask(x, corruption, seed)
    return torch.sigmoid(x_tilde @ weight.to(acc) + bias.to(acc)).to(x.dtype)
