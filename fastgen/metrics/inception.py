"""The FID Inception network: the TensorFlow graph of 2015-12-05 that FID was defined with.

FID (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", NeurIPS 2017) and the Inception Score (Salimans et al., "Improved Techniques for
Training GANs", NeurIPS 2016) are defined on the Inception-v3 graph that TensorFlow published on
2015-12-05 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016).
pytorch-fid ports that graph to PyTorch and ships its weights as
``pt_inception-2015-12-05-6726825d.pth``. This module rebuilds the same network, with the same
parameter names so that this file loads unchanged, and with the three places where the graph
differs from torchvision's Inception-v3:

* the 3×3 average pools inside the 35×35, 17×17 and first 8×8 blocks do not count the zero padding
  (TensorFlow's ``SAME`` average pool): ``avg_pool2d(..., count_include_pad=False)``;
* the pool branch of the last block (``Mixed_7c``) takes a 3×3 *max* pool, not an average;
* the classifier has 1008 outputs (1000 ImageNet classes and 8 unused ones).

It is written here without torchvision, so that computing FID needs nothing beyond torch.

Input protocol (shared with :func:`fastgen.metrics.digits.load_digits_extractor`):
``forward(images) -> (features [N, dims], logits [N, 1008])`` where ``images`` is
``[N, 3, H, W]`` (or ``[N, 1, H, W]``, replicated to RGB as PIL's ``convert("RGB")`` does) either
uint8 in [0, 255] or float in [0, 1]. Float images are first quantized to 8 bits by rounding,
``round(255·x)`` (round half to even), not truncated as torchmetrics' ``(x·255).byte()`` does:
images written to PNG and read back then give exactly the features of the images in memory, so
the FID of samples during training equals the FID of the same samples saved to a folder. The 8-bit
images then follow pytorch-fid's path exactly: ``u / 255`` in float32, bilinear resize to 299×299
(``F.interpolate``, ``align_corners=False``), then ``2·x − 1`` to [−1, 1].

Logits are those the Inception Score was defined with: the 1008-way fully connected layer applied
to pool3 *without its bias*, all 1008 columns kept. OpenAI's original ``inception_score.py``
multiplies pool3 by the ``softmax/logits`` weight matrix only; torch-fidelity calls these
``logits_unbiased`` and uses them for its ISC, and torchmetrics' ``InceptionScore`` uses the same
feature by default. Softmax over the 1008 columns, as all three do.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fastgen.metrics.images import float_to_uint8
from fastgen.metrics.preprocess import DEFAULT_PROTOCOL, PROTOCOLS

WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
INPUT_SIZE = 299
NUM_CLASSES = 1008
FEATURE_DIMS = (64, 192, 768, 2048)


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (ε = 1e-3, TensorFlow's), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

        self.folded: tuple[torch.Tensor, torch.Tensor] | None = None

    def fold_batch_norm(self) -> None:
        """Fold the (eval-mode) batch norm into the convolution: one pass over memory instead of three.

        ``bn(conv(x, w)) = conv(x, w · g) + (β − μ · g)`` with ``g = γ / sqrt(σ² + ε)``, computed in
        float64 and rounded once to float32; the features move by float32 rounding (about 5e-7 of
        their largest value), not by an approximation.
        """
        bn, weight = self.bn, self.conv.weight
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        folded_weight = (weight.double() * scale.view(-1, 1, 1, 1)).to(weight.dtype)
        bias = (bn.bias.double() - bn.running_mean.double() * scale).to(weight.dtype)
        self.folded = (folded_weight.contiguous(memory_format=torch.channels_last), bias)

    def _apply(self, fn, recurse=True):
        # keep the folded copies on the module's device and dtype when it is moved
        if self.folded is not None:
            self.folded = tuple(fn(t) for t in self.folded)
        return super()._apply(fn, recurse)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded is None:
            return F.relu(self.bn(self.conv(x)))
        weight, bias = self.folded
        return F.relu_(F.conv2d(x, weight, bias, self.conv.stride, self.conv.padding))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow's 3×3 ``SAME`` average pool: the padded zeros are not counted."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def _tf_max_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 max pool, stride 1: what the 2015 graph uses in the pool branch of its last block."""
    return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


