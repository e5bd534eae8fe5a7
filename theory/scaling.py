r"""The N < d story for power-law spectra (DESIGN.md C.4; issue 5, item 3).

Setting
-------
Population spectrum λ_j = C j^(−k), j = 1..d, k ≥ 0, with C fixed by Σ_j λ_j = d
(mean eigenvalue 1, :func:`numerics.spectra.power_law_spectrum`), so
C = d/H_{d,k}, H_{d,k} = Σ_{j≤d} j^(−k): C depends on d.  λ_d = C d^(−k) is the
smallest eigenvalue.  N < d samples (q = d/N > 1): Σ̂ has a null space P₀ of dimension
d − N, with v_jᵀP₀v_j ≍ κ₀/(λ_j + κ₀) and κ₀ the root of
1 = (1/N)Σ_j λ_j/(λ_j + κ₀) (:func:`theory.proportional.null_space_equation`).

What is derived here
--------------------
A. κ₀ and the missing variance V = Σ_j λ_jκ₀/(λ_j + κ₀) = E Tr(P₀Σ) (the population
   variance in the directions the training set does not span).
   * V = N κ₀ exactly, at any d (:func:`missing_variance_identity`).
   * The occupation equation (:func:`occupation_equation`):
     N + ½ − 1/(2(1 + b)) = d J_k(b),  J_k(b) = ∫₀¹ dx/(1 + b x^k),  b = κ₀/λ_d.
   * J_k in closed form (a Lerch transcendent; log(1 + b)/b at k = 1) and its large-b
     expansion from the poles of its Mellin transform π/((1 − ks) sin πs)
     (:func:`occupation_expansion`).  N ≪ d means b ≫ 1.
   * k > 1 ("steep", :func:`steep_asymptotics`): κ₀ = C (I_k/N)^k,
     V = C I_k^k N^(1−k), V/d = (I_k^k/ζ(k)) N^(1−k), with
     I_k = ∫₀^∞ du/(1 + u^k) = (π/k)/sin(π/k) = Γ(1 + 1/k)Γ(1 − 1/k);
     e.g. k = 2: V/d = 3/(2N).  Regime: d → ∞ first at fixed N, then N → ∞; at
     finite d the relative corrections are k/(2N) (boundary term) and
     −k (j*/d)^(k−1)/((k−1)I_k) (spectrum truncated at d), j* = N/I_k the index where
     λ_j = κ₀ (:func:`steep_corrected_equation`, :func:`steep_local_exponent`).
   * 0 < k < 1 (:func:`shallow_asymptotics`): proportional limit d → ∞ at fixed q,
     then q → ∞: κ₀ = q − (1−k)²/(1−2k) + … (k < ½) and
     κ₀ = q + I_k (1−k)^(1/k) q^(2−1/k) + … (½ < k < 1, where I_k < 0 is the analytic
     continuation), i.e. the captured fraction of the variance, 1 − V/d, falls like
     N/d resp. (N/d)^(1/k − 1).  k = ½ has a logarithm (not given).
   * k = 1 (:func:`harmonic_kappa0`): κ₀ = b/H_d with b = −q W₋₁(−e^(−1/q)/q) − 1
     (Lambert W, lower branch), V/d = log(1 + b)/H_d; b ≈ q log(q log q) for q ≫ 1:
     exponent 0 in N with logarithms.  k = 0: κ₀ = q − 1, V = d − N (exact).
B. Losses of the ridge model (τ = ∞) in closed form through the effective ridge κ(ζ)
   (:func:`ridge_step_losses`): ζ_t = (1 − ᾱ_t + c)/ᾱ_t, κ′ = dκ/dζ.  Valid on both
   sides of q = 1.  The gap's small-ζ expansion (:func:`ridge_gap_expansion`):
   gap_t = ᾱ_t(1 − ᾱ_t)V/(1 − ᾱ_t + c)² · [1 + O(ζ_t²)], so the summed gap is
   G(c)·V with G(c) = Σ_t ᾱ_t(1 − ᾱ_t)/(1 − ᾱ_t + c)², whenever the steps that
   dominate G have ζ_t ≪ κ₀: the gap inherits V's exponent and prefactor.
C. Optimal ridge and stopping time from the null-space part of the test loss
   (:func:`null_space_step_losses`, :func:`null_space_optimal_ridge_step`, …):
   per step c_t* = ᾱ_t s̄₀ and τ_t* = log(1 + (1 − ᾱ_t)/(ᾱ_t s̄₀))/(1 − ᾱ_t), with
   s̄₀ = V/(d − N) the mean variance of a null direction; summed over t, the fixed
   point c = s̄₀⟨ᾱ⟩ (:func:`null_space_ridge_fixed_point`) and, for a step density
   ∝ s^(α−1) in s = 1 − ᾱ (α = ½ for the linear schedule in its middle range),
   c* = s̄₀/(1 + s̄₀(1+α)/(1−α)) and τ* = α/(2(2^α − 1) s̄₀)
   (:func:`continuum_optimal_ridge`, :func:`continuum_optimal_stopping`).  Hence for
   k > 1 and N ≪ d: c* ≈ (I_k^k/ζ(k)) N^(1−k) and τ* ∝ N^(k−1).
D. The KL restricted to the null space (:func:`null_space_kl_optimum`): one scalar
   f₀ = f(0; c, τ) serves all d − N null directions, so no c or τ can push the null
   part below its minimum over f₀; against the target N(0, Σ) and as N/d → 0 that is
   ½(k − log(1 + k)) per dimension (forward) and ½(log(b/q) − k) (reverse; for k > 1
   ½((k−1) log q + k log I_k − k), growing with q) (:func:`null_space_kl_floor`):
   a hierarchical spectrum *raises* the KL floor while it lowers V.  As c → 0,
   f₀ ∝ c² (:func:`null_transfer_small_c`): forward KL ≈ (d − N) log(1/c), reverse
   ∝ V/c².

Steps that sympy does not derive (cited; each verified numerically in
tests/test_scaling.py)
-------------------------------------------------------------------------------
1. Sum → integral: (1/d)Σ_{j≤d} g(j/d) = ∫₀¹g − (g(0) − g(1))/(2d) + …  (Euler–
   Maclaurin; at x = 0, g(x) = 1/(1 + bx^k) is not smooth for non-integer k and the
   boundary terms come from the Mellin form of the sum, Σ_j F(j/j*) = (1/2πi)∫
   M_F(s)ζ(s)j*^s ds, Flajolet, Gourdon & Dumas 1995; sympy computes its residues:
   j* I_k at s = 1, −½ at s = 0, −ζ(−k) j*^(−k) at s = −k, :func:`sum_residues`).
2. Large-b expansion of J from the poles of its Mellin transform to the right of the
   fundamental strip (contour shift; the residues are computed by sympy).
3. The deterministic equivalent (Σ̂ + ζ)⁻¹ ≍ (κ/ζ)(Σ + κ)⁻¹ may be differentiated in ζ
   (it holds uniformly on compacts of ζ > 0 for analytic functions; cited).
4. The sum over diffusion steps replaced by an integral over s = 1 − ᾱ with a power-law
   density (C's continuum formulas).

theory/ imports sympy only.
"""

from functools import lru_cache

import sympy as sp

from . import losses as _losses  # module import: pytest must not collect test_loss_*
from .certify import nonzero_at_a_rational_point
from .model import noise_averaged_loss, ridge_denoiser, sampler_gain
from .proportional import (
    j, kappa, kappa0, lam_pop, null_space_equation, q, ridge_equivalent_equation, zeta,
)
from .symbols import N, alpha_bar, beta, c, d, lam, s, tau, w

__all__ = [
    "k", "C", "b", "x", "u", "mellin_s", "jstar", "lam_d", "V", "sbar0", "kappa_prime",
    "alpha", "f0",
    "powerlaw_occupation", "occupation_equation", "occupation_integral",
    "occupation_mellin", "occupation_expansion", "expansion_terms", "kernel_mellin", "sum_residues",
    "missing_variance_identity", "lambda_min", "steep_asymptotics",
    "steep_corrected_equation", "steep_local_exponent", "shallow_asymptotics",
    "harmonic_kappa0", "isotropic_missing_variance",
    "resolvent_traces", "kappa_derivative", "ridge_step_losses", "ridge_gap_expansion",
    "null_space_step_losses", "null_space_optimal_ridge_step",
    "null_space_optimal_stopping_step", "null_space_ridge_fixed_point",
    "schedule_step_density", "continuum_optimal_ridge", "continuum_optimal_stopping",
    "null_space_kl_optimum", "null_space_kl_floor", "null_transfer_small_c",
]

