r"""The Monte Carlo engine: expectations over training sets, in the eigenbasis of Σ̂.

Per dataset the irreducible work is one draw of Σ̂ and one symmetric eigen-decomposition;
every quantity of the trained model (transfer f, KL, losses) is then O(d²) or O(d) in the
eigenbasis, supplied by the caller as a ``statistic(eigenvalues, eigenvectors)`` evaluated
on a whole chunk at once.  The engine

* draws Σ̂ by the Bartlett decomposition when N ≥ d (cost independent of N) and from
  the data matrix otherwise (:mod:`numerics.wishart`);
* works in chunks of datasets, so memory stays bounded (``chunk`` datasets at a time;
  by default as many as fit in about 64 MB);
* gives dataset ``i`` its own child of the root SeedSequence (``SeedSequence.spawn``), so
  the result is the same array, bit for bit, whatever the chunk size and however the
  chunks are shared among worker processes;
* sets eigenvalues within solver noise of zero (|λ̂| ≤ d·ε·max λ̂) to exactly zero, so
  that rank deficiency (N < d) is seen as such and not as round-off of either sign;
* returns an :class:`Estimate` (mean, standard error, count) per quantity.

Both cores: ``workers=2`` shares the chunks between two forked processes, each with a
single BLAS thread; ``workers=1`` runs in this process with the BLAS library's own
threads.  ``benchmarks/engine.py`` measures which pays.
"""

import os
from dataclasses import dataclass

import numpy as np

from .validation import check_count, check_spectrum
from .wishart import choose_method, draw_sample_covariances
from .workers import can_fork, fork_pool, shared_state, threadpool_limits

__all__ = ["Estimate", "estimate", "sample_covariances", "spectral_monte_carlo",
           "spectral_values", "default_chunk", "spectral_decompositions"]

CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo mean with its standard error over ``n`` independent replicates."""

    mean: float
    stderr: float
    n: int

    def __str__(self):
        return f"{self.mean:.6g} ± {self.stderr:.2g}"


def estimate(values, axis=0):
    """Mean and standard error (sample sd/√n) of i.i.d. replicates along ``axis``.

    Returns an :class:`Estimate` for scalar replicates, else ``(mean, stderr)`` arrays.
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    if n < 2:
        raise ValueError(f"need at least 2 replicates for a standard error, got {n}")
    mean = values.mean(axis=axis)
    stderr = values.std(axis=axis, ddof=1) / np.sqrt(n)
    if np.ndim(mean) == 0:
        return Estimate(float(mean), float(stderr), n)
    return mean, stderr


def sample_covariances(lam, N, size, rng, rotation=None, method="auto", centred=False):
    """``size`` sample covariances Σ̂ of N draws from N(0, O diag(λ) Oᵀ), shape (size, d, d).

    The datasets are seeded from ``rng`` (one child seed each); see
    :func:`numerics.wishart.draw_sample_covariances` for ``method`` and ``centred``.
    """
    size = check_count(size, "size")
    seeds = np.random.SeedSequence(rng.integers(2**63, size=4)).spawn(size)
    return draw_sample_covariances(lam, N, seeds, rotation=rotation, method=method,
                                   centred=centred)


