"""A whole training run from Python: everything `fastgen train` does, the CLI only parses for it.

    import fastgen
    from fastgen.train import run

    result = run("dcgan", "mnist", "runs/dcgan", steps=3000, ema=0.999, loggers=["tensorboard"])
    result = run("dcgan", out_dir="runs/dcgan", steps=5000, resume=True)   # later: continue it
    with fastgen.backend("torch"):                                         # the reference ops
        run("vae", out_dir="runs/vae-reference")

``run`` opens a new run folder or continues one (``resume``, ``auto_resume``), refuses settings
that conflict with the run it continues, loads the data, builds the model, trains it with the
``Trainer`` and returns a :class:`RunResult`. Under ``torchrun`` every process calls it: it joins
the process group (``fastgen.distributed``), rank 0 alone decides about the folder, writes and
prints. SIGINT/SIGTERM finish the step, write a checkpoint and raise
``fastgen.train.signals.Interrupted``; a second signal raises ``StoppedAtOnce``. The backend of the
fused ops is whatever encloses the call (``with fastgen.backend(name):``, ``FASTGEN_BACKEND``):
it is not a setting of the run, and a run may continue on another backend.

Every mistake is found before anything is written: a :class:`SettingError` (a ``ValueError``) names
the argument (``batch_size``, ``data_root`` ...) and says what was expected; no folder is left.

Settings are of three kinds (``config.json`` records all of them):

- what makes the run the run it is (``RUN_SETTINGS``: data and its preprocessing, batch size,
  lr, seed, EMA decay, model options): a resume keeps them, and refuses different values;
- cadences and loggers (``CADENCES``, ``loggers``, ``eval_samples``): a resume keeps them unless
  given again, and says what changed;
- the length (``steps`` or ``epochs``): a resume may extend it, not cut it below the step reached.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import torch

from fastgen import distributed
from fastgen._files import TEMPORARY_GLOB, remove_stale_temporaries
from fastgen.train.callbacks import default_callbacks
from fastgen.train.checkpoint import CheckpointError, RunCheckpoints
from fastgen.train.ema import check_decay
from fastgen.train.loggers import CSV_NAME, TENSORBOARD_DIR, check_loggers, make_loggers
from fastgen.train.recipes import MODEL_NAMES, build_model, defaults_for, saved_options
from fastgen.train.settings import CADENCES, DEFAULT_LOGGERS, EVAL_SAMPLES, MIN_EVAL_SAMPLES, RUN_SETTINGS
from fastgen.train.signals import graceful_stop
from fastgen.train.step import PRECISIONS
from fastgen.train.trainer import CONFIG_NAME, LOG_NAME, Trainer

__all__ = ["CADENCES", "RUN_SETTINGS", "RunResult", "SettingError", "TrainingDiverged", "run"]

# what a run writes besides its checkpoints: removed when a run that has none starts again
RUN_OUTPUTS = (CONFIG_NAME, LOG_NAME, CSV_NAME, TENSORBOARD_DIR, "loss_curves.png", "samples")


class SettingError(ValueError):
    """A setting of ``run`` found wrong: ``setting`` names the argument, the message what was expected."""

    def __init__(self, setting: str, message: str):
        super().__init__(setting, message)  # both in args: it pickles (to travel between ranks)

    @property
    def setting(self) -> str:
        return self.args[0]

    def __str__(self) -> str:
        return f"{self.args[0]}: {self.args[1]}"


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite; nothing of that step was saved (the message says which checkpoint is newest)."""


@dataclass
class RunResult:
    """What a finished run reached: its folder, the step, the last held-out metrics, the configuration."""

    out_dir: Path
    step: int
    metrics: dict
    config: dict


