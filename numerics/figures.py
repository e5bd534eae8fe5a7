r"""The figures of the notebook walkthroughs, ``ldv figures`` and the claim plots (issue 7).

Every figure is a pair: ``*_data(...)`` computes the numbers by calls into
:mod:`theory` and :mod:`numerics` (theory curves and seeded Monte Carlo), and
``*_figure(...)`` draws them on a :class:`matplotlib.figure.Figure` (no pyplot state)
and returns it.  Sizes default to ``None``, meaning "the default budget", or the small
``quick`` budget (seconds, for tests and ``ldv figures --quick``); explicit values win.
Notebooks call ``quick=quick_mode()``, which reads ``$LDV_NOTEBOOK_QUICK``.

Contents
--------
quick_mode                               is ``$LDV_NOTEBOOK_QUICK`` set (tests, CI)?
transfer_data, transfer_figure           01: f(λ)/λ of the default schedule, ridge, τ, T → ∞
kl_vs_n_data, kl_vs_n_figure             02: E[KL]/d vs N/d, Monte Carlo over theory
leading_coefficient_data, leading_coefficient_figure
                                         02: a₁/(d(d+1)/4) vs d, and the elasticity of f
losses_vs_q_data, losses_vs_q_figure     03: train/test loss and gap vs q = d/N
regularisation_data, regularisation_figure  03: test loss vs ridge c and stopping time τ
optimal_data, optimal_figure             03: c*, τ* vs q, with the null-space predictions
spectrum_figure, real_data_figure        04: the digits (:mod:`numerics.realdata`)
real_data_budget                         04: the (Ns, n_datasets) of a budget
write_figures                            the key figures as PNG files (``ldv figures``)
claim_plots                              one plot per claim group of a verify Report
add_figures_parser                       the ``figures`` subcommand for the CLI

Conventions: KL values and losses are plotted **per dimension** (÷ d); losses are
summed over the T steps unless a step is given; every Monte Carlo draw has its own
``SeedSequence([seed, crc32(label)…])``.
"""

import os
import warnings
import zlib

import numpy as np

from .asymptotics import (expected_kl_identity, expected_kl_series_value, leading_coefficient,
                          transfer_elasticity)
from .kl import transfer_kl
from .losses import loss_statistic
from .montecarlo import estimate, spectral_values
from .proportional import proportional_kl, proportional_losses
from .schedule import linear_schedule
from .spectra import power_law_spectrum
from .transfer import (continuous_alpha_bar_T, continuous_transfer_function,
                       transfer_function, transfer_interpolant)
from .validation import check_count, check_nonnegative, check_tau

__all__ = [
    "QUICK_ENV", "quick_mode", "transfer_data", "transfer_figure", "kl_vs_n_data",
    "kl_vs_n_figure", "leading_coefficient_data", "leading_coefficient_figure",
    "losses_vs_q_data", "losses_vs_q_figure", "regularisation_data",
    "regularisation_figure", "optimal_data", "optimal_figure", "spectrum_figure",
    "real_data_figure", "real_data_budget", "write_figures", "claim_plots", "add_figures_parser",
]

#: environment variable that switches the notebooks to their small budgets
QUICK_ENV = "LDV_NOTEBOOK_QUICK"

_K_COLOURS = {0.0: "C0", 1.0: "C1", 2.0: "C2"}


