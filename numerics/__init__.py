"""Numerical side of the verifier: evaluation, simulation, claims and verdicts.

Public entry points
-------------------
power_law_spectrum      λ_ν = C ν^(−k), summing to d
transfer_function       f(λ) of the trained DDPM by the exact recursion (float64 or mpmath)
gaussian_kl             D(N(0, A) ‖ N(0, B)) in the log domain
linear_schedule, cosine_schedule
sgd_train, ddpm_sample  the end-to-end pipeline
run_suite               the verification suite behind ``ldv verify``
expected_kl_identity    exact E[KL] for f = identity (N ≫ d theory), at mpmath precision
leading_coefficient     a₁ of E[KL] = a₁/N + O(N⁻²) for the DDPM transfer and a spectrum
expected_losses         E[train], E[test], gap to O(1/N)
"""

from .asymptotics import expected_kl_identity, expected_kl_series_value, leading_coefficient
from .kl import gaussian_kl, kl_commuting, transfer_kl
from .losses import expected_losses, loss_coefficients
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
    "ddpm_sample", "end_to_end_covariance", "run_suite", "expected_kl_identity",
    "expected_kl_series_value", "leading_coefficient", "transfer_kl", "expected_losses",
    "loss_coefficients",
]
