"""Property-based tests over random spectra (hypothesis; profiles "ci" and "dev").

Each property is a ``check_*`` function that raises AssertionError when the property
fails; a hypothesis test runs it over the strategies of ``tests/strategies.py``, and for
several of them a second test feeds it a deliberately wrong variant (a flipped sign, a
dropped term, float32 arithmetic) and asserts that the check rejects it — so every
property is shown to be able to fail.

Properties
----------
KL                  D ≥ 0 with equality iff the covariances agree; the eigenbasis KL
                    equals the matrix KL; D is invariant under a common rotation
transfer            f increasing in λ; f → identity as T → ∞ with ᾱ_T → 0 (first order
                    in 1/T, theory.continuous)
a₁                  = d(d+1)/4 exactly for linear f (below/above it for affine f with
                    positive/negative offset); = the Wick average of the KL's Hessian,
                    by finite differences of the matrix KL (Daleckii–Krein + Isserlis)
series              exact E[KL] − (K-term series) has the sign of the next series term
precision           mpmath and float64 evaluations agree within the float64 condition
                    number (transfer f, exact E[KL], κ₀)
proportional        κ(z) increasing in z, κ ≥ max(z, κ₀), and it solves its equation
losses              E[L_test] − E[L_train] ≥ 0 to O(1/N) (decreasing w_t², so every
                    divided difference of w_t² is ≤ 0)
"""

import math
import sys
from functools import lru_cache
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from numerics.asymptotics import (expected_kl_identity, leading_coefficient_from_transfer,
                                  transfer_derivative)
from numerics.kl import gaussian_kl, kl_commuting, transfer_kl
from numerics.losses import loss_coefficients
from numerics.proportional import kappa, kappa0
from numerics.schedule import linear_schedule
from numerics.spectra import covariance_from_spectrum, random_rotation
from numerics.transfer import (continuous_alpha_bar_T, continuous_transfer_function,
                               ratio_function, transfer_function)
from theory.kl import expected_kl_exact, series_coefficients
from theory.symbols import N as N_sym
from theory.symbols import d as d_sym

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib
import strategies as S  # noqa: E402

EPS = np.finfo(float).eps


def _pairs(d_max=S.MAX_D):
    """(spectrum, rotation of the same dimension)."""
    return st.integers(1, d_max).flatmap(
        lambda d: st.tuples(S.spectra(d=st.just(d)), S.rotations(d=st.just(d))))


# ------------------------------------------------------------------------------------
# KL divergence


def check_kl_identity_of_indiscernibles(kl, lam, O, scale):
    """D(A‖B) ≥ 0, = 0 iff A = B, for A = O diag(λ) Oᵀ and B = O diag(λ·scale) Oᵀ.

    D(A‖A) must vanish to round-off, D(A‖B) must equal the commuting-spectra value
    ½Σ(μ − 1 − log μ), μ = 1/scale, and be > 0 as soon as some scale differs from 1.
    """
    A = covariance_from_spectrum(lam, O)
    B = covariance_from_spectrum(lam * scale, O)
    same = kl(A, A)
    assert abs(same) <= 1e-9 * lam.size, f"D(A||A) = {same}"
    value = kl(A, B)
    exact = float(kl_commuting(np.ones_like(lam), scale))
    assert value >= 0, f"D(A||B) = {value} < 0"
    assert math.isclose(value, exact, rel_tol=1e-6, abs_tol=1e-9 * lam.size), (value, exact)
    if np.max(np.abs(np.log(scale))) >= 1e-3:
        assert value > 0


_scales = st.lists(S._log_uniform(0.25, 4.0), min_size=S.MAX_D, max_size=S.MAX_D)


@given(_pairs(), _scales)
def test_kl_is_nonnegative_and_zero_only_for_equal_covariances(pair, scales):
    lam, O = pair
    check_kl_identity_of_indiscernibles(gaussian_kl, lam, O, np.array(scales[:lam.size]))


