"""Linear algebra of symmetric positive semi-definite matrices: square roots, factors, the rounding
level of eigenvalues, the input check, and Tr((S_1 S_2)^(1/2)) for the Fréchet distance.

A library that ``fastgen.metrics`` calls downward (metrics -> linalg -> torch / LAPACK); not a
fused op, so not in ``fastgen.ops``, whose ``reference`` is the specification of the fused ops only.
"""

from fastgen.linalg.psd import (
    check_symmetric,
    cholesky,
    cholesky_or_check_psd,
    clamp_rounding,
    rounding_tolerance,
    sqrt_factor,
)
from fastgen.linalg.sqrtm import NewtonSchulz, newton_schulz, sqrtm
from fastgen.linalg.trace_sqrt import (
    congruence_eigenvalues,
    trace_sqrt_eigenvalues,
    trace_sqrt_newton_schulz,
    trace_sqrt_product,
    upper_congruence,
)

__all__ = [
    "NewtonSchulz",
    "check_symmetric",
    "cholesky",
    "cholesky_or_check_psd",
    "clamp_rounding",
    "congruence_eigenvalues",
    "newton_schulz",
    "rounding_tolerance",
    "sqrt_factor",
    "sqrtm",
    "trace_sqrt_eigenvalues",
    "trace_sqrt_newton_schulz",
    "trace_sqrt_product",
    "upper_congruence",
]
