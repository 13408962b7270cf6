"""How 8-bit images become the FID Inception network's input, as each reference library does it.

The same images give FIDs several points apart depending on how they are resized and scaled
before the network (Parmar, Zhang & Zhu, "On Aliased Resizing and Surprising Subtleties in GAN
Evaluation", CVPR 2022), so a number is comparable only to numbers computed the same way. Each
*protocol* reproduces one library's preprocessing (written here from the libraries' documented
behaviour, not copied):

``pytorch-fid`` (the default; pytorch-fid, and fastgen before protocols existed)
    ``u / 255`` in float32, bilinear resize to 299×299 with half-pixel centres (PyTorch's
    ``F.interpolate(align_corners=False)``, no antialiasing), then ``2·x − 1``.
``torch-fidelity`` (torch-fidelity; torchmetrics' ``FrechetInceptionDistance(antialias=False)``)
    the uint8 values as float32, TensorFlow 1's bilinear resize to 299×299 (source coordinate
    ``i · in/out`` without the half-pixel shift, so the image shifts by up to half a pixel and the
    last rows/columns repeat), then ``(x − 128) / 128``.
``torchmetrics`` (torchmetrics ≥ 1.8, whose ``FrechetInceptionDistance`` defaults to ``antialias=True``)
    the uint8 values as float32, PyTorch's antialiased bilinear resize to 299×299
    (``F.interpolate(mode="bilinear", align_corners=False, antialias=True)``: half-pixel centres;
    when shrinking, a triangle filter widened by the scale, so every input pixel counts), then
    ``(x − 128) / 128``.
``clean-fid`` (clean-fid's default "clean" mode)
    each channel resized on its own by PIL's bicubic filter in float32 (antialiased when
    shrinking), clipped to [0, 255], then ``(x − 128) / 128``.

A protocol has two steps: :meth:`Protocol.prepare_image` runs per image where the files are
decoded (DataLoader workers), :meth:`Protocol.network_input` per batch on the network's device.
pytorch-fid, torch-fidelity and torchmetrics keep the uint8 image until the batch step, so the resize runs once
per batch on the device; clean-fid's PIL resize can only run per image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

INPUT_SIZE = 299


def _as_rgb(images: torch.Tensor) -> torch.Tensor:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape [N, 3, H, W] or [N, 1, H, W], got {list(images.shape)}")
    return images.expand(-1, 3, -1, -1)


def _uint8_chw(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


class Protocol:
    """One library's preprocessing; see the module docstring. Subclasses define the two steps."""

    name: str
    summary: str

    def prepare_image(self, pixels: np.ndarray) -> torch.Tensor:
        """One decoded image, uint8 ``[H, W, 3]`` → the tensor the loader batches (``[3, h, w]``)."""
        return _uint8_chw(pixels)

    def network_input(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of prepared images ``[N, 3, h, w]`` → float32 ``[N, 3, 299, 299]`` in the network's range."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<protocol {self.name}>"


class PytorchFID(Protocol):
    name = "pytorch-fid"
    summary = "u/255, bilinear resize (half-pixel centres) to 299, then 2x - 1"

    def network_input(self, images: torch.Tensor) -> torch.Tensor:
        # The same float32 operations in the same order as pytorch-fid (ToTensor, its resize_input,
        # its normalize_input), so that the statistics agree to float32 rounding of the network.
        x = _as_rgb(images).to(torch.float32) / 255
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1


def tf1_bilinear_matrix(in_size: int, out_size: int, device=None) -> torch.Tensor:
    """``[out, in]`` weights of TensorFlow 1's ``resize_bilinear(align_corners=False)`` along one axis.

    Output pixel i samples the input at ``s = i · in / out`` (no half-pixel shift): the weights are
    ``1 − frac(s)`` on ``floor(s)`` and ``frac(s)`` on ``min(floor(s) + 1, in − 1)``.
    """
    # TensorFlow computes the scale and the source coordinate in float32; so do we, since the
    # coordinate's rounding moves the samples by up to 4e-6 pixels at 299 (1e-3 of a level).
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    position = (torch.arange(out_size, dtype=torch.float32) * scale).double()
    low = position.floor().long()
    high = (low + 1).clamp(max=in_size - 1)
    fraction = position - low
    weights = torch.zeros(out_size, in_size, dtype=torch.float64)
    rows = torch.arange(out_size)
    weights.index_put_((rows, low), 1 - fraction, accumulate=True)
    weights.index_put_((rows, high), fraction, accumulate=True)
    return weights.to(device=device, dtype=torch.float32)


class TorchFidelity(Protocol):
    name = "torch-fidelity"
    summary = "uint8 as float, TensorFlow-1 bilinear resize to 299 (no half-pixel shift), then (x - 128)/128"

    def network_input(self, images: torch.Tensor) -> torch.Tensor:
        x = _as_rgb(images).to(torch.float32)
        height, width = x.shape[-2:]
        rows = tf1_bilinear_matrix(height, INPUT_SIZE, x.device)
        columns = tf1_bilinear_matrix(width, INPUT_SIZE, x.device)
        x = rows @ x @ columns.T  # separable: resize the rows, then the columns
        return (x - 128) / 128


class TorchMetrics(Protocol):
    name = "torchmetrics"
    summary = "uint8 as float, antialiased bilinear resize (half-pixel centres) to 299, then (x - 128)/128"

    def network_input(self, images: torch.Tensor) -> torch.Tensor:
        x = _as_rgb(images).to(torch.float32)
        size = (INPUT_SIZE, INPUT_SIZE)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        return (x - 128) / 128


class CleanFID(Protocol):
    name = "clean-fid"
    summary = "each channel resized by PIL bicubic in float32 to 299 (antialiased), clipped to [0, 255], (x - 128)/128"

    def prepare_image(self, pixels: np.ndarray) -> torch.Tensor:
        from PIL import Image

        channels = [
            np.asarray(
                Image.fromarray(pixels[:, :, c].astype(np.float32), mode="F").resize(
                    (INPUT_SIZE, INPUT_SIZE), resample=Image.Resampling.BICUBIC
                )
            )
            for c in range(pixels.shape[2])
        ]
        # bicubic overshoots near edges; clean-fid clips back to the 8-bit range
        return torch.from_numpy(np.clip(np.stack(channels), 0, 255).astype(np.float32))

    def network_input(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"clean-fid images are resized per image to 299×299, got {list(images.shape)}")
        return (_as_rgb(images).to(torch.float32) - 128) / 128


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (PytorchFID(), TorchFidelity(), TorchMetrics(), CleanFID())}
DEFAULT_PROTOCOL = "pytorch-fid"


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name`` (one of :data:`PROTOCOLS`)."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {name!r}")
    return PROTOCOLS[name]
