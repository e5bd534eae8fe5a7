"""Verdict rules: p-values of z and t statistics, Bonferroni within a claim, Holm across.

A statistical claim compares a theory value with a Monte Carlo estimate ± s.e.:

    z = max(0, |estimate − theory| − floor) / stderr,

where ``floor`` is a finite-size or truncation allowance that the claim derives (0 for
an exact claim).  Its two-sided p-value is 2(1 − Φ(z)) (normal) or the Student-t tail
with ``df`` degrees of freedom when the s.e. comes from few replicates.  A claim made of
m entries reports its worst entry and the Bonferroni p-value min(1, m·p_min).  Across
the suite the family-wise error is held at ``FAMILY_LEVEL`` by Holm's step-down rule.
"""

import math

import mpmath
import numpy as np

__all__ = ["FAMILY_LEVEL", "z_score", "p_value", "bonferroni", "holm"]

#: family-wise false-alarm level of one ``ldv verify`` run
FAMILY_LEVEL = 0.01


def z_score(estimate, theory, stderr, floor=0.0):
    """Distance between estimate and theory beyond ``floor``, in standard errors (≥ 0)."""
    excess = np.maximum(np.abs(np.asarray(estimate) - np.asarray(theory)) - floor, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(excess > 0, excess / np.asarray(stderr), 0.0)
    return z


def p_value(z, df=None):
    """Two-sided tail probability of |Z| ≥ z (normal, or Student t with ``df``)."""
    z = float(z)
    if not math.isfinite(z):
        return 0.0
    if df is None:
        return float(mpmath.erfc(z / mpmath.sqrt(2)))
    return float(mpmath.betainc(df / 2, 0.5, 0, df / (df + z * z), regularized=True))


def bonferroni(p_values):
    """min(1, m · min p) for the m entries of one claim."""
    p = np.asarray(p_values, dtype=float).ravel()
    return float(min(1.0, p.size * p.min()))


def holm(p_values, level=FAMILY_LEVEL):
    """Holm's step-down test: a boolean list, True where the hypothesis is rejected."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] <= level / (m - rank):
            rejected[i] = True
        else:
            break
    return rejected
