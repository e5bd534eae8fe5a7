r"""Expected KL divergence in the regime N ≫ d (DESIGN.md, section B).

Part 1 — f = identity (the sampling covariance is Σ̂ itself).  With known mean,
N Σ̂ ~ W_d(N, Σ); with an estimated mean, N Σ̂_c ~ W_d(N − 1, Σ) independent of
x̄ ~ N(0, Σ/N).  The KL divergences are invariant under Σ̂ → Σ^{−1/2} Σ̂ Σ^{−1/2},
so Σ = I without loss of generality, and everything reduces to moments of χ² variables:

* Bartlett decomposition (library fact, e.g. Muirhead, *Aspects of Multivariate
  Statistical Theory*, Thm 3.2.14): W ~ W_d(n, I) factors as W = LLᵀ with L lower
  triangular, L_ii² ~ χ²_{n−i+1} independent, so
  log det W = Σ_{i=1}^d log χ²_{n−i+1}.
* Schur complement (library fact, Muirhead Thm 3.2.10): (W⁻¹)₁₁ = 1/W_{1·2} with
  W_{1·2} = W₁₁ − W₁₂ W₂₂⁻¹ W₂₁ ~ χ²_{n−d+1}; by exchangeability every diagonal entry
  of W⁻¹ has this law, so E tr W⁻¹ = d E[1/χ²_{n−d+1}].
* The χ² moments themselves are derived here: the Mellin moment
  E[X^s] = ∫ x^s p_k(x) dx is integrated by sympy from the χ²_k density; its
  s-derivative at s = 0 gives E log χ²_k = ψ(k/2) + log 2, its value at s = −1 gives
  E[1/χ²_k] = 1/(k − 2), at s = 1 the mean k.  The integral's convergence condition
  (k/2 + s > 0) is kept and gives the finiteness condition of each expected KL.

Part 2 — the asymptotic series in 1/N: the digamma's expansion at large argument
(``sympy.series`` at ∞, the Stirling/Bernoulli series ψ(y) ~ log y − 1/(2y)
− Σ_k B_{2k}/(2k y^{2k})), re-expanded in ε = 1/N with the Bartlett index i symbolic,
then summed over i = 1..d by ``sympy.summation`` (Faulhaber: power sums are
polynomials in d).

Part 3 — a general transfer f: the leading coefficient a₁ of E[KL] = a₁/N + O(N⁻²),
from (i) the second-order expansion of the Gaussian KL, (ii) the Daleckii–Krein
first-order perturbation of a spectral matrix function, (iii) Wick/Isserlis moments
of δ = Σ̂ − Σ.

Conventions: KL in nats, totals over all d dimensions (divide by d for per-dimension
values).  *forward* = D(N(0, Σ̂) ‖ N(0, Σ)) (sampling ‖ optimum), *reverse* =
D(N(0, Σ) ‖ N(0, Σ̂)).
"""

import functools
import inspect
from functools import lru_cache

import sympy as sp
from sympy.stats import E, Normal

from .perturbation import daleckii_krein_2x2, daleckii_krein_monomial, wick_second_moments
from .symbols import N, d

_f = sp.Function("f")

__all__ = [
    "DIRECTIONS", "MEANS", "bartlett_index",
    "chi2_mellin_moment", "chi2_log_moment", "chi2_inverse_moment", "chi2_mean",
    "expected_kl_exact", "finiteness_condition", "expected_kl_series",
    "series_coefficients",
    "kl_second_order", "kl_second_order_matrix", "daleckii_krein_2x2",
    "daleckii_krein_monomial", "wick_second_moments", "leading_coefficient_expression",
    "leading_coefficient_matrix_route", "linear_transfer_coefficient", "lam_indexed",
    "divided_difference",
]

DIRECTIONS = ("forward", "reverse")
MEANS = ("known", "estimated")

#: summation index of the Bartlett factors, i = 1..d (a positive integer)
bartlett_index = sp.Symbol("i", positive=True, integer=True)
i = bartlett_index

