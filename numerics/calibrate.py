r"""Calibration of the verifier: its power against wrong formulas, its false-alarm rate.

A verifier is worth its power to reject a wrong formula and its restraint in not
rejecting a right one; ``ldv calibrate`` measures both.

``--mutations``
    Runs the claims against deliberately wrong variants of the derived expressions
    (:func:`mutations`): a wrong ridge or gradient-descent denoiser, a wrong transfer,
    a wrong loss, a wrong convergence order (group A); the exact or series E[KL] scaled,
    a wrong sign in the next series order, a dropped Kronecker delta or divided
    difference in a₁, a wrong 1/N loss coefficient (group B); a wrong closed form,
    swapped KL directions, a test loss without overlaps (group C).
    Each :class:`Mutation` is a context manager that monkeypatches the module
    attributes the claims use (``unittest.mock.patch.object``) and names the claims it
    targets; only those run, in-process, with the result cache bypassed (a patched run
    must never be stored or reused).  With ``workers > 1`` the mutations are shared
    among forked processes, each applying its own patch.

    A mutation is *rejected* when a targeted claim fails.  The rule is as strict as in
    the full suite: exact claims by their own tolerance, statistical claims by Holm at
    :data:`~numerics.verdict.FAMILY_LEVEL` over a family the size of the whole
    registry (the claims that did not run count as p = 1), i.e. the p-value of a lone
    failing claim must reach FAMILY_LEVEL/m, m the number of registered claims.

``--seeds K``
    Runs the whole suite with the correct formulas under seeds 1..K (result cache used
    normally, workers allowed) and reports the failed claims per seed.  Under the
    null, each seed fails with probability at most FAMILY_LEVEL (Holm controls the
    family-wise error), so the number of seeds with any failure is at most
    Binomial(K, FAMILY_LEVEL); :func:`false_alarm_summary` gives the count, the 95%
    quantile of that binomial (the number of alarms still compatible with the nominal
    level: 1 for K = 20 at level 0.01) and the failure count of every claim.

``--json PATH`` writes

    {"mutations": [{"id", "description", "rejected", "failed_claims", "targets", ...}],
     "seeds": [{"seed", "failed_claims", ...}],
     "family_level": alpha}

Exit status of :func:`run`: 0 when every mutation is rejected and the false alarms are
within the 95% binomial quantile, 1 otherwise, 2 on bad input.
"""

import math
import sys
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from unittest import mock

import numpy as np

from .validation import check_choice
from .verdict import FAMILY_LEVEL, holm
from .workers import can_fork, fork_pool, shared_state

__all__ = ["Mutation", "mutations", "run_mutations", "run_seeds", "false_alarm_summary",
           "to_json", "format_mutations", "format_seeds", "add_parser", "run"]

#: the false-alarm count is judged against this quantile of Binomial(K, FAMILY_LEVEL)
ALARM_QUANTILE = 0.95


# ------------------------------------------------------------------------------------
# mutations


@dataclass(frozen=True)
class Mutation:
    """A deliberately wrong variant of a derived expression.

    ``make()`` returns the patches as ``(owner, attribute, replacement)`` triples; it is
    called on entering :meth:`applied`, so a replacement wraps whatever the attribute
    holds at that moment.  ``targets`` are the ids of the claims meant to reject it.
    """

    id: str
    description: str
    targets: tuple
    make: object

    @contextmanager
    def applied(self):
        """Context manager: the mutation is in force inside, undone on exit."""
        with ExitStack() as stack:
            for owner, name, replacement in self.make():
                if not hasattr(owner, name):
                    raise AttributeError(f"mutation {self.id}: {owner.__name__} has no "
                                         f"attribute {name!r}")
                stack.enter_context(mock.patch.object(owner, name, replacement))
            yield self


def _schedule_beta_1(kwargs):
    from .schedule import linear_schedule

    schedule = kwargs.get("schedule")
    if schedule is None:
        schedule = linear_schedule(kwargs.get("T", 1000), kwargs.get("beta_min", 1e-4),
                                   kwargs.get("beta_max", 1e-2))
    return float(schedule.betas[0])


