"""Runs that shared machines with another run at the same time are left out of a replay fit
(calibration.concurrent): read from the traces' executedAt, makespans and machine names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calibration.concurrent import concurrent_runs, fit_runs
from calibration.replay import fit_replay_groups, replay
from calibration.traces import Trace, TraceTask, load_trace, parse_executed_at
from sim.models.performance import ReplayParams


def run(n: int, start_s: float | None, machine: str = "m", name: str = "bag") -> Trace:
    """``n`` independent 10 s tasks on one 4-core machine, started at ``start_s``."""
    tasks = [TraceTask(f"t{i}", "work", 10.0, 1000, 1000, machine) for i in range(n)]
    trace = Trace(name, f"{name}-{n}-{start_s}.json", "test", "test/bag", tasks, {machine: 4}, None)
    trace.started_s = start_s
    return trace


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-12-25T20:10:08+00:00", datetime(2020, 12, 25, 20, 10, 8, tzinfo=UTC)),
        ("20200401T035043+0000", datetime(2020, 4, 1, 3, 50, 43, tzinfo=UTC)),
        ("12-19-20T21:31:53Z", datetime(2020, 12, 19, 21, 31, 53, tzinfo=UTC)),  # Pegasus 5.0
        ("2023-03-21T13:21:06-10:00", datetime(2023, 3, 21, 23, 21, 6, tzinfo=UTC)),
    ],
)
def test_executed_at_in_the_formats_the_traces_use(text: str, expected: datetime) -> None:
    assert parse_executed_at(text) == expected.timestamp()


@pytest.mark.parametrize("text", [None, "", "now", 20200401, "13-45-20T99:00:00Z"])
def test_an_unreadable_executed_at_is_no_start(text: object) -> None:
    assert parse_executed_at(text) is None


def test_a_trace_carries_its_start(wfinstances) -> None:
    path = wfinstances / "pegasus" / "montage" / "montage-chameleon-2mass-01d-001.json.xz"
    assert load_trace(path).started_s == datetime(2021, 3, 23, 5, 57, 15, tzinfo=UTC).timestamp()


def test_overlap_counts_only_on_a_shared_machine_at_the_same_time() -> None:
    a, b = run(4, 0.0), run(8, 50.0)  # a runs 0-100 s, b starts inside it on the same machine
    for t in (a, b):
        t.makespan_s = 100.0
    later = run(16, 150.0)  # starts as b ends
    later.makespan_s = 100.0
    elsewhere = run(12, 10.0, machine="other")
    elsewhere.makespan_s = 100.0
    unknown = run(20, None)
    unknown.makespan_s = 1000.0
    assert concurrent_runs([a, b, later, elsewhere, unknown]) == {a.path, b.path}
    assert concurrent_runs([a, later, elsewhere, unknown]) == set()
    later.started_s = 149.0
    assert concurrent_runs([a, b, later]) == {a.path, b.path, later.path}


def test_too_few_runs_alone_fit_all() -> None:
    runs = [run(n, 0.0) for n in (4, 8, 16)]
    for t in runs:
        t.makespan_s = 100.0
    assert fit_runs(runs) == (runs, [])  # all overlap: nothing alone to fit on
    alone = [run(n, 1000.0 * i) for i, n in enumerate((24, 32, 40), start=1)]
    for t in alone:
        t.makespan_s = 100.0
    assert fit_runs([*runs, *alone]) == (alone, runs)
    assert fit_runs([*runs, *alone], min_alone=4) == ([*runs, *alone], [])


def test_a_fit_without_the_runs_that_slowed_each_other_recovers_the_platform() -> None:
    truth = ReplayParams(overhead_s=3.0, fixed_s=30.0)
    alone = [run(n, 10_000.0 * i) for i, n in enumerate((4, 8, 32), start=1)]
    for t in alone:
        t.makespan_s = replay(t, truth)
    # started together, each 1.5x slower than alone; the majority, they decide a fit of all runs
    crowded = [run(n, 0.0) for n in (6, 12, 16, 20, 24, 28)]
    for t in crowded:
        t.makespan_s = 1.5 * replay(t, truth)
    other = run(20, None)
    kept = fit_replay_groups([*alone, *crowded], pooled=False, blend=0.0, effort=1.0, skip_concurrent=True)
    assert replay(other, kept["test/bag"]) == pytest.approx(replay(other, truth), rel=0.05)
    notes = " ".join(kept["test/bag"].fit.notes)
    assert "left out 6 runs that shared machines" in notes and crowded[0].path in notes
    every = fit_replay_groups([*alone, *crowded], pooled=False, blend=0.0, effort=1.0)
    assert replay(other, every["test/bag"]) > 1.2 * replay(other, truth)
    assert not any("shared machines" in n for n in every["test/bag"].fit.notes)
