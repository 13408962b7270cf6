"""`--protocol`: each library's preprocessing, against that library's own code, offline.

References (installed test dependencies, skipped with the reason if missing):
- clean-fid: ``cleanfid.fid.get_folder_features(mode="clean")``, its whole folder pipeline (PIL
  decoding, per-channel float32 bicubic resize), with our network as the feature model;
- torch-fidelity: its ``FeatureExtractorInceptionV3`` (TF1 bilinear resize, (x − 128)/128, its
  own copy of the 2015 graph) loaded with the same random weights;
- torchmetrics (>= 1.8): its ``NoTrainInceptionV3`` with ``antialias=True`` (the default of its
  ``FrechetInceptionDistance``: antialiased bilinear resize, (x − 128)/128), and with
  ``antialias=False``, which is torch-fidelity's protocol;
- pytorch-fid: its ``InceptionV3`` with ``resize_input`` and ``normalize_input`` on ToTensor images.

Tolerance: statistics to 1e-4 of their largest entry. The networks agree to float32 rounding
(~1e-6 relative); the resizes agree to float32 rounding of the sample positions (torch-fidelity
computes the TF1 interpolation with gathers and lerps, we with a separable matrix product), which
moves the features by ~1e-6 relative. With three images the covariance is a small difference of
features whose spread is a few percent of their size, which amplifies that to ~1e-5 (pytorch-fid's
module layout alone gives 7.7e-6 against ours). The protocols themselves differ by more than 1e-2
on these images, so the tolerance separates them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.metrics.extract import compute_statistics
from fastgen.metrics.inception import FIDInceptionV3, random_fid_state_dict
from fastgen.metrics.preprocess import PROTOCOLS, get_protocol, tf1_bilinear_matrix
from fastgen.metrics.stats import FeatureStats

RTOL = 1e-4


@pytest.fixture(scope="module")
def state_dict():
    return random_fid_state_dict(seed=3)


@pytest.fixture(scope="module")
def network(state_dict):
    network = FIDInceptionV3()
    network.load_state_dict(state_dict)
    return network.requires_grad_(False)


@pytest.fixture(scope="module")
def pixels():
    """Three RGB images of an odd size: smooth content plus noise, so that resizing filters matter."""
    rng = np.random.default_rng(7)
    coarse = rng.integers(0, 256, size=(3, 6, 7, 3), dtype=np.uint8)
    images = [np.asarray(Image.fromarray(c).resize((45, 37), Image.Resampling.BICUBIC)) for c in coarse]
    noise = rng.integers(-20, 21, size=(3, 37, 45, 3))
    return np.clip(np.stack(images).astype(np.int16) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, pixels):
    folder = tmp_path_factory.mktemp("protocol_images")
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{index}.png")
    return folder


@pytest.fixture(scope="module")
def ours(folder, network):
    return {
        name: compute_statistics(folder, network, protocol=name, batch_size=2, progress=False) for name in PROTOCOLS
    }


def stats_of(rows) -> FeatureStats:
    return FeatureStats(rows.shape[1]).update(torch.as_tensor(np.asarray(rows)))


def assert_stats_close(actual: FeatureStats, expected: FeatureStats, rtol: float = RTOL):
    for name in ("mean", "cov"):
        a, e = getattr(actual, name), getattr(expected, name)
        scale = e.abs().max().item()
        assert scale > 1e-6, f"reference {name} vanished: the comparison would be vacuous"
        deviation = (a - e).abs().max().item() / scale
        assert deviation <= rtol, f"{name} deviates by {deviation:.2e} of its largest entry"


@pytest.mark.parametrize("in_size", [1, 2, 37, 64, 299, 512])
def test_tf1_bilinear_weights_equal_torch_fidelity_resize(in_size):
    compat = pytest.importorskip("torch_fidelity.interpolate_compat_tensorflow", reason="torch-fidelity reference")
    x = torch.randint(0, 256, (1, 1, in_size, 5), generator=torch.Generator().manual_seed(in_size)).float()
    expected = compat.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 5), align_corners=False)
    resized = tf1_bilinear_matrix(in_size, 299) @ x
    torch.testing.assert_close(resized, expected, rtol=0, atol=1e-4)  # 0..255 values, float32 positions


def test_clean_fid_resize_equals_clean_fids(pixels):
    resize = pytest.importorskip("cleanfid.resize", reason="clean-fid is a test dependency")
    ours = get_protocol("clean-fid").prepare_image(pixels[0])
    expected = torch.from_numpy(resize.build_resizer("clean")(pixels[0])).permute(2, 0, 1)
    assert ours.shape == (3, 299, 299) and ours.dtype == torch.float32
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)


@pytest.mark.slow
def test_clean_fid_protocol_equals_clean_fid_folder_features(folder, network, ours):
    cleanfid = pytest.importorskip("cleanfid.fid", reason="clean-fid is a test dependency")

    @torch.inference_mode()
    def model(x):  # clean-fid feeds [N, 3, 299, 299] in [0, 255]; its Inception normalises inside
        return network.embed((x - 128) / 128)[0]

    rows = cleanfid.get_folder_features(
        str(folder), model=model, num_workers=0, batch_size=3, device=torch.device("cpu"), mode="clean", verbose=False
    )
    assert rows.shape == (3, 2048)
    assert_stats_close(ours["clean-fid"], stats_of(rows))


@pytest.mark.slow
def test_torch_fidelity_protocol_equals_torch_fidelity_extractor(tmp_path, state_dict, pixels, ours):
    extractor = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3", reason="torch-fidelity reference")
    torch.save(state_dict, tmp_path / "weights.pth")
    reference = extractor.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(tmp_path / "weights.pth")
    ).eval()
    with torch.inference_mode():
        (rows,) = reference(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous())
    assert_stats_close(ours["torch-fidelity"], stats_of(rows))


def torchmetrics_rows(tmp_path, state_dict, pixels, antialias: bool):
    fid = pytest.importorskip("torchmetrics.image.fid", reason="torchmetrics is a test dependency")
    pytest.importorskip("torch_fidelity", reason="torchmetrics' Inception network is torch-fidelity's")
    torch.save(state_dict, tmp_path / "weights.pth")
    reference = fid.NoTrainInceptionV3(
        "inception-v3-compat",
        ["2048"],
        feature_extractor_weights_path=str(tmp_path / "weights.pth"),
        antialias=antialias,
    )
    with torch.inference_mode():
        return reference(torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous())  # [N, 2048]


@pytest.mark.slow
def test_torchmetrics_protocol_equals_torchmetrics_default_extractor(tmp_path, state_dict, pixels, ours):
    assert_stats_close(ours["torchmetrics"], stats_of(torchmetrics_rows(tmp_path, state_dict, pixels, antialias=True)))


@pytest.mark.slow
def test_torch_fidelity_protocol_equals_torchmetrics_without_antialias(tmp_path, state_dict, pixels, ours):
    rows = torchmetrics_rows(tmp_path, state_dict, pixels, antialias=False)
    assert_stats_close(ours["torch-fidelity"], stats_of(rows))


@pytest.mark.slow
def test_pytorch_fid_protocol_equals_pytorch_fid_network(state_dict, pixels, ours):
    inception = pytest.importorskip("pytorch_fid.inception", reason="pytorch-fid is a test dependency")
    patch = pytest.MonkeyPatch()
    patch.setattr(inception, "load_state_dict_from_url", lambda *args, **kwargs: state_dict)
    try:
        reference = inception.InceptionV3([3]).eval()
    finally:
        patch.undo()
    with torch.inference_mode():
        rows = reference(torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255)[0].flatten(1)
    assert_stats_close(ours["pytorch-fid"], stats_of(rows))


@pytest.mark.slow
def test_the_protocols_give_different_statistics(ours):
    """Not vacuous: each pair of protocols differs far beyond the tolerance on the same images."""
    names = list(PROTOCOLS)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            with pytest.raises(AssertionError):
                assert_stats_close(ours[first], ours[second], rtol=100 * RTOL)


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="protocol must be one of"):
        get_protocol("tensorflow")
