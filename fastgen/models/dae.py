"""Denoising autoencoder with tied weights (Vincent, Larochelle, Bengio & Manzagol, "Extracting and
Composing Robust Features with Denoising Autoencoders", ICML 2008).

For x ∈ [0, 1]^n_visible, a corruption x̃ ~ q(x̃ | x), and tied weights W ``[n_visible, n_hidden]``:

    h  = sigmoid(x̃ W + b)                   encoder
    x̂  = sigmoid(h Wᵀ + b′)                 decoder
    L  = -1/N Σ_i Σ_j [x_ij log x̂_ij + (1 - x_ij) log(1 - x̂_ij)]     (computed from the logits)

Training runs encoder and decoder as one fused op, ``fastgen.ops.tied_autoencoder``, whose
backward computes the tied W's two gradients as one GEMM (and, for masking, draws the mask in
the kernel); ``encode`` alone is ``fastgen.ops.corrupt_encode``.

Corruptions: ``"masking"`` zeroes each input with probability ``corruption`` (the paper's
noise, drawn in the fused kernel from the Philox stream); ``"gaussian"`` adds N(0, corruption²);
``"salt_and_pepper"`` sets each input with probability ``corruption`` to 0 or 1 with equal
chance (Vincent et al., JMLR 2010, §4.2). The paper trains with plain SGD.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fastgen import ops
from fastgen.models.layers import adam

__all__ = ["CORRUPTIONS", "DenoisingAutoencoder"]

CORRUPTIONS = ("masking", "gaussian", "salt_and_pepper")
OPTIMIZERS = {"sgd": lambda params, lr: torch.optim.SGD(params, lr=lr), "adam": adam}


class DenoisingAutoencoder(nn.Module):
    """Tied-weight denoising autoencoder on flattened inputs in [0, 1].

    Args:
        n_visible, n_hidden: sizes of x and h.
        corruption: masking probability, salt-and-pepper probability, or Gaussian σ.
        noise: one of ``CORRUPTIONS``.
        lr: learning rate (0.1 with plain SGD, as in the deep learning tutorials' dA).
        optimizer: ``"sgd"`` (plain SGD, the paper's algorithm) or ``"adam"``.

    ``tied_autoencoder`` and ``corrupt_encode`` run on the backend ``fastgen.backend`` selects.

    Weights start uniform in ±4·sqrt(6 / (n_visible + n_hidden)) (Glorot & Bengio 2010, ×4 for
    sigmoid units), biases at zero.
    """

    def __init__(
        self,
        n_visible: int = 784,
        n_hidden: int = 500,
        corruption: float = 0.3,
        *,
        noise: str = "masking",
        lr: float = 0.1,
        optimizer: str = "sgd",
    ):
        super().__init__()
        if noise not in CORRUPTIONS:
            raise ValueError(f"noise must be one of {CORRUPTIONS}, got {noise!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
        if not 0.0 <= corruption < (math.inf if noise == "gaussian" else 1.0):
            raise ValueError(f"corruption must be in [0, 1) for {noise} noise, got {corruption!r}")
        bound = 4.0 * math.sqrt(6.0 / (n_visible + n_hidden))
        self.weight = nn.Parameter(torch.empty(n_visible, n_hidden).uniform_(-bound, bound))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.corruption, self.noise = float(corruption), noise
        self.lr, self.optimizer = lr, optimizer

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """x̃ for the Gaussian and salt-and-pepper noises (masking happens inside ``encode``)."""
        if self.noise == "gaussian":
            return x + self.corruption * torch.randn_like(x)
        hit = torch.rand_like(x) < self.corruption
        salt = torch.rand_like(x) < 0.5
        return torch.where(hit, salt.to(x.dtype), x)

    def _kernel_input(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """What the fused ops take: x and the masking level (the mask is drawn inside their
        kernels), or x̃ already corrupted and 0."""
        if self.noise == "masking":
            return x, self.corruption
        return self.corrupt(x), 0.0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """h = sigmoid(x̃ W + b), ``[N, n_hidden]``, for x ``[N, n_visible]``."""
        x_tilde, corruption = self._kernel_input(x)
        return ops.corrupt_encode(x_tilde, self.weight, self.hidden_bias, corruption=corruption)

    def reconstruction_logits(self, x: torch.Tensor) -> torch.Tensor:
        """decode_logits(encode(x)) in one fused op, ``[N, n_visible]``, for x ``[N, n_visible]``."""
        x_tilde, corruption = self._kernel_input(x)
        return ops.tied_autoencoder(x_tilde, self.weight, self.hidden_bias, self.visible_bias, corruption=corruption)

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The logits h Wᵀ + b′ of x̂, ``[N, n_visible]``."""
        return h @ self.weight.t() + self.visible_bias

    def flatten(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] != self.n_visible:
            raise ValueError(f"x must hold n_visible={self.n_visible} values per sample, got shape {tuple(x.shape)}")
        return flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits of a corrupted x (any shape ``[N, ...]`` with n_visible values per row)."""
        return self.reconstruction_logits(self.flatten(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Cross-entropy summed over inputs, averaged over the batch, stably from the logits."""
        target = self.flatten(x)
        logits = self.reconstruction_logits(target)
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / target.shape[0]

    def make_optimizers(self, lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        return {"autoencoder": OPTIMIZERS[self.optimizer](self.parameters(), self.lr if lr is None else lr)}

    def training_step(
        self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]:
        """One optimizer step on the denoising cross-entropy; the loss comes back detached, on the batch's device."""
        optimizer = optimizers["autoencoder"]
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """x̂ = sigmoid(decoder(encoder(corrupted x))), in the shape of x."""
        return torch.sigmoid(self(x)).view_as(x)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor) -> dict[str, float]:
        """Denoising cross-entropy (per sample) and squared error (per input) of x̂ against the clean x."""
        target = self.flatten(x)
        logits = self.reconstruction_logits(target)
        cross_entropy = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / target.shape[0]
        squared_error = torch.mean((torch.sigmoid(logits) - target) ** 2)
        return {"denoising_cross_entropy": cross_entropy.item(), "denoising_mse": squared_error.item()}
