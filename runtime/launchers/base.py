"""The launcher interface and the warm-pool logic shared by the Docker and local-process launchers.

A *launcher* gives the runtime workers of a given memory size and hands them jobs. A *worker* is a
long-lived process (a Docker container, or a local subprocess) running
:func:`runtime.docker_worker.entry.serve`; it receives jobs through a Redis list that it BLPOPs (see
:mod:`runtime.docker_worker.protocol`).

The pool mimics a serverless platform, per memory configuration:

* ``acquire(memory_mb)`` returns a :class:`Lease` on an idle worker of exactly that size that has been
  idle for at most ``keep_alive_s`` (a **warm** start), else starts a new worker (a **cold** start) and
  waits until its serve loop announces itself. ``Lease.state`` and ``Lease.startup_ms`` record what
  really happened: for a cold start, the time from the launch request to the worker being ready to
  receive its job (container create + start + interpreter + imports + Redis connect); for a warm start,
  the time spent inside ``acquire`` (bookkeeping only). Time spent waiting for capacity is reported
  separately as ``queued_ms``.
* A cap ``max_workers`` (default 32) bounds live + starting workers. When full, an idle worker of another
  size is evicted to make room; if all are busy, ``acquire`` waits up to its timeout and then raises
  :class:`CapacityError` with the numbers.
* ``prewarm(memory_mb, count)`` starts workers ahead of need and parks them idle: the next ``acquire``
  of that size is warm.
* A monitor thread receives workers' ready/done records, returns finished workers to the pool, removes
  workers idle for longer than ``keep_alive_s`` (the reaper), detects dead workers (their job fails with
  :class:`WorkerDied`) and serves invocation requests that workers post themselves.
* ``close()`` removes every worker this launcher started and the launcher's Redis keys; it also runs at
  interpreter exit and on SIGTERM.

Subclasses only say how to start, probe and stop one worker (:meth:`PooledLauncher._start_worker`,
:meth:`PooledLauncher._is_alive`, :meth:`PooledLauncher._stop_worker`, :meth:`PooledLauncher._logs`).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import math
import os
import signal
import threading
import time
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any, Protocol, runtime_checkable

import redis

from runtime.docker_worker import protocol as p

__all__ = [
    "DIAGNOSTIC_COMMAND",
    "CapacityError",
    "JobFailed",
    "JobHandle",
    "JobTimeout",
    "Launcher",
    "LauncherClosed",
    "LauncherError",
    "Lease",
    "PooledLauncher",
    "WorkerDied",
    "WorkerInfo",
    "WorkerStartError",
    "DEFAULT_CPU_PERIOD_US",
    "cpu_limits",
    "cpus_for_memory",
]

log = logging.getLogger(__name__)

#: Runs the worker with the built-in diagnostic handler (tests, benchmarks) instead of the real one.
DIAGNOSTIC_COMMAND = ["python3", "-m", "runtime.docker_worker.entry"]


# CFS bandwidth period of the workers: short, so a fractional-CPU worker gets its share smoothly, as the
# simulator assumes (see runtime.launchers.docker_launcher); the kernel accepts 1 ms to 1 s.
DEFAULT_CPU_PERIOD_US = 5_000
MIN_CPU_US = 1_000  # the kernel's smallest cfs_period_us and cfs_quota_us
MAX_CPU_PERIOD_US = 1_000_000


def cpu_limits(cpus: float, period_us: int = DEFAULT_CPU_PERIOD_US) -> tuple[dict[str, int], float]:
    """The Docker SDK arguments that give a container ``cpus`` CPUs, and the CPUs they really apply.

    With ``period_us`` 0: ``nano_cpus`` (Docker's ``--cpus``, the kernel's 100 ms period). Otherwise
    ``cpu_period``/``cpu_quota`` with ``quota = round(cpus * period)``. The kernel refuses a quota under
    1 ms, so a share too small for the period gets a longer period instead (0.05 CPU at 10 ms would need
    a 0.5 ms quota: it gets 20 ms / 1 ms) rather than more CPU than asked; at 5 ms that is every worker
    under 0.2 CPU (358 MB).
    """
    if cpus <= 0:
        raise ValueError(f"cpus must be positive, got {cpus}")
    if isinstance(period_us, bool) or not isinstance(period_us, int):
        raise ValueError(f"cpu period must be a whole number of µs, got {period_us!r}")
    if period_us == 0:
        nano = int(round(cpus * 1e9))
        return {"nano_cpus": nano}, nano / 1e9
    if not MIN_CPU_US <= period_us <= MAX_CPU_PERIOD_US:
        raise ValueError(f"cpu period must be 0 (Docker's --cpus) or {MIN_CPU_US}-{MAX_CPU_PERIOD_US} µs")
    period = min(MAX_CPU_PERIOD_US, max(period_us, math.ceil(MIN_CPU_US / cpus)))
    quota = max(MIN_CPU_US, round(cpus * period))
    return {"cpu_period": period, "cpu_quota": quota}, quota / period


MIN_MEMORY_MB = 16  # the smallest worker a launcher starts (a Python worker needs more than Docker's 6 MB)


def check_memory_sizes(sizes: Iterable[int]) -> None:
    """Refuse worker sizes below :data:`MIN_MEMORY_MB` before a run starts: :meth:`PooledLauncher.acquire`
    refuses them too, but inside a running driver that failure only shows as the run's timeout."""
    small = sorted(m for m in set(sizes) if m < MIN_MEMORY_MB)
    if small:
        raise ValueError(f"a real worker needs at least {MIN_MEMORY_MB} MB of memory, got {small[0]} MB")


