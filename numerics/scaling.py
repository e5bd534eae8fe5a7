r"""N < d for power-law spectra: numbers for :mod:`theory.scaling` (issue 5, item 3).

Contents
--------
missing_variance            V = Σ_jλ_jκ₀/(λ_j+κ₀) = Nκ₀ (deterministic equivalent)
null_direction_variance     s̄₀ = V/(d − N), the mean variance of a null direction
fit_exponent                log-log least-squares slope with its standard error
powerlaw_kappa0             the derived κ₀ of :mod:`theory.scaling` at given (d, N, k)
ridge_losses                summed train/test/gap of the ridge model through κ(ζ)
target_kl                   E[KL] of the trained sampler against the target N(0, Σ)
null_space_kl_bound         min over f₀ of the null-space part of that KL (a floor)
null_space_ridge, null_space_stopping   the null-space predictions of c*, τ*
optimal_ridge, optimal_stopping         c*, τ* minimising test loss or KL
hierarchy_table, format_table           k ∈ {0, 1, 2} × q grid at d = 200

Conventions: totals over the d directions and, for losses, over the T steps
(DESIGN.md); divide by d for per-dimension values (the table does).  All objectives
are the deterministic equivalents of :mod:`numerics.proportional`: they carry its
relative O(1/d) finite-size error, not Monte Carlo noise.

Minimiser (:func:`optimal_ridge`, :func:`optimal_stopping`)
-----------------------------------------------------------
In y = log c (or log τ): from a guess (the null-space prediction when q > 1), step by
half a decade downhill until the minimum is bracketed, then Brent's method
(parabolic steps with golden-section fallback) to |Δy| ≤ ``xtol`` (default 2·10⁻³,
i.e. c* to 0.2 %).  Ends of the search range: c → 0 is compared with c = 0 exactly
and τ → ∞ with τ = ∞ (``tau=None``); an optimum there is reported with
``boundary`` set.  Non-finite objective values (the KL at c = 0 for N < d) count as
+∞.  About 8–20 objective evaluations per optimum (measured).
"""

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp

from theory import proportional as TP
from theory import scaling as TS
from theory.symbols import alpha_bar as _ab_sym, c as _c_sym, lam as _lam_sym

from .denoiser import denoiser_eigenvalues
from .losses import compiled_loss
from .proportional import deterministic_kl, kappa as _kappa, kappa0 as _kappa0, \
    lsd_quadrature, null_space_weights, proportional_losses
from .schedule import linear_schedule
from .spectra import power_law_spectrum
from .transfer import transfer_function
from .validation import (check_choice, check_count, check_nonnegative, check_positive_spectrum,
                         check_tau)

__all__ = [
    "missing_variance", "null_direction_variance", "PowerFit", "fit_exponent",
    "powerlaw_kappa0", "ridge_losses", "population_test_loss", "target_kl",
    "null_space_kl_bound", "null_space_ridge", "null_space_stopping", "Optimum",
    "optimal_ridge", "optimal_stopping", "hierarchy_table", "format_table",
]

_OBJECTIVES = ("test", "forward_kl", "reverse_kl")


# ---------------------------------------------------------------------------------
# missing variance and exponents


def missing_variance(lam, N):
    r"""V = Σ_j λ_jκ₀/(λ_j + κ₀) = E Tr(P₀Σ): population variance outside the span of
    the training set (deterministic equivalent, :func:`theory.scaling.missing_variance_identity`).

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1

    Returns
    -------
    float
        Nκ₀ (total, not per dimension); 0 for N ≥ d (no null space).

    Examples
    --------
    Isotropic: V = d − N.

    >>> round(missing_variance([1.0] * 30, 10), 10)
    20.0
    """
    lam = check_positive_spectrum(lam)
    N = check_count(N, "N")
    return float(_identity_callable()(N, _kappa0(lam, N)))


@lru_cache(maxsize=None)
def _identity_callable():
    return sp.lambdify((TS.N, TP.kappa0), TS.missing_variance_identity(), "math")


def null_direction_variance(lam, N):
    r"""s̄₀ = V/(d − N): mean population variance along a null direction of Σ̂ (N < d)."""
    lam = check_positive_spectrum(lam)
    N = check_count(N, "N")
    if N >= lam.size:
        raise ValueError(f"N must be < d = {lam.size} (a null space), got {N}")
    return missing_variance(lam, N) / (lam.size - N)


