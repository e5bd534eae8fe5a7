"""Train and test loss of the trained denoiser, evaluated from the derived formulas.

L_train,t = Σ_i ℓ(w_t(λ̂_i); λ̂_i) and L_test,t = Σ_i ℓ(w_t(λ̂_i); u_iᵀΣu_i)
(:mod:`theory.losses`), with ℓ(w; m₂) = :func:`theory.model.noise_averaged_loss`
compiled by ``lambdify`` and w_t from :mod:`numerics.denoiser` (overflow-free for any τ).
"""

from functools import lru_cache

import numpy as np
import sympy as sp

from theory.model import noise_averaged_loss
from theory.symbols import alpha_bar, lam, w

from .denoiser import denoiser_eigenvalues
from .tabulate import SpectralTable

__all__ = ["compiled_loss", "step_losses", "summed_losses", "loss_coefficients", "expected_losses",
           "eigenbasis_losses", "loss_statistic"]


@lru_cache(maxsize=None)
def compiled_loss():
    """ℓ(w; m₂, ᾱ) of :func:`theory.model.noise_averaged_loss` as a numpy callable."""
    return sp.lambdify((w, lam, alpha_bar), noise_averaged_loss(lam), "numpy")


def _per_step(sample_cov, population_cov, alpha_bar_t, one_minus_alpha_bar_t, c, tau):
    lam_hat, U = np.linalg.eigh(sample_cov)
    lam_hat = np.clip(lam_hat, 0.0, None)
    s_pop = np.einsum("ji,jk,ki->i", U, population_cov, U)
    ab = np.asarray(alpha_bar_t, dtype=float)[..., None]
    q = np.asarray(one_minus_alpha_bar_t, dtype=float)[..., None]
    wt = denoiser_eigenvalues(lam_hat, q, c=c, tau=tau)
    return compiled_loss()(wt, lam_hat, ab).sum(axis=-1), compiled_loss()(wt, s_pop, ab).sum(axis=-1)


def step_losses(sample_cov, population_cov, alpha_bar_t, *, c=0.0, tau=None):
    """(train, test) loss at one step for the trained W_t of Σ̂ = ``sample_cov``.

    Parameters
    ----------
    sample_cov, population_cov : ndarray, shape (d, d)
    alpha_bar_t : float in (0, 1)
    c : float ≥ 0; tau : float ≥ 0 or None
    """
    train, test = _per_step(sample_cov, population_cov, alpha_bar_t, 1.0 - alpha_bar_t, c, tau)
    return float(train), float(test)


def summed_losses(sample_cov, population_cov, schedule, *, c=0.0, tau=None):
    """(train, test) loss summed over t = 1..T of ``schedule`` (DESIGN.md totals)."""
    train, test = _per_step(sample_cov, population_cov, schedule.alpha_bar,
                            schedule.one_minus_alpha_bar, c, tau)
    return float(train.sum()), float(test.sum())


# --- the regime N ≫ d: expected losses to O(1/N) -----------------------------------

_TABLE_STEPS = 16  # sums over more steps than this are tabulated (numerics.tabulate)
_CLOSE = 1e-3  # pairs closer than this (relative) use the derived Taylor form of P(a, b)
_JET_ORDER = 4


_M, _Q = sp.symbols("m q", positive=True)


@lru_cache(maxsize=None)
def _jet_groups(which, part, kind, n):
    """d^n/dm^n of a loss part as {exponential: factored rational coefficient} (sympy).

    The derived part (:func:`theory.losses.loss_parts`) is rewritten by sympy in
    m = ᾱλ + c and q = 1 − ᾱ (the curvature is k = m + q), factored, and every
    exponential combined into a single e^{−j(m+q)τ}: no term overflows for large τ, and
    differences such as k − q = m, which vanish with λ, are never formed numerically
    (the train loss of the minimiser is m/(m + q), not 1 − q/k).  Each order is derived
    from the previous one only when asked for.
    """
    from theory.losses import loss_parts
    from theory.symbols import c, lam

    if n == 0:
        expr = loss_parts(which, kind)[part].subs(lam, (_M - c) / alpha_bar)
        expr = sp.powsimp(sp.expand(sp.factor(expr.subs(alpha_bar, 1 - _Q))), combine="exp")
        groups = {}  # Σ_key R_key(m)·key, key = a single exponential (or 1)
        for term in sp.Add.make_args(expr):
            key = sp.Mul(*[f for f in sp.Mul.make_args(term) if isinstance(f, sp.exp)])
            groups[key] = groups.get(key, 0) + term / key
    else:  # d/dm (R·e^E) = (R′ + R·E′)·e^E: the groups stay separate
        groups = {key: sp.diff(R, _M) + (R * sp.diff(key.args[0], _M) if key != 1 else 0)
                  for key, R in _jet_groups(which, part, kind, n - 1).items()}
    return {key: sp.factor(R) for key, R in groups.items()}  # factor also cancels


