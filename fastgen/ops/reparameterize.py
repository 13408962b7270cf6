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

from fastgen.ops import _checks, compiled, seeds
from fastgen.ops._registry import OpDescription, register
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


def _triton():
    from fastgen.ops.triton import reparameterize as kernels

    return kernels.CAPABILITIES


OP = register(
    OpDescription(
        name="reparameterize",
        reference=reference,
        fake=_fake,
        implementations={**compiled.implementations("reparameterize"), "triton": _triton},
        setup_context=_setup_context,
        backward=_backward,
        backward_fake=_fake_backward,
        double_backward=False,
        result=_public,
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