@dataclass(frozen=True)
class PowerFit:
    """values ≈ prefactor · N^exponent, fitted in log-log by least squares.

    stderr is the usual OLS standard error of the slope (residual variance with n − 2
    degrees of freedom); for deterministic values it measures curvature of the
    log-log curve (departure from a pure power), not noise.
    """

    exponent: float
    stderr: float
    prefactor: float
    rms: float
    n: int


def fit_exponent(Ns, values):
    r"""Least-squares slope of log(values) against log(N).

    Parameters
    ----------
    Ns : array_like, > 0, at least 3 distinct
    values : array_like, > 0, same length

    Returns
    -------
    PowerFit

    Examples
    --------
    >>> fit = fit_exponent([10, 20, 40], [1.0, 0.25, 0.0625])
    >>> round(fit.exponent, 12), round(fit.prefactor, 10)
    (-2.0, 100.0)
    """
    Ns = np.asarray(Ns, dtype=float)
    values = np.asarray(values, dtype=float)
    if Ns.ndim != 1 or Ns.shape != values.shape:
        raise ValueError(f"Ns and values must be 1-D of equal length, got shapes "
                         f"{Ns.shape} and {values.shape}")
    if not (np.isfinite(Ns).all() and (Ns > 0).all()):
        raise ValueError("Ns must be finite reals > 0")
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError("values must be finite reals > 0")
    if np.unique(Ns).size < 3:
        raise ValueError(f"Ns must hold at least 3 distinct values, got {np.unique(Ns).size}")
    x, y = np.log(Ns), np.log(values)
    xm = x - x.mean()
    slope = float(np.sum(xm * (y - y.mean())) / np.sum(xm**2))
    intercept = float(y.mean() - slope * x.mean())
    resid = y - (intercept + slope * x)
    dof = x.size - 2
    s2 = float(np.sum(resid**2) / dof) if dof > 0 else 0.0
    stderr = float(np.sqrt(s2 / np.sum(xm**2)))
    return PowerFit(slope, stderr, float(np.exp(intercept)), float(np.sqrt(np.mean(resid**2))),
                    int(x.size))


@lru_cache(maxsize=None)
def _steep_callables():
    out = TS.steep_asymptotics()
    I_k = sp.lambdify(TS.k, out["I_k"], "math")
    kappa0_over_C = sp.lambdify((TS.N, TS.k), out["kappa0_over_C"], "math")
    eq = TS.steep_corrected_equation()
    rhs = sp.lambdify((TS.jstar, TS.d, TS.k), eq.rhs, "math")
    return I_k, kappa0_over_C, rhs


@lru_cache(maxsize=None)
def _occupation_callable():
    eq = TS.occupation_equation()
    J = TS.occupation_integral(form="hyper")
    lhs = sp.lambdify((TS.N, TS.b), eq.lhs, "mpmath")
    J_fn = sp.lambdify((TS.b, TS.k), J, "mpmath")
    J0 = sp.lambdify(TS.b, TS.occupation_integral(0), "mpmath")
    return lhs, J_fn, J0