def cpus_for_memory(memory_mb: int) -> float:
    """vCPUs that come with ``memory_mb`` MB, AWS-Lambda style: ``round(min(memory_mb / 1792, 6), 2)``."""
    return round(min(memory_mb / 1792, 6.0), 2)


# --- errors -----------------------------------------------------------------------------------------


class LauncherError(RuntimeError):
    """Base class of launcher errors."""


class CapacityError(LauncherError):
    """No worker could be obtained within the timeout because the pool is at its cap."""


class WorkerStartError(LauncherError):
    """A new worker did not become ready (the message includes its last log lines)."""


class WorkerDied(LauncherError):
    """The worker running a job exited before reporting the job done."""


class JobFailed(LauncherError):
    """The job's handler raised; ``remote_traceback`` is the worker-side traceback."""

    def __init__(self, job_id: str, remote_traceback: str) -> None:
        last = remote_traceback.strip().splitlines()[-1] if remote_traceback.strip() else "?"
        super().__init__(f"job {job_id} failed on its worker: {last}")
        self.job_id = job_id
        self.remote_traceback = remote_traceback


class JobTimeout(LauncherError, TimeoutError):
    """A job did not finish within the time given to :meth:`JobHandle.wait`."""


class LauncherClosed(LauncherError):
    """The launcher was closed."""


# --- values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    """A worker reserved for one job: who it is and how it was obtained."""

    worker_id: str
    container_id: str
    memory_mb: int
    state: p.StartState  # "cold" or "warm"
    startup_ms: float
    queued_ms: float = 0.0


@dataclass(frozen=True)
class WorkerInfo:
    """A snapshot of one worker of the pool."""

    worker_id: str
    container_id: str
    memory_mb: int
    busy: bool
    idle_s: float
    jobs_done: int


class JobHandle:
    """A job submitted to a worker. ``wait()`` blocks for its :class:`DoneRecord`; ``result()`` for its bytes."""

    def __init__(self, job_id: str, lease: Lease) -> None:
        self.job_id = job_id
        self.lease = lease
        self.submitted_at = time.time()
        self._event = threading.Event()
        self._record: p.DoneRecord | None = None
        self._error: LauncherError | None = None

    @property
    def worker_id(self) -> str:
        return self.lease.worker_id

    @property
    def container_id(self) -> str:
        return self.lease.container_id

    @property
    def state(self) -> p.StartState:
        return self.lease.state

    @property
    def startup_ms(self) -> float:
        return self.lease.startup_ms

    def done(self) -> bool:
        """True once the job finished, failed, or its worker died."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> p.DoneRecord:
        """Block until the worker reports the job; raise WorkerDied/LauncherClosed/JobTimeout otherwise."""
        if not self._event.wait(timeout):
            raise JobTimeout(f"job {self.job_id} on {self.worker_id} not done after {timeout}s")
        if self._error is not None:
            raise self._error
        assert self._record is not None
        return self._record

    def result(self, timeout: float | None = None) -> bytes | None:
        """The handler's return value; raises :class:`JobFailed` with the remote traceback if it raised."""
        record = self.wait(timeout)
        if not record.ok:
            raise JobFailed(self.job_id, record.error or "")
        return record.result

    def _complete(self, record: p.DoneRecord) -> None:
        self._record = record
        self._event.set()

    def _fail(self, error: LauncherError) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    def __repr__(self) -> str:
        status = "done" if self.done() else "running"
        return (
            f"<JobHandle {self.job_id} on {self.worker_id} ({self.state}, {self.startup_ms:.0f} ms) {status}>"
        )