_k = sp.Symbol("k", positive=True)            # χ² degrees of freedom
_s = sp.Symbol("s", real=True)                # Mellin exponent
_xc = sp.Symbol("x", positive=True)           # χ² variate
_y = sp.Symbol("y", positive=True)            # digamma argument
_eps = sp.Symbol("epsilon", positive=True)    # 1/N, or a perturbation size


def _check_choice(value, name, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def _cached(func):
    """``lru_cache`` whose unhashable arguments raise ValueError naming the parameter."""
    cached = lru_cache(maxsize=None)(func)
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for name, value in signature.bind(*args, **kwargs).arguments.items():
            try:
                hash(value)
            except TypeError:
                raise ValueError(f"{name} must be a string or an integer, "
                                 f"got {value!r}") from None
        return cached(*args, **kwargs)

    wrapper.cache_clear = cached.cache_clear
    return wrapper


def _check_order(order):
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be an integer >= 1, got {order!r}")
    return order


# ---------------------------------------------------------------------------------
# χ² moments
# ---------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def chi2_mellin_moment():
    r"""Mellin moment of X ~ χ²_k and its convergence condition, by ``integrate``.

    .. math:: E[X^s] = \int_0^\infty x^s\,\frac{x^{k/2-1}e^{-x/2}}{2^{k/2}\Gamma(k/2)}\,dx
              = \frac{2^s\,\Gamma(k/2 + s)}{\Gamma(k/2)},\qquad k/2 + s > 0.

    Returns
    -------
    (moment, condition) : sympy expressions in the private symbols k, s
        ``condition`` is the relational under which the integral converges.

    Examples
    --------
    >>> m, cond = chi2_mellin_moment()
    >>> sp.gammasimp(m.subs(sp.Symbol("s", real=True), 2))  # E[X²] = k(k + 2)
    k*(k + 2)
    """
    density = _xc ** (_k / 2 - 1) * sp.exp(-_xc / 2) / (2 ** (_k / 2) * sp.gamma(_k / 2))
    result = sp.integrate(_xc ** _s * density, (_xc, 0, sp.oo), conds="separate")
    if not isinstance(result, tuple):  # sympy found no condition: refuse to guess
        raise ArithmeticError("sympy returned the Mellin moment without its condition")
    moment, condition = result
    return sp.powsimp(sp.gammasimp(moment), force=True), condition


def _moment_condition(s_value, dof):
    """The convergence condition of E[X^s], X ~ χ²_dof, as a relational in d, N."""
    # substitute k first: with k still a positive symbol, k/2 + 0 > 0 would fold to True
    return chi2_mellin_moment()[1].subs(_k, dof).subs(_s, s_value)


@lru_cache(maxsize=None)
def chi2_log_moment():
    r"""E[log X] for X ~ χ²_k, as ∂_s E[X^s] at s = 0: ψ(k/2) + log 2 (valid for k > 0)."""
    moment, _ = chi2_mellin_moment()
    return sp.expand(sp.gammasimp(sp.diff(moment, _s).subs(_s, 0)))


@lru_cache(maxsize=None)
def chi2_inverse_moment():
    r"""E[1/X] for X ~ χ²_k, as E[X^s] at s = −1: 1/(k − 2) (valid for k > 2; else ∞)."""
    moment, _ = chi2_mellin_moment()
    return sp.factor(sp.gammasimp(moment.subs(_s, -1)))


@lru_cache(maxsize=None)
def chi2_mean():
    r"""E[X] for X ~ χ²_k, as E[X^s] at s = 1: k."""
    moment, _ = chi2_mellin_moment()
    return sp.gammasimp(moment.subs(_s, 1))


# ---------------------------------------------------------------------------------
# Part 1: exact E[KL] for f = identity
# ---------------------------------------------------------------------------------

def _wishart_dof(mean):
    """Degrees of freedom n of N Σ̂ ~ W_d(n, Σ): N (known mean), N − 1 (estimated)."""
    return N if mean == "known" else N - 1


@lru_cache(maxsize=None)
def _exact_parts(direction, mean):
    """(rest, sign, argument): E[KL] = rest + sign · Σ_{i=1}^d ψ(argument).

    Each expectation is assembled from the derived χ² moments (module docstring).
    """
    n = _wishart_dof(mean)
    # E log det(Σ⁻¹Σ̂) = Σ_i E log(χ²_{n−i+1}/N)   (Bartlett)
    log_term = sp.expand(chi2_log_moment().subs(_k, n - i + 1) - sp.log(N))
    digamma_terms = [t for t in sp.Add.make_args(log_term) if t.has(sp.polygamma)]
    other_terms = [t for t in sp.Add.make_args(log_term) if not t.has(sp.polygamma)]
    if len(digamma_terms) != 1:
        raise ArithmeticError(f"expected one digamma term, got {digamma_terms}")
    (digamma_term,) = digamma_terms
    coefficient, psi = digamma_term.as_independent(sp.polygamma)
    argument = psi.args[1]
    log_det_rest = sp.summation(sp.Add(*other_terms), (i, 1, d))
    if direction == "forward":
        # E tr(Σ⁻¹Σ̂) = d E[χ²_n]/N: diagonal entries of W_d(n, I) are χ²_n
        trace = d * chi2_mean().subs(_k, n) / N
        # mean term x̄ᵀΣ⁻¹x̄ = Σ_coords χ²_1/N, since √N Σ^{-1/2} x̄ ~ N(0, I)
        mean_term = d * chi2_mean().subs(_k, 1) / N if mean == "estimated" else 0
        rest = (trace - d - log_det_rest + mean_term) / 2
        sign = -coefficient / 2
    else:
        # E tr(Σ̂⁻¹Σ) = N d E[1/χ²_{n−d+1}]   (Schur complement)
        trace = N * d * chi2_inverse_moment().subs(_k, n - d + 1)
        # E x̄ᵀΣ̂_c⁻¹x̄ = tr(E[Σ̂_c⁻¹] E[x̄x̄ᵀ]) = E tr(Σ̂_c⁻¹Σ)/N   (x̄ ⫫ Σ̂_c)
        mean_term = trace / N if mean == "estimated" else 0
        rest = (trace - d + log_det_rest + mean_term) / 2
        sign = coefficient / 2
    rest = sp.expand_log(sp.factor_terms(sp.expand(rest)), force=True)
    return rest, sign, argument


@_cached
def expected_kl_exact(direction="forward", mean="known"):
    r"""Exact E[KL] for f = identity at finite N, d (sympy expression in d, N).

    Known mean (N Σ̂ ~ W_d(N, Σ)):

    .. math:: E\,D(N(0,\hat\Sigma)\|N(0,\Sigma)) = -\tfrac12\Big[\sum_{i=1}^d
              \psi\big(\tfrac{N-i+1}{2}\big) + d\log\tfrac{2}{N}\Big],\qquad N \ge d;

    .. math:: E\,D(N(0,\Sigma)\|N(0,\hat\Sigma)) = \tfrac12\Big[\frac{dN}{N-d-1} - d
              + \sum_{i=1}^d \psi\big(\tfrac{N-i+1}{2}\big) + d\log\tfrac{2}{N}\Big],
              \qquad N > d + 1.

    Estimated mean (sampling distribution N(x̄, Σ̂_c) against N(0, Σ), N Σ̂_c ~
    W_d(N − 1, Σ), x̄ ~ N(0, Σ/N) independent of Σ̂_c; the mean adds ½ x̄ᵀΣ⁻¹x̄ with
    expectation d/(2N) forward, ½ x̄ᵀΣ̂_c⁻¹x̄ reverse): the digamma arguments become
    (N − i)/2, forward is finite for N > d, and reverse is

    .. math:: \tfrac12\Big[\frac{d(N+1)}{N-d-2} - d + \sum_{i=1}^d
              \psi\big(\tfrac{N-i}{2}\big) + d\log\tfrac{2}{N}\Big],\qquad N > d + 2.

    Derived from the χ² moments (:func:`chi2_mellin_moment`) with the Bartlett and
    Schur-complement facts of the module docstring; the sum over i is an unevaluated
    ``Sum`` over :data:`bartlett_index`, valid for symbolic d.  Outside the
    finiteness region (:func:`finiteness_condition`) the expectation is +∞; the
    expression is not meaningful there.

    Parameters
    ----------
    direction : {"forward", "reverse"}
    mean : {"known", "estimated"}

    Examples
    --------
    >>> expected_kl_exact().subs(d, 1).doit().subs(N, 1).simplify()
    EulerGamma/2 + log(2)/2
    """
    _check_choice(direction, "direction", DIRECTIONS)
    _check_choice(mean, "mean", MEANS)
    rest, sign, argument = _exact_parts(direction, mean)
    return rest + sign * sp.Sum(sp.polygamma(0, argument), (i, 1, d))


@_cached
def finiteness_condition(direction="forward", mean="known"):
    r"""The condition on (d, N) under which :func:`expected_kl_exact` is finite.

    Collected from the convergence conditions of the χ² moments that enter: every
    Bartlett factor χ²_{n−i+1} (i ≤ d) needs E log finite (k > 0, i.e. n ≥ d: Σ̂ is
    non-singular), and the reverse direction needs E[1/χ²_{n−d+1}] finite (k > 2).
    n = N (known mean) or N − 1 (estimated mean).  Where it fails the expected KL is
    +∞ (log det Σ̂ = −∞, or the inverse-Wishart mean diverges).  Each condition, linear
    in d and N, is written with its positive content divided out and its constant on
    the right (:func:`_linear_normal_form`); of two lower bounds on the same expression
    the stronger is kept.

    Examples
    --------
    >>> finiteness_condition("reverse")
    N - d > 1
    """
    _check_choice(direction, "direction", DIRECTIONS)
    _check_choice(mean, "mean", MEANS)
    n = _wishart_dof(mean)
    # the weakest Bartlett factor is i = d
    conditions = [_moment_condition(0, n - d + 1)]
    if direction == "reverse":
        conditions.append(_moment_condition(-1, n - d + 1))
    strongest = {}
    for relation in map(_linear_normal_form, conditions):
        if not isinstance(relation, sp.StrictGreaterThan):
            raise ArithmeticError(f"expected a strict lower bound, got {relation}")
        bound = strongest.get(relation.lhs)
        if bound is None or (relation.rhs - bound).is_positive:
            strongest[relation.lhs] = relation.rhs
        elif not (relation.rhs - bound).is_nonpositive:
            raise ArithmeticError(f"cannot order the bounds {bound} and {relation.rhs}")
    return sp.And(*(sp.Gt(lhs, rhs) for lhs, rhs in strongest.items()))


def _linear_normal_form(relation):
    """``relation`` (linear in d, N) as primitive linear form > constant.

    The positive rational content of lhs − rhs is divided out and the constant moved to
    the right (N/2 − d/2 + 1/2 > 0 becomes N − d > −1); without a constant the
    first term (in sympy's order of the symbols) stays on the left (N − d > 0 becomes
    N > d).
    """
    difference = sp.expand(relation.lhs - relation.rhs)
    symbols = list(sp.ordered(difference.free_symbols))
    if not symbols or sp.Poly(difference, *symbols).total_degree() != 1:
        raise ArithmeticError(f"not a linear relation: {relation}")
    content, primitive = difference.as_content_primitive()
    if not content.is_positive:
        raise ArithmeticError(f"non-positive content {content} in {relation}")
    constant, linear = primitive.as_coeff_Add()
    if constant != 0:
        return relation.func(linear, -constant)
    first = next(term for symbol in symbols for term in sp.Add.make_args(linear)
                 if term.has(symbol))
    return relation.func(first, first - linear)


# ---------------------------------------------------------------------------------
# Part 2: the asymptotic series in 1/N
# ---------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _digamma_remainder(order):
    r"""ψ(y) − log y through y^{−order}: sympy's asymptotic series at y = ∞."""
    series = (sp.polygamma(0, _y) - sp.log(_y)).series(_y, sp.oo, order + 1)
    return series.removeO()


def _series_termwise(expr, n):
    """``series`` of ``expr`` in ε at 0 to O(ε^n), term by term (linearity), truncated."""
    return sp.Add(*(sp.series(term, _eps, 0, n).removeO() for term in sp.Add.make_args(expr)))


@lru_cache(maxsize=None)
def _power_sum(power):
    r"""Σ_{i=1}^d i^power, a polynomial in d, by ``summation`` (Faulhaber)."""
    return sp.summation(i**power, (i, 1, d))


@lru_cache(maxsize=None)
def _series_in_eps(order, direction, mean):
    rest, sign, argument = _exact_parts(direction, mean)
    y_i = argument.subs(N, 1 / _eps)
    psi_asymptotic = sp.log(y_i) + _digamma_remainder(order).subs(_y, y_i)
    summand = sp.expand(_series_termwise(psi_asymptotic, order + 1))
    # a polynomial in i: sum it power by power (linearity; Faulhaber sums by summation)
    summed = sp.expand(sp.Add(*(coefficient * _power_sum(power)
                                for (power,), coefficient in sp.Poly(summand, i).terms())))
    rest_series = _series_termwise(sp.expand(sp.expand_log(rest.subs(N, 1 / _eps), force=True)),
                                   order + 1)
    total = sp.expand(sp.expand_log(sign * summed + rest_series, force=True))
    if total.has(sp.log):
        raise ArithmeticError(f"logarithms did not cancel in the series: {total}")
    poly = sp.Poly(total, _eps)
    coefficients = [sp.factor(poly.coeff_monomial(_eps ** m)) for m in range(order + 1)]
    if coefficients[0] != 0:
        raise ArithmeticError(f"non-zero O(1) term in E[KL]: {coefficients[0]}")
    return tuple(coefficients[1:])


def series_coefficients(order, direction="forward", mean="known"):
    r"""Coefficients [a₁, …, a_order] of E[KL] = Σ_m a_m N^{−m} + O(N^{−order−1}).

    Each a_m is a polynomial in d (factored), derived from :func:`expected_kl_exact`
    by the asymptotic digamma series; see :func:`expected_kl_series`.

    Examples
    --------
    >>> series_coefficients(1)
    [d*(d + 1)/4]
    >>> series_coefficients(1, mean="estimated")
    [d*(d + 3)/4]
    """
    _check_order(order)
    _check_choice(direction, "direction", DIRECTIONS)
    _check_choice(mean, "mean", MEANS)
    return list(_series_in_eps(order, direction, mean))


def expected_kl_series(order, direction="forward", mean="known"):
    r"""Asymptotic series of E[KL] (f = identity) in 1/N through N^{−order}.

    .. math:: E[\mathrm{KL}] = \frac{d(d+1)}{4N} + \frac{a_2(d)}{N^2} + \dots
              + \frac{a_K(d)}{N^K} + O(N^{-K-1})

    (known mean, both directions; d(d + 3)/(4N) with an estimated mean, the d extra
    mean parameters).  Derivation: ψ(y) − log y is expanded at y = ∞ by ``sympy.series``
    (the Bernoulli series −1/(2y) − Σ_k B_{2k}/(2k y^{2k})), y = (N − i + 1)/2 (or
    (N − i)/2) is re-expanded in ε = 1/N with i symbolic (``series`` term by term),
    log y cancels against d log(2/N), and the polynomials in i are summed over
    i = 1..d by ``summation`` (power by power: Σ_i i^p once for each p).

    Regime: d fixed, N → ∞.  The digamma series is asymptotic, not convergent; a_m grows
    like d^{m+1}, so successive terms shrink by a factor ~d/N (a few times that for the
    reverse direction) and the truncation is useful for N ≫ d.  The error of the K-term
    series is O(N^{−K−1}) (checked numerically in the tests).

    Parameters
    ----------
    order : int, ≥ 1
    direction : {"forward", "reverse"}
    mean : {"known", "estimated"}

    Returns
    -------
    sympy expression, polynomial in 1/N and d.
    """
    coefficients = series_coefficients(order, direction, mean)
    return sum(a / N ** m for m, a in enumerate(coefficients, start=1))


# ---------------------------------------------------------------------------------
# Part 3: the leading coefficient a₁ for a general transfer f
# ---------------------------------------------------------------------------------

_m = sp.Symbol("m", real=True)


@_cached
def kl_second_order(direction="forward"):
    r"""ε and ε² coefficients of the KL along one eigen-direction of B⁻¹Δ (scalar route).

    D(N(0, B + εΔ) ‖ N(0, B)) = ½ Σ_k (μ_k − 1 − log μ_k) with μ_k = 1 + ε m_k the
    eigenvalues of I + εB⁻¹Δ (forward); for the reverse D(N(0, B) ‖ N(0, B + εΔ)),
    μ_k = 1/(1 + ε m_k).  ``sympy.series`` of one term in ε gives

    .. math:: \tfrac12(\mu - 1 - \log\mu) = 0\cdot\varepsilon + \tfrac14 m^2\varepsilon^2
              + O(\varepsilon^3)

    in both directions, so D = ¼ ε² tr((B⁻¹Δ)²) + O(ε³) for every d.  The vanishing
    first-order term means an O(δ²) part of ΔF enters E[KL] only at O(N⁻²).

    Returns
    -------
    (first, second) : sympy expressions in the symbol m (an eigenvalue of B⁻¹Δ)
    """
    _check_choice(direction, "direction", DIRECTIONS)
    mu = 1 + _eps * _m if direction == "forward" else 1 / (1 + _eps * _m)
    series = sp.series((mu - 1 - sp.log(mu)) / 2, _eps, 0, 3).removeO()
    series = sp.expand(series)
    return series.coeff(_eps, 1), series.coeff(_eps, 2)


@_cached
def kl_second_order_matrix(size=3, direction="forward"):
    r"""ε and ε² coefficients of the exact matrix KL for diagonal B, symmetric Δ.

    B = diag(b₁, …, b_size), Δ symmetric with entries ``Delta{p}{q}`` (p ≤ q); the KL
    ½[tr(B⁻¹A) − size − log det(B⁻¹A)] (A = B + εΔ forward; roles swapped reverse) is
    expanded by ``sympy.series`` in ε.  An independent route to :func:`kl_second_order`:
    the ε² coefficient is ¼ Σ_{p,q} Δ_pq²/(b_p b_q) = ¼ tr((B⁻¹Δ)²).

    Returns
    -------
    (first, second, b, Delta) : the two coefficients, the b symbols, the Δ matrix
    """
    _check_choice(direction, "direction", DIRECTIONS)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 4:
        raise ValueError(f"size must be an integer in [1, 4], got {size!r}")
    b = sp.symbols(f"b1:{size + 1}", positive=True)
    delta = sp.Matrix(size, size, lambda p, q: sp.Symbol(
        f"Delta{min(p, q) + 1}{max(p, q) + 1}", real=True))
    B = sp.diag(*b)
    perturbed = B + _eps * delta
    ratio = B.inv() * perturbed
    if direction == "forward":
        kl = (ratio.trace() - size - sp.log(ratio.det())) / 2
    else:
        kl = ((perturbed.inv() * B).trace() - size + sp.log(ratio.det())) / 2
    series = sp.expand(sp.series(kl, _eps, 0, 3).removeO())
    return sp.simplify(series.coeff(_eps, 1)), sp.expand(series.coeff(_eps, 2)), b, delta


#: λ_p (indexed), the divided-difference matrix f[λ_p, λ_q], for symbolic d
lam_indexed = sp.IndexedBase("lambda", positive=True)
divided_difference = sp.IndexedBase("fdd", real=True)


@lru_cache(maxsize=None)
def leading_coefficient_expression():
    r"""a₁ of E[KL] = a₁/N + O(N⁻²) for a general transfer f and spectrum λ (symbolic d).

    .. math:: a_1 = \tfrac14 \sum_{p,q=1}^d f[\lambda_p,\lambda_q]^2\,
              \frac{\lambda_p\lambda_q\,(1+\delta_{pq})}{f(\lambda_p)\,f(\lambda_q)}

    written as ¼ Σ_{p,q} fdd[p,q]² λ_pλ_q/(f_p f_q) + ¼ Σ_p fdd[p,p]² λ_p²/f_p² with
    ``fdd`` = :data:`divided_difference` (fdd[p, q] = f[λ_p, λ_q], fdd[p, p] = f′(λ_p))
    and λ = :data:`lam_indexed`, the indices p, q running 1..d.

    Assembly (each factor derived above): the samples are N(0, F(Σ̂)) and the optimum
    N(0, F(Σ)), F(Σ) = diag(f(λ)); ΔF = F(Σ̂) − F(Σ) has first-order part
    (ΔF)_pq = f[λ_p, λ_q] δ_pq (:func:`daleckii_krein_2x2`,
    :func:`daleckii_krein_monomial`); the KL is c₂ tr((B⁻¹ΔF)²) + O(‖δ‖³) with c₂ the m²
    coefficient of :func:`kl_second_order` (¼), whose first-order term vanishes, so the
    O(δ²) part of ΔF only enters through O(δ³) terms; E[δ_pq²] from
    :func:`wick_second_moments`.  Wishart moments of order ≥ 3 in δ are O(N⁻²), so the
    remainder is O(N⁻²).  The same a₁ holds for both directions.

    Regime: d and λ fixed, N → ∞; f differentiable and positive on the spectrum.  The
    truncation step (E of the O(‖δ‖³) remainder is O(N⁻²)) is not derived symbolically;
    the tests check a₁ against Monte Carlo at large N and the exact series for f = id.

    Returns
    -------
    (a1, f) : the expression (Sums over the dummy indices p, q from 1 to d) and the
        undefined function f used in it.
    """
    p = sp.Symbol("p", positive=True, integer=True)
    q = sp.Symbol("q", positive=True, integer=True)
    _, c2 = kl_second_order("forward")
    c2_reverse = kl_second_order("reverse")[1]
    if sp.simplify(c2 - c2_reverse) != 0:
        raise ArithmeticError("forward and reverse second-order KL differ")
    quarter = sp.simplify(c2 / _m ** 2)
    moments = wick_second_moments()
    lp, lq, _ = moments["symbols"]
    lam_p, lam_q = lam_indexed[p], lam_indexed[q]
    off = moments["off"].subs({lp: lam_p, lq: lam_q})
    # extra weight on the diagonal: the i = j moment minus the off-diagonal pattern at p = q
    extra = sp.simplify(moments["diag"] - moments["off"].subs(lq, lp)).subs(lp, lam_p)
    all_pairs = quarter * divided_difference[p, q] ** 2 * off / (_f(lam_p) * _f(lam_q))
    diagonal = quarter * divided_difference[p, p] ** 2 * extra / _f(lam_p) ** 2
    a1 = sp.Sum(all_pairs, (p, 1, d), (q, 1, d)) + sp.Sum(diagonal, (p, 1, d))
    return a1, _f


@_cached
def leading_coefficient_matrix_route(size):
    r"""a₁ for ``size`` eigenvalues by the explicit matrix route (independent check).

    Takes the ε² coefficient of the exact matrix KL (:func:`kl_second_order_matrix`)
    with b_p = f(λ_p) and Δ_pq = g_pq δ_pq (g_pq = f[λ_p, λ_q] symbols, g_pp = f′(λ_p)),
    expands in the independent entries δ_pq (p ≤ q), and replaces every product
    δ_pq δ_rs by its Wick moment from ``sympy.stats`` (cross moments included).

    Returns
    -------
    (a1, lam, g, f) : the expression, the λ symbols, the symmetric matrix of g symbols,
    and the undefined function f
    """
    _, second, b, delta = kl_second_order_matrix(size, "forward")
    lam = sp.symbols(f"lambda1:{size + 1}", positive=True)
    g = sp.Matrix(size, size, lambda p, q: sp.Symbol(f"g{min(p, q) + 1}{max(p, q) + 1}"))
    dlt = sp.Matrix(size, size, lambda p, q: sp.Symbol(f"delta{min(p, q) + 1}{max(p, q) + 1}"))
    subs = {b[p]: _f(lam[p]) for p in range(size)}
    subs.update({delta[p, q]: g[p, q] * dlt[p, q] for p in range(size) for q in range(p, size)})
    quadratic = sp.expand(second.subs(subs, simultaneous=True))
    # Wick moments: one Gaussian vector x with x_p ~ N(0, λ_p); N E[δ_pq δ_rs] = Cov(x_p x_q, x_r x_s)
    xs = [Normal(f"x{p + 1}", 0, sp.sqrt(lam[p])) for p in range(size)]
    entries = [(p, q) for p in range(size) for q in range(p, size)]
    products = {dlt[p, q]: xs[p] * xs[q] for p, q in entries}
    poly = sp.Poly(quadratic, *[dlt[p, q] for p, q in entries])
    total = 0
    for monomial, coefficient in poly.terms():
        factors = [sym for sym, power in zip(poly.gens, monomial) for _ in range(power)]
        if len(factors) != 2:
            raise ArithmeticError(f"non-quadratic term in the KL expansion: {monomial}")
        u, v_ = (products[sym] for sym in factors)
        total += coefficient * (E(sp.expand(u * v_)) - E(u) * E(v_))
    return sp.simplify(total), lam, g, _f


@lru_cache(maxsize=None)
def linear_transfer_coefficient():
    r"""a₁ for affine transfers f(λ) = αλ + β₀: when "independent of the data" holds.

    Substituting f into :func:`leading_coefficient_expression` (with fdd = α, the
    divided difference of an affine function) gives per pair (p, q) the weight

    .. math:: w_{pq} = \frac{\alpha\lambda_p}{\alpha\lambda_p + \beta_0}\cdot
              \frac{\alpha\lambda_q}{\alpha\lambda_q + \beta_0},\qquad
              1 - w_{pq} = \frac{\beta_0(\alpha\lambda_p + \alpha\lambda_q + \beta_0)}
              {(\alpha\lambda_p + \beta_0)(\alpha\lambda_q + \beta_0)}

    so for β₀ = 0 (f homogeneous linear) a₁ = ¼(d² + d) = d(d + 1)/4 for every
    spectrum (by ``summation``), and with f > 0 on the spectrum a₁ < d(d + 1)/4 when
    β₀ > 0, a₁ > d(d + 1)/4 when β₀ < 0 (the sign of 1 − w is that of β₀).

    Returns
    -------
    dict with "homogeneous" (a₁ for β₀ = 0, a polynomial in d), "weight" (w_pq) and
    "deficit" (1 − w_pq), factored, and "symbols" (α, β₀, λ_p, λ_q)
    """
    alpha, beta0 = sp.symbols("alpha beta_0", real=True)
    lp, lq = sp.symbols("lambda_p lambda_q", positive=True)
    a1, f = leading_coefficient_expression()
    affine = sp.Lambda(_y, alpha * _y + beta0)
    # the divided difference of an affine map is its slope α, on and off the diagonal
    expr = a1.replace(lambda z: isinstance(z, sp.Indexed) and z.base == divided_difference,
                      lambda z: alpha).replace(f, affine)
    homogeneous = sp.factor(sp.simplify(expr.subs(beta0, 0).doit()))
    pair_sums = [t for t in sp.Add.make_args(expr) if isinstance(t, sp.Sum)
                 and len(t.limits) == 2]
    if len(pair_sums) != 1:
        raise ArithmeticError("could not isolate the all-pairs sum")
    (pair_sum,) = pair_sums
    p_sym, q_sym = (limit[0] for limit in pair_sum.limits)
    summand = pair_sum.function.subs({lam_indexed[p_sym]: lp, lam_indexed[q_sym]: lq})
    weight = sp.simplify(summand / summand.subs(beta0, 0))
    deficit = sp.factor(sp.simplify(1 - weight))
    return {"homogeneous": homogeneous, "deficit": deficit, "weight": sp.factor(weight),
            "symbols": (alpha, beta0, lp, lq)}
