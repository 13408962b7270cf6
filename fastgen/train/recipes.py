"""Each model the CLI can train, built from its name, the data's shape and options, with defaults
sized for a CPU run: ``fastgen train dcgan`` on the embedded MNIST finishes in minutes, and the
GANs on the 2-D ring of Gaussians cover its 8 modes (figures in bench/RESULTS.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from fastgen.models import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder

__all__ = ["MODEL_NAMES", "RECIPES", "Defaults", "build_model", "defaults_for"]


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
RECIPES = {
    "dae": {"images": Defaults(3000, 20, {"n_hidden": 500, "corruption": 0.3})},
    "gan": {"images": Defaults(3000, 64), "points": Defaults(4000, 256, RING_GAN)},
    "lsgan": {
        "images": Defaults(3000, 64, {"arch": "dcgan", "latent_dim": 100, "width": 32}),
        "points": Defaults(5000, 256, RING_LSGAN),
    },
    "dcgan": {"images": Defaults(3000, 64, {"width": 32})},
    "vae": {"images": Defaults(3000, 128, {"arch": "mlp", "likelihood": "bernoulli"})},
}
MODEL_NAMES = tuple(RECIPES)


def defaults_for(name: str, data_shape) -> Defaults:
    """The recipe of ``name`` for samples of ``data_shape`` (images ``(C, H, W)`` or points)."""
    if name not in RECIPES:
        raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}, got {name!r}")
    kind = "images" if len(tuple(data_shape)) == 3 else "points"
    return RECIPES[name].get(kind, RECIPES[name]["images"])


def build_model(name: str, data_shape, options: dict | None = None) -> torch.nn.Module:
    """The model ``name`` for samples of ``data_shape``, with ``options`` over the recipe's defaults."""
    data_shape = tuple(int(n) for n in data_shape)
    options = {**defaults_for(name, data_shape).options, **(options or {})}
    if name == "dae":
        return DenoisingAutoencoder(math.prod(data_shape), **options)
    if name == "dcgan":
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(f"dcgan trains on square images (C, S, S), got samples of shape {data_shape}")
        return DCGAN(image_size=data_shape[1], channels=data_shape[0], **options)
    model_class = {"gan": GAN, "lsgan": LSGAN, "vae": VAE}[name]
    return model_class(data_shape, **options)