def test_a_kl_with_the_wrong_sign_of_the_log_determinant_fails_the_property():
    def wrong(A, B):  # ½[tr(B⁻¹A) − d + log det(B⁻¹A)]
        M = np.linalg.solve(B, A)
        return 0.5 * (np.trace(M) - len(A) + np.linalg.slogdet(M)[1])
    with pytest.raises(AssertionError):
        check_kl_identity_of_indiscernibles(wrong, np.ones(2), np.eye(2), np.array([2.0, 1.0]))


def check_rotation_invariance(kl, A, B, O):
    """D(OAOᵀ ‖ OBOᵀ) = D(A ‖ B)."""
    before, after = kl(A, B), kl(O @ A @ O.T, O @ B @ O.T)
    assert math.isclose(before, after, rel_tol=1e-6, abs_tol=1e-9 * len(A)), (before, after)


@given(_pairs(d_max=6), st.integers(0, 2**32 - 1))
def test_kl_is_invariant_under_a_common_rotation(pair, seed):
    lam, O = pair
    rng = np.random.default_rng(seed)
    d = lam.size
    A = covariance_from_spectrum(lam, random_rotation(d, rng))
    B = covariance_from_spectrum(lam * rng.uniform(0.5, 2.0, d), random_rotation(d, rng))
    check_rotation_invariance(gaussian_kl, A, B, O)


def test_a_kl_of_the_diagonals_alone_fails_rotation_invariance():
    def diagonal_only(A, B):
        return float(kl_commuting(np.diag(A), np.diag(B)))
    A, B = np.diag([1.0, 2.0]), np.eye(2)
    O = random_rotation(2, np.random.default_rng(0))
    with pytest.raises(AssertionError):
        check_rotation_invariance(diagonal_only, A, B, O)


@given(_pairs(d_max=6), st.integers(0, 2**32 - 1))
def test_eigenbasis_kl_equals_the_matrix_kl(pair, seed):
    """transfer_kl (any eigenvectors U, both directions) = gaussian_kl of the matrices."""
    f_opt, U = pair
    f_hat = f_opt * np.random.default_rng(seed).uniform(0.5, 2.0, f_opt.size)
    A, B = covariance_from_spectrum(f_hat, U), np.diag(f_opt)
    forward = float(transfer_kl(f_hat[None], U[None], f_opt, "forward")[0])
    reverse = float(transfer_kl(f_hat[None], U[None], f_opt, "reverse")[0])
    tol = dict(rel_tol=1e-6, abs_tol=1e-9 * f_opt.size)
    assert forward >= 0 and reverse >= 0
    assert math.isclose(forward, gaussian_kl(A, B), **tol)
    assert math.isclose(reverse, gaussian_kl(B, A), **tol)


# ------------------------------------------------------------------------------------
# the transfer f


def check_increasing(f_values, lam):
    """f(λ) non-decreasing along increasing λ (to a relative 1e-13), and f > 0 for λ > 0."""
    order = np.argsort(lam)
    f = np.asarray(f_values, dtype=float)[order]
    assert (f > 0).all(), f"f must be > 0 for lam > 0: {f}"
    assert (np.diff(f) >= -1e-13 * f[1:]).all(), f"f decreases: {f} at lam {lam[order]}"


@given(S.spectra(), S.model_configs())
def test_transfer_is_increasing_in_lambda(lam, config):
    # a_t = (1 − β_t r(k_t))/√(1 − β_t) ≥ 0 rises with λ (r decreases in the curvature
    # k = ᾱλ + 1 − ᾱ + c, for ridge and gradient flow), so every v_t rises with λ
    check_increasing(transfer_function(lam, **config), lam)


