r"""Second-order perturbation of spectral functions of Σ̂, and the Wick moments of Σ̂ − Σ.

For N ≫ d write Σ̂ = Σ + δ with Σ = diag(λ) and δ of size O(N^{−1/2}).  Every quantity
of the trained model is a spectral function of Σ̂; its expectation to O(1/N) needs the
second-order term of the function in δ and the second moments of δ.

Derived here
------------
wick_second_moments
    N·E[δ_ij²] = λ_iλ_j (i ≠ j) and 2λ_i² (i = j), i.e. λ_iλ_j(1 + δ_ij), from
    ``sympy.stats`` on one Gaussian sample (Isserlis); the mean of N independent
    samples divides by N.  Different entries (up to symmetry) are uncorrelated.
daleckii_krein_2x2, daleckii_krein_monomial
    The first-order change of a matrix function, (ΔF)_ij = f[λ_i, λ_j] δ_ij.
trace_second_order
    tr g(Σ + εδ) = tr g(Σ) + ε Σ_i g′(λ_i)δ_ii + ε² · ½ Σ_ij g′[λ_i, λ_j] δ_ij² + O(ε³),
    g′[a, b] = (g′(a) − g′(b))/(a − b), g′[a, a] = g″(a).
weighted_trace_second_order
    tr(φ(Σ + εδ) Σ) = tr(φ(Σ)Σ) + ε Σ_i λ_iφ′(λ_i)δ_ii
                      + ε² Σ_ik λ_i φ[λ_i, λ_k, λ_i] δ_ik² + O(ε³),
    φ[a, b, a] the second divided difference (φ[a, a, a] = φ″(a)/2).

Both expansions are derived by sympy for d = 2 from the exact eigen-decomposition of a
symmetric 2×2 matrix with a generic function (``sympy.Function``), the Taylor
coefficients in ε taken by sympy (``diff`` at ε = 0).  For general d the second-order
term of a spectral function is a sum over pairs of directions (Daleckii–Krein): every
pair (i, k) enters exactly as in the 2×2 problem of the plane it spans, because the
second-order term is a quadratic form in δ whose coefficient of δ_ikδ_jl vanishes
unless {i, k} = {j, l} for these functions (a trace, or a trace weighted by the
diagonal Σ).  That step is not derived symbolically
here; the tests check the general-d formulas against finite differences at d = 3, 4.
"""

from functools import lru_cache

import sympy as sp
from sympy.stats import E, Normal

__all__ = ["wick_second_moments", "daleckii_krein_2x2", "daleckii_krein_monomial",
           "trace_second_order", "weighted_trace_second_order", "SYMBOLS_2x2"]

_f = sp.Function("f")

_a, _b, _D = sp.symbols("a b D", positive=True)
_p, _r, _q = sp.symbols("p r q", real=True)
_eps = sp.Symbol("epsilon", real=True)


@lru_cache(maxsize=None)
def daleckii_krein_2x2():
    r"""First-order change of F(Σ + εS), Σ = diag(b + g, b), g > 0, for a generic f.

    F(A) = f(μ₊)P₊ + f(μ₋)P₋ with the exact eigenvalues μ± of the symmetric 2×2 matrix
    A = Σ + εS and its spectral projectors P± = (A − μ∓I)/(μ± − μ∓); ``diff`` in ε at
    ε = 0 gives the Daleckii–Krein formula

    .. math:: \partial_\varepsilon F\big|_0 = \begin{pmatrix} f'(a)\,s_{11} & f[a,b]\,s_{12}\\
              f[a,b]\,s_{12} & f'(b)\,s_{22}\end{pmatrix},\quad f[a,b] = \frac{f(a)-f(b)}{a-b}

    (a = b + g).  The general-d statement, (ΔF)_pq = f[λ_p, λ_q] S_pq with f[a, a] =
    f′(a), is the Daleckii–Krein theorem (Bhatia, *Matrix Analysis*, Thm V.3.3); it is
    derived for every d for monomials by :func:`daleckii_krein_monomial`, which
    extends to polynomial and, by approximation, to C¹ f.

    Returns
    -------
    (dF, f, (b, g), (s11, s12, s22)) : the derivative matrix, the undefined function f,
    and the symbols used.
    """
    b, g = sp.symbols("b g", positive=True)
    s11, s12, s22 = sp.symbols("s11 s12 s22", real=True)
    e = sp.Symbol("e", real=True)
    A = sp.Matrix([[b + g + e * s11, e * s12], [e * s12, b + e * s22]])
    root = sp.sqrt((A[0, 0] - A[1, 1]) ** 2 + 4 * A[0, 1] ** 2)
    mu_plus, mu_minus = (A.trace() + root) / 2, (A.trace() - root) / 2
    eye = sp.eye(2)
    F = (_f(mu_plus) * (A - mu_minus * eye) / (mu_plus - mu_minus)
         + _f(mu_minus) * (A - mu_plus * eye) / (mu_minus - mu_plus))
    dF = F.diff(e).subs(e, 0).applyfunc(lambda z: sp.simplify(z.doit()))
    return dF, _f, (b, g), (s11, s12, s22)


