"""Regime N >> d (DESIGN.md section B): theory/kl.py and numerics/asymptotics.py.

Every expected value here comes from an independent route: seeded Monte Carlo,
mpmath quadrature, an explicit matrix computation, or a literature formula typed in
(marked as such), never from the code under test.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from numerics import asymptotics
from numerics.kl import kl_terms
from numerics.spectra import power_law_spectrum, random_rotation
from numerics.transfer import transfer_function
from theory import kl
from theory.symbols import N, d, lam

i = kl.bartlett_index


# ---------------------------------------------------------------------------------
# Monte Carlo helpers (numpy only; raw data, not the Bartlett decomposition)
# ---------------------------------------------------------------------------------

def _population(dim, rng):
    spectrum = rng.uniform(0.3, 3.0, size=dim)
    rotation = random_rotation(dim, rng)
    sigma = (rotation * spectrum) @ rotation.T
    return sigma, np.linalg.cholesky(sigma)


def _whitened(matrices, chol):
    """L⁻¹ A L⁻ᵀ for a batch of A, Σ = L Lᵀ."""
    left = np.linalg.solve(chol, matrices)
    return np.linalg.solve(chol, np.swapaxes(left, -1, -2))


def _mc_identity_kl(dim, n, mean, reps, seed):
    """Samples of (forward, reverse) KL for f = identity, from raw Gaussian data."""
    rng = np.random.default_rng(seed)
    sigma, chol = _population(dim, rng)
    x = rng.standard_normal((reps, n, dim)) @ chol.T
    if mean == "estimated":
        xbar = x.mean(axis=1)
        x = x - xbar[:, None, :]
    cov = np.einsum("rni,rnj->rij", x, x) / n
    mu = np.linalg.eigvalsh(_whitened(cov, chol))
    forward = kl_terms(mu).sum(axis=1)
    reverse = kl_terms(1.0 / mu).sum(axis=1)
    if mean == "estimated":
        forward = forward + 0.5 * np.einsum("ri,ri->r", xbar, np.linalg.solve(sigma, xbar.T).T)
        reverse = reverse + 0.5 * np.einsum("ri,ri->r", xbar,
                                            np.linalg.solve(cov, xbar[..., None])[..., 0])
    return forward, reverse


def _within(samples, exact, z=4.0):
    mean = samples.mean()
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    return abs(mean - float(exact)) < z * se, (mean, se, float(exact))


# ---------------------------------------------------------------------------------
# Part 1: exact E[KL] for f = identity
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mean", ["known", "estimated"])
@pytest.mark.parametrize("dim,n,seed", [(3, 10, 11), (5, 40, 12)])
def test_exact_identity_kl_matches_monte_carlo(dim, n, seed, mean):
    forward, reverse = _mc_identity_kl(dim, n, mean, reps=20000, seed=seed + 100 * (mean == "estimated"))
    for direction, samples in (("forward", forward), ("reverse", reverse)):
        exact = asymptotics.expected_kl_identity(dim, n, direction, mean)
        ok, info = _within(samples, exact)
        assert ok, (direction, mean, info)


def test_exact_expressions_match_the_literature_forms():
    # Literature (Wishart log-determinant and inverse-Wishart mean), typed in:
    psi_sum = lambda shift: sp.Sum(sp.digamma((N - i + shift) / 2), (i, 1, d))
    literature = {
        ("forward", "known"): -(psi_sum(1) + d * sp.log(2 / N)) / 2,
        ("reverse", "known"): (d * N / (N - d - 1) - d + psi_sum(1) + d * sp.log(2 / N)) / 2,
        ("forward", "estimated"): -(psi_sum(0) + d * sp.log(2 / N)) / 2,
        ("reverse", "estimated"): (d * (N + 1) / (N - d - 2) - d + psi_sum(0)
                                   + d * sp.log(2 / N)) / 2,
    }
    for (direction, mean), expected in literature.items():
        derived = kl.expected_kl_exact(direction, mean)
        assert derived.has(sp.Sum)  # valid for symbolic d
        for dim in (1, 2, 4):
            diff = (derived - expected).subs(d, dim).doit()
            assert sp.simplify(sp.expand_log(diff, force=True)) == 0, (direction, mean, dim)


def test_chi2_moments_match_quadrature():
    k_sym = sp.Symbol("k", positive=True)
    k = 7
    with mpmath.workdps(30):
        half = mpmath.mpf(k) / 2
        density = lambda x: x ** (half - 1) * mpmath.exp(-x / 2) / (2**half * mpmath.gamma(half))
        log_moment = mpmath.quad(lambda x: mpmath.log(x) * density(x), [0, 1, mpmath.inf])
        inv_moment = mpmath.quad(lambda x: density(x) / x, [0, 1, mpmath.inf])
        assert abs(log_moment - sp.N(kl.chi2_log_moment().subs(k_sym, k), 30)) < 1e-20
        assert abs(inv_moment - sp.N(kl.chi2_inverse_moment().subs(k_sym, k), 30)) < 1e-20
    assert kl.chi2_mean().subs(k_sym, k) == k


def test_finiteness_boundaries_give_inf_never_nan():
    cases = [  # (d, N, direction, mean, finite?) -- boundaries from the χ² moment conditions
        (3, 2, "forward", "known", False), (3, 3, "forward", "known", True),
        (3, 4, "reverse", "known", False), (3, 5, "reverse", "known", True),
        (3, 3, "forward", "estimated", False), (3, 4, "forward", "estimated", True),
        (3, 5, "reverse", "estimated", False), (3, 6, "reverse", "estimated", True),
    ]
    for dim, n, direction, mean, finite in cases:
        value = asymptotics.expected_kl_identity(dim, n, direction, mean)
        assert not mpmath.isnan(value)
        assert mpmath.isinf(value) != finite, (dim, n, direction, mean, value)
        if finite:
            assert value > 0
    for n in range(1, 6):  # reverse with N <= d + 1 at d = 4
        assert asymptotics.expected_kl_identity(4, n, "reverse") == mpmath.inf


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="direction"):
        kl.expected_kl_exact(direction="sideways")
    with pytest.raises(ValueError, match="mean"):
        kl.expected_kl_exact(mean="guessed")
    with pytest.raises(ValueError, match="direction"):
        kl.expected_kl_exact(direction=["forward"])
    with pytest.raises(ValueError, match="size"):
        kl.kl_second_order_matrix(size=7)
    for order in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match="order"):
            kl.series_coefficients(order)
    with pytest.raises(ValueError, match="d must"):
        asymptotics.expected_kl_identity(0, 10)
    with pytest.raises(ValueError, match="N must"):
        asymptotics.expected_kl_identity(3, 2.5)
    with pytest.raises(ValueError, match="direction"):
        asymptotics.expected_kl_identity(3, 10, direction="both")
    with pytest.raises(ValueError, match="dps"):
        asymptotics.expected_kl_identity(3, 10, dps=5)
    with pytest.raises(ValueError, match="order"):
        asymptotics.expected_kl_series_value(3, 10, 0)
    with pytest.raises(ValueError, match="lam"):
        asymptotics.leading_coefficient([1.0, 0.0])
    with pytest.raises(ValueError, match="lam"):
        asymptotics.leading_coefficient([[1.0, 2.0]])
    with pytest.raises(ValueError, match="f_values"):
        asymptotics.leading_coefficient_from_transfer([1.0, 2.0], [1.0, -1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="f_prime"):
        asymptotics.leading_coefficient_from_transfer([1.0, 2.0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="direction"):
        asymptotics.leading_coefficient([1.0], direction="up")


# ---------------------------------------------------------------------------------
# Part 2: the series in 1/N
# ---------------------------------------------------------------------------------

def test_series_leading_terms_are_the_parameter_counts():
    # literature: E[KL] ~ (number of fitted parameters)/(2N) -> d(d+1)/(4N), d(d+3)/(4N)
    for direction in kl.DIRECTIONS:
        assert sp.simplify(kl.expected_kl_series(1, direction) - d * (d + 1) / (4 * N)) == 0
        assert sp.simplify(kl.expected_kl_series(1, direction, "estimated")
                           - d * (d + 3) / (4 * N)) == 0
    for coefficient in kl.series_coefficients(3, "reverse"):
        assert coefficient.is_polynomial(d) and not coefficient.has(N)


def test_digamma_series_agrees_with_the_bernoulli_expansion():
    y = sp.Symbol("y", positive=True)
    order = 8
    bernoulli = -1 / (2 * y) - sum(sp.bernoulli(2 * m) / (2 * m * y ** (2 * m))
                                   for m in range(1, order // 2 + 1))
    derived = kl._digamma_remainder(order).subs(sp.Symbol("y", positive=True), y)
    assert sp.simplify(derived - bernoulli) == 0


def test_one_dimensional_series_against_mpmath_digamma():
    # d = 1: forward E[KL] = -(psi(N/2) + log(2/N))/2, evaluated directly by mpmath
    with mpmath.workdps(40):
        for n in (200, 2000):
            direct = -(mpmath.digamma(mpmath.mpf(n) / 2) + mpmath.log(mpmath.mpf(2) / n)) / 2
            series = asymptotics.expected_kl_series_value(1, n, 4, dps=40)
            assert abs(direct - series) < 5 / mpmath.mpf(n) ** 5


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_series_error_falls_like_n_to_minus_k_plus_one(direction):
    dim = 5
    sizes = [10**3, 10**4, 10**5]
    for order in (1, 2, 3):
        errors = []
        for n in sizes:
            exact = asymptotics.expected_kl_identity(dim, n, direction, dps=40)
            series = asymptotics.expected_kl_series_value(dim, n, order, direction, dps=40)
            errors.append(float(abs(exact - series)))
        slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
        assert abs(slope + (order + 1)) < 0.1, (order, slope, errors)


# ---------------------------------------------------------------------------------
# Part 3: the leading coefficient for a general transfer
# ---------------------------------------------------------------------------------

def test_kl_second_order_scalar_and_matrix_routes():
    for direction in kl.DIRECTIONS:
        first, second = kl.kl_second_order(direction)
        m = sp.Symbol("m", real=True)
        assert first == 0 and sp.simplify(second - m**2 / 4) == 0
        first, second, b, delta = kl.kl_second_order_matrix(3, direction)
        B_inv_delta = sp.diag(*[1 / bb for bb in b]) * delta
        assert first == 0
        assert sp.simplify(second - (B_inv_delta * B_inv_delta).trace() / 4) == 0


def test_daleckii_krein_2x2_generic_f():
    dF, f, (b, g), (s11, s12, s22) = kl.daleckii_krein_2x2()
    t = sp.Symbol("t")
    deriv = lambda at: sp.diff(f(t), t).subs(t, at)
    expected = sp.Matrix([[deriv(b + g) * s11, (f(b + g) - f(b)) / g * s12],
                          [(f(b + g) - f(b)) / g * s12, deriv(b) * s22]])
    assert (dF - expected).applyfunc(lambda z: sp.simplify(z.doit())) == sp.zeros(2, 2)


def test_daleckii_krein_monomial_against_explicit_matrix_power():
    weight, (lp, lq, n) = kl.daleckii_krein_monomial()
    lam3 = (sp.Rational(3, 2), sp.Rational(1, 3), sp.Integer(5))  # distinct, exact
    S = sp.Matrix(3, 3, lambda p, q: sp.Symbol(f"s{min(p, q)}{max(p, q)}"))
    e = sp.Symbol("e")
    for power in (2, 3, 4):
        explicit = ((sp.diag(*lam3) + e * S) ** power).diff(e).subs(e, 0)
        for p in range(3):
            for q in range(3):
                w = weight.subs({lp: lam3[p], lq: lam3[q], n: power})  # p = q: f'(λ)
                assert sp.simplify(explicit[p, q] - w * S[p, q]) == 0


def test_wick_moments_against_monte_carlo():
    moments = kl.wick_second_moments()
    lp, lq, lr = moments["symbols"]
    values = {lp: 2.0, lq: 0.5, lr: 1.3}
    rng = np.random.default_rng(7)
    x = rng.standard_normal((400000, 3)) * np.sqrt([2.0, 0.5, 1.3])
    for key, product in (("off", x[:, 0] * x[:, 1]), ("diag", x[:, 0] ** 2)):
        ok, info = _within(product**2 - product.mean() ** 2, moments[key].subs(values))
        assert ok, (key, info)
    assert moments["cross"] == (0, 0, 0)


def test_leading_coefficient_expression_matches_matrix_route():
    a1, f = kl.leading_coefficient_expression()
    size = 3
    route, lam_s, g, f2 = kl.leading_coefficient_matrix_route(size)
    explicit = a1.subs(d, size).doit()
    explicit = explicit.subs({kl.lam_indexed[p + 1]: lam_s[p] for p in range(size)})
    explicit = explicit.subs({kl.divided_difference[p + 1, q + 1]: g[p, q]
                              for p in range(size) for q in range(size)})
    assert sp.simplify(explicit - route) == 0


def test_linear_transfer_coefficient():
    result = kl.linear_transfer_coefficient()
    alpha, beta0, lp, lq = result["symbols"]
    assert sp.simplify(result["homogeneous"] - d * (d + 1) / 4) == 0
    deficit = sp.lambdify((alpha, beta0, lp, lq), result["deficit"])
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, l1, l2 = rng.uniform(0.2, 3.0, size=3)
        assert deficit(a, rng.uniform(0.1, 2.0), l1, l2) > 0   # β0 > 0: less than d(d+1)/4
        small = -0.9 * a * min(l1, l2)                        # β0 < 0, f still > 0
        assert deficit(a, small, l1, l2) < 0


def test_identity_transfer_gives_d_d_plus_one_over_four():
    rng = np.random.default_rng(5)
    for dim in (1, 7, 300):
        spectrum = rng.uniform(0.01, 10.0, size=dim)
        spectrum[:2] = 1.0  # a repeated eigenvalue exercises the close-pair branch
        value = asymptotics.leading_coefficient_from_transfer(spectrum, spectrum,
                                                              np.ones(dim))
        assert value == pytest.approx(dim * (dim + 1) / 4, rel=1e-13)


def _bartlett_wishart(dim, n, reps, rng):
    """reps samples of W ~ W_dim(n, I) by Bartlett's construction (numpy sampling)."""
    A = np.zeros((reps, dim, dim))
    rows, cols = np.tril_indices(dim, -1)
    A[:, rows, cols] = rng.standard_normal((reps, rows.size))
    diag = np.arange(dim)
    A[:, diag, diag] = np.sqrt(rng.chisquare(n - diag, size=(reps, dim)))
    return A @ np.swapaxes(A, -1, -2)


