"""Plan versus real: a pure comparison of two runs' metric records.

The planned run is the simulator's records (``source: sim``), the real run the runtime's; both follow
:mod:`sim.models.records`, so the comparison is a join on ``task_id``. Nothing here reads files or talks to
services: give it two lists of records and it returns a :class:`Comparison`, which says what it could not
compare instead of failing:

- an empty side (a run without a plan, a plan without a run);
- several runs on one side without saying which one to use;
- different workflow types on the two sides (then no task is joined: the ids would mean different tasks);
- tasks present on one side only (listed, the rest is still compared);
- a task recorded more than once (a retried task: the last attempt is kept, and said so).

Per task it compares start, download, execution, upload and end times, input and output sizes, the worker
and the start-up state; overall the makespan, cost (GB-s), invocations, cold and warm starts and bytes
moved. Errors are signed percentages ``(planned - real) / real`` (positive: the plan over-estimated), and
the *general percentage offset* of each prediction is the median of their absolute values over tasks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sim.models.records import Record, RunRecord, TaskRecord, WorkerRecord, extra_number

# Per-task quantities compared, in display order.
TASK_METRICS = ("start_ms", "download_ms", "exec_ms", "upload_ms", "end_ms", "input_bytes", "output_bytes")
# Whole-run quantities compared, in display order.
RUN_METRICS = (
    "makespan_ms",
    "cost_gb_s",
    "invocations",
    "cold_starts",
    "warm_starts",
    "bytes_downloaded",
    "bytes_uploaded",
    "tasks",
)
# |error| above this is flagged (the reference dashboard's threshold).
FLAG_PCT = 70.0


def pct_error(planned: float | None, real: float | None) -> float | None:
    """Signed error of a prediction in percent of the real value; None when undefined."""
    if planned is None or real is None:
        return None
    if real == 0:
        return 0.0 if planned == 0 else None
    return (planned - real) / abs(real) * 100.0


@dataclass(slots=True)
class RunData:
    """The records of one run, indexed: tasks by id (last attempt), workers by id, the run record."""

    run_id: str
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    workers: dict[str, WorkerRecord] = field(default_factory=dict)
    run: RunRecord | None = None
    duplicates: dict[str, int] = field(default_factory=dict)  # task id -> times recorded

    @property
    def workflow_types(self) -> set[str]:
        types = {t.workflow_type for t in self.tasks.values()}
        if self.run is not None:
            types.add(self.run.workflow_type)
        return types

    @property
    def workflow_type(self) -> str | None:
        types = self.workflow_types
        return next(iter(types)) if len(types) == 1 else None

    @property
    def planner(self) -> str | None:
        if self.run is not None:
            return self.run.planner
        planners = {t.planner for t in self.tasks.values()}
        return next(iter(planners)) if len(planners) == 1 else None

    @property
    def source(self) -> str:
        """``sim``, ``real`` or what the records' ``source`` extra says (``unknown`` when silent)."""
        for rec in [self.run, *self.tasks.values()]:
            if rec is not None and rec.extra.get("source"):
                return str(rec.extra["source"])
        return "unknown"

    @property
    def workflow_name(self) -> str | None:
        if self.run is not None and self.run.extra.get("workflow"):
            return str(self.run.extra["workflow"])
        return None

    # -- derived per task ----------------------------------------------------------------------------
    def download_ms(self, t: TaskRecord) -> float:
        """Time waiting for inputs: downloads run in parallel, so the longest one (or the recorded wall)."""
        if "download_ms" in t.extra and isinstance(t.extra["download_ms"], (int, float)):
            return float(t.extra["download_ms"])
        return max((d.ms for d in t.downloads), default=0.0)

    def first_tasks(self) -> dict[str, str]:
        """Worker id -> the task it started with (the one that paid the worker's start-up)."""
        first: dict[str, TaskRecord] = {}
        for t in self.tasks.values():
            cur = first.get(t.worker_id)
            if cur is None or (t.start_ms, t.task_id) < (cur.start_ms, cur.task_id):
                first[t.worker_id] = t
        return {w: t.task_id for w, t in first.items()}

    def startup_state(self, task_id: str, first: dict[str, str] | None = None) -> str:
        """``cold`` / ``warm`` for the task a worker started with, ``running`` for the others."""
        t = self.tasks[task_id]
        first = first if first is not None else self.first_tasks()
        if first.get(t.worker_id) != task_id:
            return "running"
        w = self.workers.get(t.worker_id)
        return w.state if w is not None else "unknown"

    def task_values(self, task_id: str) -> dict[str, float]:
        t = self.tasks[task_id]
        return {
            "start_ms": t.start_ms,
            "download_ms": self.download_ms(t),
            "exec_ms": t.exec_ms,
            "upload_ms": t.upload.ms if t.upload else 0.0,
            "end_ms": t.end_ms,
            "input_bytes": float(t.input_bytes),
            "output_bytes": float(t.output_bytes),
        }

    # -- derived per run -----------------------------------------------------------------------------
    def makespan_ms(self) -> float | None:
        if self.run is not None:
            return self.run.makespan_ms
        return max((t.end_ms for t in self.tasks.values()), default=None)

    def cost_gb_s(self) -> float | None:
        """GB-seconds: per worker, its memory times from its first task's start (minus the start-up,
        but not the wait for a container at the cap, ``queued_ms``: no memory is held then) to its last
        task's end. The same definition on both sides, so the two are comparable."""
        if not self.tasks:
            return None
        span: dict[str, list[float]] = {}
        mem: dict[str, int] = {}
        for t in self.tasks.values():
            s = span.setdefault(t.worker_id, [math.inf, -math.inf])
            s[0] = min(s[0], t.start_ms)
            s[1] = max(s[1], t.end_ms)
            mem[t.worker_id] = t.memory_mb
        total = 0.0
        for w, (a, b) in span.items():
            rec = self.workers.get(w)
            startup = rec.startup_ms - (extra_number(rec, "queued_ms") or 0.0) if rec is not None else 0.0
            total += mem[w] / 1024 * max(0.0, b - a + startup) / 1000
        return total

    def run_values(self) -> dict[str, float | None]:
        has_workers = bool(self.workers)
        return {
            "makespan_ms": self.makespan_ms(),
            "cost_gb_s": self.cost_gb_s(),
            "invocations": float(len(self.workers)) if has_workers else None,
            "cold_starts": float(sum(w.state == "cold" for w in self.workers.values()))
            if has_workers
            else None,
            "warm_starts": float(sum(w.state == "warm" for w in self.workers.values()))
            if has_workers
            else None,
            "bytes_downloaded": float(sum(d.bytes for t in self.tasks.values() for d in t.downloads)),
            "bytes_uploaded": float(sum(t.upload.bytes for t in self.tasks.values() if t.upload)),
            "tasks": float(len(self.tasks)),
        }


