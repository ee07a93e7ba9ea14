"""rescore_accuracy finds the instance a recorded cell ran (benchmarks/rescore_accuracy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.models.records import TaskRecord
from sim.workflow.library import load_workflow

ROOT = Path(__file__).resolve().parents[2]


def test_recorded_instance_goes_by_the_generated_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """wordcount's long instance writes count tables of ~170 kB: nearer the large instance's estimate
    (100 kB) than its own (400 kB), so output sizes alone pick the wrong size set. The root tasks' own
    inputs (the text the instance generates) are recorded exactly and pick the right one."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from bench_accuracy import SIZE_SETS
    from rescore_accuracy import recorded_instance

    long = load_workflow(SIZE_SETS["long"]["wordcount"])
    records = [
        TaskRecord(
            run_id="r-1",
            workflow_type=long.type_hash(),
            planner="uniform",
            function=long.task(t).function,
            task_id=t,
            worker_id="w1",
            memory_mb=1024,
            cpus=0.57,
            input_bytes=long.task(t).stored_input_bytes if t in long.roots else 340_000,
            output_bytes=170_000,
            exec_ms=10.0,
        )
        for t in long.graph
    ]
    assert recorded_instance("wordcount", records).params == long.params
    small = load_workflow(SIZE_SETS["small"]["wordcount"])
    assert recorded_instance("wordcount", records).params != small.params
