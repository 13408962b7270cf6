"""`fastgen sample RUN -n 64 -o grid.png`: draw samples from a trained run's checkpoint.

RUN is a run folder (its newest readable checkpoint is used) or one checkpoint file of it. The
output's extension names its format (.png, .jpg/.jpeg, .webp); any other is refused.
"""

from __future__ import annotations

from pathlib import Path

from fastgen.cli import UsageError, non_negative_int, positive_int, torch_device

IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}  # extension -> format


def add_arguments(parser) -> None:
    parser.add_argument("run", metavar="RUN", help="a folder written by `fastgen train`, or one of its checkpoints")
    parser.add_argument("-n", "--num-samples", type=positive_int, default=64, help="how many samples (default 64)")
    parser.add_argument(
        "-o", "--output", default="grid.png", help="image to write: .png, .jpg, .jpeg or .webp (default grid.png)"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the latent vectors")
    parser.add_argument("--device", type=torch_device, default="cpu")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")


def _check_output(output: Path, overwrite: bool) -> str:
    """The format to write ``output`` in; refuses what cannot be written there."""
    image_format = IMAGE_FORMATS.get(output.suffix.lower())
    if image_format is None:
        named = f"a {output.suffix} file" if output.suffix else "a file without an extension"
        raise UsageError("-o/--output", f"cannot write {named}: expected {', '.join(IMAGE_FORMATS)}")
    if output.is_dir():
        raise UsageError("-o/--output", f"{output} is a folder")
    if output.exists() and not overwrite:
        raise UsageError("-o/--output", f"{output} exists; pass --overwrite to replace it, or another -o")
    if not output.parent.is_dir():
        raise UsageError("-o/--output", f"the folder {output.parent} does not exist")
    return image_format


def _read_checkpoint(source: Path, device: str) -> tuple[dict, str]:
    """The checkpoint ``source`` names (a run folder's newest readable one) and how to name it."""
    from fastgen.train.checkpoint import CheckpointError, RunCheckpoints, load_run_checkpoint

    if not source.exists():
        raise UsageError("RUN", f"{source} does not exist")
    if source.is_file():
        return load_run_checkpoint(source, device), str(source)
    checkpoints = RunCheckpoints(source)
    if not checkpoints.paths():
        raise UsageError("RUN", f"{source} holds no checkpoint; is it a folder written by `fastgen train`?")
    state = checkpoints.load_newest(device)  # warns about each unreadable one it passes over
    if state is None:
        raise CheckpointError(f"no readable checkpoint in {source}")
    return state, f"the checkpoint of step {state['step']} in {source}"


def run(args) -> int:
    import torch

    from fastgen.train import build_model
    from fastgen.train.callbacks import scatter_figure, write_png
    from fastgen.train.checkpoint import CheckpointError

    output = Path(args.output)
    image_format = _check_output(output, args.overwrite)
    state, name = _read_checkpoint(Path(args.run), args.device)
    config = state["config"]
    if not isinstance(config, dict) or not {"model", "data_shape", "options"} <= config.keys():
        raise CheckpointError(f"{name} has no model configuration: it was not written by `fastgen train`")
    try:
        model = build_model(config["model"], config["data_shape"], config["options"])
        model.load_state_dict(state["model"])
    except (TypeError, ValueError, RuntimeError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{name} does not hold a {config['model']} fastgen can rebuild: {first_line}") from None
    if not hasattr(model, "sample"):
        raise UsageError("RUN", f"a {config['model']} run has no sampler: it is an autoencoder, not a generative model")
    model.to(args.device).eval()
    torch.manual_seed(args.seed)
    with torch.no_grad():
        samples = model.sample(args.num_samples).cpu()
    figure = samples if samples.dim() == 4 else scatter_figure(samples, f"{config['model']} samples")
    write_png(output, figure, image_format)
    print(f"wrote {args.num_samples} samples of {config['model']} (step {state['step']}) to {output}")
    return 0
