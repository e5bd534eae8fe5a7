"""Hypothesis strategies for spectra, rotations and trained-model configurations.

Every strategy builds its values *by construction* — no ``assume`` or ``filter`` on
eigenvalues — so each promise below holds for every drawn example and hypothesis never
discards draws (``tests/test_strategies.py`` checks the promises):

power_law_spectra       λ_ν = C ν^(−k), k ∈ [0, 3], Σλ = d (descending)
log_uniform_spectra     log λ uniform in a window of width log10(condition) ≤ 6 decades;
                        the extremes are attained, so the condition number is exactly
                        the drawn one (≤ 1e6)
clustered_spectra       ≤ 3 clusters ≥ half a decade apart, each of relative width ≤ 1e-4
repeated_spectra        the same with exactly repeated eigenvalues (width 0)
floor_spectra           at least one eigenvalue below β_1 ≈ 1.1e-4 (the discretisation
                        floor of the default schedule), all small ones within [1e-3 β_1, 10 β_1],
                        the rest in [1e-2, 10]
saturated_spectra       at least one eigenvalue above 1/ᾱ_T ≈ 160 (the forward process of
                        the default schedule does not reach noise there), at most 100/ᾱ_T
spectra                 any of the above
rotations               Haar orthogonal matrices from a drawn seed (numerics.spectra)
model_configs           (c, τ, T): c = 0 or in [1e-3, 1], τ = None (∞) or in [0.1, 1e3],
                        T ≤ 200 (the default β range, so short runs stay fast)

Dimensions default to 1..``MAX_D``; any argument may be a value or a strategy.
"""

import math

import numpy as np
from hypothesis import strategies as st

from numerics.schedule import linear_schedule
from numerics.spectra import power_law_spectrum, random_rotation

__all__ = ["MAX_D", "BETA_1", "INVERSE_ALPHA_BAR_T", "MAX_CONDITION", "MAX_T", "dims",
           "power_law_spectra", "log_uniform_spectra", "clustered_spectra",
           "repeated_spectra", "floor_spectra", "saturated_spectra", "spectra", "rotations",
           "model_configs", "ridges", "training_times"]

MAX_D = 8
MAX_CONDITION = 1e6
MAX_T = 200
#: β_1 of the default schedule (1e-4 + 0.99e-5): below it the last sampling step dominates
BETA_1 = float(linear_schedule().betas[0])
#: 1/ᾱ_T of the default schedule (≈ 159.5): above it the forward process keeps the data
INVERSE_ALPHA_BAR_T = float(1 / linear_schedule().alpha_bar[-1])

dims = st.integers(1, MAX_D)

_unit = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)


def _draw(draw, value):
    """Draw from ``value`` if it is a strategy, else use it as it is."""
    return draw(value) if isinstance(value, st.SearchStrategy) else value


def _log_uniform(lo, hi):
    """Floats in [lo, hi], uniform in log (lo > 0)."""
    a, b = math.log10(lo), math.log10(hi)
    return st.floats(a, b, allow_nan=False).map(lambda x: min(max(10.0 ** x, lo), hi))


def _descending(values):
    return np.sort(np.asarray(values, dtype=float))[::-1].copy()


@st.composite
def power_law_spectra(draw, d=dims, k=st.floats(0.0, 3.0, allow_nan=False)):
    """Power law λ_ν = C ν^(−k), ν = 1..d, C such that Σλ = d (numerics.spectra)."""
    return power_law_spectrum(_draw(draw, d), _draw(draw, k))


@st.composite
def log_uniform_spectra(draw, d=dims, max_condition=MAX_CONDITION, centre=(-2.0, 2.0)):
    """log10 λ = m + w(u − ½), u ∈ [0, 1] drawn per eigenvalue, w = log10(condition).

    The geometric centre m is drawn in ``centre`` (decades) and w in [0, log10 max_condition];
    for d ≥ 2 the first two u are 0 and 1, so max λ/min λ = 10^w exactly.
    """
    d = _draw(draw, d)
    width = draw(st.floats(0.0, math.log10(max_condition), allow_nan=False))
    m = draw(st.floats(*centre, allow_nan=False))
    u = draw(st.lists(_unit, min_size=d, max_size=d))
    if d >= 2:
        u[0], u[1] = 0.0, 1.0
    return _descending(10.0 ** (m + width * (np.asarray(u) - 0.5)))


