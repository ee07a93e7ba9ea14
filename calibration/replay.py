"""Calibrated replay of recorded WfFormat executions.

WfInstances traces give per-task runtimes, file sizes, the machines (cores) and the makespan, but no start
times. Replaying the runtimes alone on the trace's cores misses the recorded makespan badly (tens of
percent), because workflow systems add per-job costs that the task runtimes do not contain: the engine
notices a finished job some time after it ends, a central scheduler releases jobs at a limited rate, each
machine starts jobs at a limited rate, each job stages its files and pays a wrapper overhead, and a run
has fixed costs (planning, initial stage-in, clean-up).

:func:`replay` is a list-scheduling simulation (event-driven, FIFO by ready time) with exactly those
costs, :class:`sim.models.performance.ReplayParams`:

- a task is *ready* ``ready_delay_s`` after its last parent ends (roots at 0);
- the central scheduler releases ready tasks in ready order, one per
  ``dispatch_s + queue_dispatch_s * (tasks waiting behind it)``: schedulers slow down with long queues;
  the waiting tasks are counted up to ``queue_cap`` (the largest fitted run's task count), so the term
  is not extrapolated beyond the queues it was fitted on;
- the task then waits for a free core on its recorded machine (any core when the trace does not say)
  and for that machine's start slot, one start per ``machine_dispatch_s``;
- it holds the core for ``overhead_s + runtime + (input + output bytes) / staging_bytes_per_s``, and the
  core stays busy ``slot_hold_s`` after the task ends (clean-up, slot reclaim) without delaying children;
- the three costs paid on the machine (``machine_dispatch_s``, ``overhead_s``, ``slot_hold_s``) are those
  of a machine of ``ref_cores`` cores, the fitted runs' usual machine: on a machine of ``c`` cores they
  are ``ref_cores / c`` times as long (a bigger machine type does its per-job work faster);
- the central scheduler also moves each task's bytes over one shared link of ``shared_bytes_per_s``
  (it is busy for ``dispatch_s + bytes / shared_bytes_per_s`` per task);
- the makespan is the last end plus ``fixed_s``;
- a file that some fitted runs record as 0 bytes and others as more (a lost size) counts no bytes in
  any run (``unsized_files``, :func:`unsized_files`).

:func:`fit_replay` chooses the parameters of one application by minimising the mean absolute percentage
error of the makespan over its (development) traces, adding mechanisms one at a time (forward
selection, at most three besides the fixed cost) so the model stays small and extrapolates. Fitting is meant for development traces only; evaluation traces
are for measuring. :func:`fit_replay_groups` fits one set per application (optionally one per input
source, :mod:`calibration.trace_sources`), leaving out runs that did not complete, and by default
blends each application's fit with a second one pulled toward the other applications' values: the
replay predicts the mean of the two makespans (``blend``).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from calibration.trace_sources import (
    is_incomplete,
    matching_source_key,
    source_boundary,
    source_key,
)
from calibration.traces import Trace
from sim.models.performance import FitInfo, PerformanceModels, ReplayParams

PARAM_NAMES = (
    "dispatch_s",
    "queue_dispatch_s",
    "machine_dispatch_s",
    "overhead_s",
    "slot_hold_s",
    "ready_delay_s",
    "staging_bytes_per_s",
    "shared_bytes_per_s",
    "fixed_s",
)
# Search box (log space) of the fitter. "Zero" ends of the box are small enough to be negligible.
_LOW = np.log([1e-3, 1e-6, 1e-3, 1e-2, 1e-2, 1e-2, 1e5, 1e3, 1e-1])
_HIGH = np.log([60.0, 0.1, 120.0, 2000.0, 2000.0, 600.0, 1e11, 1e12, 5000.0])
_NEUTRAL = np.log([1e-3, 1e-6, 1e-3, 1e-2, 1e-2, 1e-2, 1e11, 1e12, 1e-1])
PLAIN = ReplayParams()  # recorded runtimes only


@dataclass(slots=True)
class _Compiled:
    """A trace flattened into lists for a fast replay loop."""

    runtime: list[float]
    nbytes: list[float]
    machine: list[int]
    children: list[list[int]]
    nparents: list[int]
    cores: list[int]  # per machine index; the last entry is the pool for tasks without a machine
    machine_cores: list[int]  # as ``cores``, but 0 where the type is unknown (the pool, no core count)


_CACHE: dict[tuple[int, tuple[str, ...]], tuple[Trace, _Compiled]] = {}


def _compile(trace: Trace, unsized: tuple[str, ...] = ()) -> _Compiled:
    """``trace`` flattened; each task's bytes without those of the files named in ``unsized``."""
    hit = _CACHE.get((id(trace), unsized))
    if hit is not None and hit[0] is trace:
        return hit[1]
    names = list(trace.machines)
    where = {n: i for i, n in enumerate(names)}
    pool = len(names)
    left_out = set(unsized)
    sizes = trace.file_sizes
    compiled = _Compiled(
        runtime=[t.runtime_s for t in trace.tasks],
        nbytes=[
            float(t.input_bytes + t.output_bytes)
            - (sum(sizes.get(f, 0) for f in t.files if f in left_out) if left_out else 0)
            for t in trace.tasks
        ],
        machine=[where.get(t.machine, pool) if t.machine is not None else pool for t in trace.tasks],
        children=[list(t.children) for t in trace.tasks],
        nparents=[len(t.parents) for t in trace.tasks],
        cores=[trace.machines[n] for n in names] + [max(1, trace.cores)],
        machine_cores=[0 if n in trace.unknown_cores else trace.machines[n] for n in names] + [0],
    )
    if len(_CACHE) > 512:
        _CACHE.clear()
    _CACHE[id(trace), unsized] = (trace, compiled)
    return compiled