# group A ---------------------------------------------------------------------------

def _ridge_twice():
    from . import denoiser
    real = denoiser.denoiser_eigenvalues

    def mutated(lam_hat, one_minus_alpha_bar, *, c=0.0, **kwargs):
        return real(lam_hat, one_minus_alpha_bar, c=2 * c, **kwargs)
    return [(denoiser, "denoiser_eigenvalues", mutated)]


def _gd_as_gradient_flow():
    from . import denoiser
    from .transfer import ratio_function
    real = denoiser.denoiser_eigenvalues

    def mutated(lam_hat, one_minus_alpha_bar, *, c=0.0, tau=None, eta=None, steps=None):
        if eta is None:
            return real(lam_hat, one_minus_alpha_bar, c=c, tau=tau)
        q = np.asarray(one_minus_alpha_bar, dtype=float)
        k = (1.0 - q) * np.asarray(lam_hat, dtype=float) + q + c
        # gradient flow for τ = nη in place of n steps of size η: e^{−nηk} for (1 − ηk)^n
        return np.sqrt(q) * ratio_function("gradient_flow")(k, np.asarray(eta) * steps, 0.0, 0)
    return [(denoiser, "denoiser_eigenvalues", mutated)]


def _gd_off_by_one():
    from . import denoiser
    real = denoiser.denoiser_eigenvalues

    def mutated(lam_hat, one_minus_alpha_bar, *, steps=None, **kwargs):
        return real(lam_hat, one_minus_alpha_bar,
                    steps=None if steps is None else steps + 1, **kwargs)
    return [(denoiser, "denoiser_eigenvalues", mutated)]


def _transfer_wrong_ridge():
    from . import claims_model
    real = claims_model.transfer_function

    def mutated(lam, **kwargs):
        return real(lam, **{**kwargs, "c": kwargs.get("c", 0.0) + 0.05})
    return [(claims_model, "transfer_function", mutated)]


def _transfer_last_step_noise():
    from . import claims_model
    real = claims_model.transfer_function

    def mutated(lam, **kwargs):
        # v_0 = a_1² v_1 + σ_1² with σ_1² = β_1 instead of 0: f + β_1, exactly
        return real(lam, **kwargs) + _schedule_beta_1(kwargs)
    return [(claims_model, "transfer_function", mutated)]


def _no_start_correction():
    from . import claims_model

    def mutated(lam, alpha_bar_T_value):  # f_∞ = λ: as if the sampler started at the marginal
        return np.asarray(lam, dtype=float)
    return [(claims_model, "continuous_transfer_function", mutated)]


def _wrong_local_order():
    from . import claims_model
    return [(claims_model, "local_error_order", lambda *args, **kwargs: 3)]


def _loss_without_noise_term():
    import sympy as sp

    from theory.model import noise_averaged_loss
    from theory.symbols import alpha_bar, lam, w

    from . import losses
    expr = noise_averaged_loss(lam) - (1 - alpha_bar) * w**2  # the ε-variance term dropped
    compiled = sp.lambdify((w, lam, alpha_bar), expr, "numpy")
    return [(losses, "compiled_loss", lambda: compiled)]


def _test_loss_as_train_loss():
    from . import claims_model
    real = claims_model.step_losses

    def mutated(*args, **kwargs):
        train, _ = real(*args, **kwargs)
        return train, train  # u_iᵀΣu_i replaced by λ̂_i: the test loss seen through Σ̂
    return [(claims_model, "step_losses", mutated)]


# group B ---------------------------------------------------------------------------

def _exact_kl_doubled():
    from . import claims_large_n
    real = claims_large_n.expected_kl_identity

    def mutated(*args, **kwargs):
        return 2 * real(*args, **kwargs)  # d(d+1)/(2N) for d(d+1)/(4N) to leading order
    return [(claims_large_n, "expected_kl_identity", mutated)]