def run(
    model: str,
    data: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    steps: int | None = None,
    epochs: float | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    options: dict | None = None,
    data_root: str | os.PathLike | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    holdout: float | None = None,
    hflip: bool | None = None,
    ema: float | None = None,
    resume: bool = False,
    auto_resume: bool = False,
    device: str | torch.device = "cpu",
    sample_every: int | None = None,
    eval_every: int | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int | None = None,
    eval_samples: int | None = None,
    eval_ref: str | os.PathLike | None = None,
    eval_weights: str | os.PathLike | None = None,
    loggers: list[str] | tuple[str, ...] | None = None,
    workers: int = 0,
    sync_bn: bool = False,
    precision: str = "float32",
    compile: bool = False,
    cuda_graphs: bool = True,
    threads: int | None = None,
    progress: bool = True,
) -> RunResult:
    """Train ``model`` (dae, gan, lsgan, dcgan, vae) on ``data`` into ``out_dir``; see the module docstring.

    Args:
        model: the model's name; ``options`` (a dict) its constructor options over the recipe's.
        data: ``mnist`` (default), ``digits``, ``gaussians``, ``cifar10``, ``celeba`` or an image
            folder; ``data_root`` the folder of the full MNIST, CIFAR-10 or CelebA; ``image_size`` and
            ``channels`` convert images; ``holdout`` a fraction of a folder held out for metrics;
            ``hflip`` mirrors training images at random.
        out_dir: the run folder (default ``runs/MODEL-YYYYmmdd-HHMMSS``); a new run refuses one that
            holds files. ``resume``: continue the run there from its newest readable checkpoint;
            ``auto_resume``: continue it if there is one, else start it.
        steps, epochs: the length (one of them; default the recipe's steps).
        batch_size, lr, seed: per-process batch (default the recipe's), learning rate (default the
            paper's), seed of weights, batch order and noise (default 0).
        ema: keep a moving average of the sampling network with this decay in (0, 1).
        device: ``cpu``, ``cuda`` or ``cuda:N`` (under torchrun plain ``cuda``: the GPU of each rank).
        sample_every, eval_every, checkpoint_every, keep_checkpoints: cadences (``CADENCES``).
        eval_samples: generated (and held-out) samples per evaluation (default 1000 images, 2500 points).
        eval_ref, eval_weights: also log Inception FID (and KID) of ``eval_samples`` generated images
            against this reference (``fastgen.train.eval_callback``), with these Inception weights
            (default: the torch hub cache).
        loggers: besides ``metrics.jsonl``: ``csv``, ``tensorboard`` (``fastgen.train.loggers``).
        workers: DataLoader processes reading a streamed dataset (0: this process).
        sync_bn: under torchrun on GPUs, BatchNorm statistics over every process's batch.
        precision, compile, cuda_graphs: how each step runs: ``"float32"`` or ``"bfloat16"``
            (autocast), the networks compiled, the step captured as a CUDA graph on a GPU (the
            default; ``fastgen.train.step`` and docs/training.md).
        threads: ``torch.set_num_threads`` for the run (default: leave it).
        progress: show a progress bar.

    Returns a :class:`RunResult`. Raises :class:`SettingError` for a mistake (before anything is
    written), ``Interrupted`` / ``StoppedAtOnce`` on a stop signal, :class:`TrainingDiverged` for a
    non-finite loss, ``CheckpointError`` when no checkpoint of the run can be read.
    """
    given = dict(locals())
    _check_arguments(given)
    with contextlib.ExitStack() as stack:
        try:
            device = stack.enter_context(distributed.process_group(device))
        except ValueError as error:  # cuda:N under torchrun
            raise SettingError("device", str(error)) from None
        sink = stack.enter_context(open(os.devnull, "w"))
        stack.enter_context(contextlib.redirect_stdout(sys.stdout if distributed.is_main() else sink))
        return _run(given, device)


# ----- checks made before anything is read or written -----


