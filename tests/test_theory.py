"""The derivations in theory/, each checked by an independent route."""

import mpmath
import pytest
import sympy as sp
from sympy.stats import E, Normal

from theory import catalog, continuous, losses, model
from theory.symbols import alpha_bar, alpha_bar_T, beta, c, eta, lam, n, s, tau, v, w


def test_ridge_minimiser_of_general_2x2_loss_is_diagonal_with_derived_eigenvalues():
    # Independent route: the full matrix loss for d = 2, Σ̂ = diag(l1, l2), generic W.
    l1, l2 = sp.symbols("l1 l2", positive=True)
    W = sp.Matrix(2, 2, sp.symbols("w11 w12 w21 w22", real=True))
    eps = sp.Matrix([Normal("e1", 0, 1), Normal("e2", 0, 1)])
    x = sp.Matrix(sp.symbols("x1 x2", real=True))
    r = eps - W * (sp.sqrt(alpha_bar) * x + sp.sqrt(1 - alpha_bar) * eps)
    loss = sp.expand(E(sp.expand((r.T * r)[0])))
    x1, x2 = x
    loss = loss.subs({x1**2: l1, x2**2: l2, x1 * x2: 0}) + c * sum(wij**2 for wij in W)
    sol = sp.solve([sp.diff(loss, wij) for wij in W], list(W), dict=True)[0]
    ridge = model.ridge_denoiser()
    assert sp.simplify(sol[W[0, 1]]) == 0 and sp.simplify(sol[W[1, 0]]) == 0
    assert sp.simplify(sol[W[0, 0]] - ridge.subs(lam, l1)) == 0
    assert sp.simplify(sol[W[1, 1]] - ridge.subs(lam, l2)) == 0


def test_gradient_flow_solves_its_ode_and_tends_to_the_minimiser():
    wt = model.gradient_flow_denoiser()
    objective = model.noise_averaged_loss() + c * w**2
    rhs = -sp.diff(objective, w).subs(w, wt) / 2
    assert sp.simplify(sp.diff(wt, tau) - rhs) == 0
    assert wt.subs(tau, 0) == 0
    assert sp.simplify(sp.limit(wt, tau, sp.oo) - model.ridge_denoiser()) == 0


def test_gradient_descent_obeys_its_recursion_and_approaches_gradient_flow():
    wn = model.gradient_descent_denoiser()
    objective = model.noise_averaged_loss() + c * w**2
    step = wn - eta * sp.diff(objective, w).subs(w, wn) / 2
    # symbolic simplify of the power form is slow: check the recursion at exact points
    for point in ({lam: sp.Rational(3, 2), alpha_bar: sp.Rational(1, 3), c: 0,
                   eta: sp.Rational(1, 5)},
                  {lam: 0, alpha_bar: sp.Rational(9, 10), c: sp.Rational(1, 7), eta: 1}):
        for steps in (0, 1, 5):
            assert sp.nsimplify(sp.simplify((wn.subs(n, steps + 1) - step.subs(n, steps))
                                            .subs(point))) == 0
    assert wn.subs(n, 0) == 0
    # η → 0 with nη = τ fixed: at one point, 1e6 steps leave an O(1/n) gap
    point = {lam: 1.5, alpha_bar: 1 / 3, c: 0.1, tau: 2.0}
    gd = sp.lambdify((eta, n), wn.subs(point))(2.0 / 10**6, 10**6)
    flow = float(model.gradient_flow_denoiser().subs(point))
    assert abs(gd - flow) < 1e-5


def test_variance_step_is_a_squared_v_plus_beta():
    a = model.sampler_gain()
    assert sp.simplify(model.variance_step() - (a**2 * v + beta)) == 0


def test_true_marginal_variance_solves_the_continuous_ode():
    m = alpha_bar * lam + 1 - alpha_bar
    F = continuous.variance_ode().subs(c, 0)
    assert sp.simplify(sp.diff(m, alpha_bar) - F.subs(v, m)) == 0


@pytest.mark.parametrize("lam_value, abar_T", [(0.3, 0.0064), (5.0, 0.0064), (200.0, 0.05)])
def test_continuous_transfer_matches_numerical_ode_integration(lam_value, abar_T):
    F = sp.lambdify((alpha_bar, v), continuous.variance_ode().subs({c: 0, lam: lam_value}),
                    "mpmath")
    with mpmath.workdps(30):
        sol = mpmath.odefun(lambda a, y: F(a, y), mpmath.mpf(abar_T), mpmath.mpf(1))
        numeric = sol(1)
    closed = continuous.continuous_transfer().subs({lam: lam_value, alpha_bar_T: abar_T})
    assert abs(float(closed) - float(numeric)) < 1e-12 * max(1.0, float(numeric))


def test_continuous_transfer_saturates_for_large_eigenvalues():
    limit = sp.limit(continuous.continuous_transfer(), lam, sp.oo)
    assert sp.simplify(limit - (2 - alpha_bar_T) / alpha_bar_T) == 0


def test_one_step_error_is_second_order_so_global_rate_is_one_over_T():
    assert continuous.local_error_order() == 2


def test_train_loss_at_minimiser_and_test_equals_train_on_the_same_variance():
    train = losses.train_loss_per_direction()
    test = losses.test_loss_per_direction()
    assert sp.simplify(test.subs(s, lam) - train) == 0
    expected = alpha_bar * lam / (alpha_bar * lam + 1 - alpha_bar)  # source: minimise ℓ by hand
    assert sp.simplify(train.subs(c, 0) - expected) == 0
    # the minimiser minimises: ∂ℓ/∂w vanishes at the trained w when c = 0 and s = λ
    grad = sp.diff(model.noise_averaged_loss(), w).subs(w, model.ridge_denoiser()).subs(c, 0)
    assert sp.simplify(grad) == 0


def test_catalog_names_give_expressions_and_latex():
    for name in catalog.FORMULAS:
        assert isinstance(catalog.formula(name), sp.Expr)
    assert "\\frac" in catalog.latex("ridge_denoiser")
    with pytest.raises(ValueError, match="name must be one of"):
        catalog.formula("nope")
