"""Each model the CLI can train, built from its name, the data's shape and options, with defaults
sized for a CPU run: ``fastgen train dcgan`` on the embedded MNIST finishes in minutes, and the
GANs on the 2-D ring of Gaussians cover its 8 modes (figures in bench/RESULTS.md).

CIFAR-10 (32×32 RGB) and CelebA (64×64 RGB) have recipes of their own, for a GPU: the papers'
batch sizes and widths (DCGAN: batch 128, 64 base channels, Radford et al. 2016; LSGAN: its
DCGAN-style networks, batch 64, Mao et al. 2017) and step counts of a few tens of epochs. They
were sized from the papers, not tuned or measured here.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import torch

from fastgen.models import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder

__all__ = [
    "MODEL_NAMES",
    "RECIPES",
    "Defaults",
    "build_model",
    "defaults_for",
    "model_from_checkpoint",
    "saved_options",
]


@dataclass(frozen=True)
class Defaults:
    """Steps, batch size and constructor options of one model on one kind of data."""

    steps: int
    batch_size: int
    options: dict = field(default_factory=dict)


# On the ring (σ = 0.02) the GANs need a fast learning rate to spread over the modes before the
# discriminator locks the generator on a few. Settings found by a small search (bench/RESULTS.md):
# GAN with a 256-d z as in Metz et al. 2017; LSGAN with the (0, 1, 1) labels, which covered 8/8
# where the (-1, 1, 0) labels covered 5 to 7 modes.
RING_GAN = {"latent_dim": 256, "hidden": 128, "layers": 2, "lr": 1e-3}
RING_LSGAN = {"latent_dim": 16, "hidden": 128, "layers": 3, "lr": 1e-3, "labels": "binary"}
# The natural-image recipes (one epoch: CIFAR-10 50,000 images, CelebA's training split 162,770).
NATURAL_VAE = {"arch": "conv", "likelihood": "gaussian", "latent_dim": 128, "hidden": 512}
NATURAL_LSGAN = {"arch": "dcgan", "latent_dim": 100, "width": 64}
RECIPES = {
    "dae": {
        "images": Defaults(3000, 20, {"n_hidden": 500, "corruption": 0.3}),
        "cifar10": Defaults(50_000, 100, {"n_hidden": 1000, "corruption": 0.3}),  # 100 epochs
        "celeba": Defaults(50_000, 100, {"n_hidden": 1000, "corruption": 0.3}),  # 31 epochs
    },
    "gan": {
        "images": Defaults(3000, 64),
        "points": Defaults(4000, 256, RING_GAN),
        "cifar10": Defaults(50_000, 64, {"latent_dim": 100, "hidden": 1024}),  # 64 epochs
        "celeba": Defaults(50_000, 64, {"latent_dim": 100, "hidden": 1024}),  # 20 epochs
    },
    "lsgan": {
        "images": Defaults(3000, 64, {"arch": "dcgan", "latent_dim": 100, "width": 32}),
        "points": Defaults(5000, 256, RING_LSGAN),
        "cifar10": Defaults(40_000, 64, NATURAL_LSGAN),  # 51 epochs
        "celeba": Defaults(40_000, 64, NATURAL_LSGAN),  # 16 epochs
    },
    "dcgan": {
        "images": Defaults(3000, 64, {"width": 32}),
        "cifar10": Defaults(30_000, 128, {"width": 64}),  # 77 epochs
        "celeba": Defaults(20_000, 128, {"width": 64}),  # 16 epochs
    },
    "vae": {
        "images": Defaults(3000, 128, {"arch": "mlp", "likelihood": "bernoulli"}),
        "cifar10": Defaults(40_000, 128, NATURAL_VAE),  # 102 epochs
        "celeba": Defaults(40_000, 128, NATURAL_VAE),  # 31 epochs
    },
}
MODEL_NAMES = tuple(RECIPES)
MODEL_CLASSES = {"dae": DenoisingAutoencoder, "gan": GAN, "lsgan": LSGAN, "dcgan": DCGAN, "vae": VAE}
# What build_model passes itself, from the data's shape: not options.
FROM_DATA = {"dae": ("n_visible",), "dcgan": ("image_size", "channels")}
# Options that runs saved before they became something else; dropped when a run is read back.
# backend: the fastgen backend is chosen around a run (``with fastgen.backend(name):``), not per model.
LEGACY_OPTIONS = ("backend",)


def defaults_for(name: str, data_shape, dataset: str | None = None) -> Defaults:
    """The recipe of ``name`` for samples of ``data_shape`` (images ``(C, H, W)`` or points); a
    dataset with a recipe of its own (``cifar10``, ``celeba``) takes that one."""
    if name not in RECIPES:
        raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}, got {name!r}")
    if dataset in RECIPES[name]:
        return RECIPES[name][dataset]
    kind = "images" if len(tuple(data_shape)) == 3 else "points"
    return RECIPES[name].get(kind, RECIPES[name]["images"])


def saved_options(config: dict) -> dict:
    """A saved run configuration's model options, without the ``LEGACY_OPTIONS`` old runs hold."""
    return {key: value for key, value in config.get("options", {}).items() if key not in LEGACY_OPTIONS}


