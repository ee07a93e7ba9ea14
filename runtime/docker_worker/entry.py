"""The worker's receiving loop: wait for jobs on Redis, run a handler on each, report back.

A worker (Docker container or local process) is long-lived: it is started once by a launcher (a *cold*
start) and then serves jobs until it is told to stop or stays idle too long. Reusing it for the next job
is a *warm* start: neither ``docker run`` nor the interpreter start-up and imports are paid again (in the
reference system every job was a fresh ``docker exec``'d Python process, so "warm" only saved the
``docker run``).

The launcher hands jobs over through a Redis list that the worker BLPOPs (see
:mod:`runtime.docker_worker.protocol` for keys and framing) instead of ``docker exec``. Measured on a
2-core host, 1792 MB (1 vCPU) container, 20 samples (``benchmarks/bench_containers.py``):

=============================================  =========  =========
hand-off to a running container                p50 (ms)   p95 (ms)
=============================================  =========  =========
``docker exec true`` (the floor of an exec)         86        122
``docker exec python3`` importing this module      625        679
Redis RPUSH/BLPOP, echo job round trip               1.2        5.2
=============================================  =========  =========

An exec costs an engine round trip even for ``true``, and a fresh interpreter per job pays Python
start-up and imports again on every "warm" start; the Redis hand-off costs one round trip each way.

The lead's ``runtime/docker_worker/__main__.py`` calls :func:`serve` with its handler::

    from runtime.docker_worker.entry import serve
    serve(my_handler)          # my_handler(payload: bytes) -> bytes | None

Inside the handler, :func:`current_job` tells which job runs and how its worker was obtained (cold or
warm, start-up milliseconds), and :func:`request_invocation` asks the launcher to run another job on a
worker of a given memory size (how a worker delegates branches).

``python -m runtime.docker_worker.entry`` serves with :func:`diagnostic_handler`, a tiny command handler
used by tests and benchmarks (it does not depend on the lead's worker code).
"""

from __future__ import annotations

import base64
import contextvars
import json
import os
import sys
import time
import traceback
from collections.abc import Callable

import redis

from runtime.docker_worker import protocol as p

Handler = Callable[[bytes], "bytes | None"]

_current: contextvars.ContextVar[p.JobHeader | None] = contextvars.ContextVar("plansim_job", default=None)
_client: redis.Redis | None = None
_settings: tuple[str, str] | None = None  # (run_id, worker_id) of the running serve loop


def current_job() -> p.JobHeader | None:
    """The header of the job being handled (None outside a handler)."""
    return _current.get()


def request_invocation(memory_mb: int, payload: bytes) -> None:
    """From inside a handler: ask the launcher to run ``payload`` on a worker with ``memory_mb`` MB.

    The request is queued on ``plansim:{run}:jobs-invoke``; the launcher acquires a warm or cold worker
    and submits the job. Fire-and-forget: completion is observed through the run's own Redis keys.
    """
    if _client is None or _settings is None:
        raise RuntimeError("request_invocation() is only available inside serve()")
    run_id, worker_id = _settings
    req = p.InvokeRequest(memory_mb, base64.b64encode(payload).decode(), worker_id)
    _client.rpush(p.invoke_key(run_id), req.encode())


def _env(name: str, given: str | None) -> str:
    value = given if given is not None else os.environ.get(name)
    if not value:
        raise SystemExit(f"plansim worker: {name} is not set (workers are started by a plansim launcher)")
    return value


def apply_switch_interval() -> float:
    """Set this interpreter's GIL switch interval from ``PLANSIM_SWITCH_INTERVAL_MS`` (if the launcher
    gave one) and return the interval in force, in ms.

    Co-located tasks run as threads of one worker process: a thread that wants the GIL while another runs
    Python code waits up to one interval (CPython: 5 ms) before asking the holder to drop it, so short
    tasks beside a busy sibling wait either ~0 or a whole interval. A shorter interval hands the GIL over
    more often (closer to the processor sharing the simulator assumes), at the cost of more switches.
    """
    raw = os.environ.get(p.ENV_SWITCH_INTERVAL_MS, "").strip()
    if raw:
        try:
            ms = p.check_switch_interval_ms(raw)
        except ValueError as exc:
            raise SystemExit(f"plansim worker: {p.ENV_SWITCH_INTERVAL_MS}: {exc}") from None
        sys.setswitchinterval(ms / 1000.0)
    return sys.getswitchinterval() * 1000.0


