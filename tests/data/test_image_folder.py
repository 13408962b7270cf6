"""Image folders: recursive search, labels from subfolders, resize + center crop, errors naming the file."""

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.data import ImageFolderDataset, load_dataset


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_recursive_search_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cats/a.png", "cats/deep/b.jpg", "dogs/c.PNG", "d.jpeg", ".hidden/e.png", "notes.txt"):
        if name.endswith(".txt"):
            (tmp_path / name).write_text("not an image")
        else:
            save(tmp_path / name, rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    dataset, info = load_dataset(tmp_path, image_size=8)
    assert [p.relative_to(tmp_path).as_posix() for p in dataset.paths] == [
        "cats/a.png", "cats/deep/b.jpg", "d.jpeg", "dogs/c.PNG",
    ]  # fmt: skip
    assert dataset.classes == ["", "cats", "dogs"]
    assert dataset.labels.tolist() == [1, 1, 0, 2]
    assert (info.num_samples, info.sample_shape, info.num_classes, info.split) == (4, (3, 8, 8), 3, "all")
    assert "4 images from" in info.source
    image, label = dataset[3]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32 and int(label) == 2
    assert image.min() >= 0 and image.max() <= 1


def test_exact_pixels_and_center_crop(tmp_path):
    # 6 wide, 4 high: already 4 on the short side, so no resize; the crop keeps columns 1..4
    array = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3)
    save(tmp_path / "x.png", array)
    image, _ = ImageFolderDataset(tmp_path, image_size=4)[0]
    expected = torch.from_numpy(array[:, 1:5].astype(np.float32) / 255).permute(2, 0, 1)
    torch.testing.assert_close(image, expected, rtol=0, atol=0)


def test_gray_and_resize(tmp_path):
    save(tmp_path / "x.png", np.full((30, 20, 3), (255, 0, 0), dtype=np.uint8))  # pure red
    image, _ = ImageFolderDataset(tmp_path, image_size=10, channels=1)[0]
    assert image.shape == (1, 10, 10)
    # PIL's luma of pure red: 255 · 299/1000 = 76.2 → 76
    torch.testing.assert_close(image, torch.full((1, 10, 10), 76 / 255), rtol=0, atol=1 / 255)


def test_default_size_is_64(tmp_path):
    save(tmp_path / "x.png", np.zeros((100, 80), dtype=np.uint8))
    dataset, info = load_dataset(tmp_path)
    assert dataset[0][0].shape == (3, 64, 64) and info.sample_shape == (3, 64, 64)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="no images"):
        load_dataset(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    dataset = ImageFolderDataset(tmp_path)
    with pytest.raises(ValueError, match="broken.png"):
        dataset[0]
    with pytest.raises(ValueError, match="no held-out split"):
        load_dataset(tmp_path, train=False)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        ImageFolderDataset(tmp_path, channels=2)
    with pytest.raises(ValueError, match="not a folder"):
        ImageFolderDataset(tmp_path / "broken.png")
