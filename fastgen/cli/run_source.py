"""A run folder as a metric's source: its generator, rebuilt from the newest readable checkpoint.

`fastgen fid real.npz runs/gan-…` (and `kid`, `prc`, `is`, `stats`) samples the run's model in
memory, never through image files, from its moving average when the run kept one (``--ema``),
as `fastgen sample` does (both rebuild it with ``fastgen.train.recipes.model_from_checkpoint``).
The checkpoint is found and read as `fastgen sample` reads it
(:func:`fastgen.cli.sample._read_checkpoint`); its errors are reported against the argument that
named the run (``A``, ``B``, ``FOLDER``).
"""

from __future__ import annotations

from pathlib import Path

from fastgen.cli import UsageError


def is_run_folder(path: str | Path) -> bool:
    """A folder written by `fastgen train`: it holds the run's config.json."""
    from fastgen.train import CONFIG_NAME

    return Path(path).is_dir() and (Path(path) / CONFIG_NAME).is_file()


def load_run_generator(argument: str, run: str | Path, device):
    """``(generate, description)``: ``generate(n)`` draws n samples ``[n, C, H, W]`` in [0, 1] from
    the run's model in eval mode on ``device``; every failure is one line naming ``argument``."""
    import torch

    from fastgen.cli.sample import _read_checkpoint
    from fastgen.train.recipes import model_from_checkpoint

    try:
        state, name = _read_checkpoint(Path(run), str(device))
    except UsageError as error:
        raise UsageError(argument, error.args[1]) from None
    except ValueError as error:  # CheckpointError: no readable checkpoint, naming the files
        raise UsageError(argument, str(error)) from None
    try:
        model = model_from_checkpoint(state, name)  # its moving average, when the run kept one
    except ValueError as error:  # CheckpointError: no model configuration, or one fastgen cannot rebuild
        raise UsageError(argument, str(error)) from None
    config = state["config"]
    if not hasattr(model, "sample") or len(config["data_shape"]) != 3:
        what = "an autoencoder" if not hasattr(model, "sample") else "a model of points, not images"
        raise UsageError(argument, f"{run} is a {config['model']} run: {what}, which has no images to score")
    model.to(device).eval()

    @torch.no_grad()
    def generate(n: int) -> torch.Tensor:
        return model.sample(n)

    generate.__name__ = f"{config['model']} (step {state['step']}) of {run}"
    return generate, f"{name} ({config['model']})"
