"""Child processes that end with their parent: a death signal, a liveness test, a process pool.

:func:`death_signal_setter` makes a child get SIGTERM when the process that started it dies, even
killed outright (a private Redis server, the dashboard's Streamlit server, pool processes);
:func:`process_gone` tells whether a pid still runs; :func:`process_pool` is a pool that stops at once
when its caller stops.

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

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1


def death_signal_setter():  # noqa: ANN202 - a preexec_fn or None
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies (Linux), else None.

    A killed Python process (SIGKILL, the OOM killer) runs no ``finally`` and no ``atexit``: without
    this a private Redis server, the dashboard's Streamlit server or a pool process would run on,
    unowned, holding a port and memory. libc's ``prctl`` is looked up here, in the parent, so that the
    forked child only makes the system call. The signal follows the *thread* that started the child:
    start it in the thread that outlives it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the call: the signal will never come
            os._exit(1)

    return set_death_signal


def process_gone(pid: int) -> bool:
    """True when ``pid`` is not running: no such process, or a zombie nobody has reaped yet."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel (a zombie then counts as running)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False


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