#: power-law exponent (k = 0, the isotropic case, is handled separately)
k = sp.Symbol("k", positive=True)
#: λ₁ = C (the spectrum's prefactor)
C = sp.Symbol("C", positive=True)
#: b = κ₀/λ_d (N ≪ d ⇔ b ≫ 1)
b = sp.Symbol("b", positive=True)
#: x = j/d (proportional coordinate) and u = j/j* (crossover coordinate)
x = sp.Symbol("x", positive=True)
u = sp.Symbol("u", positive=True)
#: Mellin variable
mellin_s = sp.Symbol("s_M")
#: crossover index j*: λ_{j*} = κ₀
jstar = sp.Symbol("j_star", positive=True)
#: smallest population eigenvalue λ_d = C d^(−k)
lam_d = sp.Symbol("lambda_d", positive=True)
#: missing variance V = Σ_j λ_jκ₀/(λ_j + κ₀) and s̄₀ = V/(d − N)
V = sp.Symbol("V", positive=True)
sbar0 = sp.Symbol("sbar_0", positive=True)
#: κ′(ζ) = dκ/dζ
kappa_prime = sp.Symbol("kappa_prime", positive=True)
#: exponent of the step density in s = 1 − ᾱ
alpha = sp.Symbol("alpha", positive=True)
#: sampling variance of a null direction, f₀ = f(0; c, τ)
f0 = sp.Symbol("f_0", positive=True)

_p = sp.Symbol("p", positive=True)
_eta = sp.Symbol("eta_bookkeeping", positive=True)


def _check_k(k_value, allowed, name="k_value"):
    """Validate a numeric k against a predicate ``allowed`` (with its description)."""
    predicate, description = allowed
    try:
        value = sp.nsimplify(k_value)
    except (TypeError, ValueError, sp.SympifyError):
        raise ValueError(f"{name} must be a real number {description}, got {k_value!r}") from None
    if not value.is_real or not value.is_finite or not predicate(value):
        raise ValueError(f"{name} must be a real number {description}, got {k_value!r}")
    return value


# ---------------------------------------------------------------------------------
# A. occupation equation, κ₀ and the missing variance


@lru_cache(maxsize=None)
def powerlaw_occupation():
    r"""The summand λ_j/(λ_j + κ₀) of :func:`theory.proportional.null_space_equation`
    for λ_j = C j^(−k), in the proportional coordinate x = j/d:

    .. math:: \frac{\lambda_j}{\lambda_j+\kappa_0} = \frac{1}{1 + b\,x^k},
              \qquad b = \kappa_0/\lambda_d = \kappa_0 d^k/C.

    Exact (a rewriting).  ``b`` large means κ₀ ≫ λ_d: N ≪ d.
    """
    eq = null_space_equation()
    (total,) = eq.rhs.atoms(sp.Sum)
    summand = total.function.subs(lam_pop[j], C * j ** (-k))
    in_x = sp.simplify(summand.subs(j, d * x).subs(kappa0, b * C / d**k))
    target = 1 / (1 + b * x**k)
    if sp.simplify(in_x - target) != 0:
        raise ArithmeticError(f"power-law occupation did not reduce: {in_x}")
    return target


@lru_cache(maxsize=None)
def kernel_mellin():
    r"""Mellin transform of the crossover kernel F(u) = 1/(1 + u^k) (sympy
    ``mellin_transform``):

    .. math:: M_F(s) = \int_0^\infty u^{s-1}\frac{du}{1+u^k}
              = \frac{\pi}{k\sin(\pi s/k)},\qquad 0 < \operatorname{Re}s < k.

    I_k = M_F(1) = (π/k)/sin(π/k) for k > 1.  Returns (M_F(s), strip).
    """
    expr, strip, _ = sp.mellin_transform(1 / (1 + u**k), u, mellin_s)
    return expr, strip


@lru_cache(maxsize=None)
def sum_residues():
    r"""Residues of M_F(s) ζ(s) j*^s: the asymptotic expansion of the discrete sum
    Σ_{j≥1} F(j/j*) as j* → ∞ (Mellin form of the sum, cited; contour shifted left):

    .. math:: \sum_{j\ge1}\frac{1}{1+(j/j_*)^k} = I_k\,j_* - \tfrac12
              - \zeta(-k)\,j_*^{-k} + O(j_*^{-2k}),\qquad k > 1.

    The −½ is the boundary term of the Riemann sum at x = 0 used in
    :func:`occupation_equation` (F(0) = 1).  Returns {pole: residue}.
    """
    M, _ = kernel_mellin()
    integrand = M * sp.zeta(mellin_s) * jstar**mellin_s
    out = {}
    # s = 1: sympy cannot expand ζ at its pole; with ζ(s) = η(s)/(1 − 2^(1−s)) (Dirichlet
    # η, analytic at 1, η(1) = log 2) the residue is η(1)·lim (s−1)/(1 − 2^(1−s)) = 1
    eta_form = sp.zeta(mellin_s).rewrite(sp.dirichlet_eta)
    pole_part = sp.simplify(eta_form / sp.dirichlet_eta(mellin_s))
    zeta_residue = sp.simplify(sp.limit((mellin_s - 1) * pole_part, mellin_s, 1)
                               * sp.dirichlet_eta(1))
    out[sp.S.One] = sp.simplify(zeta_residue * (M * jstar**mellin_s).subs(mellin_s, 1))
    for pole in (sp.S.Zero, -k):
        out[pole] = sp.simplify(sp.residue(integrand, mellin_s, pole))
    return out


@lru_cache(maxsize=None)
def occupation_equation():
    r"""The null-space equation for the power law, as an equation for b = κ₀/λ_d:

    .. math:: N + \tfrac12 - \frac{1}{2(1+b)} = d\,J_k(b),
              \qquad J_k(b) = \int_0^1\frac{dx}{1 + b\,x^k}.

    Route: d·(1/d)Σ_j g(j/d) with g from :func:`powerlaw_occupation`, the Riemann sum
    replaced by d∫₀¹g plus the boundary terms −g(0)/2 (residue at s = 0 of
    :func:`sum_residues`) and +g(1)/2 (Euler–Maclaurin at x = 1) — cited step 1 of the
    module docstring.  Regime: k > 0, q > 1; the remaining error is o(1) in N
    (relative o(1/N); for k > 1 and b ≫ 1 it is ζ(−k)j*^(−k), negligible; measured in
    the tests: relative 2·10⁻⁷ … 1.5·10⁻³ at d = 4000, q = 20, k = 1.5 … 0.3).

    k = 0 is excluded from the boundary terms: there g ≡ 1/(1 + b) is constant, the
    Riemann sum is exact and the equation is N = d/(1 + b) (the two boundary terms
    cancel; the −½ assumes g(0) = 1, i.e. k > 0).

    Returns an ``Eq`` with J as an unevaluated ``Integral``.
    """
    g = powerlaw_occupation()
    lower = -sum_residues()[sp.S.Zero] * g.subs(x, 0)   # +½: ζ(0) F(0) = −½ moved over
    upper = -g.subs(x, 1) / 2                            # −g(1)/2 moved over
    return sp.Eq(N + lower + upper, d * sp.Integral(g, (x, 0, 1)))


@lru_cache(maxsize=None)
def occupation_integral(k_value=None, form="lerch"):
    r"""J_k(b) = ∫₀¹ dx/(1 + b x^k) evaluated by sympy.

    Generic k: J = Φ(−b, 1, 1/k)/k (Lerch transcendent, ``integrate``), equivalently
    ₂F₁(1, 1/k; 1 + 1/k; −b) (``form="hyper"``: the termwise integral
    Σ_n (−b)^n ∫₀¹x^(kn)dx = Σ_n (−b)^n/(kn + 1) matched coefficient by coefficient with
    the hypergeometric series; the better form for evaluation at large b, where
    mpmath's Lerch continuation loses accuracy).  k = 1: log(1 + b)/b.  k = 0: 1/(1 + b).

    Parameters
    ----------
    k_value : number ≥ 0 or None
        None keeps k symbolic.
    form : {"lerch", "hyper"}
    """
    g = powerlaw_occupation()
    if form == "hyper":
        if k_value is not None:
            raise ValueError("k_value must be None for form='hyper'")
        n = sp.Symbol("n", integer=True, nonnegative=True)
        termwise = sp.integrate(x ** (_p - 1), (x, 0, 1)).subs(_p, k * n + 1)
        hyper_coeff = sp.combsimp(sp.rf(1, n) * sp.rf(1 / k, n)
                                  / (sp.rf(1 + 1 / k, n) * sp.factorial(n)))
        if sp.simplify(termwise - hyper_coeff) != 0:
            raise ArithmeticError(f"termwise coefficient {termwise} ≠ {hyper_coeff}")
        return sp.hyper([1, 1 / k], [1 + 1 / k], -b)
    if form != "lerch":
        raise ValueError(f"form must be 'lerch' or 'hyper', got {form!r}")
    if k_value is not None:
        kv = _check_k(k_value, (lambda v: v >= 0, ">= 0"))
        g = g.subs(k, kv)
    value = sp.integrate(g, (x, 0, 1))
    # sympy's Meijer-G route leaves b·exp_polar(iπ), the point −b on the principal sheet
    value = value.replace(sp.exp_polar, sp.exp)
    return sp.gammasimp(value)


