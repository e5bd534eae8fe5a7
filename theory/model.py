"""The linear denoiser and the DDPM sampler, derived from their definitions.

Everything here is per eigen-direction of the sample covariance Σ̂.  The training
loss (DESIGN.md, "Denoiser")

    L̂_t(W) = (1/N) Σ_μ E_ε ‖ε − W(√ᾱ_t x_μ + √(1−ᾱ_t) ε)‖² + c‖W‖_F²

written in the eigenbasis of Σ̂ is a sum of independent terms: the diagonal entry
W_ii meets the data only through the second moment λ̂_i = (1/N) Σ_μ (u_iᵀx_μ)², and an
off-diagonal entry W_ij appears only as W_ij² (Ĉ_jj + c) with Ĉ_jj + c > 0, so it is 0
at the minimum and stays 0 under gradient flow or descent started at W = 0.  (The
test suite re-derives this for a general 2×2 W.)  So each W_t is a function of Σ̂ with
eigenvalue w_t(λ̂), and the derivations below are scalar.

Contents
--------
noise_averaged_loss     ℓ(w; m₂): the loss of one direction, ε averaged by sympy.stats
ridge_denoiser          w_t = √(1−ᾱ)/(ᾱλ + 1 − ᾱ + c), from solve(∂ℓ/∂w = 0)
gradient_flow_denoiser  w_t(τ), from dsolve of dw/dτ = −½ ∂ℓ/∂w, w(0) = 0
gradient_descent_denoiser  w_t after n steps of size η, from rsolve
denoiser_ratio          r = w/√(1−ᾱ), the quantity the sampler uses
sampler_gain            a_t = (1 − β r)/√(1 − β), one DDPM step along a direction
variance_step           v_{t−1} = a_t² v_t + σ_t², the transfer recursion
"""

from functools import lru_cache

import sympy as sp
from sympy.stats import E, Normal

from .symbols import alpha_bar, beta, c, eta, lam, n, tau, v, w, x

__all__ = [
    "noise_averaged_loss", "ridge_denoiser", "gradient_flow_denoiser",
    "gradient_descent_denoiser", "denoiser_ratio", "sampler_gain", "variance_step",
]


@lru_cache(maxsize=None)
def noise_averaged_loss(second_moment=lam):
    r"""Denoising loss of one direction, averaged exactly over the noise.

    .. math:: \ell(w; m_2) = E_\varepsilon\big[(\varepsilon - w(\sqrt{\bar\alpha}\,x
              + \sqrt{1-\bar\alpha}\,\varepsilon))^2\big]\Big|_{x^2 \to m_2}
              = 1 - 2w\sqrt{1-\bar\alpha} + w^2(\bar\alpha m_2 + 1 - \bar\alpha)

    The expectation over ε ~ N(0, 1) is taken with the moments of ε from
    ``sympy.stats`` (:func:`_expectation`: the loss is a polynomial in ε); the result
    is a polynomial in x whose odd terms vanish, and the data average replaces x² by its
    second moment m₂ along the direction: λ̂ for the training set, uᵀΣu (the population
    variance along the direction u) for fresh test data.  Valid for every t, w and m₂.

    Examples
    --------
    With w = 0 the denoiser predicts nothing and the loss is E[ε²] = 1:

    >>> from theory.symbols import w
    >>> noise_averaged_loss().subs(w, 0)
    1
    """
    eps = Normal("epsilon", 0, 1)
    noisy = sp.sqrt(alpha_bar) * x + sp.sqrt(1 - alpha_bar) * eps
    averaged = sp.expand(_expectation((eps - w * noisy) ** 2, [eps]))
    return sp.expand(averaged.subs(x**2, second_moment))


def _expectation(expr, variables):
    """E[expr] for a polynomial ``expr`` in independent random ``variables``.

    ``expr`` is expanded and each product of powers Π X^k is replaced by Π E[X^k]
    (independence), the single-variable moments E[X^k] taken by ``sympy.stats``.
    The same expectation as ``sympy.stats.E`` of the whole polynomial, much cheaper.
    """
    variables = list(variables)
    total = []
    for term in sp.Add.make_args(sp.expand(expr)):
        powers = dict.fromkeys(variables, 0)
        rest = []
        for factor in sp.Mul.make_args(term):
            base, exponent = factor.as_base_exp()
            if base in powers and exponent.is_Integer and exponent > 0:
                powers[base] += int(exponent)
            elif factor.has(*variables):
                raise ValueError(f"not a polynomial in {variables}: {factor}")
            else:
                rest.append(factor)
        moments = [_moment(X, power) for X, power in powers.items() if power]
        total.append(sp.Mul(*rest, *moments))
    return sp.Add(*total)


@lru_cache(maxsize=None)
def _moment(variable, power):
    """E[X^power] of one random variable, by ``sympy.stats``."""
    return E(variable**power)


def _descent_direction():
    """−½ ∂(ℓ + c w²)/∂w at λ: the right-hand side of gradient flow."""
    return -sp.diff(noise_averaged_loss() + c * w**2, w) / 2


