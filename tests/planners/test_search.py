"""sim-search: never worse than where it starts, improves where there is slack, deterministic."""

from __future__ import annotations

import pytest

from sim.planners import PlannerConfig, get_planner
from sim.planners.search import SimSearchPlanner
from tests.planners.helpers import random_dag, workflow

BUDGET = {"max_simulations": 40, "max_seconds": None}


def slack_case():
    """A fan-out whose uniform plan shares one small worker's CPU among three long siblings."""
    return workflow(
        [("r", f"x{i}") for i in range(6)] + [(f"x{i}", "s") for i in range(6)],
        {"r": 50, "s": 50, **{f"x{i}": 1500 for i in range(6)}},
        out=100_000,
    )


def resimulate(planner, plan):
    return planner.simulate(plan).output


@pytest.mark.parametrize("objective", ["makespan", "cost", "cost-under-sla"])
def test_never_worse_than_its_start_and_than_every_other_planner(objective):
    wf = random_dag(11, n=16)
    p = SimSearchPlanner(PlannerConfig(), objective=objective, **BUDGET)
    plan = p.plan(wf)
    out = resimulate(p, plan)
    assert p.start is not None
    if objective == "makespan":
        assert out.makespan_ms <= p.start.makespan_ms * (1 + 1e-9)
        assert out.makespan_ms <= min(c.makespan_ms for c in p.starts.values()) * (1 + 1e-9)
    elif objective == "cost":
        assert out.cost_gb_s <= min(c.cost_gb_s for c in p.starts.values()) * (1 + 1e-9)
    else:
        assert out.makespan_ms <= p.deadline * (1 + 1e-9)
        assert out.cost_gb_s <= p.start.cost_gb_s * (1 + 1e-9)
    assert len(p.starts) == 6  # all the other planners were tried


def test_improves_a_plan_with_slack():
    wf = slack_case()
    p = SimSearchPlanner(PlannerConfig(), start_planners=("uniform",), **BUDGET)
    plan = p.plan(wf)
    out = resimulate(p, plan)
    assert out.makespan_ms < 0.9 * p.start.makespan_ms
    assert p.accepted  # at least one move was kept

    cheap = SimSearchPlanner(PlannerConfig(), objective="cost", start_planners=("non-uniform",), **BUDGET)
    out = resimulate(cheap, cheap.plan(wf))
    assert out.cost_gb_s < 0.9 * cheap.start.cost_gb_s


def test_cost_under_sla_meets_an_explicit_deadline():
    wf = slack_case()
    fast = SimSearchPlanner(PlannerConfig(), **BUDGET)
    fastest = resimulate(fast, fast.plan(wf)).makespan_ms
    deadline = 1.5 * fastest
    p = SimSearchPlanner(PlannerConfig(), objective="cost-under-sla", deadline_ms=deadline, **BUDGET)
    out = resimulate(p, p.plan(wf))
    assert out.makespan_ms <= deadline
    assert out.cost_gb_s <= p.start.cost_gb_s


def test_deterministic_for_a_seed():
    wf = random_dag(12, n=16)
    plans = [SimSearchPlanner(PlannerConfig(), seed=7, **BUDGET).plan(wf) for _ in range(2)]
    assert plans[0].configs == plans[1].configs and plans[0].optimizations == plans[1].optimizations


def test_budget_is_respected_and_objective_checked():
    wf = random_dag(13, n=12)
    p = SimSearchPlanner(PlannerConfig(), max_simulations=5, max_seconds=None)
    p.plan(wf)
    # the last proposal may carry an optimization's own planning simulations (task-dup: up to ~40)
    assert 1 <= p.search_simulations <= 5 + 45
    with pytest.raises(ValueError, match="objective"):
        SimSearchPlanner(PlannerConfig(), objective="fastest")
    zero = get_planner("sim-search:max_simulations=0")
    plan = zero.plan(wf)
    assert plan.configs == zero.start.configs  # no search: the best starting plan