def powerlaw_kappa0(d, N, k, *, order="integral"):
    r"""κ₀ for λ = :func:`numerics.spectra.power_law_spectrum` (d, k) predicted by
    :mod:`theory.scaling`.

    Parameters
    ----------
    d, N : int, 1 ≤ N < d
    k : float ≥ 0
    order : {"integral", "steep", "steep_corrected"}
        "integral": root b of the occupation equation
        N + ½ − 1/(2(1+b)) = d J_k(b) (mpmath, closed-form J), κ₀ = λ_d b, with the
        exact λ_d of the spectrum; any k ≥ 0.
        "steep": the leading law κ₀ = C(I_k/N)^k, C = λ₁ exact (k > 1).
        "steep_corrected": κ₀ = C j*^(−k), j* the root of
        N + ½ = I_k j* − j*^k d^(1−k)/(k−1) (k > 1; bisection).

    Returns
    -------
    float
    """
    d = check_count(d, "d")
    N = check_count(N, "N")
    if N >= d:
        raise ValueError(f"N must be < d = {d}, got {N}")
    k = float(k)
    if not np.isfinite(k) or k < 0:
        raise ValueError(f"k must be a finite real >= 0, got {k!r}")
    lam = power_law_spectrum(d, k)
    if order == "integral":
        lhs, J_fn, J0 = _occupation_callable()
        if k == 0:
            def J(bb):
                return J0(bb)
        else:
            def J(bb):
                return J_fn(bb, mpmath.mpf(k))
        if k == 0:  # g constant: the Riemann sum is exact, no boundary terms
            return float(_integral_root(lambda bb: N - d * J(bb), d, N) * lam[-1])
        return float(_integral_root(lambda bb: lhs(N, bb) - d * J(bb), d, N) * lam[-1])
    if k <= 1:
        raise ValueError(f"k must be > 1 for order={order!r}, got {k}")
    I_k, kappa0_over_C, rhs = _steep_callables()
    if order == "steep":
        return float(lam[0] * kappa0_over_C(N, k))
    if order == "steep_corrected":
        # rhs(j*) − N − ½ is increasing on (0, j_max) where its derivative vanishes
        j_max = (I_k(k) * d ** (k - 1) * (k - 1) / k) ** (1 / (k - 1))
        lo, hi = 1e-12, j_max
        if rhs(hi, d, k) < N + 0.5:
            raise ValueError(f"the corrected equation has no root: N = {N} too close to d = {d}"
                             f" for k = {k} (need N + 1/2 < {rhs(hi, d, k):.4g})")
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if rhs(mid, d, k) < N + 0.5:
                lo = mid
            else:
                hi = mid
        return float(lam[0] * (0.5 * (lo + hi)) ** (-k))
    raise ValueError(f"order must be 'integral', 'steep' or 'steep_corrected', got {order!r}")


def _integral_root(g, d, N):
    """Root b > 0 of g(b) = lhs − d·J(b) (increasing in b: J decreases), bracketed."""
    lo, hi = mpmath.mpf(0), mpmath.mpf(1)
    while g(hi) < 0:
        lo, hi = hi, hi * 4
        if hi > mpmath.mpf(10) ** 300:
            raise ArithmeticError(f"no root of the occupation equation for d = {d}, N = {N}")
    return mpmath.findroot(g, (lo, hi), solver="anderson")


# ---------------------------------------------------------------------------------
# ridge losses through κ(ζ)


@lru_cache(maxsize=None)
def _ridge_loss_callables():
    out = TS.ridge_step_losses()
    args = (TP.kappa, TS.kappa_prime, TP.zeta, TS.N, TS.d, _ab_sym)
    fns = {key: sp.lambdify(args, out[key], "numpy") for key in ("train", "test", "gap")}
    (total,) = TS.kappa_derivative().atoms(sp.Sum)
    summand = total.function.subs(TP.lam_pop[TP.j], _lam_sym)
    sum_fn = sp.lambdify((_lam_sym, TP.kappa), summand, "numpy")
    outer = TS.kappa_derivative().subs(total, sp.Symbol("S_"))
    outer_fn = sp.lambdify((sp.Symbol("S_"), TS.N), outer, "numpy")
    zeta_fn = sp.lambdify((_ab_sym, _c_sym), out["zeta"], "numpy")
    return fns, sum_fn, outer_fn, zeta_fn


def ridge_losses(lam, N, *, c=0.0, T=1000, t="sum"):
    r"""Train, test loss and gap of the ridge model (τ = ∞) through κ(ζ_t).

    :func:`theory.scaling.ridge_step_losses` with ζ_t = (1 − ᾱ_t + c)/ᾱ_t, κ(ζ_t)
    from :func:`numerics.proportional.kappa` and κ′ from
    :func:`theory.scaling.kappa_derivative`.  The same deterministic equivalent as
    :func:`numerics.proportional.proportional_losses` by a different route (no
    spectral density, no overlaps); tests check that the two agree.  Valid for every q.

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    N : int ≥ 1
    c : float ≥ 0
    T : int ≥ 1
    t : "sum" or int in 1..T

    Returns
    -------
    dict of float: "train", "test", "gap"
    """
    lam = check_positive_spectrum(lam)
    N = check_count(N, "N")
    c = check_nonnegative(c, "c")
    T = check_count(T, "T")
    schedule = linear_schedule(T)
    if isinstance(t, str):
        if t != "sum":
            raise ValueError(f"t must be an integer in [1, T={T}] or 'sum', got {t!r}")
        steps = np.arange(T)
    else:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= T:
            raise ValueError(f"t must be an integer in [1, T={T}] or 'sum', got {t!r}")
        steps = np.array([t - 1])
    fns, sum_fn, outer_fn, zeta_fn = _ridge_loss_callables()
    ab = schedule.alpha_bar[steps]
    zeta = (schedule.one_minus_alpha_bar[steps] + c) / ab  # cancellation-free 1 − ᾱ
    kap = np.atleast_1d(_kappa(zeta, lam, N))
    S = np.sum(sum_fn(lam[None, :], kap[:, None]), axis=1)
    kp = outer_fn(S, N)
    out = {key: float(np.sum(fn(kap, kp, zeta, N, lam.size, ab))) for key, fn in fns.items()}
    return out


