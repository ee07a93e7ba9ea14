"""How crowded a worker's CPUs were while a task ran: what calibration needs to undo CPU sharing.

A real task's ``exec_ms`` already contains the slowdown of the other tasks that ran beside it on the
same worker (the same process, so the same container and CPU allowance). The simulator applies processor
sharing itself (:class:`sim.engine.cpu.SharedCpu`), so fitting the execution model on raw ``exec_ms``
would count that slowdown twice. The runtime therefore records, per task, over the interval of its
function call:

- ``concurrency``: the time-averaged number of tasks executing on this worker, the task included
  (``∫ k(t) dt / T``, always ``>= 1``);
- ``cpu_share``: the time average of ``1 / k(t)``, the CPU share each task gets when one CPU is shared
  equally (what :func:`sim.engine.cpu.share_rate` computes for a one-CPU worker, averaged exactly rather
  than from the mean ``k``);
- ``cpu_limit``: the CPUs this worker may use (cgroup quota in a container, else the CPU affinity).

:func:`thread_schedstat` adds, per task, its thread's CPU time and run-queue wait: whether the task
was off the CPU by its own doing (sleep, I/O) or for lack of a CPU.

Both integrals are kept as running sums over the whole process, so a task's averages are two
subtractions at its end: O(1) per task, whatever the number of concurrent tasks.

:func:`timed_call` is how the runtime times a task: its ``exec_ms`` is the meter's own interval, so the
crowding figures describe exactly the time that was measured. Reading the thread's counters happens
outside that interval, because the read lets go of Python's GIL, and taking it back waits for whichever
sibling thread is computing: timed from before the read, three 6 ms CPU-bound calls started together
took 8.9, 15.0 and 16.0 ms, their intervals overlapping, while the meter (not started yet during the
wait) saw each alone (``concurrency`` 1.00).
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(slots=True)
class Crowding:
    """What one task saw: filled in when its :meth:`CpuMeter.measure` block ends."""

    concurrency: float = 1.0
    cpu_share: float = 1.0
    start: float = 0.0  # time.perf_counter() when the task started executing (the meter's own clock)
    end: float = 0.0  # ... and when it stopped

    @property
    def elapsed_ms(self) -> float:
        """The interval the averages are over, in ms: a task's ``exec_ms``."""
        return (self.end - self.start) * 1000.0


class CpuMeter:
    """Running integrals of the number of executing tasks ``k(t)`` (thread-safe)."""

    __slots__ = ("_lock", "_k", "_t", "_area", "_inv")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._k = 0
        self._t = time.perf_counter()
        self._area = 0.0  # ∫ k dt (seconds)
        self._inv = 0.0  # ∫ 1/k dt over time with k > 0 (seconds)

    def _advance(self, now: float) -> None:
        dt = now - self._t
        if self._k > 0 and dt > 0:
            self._area += self._k * dt
            self._inv += dt / self._k
        self._t = now

    def start(self) -> tuple[float, float, float]:
        """A task starts executing; returns the snapshot :meth:`stop` needs."""
        with self._lock:
            now = time.perf_counter()
            self._advance(now)
            self._k += 1
            return now, self._area, self._inv

    def stop(self, snapshot: tuple[float, float, float]) -> Crowding:
        """The task of ``snapshot`` ends: its time-averaged concurrency and CPU share."""
        t0, area0, inv0 = snapshot
        with self._lock:
            now = time.perf_counter()
            self._advance(now)
            self._k -= 1
            area, inv = self._area - area0, self._inv - inv0
        span = now - t0
        if span <= 0 or area <= 0:
            return Crowding(start=t0, end=now)
        return Crowding(concurrency=max(1.0, area / span), cpu_share=min(1.0, inv / span), start=t0, end=now)


METER = CpuMeter()  # one per worker process: a process is one worker (container) at a time


@dataclass(slots=True)
class CallTimes:
    """One timed call (:func:`timed_call`): its crowding and interval, and its thread's CPU use."""

    crowding: Crowding
    cpu_ms: float  # this thread's CPU time over the call
    process_cpu_ms: float  # the whole process's (a library's own threads, e.g. BLAS, count here)
    run_wait_ms: float | None = None  # this thread's run-queue wait (None: no schedstat)
    start_epoch: float = 0.0  # time.time() at crowding.start: where the exec interval sits in the run
    sys_cpu_ms: float | None = None  # the part of cpu_ms spent in the kernel (None: no RUSAGE_THREAD)
    minor_faults: int | None = None  # this thread's minor page faults over the call

    @property
    def exec_ms(self) -> float:
        return self.crowding.elapsed_ms