@runtime_checkable
class Launcher(Protocol):
    """What the runtime needs from a launcher (implemented by DockerLauncher and ProcessLauncher)."""

    run_id: str
    redis_url: str

    def acquire(self, memory_mb: int, timeout: float | None = None) -> Lease: ...

    def send(self, lease: Lease, payload: bytes) -> JobHandle: ...

    def submit(self, memory_mb: int, payload: bytes, timeout: float | None = None) -> JobHandle: ...

    def release(self, lease: Lease) -> None: ...

    def prewarm(self, memory_mb: int, count: int = 1, timeout: float | None = None) -> list[Lease]: ...

    def workers(self) -> list[WorkerInfo]: ...

    def close(self) -> None: ...


# --- pool -------------------------------------------------------------------------------------------


@dataclass
class _Worker:
    worker_id: str
    memory_mb: int
    backend: Any
    container_id: str
    busy: bool = True
    ready: bool = False
    last_active: float = field(default_factory=time.monotonic)
    job_id: str | None = None
    jobs_done: int = 0


_LIVE: weakref.WeakSet[PooledLauncher] = weakref.WeakSet()
_SIGNAL_LOCK = threading.Lock()
_SIGNAL_INSTALLED = False


def _close_all() -> None:
    for launcher in list(_LIVE):
        with contextlib.suppress(Exception):
            launcher.close()


def _install_exit_hooks() -> None:
    """Close every live launcher at interpreter exit and on SIGTERM (chaining any previous handler)."""
    global _SIGNAL_INSTALLED
    with _SIGNAL_LOCK:
        if _SIGNAL_INSTALLED:
            return
        _SIGNAL_INSTALLED = True
        atexit.register(_close_all)
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            _close_all()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, on_sigterm)


