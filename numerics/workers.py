"""Worker processes: forked, with shared state inherited and one BLAS thread each.

The Monte Carlo engine, the suite and ``ldv calibrate`` share out work (chunks of
datasets, claims, mutations) among processes started with ``fork``, so that what the
workers need — a statistic, the claim registry, possibly closures — is inherited, not
pickled.  Each worker uses a single BLAS thread: the workers already fill the cores,
and threaded BLAS busy-waits badly when cores are shared.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

__all__ = ["can_fork", "fork_pool", "shared_state", "threadpool_limits"]

_SHARED = None


def can_fork():
    """Whether this platform can start workers with ``fork`` (else callers run serially)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _install(shared):
    global _SHARED
    _SHARED = shared
    threadpool_limits(1)


def shared_state():
    """Inside a worker of :func:`fork_pool`: the object it was given."""
    return _SHARED


@contextmanager
def fork_pool(workers, shared):
    """A ``ProcessPoolExecutor`` of ``workers`` forked processes holding ``shared``.

    On leaving (normally or by an exception, e.g. KeyboardInterrupt) pending tasks are
    cancelled and the workers joined.
    """
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_install, initargs=(shared,))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
