"""Train and test denoising loss of the trained model, per step (DESIGN.md, "losses").

In the eigenbasis {u_i} of Σ̂ every W_t is diagonal with entries w_t(λ̂_i), so

    L_train,t = Σ_i ℓ(w_t(λ̂_i); λ̂_i),       L_test,t = Σ_i ℓ(w_t(λ̂_i); s_i),

where ℓ(w; m₂) is :func:`theory.model.noise_averaged_loss` and s_i = u_iᵀ Σ u_i is the
population variance along the i-th sample eigenvector: a diagonal W only sees the
diagonal of C_t = ᾱΣ + (1 − ᾱ)I in that basis, which is the matrix identity
L_test = d − 2√(1−ᾱ) Tr W + Tr(W C_t Wᵀ) read in the eigenbasis.  Neither contains the
ridge term (DESIGN.md).  Totals over the schedule sum over t.

Contents
--------
train_loss_per_direction   ℓ(w_t(λ̂); λ̂)
test_loss_per_direction    ℓ(w_t(λ̂); s)
perturbation_kernels       E[tr g(Σ̂)], E[tr(φ(Σ̂)Σ)] to O(1/N) for N ≫ d (any g, φ)
loss_parts                 the g, h, φ that make up the train and test losses
"""

from functools import lru_cache

import sympy as sp

from .model import denoiser_ratio, noise_averaged_loss
from .perturbation import SYMBOLS_2x2, trace_second_order, weighted_trace_second_order
from .symbols import alpha_bar, lam, s, w

__all__ = ["train_loss_per_direction", "test_loss_per_direction", "perturbation_kernels",
           "loss_parts"]


def _trained_w(kind):
    return denoiser_ratio(kind) * sp.sqrt(1 - alpha_bar)


@lru_cache(maxsize=None)
def train_loss_per_direction(kind="ridge"):
    r"""Training loss of one eigen-direction of Σ̂ at one step.

    For the exact minimiser (c = 0, τ = ∞) it simplifies to
    :math:`\bar\alpha\lambda/(\bar\alpha\lambda + 1 - \bar\alpha)`: the noise fraction
    that a linear denoiser cannot explain.  Valid for λ̂ ≥ 0; at λ̂ = 0, c = 0 the loss is 0
    (the direction carries pure noise, which the denoiser inverts exactly).

    The substituted loss is a rational function of λ̂, ᾱ, c (and of the exponentials of
    τ for gradient flow), brought to one factored fraction by ``factor``.
    """
    return sp.factor(noise_averaged_loss(lam).subs(w, _trained_w(kind)))


@lru_cache(maxsize=None)
def test_loss_per_direction(kind="ridge"):
    r"""Test loss of one eigen-direction u of Σ̂: the trained w_t(λ̂) on fresh data,
    whose variance along u is s = uᵀΣu.  Equals the train loss when s = λ̂.
    Brought to one factored fraction by ``factor``, as the train loss.
    """
    return sp.factor(noise_averaged_loss(s).subs(w, _trained_w(kind)))


def _jets(expr, function, order):
    """Replace f(a), f′(a), … (and at b) in ``expr`` by symbols f0_a, f1_a, …; doit first."""
    a, b = SYMBOLS_2x2["a"], SYMBOLS_2x2["b"]
    expr = expr.doit()
    subs = {}
    for point, label in ((a, "a"), (b, "b")):
        for k in range(order, 0, -1):
            subs[sp.Derivative(function(point), (point, k))] = sp.Symbol(f"{function.__name__}{k}_{label}")
        subs[function(point)] = sp.Symbol(f"{function.__name__}0_{label}")
    return expr.subs(subs)


