"""The reference system's three planners (checklist rows 26-30 of ``reference/octoflows.md`` 10.2), on
hand-checkable DAGs: the worker-grouping heuristic, plan validation, and what each planner decides."""

from __future__ import annotations

import dataclasses

import pytest

from sim.models.plan import Plan
from sim.models.predictor import Predictor
from sim.models.resources import ResourceConfig
from sim.planners import PlannerConfig, get_planner
from sim.planners.base import group_into_workers
from sim.workflow.dag import TaskSpec, Workflow, WorkflowError
from tests.planners.helpers import SIMPLE, simple_models

SIZES = (1024, 2048, 4096)


def dag(tasks: dict[str, tuple[float, int]], edges: list[tuple[str, str]]) -> Workflow:
    """Tasks as ``id: (runtime ms, output bytes)``; each edge carries its producer's output."""
    wf = Workflow("hand")
    for t, (runtime_ms, out) in tasks.items():
        wf.add_task(TaskSpec(id=t, function=t, runtime_ms=runtime_ms, output_bytes=out))
    for u, v in edges:
        wf.add_edge(u, v, tasks[u][1])
    return wf.validate()


def groups(wf: Workflow) -> dict[str, str]:
    configs = group_into_workers(wf, Predictor(simple_models(), "p50"), 2048)
    return {t: c.worker_id for t, c in configs.items()}


def test_grouping_keeps_three_short_children_upstream_pairs_longs_with_shorts_and_fans_in_by_bytes():
    # r fans out to 2 long and 10 short children (median 10 ms: the shorts are <= it). Short s_i outputs
    # (i + 1) KB, so the three largest (s9, s8, s7) stay on r's worker; L0 and L1 each take the next two
    # shorts; the last three shorts share a worker. c continues s0's chain; f is a fan-in whose parent s9
    # (w1) sends 10 KB against L0's (w2) 1 KB, so it joins w1.
    tasks = {"r": (10, 100), "L0": (1000, 1000), "L1": (800, 1000), "c": (10, 100), "f": (10, 100)}
    tasks.update({f"s{i}": (10, 1000 * (i + 1)) for i in range(10)})
    edges = [("r", x) for x in ("L0", "L1", *[f"s{i}" for i in range(10)])]
    edges += [("s0", "c"), ("s9", "f"), ("L0", "f")]
    w = groups(dag(tasks, edges))
    assert w["r"] == "w1"
    assert {t for t in w if w[t] == "w1"} == {"r", "s9", "s8", "s7", "f"}
    assert {t for t in w if w[t] == "w2"} == {"L0", "s6", "s5"}
    assert {t for t in w if w[t] == "w3"} == {"L1", "s4", "s3"}
    assert {t for t in w if w[t] == "w4"} == {"s2", "s1", "s0", "c"}
    assert len(set(w.values())) == 4


def test_grouping_gives_each_long_child_its_own_worker_when_shorts_run_out():
    # Median of (1000, 900, 800, 10, 10, 10) is 405 ms: three longs, three shorts. The shorts all stay on
    # q's worker (at most three do); none is left to pair with a long, so each long runs alone.
    tasks = {"q": (10, 100), "x0": (10, 500), "x1": (10, 600), "x2": (10, 700)}
    tasks.update({f"L{i}": (1000 - 100 * i, 100) for i in range(3)})
    w = groups(dag(tasks, [("q", x) for x in ("L0", "L1", "L2", "x0", "x1", "x2")]))
    assert w["q"] == w["x0"] == w["x1"] == w["x2"] == "w1"
    assert [w[f"L{i}"] for i in range(3)] == ["w2", "w3", "w4"]


def config(sizes: tuple[int, ...] = SIZES) -> PlannerConfig:
    # Execution from the models (recorded runtime at 1024 MB, scaled by memory**-0.3), so memory matters.
    platform = dataclasses.replace(SIMPLE, exec_from_recorded=False)
    return PlannerConfig(memory_sizes=sizes, sla="p50", models=simple_models(), platform=platform)


def three_branches() -> Workflow:
    """a fans out to L0 (1000 ms, critical), L1 (500 ms) and L2 (900 ms), alone on workers w2, w3, w4, and
    five 10 ms tasks; all meet in d. At 4096 MB, L0 takes 659 ms, L2 594 ms; L1 takes 500 ms even at
    1024 MB, L2 731 ms at 2048 MB (it would then end after L0)."""
    tasks = {"a": (10, 1000), "L0": (1000, 1000), "L1": (500, 1000), "L2": (900, 1000), "d": (10, 1000)}
    tasks.update({f"s{i}": (10, 1000) for i in range(5)})
    middle = ("L0", "L1", "L2", *[f"s{i}" for i in range(5)])
    return dag(tasks, [("a", x) for x in middle] + [(x, "d") for x in middle])


def test_non_uniform_downgrades_workers_off_the_critical_path_while_the_makespan_holds():
    wf = three_branches()
    planner = get_planner("non-uniform", config())
    plan = planner.plan(wf)
    memory = {plan.worker_of(t): plan.configs[t].memory_mb for t in ("a", "L0", "L1", "L2")}
    # w1 and w2 carry the critical path a -> L0 -> d: largest. w3 (L1) goes two sizes down; w4 (L2)
    # would overtake L0 at 2048 MB, so it stays.
    assert memory == {"w1": 4096, "w2": 4096, "w3": 1024, "w4": 4096}
    largest = {t: c.with_memory(4096) for t, c in plan.configs.items()}
    assert planner.simulate(plan).output.makespan_ms == pytest.approx(planner.makespan(wf, largest))
    assert planner.simulate(plan).output.critical_path == ["a", "L0", "d"]


def test_non_uniform_with_one_size_is_uniform():
    wf = three_branches()
    one = get_planner("non-uniform", config((2048,))).plan(wf)
    assert one.configs == get_planner("uniform", config((2048,))).plan(wf).configs


def test_uniform_groups_every_task_at_the_first_size():
    plan = get_planner("uniform", config((2048, 4096))).plan(three_branches())
    assert {c.memory_mb for c in plan.configs.values()} == {2048}
    assert all(c.worker_id is not None for c in plan.configs.values())
    assert len(plan.workers()) == 4


def test_wukong_makes_every_task_flexible_at_the_first_size():
    plan = get_planner("wukong", config((2048, 4096))).plan(three_branches())
    assert set(plan.configs.values()) == {ResourceConfig(2048, None)}
    assert plan.workers() == {}


def test_a_plan_giving_one_worker_two_memory_sizes_is_refused():
    wf = three_branches()
    configs = {t: ResourceConfig(2048, "w1") for t in wf.graph}
    Plan(wf, configs).validate()  # one worker, one size: fine
    configs["d"] = ResourceConfig(4096, "w1")
    with pytest.raises(WorkflowError, match="worker 'w1' has tasks with different memory sizes"):
        Plan(wf, configs).validate()
    del configs["d"]
    with pytest.raises(WorkflowError, match="no resource configuration for task 'd'"):
        Plan(wf, configs).validate()
