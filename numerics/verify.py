"""Run the verification suite: every claim, one verdict each, Holm across the family.

:func:`run_suite` returns a :class:`Report`; :func:`format_table` renders it for the
terminal and :meth:`Report.to_json` in the documented schema:

    {"claims": [{"id", "statement", "regime", "params", "theory", "estimate", "stderr",
                 "z", "verdict", "cached", ...}],
     "summary": {"passed", "failed", "seconds", "cached", ...}}
"""

import dataclasses
import json
import math
import time
from concurrent.futures import as_completed
from dataclasses import dataclass

import numpy as np

from .cache import ResultCache
from .claims import Outcome, all_claims
from .verdict import FAMILY_LEVEL, holm
from .workers import can_fork, fork_pool, shared_state, threadpool_limits

__all__ = ["Report", "run_suite", "format_table"]


@dataclass
class Report:
    seed: int
    quick: bool
    rows: list
    seconds: float
    full: bool = False

    @property
    def budget(self):
        return "quick" if self.quick else "full" if self.full else "default"

    @property
    def passed(self):
        return sum(r["verdict"] == "pass" for r in self.rows)

    @property
    def failed(self):
        return len(self.rows) - self.passed

    def to_json(self):
        def clean(value):  # JSON has no inf/nan: write them as strings
            if isinstance(value, float) and not math.isfinite(value):
                return str(value)
            if isinstance(value, (np.floating, np.integer)):
                return clean(value.item())
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return json.dumps(clean({
            "claims": self.rows,
            "summary": {"passed": self.passed, "failed": self.failed,
                        "seconds": round(self.seconds, 3), "seed": self.seed,
                        "cached": sum(bool(r.get("cached")) for r in self.rows),
                        "quick": self.quick, "budget": self.budget,
                        "family_level": FAMILY_LEVEL},
        }), indent=2)


def _record(outcome, seconds):
    return {"outcome": dataclasses.asdict(outcome), "seconds": seconds}


def _outcome(record):
    return Outcome(**record["outcome"]), record["seconds"]


def _timed(claim, seed, quick, full=False):
    t0 = time.perf_counter()
    outcome = claim(seed, quick, full)
    return outcome, time.perf_counter() - t0


def _pool_run(index, seed, quick, full):
    return _timed(shared_state()[index], seed, quick, full)


def _execute(claims, todo, seed, quick, workers, full=False):
    """Yield (index, outcome, seconds) for the claims at ``todo`` as each one finishes."""
    if workers == 1 or len(todo) <= 1 or not can_fork():
        with threadpool_limits(1):  # as in the worker processes
            for i in todo:
                yield (i, *_timed(claims[i], seed, quick, full))
        return
    # fork: the claims (closures included) are inherited by the workers, not pickled
    with fork_pool(min(workers, len(todo)), claims) as pool:
        futures = {pool.submit(_pool_run, i, seed, quick, full): i for i in todo}
        for future in as_completed(futures):
            yield (futures[future], *future.result())


def run_suite(*, seed=0, quick=False, claims=None, progress=None, cache=None, workers=1,
              full=False):
    """Run ``claims`` (default: all registered) and decide every verdict.

    Statistical claims are rejected by Holm's rule at :data:`FAMILY_LEVEL` over their
    p-values; exact claims by their own derived tolerance.

    Parameters
    ----------
    seed : int, ≥ 0
        Root seed; each claim derives its own SeedSequence from it and its id.
    quick : bool
        Use the claims' smaller ``--quick`` budgets.
    full : bool
        Use the claims' larger ``--full`` budgets (exclusive with ``quick``).
    claims : list of Claim, optional
    progress : callable, optional
        ``progress(claim, cached)`` is called as each claim finishes.
    cache : ResultCache, optional
        Finished claims are looked up and stored here (each as soon as it finishes, so
        an interrupted run keeps them); None runs everything afresh and stores nothing.
    workers : int, ≥ 1
        Processes running claims side by side (each with one BLAS thread).  The result
        does not depend on it.
    """
    claims = all_claims() if claims is None else list(claims)
    cache = cache if cache is not None else ResultCache(enabled=False)
    start = time.perf_counter()
    params = [c.parameters(quick, full) for c in claims]
    results, todo = {}, []
    for i, c in enumerate(claims):
        record = cache.load(c.id, params[i], seed)
        if record is None:
            todo.append(i)
            continue
        results[i] = (*_outcome(record), True)
        if progress:
            progress(c, True)
    # longest first (by the last measured time, if any) so the workers finish together
    hints = cache.timings()
    todo.sort(key=lambda i: -hints.get(claims[i].id, getattr(claims[i], "cost", 1.0)))
    measured = {}
    for i, outcome, seconds in _execute(claims, todo, seed, quick, workers, full):
        cache.store(claims[i].id, params[i], seed, _record(outcome, seconds))
        results[i] = (outcome, seconds, False)
        measured[claims[i].id] = seconds
        if progress:
            progress(claims[i], False)
    cache.store_timings(measured)
    outcomes = [results[i] for i in range(len(claims))]
    stat = [i for i, (o, _, _) in enumerate(outcomes) if o.kind == "statistical"]
    rejected = dict(zip(stat, holm([outcomes[i][0].p for i in stat])))
    rows = []
    for i, (c, (o, seconds, cached)) in enumerate(zip(claims, outcomes)):
        ok = (not rejected[i]) if o.kind == "statistical" else bool(o.passed)
        rows.append({
            "id": c.id, "statement": c.statement, "regime": c.regime, "group": c.group,
            "kind": o.kind, "params": o.params, "theory": o.theory, "estimate": o.estimate,
            "stderr": o.stderr, "z": o.z, "p": o.p, "floor": o.floor, "note": o.note,
            "verdict": "pass" if ok else "fail", "seconds": round(seconds, 3),
            "cached": cached,
        })
    return Report(seed, quick, rows, time.perf_counter() - start, full)


def _params_text(params, width=34):
    text = ", ".join(f"{k}={v}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(report):
    """A plain-text table: claim, regime, parameters, theory, estimate ± s.e., z, verdict."""
    header = ("claim", "regime", "parameters", "theory", "estimate ± s.e.", "z", "verdict")
    lines = []
    for r in report.rows:
        est = f"{r['estimate']:.6g}" + (f" ± {r['stderr']:.2g}" if r["stderr"] is not None else "")
        z = f"{r['z']:.2f}" if r["z"] is not None else "exact"
        lines.append((r["id"], r["regime"][:28], _params_text(r["params"]), f"{r['theory']:.6g}",
                      est, z, r["verdict"].upper()))
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*l) for l in lines]
    out.append("")
    cached = sum(bool(r.get("cached")) for r in report.rows)
    out.append(f"{report.passed} passed, {report.failed} failed"
               f"{f', {cached} from cache' if cached else ''}  "
               f"(seed {report.seed}, {report.budget} budget, "
               f"family-wise level {FAMILY_LEVEL} by Holm, {report.seconds:.1f} s)")
    return "\n".join(out)