def _variant_transfer(lam, *, T=100, beta_min=1e-4, beta_max=1e-2, sign=-1.0, rescale=True):
    """The DDPM variance recursion (c = 0, τ = ∞) written out, with a slip to choose:
    ``sign=+1`` adds the denoiser's gain instead of subtracting it, ``rescale=False``
    drops the 1/√(1 − β_t) of a_t."""
    schedule = linear_schedule(T, beta_min, beta_max)
    q = schedule.one_minus_alpha_bar[:, None]
    k = (1 - q) * np.asarray(lam, dtype=float)[None] + q
    a = 1 + sign * schedule.betas[:, None] * ratio_function("ridge")(k, 0.0, 0.0, 0)
    if rescale:
        a = a / np.sqrt(1 - schedule.betas[:, None])
    v = np.ones_like(k[0])
    for t in range(T - 1, -1, -1):
        v = a[t] ** 2 * v + (schedule.betas[t] if t else 0.0)
    return v


def test_the_written_out_recursion_is_the_transfer():
    lam = np.array([1e-3, 0.1, 1.0, 10.0, 1e3])
    np.testing.assert_allclose(_variant_transfer(lam), transfer_function(lam, T=100),
                               rtol=1e-12)


def test_a_transfer_with_the_wrong_sign_of_the_gain_fails_monotonicity():
    lam = np.array([0.1, 1.0, 10.0])
    with pytest.raises(AssertionError):
        check_increasing(_variant_transfer(lam, sign=+1.0), lam)


def check_tends_to_identity(transfer, lam, integral, T0):
    """f_T(λ) → λ along T = T₀, 4T₀, 16T₀ at a fixed integral of β̄ (ᾱ_T ≤ e^−12).

    theory.continuous: f_∞(λ) = λ − ᾱ_T²λ²(λ − 1)/(1 + ᾱ_T(λ − 1))², so with ᾱ_T ≤ e^−12
    and λ ≤ 100 the limit is λ to a relative 1e-6, and the discrete sampler approaches
    it at first order in 1/T (local error O(β²)): each quadrupling of T divides the
    largest relative distance to λ by about 4.  The allowance 1/3 (not 1/4) is for the
    O(1/T²) terms, ≤ 0.27 over this range of λ, T₀ and ∫β̄.
    """
    distance = []
    for T in (T0, 4 * T0, 16 * T0):
        f = transfer(lam, T=T, beta_min=0.1 / T, beta_max=integral / T)
        distance.append(np.max(np.abs(f / lam - 1)))
    limit = continuous_transfer_function(lam, continuous_alpha_bar_T(1, 0.1, integral))
    assert np.max(np.abs(limit / lam - 1)) <= 1e-6
    assert distance[1] <= distance[0] / 3 and distance[2] <= distance[1] / 3, distance
    assert distance[2] <= 0.01, distance


@given(S._log_uniform(1e-2, 1.0), st.floats(24.0, 40.0), st.integers(2000, 4000))
def test_transfer_tends_to_the_identity_as_T_grows_and_the_noise_is_complete(lo, integral, T0):
    lam = lo * np.logspace(0, 2, 9)  # a mid-range grid, two decades from `lo`
    check_tends_to_identity(transfer_function, lam, integral, T0)


def test_a_transfer_without_the_rescaling_by_sqrt_one_minus_beta_fails_the_limit():
    def unscaled(lam, **schedule):  # a_t = 1 − β_t r_t (no 1/√(1 − β_t))
        return _variant_transfer(lam, rescale=False, **schedule)
    with pytest.raises(AssertionError):
        check_tends_to_identity(unscaled, np.logspace(-1, 1, 5), 30.0, 2000)


# ------------------------------------------------------------------------------------
# the leading coefficient a₁


def check_linear_transfer_coefficient(a1_function, lam, slope, offset_fraction):
    """a₁ = d(d+1)/4 for f = αλ; a₁ < (>) d(d+1)/4 for f = αλ + β₀ with β₀ > 0 (< 0).

    (theory.kl.linear_transfer_coefficient: the pair weight is w_pq = αλ_p αλ_q/(f_p f_q).)
    ``offset_fraction`` ∈ (−1, 1) \\ {0} sets β₀ = offset_fraction·α·min λ, so f > 0.
    """
    d = lam.size
    ones = np.ones_like(lam)
    linear = a1_function(lam, slope * lam, slope * ones)
    assert math.isclose(linear, d * (d + 1) / 4, rel_tol=1e-12), (linear, d * (d + 1) / 4)
    offset = offset_fraction * slope * lam.min()
    affine = a1_function(lam, slope * lam + offset, slope * ones)
    if offset > 0:
        assert affine < d * (d + 1) / 4
    elif offset < 0:
        assert affine > d * (d + 1) / 4


