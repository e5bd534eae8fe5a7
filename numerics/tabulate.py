"""Tables of scalar functions of an eigenvalue: Chebyshev interpolation in log λ.

Every per-dataset quantity of the trained model is a sum over eigen-directions of a
fixed scalar function of the sample eigenvalue (the transfer f, a loss summed over the
T steps, …).  Evaluating it exactly costs O(T) per eigenvalue; a verified table costs
O(degree) and is built once per model.
"""

import numpy as np

__all__ = ["SpectralTable"]


def _lobatto(n):
    """Chebyshev–Lobatto points cos(πj/n), j = 0..n, on [−1, 1] (the grid of 2n contains them)."""
    return np.cos(np.pi * np.arange(n + 1) / n)


def _coefficients(values):
    r"""Chebyshev coefficients of the degree-n interpolant through ``values`` at :func:`_lobatto`.

    c_k = (2/n) Σ''_j v_j cos(πjk/n) (endpoints of the sum and c_0, c_n halved): a
    type-I discrete cosine transform, done as a real FFT of the even extension.
    """
    n = values.size - 1
    spectrum = np.fft.rfft(np.concatenate([values, values[-2:0:-1]])).real / n
    spectrum[0] /= 2
    spectrum[n] /= 2
    return spectrum[: n + 1]


class SpectralTable:
    r"""A positive function f(λ) of an eigenvalue, tabulated once, O(degree) per evaluation.

    g(s) = log f(eˢ) − s, an analytic function of s = log λ for the functions of the
    trained model (transfer, per-direction losses summed over t), is interpolated at the
    Chebyshev–Lobatto points of [log λ_lo, log λ_hi].  Starting from degree 64, the
    exact g is evaluated on the grid of twice the degree; the degree-n interpolant
    (through the even-numbered points) is accepted when it agrees with the exact
    function to ``rtol`` (relative, in f) at the n odd-numbered points, which lie between
    its nodes where the interpolation error peaks; otherwise n is doubled and only the
    new points are evaluated (the grids are nested), up to ``max_degree``, beyond which
    the build raises.  Eigenvalues outside [λ_lo, λ_hi] (including exact zeros of a
    rank-deficient Σ̂) use the exact function.

    The float64 exact functions are accurate to about 1e-13; Clenshaw rounding puts the
    floor of the interpolant near 1e-11, so ``rtol`` below 1e-10 is refused.

    Parameters
    ----------
    exact : callable
        Vectorised f(λ) > 0 for λ in [lo, hi].
    lo, hi : float, 0 < lo < hi
    rtol : float in [1e-10, 1)
    max_degree : int, ≥ 64

    Attributes
    ----------
    degree : int
        Degree of the accepted interpolant.
    error : float
        Largest relative error found at the check points.
    evaluations : int
        Number of points at which ``exact`` was evaluated (2·degree + 1).
    """

    def __init__(self, exact, *, lo=1e-8, hi=1e4, rtol=1e-10, max_degree=1024):
        from numpy.polynomial import chebyshev

        if not 1e-10 <= rtol < 1:
            raise ValueError(f"rtol must lie in [1e-10, 1), got {rtol!r}")
        if not 0 < lo < hi:
            raise ValueError(f"lo and hi must satisfy 0 < lo < hi, got {lo!r}, {hi!r}")
        if max_degree < 64:
            raise ValueError(f"max_degree must be at least 64, got {max_degree!r}")
        self.exact, self.lo, self.hi = exact, float(lo), float(hi)
        domain = np.log([lo, hi])
        centre, half = domain.mean(), (domain[1] - domain[0]) / 2
        g = lambda s: np.log(exact(np.exp(s))) - s  # noqa: E731
        degree = 64
        values = g(centre + half * _lobatto(2 * degree))
        while True:
            series = chebyshev.Chebyshev(_coefficients(values[::2]), domain=domain)
            between = chebyshev.chebval(_lobatto(2 * degree)[1::2], series.coef)
            error = np.max(np.abs(np.expm1(between - values[1::2])))
            if error <= rtol:
                break
            if 2 * degree > max_degree:
                raise ArithmeticError(f"spectral table did not reach rtol={rtol} by "
                                      f"degree {max_degree} (error {error:.2g})")
            degree *= 2
            fine = np.empty(2 * degree + 1)
            fine[::2] = values
            fine[1::2] = g(centre + half * _lobatto(2 * degree)[1::2])
            values = fine
        self.series, self.degree, self.error = series, degree, float(error)
        self.evaluations = values.size

    def __call__(self, lam):
        lam = np.asarray(lam, dtype=float)
        inside = (lam >= self.lo) & (lam <= self.hi)
        out = np.empty_like(lam)
        s = np.log(lam[inside])
        out[inside] = np.exp(self.series(s) + s)
        if not inside.all():
            out[~inside] = self.exact(lam[~inside])
        return out
