"""Second-order perturbation kernels (theory.perturbation, theory.losses) and the loss
asymptotics built from them (numerics.losses)."""

import numpy as np
import pytest
import sympy as sp

from numerics.losses import (eigenbasis_losses, expected_losses, loss_coefficients,
                             step_losses, summed_losses)
from numerics.montecarlo import sample_covariances
from numerics.schedule import linear_schedule
from numerics.spectra import power_law_spectrum, random_rotation
from theory.losses import perturbation_kernels
from theory.perturbation import SYMBOLS_2x2


def _matrix_function(A, f):
    e, U = np.linalg.eigh(A)
    return (U * f(e)) @ U.T


def _second_order_from_kernels(weighted, lam, delta, x, body):
    """½·d²/dε² of the functional by the derived kernels: Σ_i D δ_ii² + Σ_{i<k} P δ_ik²."""
    K = perturbation_kernels(weighted)
    name = K["function"].__name__
    a, b = SYMBOLS_2x2["a"], SYMBOLS_2x2["b"]
    jets = {sp.Symbol(f"{name}{n}_{p}"): sp.diff(body, x, n).subs(x, point)
            for n in range(5) for p, point in (("a", a), ("b", b))}
    diag = sp.lambdify(a, K["diag"].subs(jets))
    pair = sp.lambdify((a, b), K["pair"].subs(jets))
    total = sum(diag(lam[i]) * delta[i, i] ** 2 for i in range(lam.size))
    total += sum(pair(lam[i], lam[k]) * delta[i, k] ** 2
                 for i in range(lam.size) for k in range(i + 1, lam.size))
    return total


@pytest.mark.parametrize("weighted", [False, True])
def test_pairwise_second_order_matches_finite_differences_at_d3_and_d4(weighted):
    # the general-d sum over pairs is the step not derived symbolically: check it
    x = sp.Symbol("x", positive=True)
    body = x / (1 + x) + sp.log(1 + x**2)
    f = sp.lambdify(x, body)
    rng = np.random.default_rng(3)
    for d in (3, 4):
        lam = np.sort(rng.uniform(0.3, 3.0, d))[::-1]
        S = rng.standard_normal((d, d))
        delta = (S + S.T) / 2
        Sigma = np.diag(lam)

        def functional(eps):
            F = _matrix_function(Sigma + eps * delta, f)
            return np.trace(F @ Sigma) if weighted else np.trace(F)
        h = 1e-3
        second = (functional(h) - 2 * functional(0.0) + functional(-h)) / (2 * h * h)
        expected = _second_order_from_kernels(weighted, lam, delta, x, body)
        assert second == pytest.approx(float(expected), rel=1e-5)


def test_close_pair_kernel_is_the_limit_of_the_far_one():
    K = perturbation_kernels(True)
    a, b = SYMBOLS_2x2["a"], SYMBOLS_2x2["b"]
    x = sp.Symbol("x", positive=True)
    body = sp.exp(-x) * x**2
    jets = {sp.Symbol(f"phi{n}_{p}"): sp.diff(body, x, n).subs(x, point)
            for n in range(5) for p, point in (("a", a), ("b", b))}
    far = K["pair"].subs(jets)
    near = sum(P.subs(jets) * (b - a) ** m for m, P in enumerate(K["pair_near"]))
    for gap in (1e-2, 1e-3):
        values = {a: 1.3, b: 1.3 + gap}
        assert float(near.subs(values)) == pytest.approx(float(far.evalf(30, subs=values)),
                                                         rel=10 * gap**3)


def test_batched_eigenbasis_losses_equal_the_matrix_route():
    rng = np.random.default_rng(4)
    lam = power_law_spectrum(4, 1.0)
    S = sample_covariances(lam, 9, 3, rng)
    e, U = np.linalg.eigh(S)
    Sigma = np.diag(lam)
    schedule = linear_schedule()
    for model in (dict(), dict(c=0.1, tau=30.0)):
        per_step = eigenbasis_losses(e, U, lam, 200, control=False, **model)
        summed = eigenbasis_losses(e, U, lam, "sum", control=False, **model)  # tabulated
        for i in range(3):
            assert per_step[i] == pytest.approx(
                step_losses(S[i], Sigma, schedule.alpha_bar[199], **model), rel=1e-12)
            assert summed[i] == pytest.approx(summed_losses(S[i], Sigma, schedule, **model),
                                              rel=1e-9)


def test_the_control_variate_is_the_first_order_term():
    # for a tiny perturbation the controlled loss moves only at second order
    lam = power_law_spectrum(4, 1.0)
    rng = np.random.default_rng(0)
    O = random_rotation(4, rng)
    for eps in (1e-3, 2e-3):
        S = np.diag(lam) + eps * (O @ np.diag([1.0, -0.5, 0.3, 0.2]) @ O.T)
        e, U = np.linalg.eigh(S[None])
        raw = eigenbasis_losses(e, U, lam, 100, control=False)[0]
        controlled = eigenbasis_losses(e, U, lam, 100)[0]
        base = eigenbasis_losses(np.array([lam]), np.eye(4)[None], lam, 100)[0]
        assert np.all(np.abs(controlled - base) < 50 * eps**2)
        assert np.any(np.abs(raw - base) > 1e-2 * eps)


def test_large_n_losses_have_the_limit_and_refuse_bad_steps():
    lam = power_law_spectrum(3, 1.0)
    B = loss_coefficients(lam, 100)
    far = expected_losses(lam, 10**12, 100)
    assert far["train"] == pytest.approx(B["population"]) == pytest.approx(far["test"])
    assert B["gap"] > 0
    with pytest.raises(ValueError, match="t must be an integer in"):
        loss_coefficients(lam, 0)
    with pytest.raises(ValueError, match="t must be an integer in"):
        loss_coefficients(lam, "all")
