r"""A real data set through the pipeline: scikit-learn's bundled 8×8 digits (issue 7).

The theory is for Gaussian data.  Here the trained linear DDPM meets real, non-Gaussian
samples, and its sampling law and losses are compared with the Gaussian theory built from
the same covariance.

Contents
--------
DigitsData              the prepared data set (coordinates in the population eigenbasis)
load_digits_data        load, drop pixels, centre, scale (needs scikit-learn; no download)
power_law_fit           fitted exponent k of λ_ν ∝ ν^(−k) over a range of ranks
real_sample_covariances Σ̂ of N images drawn with replacement, batched and seeded
real_data_deviation     E[KL], E[train], E[test], E[gap] on real vs Gaussian samples vs N
deviation_summary       the main columns of :func:`real_data_deviation` as table rows

Preparation (documented choices)
--------------------------------
* **Pixels.** The digits have 64 pixels; 3 have zero variance over all 1797 images
  (they are always 0), so the covariance is singular: they are dropped.  By default
  pixels that are non-zero in fewer than 5 % of the images (``min_fraction=0.05``) are
  dropped too, leaving d = 50: such a pixel is constant in most subsamples of a few
  hundred images, and two constant columns make Σ̂ exactly singular, so f(0) = 0 and the
  KL to the optimum is +∞ (c = 0, τ = ∞).  With only the zero-variance pixels dropped
  (``min_fraction=0``, d = 61) that happens for 100 % of the training sets at N = 128
  and 256, 87 % at 512, 42 % at 1024 and 9 % at 2048 (100 sets each, seed 0): a genuine
  property of these data, reported by the ``inf_fraction`` column, but it swamps the
  comparison.
* **Centring.** By the mean of all 1797 images, which then counts as known (DESIGN.md:
  mean known to be 0).
* **Scaling.** One global factor so that Tr Σ = d (mean eigenvalue 1, as for
  :func:`numerics.spectra.power_law_spectrum`); no per-pixel standardisation, which
  would inflate rare pixels to unit variance and change the spectrum's shape.
* **Population.** Σ is the covariance of all 1797 prepared images.  A training set is N
  images drawn *with replacement*: i.i.d. draws from the empirical distribution, whose
  covariance is exactly Σ (without replacement would add the finite-population factor
  1 − N/1797).  So the only difference from the Gaussian theory is the shape of the
  distribution (its fourth moments), not its covariance.
* **The trained model.** The training loss is quadratic in W with the noise averaged
  exactly, so the trained W_t depends on the data only through Σ̂, and the sampling law
  is exactly N(0, F(Σ̂)) for real data too: non-Gaussianity enters only through the law
  of Σ̂.  The statistics are those of the Gaussian Monte Carlo, evaluated in the
  eigenbasis of Σ (:func:`numerics.montecarlo.spectral_values`).
"""

from dataclasses import dataclass

import numpy as np

from .asymptotics import leading_coefficient
from .kl import transfer_kl
from .losses import loss_coefficients, loss_statistic
from .montecarlo import estimate, spectral_decompositions, spectral_values
from .proportional import proportional_kl, proportional_losses
from .transfer import transfer_interpolant
from .validation import check_count, check_nonnegative, check_tau

__all__ = ["DigitsData", "load_digits_data", "power_law_fit", "real_sample_covariances",
           "real_data_deviation", "deviation_summary"]


@dataclass(frozen=True)
class DigitsData:
    """The prepared digits.

    Attributes
    ----------
    Z : ndarray, shape (n, d)
        Centred, scaled images in the eigenbasis of Σ (column ν along eigenvalue λ_ν).
    lam : ndarray, shape (d,)
        Eigenvalues of Σ, descending, summing to d.
    pixels : ndarray of int, shape (d,)
        Indices (0..63) of the pixels kept.
    zero_variance : int
        Pixels dropped for zero variance.
    rare : int
        Further pixels dropped as non-zero in fewer than ``min_fraction`` of the images.
    scale : float
        The global factor the centred pixel values (0..16) were divided by.
    """

    Z: np.ndarray
    lam: np.ndarray
    pixels: np.ndarray
    zero_variance: int
    rare: int
    scale: float

    @property
    def n(self):
        return self.Z.shape[0]

    @property
    def d(self):
        return self.Z.shape[1]