def _positive_int(name: str, value, minimum: int = 1, expected: str = "a positive integer") -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise SettingError(name, f"must be {expected}, got {value!r}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_arguments(given: dict) -> None:
    if given["model"] not in MODEL_NAMES:
        raise SettingError("model", f"expected one of {', '.join(MODEL_NAMES)}, got {given['model']!r}")
    for name in ("steps", "batch_size", "threads", *CADENCES):
        _positive_int(name, given[name])
    _positive_int("seed", given["seed"], 0, "a non-negative integer")
    _positive_int("workers", given["workers"], 0, "a non-negative integer")
    _positive_int("eval_samples", given["eval_samples"], MIN_EVAL_SAMPLES, "at least 10 (IS splits in 10)")
    for name in ("epochs", "lr"):
        if given[name] is not None and not (_is_number(given[name]) and given[name] > 0):
            raise SettingError(name, f"must be a positive number, got {given[name]!r}")
    if given["steps"] is not None and given["epochs"] is not None:
        raise SettingError("epochs", "give steps or epochs, not both")
    if given["resume"] and given["auto_resume"]:
        raise SettingError("auto_resume", "give resume or auto_resume, not both")
    continuing = "resume" if given["resume"] else "auto_resume" if given["auto_resume"] else None
    if continuing and given["out_dir"] is None:
        raise SettingError(continuing, "needs out_dir (--out), the run folder to continue")
    if given["options"] is not None and not isinstance(given["options"], dict):
        raise SettingError("options", f"must be a dict of model options, got {type(given['options']).__name__}")
    if given["channels"] not in (None, 1, 3):
        raise SettingError("channels", f"must be 1 or 3, got {given['channels']!r}")
    _positive_int("image_size", given["image_size"])
    for name, check in (("ema", check_decay), ("loggers", check_loggers)):
        if given[name] is not None:
            try:
                given[name] = check(given[name])
            except ValueError as error:
                raise SettingError(name, str(error).split(": ", 1)[-1]) from None
    holdout = given["holdout"]
    if holdout is not None and (
        isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 < holdout < 1
    ):
        raise SettingError("holdout", f"must be a fraction in (0, 1), e.g. 0.05, got {holdout!r}")
    if given["precision"] not in PRECISIONS:
        raise SettingError("precision", f"expected one of {', '.join(PRECISIONS)}, got {given['precision']!r}")
    if given["sync_bn"] and torch.device(given["device"]).type != "cuda":
        raise SettingError("sync_bn", "needs a cuda device (SyncBatchNorm synchronises GPU batches only)")


def _check_data(data: str, data_root, whose: str = "") -> None:
    """``data`` names a dataset or an existing folder; ``data_root`` an existing folder."""
    from fastgen.data.load import DATASET_NAMES

    for name, value in (("data", data), ("data_root", data_root)):
        if value is None or (name == "data" and value in DATASET_NAMES):
            continue
        expected = f"expected {', '.join(DATASET_NAMES)} or a folder" if name == "data" else "expected a folder"
        if not Path(value).exists():
            raise SettingError(name, f"{whose}{value} does not exist ({expected})")
        if not Path(value).is_dir():
            raise SettingError(name, f"{whose}{value} is a file ({expected})")


def _check_creatable(out: Path) -> None:
    """``out`` is, or can be made, a folder we can write into."""
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise SettingError("out_dir", f"cannot create {out}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SettingError("out_dir", f"cannot write into {existing}")


def _default_out(model: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, suffix = Path("runs") / f"{model}-{stamp}", 1
    while out.exists():
        out, suffix = Path("runs") / f"{model}-{stamp}-{suffix}", suffix + 1
    return out


# ----- the run folder: new, continued, or started again (decided by rank 0) -----


def _run_folder(given: dict) -> tuple[Path, dict | None, int | None]:
    """The run folder, the saved configuration of the run it continues (``None``: a new run) and
    the step of the checkpoint it continues from (``None``: from step 0)."""
    continuing = "resume" if given["resume"] else "auto_resume" if given["auto_resume"] else None
    out = Path(given["out_dir"]) if given["out_dir"] is not None else _default_out(given["model"])
    if out.exists() and not out.is_dir():
        raise SettingError("out_dir", f"{out} is a file, not a folder")
    config_path = out / CONFIG_NAME
    if given["resume"] and not config_path.is_file():
        what = "does not exist" if not out.exists() else f"holds no {CONFIG_NAME}: it is not a fastgen run folder"
        raise SettingError("resume", f"{out} {what}")
    if not (continuing and config_path.is_file()):
        if out.exists() and any(out.iterdir()):
            hint = "resume=True (--resume) continues that run" if config_path.is_file() else "choose another folder"
            raise SettingError("out_dir", f"{out} already holds files; {hint}")
        _check_creatable(out)
        return out, None, None
    try:
        saved = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SettingError(continuing, f"{config_path} is not valid JSON ({error})") from None
    if saved.get("model") != given["model"]:
        raise SettingError("model", f"{out} is a run of {saved.get('model')}, not {given['model']}")
    state, errors = RunCheckpoints(out).first_readable()
    if state is not None:
        return out, saved, int(state["step"])
    if errors:  # every checkpoint unreadable: say why, and leave them for the user to look at
        raise CheckpointError(f"no readable checkpoint in {out}: " + "; ".join(str(e) for e in errors))
    others = sorted(p.name for p in out.iterdir() if p.name not in RUN_OUTPUTS and not fnmatch(p.name, TEMPORARY_GLOB))
    if others:
        raise SettingError(continuing, f"{out} has no checkpoint to continue from, and also holds {', '.join(others)}")
    return out, saved, None  # stopped before its first checkpoint: start it again


def decided_by_rank_0(decide, *args):
    """``decide(*args)`` as rank 0 finds it, on every rank (its error raised on every rank): the
    ranks of a multi-node run need not share a disk, and one answer keeps them in step. An error
    is marked ``reported_by_rank_0`` on the other ranks, so that only rank 0 prints it."""
    if not distributed.is_distributed():
        return decide(*args)
    outcome = None
    if distributed.is_main():
        try:
            outcome = (decide(*args), None)
        except (ValueError, OSError) as error:  # the user's to fix: reported in one line
            outcome = (None, error)
    result, error = distributed.broadcast_object(outcome)
    if error is not None:
        if not distributed.is_main():
            error.reported_by_rank_0 = True
        raise error
    return result


# ----- configurations -----


def _same(key: str, value, saved) -> bool:
    if value == saved:
        return True
    # the same folder named differently (relative to another working directory...)
    return key in ("data", "data_root") and saved is not None and Path(value).resolve() == Path(saved).resolve()


def _shown(value) -> str:
    return "the default" if value is None else str(value)


def _continued_config(given: dict, saved: dict, out: Path) -> tuple[dict, list[str]]:
    """The saved configuration with what may change on a resume applied; refuses the rest."""
    saved = {**{key: default for key, default in RUN_SETTINGS.items()}, **saved}
    saved["options"] = saved_options(saved)
    conflicts = [
        f"{key} {_shown(given[key])} (the run's: {_shown(saved[key])})"
        for key in RUN_SETTINGS
        if given[key] is not None and not _same(key, given[key], saved[key])
    ]
    conflicts += [
        f"option {key}={json.dumps(value)} (the run's: {json.dumps(saved['options'].get(key))})"
        for key, value in (given["options"] or {}).items()
        if saved["options"].get(key) != value
    ]
    if conflicts:
        raise SettingError(
            "resume",
            f"{out} was trained with other settings: {'; '.join(conflicts)}. A resumed run keeps them; "
            "drop these arguments, or start a new run to change them",
        )
    config, changes = dict(saved), []
    for key, default in (*CADENCES.items(), ("loggers", list(DEFAULT_LOGGERS))):
        config.setdefault(key, default)
        value = list(given[key]) if key == "loggers" and given[key] is not None else given[key]
        if value is not None and value != config[key]:
            changes.append(f"{key} {value} (was {config[key]})")
            config[key] = value
    return config, changes


def _new_config(given: dict, data_shape) -> dict:
    settings = {key: default if given[key] is None else given[key] for key, default in RUN_SETTINGS.items()}
    settings["data"] = str(settings["data"])
    config = {"model": given["model"], **settings, "data_shape": list(data_shape)}
    recipe = _recipe_of(config)
    return {
        **config,
        "options": {**recipe.options, **(given["options"] or {})},
        "batch_size": given["batch_size"] or recipe.batch_size,
        "loggers": list(given["loggers"] or DEFAULT_LOGGERS),
        **{key: default if given[key] is None else given[key] for key, default in CADENCES.items()},
    }


def _recipe_dataset(config: dict) -> str | None:
    """The dataset name whose recipe applies (``cifar10``...), or None for a folder."""
    from fastgen.data.load import DATASET_NAMES

    return config["data"] if config["data"] in DATASET_NAMES else None


def _recipe_of(config: dict):
    """The recipe of a configuration's model for its data (a named dataset may have its own)."""
    return defaults_for(config["model"], config["data_shape"], _recipe_dataset(config))


def _total_steps(given: dict, config: dict, num_train: int, reached: int | None) -> int:
    if config["batch_size"] > num_train:
        raise SettingError("batch_size", f"{config['batch_size']} is more than the {num_train} training samples")
    if given["steps"] is not None:
        steps, name = given["steps"], "steps"
    elif given["epochs"] is not None:
        per_epoch = num_train // config["batch_size"]
        steps, name = round(given["epochs"] * per_epoch), "epochs"
        if steps < 1:
            raise SettingError("epochs", f"{given['epochs']} is less than one step (an epoch is {per_epoch} steps)")
    else:
        steps, name = config.get("steps") or _recipe_of(config).steps, None
    if reached is not None and steps < reached:
        raise SettingError(name or "resume", f"the run has already reached step {reached}, past {steps}")
    return steps


# ----- data -----


def _first_samples(dataset, count: int) -> torch.Tensor:
    """The first ``count`` samples of a dataset as one tensor (bounded by ``count``, whatever its size)."""
    if isinstance(getattr(dataset, "data", None), torch.Tensor):
        return dataset.data[:count]
    return torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))])


