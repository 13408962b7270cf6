"""A run folder as a metric's source: its generator, rebuilt from the newest readable checkpoint.

`fastgen fid real.npz runs/gan-…` (and `kid`, `prc`, `is`, `stats`) samples the run's model in
memory, never through image files. The checkpoint is found and read as `fastgen sample` reads it
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
    from fastgen.train import build_model

    try:
        state, name = _read_checkpoint(Path(run), str(device))
    except UsageError as error:
        raise UsageError(argument, error.args[1]) from None
    except ValueError as error:  # CheckpointError: no readable checkpoint, naming the files
        raise UsageError(argument, str(error)) from None
    config = state.get("config")
    if not isinstance(config, dict) or not {"model", "data_shape", "options"} <= config.keys():
        raise UsageError(argument, f"{name} has no model configuration: it was not written by `fastgen train`")
    try:
        model = build_model(config["model"], config["data_shape"], config["options"])
        model.load_state_dict(state["model"])
    except (TypeError, ValueError, RuntimeError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = f"{name} does not hold a {config['model']} fastgen can rebuild: {first_line}"
        raise UsageError(argument, message) from None
    if not hasattr(model, "sample") or len(config["data_shape"]) != 3:
        what = "an autoencoder" if not hasattr(model, "sample") else "a model of points, not images"
        raise UsageError(argument, f"{run} is a {config['model']} run: {what}, which has no images to score")
    model.to(device).eval()

    @torch.no_grad()
    def generate(n: int) -> torch.Tensor:
        return model.sample(n)

    generate.__name__ = f"{config['model']} (step {state['step']}) of {run}"
    return generate, f"{name} ({config['model']})"
