r"""The proportional regime d, N → ∞ with q = d/N fixed (DESIGN.md, section C).

The sample covariance Σ̂ = XᵀX/N of N Gaussian vectors with population covariance Σ
(eigenvalues λ_j, eigenvectors v_j) has, as d, N → ∞ at fixed q, a deterministic
limiting spectral distribution μ (LSD) whose Stieltjes transform
m(z) = ∫ dμ(x)/(x − z) solves Silverstein's equation.  Everything else in this module
is derived from that equation and from two deterministic equivalents of the resolvent
(stated below, not derived: they are the input theorems of the regime).

Conventions
-----------
* ``z`` is Silverstein's spectral argument (Im z > 0); the ridge of DESIGN.md C.2
  ("(Σ̂ + z)⁻¹ ≍ (κ/z)(Σ + κ)⁻¹") is written ζ = −z ≥ 0 here (symbol ``zeta``), so
  that the two never clash.  Numerics calls the ridge ``z`` as DESIGN.md does.
* The population spectrum enters through the normalised sum (1/d)Σ_j over an
  ``IndexedBase`` λ_j, j = 1..d; "isotropic" means every λ_j = 1 (Marchenko–Pastur).
* m̲ (``mbar``) is the companion transform, the Stieltjes transform of the LSD of the
  N × N matrix XXᵀ/N: m̲ = −(1 − q)/z + q m.  It equals 1/κ (derived here).

Input theorems (cited, not derived)
-----------------------------------
1. Silverstein (1995), Silverstein & Bai (1995): m solves
   m = (1/d) Σ_j 1/(λ_j(1 − q − q z m) − z), the unique solution with Im m > 0.
2. Resolvent deterministic equivalent (e.g. Bach 2023, Couillet & Liao 2022):
   (Σ̂ + ζ)⁻¹ ≍ (κ/ζ)(Σ + κ)⁻¹, entrywise in any fixed basis and in normalised traces
   against bounded matrices, κ from :func:`ridge_equivalent_equation`.
3. Stieltjes inversion: a measure's density is (1/π) lim_{η→0⁺} Im of its transform at
   x + iη.  Ledoit & Péché (2011) use 2 + 3 to read eigenvector overlaps.

Contents
--------
silverstein_equation          theorem 1 as a sympy Eq (generic population sum)
isotropic                     substitute λ_j = 1 and evaluate the sum
ridge_equivalent_equation     κ − ζ = (qκ/d) Σ λ_j/(λ_j+κ), derived from theorem 1
null_space_equation           1 = (q/d) Σ λ_j/(λ_j+κ₀), its ζ → 0 limit (q > 1)
isotropic_kappa, isotropic_kappa0   closed forms for Σ = I (``solve``)
companion_stieltjes           m̲ = −(1−q)/z + q m simplifies to 1/κ
overlap_density               d·E|⟨u(λ̂), v_j⟩|² (Ledoit–Péché), from theorem 2 + 3
sample_direction_variance     E[uᵀΣu] along a sample eigenvector at λ̂
null_space_weight             v_jᵀ P₀ v_j = κ₀/(λ_j + κ₀)
marchenko_pastur_stieltjes    m(z) for Σ = I by ``solve``, branch fixed by z m → −1
marchenko_pastur_edges        support edges (1 ∓ √q)², zeros of the discriminant
marchenko_pastur_density      density by Stieltjes inversion (Vieta, see docstring)
marchenko_pastur_atom         mass 1 − 1/q at 0 for q > 1 (``limit`` of −z m)
marchenko_pastur_moment       k-th moment from the series of m at z = ∞
wishart_logdet_mean           exact E log det Σ̂ for Σ = I (digamma sum, finite d)
isotropic_logdet_limit        (1/d) E log det Σ̂ → ∫₀¹ log(1 − q u) du (q < 1)
isotropic_identity_kl         forward E[KL]/d → ½[1 + ((1−q)/q) log(1−q)] for f = id
"""

from functools import lru_cache

import sympy as sp
from sympy.stats import ChiSquared, E