def group_runs(records: Iterable[Record]) -> dict[str, RunData]:
    """Records by run id. A task recorded several times (retries) keeps its last attempt."""
    runs: dict[str, RunData] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for rec in records:
        run = runs.get(rec.run_id)
        if run is None:
            run = runs[rec.run_id] = RunData(rec.run_id)
        if isinstance(rec, TaskRecord):
            counts[rec.run_id][rec.task_id] += 1
            cur = run.tasks.get(rec.task_id)
            key = (rec.extra.get("attempt", 0) or 0, rec.end_ms)
            if cur is None or key >= (cur.extra.get("attempt", 0) or 0, cur.end_ms):
                run.tasks[rec.task_id] = rec
        elif isinstance(rec, WorkerRecord):
            cur = run.workers.get(rec.worker_id)
            if cur is None or (rec.extra.get("attempt", 0) or 0) >= (cur.extra.get("attempt", 0) or 0):
                run.workers[rec.worker_id] = rec
        elif isinstance(rec, RunRecord):
            run.run = rec
    for run_id, per_task in counts.items():
        runs[run_id].duplicates = {t: n for t, n in per_task.items() if n > 1}
    return runs


@dataclass(slots=True)
class TaskRow:
    """One task on both sides (either side may be missing)."""

    task_id: str
    function: str
    planned: dict[str, float] | None
    real: dict[str, float] | None
    planned_worker: str | None = None
    real_worker: str | None = None
    planned_startup: str | None = None
    real_startup: str | None = None
    memory_mb: int | None = None

    def error(self, metric: str) -> float | None:
        if self.planned is None or self.real is None:
            return None
        return pct_error(self.planned.get(metric), self.real.get(metric))

    def flat(self) -> dict[str, Any]:
        """A flat dict (a table row): planned, real and error per metric."""
        row: dict[str, Any] = {
            "task_id": self.task_id,
            "function": self.function,
            "memory_mb": self.memory_mb,
            "planned_worker": self.planned_worker,
            "real_worker": self.real_worker,
            "planned_startup": self.planned_startup,
            "real_startup": self.real_startup,
        }
        for m in TASK_METRICS:
            row[f"planned_{m}"] = None if self.planned is None else self.planned.get(m)
            row[f"real_{m}"] = None if self.real is None else self.real.get(m)
            row[f"err_{m}_pct"] = self.error(m)
        return row


