"""``fastgen.ops.reparameterize``: the VAE reparameterization trick and the KL term, fused.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014: for a Gaussian posterior
q(z|x) = N(mu, diag(exp(logvar))) and the prior N(0, I),

    z  = mu + exp(logvar / 2) * eps,                 eps ~ N(0, I)
    kl = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))      (per row; KL(q || p))

One pass forward draws eps inside the kernel from the Philox stream (seed, element offset) and
returns, besides z and kl, the (seed, base) it drew from as two int64 on the device (rng_state);
the backward pass draws eps again from that pair instead of storing it, and returns the gradients
of mu and logvar through both z and kl in one pass. The extra memory is that of the outputs.
"""

from __future__ import annotations

import torch

from fastgen.ops import _cases, _checks, compiled, seeds
from fastgen.ops._registry import OpDescription, TritonKernels, register
from fastgen.ops.reference.reparameterize import reparameterize as reference

__all__ = ["reparameterize"]


def _fake(mu, logvar, eps, seed):
    return torch.empty_like(mu), mu.new_empty(mu.shape[:-1]), mu.new_empty((2,), dtype=torch.int64)


def _fake_backward(grad_z, grad_kl, mu, logvar, eps, rng_state):
    return torch.empty_like(mu), torch.empty_like(mu)


def _compact(grad_z: torch.Tensor | None, mu: torch.Tensor) -> torch.Tensor:
    """grad_z as the backward ops take it: one element when it is a single value broadcast to
    every element (no gradient, or the gradient of z.sum()), else contiguous. Materialising
    the broadcast would cost a tensor the size of z."""
    if grad_z is None:
        return mu.new_zeros(1)
    if grad_z.numel() > 1 and all(stride == 0 for stride in grad_z.stride()):
        return grad_z.as_strided((1,), (1,))
    return grad_z.contiguous()


def _setup_context(ctx, inputs, output):
    mu, logvar, eps, _seed = inputs
    ctx.save_for_backward(mu, logvar, eps, output[2])


def _backward(ctx, backward_op, grad_z, grad_kl, _grad_rng_state):
    """The backward op regenerates eps from the forward's rng_state instead of reading a stored copy."""
    mu, logvar, eps, rng_state = ctx.saved_tensors
    grad_z = _compact(grad_z, mu)
    grad_kl = mu.new_zeros(mu.shape[:-1]) if grad_kl is None else grad_kl.contiguous()
    grad_mu, grad_logvar = backward_op(grad_z, grad_kl, mu, logvar, eps, rng_state)
    # eps is usually a constant; if the caller made it require grad, dz/deps = std.
    grad_eps = grad_z * torch.exp(0.5 * logvar) if ctx.needs_input_grad[2] else None
    return grad_mu, grad_logvar, grad_eps, None


def _public(outputs):
    """(z, kl): the custom op's rng_state output is for its backward only."""
    return outputs[0], outputs[1]


