"""The Trainer: every model trains a few steps, checkpoints are atomic and safe, resume is exact."""

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from fastgen import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder
from fastgen.train import Callback, Trainer, load_checkpoint, save_checkpoint, shuffled_indices
from fastgen.train.callbacks import LossCurves, SampleGrid
from fastgen.train.checkpoint import CheckpointError
from fastgen.train.metrics import DigitsScorer, evaluate_model

TINY = {
    "dae": (lambda: DenoisingAutoencoder(64, 16), (1, 8, 8)),
    "gan": (lambda: GAN((2,), latent_dim=4, hidden=16), (2,)),
    "lsgan": (lambda: LSGAN((1, 28, 28), latent_dim=8, arch="dcgan", width=4), (1, 28, 28)),
    "dcgan": (lambda: DCGAN(28, 1, latent_dim=8, width=4), (1, 28, 28)),
    "vae": (lambda: VAE((1, 8, 8), latent_dim=4, hidden=16), (1, 8, 8)),
}


def make(name, out_dir, steps, streamed=False, **kwargs):
    """A Trainer of a tiny model; ``streamed``: the samples as a Dataset, read through a DataLoader."""
    build, shape = TINY[name]
    torch.manual_seed(0)
    model = build()
    data = torch.rand(40, *shape, generator=torch.Generator().manual_seed(1))
    data = TensorDataset(data) if streamed else data
    options = {"batch_size": 8, "seed": 3, "checkpoint_every": 2, "log_every": 1, **kwargs}
    return Trainer(model, data, out_dir=out_dir, steps=steps, **options)


@pytest.mark.parametrize("name", list(TINY))
def test_each_model_trains_and_logs(name, tmp_path):
    trainer = make(name, tmp_path / "run", steps=3)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    assert trainer.step == 3
    changed = [not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items()]
    assert any(changed)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(all(torch.isfinite(torch.tensor(v)) for v in r["train"].values()) for r in records)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 3


@pytest.mark.parametrize("name", list(TINY))
def test_resume_is_bit_identical_to_an_uninterrupted_run(name, tmp_path):
    straight = make(name, tmp_path / "straight", steps=5)
    straight.fit()
    first = make(name, tmp_path / "stopped", steps=3, checkpoint_every=3)
    first.fit()  # stops after step 3 with a checkpoint
    torch.manual_seed(12345)  # whatever the process did in between must not matter
    torch.rand(100)
    resumed = make(name, tmp_path / "stopped", steps=5, checkpoint_every=3)
    resumed.fit(resume=True)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    for name_, optimizer in straight.optimizers.items():
        state = optimizer.state_dict()["state"]
        other = resumed.optimizers[name_].state_dict()["state"]
        for index in state:
            for key, value in state[index].items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other[index][key]))
    assert straight.read_log() == resumed.read_log()


def test_resume_drops_log_records_written_after_the_checkpoint(tmp_path):
    trainer = make("gan", tmp_path / "run", steps=3, checkpoint_every=2)
    trainer.fit()
    (tmp_path / "run" / "checkpoint.pt").unlink()
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", {**trainer.state_dict(), "step": 2})
    resumed = make("gan", tmp_path / "run", steps=3, checkpoint_every=2)
    resumed.load_state_dict(load_checkpoint(tmp_path / "run" / "checkpoint.pt"))
    resumed._drop_log_after(2)
    assert [r["step"] for r in resumed.read_log()] == [1, 2]


def test_fresh_run_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="resume"):
        make("gan", tmp_path / "run", steps=1).fit()
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        make("gan", tmp_path / "other", steps=1).fit(resume=True)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})

    def crash(obj, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary file left behind


class Payload:
    def __reduce__(self):
        return (print, ("code from a checkpoint ran",))


def test_checkpoint_load_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(path)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="steps"):
        make("gan", tmp_path, steps=0)
    with pytest.raises(ValueError, match="batch_size=100"):
        make("gan", tmp_path, steps=1, batch_size=100)