def population_test_loss(lam, *, T=1000):
    r"""Σ_t Σ_j ℓ(w_t(λ_j); λ_j): the test loss of the infinite-data minimiser
    (c = 0, τ = ∞), the floor every trained model's test loss sits above."""
    lam = check_positive_spectrum(lam)
    schedule = linear_schedule(check_count(T, "T"))
    omab = schedule.one_minus_alpha_bar[:, None]
    w_pop = denoiser_eigenvalues(lam[None, :], omab)
    return float(np.sum(compiled_loss()(w_pop, lam[None, :], schedule.alpha_bar[:, None])))


# ---------------------------------------------------------------------------------
# KL against the target


def _reference_function(reference, T):
    """g(λ) of the reference law: the target λ, the unregularised optimum, or a callable."""
    if callable(reference):
        return reference
    if reference == "optimum":
        return lambda x: transfer_function(x, T=T)
    return lambda x: np.asarray(x, dtype=float)


def _reference_variances(lam, reference, T):
    if callable(reference):
        g = np.asarray(reference(lam), dtype=float)
    elif reference == "target":
        g = lam.copy()
    elif reference == "optimum":
        g = transfer_function(lam, T=T)
    else:
        raise ValueError(f"reference must be 'target', 'optimum' or a callable, got {reference!r}")
    if g.shape != lam.shape or not (np.isfinite(g).all() and (g > 0).all()):
        raise ValueError("reference variances must be finite and > 0, one per eigenvalue")
    return g


def target_kl(lam, N, *, c=0.0, tau=None, T=1000, direction="forward", reference="target",
              rule=None):
    r"""Deterministic-equivalent E[KL] between the trained sampler and a fixed reference.

    The sampling law is N(0, U f(Λ̂) Uᵀ), f = :func:`numerics.transfer.transfer_function`
    (c, τ, T); the reference is N(0, V diag(g) Vᵀ) with g = λ (``"target"``: the data
    distribution N(0, Σ)), g = f_{c=0,τ=∞}(λ) (``"optimum"``: the unregularised
    infinite-data model) or g = ``reference(λ)``.  Evaluated by
    :func:`numerics.proportional.deterministic_kl` with this reference: with O_ij the
    Ledoit–Péché overlap and, for q > 1, the null-space weights κ₀/(λ_j + κ₀),

    .. math:: \mathrm{KL}_{\rm fwd} = \tfrac12\sum_{i,j}O_{ij}\,k\big(f(\hat\lambda_i)/g_j\big),
              \quad k(r) = r - 1 - \log r,

    (reverse: r → 1/r).  Unlike :func:`numerics.proportional.proportional_kl`, whose
    reference f_{c,τ}(Σ) moves with c and τ (so that KL → 0 as c → ∞ trivially), this
    reference is fixed, so the KL can be minimised over c and τ.  With
    ``reference=lambda l: transfer_function(l, c=c, tau=tau, T=T)`` it reproduces
    proportional_kl (tested).

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    N : int ≥ 1
    c : float ≥ 0; tau : float ≥ 0 or None; T : int ≥ 1
    direction : {"forward", "reverse"}
    reference : {"target", "optimum"} or callable
    rule : LSDQuadrature, optional
        A precomputed :func:`numerics.proportional.lsd_quadrature` (lam, N) to reuse.

    Returns
    -------
    float
        Total KL in nats; +inf when f(0) = 0 with N < d (c = 0, τ = ∞).
    """
    lam = check_positive_spectrum(lam)
    N = check_count(N, "N")
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    T = check_count(T, "T")
    _reference_variances(lam, reference, T)  # validates the reference

    def f(x):
        return transfer_function(x, c=c, tau=tau, T=T)
    return deterministic_kl(lam, N, f, direction=direction,
                            reference=_reference_function(reference, T), rule=rule)


