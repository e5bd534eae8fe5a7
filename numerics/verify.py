"""Run the verification suite: every claim, one verdict each, Holm across the family.

:func:`run_suite` returns a :class:`Report`; :func:`format_table` renders it for the
terminal and :meth:`Report.to_json` in the documented schema:

    {"claims": [{"id", "statement", "regime", "params", "theory", "estimate", "stderr",
                 "z", "verdict", ...}], "summary": {"passed", "failed", "seconds"}}
"""

import json
import math
import time
from dataclasses import dataclass

import numpy as np

from .claims import all_claims
from .verdict import FAMILY_LEVEL, holm

__all__ = ["Report", "run_suite", "format_table"]


@dataclass
class Report:
    seed: int
    quick: bool
    rows: list
    seconds: float

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
                        "quick": self.quick, "family_level": FAMILY_LEVEL},
        }), indent=2)


def run_suite(*, seed=0, quick=False, claims=None, progress=None):
    """Run ``claims`` (default: all registered) and decide every verdict.

    Statistical claims are rejected by Holm's rule at :data:`FAMILY_LEVEL` over their
    p-values; exact claims by their own derived tolerance.  ``progress(claim)`` is
    called before each claim runs (for a progress bar).
    """
    claims = all_claims() if claims is None else claims
    start = time.perf_counter()
    outcomes = []
    for c in claims:
        if progress:
            progress(c)
        t0 = time.perf_counter()
        outcome = c(seed, quick)
        outcomes.append((c, outcome, time.perf_counter() - t0))
    stat = [i for i, (_, o, _) in enumerate(outcomes) if o.kind == "statistical"]
    rejected = dict(zip(stat, holm([outcomes[i][1].p for i in stat])))
    rows = []
    for i, (c, o, seconds) in enumerate(outcomes):
        ok = (not rejected[i]) if o.kind == "statistical" else bool(o.passed)
        rows.append({
            "id": c.id, "statement": c.statement, "regime": c.regime, "group": c.group,
            "kind": o.kind, "params": o.params, "theory": o.theory, "estimate": o.estimate,
            "stderr": o.stderr, "z": o.z, "p": o.p, "floor": o.floor, "note": o.note,
            "verdict": "pass" if ok else "fail", "seconds": round(seconds, 3),
        })
    return Report(seed, quick, rows, time.perf_counter() - start)


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
    out.append(f"{report.passed} passed, {report.failed} failed  "
               f"(seed {report.seed}, {'quick' if report.quick else 'full'}, "
               f"family-wise level {FAMILY_LEVEL} by Holm, {report.seconds:.1f} s)")
    return "\n".join(out)