from .symbols import N, d, lam

__all__ = [
    "q", "z", "m", "mbar", "kappa", "kappa0", "zeta", "lam_hat", "j", "lam_pop",
    "silverstein_equation", "isotropic", "ridge_equivalent_equation",
    "null_space_equation", "isotropic_kappa", "isotropic_kappa0", "companion_stieltjes",
    "overlap_density", "sample_direction_variance", "null_space_weight",
    "marchenko_pastur_stieltjes", "marchenko_pastur_edges", "marchenko_pastur_density",
    "marchenko_pastur_atom", "marchenko_pastur_moment", "wishart_logdet_mean",
    "isotropic_logdet_limit", "isotropic_identity_kl",
]

#: aspect ratio d/N
q = sp.Symbol("q", positive=True)
#: Silverstein's spectral argument (complex)
z = sp.Symbol("z")
#: Stieltjes transform of the LSD of Σ̂ (d × d)
m = sp.Symbol("m")
#: companion Stieltjes transform (LSD of XXᵀ/N, N × N)
mbar = sp.Symbol("mbar")
#: effective ridge κ(ζ) and its ζ → 0 limit κ₀ (q > 1)
kappa = sp.Symbol("kappa", positive=True)
kappa0 = sp.Symbol("kappa_0", positive=True)
#: ridge ζ = −z ≥ 0 (DESIGN.md's z in C.2)
zeta = sp.Symbol("zeta", positive=True)
#: a sample eigenvalue (a point of the support of μ)
lam_hat = sp.Symbol("lambdahat", positive=True)
#: summation index and population eigenvalues λ_j
j = sp.Symbol("j", integer=True, positive=True)
lam_pop = sp.IndexedBase("lambda", positive=True)

# real and imaginary part of m̲ on the real axis (Im m̲ > 0 inside the support)
_re = sp.Symbol("a", real=True)
_im = sp.Symbol("b", positive=True)


def _population_mean(summand):
    """(1/d) Σ_{j=1}^d summand(λ_j): ``summand`` is an expression in ``lam``."""
    return sp.Sum(summand.subs(lam, lam_pop[j]), (j, 1, d)) / d


def isotropic(expr):
    """Substitute λ_j = 1 (Σ = I) in ``expr`` and evaluate the population sums.

    Examples
    --------
    >>> isotropic(silverstein_equation())
    Eq(m, 1/(-m*q*z - q - z + 1))
    """
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == lam_pop,
                        lambda e: sp.S.One).doit()


@lru_cache(maxsize=None)
def silverstein_equation():
    r"""Silverstein's equation for the LSD of Σ̂ = XᵀX/N (input theorem 1).

    .. math:: m(z) = \frac1d\sum_{j=1}^d \frac{1}{\lambda_j(1 - q - q z\,m(z)) - z},
              \qquad q = d/N,\ \operatorname{Im} z > 0,

    with the unique solution Im m > 0 (a Stieltjes transform).  Regime: d, N → ∞ at
    fixed q with the empirical population spectrum converging (at finite d it
    defines the finite-d deterministic equivalent μ_N used by numerics).  Holds for
    q < 1 and q > 1; for q > 1, μ has an atom 1 − 1/q at 0.
    """
    return sp.Eq(m, _population_mean(1 / (lam * (1 - q - q * z * m) - z)))


