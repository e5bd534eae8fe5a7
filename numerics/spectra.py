"""Population spectra and covariances built from them."""

import numpy as np

from .validation import check_count, check_spectrum

__all__ = ["power_law_spectrum", "random_rotation", "covariance_from_spectrum"]


def power_law_spectrum(d, k):
    r"""λ_ν = C ν^(−k), ν = 1..d, with C such that Σ_ν λ_ν = d (mean eigenvalue 1).

    Parameters
    ----------
    d : int, ≥ 1
        Dimension.
    k : float, ≥ 0
        Exponent; k = 0 is the isotropic spectrum (all ones).

    Returns
    -------
    ndarray, shape (d,)
        Descending eigenvalues summing to d.
    """
    d = check_count(d, "d")
    k = float(k)
    if not np.isfinite(k) or k < 0:
        raise ValueError(f"k must be a finite real >= 0, got {k!r}")
    # log domain: ν^(−k) underflows for large k·log d
    log_lam = -k * np.log(np.arange(1, d + 1))
    log_lam -= log_lam.max()
    lam = np.exp(log_lam)
    return lam * (d / lam.sum())


def random_rotation(d, rng):
    """A Haar-distributed orthogonal d×d matrix (QR of a Gaussian, signs fixed)."""
    d = check_count(d, "d")
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def covariance_from_spectrum(lam, rotation=None):
    """Σ = O diag(λ) Oᵀ (Σ = diag(λ) when ``rotation`` is None)."""
    lam = check_spectrum(lam)
    if rotation is None:
        return np.diag(lam)
    return (rotation * lam) @ rotation.T
