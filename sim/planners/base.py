"""What every planner shares: configuration, the simulator in the loop, and worker-id grouping.

A planner turns a workflow into a :class:`~sim.models.plan.Plan`. It is driven by a
:class:`~sim.models.predictor.Predictor` (performance models at an SLA) and judges candidate plans by
*simulating* them with the same engine and worker logic that ``plansim simulate`` and the real runtime
use; there is no separate timing formula.
"""

from __future__ import annotations

import math
import numbers
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sim.engine.platform import Platform, load_platform
from sim.engine.simulator import SimResult, Simulation
from sim.models.performance import SLA, PerformanceModels
from sim.models.plan import Plan
from sim.models.predictor import Predictor
from sim.models.resources import ResourceConfig, pinned_config
from sim.workflow.dag import Workflow
from sim.workflow.dynamic import is_dynamic

DEFAULT_MEMORY_SIZES = (2048, 4096, 8192)
MAX_FAN_OUT_SAME_WORKER = 3  # reference: at most 3 fan-out siblings stay on the upstream worker


@dataclass
class PlannerConfig:
    """Inputs every planner takes: memory sizes (in the user's order), SLA, models, platform."""

    memory_sizes: tuple[int, ...] = DEFAULT_MEMORY_SIZES
    sla: SLA = field(default_factory=SLA)
    models: PerformanceModels = field(default_factory=PerformanceModels.default)
    platform: Platform = field(default_factory=lambda: load_platform("default"))
    optimizations: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.memory_sizes:
            raise ValueError("a planner needs at least one memory size")
        self.memory_sizes = tuple(int(m) for m in self.memory_sizes)
        self.sla = SLA.parse(self.sla)


def whole_number_option(name: str, value: Any, minimum: int = 1, optional: bool = True) -> None:
    """A planner option that counts something (workers, tasks, MB, simulations): a whole number >=
    ``minimum``, or None (the planner's default) when ``optional``. From a spec (``heft:max_workers=0``,
    ``sim-search:max_simulations=none``) anything can come; an option whose default is a number has no
    meaning for None, so it is ``optional=False``."""
    if (value is not None or not optional) and (
        not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum
    ):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def number_option(
    name: str,
    value: Any,
    minimum: float = 0.0,
    positive: bool = False,
    maximum: float | None = None,
    optional: bool = True,
) -> None:
    """A planner option that measures something (seconds, a tolerance, a share): a finite number >=
    ``minimum`` (> with ``positive``) and <= ``maximum``, or None when ``optional`` (as
    :func:`whole_number_option`)."""
    if value is None and optional:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if positive else value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
        bound += f" and <= {maximum:g}" if maximum is not None else ""
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


class Planner:
    """Base class. Subclasses implement :meth:`assign` (and may override :meth:`plan`)."""

    name = "base"
    description = ""

    def __init__(self, config: PlannerConfig | None = None) -> None:
        self.config = config or PlannerConfig()
        self.predictor = Predictor(self.config.models, self.config.sla)
        self.simulations = 0  # how many candidate plans were simulated

    def plan(self, wf: Workflow) -> Plan:
        """Assign every task (raised to the tasks' declared minimum memory, :func:`with_memory_floors`),
        then run the planning step of each switched-on optimization."""
        from sim.planners.optimizations import apply_optimizations, check_names

        wf.validate()
        configs = with_memory_floors(wf, self.assign(wf), self.config.memory_sizes)
        opts = check_names(self.config.optimizations)
        plan = Plan(wf, configs, self.name, self.config.sla, opts, annotations=self.annotations()).validate()
        return apply_optimizations(plan, self)

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        raise NotImplementedError

    def annotations(self) -> dict:
        """Planner options the worker logic reads from every plan (``Plan.annotations``)."""
        return {}

    def simulate(self, plan: Plan) -> SimResult:
        """The planner's view of a candidate plan: a deterministic simulation at the SLA."""
        self.simulations += 1
        return Simulation(plan, self.config.platform, predictor=self.predictor).run()

    def makespan(self, wf: Workflow, configs: dict[str, ResourceConfig]) -> float:
        """The simulated makespan of a candidate assignment, as :meth:`plan` would make it (memory floors
        applied), so that a search judges the plans it can return."""
        configs = with_memory_floors(wf, configs, self.config.memory_sizes)
        plan = Plan(wf, configs, self.name, self.config.sla, self.config.optimizations)
        return self.simulate(plan).output.makespan_ms


def memory_floor(memory_mb: int, sizes: Iterable[int]) -> int:
    """The memory size a task declaring ``memory_mb`` gets: the smallest of the planner's ``sizes`` that is
    at least as large, else the declared size itself (a declared minimum is what the function needs to
    run at all, so it wins over the sizes the user let the planner choose from)."""
    return min((m for m in sizes if m >= memory_mb), default=memory_mb)


