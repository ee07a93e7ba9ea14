"""Undoing CPU sharing before fitting: real exec times of co-located tasks already contain the contention
that the simulator's processor sharing applies again."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from calibration.fit import fit_models
from sim.models.records import (
    RecordError,
    TaskRecord,
    Transfer,
    from_dict,
    shared_alone_ms,
    timeline_share_rates,
    to_dict,
    uncontended_exec_ms,
)
from sim.models.resources import share_rate


def rec(
    exec_ms: float, memory_mb: int = 1024, cpus: float = 0.57, input_bytes: int = 1000, **kw
) -> TaskRecord:
    return TaskRecord(
        run_id="r",
        workflow_type="t",
        planner="p",
        function=kw.pop("function", "f"),
        task_id="x",
        worker_id="w",
        memory_mb=memory_mb,
        cpus=cpus,
        input_bytes=input_bytes,
        output_bytes=10,
        exec_ms=exec_ms,
        **kw,
    )


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, 400.0),  # simulated or imported: taken as measured alone
        ({"concurrency": 1.0, "cpu_share": 1.0}, 400.0),  # alone
        ({"concurrency": 2.0, "cpu_share": 0.5}, 200.0),  # two tasks on a (fractional) one-CPU worker
        ({"concurrency": 2.0}, 200.0),  # only the mean count known
        ({"concurrency": 1.5, "cpu_share": 0.75}, 300.0),  # half the time alone, half with another
        ({"concurrency": 4.0, "cpu_share": 0.25, "cpus": 2.29, "memory_mb": 4096}, 400.0 * 2.29 / 4),
        ({"concurrency": 2.0, "cpu_share": 0.5, "cpus": 2.29, "memory_mb": 4096}, 400.0),  # 2 CPUs, 2 tasks
    ],
)
def test_uncontended_time_is_the_rate_the_simulator_would_apply(kw: dict, expected: float) -> None:
    assert uncontended_exec_ms(rec(400.0, **kw)) == pytest.approx(expected)


def test_the_rate_is_the_simulators() -> None:
    assert share_rate(0.57, 3) == pytest.approx(1 / 3)
    assert share_rate(4.0, 2) == 1.0
    assert share_rate(2.0, 4) == 0.5
    r = rec(300.0, concurrency=3.0)
    assert uncontended_exec_ms(r) == pytest.approx(300.0 * share_rate(r.cpus, 3.0))


def test_fields_round_trip_and_are_omitted_when_unknown() -> None:
    r = rec(100.0, concurrency=2.5, cpu_share=0.4, cpu_limit=1.5)
    d = to_dict(r)
    assert (d["concurrency"], d["cpu_share"], d["cpu_limit"]) == (2.5, 0.4, 1.5)
    back = from_dict(json.loads(json.dumps(d)))
    assert (back.concurrency, back.cpu_share, back.cpu_limit) == (2.5, 0.4, 1.5)
    assert back.extra == {}
    plain = to_dict(rec(100.0))
    assert not {"concurrency", "cpu_share", "cpu_limit"} & set(plain)
    assert from_dict(plain).concurrency is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("concurrency", 0.5),
        ("cpu_share", 0.0),
        ("cpu_share", 1.5),
        ("cpu_limit", 0),
        ("concurrency", "2"),
        ("cpu_share", float("nan")),
    ],
)
def test_out_of_range_values_are_rejected(name: str, value: object) -> None:
    d = to_dict(rec(100.0))
    d[name] = value
    with pytest.raises(RecordError, match=name):
        from_dict(d)


def test_fit_learns_the_time_alone_from_crowded_records() -> None:
    """Every task takes 100 ms alone; records of tasks that ran two or three at a time on a one-CPU
    worker measured 200 or 300 ms. The fitted model predicts 100 ms (raw times would give ~200)."""
    records = []
    for i in range(30):
        k = 1 + i % 3
        records.append(rec(100.0 * k, input_bytes=1000 + i, concurrency=float(k), cpu_share=1.0 / k))
    models, _ = fit_models(records)
    assert models.exec["f"].median_ms(1000, 1024) == pytest.approx(100.0, rel=0.02)
    raw, _ = fit_models([rec(r.exec_ms, input_bytes=r.input_bytes) for r in records])
    assert raw.exec["f"].median_ms(1000, 1024) > 150.0


def test_startup_excludes_the_wait_at_the_container_cap() -> None:
    """A warm start that waited 6 s for a container (the cap) is a fast warm start: the simulator's pool
    waits for the container itself."""
    from calibration.fit import startup_alone_ms
    from sim.models.records import WorkerRecord

    def worker(state: str, ms: float, queued: float | None) -> WorkerRecord:
        extra = {} if queued is None else {"queued_ms": queued}
        return WorkerRecord(
            run_id="r", worker_id="w", memory_mb=1024, state=state, startup_ms=ms, extra=extra
        )

    assert startup_alone_ms(worker("warm", 6050.0, 6000.0)) == 50.0
    assert startup_alone_ms(worker("cold", 900.0, None)) == 900.0
    assert startup_alone_ms(worker("cold", 900.0, "x")) == 900.0  # not a number: ignored
    recs = [worker("warm", 6000.0 + i, 5950.0) for i in range(5)] + [worker("cold", 900.0, 0.0)] * 5
    models, _ = fit_models(recs)
    assert models.startup.median_ms(1024, "warm") == pytest.approx(52.0, abs=3)
    assert models.startup.median_ms(1024, "cold") == pytest.approx(900.0)


def test_small_fixed_size_transfers_fit_a_latency_not_a_tiny_bandwidth() -> None:
    """20-byte values that take ~10 ms are round-trip bound: the fit keeps a sane bandwidth, so a 10 MB
    output is not predicted to take hours."""
    from sim.models.records import Transfer

    recs = [rec(1.0, downloads=[Transfer(20, 10.0 + 0.1 * i)]) for i in range(20)]
    models, _ = fit_models(recs)
    tr = models.transfer
    assert tr.latency_ms == pytest.approx(10.9, rel=0.1)
    assert tr.median_ms(10_000_000, 1024) < 1000.0
    assert any("latency-bound" in n for n in tr.fit.notes)


def test_sleeping_tasks_beside_each_other_fit_their_time_alone() -> None:
    """Sleeps of 200 ms, three at a time on one worker, measure 200 ms and were on a CPU (or waiting
    for one) for under 1 ms: the fitted model says 200 ms mostly off-CPU (the CPU-sharing correction
    alone would say 67 ms)."""
    from sim.models.records import io_aware_exec

    sleeps = {"cpu_ms": 0.6, "run_wait_ms": 0.2}
    records = [
        rec(200.0, input_bytes=1000 + i, concurrency=3.0, cpu_share=1 / 3, extra=dict(sleeps))
        for i in range(9)
    ]
    t, f = io_aware_exec(records[0])
    assert t == pytest.approx(200.0 - 0.8 * 2) and f < 0.01
    models, _ = fit_models(records)
    model = models.exec["f"]
    assert model.median_ms(1000, 1024) == pytest.approx(198.4, rel=0.01)
    assert model.cpu_fraction < 0.01
    assert uncontended_exec_ms(records[0]) == pytest.approx(200.0 / 3)  # what the fit used to learn


@pytest.mark.parametrize(
    "measured",
    [
        lambda k: {"cpu_ms": 20.0, "run_wait_ms": 80.0},  # starved: its turns were mostly run-queue waits
        lambda k: {"cpu_ms": 0.0, "run_wait_ms": 0.0, "process_cpu_ms": 57.0 * k},  # BLAS-like threads
    ],
)
def test_cpu_bound_tasks_keep_a_fraction_of_one(measured) -> None:  # noqa: ANN001 - a lambda
    """100 ms of work alone, measured with two or three beside it on a loaded host: whether its thread
    mostly waited for a CPU or its work ran in other threads, it is CPU-bound, not asleep."""
    records = [
        rec(
            100.0 * (1 + i % 3),
            input_bytes=1000 + i,
            concurrency=float(1 + i % 3),
            cpu_share=1.0 / (1 + i % 3),
            extra=measured(1 + i % 3),
        )
        for i in range(30)
    ]
    models, _ = fit_models(records)
    assert models.exec["f"].cpu_fraction == 1.0
    assert models.exec["f"].median_ms(1000, 1024) == pytest.approx(100.0, rel=0.02)


def test_cpu_fraction_survives_the_models_file(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    from sim.models.performance import PerformanceModels

    records = [rec(200.0, input_bytes=1000 + i, extra={"cpu_ms": 2.0, "run_wait_ms": 0.0}) for i in range(5)]
    models, _ = fit_models(records)
    models.save(tmp_path / "m.json")
    back = PerformanceModels.load(tmp_path / "m.json")
    assert back.cpu_fraction("f") == pytest.approx(models.exec["f"].cpu_fraction)
    assert back.cpu_fraction("f") < 0.1
    assert back.cpu_fraction("unknown") == 1.0


def test_a_short_task_below_the_timer_noise_stays_cpu_bound() -> None:
    """A 0.05 ms addition whose thread saw 0.01 ms of CPU: the difference is timer granularity and the
    hand-off, not a sleep."""
    from sim.models.records import io_aware_exec

    assert io_aware_exec(rec(0.05, extra={"cpu_ms": 0.01, "run_wait_ms": 0.0})) == (0.05, 1.0)


def test_the_event_loops_cpu_time_does_not_make_a_sleep_cpu_bound() -> None:
    """A 200 ms sleep beside two others: the process used 1.8 ms of CPU meanwhile (the worker's event
    loop, the other tasks' hand-offs), 0.6 ms per task, far from a quarter of its 67 ms turn."""
    from sim.models.records import io_aware_exec

    r = rec(
        200.0,
        concurrency=3.0,
        cpu_share=1 / 3,
        extra={"cpu_ms": 0.03, "run_wait_ms": 0.0, "process_cpu_ms": 1.8},
    )
    assert io_aware_exec(r)[1] < 0.01


def test_short_calls_that_overlapped_release_the_gil(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    """3 ms calls measured two or three at a time on a worker could only overlap if their work releases
    the GIL; 3 ms calls that always ran alone (concurrency 1) keep it."""
    overlapped = [rec(3.0, input_bytes=1000 + i, concurrency=2.5, cpu_share=0.4) for i in range(5)]
    alone = [rec(3.0, input_bytes=1000 + i, concurrency=1.0, cpu_share=1.0, function="g") for i in range(5)]
    models, _ = fit_models(overlapped + alone)
    assert not models.exec["f"].holds_gil and models.holds_gil("g") and models.holds_gil("unknown")
    assert "releases the GIL" in " ".join(models.exec["f"].fit.notes)
    from sim.models.performance import PerformanceModels

    models.save(tmp_path / "m.json")
    assert not PerformanceModels.load(tmp_path / "m.json").holds_gil("f")


def lock_waiting_calls(run: str) -> list[TaskRecord]:
    """Three calls of one function started together on one worker, as recorded: the first did the
    imports (9.7 ms CPU), the other two 0.7 and 0.6 ms of work, yet all three took 12 ms wall (they
    waited for the first's import lock), with 3 calls executing throughout."""
    return [
        replace(
            rec(
                12.0,
                function="background_correct",
                start_ms=0.1 * i,
                end_ms=12.0 + 0.1 * i,
                concurrency=3.0,
                cpu_share=1.0 / 3.0,
                extra={"cpu_ms": cpu, "run_wait_ms": 0.0, "process_cpu_ms": 11.0},
            ),
            run_id=run,
            task_id=f"bc-{i}",
        )
        for i, cpu in enumerate((9.7, 0.7, 0.6))
    ]


def test_calls_that_waited_for_each_other_share_their_time_by_their_own_work() -> None:
    calls = lock_waiting_calls("r1")
    alone = shared_alone_ms(calls)
    # the equal split charged each call 4 ms; the 12 ms the simulator shares go to the call that worked
    assert [uncontended_exec_ms(r) for r in calls] == pytest.approx([4.0] * 3)
    assert [alone[id(r)] for r in calls] == pytest.approx([12.0 * c / 11.0 for c in (9.7, 0.7, 0.6)])
    # calls that did not overlap (another run, or later on the worker) are left alone
    apart = lock_waiting_calls("r2")
    apart[2].start_ms, apart[2].end_ms = 50.0, 62.0
    assert set(shared_alone_ms(apart)) == {id(apart[0]), id(apart[1])}


def test_the_fit_charges_a_later_call_its_own_work_not_the_wait() -> None:
    models, _ = fit_models([r for run in ("r1", "r2", "r3", "r4") for r in lock_waiting_calls(run)])
    model = models.exec["background_correct"]
    # later calls ~0.7 ms alone (the equal split said 4 ms), the first call's imports ~10 ms on top
    assert model.median_ms(1000, 1024) == pytest.approx(0.71, rel=0.1)
    assert model.first_call_ms == pytest.approx(12.0 * 9.7 / 11.0 - 0.71, rel=0.1)


def gil_waiting_calls(run: str, meter: float = 1.0, **kw) -> list[TaskRecord]:
    """Two calls of one function on one worker whose execution intervals overlap (0-10 ms and 0-20
    ms), yet the runtime's meter counted each alone (``concurrency`` ``meter``): the second thread
    waited for the GIL before the meter started."""
    return [
        replace(
            rec(end, start_ms=0.0, end_ms=end, concurrency=meter, **kw),
            run_id=run,
            task_id=f"t-{i}",
        )
        for i, end in enumerate((10.0, 20.0))
    ]


def test_the_timeline_gives_the_rate_of_an_overlap_the_meter_missed() -> None:
    calls = gil_waiting_calls("r1")
    rates = timeline_share_rates(calls)
    # 0-10 ms two tasks (1/2 each), 10-20 ms the second alone: rates 0.5 and (5 + 10) / 20
    assert [rates[id(r)] for r in calls] == pytest.approx([0.5, 0.75])
    # alone times 5 and 15 ms: shared on one CPU by the simulator, they end at 10 and 20 ms again
    assert [r.exec_ms * rates[id(r)] for r in calls] == pytest.approx([5.0, 15.0])
    # the meter saw the crowding (or more): its own figures stand
    assert timeline_share_rates(gil_waiting_calls("r1", meter=2.0)) == {}
    # no overlap: one call later on the worker, or on another worker, or in another run
    later = gil_waiting_calls("r1")
    later[1].start_ms, later[1].end_ms = 30.0, 50.0
    assert timeline_share_rates(later) == {}
    assert timeline_share_rates([*gil_waiting_calls("r1")[:1], *gil_waiting_calls("r2")[1:]]) == {}
    # records without the meter (simulated, imported) are taken as measured
    assert timeline_share_rates([replace(r, concurrency=None) for r in calls]) == {}
    # a call shorter than the interval's precision keeps the meter's figures; it still crowds the other
    short = gil_waiting_calls("r1")
    short[0].exec_ms = short[0].end_ms = 1.5
    rates = timeline_share_rates(short)
    assert set(rates) == {id(short[1])}
    assert rates[id(short[1])] == pytest.approx((0.75 + 18.5) / 20.0)


def test_an_upload_is_taken_off_the_end_of_the_interval() -> None:
    calls = gil_waiting_calls("r1")
    # the first call's record ends after a 10 ms upload: it executed 10-20 ms, beside the second's end
    calls[0].start_ms, calls[0].end_ms, calls[0].upload = 10.0, 30.0, Transfer(10, 10.0)
    rates = timeline_share_rates(calls)
    assert [rates[id(r)] for r in calls] == pytest.approx([0.5, 0.75])


def test_a_recorded_exec_start_places_the_interval_exactly() -> None:
    """Records timed by the meter's interval carry ``exec_start_ms``; their ``end_ms`` is stamped when the
    event loop resumes, which can be tens of ms late: rebuilt from it, two calls that ran one after the
    other (0-10 and 10-20 ms, each alone as the meter said) would seem to overlap."""
    calls = gil_waiting_calls("r1")
    calls[0].end_ms = 15.0  # the loop resumed 5 ms after the first call ended
    calls[1].exec_ms = 10.0
    assert set(timeline_share_rates(calls)) == {id(calls[0]), id(calls[1])}  # misplaced: 5-15, 10-20
    calls[0].extra["exec_start_ms"], calls[1].extra["exec_start_ms"] = 0.0, 10.0
    assert timeline_share_rates(calls) == {}
    # an exact overlap the meter missed is still found (no runtime writes one: its meter is exact)
    calls[1].extra["exec_start_ms"] = 5.0
    rates = timeline_share_rates(calls)
    assert [rates[id(r)] for r in calls] == pytest.approx([0.75, 0.75])


def test_the_fit_takes_an_overlap_the_meter_missed_off_the_time_alone() -> None:
    # two equal calls executing together for 20 ms: 10 ms each alone, whether the meter saw it or not
    def equal(run: str, meter: float) -> list[TaskRecord]:
        return [replace(r, exec_ms=20.0, end_ms=20.0) for r in gil_waiting_calls(run, meter)]

    runs = ("r1", "r2", "r3")
    missed, _ = fit_models([r for run in runs for r in equal(run, 1.0)])
    seen, _ = fit_models([r for run in runs for r in equal(run, 2.0)])
    assert missed.exec["f"].median_ms(1000, 1024) == pytest.approx(10.0, rel=0.05)
    assert seen.exec["f"].median_ms(1000, 1024) == pytest.approx(10.0, rel=0.05)