@lru_cache(maxsize=None)
def occupation_mellin():
    r"""Mellin transform of J_k in b:

    .. math:: \int_0^\infty b^{s-1}J_k(b)\,db = \frac{\pi}{(1 - ks)\sin\pi s},
              \qquad 0 < \operatorname{Re}s < \min(1, 1/k).

    Route: sympy's Mellin transform of 1/(1 + b x^k) in b (π x^(−ks)/sin πs), then
    ∫₀¹ x^(−ks) dx = 1/(1 − ks) (Fubini in the strip).  Returns (expression, strip).
    """
    inner, strip, _ = sp.mellin_transform(powerlaw_occupation(), b, mellin_s)
    inner = sp.powsimp(inner * x ** (k * mellin_s))
    if inner.has(x):
        raise ArithmeticError(f"Mellin transform did not factor as x^(-ks)·h(s): {inner}")
    x_part = sp.integrate(x ** (_p - 1), (x, 0, 1)).subs(_p, 1 - k * mellin_s)
    return sp.factor(inner * x_part), (strip[0], sp.Min(strip[1], 1 / k))


def occupation_expansion(k_value=None, terms=2):
    r"""Large-b asymptotic expansion of J_k(b): minus the residues of
    π b^(−s)/((1 − ks) sin πs) at its poles right of the strip (cited step 2).

    Generic k (not 1/m):

    .. math:: J_k(b) \sim I_k\,b^{-1/k} + \sum_{m\ge1}\frac{(-1)^{m+1}}{1 - mk}\,b^{-m},
              \qquad I_k = \frac{\pi}{k\sin(\pi/k)}.

    For k > 1 the b^(−1/k) term leads; for k < 1 the b^(−1) term.  When 1/k is an
    integer m the two poles merge and a log b appears (k = 1: log(b)/b; the exact
    J₁ = log(1 + b)/b).  The pole at 1/k is included even when it lies beyond
    s = ``terms`` (then the omitted integer poles dominate the error).

    Parameters
    ----------
    k_value : number > 0 or None
        None: symbolic k, generic (poles distinct).
    terms : int ≥ 1
        Integer poles s = 1..terms are included.
    """
    if isinstance(terms, bool) or not isinstance(terms, int) or terms < 1:
        raise ValueError(f"terms must be an integer >= 1, got {terms!r}")
    M, _ = occupation_mellin()
    integrand = M * b ** (-mellin_s)
    if k_value is None:
        poles = [1 / k] + [sp.Integer(m) for m in range(1, terms + 1)]
    else:
        kv = _check_k(k_value, (lambda v: v > 0, "> 0"))
        integrand = integrand.subs(k, kv)
        poles = sorted({1 / kv} | {sp.Integer(m) for m in range(1, terms + 1)})
    total = sp.S.Zero
    for pole in poles:
        total -= _residue(integrand, mellin_s, pole)
    # the residues carry b^(−s) as exp(−s log b); powdenest writes it as a power (b > 0)
    return sp.expand(sp.powdenest(total))


def _residue(expr, s, pole):
    """Residue of ``expr`` at ``pole`` in ``s``.

    If the denominator (of ``sp.fraction``; numerator and denominator are entire here)
    vanishes at the pole with a provably non-zero derivative, the pole is simple and the
    residue is numerator/denominator′ there (L'Hôpital's rule for lim (s − pole)·expr).
    Otherwise (merged poles, e.g. 1/k an integer) sympy's ``residue`` is used.
    """
    numerator, denominator = sp.fraction(expr)
    if denominator.subs(s, pole) == 0:
        slope = sp.diff(denominator, s).subs(s, pole)
        if nonzero_at_a_rational_point(slope):
            return numerator.subs(s, pole) / slope
    return sp.residue(expr, s, pole)


def expansion_terms(expansion):
    r"""{exponent e: coefficient A} for an expansion Σ A b^(−e) without logarithms
    (e.g. :func:`occupation_expansion` at generic k); e may depend on k.

    e is the logarithmic derivative −b ∂_b log(A b^(−e)) of each term (a rational
    function of the exponents after ``powsimp``, reduced by ``cancel``)."""
    out = {}
    for term in sp.Add.make_args(sp.expand(expansion)):
        e = sp.cancel(sp.powsimp(-b * sp.diff(term, b) / term))
        if e.has(b):
            raise ValueError(f"expansion term {term} is not a pure power of b")
        coeff = sp.cancel(sp.powsimp(term * b**e, force=True))
        if coeff.has(b):
            raise ArithmeticError(f"could not separate b from {term}")
        out[e] = sp.cancel(out.get(e, 0) + coeff)
    return out


@lru_cache(maxsize=None)
def _generic_expansion_terms(terms):
    """:func:`expansion_terms` of :func:`occupation_expansion` at symbolic k (cached)."""
    return expansion_terms(occupation_expansion(None, terms))


@lru_cache(maxsize=None)
def missing_variance_identity():
    r"""V = Σ_j λ_jκ₀/(λ_j + κ₀) = N κ₀, exactly (any spectrum, any d, q > 1).

    Route: factor κ₀ out of the summand; the remaining sum is N by the null-space
    equation (:func:`theory.proportional.null_space_equation`).  Equivalently, the
    captured variance E Tr((I − P₀)Σ) is Σλ_j − Nκ₀, and V/(d − N) = Nκ₀/(d − N) = s̄₀,
    the mean population variance of a null direction.

    Returns V as an expression in N and κ₀.
    """
    summand = lam_pop[j] * kappa0 / (lam_pop[j] + kappa0)
    occupation = lam_pop[j] / (lam_pop[j] + kappa0)
    factor = sp.simplify(summand / occupation)
    if factor != kappa0:
        raise ArithmeticError(f"summand is not κ₀ times the occupation: {factor}")
    eq = null_space_equation()
    (total,) = eq.rhs.atoms(sp.Sum)
    (total_value,) = sp.solve(sp.Eq(eq.lhs, eq.rhs.subs(total, sp.Symbol("S"))),
                              sp.Symbol("S"))
    return sp.simplify(factor * total_value.subs(q, d / N))


@lru_cache(maxsize=None)
def lambda_min(regime):
    r"""λ_d = C d^(−k) = d^(1−k)/H_{d,k} under Σλ = d, to leading order in d.

    ``regime`` "steep" (k > 1): H → ζ(k) (sympy ``Sum.doit``), λ_d = d^(1−k)/ζ(k),
    C = d/ζ(k); "shallow" (0 < k < 1): H ≈ ∫₀^d x^(−k)dx = d^(1−k)/(1−k) (Euler–
    Maclaurin, relative error O(d^(k−1))), λ_d = 1 − k; "harmonic" (k = 1):
    H_d = log d + γ + O(1/d), λ_d = 1/H_d.

    Returns (λ_d, C).
    """
    kk = sp.Symbol("k_", positive=True)
    if regime == "steep":
        H = sp.Sum(j ** (-kk), (j, 1, sp.oo)).doit()
        if isinstance(H, sp.Piecewise):  # the k > 1 branch
            H = H.args[0][0]
        H = H.subs(kk, k)
    elif regime == "shallow":
        H = sp.integrate(x ** (_p - 1), (x, 0, d)).subs(_p, 1 - k)
    elif regime == "harmonic":
        H = sp.harmonic(d)
        Cval = d / H
        return sp.simplify(Cval / d), Cval
    else:
        raise ValueError(f"regime must be 'steep', 'shallow' or 'harmonic', got {regime!r}")
    Cval = d / H
    return sp.simplify(Cval * d ** (-k)), Cval


