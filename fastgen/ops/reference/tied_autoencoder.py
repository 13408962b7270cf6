"""Reference reconstruction logits of a tied-weight denoising autoencoder with masking corruption
(Vincent, Larochelle, Bengio & Manzagol, ICML 2008):

    h      = sigmoid((x * keep) @ weight + hidden_bias)         (the corrupt_encode reference)
    logits = h @ weight^T + visible_bias
"""

from __future__ import annotations

import torch

from fastgen.ops.reference.corrupt_encode import corrupt_encode
from fastgen.ops.reference.reparameterize import compute_dtype


def tied_autoencoder(
    x: torch.Tensor,
    weight: torch.Tensor,
    hidden_bias: torch.Tensor,
    visible_bias: torch.Tensor,
    corruption: float,
    seed: int | None,
) -> torch.Tensor:
    """logits [N, n_visible] for x [N, n_visible], weight [n_visible, n_hidden]."""
    acc = compute_dtype(x.dtype)
    h = corrupt_encode(x, weight, hidden_bias, corruption, seed)
    return (h.to(acc) @ weight.to(acc).t() + visible_bias.to(acc)).to(x.dtype)
