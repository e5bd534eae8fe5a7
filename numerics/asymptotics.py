r"""Numeric evaluation of the N ≫ d theory (:mod:`theory.kl`, DESIGN.md section B).

* :func:`expected_kl_identity` — the exact E[KL] for f = identity (digamma sums) at
  ``dps`` digits, from the sympy expression compiled to mpmath.
* :func:`expected_kl_series_value` — its K-term asymptotic series in 1/N.
* :func:`leading_coefficient` — a₁ of E[KL] = a₁/N + O(N⁻²) for the trained DDPM's
  transfer f and a population spectrum λ; :func:`leading_coefficient_from_transfer`
  does the same for any f given its values and derivative.

All KL values are totals over the d dimensions, in nats.
"""

from functools import lru_cache
import math

import mpmath
import numpy as np
import sympy as sp

from theory.kl import (DIRECTIONS, MEANS, expected_kl_exact, expected_kl_series,
                       finiteness_condition)
from theory.symbols import N as N_sym
from theory.symbols import d as d_sym

from .transfer import transfer_function
from .validation import check_choice, check_count, check_positive_spectrum, check_spectrum

__all__ = ["expected_kl_identity", "expected_kl_series_value", "is_finite_identity",
           "leading_coefficient", "leading_coefficient_from_transfer",
           "transfer_derivative", "transfer_elasticity"]


def _check_dps(dps):
    if isinstance(dps, bool) or not isinstance(dps, int) or dps < 15:
        raise ValueError(f"dps must be an integer >= 15, got {dps!r}")
    return dps


@lru_cache(maxsize=None)
def _exact_callable(direction, mean):
    return sp.lambdify((d_sym, N_sym), expected_kl_exact(direction, mean), "mpmath")


@lru_cache(maxsize=None)
def _series_callable(order, direction, mean):
    return sp.lambdify((d_sym, N_sym), expected_kl_series(order, direction, mean), "mpmath")


def is_finite_identity(d, N, direction="forward", mean="known"):
    """Whether E[KL] for f = identity is finite at (d, N) (:func:`theory.kl.finiteness_condition`).

    Known mean: forward needs N ≥ d, reverse N > d + 1.  Estimated mean: forward
    N > d, reverse N > d + 2.
    """
    d = check_count(d, "d")
    N = check_count(N, "N")
    check_choice(direction, "direction", DIRECTIONS)
    check_choice(mean, "mean", MEANS)
    verdict = finiteness_condition(direction, mean).subs({d_sym: d, N_sym: N})
    if verdict not in (sp.true, sp.false):
        raise ArithmeticError(f"finiteness condition did not evaluate: {verdict}")
    return bool(verdict)


def _guard_digits(N):
    # The result is ~d²/N while the digamma sum and d log(2/N) are ~d log N each:
    # about log10(N log N) digits cancel.  Add them (and 5 more) to the working precision.
    return int(math.log10(N + 1) + math.log10(math.log(N + 2) + 1)) + 5


def expected_kl_identity(d, N, direction="forward", mean="known", dps=30):
    r"""Exact E[KL] for f = identity (sampling covariance Σ̂), as an mpmath number.

    Evaluates :func:`theory.kl.expected_kl_exact`, e.g. for the known-mean forward KL

    .. math:: E\,D(N(0,\hat\Sigma)\|N(0,\Sigma)) = -\tfrac12\Big[\sum_{i=1}^d
              \psi\big(\tfrac{N-i+1}{2}\big) + d\log\tfrac2N\Big],

    with the digamma sum at ``dps`` digits plus guard digits for the cancellation
    between the sum and d log(2/N) (the value is ~d²/(4N)).  Independent of Σ.

    Parameters
    ----------
    d, N : int, ≥ 1
    direction : {"forward", "reverse"}
    mean : {"known", "estimated"}
    dps : int, ≥ 15
        Decimal digits of the result.

    Returns
    -------
    mpmath.mpf
        ``mpmath.inf`` where the expectation diverges (:func:`is_finite_identity`):
        forward, N < d (known mean) or N ≤ d (estimated) — Σ̂ is singular with positive
        probability one, log det Σ̂ = −∞; reverse, N ≤ d + 1 (known) or N ≤ d + 2
        (estimated) — the inverse-Wishart mean E[Σ̂⁻¹] diverges.  Never NaN.

    Examples
    --------
    >>> print(mpmath.nstr(expected_kl_identity(1, 1), 10))  # (γ + log 2)/2
    0.6351814227
    >>> expected_kl_identity(3, 4, "reverse")
    mpf('+inf')
    """
    d = check_count(d, "d")
    N = check_count(N, "N")
    check_choice(direction, "direction", DIRECTIONS)
    check_choice(mean, "mean", MEANS)
    dps = _check_dps(dps)
    if not is_finite_identity(d, N, direction, mean):
        return mpmath.mpf("inf")
    with mpmath.workdps(dps + _guard_digits(N)):
        value = _exact_callable(direction, mean)(d, mpmath.mpf(N))
    with mpmath.workdps(dps):
        return +value