def _invert_two_terms(A1, e1, A2, e2, Q):
    r"""b ≈ b₀(1 + ε) solving 1/Q = A₁b^(−e₁) + A₂b^(−e₂), e₁ < e₂, to first order in
    the subleading term (bookkeeping parameter η multiplying A₂)."""
    b1 = sp.Symbol("b_1")
    b0 = (A1 * Q) ** (1 / e1)
    eq = A1 * (b0 + _eta * b1) ** (-e1) + _eta * A2 * (b0 + _eta * b1) ** (-e2) - 1 / Q
    first = sp.diff(eq, _eta).subs(_eta, 0)
    # first-order condition, linear in b₁: solve it as such
    slope = sp.diff(first, b1)
    if slope.has(b1) or slope == 0:
        raise ArithmeticError(f"first-order condition is not linear in b_1: {first}")
    b1_value = -first.subs(b1, 0) / slope
    return sp.simplify(b0), sp.simplify(b1_value)


@lru_cache(maxsize=None)
def steep_asymptotics():
    r"""κ₀ and V for k > 1, N ≪ d (d → ∞ first at fixed N, then N → ∞).

    From :func:`occupation_expansion` J ~ I_k b^(−1/k) + b^(−1)/(1 − k) and N/d = J:

    .. math:: \kappa_0 = C\Big(\frac{I_k}{N}\Big)^k,\qquad
              V = N\kappa_0 = C\,I_k^k\,N^{1-k},\qquad
              \frac Vd = \frac{I_k^k}{\zeta(k)}\,N^{1-k},

    I_k = (π/k)/sin(π/k) = Γ(1 + 1/k)Γ(1 − 1/k) (k = 2: π/2, V/d = 3/(2N);
    k = 3: V/d = 8√3π³/(243ζ(3)) N^(−2) ≈ 1.4709 N^(−2)).  C = d/ζ(k) is the d → ∞
    value of C = d/H_{d,k} (relative error d^(1−k)/((k−1)ζ(k))).  First-order relative
    corrections to V at finite N, d: −k/(2N) (N → N + ½) and
    −k j*^k d^(1−k)/((k−1)N), j* = N/I_k (spectrum truncated at d), see
    :func:`steep_corrected_equation`; the second is small only if
    (N/(I_k d))^(k−1) ≪ 1, which for k → 1⁺ needs N/d extremely small.

    Returns
    -------
    dict
        "I_k", "I_k_gamma" (the Γ form, checked equal), "b" (leading b(q) = (qI_k)^k),
        "b_correction" (first correction to b from the b^(−1) term),
        "kappa0" (in C, N), "V" (in C, N), "V_per_dim" (with C = d/ζ(k)),
        "exponent" (1 − k), "prefactor" (I_k^k/ζ(k)), "kappa0_over_C".
    """
    M, _ = kernel_mellin()
    I_k = sp.factor(M.subs(mellin_s, 1))
    I_gamma = sp.gamma(1 + 1 / k) * sp.gamma(1 - 1 / k)
    if sp.simplify(sp.gammasimp(I_gamma) - I_k) != 0:
        raise ArithmeticError("I_k ≠ Γ(1 + 1/k)Γ(1 − 1/k)")
    terms = _generic_expansion_terms(1)
    A1, A2 = terms[1 / k], terms[sp.S.One]
    if sp.simplify(A1 - I_k) != 0:
        raise ArithmeticError(f"leading coefficient {A1} ≠ I_k")
    b0, b1 = _invert_two_terms(A1, 1 / k, A2, sp.S.One, q)
    lamd, Cval = lambda_min("steep")
    # products of powers: powsimp combines them; the exponent is a rational function
    kap0 = sp.powsimp((lam_d * b0).subs(q, d / N).subs(lam_d, C * d ** (-k)))
    Vval = sp.powsimp(missing_variance_identity().subs(kappa0, kap0))
    V_dim = sp.powsimp(Vval.subs(C, Cval) / d)
    exponent = sp.factor(sp.diff(sp.log(Vval), N) * N)
    return {"I_k": I_k, "I_k_gamma": I_gamma, "b": b0, "b_correction": b1,
            "kappa0": kap0, "kappa0_over_C": sp.powsimp(kap0 / C), "V": Vval,
            "V_per_dim": V_dim, "exponent": exponent,
            "prefactor": sp.powsimp(V_dim * N ** (k - 1))}


@lru_cache(maxsize=None)
def steep_corrected_equation():
    r"""The k > 1 equation for the crossover index j* = (C/κ₀)^(1/k) to next order:

    .. math:: N + \tfrac12 = I_k\,j_* - \frac{j_*^k\,d^{1-k}}{k-1} + O(j_*^{-k})
              + O((j_*/d)^k),

    from :func:`occupation_equation` with J's two leading terms (j* = d b^(−1/k)) and
    g(1) = 1/(1+b) = O((j*/d)^k) dropped.  Solving it (numerics does, by bisection)
    gives κ₀ = C j*^(−k), V = Nκ₀ with both finite-size corrections.

    Returns Eq(N + ½, rhs) in j*, d, k.
    """
    terms = _generic_expansion_terms(1)
    rhs = sum(d * A * ((d / jstar) ** k) ** (-e) for e, A in terms.items())
    rhs = sp.powsimp(sp.expand_power_base(sp.expand(rhs), force=True), force=True)
    rhs = sp.expand(sp.powsimp(sp.expand(rhs), force=True))
    return sp.Eq(N + sp.Rational(1, 2), sp.collect(rhs, jstar))


@lru_cache(maxsize=None)
def steep_local_exponent():
    r"""Local exponent d log V/d log N implied by :func:`steep_corrected_equation`:

    .. math:: \frac{d\log V}{d\log N} = 1 - k\,\frac{N}{j_*}\frac{dj_*}{dN}
              = 1 - k + \frac{k}{2N} - \frac{k}{I_k}\Big(\frac{j_*}{d}\Big)^{k-1}
              + \dots

    The leading terms of the deviation from 1 − k: +k/(2N) from the boundary term
    and −(k/I_k)(j*/d)^(k−1) from the spectrum's end at d (j* ≈ N/I_k).  They set the
    allowance of the slope fit in the tests.  The first order is the h-derivative at
    h = 0 of the local exponent with δ → hδ, ε → hε (a rational function of h, analytic
    at 0), its δ and ε coefficients reduced by ``factor``.

    Returns (exact implicit expression in j*, N, d, k; first-order deviation in N, d, k).
    """
    eq = steep_corrected_equation()
    I_k = steep_asymptotics()["I_k"]
    dN_djstar = sp.diff(eq.rhs, jstar)
    exact = sp.factor(1 - k * ((eq.rhs - sp.Rational(1, 2)) / jstar) / dN_djstar)
    # N = j*·G(X) − ½ with X = d/j*, G(X) = Σ_e A_e X^(1−ke); at fixed d,
    # dN/dj* = G − X G′.  Small parameters δ = 1/j*, ε = X^(1−k) = (j*/d)^(k−1).
    X = sp.Symbol("X", positive=True)
    delta, eps, h = sp.symbols("delta epsilon h", positive=True)
    terms = _generic_expansion_terms(1)
    G = sum(A * X ** (1 - k * e) for e, A in terms.items())
    if sp.cancel(sp.powsimp(sp.expand_power_base(G.subs(X, d / jstar) * jstar - eq.rhs,
                                                 force=True), force=True)) != 0:
        raise ArithmeticError("G does not reproduce the corrected equation")
    n_over_j, slope = -delta / 2, sp.S.Zero
    for e, A in terms.items():
        power = X ** (1 - k * e)
        p_e = sp.simplify((1 - k * e) / (1 - k))           # X^(1−ke) = ε^(p_e)
        log_deriv = sp.simplify(X * sp.diff(power, X) / power)   # = 1 − ke
        if not p_e.is_number:
            raise ArithmeticError(f"term X^({1 - k * e}) is not a power of (j*/d)^(k−1)")
        n_over_j += A * eps**p_e
        slope += A * (1 - log_deriv) * eps**p_e
    local = (1 - k * n_over_j / slope).subs({delta: h * delta, eps: h * eps})
    # first-order Taylor polynomial in h (local is a rational function of h, analytic at 0)
    first = sp.expand(local.subs(h, 0) + sp.diff(local, h).subs(h, 0))
    deviation = sp.collect(sp.expand(first - (1 - k)), [delta, eps], evaluate=False)
    if set(deviation) - {delta, eps}:
        raise ArithmeticError(f"the deviation from 1 − k is not linear in δ, ε: {deviation}")
    deviation = sum(sp.factor(coefficient) * small for small, coefficient in deviation.items())
    # δ ≈ I_k/N and ε ≈ (N/(I_k d))^(k−1) at this order
    return exact, deviation.subs({delta: I_k / N, eps: (N / (I_k * d)) ** (k - 1)})


