"""Metric records: one versioned schema for simulated runs, real runs and imported traces.

Records are JSON Lines, one object per line with a ``kind``:

- ``task``: one executed task (``run_id``, ``workflow_type``, ``planner``, ``function``, ``task_id``,
  ``worker_id``, ``memory_mb``, ``cpus``, ``input_bytes``, ``output_bytes``, ``exec_ms``, ``downloads``
  as a list of ``{bytes, ms}``, ``upload`` as ``{bytes, ms}`` or null, ``start_ms``, ``end_ms``; optional,
  written by the real runtime: ``concurrency``, ``cpu_share``, ``cpu_limit``, how crowded the worker's
  CPUs were during the task, see :func:`uncontended_exec_ms`);
- ``worker``: one worker start (``run_id``, ``worker_id``, ``memory_mb``, ``state`` cold|warm,
  ``startup_ms``);
- ``run``: one run (``run_id``, ``workflow_type``, ``planner``, ``sla``, ``makespan_ms``).

Times are milliseconds relative to the run's submission. Because simulated and real runs write the same
records, "plan versus real" is a join on ``(task_id)`` between two runs. Unknown extra fields are kept in
``extra`` and written back, never rejected.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, TextIO

from sim.models.resources import share_rate

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A record that does not fit the schema; the message names the field."""


@dataclass(slots=True)
class Transfer:
    bytes: int
    ms: float


@dataclass(slots=True)
class TaskRecord:
    kind: ClassVar[str] = "task"
    run_id: str
    workflow_type: str
    planner: str
    function: str
    task_id: str
    worker_id: str
    memory_mb: int
    cpus: float
    input_bytes: int
    output_bytes: int
    exec_ms: float
    downloads: list[Transfer] = field(default_factory=list)
    upload: Transfer | None = None
    start_ms: float = 0.0
    end_ms: float = 0.0
    concurrency: float | None = None
    cpu_share: float | None = None
    cpu_limit: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class WorkerRecord:
    kind: ClassVar[str] = "worker"
    run_id: str
    worker_id: str
    memory_mb: int
    state: str
    startup_ms: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RunRecord:
    kind: ClassVar[str] = "run"
    run_id: str
    workflow_type: str
    planner: str
    sla: str
    makespan_ms: float
    extra: dict[str, Any] = field(default_factory=dict)


Record = TaskRecord | WorkerRecord | RunRecord
RECORD_TYPES: dict[str, type] = {cls.kind: cls for cls in (TaskRecord, WorkerRecord, RunRecord)}
_NON_NEGATIVE = {"memory_mb", "cpus", "input_bytes", "output_bytes", "exec_ms", "startup_ms", "makespan_ms"}
# Optional task fields (added compatibly in schema version 1): written only when known.
_OPTIONAL = ("concurrency", "cpu_share", "cpu_limit")
_RANGES = {"concurrency": (1.0, math.inf), "cpu_share": (0.0, 1.0), "cpu_limit": (0.0, math.inf)}


def to_dict(record: Record) -> dict[str, Any]:
    """The JSON object of a record: ``kind``, ``v`` (schema version), the fields, then extras."""
    data = asdict(record)
    extra = data.pop("extra")
    for name in _OPTIONAL:
        if name in data and data[name] is None:
            del data[name]
    return {"kind": record.kind, "v": SCHEMA_VERSION, **data, **extra}


def extra_number(record: Record, key: str) -> float | None:
    """``record.extra[key]`` when it is a finite number, else None: extras are kept as read, unchecked
    (``queued_ms``, ``launcher_startup_ms`` and the like come from other writers' versions)."""
    value = record.extra.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:  # an integer too large for a float
        return None


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"field {name!r} must be a number, got {value!r}")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise RecordError(f"field {name!r} must be finite, got {value!r}")
    if name in _NON_NEGATIVE and value < 0:
        raise RecordError(f"field {name!r} must be >= 0, got {value!r}")
    return int(value) if kind is int else float(value)