def expected_kl_series_value(d, N, order, direction="forward", mean="known", dps=30):
    r"""The ``order``-term series of E[KL] (f = identity) in 1/N, as an mpmath number.

    Evaluates :func:`theory.kl.expected_kl_series`: Σ_{m=1}^{order} a_m(d) N^{−m},
    with error O(N^{−order−1}) as N → ∞ at fixed d (a useful approximation only for
    N ≫ d; the series is asymptotic, not convergent).

    Parameters
    ----------
    d, N : int, ≥ 1
    order : int, ≥ 1
    direction : {"forward", "reverse"}
    mean : {"known", "estimated"}
    dps : int, ≥ 15

    Examples
    --------
    >>> print(expected_kl_series_value(3, 100, 1))  # d(d + 1)/(4N)
    0.03
    """
    d = check_count(d, "d")
    N = check_count(N, "N")
    order = check_count(order, "order")
    check_choice(direction, "direction", DIRECTIONS)
    check_choice(mean, "mean", MEANS)
    dps = _check_dps(dps)
    with mpmath.workdps(dps):
        return +_series_callable(order, direction, mean)(d, mpmath.mpf(N))


def leading_coefficient_from_transfer(lam, f_values, f_prime, *, close_rtol=1e-4):
    r"""a₁ of E[KL] = a₁/N + O(N⁻²) for any transfer f, given f(λ_p) and f′(λ_p).

    .. math:: a_1 = \tfrac14\sum_{p,q=1}^d f[\lambda_p,\lambda_q]^2\,
              \frac{\lambda_p\lambda_q(1+\delta_{pq})}{f(\lambda_p)f(\lambda_q)}

    (:func:`theory.kl.leading_coefficient_expression`), the same for both directions.
    The divided difference is (f_p − f_q)/(λ_p − λ_q), except where
    |λ_p − λ_q| ≤ ``close_rtol``·max(λ_p, λ_q), where it is (f′_p + f′_q)/2 (error
    O(gap²·f‴), against the cancellation O(ε_f/gap) of the quotient).  O(d²) memory.

    Regime: d, λ fixed, N → ∞, f differentiable and positive on the spectrum.

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    f_values : array_like, shape (d,), > 0
    f_prime : array_like, shape (d,), finite
    close_rtol : float in [0, 1)

    Returns
    -------
    float
        The total (not per-dimension) coefficient.

    Examples
    --------
    f = identity gives d(d + 1)/4 for any spectrum:

    >>> lam = [3.0, 1.0, 0.5, 0.25]
    >>> leading_coefficient_from_transfer(lam, lam, [1.0] * 4)
    5.0
    """
    lam = check_positive_spectrum(lam)
    f_values = np.asarray(f_values, dtype=float)
    f_prime = np.asarray(f_prime, dtype=float)
    for name, arr in (("f_values", f_values), ("f_prime", f_prime)):
        if arr.shape != lam.shape:
            raise ValueError(f"{name} must have the shape of lam {lam.shape}, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite")
    if (f_values <= 0).any():
        raise ValueError(f"f_values must be > 0, got {f_values[f_values <= 0][0]!r}")
    close_rtol = float(close_rtol)
    if not 0 <= close_rtol < 1:
        raise ValueError(f"close_rtol must lie in [0, 1), got {close_rtol!r}")
    gap = lam[:, None] - lam[None, :]
    close = np.abs(gap) <= close_rtol * np.maximum(lam[:, None], lam[None, :])
    quotient = np.divide(f_values[:, None] - f_values[None, :], gap,
                         out=np.zeros_like(gap), where=~close)
    dd = np.where(close, (f_prime[:, None] + f_prime[None, :]) / 2, quotient)
    np.fill_diagonal(dd, f_prime)
    r = lam / f_values
    weighted = dd * r[:, None] * r[None, :] * dd  # f[λp,λq]² λpλq/(fp fq)
    return float(0.25 * (weighted.sum() + np.trace(weighted)))