@lru_cache(maxsize=None)
def _ridge_derivation():
    """κ, the scale s = 1 − q − q z m and ζ(κ), derived from Silverstein's equation.

    With s := 1 − q − q z m and κ := −z/s, each denominator of Silverstein's sum
    factorises, λ_j s − z = s(λ_j + κ) (checked by sympy below), so the equation reads
    m = S(κ)/s with S(κ) = (1/d)Σ 1/(λ_j + κ).  Substituting z = −κ s and m = S/s into
    the definition of s and solving for s gives s = 1 − q + qκS(κ), hence
    ζ = −z = κ s.  Finally κS(κ) = 1 − R(κ) with R(κ) = (1/d)Σ λ_j/(λ_j + κ).
    """
    s = sp.Symbol("s", nonzero=True)
    S = sp.Function("S")(kappa)
    term = 1 / (lam * s - z)
    factored = 1 / (s * (lam + kappa))
    if sp.simplify(term.subs(z, -kappa * s) - factored) != 0:
        raise ArithmeticError("Silverstein denominator does not factor through κ")
    m_of_kappa = S / s
    (s_solution,) = sp.solve(sp.Eq(s, 1 - q - q * (-kappa * s) * m_of_kappa), s)
    zeta_of_kappa = sp.expand(kappa * s_solution)  # ζ = −z = κ s
    R = _population_mean(lam / (lam + kappa))
    # κ S(κ) = (1/d)Σ κ/(λ_j+κ) = 1 − R(κ): termwise κ/(λ+κ) = 1 − λ/(λ+κ)
    if sp.simplify(kappa / (lam + kappa) - (1 - lam / (lam + kappa))) != 0:
        raise ArithmeticError("κ/(λ+κ) ≠ 1 − λ/(λ+κ)")
    zeta_of_kappa = sp.expand(zeta_of_kappa.subs(S, (1 - R) / kappa))
    return s_solution, zeta_of_kappa, S


@lru_cache(maxsize=None)
def ridge_equivalent_equation():
    r"""The effective ridge κ(ζ) of (Σ̂ + ζ)⁻¹ ≍ (κ/ζ)(Σ + κ)⁻¹, derived from
    Silverstein's equation (see :func:`_ridge_derivation` for the steps):

    .. math:: \kappa - \zeta = \frac{q\,\kappa}{d}\sum_j\frac{\lambda_j}{\lambda_j+\kappa}
              = \frac{\kappa}{N}\sum_j\frac{\lambda_j}{\lambda_j+\kappa},
              \qquad \kappa = -z/(1 - q - q z m(z)),\ z = -\zeta.

    For ζ > 0 the solution κ > ζ is unique (the right side minus the left is
    monotone); valid for every q > 0.  This is DESIGN.md C.2's equation with
    DESIGN's z written ζ.
    """
    _, zeta_of_kappa, _ = _ridge_derivation()
    rhs = sp.expand(kappa - zeta_of_kappa)
    return sp.Eq(kappa - zeta, rhs)


@lru_cache(maxsize=None)
def null_space_equation():
    r"""κ₀ = lim_{ζ→0⁺} κ(ζ) for q > 1: divide the ridge equation by κ and let ζ → 0.

    .. math:: 1 = \frac{q}{d}\sum_j \frac{\lambda_j}{\lambda_j + \kappa_0}
              = \frac1N\sum_j \frac{\lambda_j}{\lambda_j + \kappa_0}.

    A positive root exists iff q > 1 (the right side decreases from q at κ₀ = 0 to 0);
    for q ≤ 1, κ(ζ) → 0 and Σ̂ has no null space.
    """
    eq = ridge_equivalent_equation()
    divided = sp.expand((eq.lhs - eq.rhs) / kappa).subs(zeta, 0).subs(kappa, kappa0)
    rhs = sp.expand(1 - divided)
    return sp.Eq(sp.S.One, rhs)


@lru_cache(maxsize=None)
def isotropic_kappa():
    r"""κ(ζ) for Σ = I, solved by sympy; branch fixed by κ − ζ → q as ζ → ∞.

    .. math:: \kappa(\zeta) = \tfrac12\Big(\zeta + q - 1
              + \sqrt{(\zeta + q - 1)^2 + 4\zeta}\Big)

    Valid for ζ ≥ 0, q > 0 (the other root is negative).  At ζ → 0 it gives
    max(q − 1, 0) (checked in the tests against :func:`isotropic_kappa0`).
    """
    eq = isotropic(ridge_equivalent_equation())
    k = sp.Symbol("k")  # solve without the positivity assumption, then select
    roots = sp.solve(eq.subs(kappa, k), k)
    branch = [r for r in roots if sp.limit(r - zeta, zeta, sp.oo) == q]
    if len(branch) != 1:
        raise ArithmeticError(f"expected one branch with κ − ζ → q, got {branch}")
    return sp.simplify(branch[0])