def _estimated_mean_as_known():
    from . import claims_large_n
    real = claims_large_n.expected_kl_identity

    def mutated(d, N, direction="forward", mean="known", dps=30):
        return real(d, N, direction, "known", dps=dps)  # the d mean parameters forgotten
    return [(claims_large_n, "expected_kl_identity", mutated)]


def _series_coefficient(m, d, direction, mean):
    """a_m(d) of the 1/N series as an exact rational (theory.kl.series_coefficients)."""
    import sympy as sp

    from theory.kl import series_coefficients
    from theory.symbols import d as d_sym

    return sp.Rational(series_coefficients(m, direction, mean)[m - 1].subs(d_sym, d))


def _mp(rational):
    import mpmath
    return mpmath.mpf(rational.p) / rational.q


def _series_leading_doubled():
    import mpmath

    from . import claims_large_n
    real = claims_large_n.expected_kl_series_value

    def mutated(d, N, order, direction="forward", mean="known", dps=30):
        value = real(d, N, order, direction, mean, dps=dps)
        with mpmath.workdps(dps):
            return value + _mp(_series_coefficient(1, d, direction, mean)) / N
    return [(claims_large_n, "expected_kl_series_value", mutated)]


def _series_next_order_sign():
    import mpmath

    from . import claims_large_n
    real = claims_large_n.expected_kl_series_value

    def mutated(d, N, order, direction="forward", mean="known", dps=30):
        value = real(d, N, order, direction, mean, dps=dps)
        if order < 2:
            return value
        with mpmath.workdps(dps):  # a₂ → −a₂
            return value - 2 * _mp(_series_coefficient(2, d, direction, mean)) / mpmath.mpf(N) ** 2
    return [(claims_large_n, "expected_kl_series_value", mutated)]


def _model_kwargs(kwargs):
    return {k: v for k, v in kwargs.items() if k != "direction"}


def _a1_dropped_delta():
    from . import asymptotics, claims_large_n
    real = claims_large_n.leading_coefficient

    def mutated(lam, **kwargs):
        model = _model_kwargs(kwargs)
        lam = np.asarray(lam, dtype=float)
        elasticity = lam * asymptotics.transfer_derivative(lam, **model) \
            / asymptotics.transfer_function(lam, **model)
        return real(lam, **kwargs) - 0.25 * float(np.sum(elasticity**2))  # (1+δ_ij) → 1
    return [(claims_large_n, "leading_coefficient", mutated)]


def _a1_data_independent():
    from . import claims_large_n

    def mutated(lam, **kwargs):
        d = np.asarray(lam).size
        return d * (d + 1) / 4  # "independent of the data" taken for granted
    return [(claims_large_n, "leading_coefficient", mutated)]


def _a1_derivative_for_divided_difference():
    from . import asymptotics, claims_large_n

    def mutated(lam, **kwargs):
        model = _model_kwargs(kwargs)
        lam = np.asarray(lam, dtype=float)
        f = asymptotics.transfer_function(lam, **model)
        fp = asymptotics.transfer_derivative(lam, **model)
        # every pair treated as "close": f[λ_i, λ_j] → (f′(λ_i) + f′(λ_j))/2
        return asymptotics.leading_coefficient_from_transfer(lam, f, fp,
                                                             close_rtol=1 - 1e-12)
    return [(claims_large_n, "leading_coefficient", mutated)]


def _loss_train_sign():
    from . import claims_large_n
    real = claims_large_n.loss_coefficients

    def mutated(*args, **kwargs):
        B = real(*args, **kwargs)
        return {**B, "train": -B["train"], "gap": B["test"] + B["train"]}
    return [(claims_large_n, "loss_coefficients", mutated)]


def _loss_test_mirrored():
    from . import claims_large_n
    real = claims_large_n.loss_coefficients

    def mutated(*args, **kwargs):
        B = real(*args, **kwargs)  # B_test = −B_train holds for c = 0, τ = ∞ only
        return {**B, "test": -B["train"], "gap": -2 * B["train"]}
    return [(claims_large_n, "loss_coefficients", mutated)]