def load_data(config: dict, eval_samples: int | None = None):
    """(training data, held-out tensor, description) of a run's configuration; at most
    ``eval_samples`` held-out samples (default ``EVAL_SAMPLES``). The training data is a tensor for
    the small in-memory sets, else the ``Dataset`` itself, which the trainer streams: nothing the
    size of a folder or of the full MNIST is ever stacked. Errors name the setting to fix."""
    from fastgen.data import load_dataset

    kwargs = {"image_size": config["image_size"], "channels": config["channels"], "holdout": config.get("holdout")}
    if config["data_root"] is not None:
        kwargs["root"] = config["data_root"]
    blamed = "data_root" if config["data_root"] is not None else "data"
    try:
        train, info = load_dataset(config["data"], train=True, **kwargs)
        count = eval_samples or EVAL_SAMPLES["images" if len(info.sample_shape) == 3 else "points"]
        try:
            held_out = _first_samples(load_dataset(config["data"], train=False, **kwargs)[0], count)
            where = "held-out split"
        except ValueError as error:  # a folder without holdout: score against training images
            if "no held-out split" not in str(error):
                raise
            held_out = _first_samples(train, min(count, EVAL_SAMPLES["images"]))
            where = f"first {held_out.shape[0]} training images (the folder has no held-out split; see holdout)"
    except FileNotFoundError as error:  # a dataset's file missing: named in the message
        raise SettingError(blamed, str(error)) from None
    except ValueError as error:  # malformed files (named), or settings that do not apply to the data
        raise SettingError("holdout" if str(error).startswith("holdout") else "data", str(error)) from None
    if isinstance(getattr(train, "data", None), torch.Tensor):
        train = train.data  # in memory already: indexed directly
    return train, held_out, f"{info}; metrics on the {where}"