@lru_cache(maxsize=None)
def isotropic_kappa0():
    r"""κ₀ for Σ = I from :func:`null_space_equation` by ``solve``: κ₀ = q − 1 (q > 1).

    Examples
    --------
    >>> from theory.proportional import q
    >>> isotropic_kappa0().subs(q, 3)
    2
    """
    (root,) = sp.solve(isotropic(null_space_equation()), kappa0)
    return root


@lru_cache(maxsize=None)
def companion_stieltjes():
    r"""m̲ = −(1 − q)/z + q m expressed through κ: it simplifies to 1/κ.

    Derived with m = S(κ)/s and z = −κ s from :func:`_ridge_derivation`.  Hence the
    Silverstein equation in companion form, z = −1/m̲ + (1/N)Σ λ_j/(1 + λ_j m̲), is the
    ridge equation with κ = 1/m̲, z = −ζ — the form numerics solves.
    """
    s_solution, _, S = _ridge_derivation()
    z_of_kappa = -kappa * s_solution
    m_of_kappa = S / s_solution
    return sp.simplify(-(1 - q) / z_of_kappa + q * m_of_kappa)


@lru_cache(maxsize=None)
def overlap_density():
    r"""Ledoit–Péché: d · E|⟨u, v_j⟩|² for a sample eigenvector u with eigenvalue λ̂.

    Route: by input theorem 2 with κ = 1/m̲ (:func:`companion_stieltjes`) and z = −ζ,
    v_jᵀ(Σ̂ − z)⁻¹v_j ≍ −1/(z(1 + λ_j m̲(z))).  By Stieltjes inversion the left side
    at z = λ̂ + i0 has imaginary part π·ρ(λ̂)·d E|⟨u(λ̂), v_j⟩|², and ρ = Im m/π with
    Im m = Im m̲/q on the real axis (the term (1 − q)/z is real).  Writing
    m̲(λ̂ + i0) = a + i b:

    .. math:: d\,E|\langle u, v_j\rangle|^2 = \frac{q\,\lambda_j}
              {\hat\lambda\,|1 + \lambda_j \underline m(\hat\lambda)|^2}
              = \frac{q\lambda_j}{\hat\lambda((1 + \lambda_j a)^2 + \lambda_j^2 b^2)}.

    Valid for λ̂ > 0 inside the support (b > 0).  Symbols: ``lam`` is λ_j, ``lam_hat``
    is λ̂, and a, b are returned alongside.

    Returns
    -------
    (expr, a, b)
    """
    zz = lam_hat  # real point, approached from above
    resolvent_entry = -1 / (zz * (1 + lam * mbar))
    value = resolvent_entry.subs(mbar, _re + sp.I * _im)
    ratio = sp.im(sp.expand_complex(value)) / (_im / q)
    return sp.factor(sp.simplify(ratio)), _re, _im


@lru_cache(maxsize=None)
def sample_direction_variance():
    r"""E[uᵀΣu] for a sample eigenvector u with eigenvalue λ̂ (Ledoit–Péché shrinkage).

    Route: by theorem 2, (1/d)Tr Σ(Σ̂ + ζ)⁻¹ ≍ (κ/ζ)·(1/d)Σλ_j/(λ_j+κ), and the ridge
    equation gives (1/d)Σλ_j/(λ_j+κ) = (κ − ζ)/(qκ); with κ = 1/m̲, ζ = −z the trace
    is −(z + 1/m̲)/(q z).  Stieltjes inversion at z = λ̂ + i0 divided by ρ = Im m̲/(πq):

    .. math:: E[u^T\Sigma u] = \frac{1}{\hat\lambda\,|\underline m(\hat\lambda)|^2}
              = \frac{|\kappa(\hat\lambda)|^2}{\hat\lambda}.

    Valid inside the support (λ̂ > 0).  Returns (expr, a, b) with m̲ = a + i b.
    """
    eq = ridge_equivalent_equation()
    R = _population_mean(lam / (lam + kappa))
    (R_value,) = sp.solve(sp.Eq(eq.lhs, eq.rhs.subs(R, sp.Symbol("R"))), sp.Symbol("R"))
    trace = (kappa / zeta) * R_value
    trace = sp.simplify(trace.subs({kappa: 1 / mbar, zeta: -lam_hat}))
    value = trace.subs(mbar, _re + sp.I * _im)
    ratio = sp.im(sp.expand_complex(value)) / (_im / q)
    return sp.factor(sp.simplify(ratio)), _re, _im


