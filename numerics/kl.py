"""Gaussian Kullback–Leibler divergence, in the log domain.

    D(N(0, A) ‖ N(0, B)) = ½ [Tr(B⁻¹A) − d − log det(B⁻¹A)] = ½ Σ_i (μ_i − 1 − log μ_i),

μ_i the eigenvalues of B^{−1/2} A B^{−1/2} (equivalently of L⁻¹AL⁻ᵀ, B = LLᵀ).  Each term
is evaluated as x − log1p(x) with x = μ − 1, so nothing is exponentiated and no
determinant is formed: no overflow, and near-equal covariances keep their digits.
"""

import numpy as np

from .validation import check_choice, check_spectrum, check_symmetric_psd

__all__ = ["gaussian_kl", "kl_terms", "kl_commuting", "transfer_kl", "kl_statistic"]


def kl_terms(ratio):
    """½(μ − 1 − log μ) elementwise, for μ ≥ 0; +inf where μ = 0.

    log μ is taken as log1p(μ − 1) near μ = 1 (no cancellation) and as log μ elsewhere
    (μ − 1 rounds to −1 for μ < 1e-16, where log1p would give −inf).
    """
    mu = np.asarray(ratio, dtype=float)
    x = mu - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mu = np.where(np.abs(x) < 0.5, np.log1p(x), np.log(mu))
        return np.where(mu > 0, 0.5 * (x - log_mu), np.inf)


def kl_commuting(a, b, axis=-1):
    """D(N(0,A) ‖ N(0,B)) for A, B diagonal in one basis, from their eigenvalues.

    Parameters
    ----------
    a : array_like, ≥ 0
        Eigenvalues of A (zeros give +inf: A is singular where B is not).
    b : array_like, > 0
        Eigenvalues of B, paired with ``a`` along ``axis``.
    """
    a = check_spectrum(a, "a")
    b = check_spectrum(b, "b")
    if (b <= 0).any():
        raise ValueError("b must be > 0 (the reference covariance must be non-singular)")
    return kl_terms(a / b).sum(axis=axis)


def gaussian_kl(A, B):
    """D(N(0, A) ‖ N(0, B)) for symmetric matrices, A positive semi-definite, B definite.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Covariance of the first Gaussian; a singular A gives +inf.
    B : array_like, shape (d, d)
        Covariance of the reference Gaussian; must be positive definite.

    Returns
    -------
    float
        The divergence in nats (total, not per dimension).

    Examples
    --------
    Scaling the covariance by s costs d(s − 1 − log s)/2:

    >>> import numpy as np
    >>> bool(np.isclose(gaussian_kl(2 * np.eye(3), np.eye(3)), 1.5 * (1 - np.log(2))))
    True
    """
    A, eig_a = check_symmetric_psd(A, "A")
    B, _ = check_symmetric_psd(B, "B", definite=True)
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {A.shape} and {B.shape}")
    if eig_a[0] == 0.0:
        return float("inf")
    L = np.linalg.cholesky(B)
    M = np.linalg.solve(L, np.linalg.solve(L, A).T)
    mu = np.linalg.eigvalsh((M + M.T) / 2)
    return float(kl_terms(np.maximum(mu, 0.0)).sum())


def transfer_kl(f_hat, eigenvectors, f_opt, direction="forward"):
    r"""KL between N(0, U diag(f̂) Uᵀ) and N(0, diag(f_opt)), batched, in the eigenbasis.

    With P_ij = U_ij² (overlap of population direction i with sample direction j):

        forward  D(sampling ‖ optimum) = ½ Σ_ij P_ij (f̂_j/f_i − 1) − ½ Σ_j log f̂_j + ½ Σ_i log f_i
        reverse  D(optimum ‖ sampling) = ½ Σ_ij P_ij (f_i/f̂_j − 1) + ½ Σ_j log f̂_j − ½ Σ_i log f_i

    using Σ_ij P_ij = d.  O(d²) per dataset; no determinant is formed.  A zero f̂_j (a
    degenerate sampler, e.g. f(0) = 0 when N < d with c = 0, τ = ∞) gives +inf in both
    directions.

    Parameters
    ----------
    f_hat : ndarray, shape (b, d), ≥ 0
        Transfer at the sample eigenvalues, f(λ̂_j).
    eigenvectors : ndarray, shape (b, d, d)
        Columns are the sample eigenvectors in the population eigenbasis.
    f_opt : ndarray, shape (d,), > 0
        Transfer at the population eigenvalues, f(λ_i) (the infinite-data optimum).
    direction : {"forward", "reverse"}
    """
    check_choice(direction, "direction", ("forward", "reverse"))
    f_opt = np.asarray(f_opt, dtype=float)
    if (f_opt <= 0).any():
        raise ValueError("f_opt must be > 0 (the optimum covariance must be non-singular)")
    f_hat = np.asarray(f_hat, dtype=float)
    P = eigenvectors * eigenvectors
    degenerate = (f_hat <= 0).any(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if direction == "forward":
            ratio = f_hat[:, None, :] / f_opt[None, :, None]
            sign = -1.0
        else:
            ratio = f_opt[None, :, None] / f_hat[:, None, :]
            sign = 1.0
        trace = np.einsum("bij,bij->b", P, ratio - 1.0)
        logdet = np.log(f_hat).sum(axis=-1) - np.log(f_opt).sum()
        out = 0.5 * (trace + sign * logdet)
    return np.where(degenerate, np.inf, out)


def kl_statistic(f, f_opt, directions=("forward", "reverse")):
    """A Monte Carlo statistic: per-dataset :func:`transfer_kl` in each direction.

    Returns ``statistic(eigenvalues, eigenvectors) -> ndarray (b, len(directions))`` for
    :func:`numerics.montecarlo.spectral_values`; the transfer ``f`` is evaluated once per
    chunk and shared by the directions.
    """
    def statistic(eigenvalues, eigenvectors):
        f_hat = f(eigenvalues)
        return np.stack([transfer_kl(f_hat, eigenvectors, f_opt, direction)
                         for direction in directions], axis=1)
    return statistic
