"""Each strategy of tests/strategies.py keeps its promise on every draw."""

import math
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.schedule import linear_schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib
import strategies as S  # noqa: E402


def _valid(lam, d_max=S.MAX_D):
    assert isinstance(lam, np.ndarray) and lam.ndim == 1 and 1 <= lam.size <= d_max
    assert np.isfinite(lam).all() and (lam > 0).all()
    assert (np.diff(lam) <= 0).all(), "eigenvalues must come in descending order"


def test_schedule_constants_come_from_the_default_schedule():
    schedule = linear_schedule()
    assert S.BETA_1 == schedule.betas[0] and 1e-4 < S.BETA_1 < 1.2e-4
    assert S.INVERSE_ALPHA_BAR_T == 1 / schedule.alpha_bar[-1]
    assert 150 < S.INVERSE_ALPHA_BAR_T < 170


@given(S.power_law_spectra())
def test_power_law_spectra(lam):
    _valid(lam)
    d = lam.size
    assert math.isclose(lam.sum(), d, rel_tol=1e-12)
    if d >= 2:
        k = math.log(lam[0] / lam[1]) / math.log(2)
        assert -1e-9 <= k <= 3 + 1e-9
        nu = np.arange(1, d + 1)
        np.testing.assert_allclose(lam, lam[0] * nu ** (-k), rtol=1e-9)


@given(st.integers(1, S.MAX_D), st.data())
def test_power_law_spectra_with_a_fixed_dimension_and_exponent(d, data):
    k = data.draw(st.sampled_from([0.0, 1.5, 3.0]))
    lam = data.draw(S.power_law_spectra(d=d, k=k))
    assert lam.size == d
    if k == 0:
        np.testing.assert_array_equal(lam, np.ones(d))


@given(S.log_uniform_spectra())
def test_log_uniform_spectra_have_condition_numbers_up_to_1e6(lam):
    _valid(lam)
    assert lam[0] / lam[-1] <= S.MAX_CONDITION * (1 + 1e-9)
    # geometric centre within [-2, 2] decades, so every eigenvalue within 10^(±5)
    assert (lam >= 10.0 ** -5.0001).all() and (lam <= 10.0 ** 5.0001).all()


def test_log_uniform_spectra_explore_large_condition_numbers():
    seen = []

    @settings(max_examples=200)
    @given(S.log_uniform_spectra(d=st.just(5)))
    def collect(lam):
        seen.append(lam[0] / lam[-1])
    collect()
    assert max(seen) > 1e3  # the range is explored, not just near-isotropic spectra


@given(S.clustered_spectra())
def test_clustered_spectra_form_at_most_three_tight_clusters(lam):
    _valid(lam)
    # split where consecutive eigenvalues differ by more than a relative 1e-3
    splits = np.flatnonzero(lam[:-1] / lam[1:] > 1 + 1e-3)
    clusters = np.split(lam, splits + 1)
    assert len(clusters) <= 3
    for cluster in clusters:
        assert cluster[0] / cluster[-1] <= (1 + 1e-4) / (1 - 1e-4) * (1 + 1e-12)
    for a, b in zip(clusters[:-1], clusters[1:]):  # centres at least half a decade apart
        assert a[-1] / b[0] >= 10 ** 0.5 * (1 - 1e-4) / (1 + 1e-4)


@given(S.repeated_spectra())
def test_repeated_spectra_repeat_values_exactly(lam):
    _valid(lam)
    distinct = np.unique(lam)
    assert distinct.size <= min(3, lam.size)
    if lam.size > 3:  # pigeonhole: some value is repeated, bit for bit
        assert distinct.size < lam.size


@given(S.floor_spectra())
def test_floor_spectra_reach_below_beta_1(lam):
    _valid(lam)
    assert lam[-1] < S.BETA_1
    assert lam[-1] >= 1e-3 * S.BETA_1 * (1 - 1e-12)
    small = lam[lam <= 10 * S.BETA_1 * (1 + 1e-12)]
    rest = lam[lam > 10 * S.BETA_1 * (1 + 1e-12)]
    assert small.size >= 1
    assert ((rest >= 1e-2 * (1 - 1e-12)) & (rest <= 10 * (1 + 1e-12))).all()


@given(S.saturated_spectra())
def test_saturated_spectra_reach_above_one_over_alpha_bar_T(lam):
    _valid(lam)
    assert lam[0] > S.INVERSE_ALPHA_BAR_T
    assert lam[0] <= 100 * S.INVERSE_ALPHA_BAR_T * (1 + 1e-12)


@given(S.spectra())
def test_spectra_are_positive_finite_and_descending(lam):
    _valid(lam)


@given(st.integers(1, S.MAX_D).flatmap(lambda d: st.tuples(st.just(d), S.rotations(d=d))))
def test_rotations_are_orthogonal(args):
    d, O = args
    assert O.shape == (d, d)
    np.testing.assert_allclose(O.T @ O, np.eye(d), atol=1e-12)
    assert abs(abs(np.linalg.det(O)) - 1) < 1e-12


def test_rotations_vary_with_the_drawn_seed():
    seen = []

    @given(S.rotations(d=st.just(3)))
    def collect(O):
        seen.append(O)
    collect()
    assert len({O.tobytes() for O in seen}) > 1  # not always the same matrix


@given(S.model_configs())
def test_model_configs_are_small_and_valid(config):
    assert set(config) == {"c", "tau", "T"}
    assert config["c"] == 0.0 or 1e-3 <= config["c"] <= 1.0
    assert config["tau"] is None or 0.1 <= config["tau"] <= 1e3
    assert isinstance(config["T"], int) and 1 <= config["T"] <= S.MAX_T