def _numeric_sums(expr, arrays):
    """Evaluate an expression whose only non-scalar parts are Sums over j of
    IndexedBase entries, given {IndexedBase name: ndarray}."""
    values = {}
    for total in expr.atoms(sp.Sum):
        summand = total.function
        symbols, data = [], []
        for idx in summand.atoms(sp.Indexed):
            sym = sp.Symbol(f"_{idx.base.name}")
            summand = summand.subs(idx, sym)
            symbols.append(sym)
            data.append(arrays[idx.base.name])
        values[total] = float(np.sum(sp.lambdify(symbols, summand, "numpy")(*data)))
    return expr.subs(values)


def null_space_kl_bound(lam, N, *, direction="forward", reference="target", T=1000):
    r"""min over f₀ of the null-space part of :func:`target_kl` (q > 1): a lower bound
    on the KL at every c and τ, from :func:`theory.scaling.null_space_kl_optimum`.

    Returns
    -------
    (f0_star, bound) : floats
        The best null variance (harmonic resp. arithmetic p-weighted mean of g) and
        the bound (total nats).
    """
    lam = check_positive_spectrum(lam)
    N = check_count(N, "N")
    if N >= lam.size:
        raise ValueError(f"N must be < d = {lam.size} (a null space), got {N}")
    g = _reference_variances(lam, reference, check_count(T, "T"))
    p = null_space_weights(lam, N)
    f_star_expr, minimum = TS.null_space_kl_optimum(direction)
    arrays = {"p": p, "g": g}
    f_star = float(_numeric_sums(f_star_expr, arrays))
    bound = float(_numeric_sums(minimum.subs(TS.f0, f_star), arrays))
    return f_star, bound


# ---------------------------------------------------------------------------------
# null-space predictions of c* and τ*


@lru_cache(maxsize=None)
def _null_weight():
    return sp.lambdify((_ab_sym, _c_sym), TS.null_space_ridge_fixed_point(), "numpy")


def null_space_ridge(lam, N, *, T=1000, iterations=200):
    r"""The null-space prediction of the optimal ridge: the fixed point
    c = s̄₀ Σ_tω_t(c)ᾱ_t/Σ_tω_t(c) of :func:`theory.scaling.null_space_ridge_fixed_point`
    (q > 1), iterated from c = s̄₀ (a contraction: the weighted mean of ᾱ changes
    slowly with c).  For s̄₀ ≪ 1 it tends to s̄₀ (:func:`theory.scaling.continuum_optimal_ridge`).
    """
    sbar = null_direction_variance(lam, N)
    schedule = linear_schedule(check_count(T, "T"))
    weight = _null_weight()
    ab = schedule.alpha_bar
    cc = sbar
    for _ in range(iterations):
        om = weight(ab, cc)
        new = sbar * np.sum(om * ab) / np.sum(om)
        if abs(new - cc) <= 1e-13 * cc:
            return float(new)
        cc = new
    raise ArithmeticError(f"null-space ridge fixed point did not converge (last c = {cc})")


def null_space_stopping(lam, N, *, T=1000):
    r"""τ minimising the summed null-space test loss (c = 0, gradient flow), from
    :func:`theory.scaling.null_space_step_losses`; compare the continuum law
    τ* ≈ α/(2(2^α − 1)s̄₀) (:func:`theory.scaling.continuum_optimal_stopping`)."""
    sbar = null_direction_variance(lam, N)
    schedule = linear_schedule(check_count(T, "T"))
    ab = schedule.alpha_bar
    omab = schedule.one_minus_alpha_bar

    def objective(tau):
        # ℓ(w_t(0; τ); s̄₀) with the overflow-free w of numerics.denoiser (the same
        # expression as theory.scaling.null_space_step_losses, evaluated stably)
        w0 = denoiser_eigenvalues(np.zeros(1), omab[:, None], tau=tau)[:, 0]
        return float(np.sum(compiled_loss()(w0, sbar, ab)))

    opt = _minimise_log(objective, 1.0 / sbar, lower=1e-6 / sbar, upper=1e8 / sbar,
                        at_lower=None, at_upper=None, xtol=1e-4)
    return opt.argmin


