"""The LSGAN derivation (Mao et al., ICCV 2017, §3.2) checked numerically on 1-D densities.

With V(D) = ½ E_data[(D(x) − b)²] + ½ E_g[(D(x) − a)²] and the generator's objective extended by
a term that does not depend on G, C(G) = ½ E_data[(D*(x) − c)²] + ½ E_g[(D*(x) − c)²]:

1. the optimal discriminator is D*(x) = (b p_data(x) + a p_g(x)) / (p_data(x) + p_g(x));
2. with b − c = 1 and b − a = 2,
       2 C(G) = ∫ (2 p_g − (p_data + p_g))² / (p_data + p_g) dx = χ²_Pearson(p_data + p_g ‖ 2 p_g),
   i.e. C(G) = ½ χ²_Pearson(p_data + p_g ‖ 2 p_g), where χ²_Pearson(P ‖ Q) = ∫ (Q − P)² / P.

The test minimises V(D) over the values of D on a grid with Newton's method, gradient and
Hessian taken by autograd from the objective alone (float64, random start; the objective is a
convex quadratic, so a zero gradient with a positive semi-definite Hessian is the global
minimum), compares the minimiser with the formula, then integrates C(G) at that numerical optimum
and the Pearson divergence independently (adaptive quadrature of the continuous densities).
A first-order method is no good here: the curvature at x is p_data(x) + p_g(x), from 0.5 down to
1e-30 in the tails, and L-BFGS stalls on such conditioning.
Run with ``-s`` to see the numbers quoted in docs/theory.md.
"""

import functools

import pytest
import torch
from scipy import integrate
from scipy.stats import norm

GRID = torch.linspace(-10.0, 10.0, 401, dtype=torch.float64)
STEP = (GRID[1] - GRID[0]).item()


def p_data(x):
    return norm.pdf(x, loc=0.0, scale=1.0)


def p_g(x):
    """A generator that has not converged yet: a two-component mixture."""
    return 0.6 * norm.pdf(x, loc=1.5, scale=0.6) + 0.4 * norm.pdf(x, loc=-2.0, scale=1.2)


PD, PG = torch.from_numpy(p_data(GRID.numpy())), torch.from_numpy(p_g(GRID.numpy()))


def discriminator_objective(d, a, b):
    """V(D) = ½ ∫ p_data (D − b)² + ½ ∫ p_g (D − a)², Riemann sum on the grid (as accurate as the trapezoid rule: the
    densities vanish at the ends)."""
    return 0.5 * torch.sum(PD * (d - b) ** 2 + PG * (d - a) ** 2) * STEP


def generator_objective(d, c):
    """C(G) = ½ ∫ p_data (D − c)² + ½ ∫ p_g (D − c)² on the grid."""
    return 0.5 * torch.sum((PD + PG) * (d - c) ** 2) * STEP


@functools.cache
def numerically_optimal_discriminator(a, b, max_steps=5):
    """argmin_D V(D) by Newton's method from a random start: D ← D − H⁻¹ ∇V (autograd)."""
    torch.manual_seed(0)
    d = torch.randn_like(GRID)
    objective = lambda values: discriminator_objective(values, a, b)
    for _ in range(max_steps):
        gradient = torch.func.grad(objective)(d)
        if gradient.abs().max().item() < 1e-13:  # stationary (the start has |∇V| ~ 1e-2) ...
            break
        hessian = torch.func.hessian(objective)(d)
        d = d - torch.linalg.lstsq(hessian, gradient.unsqueeze(1)).solution.squeeze(1)
    else:
        raise AssertionError(f"Newton's method did not reach a stationary point in {max_steps} steps")
    assert torch.linalg.eigvalsh(hessian).min().item() >= -1e-15  # ... of a convex objective: the minimum
    return d


def pearson_chi2_of_sum_against_twice_g():
    """χ²_Pearson(p_data + p_g ‖ 2 p_g) = ∫ (2 p_g − (p_data + p_g))² / (p_data + p_g) dx, by quadrature."""

    def integrand(x):
        total = p_data(x) + p_g(x)
        return (2 * p_g(x) - total) ** 2 / total if total > 0 else 0.0

    value, error = integrate.quad(integrand, -30, 30, points=[-2.0, 0.0, 1.5], limit=400, epsabs=1e-13)
    return value, error


