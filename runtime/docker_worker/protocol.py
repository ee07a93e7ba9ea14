"""The wire protocol between a launcher (host side) and a worker's serve loop (container side).

Both sides talk only through Redis, so the same protocol works for Docker containers
(``DockerLauncher``, ``network_mode=host``) and local processes (``ProcessLauncher``). This module is
imported inside the worker image: it must depend on nothing but the standard library.

Keys (all under the run's namespace ``plansim:{run}:``):

==============================  =====================================================================
``plansim:{run}:jobs:{worker}``  list; the launcher RPUSHes job envelopes, the worker BLPOPs them
``plansim:{run}:jobs-ready``     list; a worker RPUSHes a :class:`ReadyRecord` once it is serving
``plansim:{run}:jobs-done``      list; a worker RPUSHes a :class:`DoneRecord` after each job
``plansim:{run}:jobs-invoke``    list; a worker asks the launcher to run a job on another worker
==============================  =====================================================================

A job envelope is ``MAGIC | u32 header length | header JSON | payload``. The header carries the job id
and how the worker was obtained (cold/warm, start-up ms) so the handler can record honest start-up
metrics; the payload is opaque bytes defined by whoever submits the job (the lead's worker driver).
The special envelope :data:`STOP` asks the serve loop to exit.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

MAGIC = b"PLJ1"
STOP = b"PLSTOP"

StartState = Literal["cold", "warm"]

# Environment variables a launcher sets for every worker it starts.
ENV_REDIS_URL = "PLANSIM_REDIS_URL"
ENV_RUN_ID = "PLANSIM_RUN_ID"
ENV_WORKER_ID = "PLANSIM_WORKER_ID"
ENV_MEMORY_MB = "PLANSIM_MEMORY_MB"
ENV_MAX_IDLE_S = "PLANSIM_MAX_IDLE_S"
#: The worker interpreter's GIL switch interval in ms (``sys.setswitchinterval``); unset = CPython's 5 ms.
ENV_SWITCH_INTERVAL_MS = "PLANSIM_SWITCH_INTERVAL_MS"

#: glibc malloc settings for a worker that keeps the heap memory it frees (launcher option ``keep_heap``).
#: By default glibc maps every block above a moving threshold (128 kB at start) afresh and gives freed
#: heap tops back to the kernel, so whether a task's large temporaries (numpy arrays of tens of MB) land
#: on pages the process already has or on fresh ones depends on what ran before it in that process, and
#: every fresh 4 kB page costs a fault and the kernel's zeroing, as system time of the task's thread.
#: Measured on recorded long passes (benchmarks/results/accuracy.md, 2026-11-30 05:30): the same task's
#: minor faults took a few discrete values from run to run (0, 576, 1,142, ..., 3,597 for sharpen_chunk)
#: and system time was 45% of the computing tasks' CPU time. A fixed mapping threshold of 32 MiB (glibc's
#: largest on 64-bit), no trimming below 1 GiB and one arena for all threads (each task runs on a pool
#: thread, and a thread's own arena starts empty) make a freed block's pages serve the next allocation,
#: whichever thread made it, unless small allocations have carved it up meanwhile: in a chain of four
#: 24 MB tasks, 0 or 1 of the 3 later ones fault fresh pages (1 or 2 with glibc's defaults).
KEEP_HEAP_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_ARENA_MAX": "1",
}


def keeps_heap(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` (a worker's environment) has the :data:`KEEP_HEAP_ENV` settings."""
    return all(environ.get(k) == v for k, v in KEEP_HEAP_ENV.items())


# CPython keeps the switch interval in whole microseconds (1 µs at least); beyond a second a thread that
# wants the GIL would wait that long for a pure-Python holder, which no experiment needs.
MIN_SWITCH_INTERVAL_MS = 0.001
MAX_SWITCH_INTERVAL_MS = 1000.0
#: What launchers give their workers unless told otherwise (CPython's own is 5 ms): real makespans agree
#: better with their simulation (benchmarks/results/accuracy.md, the switch-interval A/B).
DEFAULT_SWITCH_INTERVAL_MS = 1.0


def check_switch_interval_ms(value: object) -> float:
    """``value`` as a GIL switch interval in ms, or ValueError with the accepted range.

    Checked on both sides: by the launcher before any worker starts, and by the worker on the variable
    it was given (a hand-set bad value stops it at start with one line, not in its first task).
    """
    try:
        ms = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ms = math.nan
    if not MIN_SWITCH_INTERVAL_MS <= ms <= MAX_SWITCH_INTERVAL_MS:  # also False for NaN
        raise ValueError(
            f"GIL switch interval must be {MIN_SWITCH_INTERVAL_MS:g}-{MAX_SWITCH_INTERVAL_MS:g} ms, got {value!r}"
        )
    return ms


def run_prefix(run_id: str) -> str:
    """The namespace of every key that belongs to one run."""
    return f"plansim:{run_id}:"


def jobs_key(run_id: str, worker_id: str) -> str:
    """The list a worker reads its jobs from."""
    return f"plansim:{run_id}:jobs:{worker_id}"


def ready_key(run_id: str) -> str:
    """The list workers announce themselves on when their serve loop is up."""
    return f"plansim:{run_id}:jobs-ready"


def done_key(run_id: str) -> str:
    """The list workers report finished jobs on."""
    return f"plansim:{run_id}:jobs-done"


def invoke_key(run_id: str) -> str:
    """The list workers push invocation requests to (served by the launcher)."""
    return f"plansim:{run_id}:jobs-invoke"


@dataclass(frozen=True)
class JobHeader:
    """Launcher-side facts about one job, delivered with its payload."""

    job_id: str
    worker_id: str
    state: StartState
    startup_ms: float
    submitted_at: float  # time.time() on the launcher when the job was pushed
    extra: dict[str, Any] = field(default_factory=dict)


def encode_job(header: JobHeader, payload: bytes) -> bytes:
    """Frame a job: magic, header length, header JSON, payload."""
    head = json.dumps(asdict(header), separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(head)) + head + payload


def decode_job(data: bytes) -> tuple[JobHeader, bytes]:
    """Inverse of :func:`encode_job`; raises ValueError on anything else."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise ValueError("not a plansim job envelope")
    (size,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = JobHeader(**json.loads(data[start : start + size]))
    return header, data[start + size :]


class _JsonRecord:
    """A frozen dataclass sent as one JSON object (the Redis lists' records below)."""

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        return cls(**json.loads(data))


@dataclass(frozen=True)
class ReadyRecord(_JsonRecord):
    """Sent once by a worker when its serve loop is connected and waiting for jobs."""

    worker_id: str
    pid: int
    uid: int
    ready_at: float  # time.time() in the worker


@dataclass(frozen=True)
class DoneRecord(_JsonRecord):
    """Sent by a worker after each job: success or the remote traceback, and the handler's result."""

    job_id: str
    worker_id: str
    ok: bool
    started_at: float
    finished_at: float
    error: str | None = None
    result_b64: str | None = None

    @property
    def result(self) -> bytes | None:
        """The bytes the handler returned (None when it returned None or failed)."""
        return base64.b64decode(self.result_b64) if self.result_b64 is not None else None


@dataclass(frozen=True)
class InvokeRequest(_JsonRecord):
    """A worker's request to run ``payload`` on a (possibly new) worker with ``memory_mb``."""

    memory_mb: int
    payload_b64: str
    requested_by: str

    @property
    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)
