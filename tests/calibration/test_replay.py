"""Trace replay: the simulation's mechanics, and a fit on one development trace."""

from __future__ import annotations

import pytest

from calibration.replay import PLAIN, fit_replay, params_for, replay
from calibration.traces import Trace, TraceTask, load_trace
from sim.models.performance import PerformanceModels, ReplayParams


def fork_join(n: int, cores: int, runtime: float = 10.0) -> Trace:
    tasks = [TraceTask("src", "src", 1.0, 0, 100, "m")]
    for i in range(n):
        tasks.append(TraceTask(f"w{i}", "work", runtime, 100, 100, "m", parents=[0]))
    tasks.append(TraceTask("sink", "sink", 1.0, 100 * n, 10, "m", parents=list(range(1, n + 1))))
    for i, t in enumerate(tasks):
        for p in t.parents:
            tasks[p].children.append(i)
    return Trace("fj", "fj-1.json", "test", "test/fj", tasks, {"m": cores}, None)


def test_plain_replay_is_list_scheduling() -> None:
    assert replay(fork_join(8, 8)) == pytest.approx(12.0)
    assert replay(fork_join(8, 4)) == pytest.approx(22.0)  # two waves
    assert replay(fork_join(8, 1)) == pytest.approx(82.0)


def test_each_cost_lengthens_the_makespan() -> None:
    t = fork_join(20, 4)
    base = replay(t)
    for kw in (
        {"dispatch_s": 1},
        {"queue_dispatch_s": 0.01},
        {"machine_dispatch_s": 1},
        {"overhead_s": 1},
        {"slot_hold_s": 1},
        {"ready_delay_s": 1},
        {"staging_bytes_per_s": 100},
        {"shared_bytes_per_s": 100},
        {"fixed_s": 1},
    ):
        assert replay(t, ReplayParams(**kw)) > base, kw
    assert replay(t, ReplayParams(fixed_s=5)) == pytest.approx(base + 5)
    assert replay(t, ReplayParams(ready_delay_s=2)) == pytest.approx(base + 4)


def test_fit_recovers_a_known_platform() -> None:
    truth = ReplayParams(overhead_s=3.0, fixed_s=30.0)
    traces = [fork_join(n, 4) for n in (4, 8, 16, 32)]
    for t in traces:
        t.makespan_s = replay(t, truth)
    fitted = fit_replay(traces, effort=1.0)
    assert fitted.fit.mape < 0.03
    other = fork_join(24, 4)
    assert replay(other, fitted) == pytest.approx(replay(other, truth), rel=0.05)


def test_parameters_lookup_order(hello_trace) -> None:
    trace = load_trace(hello_trace)
    m = PerformanceModels()
    assert params_for(m, trace) == ("none", PLAIN)
    m.replay["*"] = ReplayParams(fixed_s=1)
    m.replay["pegasus"] = ReplayParams(fixed_s=2)
    assert params_for(m, trace)[0] == "pegasus"
    m.replay["pegasus/helloworld"] = ReplayParams(fixed_s=3)
    assert params_for(m, trace)[0] == "pegasus/helloworld"


def test_fit_on_a_development_trace(hello_trace) -> None:
    trace = load_trace(hello_trace)
    plain = replay(trace)
    assert plain < trace.makespan_s * 0.9  # runtimes alone miss the recorded makespan
    params = fit_replay([trace], effort=0.5)
    assert abs(replay(trace, params) - trace.makespan_s) / trace.makespan_s < 0.02