# ---------------------------------------------------------------------------------
# the minimiser


@dataclass(frozen=True)
class Optimum:
    """Result of :func:`optimal_ridge` / :func:`optimal_stopping`.

    Attributes
    ----------
    argmin : float
        c* or τ* (0.0 for c* = 0, inf for τ* = ∞).
    value : float
        The objective there.
    bracket : tuple of float
        Final bracket (lo, hi) of the argmin (equal to (argmin, argmin) at a boundary).
    evaluations : int
    boundary : str or None
        None (interior), "zero" (c* = 0), "infinity" (τ* = ∞), or "lower"/"upper"
        (the search range's end, where the objective was still decreasing).
    """

    argmin: float
    value: float
    bracket: tuple
    evaluations: int
    boundary: object = None


_GOLDEN = 0.3819660112501051


def _brent(f, a, b, x, fx, xtol, maxiter=200):
    """Brent's minimisation on [a, b] ∋ x with f(x) ≤ f(a), f(b) (Brent 1973, ch. 5)."""
    v = w = x
    fv = fw = fx
    d = e = 0.0
    for _ in range(maxiter):
        m = 0.5 * (a + b)
        tol1 = xtol
        tol2 = 2.0 * tol1
        if abs(x - m) <= tol2 - 0.5 * (b - a):
            break
        parabolic = False
        if abs(e) > tol1 and np.isfinite([fx, fw, fv]).all():
            r = (x - w) * (fx - fv)
            qq = (x - v) * (fx - fw)
            p = (x - v) * qq - (x - w) * r
            qq = 2.0 * (qq - r)
            if qq > 0:
                p = -p
            qq = abs(qq)
            if abs(p) < abs(0.5 * qq * e) and qq * (a - x) < p < qq * (b - x):
                e, d = d, p / qq
                parabolic = True
                if (x + d) - a < tol2 or b - (x + d) < tol2:
                    d = tol1 if m > x else -tol1
        if not parabolic:
            e = (a - x) if x >= m else (b - x)
            d = _GOLDEN * e
        u = x + (d if abs(d) >= tol1 else (tol1 if d > 0 else -tol1))
        fu = f(u)
        if fu <= fx:
            if u >= x:
                a = x
            else:
                b = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu
    return x, fx, a, b


def _minimise_log(objective, guess, *, lower, upper, at_lower, at_upper, xtol,
                  step=0.5 * np.log(10.0)):
    """Minimise objective(exp(y)) over y ∈ [log lower, log upper]; see module docstring.

    ``at_lower``/``at_upper`` are (argmin, value-callable) for the exact end values
    (c = 0, τ = ∞) or None.
    """
    count = [0]
    cache = {}

    def f(y):
        if y not in cache:
            count[0] += 1
            value = float(objective(float(np.exp(y))))
            if np.isnan(value):
                raise ArithmeticError(f"objective is NaN at {np.exp(y)!r}")
            cache[y] = value if np.isfinite(value) else np.inf
        return cache[y]

    ylo, yhi = np.log(lower), np.log(upper)
    y = float(np.clip(np.log(guess), ylo + step, yhi - step))
    left, mid, right = y - step, y, y + step
    while True:
        fl, fm, fr = f(left), f(mid), f(right)
        if fm <= fl and fm <= fr:
            break
        if fl < fm:  # downhill to the left
            if left - step < ylo:
                return _end(f, left, ylo, at_lower, "lower", count)
            left, mid, right = left - step, left, mid
        else:
            if right + step > yhi:
                return _end(f, right, yhi, at_upper, "upper", count)
            left, mid, right = mid, right, right + step
    x, fx, a, b = _brent(f, left, right, mid, fm, xtol)
    return Optimum(float(np.exp(x)), float(fx), (float(np.exp(a)), float(np.exp(b))),
                   count[0])


