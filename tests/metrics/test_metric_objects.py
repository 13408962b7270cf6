"""The metric objects (FID, KID, InceptionScore, PrecisionRecall): each equals its function on the
extractor's features, the Inception path equals the folder pipeline of the same protocol, the
torchmetrics-style state handling (reset, reset_real_features, state_dict, to), the bad inputs, and
a validation loop under 2 gloo processes that gives the single-process numbers.

Tolerances: the objects and the functions see bit-identical features (same network, same batches),
so KID, precision/recall and IS agree exactly; FID goes through FeatureStats' float64 sums, whose
summation order differs from one FeatureStats.update of all rows by rounding only (1e-9 relative).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.metrics import (
    FID,
    KID,
    FeatureStats,
    InceptionScore,
    PrecisionRecall,
    compute_statistics,
    frechet_distance,
    get_extractor,
    inception_score,
    kid,
    neighbourhood_metrics,
)
from fastgen.metrics.inception import FIDInceptionV3, random_fid_state_dict

HERE = os.path.dirname(os.path.abspath(__file__))
TORCHRUN = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
sys.path.insert(0, HERE)
import metric_objects_loop  # noqa: E402  (the validation loop the distributed test runs)


@pytest.fixture(scope="module")
def digits():
    return get_extractor("digits")


@pytest.fixture(scope="module")
def images():
    return metric_objects_loop.images()  # real uint8, fake float in [0, 1]


def fed(metric, real, fake, batch=8):
    for start in range(0, len(real), batch):
        metric.update(real[start : start + batch], real=True)
        metric.update(fake[start : start + batch], real=False)
    return metric


@pytest.fixture(scope="module")
def features(digits, images):
    """(real features, fake features, fake logits) of the digits network, batch by batch as the objects run it."""
    real, fake = images
    real_out = [digits(real[s : s + 8]) for s in range(0, len(real), 8)]
    fake_out = [digits(fake[s : s + 8]) for s in range(0, len(fake), 8)]
    with torch.no_grad():
        return (
            torch.cat([o[0] for o in real_out]).detach(),
            torch.cat([o[0] for o in fake_out]).detach(),
            torch.cat([o[1] for o in fake_out]).detach(),
        )


def test_each_object_equals_its_function_on_the_features(images, features):
    real, fake = images
    real_features, fake_features, fake_logits = features
    a, b = FeatureStats(128).update(real_features), FeatureStats(128).update(fake_features)
    expected_fid = float(frechet_distance(a.mean, a.cov, b.mean, b.cov))
    assert fed(FID("digits", normalize=True), real, fake).compute() == pytest.approx(expected_fid, rel=1e-9)

    kid_object = fed(KID("digits", normalize=True, subsets=5, subset_size=40, seed=1), real, fake)
    assert kid_object.compute() == kid(real_features, fake_features, 5, 40, seed=1)

    prc = fed(PrecisionRecall("digits", normalize=True, k=2, density_k=4), real, fake)
    assert prc.compute() == neighbourhood_metrics(
        real_features, fake_features, precision_recall_k=2, density_coverage_k=4
    )
    assert set(fed(PrecisionRecall("digits", normalize=True, density_k=None), real, fake).compute()) == {
        "precision",
        "recall",
        "f_score",
    }

    score = InceptionScore("digits", normalize=True, splits=3, seed=4)
    for start in range(0, len(fake), 8):
        score.update(fake[start : start + 8])
    assert score.compute() == inception_score(fake_logits, 3, shuffle=True, seed=4)


def test_inception_score_object_equals_torch_fidelity_isc(images, features):
    from torch_fidelity.metric_isc import isc_features_to_metric

    expected = isc_features_to_metric(features[2], splits=4)  # torch-fidelity's defaults: shuffled, seed 2020
    score = InceptionScore("digits", normalize=True, splits=4, seed=2020)
    score.update(images[1])
    mean, std = score.compute()
    assert mean == pytest.approx(expected["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(expected["inception_score_std"], abs=1e-10)


def test_float_images_are_the_uint8_images_they_round_to(images):
    real, fake = images
    rounded = torch.round(fake * 255).to(torch.uint8)
    as_float = fed(KID("digits", normalize=True, subsets=0), real, fake).compute()
    as_uint8 = fed(KID("digits", subsets=0), real, rounded).compute()
    assert as_float == as_uint8


def test_reset_forgets_the_fake_side_and_the_real_one_unless_told(digits, images):
    real, fake = (side[:16] for side in images)
    for metric_class, options in ((KID, dict(subsets=0)), (FID, {}), (PrecisionRecall, {})):
        kept = fed(metric_class(digits, normalize=True, reset_real_features=False, **options), real, fake[:5])
        kept.reset()
        kept.update(fake, real=False)
        again = fed(metric_class(digits, normalize=True, **options), real, fake).compute()
        assert kept.compute() == pytest.approx(again, rel=1e-12)
        forgot = fed(metric_class(digits, normalize=True, **options), real, fake)
        forgot.reset()
        forgot.update(fake, real=False)
        with pytest.raises(ValueError, match="real images"):
            forgot.compute()


def test_state_dict_round_trip_and_to(digits, images):
    real, fake = (side[:16] for side in images)
    for metric_class in (FID, KID, PrecisionRecall):
        options = dict(subsets=0) if metric_class is KID else {}
        metric = fed(metric_class(digits, normalize=True, **options), real, fake)
        state = metric.state_dict()
        assert all(isinstance(value, torch.Tensor) for value in state.values())
        fresh = metric_class(digits, normalize=True, **options)
        fresh.load_state_dict(state)
        assert fresh.compute() == metric.compute()
        assert metric.to("cpu").compute() == fresh.compute()
    score = InceptionScore(digits, normalize=True, splits=2)
    score.update(fake)
    fresh = InceptionScore(digits, normalize=True, splits=2)
    fresh.load_state_dict(score.state_dict())
    assert fresh.compute() == score.compute()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_to_cuda_gives_the_cpu_number(images):
    real, fake = images
    cpu = fed(KID("digits", normalize=True, subsets=0), real, fake)
    assert cpu.to("cuda").compute() == pytest.approx(cpu.to("cpu").compute(), rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["torch-fidelity", "clean-fid"])  # a batch step; a per-image step
def test_inception_objects_equal_the_folder_pipeline_of_the_same_protocol(tmp_path, protocol):
    """A random-weight Inception (its weights are not available offline): the FID object's statistics
    equal compute_statistics of the same images as PNGs, through the same protocol."""
    network = FIDInceptionV3()
    network.load_state_dict(random_fid_state_dict(seed=5))
    rng = np.random.default_rng(6)
    pixels = rng.integers(0, 256, size=(3, 20, 24, 3), dtype=np.uint8)
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{index}.png")
    expected = compute_statistics(folder, network, batch_size=2, protocol=protocol, progress=False)
    fid = FID(network, protocol=protocol)
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2)
    fid.update(batch[:2], real=True)
    fid.update(batch[2:], real=True)
    stats = fid.stats("real")
    assert stats.count == 3
    assert torch.allclose(stats.mean, expected.mean, rtol=0, atol=1e-9 * float(expected.mean.abs().max()))
    assert torch.allclose(stats.cov, expected.cov, rtol=0, atol=1e-9 * float(expected.cov.abs().max()))


class Features(torch.nn.Module):
    """A user's extractor: any channel count, one [N, d] tensor out."""

    def forward(self, images):
        return images.float().flatten(1)[:, :6]