def timed_call(
    fn: Callable[..., object],
    args: tuple = (),
    kwargs: Mapping[str, object] | None = None,
    meter: CpuMeter | None = None,
) -> tuple[object, CallTimes]:
    """Call ``fn(*args, **kwargs)`` and time it as one task executing on this worker (in its thread).

    The exec clock is the meter's interval (:attr:`Crowding.start` to :attr:`Crowding.end`), so
    ``exec_ms`` and ``concurrency`` cover the same time by construction. The counters (CPU time,
    run-queue wait) are read before the meter starts and after it stops: the schedstat read releases
    the GIL, and taking it back waits while a sibling computes, time that is the sibling's execution
    (its own meter counts it), not this call's. An exception from ``fn`` propagates (the meter is stopped).
    """
    meter = METER if meter is None else meter
    sched, usage = thread_schedstat(), thread_rusage()
    proc, cpu = time.process_time(), time.thread_time()
    snap = meter.start()
    try:
        out = fn(*args, **(kwargs or {}))
    finally:
        crowding = meter.stop(snap)
    cpu_ms = (time.thread_time() - cpu) * 1000.0
    proc_ms = (time.process_time() - proc) * 1000.0
    start_epoch = time.time() - (time.perf_counter() - crowding.start)
    after, usage_after = thread_schedstat(), thread_rusage()
    wait = after[1] - sched[1] if sched is not None and after is not None else None
    times = CallTimes(crowding, cpu_ms, proc_ms, wait, start_epoch)
    if usage is not None and usage_after is not None:
        times.sys_cpu_ms = usage_after[0] - usage[0]
        times.minor_faults = usage_after[1] - usage[1]
    return out, times


def thread_rusage() -> tuple[float, int] | None:
    """This thread's system CPU time (ms) and minor page faults so far (``getrusage(RUSAGE_THREAD)``),
    or None where the platform has no per-thread usage (not Linux).

    The same call's CPU time varies between runs by far more than its work does when its memory comes
    fresh from the kernel: every first touch of a page is a fault, and the kernel's zeroing of the page
    is system time of the thread that touched it (a 26 MB float32 temporary is some 6,400 faults; a
    transparent huge page that must first be compacted costs far more). Whether an allocation gets
    fresh pages or reuses freed ones depends on what the process allocated and freed before, so the
    records keep both numbers to tell that apart from the call's own work.
    """
    who = getattr(resource, "RUSAGE_THREAD", None)
    if who is None:
        return None
    usage = resource.getrusage(who)
    return usage.ru_stime * 1000.0, usage.ru_minflt


def thread_schedstat() -> tuple[float, float] | None:
    """This thread's CPU time and run-queue wait so far, in ms (``/proc/thread-self/schedstat``: time on
    a CPU, time runnable but waiting for one), or None where the kernel does not expose them.

    The wait tells a task starved of CPU (a loaded host, a container's quota) from one that sleeps or
    waits for I/O: both have little CPU time, only the first has a long wait. Calibration needs the
    difference (:func:`sim.models.records.off_cpu_ms`).
    """
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as fh:
            on_cpu, waiting = fh.read().split()[:2]
        return int(on_cpu) / 1e6, int(waiting) / 1e6
    except (OSError, ValueError):
        return None


@lru_cache(maxsize=1)
def cpu_limit(root: str = "/sys/fs/cgroup") -> float:
    """CPUs this process may use: the cgroup CPU quota (v2 ``cpu.max``, v1 CFS quota) if one is set,
    never more than the CPUs in its affinity mask."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = float(os.cpu_count() or 1)
    quota = _cgroup_quota(Path(root))
    return round(min(cpus, quota), 3) if quota is not None else cpus


def _cgroup_quota(root: Path) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else float(quota) / float(period)
    with contextlib.suppress(OSError, ValueError):
        quota = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = float((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    return None