@lru_cache(maxsize=None)
def null_space_weight():
    r"""v_jᵀ P₀ v_j for the projector P₀ on the null space of Σ̂ (q > 1).

    P₀ = lim_{ζ→0⁺} ζ(Σ̂ + ζ)⁻¹, so by theorem 2
    v_jᵀP₀v_j ≍ lim ζ·(κ(ζ)/ζ)/(λ_j + κ(ζ)) = κ₀/(λ_j + κ₀) (``limit`` with κ(ζ) an
    undefined function with κ(0) = κ₀).  Summed over j it gives d − N, the dimension
    of the null space (tests check this for Σ = I).
    """
    kf = sp.Function("kappa")
    expr = sp.simplify(zeta * (kf(zeta) / zeta) / (lam + kf(zeta)))
    if expr.subs(kf(zeta), sp.Dummy("K")).has(zeta):
        raise ArithmeticError("ζ·(κ/ζ) did not cancel")
    # κ(ζ) is continuous at 0 with κ(0) = κ₀ > 0 (q > 1), so the limit is a substitution
    return expr.subs(zeta, 0).subs(kf(0), kappa0)


# ---------------------------------------------------------------------------------
# Marchenko–Pastur (Σ = I)


@lru_cache(maxsize=None)
def _mp_quadratic():
    eq = isotropic(silverstein_equation())
    return sp.expand(sp.numer(sp.together(eq.lhs - eq.rhs)))


@lru_cache(maxsize=None)
def marchenko_pastur_edges():
    r"""Support edges a < b of the MP law: the zeros in z of the discriminant of
    Silverstein's quadratic (where its two roots merge).

    .. math:: a, b = (1 \mp \sqrt q)^2

    Valid for every q > 0 (for q > 1 the support is [a, b] plus the atom at 0).
    """
    disc = sp.discriminant(_mp_quadratic(), m)
    roots = sp.solve(disc, z)
    probe = {q: sp.Rational(1, 2)}
    a, b = sorted(roots, key=lambda r: float(r.subs(probe)))
    return a, b


@lru_cache(maxsize=None)
def marchenko_pastur_stieltjes():
    r"""m(z) for Σ = I: Silverstein's quadratic solved by ``solve``.

    .. math:: m(z) = \frac{1 - q - z + \sqrt{z - a}\sqrt{z - b}}{2 q z}

    The branch is the root with z m(z) → −1 as z → ∞ (a probability measure); the
    discriminant is written √(z − a)√(z − b) with principal square roots, which is
    analytic off [a, b] (and off 0 for q > 1), so the expression is valid for every
    z ∉ [a, b] ∪ {0} and gives m(x + i0) for x on the cut when z = x + iη, η → 0⁺.
    """
    poly = _mp_quadratic()
    disc = sp.discriminant(poly, m)
    a, b = marchenko_pastur_edges()

    def rewrite(expr):
        return expr.replace(
            lambda e: e.is_Pow and e.exp == sp.S.Half and sp.expand(e.base - disc) == 0,
            lambda e: sp.sqrt(z - a) * sp.sqrt(z - b))

    branch = [rewrite(r) for r in sp.solve(poly, m)]
    branch = [r for r in branch if sp.limit(z * r, z, sp.oo) == -1]
    if len(branch) != 1:
        raise ArithmeticError(f"expected one branch with z m → −1, got {branch}")
    return branch[0]


