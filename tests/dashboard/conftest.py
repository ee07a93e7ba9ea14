"""Metric files for the dashboard tests: a simulated plan and a 'real' run of the same small workflow
(the simulated records perturbed), plus a run of another workflow type with no plan."""

from __future__ import annotations

import copy

import pytest

from sim.engine.whatif import what_if
from sim.models.records import RunRecord, TaskRecord, write_jsonl
from sim.workflow.library import load_workflow

WORKFLOW = "fixed_times"


@pytest.fixture(scope="session")
def metrics_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("dash")
    wf = load_workflow(WORKFLOW)
    w = what_if(wf, "uniform", [2048])
    planned = w.result.records("plan-1")
    real = []
    for r in w.result.records("real-1"):
        r = copy.deepcopy(r)
        r.extra["source"] = "real"
        if isinstance(r, TaskRecord):
            r.exec_ms *= 1.5
        if isinstance(r, RunRecord):
            r.makespan_ms *= 1.5
        real.append(r)
    other = load_workflow("tree_reduction:leaves=8")
    lonely = []
    for r in what_if(other, "wukong", [2048]).result.records("real-2"):
        r.extra["source"] = "real"
        lonely.append(r)
    path = d / "metrics.jsonl"
    write_jsonl(planned + real + lonely, path)
    return path
