"""The cost view of sim-search: worker lifetimes read from a simulation, and the moves built on them."""

from __future__ import annotations

import pytest

from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.planners.base import Planner
from sim.planners.search_cost import Lifetime, cost_moves, lifetimes, max_stretch
from tests.planners.helpers import simple_config, workflow


def test_lifetime_arithmetic():
    life = Lifetime(2048, 0.0, 60.0, ((0.0, 10.0, "a"), (5.0, 20.0, "b"), (50.0, 60.0, "c")), busy_ms=35.0)
    assert life.cost == 2048 * 60.0
    assert life.concurrency == 2
    assert life.largest_gap() == (30.0, 2)  # from b's end (20) to c's start (50); c is window 2
    assert life.utilisation == pytest.approx(35.0 / (60.0 * 1.14))
    assert life.stretch_at(2048) == pytest.approx(1.0)
    assert life.stretch_at(1024) > 1.0  # smaller: slower


def fan():
    """r -> (a, b) -> s, b short; planned with b alone on worker w2."""
    wf = workflow([("r", "a"), ("r", "b"), ("a", "s"), ("b", "s")], {"r": 50, "a": 400, "b": 50, "s": 50})
    configs = {t: ResourceConfig(2048, "w1") for t in ("r", "a", "s")} | {"b": ResourceConfig(2048, "w2")}
    return wf, configs


def test_lifetimes_and_deadlines_come_from_the_simulation():
    wf, configs = fan()
    planner = Planner(simple_config())
    out = planner.simulate(Plan(wf, configs, "t", planner.config.sla)).output
    lives = lifetimes(configs, out)
    assert set(lives) == {"w1", "w2"}
    assert [t for _, _, t in lives["w2"].windows] == ["b"]
    assert lives["w2"].end_ms == out.workers["w2"]["end_ms"]
    limits = max_stretch(configs, out, wf.graph, lives)
    w1, w2 = lives["w1"], lives["w2"]
    # b's child s runs elsewhere: b must end before s starts
    assert limits["w2"] == pytest.approx(
        (out.tasks["s"].earliest_start_ms - w2.start_ms) / (out.tasks["b"].completion_ms - w2.start_ms)
    )
    # w1 ends the run (no stretch at all), and r's child b runs elsewhere (r must end before b starts)
    r_end = out.tasks["r"].completion_ms
    r_room = (out.tasks["b"].earliest_start_ms - w1.start_ms) / (r_end - w1.start_ms)
    assert w1.end_ms == out.makespan_ms and r_room > 1.0
    assert limits["w1"] == pytest.approx(1.0)


def test_cost_moves_fold_an_idle_worker_into_one_alive_anyway():
    wf, configs = fan()
    planner = Planner(simple_config())
    out = planner.simulate(Plan(wf, configs, "t", planner.config.sla)).output
    moves = cost_moves(configs, out, (2048,), wf.graph, lambda c: "fresh")
    folded = [m for m in moves if m.label in ("dissolve", "merge-into") and m.configs["b"].worker_id == "w1"]
    assert folded
    # and the simulation agrees that it is cheaper at no more makespan
    new = planner.simulate(Plan(wf, folded[0].configs, "t", planner.config.sla)).output
    assert new.cost_gb_s < out.cost_gb_s
    assert new.makespan_ms <= out.makespan_ms * (1 + 1e-9)
    # consolidating moves are ranked before downsizing ones
    ranks = [m.rank[0] for m in moves]
    assert ranks == sorted(ranks)