def test_leading_coefficient_nonlinear_f_matches_monte_carlo():
    # f(λ) = λ/(1 + λ); N·E[KL] at N and 2N, Richardson-extrapolated to remove O(1/N).
    rng = np.random.default_rng(2024)
    dim = 3
    spectrum = np.array([2.5, 0.8, 0.2])
    func = lambda v: v / (1 + v)
    a1 = asymptotics.leading_coefficient_from_transfer(
        spectrum, func(spectrum), 1 / (1 + spectrum) ** 2)
    root = np.sqrt(spectrum)
    base = func(spectrum)
    results = {}
    for n in (400, 800):
        W = _bartlett_wishart(dim, n, 40000, rng)
        cov = root[:, None] * W * root[None, :] / n
        vals, vecs = np.linalg.eigh(cov)
        F = (vecs * func(vals)[:, None, :]) @ np.swapaxes(vecs, -1, -2)
        mu = np.linalg.eigvalsh(F / np.sqrt(base[:, None] * base[None, :]))
        results[n] = (n * kl_terms(mu).sum(axis=1), n * kl_terms(1 / mu).sum(axis=1))
    for k, direction in enumerate(kl.DIRECTIONS):
        lo, hi = results[400][k], results[800][k]
        estimate = 2 * hi.mean() - lo.mean()
        se = math.sqrt(4 * hi.var(ddof=1) / hi.size + lo.var(ddof=1) / lo.size)
        assert abs(estimate - a1) < 4 * se, (direction, estimate, se, a1)
    # the check has power: the linear value, and a₁ with the δ_pq (diagonal) term
    # dropped, both lie many standard errors away
    dropped = a1 - 0.25 * np.sum((spectrum / (1 + spectrum) ** 2 / base) ** 2)
    assert abs(a1 - dim * (dim + 1) / 4) > 20 * se and abs(a1 - dropped) > 20 * se