_offsets = st.one_of(st.floats(0.01, 0.99), st.floats(-0.99, -0.01))


@given(S.spectra(), S._log_uniform(1e-3, 1e3), _offsets)
def test_a1_is_d_d_plus_1_over_4_exactly_for_a_linear_transfer(lam, slope, offset_fraction):
    check_linear_transfer_coefficient(leading_coefficient_from_transfer, lam, slope,
                                      offset_fraction)


def _a1_without_kronecker_delta(lam, f, fp):
    """The mutated a₁ with (1 + δ_ij) → 1."""
    lam, f, fp = (np.asarray(a, dtype=float) for a in (lam, f, fp))
    return leading_coefficient_from_transfer(lam, f, fp) - 0.25 * np.sum((lam * fp / f) ** 2)


def test_a1_without_the_kronecker_delta_fails_the_linear_property():
    with pytest.raises(AssertionError):
        check_linear_transfer_coefficient(_a1_without_kronecker_delta, np.array([2.0, 1.0]),
                                          1.0, 0.5)


def _matrix_function(f, M):
    mu, V = np.linalg.eigh(M)
    return (V * f(mu)) @ V.T


def _kl_hessian(f, lam, E, h):
    """½ d²/dε² D(N(0, F(Σ + εE)) ‖ N(0, F(Σ))) at ε = 0, Σ = diag(λ).

    Symmetric difference H(h) = [D(h) + D(−h)]/(2h²) = Q + O(h²), Richardson-combined:
    (4H(h) − H(2h))/3 = Q + O(h⁴).  D(0) = 0 and D′(0) = 0 (the KL's first order vanishes).
    """
    B = np.diag(f(lam))

    def H(step):
        return sum(gaussian_kl(_matrix_function(f, np.diag(lam) + s * E), B)
                   for s in (step, -step)) / (2 * step**2)
    return (4 * H(h) - H(2 * h)) / 3


def check_a1_is_the_wick_average_of_the_kl_hessian(a1_function, f, f_prime, lam):
    """a₁ = N E[½ D″(δ)] with the Wishart second moments N E[δ_pq²] = λ_pλ_q(1 + δ_pq).

    The second-order KL is a quadratic form in the independent entries δ_pq (p ≤ q) of
    δ = Σ̂ − Σ with no cross terms (Σ diagonal), and E[δ_pq δ_rs] = 0 for (p, q) ≠ (r, s)
    (Isserlis), so the expectation is Σ_{p≤q} λ_pλ_q(1 + δ_pq)·Q(E_pq), E_pq the unit
    symmetric perturbation.  Q(E_pq) is taken by finite differences of the exact matrix
    KL, independently of the divided-difference formula.
    """
    d = lam.size
    expected = 0.0
    for p in range(d):
        for q in range(p, d):
            E = np.zeros((d, d))
            E[p, q] = E[q, p] = 1.0
            scale = math.sqrt(lam[p] * lam[q])  # perturb on the scale of the eigenvalues
            Q = _kl_hessian(f, lam, E * scale, 1e-3)
            expected += (2.0 if p == q else 1.0) * Q  # λ_pλ_q(1+δ_pq)/scale² = 1 + δ_pq
    a1 = a1_function(lam, f(lam), f_prime(lam))
    # absolute floor: the round-off of the KL differences, far below a₁'s natural scale
    # d(d+1)/4 (it matters only for a nearly constant f, e.g. T = 1 with small τ)
    assert math.isclose(a1, expected, rel_tol=1e-5, abs_tol=1e-9 * d * (d + 1) / 4), (
        a1, expected)