def _reduce_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 max pool, stride 2, no padding: the grid reductions (stem, Mixed_6a, Mixed_7a)."""
    return F.max_pool2d(x, kernel_size=3, stride=2)


class InceptionA(nn.Module):
    """35×35 block (Mixed_5b/c/d): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg-pool→1×1."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        five = self.branch5x5_2(self.branch5x5_1(x))
        double_three = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), five, double_three, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionB(nn.Module):
    """Reduction 35×35 → 17×17 (Mixed_6a): 3×3/2 | 1×1→3×3→3×3/2 | max-pool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double_three = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), double_three, _reduce_pool(x)], 1)


class InceptionC(nn.Module):
    """17×17 block (Mixed_6b–e) with factorized 7×7 convolutions (1×7 and 7×1) and an avg-pool branch."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        row, col = {"kernel_size": (1, 7), "padding": (0, 3)}, {"kernel_size": (7, 1), "padding": (3, 0)}
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, **col)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, **row)
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double_seven = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4):
            double_seven = conv(double_seven)
        double_seven = self.branch7x7dbl_5(double_seven)
        return torch.cat([self.branch1x1(x), seven, double_seven, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionD(nn.Module):
    """Reduction 17×17 → 8×8 (Mixed_7a): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max-pool/2."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_2(self.branch3x3_1(x))
        seven_three = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([three, seven_three, _reduce_pool(x)], 1)


class InceptionE(nn.Module):
    """8×8 block (Mixed_7b/c) whose 3×3 branches split into parallel 1×3 and 3×1 convolutions.

    ``pool`` is the 3×3 stride-1 pool of the last branch: the TF average pool in Mixed_7b, a max
    pool in Mixed_7c (the 2015 graph's choice, which FID inherits).
    """

    def __init__(self, in_channels: int, pool):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_1(x)
        double_three = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(three),
                self.branch3x3_2b(three),
                self.branch3x3dbl_3a(double_three),
                self.branch3x3dbl_3b(double_three),
                self.branch_pool(self.pool(x)),
            ],
            1,
        )


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3 network (TensorFlow graph of 2015-12-05, as pytorch-fid ports it).

    ``FIDInceptionV3(dims)`` builds the network with PyTorch's default (random) initialization;
    :func:`load_inception_extractor` builds it with the standard weights. It is in eval mode from
    the start: batch norm always uses the stored statistics.

    Args:
        dims: which features ``forward`` returns: 2048 (pool3, the FID standard), or the
            spatial mean of an earlier block: 64 (first max pool), 192 (second max pool),
            768 (Mixed_6e, the input of the auxiliary classifier), as pytorch-fid's ``--dims``.

    ``forward(images)``: images ``[N, 3 or 1, H, W]``, uint8 in [0, 255] or float in [0, 1]
    (quantized by rounding, see the module docstring) → ``(features [N, dims],
    logits [N, 1008])``, float32. The whole network runs whatever ``dims`` is, since the logits
    need it.
    """

    input_channels = 3

    def __init__(self, dims: int = 2048):
        super().__init__()
        if dims not in FEATURE_DIMS:
            raise ValueError(f"dims must be one of {FEATURE_DIMS}, got {dims!r}")
        self.dims = dims
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool=_tf_avg_pool)
        self.Mixed_7c = InceptionE(2048, pool=_tf_max_pool)
        self.fc = nn.Linear(2048, NUM_CLASSES)
        self.optimized = False
        self.eval()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 or [0, 1] float ``[N, C, H, W]`` → float32 ``[N, 3, 299, 299]`` in [−1, 1], as pytorch-fid does."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must have shape [N, 3, H, W] or [N, 1, H, W], got {list(images.shape)}")
        if images.dtype != torch.uint8:
            images = float_to_uint8(images)
        return PROTOCOLS[DEFAULT_PROTOCOL].network_input(images.to(self.fc.weight.device))

    def optimize_for_inference(self) -> FIDInceptionV3:
        """Fold every batch norm into its convolution and keep activations channels_last. Returns self.

        Same function, float32 rounding apart (features within about 1e-6 of their largest value);
        1.8× faster on a 2-core Xeon (oneDNN's channels_last convolutions, no separate BN pass).
        The folded weights follow ``.to()``; loading a state dict folds again.
        """
        for module in self.modules():
            if isinstance(module, BasicConv2d):
                module.fold_batch_norm()
        self.optimized = True
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if self.optimized:
            self.optimize_for_inference()
        return result

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed(self.preprocess(images))

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network on a preprocessed batch, float ``[N, 3, 299, 299]`` (see fastgen.metrics.preprocess)."""
        if self.optimized:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = _reduce_pool(x)
        blocks = {64: x}
        x = _reduce_pool(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        blocks[192] = x
        for mixed in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a):
            x = mixed(x)
        for mixed in (self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = mixed(x)
        blocks[768] = x
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        pool3 = F.adaptive_avg_pool2d(x, 1).flatten(1)
        blocks[2048] = pool3
        features = blocks[self.dims]
        if features.dim() == 4:
            features = F.adaptive_avg_pool2d(features, 1).flatten(1)
        # No bias: the logits the Inception Score was defined with (see the module docstring).
        logits = pool3 @ self.fc.weight.T
        return features, logits


def find_inception_weights(weights: str | os.PathLike | None = None) -> Path:
    """The path of the FID Inception weight file: ``weights`` if given, else the torch hub cache.

    Nothing is downloaded. Raises FileNotFoundError saying where to put the file and where to get it.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"weights: no FID Inception weight file at {path}. Get {WEIGHTS_FILENAME} from {WEIGHTS_URL}"
            )
        return path
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    path = cache / WEIGHTS_FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"The FID Inception weights {WEIGHTS_FILENAME} are not in the torch hub cache ({cache}) and fastgen "
            f"downloads nothing: download them once from {WEIGHTS_URL} and put the file in {cache}/ "
            f"(pytorch-fid uses the same place), or pass its path (weights=PATH, --weights PATH)."
        )
    return path