@dataclass(slots=True)
class Comparison:
    """Plan versus real for one pair of runs; ``problems`` says what could not be compared."""

    planned_run: str | None
    real_run: str | None
    workflow_type: str | None
    planner: str | None
    tasks: list[TaskRow] = field(default_factory=list)
    overall: dict[str, dict[str, float | None]] = field(default_factory=dict)
    missing_in_real: list[str] = field(default_factory=list)  # planned tasks the real run has no record of
    missing_in_plan: list[str] = field(default_factory=list)  # real tasks the plan has no record of
    problems: list[str] = field(default_factory=list)  # why (parts of) the comparison are missing
    notes: list[str] = field(default_factory=list)  # harmless remarks (retries kept, ...)
    planned_critical_path: list[str] = field(default_factory=list)
    real_critical_path: list[str] = field(default_factory=list)
    planned_data: RunData | None = field(default=None, repr=False)  # the indexed records, for charts
    real_data: RunData | None = field(default=None, repr=False)

    @property
    def comparable(self) -> bool:
        """True when at least one task was joined on both sides."""
        return any(r.planned is not None and r.real is not None for r in self.tasks)

    @property
    def complete(self) -> bool:
        return self.comparable and not self.problems and not self.missing_in_plan and not self.missing_in_real

    def joined(self) -> list[TaskRow]:
        return [r for r in self.tasks if r.planned is not None and r.real is not None]

    def offsets(self) -> dict[str, dict[str, float | None]]:
        """Per task metric: the general percentage offset (median |error|), the mean signed error (bias)
        and how many tasks had a defined error."""
        out: dict[str, dict[str, float | None]] = {}
        for m in TASK_METRICS:
            errs = [e for r in self.joined() if (e := r.error(m)) is not None]
            if errs:
                srt = sorted(abs(e) for e in errs)
                mid = len(srt) // 2
                median = srt[mid] if len(srt) % 2 else (srt[mid - 1] + srt[mid]) / 2
                out[m] = {"median_abs_pct": median, "mean_pct": sum(errs) / len(errs), "n": float(len(errs))}
            else:
                out[m] = {"median_abs_pct": None, "mean_pct": None, "n": 0.0}
        return out

    def startup_agreement(self) -> dict[str, float]:
        """How many joined tasks have the same start-up state (cold / warm / running) on both sides."""
        rows = self.joined()
        same = sum(r.planned_startup == r.real_startup for r in rows)
        return {"same": float(same), "total": float(len(rows))}

    def worker_agreement(self) -> dict[str, float]:
        """How many joined tasks ran beside the tasks the plan put beside them: the joined tasks on its
        real worker are those on its planned worker. Not the worker's name: a flexible worker's is a
        counter of each run (flex-1, flex-2, ... in the order they start), and comparing names reported
        wukong's tree_reduction:leaves=8 as '1/7 agree', the one match a coincidence of numbering."""
        rows = self.joined()
        planned: dict[str | None, set[str]] = defaultdict(set)
        real: dict[str | None, set[str]] = defaultdict(set)
        for r in rows:
            planned[r.planned_worker].add(r.task_id)
            real[r.real_worker].add(r.task_id)
        same = sum(planned[r.planned_worker] == real[r.real_worker] for r in rows)
        return {"same": float(same), "total": float(len(rows))}

    def worker_pairs(self) -> dict[str, str]:
        """Each real worker's planned counterpart, by the tasks they ran, not by name (see
        :meth:`worker_agreement`): the pairs sharing the most joined tasks first, each worker in at most
        one pair. A real worker that shares no task with an unpaired planned worker has none."""
        shared: dict[tuple[str, str], int] = defaultdict(int)
        for r in self.joined():
            if r.real_worker is not None and r.planned_worker is not None:
                shared[r.real_worker, r.planned_worker] += 1
        pairs: dict[str, str] = {}
        taken: set[str] = set()
        for (real, planned), _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0])):
            if real not in pairs and planned not in taken:
                pairs[real] = planned
                taken.add(planned)
        return pairs

    def task_table(self) -> list[dict[str, Any]]:
        return [r.flat() for r in self.tasks]

    def summary(self) -> dict[str, Any]:
        return {
            "planned_run": self.planned_run,
            "real_run": self.real_run,
            "workflow_type": self.workflow_type,
            "planner": self.planner,
            "comparable": self.comparable,
            "complete": self.complete,
            "tasks_joined": len(self.joined()),
            "missing_in_real": list(self.missing_in_real),
            "missing_in_plan": list(self.missing_in_plan),
            "problems": list(self.problems),
            "notes": list(self.notes),
            "overall": self.overall,
            "offsets": self.offsets(),
            "startup_agreement": self.startup_agreement(),
            "worker_agreement": self.worker_agreement(),
        }


