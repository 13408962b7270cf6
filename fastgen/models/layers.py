"""What makes a model's training step fast, shared by the models: layers that compute the same
function as a torch layer by a faster route, the optimizer every model uses, the memory layout of
image networks, and freezing a network whose weight gradients nobody reads.

Two DCGAN layers are matrix products in disguise. G's first layer is a transposed convolution of
a 1 × 1 input (z) to a k × k map, D's last a k × k convolution of a k × k map to 1 × 1: every output
is a dot product of the whole input with one slice of the weight. oneDNN runs them as
convolutions: at the DCGAN CLI recipe they took 6-10 ms of a 68 ms plain step on an AMD EPYC
(bench/RESULTS.md, "Training steps against plain PyTorch"); as one GEMM each, well under 1 ms.
The weights keep the convolution's shape and name, so state dicts and checkpoints are those of
the plain layers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["IMAGE_MEMORY_FORMAT", "ConvToVector", "VectorToMap", "adam", "frozen", "to_plain_layers", "unwrapped"]

# The layout convolutional networks train in: channels_last (NHWC). On a CPU oneDNN's NHWC
# convolutions run the DCGAN step faster than NCHW (bench/RESULTS.md, "Training steps against
# plain PyTorch"); cuDNN's tensor-core convolutions work in NHWC too. Parameters are converted when a network is
# built, inputs at its forward (a no-op when they already are).
IMAGE_MEMORY_FORMAT = torch.channels_last


class VectorToMap(nn.ConvTranspose2d):
    """``ConvTranspose2d(in, out, k, stride=1, padding=0)`` applied to ``[N, in]`` or ``[N, in, 1, 1]``
    inputs, computed as one GEMM: out[n, o, i, j] = Σ_c z[n, c] W[c, o, i, j] + bias[o].

    The result is channels_last (the GEMM's row is a k × k × out block in (i, j, o) order),
    the layout the rest of an image network trains in.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, 1, 0, bias=bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n, k = z.shape[0], self.kernel_size[0]
        weight = self.weight.permute(0, 2, 3, 1).reshape(self.in_channels, -1)  # [in, k·k·out], (i, j, o) order
        flat = z.reshape(n, self.in_channels) @ weight
        out = flat.view(n, k, k, self.out_channels).permute(0, 3, 1, 2)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class ConvToVector(nn.Conv2d):
    """``Conv2d(in, out, k, stride=1, padding=0)`` of a k × k input to a 1 × 1 output, computed as
    one GEMM over the flattened input (its memory order, so NHWC inputs are not copied)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, 1, 0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != self.kernel_size:
            return super().forward(x)
        n = x.shape[0]
        if x.is_contiguous(memory_format=torch.channels_last):
            inputs, weight = x.permute(0, 2, 3, 1).reshape(n, -1), self.weight.permute(0, 2, 3, 1)
        else:
            inputs, weight = x.reshape(n, -1), self.weight
        return F.linear(inputs, weight.reshape(self.out_channels, -1), self.bias).view(n, self.out_channels, 1, 1)


def to_plain_layers(network: nn.Module) -> nn.Module:
    """A copy of ``network`` built from torch's own layers, in contiguous NCHW, with the same
    weights: ``ConvTranspose2d``/``Conv2d`` for the GEMM projections. What a user without fastgen
    would have written; the benchmarks and tests compare fastgen's step with it."""
    plain = copy.deepcopy(network)
    for module in list(plain.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, (VectorToMap, ConvToVector)):
                layer_class = nn.ConvTranspose2d if isinstance(child, VectorToMap) else nn.Conv2d
                bias = child.bias is not None
                # built on the meta device: a real layer's random initialisation would draw from
                # torch's generator, and the copy must leave the caller's random stream untouched
                layer = layer_class(child.in_channels, child.out_channels, child.kernel_size, bias=bias, device="meta")
                layer.load_state_dict(child.state_dict(), assign=True)
                setattr(module, name, layer)
    return plain.to(memory_format=torch.contiguous_format)


def adam(params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999)):
    """``torch.optim.Adam`` with its fused kernel (one launch for all parameters, CPU and CUDA):
    the same algorithm as the default (foreach) Adam, its rounding differs by at most an ulp a step."""
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


def unwrapped(network: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the network itself)."""
    return getattr(network, "module", network)


@contextmanager
def frozen(network: nn.Module) -> Iterator[nn.Module]:
    """The network with no parameter requiring grad, for a forward whose weight gradients nobody
    reads (a discriminator inside the generator's loss): its backward then computes input
    gradients only. Yields the unwrapped network, so that DDP neither waits for gradients that
    are not computed nor averages them."""
    module = unwrapped(network)
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)
