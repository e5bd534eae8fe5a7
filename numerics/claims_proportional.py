"""Group C claims: the proportional regime d, N → ∞ at q = d/N (DESIGN.md, section C).

C1.isotropic-closed-form  the Marchenko–Pastur equivalent of E[KL]/d for f = identity
                          equals the derived ½[1 + ((1−q)/q) log(1−q)], and the exact
                          Wishart value converges to it like 1/d
C2.proportional-kl        deterministic-equivalent E[KL] (forward, reverse) of the trained
                          DDPM = Monte Carlo, the relative error vanishing like 1/d
C3.proportional-losses    deterministic-equivalent E[train], E[test] losses = Monte Carlo,
                          likewise

Verdict rule of C2 and C3, fixed in advance: the deterministic equivalent is exact only
as d → ∞; at finite d its relative error is O(1/d) (linear spectral statistics carry an
O(1) bias in totals that are O(d)).  So the relative error r_d = (MC − DE)/DE is
measured at several d (same q and spectrum shape), r_d = r_∞ + a/d is fitted by
weighted least squares (:func:`numerics.extrapolation.extrapolate` in the variable d),
and r_∞ is z-tested against 0.  The finite-d error itself is reported, not allowed for.
"""

import numpy as np

from theory.proportional import isotropic_identity_kl
from theory.proportional import q as q_symbol

from .asymptotics import expected_kl_identity
from .claims import Outcome, claim, statistical_outcome
from .extrapolation import extrapolate
from .kl import kl_statistic
from .losses import loss_statistic
from .montecarlo import estimate, spectral_values
from .proportional import deterministic_kl, proportional_kl, proportional_losses
from .spectra import power_law_spectrum
from .transfer import transfer_interpolant

__all__ = []


def _model(q, params):
    """Ridge c for q > 1 (finite KL; c = 0 would give inf there), none for q < 1."""
    return dict(c=params["c_above"] if q > 1 else 0.0, tau=None, T=params["T"])


@claim("C1.isotropic-closed-form",
       "E[KL]/d for f = identity, Sigma = I -> 1/2[1 + ((1-q)/q) log(1-q)] (q < 1), error ~ 1/d",
       regime="d, N -> infinity at q = d/N < 1 (exact arithmetic)", group="C",
       params=dict(q=[0.25, 0.5, 0.75], d=[120, 240, 480, 960], dps=30), cost=0.8)
def _isotropic(seed, params):
    # rule fixed in advance: (i) the quadrature equivalent equals the sympy closed form to
    # 1e-9 relative (quadrature accuracy ~1e-12); (ii) the exact Wishart E[KL]/d minus the
    # closed form falls like d^-1: least-squares slope over d within 0.05 of −1 (the
    # next-order term shifts it by O(1/d) ≤ 0.01 here)
    closed = isotropic_identity_kl()
    worst_quad, slopes = 0.0, []
    for q in params["q"]:
        limit = float(closed.subs(q_symbol, q))
        d0 = params["d"][0]
        quad = deterministic_kl(np.ones(d0), int(round(d0 / q)), lambda x: x) / d0
        worst_quad = max(worst_quad, abs(quad / limit - 1))
        errors = [abs(float(expected_kl_identity(d, int(round(d / q)), dps=params["dps"])) / d
                      - limit) for d in params["d"]]
        slopes.append(float(np.polyfit(np.log(params["d"]), np.log(errors), 1)[0]))
    worst = int(np.argmax(np.abs(np.array(slopes) + 1)))
    passed = worst_quad <= 1e-9 and all(abs(s + 1) <= 0.05 for s in slopes)
    return Outcome("exact", params, -1.0, slopes[worst], passed=passed,
                   note=f"max quadrature rel. error {worst_quad:.1e}; slopes "
                        + ", ".join(f"q={q}: {s:.3f}" for q, s in zip(params["q"], slopes)))


def _relative_errors(values_of, theory_of, params, seed):
    """Fit r_d = r_∞ + a/d per entry; returns (r_∞, s.e.), errors at each d, theory at d0."""
    cases = [(q, k) for q in params["q"] for k in params["k"]]
    seeds = iter(seed.spawn(len(cases) * len(params["d"])))
    limits, stderrs, table = [], [], []
    for q, k in cases:
        rel, rel_se = [], []
        for d in params["d"]:
            lam = power_law_spectrum(d, k)
            N = int(round(d / q))
            theory = np.asarray(theory_of(lam, N, q), dtype=float)
            mean, se = estimate(values_of(lam, N, q, next(seeds)))
            rel.append((mean - theory) / theory)
            rel_se.append(se / np.abs(theory))
        rel, rel_se = np.array(rel), np.array(rel_se)      # (len(d), entries)
        for j in range(rel.shape[1]):
            fit = extrapolate(params["d"], rel[:, j], rel_se[:, j], terms=2)
            limits.append(fit.limit)
            stderrs.append(fit.stderr)
        table.append((q, k, rel))
    return limits, stderrs, table