@lru_cache(maxsize=None)
def shallow_asymptotics(branch):
    r"""κ₀ for 0 < k < 1 in the proportional limit (d → ∞ at fixed q), then q ≫ 1.

    With λ_d → 1 − k (:func:`lambda_min`) and the two leading terms of
    :func:`occupation_expansion`:

    * ``branch="below_half"`` (0 < k < ½): J ~ b⁻¹/(1−k) − b⁻²/(1−2k),
      κ₀ = q − (1−k)²/(1−2k) + o(1);
    * ``branch="above_half"`` (½ < k < 1): J ~ b⁻¹/(1−k) + I_k b^(−1/k) with
      I_k = π/(k sin(π/k)) < 0, κ₀ = q + I_k(1−k)^(1/k) q^(2−1/k) + o(q^(2−1/k)).

    Missing fraction V/d = κ₀/q; captured fraction 1 − κ₀/q ≈ (1−k)²/((1−2k)q),
    resp. −I_k(1−k)^(1/k) q^(1−1/k).  k = 0 reproduces κ₀ = q − 1 exactly.

    Returns dict "kappa0" (in q, k) and "captured" (1 − V/d, leading).
    """
    terms = _generic_expansion_terms(2)
    I_k = sp.pi / (k * sp.sin(sp.pi / k))
    lamd, _ = lambda_min("shallow")
    if branch == "below_half":
        A1, A2 = terms[sp.S.One], terms[sp.Integer(2)]
        e1, e2 = sp.S.One, sp.Integer(2)
    elif branch == "above_half":
        A1, A2 = terms[sp.S.One], terms[1 / k]
        e1, e2 = sp.S.One, 1 / k
        if sp.simplify(A2 - I_k) != 0:
            raise ArithmeticError(f"b^(-1/k) coefficient {A2} ≠ I_k")
    else:
        raise ValueError(f"branch must be 'below_half' or 'above_half', got {branch!r}")
    b0, b1 = _invert_two_terms(A1, e1, A2, e2, q)
    kap0 = sp.simplify(lamd * (b0 + b1))
    kap0 = sp.powsimp(sp.powdenest(kap0.subs(-1 / (k - 1), 1 / (1 - k)), force=True), force=True)
    captured = sp.simplify(sp.expand(1 - kap0 / q))
    if branch == "below_half":  # polynomial in q: tidy each coefficient
        poly = sp.Poly(sp.expand(kap0), q)
        kap0 = sum(sp.factor(coeff) * q**m for (m,), coeff in poly.terms())
        captured = sp.factor(captured)
    return {"kappa0": kap0, "captured": captured}


@lru_cache(maxsize=None)
def harmonic_kappa0():
    r"""k = 1: J₁(b) = log(1 + b)/b, and N/d = J₁ solved by sympy (Lambert W).

    .. math:: b = -q\,W_{-1}\!\big(-e^{-1/q}/q\big) - 1,\qquad
              \kappa_0 = \lambda_d\,b = b/H_d,\qquad \frac Vd = \frac{\log(1+b)}{H_d}.

    sympy returns the principal branch W₀, which gives the spurious root b = 0
    (W₀(−e^(−1/q)/q) = −1/q, checked); the positive root is on W₋₁ (q > 1).  For
    q ≫ 1, b = q log(1 + b) ≈ q log(q log q).  Regime: proportional, with the +½
    boundary term of :func:`occupation_equation` absorbed in q = d/(N + ½) if wanted.

    Returns (b(q), V/d in b and d).
    """
    J1 = occupation_integral(1)
    roots = sp.solve(sp.Eq(1 / q, J1), b)
    if len(roots) != 1:
        raise ArithmeticError(f"expected one Lambert-W root, got {roots}")
    root = roots[0]
    W = next(iter(root.atoms(sp.LambertW)))
    if sp.simplify(W.args[0] * sp.exp(-1 / q) ** -1 + 1 / q) != 0:
        raise ArithmeticError(f"unexpected Lambert-W argument {W.args[0]}")
    # principal branch: W₀(−e^(−1/q)/q) = −1/q ⇒ b = 0 (spurious)
    if sp.simplify(root.subs(W, -1 / q)) != 0:
        raise ArithmeticError("principal branch does not give the trivial root")
    lower = root.subs(W, sp.LambertW(W.args[0], -1))
    lamd, _ = lambda_min("harmonic")
    V_dim = sp.log(1 + b) * lamd  # V/d = κ₀/q = λ_d b/q = λ_d log(1+b) on the root
    return lower, V_dim


@lru_cache(maxsize=None)
def isotropic_missing_variance():
    r"""k = 0: J₀(b) = 1/(1 + b), N/d = J₀ gives b = q − 1 = κ₀ (λ_d = 1), V = d − N."""
    (root,) = sp.solve(sp.Eq(1 / q, occupation_integral(0)), b)
    Vval = missing_variance_identity().subs(kappa0, root.subs(q, d / N))
    return root, sp.simplify(Vval)


# ---------------------------------------------------------------------------------
# B. ridge losses through κ(ζ)


def _compact(expr):
    """The shorter (``count_ops``) of the factored and the expanded form of a rational
    function."""
    return min((sp.factor(expr), sp.expand(expr)), key=sp.count_ops)


@lru_cache(maxsize=None)
def resolvent_traces():
    r"""First-order deterministic equivalents of the traces the ridge losses need.

    From (Σ̂ + ζ)⁻¹ ≍ (κ/ζ)(Σ + κ)⁻¹ and the ridge equation
    Σ_jλ_j/(λ_j + κ) = N(κ − ζ)/κ (:func:`theory.proportional.ridge_equivalent_equation`
    solved for the sum; Σ_j 1/(λ_j + κ) = (d − Σ_jλ_j/(λ_j+κ))/κ termwise):

    .. math:: A = \operatorname{Tr}(\hat\Sigma+\zeta)^{-1}
              = \frac{d-N}{\zeta} + \frac{N}{\kappa},\qquad
              B = \operatorname{Tr}\Sigma(\hat\Sigma+\zeta)^{-1} = N\Big(\frac\kappa\zeta-1\Big),

    and by differentiating in ζ (cited step 3), with κ′ = dκ/dζ:
    Tr(Σ̂+ζ)⁻² = −A′, Tr Σ̂(Σ̂+ζ)⁻² = A + ζA′, Tr Σ(Σ̂+ζ)⁻² = −B′.
    Valid for ζ > 0 and every q (N > d included: then d − N < 0).

    Returns dict "A", "B", "inv2", "hat_inv2", "pop_inv2" in ζ, κ, κ′, N, d.
    """
    eq = ridge_equivalent_equation()
    (total,) = eq.rhs.atoms(sp.Sum)
    R = sp.Symbol("R")
    (R_value,) = sp.solve(sp.Eq(eq.lhs, eq.rhs.subs(total, R)), R)
    R_value = _compact(R_value.subs(q, d / N))
    if sp.cancel(kappa / (lam + kappa) - (1 - lam / (lam + kappa))) != 0:
        raise ArithmeticError("1/(λ+κ) ≠ (1 − λ/(λ+κ))/κ")
    inv_sum = (d - R_value) / kappa
    kf = sp.Function("kappa")(zeta)
    A = _compact((kappa / zeta) * inv_sum).subs(kappa, kf)
    B = _compact((kappa / zeta) * R_value).subs(kappa, kf)

    def plain(expr):
        return _compact(expr.subs(sp.Derivative(kf, zeta), kappa_prime).subs(kf, kappa))

    dA, dB = sp.diff(A, zeta), sp.diff(B, zeta)
    return {"A": plain(A), "B": plain(B), "inv2": plain(-dA),
            "hat_inv2": plain(A + zeta * dA), "pop_inv2": plain(-dB)}


