"""What-if: plan a workflow with a planner and simulate the plan, optionally with Monte-Carlo replications.

This is the main job of plansim, shared by ``plansim simulate``, ``plansim compare``, sweeps and the
dashboard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.engine.platform import Platform, load_platform
from sim.engine.simulator import SimResult, Simulation
from sim.models.performance import BASELINE_MEMORY_MB, DEFAULT_MEMORY_EXPONENT, SLA, PerformanceModels
from sim.models.plan import Plan
from sim.planners import PlannerConfig, get_planner, make_plan
from sim.workflow.dag import Workflow

PERCENTILES = (5, 50, 95)


@dataclass(slots=True)
class WhatIf:
    """One planner on one workflow: the plan, its deterministic simulation, and replications."""

    plan: Plan
    result: SimResult
    planning_ms: float
    simulation_ms: float
    replications: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = self.result.output.summary()
        out["plan"] = self.plan.describe()
        out["planning_ms"] = round(self.planning_ms, 3)
        out["simulation_ms"] = round(self.simulation_ms, 3)
        if self.replications:
            out["replications"] = {
                "n": len(self.replications),
                **{
                    f"{metric}_p{q}": float(np.percentile([r[metric] for r in self.replications], q))
                    for metric in ("makespan_ms", "cost_gb_s")
                    for q in PERCENTILES
                },
            }
        return out

    def to_json(self) -> dict[str, Any]:
        out = self.summary()
        out["critical_path"] = self.result.output.critical_path
        out["tasks"] = [
            {
                "id": t.task_id,
                "function": t.function,
                "worker": t.worker_id,
                "memory_mb": t.memory_mb,
                "start_ms": round(t.earliest_start_ms, 3),
                "end_ms": round(t.completion_ms, 3),
                "download_ms": round(t.download_ms, 3),
                "exec_ms": round(t.exec_ms, 3),
                "upload_ms": round(t.upload_ms, 3),
                "input_bytes": t.input_bytes,
                "output_bytes": t.output_bytes,
                "startup": t.worker_startup_state,
            }
            for t in sorted(self.result.output.tasks.values(), key=lambda i: (i.earliest_start_ms, i.task_id))
        ]
        return out


def what_if(
    wf: Workflow,
    planner: str,
    memory_sizes: tuple[int, ...] | list[int] | None = None,
    sla: str | SLA | None = None,
    platform: str | Platform | None = None,
    models: PerformanceModels | None = None,
    seed: int = 0,
    replications: int = 0,
    optimizations: frozenset[str] = frozenset(),
) -> WhatIf:
    """Plan ``wf`` with ``planner`` and simulate it; replications re-run the same plan with durations
    sampled from the models' residuals (seeds ``seed+1 ..``)."""
    if replications < 0:
        raise ValueError(f"replications must be >= 0, got {replications}")
    plat = load_platform(platform)
    config = PlannerConfig(
        memory_sizes=tuple(memory_sizes) if memory_sizes else PlannerConfig().memory_sizes,
        sla=SLA.parse(sla),
        models=models or PerformanceModels.default(),
        platform=plat,
        optimizations=frozenset(optimizations),
    )
    p = get_planner(planner, config)
    t0 = time.perf_counter()
    plan = make_plan(p, wf)
    t1 = time.perf_counter()
    result = Simulation(plan, plat, predictor=p.predictor, seed=seed).run()
    t2 = time.perf_counter()
    reps = []
    for i in range(replications):
        r = Simulation(plan, plat, config.models, seed=seed + 1 + i, sample=True).run().output
        reps.append({"makespan_ms": r.makespan_ms, "cost_gb_s": r.cost_gb_s})
    return WhatIf(plan, result, (t1 - t0) * 1e3, (t2 - t1) * 1e3, reps)


def _named(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _is_trace(wf: Workflow) -> bool:
    """Whether ``wf`` came from a recorded execution (a WfFormat trace with its execution section)."""
    return wf.recorded_makespan_ms is not None or "executedAt" in wf.meta


def models_line(
    wf: Workflow,
    models_path: str | None,
    models: PerformanceModels | None,
    exec_from_recorded: bool = False,
    platform: str = "",
) -> str:
    """The line saying what decides the execution times (``plansim simulate``/``compare``, the
    dashboard's what-if): the models file's functions, the tasks' recorded runtimes
    (a WfFormat trace's), the built-in defaults. PerformanceModels.exec_ms takes a fitted model first,
    then the recorded runtime scaled by memory, then the defaults; a platform with exec_from_recorded
    (``ideal``) takes the recorded runtime before all of them. A file fitted on other functions
    (calibrated on one WfInstances application, simulating another) otherwise changes nothing without
    a word, and "built-in defaults" over a trace hid that its recorded runtimes set every time."""
    recorded = sum(spec.runtime_ms is not None for spec in wf.tasks.values())
    # a trace's runtimes were measured; a known type's are what its annotations expect (gemm's MACs)
    runtimes = "recorded runtimes" if _is_trace(wf) else "expected runtimes"
    if exec_from_recorded and recorded:
        how = f"unscaled: platform {platform}"
    else:
        how = f"scaled by (memory / {BASELINE_MEMORY_MB} MB)^-{DEFAULT_MEMORY_EXPONENT}"
    if models is None:
        if not recorded:
            return "models: built-in defaults"
        line = f"models: built-in defaults; execution: {runtimes} of {recorded} of {len(wf)} tasks ({how})"
        if recorded < len(wf):
            line += f", built-in defaults for the other {len(wf) - recorded}"
        return line
    by_function: dict[str, set[bool]] = {}
    for spec in wf.tasks.values():
        by_function.setdefault(spec.function, set()).add(spec.runtime_ms is not None)
    without = sorted(f for f in by_function if f not in models.exec)
    line = (
        f"models: {models_path}: calibrated {len(by_function) - len(without)} of {len(by_function)} functions"
    )
    if exec_from_recorded and recorded:
        return line + f"; execution: {runtimes} of {recorded} of {len(wf)} tasks ({how})"
    groups = [
        (runtimes, [f for f in without if by_function[f] == {True}]),
        (f"{runtimes} or built-in defaults", [f for f in without if len(by_function[f]) == 2]),
        ("built-in defaults", [f for f in without if by_function[f] == {False}]),
    ]
    said = [f"{what} for {_named(names)}" for what, names in groups if names]
    return line + (f" ({'; '.join(said)})" if said else "")
