"""The result cache: a finished claim is stored once and reused by later runs.

An entry is keyed by the SHA-256 of (claim id, its parameters — which include every
sample count —, the root seed, and the code version).  The code version hashes the
source of every module in ``theory/`` and ``numerics/`` together with the versions of
numpy, sympy and mpmath, so any change to a formula, an estimator or a verdict rule
invalidates every entry: a cached verdict is always the verdict the current code would
reach.  Each entry is written atomically (temporary file, then ``os.replace``) as soon
as its claim finishes, so an interrupted run keeps every finished claim.

Location: ``$LDV_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/ldv``, else ``~/.cache/ldv``.
"""

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

__all__ = ["ResultCache", "cache_directory", "code_version"]


def cache_directory():
    """The directory of the result cache (see the module docstring)."""
    if os.environ.get("LDV_CACHE_DIR"):
        return Path(os.environ["LDV_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ldv"


@lru_cache(maxsize=1)
def code_version():
    """SHA-256 (hex, 16 digits) of the theory/ and numerics/ sources and library versions."""
    import mpmath
    import numpy
    import sympy

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for package in ("theory", "numerics"):
        for path in sorted((root / package).glob("*.py")):
            digest.update(f"{package}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    for module in (numpy, sympy, mpmath):
        digest.update(f"{module.__name__}={module.__version__}\0".encode())
    return digest.hexdigest()[:16]


class ResultCache:
    """Claim outcomes on disk, one JSON file per (claim, parameters, seed, code version).

    Parameters
    ----------
    directory : path-like, optional
        Defaults to :func:`cache_directory`.
    enabled : bool
        False makes every lookup miss and every store a no-op (``ldv verify --no-cache``).
    """

    def __init__(self, directory=None, enabled=True):
        self.directory = Path(directory) if directory is not None else cache_directory()
        self.enabled = enabled

    @staticmethod
    def key(claim_id, params, seed):
        text = json.dumps({"claim": claim_id, "params": params, "seed": int(seed),
                           "code": code_version()}, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def _path(self, claim_id, params, seed):
        safe = "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in claim_id)
        return self.directory / f"{safe}-{self.key(claim_id, params, seed)[:24]}.json"

    def load(self, claim_id, params, seed):
        """The stored record (a dict) or None."""
        if not self.enabled:
            return None
        path = self._path(claim_id, params, seed)
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):  # missing or unreadable (e.g. truncated): a miss
            return None

    def store(self, claim_id, params, seed, record):
        """Write ``record`` (JSON-serialisable dict; inf allowed) atomically."""
        if not self.enabled:
            return
        self._write(self._path(claim_id, params, seed), record)

    def _write(self, path, obj):
        """JSON to ``path`` via a temporary file and ``os.replace``: never half written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(obj, fh, default=float)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def timings(self):
        """Last measured seconds per claim id (a scheduling hint only; {} if none)."""
        if not self.enabled:
            return {}
        try:
            with open(self.directory / "timings.json", encoding="utf-8") as fh:
                return {str(k): float(v) for k, v in json.load(fh).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def store_timings(self, seconds):
        """Merge ``{claim id: seconds}`` into the hints, atomically."""
        if not self.enabled or not seconds:
            return
        self._write(self.directory / "timings.json", {**self.timings(), **seconds})