@lru_cache(maxsize=None)
def daleckii_krein_monomial():
    r"""Entry (p, q) of ∂_ε (Σ + εS)^n at ε = 0 for Σ = diag(λ), any d, n ≥ 1.

    Leibniz: ∂_ε (Σ + εS)^n|₀ = Σ_{k=0}^{n−1} Σ^k S Σ^{n−1−k}, whose (p, q) entry is
    S_pq Σ_k λ_p^k λ_q^{n−1−k}; ``summation`` over k gives S_pq times the divided
    difference of x^n, (λ_p^n − λ_q^n)/(λ_p − λ_q), with n λ^{n−1} when λ_p = λ_q.

    Returns
    -------
    (weight, (lambda_p, lambda_q, n)) : the factor multiplying S_pq, and its symbols
    """
    n = sp.Symbol("n", positive=True, integer=True)
    k = sp.Symbol("k", nonnegative=True, integer=True)
    lp, lq = sp.symbols("lambda_p lambda_q", positive=True)
    weight = sp.summation(lp ** k * lq ** (n - 1 - k), (k, 0, n - 1))
    return weight, (lp, lq, n)


@lru_cache(maxsize=None)
def wick_second_moments():
    r"""N·E[δ_pq δ_rs] for δ = Σ̂ − Σ, Σ = diag(λ), from ``sympy.stats`` Gaussians.

    Σ̂ is the mean of N iid x xᵀ, so N Cov(Σ̂_pq, Σ̂_rs) = E[x_p x_q x_r x_s] −
    E[x_p x_q] E[x_r x_s] for one x with independent coordinates x_p ~ N(0, λ_p).
    Computed here for the index patterns that occur for a diagonal Σ:

    ``off``   (p ≠ q, same pair):     λ_p λ_q
    ``diag``  (p = q):                2 λ_p²
    ``cross`` (two different pairs):  0   (checked for (pp, qq), (pq, pr), (pq, rr))

    so E[δ_pq²] = λ_p λ_q (1 + δ_pq)/N (Isserlis).

    Returns
    -------
    dict with keys "off", "diag", "cross" (a tuple), "symbols" (λ_p, λ_q, λ_r)
    """
    lp, lq, lr = sp.symbols("lambda_p lambda_q lambda_r", positive=True)
    xp, xq, xr = (Normal(f"x_{name}", 0, sp.sqrt(v)) for name, v in
                  (("p", lp), ("q", lq), ("r", lr)))

    def cov(a, b):
        return sp.simplify(E(sp.expand(a * b)) - E(a) * E(b))

    return {
        "off": cov(xp * xq, xp * xq),
        "diag": cov(xp * xp, xp * xp),
        "cross": (cov(xp * xp, xq * xq), cov(xp * xq, xp * xr), cov(xp * xq, xr * xr)),
        "symbols": (lp, lq, lr),
    }



def _two_by_two():
    """Eigenvalues and projectors of diag(a, b) + ε[[p, r], [r, q]], a = b + D > b."""
    A = sp.Matrix([[_b + _D + _eps * _p, _eps * _r], [_eps * _r, _b + _eps * _q]])
    mean = (A[0, 0] + A[1, 1]) / 2
    radius = sp.sqrt(((A[0, 0] - A[1, 1]) / 2) ** 2 + A[0, 1] ** 2)
    up, down = mean + radius, mean - radius
    I = sp.eye(2)
    return A, (up, (A - down * I) / (up - down)), (down, (A - up * I) / (down - up))


def _second_order(expr):
    """Coefficients of ε and ε² of ``expr`` (Taylor at ε = 0), in a = b + D and b.

    The k-th ε-derivative at 0 over k! (derivatives taken one at a time), written as a
    polynomial in p, q, r whose coefficients are reduced by ``cancel`` (they are
    rational in a, b and the values and derivatives of the function at a and b).
    """
    coefficients = []
    derivative = expr
    for k in (1, 2):
        derivative = sp.diff(derivative, _eps)
        term = (derivative.subs(_eps, 0) / sp.factorial(k)).doit()
        term = sp.expand(term.subs(_D, _a - _b).doit())
        poly = sp.Poly(term, _p, _q, _r)
        coefficients.append(sp.Add(*(sp.cancel(coefficient) * _p**i * _q**j * _r**l
                                     for (i, j, l), coefficient in poly.terms())))
    return coefficients


#: the symbols of the 2×2 problem: eigenvalues a > b of Σ, entries p = δ_11, q = δ_22,
#: r = δ_12 of the perturbation
SYMBOLS_2x2 = {"a": _a, "b": _b, "p": _p, "q": _q, "r": _r}


@lru_cache(maxsize=None)
def trace_second_order():
    """(first, second)-order coefficients of tr g(Σ + εδ), d = 2, generic g (sympy).

    Returns ``(first, second, g)``: expressions in the :data:`SYMBOLS_2x2` and the
    undefined function ``g`` (its derivatives appear as ``Derivative``).  Derived:
    first = p g′(a) + q g′(b), second = ½p²g″(a) + ½q²g″(b) + r²(g′(a) − g′(b))/(a − b).
    """
    g = sp.Function("g")
    _, (up, _), (down, _) = _two_by_two()
    return (*_second_order(g(up) + g(down)), g)


@lru_cache(maxsize=None)
def weighted_trace_second_order():
    """(first, second)-order coefficients of tr(φ(Σ + εδ) Σ), d = 2, generic φ (sympy).

    Returns ``(first, second, phi)`` as :func:`trace_second_order` does.
    """
    phi = sp.Function("phi")
    _, (up, P_up), (down, P_down) = _two_by_two()
    Sigma = sp.diag(_b + _D, _b)
    expr = phi(up) * (P_up * Sigma).trace() + phi(down) * (P_down * Sigma).trace()
    return (*_second_order(expr), phi)