def quick_mode(environ=None):
    """True when ``$LDV_NOTEBOOK_QUICK`` is "1", "true", "yes" or "on" (any case).

    The test suite sets it to execute the notebooks with small budgets; the notebooks
    pass ``quick=quick_mode()`` to every figure function.

    Examples
    --------
    >>> quick_mode({"LDV_NOTEBOOK_QUICK": "1"}), quick_mode({})
    (True, False)
    """
    value = (os.environ if environ is None else environ).get(QUICK_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def _figure(**kwargs):
    """A new :class:`matplotlib.figure.Figure` (imported here: ``ldv`` starts without it)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _pick(value, default, quick_value, quick):
    """``value`` if given, else the default of the budget."""
    if value is not None:
        return value
    return quick_value if quick else default


def _seed(seed, *labels):
    """SeedSequence of one Monte Carlo run: the root seed and crc32 of each label."""
    return np.random.SeedSequence([int(seed)] + [zlib.crc32(repr(x).encode()) for x in labels])


def _check_seed(seed):
    return check_count(seed, "seed", 0)


def _colour(k):
    return _K_COLOURS.get(float(k), f"C{int(3 + 2 * float(k)) % 10}")


def _model_label(c, tau):
    parts = [f"c = {c:g}" if c else "c = 0"]
    parts.append("τ = ∞" if tau is None else f"τ = {tau:g}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------
# 01: the transfer


def transfer_data(*, c_values=(0.0, 0.01, 0.1), tau_values=(5.0,), T=1000, beta_min=1e-4,
                  beta_max=1e-2, lam_range=(1e-4, 1e3), points=None, quick=False):
    r"""f(λ)/λ of the trained DDPM for several ridges c (τ = ∞) and training times τ (c = 0).

    Parameters
    ----------
    c_values : sequence of float ≥ 0
    tau_values : sequence of float ≥ 0
        Early-stopped models (c = 0).
    T, beta_min, beta_max : the linear schedule (DESIGN.md's default)
    lam_range : (float, float), 0 < lo < hi
    points : int ≥ 2, optional
        Grid size (default 400, quick 60).
    quick : bool

    Returns
    -------
    dict
        ``lam``; ``ratio``: {label: f(λ)/λ}; ``continuous``: f_∞(λ)/λ of
        :func:`numerics.transfer.continuous_transfer_function` at the VP-SDE's ᾱ_T;
        ``alpha_bar_T`` (the discrete schedule's).
    """
    points = check_count(_pick(points, 400, 60, quick), "points", 2)
    lo, hi = (float(x) for x in lam_range)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise ValueError(f"lam_range must be (lo, hi) with 0 < lo < hi, got {lam_range!r}")
    lam = np.geomspace(lo, hi, points)
    schedule = dict(T=T, beta_min=beta_min, beta_max=beta_max)
    ratio = {}
    for c in c_values:
        ratio[_model_label(c, None)] = transfer_function(lam, c=c, **schedule) / lam
    for tau in tau_values:
        ratio[_model_label(0.0, tau)] = transfer_function(lam, tau=tau, **schedule) / lam
    ab_T = continuous_alpha_bar_T(T, beta_min, beta_max)
    return {"lam": lam, "ratio": ratio,
            "continuous": continuous_transfer_function(lam, ab_T) / lam,
            "alpha_bar_T": float(linear_schedule(T, beta_min, beta_max).alpha_bar[-1])}


def transfer_figure(data=None, **kwargs):
    """Figure 01: f(λ)/λ against λ (log-log), the T → ∞ limit dashed, 1/ᾱ_T marked.

    ``data`` is :func:`transfer_data` output; otherwise ``kwargs`` are passed to it.
    One axes; one line per model, the continuous limit, and the reference f = λ.
    """
    data = transfer_data(**kwargs) if data is None else data
    fig = _figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for label, values in data["ratio"].items():
        ax.loglog(data["lam"], values, label=label)
    ax.loglog(data["lam"], data["continuous"], "k--", lw=1, label="T → ∞ limit (c = 0)")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="f(λ) = λ")
    ax.axvline(1 / data["alpha_bar_T"], color="grey", lw=0.8, ls="-.")
    ax.text(1 / data["alpha_bar_T"], ax.get_ylim()[0] * 1.5, " 1/ᾱ_T", color="grey")
    ax.set_xlabel("eigenvalue λ of Σ̂")
    ax.set_ylabel("f(λ)/λ  (sampling variance / data variance)")
    ax.set_title("Spectral transfer of the trained linear DDPM (T = 1000)")
    ax.legend(fontsize=8)
    return _tidy(fig)


# ---------------------------------------------------------------------------------
# 02: the regime N ≫ d


def _ns_for(d, ratios):
    Ns = sorted({max(d, int(round(r * d))) for r in ratios})
    return np.array(Ns)


def kl_vs_n_data(*, ds=None, ks=(0.0, 1.0, 2.0), ratios=None, n_datasets=None, seed=0,
                 c=0.0, tau=None, T=1000, curve_points=None, quick=False):
    r"""E[KL]/d against N/d: Monte Carlo (engine) and theory, for f = identity and the DDPM.

    For each d and spectrum λ_ν ∝ ν^(−k), forward KL D(sampling ‖ reference) per dimension:

    * f = identity (sampling N(0, Σ̂) vs N(0, Σ)): Monte Carlo, the exact digamma
      formula (:func:`numerics.asymptotics.expected_kl_identity`; the same for every
      spectrum) and its K = 1, 2, 3-term series in 1/N;
    * the trained DDPM (c, τ, T) vs its infinite-data optimum: Monte Carlo, a₁/N
      (:func:`numerics.asymptotics.leading_coefficient`) and the deterministic
      equivalent (:func:`numerics.proportional.proportional_kl`).

    Parameters
    ----------
    ds : sequence of int ≥ 1 (default (5, 20), quick (4,))
    ks : sequence of float ≥ 0
    ratios : sequence of float ≥ 1 (N/d; default 1.5 … 128, quick (2, 8, 32))
    n_datasets : int ≥ 2 (default 400, quick 40)
    seed : int ≥ 0
    c, tau, T : the DDPM model
    curve_points : int ≥ 2 (default 40, quick 8)
    quick : bool

    Returns
    -------
    dict {d: {...}} with ``N`` (Monte Carlo points), ``identity`` and ``ddpm``:
    {k: (mean, stderr)} arrays; ``N_curve``, ``exact``, ``series`` {K: array},
    ``a1`` {k: float (total)}, ``de`` {k: array}, all per dimension except ``a1``.
    """
    ds = _pick(ds, (5, 20), (4,), quick)
    ratios = _pick(ratios, (1.5, 2, 4, 8, 16, 32, 64, 128), (2, 8, 32), quick)
    n_datasets = check_count(_pick(n_datasets, 400, 40, quick), "n_datasets", 2)
    curve_points = check_count(_pick(curve_points, 40, 8, quick), "curve_points", 2)
    seed = _check_seed(seed)
    if min(ratios) < 1:
        raise ValueError(f"ratios must be >= 1 (N >= d: the forward KL is finite), got {ratios!r}")
    model = dict(c=check_nonnegative(c, "c"), tau=check_tau(tau), T=T)
    f = transfer_interpolant(**model)
    out = {}
    for d in ds:
        d = check_count(d, "ds")
        Ns = _ns_for(d, ratios)
        N_curve = np.unique(np.geomspace(Ns[0], Ns[-1], curve_points).round().astype(int))
        entry = {"N": Ns, "N_curve": N_curve, "identity": {}, "ddpm": {}, "a1": {}, "de": {}}
        entry["exact"] = np.array([float(expected_kl_identity(d, int(N))) for N in N_curve]) / d
        entry["series"] = {K: np.array([float(expected_kl_series_value(d, int(N), K))
                                        for N in N_curve]) / d for K in (1, 2, 3)}
        for k in ks:
            lam = power_law_spectrum(d, k)
            f_opt = f(lam)

            def identity(e, U, lam=lam):
                return transfer_kl(e, U, lam, "forward") / d

            def ddpm(e, U, f_opt=f_opt):
                return transfer_kl(f(e), U, f_opt, "forward") / d

            for name, statistic in (("identity", identity), ("ddpm", ddpm)):
                values = [estimate(spectral_values(statistic, lam, int(N), n_datasets=n_datasets,
                                                   seed=_seed(seed, "kl", name, d, k, int(N))))
                          for N in Ns]
                entry[name][k] = (np.array([v.mean for v in values]),
                                  np.array([v.stderr for v in values]))
            entry["a1"][k] = leading_coefficient(lam, **model)
            entry["de"][k] = np.array([proportional_kl(lam, int(N), **model)
                                       for N in N_curve]) / d
        out[d] = entry
    return out


_MARKERS = ("o", "s", "^", "D", "v")


def kl_vs_n_figure(data=None, **kwargs):
    """Figure 02a: E[KL]/d vs N/d (log-log), 2 rows (f = identity, DDPM) × one column per d.

    Row 1: Monte Carlo points for every spectrum (they coincide: E[KL] is independent
    of Σ for f = identity), the exact curve, the 1-, 2-, 3-term series and the
    d/(4N)-per-dimension line.  Row 2: the DDPM's Monte Carlo points with the a₁/N lines
    (solid) and deterministic equivalents (dotted) per spectrum, and d/(4N).
    """
    data = kl_vs_n_data(**kwargs) if data is None else data
    ds = list(data)
    fig = _figure(figsize=(4.6 * len(ds), 7.6), layout="constrained")
    axes = fig.subplots(2, len(ds), squeeze=False)
    for j, d in enumerate(ds):
        e = data[d]
        r, rc = e["N"] / d, e["N_curve"] / d
        top, bottom = axes[0, j], axes[1, j]
        for i, (k, (m, s)) in enumerate(e["identity"].items()):
            top.errorbar(r, m, s, fmt=_MARKERS[i % 5], ms=4, color=_colour(k), ls="none",
                         label=f"Monte Carlo, k = {k:g}")
        top.plot(rc, e["exact"], "k-", lw=1.5, label="exact (digamma)")
        for K, ls in zip((1, 2, 3), ("--", "-.", ":")):
            top.plot(rc, e["series"][K], color="C3", ls=ls, lw=1, label=f"{K}-term series")
        for k, (m, s) in e["ddpm"].items():
            bottom.errorbar(r, m, s, fmt="o", ms=4, color=_colour(k), ls="none",
                            label=f"Monte Carlo, k = {k:g}")
            bottom.plot(rc, e["a1"][k] / (d * e["N_curve"]), color=_colour(k), lw=1.2,
                        label=f"a₁/N, k = {k:g}")
            bottom.plot(rc, e["de"][k], color=_colour(k), lw=1, ls=":")
        for ax, title in ((top, f"f = identity, d = {d}"), (bottom, f"trained DDPM, d = {d} "
                                                                   "(dotted: det. equivalent)")):
            ax.plot(rc, 1 / (4 * rc), color="grey", lw=0.8, ls="--", label="d/(4N) per dim.")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("N/d")
            ax.set_ylabel("E[KL]/d  (nats per dimension)")
            ax.set_title(title, fontsize=10)
            ax.legend(fontsize=7)
    return _tidy(fig)


def leading_coefficient_data(*, ds=None, ks=(0.0, 1.0, 2.0), models=None, T=1000,
                             lam_range=(1e-4, 1e3), points=None, quick=False):
    r"""a₁/(d(d+1)/4) against d per spectrum and model, and the elasticity of each f.

    a₁/(d(d+1)/4) = 1 is "independent of the data" (f homogeneous linear); the elasticity
    e(λ) = d log f/d log λ (:func:`numerics.asymptotics.transfer_elasticity`) shows
    where f departs from linear (e ≠ 1).

    Parameters
    ----------
    ds : sequence of int ≥ 1 (default 2 … 200, quick (2, 5, 10))
    ks : sequence of float ≥ 0
    models : sequence of (c, tau) (default ((0, None), (0.1, None), (0, 5.0)))
    T : int
    lam_range : (float, float)
    points : int ≥ 2 (elasticity grid; default 200, quick 40)
    quick : bool

    Returns
    -------
    dict with ``ds``, ``ratio`` {(c, tau, k): array over ds}, ``lam``, ``elasticity``
    {(c, tau): array}.
    """
    ds = np.array(_pick(ds, (2, 5, 10, 20, 50, 100, 200), (2, 5, 10), quick))
    models = _pick(models, ((0.0, None), (0.1, None), (0.0, 5.0)),
                   ((0.0, None), (0.1, None), (0.0, 5.0)), quick)
    points = check_count(_pick(points, 200, 40, quick), "points", 2)
    lam = np.geomspace(*lam_range, points)
    ratio, elasticity = {}, {}
    for c, tau in models:
        for k in ks:
            ratio[(c, tau, k)] = np.array([
                leading_coefficient(power_law_spectrum(int(d), k), c=c, tau=tau, T=T)
                / (d * (d + 1) / 4) for d in ds])
        elasticity[(c, tau)] = transfer_elasticity(lam, c=c, tau=tau, T=T)
    return {"ds": ds, "ratio": ratio, "lam": lam, "elasticity": elasticity}


def leading_coefficient_figure(data=None, **kwargs):
    """Figure 02b: where "independent of the data" fails.  Two axes: a₁/(d(d+1)/4) vs d
    (colour = spectrum k, line style = model) and the elasticity e(λ) per model."""
    data = leading_coefficient_data(**kwargs) if data is None else data
    fig = _figure(figsize=(10, 4.2), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    styles = ("-", "--", ":", "-.")
    models = list(data["elasticity"])
    for (c, tau, k), values in data["ratio"].items():
        ls = styles[models.index((c, tau)) % 4]
        ax.semilogx(data["ds"], values, color=_colour(k), ls=ls, marker="o", ms=3,
                    label=f"k = {k:g}, {_model_label(c, tau)}")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("dimension d")
    ax.set_ylabel("a₁ / (d(d+1)/4)")
    ax.set_title("Leading coefficient of E[KL] = a₁/N vs the data-free value", fontsize=10)
    ax.legend(fontsize=7)
    for i, (c, tau) in enumerate(models):
        ax2.semilogx(data["lam"], data["elasticity"][(c, tau)], ls=styles[i % 4], color="k",
                     label=_model_label(c, tau))
    ax2.axhline(1.0, color="grey", lw=0.8)
    ax2.set_xlabel("eigenvalue λ")
    ax2.set_ylabel("elasticity  λ f′(λ)/f(λ)")
    ax2.set_title("f is locally linear (e = 1) only in a window of λ", fontsize=10)
    ax2.legend(fontsize=8)
    return _tidy(fig)


# ---------------------------------------------------------------------------------
# 03: the proportional regime, N < d


def _q_grid(d, q_range, points):
    lo, hi = (float(x) for x in q_range)
    if not 0 < lo < hi:
        raise ValueError(f"q_range must be (lo, hi) with 0 < lo < hi, got {q_range!r}")
    Ns = np.unique(np.round(d / np.geomspace(lo, hi, points)).astype(int))
    Ns = Ns[Ns >= 1]
    return Ns[::-1]  # ascending q


def losses_vs_q_data(*, d=None, ks=(0.0, 1.0, 2.0), q_range=(0.1, 10.0), curve_points=None,
                     mc_qs=None, t="sum", c=0.0, tau=None, T=1000, n_datasets=None, seed=0,
                     quick=False):
    r"""Train and test loss per dimension against q = d/N: deterministic equivalents
    (:func:`numerics.proportional.proportional_losses`) and Monte Carlo (engine, the
    derived per-direction losses of :func:`numerics.losses.loss_statistic`).

    Parameters
    ----------
    d : int ≥ 2 (default 100, quick 30)
    ks : sequence of float ≥ 0
    q_range : (float, float)
    curve_points : int (default 30, quick 8)
    mc_qs : sequence of float > 0 (default (0.1, 0.3, 0.5, 2, 3, 10), quick (0.3, 3))
    t : "sum" or int in 1..T
    c, tau, T : the trained model
    n_datasets : int ≥ 2 (default 20, quick 4)
    seed : int ≥ 0
    quick : bool

    Returns
    -------
    dict {k: {"q", "train", "test", "gap" (curves), "q_mc", "mc": {"train", "test",
    "gap"}: (mean, stderr)}}, per dimension, and ``d``.
    """
    d = check_count(_pick(d, 100, 30, quick), "d", 2)
    curve_points = check_count(_pick(curve_points, 30, 8, quick), "curve_points", 2)
    mc_qs = _pick(mc_qs, (0.1, 0.3, 0.5, 2.0, 3.0, 10.0), (0.3, 3.0), quick)
    n_datasets = check_count(_pick(n_datasets, 20, 4, quick), "n_datasets", 2)
    seed = _check_seed(seed)
    model = dict(c=check_nonnegative(c, "c"), tau=check_tau(tau), T=T)
    Ns = _q_grid(d, q_range, curve_points)
    N_mc = [max(1, int(round(d / float(q)))) for q in mc_qs]
    out = {"d": d}
    for k in ks:
        lam = power_law_spectrum(d, k)
        curves = [proportional_losses(lam, int(N), t, **model) for N in Ns]
        train = np.array([L["train"] for L in curves]) / d
        test = np.array([L["test"] for L in curves]) / d
        statistic = loss_statistic(lam, t, control=False, **model)

        def per_dim(e, U, statistic=statistic):
            L = statistic(e, U)
            return np.column_stack([L, L[:, 1] - L[:, 0]]) / d

        mc = [estimate(spectral_values(per_dim, lam, N, n_datasets=n_datasets,
                                       seed=_seed(seed, "losses", d, k, N, t)))
              for N in N_mc]
        means = np.array([m for m, _ in mc])
        errors = np.array([s for _, s in mc])
        out[k] = {"q": d / Ns, "train": train, "test": test, "gap": test - train,
                  "q_mc": d / np.array(N_mc, dtype=float),
                  "mc": {key: (means[:, j], errors[:, j])
                         for j, key in enumerate(("train", "test", "gap"))}}
    return out


def losses_vs_q_figure(data=None, **kwargs):
    """Figure 03a: one axes per spectrum k with E[L_train]/d and E[L_test]/d vs q
    (log-log; curves: deterministic equivalents, points: Monte Carlo), and a last axes
    with the gap (test − train)/d for every k."""
    data = losses_vs_q_data(**kwargs) if data is None else data
    ks = [k for k in data if k != "d"]
    fig = _figure(figsize=(3.6 * (len(ks) + 1), 3.9), layout="constrained")
    axes = fig.subplots(1, len(ks) + 1, squeeze=False)[0]
    for ax, k in zip(axes, ks):
        e = data[k]
        for key, colour in (("train", "C0"), ("test", "C3")):
            ax.plot(e["q"], e[key], color=colour, label=f"{key} (det. equivalent)")
            m, s = e["mc"][key]
            ax.errorbar(e["q_mc"], m, s, fmt="o", ms=4, color=colour, ls="none",
                        label=f"{key} (Monte Carlo)")
        ax.set_title(f"k = {k:g}, d = {data['d']}", fontsize=10)
        ax.set_ylabel("loss / d (summed over t)")
    gap_ax = axes[-1]
    for k in ks:
        e = data[k]
        gap_ax.plot(e["q"], e["gap"], color=_colour(k), label=f"k = {k:g}")
        m, s = e["mc"]["gap"]
        gap_ax.errorbar(e["q_mc"], m, s, fmt="o", ms=4, color=_colour(k), ls="none")
    gap_ax.set_title("gap: test − train", fontsize=10)
    gap_ax.set_ylabel("gap / d")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("q = d/N")
        ax.legend(fontsize=7)
    return _tidy(fig)


def regularisation_data(*, d=None, k=1.0, qs=None, c_range=(1e-3, 10.0), tau_range=(0.1, 1e3),
                        points=None, mc_points=None, T=1000, n_datasets=None, seed=0,
                        quick=False):
    r"""Excess test loss (L_test − L(Σ))/d, summed over t, against the ridge c (τ = ∞)
    and against the gradient-flow time τ (c = 0), with the optima c*, τ*.

    L(Σ) is the test loss of the infinite-data minimiser
    (:func:`numerics.scaling.population_test_loss`), the floor of every model, so the
    excess is ≥ 0.  Curves: deterministic equivalents; c*, τ* by
    :func:`numerics.scaling.optimal_ridge` / :func:`numerics.scaling.optimal_stopping`;
    points: Monte Carlo at ``mc_points`` values of c and τ.

    Parameters
    ----------
    d : int ≥ 2 (default 100, quick 30)
    k : float ≥ 0
    qs : sequence of float > 0 (default (0.5, 2, 5), quick (0.5, 3))
    c_range, tau_range : (float, float)
    points : int (curve points; default 25, quick 6)
    mc_points : int ≥ 0 (default 4, quick 2)
    T, n_datasets (default 20, quick 4), seed, quick

    Returns
    -------
    dict {q: {"N", "c", "test_c", "tau", "test_tau", "c_star", "at_c_star", "tau_star",
    "at_tau_star", "at_zero" (c = 0, τ = ∞), "mc_c", "mc_test_c", "mc_tau", "mc_test_tau"}}
    and ``d``, ``k``; all losses per dimension.
    """
    from .scaling import optimal_ridge, optimal_stopping, population_test_loss

    d = check_count(_pick(d, 100, 30, quick), "d", 2)
    qs = _pick(qs, (0.5, 2.0, 5.0), (0.5, 3.0), quick)
    points = check_count(_pick(points, 25, 6, quick), "points", 2)
    mc_points = check_count(_pick(mc_points, 4, 2, quick), "mc_points", 0)
    n_datasets = check_count(_pick(n_datasets, 20, 4, quick), "n_datasets", 2)
    seed = _check_seed(seed)
    lam = power_law_spectrum(d, k)
    floor = population_test_loss(lam, T=T)
    cs = np.geomspace(*c_range, points)
    taus = np.geomspace(*tau_range, points)
    mc_cs = np.geomspace(*c_range, mc_points) if mc_points else np.array([])
    mc_taus = np.geomspace(*tau_range, mc_points) if mc_points else np.array([])

    def excess(N, c=0.0, tau=None):
        return (proportional_losses(lam, N, "sum", c=c, tau=tau, T=T)["test"] - floor) / d

    def mc_excess(N, c=0.0, tau=None):
        statistic = loss_statistic(lam, "sum", c=c, tau=tau, T=T, control=False)
        values = spectral_values(lambda e, U: (statistic(e, U)[:, 1] - floor) / d, lam, N,
                                 n_datasets=n_datasets, seed=_seed(seed, "reg", d, k, N, c, tau))
        return estimate(values)

    out = {"d": d, "k": float(k)}
    for q in qs:
        N = max(1, int(round(d / float(q))))
        c_opt = optimal_ridge(lam, N, T=T)
        tau_opt = optimal_stopping(lam, N, T=T)
        mc_c = [mc_excess(N, c=c) for c in mc_cs]
        mc_tau = [mc_excess(N, tau=tau) for tau in mc_taus]
        out[float(q)] = {
            "N": N, "c": cs, "test_c": np.array([excess(N, c=c) for c in cs]),
            "tau": taus, "test_tau": np.array([excess(N, tau=tau) for tau in taus]),
            "c_star": c_opt.argmin, "at_c_star": (c_opt.value - floor) / d,
            "tau_star": tau_opt.argmin, "at_tau_star": (tau_opt.value - floor) / d,
            "at_zero": excess(N),
            "mc_c": mc_cs, "mc_test_c": (np.array([m.mean for m in mc_c]),
                                         np.array([m.stderr for m in mc_c])),
            "mc_tau": mc_taus, "mc_test_tau": (np.array([m.mean for m in mc_tau]),
                                               np.array([m.stderr for m in mc_tau])),
        }
    return out


def regularisation_figure(data=None, **kwargs):
    """Figure 03b: two axes, excess test loss per dimension vs c and vs τ (log-log), one
    colour per q; stars at c*, τ*; dotted lines at the unregularised value (c = 0, τ = ∞);
    Monte Carlo points with error bars."""
    data = regularisation_data(**kwargs) if data is None else data
    fig = _figure(figsize=(10, 4.2), layout="constrained")
    ax_c, ax_t = fig.subplots(1, 2)
    qs = [q for q in data if q not in ("d", "k")]
    for i, q in enumerate(qs):
        e = data[q]
        colour = f"C{i}"
        for ax, x, y, star, at, mx, (mm, ms) in (
                (ax_c, e["c"], e["test_c"], e["c_star"], e["at_c_star"], e["mc_c"],
                 e["mc_test_c"]),
                (ax_t, e["tau"], e["test_tau"], e["tau_star"], e["at_tau_star"], e["mc_tau"],
                 e["mc_test_tau"])):
            ax.plot(x, y, color=colour, label=f"q = {q:g} (N = {e['N']})")
            ax.axhline(e["at_zero"], color=colour, lw=0.8, ls=":")
            if np.isfinite(star) and star > 0:
                ax.plot([star], [at], marker="*", ms=12, color=colour, ls="none")
            if len(mx):
                ax.errorbar(mx, mm, ms, fmt="o", ms=4, color=colour, ls="none")
    ax_c.set_xlabel("ridge c  (τ = ∞)")
    ax_t.set_xlabel("gradient-flow time τ  (c = 0)")
    for ax in (ax_c, ax_t):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("(L_test − L(Σ)) / d, summed over t")
        ax.legend(fontsize=8)
    fig.suptitle(f"Ridge and early stopping, k = {data['k']:g}, d = {data['d']} "
                 "(★ optimum, dotted: c = 0, τ = ∞)", fontsize=10)
    return _tidy(fig)


def optimal_data(*, d=None, ks=(0.0, 1.0, 2.0), qs=None, T=1000, quick=False):
    r"""The optimal ridge c* and stopping time τ* (test loss summed over t) against q.

    Parameters
    ----------
    d : int ≥ 2 (default 100, quick 30)
    ks : sequence of float ≥ 0
    qs : sequence of float > 0 (default 0.2 … 10, quick (0.5, 2, 8))
    T : int
    quick : bool

    Returns
    -------
    list of dict (a table for :func:`numerics.scaling.format_table`): k, q, N, c*, τ*,
    and for q > 1 the null-space predictions c_null, tau_null
    (:func:`numerics.scaling.null_space_ridge`, :func:`numerics.scaling.null_space_stopping`;
    nan for q ≤ 1); c* = 0 and τ* = inf where the unregularised model is best.
    """
    from .scaling import null_space_ridge, null_space_stopping, optimal_ridge, optimal_stopping

    d = check_count(_pick(d, 100, 30, quick), "d", 2)
    qs = _pick(qs, (0.2, 0.5, 0.8, 1.5, 2.0, 3.0, 5.0, 10.0), (0.5, 2.0, 8.0), quick)
    rows = []
    for k in ks:
        lam = power_law_spectrum(d, k)
        for q in qs:
            N = max(1, int(round(d / float(q))))
            row = {"k": float(k), "q": d / N, "N": N,
                   "c*": optimal_ridge(lam, N, T=T).argmin,
                   "tau*": optimal_stopping(lam, N, T=T).argmin,
                   "c_null": null_space_ridge(lam, N, T=T) if N < d else float("nan"),
                   "tau_null": null_space_stopping(lam, N, T=T) if N < d else float("nan")}
            rows.append(row)
    return rows


def optimal_figure(data=None, **kwargs):
    """Figure 03c: c* and τ* against q (log-log), one colour per k; null-space predictions
    (q > 1) dashed.  Boundary optima (c* = 0, τ* = ∞) are left out of the log axes."""
    rows = optimal_data(**kwargs) if data is None else data
    fig = _figure(figsize=(10, 4.2), layout="constrained")
    ax_c, ax_t = fig.subplots(1, 2)
    for k in sorted({r["k"] for r in rows}):
        sub = [r for r in rows if r["k"] == k]
        q = np.array([r["q"] for r in sub])
        for ax, key, null in ((ax_c, "c*", "c_null"), (ax_t, "tau*", "tau_null")):
            y = np.array([r[key] for r in sub], dtype=float)
            y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
            ax.plot(q, y, "o-", color=_colour(k), label=f"k = {k:g}")
            ax.plot(q, [r[null] for r in sub], "--", color=_colour(k), lw=1)
    for ax, name in ((ax_c, "optimal ridge c*"), (ax_t, "optimal stopping time τ*")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("q = d/N")
        ax.set_ylabel(name)
        ax.legend(fontsize=8, title="dashed: null-space prediction", title_fontsize=7)
    return _tidy(fig)


# ---------------------------------------------------------------------------------
# 04: real data


def spectrum_figure(data=None, *, ranks=None, min_fraction=0.05):
    """Figure 04a: the digits' covariance spectrum by rank (log-log) with the fitted
    power law λ_ν ≈ Cν^(−k) over ``ranks`` (:func:`numerics.realdata.power_law_fit`).

    ``data`` is a :class:`numerics.realdata.DigitsData` (default: loaded with
    ``min_fraction``).  One axes: the eigenvalues, the fitted line, and the power law
    :func:`numerics.spectra.power_law_spectrum` with the fitted k.
    """
    from .realdata import load_digits_data, power_law_fit

    data = load_digits_data(min_fraction) if data is None else data
    fit = power_law_fit(data.lam, ranks)
    nu = np.arange(1, data.d + 1)
    fig = _figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.loglog(nu, data.lam, "o", ms=4, label=f"digits covariance (d = {data.d})")
    first, last = (1, fit.n) if ranks is None else ranks
    span = np.arange(first, last + 1)
    ax.loglog(span, fit.prefactor * span ** fit.exponent, "k-", lw=1.2,
              label=f"fit ranks {first}–{last}: k = {-fit.exponent:.2f} ± {fit.stderr:.2f}")
    ax.loglog(nu, power_law_spectrum(data.d, -fit.exponent), color="grey", ls="--", lw=1,
              label="power_law_spectrum(d, k) (Tr = d)")
    ax.set_xlabel("rank ν")
    ax.set_ylabel("eigenvalue λ_ν (Tr Σ = d)")
    ax.set_title(f"sklearn digits: {data.zero_variance} zero-variance and {data.rare} rare "
                 "pixels dropped", fontsize=10)
    ax.legend(fontsize=8)
    return _tidy(fig)


def real_data_figure(result=None, **kwargs):
    """Figure 04b: real digits vs the Gaussian theory with the same covariance, against N.

    ``result`` is :func:`numerics.realdata.real_data_deviation` output (else ``kwargs``
    are passed to it).  Three axes: E[KL]/d (real and Gaussian Monte Carlo, a₁/N,
    deterministic equivalent); the excess losses per dimension (train deficit
    L(Σ) − L_train and test excess L_test − L(Σ), real and Gaussian, with B/N); and the
    ratios real/Gaussian with error bars.
    """
    from .realdata import real_data_deviation

    result = real_data_deviation(**kwargs) if result is None else result
    rows = result["rows"]
    N = np.array([r["N"] for r in rows], dtype=float)
    col = lambda key: np.array([r[key] for r in rows], dtype=float)  # noqa: E731
    fig = _figure(figsize=(13, 4.2), layout="constrained")
    ax_kl, ax_loss, ax_ratio = fig.subplots(1, 3)
    ax_kl.errorbar(N, col("kl_real"), col("kl_real_se"), fmt="o", color="C3", ls="none",
                   label="real digits")
    ax_kl.errorbar(N * 1.04, col("kl_gauss"), col("kl_gauss_se"), fmt="s", mfc="none",
                   color="C0", ls="none", label="Gaussian, same Σ")
    N_line = np.geomspace(N.min(), N.max(), 50)
    ax_kl.plot(N_line, result["a1"] / (result["d"] * N_line), "k-", lw=1, label="a₁/N")
    ax_kl.plot(N, col("kl_de"), "k:", lw=1, label="det. equivalent")
    ax_kl.set_ylabel("E[KL(sampling ‖ optimum)]/d")
    for key, sign, colour in (("train", -1, "C0"), ("test", 1, "C3")):
        name = "L(Σ) − L_train" if key == "train" else "L_test − L(Σ)"
        ax_loss.errorbar(N, sign * col(f"{key}_real"), col(f"{key}_real_se"), fmt="o",
                         color=colour, ls="none", label=f"{name}, real")
        ax_loss.errorbar(N * 1.04, sign * col(f"{key}_gauss"), col(f"{key}_gauss_se"),
                         fmt="s", mfc="none", color=colour, ls="none",
                         label=f"{name}, Gaussian")
        ax_loss.plot(N, sign * col(f"{key}_B"), color=colour, lw=1,
                     ls="-" if key == "test" else "--", label=f"{name}, ±B/N")
    ax_loss.set_ylabel("excess loss / d (summed over t)")
    for i, key in enumerate(("kl", "train", "test", "gap")):
        ax_ratio.errorbar(N * (1 + 0.03 * i), col(f"{key}_ratio"), col(f"{key}_ratio_se"),
                          fmt="o-", ms=4, label=key)
    ax_ratio.axhline(1.0, color="grey", lw=0.8)
    ax_ratio.set_ylabel("real / Gaussian")
    for ax in (ax_kl, ax_loss, ax_ratio):
        ax.set_xscale("log")
        ax.set_xlabel("training-set size N")
        ax.legend(fontsize=7)
    ax_kl.set_yscale("log")
    ax_loss.set_yscale("log")
    fig.suptitle(f"Digits (d = {result['d']}, {result['n_images']} images) vs Gaussian theory",
                 fontsize=10)
    return _tidy(fig)


# ---------------------------------------------------------------------------------
# files: ldv figures, claim plots


def _tidy(fig):
    """No labels on minor ticks of log axes (they overlap within a decade)."""
    from matplotlib.ticker import NullFormatter

    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_minor_formatter(NullFormatter())
    return fig


def _save(fig, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # render with Agg whatever the session's backend
    fig.savefig(path, dpi=110)
    return path


def _out_dir(out_dir, name="out_dir"):
    path = os.fspath(out_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name} must be a directory, got the file {path!r}")
    os.makedirs(path, exist_ok=True)
    return path


def _have_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def write_figures(out_dir, quick=False, *, seed=0):
    """Write the notebooks' key figures as PNG files (what ``ldv figures`` does).

    Parameters
    ----------
    out_dir : path
        Created if missing.
    quick : bool
        Small budgets (seconds instead of minutes).
    seed : int ≥ 0
        Root seed of every Monte Carlo run.

    Returns
    -------
    list of str
        The paths written, in notebook order.  The two real-data figures (04_*) need
        scikit-learn (the ``data`` extra); without it they are skipped with a warning.
    """
    out_dir = _out_dir(out_dir)
    seed = _check_seed(seed)
    jobs = [
        ("01_transfer.png", lambda: transfer_figure(quick=quick)),
        ("02_kl_vs_n.png", lambda: kl_vs_n_figure(quick=quick, seed=seed)),
        ("02_leading_coefficient.png", lambda: leading_coefficient_figure(quick=quick)),
        ("03_losses_vs_q.png", lambda: losses_vs_q_figure(quick=quick, seed=seed)),
        ("03_regularisation.png", lambda: regularisation_figure(quick=quick, seed=seed)),
        ("03_optimal.png", lambda: optimal_figure(quick=quick)),
    ]
    if _have_sklearn():
        jobs += [("04_spectrum.png", lambda: spectrum_figure()),
                 ("04_real_vs_gaussian.png", lambda: real_data_figure(
                     **real_data_budget(quick), seed=seed))]
    else:
        warnings.warn("scikit-learn is not installed: skipping the real-data figures 04_* "
                      "(pip install 'linear-diffusion-verifier[data]')", stacklevel=2)
    return [_save(make(), os.path.join(out_dir, name)) for name, make in jobs]


def real_data_budget(quick=False):
    """Keyword arguments (Ns, n_datasets) of :func:`numerics.realdata.real_data_deviation`
    that the notebook and ``ldv figures`` use: N = 128 … 2048 with 200 training sets
    each, or N = 128, 512 with 20 when ``quick``."""
    if quick:
        return dict(Ns=(128, 512), n_datasets=20)
    return dict(Ns=(128, 256, 512, 1024, 2048), n_datasets=200)


def _bonferroni_z(level, m):
    """z with two-sided normal tail level/m: Holm's strictest cut for m claims."""
    import mpmath

    return float(mpmath.sqrt(2) * mpmath.erfinv(1 - mpmath.mpf(level) / m))


def claim_plots(report, out_dir):
    """One PNG per claim group (A, B, C, …) of a :class:`numerics.verify.Report`.

    Each figure has two axes over the group's claims: the theory value (black bar) and
    the estimate ± standard error (coloured by verdict; symlog scale, as values range
    over decades and C-claims test relative errors against 0), and the residual z in
    standard errors beyond the claim's floor, with Holm's strictest cut (Bonferroni,
    normal) at the family-wise level.  Exact claims have no standard error: their
    estimate is drawn without error bar and the residual axes says PASS or FAIL.

    Parameters
    ----------
    report : Report or list of dict
        Rows with "id", "group", "kind", "theory", "estimate", "stderr", "z", "verdict".
    out_dir : path

    Returns
    -------
    list of str
        ``claims_<group>.png`` per group present, sorted by group.
    """
    from .verdict import FAMILY_LEVEL

    rows = list(getattr(report, "rows", report))
    required = ("id", "group", "theory", "estimate", "stderr", "z", "verdict")
    for row in rows:
        missing = [key for key in required if key not in row]
        if missing:
            raise ValueError(f"report rows must have keys {required}, got a row without {missing}")
    out_dir = _out_dir(out_dir)
    n_stat = sum(row["z"] is not None for row in rows)
    z_cut = _bonferroni_z(FAMILY_LEVEL, max(n_stat, 1))
    paths = []
    for group in sorted({row["group"] for row in rows}):
        sub = [row for row in rows if row["group"] == group]
        x = np.arange(len(sub))
        fig = _figure(figsize=(max(6.0, 1.1 * len(sub) + 2), 6.4), layout="constrained")
        ax, ax_z = fig.subplots(2, 1, sharex=True)
        magnitudes = [abs(v) for row in sub for v in (row["theory"], row["estimate"], row["stderr"])
                      if v is not None and np.isfinite(v) and v != 0]
        labelled = False
        for i, row in enumerate(sub):
            colour = "C2" if row["verdict"] == "pass" else "C3"
            if row["theory"] is not None and np.isfinite(row["theory"]):
                ax.plot([i], [row["theory"]], marker="_", ms=22, mew=2, color="k", ls="none",
                        label="theory" if i == 0 else None)
            estimate_ok = row["estimate"] is not None and np.isfinite(row["estimate"])
            if row["z"] is not None:
                if estimate_ok:
                    ax.errorbar([i], [row["estimate"]], [row["stderr"] or 0.0], fmt="o",
                                color=colour, capsize=4,
                                label=None if labelled else "estimate ± s.e. (red: fail)")
                    labelled = True
                ax_z.bar([i], [row["z"]], color=colour)
            else:
                if estimate_ok:
                    ax.plot([i], [row["estimate"]], marker="s", color=colour, ls="none")
                ax_z.text(i, 0.2, f"exact:\n{row['verdict'].upper()}", ha="center",
                          va="bottom", fontsize=8, color=colour)
        linthresh = 10.0 ** np.floor(np.log10(min(magnitudes))) if magnitudes else 1.0
        ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
        # in the narrow linear region only 0 is labelled (±linthresh would overlap it)
        ax.set_yticks([y for y in ax.get_yticks() if y == 0 or abs(y) > 1.01 * linthresh])
        ax.set_ylim(*ax.get_ylim())
        ax.set_ylabel("theory (—), estimate ± s.e.")
        ax.legend(fontsize=8, loc="best")
        ax_z.axhline(z_cut, color="grey", ls="--", lw=1,
                     label=f"Holm's strictest cut, level {FAMILY_LEVEL}")
        ax_z.set_ylim(0, max([z_cut * 1.3] + [row["z"] * 1.15 for row in sub
                                              if row["z"] is not None and np.isfinite(row["z"])]))
        ax_z.set_ylabel("|estimate − theory| − floor, in s.e.")
        ax_z.set_xticks(x, [row["id"] for row in sub], rotation=30, ha="right", fontsize=8)
        ax_z.legend(fontsize=8)
        passed = sum(row["verdict"] == "pass" for row in sub)
        fig.suptitle(f"Claims of group {group}: {passed}/{len(sub)} pass", fontsize=11)
        paths.append(_save(fig, os.path.join(out_dir, f"claims_{group}.png")))
    return paths


def _figures_command(args):
    for path in write_figures(args.out, quick=args.quick, seed=args.seed):
        print(path)
    return 0


def add_figures_parser(subparsers):
    """Add ``ldv figures --out DIR [--quick] [--seed S]`` to an argparse subparsers object.

    The handler is stored as ``func`` (the CLI's convention); it prints one written path
    per line and returns 0.  Returns the new parser.
    """
    import argparse

    def seed_type(text):
        value = int(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text}")
        return value

    p = subparsers.add_parser("figures", help="write the notebooks' key figures as PNG files")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--quick", action="store_true", help="small budgets (seconds)")
    p.add_argument("--seed", type=seed_type, default=0, help="root seed (default 0)")
    p.set_defaults(func=_figures_command)
    return p