@lru_cache(maxsize=None)
def kappa_derivative():
    r"""κ′ = dκ/dζ by implicit differentiation of the ridge equation:

    .. math:: \kappa' = \Big(1 - \frac1N\sum_j\frac{\lambda_j^2}{(\lambda_j+\kappa)^2}\Big)^{-1}.

    Returns the expression with the population sum as a sympy ``Sum``.
    """
    eq = ridge_equivalent_equation()
    kf = sp.Function("kappa")(zeta)
    F = (eq.lhs - eq.rhs).subs(kappa, kf).subs(q, d / N)
    dF = sp.diff(F, zeta).subs(sp.Derivative(kf, zeta), kappa_prime).subs(kf, kappa)
    # pull κ′ out of the sums (linearity), then collect the sums into one
    dF = dF.replace(lambda e: isinstance(e, sp.Sum) and e.function.has(kappa_prime),
                    lambda e: kappa_prime * sp.Sum(sp.cancel(e.function / kappa_prime),
                                                   *e.limits))
    dF = sp.expand(dF)
    # dF = 0 is linear in κ′: solve it as such
    slope = dF.coeff(kappa_prime)
    if slope.has(kappa_prime) or sp.expand(dF - slope * kappa_prime).has(kappa_prime):
        raise ArithmeticError(f"dF/dζ is not linear in κ′: {dF}")
    kp = -sp.expand(dF - slope * kappa_prime) / slope
    # the two sums Σλ/(λ+κ) − κΣλ/(λ+κ)² are termwise Σλ²/(λ+κ)²
    sums = set(kp.atoms(sp.Sum))
    combined = sp.S.Zero
    rest = sp.expand(1 / kp)
    for e in sums:
        coeff = rest.coeff(e)
        combined += coeff * e.function
        rest = sp.expand(rest - coeff * e)
    target_summand = -lam_pop[j] ** 2 / (lam_pop[j] + kappa) ** 2 / N
    if sp.cancel(combined - target_summand) != 0 or sp.cancel(rest - 1) != 0:
        raise ArithmeticError(f"κ′ did not reduce to the λ² sum: 1/κ′ = {1 / kp}")
    target = 1 / (1 - sp.Sum(lam_pop[j] ** 2 / (lam_pop[j] + kappa) ** 2, (j, 1, d)) / N)
    return target


def _loss_coefficients():
    """ℓ(w; m) = ℓ₀ + ℓ₁w + w²(ℓ₂ + ℓ₃m) from :func:`theory.model.noise_averaged_loss`."""
    m2 = sp.Symbol("m2")
    poly = sp.Poly(sp.expand(noise_averaged_loss(m2)), w, m2)
    coeff = {mon: poly.coeff_monomial(mon) for mon in ((0, 0), (1, 0), (2, 0), (2, 1))}
    if sp.expand(poly.as_expr() - sum(coeff[mon] * w**mon[0] * m2**mon[1]
                                      for mon in coeff)) != 0:
        raise ArithmeticError("noise-averaged loss is not of the form ℓ₀ + ℓ₁w + w²(ℓ₂+ℓ₃m)")
    return coeff[(0, 0)], coeff[(1, 0)], coeff[(2, 0)], coeff[(2, 1)]


@lru_cache(maxsize=None)
def ridge_step_losses():
    r"""Deterministic-equivalent train and test loss at one step, ridge minimiser.

    The derived w_t(λ̂) = √(1−ᾱ)/(ᾱλ̂ + 1 − ᾱ + c) (:func:`theory.model.ridge_denoiser`)
    equals (√(1−ᾱ)/ᾱ)/(λ̂ + ζ) with ζ = (1 − ᾱ + c)/ᾱ (checked), so with
    ℓ(w; m) = ℓ₀ + ℓ₁w + w²(ℓ₂ + ℓ₃m) summed over the sample eigen-directions
    (m = λ̂ for train, m = uᵀΣu for test) every sum is one of
    :func:`resolvent_traces`:

    .. math:: L_{\rm train} = d\ell_0 + \ell_1\frac{\sqrt{1-\bar\alpha}}{\bar\alpha}A
              + \frac{1-\bar\alpha}{\bar\alpha^2}\big(\ell_2\,T_2 + \ell_3\,\hat T_2\big),

    with T₂ = Tr(Σ̂+ζ)⁻², T̂₂ = TrΣ̂(Σ̂+ζ)⁻² (train) or TrΣ(Σ̂+ζ)⁻² (test).  The gap
    simplifies to

    .. math:: L_{\rm test} - L_{\rm train} = \frac{(1-\bar\alpha)N}{\bar\alpha}\,
              (\kappa - \zeta\kappa')\Big(\frac1{\zeta^2} - \frac1{\kappa^2}\Big).

    Valid for any q (both sides of q = 1), c ≥ 0 with ζ > 0, τ = ∞.

    Returns dict "train", "test", "gap", "zeta" (ζ in ᾱ, c) in κ, κ′, ζ, N, d, ᾱ.
    """
    omab = 1 - alpha_bar
    zeta_t = (omab + c) / alpha_bar
    w_ridge = ridge_denoiser()
    w_form = (sp.sqrt(omab) / alpha_bar) / (lam + zeta_t)
    if sp.cancel(w_ridge - w_form) != 0:
        raise ArithmeticError("ridge denoiser is not (√(1−ᾱ)/ᾱ)/(λ̂ + ζ)")
    l0, l1, l2, l3 = _loss_coefficients()
    tr = resolvent_traces()
    pref1 = sp.sqrt(omab) / alpha_bar
    pref2 = omab / alpha_bar**2
    train = d * l0 + l1 * pref1 * tr["A"] + pref2 * (l2 * tr["inv2"] + l3 * tr["hat_inv2"])
    test = d * l0 + l1 * pref1 * tr["A"] + pref2 * (l2 * tr["inv2"] + l3 * tr["pop_inv2"])
    # rational in κ, κ′, ζ, N, d, ᾱ: one fraction each (together), the gap factored
    gap = sp.factor(test - train)
    return {"train": sp.together(train), "test": sp.together(test), "gap": gap,
            "zeta": zeta_t}


@lru_cache(maxsize=None)
def ridge_gap_expansion():
    r"""Small-ζ expansion of the step gap, κ(ζ) = κ₀ + κ₁ζ + κ₂ζ²/2 + O(ζ³) (q > 1):

    .. math:: L_{\rm test} - L_{\rm train} = \frac{\bar\alpha(1-\bar\alpha)}
              {(1-\bar\alpha+c)^2}\,V\,\Big[1 - \Big(\frac{1}{\kappa_0^2}
              + \frac{\kappa_2}{2\kappa_0}\Big)\zeta^2 + O(\zeta^3)\Big],\qquad V = N\kappa_0.

    The leading term is the null-space gap (:func:`null_space_step_losses`); the
    linear term cancels.  Returns (leading term in ᾱ, c, V; relative ζ² coefficient
    in κ₀, κ₂).
    """
    k1, k2 = sp.symbols("kappa_1 kappa_2")
    gap = ridge_step_losses()["gap"]
    zeta_t = ridge_step_losses()["zeta"]
    series_k = kappa0 + k1 * zeta + k2 * zeta**2 / 2
    expr = gap.subs({kappa_prime: sp.diff(series_k, zeta)}).subs(kappa, series_k)
    # write 1 − ᾱ = ᾱζ − c so that ζ is the only small parameter
    expr = expr.subs(alpha_bar, sp.Symbol("abar_"))
    ab_ = sp.Symbol("abar_")
    expr = expr.subs(ab_, alpha_bar)
    lead = sp.simplify(sp.limit(expr * zeta**2, zeta, 0))
    rel = sp.series(sp.simplify(expr * zeta**2 / lead), zeta, 0, 3).removeO()
    rel = sp.expand(sp.simplify(rel))
    if sp.simplify(rel.coeff(zeta, 1)) != 0 or sp.simplify(rel.coeff(zeta, 0) - 1) != 0:
        raise ArithmeticError(f"unexpected low orders in the gap expansion: {rel}")
    leading = sp.simplify((lead / zeta**2).subs(zeta, zeta_t).subs(kappa0, V / N))
    return leading, sp.simplify(rel.coeff(zeta, 2))


# ---------------------------------------------------------------------------------
# C. the null space: losses, optimal ridge and stopping


@lru_cache(maxsize=None)
def null_space_step_losses(kind="ridge"):
    r"""Train and test loss of one null direction (λ̂ = 0, population variance s̄₀).

    From :func:`theory.losses.train_loss_per_direction` at λ̂ = 0 and
    :func:`theory.losses.test_loss_per_direction` at λ̂ = 0, s = s̄₀.  Ridge:

    .. math:: \ell_{\rm train} = \frac{c^2}{(1-\bar\alpha+c)^2},\qquad
              \ell_{\rm test} = \frac{c^2 + \bar\alpha(1-\bar\alpha)\bar s_0}
              {(1-\bar\alpha+c)^2},

    so the null-space part of the gap, summed over the d − N null directions, is
    ᾱ(1−ᾱ)V/(1−ᾱ+c)² (= ᾱ w_t(0)² V for any kind).  ``kind`` "ridge" or
    "gradient_flow" (τ).

    Returns dict "train", "test", "gap" per null direction.
    """
    train = sp.simplify(_losses.train_loss_per_direction(kind).subs(lam, 0))
    test = sp.simplify(_losses.test_loss_per_direction(kind).subs(lam, 0).subs(s, sbar0))
    return {"train": train, "test": test, "gap": sp.factor(sp.simplify(test - train))}


