"""The Fréchet distance between Gaussians fitted to features (FID; Heusel et al., "GANs Trained by a
Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017):

    FID = |mu_1 - mu_2|^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^(1/2))

The last term comes from ``fastgen.linalg`` (see ``fastgen.linalg.trace_sqrt``): for S_1 = F F^T,
Tr((S_1 S_2)^(1/2)) = sum_i sqrt(lambda_i(F^T S_2 F)), one symmetric eigenvalue problem.

Methods:
- ``"eigh"`` (CPU default, float64): F the Cholesky factor of S_1 or S_2, or the pivoted Cholesky
  factor when both are singular (N <= d); M = F^T S_2 F by LAPACK's dsygst; its eigenvalues, those
  at or below d * eps * lambda_max taken as 0 (rounding noise).
- ``"newton_schulz"`` (CUDA default): S_1^(1/2) and M^(1/2) by the coupled Newton-Schulz iteration,
  batched GEMMs only; warns when its error estimate is large, and falls back to ``"eigh"`` (with a
  warning) when it diverges.
- ``"scipy"``: the reference, pytorch-fid's computation (``scipy.linalg.sqrtm(S_1 @ S_2)``, the real
  part of its trace, an eps * I offset when the product is singular), one matrix at a time.

Every method first checks its input: finite, d >= 1, shapes that match, and covariances that are
symmetric and PSD up to rounding (``fastgen.linalg.rounding_tolerance``: 10 d eps_float32 times the
largest entry); beyond that a ValueError names the argument. Within it, each covariance is replaced
by its symmetric part, so that every method reads the same matrix.

For repeated distances to one reference set, ``FIDReference`` factorises the reference once.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from fastgen import linalg
from fastgen.metrics._inputs import floating_tensor
from fastgen.metrics.stats import FeatureStats

METHODS = ("auto", "eigh", "newton_schulz", "scipy")
_WARN_RELATIVE_ERROR = 1e-3


def _as_float64(name: str, value, vector: bool) -> tuple[torch.Tensor, torch.dtype]:
    """value as a float64 tensor, with the floating dtype it came in (what its rounding is judged at)."""
    value = floating_tensor(name, value)
    if vector and value.dim() < 1:
        raise ValueError(f"{name} must be [..., d], got a scalar")
    if not vector and (value.dim() < 2 or value.shape[-1] != value.shape[-2]):
        raise ValueError(f"{name} must be [..., d, d] (square), got shape {tuple(value.shape)}")
    if value.shape[-1] == 0:
        raise ValueError(f"{name} must have d >= 1 features, got shape {tuple(value.shape)}")
    # a sum is NaN or Inf when an entry is (one pass, no mask); it can also overflow, so confirm
    if not bool(torch.isfinite(value.sum())) and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return value.to(torch.float64), value.dtype


def _covariance(name: str, sigma: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(symmetric float64 sigma, its Cholesky factor or None when singular), or a ValueError naming
    ``name`` for a matrix that is not symmetric PSD up to rounding (judged at ``dtype``, its input dtype)."""
    tolerance = linalg.rounding_tolerance(sigma, dtype)
    sigma = linalg.check_symmetric(name, sigma, tolerance)
    return sigma, linalg.cholesky_or_check_psd(name, sigma, tolerance)


def _check_pair(mu: torch.Tensor, sigma: torch.Tensor, which: str) -> None:
    if sigma.shape[-1] != mu.shape[-1]:
        raise ValueError(
            f"sigma{which} must be [..., d, d] for mu{which} [..., d] with d = {mu.shape[-1]}, got {tuple(sigma.shape)}"
        )


def _resolve(method: str, device: torch.device) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        return "newton_schulz" if device.type == "cuda" else "eigh"
    return method


def _finite(trace_sqrt: torch.Tensor, error: torch.Tensor) -> bool:
    """False (with a warning) when Newton-Schulz diverged, as it does on negative eigenvalues."""
    if bool(torch.isfinite(trace_sqrt).all() and torch.isfinite(error).all()):
        return True
    warnings.warn(
        "frechet_distance: Newton-Schulz diverged (a covariance with negative eigenvalues from rounding?); "
        "computing this FID with method='eigh' instead",
        RuntimeWarning,
        stacklevel=4,
    )
    return False