def unsized_files(traces: Sequence[Trace]) -> tuple[str, ...]:
    """Files that some of ``traces`` record as 0 bytes and others as more, sorted by name: a size the
    recording lost, not an empty file. makeflow/blast's 5 GB ``nt`` database, read by every blastall
    task, is sized in 2 of its 8 development runs and 0 bytes in the rest, which run no faster: counted
    where sized, it made a byte-scaled cost look like a platform cost of those runs alone. Its bytes are
    left out of every run's replay (fit and prediction alike); the fit notes name the files."""
    zero = {f for t in traces for f, n in t.file_sizes.items() if n == 0}
    sized = {f for t in traces for f, n in t.file_sizes.items() if n > 0}
    return tuple(sorted(zero & sized))


def machine_scales(machine_cores: Sequence[int], ref_cores: float) -> list[float]:
    """Per machine, how many times longer its per-job costs are than on a machine of ``ref_cores``
    cores: ``ref_cores / cores``; 1 where the cores are unknown (0) or without a reference (0)."""
    return [ref_cores / n if n > 0 and ref_cores > 0 else 1.0 for n in machine_cores]


def _simulate(c: _Compiled, p: Sequence[float], qcap: float = math.inf, ref_cores: float = 0.0) -> float:
    dispatch, qdispatch, mdispatch, overhead, hold, delay, bandwidth, shared, fixed = p
    scale = machine_scales(c.machine_cores, ref_cores)
    mdispatch_m = [mdispatch * f for f in scale]
    overhead_m = [overhead * f for f in scale]
    hold_m = [hold * f for f in scale]
    slots = [[0.0] * n for n in c.cores]
    mnext = [0.0] * len(c.cores)
    waiting = list(c.nparents)
    ready = [0.0] * len(waiting)
    heap = [(0.0, i) for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(heap)
    gnext = 0.0
    end = 0.0
    runtime, nbytes, machine, children = c.runtime, c.nbytes, c.machine, c.children
    pop, push, replace = heapq.heappop, heapq.heappush, heapq.heapreplace
    while heap:
        r, i = pop(heap)
        released = r if r > gnext else gnext
        waiting_n = len(heap)
        gnext = (
            released + dispatch + qdispatch * (waiting_n if waiting_n < qcap else qcap) + nbytes[i] / shared
        )
        m = machine[i]
        s = slots[m]
        start = s[0]
        if start < released:
            start = released
        if start < mnext[m]:
            start = mnext[m]
        mnext[m] = start + mdispatch_m[m]
        finish = start + overhead_m[m] + runtime[i] + nbytes[i] / bandwidth
        replace(s, finish + hold_m[m])
        if finish > end:
            end = finish
        t_ready = finish + delay
        for ch in children[i]:
            if ready[ch] < t_ready:
                ready[ch] = t_ready
            waiting[ch] -= 1
            if waiting[ch] == 0:
                push(heap, (ready[ch], ch))
    return end + fixed


def params_vector(p: ReplayParams) -> list[float]:
    return [float(getattr(p, n)) for n in PARAM_NAMES]


def replay(trace: Trace, params: ReplayParams | None = None) -> float:
    """Predicted makespan of ``trace`` in seconds under ``params`` (plain runtimes when None); with a
    ``blend``, the mean of its makespan and ``params``'s own (:func:`fit_replay_groups`)."""
    params = params or PLAIN
    own = _simulate(
        _compile(trace, params.unsized_files), params_vector(params), _cap(params), params.ref_cores
    )
    return own if params.blend is None else (own + replay(trace, params.blend)) / 2.0


def _cap(params: ReplayParams) -> float:
    return params.queue_cap if params.queue_cap > 0 else math.inf


def params_for(models: PerformanceModels, trace: Trace) -> tuple[str, ReplayParams]:
    """The replay parameters that apply to a trace: its input source's within its application
    (:mod:`calibration.trace_sources`), else its application's, else its runtime system's, else the
    ``*`` set, else plain runtimes. Returns the key used (``"none"`` for plain runtimes)."""
    for key in (matching_source_key(list(models.replay), trace), trace.application, trace.system, "*"):
        if key in models.replay:
            return key, models.replay[key]
    return "none", PLAIN


def mape(traces: Sequence[Trace], params: ReplayParams | Sequence[float]) -> float:
    if isinstance(params, ReplayParams):
        errs = [abs(replay(t, params) - t.makespan_s) / t.makespan_s for t in traces if t.makespan_s]
    else:
        vec = list(params)
        errs = [
            abs(_simulate(_compile(t), vec) - t.makespan_s) / t.makespan_s for t in traces if t.makespan_s
        ]
    return float(np.mean(errs)) if errs else float("nan")


# Mechanisms whose cost grows with the bytes a task moves as well as with the number of tasks.
BYTE_SCALED = frozenset({"staging_bytes_per_s", "shared_bytes_per_s"})
# Chosen by extrapolation CV on the WfInstances development files (benchmarks/cv_replay.py: fit on the
# smaller two thirds of each application's runs, score the largest third).
PREFER_BYTES_WITHIN = 0.03
# Runs whose bytes per task vary less than this (coefficient of variation) cannot tell a per-task cost
# from a per-byte one: only then does the preference apply (elsewhere the data decide).
COLLINEAR_CV = 0.1
# A byte-scaled mechanism is preferred only when it accounts for at least this share of the makespans.
BYTE_MIN_SHARE = 0.01


def _byte_share(compiled: Sequence[tuple[_Compiled, float]], k: int, x: np.ndarray) -> float:
    """Mean share of the makespans that byte-scaled mechanism ``k`` at log-parameters ``x`` accounts
    for: all the run's bytes over its rate (an upper bound for the staging cost, which runs in parallel)."""
    rate = float(np.exp(x[k]))
    return float(np.mean([sum(c.nbytes) / rate / mk for c, mk in compiled]))


def bytes_track_tasks(traces: Sequence[Trace], unsized: tuple[str, ...] = ()) -> bool:
    """True when the traces' bytes per task are nearly the same in every run (at least two runs), so a
    cost per task and a cost per byte fit them equally well."""
    per_task = [sum(_compile(tr, unsized).nbytes) / len(tr.tasks) for tr in traces if tr.tasks]
    if len(per_task) < 2 or not np.mean(per_task) > 0:
        return False
    return float(np.std(per_task) / np.mean(per_task)) < COLLINEAR_CV


def fit_replay(
    traces: Sequence[Trace],
    *,
    max_terms: int = 3,
    min_gain: float = 0.01,
    effort: float = 0.6,
    prefer_bytes_within: float = PREFER_BYTES_WITHIN,
    skip_incomplete: bool = True,
    byte_min_share: float = BYTE_MIN_SHARE,
    exclude: frozenset[str] = frozenset(),
    fixed_first: bool = True,
    cap_queue: bool = True,
    scale_cores: bool = True,
    bound_fixed: bool = True,
    prior: Sequence[float] | None = None,
    shrink: float = 0.0,
) -> ReplayParams:
    """Replay parameters minimising the makespan MAPE over ``traces`` (which must have makespans).

    Forward selection keeps the model small, so that it extrapolates to runs of other sizes: start with
    the fixed cost only; at each step try adding every other mechanism (a short Nelder-Mead fit in log
    space of the active parameters from three starting values of the new one) and keep the best, as long
    as it lowers the MAPE by at least ``min_gain``; at most ``max_terms`` mechanisms besides the fixed
    cost; then polish. The others stay at their neutral values (no cost), and so do the mechanisms in
    ``exclude``, which are never tried. ``effort`` scales the evaluation budget. The fixed cost is not
    searched: it adds the same to every run, so for any values of the others the MAPE-optimal one is a
    weighted median of what they leave unexplained (:func:`best_fixed_s`), computed at every step. A
    fixed cost that ends at or below its no-cost value is returned as that value and not named.

    ``prefer_bytes_within`` breaks near-ties: when the traces cannot tell a per-task cost from a per-byte
    one (:func:`bytes_track_tasks`: runs whose bytes grow in step with their task count, e.g. 1000genome's
    development runs, all of one input size), a byte-scaled mechanism (:data:`BYTE_SCALED`) whose MAPE
    is within that much of the best candidate's is chosen instead. It grows with both the task count and the bytes, so it keeps up with larger inputs
    where a per-task cost alone under-predicts. Only if that mechanism costs something, though: its
    bytes over its fitted rate at least ``byte_min_share`` of the makespans (seismology's runs move
    kilobytes; a byte cost fitted at the no-cost end of its range took the place of a useful mechanism).

    With ``skip_incomplete``, runs in which some tasks never ran (:func:`calibration.trace_sources.
    is_incomplete`) are left out, unless no other run remains; the fit notes count them.

    ``bound_fixed``: the fixed cost is paid by every run, so it is at most the smallest time any fitted
    run spent beyond its plain replay (recorded makespan minus runtimes alone on its cores; runs faster
    than their plain replay, which the replay cannot explain, bound nothing). Without that
    bound, runs of a narrow size range that do not grow monotonically (seismology's four largest
    development runs: 1715, 2403, 2194 and 2354 s for 701 to 1101 tasks) were fitted by the fixed cost
    alone, 2188 s, more than the smallest run's whole makespan, and a run of 301 tasks (518 s) was
    predicted at 2192 s; bounded, the fit has to explain the rest by costs that scale with the work
    (661 s fixed plus a shared link: 1092 s for that run).

    ``fixed_first=False`` lets the fixed cost compete with the other mechanisms instead of always
    starting with it. ``cap_queue``: the queue-length term counts at most as many waiting tasks as the
    largest run has tasks (``queue_cap``); uncapped it grows with the square of the task count beyond
    the fitted runs. Dev CV, uncapped -> capped (mean of folders, benchmarks/cv_replay.py): largest third
    by tasks held out 91.6 -> 91.3%, by bytes 39.0 -> 38.7% (seismology 56.0 -> 52.8%), 4-fold and
    smallest third unchanged (21.4%, 61.9%).

    ``scale_cores``: the per-machine costs are fitted for the runs' usual machine (``ref_cores``,
    :func:`usual_cores`) and scaled by ``ref_cores / cores`` on other machines (:func:`machine_scales`),
    so that a run on a machine type the fit saw rarely or never (montage's 96-core machines, which put
    jobs through several times faster than its 48-core ones) is not charged the usual machine's per-job
    costs. Where every machine has the same cores nothing changes.

    ``prior`` (log-parameters, NaN where none) and ``shrink`` pull the search toward other applications'
    values (empirical Bayes; :func:`cross_app_priors`, :func:`fit_replay_groups`): the simplex minimises
    the MAPE plus ``shrink`` times the mean squared distance of the searched log-parameters from the
    prior in units of their search ranges (:meth:`_Objective.penalty`); the reported MAPE and the
    selection of mechanisms are the MAPE's alone. Not the default: dev CV, mean of folders, no pull ->
    ``shrink=1`` (3, 10): 4-fold 18.1 -> 17.2% (17.2, 19.8), leave-one-out 18.0 -> 17.6%, smallest
    third by tasks held out 43.1 -> 41.3% (40.3, 89.5), largest third 26.1 -> 27.5% (32.4, 31.0). The
    pull helps the byte rates of folders with few runs (soykb 4-fold 14.7 -> 7.2%, seismology largest
    third 52.8 -> 30.4%) and hurts the two whose evaluation runs are larger than their development ones
    (largest third: 1000genome 11.1 -> 23.8%, cycles 6.3 -> 30.2%): their byte rates extrapolate, the
    others' median does not."""
    unknown = sorted(set(exclude) - set(PARAM_NAMES))
    if unknown:  # a misspelt name would silently exclude nothing
        raise ValueError(f"unknown replay mechanism(s) {', '.join(unknown)}; known: {', '.join(PARAM_NAMES)}")
    usable = [t for t in traces if t.makespan_s and t.tasks]
    if not usable:
        raise ValueError("no trace with a recorded makespan to fit replay parameters on")
    left_out = 0
    if skip_incomplete:
        complete = [t for t in usable if not is_incomplete(t)]
        if complete:  # when every run is incomplete, all are kept (and none counted as left out)
            left_out = len(usable) - len(complete)
            usable = complete
    unsized = unsized_files(usable)
    compiled = [(_compile(t, unsized), float(t.makespan_s)) for t in usable]
    ref = usual_cores(usable) if scale_cores else 0.0
    fixed_k = PARAM_NAMES.index("fixed_s")
    if not bytes_track_tasks(usable, unsized):
        prefer_bytes_within = 0.0
    full = _Objective.of(
        compiled,
        ref=ref,
        cap_queue=cap_queue,
        bound_fixed=bound_fixed,
        effort=effort,
        prior=None if prior is None else np.asarray(prior, dtype=float),
        shrink=shrink,
    )
    qcap = full.qcap

    x = _NEUTRAL.copy()
    plain = full.evaluate([], x)[0]
    active: list[int] = []
    best = plain
    if fixed_first:
        active = [fixed_k]
        x, best = full.local(active, x, 0)
    while len(active) <= max_terms:
        trials: list[tuple[float, int, np.ndarray]] = []
        for k in range(len(PARAM_NAMES)):
            if k in active or PARAM_NAMES[k] in exclude:
                continue
            cand = active + [k]
            starts = []
            for q in (0.25, 0.5, 0.75):
                x0 = x.copy()
                x0[k] = _LOW[k] + (_HIGH[k] - _LOW[k]) * q
                starts.append((full.objective_of(cand, x0)(x0[_searched(cand)]), q, x0))
            x0 = min(starts, key=lambda s: s[0])[2]
            xk, fk = full.local(cand, x0, 25 * len(cand))
            trials.append((fk, k, xk))
        if not trials:
            break
        trial = min(trials, key=lambda t: t[0])
        if trial[0] > best - min_gain:
            break
        near = [
            t
            for t in trials
            if PARAM_NAMES[t[1]] in BYTE_SCALED
            and t[0] <= trial[0] + prefer_bytes_within
            and _byte_share(compiled, t[1], t[2]) >= byte_min_share
        ]
        if near and prefer_bytes_within > 0:
            trial = min(near, key=lambda t: t[0])
        best, k, x = trial
        active.append(k)
    if active:
        x, polished = full.local(active, x, 80 * len(active))
        best = min(best, polished)
    # a byte-scaled mechanism that the polish left costing nothing (another took over its work) says
    # nothing about the platform: it goes back to neutral, and the fixed cost is profiled again
    idle = [
        k for k in active if PARAM_NAMES[k] in BYTE_SCALED and _byte_share(compiled, k, x) < byte_min_share
    ]
    if idle:
        active = [k for k in active if k not in idle]
        x[idle] = _NEUTRAL[idle]
        x, best = full.settle(active, x)
    # a fixed cost at or below its no-cost value is no mechanism: reported and kept as neutral
    if fixed_k in active and x[fixed_k] <= _NEUTRAL[fixed_k]:
        active.remove(fixed_k)
        x[fixed_k] = _NEUTRAL[fixed_k]
        x, best = full.settle(active, x)
    vec = np.exp(x)
    return ReplayParams(
        **{n: float(v) for n, v in zip(PARAM_NAMES, vec, strict=True)},
        queue_cap=qcap if math.isfinite(qcap) else 0.0,
        ref_cores=ref,
        unsized_files=unsized,
        fit=FitInfo(
            samples=len(usable),
            mape=best,
            fallback="fitted",
            notes=[
                f"mechanisms: {', '.join(PARAM_NAMES[k] for k in active) or 'none'}",
                f"plain replay MAPE {plain:.1%} on the same traces",
                *([f"left out {left_out} incomplete run(s) (tasks that never ran)"] if left_out else []),
                *([_unsized_note(unsized)] if unsized else []),
            ],
        ),
    )


def _unsized_note(unsized: tuple[str, ...]) -> str:
    shown = ", ".join(unsized[:3]) + (f" and {len(unsized) - 3} more" if len(unsized) > 3 else "")
    return f"bytes of {len(unsized)} file(s) left out, 0 in some runs and sized in others: {shown}"


_FIXED_K = PARAM_NAMES.index("fixed_s")


def _searched(active: list[int]) -> list[int]:
    """The mechanisms the simplex searches: all active ones but the fixed cost, which is profiled."""
    return [k for k in active if k != _FIXED_K]


@dataclass(slots=True)
class _Objective:
    """The fitter's view of a set of runs: the makespan MAPE of log-parameters ``x`` of the mechanisms
    ``active`` (the others at their neutral values), the fixed cost profiled: for given other parameters
    the one minimising the MAPE is a weighted median (:func:`best_fixed_s`), which keeps the simplex one
    dimension smaller and finds the fixed cost exactly; its upper end is :func:`fit_replay`'s bound.
    """

    runs: Sequence[tuple[_Compiled, float]]
    qcap: float
    ref: float
    fixed_low: float
    fixed_high: float
    effort: float
    prior: np.ndarray | None = None  # log-parameters the search is pulled toward (NaN: not pulled)
    shrink: float = 0.0  # weight of that pull (see fit_replay)
    mks: np.ndarray = field(init=False)  # recorded makespans
    weights: np.ndarray = field(init=False)  # 1 / makespan: the absolute errors become relative ones

    def __post_init__(self) -> None:
        self.mks = np.array([mk for _, mk in self.runs])
        self.weights = 1.0 / self.mks

    @classmethod
    def of(
        cls,
        runs: Sequence[tuple[_Compiled, float]],
        *,
        ref: float,
        cap_queue: bool,
        bound_fixed: bool,
        effort: float,
        prior: np.ndarray | None = None,
        shrink: float = 0.0,
    ) -> _Objective:
        # the queue-length term is fitted on queues no longer than the largest run: beyond, it stays flat
        qcap = float(max(len(c.runtime) for c, _ in runs)) if cap_queue else math.inf
        fixed_low = float(np.exp(_LOW[_FIXED_K] - 1))
        fixed_high = float(np.exp(_HIGH[_FIXED_K] + 1))
        if bound_fixed:
            plain_vec = np.exp(_NEUTRAL)
            # a run faster than its own plain replay (the replay is not exact: makeflow/blast has one, 79 s
            # below) bounds nothing; it would pin the fixed cost at the floor for the whole group
            rooms = [r for c, mk in runs if (r := mk - _simulate(c, plain_vec, qcap, ref)) > 0]
            if rooms:
                fixed_high = max(fixed_low, min(fixed_high, min(rooms)))
        return cls(runs, qcap, ref, fixed_low, fixed_high, effort, prior, shrink)

    def evaluate(self, active: list[int], x: np.ndarray) -> tuple[float, float]:
        """(MAPE, fixed cost) of parameters ``x``; the fixed cost profiled when it is active."""
        vec = np.exp(x)
        profiled = _FIXED_K in active
        if profiled:
            vec[_FIXED_K] = 0.0
        sims = np.array([_simulate(c, vec, self.qcap, self.ref) for c, _ in self.runs])
        fixed = (
            best_fixed_s(self.mks - sims, self.weights, self.fixed_low, self.fixed_high) if profiled else 0.0
        )
        return float(np.mean(self.weights * np.abs(sims + fixed - self.mks))), fixed

    def settle(self, active: list[int], x: np.ndarray) -> tuple[np.ndarray, float]:
        """``x`` with the profiled fixed cost written in (when it is active), and its MAPE."""
        value, fixed = self.evaluate(active, x)
        if _FIXED_K in active:
            x[_FIXED_K] = math.log(fixed)
        return x, value

    def objective_of(self, active: list[int], base: np.ndarray):
        dims = _searched(active)

        def objective(sub: np.ndarray) -> float:
            x = base.copy()
            x[dims] = np.clip(sub, _LOW[dims] - 1, _HIGH[dims] + 1)
            return self.evaluate(active, x)[0] + self.penalty(x, dims)

        return objective

    def penalty(self, x: np.ndarray, dims: list[int]) -> float:
        """``shrink`` times the mean squared distance of the searched log-parameters from the prior, in
        units of each one's search range (0 without a prior or where the prior is NaN)."""
        if self.prior is None or not self.shrink or not dims:
            return 0.0
        d = (x[dims] - self.prior[dims]) / (_HIGH[dims] - _LOW[dims])
        return self.shrink * float(np.mean(np.nan_to_num(d) ** 2))

    def local(self, active: list[int], x0: np.ndarray, budget: int) -> tuple[np.ndarray, float]:
        """A short Nelder-Mead search of the active mechanisms from ``x0`` (``budget`` evaluations
        scaled by the effort), then :meth:`settle`."""
        dims = _searched(active)
        x = x0.copy()
        if dims:
            res = minimize(
                self.objective_of(active, x0),
                x0[dims],
                method="Nelder-Mead",
                options={
                    "maxfev": max(10, int(budget * self.effort)),
                    "xatol": 1e-3,
                    "fatol": 1e-5,
                    "initial_simplex": _simplex(x0[dims], dims),
                },
            )
            x[dims] = np.clip(res.x, _LOW[dims] - 1, _HIGH[dims] + 1)
        return self.settle(active, x)


def best_fixed_s(residual: np.ndarray, weight: np.ndarray, low: float, high: float) -> float:
    """The constant ``c`` in ``[low, high]`` minimising ``sum(weight * |residual - c|)``: the weighted
    median of ``residual`` (the sum is convex in ``c``, so clamping the median is the constrained
    optimum)."""
    order = np.argsort(residual)
    cum = np.cumsum(weight[order])
    median = float(residual[order][np.searchsorted(cum, cum[-1] / 2.0)])
    return min(max(median, low), high)


def usual_cores(traces: Sequence[Trace]) -> float:
    """The most common core count among the traces' machines (the smaller on a tie; 0 without machines;
    machines whose trace gives no core count are left out): the machine type the per-machine costs are
    fitted for."""
    counts = Counter(n for t in traces for m, n in t.machines.items() if m not in t.unknown_cores)
    return float(min(counts, key=lambda n: (-counts[n], n))) if counts else 0.0


def _simplex(x0: np.ndarray, active: list[int]) -> np.ndarray:
    """A starting simplex with steps of a fifth of each parameter's log range."""
    pts = [x0.copy()]
    for j, k in enumerate(active):
        p = x0.copy()
        step = (_HIGH[k] - _LOW[k]) / 5
        p[j] = p[j] + step if p[j] + step <= _HIGH[k] + 1 else p[j] - step
        pts.append(p)
    return np.array(pts)


def group_traces(traces: Sequence[Trace], *, source_runs: int | None = None) -> dict[str, list[Trace]]:
    """Traces per application, per runtime system, and all of them under ``*``. An application whose
    runs come from two input sources with at least ``source_runs`` runs each (:func:`calibration.
    trace_sources.source_boundary`) is replaced by one group per source; ``None`` (the default): never
    split. Off by default: with 3 runs per source, dev CV showed no gain (montage LOO 50.8% either way,
    bwa 4-fold 9.3 -> 9.6%) and the evaluation files did worse (montage 48.9 -> 80.4%)."""
    groups: dict[str, list[Trace]] = {}
    for t in traces:
        for key in (t.application, t.system, "*"):
            groups.setdefault(key, []).append(t)
    if source_runs is not None:
        for app in [k for k in groups if "/" in k]:
            boundary = source_boundary(groups[app], source_runs)
            if boundary is not None:
                for t in groups.pop(app):
                    groups.setdefault(source_key(app, boundary, t), []).append(t)
    return groups


POOLED_MAX_TRACES = 16
# fit_replay_groups's default blend: each application's own fit averaged with one pulled toward the others
# at shrink=1. Dev CV (benchmarks/cv_replay.py), mean of folders, own fit -> blend: 4-fold 18.1 -> 17.6%,
# leave-one-out 18.0 -> 17.5% (seismology 17.8 -> 13.2%), smallest third by tasks held out 43.1 -> 39.2%
# (soykb 48.1 -> 10.8%), largest third 26.1 -> 26.7% (1000genome 11.1 -> 17.4%, cycles 6.3 -> 17.5%,
# seismology 52.8 -> 41.6%). Evaluation files (bench_calibration.py, run once): 16.7 -> 16.0% overall.
BLEND_SHRINK = 1.0
_BLEND = "blend:"  # key prefix of fit_replay_groups's second (pulled) fits


def _spread_pick(group: Sequence[Trace], limit: int) -> list[Trace]:
    """At most ``limit`` traces, round-robin over applications (each in name order)."""
    by_app: dict[str, list[Trace]] = {}
    for t in sorted(group, key=lambda t: t.path):
        by_app.setdefault(t.application, []).append(t)
    out: list[Trace] = []
    while len(out) < limit and any(by_app.values()):
        for app in sorted(by_app):
            if by_app[app] and len(out) < limit:
                out.append(by_app[app].pop(0))
    return out


def _fit_job(args: tuple[str, list[Trace], dict]) -> tuple[str, ReplayParams]:
    key, group, kwargs = args
    return key, fit_replay(group, **kwargs)


def _fit_all(jobs: list[tuple[str, list[Trace], dict]], workers: int) -> list[tuple[str, ReplayParams]]:
    if workers > 1 and len(jobs) > 1:
        from sim.processes import process_pool

        with process_pool(workers) as pool:
            return list(pool.map(_fit_job, jobs))
    return [_fit_job(j) for j in jobs]


def log_mechanisms(p: ReplayParams) -> np.ndarray:
    """The log-parameters of the mechanisms a fitted set uses, NaN for those it leaves at no cost."""
    x = np.log(np.maximum(params_vector(p), 1e-300))
    x[np.abs(x - _NEUTRAL) < 1e-6] = np.nan
    return x


def cross_app_priors(fits: dict[str, ReplayParams], min_runs: int = 3) -> dict[str, np.ndarray]:
    """Per application, the median over the *other* applications fitted on at least ``min_runs`` runs
    of each mechanism's log-parameter (among those that use it; NaN where none does): the prior
    :func:`fit_replay`'s ``shrink`` pulls toward. Leaving the application out keeps its own runs out of
    its prior; a fit on one or two runs (Nextflow's applications) is its fixed cost alone, no evidence."""
    logs = {k: log_mechanisms(p) for k, p in fits.items() if p.fit.samples >= min_runs}
    out = {}
    for key in fits:
        others = np.array([v for k, v in logs.items() if k != key]).reshape(-1, len(PARAM_NAMES))
        out[key] = np.array(
            [float(np.median(c[~np.isnan(c)])) if (~np.isnan(c)).any() else np.nan for c in others.T]
        )
    return out


def fit_replay_groups(
    traces: Sequence[Trace],
    *,
    pooled: bool = True,
    workers: int = 1,
    source_runs: int | None = None,
    shrink: float = 0.0,
    priors: dict[str, np.ndarray] | None = None,
    blend: float = BLEND_SHRINK,
    **kwargs,
) -> dict[str, ReplayParams]:
    """Parameters per application, plus per runtime system and ``*`` (fallbacks for applications never
    calibrated) when ``pooled``. A pooled set fits at most :data:`POOLED_MAX_TRACES` traces spread over
    its applications, at half the effort; a pool of one application copies that application's set.
    ``workers`` > 1 fits in a process pool; ``source_runs``: see :func:`group_traces`.

    ``shrink`` > 0 fits each application pulled toward a prior (:func:`fit_replay`'s ``shrink``):
    ``priors[application]`` when given, else two stages, every application alone and then each pulled
    toward the others' median (:func:`cross_app_priors`). The pooled sets are never pulled.

    ``blend`` > 0 (with no ``shrink``) keeps each application's own fit and adds, as its ``blend``, a
    second fit pulled toward the prior with ``shrink=blend``; :func:`replay` predicts the mean of the two
    makespans (a combination of forecasts, Bates & Granger 1969). The two err in different directions:
    the pull helps applications with few runs whose own byte rates and per-job costs are poorly
    identified, and hurts those whose runs extrapolate their own rates (1000genome, cycles), so the mean
    is never far from the better of them. An application without a prior (no other application fitted)
    gets no blend."""
    groups = group_traces(traces, source_runs=source_runs)
    apps = sorted(k for k in groups if "/" in k)
    blend = 0.0 if shrink else blend
    alone: dict[str, ReplayParams] = {}
    if (shrink or blend) and priors is None:
        alone = dict(_fit_all([(k, groups[k], kwargs) for k in apps], workers))
        priors = cross_app_priors(alone)
    jobs = [
        (k, groups[k], {**kwargs, "shrink": shrink, "prior": (priors or {}).get(k)} if shrink else kwargs)
        for k in apps
        if k not in alone or shrink
    ]
    blended = [k for k in apps if blend and np.isfinite((priors or {}).get(k, np.nan)).any()]
    blend_jobs = [
        (_BLEND + k, groups[k], {**kwargs, "shrink": blend, "prior": (priors or {})[k]}) for k in blended
    ]
    pooled_jobs = []
    if pooled:
        for k, g in sorted(groups.items()):
            apps = {t.application for t in g}
            # one application copies its set below, unless it was split by input source
            if "/" not in k and (len(apps) > 1 or not apps <= groups.keys()):
                pooled_kwargs = {**kwargs, "effort": kwargs.get("effort", 1.0) * 0.5}
                pooled_jobs.append((k, _spread_pick(g, POOLED_MAX_TRACES), pooled_kwargs))
    out: dict[str, ReplayParams] = {} if shrink else dict(alone)
    results = _fit_all(jobs + blend_jobs + pooled_jobs, workers)
    for key, params in results:
        if key.startswith(_BLEND):
            continue
        if "/" not in key:
            params.fit.fallback = "pooled"
            params.fit.notes.append(
                f"pooled over {len({t.application for t in groups[key]})} applications "
                f"({params.fit.samples} of {len(groups[key])} traces)"
            )
        out[key] = params
    for key, params in results:
        if key.startswith(_BLEND):
            own = out[key[len(_BLEND) :]]
            own.blend = params
            own.fit.mape = mape(groups[key[len(_BLEND) :]], own)  # what the blend predicts
            own.fit.notes.append(f"blended with a fit pulled toward other applications (shrink {blend:g})")
    if pooled:
        for k, g in groups.items():
            if k not in out and "/" not in k:
                app = g[0].application
                src = out[app]
                copy = ReplayParams(
                    **{n: getattr(src, n) for n in PARAM_NAMES},
                    queue_cap=src.queue_cap,
                    ref_cores=src.ref_cores,
                    unsized_files=src.unsized_files,
                    blend=src.blend,
                )
                copy.fit = FitInfo(
                    src.fit.samples, None, src.fit.mape, "pooled", [f"same as {app} (its only application)"]
                )
                out[k] = copy
    return dict(sorted(out.items()))


def relative_error(predicted: float, recorded: float | None) -> float | None:
    if not recorded:
        return None
    return (predicted - recorded) / recorded if math.isfinite(predicted) else None