def _table_note(table, labels, ds):
    worst = max(table, key=lambda row: np.max(np.abs(row[2][0])))
    q, k, rel = worst
    return (f"worst finite-d rel. error (q={q}, k={k}): " + "; ".join(
        f"{lab}: " + ", ".join(f"d={d} {100 * r:+.2f}%" for d, r in zip(ds, rel[:, j]))
        for j, lab in enumerate(labels)))


@claim("C2.proportional-kl",
       "deterministic-equivalent E[KL] (Silverstein + Ledoit-Peche) = E[KL] of the trained DDPM",
       regime="d, N -> infinity at q = d/N; q < 1 (c = 0) and q > 1 (c > 0)", group="C",
       params=dict(q=[0.25, 0.5, 2.0, 4.0], k=[0.0, 1.0, 2.0], d=[100, 200], c_above=0.1,
                   T=1000, datasets=100),
       quick=dict(d=[50, 100], datasets=60),
       full=dict(d=[100, 200, 400]), cost=1.9)
def _proportional_kl(seed, params):
    def values(lam, N, q, s):
        f = transfer_interpolant(**_model(q, params))
        return spectral_values(kl_statistic(f, f(lam)), lam, N, n_datasets=params["datasets"],
                               seed=s)

    def theory(lam, N, q):
        return [proportional_kl(lam, N, direction=dr, **_model(q, params))
                for dr in ("forward", "reverse")]

    limits, se, table = _relative_errors(values, theory, params, seed)
    return statistical_outcome(params, np.zeros(len(limits)), limits, se,
                               note=_table_note(table, ("fwd", "rev"), params["d"]))


@claim("C3.proportional-losses",
       "deterministic-equivalent E[L_train], E[L_test] (per step and summed) = Monte Carlo",
       regime="d, N -> infinity at q = d/N, both sides of q = 1", group="C",
       params=dict(q=[0.25, 0.5, 2.0, 4.0], k=[0.0, 1.0, 2.0], d=[100, 200], t=[100, "sum"],
                   c_above=0.1, T=1000, datasets=100),
       quick=dict(d=[50, 100], datasets=50),
       full=dict(d=[100, 200, 400]), cost=1.2)
def _proportional_losses(seed, params):
    def values(lam, N, q, s):
        model = _model(q, params)
        stats = [loss_statistic(lam, t, control=False, **model) for t in params["t"]]
        stat = lambda e, U: np.concatenate([st(e, U) for st in stats], axis=1)  # noqa: E731
        return spectral_values(stat, lam, N, n_datasets=params["datasets"], seed=s)

    def theory(lam, N, q):
        out = []
        for t in params["t"]:
            L = proportional_losses(lam, N, t, **_model(q, params))
            out += [L["train"], L["test"]]
        return out

    limits, se, table = _relative_errors(values, theory, params, seed)
    labels = [f"{w} t={t}" for t in params["t"] for w in ("train", "test")]
    return statistical_outcome(params, np.zeros(len(limits)), limits, se,
                               note=_table_note(table, labels, params["d"]))


@claim("C4.missing-variance-exponent",
       "variance missing from the training set V = N kappa0 ~ (I_k^k/zeta(k)) d N^(1-k) for k > 1",
       regime="N < d, d -> infinity first, then N large; power law k > 1", group="C",
       params=dict(d=4000, k=[1.5, 2.0, 3.0], N=[20, 400], points=12), cost=0.6)