def transfer_derivative(lam, *, c=0.0, tau=None, T=1000, beta_min=1e-4, beta_max=1e-2,
                        step=1e-3):
    r"""f′(λ) of the DDPM transfer, by a Richardson-extrapolated central difference in log λ.

    With g(u) = f(e^u) and D(h) = [g(u + h) − g(u − h)]/(2h) = g′ + g‴h²/6 + O(h⁴),
    f′ = (4D(h) − D(2h))/(3λ) has truncation error O(h⁴) and round-off
    O(ε_f/h), ε_f the relative round-off of the float64 transfer (≈1e-14): about
    1e-11 relative at h = 1e-3.  (The recursion is float-only, so no complex step.)

    Parameters
    ----------
    lam : array_like, > 0
    c, tau, T, beta_min, beta_max : as in :func:`numerics.transfer.transfer_function`
    step : float in (0, 0.1]
        The log-step h.
    """
    lam = check_spectrum(lam)
    if (lam <= 0).any():
        raise ValueError(f"lam must be > 0, got {lam[lam <= 0].flat[0]!r}")
    step = float(step)
    if not 0 < step <= 0.1:
        raise ValueError(f"step must lie in (0, 0.1], got {step!r}")
    shifts = np.array([-2.0, -1.0, 1.0, 2.0]) * step
    points = lam[None, ...] * np.exp(shifts).reshape((4,) + (1,) * lam.ndim)
    f = transfer_function(points, c=c, tau=tau, T=T, beta_min=beta_min, beta_max=beta_max)
    d1 = (f[2] - f[1]) / (2 * step)
    d2 = (f[3] - f[0]) / (4 * step)
    return (4 * d1 - d2) / (3 * lam)


def leading_coefficient(lam, *, c=0.0, tau=None, T=1000, beta_min=1e-4, beta_max=1e-2,
                        direction="forward"):
    r"""a₁ of E[KL] = a₁/N + O(N⁻²) for the trained linear DDPM and population spectrum λ.

    The KL compares the sampling distribution N(0, F(Σ̂)) with the infinite-data
    optimum N(0, F(Σ)); f is :func:`numerics.transfer.transfer_function` (schedule, c,
    τ) and f′ :func:`transfer_derivative`.  See :func:`leading_coefficient_from_transfer`
    for the formula.  a₁ = d(d + 1)/4 exactly when f is homogeneous linear; the DDPM f
    is not, and a₁/(d(d + 1)/4) measures how far "independent of the data" fails.

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
        Population eigenvalues (e.g. :func:`numerics.spectra.power_law_spectrum`).
    c : float, ≥ 0
    tau : float ≥ 0 or None
    T : int, ≥ 1
    beta_min, beta_max : float in (0, 1)
    direction : {"forward", "reverse"}
        Accepted for symmetry with the exact results: a₁ is the same in both.

    Returns
    -------
    float
        Total coefficient (÷ d for per dimension).  O(d²) memory; d = 1000 takes well
        under a second.
    """
    check_choice(direction, "direction", DIRECTIONS)
    lam = check_positive_spectrum(lam)
    kwargs = dict(c=c, tau=tau, T=T, beta_min=beta_min, beta_max=beta_max)
    f_values = transfer_function(lam, **kwargs)
    f_prime = transfer_derivative(lam, **kwargs)
    return leading_coefficient_from_transfer(lam, f_values, f_prime)


def transfer_elasticity(lam, **model):
    r"""e(λ) = λ f′(λ)/f(λ) = d log f/d log λ of the DDPM transfer: where a₁ departs.

    Each pair of directions contributes ¼ f[λ_i, λ_j]² λ_iλ_j/(f_i f_j)(1 + δ_ij) to a₁,
    which is ¼ e(λ_i)² (1 + δ_ij) for close eigenvalues: e = 1 (f locally linear) gives
    the data-independent d(d + 1)/4.  For the default schedule e < 1 for λ beyond about
    1/ᾱ_T (the forward process does not reach N(0, I) and f saturates at
    (2 − ᾱ_T)/ᾱ_T), and e > 1 for λ near and below β_1 (the discretisation of the last
    steps); ridge c and early stopping τ make f(0) > 0 and e → 0 as λ → 0.

    Parameters
    ----------
    lam : array_like, > 0
    **model
        c, tau, T, beta_min, beta_max as in :func:`numerics.transfer.transfer_function`.
    """
    lam = check_spectrum(lam)
    if (lam <= 0).any():
        raise ValueError(f"lam must be > 0, got {lam[lam <= 0].flat[0]!r}")
    return lam * transfer_derivative(lam, **model) / transfer_function(lam, **model)
