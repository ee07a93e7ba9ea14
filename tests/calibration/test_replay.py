"""Trace replay: the simulation's mechanics, and a fit on one development trace."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from calibration.replay import (
    _NEUTRAL,
    BYTE_MIN_SHARE,
    PARAM_NAMES,
    PLAIN,
    best_fixed_s,
    bytes_track_tasks,
    cross_app_priors,
    fit_replay,
    fit_replay_groups,
    machine_scales,
    mape,
    params_for,
    replay,
    usual_cores,
)
from calibration.traces import Trace, TraceTask, load_trace
from sim.models.performance import FitInfo, PerformanceModels, ReplayParams


def fork_join(n: int, cores: int, runtime: float = 10.0, nbytes: int = 100) -> Trace:
    tasks = [TraceTask("src", "src", 1.0, 0, 100, "m")]
    for i in range(n):
        tasks.append(TraceTask(f"w{i}", "work", runtime, nbytes, nbytes, "m", parents=[0]))
    tasks.append(TraceTask("sink", "sink", 1.0, 100 * n, 10, "m", parents=list(range(1, n + 1))))
    for i, t in enumerate(tasks):
        for p in t.parents:
            tasks[p].children.append(i)
    return Trace("fj", "fj-1.json", "test", "test/fj", tasks, {"m": cores}, None)


def bag(n: int, cores: int, nbytes: int, runtime: float = 10.0) -> Trace:
    """``n`` independent tasks that each read and write ``nbytes``: bytes per task the same at any ``n``."""
    tasks = [TraceTask(f"t{i}", "work", runtime, nbytes, nbytes, "m") for i in range(n)]
    return Trace("bag", "bag-1.json", "test", "test/bag", tasks, {"m": cores}, None)


def spread(n: int, machines: dict[str, int], runtime: float = 10.0) -> Trace:
    """``n`` independent tasks dealt round-robin over ``machines`` (name -> cores)."""
    names = list(machines)
    tasks = [TraceTask(f"t{i}", "work", runtime, 100, 100, names[i % len(names)]) for i in range(n)]
    return Trace("spread", "spread-1.json", "test", "test/spread", tasks, dict(machines), None)


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


def test_collinear_runs_prefer_the_cost_that_scales_with_bytes() -> None:
    """Development runs of one input size (bytes per task fixed) cannot tell a per-task overhead from a
    per-byte staging cost; the truth here is the per-byte one, and the evaluation run has 2.5 times the
    bytes per task (1000genome's 100k -> 250k). The fitter must pick the cost that keeps up."""
    truth = ReplayParams(staging_bytes_per_s=1e6, fixed_s=30.0)  # 20 MB per task: 20 s each
    dev = [bag(n, 4, 10_000_000) for n in (4, 8, 16, 32)]
    for t in dev:
        t.makespan_s = replay(t, truth)
    assert bytes_track_tasks(dev)
    fitted = fit_replay(dev, effort=1.0)
    assert "staging_bytes_per_s" in fitted.fit.notes[0]
    bigger = bag(16, 4, 25_000_000)
    assert replay(bigger, fitted) == pytest.approx(replay(bigger, truth), rel=0.1)


def test_runs_of_varied_bytes_per_task_are_not_collinear() -> None:
    assert not bytes_track_tasks([bag(8, 4, b) for b in (100, 1000, 10_000)])
    assert not bytes_track_tasks([bag(8, 4, 100)])  # one run: nothing to compare


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


def test_excluded_mechanisms_are_never_tried() -> None:
    """A queue-driven platform: fitted with the queue-length term when allowed, without it (at its
    neutral value) when it is excluded."""
    truth = ReplayParams(queue_dispatch_s=0.02, fixed_s=10.0)
    runs = [fork_join(n, 64) for n in (8, 16, 32, 64)]
    for t in runs:
        t.makespan_s = replay(t, truth)
    allowed = fit_replay(runs, effort=1.0)
    assert "queue_dispatch_s" in allowed.fit.notes[0]
    without = fit_replay(runs, effort=0.5, exclude=frozenset({"queue_dispatch_s"}))
    assert "queue_dispatch_s" not in without.fit.notes[0]
    assert without.queue_dispatch_s == pytest.approx(PLAIN.queue_dispatch_s, abs=1e-5)
    assert allowed.fit.mape < without.fit.mape
    with pytest.raises(ValueError, match="unknown replay mechanism.*queue_dispach_s"):
        fit_replay(runs, exclude=frozenset({"queue_dispach_s"}))  # a typo must not exclude nothing


def test_the_fixed_cost_can_compete_with_the_other_mechanisms() -> None:
    """Runs whose makespans grow in proportion to their task count (a release rate, no fixed cost): with
    ``fixed_first=False`` the fixed cost is not among the mechanisms; by default it is fitted first, and
    ends at its floor, so it is not named either; both predict a ten times smaller run."""
    truth = ReplayParams(dispatch_s=2.0)
    runs = [bag(n, 4096, 100, runtime=0.5) for n in (200, 400, 800)]
    for t in runs:
        t.makespan_s = replay(t, truth)
    small = bag(20, 4096, 100, runtime=0.5)
    free = fit_replay(runs, effort=1.0, fixed_first=False)
    assert "fixed_s" not in free.fit.notes[0]
    first = fit_replay(runs, effort=1.0)
    assert "fixed_s" not in first.fit.notes[0]
    assert first.fixed_s == pytest.approx(float(np.exp(_NEUTRAL[PARAM_NAMES.index("fixed_s")])))
    assert replay(small, free) == pytest.approx(replay(small, truth), rel=0.05)
    assert replay(small, first) == pytest.approx(replay(small, truth), rel=0.05)


def test_the_queue_term_is_not_extrapolated_beyond_the_longest_fitted_queue() -> None:
    """A scheduler that slows with its queue up to 66 waiting tasks and no further (``queue_cap``).
    Fitted on runs of up to 66 tasks, the capped fit predicts a four times larger run; uncapped, the
    term keeps growing with the square of the task count and over-predicts it."""
    truth = ReplayParams(queue_dispatch_s=0.05, fixed_s=10.0, queue_cap=66)
    runs = [fork_join(n, 512) for n in (8, 16, 32, 64)]
    for t in runs:
        t.makespan_s = replay(t, truth)
    capped = fit_replay(runs, effort=1.0)  # the default
    assert capped.queue_cap == 66  # the largest run's task count
    uncapped = fit_replay(runs, effort=1.0, cap_queue=False)
    assert uncapped.queue_cap == 0
    big = fork_join(256, 512)
    assert replay(big, capped) == pytest.approx(replay(big, truth), rel=0.1)
    assert replay(big, uncapped) > 1.5 * replay(big, truth)


def test_per_machine_costs_scale_with_the_machines_cores() -> None:
    """``ref_cores``: a machine with twice the cores pays half the per-machine costs; a machine of the
    reference size, or a trace whose machines' cores are unknown, pays them unscaled."""
    assert machine_scales([48, 96, 24, 0], 48.0) == [1.0, 0.5, 2.0, 1.0]
    assert machine_scales([48, 96], 0.0) == [1.0, 1.0]  # no reference: no scaling
    t = spread(32, {"a": 8})
    for kw in ({"slot_hold_s": 5.0}, {"overhead_s": 5.0}, {"machine_dispatch_s": 2.0}):
        same = replay(t, ReplayParams(**kw, ref_cores=8))
        assert same == pytest.approx(replay(t, ReplayParams(**kw))), kw
        assert replay(t, ReplayParams(**kw, ref_cores=4)) < same, kw  # an 8-core machine, costs of 4 cores
    assert usual_cores([spread(4, {"a": 4, "b": 4}), spread(4, {"c": 8})]) == 4
    assert usual_cores([spread(4, {"a": 4}), spread(4, {"c": 8})]) == 4  # a tie: the smaller


def test_a_fit_on_the_usual_machines_extrapolates_to_a_bigger_machine_type() -> None:
    """The truth: a slot held 20 s after each task on a 4-core machine, 10 s on an 8-core one (its
    per-job work is twice as fast). Fitted on three runs on 4-core machines and one on an 8-core one,
    the fit (reference: 4 cores, the usual machine) predicts a run on two 8-core machines; with the
    costs the same on every machine (``scale_cores=False``) it over-predicts that run."""
    truth = ReplayParams(slot_hold_s=20.0, fixed_s=30.0, ref_cores=4)
    runs = [spread(n, {"a": 4, "b": 4}) for n in (16, 32, 64)] + [spread(48, {"c": 8})]
    for t in runs:
        t.makespan_s = replay(t, truth)
    scaled = fit_replay(runs, effort=1.0)
    assert scaled.ref_cores == 4
    assert scaled.fit.mape < 0.03
    flat = fit_replay(runs, effort=1.0, scale_cores=False)
    assert flat.ref_cores == 0
    big = spread(128, {"c": 8, "d": 8})
    assert replay(big, scaled) == pytest.approx(replay(big, truth), rel=0.05)
    assert replay(big, flat) > 1.15 * replay(big, truth)


def test_a_machine_without_a_core_count_is_one_slot_and_never_scaled() -> None:
    """WfFormat makes ``cpu.coreCount`` optional: such a machine runs one task at a time, and its
    per-machine costs are left as fitted (scaling them by ``ref_cores / 1`` would charge a 48-core fit's
    costs 48 times over)."""
    from dataclasses import replace as dc_replace

    from calibration.traces import _core_count

    assert _core_count({"cpu": {"coreCount": 48}}) == 48
    assert _core_count({"cpu": {}}) is None and _core_count({"cores": float("nan")}) is None
    # a negative count is as unusable (it was "1 core", so a 48-core fit scaled that machine 48x)
    assert _core_count({"cpu": {"coreCount": -4}}) is None and _core_count({"cores": 0.5}) is None
    unknown = dc_replace(spread(8, {"a": 1}), unknown_cores=frozenset({"a"}))
    known = spread(8, {"a": 1})
    fitted_on_4 = ReplayParams(slot_hold_s=5.0, ref_cores=4)
    assert replay(unknown, fitted_on_4) == pytest.approx(replay(unknown, ReplayParams(slot_hold_s=5.0)))
    assert replay(known, fitted_on_4) > replay(known, ReplayParams(slot_hold_s=5.0))  # a real 1-core machine
    assert usual_cores([unknown, spread(4, {"b": 8})]) == 8


def test_best_fixed_cost_is_the_clamped_weighted_median() -> None:
    residual = np.array([5.0, 1.0, 3.0, 100.0])
    assert best_fixed_s(residual, np.ones(4), 0.0, 1e9) in (3.0, 5.0)  # any point between the middle two
    assert best_fixed_s(residual, np.array([1.0, 1.0, 1.0, 10.0]), 0.0, 1e9) == 100.0  # one heavy run
    assert best_fixed_s(residual, np.ones(4), 0.0, 2.0) == 2.0  # the bound holds
    assert best_fixed_s(residual, np.ones(4), 10.0, 1e9) == 10.0


def test_the_fixed_cost_never_exceeds_a_runs_unexplained_time() -> None:
    """Runs of a narrow size range whose makespans do not grow monotonically (as seismology's four largest
    development runs): unbounded, the fixed cost alone fits them, larger than the smallest run's time
    beyond its runtimes, and a run of a tenth of their size is predicted to take as long as they do."""
    runs = [fork_join(n, 64) for n in (30, 32, 34, 36)]
    for t, makespan in zip(runs, (75.0, 70.0, 80.0, 77.0), strict=True):
        t.makespan_s = makespan
    room = min(t.makespan_s - replay(t) for t in runs)
    bounded = fit_replay(runs, effort=1.0)
    unbounded = fit_replay(runs, effort=1.0, bound_fixed=False)
    assert unbounded.fixed_s > room
    assert bounded.fixed_s <= room
    small = fork_join(3, 64)
    assert replay(small, bounded) < replay(small, unbounded)


@pytest.mark.parametrize("fixed_first", [True, False])
@pytest.mark.parametrize("byte_min_share", [BYTE_MIN_SHARE, 0.99])
def test_the_fit_reports_what_its_returned_parameters_do(fixed_first, byte_min_share) -> None:
    """The MAPE and mechanisms a fit reports are those of the parameters it returns, and every mechanism
    it does not name is at its no-cost value. ``byte_min_share=0.99`` makes the chosen per-byte cost
    'idle' after the polish, so its pruning (back to neutral, the fixed cost profiled again) is covered."""
    truth = ReplayParams(staging_bytes_per_s=1e6, overhead_s=2.0, fixed_s=30.0)
    runs = [bag(n, 4, b) for n, b in ((4, 10_000_000), (8, 1_000), (16, 5_000_000), (32, 100))]
    for t in runs:
        t.makespan_s = replay(t, truth)
    fitted = fit_replay(runs, effort=0.3, fixed_first=fixed_first, byte_min_share=byte_min_share)
    assert fitted.fit.mape == pytest.approx(mape(runs, fitted), abs=1e-12)
    named = set(fitted.fit.notes[0].split(": ", 1)[1].split(", "))
    for name, neutral in zip(PARAM_NAMES, np.exp(_NEUTRAL), strict=True):
        if name not in named:
            assert getattr(fitted, name) == pytest.approx(neutral), name
    if byte_min_share > 0.5:
        assert not named & {"staging_bytes_per_s", "shared_bytes_per_s"}


def test_a_run_faster_than_its_plain_replay_does_not_pin_the_fixed_cost() -> None:
    """makeflow/blast has a run 79 s below its plain replay: it bounds nothing (the replay cannot explain
    it at any cost), so the others' room bounds the fixed cost, not the floor."""
    truth = ReplayParams(overhead_s=1.0, fixed_s=30.0)
    runs = [fork_join(n, 4) for n in (4, 8, 16, 32)]
    for t in runs:
        t.makespan_s = replay(t, truth)
    odd = fork_join(12, 4)
    odd.makespan_s = 0.8 * replay(odd)  # faster than runtimes alone
    fitted = fit_replay([*runs, odd], effort=1.0)
    assert fitted.fixed_s > 10.0
    assert fitted.fixed_s <= min(t.makespan_s - replay(t) for t in runs)


def test_a_fixed_cost_at_its_floor_is_not_reported_as_a_mechanism() -> None:
    """Runs the plain replay already over-predicts leave the profiled fixed cost at its floor: the fit
    names no fixed cost, returns its no-cost value, and reports the MAPE of what it returns."""
    runs = [fork_join(n, 4) for n in (4, 8, 16)]
    for t in runs:
        t.makespan_s = 0.9 * replay(t)
    fitted = fit_replay(runs, effort=0.3)
    assert "fixed_s" not in fitted.fit.notes[0]
    assert fitted.fixed_s == pytest.approx(float(np.exp(_NEUTRAL[PARAM_NAMES.index("fixed_s")])))
    assert fitted.fit.mape == pytest.approx(mape(runs, fitted), abs=1e-12)


def _noisy_fork_joins() -> list[Trace]:
    """Runs of a known platform (a per-job overhead and a fixed cost) with +-3-5% of noise on each
    makespan: what a third mechanism could fit is that noise, not the platform."""
    truth = ReplayParams(overhead_s=3.0, fixed_s=30.0)
    runs = [fork_join(n, 4) for n in (4, 8, 12, 16, 24, 32)]
    for t, noise in zip(runs, (1.04, 0.96, 1.03, 0.97, 1.05, 0.95), strict=True):
        t.makespan_s = replay(t, truth) * noise
    return runs


def _mechanisms(p: ReplayParams) -> list[str]:
    return p.fit.notes[0].split(": ", 1)[1].split(", ")


def test_shrinkage_pulls_a_mechanism_toward_its_prior() -> None:
    """Exact runs of a 3 s overhead: unpulled the fit finds 3 s; pulled hard toward a prior of 5 s it
    returns about 5 s (the prior wins where the penalty outweighs the MAPE)."""
    truth = ReplayParams(overhead_s=3.0, fixed_s=30.0)
    runs = [fork_join(n, 4) for n in (4, 8, 16, 32)]
    for t in runs:
        t.makespan_s = replay(t, truth)
    prior = np.full(len(PARAM_NAMES), np.nan)
    prior[PARAM_NAMES.index("overhead_s")] = np.log(5.0)
    free = fit_replay(runs, effort=1.0, exclude=frozenset(PARAM_NAMES) - {"overhead_s", "fixed_s"})
    pulled = fit_replay(
        runs,
        effort=1.0,
        exclude=frozenset(PARAM_NAMES) - {"overhead_s", "fixed_s"},
        prior=prior,
        shrink=1e3,
    )
    assert free.overhead_s == pytest.approx(3.0, rel=0.05)
    assert pulled.overhead_s == pytest.approx(5.0, rel=0.1)


def test_cross_application_priors_leave_the_application_out() -> None:
    def fitted(samples: int, **kw) -> ReplayParams:
        p = ReplayParams(**{**dict(zip(PARAM_NAMES, np.exp(_NEUTRAL), strict=True)), **kw})
        p.fit = FitInfo(samples=samples)
        return p

    fits = {
        "a/x": fitted(5, slot_hold_s=100.0),
        "a/y": fitted(5, slot_hold_s=400.0),
        "a/z": fitted(5, slot_hold_s=1600.0, overhead_s=2.0),
        "a/one": fitted(1, slot_hold_s=1e6),  # one run: its fit is no evidence
    }
    priors = cross_app_priors(fits)
    hold, over = PARAM_NAMES.index("slot_hold_s"), PARAM_NAMES.index("overhead_s")
    assert np.exp(priors["a/x"][hold]) == pytest.approx(800.0)  # median of 400 and 1600
    assert np.exp(priors["a/one"][hold]) == pytest.approx(400.0)
    assert np.exp(priors["a/x"][over]) == pytest.approx(2.0)
    assert np.isnan(priors["a/z"][over])  # no other application uses it
    assert np.isnan(priors["a/x"][PARAM_NAMES.index("dispatch_s")])


# fits that may use only the overhead and the fixed cost
ONLY_OVERHEAD = {"exclude": frozenset(PARAM_NAMES) - {"overhead_s", "fixed_s"}, "effort": 1.0}


def three_apps() -> list[Trace]:
    """Exact fork-join runs of three applications: test/a and test/b of a 5 s overhead, test/c of 3 s."""
    runs = []
    for app, overhead in (("test/a", 5.0), ("test/b", 5.0), ("test/c", 3.0)):
        for n in (4, 8, 16, 32):
            t = fork_join(n, 4)
            t.application = app
            t.makespan_s = replay(t, ReplayParams(overhead_s=overhead, fixed_s=30.0))
            runs.append(t)
    return runs


def test_grouped_fits_pull_each_application_toward_the_others() -> None:
    """Two applications of a 5 s overhead and one of 3 s: fitted alone, the third finds 3 s; with a
    strong pull (two stages, the prior from the other two only) it moves to about 5 s, and the first
    moves to the median of the other two's log-overheads, sqrt(5 * 3) s."""
    runs = three_apps()
    alone = fit_replay_groups(runs, pooled=False, **ONLY_OVERHEAD)
    pulled = fit_replay_groups(runs, pooled=False, shrink=1e3, **ONLY_OVERHEAD)
    assert alone["test/c"].overhead_s == pytest.approx(3.0, rel=0.05)
    assert pulled["test/c"].overhead_s == pytest.approx(5.0, rel=0.1)
    assert pulled["test/a"].overhead_s == pytest.approx(15**0.5, rel=0.05)


def test_a_blended_replay_is_the_mean_of_its_two_fits() -> None:
    """A set with a blend predicts the mean of the two sets' makespans, and keeps its blend through the
    models file."""
    t = fork_join(16, 4)
    own, other = ReplayParams(overhead_s=1.0, fixed_s=10.0), ReplayParams(overhead_s=5.0, fixed_s=10.0)
    mixed = ReplayParams(overhead_s=1.0, fixed_s=10.0, blend=other)
    assert replay(t, mixed) == pytest.approx((replay(t, own) + replay(t, other)) / 2)
    assert replay(t, own) < replay(t, mixed) < replay(t, other)
    back = PerformanceModels.from_json(PerformanceModels(replay={"test/fj": mixed}).to_json())
    assert back.replay["test/fj"].blend.overhead_s == pytest.approx(5.0)
    assert replay(t, back.replay["test/fj"]) == pytest.approx(replay(t, mixed))


def test_grouped_fits_blend_each_application_with_its_pulled_fit() -> None:
    """The three applications of the shrinkage test (5, 5 and 3 s overheads): with ``blend`` the third
    keeps its own 3 s fit, its blend is the fit pulled to about 5 s, and it predicts the mean of the two;
    an application alone (no other to borrow from) gets no blend."""
    runs = three_apps()
    fits = fit_replay_groups(runs, pooled=False, blend=1e3, **ONLY_OVERHEAD)
    c = fits["test/c"]
    assert c.overhead_s == pytest.approx(3.0, rel=0.05)
    assert c.blend is not None and c.blend.overhead_s == pytest.approx(5.0, rel=0.1)
    probe = fork_join(24, 4)
    alone = replace(c, blend=None)
    assert replay(probe, c) == pytest.approx((replay(probe, c.blend) + replay(probe, alone)) / 2)
    lone = fit_replay_groups(
        [t for t in runs if t.application == "test/c"], pooled=False, blend=1e3, **ONLY_OVERHEAD
    )
    assert lone["test/c"].blend is None
    assert fit_replay_groups(runs, pooled=False, **ONLY_OVERHEAD)["test/c"].blend is not None  # the default
    assert fit_replay_groups(runs, pooled=False, blend=0.0, **ONLY_OVERHEAD)["test/c"].blend is None
