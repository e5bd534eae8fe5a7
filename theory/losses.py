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
"""

from functools import lru_cache

import sympy as sp

from .model import denoiser_ratio, noise_averaged_loss
from .symbols import alpha_bar, lam, s, w

__all__ = ["train_loss_per_direction", "test_loss_per_direction"]


def _trained_w(kind):
    return denoiser_ratio(kind) * sp.sqrt(1 - alpha_bar)


@lru_cache(maxsize=None)
def train_loss_per_direction(kind="ridge"):
    r"""Training loss of one eigen-direction of Σ̂ at one step.

    For the exact minimiser (c = 0, τ = ∞) it simplifies to
    :math:`\bar\alpha\lambda/(\bar\alpha\lambda + 1 - \bar\alpha)`: the noise fraction
    that a linear denoiser cannot explain.  Valid for λ̂ ≥ 0; at λ̂ = 0, c = 0 the loss is 0
    (the direction carries pure noise, which the denoiser inverts exactly).
    """
    return sp.simplify(noise_averaged_loss(lam).subs(w, _trained_w(kind)))


@lru_cache(maxsize=None)
def test_loss_per_direction(kind="ridge"):
    r"""Test loss of one eigen-direction u of Σ̂: the trained w_t(λ̂) on fresh data,
    whose variance along u is s = uᵀΣu.  Equals the train loss when s = λ̂.
    """
    return sp.simplify(noise_averaged_loss(s).subs(w, _trained_w(kind)))