@lru_cache(maxsize=None)
def perturbation_kernels(weighted=False):
    r"""Kernels of E[tr g(Σ̂)] (or E[tr(φ(Σ̂)Σ)] when ``weighted``) to O(1/N), N ≫ d.

    With Σ̂ = Σ + δ, Σ = diag(λ), the derived 2×2 expansions of
    :mod:`theory.perturbation` give, summed over the pairs of directions,

    .. math:: E[\operatorname{tr} g(\hat\Sigma)] = \operatorname{tr} g(\Sigma)
              + \frac1N\Big[\sum_i D(\lambda_i)\,2\lambda_i^2
              + \sum_{i<k} P(\lambda_i, \lambda_k)\,\lambda_i\lambda_k\Big] + O(N^{-2})

    with D the p² and P the r² coefficient of the second-order term and the Wick
    moments N E[δ_ii²] = 2λ_i², N E[δ_ik²] = λ_iλ_k
    (:func:`theory.perturbation.wick_second_moments`).  The first-order term
    Σ_i F(λ_i) δ_ii has mean zero; it is returned because it is an exact zero-mean
    control variate for Monte Carlo.  Regime: d, λ fixed, N → ∞, g smooth on the
    spectrum; the O(N⁻²) remainder (third and higher moments of δ) is not derived.

    Returns
    -------
    dict of sympy expressions in a, b (:data:`theory.perturbation.SYMBOLS_2x2`), D and
    the jet symbols g0_a, g1_a, …, g0_b, … (φ0_a, … when ``weighted``) standing for the
    function and its derivatives at a and b: ``first`` F(a), ``diag`` D(a), ``pair``
    P(a, b) (symmetric in a ↔ b), and ``pair_near`` [P₀, P₁, P₂] in jets at a with
    P(a, a + D) = P₀ + P₁D + P₂D² + O(D³), for close pairs: with the Taylor polynomials
    substituted, P(a, a + D) is a polynomial in D (``cancel`` divides out the D of the
    divided difference, checked), truncated after D².  All parts are rational in a, b
    and the jets; ``cancel`` brings them to one fraction.
    """
    a, b, p, q, r = (SYMBOLS_2x2[k] for k in "abpqr")
    first, second, function = (weighted_trace_second_order() if weighted
                               else trace_second_order())
    first, second = sp.expand(first), sp.expand(second)
    order = 4
    pair = sp.cancel(_jets(second.coeff(r, 2), function, order))
    # close pairs: b = a + D and every jet at b replaced by its Taylor polynomial at a
    gap = sp.Symbol("D", positive=True)
    name = function.__name__
    taylor = {sp.Symbol(f"{name}{k}_b"): sum(sp.Symbol(f"{name}{k + m}_a") * gap**m
                                           / sp.factorial(m) for m in range(order - k + 1))
              for k in range(order + 1)}
    numerator, denominator = sp.fraction(sp.cancel(pair.subs(taylor).subs(b, a + gap)))
    if denominator.has(gap):
        raise ArithmeticError("P(a, a + D) is not a polynomial in D")
    numerator = sp.expand(numerator)
    return {
        "first": sp.cancel(_jets(first.coeff(p, 1).subs(q, 0), function, order)),
        "diag": sp.cancel(_jets(second.coeff(p, 2).subs({q: 0, r: 0}), function, order)),
        "pair": pair,
        "pair_near": [sp.cancel(numerator.coeff(gap, k) / denominator) for k in range(3)],
        "function": function,
    }


@lru_cache(maxsize=None)
def loss_parts(which="train", kind="ridge"):
    r"""The spectral functions whose traces make up a loss at one step.

    ``train``: L_train = tr g(Σ̂), g(λ) = ℓ(w_t(λ); λ).
    ``test``:  L_test = tr h(Σ̂) + ᾱ tr(φ(Σ̂) Σ), h(λ) = ℓ(w_t(λ); 0), φ = w_t²
    (the s-coefficient of :func:`test_loss_per_direction` divided by ᾱ: the test loss
    is affine in s, checked, so the coefficient is its s-derivative).

    Returns
    -------
    dict: "trace" (g or h, in λ), and for ``test`` also "weighted" (φ) and "weight" (ᾱ).
    """
    if which == "train":
        return {"trace": train_loss_per_direction(kind)}
    if which != "test":
        raise ValueError(f"which must be 'train' or 'test', got {which!r}")
    test = test_loss_per_direction(kind)
    slope = sp.diff(test, s)
    if sp.diff(slope, s) != 0:
        raise ArithmeticError("the test loss is not affine in s")
    return {"trace": sp.expand(test.subs(s, 0)), "weighted": sp.expand(slope / alpha_bar),
            "weight": alpha_bar}
