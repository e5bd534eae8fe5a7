r"""Draws of the sample covariance Σ̂ of one training set: direct, or Bartlett.

For N i.i.d. draws x_μ ~ N(0, Σ), Σ = O diag(λ) Oᵀ, the known-mean sample covariance
Σ̂ = (1/N) Σ_μ x_μ x_μᵀ has the Wishart law W_d(N, Σ)/N.  Two ways to draw it:

``direct``
    Draw the N × d data matrix and form XᵀX/N: N·d normals and N·d² flops.  Valid for
    every N ≥ 1 (rank min(N, d)).
``bartlett``
    Bartlett's decomposition: W_d(n, I) = A Aᵀ with A lower triangular, independent
    entries A_ii = √χ²_{n−i+1} (i = 1..d) and A_ij ~ N(0, 1) for i > j.  Then
    Σ̂ = L A Aᵀ Lᵀ / N with L = O diag(√λ): d(d+1)/2 random numbers and O(d³) flops,
    **independent of N**.  Needs n ≥ d (a non-singular Wishart matrix).

The centred covariance (mean estimated by the sample mean x̄),
Σ̂_c = (1/N) Σ_μ (x_μ − x̄)(x_μ − x̄)ᵀ, is W_d(N − 1, Σ)/N, independent of
x̄ ~ N(0, Σ/N) (Cochran); ``centred=True`` draws it with n = N − 1 degrees of freedom.

Each dataset has its own child SeedSequence, so dataset ``i`` is the same array
whatever the chunk it is drawn in and whichever process draws it.
"""

import numpy as np

from .validation import check_choice, check_count, check_spectrum

__all__ = ["draw_sample_covariances", "bartlett_factor", "choose_method"]

METHODS = ("auto", "direct", "bartlett")


def choose_method(d, dof, method="auto"):
    """The draw used for ``method``: "auto" is Bartlett whenever it applies (dof ≥ d).

    Bartlett costs O(d³) and direct O(dof·d²) per dataset, so Bartlett is never the
    slower of the two where it is valid.
    """
    check_choice(method, "method", METHODS)
    if method == "auto":
        return "bartlett" if dof >= d else "direct"
    if method == "bartlett" and dof < d:
        raise ValueError(f"method='bartlett' needs N >= d degrees of freedom (a non-singular "
                         f"Wishart matrix), got {dof} < d = {d}; use method='direct'")
    return method


def _bartlett_draws(d, dof, rng):
    """The random entries of one Bartlett factor: (below-diagonal normals, diagonal)."""
    return rng.standard_normal(d * (d - 1) // 2), np.sqrt(rng.chisquare(dof - np.arange(d)))


def bartlett_factor(d, dof, rng):
    """Lower-triangular A with A Aᵀ ~ W_d(dof, I) (Bartlett), for dof ≥ d.

    A_ii = √χ²_{dof−i+1} for i = 1..d, A_ij ~ N(0, 1) for i > j, all independent.
    """
    d = check_count(d, "d")
    dof = check_count(dof, "dof", d)
    return _bartlett_assemble(d, [_bartlett_draws(d, dof, rng)])[0]


def _bartlett_assemble(d, draws):
    """Stack (below-diagonal, diagonal) entry pairs into lower-triangular factors (b, d, d)."""
    A = np.zeros((len(draws), d, d))
    rows, cols = np.tril_indices(d, -1)
    A[:, rows, cols] = [below for below, _ in draws]
    A[:, np.arange(d), np.arange(d)] = [diagonal for _, diagonal in draws]
    return A


def _factors(d, N, dof, seeds, method):
    """The per-dataset random factors, stacked: Bartlett A (b, d, d) or data Z (b, N, d).

    Dataset i is drawn from ``default_rng(seeds[i])`` alone; the per-dataset work is only
    the draws (validation and index arrays are shared by the batch).
    """
    rngs = [np.random.default_rng(s) for s in seeds]
    if method == "bartlett":
        return _bartlett_assemble(d, [_bartlett_draws(d, dof, rng) for rng in rngs])
    Z = np.stack([rng.standard_normal((N, d)) for rng in rngs])  # rows ~ N(0, I)
    if dof < N:  # centred: ZᵀZ − N z̄ z̄ᵀ ~ W_d(N − 1, I)
        Z = Z - Z.mean(axis=1, keepdims=True)
    return Z


def draw_sample_covariances(lam, N, seeds, *, rotation=None, method="auto", centred=False):
    r"""Σ̂ for each child seed: shape (len(seeds), d, d), one batched matmul.

    Parameters
    ----------
    lam : array_like, shape (d,), ≥ 0
        Population eigenvalues; Σ = O diag(λ) Oᵀ.
    N : int, ≥ 1 (≥ 2 when ``centred``)
        Training-set size.
    seeds : sequence of numpy.random.SeedSequence
        One per dataset: dataset i is drawn from ``default_rng(seeds[i])`` alone.
    rotation : ndarray, shape (d, d), optional
        The orthogonal O; None means Σ = diag(λ).
    method : {"auto", "direct", "bartlett"}
        See the module docstring; "auto" uses Bartlett when N (or N − 1) ≥ d.
    centred : bool
        Draw the mean-estimated covariance Σ̂_c ~ W_d(N − 1, Σ)/N instead.

    Returns
    -------
    ndarray, shape (len(seeds), d, d)
        Symmetric sample covariances (divided by N in both cases).
    """
    lam = check_spectrum(lam)
    d = lam.size
    N = check_count(N, "N", 2 if centred else 1)
    dof = N - 1 if centred else N
    method = choose_method(d, dof, method)
    factors = _factors(d, N, dof, seeds, method)
    if method == "bartlett":
        G = factors * np.sqrt(lam)[:, None]           # L A with L = diag(√λ)
        if rotation is not None:
            G = rotation @ G
        S = np.matmul(G, G.transpose(0, 2, 1))
    else:
        G = factors * np.sqrt(lam)                     # rows ~ N(0, diag λ)
        if rotation is not None:
            G = G @ rotation.T
        S = np.matmul(G.transpose(0, 2, 1), G)
    return S / N