OP = register(
    OpDescription(
        name="reparameterize",
        reference=reference,
        fake=_fake,
        implementations={
            **compiled.implementations(cpp=compiled.FLOATING, cuda=compiled.FLOATING),
            "triton": TritonKernels("reparameterize"),
        },
        setup_context=_setup_context,
        backward=_backward,
        backward_fake=_fake_backward,
        double_backward=False,
        result=_public,
        cases=lambda: _contract_cases(),
    )
)


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    seed: int | None = None,
    eps: torch.Tensor | None = None,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample z = mu + exp(logvar/2) * eps and return it with the per-row KL(q || N(0, I)).

    Args:
        mu, logvar: ``[..., d]`` floating, same shape, dtype and device (each backend's dtypes:
            ``OP.capabilities``). Strided inputs are copied.
        seed: the Philox seed of eps (eps of element i = philox_normal(seed, i) in row-major order).
            When None, drawn from torch's generator of mu's device (``fastgen.ops.seeds``): on a GPU
            on the device, so that a CUDA graph captured around the call draws new eps at every
            replay.
        eps: use this noise instead of drawing it (shape of mu).
        backend: "torch", "cpp", "cuda", "triton" or "auto" (see ``fastgen.backends``).

    Returns:
        ``z [..., d]`` and ``kl [...]``, in the dtype of mu; differentiable in mu and logvar.

    Equivalent PyTorch::

        z = mu + torch.exp(0.5 * logvar) * eps
        kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=-1)
    """
    _checks.floating(mu, "mu")
    _checks.floating(logvar, "logvar")
    _checks.min_dim(mu, "mu", 1, "[..., d]")
    if mu.shape[-1] == 0:
        raise ValueError(f"mu must have a latent dimension d > 0, got shape {tuple(mu.shape)}")
    _checks.same_shape(logvar, "logvar", mu, "mu")
    _checks.same_dtype(logvar, "logvar", mu, "mu")
    _checks.same_device(logvar, "logvar", mu, "mu")
    if eps is not None:
        _checks.floating(eps, "eps")
        _checks.same_shape(eps, "eps", mu, "mu")
        _checks.same_device(eps, "eps", mu, "mu")
        eps = eps.to(mu.dtype).contiguous()
    seed = seeds.resolve(seed, mu.device)
    return OP(mu.contiguous(), logvar.contiguous(), eps, seed, backend=backend)


# --- the contract's cases (fastgen/ops/_cases.py) --------------------------------------------------


def _contract_cases() -> _cases.OpCases:
    zeros = torch.zeros(3, 4)

    def make(shape, generator):
        # logvar in [-2, 2]: std = exp(logvar / 2) < 3 scales eps's ulp differences (atol)
        return [_cases.normal(generator, *shape), (0.5 * _cases.normal(generator, *shape)).clamp(-2, 2)]

    def backward_op_args(inputs):
        mu, logvar = (t.float() for t in inputs)
        return (torch.ones_like(mu), torch.ones(mu.shape[:-1]), mu, logvar, None, _cases.rng_state())

    return _cases.OpCases(
        make=make,
        call=lambda inputs, backend: reparameterize(*inputs, seed=_cases.SEED, backend=backend),
        outputs=("z", "kl"),
        inputs=("mu", "logvar"),
        # (rows, d): one element, a prime d, a leading batch, more than one block of d, no rows
        shapes=[(1, 1), (7, 13), (3, 5, 37), (2, 1031), (0, 5)],
        strided_shape=(9, 6),
        op_args=lambda inputs: (*(t.float() for t in inputs), None, _cases.SEED),
        backward_op_args=backward_op_args,
        differentiable=(0, 1),
        atol=3 * _cases.PHILOX_NORMAL_ATOL,  # z and grad logvar carry eps times std < 3
        bad=[
            (lambda: reparameterize(zeros, torch.zeros(3, 5)), ValueError, "logvar must have the shape of mu"),
            (lambda: reparameterize(zeros.long(), zeros), TypeError, "mu must have a floating dtype"),
            (lambda: reparameterize(zeros, zeros.double()), TypeError, "logvar has dtype"),
            (lambda: reparameterize(zeros, torch.zeros(3, 4, device="meta")), ValueError, "logvar is on meta"),
            (lambda: reparameterize(zeros, zeros, eps=torch.zeros(4)), ValueError, "eps must have the shape of mu"),
            (lambda: reparameterize(torch.tensor(1.0), torch.tensor(1.0)), ValueError, "mu must have shape"),
            (lambda: reparameterize(torch.zeros(3, 0), torch.zeros(3, 0)), ValueError, "mu must have a latent"),
            (lambda: reparameterize([1.0], zeros), TypeError, "mu must be a torch.Tensor"),
            (lambda: reparameterize(zeros, zeros, seed=-1), ValueError, "seed must be in"),
            (lambda: reparameterize(zeros, zeros, seed=1.5), TypeError, "seed must be an int"),
            (lambda: reparameterize(zeros, zeros, backend="fortran"), ValueError, "backend must be one of"),
        ],
    )