def test_transfer_derivative_against_mpmath_recursion():
    h = 2.0**-20  # λ ± h, λ ± 2h are exact floats: the mp recursion sees them exactly
    for value in (0.75, 1.5, 24.0):
        points = [value - 2 * h, value - h, value + h, value + 2 * h]
        with mpmath.workdps(40):
            f = transfer_function(points, dps=40)
            d1 = (f[2] - f[1]) / (2 * h)
            d2 = (f[3] - f[0]) / (4 * h)
            reference = (4 * d1 - d2) / 3  # O(h^4) ~ 1e-24
        numeric = asymptotics.transfer_derivative([value])[0]
        assert abs(numeric - float(reference)) < 1e-8 * abs(float(reference)), value


def test_ddpm_coefficient_converges_to_the_continuous_transfer_one():
    # T → ∞ at fixed T·β (so ᾱ_T fixed): a₁ of the discrete sampler approaches a₁ of
    # the closed-form VP-SDE transfer like 1/T.  Doubling T must halve the gap.
    spectrum = power_law_spectrum(50, 1.0)
    abar_T = math.exp(-(0.1 + 10.0) / 2)  # T(β_min + β_max)/2 for the default schedule
    # f_∞ of theory.continuous.continuous_transfer (derived there by dsolve, tested in
    # test_theory), typed in here to spare the 5 s dsolve
    f_inf = lam - abar_T**2 * lam**2 * (lam - 1) / (1 + abar_T * (lam - 1)) ** 2
    f_vals = sp.lambdify(lam, f_inf)(spectrum)
    f_der = sp.lambdify(lam, sp.diff(f_inf, lam))(spectrum)
    reference = asymptotics.leading_coefficient_from_transfer(spectrum, f_vals, f_der)
    gaps = []
    for T in (1000, 2000, 4000):
        value = asymptotics.leading_coefficient(spectrum, T=T, beta_min=0.1 / T,
                                                beta_max=10.0 / T)
        gaps.append(value - reference)
    assert 1.8 < gaps[0] / gaps[1] < 2.2 and 1.8 < gaps[1] / gaps[2] < 2.2, gaps
    # and d = 1000 runs (vectorised, O(d²))
    big = asymptotics.leading_coefficient(power_law_spectrum(1000, 1.0))
    assert np.isfinite(big) and big > 0
