"""The Monte Carlo engine: Bartlett draws, reproducibility, the eigenbasis, the cache."""

import mpmath
import numpy as np
import pytest

from numerics.cache import ResultCache
from numerics.claims import Claim, Outcome
from numerics.kl import gaussian_kl, transfer_kl
from numerics.montecarlo import (sample_covariances, spectral_decompositions,
                                 spectral_monte_carlo, spectral_values)
from numerics.spectra import covariance_from_spectrum, power_law_spectrum, random_rotation
from numerics.transfer import transfer_function, transfer_interpolant
from numerics.verify import run_suite
from numerics.wishart import draw_sample_covariances

Z_MAX = 4.5  # per-entry rule for the moment checks below (two-sided p ≈ 7e-6 each)


def _ks_two_sample(a, b):
    """Two-sample Kolmogorov–Smirnov statistic and its asymptotic p-value."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    D = np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size
                      - np.searchsorted(b, grid, side="right") / b.size))
    n = a.size * b.size / (a.size + b.size)
    # Kolmogorov's limiting law: P(√n D > x) = 2 Σ_k (−1)^(k−1) exp(−2k²x²)
    p = 2 * sum((-1) ** (k - 1) * mpmath.exp(-2 * k * k * n * D * D) for k in range(1, 101))
    return D, min(1.0, float(p))


@pytest.mark.parametrize("centred", [False, True])
def test_bartlett_draws_have_the_wishart_moments_and_the_direct_draws_law(centred):
    d, N, M = 3, 6, 40_000
    rng = np.random.default_rng(11)
    lam = np.array([2.0, 1.0, 0.25])
    O = random_rotation(d, rng)
    Sigma = covariance_from_spectrum(lam, O)
    bart = sample_covariances(lam, N, M, rng, rotation=O, method="bartlett", centred=centred)
    direct = sample_covariances(lam, N, M, rng, rotation=O, method="direct", centred=centred)
    n = N - 1 if centred else N
    # Wishart moments of W = N Σ̂ ~ W_d(n, Σ): E W = nΣ, Var W_ij = n(Σ_ij² + Σ_ii Σ_jj)
    W = bart * N
    mean_se = np.sqrt(n * (Sigma**2 + np.outer(np.diag(Sigma), np.diag(Sigma))) / M)
    assert np.all(np.abs(W.mean(axis=0) - n * Sigma) / mean_se < Z_MAX)
    # E log det W = Σ_i ψ((n − i + 1)/2) + d log 2 + log det Σ (a literature value)
    logdet = np.linalg.slogdet(W)[1]
    expected = float(sum(mpmath.digamma((n - i) / 2) for i in range(d))) + d * np.log(2) \
        + np.log(lam).sum()
    assert abs(logdet.mean() - expected) / (logdet.std(ddof=1) / np.sqrt(M)) < Z_MAX
    # the two routes draw the same law: KS on the extreme eigenvalues and one entry
    eb, ed = np.linalg.eigvalsh(bart), np.linalg.eigvalsh(direct)
    for a, b in [(eb[:, 0], ed[:, 0]), (eb[:, -1], ed[:, -1]), (bart[:, 0, 1], direct[:, 0, 1])]:
        _, p = _ks_two_sample(a, b)
        assert p > 1e-4


def test_the_ks_helper_rejects_different_laws():
    rng = np.random.default_rng(0)
    assert _ks_two_sample(rng.standard_normal(5000), 0.15 + rng.standard_normal(5000))[1] < 1e-4


def test_results_do_not_depend_on_chunks_or_processes_bit_for_bit():
    lam = power_law_spectrum(6, 1.0)
    stat = lambda e, U: np.concatenate([e, (U**2)[:, 0, :]], axis=1)  # noqa: E731
    runs = [spectral_monte_carlo(stat, lam, 9, n_datasets=50, seed=3, chunk=chunk, workers=w)
            for chunk, w in [(50, 1), (7, 1), (1, 1), (7, 2)]]
    for mean, se in runs[1:]:
        assert np.array_equal(mean, runs[0][0]) and np.array_equal(se, runs[0][1])
    other = spectral_monte_carlo(stat, lam, 9, n_datasets=50, seed=4)
    assert not np.array_equal(other[0], runs[0][0])


def test_rank_deficient_sample_covariances_have_exact_zeros():
    lam = power_law_spectrum(8, 1.0)
    S = draw_sample_covariances(lam, 3, np.random.SeedSequence(0).spawn(20))
    e, _ = spectral_decompositions(S)
    assert np.all((e == 0).sum(axis=1) == 5) and np.all(e[:, 5:] > 0)


def test_bartlett_refuses_too_few_samples():
    with pytest.raises(ValueError, match="method='bartlett' needs N >= d"):
        draw_sample_covariances(np.ones(4), 3, np.random.SeedSequence(0).spawn(2),
                                method="bartlett")
    with pytest.raises(ValueError, match="method must be one of"):
        draw_sample_covariances(np.ones(4), 3, [], method="wishart")
    with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
        spectral_monte_carlo(lambda e, U: e[:, 0], [1.0], 3, n_datasets=4, seed=0, chunk=0)


@pytest.mark.parametrize("kw", [dict(), dict(c=0.1), dict(tau=20.0), dict(c=1e-3, tau=3.0, T=200)])
def test_transfer_interpolant_matches_the_exact_recursion(kw):
    f = transfer_interpolant(**kw)
    rng = np.random.default_rng(7)
    lam = np.exp(rng.uniform(np.log(1e-10), np.log(1e5), 3000))
    lam[:3] = [0.0, 1e-8, 1e4]
    exact = transfer_function(lam, **kw)
    approx = f(lam)
    assert approx[0] == exact[0]  # zeros go to the exact recursion
    assert np.max(np.abs(approx[1:] / exact[1:] - 1)) <= 1e-10


def test_transfer_kl_in_the_eigenbasis_equals_the_matrix_kl():
    rng = np.random.default_rng(5)
    d = 5
    lam = power_law_spectrum(d, 1.5)
    S = sample_covariances(lam, 12, 4, rng)
    e, U = spectral_decompositions(S)
    f = transfer_interpolant(c=0.01)
    f_hat, f_opt = f(e), f(lam)
    for direction in ("forward", "reverse"):
        got = transfer_kl(f_hat, U, f_opt, direction)
        for b in range(4):
            A = (U[b] * f_hat[b]) @ U[b].T
            B = np.diag(f_opt)
            want = gaussian_kl(A, B) if direction == "forward" else gaussian_kl(B, A)
            assert got[b] == pytest.approx(want, rel=1e-9)
    f_hat[0, 0] = 0.0
    assert np.isinf(transfer_kl(f_hat, U, f_opt, "forward")[0])
    assert np.isinf(transfer_kl(f_hat, U, f_opt, "reverse")[0])


def _counting_claims(calls, fail_at=None):
    def make(i):
        def run(seed, params):
            if i == fail_at:
                raise KeyboardInterrupt
            calls.append(i)
            value = float(np.random.default_rng(seed).standard_normal())
            return Outcome("statistical", params, 0.0, value, 1.0, abs(value), 0.5)
        return Claim(f"T.claim-{i}", "test claim", "none", "T", run, dict(n=10 + i), dict(n=1))
    return [make(i) for i in range(3)]


def test_cache_reuses_finished_claims_and_keys_on_seed_and_params(tmp_path):
    calls = []
    cache = ResultCache(tmp_path)
    first = run_suite(claims=_counting_claims(calls), cache=cache)
    assert calls == [0, 1, 2]
    second = run_suite(claims=_counting_claims(calls), cache=cache)
    assert calls == [0, 1, 2] and all(r["cached"] for r in second.rows)
    assert [r["estimate"] for r in second.rows] == [r["estimate"] for r in first.rows]
    run_suite(claims=_counting_claims(calls), cache=cache, seed=1)  # new seed: recomputed
    run_suite(claims=_counting_claims(calls), cache=cache, quick=True)  # new params
    assert len(calls) == 9
    run_suite(claims=_counting_claims(calls), cache=ResultCache(tmp_path, enabled=False))
    assert len(calls) == 12


def test_an_interrupted_run_keeps_every_finished_claim(tmp_path):
    calls = []
    cache = ResultCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_suite(claims=_counting_claims(calls, fail_at=2), cache=cache)
    assert calls == [0, 1]
    report = run_suite(claims=_counting_claims(calls), cache=cache)
    assert calls == [0, 1, 2]
    assert [r["cached"] for r in report.rows] == [True, True, False]


def test_degenerate_sampler_gives_inf_not_a_huge_number():
    # N < d, c = 0, τ = ∞: f(0) = 0 exactly on the null space of Σ̂, so KL = inf
    lam = power_law_spectrum(6, 1.0)
    f = transfer_interpolant()
    f_opt = f(lam)
    for direction in ("forward", "reverse"):
        stat = lambda e, U: transfer_kl(f(e), U, f_opt, direction)  # noqa: E731
        kl = spectral_values(stat, lam, 4, n_datasets=20, seed=1)
        assert np.all(np.isinf(kl)) and not np.isnan(kl).any()
        # with a ridge the same datasets give finite values
        g = transfer_interpolant(c=0.1)
        finite = spectral_values(lambda e, U: transfer_kl(g(e), U, g(lam), direction),
                                 lam, 4, n_datasets=20, seed=1)
        assert np.all(np.isfinite(finite)) and np.all(finite > 0)
