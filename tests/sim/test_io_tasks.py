"""Tasks that mostly sleep or wait for I/O are not slowed down by the tasks sharing their worker's CPUs:
the simulator shares only the CPU-bound fraction of their time (``ExecModel.cpu_fraction``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sim.engine.simulator import Simulation
from sim.models.performance import ExecModel
from tests.sim.helpers import SIMPLE, plan, simple_models, workflow

SHARING = replace(SIMPLE, name="sharing", cpu_sharing=True)


def sibling_exec_ms(cpu_fraction: float | None) -> list[float]:
    """Three 100 ms children of ``a`` on one planned 2048 MB worker (1.14 vCPUs): they start together."""
    wf = workflow([("a", "b1"), ("a", "b2"), ("a", "b3")])
    models = simple_models()
    if cpu_fraction is not None:
        models.exec["b"] = ExecModel(a=1.0, b=0.0, c=0.0, cpu_fraction=cpu_fraction)
    p = plan(wf, {t: "w1" for t in wf.graph})
    r = Simulation(p, SHARING, models).run()
    return [r.traces[t].exec_ms for t in ("b1", "b2", "b3")]


def test_cpu_bound_siblings_share_the_cpus() -> None:
    # 3 tasks on 1.14 vCPUs: each runs at 1.14 / 3 of a CPU, 100 ms of work takes 263 ms.
    assert sibling_exec_ms(None) == pytest.approx([100 * 3 / 1.14] * 3)


def test_sleeping_siblings_are_not_shared() -> None:
    # 5% on a CPU (5 ms, shared by three: 13 ms), then 95 ms asleep each: 108 ms, not 263 ms.
    got = sibling_exec_ms(0.05)
    assert got == pytest.approx([5 * 3 / 1.14 + 95] * 3)
    assert max(got) < 110


def test_a_fraction_of_one_is_the_cpu_bound_model() -> None:
    assert sibling_exec_ms(1.0) == sibling_exec_ms(None)


def worker_starts(serial_ms: float) -> list[float]:
    """Four roots on four planned workers: their cold starts are requested at the same instant."""
    wf = workflow([("a1", "z"), ("a2", "z"), ("a3", "z"), ("a4", "z")])
    p = plan(wf, {"a1": "w1", "a2": "w2", "a3": "w3", "a4": "w4", "z": "w1"})
    platform = replace(SIMPLE, name="serial", cold_start_serial_ms=serial_ms)
    r = Simulation(p, platform, simple_models()).run()
    return sorted(r.traces[t].start_ms for t in ("a1", "a2", "a3", "a4"))


def test_cold_starts_requested_together_end_one_serial_step_apart() -> None:
    # claim 1 + invoke 10 + cold 100: all at 111 without the serial stage; 30 ms apart with one.
    assert worker_starts(0.0) == pytest.approx([111.0] * 4)
    assert worker_starts(30.0) == pytest.approx([111.0, 141.0, 171.0, 201.0])


def sibling_exec(platform_changes: dict, runtime_ms: float) -> tuple[list[float], list[float]]:
    """Exec times and exec starts of three siblings on one worker (1.14 vCPUs)."""
    wf = workflow([("a", "b1"), ("a", "b2"), ("a", "b3")], runtime_ms=runtime_ms)
    p = plan(wf, {t: "w1" for t in wf.graph})
    r = Simulation(p, replace(SHARING, **platform_changes), simple_models()).run()
    tr = [r.traces[t] for t in ("b1", "b2", "b3")]
    return [t.exec_ms for t in tr], sorted(t.exec_end_ms - t.exec_ms for t in tr)


def test_short_siblings_run_one_after_the_other_under_the_gil() -> None:
    # 1 ms tasks, shorter than the 5 ms switch interval: the loop hands the next one over when the
    # previous ends, so each takes its own 1 ms (shared, they would take 3 / 1.14 ms each).
    shared, _ = sibling_exec({}, 1.0)
    assert shared == pytest.approx([3 / 1.14] * 3)
    alone, starts = sibling_exec({"gil_switch_ms": 5.0}, 1.0)
    assert alone == pytest.approx([1.0] * 3)
    assert [s - starts[0] for s in starts] == pytest.approx([0.0, 1.0, 2.0])


def test_long_siblings_start_a_switch_interval_apart_then_share() -> None:
    times, starts = sibling_exec({"gil_switch_ms": 5.0}, 100.0)
    assert [s - starts[0] for s in starts] == pytest.approx([0.0, 5.0, 10.0])
    assert min(times) > 200.0  # still shared: 300 ms of work on 1.14 vCPUs


def test_dispatch_step_staggers_tiny_siblings() -> None:
    _, starts = sibling_exec({"task_dispatch_ms": 0.5, "gil_switch_ms": 5.0}, 0.1)
    assert [s - starts[0] for s in starts] == pytest.approx([0.0, 0.5, 1.0])


def test_siblings_that_release_the_gil_overlap() -> None:
    # 3 ms numpy-like calls: with the GIL held they would run one after another; released, they start
    # together and share the 1.14 vCPUs (as measured: concurrency 2-3).
    wf = workflow([("a", "b1"), ("a", "b2"), ("a", "b3")], runtime_ms=3.0)
    p = plan(wf, {t: "w1" for t in wf.graph})
    models = simple_models()
    models.exec["b"] = ExecModel(a=1.0, b=0.0, c=0.0, holds_gil=False)
    r = Simulation(p, replace(SHARING, gil_switch_ms=5.0), models).run()
    assert [r.traces[t].exec_ms for t in ("b1", "b2", "b3")] == pytest.approx([9 / 1.14] * 3)


def gil_hold_starts(gil_hold: float) -> tuple[list[float], list[float]]:
    """Exec times and starts of three 100 ms siblings whose function keeps the GIL for ``gil_hold`` of
    each call (ExecModel.gil_hold), the switch interval 5 ms."""
    wf = workflow([("a", "b1"), ("a", "b2"), ("a", "b3")], runtime_ms=100.0)
    p = plan(wf, {t: "w1" for t in wf.graph})
    models = simple_models()
    models.exec["b"] = ExecModel(a=1.0, b=0.0, c=0.0, gil_hold=gil_hold)
    r = Simulation(p, replace(SHARING, gil_switch_ms=5.0), models).run()
    tr = [r.traces[t] for t in ("b1", "b2", "b3")]
    return [t.exec_ms for t in tr], sorted(t.exec_end_ms - t.exec_ms for t in tr)


def test_siblings_wait_the_part_of_a_call_that_keeps_the_gil() -> None:
    # Held for the whole call (long C calls, word counting): each sibling starts when the one before
    # ends and takes its own 100 ms, instead of three 263 ms shared runs.
    times, starts = gil_hold_starts(1.0)
    assert [s - starts[0] for s in starts] == pytest.approx([0.0, 100.0, 200.0])
    assert times == pytest.approx([100.0] * 3)
    # Held for half of it: 50 ms apart, then shared.
    times, starts = gil_hold_starts(0.5)
    assert [s - starts[0] for s in starts] == pytest.approx([0.0, 50.0, 100.0])
    assert 100.0 < min(times) and max(times) < 300.0
    # Not measured: the switch interval, as before.
    _, starts = gil_hold_starts(0.0)
    assert [s - starts[0] for s in starts] == pytest.approx([0.0, 5.0, 10.0])


def pickling_traces(load: float, dump: float, sharing: bool = False) -> dict:
    """a -> b, each 100 ms on its own planned 1024 MB worker (0.57 vCPUs), 1 MB outputs (1000 ms to
    move at 1000 bytes/ms), with (un)pickling costing ``load`` / ``dump`` CPU ms per MB."""
    wf = workflow([("a", "b")], out=1_000_000)
    p = plan(wf, {"a": "w1", "b": "w2"}, memory=1024)
    platform = replace(SHARING if sharing else SIMPLE, load_ms_per_mb=load, dump_ms_per_mb=dump)
    return Simulation(p, platform, simple_models()).run().traces


def test_values_cost_their_pickling_outside_the_transfers_and_the_call() -> None:
    base, got = pickling_traces(0.0, 0.0), pickling_traces(1.5, 2.0)
    dump, load = 2.0 / 0.57, 1.5 / 0.57  # 1 MB each way, stretched by the 0.57-CPU container
    a, b = got["a"], got["b"]
    # a: the call, its output's dump, then the upload; the recorded times stay the call's and the upload's
    assert a.exec_ms == pytest.approx(100.0) and a.upload_ms == pytest.approx(1000.0)
    assert a.end_ms - a.exec_end_ms - a.upload_ms == pytest.approx(dump)
    # b: its download, the value's load, then the call
    assert b.download_ms == pytest.approx(1000.0) and b.exec_ms == pytest.approx(100.0)
    assert b.exec_end_ms - b.exec_ms - b.start_ms - b.download_ms == pytest.approx(load)
    # the run is longer by a's dump, b's load and b's dump, and by nothing else
    end = max(t.end_ms for t in got.values()) - max(t.end_ms for t in base.values())
    assert end == pytest.approx(2 * dump + load)


def test_on_a_shared_cpu_the_dump_follows_the_call_and_the_exec_stays_the_calls() -> None:
    a = pickling_traces(0.0, 2.0, sharing=True)["a"]
    assert a.exec_ms == pytest.approx(100.0)
    assert a.end_ms - a.exec_end_ms - a.upload_ms == pytest.approx(2.0 / 0.57)  # alone on its CPU


def test_a_values_unpickling_holds_no_share_of_the_bandwidth() -> None:
    """With a bandwidth cap, the transfers in flight share it. b's value (1 MB) is unpickled for 1.75 s
    after its download ends (1000 ms per MB on 0.57 vCPUs), while d uploads its 1 MB output: unpickling
    is CPU work, not a transfer, and must not take a share of the cap (d's upload took 2000 ms)."""
    wf = workflow([("a", "b"), ("d", "c")], out=1_000_000)
    wf.task("b").output_bytes = wf.task("c").output_bytes = 1000  # (the sinks' own uploads: 1 ms)
    wf.task("d").runtime_ms = 2189.0  # d's upload starts at 2300, after b's download (1232-2232)
    p = plan(wf, {"a": "w1", "b": "w2", "d": "w3", "c": "w4"}, memory=1024)
    capped = replace(SIMPLE, bandwidth_cap_bytes_per_ms=1000.0)  # one transfer at a time at full speed
    for load in (0.0, 1000.0):
        tr = Simulation(p, replace(capped, load_ms_per_mb=load), simple_models()).run().traces
        assert tr["b"].download_ms == pytest.approx(1000.0)
        assert tr["d"].upload_ms == pytest.approx(1000.0), f"load_ms_per_mb={load}"
