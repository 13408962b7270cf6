"""Argument checks shared by the public ops: each names the argument and what was expected."""

from __future__ import annotations

import torch

FLOATING = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def tensor(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def floating(value, name: str) -> torch.Tensor:
    tensor(value, name)
    if value.dtype not in FLOATING:
        allowed = ", ".join(str(d).replace("torch.", "") for d in FLOATING)
        raise TypeError(f"{name} must have a floating dtype ({allowed}), got {value.dtype}")
    return value


def same_shape(value: torch.Tensor, name: str, like: torch.Tensor, like_name: str) -> None:
    if value.shape != like.shape:
        raise ValueError(f"{name} must have the shape of {like_name} {tuple(like.shape)}, got {tuple(value.shape)}")


def same_device(value: torch.Tensor, name: str, like: torch.Tensor, like_name: str) -> None:
    if value.device != like.device:
        raise ValueError(f"{name} is on {value.device} but {like_name} is on {like.device}; put them on one device")


def same_dtype(value: torch.Tensor, name: str, like: torch.Tensor, like_name: str) -> None:
    if value.dtype != like.dtype:
        raise TypeError(f"{name} has dtype {value.dtype} but {like_name} has {like.dtype}; use one dtype")


def min_dim(value: torch.Tensor, name: str, dims: int, shape_doc: str) -> None:
    if value.dim() < dims:
        raise ValueError(f"{name} must have shape {shape_doc}, got {tuple(value.shape)}")