@lru_cache(maxsize=None)
def _jet_function(which, part, kind, n):
    """d^n/dλ^n of a loss part as a numpy callable of (m, q, c, τ); d/dλ = ᾱ d/dm."""
    from theory.symbols import c, tau

    derivative = sp.Add(*(R * key for key, R in _jet_groups(which, part, kind, n).items()))
    return sp.lambdify((_M, _Q, c, tau), (1 - _Q) ** n * derivative, "numpy")


def _jets(which, part, lam, ab, c, tau, orders=_JET_ORDER + 1):
    """The first ``orders`` λ-derivatives (0, 1, …) of a loss part at λ, broadcast with ᾱ."""
    kind = "ridge" if tau is None else "gradient_flow"
    m = ab * lam + c
    q = 1.0 - ab
    tau_value = 0.0 if tau is None else tau
    shape = np.broadcast(m, ab).shape
    jets = [np.broadcast_to(_jet_function(which, part, kind, n)(m, q, c, tau_value), shape)
            for n in range(orders)]
    return jets + [np.zeros(shape)] * (_JET_ORDER + 1 - orders)


@lru_cache(maxsize=None)
def _kernels(weighted):
    from theory.losses import perturbation_kernels
    from theory.perturbation import SYMBOLS_2x2

    K = perturbation_kernels(weighted)
    name = K["function"].__name__
    a, b = SYMBOLS_2x2["a"], SYMBOLS_2x2["b"]
    ja = [sp.Symbol(f"{name}{n}_a") for n in range(_JET_ORDER + 1)]
    jb = [sp.Symbol(f"{name}{n}_b") for n in range(_JET_ORDER + 1)]
    one = lambda e: sp.lambdify((a, *ja), e, "numpy")  # noqa: E731
    return {"first": one(K["first"]), "diag": one(K["diag"]),
            "pair": sp.lambdify((a, b, *ja, *jb), K["pair"], "numpy"),
            "near": [one(e) for e in K["pair_near"]]}