def test_a_simulation_that_does_not_finish_is_discarded(monkeypatch):
    import time

    wf = random_dag(14, n=10)
    p = SimSearchPlanner(
        PlannerConfig(),
        max_simulations=6,
        max_seconds=None,
        simulation_timeout_s=0.2,
        start_planners=("uniform", "wukong"),
    )
    real = p.simulate
    calls = {"n": 0}

    def slow_third_candidate(plan):
        calls["n"] += 1
        if calls["n"] == 4:  # 2 starts, the start re-simulated, then the first candidate hangs
            time.sleep(5)
        return real(plan)

    monkeypatch.setattr(p, "simulate", slow_third_candidate)
    t0 = time.perf_counter()
    plan = p.plan(wf)
    assert time.perf_counter() - t0 < 4
    assert p.timeouts == 1
    assert set(plan.configs) == set(wf.graph)


# -- the default objective is lexicographic: the fastest plan, then the cheapest within the bound -------

SMALL = {"leaves": 8, "blocks": 2, "chunks": 4, "segments": 2, "files": 3, "chains": 3, "tasks": 20}


def small_instance(name: str):
    """A small instance of a known workflow type (WfCommons recipes: their minimum number of tasks)."""
    import re

    from sim.workflow.dag import WorkflowError
    from sim.workflow.library import workflow_types

    wtype = workflow_types()[name]
    params = {k: v for k, v in SMALL.items() if k in wtype.params}
    try:
        return wtype.make(**params)
    except WorkflowError as exc:
        return wtype.make(**{**params, "tasks": int(re.search(r">= (\d+)", str(exc)).group(1))})


def known_types() -> list[str]:
    from sim.workflow.library import workflow_types

    return list(workflow_types())


@pytest.mark.parametrize("name", known_types())
def test_never_slower_than_the_best_other_planner_on_every_known_type(name):
    from sim.planners import PLANNERS

    wf = small_instance(name)
    p = SimSearchPlanner(PlannerConfig(), max_simulations=25, max_seconds=None)
    out = resimulate(p, p.plan(wf))
    others = [n for n in PLANNERS if n != "sim-search"]
    best_other = min(resimulate(get_planner(n), get_planner(n).plan(wf)).makespan_ms for n in others)
    assert out.makespan_ms <= best_other * (1 + 1e-9)
    # and never dearer than the plan it started from (the cost phase only accepts cheaper plans)
    assert out.cost_gb_s <= p.start.cost_gb_s * (1 + 1e-9)


@pytest.mark.parametrize("tolerance", [0.0, 0.05])
def test_cost_phase_keeps_the_makespan_within_the_tolerance(tolerance):
    wf = small_instance("montage_like")
    p = SimSearchPlanner(PlannerConfig(), makespan_tolerance=tolerance, max_simulations=60, max_seconds=None)
    out = resimulate(p, p.plan(wf))
    assert p.fastest_ms is not None
    assert out.makespan_ms <= p.fastest_ms * (1 + tolerance) * (1 + 1e-9)
    assert out.makespan_ms <= p.start.makespan_ms * (1 + 1e-9)
    assert p.makespan_bound() == pytest.approx(min(p.start.makespan_ms, p.fastest_ms * (1 + tolerance)))


def test_cost_phase_cuts_cost_where_a_worker_idles():
    """montage_like: HEFT keeps an 8 GB worker per group of reprojections; the cost phase folds them
    into the workers alive anyway, for >= 10 % less cost at no more makespan than HEFT's."""
    from sim.workflow.library import workflow_types

    wf = workflow_types()["montage_like"].make()  # 10 files, 21 tasks
    heft = get_planner("heft")
    h = resimulate(heft, heft.plan(wf))
    p = SimSearchPlanner(PlannerConfig(), max_simulations=60, max_seconds=None)
    out = resimulate(p, p.plan(wf))
    assert out.makespan_ms <= h.makespan_ms * (1 + 1e-9)
    assert out.cost_gb_s <= 0.9 * h.cost_gb_s
    assert p.accepted


def test_deterministic_for_a_seed_with_the_cost_phase():
    wf = small_instance("cycles")
    runs = []
    for _ in range(2):
        p = SimSearchPlanner(PlannerConfig(), seed=3, max_simulations=40, max_seconds=None)
        plan = p.plan(wf)
        runs.append((plan.configs, plan.optimizations, tuple(p.accepted), dict(p.tried)))
    assert runs[0] == runs[1]
    assert sum(runs[0][3].values()) > 0
