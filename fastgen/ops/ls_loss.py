"""``fastgen.ops.ls_discriminator_loss`` / ``ls_generator_loss``: the least-squares GAN losses
(Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017, eq. 2) with labels a
(fake), b (real) and c (what G wants D to say):

    L_D = 1/2 mean((d_real - b)^2) + 1/2 mean((d_fake - a)^2)
    L_G = 1/2 mean((d_fake - c)^2)

The compiled ops read each score once and return, from that one pass, the loss and its
gradient in the scores, g = (d - label) / count. Autograd saves g (one number per sample) and
the backward scales it by the incoming gradient: no second kernel re-reads the scores. When the
backward is g's last use (first order, graph not kept) g itself is returned, scaled in place. g is a
differentiable output of the op, d g / d d = 1 / count, so second derivatives (a gradient
penalty on D) keep the loss's curvature: the backward of g's incoming gradient v is v / count.
"""

from __future__ import annotations

import torch

from fastgen.ops import _checks, compiled
from fastgen.ops._registry import OpDescription, register
from fastgen.ops.reference import ls_loss as reference

__all__ = ["ls_discriminator_loss", "ls_generator_loss"]


def _fake_discriminator(d_real, d_fake, a, b):
    return d_real.new_empty(()), torch.empty_like(d_real), torch.empty_like(d_fake)


def _fake_generator(d_fake, c):
    return d_fake.new_empty(()), torch.empty_like(d_fake)


def _setup_context(ctx, inputs, output):
    # The gradient outputs usually reach backward unused: leave their incoming gradients None
    # instead of zero tensors the size of the scores (three fills and adds per step at 2^20 scores).
    ctx.set_materialize_grads(False)
    scores = [t for t in inputs if isinstance(t, torch.Tensor)]
    ctx.counts = [t.numel() for t in scores]
    ctx.save_for_backward(*output[1:])
    ctx.labels = len(inputs) - len(scores)


def _last_use(gradient: torch.Tensor, grad_loss: torch.Tensor | None, incoming) -> bool:
    """Whether this backward is the saved gradient's last reader, so that it may be handed back
    itself, scaled in place, instead of as a new tensor: a plain first-order backward (no
    create_graph: nothing differentiates through it) of a graph that is not kept (the saved
    tensors are freed right after, and nobody else holds g: the public functions return the loss
    only). At 2^20 scores a new gradient is a fresh 4 MiB allocation the CPU first faults in,
    page by page: the largest cost of the step (bench/RESULTS.md)."""
    return (
        incoming is None
        and grad_loss is not None
        and grad_loss.numel() == 1
        and not torch.is_grad_enabled()
        and type(gradient) is torch.Tensor  # not a FakeTensor or FunctionalTensor being traced
        and not torch._C._autograd._get_current_graph_task_keep_graph()
    )


def _backward(ctx, backward_op, grad_loss, *grad_gradients):
    """d/d scores of <grad_loss, L> + sum_k <v_k, g_k> = grad_loss * g_k + v_k / count_k.

    The saved g_k are the op's own outputs, so differentiating this again reaches the op's
    backward with v_k = grad_loss * (direction) and gives the loss's curvature 1 / count."""
    grads = []
    for gradient, incoming, count in zip(ctx.saved_tensors, grad_gradients, ctx.counts, strict=True):
        if _last_use(gradient, grad_loss, incoming):
            # loss.backward() passes 1: nothing to scale (read on the CPU only: on a GPU .item() waits)
            if gradient.device.type != "cpu" or grad_loss.item() != 1.0:
                gradient.mul_(grad_loss.reshape(()))
            grads.append(gradient)
            continue
        total = None if grad_loss is None else grad_loss * gradient
        if incoming is not None:
            total = incoming / count if total is None else total + incoming / count
        grads.append(total)
    return *grads, *([None] * ctx.labels)


def _loss(outputs):
    """The public functions return the loss; the gradient outputs serve autograd."""
    return outputs[0]


def _triton():
    from fastgen.ops.triton import ls_loss as kernels

    return kernels.CAPABILITIES


def _describe(name: str, reference_fn, fake) -> OpDescription:
    return OpDescription(
        name=name,
        reference=reference_fn,
        fake=fake,
        implementations={**compiled.implementations(name), "triton": _triton},
        setup_context=_setup_context,
        backward=_backward,
        double_backward=True,
        result=_loss,
    )


DISCRIMINATOR = register(_describe("ls_discriminator_loss", reference.ls_discriminator_loss, _fake_discriminator))
GENERATOR = register(_describe("ls_generator_loss", reference.ls_generator_loss, _fake_generator))


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
            (non-empty), floating, on one device (each backend's dtypes:
            ``DISCRIMINATOR.capabilities``); differentiable twice on every backend.
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
    return DISCRIMINATOR(d_real.contiguous(), d_fake.contiguous(), a, b, backend=backend)


def ls_generator_loss(d_fake: torch.Tensor, c: float, *, backend: str | None = None) -> torch.Tensor:
    """1/2 mean((d_fake - c)^2), a scalar in the dtype of d_fake (any non-empty shape).

    Equivalent PyTorch: ``0.5 * ((d_fake - c) ** 2).mean()``.
    """
    _checks.floating(d_fake, "d_fake")
    if d_fake.numel() == 0:
        raise ValueError("d_fake must not be empty")
    c = _label(c, "c")
    return GENERATOR(d_fake.contiguous(), c, backend=backend)
