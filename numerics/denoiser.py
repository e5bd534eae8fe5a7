"""The trained denoiser W_t as numbers, from the derived eigenvalue w_t(λ̂).

W_t = U diag(w_t(λ̂)) Uᵀ with Σ̂ = U diag(λ̂) Uᵀ and w_t = √(1 − ᾱ_t) · r(k_t),
k_t = ᾱ_tλ̂ + 1 − ᾱ_t + c, r compiled from :func:`theory.model.denoiser_ratio`.
"""

import numpy as np

from .transfer import ratio_function
from .validation import check_nonnegative, check_tau

__all__ = ["denoiser_eigenvalues", "denoiser_matrices"]


def denoiser_eigenvalues(lam_hat, one_minus_alpha_bar, *, c=0.0, tau=None, eta=None,
                         steps=None):
    """w_t(λ̂) for the minimiser (default), gradient flow (``tau``) or gradient
    descent (``eta`` and ``steps``).  Broadcasts λ̂ (…, d) against 1 − ᾱ_t (…, 1)."""
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    q = np.asarray(one_minus_alpha_bar, dtype=float)
    k = (1.0 - q) * np.asarray(lam_hat, dtype=float) + q + c
    if eta is not None:
        if steps is None:
            raise ValueError("steps must be given with eta (gradient descent)")
        r = ratio_function("gradient_descent")(k, 0.0, eta, steps)
    elif tau is not None:
        r = ratio_function("gradient_flow")(k, tau, 0.0, 0)
    else:
        r = ratio_function("ridge")(k, 0.0, 0.0, 0)
    return np.sqrt(q) * r


def denoiser_matrices(sample_cov, one_minus_alpha_bar, **kwargs):
    """W_t for every 1 − ᾱ_t given (shape (m,)): array (m, d, d)."""
    lam_hat, U = np.linalg.eigh(sample_cov)
    lam_hat = np.clip(lam_hat, 0.0, None)
    q = np.asarray(one_minus_alpha_bar, dtype=float)[:, None]
    extra = {k: (np.asarray(v)[:, None] if np.ndim(v) else v) for k, v in kwargs.items()}
    w = denoiser_eigenvalues(lam_hat[None, :], q, **extra)
    return (U[None] * w[:, None, :]) @ U.T[None]
