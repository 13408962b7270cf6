"""Each model the CLI can train, built from its name, the data's shape and options, with defaults
sized for a CPU run on the embedded MNIST (``fastgen train dcgan`` finishes in minutes)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from fastgen.models import DCGAN, GAN, LSGAN, VAE, DenoisingAutoencoder

__all__ = ["MODEL_NAMES", "RECIPES", "Recipe", "build_model"]


@dataclass(frozen=True)
class Recipe:
    """Defaults of one model: steps and batch size, and constructor options for images / points."""

    steps: int
    batch_size: int
    image_options: dict = field(default_factory=dict)
    point_options: dict = field(default_factory=dict)


RECIPES = {
    "dae": Recipe(steps=3000, batch_size=20, image_options={"n_hidden": 500, "corruption": 0.3}),
    "gan": Recipe(steps=3000, batch_size=64, point_options={"latent_dim": 16, "hidden": 128, "layers": 3}),
    "lsgan": Recipe(
        steps=1500,
        batch_size=64,
        image_options={"arch": "dcgan", "latent_dim": 100, "width": 32},
        point_options={"latent_dim": 16, "hidden": 128, "layers": 3},
    ),
    "dcgan": Recipe(steps=1500, batch_size=64, image_options={"width": 32}),
    "vae": Recipe(steps=3000, batch_size=128, image_options={"arch": "mlp", "likelihood": "bernoulli"}),
}
MODEL_NAMES = tuple(RECIPES)


def default_options(name: str, data_shape: tuple[int, ...]) -> dict:
    recipe = RECIPES[name]
    return dict(recipe.image_options if len(data_shape) == 3 else recipe.point_options)


def build_model(name: str, data_shape, options: dict | None = None) -> torch.nn.Module:
    """The model ``name`` for samples of ``data_shape``, with ``options`` over the recipe's defaults."""
    if name not in RECIPES:
        raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}, got {name!r}")
    data_shape = tuple(int(n) for n in data_shape)
    options = {**default_options(name, data_shape), **(options or {})}
    if name == "dae":
        return DenoisingAutoencoder(math.prod(data_shape), **options)
    if name == "dcgan":
        if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
            raise ValueError(f"dcgan trains on square images (C, S, S), got samples of shape {data_shape}")
        return DCGAN(image_size=data_shape[1], channels=data_shape[0], **options)
    model_class = {"gan": GAN, "lsgan": LSGAN, "vae": VAE}[name]
    return model_class(data_shape, **options)