def _end(f, y_last, y_end, exact, name, count):
    """Optimum at an end of the range: compare the last point with the exact end."""
    y = y_end
    fy = f(y)
    if f(y_last) < fy:
        y, fy = y_last, f(y_last)
    if exact is not None:
        at, value_fn = exact
        value = float(value_fn())
        count[0] += 1
        if value <= fy:
            return Optimum(at, value, (at, at), count[0], "zero" if at == 0 else "infinity")
    return Optimum(float(np.exp(y)), float(fy), (float(np.exp(y)), float(np.exp(y))),
                   count[0], name)


def _objective(lam, N, objective, *, t, T, reference):
    check_choice(objective, "objective", _OBJECTIVES)
    if objective == "test":
        if not (isinstance(t, str) and t == "sum"):
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= T:
                raise ValueError(f"t must be an integer in [1, T={T}] or 'sum', got {t!r}")

        def fun(c, tau):
            if tau is None:  # the κ(ζ) route: same equivalent, ~10× faster (tested)
                return ridge_losses(lam, N, c=c, T=T, t=t)["test"]
            return proportional_losses(lam, N, t, c=c, tau=tau, T=T)["test"]
        return fun
    rule = lsd_quadrature(lam, N)
    direction = objective.split("_")[0]

    def fun(c, tau):
        return target_kl(lam, N, c=c, tau=tau, T=T, direction=direction,
                         reference=reference, rule=rule)
    return fun


def _guess_scale(lam, N):
    """s̄₀ for q > 1 (the null-space scale of c*), else mean λ/10."""
    if N < lam.size:
        return null_direction_variance(lam, N)
    return float(np.mean(lam)) / 10


def optimal_ridge(lam, N, *, objective="test", t="sum", tau=None, T=1000,
                  reference="target", xtol=2e-3, c_range=(1e-10, 1e4)):
    r"""The ridge c* ≥ 0 minimising a deterministic-equivalent objective.

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    N : int ≥ 1
    objective : {"test", "forward_kl", "reverse_kl"}
        "test": expected test loss (:func:`numerics.proportional.proportional_losses`,
        summed over t by default); "forward_kl"/"reverse_kl": :func:`target_kl` against
        ``reference`` (the target by default; :func:`numerics.proportional.proportional_kl`
        is no objective: its reference moves with c and it falls to 0 as c → ∞).
    t : "sum" or int in 1..T
        Step of the test loss (ignored for the KL).
    tau : float ≥ 0 or None
        Training time held fixed while c varies.
    T : int ≥ 1
    reference : as in :func:`target_kl`
    xtol : float > 0
        Tolerance on log c (see the module docstring).
    c_range : (float, float)
        Search range in units of mean λ; below it c = 0 is tried exactly.

    Returns
    -------
    Optimum
    """
    lam = check_positive_spectrum(lam)
    N = check_count(N, "N")
    tau = check_tau(tau)
    T = check_count(T, "T")
    xtol = _check_positive(xtol, "xtol")
    lo, hi = _check_range(c_range, "c_range")
    fun = _objective(lam, N, objective, t=t, T=T, reference=reference)
    scale = float(np.mean(lam))
    guess = _guess_scale(lam, N)
    return _minimise_log(lambda cc: fun(cc, tau), guess, lower=lo * scale, upper=hi * scale,
                         at_lower=(0.0, lambda: fun(0.0, tau)), at_upper=None, xtol=xtol)


def optimal_stopping(lam, N, *, objective="test", t="sum", c=0.0, T=1000,
                     reference="target", xtol=2e-3, tau_range=(1e-3, 1e9)):
    r"""The gradient-flow training time τ* > 0 minimising a deterministic-equivalent
    objective (see :func:`optimal_ridge` for ``objective``, ``t``, ``reference``).

    τ → ∞ is compared with τ = ∞ (the ridge minimiser) exactly; ``tau_range`` is in
    units of 1/mean λ.

    Returns
    -------
    Optimum
        argmin = inf with boundary "infinity" when training to convergence is best.
    """
    lam = check_positive_spectrum(lam)
    N = check_count(N, "N")
    c = check_nonnegative(c, "c")
    T = check_count(T, "T")
    xtol = _check_positive(xtol, "xtol")
    lo, hi = _check_range(tau_range, "tau_range")
    fun = _objective(lam, N, objective, t=t, T=T, reference=reference)
    scale = 1.0 / float(np.mean(lam))
    guess = 1.0 / _guess_scale(lam, N)
    return _minimise_log(lambda tt: fun(c, tt), guess, lower=lo * scale, upper=hi * scale,
                         at_lower=None, at_upper=(float("inf"), lambda: fun(c, None)),
                         xtol=xtol)


