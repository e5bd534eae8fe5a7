"""Every sympy symbol of the theory, declared once with its assumptions.

=============  ==================  ==============================================
symbol         name in DESIGN.md   meaning
=============  ==================  ==============================================
``d``          d                   data dimension (positive integer)
``N``          N                   number of training samples (positive integer)
``lam``        λ (or λ̂)            an eigenvalue of Σ (or of Σ̂); ≥ 0
``x``          x                   a data coordinate along one eigen-direction
``alpha_bar``  ᾱ_t                 cumulative signal fraction, 0 < ᾱ_t < 1
``beta``       β_t                 noise increment of one step, 0 < β_t < 1
``c``          c                   ridge strength, c ≥ 0
``tau``        τ                   gradient-flow (training) time, τ ≥ 0
``eta``        η                   gradient-descent step size, η > 0
``n``          n                   number of gradient-descent steps
``w``          w_t                 eigenvalue of the denoiser matrix W_t
``v``          v_t                 variance of the sampler along one direction
``h``          h = 1/T             step of the continuous-time limit
``alpha_bar_T``  ᾱ_T               ᾱ at the last forward step, 0 < ᾱ_T < 1
``s``          uᵀΣu                population variance along an eigenvector u of Σ̂
=============  ==================  ==============================================

Assumptions are declared so that sympy can simplify: positive quantities are
``positive=True`` (``lam`` is ``nonnegative``: the sample covariance has a null
space when N < d), counts are ``integer=True``.
"""

import sympy as sp

__all__ = [
    "d", "N", "lam", "x", "alpha_bar", "beta", "c", "tau", "eta", "n", "w", "v",
    "h", "alpha_bar_T", "s", "SYMBOLS",
]

d = sp.Symbol("d", positive=True, integer=True)
N = sp.Symbol("N", positive=True, integer=True)
lam = sp.Symbol("lambda", nonnegative=True, real=True)
x = sp.Symbol("x", real=True)
alpha_bar = sp.Symbol("alphabar", positive=True)
beta = sp.Symbol("beta", positive=True)
c = sp.Symbol("c", nonnegative=True, real=True)
tau = sp.Symbol("tau", nonnegative=True, real=True)
eta = sp.Symbol("eta", positive=True)
n = sp.Symbol("n", nonnegative=True, integer=True)
w = sp.Symbol("w", real=True)
v = sp.Symbol("v", positive=True)
h = sp.Symbol("h", positive=True)
alpha_bar_T = sp.Symbol("alphabar_T", positive=True)
s = sp.Symbol("s", nonnegative=True, real=True)

#: name -> symbol, for printing and for lambdify argument lists
SYMBOLS = {s.name: s for s in (d, N, lam, x, alpha_bar, beta, c, tau, eta, n, w, v, h,
                               alpha_bar_T, s)}
