"""A local process pool that stops at once when its caller stops.

``with ProcessPoolExecutor() as pool:`` waits, when the block raises, for every task already submitted
to run to the end before the exception gets out: after Ctrl-C or SIGTERM, a sweep or a calibration
went on for minutes. :func:`process_pool` kills the pool's processes instead. They must hold nothing
that needs cleaning up (plansim's pools only simulate and fit). Python 3.11's pool cannot stop a
running task any other way, and ``terminate()`` is not enough: a forked worker inherits the CLI's
SIGTERM handler (:func:`sim.cli.exit_on_sigterm`), whose exception the pool's worker loop catches and
reports as the task's result.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A :class:`ProcessPoolExecutor` of ``workers`` processes; if the block raises (an error, Ctrl-C,
    SIGTERM), its processes are killed and its queued tasks dropped before the exception goes on."""
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        yield pool
    except BaseException:
        processes = getattr(pool, "_processes", None) or {}  # public as kill_workers() in Python 3.14
        for process in list(processes.values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