@st.composite
def clustered_spectra(draw, d=dims, max_clusters=3, width=(1e-12, 1e-4), exact=False):
    """At most ``max_clusters`` clusters of eigenvalues, centres ≥ half a decade apart.

    Each eigenvalue is centre·(1 + δ) with |δ| ≤ the cluster's relative half-width, drawn
    log-uniformly in ``width``; ``exact=True`` repeats every centre exactly.
    """
    d = _draw(draw, d)
    m = draw(st.integers(1, min(d, max_clusters)))
    start = draw(st.floats(-3.0, 1.0, allow_nan=False))
    gaps = draw(st.lists(st.floats(0.5, 1.5, allow_nan=False), min_size=m - 1, max_size=m - 1))
    centres = 10.0 ** (start + np.concatenate([[0.0], np.cumsum(gaps)]))
    # every cluster gets one eigenvalue, the rest are assigned freely
    labels = list(range(m)) + draw(st.lists(st.integers(0, m - 1), min_size=d - m,
                                            max_size=d - m))
    if exact:
        return _descending(centres[labels])
    half_width = draw(_log_uniform(*width))
    jitter = draw(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=d, max_size=d))
    return _descending(centres[labels] * (1.0 + half_width * np.asarray(jitter)))


def repeated_spectra(d=dims, max_clusters=3):
    """Exactly repeated eigenvalues: at most ``max_clusters`` distinct values."""
    return clustered_spectra(d=d, max_clusters=max_clusters, exact=True)


@st.composite
def _two_band_spectra(draw, d, band, first):
    """``n ≥ 1`` eigenvalues log-uniform in ``band`` (the first one in ``first``), the rest
    log-uniform in [1e-2, 10]."""
    d = _draw(draw, d)
    n = draw(st.integers(1, d))
    special = [draw(_log_uniform(*first))] + draw(
        st.lists(_log_uniform(*band), min_size=n - 1, max_size=n - 1))
    bulk = draw(st.lists(_log_uniform(1e-2, 10.0), min_size=d - n, max_size=d - n))
    return _descending(special + bulk)


def floor_spectra(d=dims):
    """Eigenvalues near and below β_1: the smallest is in [1e-3 β_1, β_1)."""
    return _two_band_spectra(d, (1e-3 * BETA_1, 10 * BETA_1),
                             (1e-3 * BETA_1, np.nextafter(BETA_1, 0)))


def saturated_spectra(d=dims):
    """Eigenvalues above 1/ᾱ_T: the largest is in (1/ᾱ_T, 100/ᾱ_T]."""
    lo = np.nextafter(INVERSE_ALPHA_BAR_T, np.inf)
    return _two_band_spectra(d, (lo, 100 * INVERSE_ALPHA_BAR_T),
                             (lo, 100 * INVERSE_ALPHA_BAR_T))


def spectra(d=dims):
    """Any of the spectrum strategies above (positive, finite, descending)."""
    return st.one_of(power_law_spectra(d), log_uniform_spectra(d), clustered_spectra(d),
                     repeated_spectra(d), floor_spectra(d), saturated_spectra(d))


@st.composite
def rotations(draw, d=dims):
    """A Haar-distributed orthogonal d×d matrix from a drawn seed."""
    d = _draw(draw, d)
    seed = draw(st.integers(0, 2**32 - 1))
    return random_rotation(d, np.random.default_rng(seed))


ridges = st.one_of(st.just(0.0), _log_uniform(1e-3, 1.0))
training_times = st.one_of(st.none(), _log_uniform(0.1, 1e3))


@st.composite
def model_configs(draw, max_T=MAX_T, c=ridges, tau=training_times):
    """{"c", "tau", "T"} for :func:`numerics.transfer.transfer_function` and friends."""
    return {"c": _draw(draw, c), "tau": _draw(draw, tau),
            "T": draw(st.integers(1, max_T))}
