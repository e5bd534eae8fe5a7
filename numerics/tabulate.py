"""Tables of scalar functions of an eigenvalue: Chebyshev interpolation in log λ.

Every per-dataset quantity of the trained model is a sum over eigen-directions of a
fixed scalar function of the sample eigenvalue (the transfer f, a loss summed over the
T steps, …).  Evaluating it exactly costs O(T) per eigenvalue; a verified table costs
O(degree) and is built once per model.
"""

import numpy as np

__all__ = ["SpectralTable"]


class SpectralTable:
    r"""A positive function f(λ) of an eigenvalue, tabulated once, O(degree) per evaluation.

    g(s) = log f(eˢ) − s, an analytic function of s = log λ for the functions of the
    trained model (transfer, per-direction losses summed over t), is interpolated at
    Chebyshev points on [log λ_lo, log λ_hi]; the degree is doubled from 64 until the
    interpolant agrees with the exact function to ``rtol`` (relative, in f) on a grid
    four times finer than the degree, else the build raises.  Eigenvalues outside
    [λ_lo, λ_hi] (including exact zeros of a rank-deficient Σ̂) use the exact function.

    The float64 exact functions are accurate to about 1e-13; Clenshaw rounding puts the
    floor of the interpolant near 1e-11, so ``rtol`` below 1e-10 is refused.

    Parameters
    ----------
    exact : callable
        Vectorised f(λ) > 0 for λ in [lo, hi].
    lo, hi : float, 0 < lo < hi
    rtol : float in [1e-10, 1)
    max_degree : int
    """

    def __init__(self, exact, *, lo=1e-8, hi=1e4, rtol=1e-10, max_degree=1024):
        from numpy.polynomial import chebyshev

        if not 1e-10 <= rtol < 1:
            raise ValueError(f"rtol must lie in [1e-10, 1), got {rtol!r}")
        if not 0 < lo < hi:
            raise ValueError(f"lo and hi must satisfy 0 < lo < hi, got {lo!r}, {hi!r}")
        self.exact, self.lo, self.hi = exact, float(lo), float(hi)
        domain = [np.log(lo), np.log(hi)]
        g = lambda s: np.log(exact(np.exp(s))) - s  # noqa: E731
        degree = 64
        while True:
            series = chebyshev.Chebyshev.interpolate(g, degree, domain=domain)
            check = np.linspace(*domain, 4 * degree + 1)
            error = np.max(np.abs(np.expm1(series(check) - g(check))))
            if error <= rtol:
                break
            if degree >= max_degree:
                raise ArithmeticError(f"spectral table did not reach rtol={rtol} by "
                                      f"degree {max_degree} (error {error:.2g})")
            degree *= 2
        self.series, self.degree, self.error = series, degree, float(error)

    def __call__(self, lam):
        lam = np.asarray(lam, dtype=float)
        inside = (lam >= self.lo) & (lam <= self.hi)
        out = np.empty_like(lam)
        s = np.log(lam[inside])
        out[inside] = np.exp(self.series(s) + s)
        if not inside.all():
            out[~inside] = self.exact(lam[~inside])
        return out