def _trace_sqrt_scipy(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    from scipy import linalg as scipy_linalg

    s1, s2 = np.broadcast_arrays(sigma1.cpu().numpy(), sigma2.cpu().numpy())
    batch = s1.shape[:-2]
    s1, s2 = s1.reshape(-1, *s1.shape[-2:]), s2.reshape(-1, *s2.shape[-2:])
    traces = []
    for a, b in zip(s1, s2, strict=True):
        root = scipy_linalg.sqrtm(a @ b)
        if not np.isfinite(root).all():  # pytorch-fid's remedy for a singular product
            offset = np.eye(a.shape[0]) * 1e-6
            root = scipy_linalg.sqrtm((a + offset) @ (b + offset))
        traces.append(np.trace(root).real)
    return torch.tensor(np.array(traces).reshape(batch), dtype=torch.float64)


def _combine(mean_term, trace1, trace2, trace_sqrt, error, method: str) -> torch.Tensor:
    """FID from its terms; negatives within the rounding tolerance become 0, beyond it a warning."""
    fid = mean_term + trace1 + trace2 - 2 * trace_sqrt
    d_eps = 1e3 * torch.finfo(torch.float64).eps
    tolerance = 2 * error + d_eps * (mean_term + trace1.abs() + trace2.abs())
    if bool((fid < -tolerance).any()):
        warnings.warn(
            f"frechet_distance: FID {float(fid.min()):.6g} is negative beyond its rounding tolerance "
            f"{float(tolerance.max()):.3g}; it is clamped to 0",
            RuntimeWarning,
            stacklevel=3,
        )
    if method == "newton_schulz":
        large = 2 * error > _WARN_RELATIVE_ERROR * torch.maximum(fid, 1e-3 * (trace1 + trace2))
        if bool(large.any()):
            warnings.warn(
                f"frechet_distance: Newton-Schulz error estimate {float((2 * error).max()):.3g} is large "
                f"against FID {float(fid[large].min()):.6g} (rank-deficient covariances converge slowly); "
                "method='eigh' is exact",
                RuntimeWarning,
                stacklevel=3,
            )
    return fid.clamp_min(0)


def frechet_distance(mu1, sigma1, mu2, sigma2, *, method: str = "auto") -> torch.Tensor:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), batched over leading dimensions.

    Args:
        mu1, mu2: [..., d] means (torch or numpy, any float dtype; computed in float64), d >= 1.
        sigma1, sigma2: [..., d, d] symmetric PSD covariances (singular ones, from N <= d samples, are
            fine; asymmetric or indefinite ones beyond rounding are refused, see the module docstring).
        method: ``"auto"`` (``"eigh"`` on CPU, ``"newton_schulz"`` on CUDA), ``"eigh"``,
            ``"newton_schulz"`` or ``"scipy"`` (the reference; see the module docstring).

    Returns:
        float64 tensor of the broadcast batch shape (0-dim for one pair; ``float(fid)`` for a number),
        never negative. Equals pytorch-fid's ``calculate_frechet_distance`` up to its own rounding.

    Raises:
        ValueError naming the argument: non-finite values, d = 0, shapes that do not match or
        broadcast, a covariance that is not symmetric or not PSD beyond rounding.
    """
    mu1, _ = _as_float64("mu1", mu1, vector=True)
    sigma1, dtype1 = _as_float64("sigma1", sigma1, vector=False)
    mu2, _ = _as_float64("mu2", mu2, vector=True)
    sigma2, dtype2 = _as_float64("sigma2", sigma2, vector=False)
    _check_pair(mu1, sigma1, "1")
    _check_pair(mu2, sigma2, "2")
    if mu1.shape[-1] != mu2.shape[-1]:
        raise ValueError(f"mu1 and mu2 must have the same d, got {mu1.shape[-1]} and {mu2.shape[-1]}")
    devices = {t.device for t in (mu1, mu2, sigma1, sigma2)}
    if len(devices) > 1:
        raise ValueError(f"mu1, sigma1, mu2, sigma2 must be on one device, got {sorted(map(str, devices))}")
    try:
        torch.broadcast_shapes(mu1.shape[:-1], mu2.shape[:-1], sigma1.shape[:-2], sigma2.shape[:-2])
    except RuntimeError as error:
        raise ValueError(f"the batch shapes of mu1, sigma1, mu2, sigma2 do not broadcast: {error}") from None
    method = _resolve(method, mu1.device)
    sigma1, cholesky1 = _covariance("sigma1", sigma1, dtype1)
    sigma2, cholesky2 = _covariance("sigma2", sigma2, dtype2)
    mean_term = (mu1 - mu2).square().sum(dim=-1)
    trace1 = sigma1.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    trace2 = sigma2.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    if method == "eigh":
        trace_sqrt, error = linalg.trace_sqrt_product(sigma1, sigma2, cholesky1, cholesky2)
    elif method == "newton_schulz":
        root1 = linalg.newton_schulz(sigma1)
        trace_sqrt, error = linalg.trace_sqrt_newton_schulz(root1.root, root1.residual, sigma2)
        if not _finite(trace_sqrt, error):
            method = "eigh"
            trace_sqrt, error = linalg.trace_sqrt_product(sigma1, sigma2, cholesky1, cholesky2)
    else:
        trace_sqrt = _trace_sqrt_scipy(sigma1, sigma2).to(mu1.device)
        error = torch.zeros_like(trace_sqrt)
    shape = torch.broadcast_shapes(mean_term.shape, trace1.shape, trace2.shape, trace_sqrt.shape)
    terms = (t.expand(shape) for t in (mean_term, trace1, trace2, trace_sqrt, error))
    return _combine(*terms, method=method)


class FIDReference:
    """A reference Gaussian N(mu, sigma) factorised once, for many FIDs against it.

    The factor F with sigma = F F^T (in float64: the Cholesky factor, or V diag(sqrt(lambda)) from
    eigh when sigma is singular; sigma^(1/2) by Newton-Schulz on CUDA) is computed at construction;
    each ``distance`` then checks the other covariance and costs two (triangular) matrix products
    and one symmetric eigenvalue problem, or one Newton-Schulz iteration.

    >>> ref = FIDReference.from_npz("train_stats.npz")
    >>> ref.distance(generated_stats)            # a FeatureStats, or (mu, sigma)
    """

    def __init__(self, mu, sigma, *, method: str = "auto"):
        self.mu, _ = _as_float64("mu", mu, vector=True)
        sigma, dtype = _as_float64("sigma", sigma, vector=False)
        _check_pair(self.mu, sigma, "")
        self.method = _resolve(method, self.mu.device)
        self.sigma, cholesky = _covariance("sigma", sigma, dtype)
        self.trace = self.sigma.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
        if self.method == "eigh":
            self._triangular = cholesky is not None
            # singular (N <= d): the eigh factor V diag(sqrt(lambda))
            self._factor = cholesky if self._triangular else linalg.sqrt_factor(self.sigma)
        elif self.method == "newton_schulz":
            root = linalg.newton_schulz(self.sigma)
            self._factor, self._residual = root.root, root.residual

    @property
    def dim(self) -> int:
        return self.mu.shape[-1]

    @classmethod
    def from_stats(cls, stats: FeatureStats, *, method: str = "auto") -> FIDReference:
        return cls(stats.mean, stats.cov, method=method)

    @classmethod
    def from_npz(cls, path, *, method: str = "auto") -> FIDReference:
        """From a statistics file (``FeatureStats.save`` or pytorch-fid's ``mu``/``sigma`` .npz)."""
        return cls.from_stats(FeatureStats.load(path), method=method)

    def distance(self, mu, sigma=None) -> torch.Tensor:
        """FID between this reference and N(mu, sigma) (or a FeatureStats), batched like ``frechet_distance``."""
        if isinstance(mu, FeatureStats):
            if sigma is not None:
                raise TypeError("give either a FeatureStats or mu and sigma, not both")
            mu, sigma = mu.mean, mu.cov
        if sigma is None:
            raise TypeError("distance needs sigma with mu (or a FeatureStats)")
        mu, _ = _as_float64("mu", mu, vector=True)
        sigma, dtype = _as_float64("sigma", sigma, vector=False)
        _check_pair(mu, sigma, "")
        if mu.shape[-1] != self.dim:
            raise ValueError(f"mu must have the reference's d = {self.dim}, got {mu.shape[-1]}")
        mu, sigma = mu.to(self.mu.device), sigma.to(self.mu.device)
        sigma, cholesky = _covariance("sigma", sigma, dtype)
        mean_term = (mu - self.mu).square().sum(dim=-1)
        trace = sigma.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
        if self.method == "eigh":
            eigenvalues = linalg.congruence_eigenvalues(self._factor, sigma, lower_triangular=self._triangular)
            trace_sqrt, error = linalg.trace_sqrt_eigenvalues(eigenvalues)
        elif self.method == "newton_schulz":
            trace_sqrt, error = linalg.trace_sqrt_newton_schulz(self._factor, self._residual, sigma)
            if not _finite(trace_sqrt, error):
                trace_sqrt, error = linalg.trace_sqrt_product(self.sigma, sigma, None, cholesky)
        else:
            trace_sqrt = _trace_sqrt_scipy(self.sigma, sigma).to(mu.device)
            error = torch.zeros_like(trace_sqrt)
        shape = torch.broadcast_shapes(mean_term.shape, self.trace.shape, trace.shape, trace_sqrt.shape)
        terms = (t.expand(shape) for t in (mean_term, self.trace, trace, trace_sqrt, error))
        return _combine(*terms, method=self.method)

    def __repr__(self) -> str:
        return f"FIDReference(dim={self.dim}, method={self.method!r})"


__all__ = ["FIDReference", "frechet_distance"]