@lru_cache(maxsize=None)
def null_space_optimal_ridge_step():
    r"""The ridge minimising one step's null-space test loss: c_t* = ᾱ_t s̄₀.

    (``solve`` of ∂_c ℓ_test = 0; a Wiener filter: the ridge equals the signal variance
    ᾱs̄₀ that the null directions actually carry.)
    """
    test = null_space_step_losses("ridge")["test"]
    roots = [r for r in sp.solve(sp.diff(test, c), c) if r != 0]
    if len(roots) != 1:
        raise ArithmeticError(f"expected one stationary ridge, got {roots}")
    return sp.simplify(roots[0])


@lru_cache(maxsize=None)
def null_space_optimal_stopping_step():
    r"""The training time minimising one step's null-space test loss (c = 0):

    .. math:: \tau_t^* = \frac{1}{1-\bar\alpha_t}\log\Big(1 + \frac{1-\bar\alpha_t}
              {\bar\alpha_t\bar s_0}\Big).

    Route: the gradient-flow denoiser at λ̂ = 0 is w = (1 − e^(−τ(1−ᾱ)))/√(1−ᾱ); the
    test loss is quadratic in w with minimiser w* = √(1−ᾱ)/(ᾱs̄₀ + 1 − ᾱ) (``solve``),
    and τ* solves w(τ) = w* (``solve``).
    """
    from .model import gradient_flow_denoiser

    sig = sp.Symbol("sigma", positive=True)  # 1 − ᾱ
    w_tau = sp.powsimp(sp.expand(sp.simplify(
        gradient_flow_denoiser().subs({lam: 0, c: 0}).subs(alpha_bar, 1 - sig))), combine="exp")
    loss = noise_averaged_loss(sbar0).subs(alpha_bar, 1 - sig)
    (w_star,) = sp.solve(sp.diff(loss, w), w)
    roots = sp.solve(sp.Eq(w_tau, w_star), tau)
    if len(roots) != 1:
        raise ArithmeticError(f"expected one stopping time, got {roots}")
    compact = sp.log(1 + sig / ((1 - sig) * sbar0)) / sig
    if sp.simplify(sp.exp(sig * roots[0]) - sp.exp(sig * compact)) != 0:
        raise ArithmeticError(f"τ* = {roots[0]} is not the compact form {compact}")
    return compact.subs(sig, 1 - alpha_bar)


@lru_cache(maxsize=None)
def null_space_ridge_fixed_point():
    r"""Stationarity of the null-space test loss summed over steps, in one ridge c:

    .. math:: \sum_t\omega_t(c)\,(c - \bar\alpha_t\bar s_0) = 0,\quad
              \omega_t = \frac{1-\bar\alpha_t}{(1-\bar\alpha_t+c)^3}
              \;\Longrightarrow\; c = \bar s_0\,\frac{\sum_t\omega_t\bar\alpha_t}{\sum_t\omega_t}.

    Derived by factoring ∂_c of one step's null test loss as 2(d−N)·ω_t·(c − ᾱ_ts̄₀)
    (checked by sympy).  A fixed point (ω depends on c): numerics iterates it.  It is
    the optimal ridge when the null space dominates the test loss's c-dependence
    (q ≫ 1; tested against the full optimum).

    Returns ω_t as an expression in ᾱ, c.
    """
    test = null_space_step_losses("ridge")["test"]
    deriv = sp.diff(test, c)
    weight = sp.cancel(deriv / (2 * (c - alpha_bar * sbar0)))  # rational: cancel is exact
    if weight.has(sbar0):
        raise ArithmeticError(f"∂_c ℓ_test is not ω(c)(c − ᾱs̄₀): {weight}")
    return weight


@lru_cache(maxsize=None)
def schedule_step_density():
    r"""Density of diffusion steps in s = 1 − ᾱ for the linear schedule, small s.

    1 − ᾱ_t = Σ_{i≤t}β_i + O(s²) with β_i = β_min + Δβ·i/T, i.e.
    s(t) ≈ β_min t + Δβ t²/(2T).  Inverting (``solve``), dt/ds ∝ s^(α−1) with
    α → 1 for s ≪ s_× and α → ½ for s_× ≪ s ≪ 1, s_× = 2Tβ_min²/Δβ (≈ 2·10⁻³ for the
    default schedule).

    Returns (t(s), local α(s), s_×) with symbols ``Tsym``, ``bmin``, ``dbeta``.
    """
    t_, T_, bmin, db = sp.symbols("t Tsym bmin dbeta", positive=True)
    s_ = sp.Symbol("s_", positive=True)
    roots = [r for r in sp.solve(sp.Eq(bmin * t_ + db * t_**2 / (2 * T_), s_), t_)
             if sp.simplify(r.subs({bmin: 1, db: 1, T_: 1, s_: 1})) > 0]
    (t_of_s,) = roots
    local_alpha = sp.simplify(1 + s_ * sp.diff(sp.log(sp.diff(t_of_s, s_)), s_))
    if sp.limit(local_alpha, s_, 0) != 1 or sp.limit(local_alpha, s_, sp.oo) != sp.S.Half:
        raise ArithmeticError(f"step-density exponent limits are not 1 and 1/2: {local_alpha}")
    crossover = sp.solve(sp.Eq(bmin * t_, db * t_**2 / (2 * T_)), t_)
    t_x = [r for r in crossover if r != 0][0]
    return t_of_s, local_alpha, sp.simplify(bmin * t_x)


@lru_cache(maxsize=None)
def continuum_optimal_ridge():
    r"""The fixed point of :func:`null_space_ridge_fixed_point` with the step sum
    replaced by ∫₀^∞ s^(α−1)(…) ds (0 < α < 1) and ᾱ = 1 − s (exact):

    .. math:: c^* = \frac{\bar s_0}{1 + \bar s_0\,(1+\alpha)/(1-\alpha)}
              = \bar s_0 - \frac{1+\alpha}{1-\alpha}\bar s_0^2 + \dots

    (``integrate`` gives the two Beta integrals, ``solve`` the linear equation).
    Regime: c* in the range of s where the step density is ∝ s^(α−1) and c* ≪ 1.
    """
    sv = sp.Symbol("s_", positive=True)
    cc = sp.Symbol("c_", positive=True)
    weight = sp.factor(null_space_ridge_fixed_point().subs(c, cc).subs(alpha_bar, 1 - sv))
    if sp.simplify(weight - sv / (sv + cc) ** 3) != 0:
        raise ArithmeticError(f"unexpected weight {weight}")
    # ∫₀^∞ s^(z−1)/(s + c)³ ds = c^(z−3) M(z), M the Mellin transform of 1/(1 + t)³
    tt = sp.Symbol("t", positive=True)
    M3, strip, _ = sp.mellin_transform(1 / (1 + tt) ** 3, tt, mellin_s)
    I1 = cc ** (alpha + 1 - 3) * M3.subs(mellin_s, alpha + 1)   # ∫ s^(α−1)·s/(s+c)³
    I2 = cc ** (alpha + 2 - 3) * M3.subs(mellin_s, alpha + 2)   # ∫ s^(α−1)·s²/(s+c)³ (α < 1)
    ratio = sp.simplify(sp.gammasimp(I2 / I1))
    # Σ ω (c − (1 − s)s̄₀) = 0  ⇔  c − s̄₀ + s̄₀·I2/I1 = 0 (linear in c)
    (root,) = sp.solve(sp.Eq(cc - sbar0 + sbar0 * ratio, 0), cc)
    return sp.simplify(root)


