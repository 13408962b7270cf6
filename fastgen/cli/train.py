"""`fastgen train MODEL`: train dae, gan, lsgan, dcgan or vae and write a run folder.

The run folder (``--out``, default ``runs/MODEL-YYYYmmdd-HHMMSS``) receives ``config.json``,
``metrics.jsonl`` (training losses and held-out metrics), ``samples/step_*.png``,
``loss_curves.png`` and ``checkpoint.pt``. ``--resume`` continues a run from its checkpoint with
the configuration saved in the folder (only ``--steps``/``--epochs`` may extend it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

MODELS = ("dae", "gan", "lsgan", "dcgan", "vae")
EVAL_SAMPLES = {"images": 1000, "points": 2500}  # defaults: the held-out size of the embedded MNIST; VEEGAN's count


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--option takes KEY=VALUE (VALUE as JSON, or a plain string), got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def add_arguments(parser) -> None:
    parser.add_argument("model", choices=MODELS, help="which model to train")
    parser.add_argument(
        "--data", default="mnist", help="mnist (embedded subset by default), digits, gaussians, a folder"
    )
    parser.add_argument("--data-root", default=None, help="folder of the full MNIST (IDX files) for --data mnist")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the model's recipe)")
    length.add_argument("--epochs", type=float, default=None, help="passes over the training data")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the model's recipe")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the paper's)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: these small models gain little from more, and on a shared "
        "CPU spinning threads slowed DCGAN steps 3x or more)",
    )
    parser.add_argument("--seed", type=int, default=0, help="fixes initial weights, batch order and all noise")
    parser.add_argument("--out", default=None, help="run folder (default runs/MODEL-TIMESTAMP); never overwritten")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--backend", default=None, help="fastgen backend of the model's fused ops (torch = reference)")
    parser.add_argument("--image-size", type=int, default=None, help="resize images to this side")
    parser.add_argument("--channels", type=int, default=None, choices=(1, 3), help="convert images to 1 or 3 channels")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="model option, e.g. width=64, arch=mlp"
    )
    parser.add_argument("--sample-every", type=int, default=250, help="steps between sample grids")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between held-out metrics")
    parser.add_argument(
        "--eval-samples", type=int, default=None, help="generated (and held-out) samples per evaluation (1000 / 2500)"
    )
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _as_tensor(dataset):
    """The samples of a dataset as one tensor (in-memory datasets expose ``data``; folders are stacked)."""
    import torch

    if hasattr(dataset, "data") and isinstance(dataset.data, torch.Tensor):
        return dataset.data
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def load_data(config: dict, eval_samples: int | None = None):
    """(train tensor, held-out tensor, description) for a run's configuration; at most
    ``eval_samples`` held-out samples (default ``EVAL_SAMPLES``)."""
    from fastgen.data import load_dataset

    kwargs = {"image_size": config["image_size"], "channels": config["channels"]}
    if config["data_root"] is not None:
        kwargs["root"] = config["data_root"]
    train, info = load_dataset(config["data"], train=True, **kwargs)
    train = _as_tensor(train)
    try:
        held_out = _as_tensor(load_dataset(config["data"], train=False, **kwargs)[0])
        where = "held-out split"
    except ValueError:  # an image folder has no held-out split: score against training images
        held_out = train[: EVAL_SAMPLES["images"]]
        where = f"first {held_out.shape[0]} training images (the folder has no held-out split)"
    count = eval_samples or EVAL_SAMPLES["images" if train.dim() == 4 else "points"]
    return train, held_out[:count], f"{info}; metrics on the {where}"


def _default_out(model: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, suffix = Path("runs") / f"{model}-{stamp}", 1
    while out.exists():
        out, suffix = Path("runs") / f"{model}-{stamp}-{suffix}", suffix + 1
    return out


def _data_config(args) -> dict:
    return {"data": args.data, "data_root": args.data_root, "image_size": args.image_size, "channels": args.channels}


def _config(args, data_shape) -> dict:
    from fastgen.train.recipes import defaults_for

    recipe = defaults_for(args.model, data_shape)
    options = {**recipe.options, **dict(_option(text) for text in args.option)}
    if args.backend is not None:
        options["backend"] = args.backend
    return {
        "model": args.model,
        "options": options,
        **_data_config(args),
        "data_shape": list(data_shape),
        "batch_size": args.batch_size or recipe.batch_size,
        "lr": args.lr,
        "seed": args.seed,
    }


def _total_steps(args, config: dict, num_train: int, saved_steps: int | None) -> int:
    from fastgen.train.recipes import defaults_for

    if args.steps is not None:
        return args.steps
    if args.epochs is not None:
        return max(1, round(args.epochs * (num_train // config["batch_size"])))
    return saved_steps if saved_steps is not None else defaults_for(config["model"], config["data_shape"]).steps


def run(args) -> int:
    import torch

    from fastgen.train import CONFIG_NAME, Trainer, default_callbacks
    from fastgen.train.recipes import build_model

    if args.resume:
        if args.out is None:
            raise SystemExit("--resume needs --out RUN_DIR")
        out = Path(args.out)
        if not (out / CONFIG_NAME).is_file():
            raise SystemExit(f"--resume: {out} holds no {CONFIG_NAME}; is it a fastgen run folder?")
        config = json.loads((out / CONFIG_NAME).read_text())
        if config["model"] != args.model:
            raise SystemExit(f"--resume: {out} is a {config['model']} run, not {args.model}")
        train, held_out, description = load_data(config, args.eval_samples)
    else:
        out = Path(args.out) if args.out is not None else _default_out(args.model)
        if out.exists() and any(out.iterdir()):
            raise SystemExit(f"{out} already holds files; use --resume to continue that run, or another --out")
        train, held_out, description = load_data(_data_config(args), args.eval_samples)
        config = _config(args, tuple(train.shape[1:]))
    config["steps"] = _total_steps(args, config, train.shape[0], config.get("steps") if args.resume else None)

    if args.threads < 1:
        raise SystemExit(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(config["seed"])  # the initial weights (overwritten by the checkpoint on resume)
    try:
        model = build_model(config["model"], config["data_shape"], config["options"])
    except (TypeError, ValueError) as error:  # an unknown --option, or data the model cannot take
        hint = " (--image-size resizes images)" if "image_size" in str(error) else ""
        raise SystemExit(f"cannot build {config['model']} for {description}: {error}{hint}") from error
    print(f"data: {description}")
    parameters = sum(p.numel() for p in model.parameters())
    print(f"model: {config['model']} ({parameters:,} parameters), options {config['options']}")
    print(f"run folder: {out}{' (resuming)' if args.resume else ''}; {config['steps']} steps of {config['batch_size']}")
    trainer = Trainer(
        model,
        train,
        out_dir=out,
        steps=config["steps"],
        batch_size=config["batch_size"],
        seed=config["seed"],
        lr=config["lr"],
        device=args.device,
        checkpoint_every=args.checkpoint_every,
        callbacks=default_callbacks(
            held_out,
            sample_every=args.sample_every,
            eval_every=args.eval_every,
            description=config["model"],
            eval_samples=args.eval_samples or EVAL_SAMPLES["images" if train.dim() == 4 else "points"],
            progress=not args.no_progress,
        ),
        config=config,
    )
    trainer.fit(resume=args.resume)
    final = next((r["eval"] for r in reversed(trainer.read_log()) if "eval" in r), {})
    print(f"done: {trainer.step} steps; final metrics {json.dumps(final)}")
    print(f"samples in {out / 'samples'}, curves in {out / 'loss_curves.png'}, log in {out / 'metrics.jsonl'}")
    return 0
