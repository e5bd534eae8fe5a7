"""Monte Carlo over training sets: seeded batches of sample covariances, and estimates.

Every random quantity is drawn from a numpy Generator made from a SeedSequence; a
batch of datasets has its own child sequence (``SeedSequence.spawn``), so a result
depends only on (seed, batch size, number of datasets), not on how the batches are
run.  Σ̂ for a batch is one batched matmul, its eigen-decomposition one batched eigh.
"""

from dataclasses import dataclass

import numpy as np

from .validation import check_count, check_spectrum

__all__ = ["Estimate", "estimate", "sample_covariances", "spectral_monte_carlo"]


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo mean with its standard error over ``n`` independent replicates."""

    mean: float
    stderr: float
    n: int

    def __str__(self):
        return f"{self.mean:.6g} ± {self.stderr:.2g}"


def estimate(values, axis=0):
    """Mean and standard error (sample sd/√n) of i.i.d. replicates along ``axis``."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    if n < 2:
        raise ValueError(f"need at least 2 replicates for a standard error, got {n}")
    mean = values.mean(axis=axis)
    stderr = values.std(axis=axis, ddof=1) / np.sqrt(n)
    if np.ndim(mean) == 0:
        return Estimate(float(mean), float(stderr), n)
    return mean, stderr


def sample_covariances(lam, N, size, rng, rotation=None):
    """``size`` sample covariances Σ̂ = XᵀX/N of N draws from N(0, O diag(λ) Oᵀ).

    Returns an array of shape (size, d, d); one batched matmul.
    """
    lam = check_spectrum(lam)
    N = check_count(N, "N")
    Z = rng.standard_normal((size, N, lam.size)) * np.sqrt(lam)
    if rotation is not None:
        Z = Z @ rotation.T
    return np.matmul(Z.transpose(0, 2, 1), Z) / N


def spectral_monte_carlo(statistic, lam, N, *, n_datasets, seed, batch=256, rotation=None):
    """Estimate E[statistic(λ̂, U)] over datasets of size N from spectrum λ.

    Parameters
    ----------
    statistic : callable
        ``statistic(eigenvalues, eigenvectors)`` for a batch, shapes (b, d) and (b, d, d),
        returning shape (b,) (or (b, m) for m quantities at once).
    lam : array_like, shape (d,)
    N : int
    n_datasets : int, ≥ 2
    seed : int or SeedSequence
    batch : int
        Datasets per batched matmul/eigh; together with the seed it fixes the result.

    Returns
    -------
    Estimate, or (mean, stderr) arrays when the statistic returns several quantities.
    """
    n_datasets = check_count(n_datasets, "n_datasets", 2)
    batch = check_count(batch, "batch")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sizes = [batch] * (n_datasets // batch) + ([n_datasets % batch] if n_datasets % batch else [])
    values = []
    for size, child in zip(sizes, root.spawn(len(sizes))):
        rng = np.random.default_rng(child)
        eigenvalues, eigenvectors = np.linalg.eigh(sample_covariances(lam, N, size, rng, rotation))
        values.append(statistic(np.clip(eigenvalues, 0.0, None), eigenvectors))
    return estimate(np.concatenate(values, axis=0))
