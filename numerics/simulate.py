"""The end-to-end pipeline, done as a practitioner would: no eigenbasis, no formulas.

1. :func:`sgd_train` draws noisy training pairs (x_μ from the data set, ε ~ N(0, I)),
   forms y = √ᾱ_t x_μ + √(1−ᾱ_t) ε, and trains W_t by minibatch SGD on
   ‖ε − W_t y‖² + c‖W_t‖_F², many steps t (and independent replicates) at once.
2. :func:`ddpm_sample` runs the DDPM ancestral sampler with the trained matrices.
3. :func:`end_to_end_covariance` chains the two and returns the sample covariance.

The spectral shortcut (numerics.transfer) claims that the result is N(0, F(Σ̂)); the
claims in :mod:`numerics.claims_model` check it against this pipeline.

Note the SGD update is the minibatch estimate of −½∇L̂_t, so its expectation over the
minibatch is exactly the deterministic gradient-descent step: E[W_n] obeys the
gradient-descent recursion for every n (the gradient is affine in W and the fresh
minibatch is independent of W_n).  That is what makes a mean-over-replicates test
of the derived gradient-descent formula exact, with no step-size bias.
"""

import numpy as np

from .validation import check_count, check_nonnegative

__all__ = ["sgd_train", "ddpm_sample", "end_to_end_covariance", "default_step_size"]


def default_step_size(X, alpha_bar, c=0.0, fraction=0.5):
    """η_t = fraction / (ᾱ_t λ̂_max + 1 − ᾱ_t + c): a stable step for every t.

    λ̂_max is the largest eigenvalue of Σ̂ = XᵀX/N (the learning-rate choice a
    practitioner makes by looking at the data scale).
    """
    X = np.asarray(X, dtype=float)
    lam_max = np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1]
    alpha_bar = np.asarray(alpha_bar, dtype=float)
    return fraction / (alpha_bar * lam_max + 1.0 - alpha_bar + c)


def sgd_train(X, alpha_bar, *, steps, batch, rng, c=0.0, step_size=None, replicates=None,
              average_last=0.5):
    """Minibatch SGD on noisy pairs for every ᾱ in ``alpha_bar`` at once, from W = 0.

    Parameters
    ----------
    X : ndarray, shape (N, d)
        The training set.
    alpha_bar : array_like, shape (m,)
        ᾱ_t of the steps to train (one W per entry).
    steps, batch : int
        Number of SGD steps and minibatch size (pairs drawn with replacement).
    rng : numpy.random.Generator
    c : float, ≥ 0
        Ridge strength.
    step_size : array_like, shape (m,), optional
        η per step t; default :func:`default_step_size`.
    replicates : int, optional
        If given, run this many independent SGD chains (leading axis of the output).
    average_last : float in [0, 1)
        Fraction of the final iterates averaged (Polyak–Ruppert); 0 returns the last one.

    Returns
    -------
    W_last, W_avg : ndarray, shape ([replicates,] m, d, d)
    """
    X = np.asarray(X, dtype=float)
    N, d = X.shape
    steps = check_count(steps, "steps")
    batch = check_count(batch, "batch")
    c = check_nonnegative(c, "c")
    ab = np.asarray(alpha_bar, dtype=float)
    eta = default_step_size(X, ab, c) if step_size is None else np.asarray(step_size, float)
    lead = (ab.size,) if replicates is None else (check_count(replicates, "replicates"), ab.size)
    sig, noi = np.sqrt(ab)[:, None, None], np.sqrt(1.0 - ab)[:, None, None]
    eta = np.broadcast_to(eta, (ab.size,))[:, None, None]
    W = np.zeros(lead + (d, d))
    W_sum = np.zeros_like(W)
    start = steps - int(round(average_last * steps))
    for step in range(steps):
        x = X[rng.integers(0, N, size=lead + (batch,))]
        eps = rng.standard_normal(lead + (batch, d))
        y = sig * x + noi * eps
        residual = eps - y @ np.swapaxes(W, -1, -2)
        W = W + eta * (np.swapaxes(residual, -1, -2) @ y / batch - c * W)
        if step >= start:
            W_sum += W
    return W, (W_sum / (steps - start) if steps > start else W)


def ddpm_sample(W, schedule, n_samples, rng, chunk=50_000):
    """DDPM ancestral sampling with denoiser matrices W[t−1] = W_t.

    u_T ~ N(0, I); u_{t−1} = (u_t − β_t/√(1−ᾱ_t) W_t u_t)/√(1−β_t) + σ_t z_t with
    σ_t² = β_t for t ≥ 2 and σ_1 = 0.  Returns u_0, shape (n_samples, d).
    """
    W = np.asarray(W, dtype=float)
    if W.shape[0] != schedule.T:
        raise ValueError(f"W must hold one matrix per step (T = {schedule.T}), got {W.shape[0]}")
    n_samples = check_count(n_samples, "n_samples")
    d = W.shape[-1]
    betas, q = schedule.betas, schedule.one_minus_alpha_bar
    eye = np.eye(d)
    # one step as a matrix: u ← M u + σ z, samples as columns (BLAS-friendly layout)
    M = (eye - (betas / np.sqrt(q))[:, None, None] * W) / np.sqrt(1 - betas)[:, None, None]
    out = []
    for start in range(0, n_samples, chunk):
        size = min(chunk, n_samples - start)
        u = rng.standard_normal((d, size))
        z = np.empty_like(u)
        for i in range(schedule.T - 1, -1, -1):
            u = M[i] @ u
            if i > 0:
                rng.standard_normal(out=z)
                u += np.sqrt(betas[i]) * z
        out.append(u.T)
    return np.concatenate(out)


def end_to_end_covariance(X, schedule, *, n_samples, rng, c=0.0, steps=400, batch=32):
    """Train every W_t by SGD on noisy pairs from X, sample with DDPM, return uᵀu/n.

    The mean is known to be zero (DESIGN.md), so the covariance estimate is uncentred.
    """
    _, W = sgd_train(X, schedule.alpha_bar, steps=steps, batch=batch, rng=rng, c=c)
    u = ddpm_sample(W, schedule, n_samples, rng)
    return u.T @ u / u.shape[0]
