"""WfFormat execution traces (WfCommons WfInstances) as calibration input.

A :class:`Trace` is the part of a recorded WfFormat execution that calibration and replay need: per task
its function (category), recorded runtime, input and output bytes, parents and the machine it ran on; the
machines with their core counts; and the recorded makespan. Both WfFormat 1.5 (``specification`` +
``execution``) and the older flat layout (``workflow.tasks`` with ``files`` links) are read. Files may be
plain JSON or xz/gzip/bz2-compressed.

The application of a trace (the key of its replay parameters) is ``{system}/{family}``: the runtime
system's name in lower case (``pegasus``, ``makeflow``, ``nextflow``) and the first ``-``-separated word
of the file name (``montage`` for ``montage-chameleon-2mass-01d-001.json.xz``).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.models.records import LoadReport, TaskRecord

TRACE_SUFFIXES = (".json", ".json.xz", ".json.gz", ".json.bz2")
BASELINE_TRACE_MEMORY_MB = 1024  # traces do not say how much memory a task was given


class TraceError(ValueError):
    """A file that is not a usable WfFormat trace; the message names the file and the problem."""


@dataclass(slots=True)
class TraceTask:
    id: str
    function: str
    runtime_s: float
    input_bytes: int
    output_bytes: int
    machine: str | None
    parents: list[int] = field(default_factory=list)
    children: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Trace:
    name: str
    path: str
    system: str
    application: str
    tasks: list[TraceTask]
    machines: dict[str, int]  # node name -> cores
    makespan_s: float | None

    @property
    def cores(self) -> int:
        return sum(self.machines.values())


def is_trace_path(path: str | Path) -> bool:
    return str(path).lower().endswith(TRACE_SUFFIXES)


def _open_json(path: Path) -> Any:
    name = path.name.lower()
    opener = (
        lzma.open
        if name.endswith(".xz")
        else gzip.open
        if name.endswith(".gz")
        else bz2.open
        if name.endswith(".bz2")
        else open
    )
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise TraceError(f"{path}: no such file") from None
    except (
        OSError,
        EOFError,
        lzma.LZMAError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        RecursionError,
    ) as exc:
        raise TraceError(f"{path}: not a readable JSON trace ({exc})") from None


_ID_SUFFIX = re.compile(r"(_ID\d+|_\d+)$")
try:  # the importer's rule, when present
    from sim.workflow.wfformat import function_of as _importer_function_of
except ImportError:  # pragma: no cover
    _importer_function_of = None


def _function_of(spec: dict, exe: dict) -> str:
    """The same function name as the WfFormat importer gives (``sim.workflow.wfformat.function_of``), so
    models calibrated on traces apply to imported workflows."""
    if _importer_function_of is not None and not exe.get("category"):
        try:
            return _importer_function_of(spec)
        except Exception:  # noqa: BLE001 - fall back to the local rule
            pass
    for value in (spec.get("category"), exe.get("category")):
        if isinstance(value, str) and value:
            return value
    name = spec.get("name") or spec.get("id") or "task"
    return _ID_SUFFIX.sub("", str(name)) or str(name)


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and 0 <= value < 1e300 else None


def application_of(path: str | Path, system: str) -> str:
    family = Path(path).name.split("-", 1)[0].split(".", 1)[0].lower() or "workflow"
    return f"{system}/{family}"


def load_trace(path: str | Path) -> Trace:
    """Read one WfFormat trace; :class:`TraceError` when it is not one."""
    path = Path(path)
    doc = _open_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("workflow"), dict):
        raise TraceError(f"{path}: not a WfFormat document (no 'workflow' object)")
    wf = doc["workflow"]
    system = str(
        (doc.get("runtimeSystem") or {}).get("name") or doc.get("wms", {}).get("name") or "unknown"
    ).lower()
    if "specification" in wf:
        spec_tasks = (wf.get("specification") or {}).get("tasks") or []
        files = {
            f.get("id"): f.get("sizeInBytes", 0)
            for f in (wf.get("specification") or {}).get("files") or []
            if isinstance(f, dict)
        }
        execution = wf.get("execution") or {}
        exe_tasks = {t.get("id"): t for t in execution.get("tasks") or [] if isinstance(t, dict)}
        raw_machines = execution.get("machines") or []
        makespan = execution.get("makespanInSeconds")
    else:  # WfFormat <= 1.4: one task list with runtimes and file links
        spec_tasks = wf.get("tasks") or wf.get("jobs") or []
        files = {}
        exe_tasks = {}
        for t in spec_tasks:
            if not isinstance(t, dict):
                continue
            exe_tasks[t.get("id") or t.get("name")] = {
                **t,
                "runtimeInSeconds": t.get("runtimeInSeconds", t.get("runtime")),
            }
            ins, outs = [], []
            for f in t.get("files") or []:
                if isinstance(f, dict):
                    fid = f.get("id") or f.get("name")
                    files[fid] = f.get("sizeInBytes", f.get("size", 0))
                    (ins if f.get("link") == "input" else outs).append(fid)
            t.setdefault("inputFiles", ins)
            t.setdefault("outputFiles", outs)
            t.setdefault("id", t.get("name"))
            if isinstance(t.get("machine"), str):
                t["machines"] = [t["machine"]]
        raw_machines = wf.get("machines") or []
        makespan = wf.get("makespanInSeconds", wf.get("makespan"))
    if not isinstance(spec_tasks, list) or not spec_tasks:
        raise TraceError(f"{path}: the trace has no tasks")
    machines: dict[str, int] = {}
    for m in raw_machines:
        if isinstance(m, dict) and m.get("nodeName"):
            cores = (m.get("cpu") or {}).get("coreCount") or m.get("cores") or 1
            machines[str(m["nodeName"])] = max(1, int(cores)) if isinstance(cores, (int, float)) else 1
    index: dict[str, int] = {}
    tasks: list[TraceTask] = []
    for t in spec_tasks:
        if not isinstance(t, dict) or not t.get("id"):
            raise TraceError(f"{path}: a task without an id")
        tid = str(t["id"])
        if tid in index:
            raise TraceError(f"{path}: duplicate task id {tid!r}")
        exe = exe_tasks.get(tid) or {}
        runtime = _positive(exe.get("runtimeInSeconds"))
        placed = exe.get("machines") or []
        machine = str(placed[0]) if placed and str(placed[0]) in machines else None
        size = lambda ids: int(sum(_positive(files.get(i)) or 0 for i in ids or [] if isinstance(i, str)))  # noqa: E731
        index[tid] = len(tasks)
        tasks.append(
            TraceTask(
                tid,
                _function_of(t, exe),
                runtime if runtime is not None else 0.0,
                size(t.get("inputFiles")),
                size(t.get("outputFiles")),
                machine,
            )
        )
    for t in spec_tasks:
        me = index[str(t["id"])]
        for p in t.get("parents") or []:
            if p in index and index[p] not in tasks[me].parents:
                tasks[me].parents.append(index[p])
        for c in t.get("children") or []:
            if c in index and me not in tasks[index[c]].parents:
                tasks[index[c]].parents.append(me)
    for i, t in enumerate(tasks):
        for p in t.parents:
            tasks[p].children.append(i)
    _check_acyclic(path, tasks)
    mk = _positive(makespan)
    return Trace(
        str(doc.get("name") or path.name),
        str(path),
        system,
        application_of(path, system),
        tasks,
        machines,
        mk if mk else None,
    )


def _check_acyclic(path: Path, tasks: list[TraceTask]) -> None:
    indeg = [len(t.parents) for t in tasks]
    stack = [i for i, d in enumerate(indeg) if d == 0]
    seen = 0
    while stack:
        i = stack.pop()
        seen += 1
        for c in tasks[i].children:
            indeg[c] -= 1
            if indeg[c] == 0:
                stack.append(c)
    if seen != len(tasks):
        raise TraceError(f"{path}: the task graph has a cycle")


def trace_records(trace: Trace, report: LoadReport | None = None) -> list[TaskRecord]:
    """Task records of a trace (one per task with a positive runtime), for fitting execution and output
    models. Traces do not record a memory allocation, so every record is at the baseline 1024 MB; the
    machine and its cores go to ``extra``. Tasks with a zero runtime are skipped and counted."""
    out: list[TaskRecord] = []
    run_id = Path(trace.path).name
    for t in trace.tasks:
        if t.runtime_s <= 0:
            if report is not None:
                report.skip(f"{trace.path}:task {t.id}", "runtimeInSeconds is missing or zero")
            continue
        out.append(
            TaskRecord(
                run_id=run_id,
                workflow_type=trace.application,
                planner=trace.system,
                function=t.function,
                task_id=t.id,
                worker_id=t.machine or "",
                memory_mb=BASELINE_TRACE_MEMORY_MB,
                cpus=float(trace.machines.get(t.machine or "", 1)),
                input_bytes=t.input_bytes,
                output_bytes=t.output_bytes,
                exec_ms=t.runtime_s * 1000.0,
                extra={"source": "wfformat", "application": trace.application},
            )
        )
        if report is not None:
            report.loaded += 1
    return out
