"""Image inputs that cannot silently go wrong, through `fastgen fid` / `fastgen stats` (issue 9, item 4).

The digits extractor keeps these fast (28×28 gray network); the decoding, resizing and error paths
are the ones every extractor uses. A user's mistake must give exit code 2 and one line on stderr
naming the file or argument, before any weights are loaded or any image is decoded.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.cli import main
from fastgen.metrics.digits import load_digits_extractor
from fastgen.metrics.stats import FeatureStats
from tests.test_image_files import write_png16


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str, status: int = 2) -> None:
    """One line naming ``needles``, no traceback; ``status`` 2 for a usage error, 1 for a missing file."""
    assert code == status
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def digits_args(*extra):
    return ("--extractor", "digits", "--num-workers", 0, "--no-progress", *extra)


@pytest.fixture
def digits(tmp_path):
    """Six 28×28 gray digit-like images: strokes on black, as PNGs in ``digits/``."""
    rng = np.random.default_rng(5)
    pixels = (rng.random(size=(6, 28, 28)) < 0.15).astype(np.uint8) * rng.integers(128, 256, size=(6, 28, 28))
    folder = tmp_path / "digits"
    folder.mkdir()
    for index, image in enumerate(pixels.astype(np.uint8)):
        Image.fromarray(image).save(folder / f"{index}.png")
    return folder, pixels.astype(np.uint8)


def printed_fid(out: str) -> float:
    assert out.startswith("FID: "), out
    return float(out.split()[1])


def test_16bit_pngs_of_the_same_images_give_fid_zero(tmp_path, digits, capsys):
    folder, pixels = digits
    gray16, rgb16 = tmp_path / "gray16", tmp_path / "rgb16"
    gray16.mkdir(), rgb16.mkdir()
    for index, image in enumerate(pixels):
        write_png16(gray16 / f"{index}.png", image.astype(np.uint16) * 257)
        write_png16(rgb16 / f"{index}.png", np.repeat(image[:, :, None], 3, axis=2).astype(np.uint16) * 257)
    for wide in (gray16, rgb16):
        code, out, err = run_cli(capsys, "fid", folder, wide, *digits_args())
        assert code == 0, err
        assert abs(printed_fid(out)) <= 1e-6  # PIL's convert() clipped these to white: FID in the thousands


def test_mixed_sizes_give_one_answer_at_any_batch_size(tmp_path, capsys):
    rng = np.random.default_rng(6)
    sizes = [(28, 28), (32, 30), (20, 24), (28, 28), (40, 40), (28, 28), (31, 17)]
    folder = tmp_path / "mixed"
    folder.mkdir()
    images = []
    for index, (height, width) in enumerate(sizes):
        image = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"{index}.png")
        images.append(image)
    stats = {}
    for batch_size in (1, 3, 50):
        output = tmp_path / f"b{batch_size}.npz"
        code, _, err = run_cli(capsys, "stats", folder, "-o", output, *digits_args("--batch-size", batch_size))
        assert code == 0, err
        stats[batch_size] = FeatureStats.load(output)
    # The reference: each image through the extractor on its own (its own resize to 28×28).
    extractor = load_digits_extractor()
    with torch.inference_mode():
        rows = torch.cat([extractor(torch.from_numpy(image)[None, None])[0] for image in images])
    reference = FeatureStats(rows.shape[1]).update(rows)
    for result in stats.values():  # float32 features, batch sizes differ: 1e-5 of the largest entry
        for name in ("mean", "cov"):
            expected = getattr(reference, name)
            assert (getattr(result, name) - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_a_truncated_image_is_named_in_one_line_or_skipped_and_counted(digits, capsys, tmp_path):
    folder, _ = digits
    broken = folder / "3.png"
    broken.write_bytes(broken.read_bytes()[:50])
    code, out, err = run_cli(capsys, "stats", folder, "-o", tmp_path / "s.npz", *digits_args())
    assert_one_line_error(code, err, str(broken), "--skip-bad")
    assert out == "" and not (tmp_path / "s.npz").exists()

    code, out, err = run_cli(capsys, "stats", folder, "-o", tmp_path / "s.npz", *digits_args("--skip-bad"))
    assert code == 0, err
    assert "skipped 1 unreadable image" in err and "statistics of 5 images" in out


def test_an_empty_file_and_a_non_image_are_named(digits, capsys, tmp_path):
    folder, _ = digits
    (folder / "empty.png").write_bytes(b"")
    code, _, err = run_cli(capsys, "fid", folder, folder, *digits_args())
    assert_one_line_error(code, err, str(folder / "empty.png"))


def test_argument_errors_come_before_weight_errors(tmp_path, digits, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "no_hub"))  # no Inception weights anywhere
    folder, _ = digits
    code, _, err = run_cli(capsys, "fid", folder, tmp_path / "missing", "--no-progress")
    assert_one_line_error(code, err, "B:", str(tmp_path / "missing"), "does not exist")
    code, _, err = run_cli(capsys, "fid", tmp_path / "missing", folder, "--no-progress")
    assert_one_line_error(code, err, "A:", "does not exist")
    code, _, err = run_cli(capsys, "stats", tmp_path / "missing", "-o", tmp_path / "s.npz")
    assert_one_line_error(code, err, "A:", "does not exist")
    code, _, err = run_cli(capsys, "fid", folder, folder, "--device", "cpu", "--precision", "float16")
    assert_one_line_error(code, err, "float16", "CUDA")
    code, _, err = run_cli(capsys, "fid", folder, folder, "--batch-size", 0)
    assert_one_line_error(code, err, "--batch-size")
    code, _, err = run_cli(capsys, "fid", folder, folder, *digits_args("--protocol", "clean-fid"))
    assert_one_line_error(code, err, "argument --protocol: clean-fid", "inception")
    code, _, err = run_cli(capsys, "fid", folder, folder, "--no-progress")  # only now: the weights
    assert_one_line_error(code, err, "pt_inception-2015-12-05-6726825d.pth", status=1)  # a missing file


def test_a_single_image_names_its_set(tmp_path, digits, capsys):
    folder, pixels = digits
    single = tmp_path / "single"
    single.mkdir()
    Image.fromarray(pixels[0]).save(single / "only.png")
    code, _, err = run_cli(capsys, "fid", folder, single, *digits_args())
    assert_one_line_error(code, err, "B:", str(single), "1 image", "at least 2")


@pytest.mark.parametrize("suffix", [".bmp", ".webp", ".jpg"])
def test_every_listed_extension_is_read(tmp_path, digits, capsys, suffix):
    folder, pixels = digits
    other = tmp_path / suffix[1:]
    other.mkdir()
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(other / f"{index}{suffix}", **({"lossless": True} if suffix == ".webp" else {}))
    code, out, err = run_cli(capsys, "fid", folder, other, *digits_args())
    assert code == 0, err
    if suffix != ".jpg":  # lossless formats hold the same pixels
        assert abs(printed_fid(out)) <= 1e-6


def test_lower_precision_runs_and_stays_close(digits, capsys, tmp_path):
    folder, _ = digits
    for precision in ("float32", "bfloat16"):
        code, _, err = run_cli(
            capsys, "stats", folder, "-o", tmp_path / f"{precision}.npz", *digits_args("--precision", precision)
        )
        assert code == 0, err
        assert ("not comparable to published" in err) == (precision != "float32")
    full, low = FeatureStats.load(tmp_path / "float32.npz"), FeatureStats.load(tmp_path / "bfloat16.npz")
    # bfloat16 keeps 8 bits of mantissa (relative rounding 2^-9 ≈ 2e-3 per operation); through three
    # convolutions the features move by about 1e-2 of their scale, and the statistics with them.
    deviation = (low.mean - full.mean).abs().max() / full.mean.abs().max()
    assert 0 < deviation < 5e-2


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_same_pipeline_on_cuda(digits, capsys, tmp_path):
    """CUDA statistics equal the CPU's to float32 rounding (cuDNN and oneDNN sum in different orders)."""
    folder, _ = digits
    for device, precision in (("cpu", "float32"), ("cuda", "float32"), ("cuda", "float16")):
        output = tmp_path / f"{device}-{precision}.npz"
        code, _, err = run_cli(
            capsys, "stats", folder, "-o", output, *digits_args("--device", device, "--precision", precision)
        )
        assert code == 0, err
    cpu = FeatureStats.load(tmp_path / "cpu-float32.npz")
    for name, tolerance in (("cuda-float32", 1e-4), ("cuda-float16", 5e-2)):
        cuda = FeatureStats.load(tmp_path / f"{name}.npz")
        assert (cuda.mean - cpu.mean).abs().max() <= tolerance * cpu.mean.abs().max()
