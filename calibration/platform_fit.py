"""Calibrating the platform's fixed costs from real records: the store's round trip and the invocation.

The performance models (:mod:`calibration.fit`) cover work that depends on the task or the worker:
execution, transfers, start-up. Two costs are properties of the infrastructure and live in
:class:`sim.engine.platform.Platform` instead; the built-in numbers (0.5 ms per store round trip, 15 ms
per invocation) describe an idle machine, and on a loaded host both are several times larger:

- ``store_latency_ms``, what every counter update, claim, ready flag and completion costs: the median
  time of the records' *small* downloads (at most :data:`SMALL_BYTES`). A download is one ``MGET``
  round trip (the runtime times it without the unpickling), so a tiny one is a round trip and nothing
  else.
- ``invoke_latency_ms``, from an invocation's request to its worker running (the simulator adds the
  start-up and the plan's fetch and load on top): per worker record, ``startup_ms`` (request to the
  worker running) minus the wait for a container at the cap (``queued_ms``), minus the container's own
  start (``launcher_startup_ms``, about 0 for a warm worker), minus the plan's fetch and load as the
  platform predicts them; the median over workers. The start-up model is fitted on the same records
  without this part (:func:`calibration.fit.startup_alone_ms`), so nothing is counted twice.

- ``cold_start_serial_ms``, how much later each of several cold starts requested together ends than
  the previous one (the engine creates and starts containers one at a time): cold starts of a run
  whose container starts began within :data:`GROUP_MS` of each other form a group; sorted by end, a
  group of ``n`` spreads over ``(n - 1)`` steps; the median step over groups. The start-up model is
  fitted on each start minus its ``(rank - 1)`` steps (:func:`cold_start_ranks`), the simulator adds
  them back by queueing its cold starts through a serial stage of that length.

- ``task_dispatch_ms``, how far apart a worker starts tasks that became ready together (its event
  loop hands them to threads one at a time): the real tasks of one worker whose starts lie within
  :data:`TOGETHER_MS` of the previous one form a group; the median over groups of the mean step.

- ``load_ms_per_mb`` and ``dump_ms_per_mb``, the CPU time per MB of verifying and unpickling the values
  a task downloaded and of pickling and signing its output (:func:`pickling_samples`): neither is in the
  records' download, execution or upload times, and on image_transform's 26 MB image they were a fifth of
  the makespan under wukong. From the gaps around the call (``exec_start_ms``) of tasks alone on their
  worker that moved at least :data:`PICKLE_MIN_BYTES`, scaled to one CPU; the median.

Each value needs :data:`MIN_SAMPLES` samples; otherwise the base platform's value is kept, and the
returned notes say which values were fitted and from how many samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from statistics import median

from sim.engine.platform import Platform
from sim.models.records import Record, TaskRecord, WorkerRecord, extra_number

GROUP_MS = 50.0  # container starts that began this close together were requested together
TOGETHER_MS = 3.0  # tasks of one worker starting this close after each other were ready together
SMALL_BYTES = 2048  # a download this small is one store round trip: its bytes take microseconds
MIN_SAMPLES = 3
PICKLE_MIN_BYTES = 1_000_000  # below this a gap is mostly the thread hand-off, not (un)pickling


def store_round_trips_ms(records: Sequence[Record]) -> list[float]:
    """Times of the small downloads of real task records: one store round trip each."""
    return [
        d.ms
        for r in records
        if isinstance(r, TaskRecord)
        for d in r.downloads
        if 0 < d.bytes <= SMALL_BYTES and d.ms > 0
    ]


def invocation_ms(rec: WorkerRecord, plan_ms: float = 0.0) -> float | None:
    """A real worker's time from its request to running, without the wait at the cap, its container's
    start and the plan's fetch and load (None for records without the launcher's numbers)."""
    launcher = extra_number(rec, "launcher_startup_ms")
    if launcher is None:
        return None
    queued = extra_number(rec, "queued_ms") or 0.0
    return max(0.0, rec.startup_ms - queued - launcher - plan_ms)


def cold_start_ranks(records: Sequence[Record]) -> tuple[dict[int, int], float | None]:
    """Cold starts requested together, ranked by when they ended: ``{id(record): rank}`` (1 = first; a
    start alone has rank 1) and the median step between consecutive ends (None without a group of two).

    A start's container began at its run-relative end (``start_ms``) minus its ``startup_ms``, plus the
    time it waited for a container at the cap (``queued_ms``). Records without ``start_ms`` are skipped.
    """
    began: dict[str, list[tuple[float, float, WorkerRecord]]] = {}
    for r in records:
        if not isinstance(r, WorkerRecord) or r.state != "cold":
            continue
        end = extra_number(r, "start_ms")
        if end is None:
            continue
        queued = extra_number(r, "queued_ms") or 0.0
        began.setdefault(r.run_id, []).append((end - r.startup_ms + queued, end, r))
    ranks: dict[int, int] = {}
    steps: list[float] = []
    for starts in began.values():
        starts.sort(key=lambda s: s[0])
        group: list[tuple[float, float, WorkerRecord]] = []
        for item in [*starts, None]:
            if item is not None and (not group or item[0] - group[0][0] <= GROUP_MS):
                group.append(item)
                continue
            ends = sorted(group, key=lambda s: s[1])
            for k, (_, _, rec) in enumerate(ends, 1):
                ranks[id(rec)] = k
            if len(ends) >= 2:
                steps.append((ends[-1][1] - ends[0][1]) / (len(ends) - 1))
            group = [item] if item is not None else []
    return ranks, (median(steps) if steps else None)


def dispatch_steps_ms(records: Sequence[Record]) -> list[float]:
    """Per group of tasks one worker started together, the mean step between their starts."""
    starts: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if isinstance(r, TaskRecord) and r.extra.get("source") == "real":
            starts.setdefault((r.run_id, r.worker_id), []).append(r.start_ms)
    steps: list[float] = []
    for times in starts.values():
        times.sort()
        first = prev = times[0]
        n = 1
        for t in [*times[1:], math.inf]:
            if t - prev <= TOGETHER_MS:
                n += 1
            else:
                if n >= 2:
                    steps.append((prev - first) / (n - 1))
                first, n = t, 1
            prev = t
    return steps


def pickling_samples(records: Sequence[Record]) -> tuple[list[float], list[float]]:
    """CPU ms per MB (at one CPU) of unpickling downloaded values and of pickling outputs, one sample per
    real task alone on its worker (``concurrency`` at most 1) that carries ``exec_start_ms`` and moved
    at least :data:`PICKLE_MIN_BYTES`.

    The runtime's task record runs: start, the downloads (one fetch, timed without the unpickling),
    the values' verification and unpickling, the call (from ``exec_start_ms``, ``exec_ms`` long), the
    output's pickling and signing, the upload, end. So the gap between the downloads and the call is
    the load, and the one between the call and the upload the dump (plus the event loop's resumption).
    Both are one thread's CPU work: a container of ``cpus`` < 1 stretches them by ``1 / cpus``.
    """
    loads: list[float] = []
    dumps: list[float] = []
    for r in records:
        if not isinstance(r, TaskRecord) or r.extra.get("source") != "real" or (r.concurrency or 1.0) > 1.0:
            continue
        start = extra_number(r, "exec_start_ms")
        if start is None:
            continue
        cpu = min(r.cpus, 1.0) if r.cpus > 0 else 1.0
        fetched = sum(d.bytes for d in r.downloads)
        if fetched >= PICKLE_MIN_BYTES:
            gap = start - r.start_ms - max(d.ms for d in r.downloads)
            loads.append(max(0.0, gap) * cpu / (fetched / 1e6))
        if r.output_bytes >= PICKLE_MIN_BYTES:
            gap = r.end_ms - start - r.exec_ms - (r.upload.ms if r.upload else 0.0)
            dumps.append(max(0.0, gap) * cpu / (r.output_bytes / 1e6))
    return loads, dumps


def _median_into(
    changes: dict[str, float], notes: list[str], name: str, samples: list[float], what: str, need: int
) -> None:
    """``changes[name]`` = the median of ``samples`` when there are ``need`` of them; a note either way."""
    if len(samples) >= need:
        changes[name] = round(median(samples), 3)
        notes.append(f"{name} = {changes[name]:g} (median of {len(samples)} {what})")
    else:
        notes.append(f"{name} kept ({len(samples)} {what})")


def fit_platform(records: Sequence[Record], base: Platform) -> tuple[Platform, list[str]]:
    """``base`` with the fixed costs of the module docstring fitted from ``records`` where they hold
    enough samples; the notes say what was fitted (and from what) and what was kept."""
    notes: list[str] = []
    changes: dict[str, float] = {}
    workers = [r for r in records if isinstance(r, WorkerRecord)]
    trips = store_round_trips_ms(records)
    _median_into(changes, notes, "store_latency_ms", trips, "small downloads", MIN_SAMPLES)
    # The plan load of a worker that fetched the whole plan, as the simulator predicts it (the plan's size is
    # unknown here: the load's base cost only, the per-task part is small for these sizes).
    plan_ms = base.plan_load_base_ms
    invokes = [
        ms
        for r in workers
        if (ms := invocation_ms(r, plan_ms if r.extra.get("plan") == "fetched" else 0.0)) is not None
    ]
    _median_into(changes, notes, "invoke_latency_ms", invokes, "workers", MIN_SAMPLES)
    dispatch = dispatch_steps_ms(records)
    _median_into(
        changes, notes, "task_dispatch_ms", dispatch, "groups of tasks started together", MIN_SAMPLES
    )
    switch = [v for r in workers if (v := extra_number(r, "gil_switch_ms")) is not None]
    _median_into(changes, notes, "gil_switch_ms", switch, "workers' interpreters", 1)
    loads, dumps = pickling_samples(records)
    _median_into(changes, notes, "load_ms_per_mb", loads, "tasks that downloaded >= 1 MB", MIN_SAMPLES)
    _median_into(changes, notes, "dump_ms_per_mb", dumps, "tasks that output >= 1 MB", MIN_SAMPLES)
    _, step = cold_start_ranks(records)
    if step is not None:
        changes["cold_start_serial_ms"] = round(step, 3)
        notes.append(f"cold_start_serial_ms = {step:.3g} (cold starts requested together)")
    return (replace(base, **changes) if changes else base), notes