def _missing_variance_exponent(seed, params):
    # rule fixed in advance: the least-squares slope of log V(N) (deterministic equivalent
    # κ₀, no Monte Carlo) over N = 20..400 at d = 4000 lies within the derived first-order
    # deviation of the local exponent from 1 − k (k/(2N) and the spectrum's end at d,
    # theory.scaling.steep_local_exponent), maximised over the range
    import sympy as sp

    from theory import scaling as TS

    from .scaling import fit_exponent, missing_variance

    deviation = sp.lambdify((TS.N, TS.d, TS.k), TS.steep_local_exponent()[1], "numpy")
    exponent = TS.steep_asymptotics()["exponent"]
    Ns = np.unique(np.geomspace(*params["N"], params["points"]).round().astype(int))
    rows = []
    for k in params["k"]:
        lam = power_law_spectrum(params["d"], k)
        fit = fit_exponent(Ns, [missing_variance(lam, int(n)) for n in Ns])
        allowance = float(np.abs(deviation(Ns.astype(float), params["d"], k)).max())
        rows.append((k, float(exponent.subs(TS.k, k)), fit.exponent, allowance))
    worst = max(rows, key=lambda r: abs(r[2] - r[1]) / r[3])
    passed = all(abs(s - e) <= a for _, e, s, a in rows)
    return Outcome("exact", params, worst[1], worst[2], passed=passed, floor=worst[3],
                   note="; ".join(f"k={k}: slope {s:.4f} vs {e:.2f} (allow {a:.3f})"
                                  for k, e, s, a in rows))


def _optimum_shift(seed, params, knob):
    """Δ_d = (MC parabola argmin) − (equivalent's parabola argmin) in log knob, fitted in d."""
    from .proportional import proportional_losses
    from .scaling import optimal_ridge, optimal_stopping

    shifts, stderrs, notes = [], [], []
    for d, s in zip(params["d"], seed.spawn(len(params["d"]))):
        lam = power_law_spectrum(d, params["k"])
        N = int(round(d / params["q"]))
        best = (optimal_ridge if knob == "c" else optimal_stopping)(lam, N).argmin
        grid = best * params["ratio"] ** np.arange(-params["grid"], params["grid"] + 1)
        stats = [loss_statistic(lam, "sum", control=False, **{knob: float(g)}) for g in grid]
        values = spectral_values(
            lambda e, U: np.stack([st(e, U)[:, 1] for st in stats], axis=1),  # noqa: B023
            lam, N, n_datasets=params["datasets"], seed=s)
        x = np.log(grid / best)

        def argmin(rows):
            a, b, _ = np.polyfit(x, rows.mean(axis=0), 2)  # noqa: B023
            return -b / (2 * a)
        groups = np.array_split(np.arange(params["datasets"]), params["groups"])
        leave_out = np.array([argmin(np.delete(values, g, axis=0)) for g in groups])
        G = len(groups)
        theory = argmin(np.array([[proportional_losses(lam, N, "sum", **{knob: float(g)})["test"]
                                   for g in grid]]))
        shifts.append(argmin(values) - theory)
        stderrs.append(float(np.sqrt((G - 1) / G * np.sum((leave_out - leave_out.mean()) ** 2))))
        notes.append(f"d={d}: {knob}*_det {best:.4g}, {knob}*_MC {best * np.exp(argmin(values)):.4g}")
    fit = extrapolate(params["d"], shifts, stderrs, terms=2)
    return statistical_outcome(params, 0.0, fit.limit, fit.stderr, note="; ".join(notes))


# Verdict rule of C5 and C6, fixed in advance: at each d the test loss (summed over t) is
# estimated on one common set of datasets at knob = knob*·r^j, j = −3..3; a parabola in
# log knob through the means gives the Monte Carlo argmin, its standard error from a
# jackknife over groups of datasets.  The same parabola through the deterministic-
# equivalent losses on the same grid gives the theory's value (the parabola is itself
# biased by ~1% on an asymmetric minimum, identically for both).  The equivalent is exact
# only as d → ∞, so the difference Δ_d = r_∞ + a/d is fitted over d and r_∞ z-tested
# against 0.
_OPTIMUM_BUDGETS = dict(
    params=dict(d=[100, 200], q=2.0, k=1.0, ratio=1.25, grid=3, datasets=200, groups=20),
    quick=dict(d=[50, 100], datasets=100),
    full=dict(d=[100, 200, 400]))


@claim("C5.optimal-ridge",
       "the deterministic-equivalent optimal ridge c* minimises the Monte Carlo test loss",
       regime="N < d (q = 2), d -> infinity; power-law spectrum, test loss summed over t",
       group="C",
       **_OPTIMUM_BUDGETS, cost=1.0)
def _optimal_ridge(seed, params):
    return _optimum_shift(seed, params, "c")


@claim("C6.optimal-stopping",
       "the deterministic-equivalent optimal training time tau* minimises the Monte Carlo test loss",
       regime="N < d (q = 2), d -> infinity; power-law spectrum, c = 0, test loss summed over t",
       group="C",
       **_OPTIMUM_BUDGETS, cost=2.2)
def _optimal_stopping(seed, params):
    return _optimum_shift(seed, params, "tau")
