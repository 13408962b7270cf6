"""Sources without files (generator callables, dataset names), provenance, and tensor files.

References: numpy's mean/cov (float64) of the pixels the generator drew, drawn again by the test
from the same seed (the extractor returns the pixels as features, so the path generator → uint8 →
extractor → FeatureStats is checked against an independent computation, to 1e-12 of the largest
entry); the sizes of scikit-learn's digits splits; the bytes torch wrote.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fastgen.metrics.extract import compute_features, compute_statistics, extractor_provenance
from fastgen.metrics.images import float_to_uint8
from fastgen.metrics.stats import FeatureStats, ProvenanceWarning, check_comparable
from fastgen.metrics.tensor_files import load_tensor_file
from tests.metrics.test_extract import PixelExtractor, assert_stats_equal


def noise_generator(n: int) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4)


def test_generator_statistics_equal_numpy_of_the_same_draws_and_leave_the_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    stats = compute_statistics(noise_generator, PixelExtractor(), num_samples=23, batch_size=5, seed=7, progress=False)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random state is untouched
    torch.manual_seed(7)
    draws = torch.cat([noise_generator(n) for n in (5, 5, 5, 5, 3)])
    expected = (float_to_uint8(draws).flatten(1).float() / 255).double().numpy()  # the extractor's float32
    assert stats.count == 23
    assert_stats_equal(stats, expected)
    assert stats.provenance["source"] == "generator noise_generator, seed 7"
    rows = compute_features(noise_generator, PixelExtractor(), num_samples=23, batch_size=5, seed=7, progress=False)
    assert torch.allclose(rows.double(), torch.from_numpy(expected), atol=1e-7)


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        (lambda n: torch.rand(n, 16), r"returned shape \[5, 16\] for 5 images"),
        (lambda n: torch.rand(n + 1, 1, 4, 4), r"returned shape \[6, 1, 4, 4\] for 5 images"),
        (lambda n: torch.rand(n, 2, 4, 4), r"returned shape \[5, 2, 4, 4\]"),
        (lambda n: 2 * torch.rand(n, 1, 4, 4) - 1, r"values in \[-"),
        (lambda n: torch.full((n, 1, 4, 4), float("nan")), r"values in \[nan"),
        (lambda n: np.zeros((n, 1, 4, 4)), "returned a ndarray"),
        (lambda n: torch.zeros(n, 1, 4, 4, dtype=torch.int32), "returned torch.int32 images"),
    ],
)
def test_a_generator_of_the_wrong_kind_is_one_line(generator, message):
    with pytest.raises(ValueError, match=message) as caught:
        compute_statistics(generator, PixelExtractor(), num_samples=10, batch_size=5, progress=False)
    assert "\n" not in str(caught.value)


class Moments(nn.Module):
    """Features of any image size: each gray image's mean and standard deviation."""

    dims = 2
    input_channels = 1

    def forward(self, images):
        x = images.float().flatten(1)
        return torch.stack([x.mean(1), x.std(1)], 1), torch.zeros(len(x), 2)


def test_dataset_names_are_sources():
    stats = compute_statistics("digits", Moments(), split="test", progress=False, batch_size=100)
    assert stats.count == 297 and stats.provenance["source"] == "dataset digits (test)"
    with pytest.raises(ValueError, match="points, not images"):
        compute_statistics("gaussians", Moments(), progress=False)


def test_options_that_do_not_apply_are_refused(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((4, 16), np.float32))
    with pytest.raises(ValueError, match="num_samples applies to a generator or a dataset"):
        compute_statistics(tmp_path / "f.npy", num_samples=3)
    with pytest.raises(ValueError, match="needs an extractor"):
        compute_statistics(noise_generator)
    FeatureStats(16).update(torch.randn(5, 16)).save(tmp_path / "s.npz")
    with pytest.raises(ValueError, match="needs the features themselves"):
        compute_features(tmp_path / "s.npz")


def test_provenance_is_recorded_saved_and_compared(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for index, pixels in enumerate(np.random.default_rng(0).integers(0, 256, (5, 4, 4), dtype=np.uint8)):
        Image.fromarray(pixels).save(folder / f"{index}.png")
    stats = compute_statistics(folder, PixelExtractor(), progress=False)
    expected = extractor_provenance(PixelExtractor(), None)
    assert {k: stats.provenance[k] for k in expected} == expected and stats.provenance["source"] == str(folder)
    stats.save(tmp_path / "s.npz")
    loaded = FeatureStats.load(tmp_path / "s.npz")
    assert loaded.provenance["count"] == 5 and loaded.provenance["extractor"] == "PixelExtractor"
    other = FeatureStats.load(tmp_path / "s.npz")
    other.provenance = {**other.provenance, "protocol": "clean-fid"}
    with pytest.raises(ValueError, match=r"A \(protocol none.*B \(protocol clean-fid.*\(protocol\)"):
        check_comparable([("A", loaded), ("B", other)])
    check_comparable([("A", loaded), ("B", FeatureStats.load(tmp_path / "s.npz"))])
    np.savez(tmp_path / "plain.npz", mu=np.zeros(16), sigma=np.eye(16))
    with pytest.warns(ProvenanceWarning, match="records no provenance"):
        plain = FeatureStats.load(tmp_path / "plain.npz")
    check_comparable([("A", loaded), ("B", plain)])  # unknown: warned at loading, not refused


class NotATensor:
    pass


def test_tensor_files_are_refused_without_torch_advice(tmp_path):
    (tmp_path / "text.pt").write_text("1 2 3\n")
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "image.png")
    (tmp_path / "image.png").rename(tmp_path / "image.pt")
    torch.save(NotATensor(), tmp_path / "pickle.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name, what in (
        ("text", "a text file"),
        ("image", "a PNG image"),
        ("pickle", "other than tensors"),
        ("empty", "an empty file"),
    ):
        with pytest.raises(ValueError) as caught:
            load_tensor_file(tmp_path / f"{name}.pt", "--thing", "a tensor file")
        message = str(caught.value)
        assert message.startswith(f"--thing: {tmp_path / name}.pt is not a tensor file: it is") and what in message
        assert "weights_only" not in message and "\n" not in message


def test_pil_gray_equals_pils_convert():
    from fastgen.metrics.images import pil_gray

    pixels = np.random.default_rng(3).integers(0, 256, size=(4, 9, 7, 3), dtype=np.uint8)
    expected = np.stack([np.asarray(Image.fromarray(p).convert("L")) for p in pixels])
    ours = pil_gray(torch.from_numpy(pixels).permute(0, 3, 1, 2))
    assert ours.shape == (4, 1, 9, 7) and np.array_equal(ours[:, 0].numpy(), expected)


def test_npy_files_that_are_not_numeric_arrays_say_what_they_are(tmp_path):
    (tmp_path / "text.npy").write_text("0.1 0.2\n0.3 0.4\n")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "ok.npy", np.zeros((50, 8), np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "ok.npy").read_bytes()[:200])
    for name, what in (("text", "a text file"), ("objects", "Python objects"), ("cut", "truncated or damaged")):
        with pytest.raises(ValueError, match=f"{name}.npy is not a readable feature file .*: it is .*{what}"):
            compute_statistics(tmp_path / f"{name}.npy")