# ----- the run -----


@dataclass
class _Plan:
    """What a run is about to do, decided before anything is written."""

    out: Path
    continued: bool  # a run folder that holds a run (resumed, or started again from step 0)
    reached: int | None  # the step of the checkpoint it resumes from
    config: dict
    changes: list[str]
    train: object  # a tensor or a Dataset
    held_out: torch.Tensor
    description: str


def _plan(given: dict, world_size: int) -> _Plan:
    """The folder, the configuration and the data of the run ``given`` asks for; every refusal."""
    out, saved, reached = decided_by_rank_0(_run_folder, given)
    if saved is None:
        config, changes = {key: given[key] for key in RUN_SETTINGS}, []
        config["data"] = str(given["data"] or RUN_SETTINGS["data"])
        _check_data(config["data"], config["data_root"])
    else:
        config, changes = _continued_config(given, saved, out)
        _check_data(config["data"], config["data_root"], whose="the run's data, ")
    eval_samples = given["eval_samples"] or config.get("eval_samples")
    train, held_out, description = load_data(config, eval_samples)
    kind = "images" if held_out.dim() == 4 else "points"
    if saved is None:
        config = _new_config({**given, "data": config["data"]}, tuple(held_out.shape[1:]))
    if given["eval_samples"] is not None and given["eval_samples"] != config.get("eval_samples", eval_samples):
        changes.append(f"eval_samples {given['eval_samples']} (was {config['eval_samples']})")
    config["eval_samples"] = eval_samples or EVAL_SAMPLES[kind]
    config["steps"] = _total_steps(given, config, len(train) // world_size, reached)  # items per process
    if config["hflip"] and kind != "images":
        raise SettingError("hflip", "mirrors images; the data are points")
    return _Plan(out, saved is not None, reached, config, changes, train, held_out, description)


def _build_model(config: dict, description: str) -> torch.nn.Module:
    torch.manual_seed(config["seed"])  # the initial weights (overwritten by the checkpoint on resume)
    try:
        dataset = _recipe_dataset(config)
        return build_model(config["model"], config["data_shape"], config["options"], dataset)
    except (TypeError, ValueError) as error:  # an unknown option, or data the model cannot take
        hint = " (image_size resizes images)" if "image_size" in str(error) else ""
        raise SettingError("options", f"cannot build {config['model']} for {description}: {error}{hint}") from None


def _inception_evaluation(given: dict, config: dict, device: torch.device):
    """The ``eval_ref`` callback, or None; a bad reference or missing weights as a SettingError."""
    if given["eval_ref"] is None:
        return None
    from fastgen.train.eval_callback import InceptionEvaluation

    try:
        every, samples = config["eval_every"], config["eval_samples"]
        return InceptionEvaluation(given["eval_ref"], every, samples, weights=given["eval_weights"], device=device)
    except (ValueError, FileNotFoundError) as error:
        about_weights = str(error).startswith("weights:") or "Inception weights" in str(error)
        raise SettingError("eval_weights" if about_weights else "eval_ref", str(error)) from None


def _run(given: dict, device: torch.device) -> RunResult:
    from fastgen.data.augment import random_hflip
    from fastgen.train.signals import Interrupted, StoppedAtOnce

    world_size = distributed.world_size()
    plan = _plan(given, world_size)
    out, config, reached, held_out, description = plan.out, plan.config, plan.reached, plan.held_out, plan.description
    if given["threads"] is not None:
        torch.set_num_threads(given["threads"])
    evaluation = _inception_evaluation(given, config, device)  # its mistakes before anything is written
    model = _build_model(config, description)
    callbacks = [
        *make_loggers(config["loggers"]),  # first: the other callbacks log from their on_start
        *default_callbacks(
            held_out,
            sample_every=config["sample_every"],
            eval_every=config["eval_every"],
            description=config["model"],
            eval_samples=config["eval_samples"],
            progress=given["progress"],
        ),
    ]
    if evaluation is not None:  # Inception FID/KID into metrics.jsonl, before LossCurves plots it
        callbacks.insert(-1, evaluation)
    trainer = Trainer(
        model,
        plan.train,
        out_dir=out,
        steps=config["steps"],
        batch_size=config["batch_size"],
        seed=config["seed"],
        lr=config["lr"],
        device=device,
        workers=given["workers"],
        sync_bn=given["sync_bn"],
        precision=given["precision"],
        compile=given["compile"],
        cuda_graphs=given["cuda_graphs"],
        checkpoint_every=config["checkpoint_every"],
        keep_checkpoints=config["keep_checkpoints"],
        callbacks=callbacks,
        config=config,
        ema=config["ema"],
        transform=random_hflip if config["hflip"] else None,
    )
    print(f"data: {description}")
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {config['model']} ({parameters:,} parameters), options {config['options']}")
    state = f"resuming from step {reached}" if reached is not None else "starting again" if plan.continued else "new"
    per_process = f" per process × {world_size} processes" if world_size > 1 else ""
    print(f"run folder: {out} ({state}); {config['steps']} steps of {config['batch_size']}{per_process}")
    if plan.changes:
        print(f"changed on resume: {', '.join(plan.changes)}")
    distributed.barrier()  # every rank has read the folder before rank 0 writes into it
    if plan.continued and reached is None:
        print(f"{out} stopped before its first checkpoint: starting it again from step 0")
        if distributed.is_main():
            _remove_outputs(out)
    # torchrun forwards to its workers the Ctrl-C the terminal sent them already: not a second one
    with graceful_stop(repeat_stops_at_once=not distributed.launched_by_torchrun()):
        try:
            trainer.fit(resume=reached is not None)
        except (Interrupted, StoppedAtOnce) as stop:
            stop.out_dir = out  # where to continue from
            if not distributed.is_main():
                stop.reported_by_rank_0 = True
            raise
        except FloatingPointError as error:  # a non-finite loss (on any rank): nothing of that step was saved
            newest = trainer.saved_step
            kept = f"the newest checkpoint is step {newest}" if newest is not None else "no checkpoint was written"
            diverged = TrainingDiverged(f"{error}; {kept}")
            if not distributed.is_main():
                diverged.reported_by_rank_0 = True
            raise diverged from None
    final = next((r["eval"] for r in reversed(trainer.read_log()) if "eval" in r), {})
    shown = {k: v for k, v in final.items() if isinstance(v, (int, float))}
    print(f"done: {trainer.step} steps; final metrics {json.dumps(shown)}")
    print(f"samples in {out / 'samples'}, curves in {out / 'loss_curves.png'}, log in {out / LOG_NAME}")
    return RunResult(out_dir=out, step=trainer.step, metrics=final, config=trainer.config)


def _remove_outputs(out: Path) -> None:
    """Delete what a run that wrote no checkpoint left in ``out`` (see ``_run_folder``)."""
    for name in RUN_OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    remove_stale_temporaries(out)