def load_digits_data(min_fraction=0.05):
    """Load scikit-learn's bundled digits and prepare them (see the module docstring).

    Parameters
    ----------
    min_fraction : float in [0, 1)
        Keep a pixel only if it is non-zero in at least this fraction of the images
        (pixels of zero variance are always dropped).

    Returns
    -------
    DigitsData

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install "linear-diffusion-verifier[data]"``).
    """
    min_fraction = float(min_fraction)
    if not 0 <= min_fraction < 1:
        raise ValueError(f"min_fraction must lie in [0, 1), got {min_fraction!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - sklearn is in the test extra
        raise ImportError("the digits data need scikit-learn: "
                          "pip install 'linear-diffusion-verifier[data]'") from exc
    X = load_digits().data.astype(float)  # shipped inside scikit-learn: no download
    varies = X.std(axis=0) > 0
    frequent = (X > 0).mean(axis=0) >= min_fraction
    keep = varies & frequent
    X = X[:, keep]
    X = X - X.mean(axis=0)
    n, d = X.shape
    S = X.T @ X / n
    scale = float(np.sqrt(np.trace(S) / d))
    lam, V = np.linalg.eigh(S / scale**2)
    lam, V = lam[::-1], V[:, ::-1]
    if lam[-1] <= 0:
        raise ArithmeticError("the prepared covariance is singular; raise min_fraction")
    return DigitsData(Z=(X / scale) @ V, lam=lam.copy(), pixels=np.nonzero(keep)[0],
                      zero_variance=int((~varies).sum()), rare=int((varies & ~frequent).sum()),
                      scale=scale)


def power_law_fit(lam, ranks=None):
    r"""Fit λ_ν ≈ C ν^(−k) by least squares in log-log over the ranks ν in ``ranks``.

    Parameters
    ----------
    lam : array_like, shape (d,), > 0, descending
    ranks : (int, int) or None
        First and last rank (1-based, inclusive); default the top two thirds, (1, ⌈2d/3⌉):
        the spectrum of a finite data set ends in a cut-off that is no power law.

    Returns
    -------
    numerics.scaling.PowerFit
        ``exponent`` is −k (the slope), ``prefactor`` C; ``stderr`` measures departure
        from a straight line (the values are not noisy).

    Examples
    --------
    >>> from numerics.spectra import power_law_spectrum
    >>> round(-power_law_fit(power_law_spectrum(30, 1.5)).exponent, 10)
    1.5
    """
    from .scaling import fit_exponent

    lam = np.asarray(lam, dtype=float)
    if lam.ndim != 1 or lam.size < 3 or not (np.isfinite(lam).all() and (lam > 0).all()):
        raise ValueError("lam must be a 1-D array of at least 3 finite eigenvalues > 0")
    d = lam.size
    first, last = (1, -(-2 * d // 3)) if ranks is None else ranks
    if not (isinstance(first, (int, np.integer)) and isinstance(last, (int, np.integer))
            and 1 <= first and first + 2 <= last <= d):
        raise ValueError(f"ranks must be (first, last) with 1 <= first, first + 2 <= last "
                         f"<= d = {d}, got {ranks!r}")
    nu = np.arange(first, last + 1)
    return fit_exponent(nu, lam[first - 1:last])


def real_sample_covariances(Z, N, size, seed, chunk=64):
    """Σ̂ = XᵀX/N for ``size`` training sets of N rows of Z drawn with replacement.

    Parameters
    ----------
    Z : ndarray, shape (n, d)
    N : int ≥ 1
    size : int ≥ 1
    seed : int or numpy.random.SeedSequence
        Training set i uses child i of ``SeedSequence(seed).spawn(size)`` (the result does
        not depend on ``chunk``).
    chunk : int ≥ 1
        Training sets per batched product (memory chunk·N·d floats).

    Returns
    -------
    ndarray, shape (size, d, d)
    """
    Z = np.asarray(Z, dtype=float)
    N = check_count(N, "N")
    size = check_count(size, "size")
    chunk = check_count(chunk, "chunk")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rows = np.stack([np.random.default_rng(s).integers(0, Z.shape[0], size=N)
                     for s in root.spawn(size)])
    out = np.empty((size, Z.shape[1], Z.shape[1]))
    for start in range(0, size, chunk):
        X = Z[rows[start:start + chunk]]
        out[start:start + chunk] = np.matmul(X.transpose(0, 2, 1), X) / N
    return out


def _ratio(a, sa, b, sb):
    """a/b with the delta-method standard error (a, b independent)."""
    r = a / b
    return float(r), float(abs(r) * np.sqrt((sa / a) ** 2 + (sb / b) ** 2))


def _finite_estimate(values):
    """Estimate of a column, +inf (s.e. nan) if any replicate is infinite."""
    if np.isinf(values).any():
        return float("inf"), float("nan")
    e = estimate(values)
    return e.mean, e.stderr


def real_data_deviation(Ns=(128, 256, 512, 1024), *, n_datasets=200, seed=0, c=0.0,
                        tau=None, T=1000, t="sum", data=None, min_fraction=0.05):
    r"""The trained DDPM on real digits vs the Gaussian theory with the same covariance.

    For each N: ``n_datasets`` training sets of N real images (drawn with replacement,
    see the module docstring) and as many Gaussian training sets N(0, Σ), and for each

    * the forward KL D(N(0, F(Σ̂)) ‖ N(0, F(Σ))) of the trained sampler to the optimum,
    * the excess losses L_train − L(Σ), L_test − L(Σ) and the gap L_test − L_train,
      summed over the steps ``t`` (L(Σ) the loss of the infinite-data model; control
      variate as in :func:`numerics.losses.loss_statistic`, mean zero for real data too
      since E Σ̂ = Σ),

    against the Gaussian theory: a₁/N (:func:`numerics.asymptotics.leading_coefficient`)
    and the deterministic equivalent (:func:`numerics.proportional.proportional_kl`) for
    the KL, B/N (:func:`numerics.losses.loss_coefficients`, as in
    :func:`numerics.losses.expected_losses`) and the deterministic
    equivalent (:func:`numerics.proportional.proportional_losses`) for the losses.

    Parameters
    ----------
    Ns : sequence of int, each > d
    n_datasets : int ≥ 2
    seed : int ≥ 0
        Real draws use SeedSequence([seed, 0, N]), Gaussian ones SeedSequence([seed, 1, N]).
    c, tau, T : the trained model (as in :func:`numerics.transfer.transfer_function`)
    t : "sum" or int in 1..T
        Step of the losses.
    data : DigitsData, optional
        Default :func:`load_digits_data` (``min_fraction``).
    min_fraction : float
        Passed to :func:`load_digits_data` when ``data`` is None.

    Returns
    -------
    dict
        ``"d"``, ``"n_images"``, ``"pixels_dropped"`` (zero variance, rare), ``"lam"``,
        ``"a1"``, ``"population_loss"`` (L(Σ), total) and ``"rows"``: one dict per N with
        every value **per dimension** (÷ d): ``kl_real``, ``kl_gauss``, ``kl_a1`` (a₁/N),
        ``kl_de``, ``train_real``, ``train_gauss``, ``train_B``, ``train_de`` (likewise
        ``test_``, ``gap_``), Monte Carlo standard errors ``*_se``, the ratios
        real/Gaussian ``*_ratio`` (± ``*_ratio_se``, delta method), and ``inf_fraction``,
        the fraction of real training sets whose KL is +∞ (Σ̂ singular with f(0) = 0).
    """
    c = check_nonnegative(c, "c")
    tau = check_tau(tau)
    n_datasets = check_count(n_datasets, "n_datasets", 2)
    seed = check_count(seed, "seed", 0)
    data = load_digits_data(min_fraction) if data is None else data
    lam, d = data.lam, data.d
    Ns = [check_count(N, "Ns") for N in Ns]
    if not Ns or min(Ns) <= d:
        raise ValueError(f"Ns must be non-empty with every N > d = {d} (N ≫ d regime), got {Ns!r}")
    model = dict(c=c, tau=tau, T=T)
    f = transfer_interpolant(**model)
    f_opt = f(lam)
    B = loss_coefficients(lam, t, **model)  # E[L] = L(Σ) + B/N + O(N⁻²)
    population = B["population"]
    losses_of = loss_statistic(lam, t, **model)

    def statistic(eigenvalues, eigenvectors):
        L = losses_of(eigenvalues, eigenvectors) - population
        kl = transfer_kl(f(eigenvalues), eigenvectors, f_opt, "forward")
        return np.column_stack([kl, L, L[:, 1] - L[:, 0]]) / d

    a1 = leading_coefficient(lam, **model)
    rows = []
    for N in Ns:
        S = real_sample_covariances(data.Z, N, n_datasets, np.random.SeedSequence([seed, 0, N]))
        real = statistic(*spectral_decompositions(S))
        gauss = spectral_values(statistic, lam, N, n_datasets=n_datasets,
                                seed=np.random.SeedSequence([seed, 1, N]))
        de = proportional_losses(lam, N, t, **model)
        theory = {"kl": (a1 / N, proportional_kl(lam, N, **model)),
                  "train": (B["train"] / N, de["train"] - population),
                  "test": (B["test"] / N, de["test"] - population),
                  "gap": (B["gap"] / N, de["test"] - de["train"])}
        row = {"N": int(N), "inf_fraction": float(np.isinf(real[:, 0]).mean())}
        for j, key in enumerate(("kl", "train", "test", "gap")):
            row[f"{key}_real"], row[f"{key}_real_se"] = _finite_estimate(real[:, j])
            g = estimate(gauss[:, j])
            row[f"{key}_gauss"], row[f"{key}_gauss_se"] = g.mean, g.stderr
            row[f"{key}_{'a1' if key == 'kl' else 'B'}"] = theory[key][0] / d
            row[f"{key}_de"] = theory[key][1] / d
            row[f"{key}_ratio"], row[f"{key}_ratio_se"] = _ratio(
                row[f"{key}_real"], row[f"{key}_real_se"], g.mean, g.stderr)
        rows.append(row)
    return {"d": d, "n_images": data.n, "pixels_dropped": (data.zero_variance, data.rare),
            "lam": lam, "a1": a1, "population_loss": population, "rows": rows}


def deviation_summary(result):
    """Rows of the main columns of :func:`real_data_deviation` (per dimension), for
    :func:`numerics.scaling.format_table`: N, KL real/Gaussian/a₁/N, and the ratios
    real/Gaussian of the KL and of the excess train, test losses and the gap."""
    keys = ("N", "kl_real", "kl_gauss", "kl_a1", "kl_ratio", "kl_ratio_se", "train_ratio",
            "test_ratio", "gap_ratio", "gap_ratio_se", "inf_fraction")
    return [{key: row[key] for key in keys} for row in result["rows"]]
