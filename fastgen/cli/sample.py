"""`fastgen sample RUN -n 64 -o grid.png`: draw samples from a trained run's checkpoint.

RUN is a run folder (its newest readable checkpoint is used) or one checkpoint file of it; it is
checked first. The output is a grid image whose extension names its format (.png, .jpg/.jpeg,
.webp), or a folder (a path ending in ``/``, an existing folder, or a name without extension):
one PNG per sample, ``000000.png`` ..., for `fastgen fid` or `fastgen stats` to read. A run
trained with ``--ema`` samples from its moving average unless ``--no-ema`` is given.
"""

from __future__ import annotations

from pathlib import Path

from fastgen.cli import UsageError, non_negative_int, positive_int, torch_device

IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}  # extension -> format
FOLDER = "folder"  # the "format" of a folder target: one PNG per sample


def add_arguments(parser) -> None:
    parser.add_argument("run", metavar="RUN", help="a folder written by `fastgen train`, or one of its checkpoints")
    parser.add_argument("-n", "--num-samples", type=positive_int, default=64, help="how many samples (default 64)")
    parser.add_argument(
        "-o",
        "--output",
        default="grid.png",
        help="a grid image (.png, .jpg, .jpeg or .webp; default grid.png), or a folder (ending in /) "
        "for one PNG per sample",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the latent vectors")
    parser.add_argument("--device", type=torch_device, default="cpu")
    parser.add_argument("--no-ema", action="store_true", help="sample the trained weights, not their moving average")
    parser.add_argument("--overwrite", action="store_true", help="replace --output (or the files in it) if it exists")


def _output_kind(output: str) -> str:
    """The format to write ``output`` in (``FOLDER`` for a folder); refuses what cannot be written there."""
    path = Path(output)
    if output.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        return FOLDER
    image_format = IMAGE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise UsageError(
            "-o/--output", f"cannot write a {path.suffix} file: expected {', '.join(IMAGE_FORMATS)}, or a folder"
        )
    return image_format


def _check_output(output: str, kind: str, overwrite: bool) -> None:
    path = Path(output)
    if not path.parent.is_dir():
        raise UsageError("-o/--output", f"the folder {path.parent} does not exist")
    if kind == FOLDER:
        if path.exists() and not path.is_dir():
            raise UsageError("-o/--output", f"{path} is a file, not a folder")
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            raise UsageError("-o/--output", f"{path} already holds files; pass --overwrite to write into it")
    elif path.exists() and not overwrite:
        raise UsageError("-o/--output", f"{path} exists; pass --overwrite to replace it, or another -o")


def _read_checkpoint(source: Path, device: str) -> tuple[dict, str]:
    """The checkpoint ``source`` (which exists) names (a run folder's newest readable one) and how to name it."""
    from fastgen.train.checkpoint import CheckpointError, RunCheckpoints, load_run_checkpoint

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

    from fastgen.train.callbacks import scatter_figure, write_png
    from fastgen.train.recipes import model_from_checkpoint

    source = Path(args.run)
    if not source.exists():  # the run first: a missing run is the mistake to report, whatever -o is
        raise UsageError("RUN", f"{source} does not exist")
    kind = _output_kind(args.output)
    _check_output(args.output, kind, args.overwrite)
    state, name = _read_checkpoint(source, args.device)
    model = model_from_checkpoint(state, name, use_ema=not args.no_ema)
    config = state["config"]
    if not hasattr(model, "sample"):
        raise UsageError("RUN", f"a {config['model']} run has no sampler: it is an autoencoder, not a generative model")
    model.to(args.device).eval()
    torch.manual_seed(args.seed)
    with torch.no_grad():
        samples = model.sample(args.num_samples).cpu()
    averaged = " from its moving average" if "ema" in state and not args.no_ema else ""
    what = f"{args.num_samples} samples of {config['model']} (step {state['step']}){averaged}"
    if kind == FOLDER:
        if samples.dim() != 4:
            raise UsageError("-o/--output", f"{config['model']} samples 2-D points, not images: name a .png for a plot")
        folder = Path(args.output)
        folder.mkdir(exist_ok=True)
        for index, image in enumerate(samples):
            write_png(folder / f"{index:06d}.png", image.unsqueeze(0))
        print(f"wrote {what} to {folder}/ as {args.num_samples} PNG files")
        return 0
    figure = samples if samples.dim() == 4 else scatter_figure(samples, f"{config['model']} samples")
    write_png(Path(args.output), figure, kind)
    print(f"wrote {what} to {args.output}")
    return 0
