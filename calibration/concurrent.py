"""Runs recorded while another run shared their machines: left out of a replay fit.

A trace's ``executedAt`` and makespan give the interval it ran in, its machine names where. Two runs of one
application whose intervals overlap on a shared machine slowed each other down by an amount neither trace
records: montage's 2mass development runs started within 7 minutes of each other on one 48-core node and
took 50-190x their plain replay, and a fit that counts them charges that mutual slowdown to every future
run as a platform cost. :func:`fit_runs` leaves such runs out of the *fit* (they are still replayed and
scored as any other); only the runs handed to the fit are compared, so a run held out of a fit never
decides which of the fitted runs count.
"""

from __future__ import annotations

from collections.abc import Sequence

from calibration.traces import Trace

# below this many runs recorded alone, an application fits all its runs: a fit of one or two runs
# identifies none of the per-byte and per-task costs (soykb's development runs all overlap)
MIN_ALONE_RUNS = 3


def concurrent_runs(traces: Sequence[Trace]) -> set[str]:
    """Paths of the runs whose [start, start + makespan] overlaps another of ``traces`` on a machine of
    the same name. A run without a start time or makespan overlaps nothing."""
    spans = [
        (t.path, t.started_s, t.started_s + t.makespan_s, set(t.machines))
        for t in traces
        if t.started_s is not None and t.makespan_s
    ]
    out: set[str] = set()
    for i, (path, start, end, machines) in enumerate(spans):
        for other, o_start, o_end, o_machines in spans[i + 1 :]:
            if start < o_end and o_start < end and machines & o_machines:
                out.update((path, other))
    return out


def fit_runs(traces: Sequence[Trace], min_alone: int = MIN_ALONE_RUNS) -> tuple[list[Trace], list[Trace]]:
    """(runs to fit, runs left out): the runs of ``traces`` that ran alone, when at least ``min_alone``
    did; otherwise all of them and none left out."""
    shared = concurrent_runs(traces)
    alone = [t for t in traces if t.path not in shared]
    if len(alone) < min_alone or not shared:
        return list(traces), []
    return alone, [t for t in traces if t.path in shared]