def _check_positive(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real > 0, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite real > 0, got {value!r}")
    return v


def _check_range(value, name):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi) with 0 < lo < hi, got {value!r}") \
            from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"{name} must be a pair (lo, hi) with 0 < lo < hi, got {value!r}")
    return lo, hi


# ---------------------------------------------------------------------------------
# the hierarchy table


def hierarchy_table(d=200, ks=(0, 1, 2), qs=(0.5, 1, 2, 4, 10), *, T=1000, kl=True):
    r"""Does a hierarchical spectrum help?  One row per (k, q), N = round(d/q).

    Columns (all deterministic equivalents; "/d" = per dimension; losses summed over
    the T steps):

    ============  ================================================================
    V/d           missing variance fraction (0 for q ≤ 1)
    gap0/d        test − train loss at c = 0, τ = ∞
    excess0/d     test loss − population test loss (:func:`population_test_loss`)
                  at c = 0, τ = ∞
    c_test        optimal ridge for the test loss; excess_c/d there
    c_null        null-space prediction of c_test (:func:`null_space_ridge`; None
                  for q ≤ 1, where there is no null space)
    tau_test      optimal training time for the test loss (c = 0); excess_tau/d
    c_fkl         ridge minimising the forward KL to the target; fkl/d there
    fkl_null/d    the null-space floor (:func:`null_space_kl_bound`, forward) at q
    c_rkl, rkl/d  the same for the reverse KL
    ============  ================================================================

    Parameters
    ----------
    d : int ≥ 2
    ks : iterable of float ≥ 0
    qs : iterable of float > 0 (N = round(d/q) must be ≥ 1)
    T : int ≥ 1
    kl : bool
        Include the KL columns (about half the run time).

    Returns
    -------
    list of dict
    """
    d = check_count(d, "d", 2)
    rows = []
    for kv in ks:
        lam = power_law_spectrum(d, kv)
        pop = population_test_loss(lam, T=T)
        for qv in qs:
            qv = float(qv)
            if not np.isfinite(qv) or qv <= 0:
                raise ValueError(f"qs must be finite reals > 0, got {qv!r}")
            N = int(round(d / qv))
            if N < 1:
                raise ValueError(f"q = {qv} gives N = {N} < 1 at d = {d}")
            row = {"k": float(kv), "q": qv, "N": N}
            row["V/d"] = missing_variance(lam, N) / d
            L0 = proportional_losses(lam, N, "sum", T=T)
            row["gap0/d"] = (L0["test"] - L0["train"]) / d
            row["excess0/d"] = (L0["test"] - pop) / d
            opt_c = optimal_ridge(lam, N, T=T)
            row["c_test"] = opt_c.argmin
            row["excess_c/d"] = (opt_c.value - pop) / d
            row["c_null"] = null_space_ridge(lam, N, T=T) if N < d else None
            opt_t = optimal_stopping(lam, N, T=T)
            row["tau_test"] = opt_t.argmin
            row["excess_tau/d"] = (opt_t.value - pop) / d
            if kl:
                fk = optimal_ridge(lam, N, objective="forward_kl", T=T)
                row["c_fkl"], row["fkl/d"] = fk.argmin, fk.value / d
                row["fkl_null/d"] = (null_space_kl_bound(lam, N, T=T)[1] / d if N < d
                                     else 0.0)
                rk = optimal_ridge(lam, N, objective="reverse_kl", T=T)
                row["c_rkl"], row["rkl/d"] = rk.argmin, rk.value / d
            rows.append(row)
    return rows


def format_table(rows):
    """Plain-text rendering of :func:`hierarchy_table` rows (4 significant digits)."""
    if not rows:
        return ""
    keys = list(rows[0])
    width = {key: max(len(key), 10) for key in keys}
    lines = ["  ".join(key.rjust(width[key]) for key in keys)]
    for row in rows:
        cells = []
        for key in keys:
            value = row[key]
            if value is None:
                text = "-"
            elif isinstance(value, int):
                text = f"{value:d}"
            else:
                text = f"{value:.4g}"
            cells.append(text.rjust(width[key]))
        lines.append("  ".join(cells))
    return "\n".join(lines)
