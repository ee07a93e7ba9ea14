"""Replay fitting on runs the trace content tells apart: incomplete runs, two input sources, runs
whose bytes are too few for a per-byte cost, and files whose size some runs lost. Synthetic traces with
a known platform (the truth)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from calibration.replay import (
    fit_replay,
    fit_replay_groups,
    group_traces,
    params_for,
    replay,
    unsized_files,
)
from calibration.trace_sources import bytes_per_task, is_incomplete, source_boundary
from calibration.traces import Trace, TraceTask
from sim.models.performance import PerformanceModels, ReplayParams


def bag(n: int, cores: int, nbytes: int, runtime: float = 10.0, name: str = "bag") -> Trace:
    """``n`` independent tasks that each read and write ``nbytes`` on one machine."""
    tasks = [TraceTask(f"t{i}", "work", runtime, nbytes, nbytes, "m") for i in range(n)]
    return Trace(name, f"{name}-{n}-{nbytes}.json", "test", "test/bag", tasks, {"m": cores}, None)


def recorded(traces: list[Trace], truth: ReplayParams) -> list[Trace]:
    for t in traces:
        t.makespan_s = replay(t, truth)
    return traces


def test_a_run_whose_tasks_did_not_all_run_is_left_out() -> None:
    truth = ReplayParams(overhead_s=3.0, fixed_s=30.0)
    runs = recorded([bag(n, 4, 1000) for n in (4, 8, 16, 32)], truth)
    failed = bag(24, 4, 1000)
    failed.tasks.append(TraceTask("never", "work", 0.0, 1000, 1000, None))
    failed.makespan_s = 5 * replay(failed, truth)  # a failure and its retries
    assert is_incomplete(failed) and not any(is_incomplete(t) for t in runs)
    fitted = fit_replay([*runs, failed], effort=1.0)
    assert "left out 1 incomplete run" in " ".join(fitted.fit.notes)
    other = bag(20, 4, 1000)
    assert replay(other, fitted) == pytest.approx(replay(other, truth), rel=0.05)
    # the fit is the one of the complete runs alone; with the failed run it is not
    assert replay(other, fitted) == replay(other, fit_replay(runs, effort=1.0))
    kept = fit_replay([*runs, failed], effort=1.0, skip_incomplete=False)
    assert replay(other, kept) != replay(other, fitted)
    assert fit_replay([failed], effort=0.3).fit.samples == 1  # nothing else: fitted on what there is


def test_traces_without_machines_are_not_judged_incomplete() -> None:
    t = bag(4, 4, 10)
    for task in t.tasks:
        task.machine = None
    t.tasks[0].runtime_s = 0.0
    assert not is_incomplete(t)


def test_two_input_sources_get_their_own_parameters() -> None:
    """Small-grain runs (10 kB per task) pay 20 s per task, coarse ones (10 MB) 2 s: no cost per task or
    per byte fits both; split by bytes per task, each source's new run is predicted within 5%."""
    small, coarse = ReplayParams(overhead_s=20.0, fixed_s=20.0), ReplayParams(overhead_s=2.0, fixed_s=60.0)
    runs = recorded([bag(n, 4, 10_000) for n in (4, 8, 16, 32)], small)
    runs += recorded([bag(n, 4, 10_000_000) for n in (4, 12, 36)], coarse)
    boundary = source_boundary(runs)
    assert boundary is not None and 10_000 * 2 < boundary < 10_000_000 * 2
    groups = group_traces(runs, source_runs=3)
    assert sorted(len(g) for k, g in groups.items() if k.startswith("test/bag@")) == [3, 4]
    models = PerformanceModels(replay=fit_replay_groups(runs, effort=1.0, source_runs=3))
    for nbytes, truth in ((10_000, small), (10_000_000, coarse)):
        new = bag(24, 4, nbytes)
        key, params = params_for(models, new)
        assert key.startswith("test/bag@bytes/task")
        assert replay(new, params) == pytest.approx(replay(new, truth), rel=0.05)
    one = PerformanceModels(replay=fit_replay_groups(runs, effort=1.0))
    new = bag(24, 4, 10_000)
    assert abs(replay(new, params_for(one, new)[1]) / replay(new, small) - 1) > 0.05


