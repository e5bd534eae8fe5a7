r"""Deterministic equivalents in the proportional regime (DESIGN.md, section C).

Given a population spectrum λ (finite d, the empirical spectral distribution H_d) and N,
the finite-d deterministic equivalent μ of the spectrum of Σ̂ = XᵀX/N is the measure
whose Stieltjes transform solves Silverstein's equation (:mod:`theory.proportional`)
with q = d/N.  Every expected spectral sum over the sample eigenvalues is replaced by
d ∫ · dμ, every eigenvector overlap by its Ledoit–Péché equivalent; the errors are
O(1) in totals that are O(d), i.e. relative O(1/d) (tests measure this).

How μ is computed (all float64; every step is a monotone scalar problem)
-----------------------------------------------------------------------
Everything is parametrised by the effective ridge κ = 1/m̲, m̲ the companion transform
(:func:`theory.proportional.companion_stieltjes`).  In κ the companion equation is
explicit, z(κ) = −κ + (1/N)Σ_j λ_jκ/(λ_j + κ), and with h(κ) = (1/N)Σ λ_j²/(λ_j + κ)²:

* real κ with h(κ) < 1 are the real points z(κ) outside the support;
* the support edges are the real roots of h(κ) = 1 (h is convex between consecutive
  poles −λ_j, so each gap between two poles holds 0 or 2 edges, found by bisection);
* for real κ_r with h(κ_r) > 1, κ = κ_r − i√t with the unique t > 0 solving
  (1/N)Σ λ_j²/((λ_j + κ_r)² + t) = 1 gives a real z(κ) = x inside the support, and
  m̲(x + i0) = 1/κ.  t is found by Newton's method on the concave increasing function
  1/(that sum), which converges monotonically from t = 0.

The map κ_r ↦ x is a decreasing bijection of ℝ (uniqueness of the Stieltjes
solution), so integrals against μ are done in κ_r, piece by piece between edges and
the minima of h, with Gauss–Legendre nodes in θ, κ_r = mid − half·cos θ, which
absorbs the square-root edges.  Pieces over which the curve is high compared with
their length are merged (the integrand is smooth there); pieces are cut
geometrically (ratio 4) towards nearby singularities: a narrow gap or a minimum of h
barely above 1 (κ side), and x = 0, where log f and the 1/x of the overlaps are
singular (x side).  The density is
ρ(x) = Im m̲/(πq) = √t/(πq|κ|²); dμ = ρ |dx/dκ_r| dκ_r, with dx/dκ_r by implicit
differentiation.  For q > 1, μ also has the atom 1 − 1/q at 0, handled separately
with the null-space weights κ₀/(λ_j + κ₀).

Accuracy: with the default 24 nodes per piece the mass and the first two moments of μ
are exact to ~1e-12 (tests check them against ∫dμ = min(1, 1/q),
∫x dμ = mean λ, ∫x² dμ = mean λ² + q mean(λ)²), and f = id gives the closed-form KL
to ~1e-14 per dimension up to q = 0.99.  At q = 1 exactly the lower edge is at 0,
ρ ~ x^(−1/2) and integrands singular at 0 (log f with c = 0) converge slowly.

Cost: O(#pieces · nodes · #distinct λ) per quadrature; proportional_kl at d = 400 takes
~0.01 s (Σ = I) to ~0.2 s (power law k = 2), plus the transfer f at the nodes.
"""

from dataclasses import dataclass
from functools import lru_cache

import mpmath
import numpy as np

from .denoiser import denoiser_eigenvalues
from .kl import kl_terms
from .losses import compiled_loss
from .schedule import linear_schedule
from .transfer import transfer_interpolant
from .validation import (check_choice, check_count, check_nonnegative, check_positive_spectrum,
                         check_tau)

__all__ = [
    "LSDQuadrature", "lsd_quadrature", "support", "stieltjes", "spectral_density",
    "kappa0", "kappa", "overlap", "null_space_weights", "sample_direction_variance",
    "deterministic_kl", "proportional_kl", "proportional_losses",
]

_NODES = 24          # Gauss–Legendre nodes per piece
_MERGE = 1.0         # merge pieces while length ≤ _MERGE × curve height √t
_GRADE = 4.0         # split pieces geometrically towards x = 0 with this ratio
_EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------
# the population spectrum


class _Population:
    """λ grouped into distinct values (descending) with multiplicities; sums are (1/N)Σ."""

    def __init__(self, lam, N):
        lam = check_positive_spectrum(lam)
        self.N = check_count(N, "N")
        vals, counts = np.unique(lam, return_counts=True)
        self.vals = vals[::-1].copy()
        self.mult = counts[::-1].astype(float)
        self.d = lam.size
        self.q = self.d / self.N
        self.w = self.mult / self.N
        self.lam = lam

    def sum_(self, values, axis=-1):
        return np.sum(self.w * values, axis=axis)

    def h(self, k):
        k = np.asarray(k, dtype=float)[..., None]
        return self.sum_(self.vals**2 / (self.vals + k) ** 2)

    def dh(self, k):
        k = np.asarray(k, dtype=float)[..., None]
        return -2 * self.sum_(self.vals**2 / (self.vals + k) ** 3)

    def z_real(self, k):
        """z(κ) = −κ + (1/N)Σ λκ/(λ+κ) for real κ (outside the support)."""
        k = np.asarray(k, dtype=float)
        return -k + self.sum_(self.vals * k[..., None] / (self.vals + k[..., None]))


def _bisect(fun, lo, hi, increasing, iterations=200):
    """Vectorised bisection for a monotone ``fun`` with a sign change on [lo, hi]."""
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        done = (mid <= np.minimum(lo, hi)) | (mid >= np.maximum(lo, hi))
        if done.all():
            break
        value = fun(mid)
        root_left = (value > 0) if increasing else (value < 0)
        hi = np.where(root_left, mid, hi)
        lo = np.where(root_left, lo, mid)
    return 0.5 * (lo + hi)


