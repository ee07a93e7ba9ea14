"""The live view of a running workflow: a small reader interface, its Redis implementation, and the pure
logic that turns what the store holds into per-task states.

The reader interface (:class:`LiveReader`) is what the dashboard's live page needs; anything that
implements it (the Redis reader below, the in-memory :class:`FakeLiveReader` of the tests) can drive it:

- ``runs() -> list[str]``: run ids currently in the store;
- ``snapshot(run_id) -> LiveSnapshot``: the DAG (from the stored plan), per-task facts and records.

What the Redis reader reads, all under ``plansim:{run}:`` (see ``runtime/driver.py``, :class:`RunKeys`):

=====================  ===========================================================================
key                    meaning for the live view
=====================  ===========================================================================
``plan``               signed plan (HMAC-checked with the deployment key before unpickling): the DAG,
                       each task's planned worker and memory
``dc:{child}``         set of the child's parents that completed: every member is a *done* task
``done:{sink}``        a sink completed
``started:{task}``     a worker began executing the task (its driver sets it with the call): *running*
``hb:f:{task}``        the heartbeat of a flexible invocation that starts at the task (set when the
                       invocation starts, renewed every second): *running*
``out:{task}``         the task's output was uploaded: *done*
``records``            JSON metric records pushed by each worker as its invocation ends (timings)
``progress``           tasks executed so far
``error``              JSON ``{task, worker, traceback, kind}`` of the first failure
``log:{task}``         list of the task's log lines, appended while it runs (``runtime/tasklog.py``);
                       a task that printed nothing has none: its "log" is then its record and, for a
                       failed task, the traceback
=====================  ===========================================================================

Keys are deleted when a run ends, so only running (or just-crashed) runs are seen. Neither
``own:{task}`` (the task's parents completed) nor ``claim:{worker}`` (a planned worker was asked for)
makes a task running: its worker may still be starting, or busy with other tasks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sim.models.records import RecordError, TaskRecord, WorkerRecord, from_dict

STATES = ("waiting", "running", "done", "failed")
STATE_COLOUR = {"waiting": "#c8c8c8", "running": "#f0ad4e", "done": "#5cb85c", "failed": "#d9534f"}


@dataclass(slots=True)
class LiveTask:
    task_id: str
    function: str
    planned_worker: str | None  # None: flexible
    memory_mb: int | None
    state: str = "waiting"
    worker: str | None = None  # the worker that ran it (from its record), when known
    record: TaskRecord | None = None
    logs: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        """What clicking the task shows: id, worker, resource config, timings."""
        r = self.record
        out: dict[str, Any] = {
            "task": self.task_id,
            "function": self.function,
            "state": self.state,
            "planned worker": self.planned_worker or "flexible",
            "worker": self.worker or "-",
            "memory (MB)": self.memory_mb if self.memory_mb is not None else "-",
        }
        if r is not None:
            out.update(
                {
                    "cpus": r.cpus,
                    "start (ms)": round(r.start_ms, 1),
                    "end (ms)": round(r.end_ms, 1),
                    "download (ms)": round(max((d.ms for d in r.downloads), default=0.0), 1),
                    "exec (ms)": round(r.exec_ms, 1),
                    "upload (ms)": round(r.upload.ms, 1) if r.upload else 0.0,
                    "input (B)": r.input_bytes,
                    "output (B)": r.output_bytes,
                }
            )
        return out


@dataclass(slots=True)
class LiveSnapshot:
    run_id: str
    tasks: dict[str, LiveTask]
    edges: list[tuple[str, str]]
    workflow: str | None = None
    planner: str | None = None
    progress: int = 0
    error: dict[str, Any] | None = None
    workers: dict[str, WorkerRecord] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what could not be read, in words

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for t in self.tasks.values():
            out[t.state] = out.get(t.state, 0) + 1
        return out


class LiveReader(Protocol):
    def runs(self) -> list[str]: ...

    def snapshot(self, run_id: str) -> LiveSnapshot: ...


def task_states(
    tasks: Iterable[str],
    edges: Iterable[tuple[str, str]],
    done_parents: dict[str, set[str]],
    sinks_done: set[str],
    started: set[str],
    recorded: set[str],
    uploaded: set[str],
    failed: str | None = None,
) -> dict[str, str]:
    """Each task's state from what the store holds (pure).

    done: recorded, uploaded, a finished sink, a member of a child's completed-parents set, or upstream
    of a done or started task (a task's parents must have finished before it could start: a chain on
    one worker uploads and counts nothing, and its records come when the worker ends, so its finished
    tasks are known done only from the next one's start). running: started (a worker began it) and not
    done. failed: the task the error names. waiting: the rest.
    """
    tasks = list(tasks)
    parents: dict[str, list[str]] = {t: [] for t in tasks}
    for u, v in edges:
        if v in parents:
            parents[v].append(u)
    done = set(recorded) | set(uploaded) | set(sinks_done)
    for members in done_parents.values():
        done |= members
    stack = [t for t in done | set(started) if t in parents]
    while stack:  # propagate upstream: outputs kept on the same worker are never uploaded or counted
        t = stack.pop()
        for p in parents.get(t, []):
            if p not in done:
                done.add(p)
                stack.append(p)
    states = {}
    for t in tasks:
        if failed == t:
            states[t] = "failed"
        elif t in done:
            states[t] = "done"
        elif t in started:
            states[t] = "running"
        else:
            states[t] = "waiting"
    return states


def parse_records(raw: Iterable[bytes | str]) -> tuple[dict[str, TaskRecord], dict[str, WorkerRecord], int]:
    """Task and worker records from the store's JSON lines (last attempt kept); returns bad-line count."""
    tasks: dict[str, TaskRecord] = {}
    workers: dict[str, WorkerRecord] = {}
    bad = 0
    for line in raw:
        try:
            rec = from_dict(json.loads(line))
        except (ValueError, RecordError, TypeError):
            bad += 1
            continue
        if isinstance(rec, TaskRecord):
            tasks[rec.task_id] = rec
        elif isinstance(rec, WorkerRecord):
            workers[rec.worker_id] = rec
    return tasks, workers, bad


def build_snapshot(
    run_id: str,
    specs: dict[str, tuple[str, str | None, int | None]],
    edges: list[tuple[str, str]],
    *,
    done_parents: dict[str, set[str]],
    sinks_done: set[str],
    started: set[str],
    uploaded: set[str],
    raw_records: Iterable[bytes | str],
    error: dict[str, Any] | None,
    progress: int,
    logs: dict[str, list[str]],
    workflow: str | None = None,
    planner: str | None = None,
    problems: list[str] | None = None,
) -> LiveSnapshot:
    """A snapshot from raw store facts (pure; shared by every reader). ``specs``: task id ->
    (function, planned worker or None, memory MB)."""
    recs, workers, bad = parse_records(raw_records)
    problems = list(problems or [])
    if bad:
        problems.append(f"{bad} metric record(s) in the store could not be read")
    failed = error.get("task") if error else None
    ids = list(specs) or sorted(recs)
    states = task_states(ids, edges, done_parents, sinks_done, started, set(recs), uploaded, failed)
    tasks = {}
    for t in ids:
        fn, pw, mem = specs.get(t, (recs[t].function if t in recs else "?", None, None))
        rec = recs.get(t)
        lines = list(logs.get(t, []))
        if error and error.get("task") == t and error.get("traceback"):
            lines += [f"[{error.get('kind', 'task')} failed on worker {error.get('worker', '?')}]"]
            lines += str(error["traceback"]).rstrip().splitlines()
        tasks[t] = LiveTask(
            t,
            fn,
            pw,
            mem if mem is not None else (rec.memory_mb if rec else None),
            states[t],
            rec.worker_id if rec else None,
            rec,
            lines,
        )
    return LiveSnapshot(run_id, tasks, edges, workflow, planner, progress, error, workers, problems)


class RedisLiveReader:
    """Reads a run's live state from the runtime's Redis (read-only: GET, MGET, SMEMBERS, LRANGE, SCAN)."""

    def __init__(self, url: str, key: bytes | None = None) -> None:
        """``key``: the deployment's signing key (default: the runtime's, see :mod:`runtime.signing`)."""
        import redis

        self.url = url
        self.key = key
        self.r = redis.Redis.from_url(url, socket_timeout=5)
        self._plans: dict[str, Any] = {}

    def runs(self) -> list[str]:
        out = set()
        for key in self.r.scan_iter(match="plansim:*:plan", count=500):
            k = key.decode() if isinstance(key, bytes) else key
            out.add(k[len("plansim:") : -len(":plan")])
        return sorted(out)

    def _plan(self, run_id: str) -> tuple[Any, str | None]:
        if run_id in self._plans:
            return self._plans[run_id], None
        data = self.r.get(f"plansim:{run_id}:plan")
        if data is None:
            return None, f"run {run_id!r} has no plan in the store (it ended, or never started)"
        try:
            from runtime import signing

            obj = signing.loads(data, f"plan:{run_id}", key=self.key)
        except Exception as exc:  # noqa: BLE001 - a wrong key or a missing runtime is a message, not a crash
            return None, (
                f"cannot read the plan of run {run_id!r} ({type(exc).__name__}: {exc}); the dashboard "
                f"needs the deployment's signing key (PLANSIM_HMAC_KEY or the runtime's state dir)"
            )
        self._plans[run_id] = obj
        return obj, None

    def snapshot(self, run_id: str) -> LiveSnapshot:
        p = f"plansim:{run_id}:"
        obj, problem = self._plan(run_id)
        problems = [problem] if problem else []
        specs: dict[str, tuple[str, str | None, int | None]] = {}
        edges: list[tuple[str, str]] = []
        workflow = planner = None
        if obj is not None:
            plan = obj["plan"]
            wf = plan.workflow
            workflow, planner = wf.name, plan.planner
            for t in wf.topological_order():
                cfg = plan.configs[t]
                specs[t] = (wf.task(t).function, cfg.worker_id, cfg.memory_mb)
            edges = list(wf.graph.edges)
        ids = list(specs)
        pipe = self.r.pipeline(transaction=False)
        for t in ids:
            pipe.smembers(f"{p}dc:{t}")
        pipe.mget([f"{p}done:{t}" for t in ids] or [f"{p}done:"])
        pipe.mget([f"{p}started:{t}" for t in ids] or [f"{p}started:"])
        pipe.lrange(f"{p}records", 0, -1)
        pipe.get(f"{p}error")
        pipe.get(f"{p}progress")
        for t in ids:
            pipe.lrange(f"{p}log:{t}", 0, 199)
        for t in ids:  # uploaded outputs: EXISTS only (outputs can be large; never fetched)
            pipe.exists(f"{p}out:{t}")
        # A flexible invocation's heartbeat, set as it starts at the task, says so before the call.
        pipe.mget([f"{p}hb:f:{t}" for t in ids] or [f"{p}hb:f:"])
        res = pipe.execute()
        heartbeats = res[-1][: len(ids)]
        n = len(ids)
        dc = {t: {m.decode() if isinstance(m, bytes) else m for m in res[i]} for i, t in enumerate(ids)}
        done_flags, start_flags = res[n][:n], res[n + 1][:n]
        started = {
            t
            for t, v, hb in zip(ids, start_flags, heartbeats, strict=True)
            if v is not None or hb is not None
        }
        raw_records, err_raw, prog = res[n + 2], res[n + 3], res[n + 4]
        logs = {
            t: [x.decode(errors="replace") if isinstance(x, bytes) else x for x in res[n + 5 + i]]
            for i, t in enumerate(ids)
        }
        uploaded = {t for i, t in enumerate(ids) if res[n + 5 + n + i]}
        error = None
        if err_raw is not None:
            try:
                error = json.loads(err_raw)
            except ValueError:
                error = {"task": None, "traceback": str(err_raw)}
        return build_snapshot(
            run_id,
            specs,
            edges,
            done_parents=dc,
            sinks_done={t for t, v in zip(ids, done_flags, strict=True) if v is not None},
            started=started,
            uploaded=uploaded,
            raw_records=raw_records,
            error=error,
            progress=int(prog or 0),
            logs=logs,
            workflow=workflow,
            planner=planner,
            problems=problems,
        )


class FakeLiveReader:
    """An in-memory reader (tests, demos): runs are given as ready-made raw facts."""

    def __init__(self, runs: dict[str, dict[str, Any]]) -> None:
        self._runs = runs

    def runs(self) -> list[str]:
        return sorted(self._runs)

    def snapshot(self, run_id: str) -> LiveSnapshot:
        d = self._runs[run_id]
        return build_snapshot(
            run_id,
            d["specs"],
            d["edges"],
            done_parents=d.get("done_parents", {}),
            sinks_done=d.get("sinks_done", set()),
            started=d.get("started", set()),
            uploaded=d.get("uploaded", set()),
            raw_records=d.get("records", []),
            error=d.get("error"),
            progress=d.get("progress", 0),
            logs=d.get("logs", {}),
            workflow=d.get("workflow"),
            planner=d.get("planner"),
        )
