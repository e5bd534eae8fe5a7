r"""Extrapolation N → ∞ of Monte Carlo estimates with known asymptotic form.

An asymptotic claim E[X_N] = a/N + b/N² + … is checked by its limit a without a
tolerance for the remainder: estimate y_N = N·E[X_N] at several N, fit
y_N = a + b/N + c/N² + … (the terms the claim's own series predicts) by weighted least
squares with the Monte Carlo standard errors, and test the intercept.  The estimates at
different N are independent, so the intercept's standard error follows from the fit;
the χ² of the residuals tells whether the fitted orders suffice.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Extrapolation", "extrapolate"]


@dataclass(frozen=True)
class Extrapolation:
    """Intercept (the N → ∞ limit) with its standard error, and the fit's χ²."""

    limit: float
    stderr: float
    chi2: float
    dof: int
    coefficients: tuple


def extrapolate(N, values, stderr, terms=2):
    r"""Weighted least-squares fit of y_N = Σ_{m<terms} c_m N^{−m}; returns c_0 and its s.e.

    Parameters
    ----------
    N : array_like of int
        The sample sizes (at least ``terms`` distinct values).
    values, stderr : array_like
        Independent estimates of y_N and their standard errors (> 0).
    terms : int, ≥ 1
        Number of powers of 1/N fitted (1: a constant).

    Returns
    -------
    Extrapolation

    Examples
    --------
    An exact a + b/N is recovered:

    >>> r = extrapolate([10, 20, 40], [3 + 5 / 10, 3 + 5 / 20, 3 + 5 / 40], [0.1] * 3)
    >>> round(r.limit, 12), r.dof
    (3.0, 1)
    """
    N = np.asarray(N, dtype=float)
    values = np.asarray(values, dtype=float)
    stderr = np.asarray(stderr, dtype=float)
    if not (N.shape == values.shape == stderr.shape) or N.ndim != 1:
        raise ValueError("N, values and stderr must be 1-D arrays of one length")
    if len(np.unique(N)) < terms:
        raise ValueError(f"need at least terms={terms} distinct N, got {len(np.unique(N))}")
    if (stderr <= 0).any() or not np.isfinite(values).all():
        raise ValueError("stderr must be > 0 and values finite")
    X = (1.0 / N[:, None]) ** np.arange(terms)[None, :] / stderr[:, None]
    y = values / stderr
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    cov = np.linalg.inv(X.T @ X)
    resid = y - X @ coef
    return Extrapolation(float(coef[0]), float(np.sqrt(cov[0, 0])), float(resid @ resid),
                         int(N.size - terms), tuple(float(c) for c in coef))
