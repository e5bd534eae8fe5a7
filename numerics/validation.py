"""Checks at the public boundary: every message says "<name> must be <range>, got <value>"."""

import numbers

import numpy as np

__all__ = [
    "check_count", "check_nonnegative", "check_open_unit", "check_spectrum",
    "check_positive_spectrum", "check_symmetric_psd", "check_tau", "check_choice",
]


def check_count(value, name, minimum=1):
    """An integer ≥ ``minimum`` (d, N, T, sample counts)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_nonnegative(value, name):
    """A finite real ≥ 0 (ridge c)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite real >= 0, got {value!r}") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite real >= 0, got {value!r}")
    return v


def check_tau(value, name="tau"):
    """Training time τ: None (= ∞, the minimiser) or a real ≥ 0 (inf allowed)."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None or a real >= 0, got {value!r}") from None
    if np.isnan(v) or v < 0:
        raise ValueError(f"{name} must be None or a real >= 0, got {value!r}")
    return None if np.isinf(v) else v


def check_open_unit(values, name):
    """Every entry strictly inside (0, 1) (noise increments β_t)."""
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr) | (arr <= 0) | (arr >= 1)
    if bad.any():
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {arr[bad].flat[0]!r}")
    return arr


def check_spectrum(lam, name="lam"):
    """Finite, non-negative eigenvalues as a float array (any shape, at least one entry)."""
    try:
        arr = np.asarray(lam, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of finite reals >= 0, got {lam!r}") from None
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one eigenvalue, got an empty array")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise ValueError(f"{name} must be finite and >= 0, got {arr[bad].flat[0]!r}")
    return arr


def check_positive_spectrum(lam, name="lam"):
    """A 1-D array of eigenvalues > 0 (a non-singular population covariance)."""
    arr = check_spectrum(lam, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of eigenvalues, got shape {arr.shape}")
    if (arr <= 0).any():
        raise ValueError(f"{name} must be > 0 (a non-singular population covariance), "
                         f"got {arr[arr <= 0][0]!r}")
    return arr


def check_choice(value, name, allowed):
    """One of the ``allowed`` values (direction, mean, method, …)."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def check_symmetric_psd(matrix, name, *, definite=False):
    """A square, symmetric, positive (semi-)definite float matrix.

    Symmetry is tested to a relative 1e-10 of the largest entry; definiteness by the
    smallest eigenvalue, with eigenvalues within d·ε·‖A‖ of zero counted as zero.
    Returns the symmetrised matrix and its eigenvalues.
    """
    arr = np.asarray(matrix, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ValueError(f"{name} must be a square matrix with d >= 1, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must have finite entries")
    scale = np.abs(arr).max()
    if np.abs(arr - arr.T).max() > 1e-10 * max(scale, np.finfo(float).tiny):
        raise ValueError(f"{name} must be symmetric, got max |A - A^T| = "
                         f"{np.abs(arr - arr.T).max():.3g}")
    arr = (arr + arr.T) / 2
    eig = np.linalg.eigvalsh(arr)
    noise = arr.shape[0] * np.finfo(float).eps * max(abs(eig).max(), np.finfo(float).tiny)
    kind = "positive definite" if definite else "positive semi-definite"
    if eig[0] < -noise or (definite and eig[0] <= noise):
        raise ValueError(f"{name} must be {kind}, got smallest eigenvalue {eig[0]:.3g}")
    return arr, np.where(np.abs(eig) <= noise, 0.0, eig)
