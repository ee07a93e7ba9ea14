"""The simulator's shortcuts change its speed, never its results: the paused garbage collector is
restored (and a run's results promoted, and freed by reference counting alone), and a task's fetch and
execution timed as one step play out exactly as two steps would."""

from __future__ import annotations

import gc
import weakref

import pytest

from sim.engine.gcpause import paused_gc
from sim.engine.simulator import Simulation
from sim.planners import get_planner
from sim.workflow.library import load_workflow


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_gc_restores_the_callers_setting_also_on_errors(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with pytest.raises(ValueError), paused_gc():
            assert not gc.isenabled()
            with paused_gc():  # nested: still off inside, still off after the inner block
                pass
            assert not gc.isenabled()
            raise ValueError("boom")
        assert gc.isenabled() == enabled
        Simulation(get_planner("wukong").plan(load_workflow("tree_reduction:leaves=8"))).run()
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_run_promotes_its_survivors_and_leaves_no_cycle():
    plan = get_planner("wukong").plan(load_workflow("montage:tasks=2000"))
    was = gc.isenabled()
    gc.enable()
    try:
        gc.collect()
        result = Simulation(plan).run()
        # The results went to the oldest generation, not the young one (its scan is what is saved).
        young = len(gc.get_objects(0)) + len(gc.get_objects(1))
        assert young < 1000 < len(result.traces), young
        gc.disable()  # from here on only reference counting frees anything
        probe = Probe()
        result.traces["probe"] = probe
        gone = weakref.ref(probe)
        del probe, result
        assert gone() is None  # freed with the result: nothing of the simulation is in a cycle
    finally:
        gc.enable() if was else gc.disable()


def test_objects_the_caller_froze_stay_frozen():
    was = gc.isenabled()
    gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc():
            pass
        assert gc.get_freeze_count() == frozen > 0
    finally:
        gc.unfreeze()
        gc.enable() if was else gc.disable()


class Probe:
    """Something weakly referable to put among a result's traces."""


def timeline(sim: Simulation) -> list[tuple]:
    out = sim.run().output
    tasks = [
        (t, i.worker_id, i.earliest_start_ms, i.download_ms, i.exec_ms, i.completion_ms)
        for t, i in out.tasks.items()
    ]
    return [out.makespan_ms, out.cost_gb_s, out.cold_starts, sorted(tasks)]


@pytest.mark.parametrize("spec", ["montage:tasks=200", "epigenomics:tasks=100", "gemm"])
def test_fetch_and_execute_as_one_step_changes_nothing_but_the_event_count(spec):
    plan = get_planner("wukong").plan(load_workflow(spec))
    merged, separate = Simulation(plan), Simulation(plan)
    separate._merge_fetch_execute = False
    assert timeline(merged) == timeline(separate)
    # Each step is one event id less: the shortcut was taken (event ids count every scheduled event).
    assert next(merged.env._eid) < next(separate.env._eid)
