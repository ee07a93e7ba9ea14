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


def test_exec_floor_predicts_each_task_by_its_own_earlier_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """a: median of 100, 120, 90 is 100 against 125 (20%); b: median of 10 and 30 is 20 against 10 (100%);
    c: its one earlier run 50 against 40 (25%); d has no earlier run and is left out."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from bench_accuracy import exec_floor_pct, real_exec_ms

    runs = [{"a": 100.0, "b": 10.0}, {"a": 120.0, "b": 30.0, "c": 50.0}, {"a": 90.0}]
    assert exec_floor_pct([*runs, {"a": 125.0, "b": 10.0, "c": 40.0, "d": 7.0}]) == pytest.approx(25.0)
    assert exec_floor_pct([*runs, {"d": 7.0}]) is None
    assert exec_floor_pct([{"a": 1.0}]) is None  # a single run: nothing earlier
    rec = TaskRecord("r", "t", "p", "f", "a", "w", 1024, 1.0, 1, 1, 4.0)
    assert real_exec_ms([rec, TaskRecord("r", "t", "p", "f", "b", "w", 1024, 1.0, 1, 1, 0.0)]) == {"a": 4.0}


def test_summary_medians_say_dash_where_no_cell_has_the_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass of single runs has no exec floor: the summary line prints a dash, not StatisticsError."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from rescore_accuracy import _median_pct

    assert _median_pct([]).strip() == "-"
    assert _median_pct([10.0, 30.0, 90.0]).strip() == "30.0%"
