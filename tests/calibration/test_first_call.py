"""A function's first call on a fresh worker pays one-time costs (lazy imports, page faults) that its
later calls there skip: calibration fits that extra (``ExecModel.first_call_ms``) apart from the
per-call model, and the simulator charges it once per worker and function."""

from __future__ import annotations

from dataclasses import replace

import pytest

from calibration.fit import fit_models
from sim.engine.simulator import Simulation
from sim.models.performance import SLA, ExecModel, PerformanceModels
from sim.models.records import TaskRecord, first_calls
from tests.calibration.test_platform_fit import task
from tests.sim.helpers import SIMPLE, plan, simple_models, workflow


def call(run: str, worker: str, function: str, start_ms: float, exec_ms: float) -> TaskRecord:
    one = task(0, start_ms, worker, run)
    return replace(
        one,
        function=function,
        task_id=f"{function}-{worker}-{start_ms:g}",
        exec_ms=exec_ms,
        end_ms=start_ms + exec_ms,
    )


def three_runs() -> list[TaskRecord]:
    """Truth: ``f`` costs 1 ms a call plus 5 ms on its first call on a worker (one worker, four calls
    per run, the first listed last); ``g`` runs once per worker (every call a first call), 2 ms."""
    recs = []
    for run, jitter in (("r1", 0.97), ("r2", 1.0), ("r3", 1.03)):
        recs += [call(run, "w1", "f", 10.0 + i, 1.0 * jitter) for i in (1, 2, 3)]
        recs.append(call(run, "w1", "f", 5.0, 6.0 * jitter))
        recs += [call(run, w, "g", 20.0, 2.0 * jitter) for w in ("w1", "w2")]
    return recs


def test_first_calls_are_the_earliest_of_a_function_on_a_worker_in_a_run() -> None:
    recs = three_runs()
    firsts = [r for r in recs if id(r) in first_calls(recs)]
    assert sorted(
        (r.run_id, r.function, r.worker_id, r.exec_ms > 5) for r in firsts if r.function == "f"
    ) == [
        ("r1", "f", "w1", True),
        ("r2", "f", "w1", True),
        ("r3", "f", "w1", True),
    ]
    assert sum(r.function == "g" for r in firsts) == 6  # once per worker and run: all of them


def test_records_without_a_timeline_have_no_first_call() -> None:
    """A WfFormat trace's tasks carry no start time: none of them is a first call, and no extra is
    fitted from whichever a file happens to list first."""
    recs = [replace(r, start_ms=0.0, end_ms=0.0) for r in three_runs()]
    assert first_calls(recs) == set()
    assert fit_models(recs)[0].exec["f"].first_call_ms == 0.0


def test_the_first_call_extra_is_fitted_apart(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    models, _ = fit_models(three_runs())
    f = models.exec["f"]
    # later calls 1 ms, the first +5 ms; pooled together the 6 ms calls would pull the per-call model up
    assert f.median_ms(100, 1024) * f.residuals.factor(SLA(0.5)) == pytest.approx(1.0, rel=0.05)
    assert f.first_call_ms == pytest.approx(5.0, rel=0.05)
    assert "first call on a worker" in " ".join(f.fit.notes)
    # every call of g was a first call: nothing to set apart, the model is fitted on them all
    assert models.exec["g"].first_call_ms == 0.0
    assert models.first_call_ms("g") == 0.0 and models.first_call_ms("unknown") == 0.0
    models.save(tmp_path / "m.json")
    assert PerformanceModels.load(tmp_path / "m.json").first_call_ms("f") == pytest.approx(f.first_call_ms)


def exec_times(workers: dict[str, str]) -> list[float]:
    """Three children of ``a``, 1 ms each plus 5 ms on a worker's first call of ``b``."""
    wf = workflow([("a", "b1"), ("a", "b2"), ("a", "b3")])
    models = simple_models()
    models.exec["b"] = ExecModel(a=1.0, b=0.0, c=0.0, first_call_ms=5.0)
    platform = replace(SIMPLE, name="modelled", exec_from_recorded=False)
    r = Simulation(plan(wf, {"a": "w1", **workers}), platform, models).run()
    return sorted(r.traces[t].exec_ms for t in ("b1", "b2", "b3"))


def test_the_simulator_charges_the_first_call_once_per_worker() -> None:
    # one worker runs all three: one first call
    assert exec_times({"b1": "w1", "b2": "w1", "b3": "w1"}) == pytest.approx([1.0, 1.0, 6.0])
    # three workers: each pays it
    assert exec_times({"b1": "w1", "b2": "w2", "b3": "w3"}) == pytest.approx([6.0, 6.0, 6.0])
