"""The spectral transfer f(λ̂): the sampling variance along an eigen-direction of Σ̂.

f is evaluated by the exact DDPM variance recursion (DESIGN.md, "Spectral transfer")

    v_T = 1,   v_{t−1} = a_t² v_t + σ_t²,   a_t = (1 − β_t r_t)/√(1 − β_t),   f = v_0,

with σ_t² = β_t for t ≥ 2, σ_1 = 0, and r_t = w_t/√(1 − ᾱ_t) taken from the sympy
derivation (:func:`theory.model.denoiser_ratio`).  The derived r is a function of the
curvature k_t = ᾱ_tλ + 1 − ᾱ_t + c alone (the eigenvalue of Ĉ_t + cI); it is
re-expressed in k by sympy and compiled with ``lambdify``, so that 1 − ᾱ_t enters only
through the cancellation-free value of :class:`~numerics.schedule.Schedule`.

float64 path: vectorised over any array of λ (e.g. a batch of sample spectra, shape
(R, d)); the gradient-flow form (1 − e^{−kτ})/k is evaluated as 1/k − e^{−kτ}/k, which
never overflows and loses relative accuracy only when kτ ≲ 1e-8.  mpmath path: the
same recursion at ``dps`` digits, with β_t recomputed from the schedule's definition.
"""

from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from theory.continuous import continuous_transfer
from theory.model import denoiser_ratio
from theory.symbols import alpha_bar, alpha_bar_T, c, eta, lam, n, tau

from .schedule import linear_schedule
from .tabulate import SpectralTable
from .validation import check_nonnegative, check_spectrum, check_tau

__all__ = ["transfer_function", "transfer_from_schedule", "ratio_function",
           "continuous_transfer_function", "continuous_alpha_bar_T", "transfer_interpolant"]

_k = sp.Symbol("k", positive=True)


@lru_cache(maxsize=None)
def _ratio_in_curvature(kind):
    """r(k, τ, η, n): the derived ratio with λ eliminated in favour of k (sympy)."""
    expr = denoiser_ratio(kind).subs(lam, (_k - 1 + alpha_bar - c) / alpha_bar)
    expr = sp.expand(sp.simplify(sp.powsimp(sp.expand(expr), combine="exp")))
    leftover = expr.free_symbols - {_k, tau, eta, n}
    if leftover:  # the derivation must depend on the data only through k
        raise ArithmeticError(f"ratio {kind} depends on {leftover} beyond the curvature k")
    return expr


@lru_cache(maxsize=None)
def ratio_function(kind="ridge", module="numpy"):
    """Compiled r(k, τ, η, n) for ``kind`` in {"ridge", "gradient_flow", "gradient_descent"}."""
    return sp.lambdify((_k, tau, eta, n), _ratio_in_curvature(kind), module)


def _kind(tau):
    return "ridge" if tau is None else "gradient_flow"


def transfer_from_schedule(lam, schedule, *, c=0.0, tau=None, chunk=4096):
    """float64 f(λ) for a given :class:`~numerics.schedule.Schedule` (no validation of λ).

    ``lam`` may have any shape; the result has the same shape.  The recursion is
    unrolled, v_0 = P_T + Σ_{t≥2} β_t P_{t−1} with P_j = Π_{s≤j} a_s², and evaluated
    with one cumulative product over t for a chunk of λ at a time (memory T × chunk).
    """
    ratio = ratio_function(_kind(tau))
    tau_value = 0.0 if tau is None else tau
    betas = schedule.betas[:, None]
    q = schedule.one_minus_alpha_bar[:, None]
    sigma2 = np.concatenate([[0.0], schedule.betas[1:]])[:, None]  # σ_1 = 0
    lam = np.asarray(lam, dtype=float)
    flat = lam.ravel()
    out = np.empty_like(flat)
    for start in range(0, flat.size, chunk):
        part = flat[None, start:start + chunk]
        k = (1.0 - q) * part + q + c
        a2 = ((1.0 - betas * ratio(k, tau_value, 0.0, 0)) ** 2) / (1.0 - betas)
        P = np.cumprod(a2, axis=0)  # P[j-1] = Π_{s≤j} a_s²
        out[start:start + chunk] = P[-1] + np.sum(sigma2[1:] * P[:-1], axis=0)
    return out.reshape(lam.shape)