def test_no_split_without_a_wide_gap_or_enough_runs_per_side() -> None:
    assert source_boundary([bag(8, 4, b) for b in (100, 200, 300, 350, 390, 400)]) is None
    few = [bag(8, 4, 100), bag(8, 4, 110), bag(8, 4, 120), bag(8, 4, 10**6), bag(8, 4, 2 * 10**6)]
    assert source_boundary(few) is None  # two coarse runs only
    assert source_boundary(few, min_runs=2) == pytest.approx((120 * 2 * 10**6 * 2) ** 0.5, rel=0.01)
    assert bytes_per_task(bag(3, 1, 50)) == 100


def test_a_byte_cost_is_not_preferred_where_runs_move_almost_no_bytes() -> None:
    """Runs of a fixed grain (collinear) but of a few bytes per task: the per-task cost is the truth, and
    a byte-scaled mechanism fitted on them would cost nothing; it must not take the per-task one's place,
    however wide the preference (with byte_min_share=0 both byte mechanisms are chosen, at no cost)."""
    truth = ReplayParams(dispatch_s=2.0, fixed_s=10.0)
    dev = recorded([bag(n, 64, 10, runtime=1.0) for n in (50, 100, 200, 400)], truth)
    fitted = fit_replay(dev, effort=1.0, prefer_bytes_within=1.0)
    assert "bytes" not in fitted.fit.notes[0]
    bigger = bag(800, 64, 10, runtime=1.0)
    assert replay(bigger, fitted) == pytest.approx(replay(bigger, truth), rel=0.1)


def with_database(t: Trace, size: int) -> Trace:
    """``t`` whose tasks each also read file ``db``, recorded at ``size`` bytes (0: the size was lost)."""
    for task in t.tasks:
        task.files = (*task.files, "db")
        task.input_bytes += size
    t.file_sizes["db"] = size
    return t


def test_a_file_sized_in_some_runs_only_is_left_out_of_every_replay() -> None:
    """makeflow/blast's case: every task reads a 5 GB database that 2 of 8 runs record and the others
    record as 0 bytes, with no difference in their makespans. The platform moves 1 MB/s per task
    (truth, without the database); the fit leaves the database out, says so, and predicts a run that
    records it as if it did not."""
    truth = ReplayParams(staging_bytes_per_s=1e6, fixed_s=30.0)
    runs = recorded([bag(n, 4, 10_000_000) for n in (4, 8, 16, 32)], truth)
    for t in runs:
        with_database(t, 5_000_000_000 if len(t.tasks) in (8, 32) else 0)
    assert unsized_files(runs) == ("db",)
    fitted = fit_replay(runs, effort=1.0)
    assert fitted.unsized_files == ("db",)
    assert "left out" in fitted.fit.notes[-1] and "db" in fitted.fit.notes[-1]
    assert fitted.fit.mape < 0.03
    sized = with_database(bag(24, 4, 10_000_000), 5_000_000_000)
    expected = replay(bag(24, 4, 10_000_000), truth)
    assert replay(sized, fitted) == pytest.approx(expected, rel=0.05)
    # counting the database's bytes, the same parameters predict that run several times too long
    assert replay(sized, replace(fitted, unsized_files=())) > 2 * expected


def test_files_recorded_alike_in_every_run_are_kept() -> None:
    truth = ReplayParams(staging_bytes_per_s=1e6, fixed_s=30.0)
    sized = [with_database(bag(n, 4, 1000), 10_000_000) for n in (4, 8, 16)]
    unsized = [with_database(bag(n, 4, 1000), 0) for n in (4, 8, 16)]
    for runs in (sized, unsized):
        recorded(runs, truth)
        assert unsized_files(runs) == ()
        fitted = fit_replay(runs, effort=1.0)
        assert fitted.unsized_files == ()
        assert not any("left out" in n for n in fitted.fit.notes)
    # the grouped fits carry the fitted runs' list; the pooled copy of a lone application too
    mixed = recorded([with_database(bag(n, 4, 1000), s) for n, s in ((4, 0), (8, 10**7), (16, 0))], truth)
    groups = fit_replay_groups(mixed, blend=0.0)
    assert groups["test/bag"].unsized_files == groups["*"].unsized_files == ("db",)