def serve(
    handler: Handler,
    *,
    redis_url: str | None = None,
    run_id: str | None = None,
    worker_id: str | None = None,
    max_idle_s: float | None = None,
    poll_s: float = 1.0,
) -> int:
    """Serve jobs until a STOP envelope arrives or no job came for ``max_idle_s``; return the exit code.

    Settings default to the environment a launcher provides (``PLANSIM_REDIS_URL``, ``PLANSIM_RUN_ID``,
    ``PLANSIM_WORKER_ID``, ``PLANSIM_MAX_IDLE_S``; ``PLANSIM_SWITCH_INTERVAL_MS``, if set, is applied first:
    :func:`apply_switch_interval`). ``max_idle_s`` is a safety net so that a worker whose
    launcher died (SIGKILL) does not live forever; the launcher itself removes idle workers much sooner
    (keep-alive). A handler exception does not stop the loop: its traceback is reported in the job's
    :class:`~runtime.docker_worker.protocol.DoneRecord`.
    """
    global _client, _settings
    apply_switch_interval()  # before any job: every task of this worker runs under it
    url = _env(p.ENV_REDIS_URL, redis_url)
    run = _env(p.ENV_RUN_ID, run_id)
    wid = _env(p.ENV_WORKER_ID, worker_id)
    idle_limit = float(max_idle_s if max_idle_s is not None else os.environ.get(p.ENV_MAX_IDLE_S, 900))

    client = redis.Redis.from_url(url, socket_connect_timeout=10, health_check_interval=30)
    client.ping()
    _client, _settings = client, (run, wid)
    key = p.jobs_key(run, wid)
    client.rpush(p.ready_key(run), p.ReadyRecord(wid, os.getpid(), os.getuid(), time.time()).encode())

    last_job = time.monotonic()
    while True:
        item = client.blpop([key], timeout=poll_s)
        if item is None:
            if time.monotonic() - last_job > idle_limit:
                return 0
            continue
        data = item[1]
        if data == p.STOP:
            return 0
        try:
            header, payload = p.decode_job(data)
        except (ValueError, TypeError) as exc:
            print(f"plansim worker {wid}: dropping malformed job: {exc}", file=sys.stderr, flush=True)
            continue
        started = time.time()
        token = _current.set(header)
        try:
            result = handler(payload)
            done = p.DoneRecord(
                header.job_id,
                wid,
                True,
                started,
                time.time(),
                result_b64=base64.b64encode(result).decode() if result is not None else None,
            )
        except Exception:  # noqa: BLE001 - any handler failure is reported, the worker keeps serving
            done = p.DoneRecord(header.job_id, wid, False, started, time.time(), error=traceback.format_exc())
        finally:
            _current.reset(token)
        client.rpush(p.done_key(run), done.encode())
        last_job = time.monotonic()


def diagnostic_handler(payload: bytes) -> bytes | None:
    """A minimal handler for tests and benchmarks; the payload is a command.

    * ``b"echo:<x>"`` returns ``<x>``;
    * ``b"sleep:<seconds>"`` sleeps, returns None;
    * ``b"whoami"`` returns JSON with uid, gid, pid, cpu count visible, GIL switch interval, job header;
    * ``b"env:<NAME>"`` returns the worker's environment variable NAME (empty if unset);
    * ``b"fail:<msg>"`` raises RuntimeError(msg);
    * ``b"exit:<code>"`` kills the worker process (simulates a crash);
    * ``b"invoke:<memory_mb>:<payload>"`` asks the launcher to run ``<payload>`` on another worker.
    """
    cmd, _, arg = payload.partition(b":")
    if cmd == b"echo":
        return arg
    if cmd == b"sleep":
        time.sleep(float(arg))
        return None
    if cmd == b"whoami":
        header = current_job()
        return json.dumps(
            {
                "uid": os.getuid(),
                "gid": os.getgid(),
                "pid": os.getpid(),
                "cpus": len(os.sched_getaffinity(0)),
                "python": sys.version.split()[0],
                "switch_interval_ms": sys.getswitchinterval() * 1000.0,
                "job": header.__dict__ if header else None,
            }
        ).encode()
    if cmd == b"env":
        return os.environ.get(arg.decode(), "").encode()
    if cmd == b"fail":
        raise RuntimeError(arg.decode())
    if cmd == b"exit":
        os._exit(int(arg))
    if cmd == b"invoke":
        mem, _, inner = arg.partition(b":")
        request_invocation(int(mem), inner)
        return None
    raise ValueError(f"unknown diagnostic command {cmd!r}")


if __name__ == "__main__":
    sys.exit(serve(diagnostic_handler))