def _curve_t(pop, kr):
    """t ≥ 0 with (1/N)Σ λ²/((λ+κ_r)² + t) = 1 where h(κ_r) > 1, else 0.

    Newton on G(t) = 1/Σ(...), concave and increasing, from a point left of the root
    (t₀ = max_j(w_jλ_j² − (λ_j+κ_r)²), since each term alone is ≤ 1 at the root):
    the iterates increase monotonically to the root.
    """
    kr = np.asarray(kr, dtype=float)
    shape = kr.shape
    kr = kr.ravel()
    a = (pop.vals + kr[:, None]) ** 2
    num = pop.w * pop.vals**2
    t = np.maximum(0.0, np.max(num - a, axis=1))
    active = np.ones(kr.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(200):
            idx = np.nonzero(active)[0]
            if idx.size == 0:
                break
            D = a[idx] + t[idx, None]
            H = np.sum(num / D, axis=1)
            H2 = np.sum(num / D**2, axis=1)
            step = np.where(H > 1, H * (H - 1) / H2, 0.0)
            step = np.where(np.isfinite(step), step, 0.0)
            t[idx] += step
            active[idx[step <= 4 * _EPS * t[idx]]] = False
    return t.reshape(shape)


def _curve_point(pop, kr, t):
    """x(κ_r), dx/dκ_r on the curve (h(κ_r) > 1, t > 0)."""
    lam = pop.vals
    D = (lam + kr[:, None]) ** 2 + t[:, None]
    x = -2 * kr + pop.sum_(lam) - pop.sum_(lam**3 / D)
    s1 = pop.sum_(lam**2 * (lam + kr[:, None]) / D**2)
    s2 = pop.sum_(lam**2 / D**2)
    dt = -2 * s1 / s2
    dx = -2 + pop.sum_(lam**3 * (2 * (lam + kr[:, None]) + dt[:, None]) / D**2)
    return x, dx


# ---------------------------------------------------------------------------------
# support and quadrature


@dataclass(frozen=True)
class _Bands:
    kappa_upper: float             # κ of the upper edge (κ < −λ_max)
    kappa_lower: float             # κ of the lower edge
    pieces: tuple                  # ((κ_lo, κ_hi, σ_lo, σ_hi), ...) merged pieces
    edges: tuple                   # ((κ_left, κ_right), ...) bands in κ


def _bands(pop, merge=_MERGE):
    """Support bands in κ, cut into pieces at the minima of h between poles.

    Each piece carries, for both ends, the distance σ in κ_r to the nearest
    singularity of the integrand off the piece: the opposite edge across a gap (its
    width), or for a minimum of h barely above 1 (two bands about to split) the
    branch points κ_m ± i√(2(h_min − 1)/h''); ∞ otherwise.
    """
    vals, q = pop.vals, pop.q
    poles = -vals  # ascending
    lam_max = vals[0]
    kappa_upper = float(_bisect(lambda k: pop.h(k) - 1, -lam_max * (1 + 2 * np.sqrt(q)),
                                poles[0], True))
    kappa_lower = float(_bisect(lambda k: pop.h(k) - 1, poles[-1],
                                lam_max * max(2 * np.sqrt(q) - 1, 0.0), False))
    p = vals.size
    split = np.empty(max(p - 1, 0))
    split_scale = np.full(max(p - 1, 0), np.inf)
    gap = np.zeros(max(p - 1, 0), dtype=bool)
    gap_left = np.empty(max(p - 1, 0))
    gap_right = np.empty(max(p - 1, 0))
    if p > 1:
        # two-pole lower bound on h between consecutive poles: (A^⅓ + B^⅓)³/L²
        A = np.cbrt(pop.w[:-1] * vals[:-1] ** 2)
        B = np.cbrt(pop.w[1:] * vals[1:] ** 2)
        L = vals[:-1] - vals[1:]
        bound = (A + B) ** 3 / L**2
        split[:] = poles[:-1] + L * A / (A + B)
        close = np.nonzero(bound < 2)[0]  # where h may dip near or below 1
        if close.size:
            lo, hi = poles[close], poles[close + 1]
            k_min = _bisect(pop.dh, lo, hi, True)
            split[close] = k_min
            h_min = pop.h(k_min)
            h2 = 6 * pop.sum_(vals**2 / (vals + k_min[:, None]) ** 4)
            split_scale[close] = np.sqrt(2 * np.maximum(h_min - 1, 0) / h2)
            g = close[h_min < 1]
            gap[g] = True
            if g.size:
                gap_left[g] = _bisect(lambda k: pop.h(k) - 1, poles[g], split[g], False)
                gap_right[g] = _bisect(lambda k: pop.h(k) - 1, split[g], poles[g + 1], True)
    # bands: [edge, split, ..., split, edge] with scales; pole i lies between points i, i+1
    bands, current, scales = [], [kappa_upper], [np.inf]
    for i in range(p - 1):
        if gap[i]:
            width = float(gap_right[i] - gap_left[i])
            bands.append((current + [float(gap_left[i])], scales + [width]))
            current, scales = [float(gap_right[i])], [width]
        else:
            current.append(float(split[i]))
            scales.append(float(split_scale[i]))
    bands.append((current + [kappa_lower], scales + [np.inf]))
    # curve heights at the interior split points and at the poles, for merging
    interior = np.array([pt for band, _ in bands for pt in band[1:-1]])
    heights = np.sqrt(_curve_t(pop, np.concatenate([interior, poles])))
    h_split, h_pole = heights[:interior.size], heights[interior.size:]
    pieces, edges, s_i, pole_i = [], [], 0, 0
    for band, sc in bands:
        edges.append((band[0], band[-1]))
        n_int = len(band) - 2
        hs = h_split[s_i:s_i + n_int]
        hp = h_pole[pole_i:pole_i + n_int + 1]
        s_i += n_int
        pole_i += n_int + 1
        start, start_scale, height = band[0], sc[0], np.inf
        for i in range(n_int + 1):
            height = min(height, hp[i])
            if i == n_int:
                pieces.append((start, band[-1], start_scale, sc[-1]))
                break
            if band[i + 2] - start <= merge * min(height, hs[i], hp[i + 1], sc[i + 1]):
                height = min(height, hs[i])
                continue
            pieces.append((start, band[i + 1], start_scale, sc[i + 1]))
            start, start_scale, height = band[i + 1], sc[i + 1], np.inf
    return _Bands(kappa_upper, kappa_lower, tuple(pieces), tuple(edges))


def _graded_kappa(pieces, ratio=_GRADE):
    """Cut each piece geometrically towards an end whose singularity distance σ is
    small compared with the piece: at σ, σ·ratio, σ·ratio², … from that end, up to
    the midpoint.  Returns plain (κ_lo, κ_hi) pairs."""
    out = []
    for lo, hi, s_lo, s_hi in pieces:
        half = 0.5 * (hi - lo)
        cuts = []
        for end, scale, sign in ((lo, s_lo, 1.0), (hi, s_hi, -1.0)):
            if not scale < half / ratio:
                continue
            steps = scale * ratio ** np.arange(0, int(np.log(half / scale) / np.log(ratio)) + 1)
            cuts.extend(end + sign * steps[steps < half / np.sqrt(ratio)])
        points = np.concatenate([[lo], np.sort(cuts), [hi]])
        out.extend(zip(points[:-1], points[1:]))
    return out


@dataclass(frozen=True)
class LSDQuadrature:
    """A quadrature rule for the deterministic equivalent μ of the spectrum of Σ̂.

    Attributes
    ----------
    x : ndarray
        Nodes (sample eigenvalues) in the continuous support.
    weight : ndarray
        Weights: Σ weight·g(x) ≈ ∫ g dμ_c, the continuous part of μ (total mass
        min(1, 1/q)).
    kappa : ndarray of complex
        κ(x + i0) = 1/m̲(x + i0) at the nodes (Im κ < 0).
    atom : float
        Mass of μ at 0: 1 − 1/q for q > 1, else 0.
    kappa0 : float
        Null-space fixed point (0 for q ≤ 1).
    d, N : int
    """

    x: np.ndarray
    weight: np.ndarray
    kappa: np.ndarray
    atom: float
    kappa0: float
    d: int
    N: int

    @property
    def q(self):
        return self.d / self.N


def _graded(pop, pieces, ratio=_GRADE):
    """Split every piece whose x-range [x_lo, x_hi] has x_hi > ratio·x_lo at
    x_lo·ratio^k: the integrands (log f, 1/x in the overlaps) are singular at or near
    x = 0, and a piece no longer than (ratio − 1) times its distance from 0 keeps
    Gauss–Legendre converging geometrically (Bernstein ellipse ρ = 3 for ratio 4)."""
    out = []
    for k_lo, k_hi in pieces:
        x_hi = _curve_point_scalar(pop, k_lo)
        x_lo = _curve_point_scalar(pop, k_hi)
        if not x_hi > ratio * x_lo or x_lo <= 0:
            out.append((k_lo, k_hi))
            continue
        n_cut = int(np.floor(np.log(x_hi / x_lo) / np.log(ratio)))
        targets = x_lo * ratio ** np.arange(1, n_cut + 1)
        targets = targets[targets < x_hi / np.sqrt(ratio)]  # no sliver at the top
        if targets.size == 0:
            out.append((k_lo, k_hi))
            continue
        cuts = _bisect(lambda k: _x_of_kappa(pop, k)[0] - targets,
                       np.full(targets.size, k_lo), np.full(targets.size, k_hi), False)
        points = np.concatenate([[k_lo], np.sort(cuts), [k_hi]])
        out.extend(zip(points[:-1], points[1:]))
    return out


def _curve_point_scalar(pop, k):
    return float(_x_of_kappa(pop, np.array([k]))[0][0])


def _quadrature(pop, nodes=_NODES):
    bands = _bands(pop)
    pieces = _graded(pop, _graded_kappa(bands.pieces))
    theta, tw = np.polynomial.legendre.leggauss(nodes)
    theta = (theta + 1) * np.pi / 2
    tw = tw * np.pi / 2
    lo = np.array([p[0] for p in pieces])[:, None]
    hi = np.array([p[1] for p in pieces])[:, None]
    kr = (0.5 * (lo + hi) - 0.5 * (hi - lo) * np.cos(theta)).ravel()
    wk = (0.5 * (hi - lo) * np.sin(theta) * tw).ravel()
    t = _curve_t(pop, kr)
    x, dx = _curve_point(pop, kr, t)
    density = np.sqrt(t) / (np.pi * pop.q * (kr**2 + t))
    weight = density * np.abs(dx) * wk
    k0 = _kappa0(pop)
    atom = max(0.0, 1.0 - 1.0 / pop.q)
    return LSDQuadrature(x, weight, kr - 1j * np.sqrt(t), atom, k0, pop.d, pop.N)


@lru_cache(maxsize=64)
def _keyed_quadrature(lam_bytes, N, nodes):
    rule = _quadrature(_Population(np.frombuffer(lam_bytes), N), nodes)
    for array in (rule.x, rule.weight, rule.kappa):
        array.setflags(write=False)  # shared by every caller with the same (λ, N, nodes)
    return rule


def _rule_for(pop, nodes):
    """The quadrature of ``pop``, cached by (λ, N, nodes): it does not depend on the model,
    so a sweep over c, τ or t (and both KL directions) builds it once."""
    return _keyed_quadrature(pop.lam.tobytes(), pop.N, check_count(nodes, "nodes", minimum=4))


def lsd_quadrature(lam, N, *, nodes=_NODES):
    """Quadrature nodes and weights for the deterministic equivalent of the spectrum
    of Σ̂ = XᵀX/N, X with N rows from N(0, diag(λ)).

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
        Population eigenvalues.
    N : int, ≥ 1
        Number of samples; q = d/N may be < 1 or > 1.
    nodes : int, ≥ 4
        Gauss–Legendre nodes per piece (see the module docstring).

    Returns
    -------
    LSDQuadrature

    Examples
    --------
    Marchenko–Pastur at q = 1/2 has mass 1 and mean 1:

    >>> import numpy as np
    >>> rule = lsd_quadrature(np.ones(50), 100)
    >>> bool(abs(rule.weight.sum() - 1) < 1e-12 and abs(rule.weight @ rule.x - 1) < 1e-12)
    True
    """
    return _rule_for(_Population(lam, N), nodes)


def support(lam, N):
    """Intervals [x_lo, x_hi] of the continuous part of μ, ascending.

    For q > 1, μ has in addition the atom 1 − 1/q at 0 (not listed).
    """
    pop = _Population(lam, N)
    bands = _bands(pop)
    out = [(float(pop.z_real(b)), float(pop.z_real(a))) for a, b in bands.edges]
    return sorted(out)


# ---------------------------------------------------------------------------------
# κ: null space, ridge, and the real axis


def _kappa0(pop):
    """Root of (1/N)Σ λ/(λ+κ) = 1 for q > 1 (0 otherwise); Newton on the concave
    increasing 1/φ from κ = 0 converges monotonically."""
    if pop.q <= 1:
        return 0.0
    k = 0.0
    for _ in range(200):
        phi = pop.sum_(pop.vals / (pop.vals + k))
        phi2 = pop.sum_(pop.vals / (pop.vals + k) ** 2)
        step = phi * (phi - 1) / phi2
        if not step > 4 * _EPS * k:
            break
        k += step
    return float(k)


def kappa0(lam, N, *, dps=None):
    r"""Null-space fixed point κ₀: 1 = (1/N) Σ_j λ_j/(λ_j + κ₀) (DESIGN.md C.2).

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1
    dps : int or None
        If given, solve in mpmath at ``dps`` digits (``findroot``, bracketed) and return
        an mpmath number.

    Returns
    -------
    float
        κ₀ > 0 for q = d/N > 1; 0 for q ≤ 1 (Σ̂ has no null space then).

    Examples
    --------
    For Σ = I the root is q − 1 (:func:`theory.proportional.isotropic_kappa0`):

    >>> round(kappa0([1.0] * 30, 10), 12)
    2.0
    """
    pop = _Population(lam, N)
    k = _kappa0(pop)
    if dps is None:
        return k
    if int(dps) < 15:
        raise ValueError(f"dps must be an integer >= 15, got {dps!r}")
    if pop.q <= 1:
        return mpmath.mpf(0)
    with mpmath.workdps(int(dps)):
        vals = [mpmath.mpf(v) for v in pop.vals]
        mult = [int(c) for c in pop.mult]

        def g(kk):
            return sum(c * v / (v + kk) for v, c in zip(vals, mult)) / pop.N - 1

        return mpmath.findroot(g, (mpmath.mpf(k) * (1 - mpmath.mpf(10) ** -6),
                                   mpmath.mpf(k) * (1 + mpmath.mpf(10) ** -6)),
                               solver="anderson")


def kappa(z, lam, N):
    r"""Effective ridge κ(z): (Σ̂ + z)⁻¹ ≍ (κ/z)(Σ + κ)⁻¹ (DESIGN.md C.2).

    Solves κ − z = (κ/N) Σ_j λ_j/(λ_j + κ) on κ ≥ κ₀, where
    g(κ) = κ(1 − (1/N)Σλ_j/(λ_j+κ)) is convex and increasing; Newton from
    κ = z + (1/N)Σλ_j (where g ≥ z) decreases monotonically to the root.

    Parameters
    ----------
    z : float or array_like, ≥ 0
        Ridge (DESIGN's z; Silverstein's spectral argument is −z).
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1

    Returns
    -------
    float or ndarray
        κ(z) ≥ max(z, κ₀); κ(0) = κ₀ (0 for q ≤ 1).  Increasing in z.
    """
    pop = _Population(lam, N)
    zz = np.asarray(z, dtype=float)
    bad = ~np.isfinite(zz) | (zz < 0)
    if bad.any():
        raise ValueError(f"z must be a finite real >= 0, got {zz[bad].flat[0]!r}")
    k0 = _kappa0(pop)
    k = zz + pop.sum_(pop.vals)
    for _ in range(200):
        frac = pop.sum_(pop.vals / (pop.vals + k[..., None]))
        frac2 = pop.sum_(pop.vals**2 / (pop.vals + k[..., None]) ** 2)
        g = k * (1 - frac) - zz
        dg = 1 - frac2  # = 1 − (1/N)Σλ²/(λ+κ)² > 0 for κ > κ₀
        step = np.where(g > 0, g / dg, 0.0)
        k = np.maximum(k - step, np.maximum(zz, k0))
        if np.all(step <= 4 * _EPS * k):
            break
    k = np.where(zz == 0, k0, k)
    return float(k) if k.ndim == 0 else k


def _x_of_kappa(pop, kr):
    """The decreasing bijection κ_r ↦ x of ℝ, with dx/dκ_r (see module docstring)."""
    kr = np.asarray(kr, dtype=float)
    t = _curve_t(pop, kr)
    on = t > 0
    x = np.empty_like(kr)
    dx = np.empty_like(kr)
    if on.any():
        x[on], dx[on] = _curve_point(pop, kr[on], t[on])
    off = ~on
    if off.any():
        x[off] = pop.z_real(kr[off])
        dx[off] = pop.h(kr[off]) - 1
    return x, dx, t


def _kappa_real_axis(pop, x):
    """κ(x + i0) for real x: safeguarded Newton–bisection on the monotone κ_r ↦ x."""
    x = np.asarray(x, dtype=float).ravel()
    bands = _bands(pop)
    lo = np.minimum(-np.abs(x), bands.kappa_upper) - 1.0
    hi = np.maximum(np.maximum(pop.sum_(pop.vals) - x, bands.kappa_lower), 0.0) + 1.0
    k = 0.5 * (lo + hi)
    for _ in range(300):
        xk, dxk, _ = _x_of_kappa(pop, k)
        right = xk > x  # x decreasing: root to the right of k
        lo = np.where(right, k, lo)
        hi = np.where(right, hi, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = k - (xk - x) / dxk
        ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
        k_new = np.where(ok, newton, 0.5 * (lo + hi))
        if np.all(np.abs(k_new - k) <= 4 * _EPS * np.maximum(np.abs(k), 1.0)):
            k = k_new
            break
        k = k_new
    t = _curve_t(pop, k)
    return k - 1j * np.sqrt(t)


def _m_from_kappa(pop, z, kap):
    """m(z) = −(κ/z)(1/d)Σ_j 1/(λ_j + κ) (no cancellation for q near 1)."""
    s = np.sum(pop.mult * 1.0 / (pop.vals + kap[..., None]), axis=-1) / pop.d
    return -(kap / z) * s


def stieltjes(z, lam, N):
    r"""Stieltjes transform m(z) = ∫ dμ(x)/(x − z) of the deterministic equivalent μ.

    Solves Silverstein's equation (:func:`theory.proportional.silverstein_equation`)
    through its companion form z = −1/m̲ + (1/N)Σ λ_j/(1 + λ_j m̲), then
    m = −(κ/z)(1/d)Σ 1/(λ_j + κ), κ = 1/m̲.

    Parameters
    ----------
    z : complex or array_like of complex
        Im z > 0: Newton on m̲ started from the boundary value at Re z, damped to stay in
        the upper half plane, then η-continuation and fixed-point iteration as fallbacks
        (ArithmeticError if all fail).  Im z = 0: the
        boundary value m(x + i0) (from the real-axis parametrisation, no Newton in
        ℂ).  Im z < 0: by symmetry m(z̄) = conj m(z).
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1

    Returns
    -------
    complex or ndarray of complex
        At z = 0: (1/(1 − q))(1/d)Σ 1/λ_j for q < 1; complex inf for q ≥ 1 (the atom
        at 0, resp. the x^(−1/2) edge, makes ∫dμ/x diverge).

    Examples
    --------
    Far from the support m(z) ≈ −1/z:

    >>> import numpy as np
    >>> m = stieltjes(1e6j, np.ones(10), 20)
    >>> bool(abs(m * 1e6j + 1) < 1e-5)
    True
    """
    pop = _Population(lam, N)
    zz = np.asarray(z, dtype=complex)
    scalar = zz.ndim == 0
    zz = zz.ravel()
    flip = zz.imag < 0
    zz = np.where(flip, np.conj(zz), zz)
    out = np.empty(zz.shape, dtype=complex)
    zero = zz == 0
    if zero.any():
        if pop.q < 1:
            out[zero] = np.sum(pop.mult / pop.vals) / pop.d / (1 - pop.q)
        else:
            out[zero] = complex(np.inf, 0.0)
    rest = ~zero
    if rest.any():
        kap_axis = _kappa_real_axis(pop, zz[rest].real)
        complex_part = zz[rest].imag > 0
        kap = kap_axis.copy()
        if complex_part.any():
            kap[complex_part] = _kappa_complex(pop, zz[rest][complex_part],
                                               kap_axis[complex_part])
        out[rest] = _m_from_kappa(pop, zz[rest], kap)
    out = np.where(flip, np.conj(out), out)
    return complex(out[0]) if scalar else out.reshape(np.shape(z))


def _companion_F(pop, z, m_):
    """F(m̲) = z + 1/m̲ − (1/N)Σλ/(1+λm̲) and the size of its terms (for tolerances)."""
    terms = pop.vals / (1 + pop.vals * m_[..., None])
    return z + 1 / m_ - pop.sum_(terms), np.abs(z) + np.abs(1 / m_) + pop.sum_(np.abs(terms))


def _companion_newton(pop, z, mb, iterations):
    """Damped Newton on F(m̲) = 0, kept in the upper half plane (backtracking until
    Im m̲ > 0 and |F| decreases); works on the unconverged points only.
    Returns (m̲, converged)."""
    lam = pop.vals
    mb = np.array(mb, dtype=complex)
    value, size = _companion_F(pop, z, mb)
    converged = np.abs(value) <= 1e-13 * size
    for _ in range(iterations):
        idx = np.nonzero(~converged)[0]
        if idx.size == 0:
            break
        zi, mi, vi = z[idx], mb[idx], value[idx]
        step = -vi / (-1 / mi**2 + pop.sum_(lam**2 / (1 + lam * mi[..., None]) ** 2))
        step = np.where(np.isfinite(step), step, 0)
        res = np.abs(vi)
        scale = np.ones(idx.size)
        trial, t_value, t_size = mi, vi, size[idx]
        todo = np.ones(idx.size, dtype=bool)
        for _ in range(40):  # backtrack on the points still failing
            j = np.nonzero(todo)[0]
            if j.size == 0:
                break
            cand = mi[j] + scale[j] * step[j]
            c_value, c_size = _companion_F(pop, zi[j], cand)
            good = (cand.imag > 0) & (np.abs(c_value) < res[j])
            trial = trial.copy()
            t_value, t_size = t_value.copy(), t_size.copy()
            trial[j[good]], t_value[j[good]], t_size[j[good]] = (cand[good], c_value[good],
                                                                  c_size[good])
            todo[j[good]] = False
            scale[j[~good]] /= 2
        mb[idx], value[idx], size[idx] = trial, t_value, t_size
        converged[idx] = np.abs(t_value) <= 1e-13 * t_size
    return mb, converged


def _kappa_complex(pop, z, kap_start):
    """κ = 1/m̲ at Im z > 0.

    1. Newton from the boundary value at Re z (inside the support: m̲(x + i0); outside:
       the real m̲(x) plus iη·dm̲/dz, which is > 0 there).
    2. Where that fails (e.g. at an edge, where dF/dm̲ = 0): continuation in η from
       far above the support (m̲ ≈ −1/z there) down to Im z, halving η per stage.
    3. Last resort: the fixed-point iteration m̲ ← 1/(−z + (1/N)Σλ/(1+λm̲)), which
       converges for every Im z > 0 (slowly near the axis).
    """
    lam = pop.vals
    eta = z.imag
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inside = kap_start.imag < 0
        mb_real = np.where(kap_start != 0, 1 / np.where(kap_start != 0, kap_start, 1), np.nan)
        slope = -1 / (-1 / mb_real.real**2
                      + pop.sum_(lam**2 / (1 + lam * mb_real.real[..., None]) ** 2))
        outside_start = mb_real.real + 1j * eta * slope
        mb = np.where(inside, mb_real, outside_start)
        bad = ~(np.isfinite(mb) & (mb.imag > 0))
        mb = np.where(bad, -1 / z, mb)
        far = -1 / z  # the better start of the two, by relative residual
        v_mb, s_mb = _companion_F(pop, z, mb)
        v_far, s_far = _companion_F(pop, z, far)
        mb = np.where(np.abs(v_far) / s_far < np.abs(v_mb) / s_mb, far, mb)
        mb, ok = _companion_newton(pop, z, mb, 30)
        if not ok.all():
            idx = np.nonzero(~ok)[0]
            zr, zi = z[idx].real, z[idx].imag
            top = 4 * (lam[0] * (1 + np.sqrt(pop.q)) ** 2 + np.abs(zr) + 1)
            stages = int(np.ceil(np.log2(np.max(top / zi)))) if np.any(top > zi) else 0
            cur = -1 / (zr + 1j * np.maximum(top, zi))
            for k in range(stages, -1, -1):
                zk = zr + 1j * np.maximum(zi, zi * 2.0**k)
                zk = np.where(zi * 2.0**k > top, zr + 1j * top, zk) if k == stages else zk
                cur, _ = _companion_newton(pop, zk, cur, 8)
            cur, ok_c = _companion_newton(pop, z[idx], cur, 60)
            mb[idx] = cur
            ok[idx] = ok_c
        if not ok.all():
            idx = np.nonzero(~ok)[0]
            mbs, zs = mb[idx], z[idx]
            for _ in range(20000):
                new = 1 / (-zs + pop.sum_(lam / (1 + lam * mbs[..., None])))
                if np.all(np.abs(new - mbs) <= 1e-15 * np.abs(new)):
                    mbs = new
                    break
                mbs = new
            mb[idx] = mbs
            value, size = _companion_F(pop, zs, mbs)
            failed = ~(np.abs(value) <= 1e-10 * size)
            if failed.any():
                bad_z, bad_res = zs[failed][0], np.abs(value[failed][0])
                raise ArithmeticError(f"Silverstein's equation not solved at z = {bad_z!r} "
                                      f"(residual {bad_res:.2g})")
    return 1 / mb


def spectral_density(x, lam, N, *, eta=0.0):
    r"""Density of the continuous part of μ at real x: ρ(x) = (1/π) Im m(x + iη).

    Parameters
    ----------
    x : float or array_like
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1
    eta : float, ≥ 0
        η = 0 (default) is the limit η → 0⁺, evaluated exactly on the real axis:
        ρ = Im m̲(x + i0)/(πq) = √t/(πq|κ|²), zero outside the support; it excludes the
        atom 1 − 1/q at x = 0 for q > 1 (see :func:`lsd_quadrature`).  η > 0 gives the
        Cauchy-smoothed density, including the atom's Lorentzian.

    Returns
    -------
    float or ndarray
    """
    pop = _Population(lam, N)
    eta = check_nonnegative(eta, "eta")
    xx = np.asarray(x, dtype=float)
    if not np.isfinite(xx).all():
        raise ValueError("x must be finite reals")
    if eta > 0:
        out = stieltjes(xx + 1j * eta, lam, N).imag / np.pi
    else:
        kap = _kappa_real_axis(pop, xx.ravel())
        inside = kap.imag < 0  # κ = 0 (x = 0, q ≤ 1) is outside the support
        safe = np.where(inside, kap, 1.0)
        out = np.where(inside, -safe.imag / np.abs(safe) ** 2 / (np.pi * pop.q), 0.0)
        out = out.reshape(xx.shape)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------
# overlaps (Ledoit–Péché)


def _overlap_matrix(pop, x, kap):
    """d·E|⟨u(x), v_j⟩|² = qλ_j|κ|²/(x|λ_j+κ|²), shape (len(x), #distinct λ)."""
    return (pop.q * pop.vals * (np.abs(kap) ** 2)[:, None]
            / (x[:, None] * np.abs(pop.vals + kap[:, None]) ** 2))


def overlap(x, lam, N):
    r"""Ledoit–Péché: E|⟨u, v_j⟩|² for a sample eigenvector u with eigenvalue x > 0.

    .. math:: E|\langle u, v_j\rangle|^2 = \frac1d\,\frac{q\lambda_j}
              {x\,|1 + \lambda_j\underline m(x + i0)|^2}
              \quad(:func:`theory.proportional.overlap_density`)

    Parameters
    ----------
    x : float or array_like, > 0
        Points in the support of μ (outside it the formula is evaluated at the real
        κ there: an analytic continuation, not an overlap).
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1

    Returns
    -------
    ndarray, shape (len(x), d)
        Column j belongs to lam[j] (original order).  Each row sums to 1 on the
        support (completeness), up to rounding.
    """
    pop = _Population(lam, N)
    xx = np.atleast_1d(np.asarray(x, dtype=float))
    if not (np.isfinite(xx) & (xx > 0)).all():
        raise ValueError("x must be finite reals > 0")
    kap = _kappa_real_axis(pop, xx)
    table = _overlap_matrix(pop, xx, kap) / pop.d
    index = {v: i for i, v in enumerate(pop.vals)}
    return table[:, [index[v] for v in pop.lam]]


def null_space_weights(lam, N):
    r"""v_jᵀP₀v_j ≈ κ₀/(λ_j + κ₀) for the projector P₀ on the null space of Σ̂.

    (:func:`theory.proportional.null_space_weight`).  Zeros for q ≤ 1.  They sum to
    d − N for q > 1.
    """
    pop = _Population(lam, N)
    k0 = _kappa0(pop)
    return k0 / (pop.lam + k0)


def sample_direction_variance(x, lam, N):
    r"""E[uᵀΣu] along a sample eigenvector with eigenvalue x: |κ(x + i0)|²/x.

    The Ledoit–Péché shrinkage target (:func:`theory.proportional.sample_direction_variance`);
    valid for x > 0 in the support.
    """
    pop = _Population(lam, N)
    xx = np.asarray(x, dtype=float)
    if not (np.isfinite(xx) & (xx > 0)).all():
        raise ValueError("x must be finite reals > 0")
    kap = _kappa_real_axis(pop, xx.ravel())
    out = (np.abs(kap) ** 2 / xx.ravel()).reshape(xx.shape)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------------
# KL and losses


def _kl_terms(r):
    """r − 1 − log r for r ≥ 0 (+inf at r = 0): twice :func:`numerics.kl.kl_terms`."""
    return 2.0 * kl_terms(r)


def deterministic_kl(lam, N, f, *, direction="forward", nodes=_NODES, reference=None,
                     rule=None):
    r"""Deterministic equivalent of E[KL] between N(0, U f(Λ̂) Uᵀ) and N(0, V g(Λ) Vᵀ).

    g = f (the infinite-data optimum of the same model) unless ``reference`` is given.

    In the two eigenbases, with O_ij = |⟨u_i, v_j⟩|² (rows and columns sum to 1),

    .. math:: \mathrm{KL}_{\rm fwd} = \tfrac12\sum_{i,j} O_{ij}\,
              k\Big(\frac{f(\hat\lambda_i)}{f(\lambda_j)}\Big),\quad
              \mathrm{KL}_{\rm rev} = \tfrac12\sum_{i,j} O_{ij}\,
              k\Big(\frac{f(\lambda_j)}{f(\hat\lambda_i)}\Big),\quad k(r) = r - 1 - \log r,

    which is DESIGN.md's ½[Tr(B⁻¹A) − d − log det(B⁻¹A)] rewritten with
    Σ_j O_ij = Σ_i O_ij = 1.  Σ_i over the nonzero sample eigenvalues becomes d∫dμ_c and
    O_ij the Ledoit–Péché overlap (:func:`overlap`); for q > 1 the d − N null
    directions have λ̂ = 0 and Σ_{i null} O_ij = κ₀/(λ_j + κ₀).  Total (not per
    dimension).  Error: O(1) against the exact E[KL] at finite d (relative O(1/d)).

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1
    f : callable
        Vectorised transfer, f(array ≥ 0) → array ≥ 0.
    direction : {"forward", "reverse"}
        forward = D(sampling ‖ reference), reverse = D(reference ‖ sampling).
    nodes : int
        Gauss–Legendre nodes per piece.
    reference : callable, optional
        Vectorised g(λ) > 0 of the reference law; default f.
    rule : LSDQuadrature, optional
        A precomputed :func:`lsd_quadrature` of (lam, N) to reuse (``nodes`` is then
        ignored).

    Returns
    -------
    float
        +inf when f(0) = 0 and q > 1 (the sampling covariance is singular: forward has
        −log f(0), reverse has 1/f(0)), or when f vanishes on the support or at a λ_j.

    Examples
    --------
    f = identity, Σ = I, q = 1/2: ½[1 + ((1−q)/q) log(1−q)] per dimension
    (:func:`theory.proportional.isotropic_identity_kl`):

    >>> import numpy as np
    >>> kl = deterministic_kl(np.ones(100), 200, lambda x: x)
    >>> bool(abs(kl / 100 - 0.5 * (1 + np.log(0.5))) < 1e-10)
    True
    """
    check_choice(direction, "direction", ("forward", "reverse"))
    pop = _Population(lam, N)
    if rule is None:
        rule = _rule_for(pop, nodes)
    elif rule.d != pop.d or rule.N != pop.N:
        raise ValueError(f"rule must be built for d = {pop.d}, N = {pop.N}, "
                         f"got d = {rule.d}, N = {rule.N}")
    return _kl_from_rule(pop, rule, f, direction, reference)


def _kl_from_rule(pop, rule, f, direction, reference=None):
    f_pop = np.asarray((f if reference is None else reference)(pop.vals), dtype=float)
    f_hat = np.asarray(f(rule.x), dtype=float)
    if (f_pop <= 0).any() or not np.isfinite(f_pop).all():
        return float("inf")
    if (f_hat <= 0).any() or not np.isfinite(f_hat).all():
        return float("inf")
    ratio = f_hat[:, None] / f_pop[None, :]
    if direction == "reverse":
        ratio = 1.0 / ratio
    O = _overlap_matrix(pop, rule.x, rule.kappa) * pop.mult / pop.d  # rows sum to 1
    bulk = pop.d * np.sum(rule.weight * np.sum(O * _kl_terms(ratio), axis=1))
    total = bulk
    if pop.q > 1:
        f0 = float(np.asarray(f(np.zeros(1)), dtype=float)[0])
        if not f0 > 0:
            return float("inf")
        weights0 = rule.kappa0 / (pop.vals + rule.kappa0) * pop.mult
        ratio0 = f0 / f_pop if direction == "forward" else f_pop / f0
        total += np.sum(weights0 * _kl_terms(ratio0))
    return float(0.5 * total)


def proportional_kl(lam, N, *, c=0.0, tau=None, T=1000, direction="forward",
                    nodes=_NODES):
    r"""Deterministic equivalent of E[KL] for the trained linear DDPM (total, nats).

    KL between the sampling law N(0, U f(Λ̂) Uᵀ) and the infinite-data optimum
    N(0, f(Σ)), f = :func:`numerics.transfer.transfer_function` (DESIGN.md's linear
    schedule with ``T`` steps, ridge ``c``, training time ``tau``), evaluated by
    :func:`deterministic_kl`.  f is read from the cached, build-verified table
    :func:`numerics.transfer.transfer_interpolant` (relative error ≤ 1e-10; exact
    recursion at 0 and outside its range), the one the Monte Carlo engine uses.

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
        Population spectrum (e.g. :func:`numerics.spectra.power_law_spectrum`).
    N : int, ≥ 1
    c : float, ≥ 0
    tau : float ≥ 0 or None
    T : int, ≥ 1
    direction : {"forward", "reverse"}

    Returns
    -------
    float
        Total E[KL] (divide by d for per dimension).  +inf for N < d with c = 0 and
        τ = ∞ (``tau=None``): then f(0) = 0 exactly (the last DDPM step removes all
        noise from a direction of zero variance), the sampling law is singular on the
        null space of Σ̂ and both directions diverge.  Finite for c > 0 or τ < ∞.

    Notes
    -----
    Regime: d, N large at fixed q = d/N; the error against the exact E[KL] is O(1)
    (relative O(1/d)), measured in tests/test_proportional.py.  Cost: one quadrature
    (~0.1 s at d = 400, cached by (λ, N)) plus f at the nodes.
    """
    check_choice(direction, "direction", ("forward", "reverse"))
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    T = check_count(T, "T")
    pop = _Population(lam, N)
    rule = _rule_for(pop, nodes)

    return _kl_from_rule(pop, rule, transfer_interpolant(c=c, tau=tau, T=T), direction)


def proportional_losses(lam, N, t, *, c=0.0, tau=None, T=1000, nodes=_NODES):
    r"""Deterministic equivalents of the expected train and test denoising loss.

    With ℓ(w; m₂) = :func:`theory.model.noise_averaged_loss` and w_t(λ̂) the trained
    denoiser (:func:`numerics.denoiser.denoiser_eigenvalues`):

    .. math:: L_{\rm train,t} = d\!\int\!\ell(w_t(x); x)\,d\mu_c(x) + (d-N)_+\,\ell(w_t(0); 0),

    .. math:: L_{\rm test,t} = d\!\int\!\ell(w_t(x); s(x))\,d\mu_c(x)
              + (d-N)_+\,\ell(w_t(0); \bar s_0),

    s(x) = |κ(x + i0)|²/x = E[uᵀΣu] (:func:`sample_direction_variance`) and
    s̄₀ = Σ_j λ_jκ₀/(λ_j + κ₀)/(d − N) the mean population variance along a null
    direction.  ℓ is affine in m₂, so the expected overlaps enter exactly through s.

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
    N : int, ≥ 1
    t : int in 1..T, array_like of such ints, or "sum"
        Step(s).  "sum" sums over t = 1..T (DESIGN.md's totals).
    c, tau, T : as in :func:`proportional_kl`

    Returns
    -------
    dict
        {"train": ..., "test": ...}: totals over the d directions (floats, or arrays
        matching ``t``).  Finite for every c ≥ 0, τ.
    """
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    T = check_count(T, "T")
    schedule = linear_schedule(T)
    summed = isinstance(t, str) and t == "sum"
    if summed:
        steps = np.arange(1, T + 1)
    else:
        steps = np.asarray(t) if not isinstance(t, str) else np.asarray(0.5)
        if steps.dtype.kind not in "iu" or (steps < 1).any() or (steps > T).any():
            raise ValueError(f"t must be an integer in [1, T={T}], an array of such "
                             f"integers, or 'sum', got {t!r}")
    pop = _Population(lam, N)
    rule = _rule_for(pop, nodes)
    ab = schedule.alpha_bar[steps - 1][..., None]
    omab = schedule.one_minus_alpha_bar[steps - 1][..., None]
    loss = compiled_loss()
    x = rule.x
    s = np.abs(rule.kappa) ** 2 / x
    w_bulk = denoiser_eigenvalues(x, omab, c=c, tau=tau)
    train = pop.d * np.sum(rule.weight * loss(w_bulk, x, ab), axis=-1)
    test = pop.d * np.sum(rule.weight * loss(w_bulk, s, ab), axis=-1)
    if pop.q > 1:
        n_null = pop.d - pop.N
        s0 = np.sum(pop.mult * pop.vals * rule.kappa0 / (pop.vals + rule.kappa0)) / n_null
        w0 = denoiser_eigenvalues(np.zeros(1), omab, c=c, tau=tau)[..., 0]
        train = train + n_null * loss(w0, 0.0, ab[..., 0])
        test = test + n_null * loss(w0, s0, ab[..., 0])
    if summed:
        return {"train": float(np.sum(train)), "test": float(np.sum(test))}
    if steps.ndim == 0:
        return {"train": float(train), "test": float(test)}
    return {"train": train, "test": test}
