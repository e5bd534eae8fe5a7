"""Finite-d relative error of the proportional-regime equivalents (claims C2, C3).

    python benchmarks/finite_d_errors.py          # --full budgets: d = 100, 200, 400

Prints, for every (q, k) of the claims, the relative error (Monte Carlo − equivalent)/
equivalent at each d and the extrapolated r_∞ ± s.e. that the claim z-tests; the same
numbers the claims compute (seed 0), with the per-case detail the report leaves out.
"""

from numerics import claims_proportional as CP
from numerics.claims import all_claims


def main():
    claims = {c.id: c for c in all_claims()}
    for cid in ("C2.proportional-kl", "C3.proportional-losses"):
        claim = claims[cid]
        params = claim.parameters(full=True)
        captured = {}
        real = CP._relative_errors

        def spy(*args, _real=real, **kwargs):
            captured["table"] = _real(*args, **kwargs)
            return captured["table"]
        CP._relative_errors = spy
        try:
            outcome = claim(0, full=True)
        finally:
            CP._relative_errors = real
        limits, stderrs, table = captured["table"]
        labels = (["forward", "reverse"] if cid.startswith("C2") else
                  [f"{w} t={t}" for t in params["t"] for w in ("train", "test")])
        print(f"{cid}: worst z {outcome.z:.2f}, p {outcome.p:.3g}; d = {params['d']}")
        j = 0
        for q, k, rel in table:
            cells = []
            for m, label in enumerate(labels):
                errors = ", ".join(f"{100 * r:+.2f}%" for r in rel[:, m])
                cells.append(f"{label}: {errors} -> r_inf {100 * limits[j + m]:+.2f}"
                             f" ± {100 * stderrs[j + m]:.2f}%")
            print(f"  q={q} k={k}: " + " | ".join(cells))
            j += len(labels)


if __name__ == "__main__":
    main()
