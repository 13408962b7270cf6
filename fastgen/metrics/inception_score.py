"""Inception Score (Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016):

    IS = exp( E_x KL(p(y|x) || p(y)) ),   p(y) = E_x p(y|x),

computed on each of ``splits`` consecutive chunks of the samples (chunk k holds rows
[k N / splits, (k + 1) N / splits), as torch-fidelity splits them), reported as the mean and the
population standard deviation over the chunks. Everything is computed in float64; from logits,
log p(y|x) is a log-softmax, so no probability underflows to 0 inside a logarithm.

torch-fidelity's ISC shuffles the samples first, by ``numpy.random.RandomState(rng_seed).permutation``
with ``rng_seed`` = 2020 unless told otherwise; ``shuffle=True`` draws the same permutation from
``seed``, so ``inception_score(logits, 10, shuffle=True, seed=TORCH_FIDELITY_SEED)`` equals its
default ISC on the same logits.
"""

from __future__ import annotations

import numpy as np
import torch

from fastgen.metrics._inputs import floating_tensor

TORCH_FIDELITY_SEED = 2020  # torch-fidelity's default rng_seed


def _looks_like_probabilities(x: torch.Tensor) -> bool:
    """Non-negative rows that sum to 1 (to float32 rounding over the classes)."""
    tolerance = 1e-6 * max(1.0, x.shape[-1] ** 0.5) * 10
    return bool((x >= 0).all()) and bool(((x.sum(dim=-1) - 1).abs() <= tolerance).all())


def inception_score(
    logits_or_probs,
    splits: int = 10,
    *,
    from_logits: bool | None = None,
    shuffle: bool = False,
    seed: int | None = None,
) -> tuple[float, float]:
    """Inception Score of N samples from their classifier outputs.

    Args:
        logits_or_probs: [N, C] logits, or class probabilities p(y|x) (torch or numpy, any float dtype).
        splits: number of chunks (1 <= splits <= N); the samples are taken in order unless ``shuffle``.
        from_logits: True for logits, False for probabilities; None detects probabilities as
            non-negative rows summing to 1, anything else is taken as logits.
        shuffle: permute the samples first (ordered samples, e.g. class by class, skew the score).
        seed: the permutation's seed: ``numpy.random.RandomState(seed).permutation(N)``, torch-fidelity's
            (an int in [0, 2**32)); None draws one from torch's global generator, so
            ``torch.manual_seed`` fixes it too.

    Returns:
        (mean, std) of exp(mean_x KL(p(y|x) || p_split(y))) over the splits, as Python floats.
    """
    x = floating_tensor("logits_or_probs", logits_or_probs)
    if x.dim() != 2 or x.shape[1] < 1:
        raise ValueError(f"logits_or_probs must be [N, C], got shape {tuple(x.shape)}")
    if isinstance(splits, bool) or not isinstance(splits, int) or not 1 <= splits <= x.shape[0]:
        raise ValueError(f"splits must be an int in [1, N = {x.shape[0]}], got {splits!r}")
    bad_seed = isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32
    if seed is not None and bad_seed:
        raise ValueError(f"seed must be an int in [0, 2**32) or None, got {seed!r}")
    if not bool(torch.isfinite(x).all()):
        rows = (~torch.isfinite(x)).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"logits_or_probs contains NaN or Inf in rows {rows[:10]}{' ...' if len(rows) > 10 else ''}")
    x = x.to(torch.float64)
    if from_logits is None:
        from_logits = not _looks_like_probabilities(x)
    if from_logits:
        log_p = torch.log_softmax(x, dim=1)
    else:
        if bool((x < 0).any()):
            raise ValueError("logits_or_probs holds probabilities (from_logits=False) but has negative entries")
        p = x / x.sum(dim=1, keepdim=True)
        log_p = torch.log(p)
    if shuffle:
        if seed is None:
            seed = int(torch.randint(2**32, ()))
        order = np.random.RandomState(seed).permutation(x.shape[0])
        log_p = log_p[torch.from_numpy(order).to(x.device)]
    n = x.shape[0]
    scores = []
    for k in range(splits):
        chunk = log_p[k * n // splits : (k + 1) * n // splits]
        p = chunk.exp()
        log_marginal = torch.logsumexp(chunk, dim=0) - np.log(chunk.shape[0])
        # p log p is taken as 0 where p = 0 (its limit), not 0 * -inf = NaN.
        kl = torch.where(p > 0, p * (chunk - log_marginal), torch.zeros_like(p)).sum(dim=1)
        scores.append(torch.exp(kl.mean()))
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(correction=0))
