"""Numerical evaluation: spectra, schedule, transfer, KL, Monte Carlo, validation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numerics import (gaussian_kl, linear_schedule, power_law_spectrum, random_rotation,
                      spectral_monte_carlo, transfer_function)
from numerics.denoiser import denoiser_matrices
from numerics.kl import kl_commuting


@pytest.mark.parametrize("d, k", [(1, 0.0), (10, 0.0), (100, 1.0), (1000, 2.5), (50, 40.0)])
def test_power_law_spectrum_sums_to_d_and_descends(d, k):
    lam = power_law_spectrum(d, k)
    assert lam.shape == (d,) and np.isclose(lam.sum(), d)
    assert np.all(np.diff(lam) <= 0) and np.all(lam > 0)
    # the ratio of consecutive eigenvalues is the power law itself
    if d > 1:
        assert np.isclose(lam[1] / lam[0], 2.0**-k)


def test_linear_schedule_one_minus_alpha_bar_is_exact_at_t1():
    s = linear_schedule()
    # DESIGN.md: β_t = β_min + (β_max − β_min)·t/T for t = 1..T, so β_1 = β_min + Δ/T
    beta_1 = 1e-4 + (1e-2 - 1e-4) / 1000
    assert s.T == 1000 and np.isclose(s.betas[0], beta_1) and np.isclose(s.betas[-1], 1e-2)
    assert abs(s.one_minus_alpha_bar[0] - beta_1) <= 2 * np.spacing(beta_1)
    assert np.allclose(s.alpha_bar, np.cumprod(1 - s.betas), rtol=1e-12)


@given(lam=st.lists(st.floats(0.0, 500.0), min_size=1, max_size=4),
       c=st.sampled_from([0.0, 0.01, 1.0]), tau=st.sampled_from([None, 0.5, 50.0]))
def test_transfer_float64_agrees_with_mpmath(lam, c, tau):
    f = transfer_function(lam, c=c, tau=tau, T=200)
    f_mp = transfer_function(lam, c=c, tau=tau, T=200, dps=30).astype(float)
    assert np.allclose(f, f_mp, rtol=1e-10, atol=1e-14)


def test_transfer_is_increasing_and_kills_the_null_space_without_ridge():
    lam = np.linspace(0, 50, 200)
    f = transfer_function(lam)
    assert f[0] == 0.0 and np.all(np.diff(f) > 0)
    assert transfer_function([0.0], c=0.1)[0] > 0  # ridge keeps variance in the null space


def test_transfer_with_long_training_time_equals_the_minimiser():
    lam = np.array([0.01, 1.0, 30.0])
    assert np.allclose(transfer_function(lam, tau=1e9), transfer_function(lam), rtol=1e-12)


def test_sampler_by_matrices_reproduces_the_transfer_exactly():
    # covariance propagation with matrices (no eigenbasis) vs the scalar recursion
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, 3)) * [2.0, 1.0, 0.3]
    cov = X.T @ X / 7
    s = linear_schedule(300)
    W = denoiser_matrices(cov, s.one_minus_alpha_bar, c=0.05)
    V = np.eye(3)
    for i in range(s.T - 1, -1, -1):
        M = (np.eye(3) - s.betas[i] / np.sqrt(s.one_minus_alpha_bar[i]) * W[i]) / np.sqrt(1 - s.betas[i])
        V = M @ V @ M.T + (s.betas[i] if i > 0 else 0.0) * np.eye(3)
    lam_hat, U = np.linalg.eigh(cov)
    expected = (U * transfer_function(lam_hat, c=0.05, T=300)) @ U.T
    assert np.allclose(V, expected, rtol=1e-10, atol=1e-13)


def test_gaussian_kl_matches_textbook_formula_and_is_rotation_invariant():
    rng = np.random.default_rng(1)
    G, H = rng.standard_normal((2, 5, 5))
    A, B = G @ G.T + 0.1 * np.eye(5), H @ H.T + 0.1 * np.eye(5)
    textbook = 0.5 * (np.trace(np.linalg.solve(B, A)) - 5
                      - np.linalg.slogdet(A)[1] + np.linalg.slogdet(B)[1])
    assert np.isclose(gaussian_kl(A, B), textbook, rtol=1e-10)
    O = random_rotation(5, rng)
    assert np.isclose(gaussian_kl(O @ A @ O.T, O @ B @ O.T), textbook, rtol=1e-9)
    assert gaussian_kl(A, A) == pytest.approx(0.0, abs=1e-12)
    assert np.isclose(kl_commuting([1.0, 2.0], [2.0, 2.0]), 0.5 * (0.5 - 1 - np.log(0.5)))


def test_gaussian_kl_is_accurate_for_nearly_equal_and_infinite_for_singular():
    A = np.diag([1.0 + 1e-7, 1.0])
    assert np.isclose(gaussian_kl(A, np.eye(2)), 0.25e-14, rtol=1e-6)
    assert gaussian_kl(np.diag([1.0, 0.0]), np.eye(2)) == np.inf


@pytest.mark.parametrize("call, message", [
    (lambda: transfer_function([-1.0]), "lam must be finite and >= 0"),
    (lambda: transfer_function([np.nan]), "lam must be finite and >= 0"),
    (lambda: transfer_function([1.0], c=-0.1), "c must be a finite real >= 0"),
    (lambda: transfer_function([1.0], tau=-1), "tau must be None or a real >= 0"),
    (lambda: transfer_function([1.0], T=0), "T must be an integer >= 1"),
    (lambda: transfer_function([1.0], beta_min=0.0), r"beta_min must lie in the open interval \(0, 1\)"),
    (lambda: transfer_function([1.0], beta_max=1.5), r"beta_max must lie in the open interval \(0, 1\)"),
    (lambda: power_law_spectrum(0, 1.0), "d must be an integer >= 1"),
    (lambda: power_law_spectrum(5, -1.0), "k must be a finite real >= 0"),
    (lambda: gaussian_kl([[1.0, 0.5], [0.0, 1.0]], np.eye(2)), "A must be symmetric"),
    (lambda: gaussian_kl(np.diag([1.0, -1.0]), np.eye(2)), "A must be positive semi-definite"),
    (lambda: gaussian_kl(np.eye(2), np.diag([1.0, 0.0])), "B must be positive definite"),
    (lambda: gaussian_kl(np.eye(2), np.eye(3)), "same shape"),
    (lambda: spectral_monte_carlo(lambda e, v: e[:, 0], [1.0], 0, n_datasets=4, seed=0),
     "N must be an integer >= 1"),
])
def test_bad_input_names_the_parameter_and_range(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_monte_carlo_reproduces_from_its_seed_and_estimates_the_trace():
    lam = power_law_spectrum(4, 1.0)
    stat = lambda e, v: e.sum(axis=1)  # Tr Σ̂, expectation Tr Σ = d
    a = spectral_monte_carlo(stat, lam, 20, n_datasets=1000, seed=5, chunk=100)
    b = spectral_monte_carlo(stat, lam, 20, n_datasets=1000, seed=5, chunk=100)
    assert a == b
    # Var Tr Σ̂ = 2 Σλ²/N: the s.e. must agree with it (ratio within 10% for 1000 draws)
    assert abs(a.stderr / np.sqrt(2 * np.sum(lam**2) / 20 / 1000) - 1) < 0.1
    assert abs(a.mean - 4.0) < 4 * a.stderr


def test_summed_losses_add_the_per_step_losses_and_long_training_is_finite():
    from numerics.losses import step_losses, summed_losses

    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 3))
    cov, Sigma = X.T @ X / 5, np.eye(3)
    s = linear_schedule(50)
    per_step = [step_losses(cov, Sigma, ab, c=0.1) for ab in s.alpha_bar]
    assert np.allclose(summed_losses(cov, Sigma, s, c=0.1), np.sum(per_step, axis=0))
    # τ huge: the gradient-flow losses equal the minimiser's, with no overflow
    assert np.allclose(summed_losses(cov, Sigma, s, tau=1e12), summed_losses(cov, Sigma, s))


def test_cosine_schedule_follows_its_definition():
    from numerics import cosine_schedule

    s = cosine_schedule(100)
    t = np.arange(101)
    g = np.cos(np.pi / 2 * (t / 100 + 0.008) / 1.008) ** 2
    # the product of 1 − β_t telescopes to g(t)/g(0) until the clip at β = 0.999 (t = T)
    assert np.allclose(s.alpha_bar[:-1], g[1:-1] / g[0], rtol=1e-10)
    assert s.betas[-1] == 0.999 and np.all((s.betas > 0) & (s.betas <= 0.999))