@given(S.spectra(d=st.integers(1, 6)), S.model_configs())
def test_a1_equals_the_wick_average_of_the_kl_hessian(lam, config):
    check_a1_is_the_wick_average_of_the_kl_hessian(
        leading_coefficient_from_transfer,
        lambda x: transfer_function(x, **config),
        lambda x: transfer_derivative(x, **config), lam)


def test_a1_without_the_kronecker_delta_fails_the_hessian_property():
    config = dict(c=0.1, tau=None, T=50)
    with pytest.raises(AssertionError):
        check_a1_is_the_wick_average_of_the_kl_hessian(
            _a1_without_kronecker_delta, lambda x: transfer_function(x, **config),
            lambda x: transfer_derivative(x, **config), np.array([2.0, 0.5]))


# ------------------------------------------------------------------------------------
# the asymptotic series of E[KL] for f = identity


_MAX_K = 3


@lru_cache(maxsize=None)
def _series(direction, mean):
    return series_coefficients(_MAX_K + 3, direction, mean)


def _coefficients_at(coefficients, d):
    return [sp.Rational(a.subs(d_sym, d)) for a in coefficients]


def check_remainder_sign(coefficients, d, N, K, exact):
    """sign(exact − Σ_{m≤K} a_m N^−m) = sign of the first non-zero a_m, m > K.

    "N large enough": N ≥ 10·max(d, |a_{j+1}/a_j|, |a_{j+2}/a_j|^½), j that first
    non-zero index — the next two terms change the leading remainder by ≤ 11%.
    """
    a = _coefficients_at(coefficients, d)
    nxt = next(m for m in range(K, len(a)) if a[m] != 0)  # 0-based: a[m] is a_{m+1}
    with mpmath.workdps(60):
        series = sum(mpmath.mpf(a[m].p) / a[m].q / mpmath.mpf(N) ** (m + 1) for m in range(K))
        remainder = exact - series
        predicted = 1 if a[nxt] > 0 else -1
        assert remainder != 0 and mpmath.sign(remainder) == predicted, (
            f"d={d} N={N} K={K}: remainder {mpmath.nstr(remainder, 5)}, next term a_{nxt + 1}"
            f" = {a[nxt]}")


def _large_enough(coefficients, d, K):
    a = _coefficients_at(coefficients, d)
    j = next(m for m in range(K, len(a)) if a[m] != 0)
    ratios = [d, abs(a[j + 1] / a[j]) if j + 1 < len(a) else 0,
              math.sqrt(abs(a[j + 2] / a[j])) if j + 2 < len(a) else 0]
    return 10 * max(float(r) for r in ratios)


@given(st.integers(1, 30), st.integers(1, _MAX_K), st.sampled_from(["forward", "reverse"]),
       st.sampled_from(["known", "estimated"]), st.floats(1.0, 1000.0))
def test_exact_expected_kl_exceeds_each_truncated_series_by_the_sign_of_the_next_term(
        d, K, direction, mean, factor):
    coefficients = _series(direction, mean)
    N = math.ceil(factor * _large_enough(coefficients, d, K))
    # the remainder is ~(d/N)^K of the value: enough digits to resolve it
    dps = 30 + math.ceil((K + 1) * math.log10(N))
    exact = expected_kl_identity(d, N, direction, mean, dps=dps)
    check_remainder_sign(coefficients, d, N, K, exact)


def test_a_series_with_the_wrong_sign_of_the_second_order_fails_the_property():
    a = list(_series("forward", "known"))
    a[1] = -a[1]
    d, N = 5, 1000
    with pytest.raises(AssertionError):
        check_remainder_sign(a, d, N, 1, expected_kl_identity(d, N, dps=40))


# ------------------------------------------------------------------------------------
# mpmath against float64