def _second_order(weighted, lam, jets):
    """Σ_i D(λ_i)·2λ_i² + Σ_{i<k} P(λ_i, λ_k)·λ_iλ_k, over a trailing axis of length d.

    ``jets`` are arrays (…, d); leading axes (e.g. steps t) broadcast.
    """
    K = _kernels(weighted)
    diag = K["diag"](lam, *jets) * 2 * lam**2
    a, b = lam[:, None], lam[None, :]
    ja = [j[..., :, None] for j in jets]
    jb = [j[..., None, :] for j in jets]
    gap = b - a
    close = np.abs(gap) <= _CLOSE * np.maximum(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        far = K["pair"](a, b, *ja, *jb)
    near = sum(P(a, *ja) * gap**m for m, P in enumerate(K["near"]))
    pair = np.where(close, near, far) * a * b
    upper = np.triu(np.ones(gap.shape, dtype=bool), 1)
    return diag.sum(axis=-1) + np.where(upper, pair, 0.0).sum(axis=(-2, -1))


def _steps(t, schedule):
    if isinstance(t, str):
        if t != "sum":
            raise ValueError(f"t must be an integer in [1, T] or 'sum', got {t!r}")
        return np.arange(schedule.T)
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= schedule.T:
        raise ValueError(f"t must be an integer in [1, T={schedule.T}] or 'sum', got {t!r}")
    return np.array([t - 1])


def loss_coefficients(lam, t, *, c=0.0, tau=None, T=1000, beta_min=1e-4, beta_max=1e-2):
    r"""B in E[L_t] = L_t(Σ) + B/N + O(N⁻²) for the train and test loss and their gap.

    Regime N ≫ d with d and the spectrum fixed.  From
    :func:`theory.losses.perturbation_kernels` with the derived loss parts
    (:func:`theory.losses.loss_parts`): B_train = S_g, B_test = S_h + ᾱ S_φ^w, where S is
    the pair-kernel sum Σ_i D(λ_i)2λ_i² + Σ_{i<k} P(λ_i, λ_k)λ_iλ_k.  The gap
    E[L_test − L_train] = (B_test − B_train)/N + O(N⁻²): at N = ∞ both losses equal
    L_t(Σ).

    Parameters
    ----------
    lam : array_like, shape (d,), > 0
        Population eigenvalues.
    t : int in [1, T] or "sum"
        One step, or the total over t = 1..T.
    c, tau, T, beta_min, beta_max
        The trained model, as in :func:`numerics.transfer.transfer_function`.

    Returns
    -------
    dict with "train", "test", "gap" (coefficients of 1/N, totals over directions)
    and "population" (L_t(Σ), equal for train and test).
    """
    from .schedule import linear_schedule
    from .validation import check_nonnegative, check_positive_spectrum, check_tau

    lam = check_positive_spectrum(lam)
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    schedule = linear_schedule(T, beta_min, beta_max)
    ab = schedule.alpha_bar[_steps(t, schedule)][:, None]
    # derivatives up to 2 for the diagonal and far pairs; up to 4 only for close pairs
    gap = np.abs(lam[:, None] - lam[None, :])
    close = (gap <= _CLOSE * np.maximum(lam[:, None], lam[None, :]))[np.triu_indices(lam.size, 1)]
    orders = _JET_ORDER + 1 if close.any() else 3
    train_jets = _jets("train", "trace", lam, ab, c, tau, orders)
    h = _jets("test", "trace", lam, ab, c, tau, orders)
    phi = _jets("test", "weighted", lam, ab, c, tau, orders)
    B_train = _second_order(False, lam, train_jets)
    B_test = _second_order(False, lam, h) + ab[:, 0] * _second_order(True, lam, phi)
    population = train_jets[0].sum(axis=-1)
    return {"train": float(B_train.sum()), "test": float(B_test.sum()),
            "gap": float((B_test - B_train).sum()), "population": float(population.sum())}


def expected_losses(lam, N, t, **model):
    """E[L_train], E[L_test] and E[gap] to O(1/N): L_t(Σ) + B/N (see :func:`loss_coefficients`)."""
    from .validation import check_count

    N = check_count(N, "N")
    B = loss_coefficients(lam, t, **model)
    return {"train": B["population"] + B["train"] / N, "test": B["population"] + B["test"] / N,
            "gap": B["gap"] / N}


def loss_statistic(lam, t, *, c=0.0, tau=None, T=1000, beta_min=1e-4, beta_max=1e-2,
                   control=True):
    r"""A Monte Carlo statistic: per-dataset (train, test) loss at step t (or summed).

    Returns ``statistic(eigenvalues, eigenvectors) -> ndarray (b, 2)`` for the engine
    (:func:`numerics.montecarlo.spectral_values`), Σ = diag(λ).  In the eigenbasis,
    L_train = Σ_i g(λ̂_i) and L_test = Σ_i [h(λ̂_i) + ᾱ φ(λ̂_i) s_i] with
    s_i = Σ_j U_ji²λ_j; the parts g, h, φ are the derived
    :func:`theory.losses.loss_parts`.  With ``control``, the first-order term
    Σ_i F(λ_i)(Σ̂_ii − λ_i) of each loss (F from :func:`theory.losses.perturbation_kernels`,
    computed once here) is subtracted: its expectation is exactly 0 (E Σ̂ = Σ), so the
    estimator stays unbiased whatever F is, and with the derived F the O(N^{−1/2})
    fluctuation cancels.
    """
    from .schedule import linear_schedule
    from .validation import check_nonnegative, check_tau

    lam = np.asarray(lam, dtype=float)
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    schedule = linear_schedule(T, beta_min, beta_max)
    ab = schedule.alpha_bar[_steps(t, schedule)][:, None, None]   # (steps, 1, 1)
    if control:
        lam_t = lam[None, None, :]
        Fg = _kernels(False)["first"](lam_t, *_jets("train", "trace", lam_t, ab, c, tau, 2))
        Fh = _kernels(False)["first"](lam_t, *_jets("test", "trace", lam_t, ab, c, tau, 2))
        Fphi = _kernels(True)["first"](lam_t, *_jets("test", "weighted", lam_t, ab, c, tau, 2))
        F_train = np.broadcast_to(Fg, ab.shape[:1] + (1, lam.size)).sum(axis=(0, 1))
        F_test = np.broadcast_to(Fh + ab * Fphi, ab.shape[:1] + (1, lam.size)).sum(axis=(0, 1))

    G, H, Phi = (_summed_part(which, part, ab, c, tau)
                 for which, part in (("train", "trace"), ("test", "trace"), ("test", "weighted")))
    if ab.shape[0] > _TABLE_STEPS:  # a sum over many steps: tabulate its three functions
        G, H, Phi = SpectralTable(G), SpectralTable(H), SpectralTable(Phi)

    def statistic(eigenvalues, eigenvectors):
        P = eigenvectors**2
        s_pop = np.einsum("bji,j->bi", P, lam)
        train = G(eigenvalues).sum(axis=-1)
        test = (H(eigenvalues) + Phi(eigenvalues) * s_pop).sum(axis=-1)
        if control:
            delta = np.einsum("bij,bj->bi", P, eigenvalues) - lam  # Σ̂_ii − λ_i
            train = train - delta @ F_train
            test = test - delta @ F_test
        return np.stack([train, test], axis=-1)
    return statistic


def _summed_part(which, part, ab, c, tau):
    """x ↦ Σ_t part_t(x) (times ᾱ_t for the weighted part), summed over the steps in ``ab``."""
    weight = ab if part == "weighted" else 1.0

    def function(x):
        x = np.asarray(x, dtype=float)
        out = np.zeros(x.shape)
        for start in range(0, ab.shape[0], 64):  # bounded memory: 64 steps at a time
            a = ab[start:start + 64].reshape((-1,) + (1,) * x.ndim)
            w = weight[start:start + 64].reshape(a.shape) if part == "weighted" else 1.0
            out += (w * _jets(which, part, x[None], a, c, tau, 1)[0]).sum(axis=0)
        return out
    return function


def eigenbasis_losses(eigenvalues, eigenvectors, lam, t, **model):
    """(train, test) losses of a batch of datasets: ``loss_statistic(lam, t, **model)(…)``."""
    return loss_statistic(lam, t, **model)(eigenvalues, eigenvectors)
