"""The named catalogue of derived expressions: ``ldv formula NAME`` and user imports.

Each entry maps a stable name to the function that derives it and a one-line
description.  :func:`formula` derives (and caches) the expression; LaTeX comes from
``sympy.latex``.
"""

import sympy as sp

from functools import partial

from . import continuous, kl, losses, model

__all__ = ["FORMULAS", "formula", "latex"]

#: name -> (derivation, description)
FORMULAS = {
    "noise_averaged_loss": (model.noise_averaged_loss,
                            "loss of one eigen-direction, noise averaged exactly: l(w; lambda)"),
    "ridge_denoiser": (model.ridge_denoiser, "ridge minimiser w_t(lambda) of the training loss"),
    "gradient_flow_denoiser": (model.gradient_flow_denoiser,
                               "denoiser after gradient flow for time tau from W = 0"),
    "gradient_descent_denoiser": (model.gradient_descent_denoiser,
                                  "denoiser after n gradient-descent steps of size eta"),
    "sampler_gain": (model.sampler_gain, "a_t: one DDPM step along an eigen-direction"),
    "variance_step": (model.variance_step, "v_{t-1} = a_t^2 v_t + beta_t: the transfer recursion"),
    "variance_ode": (continuous.variance_ode, "dv/d(alphabar) in the continuous-time limit"),
    "continuous_transfer": (continuous.continuous_transfer,
                            "f(lambda) in the T -> infinity limit (c = 0, tau = infinity)"),
    "start_correction": (continuous.start_correction,
                         "f(lambda) - lambda from starting the sampler at N(0, I)"),
    "train_loss": (losses.train_loss_per_direction, "train loss of one direction at one step"),
    "test_loss": (losses.test_loss_per_direction, "test loss of one direction at one step"),
    "expected_kl_forward": (partial(kl.expected_kl_exact, "forward"),
                            "exact E[KL(N(0,Sigma_hat) || N(0,Sigma))], f = identity, known mean"),
    "expected_kl_reverse": (partial(kl.expected_kl_exact, "reverse"),
                            "exact E[KL(N(0,Sigma) || N(0,Sigma_hat))], f = identity (N > d+1)"),
    "expected_kl_series_forward": (partial(kl.expected_kl_series, 3, "forward"),
                                   "E[KL] forward to O(1/N^3): d(d+1)/(4N) + ..."),
    "expected_kl_series_reverse": (partial(kl.expected_kl_series, 3, "reverse"),
                                   "E[KL] reverse to O(1/N^3): d(d+1)/(4N) + ..."),
    "leading_coefficient": (lambda: kl.leading_coefficient_expression()[0],
                            "a1 of E[KL] = a1/N + O(1/N^2) for a general transfer f"),
}


def formula(name):
    """The sympy expression derived under ``name`` (see :data:`FORMULAS`)."""
    if name not in FORMULAS:
        raise ValueError(f"name must be one of {sorted(FORMULAS)}, got {name!r}")
    return FORMULAS[name][0]()


def latex(name):
    """LaTeX source of :func:`formula` ``(name)``."""
    return sp.latex(formula(name))
