"""How long a sibling waits to start beside a call that keeps Python's GIL: measured from real records
(sim.models.records.gil_hold_samples) and fitted per function (ExecModel.gil_hold)."""

from __future__ import annotations

import pytest

from calibration.fit import fit_models
from sim.models.performance import PerformanceModels
from sim.models.records import TaskRecord, gil_hold_samples
from tests.compare.test_plan_vs_real import task as record


def task(
    run: str, tid: str, start: float, exec_start: float, exec_ms: float, worker: str = "w1"
) -> TaskRecord:
    """A real record of function ``c`` ready at ``start`` whose call ran from ``exec_start``."""
    return record(
        run, tid, worker, start, exec_ms, exec_start + exec_ms, source="real", exec_start_ms=exec_start
    )


def runs(wait_ms: float) -> list[TaskRecord]:
    """Three runs: two siblings ready at 0 ms; the first executes 100 ms, the second starts at
    ``wait_ms``; a third task alone on another worker waits for nothing."""
    out = []
    for i in range(3):
        out += [
            task(f"r{i}", "c1", 0.0, 0.0, 100.0),
            task(f"r{i}", "c2", 0.0, wait_ms, 80.0),
            task(f"r{i}", "c3", 0.0, 1.0, 90.0, worker="w2"),
        ]
    return out


def test_a_waiting_sibling_samples_the_call_it_waited_for() -> None:
    assert gil_hold_samples(runs(60.0)) == {"c": pytest.approx([0.6] * 3)}
    # started after the first call ended: it held the GIL throughout (at most the whole call)
    assert gil_hold_samples(runs(130.0)) == {"c": pytest.approx([1.0] * 3)}
    # a start within the event loop's own hand-off is no wait
    assert gil_hold_samples(runs(2.0)) == {}


def test_the_fit_keeps_the_median_part() -> None:
    models, _ = fit_models(runs(60.0))
    assert models.exec["c"].gil_hold == pytest.approx(0.6)
    assert models.gil_hold("c") == pytest.approx(0.6)
    assert models.gil_hold("unknown") == 0.0
    assert PerformanceModels.from_json(models.to_json()).gil_hold("c") == pytest.approx(0.6)
    # fewer waits than the fit needs: the switch interval alone, as before
    models, _ = fit_models(runs(60.0)[:6])
    assert models.exec["c"].gil_hold == 0.0


def test_a_function_without_waits_of_its_own_takes_the_pooled_part() -> None:
    # function e never had a sibling wait for it (alone on its worker): all functions' waits decide
    lone = [task(f"r{i}", "e1", 0.0, 0.0, 50.0, worker="w4") for i in range(3)]
    models, _ = fit_models(runs(60.0) + lone)
    assert models.exec["e"].gil_hold == pytest.approx(0.6)
    assert "all functions' 3 waits" in " ".join(models.exec["e"].fit.notes)