def _bounded(name: str, value: Any) -> float:
    lo, hi = _RANGES[name]
    value = _number(name, value, float)
    if not (lo < value <= hi or (name == "concurrency" and value == lo)):
        raise RecordError(
            f"field {name!r} must be in {'[' if name == 'concurrency' else '('}{lo:g}, {hi:g}], got {value!r}"
        )
    return value


def _transfer(name: str, value: Any) -> Transfer:
    if not isinstance(value, dict) or "bytes" not in value or "ms" not in value:
        raise RecordError(f"field {name!r} must be an object with 'bytes' and 'ms', got {value!r}")
    nbytes, ms = _number(f"{name}.bytes", value["bytes"], int), _number(f"{name}.ms", value["ms"], float)
    if nbytes < 0 or ms < 0:
        raise RecordError(f"field {name!r} must have non-negative bytes and ms, got {value!r}")
    return Transfer(nbytes, ms)


def from_dict(data: dict[str, Any]) -> Record:
    """Parse one record, checking required fields and types; unknown fields go to ``extra``."""
    if not isinstance(data, dict):
        raise RecordError(f"a record must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = RECORD_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RecordError(f"unknown record kind {kind!r} (expected one of {sorted(RECORD_TYPES)})")
    version = data.get("v", SCHEMA_VERSION)  # records without "v" (imports) are read as this version
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise RecordError(
            f"{kind} record: schema version {version!r} is not supported (expected {SCHEMA_VERSION})"
        )
    values: dict[str, Any] = {}
    known = {"kind", "v"}
    for f in fields(cls):
        if f.name == "extra":
            continue
        known.add(f.name)
        if f.name not in data:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            raise RecordError(f"{kind} record: missing required field {f.name!r}")
        value = data[f.name]
        if f.name == "downloads":
            if not isinstance(value, list):
                raise RecordError(f"field 'downloads' must be a list, got {value!r}")
            value = [_transfer(f"downloads[{i}]", d) for i, d in enumerate(value)]
        elif f.name == "upload":
            value = None if value is None else _transfer("upload", value)
        elif f.type in ("int", "float"):
            value = _number(f.name, value, int if f.type == "int" else float)
        elif f.name in _OPTIONAL:
            value = None if value is None else _bounded(f.name, value)
        elif f.type == "str":
            if not isinstance(value, str):
                raise RecordError(f"field {f.name!r} must be a string, got {value!r}")
        values[f.name] = value
    if kind == "worker" and values["state"] not in ("cold", "warm"):
        raise RecordError(f"worker record: state must be 'cold' or 'warm', got {values['state']!r}")
    values["extra"] = {k: v for k, v in data.items() if k not in known}
    return cls(**values)


def uncontended_exec_ms(rec: TaskRecord) -> float:
    """``exec_ms`` as if the task had run alone on its worker: what an execution model must predict.

    A real task's ``exec_ms`` includes the slowdown of the tasks that executed beside it on the same
    worker, and the simulator applies that slowdown again (processor sharing at rate
    :func:`~sim.models.resources.share_rate`). So the measured time is scaled by the rate the simulator
    would have given the task: with ``cpu_share`` (time average of ``1/k``, ``k`` tasks executing) it is
    ``min(1, max(cpus, 1) · cpu_share)``, exact for one CPU and whenever ``k >= cpus`` throughout; with
    only ``concurrency`` (time-averaged ``k``) it is ``share_rate(cpus, concurrency)``; records without
    either (simulated, imported) are taken as measured alone. ``cpus`` is the record's configured vCPUs,
    the value the simulator shares.
    """
    rate = _share_rate_of(rec)
    return rec.exec_ms if rate is None else rec.exec_ms * rate


def _share_rate_of(rec: TaskRecord) -> float | None:
    """The CPU rate the simulator would have given the task beside the others (None: not recorded)."""
    if rec.cpu_share is not None:
        return min(1.0, max(rec.cpus, 1.0) * rec.cpu_share)
    if rec.concurrency is not None:
        return share_rate(rec.cpus, rec.concurrency)
    return None


def _extra_ms(rec: TaskRecord, name: str) -> float | None:
    v = rec.extra.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return max(0.0, float(v))


OFF_CPU_MIN_MS = 1.0  # off-CPU time below this is measurement noise of a short task, not a sleep


def busy_ms(rec: TaskRecord) -> float | None:
    """How long a real task's thread was on a CPU or waiting for one, or None when the runtime did not
    record it (or the work ran in other threads: then the task counts as CPU-bound).

    The runtime records, over the task's function call, its thread's CPU time (``cpu_ms``) and the time
    it was runnable but waiting for a CPU (``run_wait_ms``, the kernel's run-queue delay: a loaded host,
    a container's quota). A sleeping or I/O-bound task has little of either; a CPU-bound one has its
    whole turn. When the process's CPU time over the call (``process_cpu_ms``, divided by the tasks
    executing) exceeds the thread's by a quarter of the task's turn of the CPU (its wall time times the
    share rate; less is the event loop's own work), the work ran in a library's own threads (BLAS)
    while the task's thread waited for them: None.
    """
    cpu, wait = _extra_ms(rec, "cpu_ms"), _extra_ms(rec, "run_wait_ms")
    if cpu is None or wait is None:
        return None
    proc = _extra_ms(rec, "process_cpu_ms")
    others = (proc / max(rec.concurrency or 1.0, 1.0) - cpu) if proc is not None else 0.0
    if others > 0.25 * rec.exec_ms * (_share_rate_of(rec) or 1.0):  # a quarter of its turn: not the loop
        return None
    return cpu + wait


def io_aware_exec(rec: TaskRecord) -> tuple[float, float]:
    """``(t, f)``: the task's time alone on its worker and the CPU-bound fraction ``f`` of it, when only
    its CPU part is slowed down by the tasks beside it.

    With wall time ``W``, busy time ``B`` (:func:`busy_ms`, what the task would have used alone) and the
    simulator's share rate ``r``, the CPU part took ``B / r`` and the rest ``W - B / r`` did not depend
    on sharing, so alone ``t = W - B (1/r - 1)``, kept within ``[W r, W]`` (all CPU, none), and
    ``f = B / t``. Three 200 ms sleeps on one worker give ``t`` ~ 200 ms and ``f`` ~ 0
    (:func:`uncontended_exec_ms` gives 67 ms); three CPU-bound tasks taking turns on a starved CPU
    give ``f`` = 1. Without the runtime's measurements the task counts as CPU-bound:
    ``(uncontended_exec_ms(rec), 1.0)``.
    """
    busy = busy_ms(rec)
    if busy is None or rec.exec_ms <= 0:
        return uncontended_exec_ms(rec), 1.0
    wall = rec.exec_ms
    rate = _share_rate_of(rec) or 1.0
    alone = min(wall, max(wall * rate, wall - busy * (1.0 / rate - 1.0)))
    if alone - busy < OFF_CPU_MIN_MS:  # timer granularity and hand-offs, not sleeping: CPU-bound
        return uncontended_exec_ms(rec), 1.0
    return alone, min(1.0, busy / alone)


def shared_alone_ms(records: Iterable[Record]) -> dict[int, float]:
    """Per ``id()`` of a task record whose call overlapped other calls of its function on its worker:
    its time alone, the group's uncontended total split by each call's own CPU need.

    :func:`uncontended_exec_ms` scales every call by the share rate it saw, as if the calls took equal
    turns. Calls of one function started together do not: they wait for each other (the import lock,
    the GIL held by the first call's imports). Three ``background_correct`` calls used 9.7, 0.7 and
    0.6 ms of CPU, yet each took 11-12 ms wall, so each was charged ~4 ms and the fit read the short
    ones as long execution, on top of which the simulator shares the CPU again. Here the calls that
    overlapped (same run, worker and function; execution intervals, the upload taken off the end,
    intersecting; each saw ``concurrency`` > 1) share their summed uncontended time in proportion to
    their busy time (the thread's CPU plus run-queue wait, as in :func:`busy_ms`): the total the simulator shares among
    them stays, and it is charged to the call that did the work. A group where any call lacks the
    measurement keeps :func:`uncontended_exec_ms`.
    """
    by_key: dict[tuple[str, str, str], list[tuple[float, float, TaskRecord]]] = {}
    for rec in records:
        if isinstance(rec, TaskRecord) and rec.exec_ms > 0 and (rec.concurrency or 1.0) > 1.0:
            by_key.setdefault((rec.run_id, rec.worker_id, rec.function), []).append(
                (*_exec_interval(rec), rec)
            )
    out: dict[int, float] = {}
    for calls in by_key.values():
        calls.sort(key=lambda c: c[0])
        group: list[TaskRecord] = []
        group_end = -math.inf
        for start, end, rec in [*calls, (math.inf, math.inf, None)]:
            if start >= group_end and group:  # no overlap with the group so far: close it
                out.update(_split_by_busy(group))
                group = []
            if rec is not None:
                group_end = end if not group else max(group_end, end)
                group.append(rec)
    return out


def _exec_interval(rec: TaskRecord) -> tuple[float, float]:
    """When a real task executed: from ``exec_start_ms`` (recorded by the runtime since its exec clock
    is the crowding meter's interval) for ``exec_ms``; in older records, the record's end less the
    upload that followed, back by ``exec_ms``, which is late by the event loop's latency in resuming
    after the call (tens of ms in a throttled container)."""
    start = _extra_ms(rec, "exec_start_ms")
    if start is not None:
        return start, start + rec.exec_ms
    end = rec.end_ms - (rec.upload.ms if rec.upload is not None else 0.0)
    return end - rec.exec_ms, end


# The timeline's crowding must exceed the meter's by this much (tasks on average) to be believed: in
# records without exec_start_ms the interval is rebuilt from the end and upload times, so neighbours a
# few microseconds off would touch (and exec_start_ms is rounded to a microsecond).
TIMELINE_SLACK = 0.05
# Calls shorter than this keep the meter's figures: a record's end is stamped when the event loop
# resumes after the call, so a rebuilt interval is off by the loop's latency, a large part of a
# sub-millisecond call. Chosen among 0, 1 and 2 ms on half of the accuracy recordings, confirmed on
# the other half (goal cells 25 -> 27 and 23 -> 24 against no minimum).
TIMELINE_MIN_MS = 2.0


def timeline_share_rates(records: Iterable[Record]) -> dict[int, float]:
    """Per ``id()`` of a real task record whose execution overlapped more of its worker's tasks than its
    ``concurrency`` says: the CPU rate the simulator would have given it beside them, from the timeline.

    Runtimes before :func:`runtime.cpu_meter.timed_call` counted a task in the meter from just before
    its function's call, but timed ``exec_ms`` from earlier, before the thread read its CPU counters: a
    file read that lets go of Python's GIL. While a sibling thread computes, taking the GIL back waits
    for it, and the meter had not counted this task yet. Three 6 ms CPU-bound calls started together
    took 8.9, 15.0 and 16.0 ms wall, their intervals overlapping, and the meter saw each alone
    (``concurrency`` 1.00): :func:`uncontended_exec_ms` then fits 15 ms as the time alone, and the
    simulator shares the CPU on top of it. Here each task's interval (:func:`_exec_interval`) meets
    those of every task of its run and worker; where the time average of the count ``k(t)`` of tasks
    executing exceeds ``concurrency`` by :data:`TIMELINE_SLACK`, the rate is ``min(1, max(cpus, 1) *
    avg(1 / k))``, as :func:`uncontended_exec_ms` computes it from a recorded ``cpu_share``. Calls
    shorter than :data:`TIMELINE_MIN_MS`, and records without the meter (simulated, imported), are
    left out. Records written since the runtime times ``exec_ms`` over the meter's own interval
    (:func:`runtime.cpu_meter.timed_call`) carry ``exec_start_ms``: their timeline is the meter's, so
    none of them is rescaled here; this corrects the records written before.
    """
    by_worker: dict[tuple[str, str], list[tuple[float, float, TaskRecord]]] = {}
    for rec in records:
        if isinstance(rec, TaskRecord) and rec.exec_ms > 0 and rec.end_ms > 0 and rec.concurrency is not None:
            by_worker.setdefault((rec.run_id, rec.worker_id), []).append((*_exec_interval(rec), rec))
    out: dict[int, float] = {}
    for calls in by_worker.values():
        if len(calls) < 2:
            continue
        # k(t) is constant between consecutive interval ends: integrate k and 1/k once over the worker,
        # then a task's averages are two differences of those running integrals
        points = sorted({p for start, end, _ in calls for p in (start, end)})
        index = {p: i for i, p in enumerate(points)}
        delta = [0] * len(points)
        for start, end, _ in calls:
            delta[index[start]] += 1
            delta[index[end]] -= 1
        area, inv = [0.0], [0.0]
        k = 0
        for i in range(len(points) - 1):
            k += delta[i]
            dt = points[i + 1] - points[i]
            area.append(area[-1] + k * dt)
            inv.append(inv[-1] + (dt / k if k else 0.0))
        for start, end, rec in calls:
            if rec.exec_ms < TIMELINE_MIN_MS:
                continue
            a, b = index[start], index[end]
            span = end - start
            if (area[b] - area[a]) / span > rec.concurrency + TIMELINE_SLACK:
                out[id(rec)] = min(1.0, max(rec.cpus, 1.0) * (inv[b] - inv[a]) / span)
    return out


def _split_by_busy(group: list[TaskRecord]) -> dict[int, float]:
    # the thread's own CPU and run-queue wait, without busy_ms's test for work in other threads: the
    # process's CPU over one call here includes the other calls' (a BLAS call's threads would be missed
    # alike by every call of the group, which keeps the split fair)
    cpu = [_extra_ms(r, "cpu_ms") for r in group]
    wait = [_extra_ms(r, "run_wait_ms") for r in group]
    if len(group) < 2 or None in cpu or None in wait:
        return {}
    busy = [c + w for c, w in zip(cpu, wait, strict=True)]
    if sum(busy) <= 0:
        return {}
    total = sum(uncontended_exec_ms(r) for r in group)
    # a floor, as for first-call extras: a call that used no CPU still took some time, and a zero
    # would leave the log-space fit
    return {
        id(r): max(total * b / sum(busy), 0.05 * uncontended_exec_ms(r))
        for r, b in zip(group, busy, strict=True)
    }


def first_calls(records: Iterable[Record]) -> set[int]:
    """The ``id()`` of every task record that was its function's first call on its worker in its run
    (the earliest start; a tie goes to the record met first).

    A fresh worker's first call of a function pays one-time costs the later calls skip: the function's
    lazy imports, first-touch page faults, cold caches. Measured on the accuracy benchmark's records:
    ``add`` 0.29 ms first vs 0.07 ms later, ``get_chunk`` 0.45 vs 0.11 ms, ``background_correct`` 7.9
    vs 3.4 ms. A planner that puts many calls on one worker pays it once; one that spreads them pays
    it on every call.
    """
    first: dict[tuple[str, str, str], TaskRecord] = {}
    for rec in records:
        # Only records with a measured timeline: a trace's tasks carry no start time, and the "first"
        # of them would be whichever the file lists first.
        if isinstance(rec, TaskRecord) and rec.end_ms > 0:
            key = (rec.run_id, rec.worker_id, rec.function)
            seen = first.get(key)
            if seen is None or rec.start_ms < seen.start_ms:
                first[key] = rec
    return {id(rec) for rec in first.values()}


# A task counts as held back by a sibling when its execution started this much after it was ready
# (its start and downloads done): more than the event loop's own hand-off takes (~1 ms).
HELD_BACK_MS = 3.0


def gil_hold_samples(records: Iterable[Record]) -> dict[str, list[float]]:
    """Per function: how much of a call's time alone passed before a sibling task waiting on the same
    worker could start executing, as a fraction (at most 1) of the call's uncontended time.

    A real worker runs its tasks as threads of one Python process: a task that became ready while a
    sibling executes starts only when the event loop and its own thread get Python's GIL. A function
    that runs Python bytecode gives it up every switch interval (1 ms), but one whose work is long C
    calls that keep the GIL (``str.split``, ``Counter`` over a chunk's words, a regular expression over
    a segment) gives it up only between them: text_analysis's ``analyze_segment`` siblings, ready
    together, started their execution 20-220 ms apart, and ``word_count_chunk`` siblings one after the
    other. Here each task ``B`` that was ready (``start_ms`` plus its longest download) at least
    :data:`HELD_BACK_MS` before its ``exec_start_ms`` while siblings executed is one sample of the
    sibling among them that started executing last before it, ``A``: ``(B's exec start - A's exec
    start) / A's uncontended time``, as :meth:`sim.engine.simulator.Simulation._dispatch_wait` chains
    the hand-offs. Records without ``exec_start_ms`` (older runtimes, simulated) give none.
    """
    by_worker: dict[tuple[str, str], list[tuple[float, float, TaskRecord]]] = {}
    for rec in records:
        if isinstance(rec, TaskRecord) and rec.exec_ms > 0 and _extra_ms(rec, "exec_start_ms") is not None:
            by_worker.setdefault((rec.run_id, rec.worker_id), []).append((*_exec_interval(rec), rec))
    out: dict[str, list[float]] = {}
    for calls in by_worker.values():
        for b_start, _, b in calls:
            ready = b.start_ms + max((d.ms for d in b.downloads), default=0.0)
            if b_start - ready < HELD_BACK_MS:
                continue
            # the siblings that executed while it waited; the one dispatched last before it held it
            running = [(s, a) for s, e, a in calls if a is not b and s < b_start and e > ready]
            if not running:
                continue
            a_start, a = max(running, key=lambda c: c[0])
            alone = uncontended_exec_ms(a)
            if alone > 0:
                out.setdefault(a.function, []).append(min(1.0, (b_start - a_start) / alone))
    return out


class _Lines:
    """Text written to a binary stream as it comes, one ``write`` each: an ``io.TextIOWrapper`` would
    batch the writes, and gzip's bytes depend on how its input was cut (the committed dataset's bytes
    must come out again from the same records)."""

    __slots__ = ("raw",)

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        return self.raw.write(text.encode("utf-8"))


@contextlib.contextmanager
def open_jsonl(path: str | Path, name: str | Path | None = None) -> Iterator[_Lines]:
    """``path`` opened to write JSON Lines, gzip-compressed when ``name`` (by default the path itself)
    ends in ``.gz``, as ``calibration.loaders.load_jsonl`` reads it. The gzip header carries no
    timestamp, so the same records give the same bytes; ``name`` lets a file written under a temporary
    path carry the header of the one it will become."""
    name = str(path if name is None else name)
    with open(path, "wb") as raw:
        if not name.endswith(".gz"):
            yield _Lines(raw)
            return
        with gzip.GzipFile(filename=name, mode="wb", fileobj=raw, mtime=0) as gz:
            yield _Lines(gz)


def write_jsonl(records: Iterable[Record], out: str | Path | TextIO | _Lines) -> int:
    """Write records as JSON Lines (a path ending in ``.gz``: gzip-compressed); returns how many were
    written."""
    if isinstance(out, (str, Path)):
        with open_jsonl(out) as fh:
            return write_jsonl(records, fh)
    n = 0
    for record in records:
        out.write(json.dumps(to_dict(record), separators=(",", ":")) + "\n")
        n += 1
    return n


@dataclass(slots=True)
class LoadReport:
    """What a loader kept and skipped: skipped lines are counted with the first few reasons."""

    source: str
    loaded: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.skipped += 1
        if len(self.problems) < 5:
            self.problems.append(f"{where}: {why}")


def iter_jsonl(path: str | Path, report: LoadReport | None = None) -> Iterator[Record]:
    """Records of a JSONL file. Bad lines are skipped and counted in ``report`` (never a crash)."""
    report = report if report is not None else LoadReport(str(path))
    with open(path, encoding="utf-8", errors="replace") as fh:  # undecodable bytes fail as bad JSON
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                record = from_dict(data)
            except (json.JSONDecodeError, RecordError, RecursionError) as exc:
                report.skip(f"{path}:{lineno}", str(exc))
                continue
            report.loaded += 1
            yield record
