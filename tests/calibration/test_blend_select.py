"""The per-application choice between the own replay fit and the blend (calibration.blend_select)."""

from __future__ import annotations

from calibration.blend_select import interleaved_folds, own_is_better
from calibration.replay import fit_replay_groups, replay
from calibration.traces import Trace
from sim.models.performance import ReplayParams
from tests.calibration.test_replay import ONLY_OVERHEAD, fork_join, three_apps


def test_the_one_standard_error_rule() -> None:
    """The own fit wins only when it is better by more than one standard error of the differences."""
    assert own_is_better([0.1, 0.1, 0.1], [0.2, 0.21, 0.19])  # consistently better
    assert not own_is_better([0.1, 0.3, 0.1], [0.3, 0.1, 0.2])  # better on average, not beyond the noise
    assert not own_is_better([0.2, 0.2], [0.1, 0.1])  # worse
    assert not own_is_better([0.1], [0.5])  # one run tells nothing


def test_interleaved_folds_hold_every_run_out_once() -> None:
    runs = three_apps()[:4]
    for i, t in enumerate(runs):
        t.path = f"run-{i}"
    folds = interleaved_folds(runs, 3)
    assert sorted(t.path for _, held in folds for t in held) == [f"run-{i}" for i in range(4)]
    assert all(not set(map(id, fitted)) & set(map(id, held)) for fitted, held in folds)


def _runs(c_overhead: float, c_noise: float) -> list[Trace]:
    """Fork-join runs of 4 to 32 tasks of three applications: test/a and test/b of a 5 s overhead recorded
    exactly, test/c of ``c_overhead`` with makespans ``c_noise`` off in alternating directions."""
    runs = []
    for app, overhead in (("test/a", 5.0), ("test/b", 5.0), ("test/c", c_overhead)):
        for j, n in enumerate((4, 6, 8, 12, 16, 24, 32)):
            t = fork_join(n, 4)
            t.application, t.path = app, f"{app}-{n:03d}"
            noise = (1 + c_noise if j % 2 else 1 - c_noise) if app == "test/c" else 1.0
            t.makespan_s = replay(t, ReplayParams(overhead_s=overhead, fixed_s=30.0)) * noise
            runs.append(t)
    return runs


def test_exact_runs_keep_their_own_fit_noisy_ones_the_blend() -> None:
    """Recorded exactly (5, 5 and 3 s overheads), each own fit predicts its held-out runs without error
    and the blend, pulled toward the others, cannot: every blend is dropped (the default keeps them).
    When test/c is of 5 s too but its makespans are 20% off in alternating directions, its own fit
    chases the noise and the inner CV cannot tell the two apart: it keeps the blend, the default."""
    exact = _runs(3.0, 0.0)
    fits = fit_replay_groups(exact, pooled=False, blend=1e3, blend_select=4, **ONLY_OVERHEAD)
    assert all(f.blend is None for f in fits.values())
    assert fits["test/c"].fit.notes[-1].endswith("own kept")
    without = fit_replay_groups(exact, pooled=False, blend=1e3, **ONLY_OVERHEAD)
    assert all(f.blend is not None for f in without.values())
    noisy = fit_replay_groups(_runs(5.0, 0.2), pooled=False, blend=1e3, blend_select=4, **ONLY_OVERHEAD)
    assert noisy["test/c"].blend is not None
    assert noisy["test/c"].fit.notes[-1].endswith("blend kept")
