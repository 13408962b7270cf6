"""`fastgen train MODEL`: train dae, gan, lsgan, dcgan or vae and write a run folder.

The run folder (``--out``, default ``runs/MODEL-YYYYmmdd-HHMMSS``) receives ``config.json`` (the
settings, the cadences and the step target), ``metrics.jsonl`` (training losses and held-out
metrics), ``samples/step_*.png``, ``loss_curves.png``, and checkpoints: the newest as
``checkpoint.pt``, the ``--keep-checkpoints`` - 1 before it as ``checkpoint-STEP.pt``.

Every value is checked before anything is written; a mistake gets one line naming the argument.
``--resume`` continues the run in ``--out`` from its newest readable checkpoint with the settings
saved in the folder: ``--steps``/``--epochs`` may extend it, new cadences and ``--backend`` are
applied (and said so), and any other setting that differs from the run's is refused with the
list of conflicts. A run that stopped before its first checkpoint starts again from step 0.
``--auto-resume`` resumes when ``--out`` holds a run and starts it otherwise: the one command a
launcher (``torchrun --max-restarts``) can re-execute after a crash. SIGINT (Ctrl-C) and SIGTERM
finish the current step, write a checkpoint of it and exit with 130 / 143.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

from fastgen.cli import UsageError, non_negative_int, positive_float, positive_int, torch_device

MODELS = ("dae", "gan", "lsgan", "dcgan", "vae")
EVAL_SAMPLES = {"images": 1000, "points": 2500}  # defaults: the held-out size of the embedded MNIST; VEEGAN's count
MIN_EVAL_SAMPLES = 10  # the Inception Score averages over 10 splits of the samples
# how often a run writes what; saved in config.json and kept by --resume unless given again
CADENCES = {"sample_every": 250, "eval_every": 500, "checkpoint_every": 500, "keep_checkpoints": 2}
# what a resumed run must keep: a different value would make it another run (a different batch
# order, optimizer state or data), not the continuation of this one
RUN_SETTINGS = ("data", "data_root", "image_size", "channels", "batch_size", "lr", "seed")
# what a run writes besides its checkpoints: removed when a run that has none starts again
RUN_OUTPUTS = ("config.json", "metrics.jsonl", "loss_curves.png", "samples")


def model_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (VALUE as JSON, or a plain string), got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def eval_count(text: str) -> int:
    value = positive_int(text)
    if value < MIN_EVAL_SAMPLES:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_EVAL_SAMPLES} (the Inception Score splits the samples in 10), got {value}"
        )
    return value


def add_arguments(parser) -> None:
    parser.add_argument("model", choices=MODELS, help="which model to train")
    parser.add_argument(
        "--data", default=None, help="mnist (default; the embedded subset), digits, gaussians, or a folder"
    )
    parser.add_argument("--data-root", default=None, help="folder of the full MNIST (IDX files) for --data mnist")
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--steps", type=positive_int, default=None, help="optimisation steps (default: the model's recipe)"
    )
    length.add_argument("--epochs", type=positive_float, default=None, help="passes over the training data")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="default: the model's recipe")
    parser.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: the paper's)")
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
    parser.add_argument("--backend", default=None, help="fastgen backend of the model's fused ops (torch = reference)")
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
    for name, default, what in (
        ("sample-every", CADENCES["sample_every"], "steps between sample grids"),
        ("eval-every", CADENCES["eval_every"], "steps between held-out metrics"),
        ("checkpoint-every", CADENCES["checkpoint_every"], "steps between checkpoints"),
        ("keep-checkpoints", CADENCES["keep_checkpoints"], "how many checkpoints to keep, the newest"),
    ):
        parser.add_argument(f"--{name}", type=positive_int, default=None, help=f"{what} (default {default})")
    parser.add_argument(
        "--eval-samples",
        type=eval_count,
        default=None,
        help="generated (and held-out) samples per evaluation (default 1000 for images, 2500 for points)",
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
        help="processes decoding a folder or the full MNIST (default min(4, CPU cores); 0: the training process)",
    )
    parser.add_argument(
        "--sync-bn", action="store_true", help="under torchrun on GPUs: BatchNorm over every process's batch"
    )


def _first_samples(dataset, count: int):
    """The first ``count`` samples of a dataset as one tensor (bounded by ``count``, whatever its size)."""
    import torch

    if isinstance(getattr(dataset, "data", None), torch.Tensor):
        return dataset.data[:count]
    return torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))])


def load_data(config: dict, eval_samples: int | None = None):
    """(training data, held-out tensor, description) for a run's configuration; at most
    ``eval_samples`` held-out samples (default ``EVAL_SAMPLES``). The training data is a tensor for
    the small in-memory sets, else the ``Dataset`` itself, which the trainer streams: nothing the
    size of a folder or of the full MNIST is ever stacked."""
    import torch

    from fastgen.data import load_dataset

    kwargs = {"image_size": config["image_size"], "channels": config["channels"]}
    if config["data_root"] is not None:
        kwargs["root"] = config["data_root"]
    train, info = load_dataset(config["data"], train=True, **kwargs)
    count = eval_samples or EVAL_SAMPLES["images" if len(info.sample_shape) == 3 else "points"]
    try:
        held_out = _first_samples(load_dataset(config["data"], train=False, **kwargs)[0], count)
        where = "held-out split"
    except ValueError:  # an image folder has no held-out split: score against training images
        held_out = _first_samples(train, min(count, EVAL_SAMPLES["images"]))
        where = f"first {held_out.shape[0]} training images (the folder has no held-out split)"
    if isinstance(getattr(train, "data", None), torch.Tensor):
        train = train.data  # in memory already: indexed directly
    return train, held_out, f"{info}; metrics on the {where}"


def _default_out(model: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, suffix = Path("runs") / f"{model}-{stamp}", 1
    while out.exists():
        out, suffix = Path("runs") / f"{model}-{stamp}-{suffix}", suffix + 1
    return out


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


# ----- checks made before anything is written -----


def _check_backend(name: str | None) -> None:
    if name is None:
        return
    from fastgen.backends import AUTO, NAMES, unavailable_reason

    if name not in (*NAMES, AUTO):
        raise UsageError("--backend", f"expected one of {', '.join((AUTO, *NAMES))}, got {name!r}")
    reason = None if name == AUTO else unavailable_reason(name)
    if reason is not None:
        raise UsageError("--backend", f"{name} is not usable here: {reason}")


def _check_data(data: str, data_root: str | None, whose: str = "") -> None:
    """``data`` names a dataset or an existing folder; ``data_root`` an existing folder."""
    from fastgen.data.load import DATASET_NAMES

    for flag, value in (("--data", data), ("--data-root", data_root)):
        if value is None or (flag == "--data" and value in DATASET_NAMES):
            continue
        expected = f"expected {', '.join(DATASET_NAMES)} or a folder" if flag == "--data" else "expected a folder"
        if not Path(value).exists():
            raise UsageError(flag, f"{whose}{value} does not exist ({expected})")
        if not Path(value).is_dir():
            raise UsageError(flag, f"{whose}{value} is a file ({expected})")


def _check_creatable(out: Path) -> None:
    """``out`` is, or can be made, a folder we can write into."""
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError("--out", f"cannot create {out}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError("--out", f"cannot write into {existing}")


def _run_folder(args) -> tuple[Path, dict | None, int | None]:
    """The run folder, the saved configuration of the run it continues (``None``: a new run) and
    the step of the checkpoint it continues from (``None``: from step 0)."""
    from fastgen._files import TEMPORARY_GLOB
    from fastgen.train import CONFIG_NAME
    from fastgen.train.checkpoint import CheckpointError, RunCheckpoints

    continuing = "--resume" if args.resume else "--auto-resume" if args.auto_resume else None
    if continuing and args.out is None:
        raise UsageError(continuing, "needs --out RUN_DIR, the run folder to continue")
    out = Path(args.out) if args.out is not None else _default_out(args.model)
    if out.exists() and not out.is_dir():
        raise UsageError("--out", f"{out} is a file, not a folder")
    config_path = out / CONFIG_NAME
    if args.resume and not config_path.is_file():
        what = "does not exist" if not out.exists() else f"holds no {CONFIG_NAME}: it is not a fastgen run folder"
        raise UsageError("--resume", f"{out} {what}")
    if not (continuing and config_path.is_file()):
        if out.exists() and any(out.iterdir()):
            hint = "--resume continues that run" if config_path.is_file() else "choose another --out"
            raise UsageError("--out", f"{out} already holds files; {hint}")
        _check_creatable(out)
        return out, None, None
    try:
        saved = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(continuing, f"{config_path} is not valid JSON ({error})") from None
    if saved.get("model") != args.model:
        raise UsageError("model", f"{out} is a run of {saved.get('model')}, not {args.model}")
    state, errors = RunCheckpoints(out).first_readable()
    if state is not None:
        return out, saved, int(state["step"])
    if errors:  # every checkpoint unreadable: say why, and leave them for the user to look at
        raise CheckpointError(f"no readable checkpoint in {out}: " + "; ".join(str(e) for e in errors))
    others = sorted(p.name for p in out.iterdir() if p.name not in RUN_OUTPUTS and not fnmatch(p.name, TEMPORARY_GLOB))
    if others:
        raise UsageError(continuing, f"{out} has no checkpoint to continue from, and also holds {', '.join(others)}")
    return out, saved, None  # stopped before its first checkpoint: start it again


def _decided_by_rank_0(decide, *args):
    """``decide(*args)`` as rank 0 finds it, on every rank (its error raised on every rank): the
    ranks of a multi-node run need not share a disk, and one answer keeps them in step."""
    from fastgen import distributed

    if not distributed.is_distributed():
        return decide(*args)
    outcome = None
    if distributed.is_main():
        try:
            outcome = (decide(*args), None)
        except (UsageError, ValueError, OSError) as error:  # what main() reports in one line
            outcome = (None, error)
    result, error = distributed.broadcast_object(outcome)
    if error is not None:
        if not distributed.is_main():
            error.reported_by_rank_0 = True  # main() prints it once, on rank 0; the others exit alike
        raise error
    return result


def _same(key: str, value, saved) -> bool:
    if value == saved:
        return True
    # the same folder named differently (relative to another working directory...)
    return key in ("data", "data_root") and saved is not None and Path(value).resolve() == Path(saved).resolve()


def _shown(value) -> str:
    return "the default" if value is None else str(value)


def _continued_config(args, saved: dict, out: Path) -> tuple[dict, list[str]]:
    """The saved configuration with what may change on a resume applied; refuses the rest."""
    options = dict(args.option)
    backend = args.backend if args.backend is not None else options.pop("backend", None)
    options.pop("backend", None)
    conflicts = [
        f"{_flag(key)} {getattr(args, key)} (the run's: {_shown(saved.get(key))})"
        for key in RUN_SETTINGS
        if getattr(args, key) is not None and not _same(key, getattr(args, key), saved.get(key))
    ]
    saved_options = saved.get("options", {})
    conflicts += [
        f"--option {key}={json.dumps(value)} (the run's: {json.dumps(saved_options.get(key))})"
        for key, value in options.items()
        if saved_options.get(key) != value
    ]
    if conflicts:
        raise UsageError(
            "--resume",
            f"{out} was trained with other settings: {'; '.join(conflicts)}. A resumed run keeps them; "
            "drop these arguments, or start a new run to change them",
        )
    config, changes = dict(saved), []
    if backend is not None and backend != saved_options.get("backend"):
        config["options"] = {**saved_options, "backend": backend}
        changes.append(f"--backend {backend} (was {saved_options.get('backend', 'auto')})")
    for key, default in CADENCES.items():
        config.setdefault(key, default)
        value = getattr(args, key)
        if value is not None and value != config[key]:
            changes.append(f"{_flag(key)} {value} (was {config[key]})")
            config[key] = value
    return config, changes


def _new_config(args, data_shape) -> dict:
    from fastgen.train.recipes import defaults_for

    recipe = defaults_for(args.model, data_shape)
    options = {**recipe.options, **dict(args.option)}
    if args.backend is not None:
        options["backend"] = args.backend
    return {
        "model": args.model,
        "options": options,
        **_data_config(args),
        "data_shape": list(data_shape),
        "batch_size": args.batch_size or recipe.batch_size,
        "lr": args.lr,
        "seed": args.seed or 0,
        **{key: default if getattr(args, key) is None else getattr(args, key) for key, default in CADENCES.items()},
    }


def _data_config(args) -> dict:
    data = args.data or "mnist"
    return {"data": data, "data_root": args.data_root, "image_size": args.image_size, "channels": args.channels}


def _total_steps(args, config: dict, num_train: int, reached: int | None) -> int:
    from fastgen.train.recipes import defaults_for

    if config["batch_size"] > num_train:
        raise UsageError("--batch-size", f"{config['batch_size']} is more than the {num_train} training samples")
    if args.steps is not None:
        steps, flag = args.steps, "--steps"
    elif args.epochs is not None:
        per_epoch = num_train // config["batch_size"]
        steps, flag = round(args.epochs * per_epoch), "--epochs"
        if steps < 1:
            raise UsageError("--epochs", f"{args.epochs} is less than one step (an epoch is {per_epoch} steps)")
    else:
        steps, flag = config.get("steps") or defaults_for(config["model"], config["data_shape"]).steps, None
    if reached is not None and steps < reached:
        raise UsageError(flag or "--resume", f"the run has already reached step {reached}, past {steps}")
    return steps


def run(args) -> int:
    """Train; under torchrun every process runs this command, joined in one process group."""
    import contextlib

    from fastgen import distributed

    try:
        device = distributed.setup(args.device)
    except ValueError as error:  # cuda:N under torchrun
        raise UsageError("--device", str(error)) from None
    if args.sync_bn and device.type != "cuda":
        raise UsageError("--sync-bn", "needs --device cuda (SyncBatchNorm synchronises GPU batches only)")
    try:  # rank 0 alone reports; the others' errors still reach stderr
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sys.stdout if distributed.is_main() else sink):
            return _train(args, device, distributed.world_size())
    finally:
        distributed.teardown()


def _train(args, device, world_size: int) -> int:
    import torch

    from fastgen import distributed
    from fastgen.distributed import barrier, is_main
    from fastgen.train import Trainer, default_callbacks
    from fastgen.train.recipes import build_model
    from fastgen.train.signals import Interrupted, StoppedAtOnce, exit_code, graceful_stop

    _check_backend(args.backend)
    out, saved, reached = _decided_by_rank_0(_run_folder, args)
    if saved is None:
        data_config, changes = _data_config(args), []
        _check_data(data_config["data"], data_config["data_root"])
    else:
        config, changes = _continued_config(args, saved, out)
        data_config = config
        _check_data(config["data"], config["data_root"], whose="the run's data, ")
    eval_samples = args.eval_samples or (saved or {}).get("eval_samples")
    try:
        train, held_out, description = load_data(data_config, eval_samples)
    except ValueError as error:  # e.g. --image-size for points, --data-root for another dataset
        raise UsageError("--data", str(error)) from None
    kind = "images" if held_out.dim() == 4 else "points"
    if saved is None:
        config = _new_config(args, tuple(held_out.shape[1:]))
    if args.eval_samples is not None and args.eval_samples != config.get("eval_samples", args.eval_samples):
        changes.append(f"--eval-samples {args.eval_samples} (was {config['eval_samples']})")
    config["eval_samples"] = eval_samples or EVAL_SAMPLES[kind]
    config["steps"] = _total_steps(args, config, len(train) // world_size, reached)  # items per process

    torch.set_num_threads(args.threads)
    torch.manual_seed(config["seed"])  # the initial weights (overwritten by the checkpoint on resume)
    try:
        model = build_model(config["model"], config["data_shape"], config["options"])
    except (TypeError, ValueError) as error:  # an unknown --option, or data the model cannot take
        hint = " (--image-size resizes images)" if "image_size" in str(error) else ""
        raise UsageError("--option", f"cannot build {config['model']} for {description}: {error}{hint}") from None
    callbacks = default_callbacks(
        held_out,
        sample_every=config["sample_every"],
        eval_every=config["eval_every"],
        description=config["model"],
        eval_samples=config["eval_samples"],
        progress=not args.no_progress,
    )
    if args.eval_ref is not None:  # Inception FID/KID into metrics.jsonl, before LossCurves plots it
        from fastgen.train.eval_callback import InceptionEvaluation

        try:
            evaluation = InceptionEvaluation(
                args.eval_ref, config["eval_every"], config["eval_samples"], weights=args.eval_weights, device=device
            )
        except (ValueError, FileNotFoundError) as error:
            flag = "--eval-weights" if str(error).startswith("weights:") or "Inception weights" in str(error) else None
            raise UsageError(flag or "--eval-ref", str(error)) from None
        callbacks.insert(-1, evaluation)
    trainer = Trainer(
        model,
        train,
        out_dir=out,
        steps=config["steps"],
        batch_size=config["batch_size"],
        seed=config["seed"],
        lr=config["lr"],
        device=device,
        workers=args.workers,
        sync_bn=args.sync_bn,
        checkpoint_every=config["checkpoint_every"],
        keep_checkpoints=config["keep_checkpoints"],
        callbacks=callbacks,
        config=config,
    )
    print(f"data: {description}")
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {config['model']} ({parameters:,} parameters), options {config['options']}")
    state = "new" if saved is None else f"resuming from step {reached}" if reached is not None else "starting again"
    per_process = f" per process × {world_size} processes" if world_size > 1 else ""
    print(f"run folder: {out} ({state}); {config['steps']} steps of {config['batch_size']}{per_process}")
    if changes:
        print(f"changed on resume: {', '.join(changes)}")
    barrier()  # every rank has read the folder before rank 0 writes into it
    if saved is not None and reached is None:
        print(f"{out} stopped before its first checkpoint: starting it again from step 0")
        if is_main():
            _remove_outputs(out)
    # torchrun forwards to its workers the Ctrl-C the terminal sent them already: not a second one
    with graceful_stop(repeat_stops_at_once=not distributed.launched_by_torchrun()):
        try:
            trainer.fit(resume=reached is not None)
        except (Interrupted, StoppedAtOnce) as stop:
            if is_main():
                _report_stop(stop, config["model"], out)
            return exit_code(stop.signum)
        except FloatingPointError as error:  # a non-finite loss (on any rank): nothing of that step was saved
            newest = trainer.saved_step
            kept = f"the newest checkpoint is step {newest}" if newest is not None else "no checkpoint was written"
            if is_main():
                print(f"fastgen train: error: {error}; {kept}", file=sys.stderr)
            return 1
    final = next((r["eval"] for r in reversed(trainer.read_log()) if "eval" in r), {})
    print(f"done: {trainer.step} steps; final metrics {json.dumps(final)}")
    print(f"samples in {out / 'samples'}, curves in {out / 'loss_curves.png'}, log in {out / 'metrics.jsonl'}")
    return 0


def _report_stop(stop: BaseException, model: str, out: Path) -> None:
    import signal

    from fastgen.train.signals import Interrupted

    command = f"fastgen train {model} --resume --out {shlex.quote(str(out))}"
    if isinstance(stop, Interrupted):
        print(f"\ninterrupted at step {stop.step}; continue with: {command}", file=sys.stderr)
    else:
        name = signal.Signals(stop.signum).name
        print(f"\nstopped at once by a second {name}; continue from the last checkpoint: {command}", file=sys.stderr)


def _remove_outputs(out: Path) -> None:
    """Delete what a run that wrote no checkpoint left in ``out`` (see ``_run_folder``)."""
    import shutil

    from fastgen._files import remove_stale_temporaries

    for name in RUN_OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    remove_stale_temporaries(out)
