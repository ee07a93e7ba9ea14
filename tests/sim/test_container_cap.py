"""A container cap that a plan cannot finish under is named as such (sim.engine.simulator)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim.engine.platform import DEFAULT
from sim.engine.simulator import ContainerCapDeadlock, Simulation
from sim.planners import get_planner
from sim.workflow.library import load_workflow


def test_planned_workers_holding_every_container_at_the_cap_end_the_run_with_the_cause():
    plan = get_planner("uniform").plan(load_workflow("image_transform"))
    with pytest.raises(
        ContainerCapDeadlock, match=r"still waited for a container at the platform's cap of 4"
    ):
        Simulation(plan, platform=replace(DEFAULT, max_containers=4)).run()
    # a cap the plan fits under finishes, and planners' searches still treat the deadlock as a
    # RuntimeError (a candidate plan dropped)
    assert issubclass(ContainerCapDeadlock, RuntimeError)
    assert Simulation(plan, platform=replace(DEFAULT, max_containers=1000)).run().output.makespan_ms > 0