def _pick(runs: dict[str, RunData], wanted: str | None, side: str, problems: list[str]) -> RunData | None:
    if wanted is not None:
        if wanted not in runs:
            known = ", ".join(sorted(runs)) or "none"
            problems.append(f"{side} run {wanted!r} is not in the {side} records (runs there: {known})")
            return None
        return runs[wanted]
    if not runs:
        what = "a run without a plan" if side == "planned" else "a plan without a run"
        problems.append(f"no {side} records ({what})")
        return None
    if len(runs) > 1:
        problems.append(
            f"the {side} records hold {len(runs)} runs ({', '.join(sorted(runs))}): say which one to use"
        )
        return None
    return next(iter(runs.values()))


def compare_runs(
    planned: Sequence[Record],
    real: Sequence[Record],
    planned_run: str | None = None,
    real_run: str | None = None,
    edges: Iterable[tuple[str, str]] | None = None,
) -> Comparison:
    """Compare a planned (simulated) run with a real run, task by task and overall.

    ``planned_run`` / ``real_run`` select a run when a list holds several. ``edges`` (producer, consumer)
    of the workflow, when given, let the real critical path be computed the same way as the planned one
    (walk back from the last sink through the parent that finished last).
    """
    problems: list[str] = []
    p = _pick(group_runs(planned), planned_run, "planned", problems)
    r = _pick(group_runs(real), real_run, "real", problems)
    cmp = Comparison(
        p.run_id if p else None,
        r.run_id if r else None,
        None,
        None,
        problems=problems,
        planned_data=p,
        real_data=r,
    )
    for side, data in (("planned", p), ("real", r)):
        if data is None:
            continue
        if len(data.workflow_types) > 1:
            problems.append(f"{side} run {data.run_id!r} mixes workflow types {sorted(data.workflow_types)}")
        if not data.tasks:
            problems.append(
                f"{side} run {data.run_id!r} has no task records"
                + (" (only a run record)" if data.run is not None else "")
            )
        if data.run is None:
            cmp.notes.append(
                f"{side} run {data.run_id!r} has no run record: makespan taken as the last task end"
            )
        if data.tasks and not data.workers:
            problems.append(
                f"{side} run {data.run_id!r} has no worker records: start-up states and "
                f"invocations are unknown"
            )
        for task_id, n in sorted(data.duplicates.items()):
            cmp.notes.append(
                f"{side} task {task_id!r} was recorded {n} times (retried): the last attempt is kept"
            )
    if p is not None and r is not None:
        pt, rt = p.workflow_types, r.workflow_types
        if pt and rt and pt.isdisjoint(rt):
            problems.append(
                f"different workflow types: planned {sorted(pt)} vs real {sorted(rt)}; "
                f"tasks are not joined (their ids would name different tasks)"
            )
            cmp.workflow_type = None
            _overall(cmp, p, r)
            return cmp
        cmp.workflow_type = p.workflow_type or r.workflow_type
        if p.planner and r.planner and p.planner != r.planner:
            problems.append(f"different planners: planned {p.planner!r} vs real {r.planner!r}")
        cmp.planner = r.planner or p.planner
    elif p is not None or r is not None:
        only = p or r
        cmp.workflow_type, cmp.planner = only.workflow_type, only.planner

    p_tasks = p.tasks if p else {}
    r_tasks = r.tasks if r else {}
    p_first = p.first_tasks() if p else {}
    r_first = r.first_tasks() if r else {}
    if p is not None and r is not None:
        cmp.missing_in_real = sorted(set(p_tasks) - set(r_tasks))
        cmp.missing_in_plan = sorted(set(r_tasks) - set(p_tasks))
        if cmp.missing_in_real:
            problems.append(
                f"{len(cmp.missing_in_real)} planned task(s) have no real record (e.g. "
                f"{cmp.missing_in_real[0]!r}): the real run is partial or failed"
            )
        if cmp.missing_in_plan:
            problems.append(
                f"{len(cmp.missing_in_plan)} real task(s) are not in the plan (e.g. "
                f"{cmp.missing_in_plan[0]!r})"
            )
    ids = sorted(set(p_tasks) | set(r_tasks), key=lambda t: ((p_tasks.get(t) or r_tasks[t]).start_ms, t))
    for t in ids:
        pr, rr = p_tasks.get(t), r_tasks.get(t)
        any_rec = rr or pr
        cmp.tasks.append(
            TaskRow(
                task_id=t,
                function=any_rec.function,
                planned=p.task_values(t) if pr else None,
                real=r.task_values(t) if rr else None,
                planned_worker=pr.worker_id if pr else None,
                real_worker=rr.worker_id if rr else None,
                planned_startup=p.startup_state(t, p_first) if pr else None,
                real_startup=r.startup_state(t, r_first) if rr else None,
                memory_mb=any_rec.memory_mb,
            )
        )
    _overall(cmp, p, r)
    if edges is not None:
        edge_list = list(edges)
        if p is not None:
            cmp.planned_critical_path = critical_path({t: (x.end_ms) for t, x in p_tasks.items()}, edge_list)
        if r is not None:
            cmp.real_critical_path = critical_path({t: (x.end_ms) for t, x in r_tasks.items()}, edge_list)
    return cmp


