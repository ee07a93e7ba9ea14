"""A local process pool that stops at once when its caller stops.

``with ProcessPoolExecutor() as pool:`` waits, when the block raises, for every task already submitted
to run to the end before the exception gets out: after Ctrl-C or SIGTERM, a sweep or a calibration
went on for minutes. :func:`process_pool` kills the pool's processes instead. They must hold nothing
that needs cleaning up (plansim's pools only simulate and fit). Python 3.11's pool cannot stop a
running task any other way.

Each pool process also puts SIGTERM back to its default and dies with its caller
(:func:`_start_pool_process`). A forked process inherits the CLI's SIGTERM handler
(:func:`sim.cli.exit_on_sigterm`), whose ``SystemExit`` the pool's worker loop catches and reports as
the task's result: ``kill PID`` did not end it. And a caller killed outright (SIGKILL) runs no clean-up:
its pool processes ran their task on, then blocked forever writing the result to a pipe nobody reads.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from runtime.services import death_signal_setter


def _start_pool_process(set_death_signal: Callable[[], None] | None) -> None:
    """The initializer of every pool process (see the module docstring)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if set_death_signal is not None:
        set_death_signal()


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A :class:`ProcessPoolExecutor` of ``workers`` processes; if the block raises (an error, Ctrl-C,
    SIGTERM), its processes are killed and its queued tasks dropped before the exception goes on."""
    # The death signal is a closure over this process: it reaches a child only by fork (Linux's default).
    forked = multiprocessing.get_start_method() == "fork"
    pool = ProcessPoolExecutor(
        max_workers=workers,
        initializer=_start_pool_process,
        initargs=(death_signal_setter() if forked else None,),
    )
    try:
        yield pool
    except BaseException:
        processes = getattr(pool, "_processes", None) or {}  # public as kill_workers() in Python 3.14
        for process in list(processes.values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