@lru_cache(maxsize=None)
def marchenko_pastur_density():
    r"""The MP density by Stieltjes inversion, ρ(λ̂) = (1/π) Im m(λ̂ + i0).

    Route (Vieta): for real λ̂ inside (a, b) the discriminant of Silverstein's
    quadratic is negative, so its two roots are complex conjugates, and m(λ̂ + i0) is
    the one with Im m > 0 (Herglotz).  Then Im m = √(|m|² − (Re m)²) with |m|² the
    product and Re m half the sum of the roots (``solve``, ``simplify``):

    .. math:: \rho(\hat\lambda) = \frac{\sqrt{(\hat\lambda - a)(b - \hat\lambda)}}
              {2\pi q\hat\lambda},\quad a < \hat\lambda < b.

    Valid inside the support; 0 outside; plus the atom (1 − 1/q)δ₀ for q > 1.  Its
    mass is min(1, 1/q) (tests: ``mpmath.quad``; sympy finds it only at numeric q).
    """
    r1, r2 = (r.subs(z, lam_hat) for r in sp.solve(_mp_quadratic(), m))
    im2 = sp.factor(sp.simplify(r1 * r2 - ((r1 + r2) / 2) ** 2))
    num, den = sp.fraction(im2)
    density = sp.sqrt(num) / (sp.sqrt(den) * sp.pi)
    a, b = marchenko_pastur_edges()
    if sp.expand(num - (lam_hat - a) * (b - lam_hat)) == 0:
        density = density.subs(num, (lam_hat - a) * (b - lam_hat))
    return sp.simplify(density)


@lru_cache(maxsize=None)
def marchenko_pastur_atom():
    r"""Mass of μ at 0: lim_{z→0} (−z m(z)) on the derived branch.

    .. math:: \mu(\{0\}) = 1 - 1/q \quad (q > 1), \qquad 0 \quad (q \le 1).

    Derived with the parametrisation √q = 1 + s (q > 1) resp. √q = 1/(1 + s)
    (q < 1), s > 0, which makes the signs of √(−a), √(−b) decidable for sympy.

    Returns
    -------
    (atom for q > 1, atom for q < 1), both as expressions in q
    """
    s = sp.Symbol("s", positive=True)
    mz = marchenko_pastur_stieltjes()
    out = []
    for root_q, back in (((1 + s) ** 2, sp.sqrt(q) - 1), (1 / (1 + s) ** 2, 1 / sp.sqrt(q) - 1)):
        value = sp.limit(-z * mz.subs(q, root_q), z, 0)
        value = value.replace(lambda e: e.is_Pow and e.exp == sp.S.Half,
                              lambda e: sp.sqrt(sp.factor(e.base)))  # √((s+2)²) = s+2
        out.append(sp.simplify(sp.simplify(value).subs(s, back)))
    return tuple(out)


@lru_cache(maxsize=None)
def marchenko_pastur_moment(k):
    r"""∫ x^k dμ(x) for Σ = I, read from the large-z series m(z) = −Σ_k μ_k/z^{k+1}.

    μ₁ = 1 (so E Tr Σ̂ = d), μ₂ = 1 + q.  Valid for any q > 0 (includes the atom).
    """
    k = int(k)
    if k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    series = sp.series(marchenko_pastur_stieltjes(), z, sp.oo, k + 2).removeO()
    w = sp.Symbol("w", positive=True)  # w = 1/z
    expanded = sp.expand(series.subs(z, 1 / w))
    return sp.simplify(-expanded.coeff(w, k + 1))


# ---------------------------------------------------------------------------------
# Forward KL for f = identity, Σ = I