def load_inception_extractor(
    weights: str | os.PathLike | None = None, dims: int = 2048, device: torch.device | str | None = None
) -> FIDInceptionV3:
    """:class:`FIDInceptionV3` with the standard weights ``pt_inception-2015-12-05-6726825d.pth``.

    The file is read with ``torch.load(weights_only=True)`` (no arbitrary pickle) from ``weights``
    or from ``torch.hub.get_dir()/checkpoints/``; see :func:`find_inception_weights`. A file that is
    not this state dict is one ValueError naming ``weights`` and the file. ``provenance`` records the
    file's SHA-256 (the standard file's begins with 6726825d, the suffix of its name).
    Returns the network in eval mode on ``device`` (default: CPU), with ``requires_grad`` off and
    batch norms folded (:meth:`FIDInceptionV3.optimize_for_inference`).
    """
    from fastgen.metrics.tensor_files import load_tensor_file, sha256_of

    network = FIDInceptionV3(dims)  # checks dims before the file is looked for
    path = find_inception_weights(weights)
    expected = f"the FID Inception weight file {WEIGHTS_FILENAME}"
    state_dict = load_tensor_file(path, "weights", expected)
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"weights: {path} is not {expected}: it holds a {type(state_dict).__name__}, not a state dict")
    names = network.state_dict().keys()
    missing = [name for name in names if name not in state_dict]
    if missing:
        raise ValueError(
            f"weights: {path} is not {expected}: it lacks {len(missing)} of the network's {len(names)} tensors "
            f"(first: {missing[0]})"
        )
    try:
        network.load_state_dict(state_dict)
    except RuntimeError as error:  # unexpected names or wrong shapes, which torch lists over many lines
        last = str(error).strip().splitlines()[-1].strip()
        raise ValueError(f"weights: {path} is not {expected}: {last}") from None
    network.provenance = {"extractor": "inception", "dims": dims, "weights_sha256": sha256_of(path)}
    return network.requires_grad_(False).optimize_for_inference().to(device)


def random_fid_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights with the names of the FID weight file, for tests and benchmarks that run offline.

    He-scaled convolutions keep activations O(1); batch-norm statistics and affine parameters are
    random too (not 0/1), so every layer matters to a comparison.
    """
    generator = torch.Generator().manual_seed(seed)
    state = FIDInceptionV3().state_dict()
    for name, value in state.items():
        if name.endswith("conv.weight"):
            value.copy_(torch.randn(value.shape, generator=generator) * (2 / value[0].numel()) ** 0.5)
        elif name.endswith(("running_var", "bn.weight")):
            value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
        elif name.endswith(("running_mean", "bn.bias", "fc.bias")):
            value.copy_(torch.randn(value.shape, generator=generator) * 0.1)
        elif name == "fc.weight":
            value.copy_(torch.randn(value.shape, generator=generator) / 2048**0.5)
    return state
