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

from fastgen.ops import _cases, _checks, compiled
from fastgen.ops._registry import OpDescription, TritonKernels, register
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


def _describe(name: str, reference_fn, fake, cases) -> OpDescription:
    return OpDescription(
        name=name,
        reference=reference_fn,
        fake=fake,
        implementations={
            **compiled.implementations(cpp=compiled.FLOATING, cuda=compiled.FLOATING),
            "triton": TritonKernels("ls_loss"),
        },
        setup_context=_setup_context,
        backward=_backward,
        double_backward=True,
        result=_loss,
        cases=cases,
    )


DISCRIMINATOR = register(
    _describe(
        "ls_discriminator_loss",
        reference.ls_discriminator_loss,
        _fake_discriminator,
        lambda: _discriminator_cases(),
    )
)
GENERATOR = register(
    _describe("ls_generator_loss", reference.ls_generator_loss, _fake_generator, lambda: _generator_cases())
)


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


# --- the contract's cases (fastgen/ops/_cases.py) --------------------------------------------------

_ONES = torch.ones(3)


def _discriminator_cases() -> _cases.OpCases:
    ones = _ONES
    return _cases.OpCases(
        make=lambda shapes, generator: [_cases.normal(generator, *shapes[0]), _cases.normal(generator, *shapes[1])],
        call=lambda inputs, backend: ls_discriminator_loss(*inputs, -1.0, 1.0, backend=backend),
        outputs=("loss",),
        inputs=("d_real", "d_fake"),
        # (d_real's shape, d_fake's shape): single scores, primes, more than one block of scores
        shapes=[((1,), (1,)), ((37, 1), (5,)), ((3, 7, 11), (1031,)), ((2053,), (1,))],
        strided_shape=((8, 6), (10, 2)),
        op_args=lambda inputs: (*(t.float() for t in inputs), -1.0, 1.0),
        differentiable=(0, 1),
        bad=[
            (lambda: ls_discriminator_loss(ones.long(), ones, 0, 1), TypeError, "d_real must have a floating"),
            (lambda: ls_discriminator_loss(ones, ones.int(), 0, 1), TypeError, "d_fake must have a floating"),
            (lambda: ls_discriminator_loss([1.0], ones, 0, 1), TypeError, "d_real must be a torch.Tensor"),
            (lambda: ls_discriminator_loss(ones, torch.ones(3, device="meta"), 0, 1), ValueError, "d_fake is on meta"),
            (lambda: ls_discriminator_loss(torch.ones(0), ones, 0, 1), ValueError, "d_real and d_fake must not be"),
            (lambda: ls_discriminator_loss(ones, ones, "0", 1), TypeError, "a must be a real number"),
            (lambda: ls_discriminator_loss(ones, ones, 0, True), TypeError, "b must be a real number"),
        ],
    )


def _generator_cases() -> _cases.OpCases:
    return _cases.OpCases(
        make=lambda shape, generator: [_cases.normal(generator, *shape)],
        call=lambda inputs, backend: ls_generator_loss(*inputs, 0.5, backend=backend),
        outputs=("loss",),
        inputs=("d_fake",),
        shapes=[(1,), (37, 1), (3, 7, 11), (2053,)],
        strided_shape=(10, 3),
        op_args=lambda inputs: (inputs[0].float(), 0.5),
        differentiable=(0,),
        bad=[
            (lambda: ls_generator_loss(_ONES.bool(), 1), TypeError, "d_fake must have a floating"),
            (lambda: ls_generator_loss(torch.ones(2, 0), 1), ValueError, "d_fake must not be empty"),
            (lambda: ls_generator_loss(_ONES, None), TypeError, "c must be a real number"),
        ],
    )
