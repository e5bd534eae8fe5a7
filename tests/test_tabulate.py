"""SpectralTable: the nested Chebyshev–Lobatto build and its accuracy check."""

import numpy as np
import pytest

from numerics.losses import loss_statistic
from numerics.tabulate import SpectralTable

LO, HI = 1e-8, 1e4


def _log_uniform(n, seed=3):
    return np.exp(np.random.default_rng(seed).uniform(np.log(LO), np.log(HI), n))


def test_a_low_degree_function_is_accepted_at_the_first_degree_and_is_exact():
    # g(s) = s²/50 is a polynomial in s = log λ: the degree-64 interpolant is exact
    calls = []

    def f(x):
        calls.append(x.size)
        return x * np.exp(np.log(x) ** 2 / 50)

    table = SpectralTable(f, lo=LO, hi=HI)
    assert table.degree == 64 and table.evaluations == 129 == sum(calls)
    x = _log_uniform(2000)
    assert np.max(np.abs(table(x) / f(x) - 1)) <= 1e-12


@pytest.mark.parametrize("omega", [5.0, 10.0])
def test_refinement_reuses_the_nested_grid_and_meets_rtol_everywhere(omega):
    # an oscillating g needs more than degree 64; every refinement evaluates only the
    # new (odd) points of the doubled grid
    calls = []

    def f(x):
        calls.append(x.size)
        return x * np.exp(np.sin(omega * np.log(x)))

    table = SpectralTable(f, lo=LO, hi=HI, rtol=1e-10)
    assert table.degree > 64
    assert sum(calls) == table.evaluations == 2 * table.degree + 1
    x = _log_uniform(5000)
    assert np.max(np.abs(table(x) / f(x) - 1)) <= 1e-10


def test_a_summed_loss_table_matches_its_exact_sum_over_steps():
    # the three loss tables of the t = "sum" statistic against the untabulated one
    lam = np.array([0.05, 0.5, 2.0, 8.0])
    rng = np.random.default_rng(5)
    e = np.sort(np.exp(rng.uniform(np.log(1e-3), np.log(50), (6, 4))), axis=1)
    U = np.linalg.qr(rng.standard_normal((6, 4, 4)))[0]
    for model in (dict(), dict(c=0.05), dict(tau=5.0)):
        tabulated = loss_statistic(lam, "sum", control=False, **model)(e, U)
        exact = sum(loss_statistic(lam, t, control=False, **model)(e, U)
                    for t in range(1, 1001))
        assert np.max(np.abs(tabulated / exact - 1)) <= 1e-9


def test_outside_the_range_the_exact_function_is_used():
    f = lambda x: 1.0 + x  # noqa: E731
    table = SpectralTable(f, lo=LO, hi=HI)
    outside = np.array([0.0, 1e-9, 2e4])
    assert np.array_equal(table(outside), f(outside))


def test_an_unresolvable_function_raises_instead_of_returning_a_bad_table():
    # a kink in g(s) = |s|: Chebyshev coefficients decay only algebraically
    f = lambda x: x * np.exp(np.abs(np.log(x) - 1.0))  # noqa: E731
    with pytest.raises(ArithmeticError, match="did not reach rtol=1e-10 by degree 256"):
        SpectralTable(f, lo=LO, hi=HI, max_degree=256)


@pytest.mark.parametrize("kw, message", [
    (dict(rtol=1e-12), "rtol must lie in"),
    (dict(lo=0.0), "lo and hi must satisfy"),
    (dict(lo=2.0, hi=1.0), "lo and hi must satisfy"),
    (dict(max_degree=32), "max_degree must be at least 64"),
])
def test_bad_parameters_are_named(kw, message):
    with pytest.raises(ValueError, match=message):
        SpectralTable(lambda x: x, **kw)