def formula_optimum(a, b):
    return (b * PD + a * PG) / (PD + PG)


@pytest.mark.parametrize(("a", "b"), [(-1.0, 1.0), (0.0, 1.0), (0.5, 3.0)])
def test_optimal_discriminator_minimises_the_least_squares_objective(a, b):
    numerical = numerically_optimal_discriminator(a, b)
    formula = formula_optimum(a, b)
    pd, pg = PD, PG
    # where both densities vanish (|x| ≳ 10) D does not enter the objective; compare where it matters
    support = (pd + pg) > 1e-8
    gap = (numerical - formula)[support].abs().max().item()
    value_formula = discriminator_objective(formula, a, b).item()
    value_numerical = discriminator_objective(numerical, a, b).item()
    perturbed = discriminator_objective(formula + 0.01 * torch.randn_like(formula), a, b).item()
    print(
        f"\n(a, b) = ({a:g}, {b:g}): max |D_numerical − D*| on the support = {gap:.2e}; "
        f"V(D*) = {value_formula:.10f}, V(D_numerical) = {value_numerical:.10f}, V(D* + noise) = {perturbed:.10f}"
    )
    assert gap < 1e-6
    assert value_formula <= value_numerical + 1e-12
    assert perturbed > value_formula


def test_generator_objective_at_the_optimum_is_half_the_pearson_divergence():
    a, b, c = -1.0, 1.0, 0.0  # b − c = 1, b − a = 2
    optimum = numerically_optimal_discriminator(a, b)
    two_c = 2 * generator_objective(optimum, c).item()
    chi2, quad_error = pearson_chi2_of_sum_against_twice_g()
    print(f"\n(a, b, c) = (-1, 1, 0): 2·C(G) = {two_c:.10f}, χ²_Pearson(p_data + p_g ‖ 2 p_g) = {chi2:.10f}")
    assert quad_error < 1e-9
    assert two_c == pytest.approx(chi2, rel=1e-6)


def general_two_c(a, b, c):
    """2 C(G) = ∫ ((b − c)(p_data + p_g) − (b − a) p_g)² / (p_data + p_g) dx for any labels, by quadrature."""

    def integrand(x):
        total = p_data(x) + p_g(x)
        return ((b - c) * total - (b - a) * p_g(x)) ** 2 / total if total > 0 else 0.0

    return integrate.quad(integrand, -30, 30, points=[-2.0, 0.0, 1.5], limit=400, epsabs=1e-13)[0]


@pytest.mark.parametrize(("a", "b", "c"), [(0.0, 2.0, 1.0), (0.0, 1.0, 1.0), (-1.0, 1.0, 1.0)])
def test_the_pearson_identity_needs_b_minus_c_1_and_b_minus_a_2(a, b, c):
    """C(G) at the numerical optimum always follows the general formula; it is ½χ² only when
    b − c = 1 and b − a = 2 ((0, 2, 1) yes; the (0, 1, 1) preset and (-1, 1, 1) no)."""
    two_c = 2 * generator_objective(numerically_optimal_discriminator(a, b), c).item()
    chi2, _ = pearson_chi2_of_sum_against_twice_g()
    print(f"\n(a, b, c) = ({a:g}, {b:g}, {c:g}): 2·C(G) = {two_c:.10f}, χ² = {chi2:.10f}")
    assert two_c == pytest.approx(general_two_c(a, b, c), rel=1e-6)
    if (b - c, b - a) == (1.0, 2.0):
        assert two_c == pytest.approx(chi2, rel=1e-6)
    else:  # differs by far more than the 1e-6 to which the two sides agree when the identity holds
        assert abs(two_c - chi2) > 1e-3 * chi2


def test_divergence_vanishes_when_the_generator_matches_the_data():
    pd = PD
    optimum = (1.0 * pd + (-1.0) * pd) / (pd + pd)  # D* = (a + b) / 2 = 0 everywhere
    assert optimum.abs().max().item() == 0.0
    assert 0.5 * torch.sum((pd + pd) * (optimum - 0.0) ** 2).item() == 0.0
