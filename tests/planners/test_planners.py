"""Every planner makes valid plans that run; HEFT/CPOP on hand-checkable DAGs; dask-like pool bounds."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.engine.simulator import Simulation
from sim.planners import PLANNERS, PlannerConfig, get_planner
from sim.planners.heft import HeftPlanner
from tests.planners.helpers import random_dag, simple_config, workflow

FAST = {"sim-search": {"max_simulations": 15, "max_seconds": None}}


class CountingSimulation(Simulation):
    """Counts how often each task is executed."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.executed: Counter[str] = Counter()

    def _execute(self, e, w):  # noqa: ANN001, ANN202
        self.executed[e.task] += 1
        return super()._execute(e, w)

    def _execute_after_fetch(self, e, w, start):  # noqa: ANN001, ANN202 - an Execute timed with its fetch
        self.executed[e.task] += 1
        return super()._execute_after_fetch(e, w, start)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", list(PLANNERS))
def test_every_planner_makes_a_valid_plan_that_runs_each_task_once(name, seed):
    wf = random_dag(seed, n=18)
    planner = get_planner(name, PlannerConfig(), **FAST.get(name, {}))
    plan = planner.plan(wf)
    assert set(plan.configs) == set(wf.graph)
    memory: dict[str, int] = {}
    for cfg in plan.configs.values():
        assert cfg.memory_mb in PlannerConfig().memory_sizes
        if cfg.worker_id is not None:
            assert memory.setdefault(cfg.worker_id, cfg.memory_mb) == cfg.memory_mb
    sim = CountingSimulation(plan, planner.config.platform, predictor=planner.predictor)
    result = sim.run()
    assert set(result.output.tasks) == set(wf.graph)
    assert set(sim.executed) == set(wf.graph) and set(sim.executed.values()) == {1}
    assert result.output.makespan_ms > 0


def test_heft_on_a_hand_checkable_dag():
    # a(100) -> b(200), c(300) -> d(100); 1 ms transfers, 1 ms round trips, 10 ms invocations, 100 ms cold.
    # ranks: d 100, c 300+3+100 = 403, b 200+3+100 = 303, a 100+3+403 = 506 -> order a, c, b, d.
    # a: new w1 at 1 (client claim) + 110 -> 111..211. c: on w1 211..511 beats a new worker
    # (211+1+1 +110 +1 fetch -> 324..624). b: w1 is busy until 511 -> 511..711; new w2 324..524 wins.
    # d: on w1 needs b via the store (524+2+1) -> 527..627; on w2 needs c (511+2, fetch 1) -> 525..625.
    wf = workflow([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")], {"a": 100, "b": 200, "c": 300, "d": 100})
    heft = HeftPlanner(simple_config())
    plan = heft.plan(wf)
    w = {t: plan.worker_of(t) for t in "abcd"}
    assert w["a"] == w["c"] and w["b"] == w["d"] and w["a"] != w["b"]
    assert heft.estimate_ms == pytest.approx(625.0)
    out = heft.simulate(plan).output
    assert out.makespan_ms == pytest.approx(heft.estimate_ms, rel=0.05)


def test_heft_keeps_a_chain_on_one_worker_and_respects_the_worker_bound():
    wf = workflow([("a", "b"), ("b", "c")], {})
    plan = HeftPlanner(simple_config()).plan(wf)
    assert len(plan.workers()) == 1
    fan = workflow([("r", f"x{i}") for i in range(6)], {"r": 10, **{f"x{i}": 1000 for i in range(6)}})
    plan = get_planner("heft:max_workers=2", simple_config()).plan(fan)
    assert len(plan.workers()) <= 2
    assert len(HeftPlanner(simple_config()).plan(fan).workers()) > 2  # the bound is what limited it


def test_heft_can_leave_singletons_flexible():
    fan = workflow([("r", f"x{i}") for i in range(4)], {"r": 10, **{f"x{i}": 1000 for i in range(4)}})
    plan = HeftPlanner(simple_config(), flexible_singletons=True).plan(fan)
    assert any(c.worker_id is None for c in plan.configs.values())


def test_cpop_puts_the_critical_path_on_one_largest_worker():
    wf = workflow([("a", "b"), ("b", "c"), ("a", "x"), ("x", "c")], {"a": 100, "b": 1000, "c": 100, "x": 10})
    planner = get_planner("cpop", simple_config((1024, 2048)))
    plan = planner.plan(wf)
    assert plan.worker_of("a") == plan.worker_of("b") == plan.worker_of("c")
    assert plan.configs["b"].memory_mb == 2048


def test_dask_like_uses_at_most_its_pool():
    wf = random_dag(5, n=30, p=0.1)
    planner = get_planner("dask-like:n_workers=3", PlannerConfig())
    plan = planner.plan(wf)
    assert 1 <= len(plan.workers()) <= 3
    assert all(c.worker_id is not None for c in plan.configs.values())


def test_dask_like_work_stealing_spreads_a_fan_out():
    fan = workflow([("r", f"x{i}") for i in range(8)], {"r": 10, **{f"x{i}": 2000 for i in range(8)}})
    stealing = get_planner("dask-like:n_workers=4", simple_config()).plan(fan)
    assert (
        len(stealing.workers()) == 4
    )  # children of r first all go to r's worker (locality), then are stolen
    lazy = get_planner("dask-like:n_workers=4:stealing=false", simple_config()).plan(fan)
    assert len(lazy.workers()) < 4


def test_planner_spec_errors():
    with pytest.raises(ValueError, match="unknown planner"):
        get_planner("nope")
    with pytest.raises(ValueError, match="no option"):
        get_planner("heft:colour=red")
    with pytest.raises(ValueError, match="key=value"):
        get_planner("heft:oops")
    p = get_planner("sim-search:objective=cost:max_simulations=3")
    assert (
        p.objective == "cost"
        and p.max_simulations == 3
        and p.name == "sim-search:objective=cost:max_simulations=3"
    )
