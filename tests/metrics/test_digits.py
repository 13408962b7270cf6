"""The embedded digits extractor: shipped weights, accuracy on held-out digits, input handling."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastgen.data.mnist import load_embedded_mnist
from fastgen.metrics.digits import WEIGHTS_PATH, DigitsExtractor, load_digits_extractor


@pytest.fixture(scope="module")
def extractor():
    return load_digits_extractor()


@pytest.fixture(scope="module")
def held_out():
    images, labels = load_embedded_mnist(train=False)
    return torch.from_numpy(images), torch.from_numpy(labels)


def test_shipped_weights_are_small_and_load_safely():
    assert WEIGHTS_PATH.stat().st_size < 2_000_000
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert state.keys() == DigitsExtractor().state_dict().keys()


def test_held_out_accuracy(extractor, held_out):
    images, labels = held_out
    with torch.no_grad():
        features, logits = extractor(images)
    assert features.shape == (1000, 128) and logits.shape == (1000, 10)
    assert features.dtype == logits.dtype == torch.float32
    accuracy = (logits.argmax(dim=1) == labels).double().mean().item()
    assert accuracy >= 0.95, f"held-out accuracy {accuracy:.2%}"
    assert not extractor.training and (extractor.dims, extractor.num_classes) == (128, 10)


def test_features_are_the_input_of_the_classifier(extractor, held_out):
    with torch.no_grad():
        features, logits = extractor(held_out[0][:16])
        torch.testing.assert_close(logits, F.linear(features, extractor.classifier.weight, extractor.classifier.bias))


def test_uint8_and_float_and_rank3_agree(extractor, held_out):
    images = held_out[0][:8]
    with torch.no_grad():
        from_uint8 = extractor(images.unsqueeze(1))
        from_rank3 = extractor(images)
        from_float = extractor(images.unsqueeze(1).double() / 255)
        from_half = extractor(images.half() / 255)
    for other in (from_rank3, from_float, from_half):
        for a, b in zip(from_uint8, other, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_float_to_uint8_rounds_rather_than_truncates(extractor, held_out):
    levels = held_out[0][:8].long().clamp(max=254)
    nudged = (levels.double() + 0.6) / 255  # rounds to level + 1, truncates to level
    with torch.no_grad():
        features, _ = extractor(nudged)
        rounded, _ = extractor((levels + 1).to(torch.uint8))
        truncated, _ = extractor(levels.to(torch.uint8))
    torch.testing.assert_close(features, rounded, rtol=0, atol=0)
    assert not torch.equal(features, truncated)


def test_rgb_is_converted_to_gray(extractor, held_out):
    gray = held_out[0][:8].unsqueeze(1)
    with torch.no_grad():
        features_gray, _ = extractor(gray)
        features_rgb, _ = extractor(gray.expand(-1, 3, -1, -1))
    # luma weights sum to 1 (0.299 + 0.587 + 0.114): equal up to float32 rounding of the weighted sum
    torch.testing.assert_close(features_rgb, features_gray, rtol=1e-4, atol=1e-5)


def test_other_sizes_are_resized_bilinearly(extractor, held_out):
    gray = held_out[0][:8].unsqueeze(1)
    # pixel replication ×2, then bilinear halving with half-pixel centres averages each 2×2 block: the original
    doubled = gray.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    with torch.no_grad():
        torch.testing.assert_close(extractor(doubled)[0], extractor(gray)[0], rtol=1e-5, atol=1e-5)
        features, logits = extractor(torch.rand(3, 1, 32, 32))
    assert features.shape == (3, 128) and logits.shape == (3, 10)


def test_device_argument():
    model = load_digits_extractor(device="cpu")
    assert model.classifier.weight.device.type == "cpu" and not model.training


@pytest.mark.parametrize(
    "images, error, message",
    [
        (np.zeros((2, 1, 28, 28), np.uint8), TypeError, "images must be a torch.Tensor"),
        (torch.zeros(2, 28 * 28), ValueError, r"images must have shape \[N, 1, H, W\]"),
        (torch.zeros(1, 2, 1, 28, 28), ValueError, "images must have shape"),
        (torch.zeros(2, 2, 28, 28), ValueError, "images must have shape"),
        (torch.zeros(2, 1, 28, 28, dtype=torch.int64), TypeError, "images must be uint8 .* got torch.int64"),
        (torch.full((2, 1, 28, 28), 1.5), ValueError, r"float images must lie in \[0, 1\]; 1568 values"),
        (torch.full((2, 1, 28, 28), -0.1), ValueError, r"must lie in \[0, 1\]"),
        (torch.full((2, 1, 28, 28), float("nan")), ValueError, "NaN present"),
    ],
)
def test_bad_inputs(extractor, images, error, message):
    with pytest.raises(error, match=message):
        extractor(images)