def _overall(cmp: Comparison, p: RunData | None, r: RunData | None) -> None:
    pv = p.run_values() if p else {}
    rv = r.run_values() if r else {}
    for m in RUN_METRICS:
        a, b = pv.get(m), rv.get(m)
        cmp.overall[m] = {"planned": a, "real": b, "error_pct": pct_error(a, b)}


def critical_path(end_ms: dict[str, float], edges: Sequence[tuple[str, str]]) -> list[str]:
    """The path that decided the makespan: from the task that ended last among the sinks, walk back
    through the parent that ended last. Tasks without an end time are ignored."""
    parents: dict[str, list[str]] = defaultdict(list)
    has_child: set[str] = set()
    for u, v in edges:
        parents[v].append(u)
        has_child.add(u)
    sinks = [t for t in end_ms if t not in has_child]
    if not sinks:
        return []
    node = max(sinks, key=lambda t: (end_ms[t], t))
    path = [node]
    seen = {node}
    while True:
        ps = [q for q in parents.get(node, []) if q in end_ms and q not in seen]
        if not ps:
            break
        node = max(ps, key=lambda q: (end_ms[q], q))
        path.append(node)
        seen.add(node)
    return path[::-1]


def error_progression(comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
    """One row per comparison (run by run, e.g. with calibration between runs): the overall makespan
    error and each task metric's general offset. Incomparable runs give a row of None with the reason."""
    rows = []
    for i, c in enumerate(comparisons, 1):
        row: dict[str, Any] = {"run": i, "real_run": c.real_run, "comparable": c.comparable}
        mk = c.overall.get("makespan_ms", {})
        row["makespan_err_pct"] = mk.get("error_pct")
        for m, o in c.offsets().items():
            row[f"{m}_offset_pct"] = o["median_abs_pct"]
        if not c.comparable:
            row["why"] = "; ".join(c.problems) or "nothing to compare"
        rows.append(row)
    return rows