# group C ---------------------------------------------------------------------------

def _mp_closed_form_log_sign():
    import sympy as sp

    from . import claims_proportional
    real = claims_proportional.isotropic_identity_kl

    def mutated(*args, **kwargs):  # ½[1 + ((1−q)/q) log(1−q)] → ½[1 − ((1−q)/q) log(1−q)]
        return real(*args, **kwargs).replace(sp.log, lambda x: -sp.log(x))
    return [(claims_proportional, "isotropic_identity_kl", mutated)]


def _proportional_kl_directions_swapped():
    from . import claims_proportional
    real = claims_proportional.proportional_kl

    def mutated(*args, direction="forward", **kwargs):
        swapped = "reverse" if direction == "forward" else "forward"
        return real(*args, direction=swapped, **kwargs)
    return [(claims_proportional, "proportional_kl", mutated)]


def _proportional_test_as_train():
    from . import claims_proportional
    real = claims_proportional.proportional_losses

    def mutated(*args, **kwargs):
        L = real(*args, **kwargs)  # s(x) = |κ(x + i0)|²/x replaced by x: no overlaps
        return {**L, "test": L["train"]}
    return [(claims_proportional, "proportional_losses", mutated)]


def _scaling_exponent_halved():
    from theory import scaling as TS
    real = TS.steep_asymptotics

    def mutated():
        out = dict(real())
        out["exponent"] = 1 - TS.k / 2  # the missing variance falling like N^(1-k/2)
        return out
    return [(TS, "steep_asymptotics", mutated)]


def _optimal_ridge_curve_shifted():
    from . import proportional
    real = proportional.proportional_losses

    def mutated(*args, **kwargs):  # the equivalent's test loss evaluated at 1.5 c
        if kwargs.get("c"):
            kwargs = {**kwargs, "c": 1.5 * kwargs["c"]}
        return real(*args, **kwargs)
    return [(proportional, "proportional_losses", mutated)]


def _optimal_stopping_curve_shifted():
    from . import proportional
    real = proportional.proportional_losses

    def mutated(*args, **kwargs):  # the equivalent's test loss evaluated at 1.5 τ
        if kwargs.get("tau") is not None:
            kwargs = {**kwargs, "tau": 1.5 * kwargs["tau"]}
        return real(*args, **kwargs)
    return [(proportional, "proportional_losses", mutated)]


