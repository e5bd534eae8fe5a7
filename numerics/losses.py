"""Train and test loss of the trained denoiser, evaluated from the derived formulas.

L_train,t = Σ_i ℓ(w_t(λ̂_i); λ̂_i) and L_test,t = Σ_i ℓ(w_t(λ̂_i); u_iᵀΣu_i)
(:mod:`theory.losses`), with ℓ(w; m₂) = :func:`theory.model.noise_averaged_loss`
compiled by ``lambdify`` and w_t from :mod:`numerics.denoiser` (overflow-free for any τ).
"""

from functools import lru_cache

import numpy as np
import sympy as sp

from theory.model import noise_averaged_loss
from theory.symbols import alpha_bar, lam, w

from .denoiser import denoiser_eigenvalues

__all__ = ["step_losses", "summed_losses"]


@lru_cache(maxsize=None)
def _loss():
    return sp.lambdify((w, lam, alpha_bar), noise_averaged_loss(lam), "numpy")


def _per_step(sample_cov, population_cov, alpha_bar_t, one_minus_alpha_bar_t, c, tau):
    lam_hat, U = np.linalg.eigh(sample_cov)
    lam_hat = np.clip(lam_hat, 0.0, None)
    s_pop = np.einsum("ji,jk,ki->i", U, population_cov, U)
    ab = np.asarray(alpha_bar_t, dtype=float)[..., None]
    q = np.asarray(one_minus_alpha_bar_t, dtype=float)[..., None]
    wt = denoiser_eigenvalues(lam_hat, q, c=c, tau=tau)
    return _loss()(wt, lam_hat, ab).sum(axis=-1), _loss()(wt, s_pop, ab).sum(axis=-1)


def step_losses(sample_cov, population_cov, alpha_bar_t, *, c=0.0, tau=None):
    """(train, test) loss at one step for the trained W_t of Σ̂ = ``sample_cov``.

    Parameters
    ----------
    sample_cov, population_cov : ndarray, shape (d, d)
    alpha_bar_t : float in (0, 1)
    c : float ≥ 0; tau : float ≥ 0 or None
    """
    train, test = _per_step(sample_cov, population_cov, alpha_bar_t, 1.0 - alpha_bar_t, c, tau)
    return float(train), float(test)


def summed_losses(sample_cov, population_cov, schedule, *, c=0.0, tau=None):
    """(train, test) loss summed over t = 1..T of ``schedule`` (DESIGN.md totals)."""
    train, test = _per_step(sample_cov, population_cov, schedule.alpha_bar,
                            schedule.one_minus_alpha_bar, c, tau)
    return float(train.sum()), float(test.sum())