def transfer_condition(lam, c, tau, T):
    """Float64 condition number of the recursion: T + Σ_t |β_t r_t/(1 − β_t r_t)|.

    The only cancellation is a_t ∝ 1 − β_t r_t (it vanishes at t = 1 for λ → 0 with
    c = 0, τ = ∞); each a_t enters v_0 squared, every other operation is benign.
    """
    schedule = linear_schedule(T)
    q = schedule.one_minus_alpha_bar[:, None]
    k = (1 - q) * lam[None] + q + c
    r = ratio_function("ridge" if tau is None else "gradient_flow")(
        k, 0.0 if tau is None else tau, 0.0, 0)
    gain = schedule.betas[:, None] * r
    return T + np.sum(np.abs(gain / (1 - gain)), axis=0)


def check_float_agrees_with_mpmath(float_values, mp_values, condition):
    """|float − mp| ≤ 4 ε·condition·|mp| (relative, entrywise)."""
    exact = np.array([float(v) for v in np.ravel(mp_values)])
    got = np.asarray(float_values, dtype=float).ravel()
    bound = 4 * EPS * np.asarray(condition).ravel() * np.abs(exact)
    bad = np.abs(got - exact) > bound
    assert not bad.any(), f"float64 {got[bad]} vs mpmath {exact[bad]} (bound {bound[bad]})"


@given(S.spectra(d=st.integers(1, 4)), S.model_configs())
def test_transfer_in_float64_agrees_with_mpmath_within_its_condition_number(lam, config):
    condition = transfer_condition(lam, config["c"], config["tau"], config["T"])
    well = condition * EPS <= 1e-8  # where float64 keeps at least 8 digits
    lam = lam[well]
    if lam.size:
        check_float_agrees_with_mpmath(transfer_function(lam, **config),
                                       transfer_function(lam, dps=30, **config),
                                       condition[well])


def test_a_float32_transfer_fails_the_precision_check():
    lam = np.array([0.3, 3.0])
    config = dict(c=0.0, tau=None, T=20)
    with pytest.raises(AssertionError):
        check_float_agrees_with_mpmath(
            transfer_function(lam, **config).astype(np.float32),
            transfer_function(lam, dps=30, **config),
            transfer_condition(lam, 0.0, None, 20))


def _digamma64(x):
    """ψ(x) in float64, x > 0: recurrence up to x ≥ 16, then the Stirling series
    log x − 1/(2x) − Σ_{k=1..6} B_2k/(2k x^2k) (truncation < 1e-17 there)."""
    x = float(x)
    shift = 0.0
    while x < 16:
        shift -= 1 / x
        x += 1
    x2 = 1 / (x * x)
    tail = x2 * (1 / 12 - x2 * (1 / 120 - x2 * (1 / 252 - x2 * (1 / 240 - x2 * (
        1 / 132 - x2 * 691 / 32760)))))
    return shift + math.log(x) - 0.5 / x - tail


def test_float64_digamma_matches_mpmath():
    for x in (0.5, 1.0, 3.7, 8.0, 50.5, 1e6):
        assert math.isclose(_digamma64(x), float(mpmath.digamma(x)), rel_tol=1e-14,
                            abs_tol=1e-15)


@lru_cache(maxsize=None)
def _exact_kl_float(direction, mean):
    """The derived sympy expression compiled for float64 (math + the digamma above)."""
    return sp.lambdify((d_sym, N_sym), expected_kl_exact(direction, mean),
                       [{"polygamma": lambda n, x: _digamma64(x)}, "math"])


@given(st.integers(1, 30), st.integers(3, 100_000), st.sampled_from(["forward", "reverse"]),
       st.sampled_from(["known", "estimated"]))
def test_exact_expected_kl_in_float64_agrees_with_mpmath(d, extra, direction, mean):
    N = d + 2 + extra  # finite in every direction and mean (N > d + 2)
    exact = expected_kl_identity(d, N, direction, mean, dps=30)
    # the value (~d²/4N) is the difference of terms of size ~d(|log(N/2)| + 1), plus
    # d·N/(N − d − 2) in the reverse direction: the condition number is their ratio
    size = d * (abs(math.log(N / 2)) + 1) + (d * N / (N - d - 2) if direction == "reverse" else 0)
    check_float_agrees_with_mpmath([_exact_kl_float(direction, mean)(d, float(N))], [exact],
                                   [16 * d * size / float(exact)])