@lru_cache(maxsize=None)
def wishart_logdet_mean():
    r"""Exact E log det Σ̂ for Σ = I and N ≥ d (finite d), as a sympy ``Sum``.

    By the Bartlett decomposition (cited: N Σ̂ ~ Wishart_d(N, I) has
    det = Π_{i=1}^d χ²_{N−i+1}, independent) and E log χ²_k = ψ(k/2) + log 2
    (derived here by ``sympy.stats``):

    .. math:: E\log\det\hat\Sigma = \sum_{i=1}^d\Big[\psi\Big(\frac{N-i+1}{2}\Big)
              - \log\frac N2\Big].

    Valid for N ≥ d (for N < d, det Σ̂ = 0).
    """
    k = sp.Symbol("k", positive=True)
    elog_chi2 = sp.simplify(E(sp.log(ChiSquared("X", k))))
    i = sp.Symbol("i", integer=True, positive=True)
    return sp.Sum(elog_chi2.subs(k, N - i + 1) - sp.log(N), (i, 1, d))


@lru_cache(maxsize=None)
def isotropic_logdet_limit():
    r"""lim (1/d) E log det Σ̂ for Σ = I, q < 1, from :func:`wishart_logdet_mean`.

    Route (sympy ``integrate`` of log x against the MP density returns the integral
    unevaluated, for symbolic q and for q = 1/2 alike, so):
    1. ψ(y) = log y − 1/(2y) + O(y⁻²) (``series`` at y = ∞), so with i = u d and
       N = d/q each summand is log(1 − q u + 1/N) + O(1/N) → log(1 − q u)
       (``limit``, uniformly in u ∈ [0, 1] since q < 1).
    2. (1/d)Σ_{i=1}^d g(i/d) → ∫₀¹ g(u) du (Riemann sum; cited), ``integrate`` after
       the change of variables t = 1 − q u (``Integral.transform``), which leaves
       (1/q)∫_{1−q}^1 log t dt; logarithms are split by ``expand_log`` (1 − q > 0).

    .. math:: \lim \frac1d E\log\det\hat\Sigma = \int_0^1\log(1 - qu)\,du
              = -1 - \frac{1-q}{q}\log(1-q) = \int \log x\,d\mu_{MP}(x).

    Valid for 0 < q < 1 (at q ≥ 1 the integral diverges: Σ̂ becomes singular).
    """
    y = sp.Symbol("y", positive=True)
    u = sp.Symbol("u", positive=True)
    n_ = sp.Symbol("n", positive=True)  # N, with d = q N
    asymptotic = sp.series(sp.digamma(y), y, sp.oo, 2).removeO()
    i_of_u = u * q * n_
    summand = asymptotic.subs(y, (n_ - i_of_u + 1) / 2) - sp.log(n_ / 2)
    integrand = sp.simplify(sp.limit(summand, n_, sp.oo))
    t = sp.Symbol("t", positive=True)
    value = sp.Integral(integrand, (u, 0, 1)).transform(1 - q * u, t).doit()
    return _collect_log(sp.expand_log(value, force=True))


def _collect_log(expr):
    """``expr`` collected in log(1 − q) with factored coefficients, as one fraction."""
    return sp.together(sp.collect(sp.expand(expr), sp.log(1 - q), sp.factor))


@lru_cache(maxsize=None)
def isotropic_identity_kl():
    r"""Forward E[KL]/d for f = identity and Σ = I in the proportional limit, q < 1.

    With f = id the sampling law is N(0, Σ̂) and the optimum N(0, Σ) = N(0, I), so
    KL = ½[Tr Σ̂ − d − log det Σ̂]; per dimension, ∫x dμ = 1
    (:func:`marchenko_pastur_moment`) and :func:`isotropic_logdet_limit` give

    .. math:: \frac{E[\mathrm{KL}]}{d} \to \frac12\Big[1 + \frac{1-q}{q}\log(1-q)\Big]
              = \frac q4 + \frac{q^2}{12} + O(q^3).

    Valid for 0 < q < 1 (infinite for q ≥ 1: Σ̂ is singular).  The q → 0 expansion
    recovers the N ≫ d slope d/(4N) per dimension (tests).

    Examples
    --------
    >>> from theory.proportional import q
    >>> isotropic_identity_kl().series(q, 0, 2)
    q/4 + O(q**2)
    """
    first = marchenko_pastur_moment(1)
    return _collect_log((first - 1 - isotropic_logdet_limit()) / 2)
