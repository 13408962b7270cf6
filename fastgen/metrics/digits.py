"""The embedded digits feature extractor: a small CNN trained by fastgen on MNIST, for FID and IS offline.

Inception-v3 features mean little on 28×28 gray digits and need a 100 MB download; this network
is the default extractor for MNIST-like data. It plays the parts of Inception's pool3 features
(``features``, 128-d, for FID) and logits (``logits``, 10 classes, for the Inception Score).

Architecture (94k parameters, 0.39 MB of float32 weights in ``weights/digits_cnn.pt``)::

    [N, 1, 28, 28] → (x − 0.1307) / 0.3081
    → conv 3×3, 32 → BN → ReLU → max-pool 2      [N, 32, 14, 14]
    → conv 3×3, 64 → BN → ReLU → max-pool 2      [N, 64, 7, 7]
    → conv 3×3, 128 → BN → ReLU → global mean    [N, 128]   = features
    → linear 128 → 10                            [N, 10]    = logits

Training: ``scripts/train_digits.py`` (seed 0, one CPU thread, 20 epochs, about 4 minutes), on the
4,000 training digits of the embedded MNIST subset with random shifts of up to 2 pixels.
Accuracy of the shipped weights: 99.45% on those 4,000, **97.6% on the subset's 1,000 held-out
digits** (100 per class, never trained on).

Inputs go through one fixed preprocessing, so that every caller measures the same thing:
uint8 in [0, 255] or float in [0, 1]; float images are first quantised to the 256 levels an
8-bit image file would hold, round(255·x), as torch-fidelity and clean-fid do (rounding, not
truncating: truncation shifts every level down by half a step on average); RGB becomes gray
with ITU-R BT.601 luma weights; other sizes are resized to 28×28 bilinearly (pytorch-fid's
``F.interpolate(..., mode="bilinear", align_corners=False)``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "digits_cnn.pt"
IMAGE_SIZE = 28
# Mean and standard deviation of MNIST's training pixels in [0, 1], the customary normalisation.
PIXEL_MEAN = 0.1307
PIXEL_STD = 0.3081
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _conv_block(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),  # BN supplies the bias
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class DigitsExtractor(nn.Module):
    """Features and logits of 28×28 gray digits.

    ``forward(images)`` takes ``[N, 1, H, W]``, ``[N, 3, H, W]`` or ``[N, H, W]``, uint8 in
    [0, 255] or float in [0, 1], and returns ``(features [N, 128], logits [N, 10])``, float32.
    Build it with :func:`load_digits_extractor` to get the trained weights.
    """

    dims = 128
    num_classes = 10

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_block(1, 32),
            nn.MaxPool2d(2),
            *_conv_block(32, 64),
            nn.MaxPool2d(2),
            *_conv_block(64, self.dims),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(dropout)  # used in training only; a no-op in eval mode
        self.classifier = nn.Linear(self.dims, self.num_classes)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Check ``images`` and bring them to float32 ``[N, 1, 28, 28]`` in [0, 1] on the module's device."""
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            shape = list(images.shape)
            raise ValueError(f"images must have shape [N, 1, H, W], [N, 3, H, W] or [N, H, W], got {shape}")
        device = self.classifier.weight.device
        if images.dtype == torch.uint8:
            levels = images.to(device, torch.float32)
        elif images.is_floating_point():
            images = images.to(device, torch.float32)
            outside = ~((images >= 0) & (images <= 1))  # NaN counts as outside
            if outside.any():
                raise ValueError(
                    f"float images must lie in [0, 1]; {int(outside.sum())} values do not "
                    f"(min {images.nan_to_num(0.5).min().item():.4g}, max {images.nan_to_num(0.5).max().item():.4g}"
                    f"{', NaN present' if images.isnan().any() else ''})"
                )
            levels = torch.round(images * 255.0)
        else:
            raise TypeError(f"images must be uint8 in [0, 255] or floating point in [0, 1], got {images.dtype}")
        x = levels / 255.0
        if x.shape[1] == 3:
            x = (x * x.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
        return x

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network on preprocessed float ``[N, 1, 28, 28]`` in [0, 1] (training uses it directly)."""
        features = self.body((x - PIXEL_MEAN) / PIXEL_STD)
        return features, self.classifier(self.dropout(features))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed(self.preprocess(images))


def load_digits_extractor(device: torch.device | str | None = None) -> DigitsExtractor:
    """The extractor with its shipped weights, in eval mode, on ``device`` (default CPU)."""
    model = DigitsExtractor()
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device or "cpu").eval()
