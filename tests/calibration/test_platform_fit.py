"""Fitting the platform's fixed costs from real records: each fit recovers a known value from synthetic
records, and keeps the base platform's value when the records cannot tell."""

from __future__ import annotations

import pytest

from calibration.fit import fit_models
from calibration.platform_fit import cold_start_ranks, dispatch_steps_ms, fit_platform, pickling_samples
from sim.engine.platform import DEFAULT
from sim.models.records import TaskRecord, Transfer, WorkerRecord


def task(i: int, start: float = 0.0, worker: str = "w", run: str = "r", dl: list | None = None) -> TaskRecord:
    return TaskRecord(
        run_id=run,
        workflow_type="t",
        planner="p",
        function="f",
        task_id=f"t{i}",
        worker_id=worker,
        memory_mb=1024,
        cpus=0.57,
        input_bytes=100,
        output_bytes=10,
        exec_ms=1.0,
        downloads=dl or [],
        start_ms=start,
        extra={"source": "real"},
    )


def worker(
    name: str, startup: float, end: float, launcher: float, state: str = "cold", run: str = "r", queued=0.0
) -> WorkerRecord:
    return WorkerRecord(
        run_id=run,
        worker_id=name,
        memory_mb=1024,
        state=state,
        startup_ms=startup,
        extra={"launcher_startup_ms": launcher, "queued_ms": queued, "start_ms": end, "plan": "cached"},
    )


def test_store_latency_is_the_median_small_download() -> None:
    recs = [task(i, dl=[Transfer(40, 2.0 + 0.1 * i)]) for i in range(5)]
    recs.append(task(9, dl=[Transfer(10_000_000, 90.0)]))  # a large transfer is not a round trip
    plat, notes = fit_platform(recs, DEFAULT)
    assert plat.store_latency_ms == pytest.approx(2.2)
    assert "store_latency_ms = 2.2" in notes[0]


def test_too_few_samples_keep_the_base_values() -> None:
    plat, notes = fit_platform([task(0, dl=[Transfer(40, 9.0)])], DEFAULT)
    assert plat.store_latency_ms == DEFAULT.store_latency_ms
    assert plat.invoke_latency_ms == DEFAULT.invoke_latency_ms
    assert any("kept" in n for n in notes)


def test_invocation_latency_is_what_the_container_start_does_not_explain() -> None:
    # request -> running: 40 ms of hand-off on top of the container's start (cold) or nothing (warm),
    # one of them after 500 ms at the cap.
    recs = [
        worker("a", 840.0, 840.0, 800.0),
        worker("b", 41.0, 2000.0, 0.2, state="warm"),
        worker("c", 540.0, 3000.0, 0.1, state="warm", queued=500.0),
    ]
    plat, _ = fit_platform(recs, DEFAULT)
    assert plat.invoke_latency_ms == pytest.approx(40.0, abs=1.0)
    models, _ = fit_models(recs)  # the start-up model is the container's start only: nothing twice
    assert models.startup.median_ms(1024, "cold") == pytest.approx(800.0)


def test_cold_starts_requested_together_end_a_step_apart() -> None:
    """Four containers requested at 0 end at 1000, 1060, 1120, 1180 ms (60 ms engine step); a fifth
    requested alone later is rank 1. The start-up model learns 1000 ms, not the 1090 ms median."""
    recs = [worker(f"w{k}", 1000.0 + 60 * k, 1000.0 + 60 * k, 990.0 + 60 * k) for k in range(4)]
    recs.append(worker("late", 1000.0, 6000.0, 990.0))
    ranks, step = cold_start_ranks(recs)
    assert step == pytest.approx(60.0)
    assert [ranks[id(r)] for r in recs] == [1, 2, 3, 4, 1]
    plat, _ = fit_platform(recs, DEFAULT)
    assert plat.cold_start_serial_ms == pytest.approx(60.0)
    models, _ = fit_models(recs)
    assert models.startup.median_ms(1024, "cold") == pytest.approx(990.0)


def test_dispatch_step_from_tasks_one_worker_started_together() -> None:
    # worker w: three siblings 0.5 ms apart, then a lone task later; worker v: two 0.7 ms apart (twice).
    recs = [task(i, 100.0 + 0.5 * i) for i in range(3)] + [task(3, 500.0)]
    recs += [task(10 + i, 50.0 + 0.7 * i, worker="v") for i in range(2)]
    recs += [task(20 + i, 900.0 + 0.7 * i, worker="v") for i in range(2)]
    assert sorted(dispatch_steps_ms(recs)) == pytest.approx([0.5, 0.7, 0.7])
    plat, _ = fit_platform(recs, DEFAULT)
    assert plat.task_dispatch_ms == pytest.approx(0.7)


def test_gil_switch_interval_comes_from_the_workers() -> None:
    recs = [worker(f"w{k}", 900.0, 900.0 + 10_000 * k, 850.0) for k in range(3)]
    for r in recs:
        r.extra["gil_switch_ms"] = 5.0
    plat, _ = fit_platform(recs, DEFAULT)
    assert plat.gil_switch_ms == 5.0


def pickled(i: int, load: float, dump: float, concurrency: float = 1.0, mb: float = 10.0) -> TaskRecord:
    """A real task on 0.57 CPUs that downloads ``mb`` MB in 50 ms, unpickles it at ``load`` CPU ms per
    MB, runs 30 ms, pickles ``mb / 2`` MB of output at ``dump`` per MB and uploads it in 20 ms."""
    rec = task(i, start=100.0 * i, dl=[Transfer(int(mb * 1e6), 50.0)])
    rec.concurrency, rec.exec_ms, rec.output_bytes = concurrency, 30.0, int(mb / 2 * 1e6)
    rec.upload = Transfer(rec.output_bytes, 20.0)
    exec_start = rec.start_ms + 50.0 + mb * load / 0.57
    rec.extra["exec_start_ms"] = exec_start
    rec.end_ms = exec_start + 30.0 + mb / 2 * dump / 0.57 + 20.0
    return rec


def test_pickling_costs_are_the_gaps_around_the_call_per_mb_at_one_cpu() -> None:
    recs = [pickled(i, 1.5, 2.0) for i in range(3)]
    recs.append(pickled(3, 9.0, 9.0, concurrency=2.0))  # shared with a sibling: its gaps are not its own
    recs.append(pickled(4, 9.0, 9.0, mb=0.5))  # too small: mostly the thread hand-off
    loads, dumps = pickling_samples(recs)
    assert loads == pytest.approx([1.5] * 3) and dumps == pytest.approx([2.0] * 3)
    plat, notes = fit_platform(recs, DEFAULT)
    assert (plat.load_ms_per_mb, plat.dump_ms_per_mb) == pytest.approx((1.5, 2.0))
    assert any("load_ms_per_mb = 1.5" in n for n in notes)
    plat, _ = fit_platform(recs[:2], DEFAULT)  # two samples: the built-in (free) kept
    assert (plat.load_ms_per_mb, plat.dump_ms_per_mb) == (0.0, 0.0)
