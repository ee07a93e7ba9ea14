"""On the ``ideal`` platform a run is as fast as the workflow allows: its makespan is the critical path
of recorded runtimes. Checked on the real WfInstances traces."""

from __future__ import annotations

import pytest

from sim.engine.whatif import what_if
from sim.workflow.shared_data import shared_data_dir
from sim.workflow.wfformat import load_wfformat

DATA = shared_data_dir() / "wfinstances"
FILES = sorted(DATA.rglob("*.json*"))


def test_the_traces_are_there():
    assert len(FILES) == 167, f"expected the 167 WfInstances files under {DATA}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.split(".")[0])
def test_ideal_makespan_is_the_critical_path(path):
    wf = load_wfformat(path)
    _, critical = wf.critical_path()
    planners = ["wukong"] + (["uniform"] if FILES.index(path) % 8 == 0 else [])
    for planner in planners:
        out = what_if(wf, planner, platform="ideal").result.output
        assert out.makespan_ms == pytest.approx(critical, rel=1e-9, abs=1e-6), planner
        assert all(w["startup_ms"] == 0 for w in out.workers.values())  # ideal: no start-up at all
