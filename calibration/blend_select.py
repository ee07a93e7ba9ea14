"""Per application, whether its replay fit should be blended: nested cross-validation on its own runs.

:func:`calibration.replay.fit_replay_groups` blends each application's own fit with a second fit pulled
toward the other applications' median parameters (``ReplayParams.blend``: the replay predicts the mean
of the two makespans). On average over applications the blend helps, but not for every one: an
application whose runs are well explained by its own byte rates and per-job costs (1000genome, cycles)
predicts its larger runs better alone. Which kind an application is can be asked of its own runs:
:func:`select_blends` splits them into ``folds`` interleaved folds, fits both sets on the other folds
and predicts each held-out run with the own fit alone and with the blend. The blend is dropped only when
the own fit is better by more than one standard error of the per-run differences (the one-standard-error
rule of cross-validation, Hastie, Tibshirani & Friedman 2009, 7.10): with a handful of runs an inner CV
that cannot tell the two apart keeps the default. Applications with fewer than
:data:`SELECT_MIN_RUNS` runs are not tested (a fit on two runs says nothing about a third).

Not the default (``blend_select=0``): on the WfInstances development files (benchmarks/cv_replay.py,
variants ``select4`` and ``select4p``) it kept every blend when holding out the smallest or the largest
third, so the two applications whose own fits extrapolate better (1000genome, cycles) keep losing
there: their inner CV, on the smaller runs, cannot tell (1000genome own 21.4%, blend 21.4%) or prefers
the blend (cycles own 12.0%, blend 10.3%). Letting the pulled fit alone compete (``select4p``) moved
the largest third 26.7 -> 26.2% (seismology better, 1000genome worse).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from calibration.trace_sources import is_incomplete
from calibration.traces import Trace
from sim.models.performance import ReplayParams

SELECT_MIN_RUNS = 4
AGREE = 0.01


def interleaved_folds(runs: Sequence[Trace], k: int) -> list[tuple[list[Trace], list[Trace]]]:
    """(fitted, held-out) pairs of ``k`` folds interleaved by file name (each run held out once)."""
    ordered = sorted(runs, key=lambda t: str(t.path))
    held = [ordered[i::k] for i in range(min(k, len(ordered)))]
    return [([t for t in ordered if t not in h], h) for h in held if h]


def own_is_better(own_errors: Sequence[float], blend_errors: Sequence[float]) -> bool:
    """True when the held-out errors ``own_errors`` (of a set without the blend) are lower than the blend's by more than one standard
    error of the paired differences (at least two runs; ties and noise keep the blend)."""
    d = np.asarray(blend_errors, dtype=float) - np.asarray(own_errors, dtype=float)
    if len(d) < 2:
        return False
    se = float(np.std(d, ddof=1)) / math.sqrt(len(d))
    return float(np.mean(d)) > se


def _agree(runs: Sequence[Trace], fit: ReplayParams) -> bool:
    """True when the own fit and its blend predict every one of ``runs`` within :data:`AGREE` of each
    other (where the other applications' values pull nothing, the two fits end up the same): the inner
    CV, which costs ``2 * folds`` fits, is then not run and the blend stays. An approximation: two fits
    that agree on the fitted runs may part beyond them (cycles' larger-third training runs; its inner
    CV, run anyway, kept the blend too)."""
    from calibration.replay import replay  # not at the top: replay imports this module

    alone = replace(fit, blend=None)
    return all(abs(replay(t, alone) - replay(t, fit.blend)) <= AGREE * replay(t, alone) for t in runs)


def select_blends(
    groups: dict[str, list[Trace]],
    fits: dict[str, ReplayParams],
    own_kwargs: dict,
    pulled_kwargs: dict[str, dict],
    folds: int,
    workers: int = 1,
    candidates: tuple[str, ...] = ("own",),
) -> None:
    """Replaces, in ``fits``, the blended set of every application in ``pulled_kwargs`` (its pulled
    fit's keyword arguments; ``own_kwargs`` those of its own fit) by one of ``candidates`` (``own``: the
    own fit alone; ``pulled``: the pulled fit alone) when its inner ``folds``-fold CV finds that one
    better than the blend by more than one standard error (:func:`own_is_better`; the best such one);
    each tested set's notes say what its inner CV measured and which was kept."""
    from calibration.replay import _fit_all, mape, replay  # not at the top: replay imports this module

    plan = {
        app: interleaved_folds(groups[app], folds)
        for app in pulled_kwargs
        if app in fits
        and fits[app].blend is not None
        and len(groups[app]) >= SELECT_MIN_RUNS
        and not _agree(groups[app], fits[app])
    }
    jobs = [
        (f"{app}\t{i}\t{which}", fitted, own_kwargs if which == "own" else pulled_kwargs[app])
        for app, pairs in plan.items()
        for i, (fitted, _) in enumerate(pairs)
        for which in ("own", "pulled")
    ]
    inner = dict(_fit_all(jobs, workers))
    for app, pairs in plan.items():
        errors: dict[str, list[float]] = {"own": [], "blend": [], "pulled": []}
        for i, (_, held) in enumerate(pairs):
            own, pulled = inner[f"{app}\t{i}\town"], inner[f"{app}\t{i}\tpulled"]
            # the fits leave incomplete runs out, and so does the score
            for t in (t for t in held if t.makespan_s and not is_incomplete(t)):
                a, b = replay(t, own), replay(t, pulled)
                for which, pred in (("own", a), ("blend", (a + b) / 2), ("pulled", b)):
                    errors[which].append(abs(pred - t.makespan_s) / t.makespan_s)
        if not errors["own"]:
            continue
        fit = fits[app]
        better = [c for c in candidates if own_is_better(errors[c], errors["blend"])]
        choice = min(better, key=lambda c: np.mean(errors[c])) if better else "blend"
        measured = ", ".join(f"{c} {np.mean(errors[c]):.1%}" for c in ("blend", *candidates))
        note = f"inner {len(pairs)}-fold CV: {measured}: {choice} kept"
        if choice == "own":
            fit.blend = None
        elif choice == "pulled":  # the pulled fit alone, with its own fit notes (its mechanisms)
            fit = fits[app] = replace(fit.blend, blend=None)
            fit.fit.notes.append("pulled toward other applications (the blend's second fit alone)")
        if choice != "blend":
            fit.fit.notes = [n for n in fit.fit.notes if not n.startswith("blended with")]
            fit.fit.mape = mape(groups[app], fit)
        fit.fit.notes.append(note)