def mutations():
    """The catalogue of deliberately wrong variants, at least one per kind of claim."""
    M = Mutation
    return [
        M("A1-ridge-twice", "ridge minimiser with the penalty counted twice: "
          "W = sqrt(1-abar)(C + 2c)^-1", ("A1.sgd-minimiser",), _ridge_twice),
        M("A1-gd-as-flow", "n-step gradient descent replaced by gradient flow at tau = n*eta: "
          "exp(-n eta k) for (1 - eta k)^n", ("A1.gd-early-stopping",), _gd_as_gradient_flow),
        M("A1-gd-off-by-one", "gradient-descent denoiser after n + 1 steps instead of n",
          ("A1.gd-early-stopping",), _gd_off_by_one),
        M("A2-transfer-ridge", "transfer f evaluated with ridge c + 0.05 (the pipeline "
          "trains with c)", ("A2.end-to-end",), _transfer_wrong_ridge),
        M("A2-last-step-noise", "transfer without the last-step correction: sigma_1^2 = "
          "beta_1 instead of sigma_1 = 0 (f + beta_1)",
          ("A2.end-to-end", "A2.continuous-limit", "A2.null-direction"),
          _transfer_last_step_noise),
        M("A2-no-start-correction", "continuous limit without the start correction: "
          "f_inf = lambda", ("A2.continuous-limit",), _no_start_correction),
        M("A2-wrong-order", "local error order 3 instead of the derived 2 (global "
          "exponent -2 for -1)", ("A2.continuous-limit",), _wrong_local_order),
        M("A3-loss-no-noise-term", "noise-averaged loss without the noise variance term "
          "(1 - abar) w^2", ("A3.train-loss", "A3.test-loss"), _loss_without_noise_term),
        M("A3-test-as-train", "test loss with lam_hat in place of u^T Sigma u (no "
          "eigenvector overlaps)", ("A3.test-loss",), _test_loss_as_train_loss),
        M("B1-exact-kl-doubled", "exact E[KL] doubled: d(d+1)/(2N) for d(d+1)/(4N)",
          ("B1.exact-identity-kl",), _exact_kl_doubled),
        M("B1-estimated-as-known", "estimated-mean E[KL] with the known-mean formula "
          "(d(d+1)/4N for d(d+3)/4N)", ("B1.exact-identity-kl",), _estimated_mean_as_known),
        M("B2-series-leading-doubled", "K-term series with leading term d(d+1)/(2N) for "
          "d(d+1)/(4N)", ("B2.series-order",), _series_leading_doubled),
        M("B2-series-next-sign", "series with the wrong sign of the second order: "
          "-a2/N^2", ("B2.series-order",), _series_next_order_sign),
        M("B3-dropped-delta", "a1 with the Kronecker delta dropped: (1 + delta_ij) -> 1",
          ("B3.leading-coefficient",), _a1_dropped_delta),
        M("B3-data-independent", "a1 = d(d+1)/4 for every transfer and spectrum",
          ("B3.leading-coefficient",), _a1_data_independent),
        M("B3-derivative-for-divided-difference", "a1 with f[l_i, l_j] replaced by "
          "(f'(l_i) + f'(l_j))/2", ("B3.leading-coefficient",),
          _a1_derivative_for_divided_difference),
        M("B4-train-sign", "train-loss coefficient B_train with the wrong sign "
          "(optimism reversed)", ("B4.loss-gap",), _loss_train_sign),
        M("B4-test-mirrored", "B_test = -B_train (true only for c = 0, tau = inf)",
          ("B4.loss-gap",), _loss_test_mirrored),
        M("C1-log-sign", "Marchenko-Pastur KL/d with the sign of the log term flipped: "
          "1/2[1 - ((1-q)/q) log(1-q)]", ("C1.isotropic-closed-form",),
          _mp_closed_form_log_sign),
        M("C2-directions-swapped", "deterministic-equivalent KL with forward and reverse "
          "swapped", ("C2.proportional-kl",), _proportional_kl_directions_swapped),
        M("C3-test-as-train", "deterministic-equivalent test loss with the train second "
          "moment x in place of s(x) = |kappa(x+i0)|^2/x", ("C3.proportional-losses",),
          _proportional_test_as_train),
        M("C4-exponent-halved", "missing variance exponent 1 - k/2 instead of 1 - k",
          ("C4.missing-variance-exponent",), _scaling_exponent_halved),
        M("C5-ridge-curve-shifted", "deterministic-equivalent test loss as a function of c "
          "evaluated at 1.5 c (its optimum c* off by 1/1.5)", ("C5.optimal-ridge",),
          _optimal_ridge_curve_shifted),
        M("C6-stopping-curve-shifted", "deterministic-equivalent test loss as a function of "
          "tau evaluated at 1.5 tau (its optimum tau* off by 1/1.5)", ("C6.optimal-stopping",),
          _optimal_stopping_curve_shifted),
    ]


# ------------------------------------------------------------------------------------
# running


def _claims_by_id(claims=None):
    from .claims import all_claims
    claims = all_claims() if claims is None else list(claims)
    return {c.id: c for c in claims}


