"""The trainer's outputs: a progress bar, sample grids, loss curves and held-out metrics.

Each callback runs with the training RNG state saved and restored (see ``Trainer``), on rank 0
only, except ``Metrics``, whose evaluation is spread over the ranks; only rank 0 writes, and each
file is written atomically (temporary file + rename).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from fastgen import distributed
from fastgen.train.checkpoint import atomic_write
from fastgen.train.metrics import DigitsScorer, evaluate_model
from fastgen.train.trainer import Callback, Trainer

__all__ = ["LossCurves", "Metrics", "ProgressBar", "SampleGrid", "default_callbacks", "write_png"]

SMOOTHING = 0.9  # exponential moving average of the losses shown in the progress bar


def write_png(path: Path, figure_or_grid, image_format: str = "png") -> None:
    """Write a matplotlib figure, or a ``[N, C, H, W]`` image batch as a grid, to ``path`` atomically
    (as PNG, or as ``image_format``: "jpeg", "webp")."""
    buffer = io.BytesIO()
    if isinstance(figure_or_grid, torch.Tensor):
        from torchvision.utils import save_image

        count = figure_or_grid.shape[0]
        save_image(figure_or_grid, buffer, format=image_format, nrow=max(1, round(count**0.5)), padding=2)
    else:
        figure_or_grid.savefig(buffer, format=image_format, dpi=100, bbox_inches="tight")
    atomic_write(path, lambda file: file.write(buffer.getvalue()))


class ProgressBar(Callback):
    """tqdm bar over the steps with smoothed running losses."""

    def __init__(self, description: str = "train"):
        self.description = description
        self.running: dict[str, float] = {}

    def on_start(self, trainer: Trainer) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.steps, initial=trainer.step, desc=self.description, dynamic_ncols=True)

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            previous = self.running.get(name, value)
            self.running[name] = SMOOTHING * previous + (1 - SMOOTHING) * value
        self.bar.update(1)
        if trainer.step % 10 == 0 or trainer.step == trainer.steps:
            self.bar.set_postfix({name: f"{value:.4g}" for name, value in self.running.items()}, refresh=False)

    def on_end(self, trainer: Trainer) -> None:
        self.bar.close()


class SampleGrid(Callback):
    """Every ``every`` steps (and at step 0 and the end), ``samples/step_XXXXXX.png``.

    Generative image models: a grid of samples from ``count`` fixed latent vectors (the same z at
    every step, so the grids show one set of samples evolving). Points: a scatter plot.
    Autoencoders without ``sample``: the held-out images (top half) above their reconstructions
    from corrupted inputs (bottom half).
    """

    def __init__(self, every: int, eval_data: torch.Tensor, count: int = 64, seed: int = 0):
        self.every, self.eval_data, self.count, self.seed = every, eval_data, count, seed

    def on_start(self, trainer: Trainer) -> None:
        (trainer.out_dir / "samples").mkdir(exist_ok=True)
        latent_dim = getattr(trainer.model, "latent_dim", None)
        generator = torch.Generator().manual_seed(self.seed)
        self.z = None if latent_dim is None else torch.randn(self.count, latent_dim, generator=generator)
        if trainer.step == 0:
            self.write(trainer)

    def on_step(self, trainer: Trainer, losses) -> None:
        if trainer.step % self.every == 0 or trainer.step == trainer.steps:
            self.write(trainer)

    def write(self, trainer: Trainer) -> None:
        path = trainer.out_dir / "samples" / f"step_{trainer.step:06d}.png"
        model = trainer.model
        with torch.no_grad():
            if self.z is not None:
                samples = model.sample(self.count, z=self.z.to(trainer.device)).cpu()
            else:
                half = self.eval_data[: self.count // 2]
                model.eval()
                samples = torch.cat([half, model.denoise(half)]).cpu()
                model.train()
        if samples.dim() == 4:
            write_png(path, samples)
        else:
            write_png(path, scatter_figure(samples, f"step {trainer.step}"))


def scatter_figure(points: torch.Tensor, title: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 4))
    axes = figure.add_subplot()
    axes.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
    axes.set_aspect("equal")
    axes.set_title(title)
    return figure


class LossCurves(Callback):
    """``loss_curves.png``: each training loss, and each held-out metric, against the step."""

    def __init__(self, every: int):
        self.every = every

    def on_step(self, trainer: Trainer, losses) -> None:
        if trainer.step % self.every == 0:
            self.write(trainer)

    def on_end(self, trainer: Trainer) -> None:
        self.write(trainer)

    def write(self, trainer: Trainer) -> None:
        figure = curves_figure(trainer.read_log())
        if figure is not None:
            write_png(trainer.out_dir / "loss_curves.png", figure)


def curves_figure(records: list[dict]):
    """One panel per training loss and held-out metric of ``metrics.jsonl`` records (None if none);
    FID panels on a log scale, since FID falls by orders of magnitude early, then by percents."""
    from matplotlib.figure import Figure

    series: dict[str, tuple[list, list]] = {}
    for record in records:
        for group in ("train", "eval"):
            for name, value in record.get(group, {}).items():
                if isinstance(value, (int, float)):
                    steps, values = series.setdefault(f"{group}/{name}", ([], []))
                    steps.append(record["step"])
                    values.append(value)
    if not series:
        return None
    figure = Figure(figsize=(5, 2.2 * len(series)))
    for index, (name, (steps, values)) in enumerate(series.items()):
        axes = figure.add_subplot(len(series), 1, index + 1)
        axes.plot(steps, values, marker="." if name.startswith("eval") else None)
        if name.endswith("fid") and min(values) > 0:
            axes.set_yscale("log")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
    axes.set_xlabel("step")
    return figure


class Metrics(Callback):
    """Held-out metrics every ``every`` steps (and at step 0 and the end) into ``metrics.jsonl``.

    ``{"step": s, "eval": {...}}`` with ``digits_fid`` and ``digits_is`` (FID and Inception Score
    with fastgen's digits CNN, see ``fastgen.train.metrics``) of ``num_samples`` generated images
    against ``eval_data`` (image models), modes covered and high-quality fraction (points), and
    ``model.evaluate(eval_data)`` (the autoencoders' denoising error or ELBO).

    Runs on every rank: each generates its share of the samples, with rank 0's BatchNorm
    statistics (``ReplicatedNetworks`` leaves the other ranks' own between evaluations).
    """

    every_rank = True

    def __init__(self, every: int, eval_data: torch.Tensor, num_samples: int = 1000):
        self.every, self.eval_data, self.num_samples = every, eval_data, num_samples
        self.scorer: DigitsScorer | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.eval_data = self.eval_data.to(trainer.device)
        if self.eval_data.dim() == 4 and hasattr(trainer.model, "sample"):
            self.scorer = DigitsScorer(self.eval_data, trainer.device)
        if trainer.step == 0:
            self.evaluate(trainer)

    def on_step(self, trainer: Trainer, losses) -> None:
        if trainer.step % self.every == 0 or trainer.step == trainer.steps:
            self.evaluate(trainer)

    def evaluate(self, trainer: Trainer) -> None:
        model = trainer.model
        distributed.broadcast_buffers(model)
        model.eval()
        try:
            results = evaluate_model(model, self.eval_data, scorer=self.scorer, num_samples=self.num_samples)
        finally:
            model.train()
        trainer.log({"eval": results})
        if not trainer.is_main:
            return
        from tqdm.auto import tqdm

        tqdm.write(f"step {trainer.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in results.items()))


def default_callbacks(
    eval_data: torch.Tensor,
    *,
    sample_every: int,
    eval_every: int,
    description: str,
    eval_samples: int = 1000,
    progress: bool = True,
) -> list[Callback]:
    """Progress bar (optional), sample grids, metrics on ``eval_samples`` generated samples, loss curves."""
    callbacks: list[Callback] = [ProgressBar(description)] if progress else []
    metrics = Metrics(eval_every, eval_data, num_samples=eval_samples)
    return [*callbacks, SampleGrid(sample_every, eval_data), metrics, LossCurves(eval_every)]
