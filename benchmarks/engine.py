"""Benchmarks of the Monte Carlo engine, measured side by side in one run.

    python benchmarks/engine.py            # d = 100, N = 1000 (about 2–3 minutes)
    python benchmarks/engine.py --quick    # smaller budgets, same tables (about 40 s)

Prints
1. the engine's cost per dataset (E[KL] of the trained DDPM, forward, power-law k = 1)
   divided by the bare floor (one batched matmul XᵀX and one batched eigh, data
   pre-drawn), for the direct and the Bartlett draws, with one and two processes;
2. the cost per dataset of the Bartlett and the direct draw as N grows from d to 100·d;
3. the engine against the naive end-to-end route (draw X, build every W_t, run the 1000
   DDPM steps on n samples, estimate the covariance, take its KL) at equal standard
   error on the same KL quantity, and the naive route's bias;
4. wall times of ``ldv verify --quick`` and ``ldv verify`` (default budget) with a cold
   cache (``--no-cache``: every claim and every sympy derivation from scratch) and a warm one.

Timings are medians over repeats of wall-clock time on this machine; nothing here is
asserted.  Compare runs on an idle machine only.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from numerics.denoiser import denoiser_matrices
from numerics.kl import gaussian_kl, transfer_kl
from numerics.montecarlo import cpu_count, spectral_monte_carlo
from numerics.schedule import linear_schedule
from numerics.simulate import ddpm_sample
from numerics.spectra import power_law_spectrum
from numerics.transfer import transfer_interpolant


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def floor_per_dataset(d, N, batch, repeats):
    """Bare batched matmul XᵀX/N + batched eigh, X pre-drawn (s per dataset)."""
    X = np.random.default_rng(0).standard_normal((batch, N, d))

    def work():
        np.linalg.eigh(np.matmul(X.transpose(0, 2, 1), X) / N)
    work()
    return _median_time(work, repeats) / batch


def kl_statistic(lam, direction="forward"):
    f = transfer_interpolant()
    f_opt = f(lam)
    return lambda e, U: transfer_kl(f(e), U, f_opt, direction)


def engine_per_dataset(lam, N, n_datasets, repeats, **kwargs):
    stat = kl_statistic(lam)
    result = {}

    def work():
        result["estimate"] = spectral_monte_carlo(stat, lam, N, n_datasets=n_datasets,
                                                  seed=1, **kwargs)
    work()
    return _median_time(work, repeats) / n_datasets, result["estimate"]


def naive_kl(lam, N, n_samples, seed):
    """One dataset by the end-to-end route: KL of the sample covariance of n DDPM draws."""
    rng = np.random.default_rng(seed)
    d = lam.size
    X = rng.standard_normal((N, d)) * np.sqrt(lam)
    schedule = linear_schedule()
    W = denoiser_matrices(X.T @ X / N, schedule.one_minus_alpha_bar)
    u = ddpm_sample(W, schedule, n_samples, rng)
    f_opt = transfer_interpolant()(lam)
    return gaussian_kl(u.T @ u / n_samples, np.diag(f_opt))


def section_floor(d, N, args):
    print(f"\n1. Engine cost per dataset vs the batched matmul + eigh floor (d={d}, N={N})")
    lam = power_law_spectrum(d, 1.0)
    floor = floor_per_dataset(d, N, 64, args.repeats)
    print(f"   floor (matmul XᵀX + eigh, BLAS threads)      {floor * 1e3:8.3f} ms")
    rows = []
    for method in ("direct", "bartlett"):
        for workers in sorted({1, min(2, cpu_count())}):
            t, est = engine_per_dataset(lam, N, args.datasets, args.repeats, method=method,
                                        workers=workers)
            rows.append((method, workers, t, est))
            print(f"   engine {method:8s} workers={workers}  E[KL] = {est}   "
                  f"{t * 1e3:8.3f} ms   ratio {t / floor:5.2f}")
    return floor, rows


def section_flat(d, args):
    print(f"\n2. Cost per dataset as N grows (d={d}, one process, E[KL] statistic)")
    lam = power_law_spectrum(d, 1.0)
    for factor in (1, 3, 10, 30, 100):
        N = factor * d
        cells = []
        for method in ("bartlett", "direct"):
            n = args.datasets if method == "bartlett" else max(8, args.datasets * d // N)
            t, _ = engine_per_dataset(lam, N, n, args.repeats, method=method)
            cells.append(f"{method} {t * 1e3:8.3f} ms")
        print(f"   N = {N:6d} ({factor:3d}·d)   " + "   ".join(cells))


def section_naive(d, N, args):
    n_samples, n_naive = args.naive_samples, args.naive_datasets
    print(f"\n3. Engine vs the naive end-to-end route (d={d}, N={N}, {n_samples} DDPM samples "
          f"per dataset, {n_naive} datasets)")
    lam = power_law_spectrum(d, 1.0)
    t0 = time.perf_counter()
    naive = np.array([naive_kl(lam, N, n_samples, seed) for seed in range(n_naive)])
    t_naive = (time.perf_counter() - t0) / n_naive
    t_engine, est = engine_per_dataset(lam, N, args.datasets, 1, method="bartlett",
                                       workers=min(2, cpu_count()))
    sd_engine = est.stderr * np.sqrt(est.n)
    sd_naive = naive.std(ddof=1)
    # time to reach a given standard error ε is (time per dataset)·sd²/ε²
    speedup = (t_naive * sd_naive**2) / (t_engine * sd_engine**2)
    bias = naive.mean() - est.mean
    print(f"   engine  E[KL] = {est}   sd/dataset {sd_engine:.3g}   {t_engine * 1e3:.3f} ms/dataset")
    print(f"   naive   E[KL] = {naive.mean():.4g} ± {sd_naive / np.sqrt(n_naive):.2g}   "
          f"sd/dataset {sd_naive:.3g}   {t_naive:.2f} s/dataset")
    print(f"   speed-up at equal standard error: {speedup:,.0f}×   (naive bias "
          f"{bias:+.3g} nats = {bias / (sd_naive / np.sqrt(n_naive)):+.1f} s.e.; "
          f"finite-sample covariance bias ≈ d(d+1)/(4n) = {d * (d + 1) / (4 * n_samples):.3g})")
    return speedup


def section_verify(args):
    print("\n4. Wall time of ldv verify (fresh processes)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, LDV_CACHE_DIR=cache)
        for label, argv in [("--quick, cold", ["--quick", "--no-cache"]),
                            ("default budget, cold", ["--no-cache"]),
                            ("--quick, fill cache", ["--quick"]),
                            ("--quick, warm", ["--quick"]),
                            ("default, fill cache", []),
                            ("default, warm", [])]:
            if args.quick and label.startswith("default"):
                continue
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "numerics.cli", "verify", *argv],
                                  env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
            print(f"   ldv verify {label:22s} {seconds:6.1f} s   ({status})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets")
    parser.add_argument("--skip", nargs="*", default=[], choices=["floor", "flat", "naive",
                                                                   "verify"])
    args = parser.parse_args(argv)
    args.repeats = 3
    args.datasets = 128 if args.quick else 512
    args.naive_samples = 2000
    args.naive_datasets = 2 if args.quick else 4
    d, N = 100, 1000
    print(f"machine: {cpu_count()} cores; numpy {np.__version__}")
    if "floor" not in args.skip:
        section_floor(d, N, args)
    if "flat" not in args.skip:
        section_flat(d, args)
    if "naive" not in args.skip:
        section_naive(d, N, args)
    if "verify" not in args.skip:
        section_verify(args)


if __name__ == "__main__":
    main()