def _target_rows(report, family_size):
    """The report's rows with verdicts re-decided by Holm over ``family_size`` claims."""
    rows = report.rows
    stat = [i for i, r in enumerate(rows) if r["kind"] == "statistical"]
    m = max(family_size, len(stat))
    rejected = holm([rows[i]["p"] for i in stat] + [1.0] * (m - len(stat)))
    verdict = {i: not rejected[j] for j, i in enumerate(stat)}
    out = []
    for i, r in enumerate(rows):
        ok = verdict[i] if i in verdict else r["verdict"] == "pass"
        out.append({"id": r["id"], "kind": r["kind"], "theory": r["theory"],
                    "estimate": r["estimate"], "z": r["z"], "p": r["p"],
                    "verdict": "pass" if ok else "fail", "note": r["note"]})
    return out


BUDGETS = ("quick", "default", "full")


def _budget(budget):
    """(quick, full) flags of :func:`numerics.verify.run_suite` for a budget name."""
    check_choice(budget, "budget", BUDGETS)
    return budget == "quick", budget == "full"


def run_mutation(mutation, *, seed=0, budget="quick", claims=None, family_size=None):
    """Run the claims ``mutation`` targets with the mutation in force; a result dict.

    ``budget`` is "quick" (default), "default" or "full" (the claims' budget tiers);
    ``claims`` (default: the registry) supplies the claims by id; ``family_size`` is
    the Holm family (default: the number of those claims).  The cache is bypassed and
    the claims run in this process.
    """
    from .verify import run_suite

    by_id = _claims_by_id(claims)
    family_size = len(by_id) if family_size is None else family_size
    missing = [t for t in mutation.targets if t not in by_id]
    result = {"id": mutation.id, "description": mutation.description, "rejected": False,
              "failed_claims": [], "targets": [], "seconds": 0.0}
    if missing:
        result["error"] = f"targets not registered: {missing}"
        return result
    quick, full = _budget(budget)
    start = time.perf_counter()
    try:
        with mutation.applied():
            report = run_suite(seed=seed, quick=quick, full=full, cache=None, workers=1,
                               claims=[by_id[t] for t in mutation.targets])
    except Exception as exc:  # a mutation that crashes the claim is not "rejected"
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["seconds"] = round(time.perf_counter() - start, 3)
        return result
    rows = _target_rows(report, family_size)
    result["targets"] = rows
    result["failed_claims"] = [r["id"] for r in rows if r["verdict"] == "fail"]
    result["rejected"] = bool(result["failed_claims"])
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def _pool_run(index):
    chosen, kwargs = shared_state()
    return index, run_mutation(chosen[index], **kwargs)


def run_mutations(chosen=None, *, seed=0, budget="quick", workers=1, claims=None,
                  progress=None):
    """Run every mutation in ``chosen`` (default :func:`mutations`); results in order.

    With ``workers > 1`` (and fork available) the mutations are shared among forked
    processes; each process applies its mutation itself, so no patch leaks between
    mutations or into the caller.  ``progress(result)`` is called as each finishes.
    """
    from concurrent.futures import as_completed

    from .cache import ResultCache

    chosen = mutations() if chosen is None else list(chosen)
    _budget(budget)
    by_id = _claims_by_id(claims)
    kwargs = dict(seed=seed, budget=budget, claims=list(by_id.values()), family_size=len(by_id))
    results = [None] * len(chosen)
    if workers == 1 or len(chosen) <= 1 or not can_fork():
        for i, mutation in enumerate(chosen):
            results[i] = run_mutation(mutation, **kwargs)
            if progress:
                progress(results[i])
        return results
    with fork_pool(min(workers, len(chosen)), (chosen, kwargs)) as pool:
        # longest first (by the suite's last measured claim times), so the workers finish
        # together; the hints are only read from the cache, nothing is stored
        hints = ResultCache().timings()
        order = sorted(range(len(chosen)),
                       key=lambda i: -sum(hints.get(t, 0.0) for t in chosen[i].targets))
        futures = [pool.submit(_pool_run, i) for i in order]
        for future in as_completed(futures):
            i, result = future.result()
            results[i] = result
            if progress:
                progress(result)
    return results


