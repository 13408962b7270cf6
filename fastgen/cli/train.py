"""`fastgen train MODEL`: parse the arguments, call ``fastgen.train.run``, turn its outcome into an exit code.

Everything a run does (the folder, resuming, refusing conflicting settings, signals, checkpoints,
EMA, loggers, data) is ``fastgen.train.run``'s, described in docs/runs.md; this module maps each
``--flag`` to its argument (``--batch-size`` → ``batch_size``) and back for errors, so that a
mistake reads ``fastgen train: error: argument --batch-size: ...``. ``--backend`` is applied
around the whole run (``with fastgen.backend(name):``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from fastgen.cli import (
    as_usage_error,
    non_negative_int,
    positive_float,
    positive_int,
    report_error,
    reported_elsewhere,
    torch_device,
)
from fastgen.train.settings import CADENCES, EVAL_SAMPLES, MIN_EVAL_SAMPLES

MODELS = ("dae", "gan", "lsgan", "dcgan", "vae")
# run() arguments whose flag is not "--" + the name with dashes
FLAGS = {"model": "model", "out_dir": "--out", "options": "--option", "loggers": "--logger"}


def flag(setting: str) -> str:
    """The command-line spelling of a ``fastgen.train.run`` argument."""
    return FLAGS.get(setting, "--" + setting.replace("_", "-"))


def model_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (VALUE as JSON, or a plain string), got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def logger_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def backend_name(text: str) -> str:
    """A fastgen backend usable here (auto, torch, cpp, cuda, triton)."""
    from fastgen.backends import AUTO, NAMES, unavailable_reason

    if text not in (*NAMES, AUTO):
        raise argparse.ArgumentTypeError(f"expected one of {', '.join((AUTO, *NAMES))}, got {text!r}")
    reason = None if text == AUTO else unavailable_reason(text)
    if reason is not None:
        raise argparse.ArgumentTypeError(f"{text} is not usable here: {reason}")
    return text


def add_arguments(parser) -> None:
    parser.add_argument("model", choices=MODELS, help="which model to train")
    parser.add_argument(
        "--data",
        default=None,
        help="mnist (default; the embedded subset), digits, gaussians, cifar10, celeba (both with --data-root), "
        "or a folder of images",
    )
    parser.add_argument(
        "--data-root",
        default=None,
        help="folder of the full MNIST (IDX files), of CIFAR-10 (cifar-10-batches-py) or of CelebA "
        "(img_align_celeba/, list_eval_partition.txt); nothing is downloaded",
    )
    parser.add_argument(
        "--holdout", type=float, default=None, help="for a folder: this fraction (0 to 1) held out for metrics"
    )
    parser.add_argument(
        "--hflip", action="store_true", default=None, help="mirror training images left-right at random"
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=positive_int, default=None, help="optimisation steps (default: the model's recipe)"
    )
    length.add_argument("--epochs", type=positive_float, default=None, help="passes over the training data")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="default: the model's recipe")
    parser.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: the paper's)")
    parser.add_argument(
        "--ema", type=float, default=None, metavar="DECAY", help="keep a moving average of the generator (e.g. 0.999)"
    )
    parser.add_argument("--device", type=torch_device, default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="CPU threads for torch (default 1: these small models gain little from more, and on a shared "
        "CPU spinning threads slowed DCGAN steps 3x or more)",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=None, help="fixes weights, batch order and noise (default 0)"
    )
    parser.add_argument("--out", default=None, help="run folder (default runs/MODEL-TIMESTAMP); never overwritten")
    continuing = parser.add_mutually_exclusive_group()
    continuing.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest readable checkpoint"
    )
    continuing.add_argument(
        "--auto-resume",
        action="store_true",
        help="continue the run in --out if there is one, else start it (for torchrun --max-restarts)",
    )
    parser.add_argument(
        "--backend", type=backend_name, default=None, help="fastgen backend of the fused ops (torch = reference)"
    )
    parser.add_argument("--image-size", type=positive_int, default=None, help="resize images to this side")
    parser.add_argument("--channels", type=int, default=None, choices=(1, 3), help="convert images to 1 or 3 channels")
    parser.add_argument(
        "--option",
        type=model_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model option, e.g. width=64, arch=mlp",
    )
    parser.add_argument(
        "--logger",
        type=logger_names,
        default=None,
        metavar="NAMES",
        help="where losses, metrics and samples go besides metrics.jsonl and the PNGs: csv, tensorboard "
        "(comma-separated; tensorboard needs pip install 'fastgen[tensorboard]')",
    )
    cadences = {
        "sample_every": "steps between sample grids",
        "eval_every": "steps between held-out metrics",
        "checkpoint_every": "steps between checkpoints",
        "keep_checkpoints": "how many checkpoints to keep, the newest",
    }
    for name, what in cadences.items():
        parser.add_argument(flag(name), type=positive_int, default=None, help=f"{what} (default {CADENCES[name]})")
    parser.add_argument(
        "--eval-samples",
        type=positive_int,
        default=None,
        help=f"generated (and held-out) samples per evaluation, at least {MIN_EVAL_SAMPLES} "
        f"(default {EVAL_SAMPLES['images']} images, {EVAL_SAMPLES['points']} points)",
    )
    parser.add_argument(
        "--eval-ref",
        default=None,
        help="also log Inception FID (and KID) against this set every --eval-every steps, from --eval-samples "
        "generated images: a .npz from `fastgen stats` (FID), an image folder, dataset name or .npy/.pt features",
    )
    parser.add_argument("--eval-weights", default=None, help="Inception weights for --eval-ref (default: hub cache)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=min(4, os.cpu_count() or 1),
        help="processes decoding a folder or a large dataset (default min(4, CPU cores); 0: the training process)",
    )
    parser.add_argument(
        "--sync-bn", action="store_true", help="under torchrun on GPUs: BatchNorm over every process's batch"
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="bfloat16: the step under autocast (faster on GPUs and AMX/AVX-512-BF16 CPUs; see docs/training.md)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model's networks")
    parser.add_argument(
        "--no-cuda-graphs", action="store_true", help="on a GPU, run eager steps instead of one captured CUDA graph"
    )


def run(args) -> int:
    """Train; under torchrun every process runs this command, joined in one process group."""
    from contextlib import nullcontext

    import fastgen
    from fastgen.train import Interrupted, SettingError, StoppedAtOnce, TrainingDiverged
    from fastgen.train import run as train
    from fastgen.train.signals import exit_code

    try:
        with fastgen.backend(args.backend) if args.backend else nullcontext():
            train(
                args.model,
                args.data,
                args.out,
                steps=args.steps,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                seed=args.seed,
                options=dict(args.option) or None,
                data_root=args.data_root,
                image_size=args.image_size,
                channels=args.channels,
                holdout=args.holdout,
                hflip=args.hflip,
                ema=args.ema,
                resume=args.resume,
                auto_resume=args.auto_resume,
                device=args.device,
                sample_every=args.sample_every,
                eval_every=args.eval_every,
                checkpoint_every=args.checkpoint_every,
                keep_checkpoints=args.keep_checkpoints,
                eval_samples=args.eval_samples,
                eval_ref=args.eval_ref,
                eval_weights=args.eval_weights,
                loggers=args.logger,
                workers=args.workers,
                sync_bn=args.sync_bn,
                precision=args.precision,
                compile=args.compile,
                cuda_graphs=not args.no_cuda_graphs,
                threads=args.threads,
                progress=not args.no_progress,
            )
    except SettingError as error:
        raise as_usage_error(flag(error.setting), error, error.args[1]) from None
    except (Interrupted, StoppedAtOnce) as stop:
        if not reported_elsewhere(stop):
            _report_stop(stop, args.model)
        return exit_code(stop.signum)
    except TrainingDiverged as error:
        report_error(args._prog, error)
        return 1
    return 0


def _report_stop(stop, model: str) -> None:
    import signal

    from fastgen.train import Interrupted

    command = f"fastgen train {model} --resume --out {shlex.quote(str(stop.out_dir))}"
    if isinstance(stop, Interrupted):
        print(f"\ninterrupted at step {stop.step}; continue with: {command}", file=sys.stderr)
    else:
        name = signal.Signals(stop.signum).name
        print(f"\nstopped at once by a second {name}; continue from the last checkpoint: {command}", file=sys.stderr)