def build_model(name: str, data_shape, options: dict | None = None, dataset: str | None = None) -> torch.nn.Module:
    """The model ``name`` for samples of ``data_shape``, with ``options`` over the recipe's defaults.

    An option the model does not take, or a value of the wrong type, is a ValueError / TypeError
    naming the option and what it expects, before the model is built.
    """
    data_shape = tuple(int(n) for n in data_shape)
    options = {**defaults_for(name, data_shape, dataset).options, **(options or {})}
    check_options(name, options)
    if name == "dae":
        return DenoisingAutoencoder(math.prod(data_shape), **options)
    if name == "dcgan":
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(f"dcgan trains on square images (C, S, S), got samples of shape {data_shape}")
        return DCGAN(image_size=data_shape[1], channels=data_shape[0], **options)
    return MODEL_CLASSES[name](data_shape, **options)


# the type a parameter's annotation names -> (accepted Python types, words for the message)
_TYPES = {
    "bool": ((bool,), "true or false"),
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "str": ((str,), "a string"),
    "tuple": ((list, tuple), "a list"),
}


def check_options(name: str, options: dict) -> None:
    """Each of ``options`` is a parameter of model ``name``'s constructor, of the type its
    annotation names."""
    parameters = inspect.signature(MODEL_CLASSES[name]).parameters
    fixed = ("data_shape", *FROM_DATA.get(name, ()))
    takes = [p for p, parameter in parameters.items() if p not in fixed and parameter.kind != parameter.VAR_KEYWORD]
    for key, value in options.items():
        if key not in takes:
            raise ValueError(f"{name} has no option {key!r}; it takes {', '.join(takes)}")
        expected = _expected_type(parameters[key])
        if expected is None:
            continue
        accepted, words = _TYPES[expected]
        if value is None and parameters[key].default is None:
            continue
        if isinstance(value, bool) and expected != "bool" or not isinstance(value, accepted):
            raise TypeError(f"option {key} of {name} must be {words}, got {value!r}")


def _expected_type(parameter: inspect.Parameter) -> str | None:
    """``int``, ``float``, ``str``, ``bool`` or ``tuple`` from the parameter's annotation (one type,
    maybe ``| None``); None for an unannotated parameter, which takes several kinds (LSGAN's labels)."""
    annotation = str(parameter.annotation).replace(" ", "")
    kinds = [kind.split("[")[0] for kind in annotation.split("|") if kind != "None"]
    return kinds[0] if len(kinds) == 1 and kinds[0] in _TYPES else None


def model_from_checkpoint(state: dict, name: str, *, use_ema: bool = True) -> torch.nn.Module:
    """The model a run's checkpoint ``state`` holds (``name`` says which file, for errors), with
    its moving average over the trained sampling network when the run kept one and ``use_ema``;
    a ``CheckpointError`` in one line when the checkpoint cannot be rebuilt."""
    from fastgen.train.checkpoint import CheckpointError

    config = state.get("config")
    if not isinstance(config, dict) or not {"model", "data_shape", "options"} <= config.keys():
        raise CheckpointError(f"{name} has no model configuration: it was not written by `fastgen train`")
    try:
        model = build_model(config["model"], config["data_shape"], saved_options(config))
        model.load_state_dict(state["model"])
        if use_ema and "ema" in state:
            model.load_state_dict(state["ema"], strict=False)  # the averaged network over the trained one
    except (TypeError, ValueError, RuntimeError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{name} does not hold a {config['model']} fastgen can rebuild: {first_line}") from None
    return model
