"""What in a trace's content tells runs of one application apart, for the replay fitter.

Two facts are read from the trace itself, never from its file name or its place in a data split:

- **Incomplete runs.** When a trace records the machines its tasks ran on but some tasks have neither a
  machine nor a runtime, those tasks never ran (montage-chameleon-2mass-02d: mImgtbl, mAdd and mViewer
  missing, a 7331 s makespan where the twice larger 04d run took 1520 s). Such a makespan measures a
  failure and its retries, not the workflow, so the fitter leaves these runs out (:func:`is_incomplete`).
  Traces that record no machine at all (Nextflow's) are not judged.
- **Input sources.** One application can be run on inputs of very different grain: Montage mosaics of
  2MASS images move ~15 MB per task and spend ~3 s per task, DSS ones ~200 MB and ~40-100 s. Their
  platform costs differ, and one parameter set fitted on both fits neither. When an application's runs
  fall into two groups of bytes per task separated by a gap of at least :data:`SOURCE_GAP` times, each
  with at least :data:`MIN_SOURCE_RUNS` runs, the groups can get their own parameter sets (when the
  fitter is asked to, :func:`calibration.replay.group_traces`), keyed
  ``{application}@bytes/task<{boundary}`` and ``{application}@bytes/task>={boundary}``
  (:func:`source_boundary`, :func:`source_key`); a new run is matched by its own bytes per task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from calibration.traces import Trace

# Split only on a wide gap and with enough runs per side: on the WfInstances development files, 2 runs
# per side helped montage (LOO 50.8 -> 40.7%) and hurt blast (26.1 -> 29.9%); see
# calibration.replay.group_traces for why the split is off by default.
SOURCE_GAP = 4.0
MIN_SOURCE_RUNS = 3
_SEP = "@bytes/task"


def bytes_per_task(trace: Trace) -> float:
    """Mean input plus output bytes of the trace's tasks."""
    if not trace.tasks:
        return 0.0
    return sum(t.input_bytes + t.output_bytes for t in trace.tasks) / len(trace.tasks)


def is_incomplete(trace: Trace) -> bool:
    """True when the trace places tasks on machines but some tasks have neither machine nor runtime."""
    placed = any(t.machine is not None for t in trace.tasks)
    return placed and any(t.machine is None and t.runtime_s <= 0 for t in trace.tasks)


def source_boundary(traces: Sequence[Trace], min_runs: int = MIN_SOURCE_RUNS) -> float | None:
    """Bytes per task that separates the runs into two input sources, or None when they are one.

    The runs are sorted by bytes per task; the largest ratio between neighbours must be at least
    :data:`SOURCE_GAP` with ``min_runs`` runs on each side. The boundary is the geometric
    mean of the two neighbours (the middle of the gap on a log scale)."""
    values = sorted(max(bytes_per_task(t), 1.0) for t in traces)
    best: tuple[float, int] | None = None
    for i in range(min_runs, len(values) - min_runs + 1):
        ratio = values[i] / values[i - 1]
        if ratio >= SOURCE_GAP and (best is None or ratio > best[0]):
            best = (ratio, i)
    if best is None:
        return None
    i = best[1]
    return float(f"{math.sqrt(values[i] * values[i - 1]):.3g}")


def source_key(application: str, boundary: float, trace: Trace) -> str:
    """The parameter-set key of ``trace``'s side of ``boundary``."""
    side = "<" if bytes_per_task(trace) < boundary else ">="
    return f"{application}{_SEP}{side}{boundary:.3g}"


def matching_source_key(keys: Sequence[str], trace: Trace) -> str | None:
    """Among the keys of a models file, the source set of ``trace``'s application that its bytes per
    task fall in, else None."""
    prefix = trace.application + _SEP
    for key in keys:
        if key.startswith(prefix):
            boundary = float(key[len(prefix) :].lstrip("<>="))
            if source_key(trace.application, boundary, trace) == key:
                return key
    return None
