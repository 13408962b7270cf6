"""``fastgen.ops.ls_discriminator_loss`` / ``ls_generator_loss``: the least-squares GAN losses
(Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017, eq. 2) with labels a
(fake), b (real) and c (what G wants D to say):

    L_D = 1/2 mean((d_real - b)^2) + 1/2 mean((d_fake - a)^2)
    L_G = 1/2 mean((d_fake - c)^2)

The compiled ops read each score once and return, from that one pass, the loss and its
gradient in the scores, (d - label) / count. Autograd keeps that gradient (one number per
sample, as small as the scores themselves) and its backward is a single scaling by the
incoming gradient: no second kernel re-reads the scores, and the labels need not be kept.
"""

from __future__ import annotations

import torch

from fastgen import backends
from fastgen.ops import _checks
from fastgen.ops._registry import compiled_op
from fastgen.ops.reference import ls_loss as reference

__all__ = ["ls_discriminator_loss", "ls_generator_loss"]

_discriminator_op = compiled_op("ls_discriminator_loss")
_generator_op = compiled_op("ls_generator_loss")


def _fake_discriminator(d_real, d_fake, a, b):
    return d_real.new_empty(()), torch.empty_like(d_real), torch.empty_like(d_fake)


def _fake_generator(d_fake, c):
    return d_fake.new_empty(()), torch.empty_like(d_fake)


def _autograd(qualname: str) -> None:
    """The op's extra outputs are dloss/dscores; backward scales them by the loss's gradient."""

    def setup_context(ctx, inputs, output):
        grads = output[1:]
        ctx.mark_non_differentiable(*grads)
        ctx.save_for_backward(*grads)

    def backward(ctx, grad_loss, *unused_grads):
        scaled = tuple(grad_loss * grad for grad in ctx.saved_tensors)
        return *scaled, *([None] * (len(ctx.needs_input_grad) - len(scaled)))

    torch.library.register_autograd(qualname, backward, setup_context=setup_context)


def _loss_only(op):
    """The public functions return the loss; the gradient outputs serve autograd."""
    return lambda *args: op(*args)[0]


if _discriminator_op is not None:
    torch.library.register_fake("fastgen::ls_discriminator_loss")(_fake_discriminator)
    torch.library.register_fake("fastgen::ls_generator_loss")(_fake_generator)
    _autograd("fastgen::ls_discriminator_loss")
    _autograd("fastgen::ls_generator_loss")

_triton_discriminator = _triton_generator = None
if backends.triton_usable():
    from fastgen.ops.triton.ls_loss import ls_discriminator_loss_triton, ls_generator_loss_triton

    _triton_discriminator, _triton_generator = ls_discriminator_loss_triton, ls_generator_loss_triton
    _autograd("fastgen::ls_discriminator_loss_triton")
    _autograd("fastgen::ls_generator_loss_triton")


def _implementations(reference_fn, compiled, triton) -> dict:
    impls = {"torch": reference_fn}
    if compiled is not None:
        impls["cpp"] = impls["cuda"] = _loss_only(compiled)
    if triton is not None:
        impls["triton"] = _loss_only(triton)
    return impls


def _reasons(*scores: torch.Tensor):
    def reasons(name: str) -> list[str]:
        found = []
        if name != "torch" and len({s.dtype for s in scores}) > 1:
            found.append(f"{name} needs the scores in one dtype (got {', '.join(str(s.dtype) for s in scores)})")
        if name == "triton" and scores[0].dtype == torch.float64:
            found.append("the Triton kernel computes in float32; float64 runs on torch, cpp or cuda")
        return found

    return reasons


def _label(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def ls_discriminator_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor, a: float, b: float, *, backend: str | None = None
) -> torch.Tensor:
    """1/2 mean((d_real - b)^2) + 1/2 mean((d_fake - a)^2), a scalar in the dtype of d_real.

    Args:
        d_real, d_fake: the discriminator's outputs on real and generated samples, any shapes
            (non-empty), floating, on one device; computed in float32 (float64 in float64).
        a, b: the labels of fake and real samples (Mao et al.: a = -1, b = 1 or a = 0, b = 1).
        backend: "torch", "cpp", "cuda", "triton" or "auto" (see ``fastgen.backends``).

    Equivalent PyTorch::

        0.5 * ((d_real - b) ** 2).mean() + 0.5 * ((d_fake - a) ** 2).mean()
    """
    _checks.floating(d_real, "d_real")
    _checks.floating(d_fake, "d_fake")
    _checks.same_device(d_fake, "d_fake", d_real, "d_real")
    if d_real.numel() == 0 or d_fake.numel() == 0:
        raise ValueError("d_real and d_fake must not be empty")
    a, b = _label(a, "a"), _label(b, "b")
    impls = _implementations(reference.ls_discriminator_loss, _discriminator_op, _triton_discriminator)
    impl = backends.select("ls_discriminator_loss", impls, d_real.device, backend, _reasons(d_real, d_fake))
    return impl(d_real.contiguous(), d_fake.contiguous(), a, b)


def ls_generator_loss(d_fake: torch.Tensor, c: float, *, backend: str | None = None) -> torch.Tensor:
    """1/2 mean((d_fake - c)^2), a scalar in the dtype of d_fake (any non-empty shape).

    Equivalent PyTorch: ``0.5 * ((d_fake - c) ** 2).mean()``.
    """
    _checks.floating(d_fake, "d_fake")
    if d_fake.numel() == 0:
        raise ValueError("d_fake must not be empty")
    c = _label(c, "c")
    impls = _implementations(reference.ls_generator_loss, _generator_op, _triton_generator)
    impl = backends.select("ls_generator_loss", impls, d_fake.device, backend, _reasons(d_fake))
    return impl(d_fake.contiguous(), c)