@lru_cache(maxsize=None)
def continuum_optimal_stopping():
    r"""Optimal τ for the summed null-space test loss (c = 0), continuum of steps with
    density ∝ s^(α−1) in s = 1 − ᾱ (0 < α ≤ 1), ᾱ = 1 − s kept exactly:

    .. math:: \tau^* = \frac{\alpha}{2(2^\alpha - 1)}\,\frac{1}{\bar s_0}
              + \frac{\alpha(2^{\alpha+1} - 1)}{2(2^\alpha - 1)}

    (α = 1: 1/(2s̄₀) + 3/2; α = ½: 0.604/s̄₀ + 1.10).  Route: ∂_τ of the null test
    loss (:func:`null_space_step_losses`, gradient flow) is a sum of
    s^m e^(−nτs) terms; each is integrated against s^(α−1) over (0, ∞) with the
    Mellin transform of e^(−t) (Γ functions), and the stationarity equation, linear in
    τ after multiplying by τ^(α+1), is solved by ``solve``.  Extending the integral
    beyond s = 1 changes it by O(e^(−τ)).  Regime: the steps with s ≲ 1/τ* have the
    power-law density (for the linear schedule α = ½ needs s_× ≪ s̄₀ ≪ 1).

    Returns (leading term ∝ 1/s̄₀, O(1) correction).
    """
    sig = sp.Symbol("sigma", positive=True)  # s = 1 − ᾱ
    test = null_space_step_losses("gradient_flow")["test"].subs(c, 0).subs(alpha_bar, 1 - sig)
    deriv = sp.expand(sp.powsimp(sp.expand(sp.simplify(sp.diff(test, tau))), combine="exp"))
    groups = sp.collect(deriv, list(deriv.atoms(sp.exp)), evaluate=False)
    # ∫₀^∞ σ^(α−1+m) e^(−nτσ) dσ = Γ(α+m)/(nτ)^(α+m) (Mellin transform of e^(−t))
    tt = sp.Symbol("t", positive=True)
    gamma_m, _, _ = sp.mellin_transform(sp.exp(-tt), tt, mellin_s)
    total = sp.S.Zero
    for key, coeff in groups.items():
        if key == 1 or not isinstance(key, sp.exp):
            raise ArithmeticError(f"term without a decaying exponential: {key}·{coeff}")
        rate = sp.simplify(-key.args[0] / (sig * tau))
        poly = sp.Poly(coeff, sig)
        for (m,), a_m in poly.terms():
            total += a_m * gamma_m.subs(mellin_s, alpha + m) / (rate * tau) ** (alpha + m)
    total = sp.expand(sp.gammasimp(sp.expand(total * tau ** (alpha + 1) / sp.gamma(alpha))))
    total = sp.expand(sp.powsimp(sp.expand_power_base(total, force=True), force=True))
    roots = [r for r in sp.solve(total, tau) if r.is_positive is not False]
    if len(roots) != 1:
        raise ArithmeticError(f"expected one positive stationary τ, got {roots}")
    exact = sp.simplify(roots[0])
    leading = sp.simplify(sp.limit(exact * sbar0, sbar0, 0) / sbar0)
    return leading, sp.simplify(exact - leading)


# ---------------------------------------------------------------------------------
# D. the KL on the null space


@lru_cache(maxsize=None)
def null_space_kl_optimum(direction="forward"):
    r"""Best null-direction variance f₀ and the resulting null-space KL.

    With weights p_j = κ₀/(λ_j + κ₀) and reference variances g_j (target: g_j = λ_j),
    the null part of the KL is ½Σ_j p_j k(r_j), k(r) = r − 1 − log r, with
    r_j = f₀/g_j (forward, D(sampling‖reference)) or g_j/f₀ (reverse).  Stationarity in
    f₀ is linear in 1/f₀ (``solve``):

    .. math:: f_0^{\rm fwd} = \frac{\sum_j p_j}{\sum_j p_j/g_j}\ \text{(harmonic mean)},
              \qquad f_0^{\rm rev} = \frac{\sum_j p_jg_j}{\sum_j p_j}
              \ \text{(arithmetic mean; } = \bar s_0 \text{ for } g = \lambda).

    At the optimum Σ_j p_j(r_j − 1) = 0, so the minimum is ½Σ_j p_j log(g_j/f₀)
    (forward) resp. ½Σ_j p_j log(f₀/g_j) (reverse).  Exact given the equivalents.

    Returns (f₀*, minimum) with the sums as sympy ``Sum`` over IndexedBase p, g.
    """
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' or 'reverse', got {direction!r}")
    p, g = sp.IndexedBase("p", positive=True), sp.IndexedBase("g", positive=True)
    y = sp.Symbol("y", positive=True)  # 1/f₀
    r = (1 / (y * g[j])) if direction == "forward" else g[j] * y
    term = p[j] * (r - 1 - sp.log(r)) / 2
    dterm = sp.expand(sp.diff(term, y))  # = a_j + b_j·y^(±1)
    if direction == "forward":
        # ∂_y of (1/(y g) − 1 + log(y g)) p/2 = p/2 (−1/(y² g) + 1/y): zero ⇔ y = Σp/g / Σp
        num = sp.expand(dterm * y**2)
        a_j = num.coeff(y, 1)
        b_j = num.coeff(y, 0)
        y_star = -sp.Sum(b_j, (j, 1, d)) / sp.Sum(a_j, (j, 1, d))
    else:
        num = sp.expand(dterm * y)
        a_j = num.coeff(y, 1)
        b_j = num.coeff(y, 0)
        y_star = -sp.Sum(b_j, (j, 1, d)) / sp.Sum(a_j, (j, 1, d))
    f_star = sp.simplify(1 / y_star)
    f_star = f_star.replace(lambda e: isinstance(e, sp.Sum),
                            lambda e: sp.Sum(sp.factor(e.function), *e.limits))
    log_ratio = sp.log(g[j] / f0) if direction == "forward" else sp.log(f0 / g[j])
    minimum = sp.Sum(p[j] * log_ratio / 2, (j, 1, d))
    return f_star, minimum


@lru_cache(maxsize=None)
def null_space_kl_floor(direction="forward", regime="steep"):
    r"""Per-dimension minimum over f₀ of the null-space KL against the target, N/d → 0.

    p_j → 1 for all but a vanishing fraction of j; g_j = λ_j = λ_d (j/d)^(−k);
    Riemann sums → integrals over x = j/d (cited step 1).

    forward: f₀*/λ_d → 1/∫₀¹x^k dx = 1 + k, floor = ½∫₀¹ log(x^(−k)/(1 + k)) dx
    = ½(k − log(1 + k)) — independent of N and of ``regime`` (any k ≥ 0).

    reverse: f₀* = s̄₀ = V/(d − N) and s̄₀/λ_d = Nb/(d − N) → b/q, floor
    = ½(log(b/q) − k); with b of the regime: "steep" (k > 1)
    ½((k − 1) log q + k log I_k − k) (grows without bound in q); "shallow" (0 < k < 1)
    ½(−log(1 − k) − k); "isotropic" 0.

    These bound the deterministic-equivalent KL to the target from below for every
    c and τ (the bulk part is ≥ 0), up to the sampler's f(λ_j) ≈ λ_j.
    """
    if direction == "forward":
        mean_inv = sp.integrate(x**k, (x, 0, 1))
        f_ratio = 1 / mean_inv
        floor = sp.integrate(sp.expand_log(sp.log(x ** (-k) / f_ratio), force=True),
                             (x, 0, 1)) / 2
        return sp.simplify(floor)
    if direction != "reverse":
        raise ValueError(f"direction must be 'forward' or 'reverse', got {direction!r}")
    mean_log = sp.integrate(sp.expand_log(sp.log(x ** (-k)), force=True), (x, 0, 1))  # = k
    if regime == "steep":
        b_lead = steep_asymptotics()["b"]
    elif regime == "shallow":
        b_lead = q / (1 - k)      # leading b of shallow_asymptotics (λ_d → 1 − k)
    elif regime == "isotropic":
        b_lead = q - 1
        mean_log = 0
        return sp.limit(sp.log(b_lead / q) / 2, q, sp.oo)
    else:
        raise ValueError(f"regime must be 'steep', 'shallow' or 'isotropic', got {regime!r}")
    floor = (sp.expand_log(sp.log(b_lead / q), force=True) - mean_log) / 2
    return sp.expand(sp.simplify(floor))


@lru_cache(maxsize=None)
def null_transfer_small_c(kind="ridge"):
    r"""How the null direction's sampling variance f₀ = f(0) vanishes.

    The last sampler step (t = 1, ᾱ₁ = 1 − β₁, σ₁ = 0) multiplies the variance by
    a₁² (:func:`theory.model.sampler_gain` at λ̂ = 0):

    * ridge: a₁ = c/((β₁ + c)√(1 − β₁)), so f₀ = a₁²v₁ ≈ c²v₁/(β₁²(1 − β₁)) as c → 0
      (v₁ > 0 the variance before the last step): the forward null-space KL grows like
      (d − N) log(1/c), the reverse like V/(2f₀) ∝ V/c²;
    * gradient flow (c = 0): a₁ = e^(−β₁τ)/√(1 − β₁), f₀ ∝ e^(−2β₁τ): forward KL grows
      like (d − N)β₁τ, reverse like V e^(2β₁τ).

    Returns a₁ as an expression in β (= β₁) and c (ridge) or τ (gradient flow).
    """
    a1 = sampler_gain(kind).subs(lam, 0).subs(alpha_bar, 1 - beta)
    if kind == "gradient_flow":
        a1 = a1.subs(c, 0)
    return sp.simplify(a1)
