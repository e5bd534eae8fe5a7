"""Numerical side of the verifier: evaluation, simulation, claims and verdicts.

Public entry points
-------------------
power_law_spectrum      λ_ν = C ν^(−k), summing to d
transfer_function       f(λ) of the trained DDPM by the exact recursion (float64 or mpmath)
gaussian_kl             D(N(0, A) ‖ N(0, B)) in the log domain
linear_schedule, cosine_schedule
sgd_train, ddpm_sample  the end-to-end pipeline
run_suite               the verification suite behind ``ldv verify``
"""

from .kl import gaussian_kl, kl_commuting
from .montecarlo import Estimate, spectral_monte_carlo
from .schedule import Schedule, cosine_schedule, linear_schedule
from .simulate import ddpm_sample, end_to_end_covariance, sgd_train
from .spectra import power_law_spectrum, random_rotation
from .transfer import continuous_transfer_function, transfer_function
from .verify import run_suite

__all__ = [
    "power_law_spectrum", "random_rotation", "transfer_function",
    "continuous_transfer_function", "gaussian_kl", "kl_commuting", "Schedule",
    "linear_schedule", "cosine_schedule", "Estimate", "spectral_monte_carlo", "sgd_train",
    "ddpm_sample", "end_to_end_covariance", "run_suite",
]
