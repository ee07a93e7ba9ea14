"""WfFormat execution traces (WfCommons WfInstances) as calibration input.

A :class:`Trace` is the part of a recorded WfFormat execution that calibration and replay need: per task
its function (category), recorded runtime, input and output bytes, parents and the machine it ran on; the
machines with their core counts; and the recorded makespan. It is read by the one WfFormat importer,
:func:`sim.workflow.wfformat.load_wfformat` (WfFormat 1.4-1.6 and the older flat layout; plain JSON or
xz/gzip/bz2-compressed), so function names, file sizes and the DAG are exactly those the simulator sees
when it imports the same file; a trace the importer rejects (a NaN runtime, a dangling parent, a cycle)
is a :class:`TraceError` naming the file.

The application of a trace (the key of its replay parameters) is ``{system}/{family}``: the runtime
system's name in lower case (``pegasus``, ``makeflow``, ``nextflow``) and the first ``-``-separated word
of the file name (``montage`` for ``montage-chameleon-2mass-01d-001.json.xz``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.models.records import LoadReport, TaskRecord
from sim.workflow.dag import WorkflowError
from sim.workflow.wfformat import load_wfformat

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
    files: tuple[str, ...] = ()  # the files it reads (each once) and writes, as counted in its bytes


@dataclass(slots=True)
class Trace:
    name: str
    path: str
    system: str
    application: str
    tasks: list[TraceTask]
    machines: dict[str, int]  # node name -> cores (1 when the trace does not say: one slot)
    makespan_s: float | None
    unknown_cores: frozenset[str] = frozenset()  # machines whose core count the trace does not give
    file_sizes: dict[str, int] = field(default_factory=dict)  # recorded bytes per file name

    @property
    def cores(self) -> int:
        return sum(self.machines.values())


def is_trace_path(path: str | Path) -> bool:
    return str(path).lower().endswith(TRACE_SUFFIXES)


def application_of(path: str | Path, system: str) -> str:
    family = Path(path).name.split("-", 1)[0].split(".", 1)[0].lower() or "workflow"
    return f"{system}/{family}"


def _core_count(machine: dict[str, Any]) -> int | None:
    """The machine's cores, or None when the trace does not give a usable count (WfFormat makes
    ``cpu.coreCount`` optional)."""
    cores = (machine.get("cpu") or {}).get("coreCount") or machine.get("cores")
    if isinstance(cores, bool) or not isinstance(cores, (int, float)) or not math.isfinite(cores):
        return None
    if cores < 1:  # as unusable as a missing count: a negative one would be "1 core" and scaled as such
        return None
    return int(cores)


def load_trace(path: str | Path) -> Trace:
    """Read one WfFormat trace with the WfFormat importer (:func:`sim.workflow.wfformat.load_wfformat`,
    so function names, file sizes and the DAG are the ones the simulator sees); :class:`TraceError` when
    it is not one. A task's input bytes are all it reads (external inputs and its parents' files)."""
    path = Path(path)
    try:
        files: dict[str, tuple[tuple[str, int], ...]] = {}
        wf = load_wfformat(path, files=files)
    except WorkflowError as exc:
        msg = str(exc)
        raise TraceError(msg if str(path) in msg else f"{path}: {msg}") from None
    runtime_system = wf.meta.get("runtimeSystem")
    system = str((runtime_system or {}).get("name") if isinstance(runtime_system, dict) else "") or "unknown"
    counts = {name: _core_count(m) for name, m in wf.machines.items()}
    machines = {name: n or 1 for name, n in counts.items()}
    unknown = frozenset(name for name, n in counts.items() if n is None)
    specs = wf.tasks
    sizes = {f: n for task_files in files.values() for f, n in task_files}  # (recorded bytes per file)
    index = {tid: i for i, tid in enumerate(specs)}
    tasks: list[TraceTask] = []
    for tid, spec in specs.items():
        placed = spec.extra.get("machines") or []
        machine = (
            str(placed[0]) if isinstance(placed, list) and placed and str(placed[0]) in machines else None
        )
        tasks.append(
            TraceTask(
                tid,
                spec.function,
                (spec.runtime_ms or 0.0) / 1000.0,
                wf.input_bytes(tid),
                spec.output_bytes or 0,
                machine,
                parents=[index[p] for p in wf.parents(tid)],
                children=[index[c] for c in wf.children(tid)],
                files=tuple(f for f, _ in files.get(tid, ())),
            )
        )
    makespan = wf.recorded_makespan_ms
    return Trace(
        wf.name,
        str(path),
        system.lower(),
        application_of(path, system.lower()),
        tasks,
        machines,
        makespan / 1000.0 if makespan else None,
        unknown,
        sizes,
    )


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
