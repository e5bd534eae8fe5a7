"""Claims: a derived expression, where it is tested, how it is estimated, and the rule.

A :class:`Claim` binds an id, a one-line statement, its regime, the parameters where it
is tested (declared up front, with the smaller budgets of ``--quick`` and the larger ones
of ``--full`` as overrides) and a
``run(seed_sequence, params)`` function that evaluates the theory and the Monte Carlo
estimator and returns an :class:`Outcome`.  Because the parameters are declared, a
finished claim can be cached under (id, parameters, seed, code version).  The
verdict rule is fixed in the claim (statistical: z-test with Holm across the suite,
see :mod:`numerics.verdict`; exact: a derived tolerance) before anything runs.

Claims register themselves with :func:`claim`; :func:`all_claims` imports the modules
that define them.
"""

import zlib
from dataclasses import dataclass, field

import numpy as np

from .verdict import bonferroni, p_value, z_score

__all__ = ["Claim", "Outcome", "claim", "all_claims", "claim_seed", "statistical_outcome"]

_REGISTRY = {}


@dataclass
class Outcome:
    """What one run of a claim measured.

    ``kind`` is "statistical" (``p`` feeds the Holm correction) or "exact" (``passed``
    is decided by the claim's own derived tolerance).  For a claim over many entries,
    ``theory``/``estimate``/``stderr``/``z`` describe the worst entry.
    """

    kind: str
    params: dict
    theory: float
    estimate: float
    stderr: float = None
    z: float = None
    p: float = None
    passed: bool = None
    floor: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    regime: str
    group: str
    run: object
    params: dict
    quick: dict
    full: dict = field(default_factory=dict)
    cost: float = 1.0

    def parameters(self, quick=False, full=False):
        """The declared parameters, with the ``--quick`` or ``--full`` overrides applied."""
        if quick and full:
            raise ValueError("quick and full are exclusive budgets")
        return {**self.params, **(self.quick if quick else {}), **(self.full if full else {})}

    def __call__(self, seed, quick=False, full=False):
        return self.run(claim_seed(seed, self.id), self.parameters(quick, full))


def claim(id, statement, regime, group, params=None, quick=None, full=None, cost=1.0):
    """Decorator: register ``run(seed_sequence, params) -> Outcome`` as a claim.

    ``params`` are the default parameters (sample counts included); ``quick`` the
    entries that ``--quick`` replaces (CI budgets) and ``full`` those that ``--full``
    replaces (larger dimensions, slower).  ``cost`` is the claim's seconds at the quick
    budget on a 2-core reference machine: a scheduling hint (longest first) used until
    the result cache holds a measured time; it never affects a result.
    """
    def register(run):
        if id in _REGISTRY:
            raise ValueError(f"claim id {id!r} registered twice")
        for name, overrides in (("quick", quick), ("full", full)):
            unknown = set(overrides or {}) - set(params or {})
            if unknown:
                raise ValueError(f"{name} overrides {sorted(unknown)} are not parameters of {id}")
        _REGISTRY[id] = Claim(id, statement, regime, group, run, dict(params or {}),
                              dict(quick or {}), dict(full or {}), float(cost))
        return run
    return register


def all_claims():
    """Every registered claim, in registration order."""
    from . import claims_model  # noqa: F401, I001  (registers group A)
    from . import claims_large_n  # noqa: F401  (registers group B)
    from . import claims_proportional  # noqa: F401  (registers group C)
    return list(_REGISTRY.values())


def claim_seed(seed, claim_id):
    """SeedSequence of one claim: independent of which other claims run."""
    return np.random.SeedSequence([int(seed), zlib.crc32(claim_id.encode())])


def statistical_outcome(params, theory, estimate, stderr, *, floor=0.0, df=None, note="",
                        extra=None):
    """Outcome of a z (or t) test over one or many entries, Bonferroni-combined."""
    theory, estimate, stderr = (np.atleast_1d(np.asarray(a, dtype=float))
                                for a in (theory, estimate, stderr))
    floor = np.broadcast_to(np.asarray(floor, dtype=float), theory.shape)
    z = z_score(estimate, theory, stderr, floor)
    worst = int(np.argmax(z))
    p_entries = [p_value(zi, df) for zi in z.ravel()]
    return Outcome("statistical", params, float(theory.flat[worst]), float(estimate.flat[worst]),
                   float(stderr.flat[worst]), float(z.flat[worst]), bonferroni(p_entries),
                   floor=float(floor.flat[worst]), note=note, extra=extra or {})
