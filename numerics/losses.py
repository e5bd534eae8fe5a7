"""Train and test loss of the trained denoiser, evaluated from the derived formulas.

L_train,t = Σ_i ℓ(w_t(λ̂_i); λ̂_i) and L_test,t = Σ_i ℓ(w_t(λ̂_i); u_iᵀΣu_i)
(:mod:`theory.losses`), compiled with ``lambdify``.
"""

from functools import lru_cache

import numpy as np
import sympy as sp

from theory.losses import test_loss_per_direction, train_loss_per_direction
from theory.symbols import alpha_bar, c, lam, s, tau

__all__ = ["step_losses"]


@lru_cache(maxsize=None)
def _compiled(which, kind):
    expr = (train_loss_per_direction if which == "train" else test_loss_per_direction)(kind)
    return sp.lambdify((lam, s, alpha_bar, c, tau), expr, "numpy")


def step_losses(sample_cov, population_cov, alpha_bar_t, *, c=0.0, tau=None):
    """(train, test) loss at one step for the trained W_t of Σ̂ = ``sample_cov``.

    Parameters
    ----------
    sample_cov, population_cov : ndarray, shape (d, d)
    alpha_bar_t : float in (0, 1)
    c : float ≥ 0; tau : float ≥ 0 or None
    """
    lam_hat, U = np.linalg.eigh(sample_cov)
    lam_hat = np.clip(lam_hat, 0.0, None)
    s_pop = np.einsum("ji,jk,ki->i", U, population_cov, U)
    kind = "ridge" if tau is None else "gradient_flow"
    t_val = 0.0 if tau is None else tau
    train = _compiled("train", kind)(lam_hat, lam_hat, alpha_bar_t, c, t_val)
    test = _compiled("test", kind)(lam_hat, s_pop, alpha_bar_t, c, t_val)
    return float(np.sum(train)), float(np.sum(test))
