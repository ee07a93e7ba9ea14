"""Optimizations: names a plan can switch on, and the planning each one needs.

What an optimization *does* at run time lives in the worker logic (:mod:`sim.worker.logic`), so the
simulator and the runtime behave alike. Some optimizations also need the planner to decide something
ahead of time; that is done here, with the simulator in the loop:

- ``prewarm``: simulate the plan, then for every worker that would start cold after the beginning of
  the run, schedule an idle container of its size to start ``cold start-up + margin`` before the
  worker is requested (reference section 4.3 timed this from predictions that ignored start-ups; here
  the request time comes from the simulation itself).
- ``task-dup``: for each task with a remote parent, try letting the task's worker run that parent
  itself; keep the pairs that shorten the simulated makespan (each checked by a simulation, within a
  budget).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sim.models.plan import Plan
from sim.worker import logic

if TYPE_CHECKING:
    from sim.planners.base import Planner

PREWARM_MARGIN_MS = 50.0
TASK_DUP_MAX_TRIALS = 40


@dataclass(frozen=True, slots=True)
class Optimization:
    name: str
    description: str
    applies_to: str  # "planned" | "flexible" | "all"
    plan_step: Callable[[Plan, Planner], Plan] | None = None


def plan_prewarm(plan: Plan, planner: Planner) -> Plan:
    """Annotate ``plan`` with pre-warm triggers ``(delay_ms, memory_mb)`` from a simulation of it."""
    base = replace(plan, optimizations=plan.optimizations - {logic.PREWARM})
    out = planner.simulate(base).output
    triggers = []
    for w in out.workers.values():
        if w["startup_state"] != "cold" or w["start_ms"] <= 0:
            continue
        lead = planner.predictor.startup_ms(w["memory_mb"], "cold") + PREWARM_MARGIN_MS
        delay = w["start_ms"] - lead
        if delay > 0:
            triggers.append((round(delay, 3), w["memory_mb"]))
    return replace(plan, annotations={**plan.annotations, "prewarm": sorted(triggers)})


def dup_candidates(plan: Plan) -> list[tuple[str, str]]:
    """(task, parent) pairs where the task's planned worker could run the parent itself: the parent is
    planned on another worker and all its own inputs surely reach the store (parents planned elsewhere
    than the parent's worker, or none), and the task's worker has the parent's declared minimum memory
    (``@task(memory_mb=...)``: a duplicate runs in the waiting worker's container, whatever its size)."""
    wf = plan.workflow
    pairs = []
    for t in wf.topological_order():
        w = plan.worker_of(t)
        if w is None:
            continue
        for p in wf.graph.predecessors(t):
            wp = plan.worker_of(p)
            if wp is None or wp == w:
                continue
            needs = wf.task(p).hints.memory_mb
            if needs is not None and plan.configs[t].memory_mb < needs:
                continue
            grand = list(wf.graph.predecessors(p))
            if all(plan.worker_of(q) is not None and plan.worker_of(q) != wp for q in grand):
                pairs.append((t, p))
    return pairs


def plan_task_dup(plan: Plan, planner: Planner) -> Plan:
    """Keep the duplication pairs that shorten the simulated makespan (greedy, budgeted)."""
    current = replace(plan, annotations={**plan.annotations, "task_dup": ()})
    best = planner.simulate(current).output.makespan_ms
    kept: list[tuple[str, str]] = []
    for pair in dup_candidates(plan)[:TASK_DUP_MAX_TRIALS]:
        trial = replace(current, annotations={**current.annotations, "task_dup": tuple(kept + [pair])})
        makespan = planner.simulate(trial).output.makespan_ms
        if makespan < best - 1e-6:
            best, kept = makespan, kept + [pair]
    return replace(current, annotations={**current.annotations, "task_dup": tuple(kept)})


OPTIMIZATIONS: dict[str, Optimization] = {
    o.name: o
    for o in (
        Optimization(
            logic.PRELOAD, "planned workers fetch remote inputs as soon as each is stored", "planned"
        ),
        Optimization(
            logic.PREWARM, "idle containers started ahead of planned cold starts", "all", plan_prewarm
        ),
        Optimization(logic.ASYNC_UPLOAD, "continue with local children while the output uploads", "all"),
        Optimization(
            logic.CLUSTERING, "WUKONG fan-out/fan-in clustering and delayed I/O of large outputs", "flexible"
        ),
        Optimization(
            logic.TASK_DUP, "a waiting worker re-runs a slow remote parent itself", "planned", plan_task_dup
        ),
        Optimization(logic.STREAMING, "running consumers read an output while it is written", "planned"),
        Optimization(logic.CLEANUP, "the last sink's worker removes the run's intermediate keys", "all"),
        Optimization(logic.CARRY_INPUTS, "small parent outputs travel inside the invocation", "all"),
        Optimization(
            logic.INLINE_PLAN,
            "a worker's plan fragment travels inside its invocation when small "
            f"(at most {logic.INLINE_PLAN_MAX_TASKS} tasks): no plan fetch at start",
            "all",
        ),
    )
}


def check_names(names: frozenset[str] | set[str]) -> frozenset[str]:
    unknown = sorted(set(names) - set(OPTIMIZATIONS))
    if unknown:
        raise ValueError(f"unknown optimization {unknown[0]!r} (known: {', '.join(OPTIMIZATIONS)})")
    return frozenset(names)


def apply_optimizations(plan: Plan, planner: Planner) -> Plan:
    """Run the planning step of every optimization the plan switches on, in registry order (so
    pre-warm sees the plan with task-dup decided, as the runtime will execute it)."""
    order = [logic.TASK_DUP, logic.PREWARM]
    for name in order:
        opt = OPTIMIZATIONS[name]
        if name in plan.optimizations and opt.plan_step is not None:
            plan = opt.plan_step(plan, planner)
    return plan
