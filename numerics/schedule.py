"""Noise schedules: β_t for t = 1..T and ᾱ_t = Π_{s≤t}(1 − β_s).

The default is DESIGN.md's linear ("paper") schedule, β from 1e-4 to 1e-2 over
T = 1000 steps; a cosine schedule (Nichol & Dhariwal 2021) is an option.  1 − ᾱ_t is
computed as −expm1(Σ log1p(−β_s)), exact to a few ulps even at t = 1, where the
sampler divides by it.
"""

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np

from .validation import check_count, check_open_unit

__all__ = ["Schedule", "linear_schedule", "cosine_schedule"]


@dataclass(frozen=True, eq=False)
class Schedule:
    """A validated schedule.  ``betas[t-1]`` is β_t.

    Parameters
    ----------
    betas : ndarray, shape (T,)
        Noise increments, each in (0, 1).
    name : str
        A label with the parameters, e.g. ``"linear(T=1000, 0.0001..0.01)"``.
    mp_betas : callable, optional
        ``mp_betas()`` returns the β_t as mpmath numbers at the current working
        precision (recomputed from the definition, not from the float64 values).
    """

    betas: np.ndarray
    name: str
    mp_betas: object = None

    def __post_init__(self):
        betas = check_open_unit(self.betas, "beta")
        if betas.ndim != 1 or betas.size < 1:
            raise ValueError(f"T must be >= 1, got {betas.size}")
        betas.setflags(write=False)
        object.__setattr__(self, "betas", betas)

    @property
    def T(self):
        return self.betas.size

    @property
    def alpha_bar(self):
        """ᾱ_t, shape (T,)."""
        return np.exp(np.cumsum(np.log1p(-self.betas)))

    @property
    def one_minus_alpha_bar(self):
        """1 − ᾱ_t, shape (T,), without cancellation at small t."""
        return -np.expm1(np.cumsum(np.log1p(-self.betas)))

    def mp_arrays(self):
        """(β_t, ᾱ_t, 1 − ᾱ_t) as lists of mpmath numbers at the working precision."""
        betas = self.mp_betas() if self.mp_betas else [mpmath.mpf(b) for b in self.betas]
        log_alpha = mpmath.mpf(0)
        alpha_bar, one_minus = [], []
        for b in betas:
            log_alpha += mpmath.log1p(-b)
            alpha_bar.append(mpmath.exp(log_alpha))
            one_minus.append(-mpmath.expm1(log_alpha))
        return betas, alpha_bar, one_minus


@lru_cache(maxsize=64)
def linear_schedule(T=1000, beta_min=1e-4, beta_max=1e-2):
    """β_t = β_min + (β_max − β_min)·t/T, t = 1..T (DESIGN.md's default).

    Parameters
    ----------
    T : int, ≥ 1
    beta_min, beta_max : float in (0, 1)
    """
    T = check_count(T, "T")
    check_open_unit(beta_min, "beta_min")
    check_open_unit(beta_max, "beta_max")
    t = np.arange(1, T + 1)
    betas = beta_min + (beta_max - beta_min) * t / T

    def mp_betas():
        lo, hi = mpmath.mpf(beta_min), mpmath.mpf(beta_max)
        return [lo + (hi - lo) * k / T for k in range(1, T + 1)]

    return Schedule(betas, f"linear(T={T}, {beta_min:g}..{beta_max:g})", mp_betas)


@lru_cache(maxsize=64)
def cosine_schedule(T=1000, s=0.008, beta_max=0.999):
    """Cosine schedule: ᾱ(t) = cos²(π/2 · (t/T + s)/(1 + s)) / cos²(π/2 · s/(1 + s)).

    β_t = 1 − ᾱ(t)/ᾱ(t − 1), clipped at ``beta_max`` as in Nichol & Dhariwal (2021).
    """
    T = check_count(T, "T")
    if not (s > 0):
        raise ValueError(f"s must be > 0, got {s!r}")
    check_open_unit(beta_max, "beta_max")
    t = np.arange(0, T + 1)
    g = np.cos(np.pi / 2 * (t / T + s) / (1 + s)) ** 2
    betas = np.minimum(1 - g[1:] / g[:-1], beta_max)
    return Schedule(betas, f"cosine(T={T}, s={s:g})")