def with_memory_floors(
    wf: Workflow, configs: dict[str, ResourceConfig], sizes: Iterable[int]
) -> dict[str, ResourceConfig]:
    """``configs`` with every worker at least as large as its tasks' declared minimum memory
    (``@task(memory_mb=...)``, :func:`memory_floor`): a planned worker takes the largest floor of the tasks
    it runs (its tasks share its memory), a flexible task its own, and a flexible task that needs more
    than the plan's smallest worker is planned on a worker of its own (``pin-<task>``), since otherwise it
    would continue on a parent's worker whatever its memory. Returned unchanged (the same dict)
    when nothing is raised, so planners without such tasks pay one pass over the workflow.

    The reference system's wish list had this ("user-specified minimum resources per task", tried and
    reverted there); without it a planner could put a function on less memory than it needs."""
    node = wf.graph._node  # networkx's own dict: this runs for every candidate plan a search simulates
    sizes = tuple(sizes)
    required: dict[str, int] = {}  # per task that declares a minimum: the memory it needs here
    dynamic: set[str] = set()  # of those, dynamic fan-out nodes: flexible whatever their plan says
    for t in configs:
        data = node.get(t)
        declared = data["spec"].hints.memory_mb if data is not None else None
        if declared is not None:
            required[t] = memory_floor(declared, sizes)
            if is_dynamic(data["spec"]):
                dynamic.add(t)
    if not required:
        return configs

    def flexible(t: str, cfg: ResourceConfig) -> bool:
        return cfg.worker_id is None or t in dynamic

    # per planned worker: the largest requirement of its tasks (a dynamic node's counts too, although it
    # runs elsewhere: a plan's worker has one memory size, whatever else a search moves onto it)
    need: dict[str, int] = {}
    for t, m in required.items():
        worker = configs[t].worker_id
        if worker is not None:
            need[worker] = max(need.get(worker, 0), m)
    changed: dict[str, ResourceConfig] = {}
    for t, cfg in configs.items():
        m = need.get(cfg.worker_id, 0) if cfg.worker_id is not None else required.get(t, 0)
        if cfg.memory_mb < m:
            changed[t] = cfg.with_memory(m)
    # A flexible task runs wherever the counters send it, usually on its parent's worker, whose memory is
    # not its own: one that needs more than the plan's smallest worker gets a worker of its own (and so do
    # a dynamic node's copies, made at run time: sim.models.resources.expansion_config).
    smallest = min(changed.get(t, c).memory_mb for t, c in configs.items())
    for t, m in required.items():
        cfg = changed.get(t, configs[t])
        if flexible(t, cfg) and m > smallest:
            changed[t] = pinned_config(cfg.memory_mb, t)
    return {**configs, **changed} if changed else configs


class WorkerIds:
    """Deterministic worker ids ``w1, w2, ...`` (readable, and stable across runs of one plan)."""

    def __init__(self) -> None:
        self.n = 0

    def new(self) -> str:
        self.n += 1
        return f"w{self.n}"


def group_into_workers(wf: Workflow, predictor: Predictor, memory_mb: int) -> dict[str, ResourceConfig]:
    """Group tasks onto worker ids so that data stays local where it pays (reference section 3.5).

    Walking the tasks in topological order:

    - all roots form one fan-out group;
    - a task whose only parent has only this child stays on the parent's worker (a chain);
    - the children of a fan-out are grouped together: the (up to 3) shortest tasks with the largest
      outputs stay on the parent's worker, each long task (predicted execution above the median) gets a
      new worker with up to 2 short ones, the remaining short ones go in threes;
    - a fan-in goes to the worker whose parents send it the most bytes.
    """
    sizes = predictor.sizes(wf)
    g = wf.graph
    exec_ms = {t: predictor.exec_ms(wf, t, memory_mb) for t in g}
    worker: dict[str, str] = {}
    ids = WorkerIds()

    def fan_out_group(upstream_worker: str | None, candidates: list[str]) -> None:
        median = statistics.median(exec_ms[c] for c in candidates)
        long = [c for c in candidates if exec_ms[c] > median]
        short = sorted(
            (c for c in candidates if exec_ms[c] <= median), key=lambda c: (-sizes.output_bytes[c], c)
        )
        if upstream_worker is not None:
            for c in short[:MAX_FAN_OUT_SAME_WORKER]:
                worker[c] = upstream_worker
            short = short[MAX_FAN_OUT_SAME_WORKER:]
        while long and short:
            w = ids.new()
            worker[long.pop(0)] = w
            for c in short[:2]:
                worker[c] = w
            short = short[2:]
        for i in range(0, len(short), 3):
            w = ids.new()
            for c in short[i : i + 3]:
                worker[c] = w
        for c in long:
            worker[c] = ids.new()

    for t in wf.topological_order():
        if t in worker:
            continue
        parents = list(g.predecessors(t))
        if not parents:
            fan_out_group(
                None, [r for r in wf.topological_order() if g.in_degree(r) == 0 and r not in worker]
            )
        elif len(parents) == 1:
            p = parents[0]
            siblings = [c for c in g.successors(p) if c not in worker]
            if g.out_degree(p) == 1:
                worker[t] = worker[p]
            else:
                fan_out_group(worker[p], siblings)
        else:
            by_worker: dict[str, int] = {}
            for p in parents:
                by_worker[worker[p]] = by_worker.get(worker[p], 0) + sizes.edge_bytes[p, t]
            worker[t] = max(sorted(by_worker), key=lambda w: by_worker[w])
    return {t: ResourceConfig(memory_mb, worker[t]) for t in g}