def test_epoch_order_is_a_fixed_permutation_and_covers_the_data(tmp_path):
    trainer = make("gan", tmp_path / "run", steps=1)
    seen = torch.cat([trainer.batch_indices(step) for step in range(trainer.steps_per_epoch)])
    assert sorted(seen.tolist()) == list(range(40))
    assert torch.equal(shuffled_indices(40, 3, 0), shuffled_indices(40, 3, 0))
    assert not torch.equal(shuffled_indices(40, 3, 0), shuffled_indices(40, 3, 1))


def test_callbacks_do_not_move_the_training_rng(tmp_path):
    class Noisy(Callback):
        def on_step(self, trainer, losses):
            torch.rand(1000)

    quiet = make("vae", tmp_path / "quiet", steps=3)
    quiet.fit()
    noisy = make("vae", tmp_path / "noisy", steps=3, callbacks=[Noisy()])
    noisy.fit()
    for key, value in quiet.model.state_dict().items():
        assert torch.equal(value, noisy.model.state_dict()[key])


@pytest.mark.parametrize("name", ["dae", "gan"])
def test_sample_grid_and_curves_are_written(name, tmp_path):
    build, shape = TINY[name]
    eval_data = torch.rand(10, *shape)
    trainer = make(name, tmp_path / "run", steps=2, callbacks=[SampleGrid(1, eval_data, count=8), LossCurves(1)])
    trainer.fit()
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == [
        "step_000000.png",
        "step_000001.png",
        "step_000002.png",
    ]
    assert (tmp_path / "run" / "loss_curves.png").stat().st_size > 0


def test_digits_scorer_ranks_real_digits_far_above_noise():
    from fastgen.data import load_dataset

    real = load_dataset("mnist", train=False)[0].data[:300]
    other_real = load_dataset("mnist", train=True)[0].data[:300]
    scorer = DigitsScorer(real)
    noise = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    on_real, on_noise = scorer(other_real), scorer(noise)
    assert on_real["digits_fid"] < 5 < 100 < on_noise["digits_fid"]
    assert on_real["digits_is"] > 7 and on_noise["digits_is"] < 2


def test_evaluate_model_on_the_ring_of_gaussians():
    from fastgen.data import sample_ring

    class Perfect:
        def sample(self, n):
            return sample_ring(n, seed=5)[0]

    results = evaluate_model(Perfect(), torch.zeros(4, 2), scorer=None, num_samples=2500)
    assert results["modes_covered"] == 8 and results["high_quality_fraction"] > 0.97


@pytest.mark.parametrize("workers", [0, 2])
def test_a_streamed_dataset_trains_exactly_like_the_same_samples_in_memory(workers, tmp_path):
    """A Dataset goes through a DataLoader (here also with worker processes) fed the same step batches."""
    in_memory = make("dcgan", tmp_path / "memory", steps=6)
    in_memory.fit()
    make("dcgan", tmp_path / "streamed", steps=3, streamed=True, workers=workers).fit()
    resumed = make("dcgan", tmp_path / "streamed", steps=6, streamed=True, workers=workers)
    resumed.fit(resume=True)
    for key, value in in_memory.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_loss_curves_put_fid_on_a_log_scale():
    from fastgen.train.callbacks import curves_figure

    records = [
        {"step": 0, "eval": {"digits_fid": 292.8, "digits_is": 1.0}},
        {"step": 1, "train": {"loss_d": 1.3, "loss_g": 0.7}},
        {"step": 2, "train": {"loss_d": 1.1, "loss_g": 0.9}, "eval": {"digits_fid": 4.2, "digits_is": 8.1}},
    ]
    scales = {axes.get_ylabel(): axes.get_yscale() for axes in curves_figure(records).axes}
    assert scales == {
        "eval/digits_fid": "log",
        "eval/digits_is": "linear",
        "train/loss_d": "linear",
        "train/loss_g": "linear",
    }
    assert curves_figure([{"step": 0}]) is None
