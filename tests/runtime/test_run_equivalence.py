"""The one rule, checked: the simulator and the real runtime make the same decisions for the same plan."""

from __future__ import annotations

import pytest
from runlib.workflows import diamond_fan, tree

from runtime.client import run_workflow
from sim.engine.simulator import simulate
from sim.planners import get_planner


def _decisions_sim(plan):
    res = simulate(plan)
    workers = {t: tr.worker for t, tr in res.traces.items()}
    return workers, set(res.uploaded), {i.worker_id for i in res.invocations}, len(res.invocations)


@pytest.mark.parametrize("make", [lambda: tree(16), lambda: diamond_fan(7)], ids=["tree16", "diamond7"])
@pytest.mark.parametrize("planner", ["uniform", "non-uniform"])
def test_same_decisions_as_the_simulator(redis_server, make, planner):
    wf = make()
    plan = get_planner(planner).plan(wf)
    workers, uploaded, invoked_ids, n_inv = _decisions_sim(plan)
    rep = run_workflow(wf, plan=plan, redis_url=redis_server.url, timeout_s=120)
    assert rep.task_workers() == workers
    assert rep.uploaded() == uploaded
    assert {w for w, _ in rep.invoked} == invoked_ids
    assert len(rep.invoked) == n_inv == rep.invocations


def test_wukong_uploads_and_counts_match(redis_server):
    """Flexible tasks: which worker runs what depends on timing, but the set of uploaded outputs and the
    number of invocations do not (each flexible child is decided by exactly one incrementer)."""
    wf = tree(16)
    plan = get_planner("wukong").plan(wf)
    _, uploaded, _, n_inv = _decisions_sim(plan)
    rep = run_workflow(wf, plan=plan, redis_url=redis_server.url, timeout_s=120)
    assert rep.uploaded() == uploaded
    assert len(rep.invoked) == n_inv


@pytest.fixture(scope="module")
def warm_launcher(redis_server):
    from runtime.client import make_launcher

    launcher = make_launcher("process", redis_server.url, keep_alive_s=60)
    launcher.prewarm(2048, 4)
    yield launcher
    launcher.close()


OPTIMIZATIONS = [
    "preload",
    "prewarm",
    "async-upload",
    "clustering",
    "task-dup",
    "streaming",
    "cleanup",
    "carry-inputs",
    "inline-plan",
]


@pytest.mark.parametrize("opt", OPTIMIZATIONS + ["all"])
@pytest.mark.parametrize("make", [lambda: tree(16), lambda: diamond_fan(5)], ids=["tree16", "diamond5"])
def test_optimizations_same_decisions_planned(redis_server, warm_launcher, opt, make):
    from sim.planners import PlannerConfig

    wf = make()
    opts = frozenset(OPTIMIZATIONS) if opt == "all" else frozenset([opt])
    plan = get_planner("uniform", PlannerConfig(optimizations=opts)).plan(wf)
    workers, uploaded, invoked_ids, n_inv = _decisions_sim(plan)
    rep = run_workflow(wf, plan=plan, launcher=warm_launcher, redis_url=redis_server.url, timeout_s=120)
    expected = {s: v for s, v in rep.results.items()}
    assert expected == _local(wf)
    assert rep.task_workers() == workers
    assert rep.uploaded() == uploaded
    assert {w for w, _ in rep.invoked} == invoked_ids and len(rep.invoked) == n_inv
    assert rep.keys_left == 0


@pytest.mark.parametrize("opt", OPTIMIZATIONS + ["all"])
def test_optimizations_flexible_give_the_right_answer(redis_server, warm_launcher, opt):
    from sim.planners import PlannerConfig

    wf = diamond_fan(5)
    opts = frozenset(OPTIMIZATIONS) if opt == "all" else frozenset([opt])
    plan = get_planner("wukong", PlannerConfig(optimizations=opts)).plan(wf)
    rep = run_workflow(wf, plan=plan, launcher=warm_launcher, redis_url=redis_server.url, timeout_s=120)
    assert rep.results == _local(wf)
    assert rep.keys_left == 0


def _local(wf):
    from sim.workflow.local import run_local

    out = run_local(wf)
    return {s: out[s] for s in wf.sinks}
