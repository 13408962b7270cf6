"""CIFAR-10, CelebA and folders with a fixed holdout, read from small files made here in each
format; a missing or malformed file is one error naming it; the horizontal-flip augmentation."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from fastgen.data import load_dataset
from fastgen.data.augment import random_hflip
from fastgen.data.celeba import CROP, PARTITION
from fastgen.data.cifar10 import FOLDER, TEST_FILES, TRAIN_FILES
from fastgen.data.image_folder import HOLDOUT_SEED, holdout_indices


def write_cifar10(root, per_batch=4, seed=0):
    """The python batches, as cifar-10-python.tar.gz holds them: a dict of bytes keys, data uint8 [N, 3072]."""
    rng = np.random.default_rng(seed)
    folder = root / FOLDER
    folder.mkdir(parents=True)
    batches = {}
    for name in (*TRAIN_FILES, *TEST_FILES):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = (data, labels)
    return batches


def test_cifar10_reads_the_python_batches_as_torchvision_does(tmp_path):
    batches = write_cifar10(tmp_path)
    train, info = load_dataset("cifar10", root=tmp_path)
    test, test_info = load_dataset("cifar10", train=False, root=tmp_path)
    assert (len(train), len(test), info.sample_shape, test_info.split) == (20, 4, (3, 32, 32), "test")
    # item i of batch 2 is image 4 + i: its red plane is the first 1024 bytes, row-major (torchvision:
    # data.reshape(-1, 3, 32, 32))
    data, labels = batches["data_batch_2"]
    image, label = train[5]
    expected = torch.from_numpy(data[1].reshape(3, 32, 32).astype(np.float32) / 255)
    assert torch.equal(image, expected) and int(label) == labels[1]
    assert torch.equal(test[0][0], torch.from_numpy(batches["test_batch"][0][0].reshape(3, 32, 32) / 255).float())


def test_cifar10_missing_or_malformed_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no CIFAR-10 batches under {tmp_path}: looked for .*data_batch_1"):
        load_dataset("cifar10", root=tmp_path)
    write_cifar10(tmp_path)
    folder = tmp_path / FOLDER
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=f"CIFAR-10 batch {folder / 'data_batch_3'} is missing"):
        load_dataset("cifar10", root=tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match=f"{folder / 'data_batch_3'} is not a CIFAR-10 python batch"):
        load_dataset("cifar10", root=tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"data_batch_3: expected 'data' uint8 \[N, 3072\], got uint8 \(2, 5\)"):
        load_dataset("cifar10", root=tmp_path)


class Payload:
    def __reduce__(self):
        return (print, ("code from a dataset ran",))


def test_cifar10_never_runs_code_from_a_pickle(tmp_path, capsys):
    write_cifar10(tmp_path)
    (tmp_path / FOLDER / "test_batch").write_bytes(pickle.dumps({b"data": Payload()}))
    with pytest.raises(ValueError, match="holds builtins.print, which a CIFAR-10 batch does not"):
        load_dataset("cifar10", train=False, root=tmp_path)
    assert "code from a dataset ran" not in capsys.readouterr().out


def write_celeba(root, count=6):
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    rng = np.random.default_rng(1)
    lines = []
    for index in range(1, count + 1):
        name = f"{index:06d}.jpg"
        pixels = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / name, quality=95)
        lines.append(f"{name} {0 if index <= 4 else 2}")
    (root / PARTITION).write_text("\n".join(lines) + "\n")


def test_celeba_crops_the_central_108_pixels_and_resizes_to_64(tmp_path):
    write_celeba(tmp_path)
    train, info = load_dataset("celeba", root=tmp_path)
    test, _ = load_dataset("celeba", train=False, root=tmp_path)
    assert (len(train), len(test), info.sample_shape) == (4, 2, (3, 64, 64))
    decoded = Image.open(tmp_path / "img_align_celeba" / "000005.jpg").convert("RGB")
    left, top = (178 - CROP) // 2, (218 - CROP) // 2
    expected = decoded.crop((left, top, left + CROP, top + CROP)).resize((64, 64), Image.Resampling.BILINEAR)
    expected = torch.from_numpy(np.asarray(expected).copy()).permute(2, 0, 1).float() / 255
    assert torch.equal(test[0][0], expected)


def test_celeba_missing_or_malformed_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no CelebA under {tmp_path}: looked for {tmp_path / PARTITION}"):
        load_dataset("celeba", root=tmp_path)
    write_celeba(tmp_path)
    (tmp_path / PARTITION).write_text("000001.jpg 0\n000002.jpg train\n")
    with pytest.raises(ValueError, match=f"{tmp_path / PARTITION}, line 2: expected 'IMAGE.jpg 0\\|1\\|2'"):
        load_dataset("celeba", root=tmp_path)
    (tmp_path / PARTITION).write_text("999999.jpg 0\n")
    with pytest.raises(FileNotFoundError, match="999999.jpg, listed in list_eval_partition.txt, is missing"):
        load_dataset("celeba", root=tmp_path)


def test_a_folder_holdout_is_fixed_disjoint_and_complete(tmp_path):
    for index in range(10):
        Image.new("L", (8, 8), color=index * 20).save(tmp_path / f"{index}.png")
    train, info = load_dataset(tmp_path, holdout=0.3, image_size=8, channels=1)
    held, held_info = load_dataset(tmp_path, train=False, holdout=0.3, image_size=8, channels=1)
    values = lambda dataset: sorted(round(float(dataset[i][0][0, 0, 0]) * 255) for i in range(len(dataset)))  # noqa: E731
    assert (len(train), len(held)) == (7, 3) and "held-out part" in held_info.split
    assert sorted(values(train) + values(held)) == [20 * i for i in range(10)]
    order = torch.randperm(10, generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    assert values(held) == sorted(20 * int(i) for i in order[:3])  # the split the docstring states
    assert values(load_dataset(tmp_path, train=False, holdout=0.3, image_size=8, channels=1)[0]) == values(held)
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="holdout must be a fraction in \\(0, 1\\)"):
            load_dataset(tmp_path, holdout=bad)
    with pytest.raises(ValueError, match="holdout 0.01 of 10 images leaves 0 held out"):
        holdout_indices(10, 0.01)


def test_random_hflip_mirrors_about_half_and_follows_the_seed():
    images = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).view(2, 1, 2, 3).repeat(500, 1, 1, 1)
    torch.manual_seed(5)
    flipped = random_hflip(images)
    mirrored = (flipped == images.flip(-1)).flatten(1).all(1)
    assert ((flipped == images).flatten(1).all(1) | mirrored).all()
    assert 400 < int(mirrored.sum()) < 600  # 1000 fair coins: 500 ± 16 (one std)
    torch.manual_seed(5)
    assert torch.equal(random_hflip(images), flipped)