@lru_cache(maxsize=None)
def ridge_denoiser():
    r"""Ridge minimiser w_t of ℓ(w; λ) + c w², solved by sympy.

    .. math:: w_t(\lambda) = \frac{\sqrt{1-\bar\alpha_t}}{\bar\alpha_t\lambda
              + 1 - \bar\alpha_t + c}

    the eigenvalue of W_t = √(1−ᾱ_t)(Ĉ_t + cI)⁻¹.  Valid for λ ≥ 0, c ≥ 0, 0 < ᾱ < 1
    (the denominator is ≥ 1 − ᾱ > 0).

    Examples
    --------
    At λ = 1 (unit variance) and c = 0, the noisy input has unit variance and the best
    linear prediction of ε is its covariance with the input, √(1 − ᾱ):

    >>> from theory.symbols import lam, c
    >>> ridge_denoiser().subs({lam: 1, c: 0})
    sqrt(1 - alphabar)
    """
    objective = noise_averaged_loss() + c * w**2
    (solution,) = sp.solve(sp.diff(objective, w), w)
    return sp.factor(solution)


@lru_cache(maxsize=None)
def gradient_flow_denoiser():
    r"""Denoiser after gradient flow for time τ from w = 0, solved by ``dsolve``.

    .. math:: \frac{dw}{d\tau} = -\tfrac12 \partial_w(\ell + c w^2),\quad w(0) = 0
              \;\Rightarrow\; w_t(\tau) = w_t(\infty)\,(1 - e^{-\tau(\bar\alpha\lambda
              + 1 - \bar\alpha + c)})

    τ → ∞ gives :func:`ridge_denoiser` (checked in the tests by ``sp.limit``).
    Valid for τ ≥ 0.
    """
    wf = sp.Function("w")
    rhs = _descent_direction().subs(w, wf(tau))
    # linear with constant coefficients in τ: name the method instead of trying them all
    solution = sp.dsolve(sp.Eq(wf(tau).diff(tau), rhs), wf(tau), ics={wf(0): 0},
                         hint="nth_linear_constant_coeff_undetermined_coefficients")
    return sp.simplify(solution.rhs)


@lru_cache(maxsize=None)
def gradient_descent_denoiser():
    r"""Denoiser after n plain gradient-descent steps of size η from w = 0 (``rsolve``).

    .. math:: w_{k+1} = w_k - \eta\,\tfrac12\partial_w(\ell + cw^2)(w_k)
              \;\Rightarrow\; w_n = w_t(\infty)\,\big(1 - (1 - \eta(\bar\alpha\lambda
              + 1 - \bar\alpha + c))^n\big)

    The discrete twin of :func:`gradient_flow_denoiser` (η → 0 with nη = τ recovers it).
    Converges to the ridge minimiser iff 0 < η(ᾱλ + 1 − ᾱ + c) < 2.
    """
    g = sp.Function("g")
    step = w + eta * _descent_direction()
    recurrence = g(n + 1) - step.subs(w, g(n))
    solution = sp.rsolve(recurrence, g(n), {g(0): 0})
    return sp.together(solution)


@lru_cache(maxsize=None)
def denoiser_ratio(kind="ridge"):
    r"""r_t = w_t/√(1−ᾱ_t): the factor through which the sampler sees the denoiser.

    For the ridge minimiser r = 1/(ᾱλ + 1 − ᾱ + c); ``kind`` is "ridge",
    "gradient_flow" (depends on τ) or "gradient_descent" (depends on η, n).
    """
    source = {
        "ridge": ridge_denoiser,
        "gradient_flow": gradient_flow_denoiser,
        "gradient_descent": gradient_descent_denoiser,
    }
    if kind not in source:
        raise ValueError(f"kind must be one of {sorted(source)}, got {kind!r}")
    return sp.powsimp(source[kind]() / sp.sqrt(1 - alpha_bar))  # the square root cancels


@lru_cache(maxsize=None)
def sampler_gain(kind="ridge"):
    r"""One DDPM ancestral step along an eigen-direction of Σ̂.

    .. math:: u_{t-1} = \frac{u_t - \beta_t\,w_t u_t/\sqrt{1-\bar\alpha_t}}
              {\sqrt{1-\beta_t}} + \sigma_t z_t,\qquad
              a_t = \frac{1 - \beta_t r_t}{\sqrt{1-\beta_t}}

    obtained by substituting the derived w_t into the sampler's update and reading off
    the coefficient of u_t.
    """
    u = sp.Symbol("u", real=True)
    wt = denoiser_ratio(kind) * sp.sqrt(1 - alpha_bar)
    update = (u - beta * wt / sp.sqrt(1 - alpha_bar) * u) / sp.sqrt(1 - beta)
    return sp.factor(sp.expand(update).coeff(u))


@lru_cache(maxsize=None)
def variance_step(kind="ridge"):
    r"""v_{t−1} = a_t² v_t + σ_t² with σ_t² = β_t (t ≥ 2): variance of u_{t−1} given v_t.

    Derived as E[(a u + σ z)²] for independent u (variance v) and z ~ N(0, 1) with
    ``sympy.stats`` moments.  The gain is not random, so the expectation is taken with
    a symbol A for it and the derived a_t is substituted into each coefficient of v
    afterwards.  At t = 1 the sampler adds no noise: use ``.subs`` of the σ² term
    to 0 (numerics does this).  Iterated from v_T = 1 down to t = 1 it gives the
    transfer f(λ̂) = v_0.
    """
    u = Normal("u", 0, sp.sqrt(v))
    z = Normal("z", 0, 1)
    gain = sp.Symbol("A", real=True)
    second_moment = _expectation((gain * u + sp.sqrt(beta) * z) ** 2, [u, z])
    a = sampler_gain(kind)
    coefficients = sp.collect(sp.expand(second_moment), v, evaluate=False)
    return sp.Add(*(sp.factor(coefficient.subs(gain, a)) * power
                    for power, coefficient in coefficients.items()))
