"""Symbolic theory of linear diffusion models trained on finite Gaussian data.

Every closed form here is derived by sympy from the model's definition (DESIGN.md);
nothing in this package imports numpy.

Modules
-------
symbols      the symbols, declared once with their assumptions
model        denoiser (ridge, gradient flow, gradient descent) and the sampler step
continuous   the T → ∞ limit of the spectral transfer
losses       train and test loss per eigen-direction, and their O(1/N) kernels
perturbation second-order perturbation of spectral functions; Wick moments of Σ̂ − Σ
kl           expected KL for N ≫ d: exact (digamma sums), series in 1/N, a₁
proportional Marchenko–Pastur / Silverstein equivalents for d, N → ∞ at q = d/N
scaling      N < d asymptotics: missing variance, null-space optima, hierarchy
catalog      the named catalogue behind ``ldv formula``
certify      a rigorous non-zero certificate (zero tests without simplify)
"""

from . import catalog, continuous, kl, losses, model, perturbation, symbols
from .catalog import FORMULAS, formula, latex

__all__ = ["symbols", "model", "continuous", "losses", "perturbation", "kl", "catalog",
           "FORMULAS", "formula", "latex"]