def _transfer_mp(lam, schedule, c, tau, dps):
    ratio = ratio_function(_kind(tau), "mpmath")
    with mpmath.workdps(dps):
        betas, _, q = schedule.mp_arrays()
        c_mp = mpmath.mpf(c)
        tau_mp = mpmath.mpf(0 if tau is None else tau)
        out = []
        for value in np.ravel(lam):
            lam_mp, v = mpmath.mpf(value), mpmath.mpf(1)
            for i in range(schedule.T - 1, -1, -1):
                k = (1 - q[i]) * lam_mp + q[i] + c_mp
                a = (1 - betas[i] * ratio(k, tau_mp, 0, 0)) / mpmath.sqrt(1 - betas[i])
                v = a * a * v + (betas[i] if i > 0 else 0)
            out.append(v)
    return np.array(out, dtype=object).reshape(np.shape(lam))


def transfer_function(lam, *, c=0.0, tau=None, T=1000, beta_min=1e-4, beta_max=1e-2,
                      dps=None, schedule=None):
    r"""Sampling variance f(λ) of the trained linear DDPM along an eigenvalue λ of Σ̂.

    Parameters
    ----------
    lam : array_like of float, ≥ 0
        Eigenvalues (any shape).
    c : float, ≥ 0
        Ridge strength.
    tau : float ≥ 0 or None
        Gradient-flow training time; None (or inf) is the trained-to-convergence minimiser.
    T : int, ≥ 1
    beta_min, beta_max : float in (0, 1)
        Linear schedule β_t = β_min + (β_max − β_min) t/T (DESIGN.md default).
    dps : int or None
        If given, evaluate in mpmath at ``dps`` decimal digits and return an object
        array of mpmath numbers.
    schedule : Schedule, optional
        Use this schedule instead (T, beta_min and beta_max are then ignored).

    Returns
    -------
    ndarray, same shape as ``lam``

    Examples
    --------
    With c = 0 and τ = ∞ the last step removes all noise from a direction with λ = 0,
    so f(0) = 0 (a_1 = 0 and σ_1 = 0), while isotropic data are nearly reproduced:

    >>> bool(transfer_function([0.0])[0] == 0.0)
    True
    >>> bool(transfer_function([0.0], dps=30)[0] < 1e-50)
    True
    >>> bool(abs(transfer_function([1.0])[0] - 1) < 1e-2)
    True
    """
    lam = check_spectrum(lam)
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    if schedule is None:
        schedule = linear_schedule(T, beta_min, beta_max)
    if dps is not None:
        if int(dps) < 15:
            raise ValueError(f"dps must be an integer >= 15, got {dps!r}")
        return _transfer_mp(lam, schedule, c, tau, int(dps))
    return transfer_from_schedule(lam, schedule, c=c, tau=tau)


@lru_cache(maxsize=64)
def transfer_interpolant(*, c=0.0, tau=None, T=1000, beta_min=1e-4, beta_max=1e-2,
                         rtol=1e-10):
    """Cached :class:`~numerics.tabulate.SpectralTable` of the transfer f(λ; c, τ, T).

    The Monte Carlo engine evaluates the same scalar f at d eigenvalues of every one of
    many datasets; the exact recursion costs T operations per eigenvalue, more than the
    eigen-decomposition itself, the table O(degree).


    Keyed by the parameters, so every dataset and claim with the same model shares one
    table.  Accurate to ``rtol`` relative to :func:`transfer_function` (checked on build).
    """
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    schedule = linear_schedule(T, beta_min, beta_max)
    return SpectralTable(lambda x: transfer_from_schedule(x, schedule, c=c, tau=tau), rtol=rtol)


@lru_cache(maxsize=None)
def _continuous_callable():
    return sp.lambdify((lam, alpha_bar_T), continuous_transfer(), "numpy")


def continuous_transfer_function(lam, alpha_bar_T_value):
    """f_∞(λ) of :func:`theory.continuous.continuous_transfer` (c = 0, τ = ∞), float64."""
    lam = check_spectrum(lam)
    return _continuous_callable()(lam, float(alpha_bar_T_value))


def continuous_alpha_bar_T(T, beta_min, beta_max):
    """ᾱ_T of the VP-SDE that the linear schedule discretises: exp(−T(β_min + β_max)/2).

    The schedule β̄(s) = T(β_min + (β_max − β_min)s) on s ∈ [0, 1] integrates to
    T(β_min + β_max)/2; the discrete Π(1 − β_t) differs from it by O(1/T).
    """
    return float(np.exp(-T * (beta_min + beta_max) / 2))