def test_a_module_of_the_users(images):
    real, fake = images
    metric = fed(KID(Features(), normalize=True, subsets=0), real, fake)
    flat_real = real.float().flatten(1)[:, :6]
    flat_fake = torch.round(fake * 255).flatten(1)[:, :6]
    assert metric.compute() == kid(flat_real, flat_fake, 0)
    metric.update(torch.zeros(2, 5, 4, 4, dtype=torch.uint8), real=True)  # 5 channels: the module's business


@pytest.mark.parametrize(
    ("make", "call", "error", "match"),
    [
        (lambda: FID("digits"), lambda m, x: m.update(x.float() / 255, real=True), TypeError, "normalize=True"),
        (lambda: FID("digits", normalize=True), lambda m, x: m.update(x.float(), real=True), ValueError, r"\[0, 1\]"),
        (lambda: FID("digits"), lambda m, x: m.update(x[0], real=True), ValueError, r"images must be \[N, C, H, W\]"),
        (lambda: FID("digits"), lambda m, x: m.update(x.short(), real=True), TypeError, "images must be uint8"),
        (lambda: FID("digits"), lambda m, x: m.update(x.repeat(1, 2, 1, 1), real=True), ValueError, "1 or 3 channels"),
        (lambda: FID("digits"), lambda m, x: m.update(x.tolist(), real=True), TypeError, "images must be a torch"),
        (lambda: FID("digits"), lambda m, x: m.update(x, real="yes"), TypeError, "real must be True or False"),
        (lambda: FID("digits"), lambda m, x: m.update(x[:1], real=True) or m.compute(), ValueError, "at least 2 real"),
        (lambda: KID("digits", subset_size=50), lambda m, x: fed(m, x, x).compute(), ValueError, "subset_size = 50"),
        (lambda: InceptionScore("digits", splits=9), lambda m, x: m.update(x[:4]) or m.compute(), ValueError, "splits"),
    ],
)
def test_bad_inputs_name_the_argument(make, call, error, match):
    real = metric_objects_loop.images()[0][:8]
    metric = make()
    with pytest.raises(error, match=match):
        call(metric, real)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: FID("digits", protocol="clean-fid"), ValueError, "protocol 'clean-fid' applies to the Inception"),
        (lambda: FID("digits", dims=64), ValueError, "dims"),
        (lambda: FID("vgg"), ValueError, "extractor name must be one of"),
        (lambda: FID(3), TypeError, "extractor must be"),
        (lambda: FID(Features(), weights="w.pt"), ValueError, "dims and weights apply to"),
        (lambda: FID(FIDInceptionV3(), protocol="tf"), ValueError, "protocol must be one of"),
        (lambda: KID("digits", subsets=-2), ValueError, "subsets must be an int >= 0"),
        (lambda: PrecisionRecall("digits", k=0), ValueError, "k must be an int >= 1"),
        (lambda: FID("digits", normalize=1), TypeError, "normalize must be True or False"),
    ],
)
def test_bad_construction_names_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def run_loop(path, processes: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    launcher = [TORCHRUN, "--standalone", "--nproc-per-node", str(processes)] if processes > 1 else [sys.executable]
    command = [*launcher, os.path.join(HERE, "metric_objects_loop.py"), str(path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="torchrun is not installed next to this Python")
def test_a_validation_loop_under_two_gloo_processes_gives_the_single_process_numbers(tmp_path):
    for processes in (1, 2):
        done = run_loop(tmp_path / f"{processes}.json", processes)
        assert done.returncode == 0, done.stderr[-3000:]
    one = json.loads((tmp_path / "1.json").read_text())
    two = json.loads((tmp_path / "2.json").read_text())
    assert (one.pop("world"), two.pop("world")) == (1, 2)
    for name in ("fid", "fid_rank0"):  # FeatureStats.all_reduce: float64 re-centring
        assert two[name] == pytest.approx(one[name], rel=1e-9), name
    for name in ("kid", "kid_exact", "prc", "is", "kid_rank0"):  # the same rows in the same order: the same numbers
        assert two[name] == pytest.approx(one[name], rel=1e-12, abs=1e-15), name
    assert one["fid"] > 0 and one["kid"][0] > 0 and 0 < one["prc"]["recall"] < 1 and one["is"][0] > 2