@given(S.spectra(), st.data())
def test_kappa0_in_float64_agrees_with_mpmath(lam, data):
    d = lam.size
    if d < 2:
        return  # κ₀ > 0 needs N < d
    N = data.draw(st.integers(1, d - 1))
    k = kappa0(lam, N)
    # condition of the root of φ(κ) = 1: φ/(κ|φ′|), φ = (1/N)Σλ/(λ+κ)
    phi_prime = np.sum(lam / (lam + k) ** 2) / N
    condition = 16 * d / (k * phi_prime)
    check_float_agrees_with_mpmath([k], [kappa0(lam, N, dps=30)], [condition])


# ------------------------------------------------------------------------------------
# proportional regime: the effective ridge


def check_kappa_increasing(kappa_values, z, lam, N):
    """κ(z) non-decreasing in z, κ ≥ max(z, κ₀), and κ − z = (κ/N)Σλ/(λ + κ)."""
    k = np.asarray(kappa_values, dtype=float)
    assert (np.diff(k) >= -4 * EPS * k[1:]).all(), f"kappa decreases: {k} at z {z}"
    k0 = kappa0(lam, N)
    assert (k >= np.maximum(z, k0) * (1 - 1e-12)).all()
    residual = k - z - k * np.sum(lam / (lam + k[:, None]), axis=1) / N
    assert (np.abs(residual) <= 1e-9 * np.maximum(k, 1e-300)).all(), residual


@given(S.spectra(), st.integers(1, 3 * S.MAX_D),
       st.lists(S._log_uniform(1e-6, 1e3), min_size=2, max_size=6))
def test_kappa_is_increasing_in_z(lam, N, z):
    z = np.sort(np.asarray(z)) * np.mean(lam)  # z on the scale of the spectrum
    check_kappa_increasing(kappa(z, lam, N), z, lam, N)


def test_a_kappa_reversed_in_z_fails_the_property():
    lam, N, z = np.ones(4), 8, np.array([0.1, 1.0, 10.0])
    with pytest.raises(AssertionError):
        check_kappa_increasing(kappa(z, lam, N)[::-1], z, lam, N)


# ------------------------------------------------------------------------------------
# losses


def check_gap_nonnegative(B):
    """E[L_test − L_train] = B_gap/N + O(N⁻²) with B_gap ≥ 0, and B_gap = B_test − B_train."""
    assert B["gap"] >= 0, B
    assert math.isclose(B["gap"], B["test"] - B["train"], rel_tol=1e-9,
                        abs_tol=1e-12 * (abs(B["test"]) + abs(B["train"]))), B


@given(S.spectra(d=st.integers(1, 6)), S.model_configs(), st.data())
def test_train_loss_never_exceeds_test_loss_in_expectation(lam, config, data):
    # gap = ᾱ E tr(w(Σ̂)²(Σ − Σ̂)) = −ᾱ Σ_pq (w²)[λ_p, λ_q] E δ_pq² + O(N⁻²) ≥ 0 since
    # w_t² decreases in λ (ridge and gradient flow)
    t = data.draw(st.one_of(st.just("sum"), st.integers(1, config["T"])))
    check_gap_nonnegative(loss_coefficients(lam, t, **config))


def test_train_loss_optimism_with_the_wrong_sign_fails_the_property():
    # (with c = 0, τ = ∞, B_train = −B_test and the flipped sign gives a zero gap)
    B = loss_coefficients(np.array([2.0, 0.5]), 50, c=0.1, tau=50.0, T=100)
    wrong = {**B, "train": -B["train"], "gap": B["test"] + B["train"]}
    with pytest.raises(AssertionError):
        check_gap_nonnegative(wrong)