def run_seeds(K, *, first=1, budget="quick", claims=None, cache=None, workers=1,
              progress=None):
    """The whole suite with the correct formulas under seeds first..first+K−1.

    Returns ``[{"seed", "failed_claims", "seconds"}]``; ``cache`` is a
    :class:`~numerics.cache.ResultCache` (None: run everything afresh, store nothing).
    """
    from .claims import all_claims
    from .verify import run_suite

    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {K!r}")
    quick, full = _budget(budget)
    claims = all_claims() if claims is None else list(claims)
    out = []
    for seed in range(first, first + K):
        report = run_suite(seed=seed, quick=quick, full=full, claims=claims, cache=cache,
                           workers=workers)
        entry = {"seed": seed, "failed_claims": [r["id"] for r in report.rows
                                                 if r["verdict"] == "fail"],
                 "seconds": round(report.seconds, 3)}
        out.append(entry)
        if progress:
            progress(entry)
    return out


def _binomial_tail(k, n, p):
    """P(X ≥ k), X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1)))


def false_alarm_summary(seed_results, level=FAMILY_LEVEL, quantile=ALARM_QUANTILE):
    """Seeds with any failure, against Binomial(K, level).

    Returns {"seeds", "alarms", "expected", "allowed", "p_value", "per_claim"}:
    ``allowed`` is the smallest x with P(X > x) ≤ 1 − ``quantile``, ``p_value`` is
    P(X ≥ alarms) under the nominal level, ``per_claim`` counts each claim's failures.
    """
    K = len(seed_results)
    alarms = sum(bool(s["failed_claims"]) for s in seed_results)
    allowed = next(x for x in range(K + 1) if _binomial_tail(x + 1, K, level) <= 1 - quantile)
    per_claim = Counter(c for s in seed_results for c in s["failed_claims"])
    return {"seeds": K, "alarms": alarms, "expected": K * level, "allowed": allowed,
            "p_value": _binomial_tail(alarms, K, level), "per_claim": dict(per_claim)}


def to_json(mutation_results=None, seed_results=None, level=FAMILY_LEVEL):
    """The documented JSON document (a dict): mutations, seeds, family_level."""
    return {"mutations": list(mutation_results or []), "seeds": list(seed_results or []),
            "family_level": level}


def format_mutations(results):
    """A plain-text table: mutation, targets, rejected, failing claim(s) with z or slope."""
    lines = []
    for r in results:
        if "error" in r:
            detail = "ERROR " + r["error"]
        else:
            detail = "; ".join(
                f"{t['id']} {t['verdict']}"
                + (f" z={t['z']:.1f}" if t["z"] is not None
                   else f" (theory {t['theory']:.4g}, got {t['estimate']:.4g})")
                for t in r["targets"])
        lines.append((r["id"], "yes" if r["rejected"] else "NO", detail))
    header = ("mutation", "rejected", "targeted claims")
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h)
              for i, h in enumerate(header[:2])]
    fmt = f"{{:<{widths[0]}}}  {{:<{widths[1]}}}  {{}}"
    out = [fmt.format(*header), fmt.format("-" * widths[0], "-" * widths[1], "-" * 15)]
    out += [fmt.format(*l) for l in lines]
    rejected = sum(r["rejected"] for r in results)
    out.append("")
    out.append(f"{rejected} of {len(results)} mutations rejected "
               f"(Holm at family-wise level {FAMILY_LEVEL} over the whole registry)")
    return "\n".join(out)


def format_seeds(seed_results, level=FAMILY_LEVEL):
    """Per seed the failed claims, and the false-alarm count against the nominal level."""
    s = false_alarm_summary(seed_results, level)
    out = [f"seed {r['seed']:>3}: " + (", ".join(r["failed_claims"]) or "all claims pass")
           for r in seed_results]
    out.append("")
    out.append(f"{s['alarms']} of {s['seeds']} seeds with a failure (expected at most "
               f"{s['expected']:.2g} at family-wise level {level}; up to {s['allowed']} is "
               f"within the {ALARM_QUANTILE:.0%} binomial quantile; P(X >= {s['alarms']}) = "
               f"{s['p_value']:.3g})")
    if s["per_claim"]:
        out.append("failures per claim: " + ", ".join(f"{k} x{v}"
                                                      for k, v in sorted(s["per_claim"].items())))
    return "\n".join(out)


# ------------------------------------------------------------------------------------
# command line


def _positive(name):
    def parse(text):
        import argparse
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {text}")
        return value
    return parse


def _nonnegative_seed(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text}")
    return value


def add_parser(subparsers):
    """Add the ``calibrate`` subcommand to an argparse ``subparsers`` object."""
    from .montecarlo import cpu_count

    p = subparsers.add_parser(
        "calibrate", help="measure the suite's power (mutations) and false-alarm rate (seeds)",
        description="Run the suite against deliberately wrong formulas (--mutations) and "
                    "with the correct ones under seeds 1..K (--seeds K).")
    p.add_argument("--mutations", action="store_true",
                   help="run the targeted claims against every mutation (cache bypassed)")
    p.add_argument("--seeds", type=_positive("seeds"), metavar="K", default=None,
                   help="run the whole suite under seeds 1..K with the correct formulas")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--quick", dest="budget", action="store_const", const="quick",
                        help="the claims' --quick budgets (the default here)")
    budget.add_argument("--default-budget", dest="budget", action="store_const",
                        const="default", help="the claims' default budgets (ldv verify)")
    budget.add_argument("--full", dest="budget", action="store_const", const="full",
                        help="the claims' --full budgets (slow)")
    p.set_defaults(budget="quick")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--workers", type=_positive("workers"), default=min(2, cpu_count()),
                   help="processes (default: min(2, cores)); results do not depend on it")
    p.add_argument("--seed", type=_nonnegative_seed, default=0,
                   help="root seed of the mutated runs (default 0)")
    p.add_argument("--only", metavar="IDS", default=None,
                   help="comma-separated mutation ids (default: all)")
    p.add_argument("--no-cache", action="store_true",
                   help="--seeds: neither reuse nor store finished claims")
    p.set_defaults(func=run)
    return p


def run(args):
    """Handler of ``ldv calibrate``; returns the exit status."""
    import json

    from .cache import ResultCache

    if not args.mutations and not args.seeds:
        raise ValueError("calibrate needs --mutations and/or --seeds K")
    chosen = mutations()
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        known = {m.id: m for m in chosen}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise ValueError(f"--only must name mutations among {', '.join(known)}; "
                             f"got {', '.join(unknown)}")
        chosen = [known[w] for w in wanted]

    def say(text):
        print(text, file=sys.stderr, flush=True)

    mutation_results, seed_results, ok = [], [], True
    if args.mutations:
        mutation_results = run_mutations(
            chosen, seed=args.seed, budget=args.budget, workers=args.workers,
            progress=lambda r: say(f"mutation {r['id']}: "
                                   f"{'rejected' if r['rejected'] else 'NOT rejected'} "
                                   f"({r['seconds']:.1f} s)"))
        print(format_mutations(mutation_results))
        ok = ok and all(r["rejected"] for r in mutation_results)
    if args.seeds:
        if mutation_results:
            print()
        seed_results = run_seeds(
            args.seeds, budget=args.budget, cache=ResultCache(enabled=not args.no_cache),
            workers=args.workers,
            progress=lambda r: say(f"seed {r['seed']}: {len(r['failed_claims'])} failed "
                                   f"({r['seconds']:.1f} s)"))
        print(format_seeds(seed_results))
        summary = false_alarm_summary(seed_results)
        ok = ok and summary["alarms"] <= summary["allowed"]
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(_clean(to_json(mutation_results, seed_results)), fh, indent=2)
    return 0 if ok else 1


def _clean(value):
    """Plain JSON: numpy scalars unwrapped, inf/nan written as strings (as ldv verify)."""
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
