"""Plans and what a simulation of a plan predicts.

A :class:`Plan` is what a planner decides: for every task a :class:`ResourceConfig` (memory, and a worker
id or ``None`` for a flexible task) plus the optimizations switched on. The simulator and the real runtime
both take a plan and run the same worker logic on it.

A :class:`PlanOutput` is the simulator's account of a plan: one :class:`PlanningTaskInfo` per task, the
critical path, makespan and cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sim.models.performance import SLA
from sim.models.resources import ResourceConfig
from sim.workflow.dag import Workflow, WorkflowError


@dataclass(slots=True)
class Plan:
    """Placement and sizing of every task, as decided by a planner."""

    workflow: Workflow
    configs: dict[str, ResourceConfig]
    planner: str = "manual"
    sla: SLA = field(default_factory=SLA)
    optimizations: frozenset[str] = frozenset()
    # Per-optimization planner output (e.g. pre-warm triggers); opaque to the worker loop's core.
    annotations: dict[str, Any] = field(default_factory=dict)

    def config(self, task_id: str) -> ResourceConfig:
        return self.configs[task_id]

    def worker_of(self, task_id: str) -> str | None:
        return self.configs[task_id].worker_id

    def workers(self) -> dict[str, list[str]]:
        """Planned worker id -> its tasks in topological order (flexible tasks are not listed)."""
        out: dict[str, list[str]] = defaultdict(list)
        for t in self.workflow.topological_order():
            w = self.configs[t].worker_id
            if w is not None:
                out[w].append(t)
        return dict(out)

    def validate(self) -> Plan:
        """Every task has a config; tasks sharing a worker id share its memory size."""
        missing = [t for t in self.workflow.graph if t not in self.configs]
        if missing:
            raise WorkflowError(f"plan has no resource configuration for task {missing[0]!r}")
        memory: dict[str, tuple[int, str]] = {}
        for t, cfg in self.configs.items():
            if cfg.worker_id is None:
                continue
            seen = memory.setdefault(cfg.worker_id, (cfg.memory_mb, t))
            if seen[0] != cfg.memory_mb:
                raise WorkflowError(
                    f"worker {cfg.worker_id!r} has tasks with different memory sizes: "
                    f"{seen[1]!r} {seen[0]} MB and {t!r} {cfg.memory_mb} MB"
                )
        return self

    def describe(self) -> dict[str, Any]:
        """Compact summary: workers per memory size, flexible tasks, optimizations."""
        workers = self.workers()
        by_memory: dict[int, int] = defaultdict(int)
        for tasks in workers.values():
            by_memory[self.configs[tasks[0]].memory_mb] += 1
        flex_by_memory: dict[int, int] = defaultdict(int)
        for c in self.configs.values():
            if c.worker_id is None:
                flex_by_memory[c.memory_mb] += 1
        return {
            "planner": self.planner,
            "sla": str(self.sla),
            "planned_workers": len(workers),
            "workers_by_memory": dict(sorted(by_memory.items())),
            "flexible_tasks": sum(flex_by_memory.values()),
            "flexible_tasks_by_memory": dict(sorted(flex_by_memory.items())),
            "optimizations": sorted(self.optimizations),
        }


@dataclass(slots=True)
class PlanningTaskInfo:
    """One task as the simulator predicts it. Times are ms from the run's submission."""

    task_id: str
    function: str
    worker_id: str
    memory_mb: int
    input_bytes: int = 0
    output_bytes: int = 0
    downloadable_input_bytes: int = 0
    uploadable_output_bytes: int = 0
    worker_startup_state: str | None = None  # "cold" | "warm" | None (already running)
    worker_startup_ms: float = 0.0
    download_ms: float = 0.0
    exec_ms: float = 0.0
    upload_ms: float = 0.0
    earliest_start_ms: float = 0.0
    completion_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Deferred:
    """Values computed on first use: ``Deferred(tasks=make_tasks, ...)``, then ``get("tasks")``.

    A simulation's per-task and per-worker details cost as much to assemble as a good part of the run
    itself, and a planner comparing candidate plans mostly reads the makespan and cost: the simulator
    hands these details over unbuilt. Pickling builds them all (the makers may hold the simulation).
    """

    __slots__ = ("_makers", "_values")

    def __init__(self, **makers: Callable[[], Any]) -> None:
        self._makers = makers
        self._values: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            value = self._values[name] = self._makers.pop(name)()
            return value

    def __getstate__(self) -> dict[str, Any]:
        return {name: self.get(name) for name in list(self._makers) + list(self._values)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._makers = {}
        self._values = dict(state)


@dataclass(slots=True)
class PlanOutput:
    """The simulator's account of one plan (one replication).

    ``workflow_type``, ``critical_path``, ``tasks`` and ``workers`` are computed on first use (from
    ``details``, see :class:`Deferred`)."""

    planner: str
    workflow: str
    sla: str
    platform: str
    makespan_ms: float
    cost_gb_s: float
    alloc_gb_s: float
    invocations: int
    cold_starts: int
    warm_starts: int
    bytes_uploaded: int
    bytes_downloaded: int
    store_ops: int
    details: Deferred = field(repr=False)

    @property
    def workflow_type(self) -> str:
        return self.details.get("workflow_type")

    @property
    def critical_path(self) -> list[str]:
        return self.details.get("critical_path")

    @property
    def tasks(self) -> dict[str, PlanningTaskInfo]:
        return self.details.get("tasks")

    @property
    def workers(self) -> dict[str, dict[str, Any]]:
        return self.details.get("workers")

    def summary(self) -> dict[str, Any]:
        return {
            "planner": self.planner,
            "workflow": self.workflow,
            "workflow_type": self.workflow_type,
            "sla": self.sla,
            "platform": self.platform,
            "makespan_ms": round(self.makespan_ms, 3),
            "cost_gb_s": round(self.cost_gb_s, 6),
            "alloc_gb_s": round(self.alloc_gb_s, 6),
            "invocations": self.invocations,
            "cold_starts": self.cold_starts,
            "warm_starts": self.warm_starts,
            "workers": len(self.workers),
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_downloaded": self.bytes_downloaded,
            "store_ops": self.store_ops,
            "critical_path_length": len(self.critical_path),
        }
