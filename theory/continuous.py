"""The continuous-time (T → ∞, VP-SDE) limit of the spectral transfer.

With β_t = β̄(t/T)/T the DDPM variance recursion becomes an ODE.  Measured in the
variable a = ᾱ (which decreases along the forward process), one step moves
a → a/(1 − β) and v → a_t² v + β, so

    dv/da = lim_{β→0} Δv/Δa = (v (1 − 2 r(a)) + 1) / a,          r = w/√(1 − a),

independent of the schedule: the schedule enters only through a_T = ᾱ_T, where the
sampler starts at v = 1 (N(0, I)) rather than at the true marginal variance
m(a_T) = a_T λ + 1 − a_T.  The sample variance is f(λ) = v(a = 1).

Contents
--------
variance_ode            dv/da, derived as the limit of the discrete step
continuous_transfer     f_∞(λ) in closed form for the ridge-free minimiser (dsolve)
start_correction        f_∞(λ) − λ: the price of starting at N(0, I)
local_error_order       order in β of one step's deviation from the ODE flow (series)
"""

from functools import lru_cache

import sympy as sp

from .certify import nonzero_at_a_rational_point
from .model import variance_step
from .symbols import alpha_bar, alpha_bar_T, beta, c, lam, v

__all__ = ["variance_ode", "continuous_transfer", "start_correction", "local_error_order"]


@lru_cache(maxsize=None)
def variance_ode(kind="ridge"):
    r"""Right-hand side F(ᾱ, v) of dv/dᾱ in the continuous-time limit.

    Derived as :math:`\lim_{\beta\to0} (v_{t-1} - v_t)/(\bar\alpha_{t-1} - \bar\alpha_t)`
    with v_{t−1} from :func:`theory.model.variance_step` and ᾱ_{t−1} = ᾱ_t/(1 − β_t):

    .. math:: \frac{dv}{d\bar\alpha} = \frac{v\,(1 - 2r) + 1}{\bar\alpha},\qquad
              r = \frac{w}{\sqrt{1-\bar\alpha}}.

    Valid for any denoiser ``kind`` (τ, c enter through r).  The true marginal variance
    m = ᾱλ + 1 − ᾱ solves it when c = 0, τ = ∞ (tests check this).

    The 0/0 limit is taken by L'Hôpital's rule: numerator and denominator are analytic
    in β at 0, both vanish there (checked) and the denominator's derivative is ᾱ ≠ 0.
    """
    increment = variance_step(kind) - v
    alpha_increment = alpha_bar / (1 - beta) - alpha_bar
    if sp.cancel(increment.subs(beta, 0)) != 0 or sp.cancel(alpha_increment.subs(beta, 0)) != 0:
        raise ArithmeticError("the step's increments do not vanish at β = 0")
    slope = sp.cancel(sp.diff(alpha_increment, beta).subs(beta, 0))
    if slope == 0:
        raise ArithmeticError("L'Hôpital: the ᾱ increment has zero slope at β = 0")
    return sp.factor(sp.diff(increment, beta).subs(beta, 0) / slope)


@lru_cache(maxsize=None)
def continuous_transfer():
    r"""Closed-form f_∞(λ) for the exact minimiser (c = 0, τ = ∞), by ``dsolve``.

    Solves dv/dᾱ = F(ᾱ, v) from v(ᾱ_T) = 1 and evaluates at ᾱ = 1:

    .. math:: f_\infty(\lambda) = \lambda - \frac{\bar\alpha_T^2\lambda^2(\lambda - 1)}
              {(1 + \bar\alpha_T(\lambda - 1))^2}

    Regime: T → ∞ at fixed ∫β̄ (so ᾱ_T fixed); the discrete sampler approaches it
    like 1/T (:func:`local_error_order`).  For c > 0 or τ < ∞ the ODE has no elementary
    solution that sympy finds; numerics integrates :func:`variance_ode` instead.

    Examples
    --------
    Isotropic data are reproduced exactly (the start N(0, I) is the true marginal),
    and ᾱ_T → 0 (the forward process reaches pure noise) gives the identity:

    >>> from theory.symbols import lam, alpha_bar_T
    >>> continuous_transfer().subs(lam, 1)
    1
    >>> continuous_transfer().subs(alpha_bar_T, 0)
    lambda
    """
    a = sp.Symbol("a", positive=True)
    vf = sp.Function("v")
    rhs = variance_ode("ridge").subs(c, 0).subs({v: vf(a), alpha_bar: a})
    # the ODE is linear in v: name the method instead of letting dsolve try them all
    solution = sp.dsolve(sp.Eq(vf(a).diff(a), rhs), vf(a), ics={vf(alpha_bar_T): 1},
                         hint="1st_linear")
    # a rational function of λ and ᾱ_T: factor is its normal form
    return sp.factor(solution.rhs.subs(a, 1))


@lru_cache(maxsize=None)
def start_correction():
    r"""f_∞(λ) − λ: the bias from starting the sampler at N(0, I).

    .. math:: -\frac{\bar\alpha_T^2\lambda^2(\lambda-1)}{(1+\bar\alpha_T(\lambda-1))^2}

    Negligible while ᾱ_T λ ≪ 1; for λ ≫ 1/ᾱ_T the forward process never forgets the
    data and f_∞(λ) saturates at (2 − ᾱ_T)/ᾱ_T: large eigenvalues are not reproduced.
    """
    return sp.factor(continuous_transfer() - lam)


@lru_cache(maxsize=None)
def local_error_order(kind="ridge"):
    """Order p in β of the one-step error: discrete step − exact ODE flow = O(β^p).

    The exact flow over a → a/(1 − β) is Taylor-expanded with the ODE itself
    (v' = F, v'' = ∂_a F + F ∂_v F), and the lowest power of β with a non-zero Taylor
    coefficient of discrete step − flow (the p-th β-derivative at β = 0 over p!; both
    are analytic in β at 0) is returned.  A coefficient is zero if the numerator of its
    ``together`` form expands to 0, and non-zero if its value at a rational point is.
    With p = 2 and T steps of size β = O(1/T), the global error of the transfer is
    O(T^(1 − p)) = O(1/T).
    """
    F = variance_ode(kind)
    delta = alpha_bar / (1 - beta) - alpha_bar
    second = sp.diff(F, alpha_bar) + F * sp.diff(F, v)
    exact = v + F * delta + second * delta**2 / 2
    discrete = variance_step(kind)
    derivative = discrete - exact
    for p in range(0, 4):
        if p:
            derivative = sp.diff(derivative, beta)
        coefficient = derivative.subs(beta, 0) / sp.factorial(p)
        numerator, _ = sp.together(coefficient).as_numer_denom()
        if sp.expand(numerator) != 0:
            if nonzero_at_a_rational_point(coefficient):
                return p
            raise ArithmeticError(f"could not decide whether the β^{p} coefficient is 0")
    raise ArithmeticError("one-step error vanishes through order β³")