class PooledLauncher(ABC):
    """Warm pool, cap, reaper, monitor and job hand-off; subclasses start/stop concrete workers.

    Args:
        redis_url: the Redis server workers and launcher meet on (workers must be able to reach it:
            Docker workers use the host network).
        run_id: the namespace of keys and worker names; a random 8-hex id when omitted.
        keep_alive_s: how long an idle worker stays available for a warm start.
        max_workers: cap on live + starting workers across all memory sizes.
        acquire_timeout: default seconds ``acquire`` waits for capacity.
        start_timeout: seconds a new worker has to become ready.
        max_idle_s: the worker's own safety net: it exits when no job came for that long (covers a
            launcher killed with SIGKILL).
        serve_invocations: run jobs that workers request through ``request_invocation``.
        env: extra environment variables for every worker (visible in ``docker inspect``: pass secrets
            only to containers on a host you trust).
        switch_interval_ms: the workers' GIL switch interval (``sys.setswitchinterval``, in ms); None
            is :data:`~runtime.docker_worker.protocol.DEFAULT_SWITCH_INTERVAL_MS` (1 ms; 5 is CPython's
            own). Co-located tasks are threads of one worker, and the
            interval is how long a thread that wants the GIL may wait for a sibling running Python code
            (see :func:`runtime.docker_worker.entry.apply_switch_interval`). Workers record the interval
            they ran with (``gil_switch_ms``), which the platform fit passes on to the simulator. Measured
            2026-11-29 (``benchmarks/results/accuracy.md``): 1 or 0.5 ms did not lower the per-task exec
            error or its run-to-run spread (93% of tasks ran alone on their worker: their noise is the
            host's run queue); 1 ms did bring more makespans within 10% (96 vs 72 of 168 cell runs,
            paired sign test p = 0.002) at a small exec cost (exec within 20%: 63 vs 70), and more cells
            met both (39 vs 33): the default since.
        keep_heap: give workers the glibc malloc settings of
            :data:`~runtime.docker_worker.protocol.KEEP_HEAP_ENV` (keep freed heap memory for the next
            allocation instead of fresh pages); False: glibc's defaults. Workers record which
            (``keep_heap``). Measured 2026-11-30 (``benchmarks/results/accuracy.md``, 9 long cells x 4
            real runs per arm, interleaved, load 9-11): the run-to-run spread of a task's thread CPU
            time fell from 0.40 to 0.25 (within-task sd of its log), system time from 42% to 33% of
            it; the default since.
    """

    kind = "abstract"

    def __init__(
        self,
        redis_url: str,
        run_id: str | None = None,
        *,
        keep_alive_s: float = 7.0,
        max_workers: int = 32,
        acquire_timeout: float = 60.0,
        start_timeout: float = 60.0,
        max_idle_s: float = 900.0,
        serve_invocations: bool = True,
        env: dict[str, str] | None = None,
        switch_interval_ms: float | None = None,
        keep_heap: bool = True,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        if switch_interval_ms is None:
            switch_interval_ms = p.DEFAULT_SWITCH_INTERVAL_MS
        switch_interval_ms = p.check_switch_interval_ms(switch_interval_ms)  # before any worker starts
        self.redis_url = redis_url
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.keep_alive_s = keep_alive_s
        self.max_workers = max_workers
        self.acquire_timeout = acquire_timeout
        self.start_timeout = start_timeout
        self.max_idle_s = max_idle_s
        self.serve_invocations = serve_invocations
        #: Extra environment for every worker (e.g. a signing key); the launcher's own variables win.
        self.extra_env = dict(env or {})
        self.switch_interval_ms = switch_interval_ms
        self.keep_heap = keep_heap
        #: Every lease handed out, in order (cold and warm starts, for metrics and benchmarks).
        self.leases: list[Lease] = []
        #: Jobs started on behalf of workers' invocation requests.
        self.invoked: list[JobHandle] = []

        self._redis = redis.Redis.from_url(redis_url, health_check_interval=30)
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            safe = redis_url.split("@")[-1]
            raise LauncherError(f"Redis at {safe} not reachable: {exc}") from exc
        self._cond = threading.Condition()
        self._workers: dict[str, _Worker] = {}
        self._handles: dict[str, JobHandle] = {}
        self._ready: dict[str, threading.Event] = {}
        self._starting = 0
        self._counter = itertools.count(1)
        self._closed = False
        self._stopper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="plansim-stop")
        self._invoker = ThreadPoolExecutor(max_workers=8, thread_name_prefix="plansim-invoke")
        self._monitor = threading.Thread(
            target=self._monitor_loop, name=f"plansim-monitor-{self.run_id}", daemon=True
        )
        self._monitor.start()
        _LIVE.add(self)
        _install_exit_hooks()

    # -- backend hooks ---------------------------------------------------------------------------

    @abstractmethod
    def _start_worker(self, worker_id: str, memory_mb: int, env: dict[str, str]) -> tuple[Any, str]:
        """Start one worker with ``env``; return (backend object, container id)."""

    @abstractmethod
    def _is_alive(self, backend: Any) -> bool:
        """Whether the worker process/container is still running."""

    @abstractmethod
    def _stop_worker(self, backend: Any) -> None:
        """Stop and remove the worker (must not raise when it is already gone)."""

    def _logs(self, backend: Any) -> str:
        """The worker's last log lines, for error messages."""
        return ""

    def _alive_ids(self, container_ids: list[str], backends: list[Any]) -> set[str]:
        """The subset of ``container_ids`` still running (subclasses may answer in one call)."""
        return {cid for cid, b in zip(container_ids, backends, strict=True) if self._is_alive(b)}

    # -- pool ------------------------------------------------------------------------------------

    def _worker_env(self, worker_id: str, memory_mb: int) -> dict[str, str]:
        return {
            **self.extra_env,
            **(p.KEEP_HEAP_ENV if self.keep_heap else {}),
            p.ENV_REDIS_URL: self.redis_url,
            p.ENV_RUN_ID: self.run_id,
            p.ENV_WORKER_ID: worker_id,
            p.ENV_MEMORY_MB: str(memory_mb),
            p.ENV_MAX_IDLE_S: str(self.max_idle_s),
            p.ENV_SWITCH_INTERVAL_MS: repr(self.switch_interval_ms),
        }

    def _live_count(self) -> int:
        return len(self._workers) + self._starting

    def _expired(self, w: _Worker, now: float) -> bool:
        return not w.busy and now - w.last_active > self.keep_alive_s

    def acquire(self, memory_mb: int, timeout: float | None = None) -> Lease:
        """Reserve a worker with ``memory_mb`` MB: warm if one is idle within keep-alive, else cold."""
        if memory_mb < MIN_MEMORY_MB:
            raise ValueError(f"memory_mb must be at least {MIN_MEMORY_MB} (got {memory_mb})")
        t0 = time.monotonic()
        deadline = t0 + (self.acquire_timeout if timeout is None else timeout)
        evict: list[_Worker] = []
        waited = 0.0  # time blocked on the cap: queueing, not start-up
        with self._cond:
            while True:
                if self._closed:
                    raise LauncherClosed(f"launcher {self.run_id} is closed")
                now = time.monotonic()
                # Most recently used first: keeps the set of warm workers small, as platforms do.
                idle = sorted(
                    (
                        w
                        for w in self._workers.values()
                        if not w.busy and w.ready and w.memory_mb == memory_mb
                    ),
                    key=lambda w: -w.last_active,
                )
                for w in idle:
                    if not self._expired(w, now):
                        w.busy = True
                        lease = Lease(
                            w.worker_id,
                            w.container_id,
                            memory_mb,
                            "warm",
                            (now - t0 - waited) * 1000,
                            waited * 1000,
                        )
                        self.leases.append(lease)
                        return lease
                if self._live_count() < self.max_workers:
                    self._starting += 1
                    break
                victims = sorted(
                    (w for w in self._workers.values() if not w.busy), key=lambda w: w.last_active
                )
                if victims:  # idle workers of other sizes (or expired): make room
                    evict.append(self._workers.pop(victims[0].worker_id))
                    continue
                remaining = deadline - now
                if remaining <= 0:
                    raise CapacityError(
                        f"no {memory_mb} MB worker within {deadline - t0:.1f}s: all {self.max_workers} "
                        f"workers of run {self.run_id} are busy (raise max_workers or the timeout)"
                    )
                t_wait = time.monotonic()
                self._cond.wait(min(remaining, 0.5))
                waited += time.monotonic() - t_wait
        for w in evict:
            self._schedule_stop(w)
        queued_ms = (time.monotonic() - t0) * 1000
        lease = self._cold_start(memory_mb, queued_ms)
        self.leases.append(lease)
        return lease

    def _cold_start(self, memory_mb: int, queued_ms: float) -> Lease:
        worker_id = f"plansim-{self.run_id}-{next(self._counter)}"
        ready = threading.Event()
        with self._cond:
            self._ready[worker_id] = ready
        t0 = time.monotonic()
        backend: Any = None
        try:
            backend, container_id = self._start_worker(
                worker_id, memory_mb, self._worker_env(worker_id, memory_mb)
            )
            with self._cond:
                self._starting -= 1
                self._workers[worker_id] = _Worker(worker_id, memory_mb, backend, container_id)
            deadline = t0 + self.start_timeout
            while not ready.wait(0.1):
                if not self._is_alive(backend):
                    raise WorkerStartError(f"worker {worker_id} exited before serving: {self._logs(backend)}")
                if time.monotonic() > deadline:
                    raise WorkerStartError(
                        f"worker {worker_id} not ready after {self.start_timeout:.0f}s: {self._logs(backend)}"
                    )
                if self._closed:
                    raise LauncherClosed(f"launcher {self.run_id} closed while starting {worker_id}")
        except BaseException:
            with self._cond:
                self._ready.pop(worker_id, None)
                if self._workers.pop(worker_id, None) is None and backend is None:
                    self._starting -= 1
                self._cond.notify_all()
            if backend is not None:
                self._stop_quietly_backend(backend)
            raise
        startup_ms = (time.monotonic() - t0) * 1000
        with self._cond:
            self._ready.pop(worker_id, None)
            self._workers[worker_id].ready = True
        return Lease(worker_id, container_id, memory_mb, "cold", startup_ms, queued_ms)

    def send(self, lease: Lease, payload: bytes) -> JobHandle:
        """Hand ``payload`` to the leased worker (one RPUSH); the lease is consumed by the job."""
        job_id = uuid.uuid4().hex[:12]
        handle = JobHandle(job_id, lease)
        with self._cond:
            w = self._workers.get(lease.worker_id)
            if w is None:
                raise WorkerDied(f"worker {lease.worker_id} is gone")
            w.job_id = job_id
            self._handles[job_id] = handle
        # queued_ms: time blocked on the cap, which the worker's start-up record must not count as start-up
        header = p.JobHeader(
            job_id,
            lease.worker_id,
            lease.state,
            lease.startup_ms,
            handle.submitted_at,
            extra={"queued_ms": lease.queued_ms},
        )
        self._redis.rpush(p.jobs_key(self.run_id, lease.worker_id), p.encode_job(header, payload))
        return handle

    def submit(self, memory_mb: int, payload: bytes, timeout: float | None = None) -> JobHandle:
        """``acquire`` + ``send``: run ``payload`` on a worker with ``memory_mb`` MB."""
        return self.send(self.acquire(memory_mb, timeout), payload)

    def release(self, lease: Lease) -> None:
        """Return a lease that was not used for a job; the worker becomes idle (and warm)."""
        with self._cond:
            w = self._workers.get(lease.worker_id)
            if w is not None and w.busy and w.job_id is None:
                w.busy = False
                w.last_active = time.monotonic()
                self._cond.notify_all()

    def prewarm(self, memory_mb: int, count: int = 1, timeout: float | None = None) -> list[Lease]:
        """Start ``count`` workers of ``memory_mb`` MB now and park them idle (cold starts paid ahead)."""
        leases: list[Lease] = []
        errors: list[BaseException] = []

        def one() -> None:
            try:
                with self._cond:
                    if self._closed:
                        raise LauncherClosed(f"launcher {self.run_id} is closed")
                    t0 = time.monotonic()
                    deadline = t0 + (self.acquire_timeout if timeout is None else timeout)
                    while self._live_count() >= self.max_workers:
                        if time.monotonic() >= deadline:
                            raise CapacityError(f"cannot prewarm: {self.max_workers} workers already live")
                        self._cond.wait(0.2)
                    self._starting += 1
                lease = self._cold_start(memory_mb, 0.0)
                self.release(lease)
                leases.append(lease)
            except BaseException as exc:  # noqa: BLE001 - re-raised below in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return leases

    def workers(self) -> list[WorkerInfo]:
        """A snapshot of the pool."""
        now = time.monotonic()
        with self._cond:
            return [
                WorkerInfo(
                    w.worker_id,
                    w.container_id,
                    w.memory_mb,
                    w.busy,
                    0.0 if w.busy else now - w.last_active,
                    w.jobs_done,
                )
                for w in self._workers.values()
            ]

    # -- monitor ---------------------------------------------------------------------------------

    def _monitor_loop(self) -> None:
        client = redis.Redis.from_url(self.redis_url, health_check_interval=30)
        keys = [p.done_key(self.run_id), p.ready_key(self.run_id)]
        if self.serve_invocations:
            keys.append(p.invoke_key(self.run_id))
        last_probe = 0.0
        while not self._closed:
            try:
                item = client.blpop(keys, timeout=0.2)
            except redis.RedisError:
                if self._closed:
                    break
                time.sleep(0.2)
                continue
            try:  # the monitor must survive anything: a dead monitor silently stalls every job
                if item is not None:
                    self._on_record(item[0].decode(), item[1])
                self._reap()
                if time.monotonic() - last_probe > 1.0:
                    last_probe = time.monotonic()
                    self._probe()
            except Exception:
                log.exception("plansim launcher %s: monitor step failed", self.run_id)
        client.close()

    def _on_record(self, key: str, data: bytes) -> None:
        if key == p.ready_key(self.run_id):
            rec = p.ReadyRecord.decode(data)
            with self._cond:
                event = self._ready.get(rec.worker_id)
            if event is not None:
                event.set()
        elif key == p.done_key(self.run_id):
            done = p.DoneRecord.decode(data)
            with self._cond:
                handle = self._handles.pop(done.job_id, None)
                w = self._workers.get(done.worker_id)
                if w is not None:
                    w.busy = False
                    w.job_id = None
                    w.jobs_done += 1
                    w.last_active = time.monotonic()
                self._cond.notify_all()
            if handle is not None:
                handle._complete(done)
        else:
            req = p.InvokeRequest.decode(data)
            self._invoker.submit(self._invoke, req)

    def _invoke(self, req: p.InvokeRequest) -> None:
        with contextlib.suppress(LauncherError):
            self.invoked.append(self.submit(req.memory_mb, req.payload))

    def _reap(self) -> None:
        now = time.monotonic()
        with self._cond:
            expired = [w for w in self._workers.values() if w.ready and self._expired(w, now)]
            for w in expired:
                del self._workers[w.worker_id]
            if expired:
                self._cond.notify_all()
        for w in expired:
            self._schedule_stop(w)

    def _probe(self) -> None:
        with self._cond:
            candidates = [w for w in self._workers.values() if w.ready]
        alive = self._alive_ids([w.container_id for w in candidates], [w.backend for w in candidates])
        dead = [w for w in candidates if w.container_id not in alive]
        if not dead:
            return
        failed: list[tuple[JobHandle, str]] = []
        with self._cond:
            for w in dead:
                self._workers.pop(w.worker_id, None)
                if w.job_id is not None and w.job_id in self._handles:
                    failed.append((self._handles.pop(w.job_id), w.worker_id))
            self._cond.notify_all()
        for w in dead:
            logs = self._logs(w.backend)
            self._schedule_stop(w)
            for handle, wid in failed:
                if wid == w.worker_id:
                    handle._fail(WorkerDied(f"worker {wid} died while running job {handle.job_id}: {logs}"))

    def _schedule_stop(self, w: _Worker) -> None:
        """Stop a worker in the background (synchronously once the launcher is shutting down)."""
        try:
            self._stopper.submit(self._stop_quietly, w)
        except RuntimeError:  # executor already shut down
            self._stop_quietly(w)

    def _stop_quietly(self, w: _Worker) -> None:
        self._stop_quietly_backend(w.backend)
        with contextlib.suppress(redis.RedisError):
            self._redis.delete(p.jobs_key(self.run_id, w.worker_id))

    def _stop_quietly_backend(self, backend: Any) -> None:
        with contextlib.suppress(Exception):
            self._stop_worker(backend)

    # -- shutdown --------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every worker started by this launcher and the launcher's Redis keys (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers.values())
            self._workers.clear()
            handles = list(self._handles.values())
            self._handles.clear()
            self._cond.notify_all()
        for h in handles:
            h._fail(LauncherClosed(f"launcher {self.run_id} closed before job {h.job_id} finished"))
        self._monitor.join(timeout=2)
        self._invoker.shutdown(wait=False, cancel_futures=True)
        # Plain threads, not the executor: at interpreter exit (atexit) executors refuse new work.
        stoppers = [threading.Thread(target=self._stop_quietly_backend, args=(w.backend,)) for w in workers]
        started = []
        for t, w in zip(stoppers, workers, strict=True):
            try:
                t.start()
                started.append(t)
            except RuntimeError:  # no new threads this late in shutdown: stop it here
                self._stop_quietly_backend(w.backend)
        for t in started:
            t.join()
        self._stopper.shutdown(wait=True)
        with contextlib.suppress(redis.RedisError):
            keys = [p.done_key(self.run_id), p.ready_key(self.run_id), p.invoke_key(self.run_id)]
            keys += list(self._redis.scan_iter(match=p.jobs_key(self.run_id, "*"), count=1000))
            self._redis.delete(*keys)
        self._redis.close()
        _LIVE.discard(self)

    def __enter__(self) -> PooledLauncher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