def default_chunk(d, N, method):
    """Datasets per chunk so that one chunk's arrays stay within about 64 MB."""
    per_dataset = 8 * d * (d if method == "bartlett" else N + d) * 3
    return int(np.clip(CHUNK_BYTES // per_dataset, 1, 512))


def spectral_decompositions(S):
    """Batched eigh of symmetric Σ̂ with eigenvalues within solver noise of 0 set to 0.

    The noise level is d·ε·max|λ̂| per matrix (the backward error of a symmetric
    eigensolver); below it the sign of a computed eigenvalue carries no information.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(S)
    d = S.shape[-1]
    noise = d * np.finfo(float).eps * np.abs(eigenvalues).max(axis=-1, keepdims=True)
    eigenvalues = np.where(np.abs(eigenvalues) <= noise, 0.0, eigenvalues)
    if (eigenvalues < 0).any():  # a Gram matrix cannot have a resolvable negative eigenvalue
        raise ArithmeticError("sample covariance has a negative eigenvalue above solver noise")
    return eigenvalues, eigenvectors


@dataclass(frozen=True)
class _Job:
    statistic: object
    lam: np.ndarray
    N: int
    seeds: list
    rotation: object
    method: str
    centred: bool
    indexed: bool

    def evaluate(self, start, stop):
        S = draw_sample_covariances(self.lam, self.N, self.seeds[start:stop],
                                    rotation=self.rotation, method=self.method,
                                    centred=self.centred)
        extra = (slice(start, stop),) if self.indexed else ()
        values = np.asarray(self.statistic(*spectral_decompositions(S), *extra), dtype=float)
        if values.shape[:1] != (stop - start,):
            raise ValueError(f"statistic must return one row per dataset, shape ({stop - start},)"
                             f" or ({stop - start}, m); got {values.shape}")
        return values


def _evaluate(bounds):
    return shared_state().evaluate(*bounds)


def _run(job, bounds, workers, blas_threads):
    if workers == 1 or len(bounds) == 1:
        with threadpool_limits(blas_threads):
            return [job.evaluate(*b) for b in bounds]
    # fork: the job (and the statistic, which may be a closure) is inherited, not pickled
    with fork_pool(min(workers, len(bounds)), job) as pool:
        return list(pool.map(_evaluate, bounds))


def spectral_values(statistic, lam, N, *, n_datasets, seed, chunk=None, rotation=None,
                    method="auto", centred=False, workers=1, indexed=False, blas_threads=1):
    r"""statistic(λ̂, U) for each of ``n_datasets`` training sets of size N from spectrum λ.

    Parameters
    ----------
    statistic : callable
        ``statistic(eigenvalues, eigenvectors)`` for a chunk, shapes (b, d) ascending and
        (b, d, d) (columns are eigenvectors, in the basis of Σ = O diag(λ) Oᵀ's
        coordinates), returning shape (b,) or (b, m) for m quantities at once.  With
        ``indexed=True`` it is called as ``statistic(eigenvalues, eigenvectors, rows)``,
        ``rows`` the slice of dataset indices in the chunk (to pair each dataset with
        other per-dataset draws, e.g. its sample mean).
    lam : array_like, shape (d,), ≥ 0
        Population spectrum.
    N : int, ≥ 1
        Training-set size.
    n_datasets : int, ≥ 2
        Independent training sets.
    seed : int or numpy.random.SeedSequence
        Root seed; dataset i uses child i of ``SeedSequence(seed).spawn(n_datasets)``.
    chunk : int, optional
        Datasets per batched matmul + eigh (default :func:`default_chunk`).  Does not
        change the result.
    rotation : ndarray (d, d), optional
        Orthogonal O of Σ; None means Σ = diag(λ).
    method : {"auto", "bartlett", "direct"}
        How Σ̂ is drawn (:mod:`numerics.wishart`).  Part of the seed's meaning: the same
        seed gives different (equally distributed) datasets under different methods.
    centred : bool
        Use the mean-estimated covariance Σ̂_c ~ W_d(N − 1, Σ)/N.
    workers : int, ≥ 1
        Processes sharing the chunks (fork start method; 1 = this process).  Does not
        change the result.
    indexed : bool
        Pass the chunk's dataset indices to the statistic.
    blas_threads : int or None
        BLAS threads in this process while it runs the chunks itself (``workers=1``);
        None leaves the library's setting.  Default 1: the batched problems are small
        (d ≲ 400), and threaded BLAS busy-waits badly when the cores are shared
        (measured by ``benchmarks/engine.py``).  Worker processes always use 1.

    Returns
    -------
    ndarray, shape (n_datasets,) or (n_datasets, m)
    """
    lam = check_spectrum(lam)
    N = check_count(N, "N", 2 if centred else 1)
    n_datasets = check_count(n_datasets, "n_datasets", 2)
    workers = check_count(workers, "workers")
    if workers > 1 and not can_fork():
        workers = 1  # pragma: no cover - platforms without fork run serially
    method = choose_method(lam.size, N - 1 if centred else N, method)
    if chunk is None:  # bounded memory, and at least two chunks per worker to share
        chunk = min(default_chunk(lam.size, N, method), -(-n_datasets // (2 * workers)))
    chunk = check_count(chunk, "chunk")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    job = _Job(statistic, lam, N, root.spawn(n_datasets), rotation, method, bool(centred),
               bool(indexed))
    bounds = [(s, min(s + chunk, n_datasets)) for s in range(0, n_datasets, chunk)]
    return np.concatenate(_run(job, bounds, workers, blas_threads), axis=0)


def spectral_monte_carlo(statistic, lam, N, *, n_datasets, seed, **options):
    """Estimate E[statistic(λ̂, U)]: :func:`spectral_values` reduced by :func:`estimate`.

    Takes the same parameters as :func:`spectral_values`.  Returns an :class:`Estimate`,
    or (mean, stderr) arrays when the statistic returns several quantities.
    """
    return estimate(spectral_values(statistic, lam, N, n_datasets=n_datasets, seed=seed,
                                    **options))


def cpu_count():
    """Cores this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1
