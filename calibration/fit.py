"""Fitting the performance models (DESIGN.md, "Performance models") from metric records.

Every model is a power law fitted by robust regression in log space (``scipy.optimize.least_squares``
with the ``soft_l1`` loss, its scale set from the median absolute deviation of a first ordinary fit, so
outliers are down-weighted rather than dropped):

- execution, per function: ``log t = log a + b log in_bytes - c log(mem/1024)``, where ``t`` is the
  *uncontended* time (:func:`sim.models.records.uncontended_exec_ms`: a real task's ``exec_ms`` scaled by
  the CPU share the simulator would have given it, since the simulator applies CPU sharing itself;
  calls of one function that overlapped on a worker and waited for each other split their summed time
  by their own CPU work instead, :func:`sim.models.records.shared_alone_ms`; a task whose execution
  overlapped more of its worker's tasks than the runtime's meter counted is scaled by the rate its
  timeline gives, :func:`sim.models.records.timeline_share_rates`)
  and, for a function that mostly sleeps or waits for I/O (its recorded CPU time, :func:`sim.models.records.
  io_aware_exec`, is below :data:`CPU_BOUND_FRACTION` of its time), its time alone with only the CPU part
  shared; the model then carries that ``cpu_fraction`` and the simulator shares only that part
- output size, per function: ``log out = log k + e log in_bytes``; a declared I/O relation (the ``@task``
  hint, given to :func:`fit_models` or carried by records as ``io``) takes precedence over fitting
- transfer (downloads and uploads alike): ``log t = log(latency + bytes / (bw (mem/1024)^alpha))``, its
  residuals kept per band of transfer sizes where there are enough (:func:`transfer_bands`)
- start-up, cold and warm: ``log t = log s + d log(mem/1024)``, ``t`` without the wait for a free
  container at the cap and the invocation's hand-off (:func:`startup_alone_ms`), and without the engine
  steps behind the cold starts requested with it (:func:`calibration.platform_fit.cold_start_ranks`).
  Recent runs are not weighted more: on this shared host the start-up level jumps between runs rather
  than trending (weighting the latest run was worse on 63 recorded cells). The platform's
  fixed costs (store round trip, invocation, those engine steps) are fitted by
  :mod:`calibration.platform_fit`

Fallbacks, each one written into the model's :class:`FitInfo` (``fallback`` and ``notes``):

- an exponent is *unidentifiable* when its regressor barely varies (a single memory size, one input
  size): it is taken from the *pooled* fit over all functions (function-specific intercepts, common
  exponents), and from the documented defaults when the pool cannot identify it either
  (``b = 1``, ``c = 0.3``, ``e = 1``, ``alpha = 0.3``, start-up ``d`` from the built-in start-up model);
- a function with fewer than :data:`MIN_SAMPLES` samples keeps only its own intercept (the exponents of
  the fallbacks above);
- an input exponent that must extrapolate: a function with a single input size takes the median
  exponent of the functions fitted over a wide span of sizes, and beyond the sizes a function was
  fitted on its exponent is shrunk toward that median by how little its span tells
  (:mod:`calibration.exponent_prior`, :func:`calibration.exec_forms.extrapolation`); with too few
  functions over a wide span, the pooled fit's exponent and no shrinking;
- residuals (for SLAs) are kept per memory size where a size has at least :data:`MIN_PER_CONFIG`
  samples; predictions at another size use the *nearest configuration*'s residuals, then the pooled
  residuals of the function.

Samples that cannot be used (zero time, zero output size for the output model, zero memory) are skipped
and counted with the first few record origins in the :class:`FitReport`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, least_squares

from calibration.exec_forms import Samples, fit_power, power_log, select_exec
from calibration.exponent_prior import WIDE_SPAN, ExponentPrior, exponent_prior, span
from calibration.platform_fit import cold_start_ranks
from calibration.robust import robust_linear
from sim.models.performance import (
    BASELINE_MEMORY_MB,
    DEFAULT_MEMORY_EXPONENT,
    DEFAULT_STARTUP,
    DEFAULT_TRANSFER,
    FitInfo,
    OutputModel,
    PerformanceModels,
    Residuals,
    SizeClass,
    StartupModel,
    TransferModel,
)
from sim.models.records import (
    LoadReport,
    Record,
    TaskRecord,
    WorkerRecord,
    extra_number,
    first_calls,
    gil_hold_samples,
    io_aware_exec,
    shared_alone_ms,
    timeline_share_rates,
    uncontended_exec_ms,
)
from sim.workflow.language import IORelation

MIN_SAMPLES = 3  # fewer than this: a function keeps only its intercept
MIN_PER_CONFIG = 5  # samples a memory size needs to keep its own residuals
MIN_LOG_SPREAD = 0.05  # std of a log regressor below which its exponent is unidentifiable
# A function whose median CPU-bound fraction is below this is modelled as partly off-CPU (sleeping, I/O):
# only that fraction is shared with the tasks beside it. Above it, the task counts as CPU-bound: on a
# loaded host a CPU-bound task also gets less CPU than its allowance (fraction 0.6-0.9 measured), and
# that slowness is not something the tasks beside it escape.
CPU_BOUND_FRACTION = 0.5
# Calls shorter than the GIL switch interval (5 ms) overlap on one worker only if their work releases the
# GIL: a function whose short calls ran with a median concurrency above RELEASES_GIL_CONCURRENCY does.
SHORT_MS = 5.0
RELEASES_GIL_CONCURRENCY = 1.2
# A function's first call on a worker is fitted apart (ExecModel.first_call_ms) only when the records hold
# at least this many first calls, besides MIN_SAMPLES later calls to compare them with.
MIN_FIRST_CALLS = 2
TRANSFER_BAND_DECADES = 0.5  # width (log10 bytes) of a band of transfer sizes with its own residuals
MIN_PER_BAND = 30  # samples a band needs for its own residuals
DEFAULT_B = 1.0
DEFAULT_E = 1.0
DEFAULT_STARTUP_EXP = {"cold": DEFAULT_STARTUP.cold_exp, "warm": DEFAULT_STARTUP.warm_exp}


# ---------------------------------------------------------------------------------------------------------
def quality(observed: np.ndarray, predicted: np.ndarray) -> tuple[float | None, float | None]:
    """R² and MAPE on the original scale."""
    observed = np.asarray(observed, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if observed.size == 0:
        return None, None
    mape = float(np.mean(np.abs(predicted - observed) / observed))
    ss_tot = float(np.sum((observed - observed.mean()) ** 2))
    r2 = 1.0 - float(np.sum((observed - predicted) ** 2)) / ss_tot if ss_tot > 0 else None
    return r2, mape


def _spread(v: np.ndarray) -> float:
    return float(np.std(v)) if v.size else 0.0


# ---------------------------------------------------------------------------------------------------------
# the report
@dataclass(slots=True)
class SkipInfo:
    count: int = 0
    first: list[str] = field(default_factory=list)

    def add(self, where: str) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(where)


@dataclass(slots=True)
class ModelRow:
    """One fitted model in the report (observed/predicted kept for plots, not saved)."""

    model: str
    params: dict[str, float]
    exponents: dict[str, float]
    fit: FitInfo
    observed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(slots=True)
class FitReport:
    rows: list[ModelRow] = field(default_factory=list)
    skipped: dict[str, SkipInfo] = field(default_factory=dict)
    loads: list[LoadReport] = field(default_factory=list)
    replay: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, reason: str, where: str) -> None:
        self.skipped.setdefault(reason, SkipInfo()).add(where)

    def to_json(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "model": r.model,
                    "params": r.params,
                    "exponents": r.exponents,
                    "samples": r.fit.samples,
                    "r2": r.fit.r2,
                    "mape": r.fit.mape,
                    "fallback": r.fit.fallback,
                    "notes": r.fit.notes,
                }
                for r in self.rows
            ],
            "skipped": {k: {"count": v.count, "first": v.first} for k, v in self.skipped.items()},
            "loads": [
                {"source": r.source, "loaded": r.loaded, "skipped": r.skipped, "problems": r.problems}
                for r in self.loads
            ],
            "replay": self.replay,
        }


def _fit_gil_hold(models: PerformanceModels, held: dict[str, list[float]]) -> None:
    """``ExecModel.gil_hold``: the median of a function's own waits when it has :data:`MIN_SAMPLES`,
    else of every function's waits pooled (most functions of a run meet a waiting sibling once or
    twice); none where the work releases the GIL (``holds_gil`` False)."""
    pooled = [v for waits in held.values() for v in waits]
    for f, model in models.exec.items():
        own = held.get(f, [])
        waits = own if len(own) >= MIN_SAMPLES else pooled
        if model.holds_gil and len(waits) >= MIN_SAMPLES:
            model.gil_hold = float(np.median(waits))
            source = "its" if waits is own else "all functions'"
            model.fit.notes.append(
                f"a sibling ready beside a call waits {model.gil_hold:.2g} of it to start ({source} {len(waits)} waits)"
            )


# ---------------------------------------------------------------------------------------------------------
# samples
@dataclass(slots=True)
class _ExecSamples:
    x: list[float] = field(default_factory=list)
    m: list[float] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    t_io: list[float] = field(default_factory=list)  # alone, only the CPU part shared (io_aware_exec)
    f: list[float] = field(default_factory=list)  # CPU-bound fraction of each sample
    overlap: list[float] = field(default_factory=list)  # concurrency of calls shorter than SHORT_MS
    first: list[bool] = field(default_factory=list)  # the function's first call on its worker


def _declared_from_extra(extra: dict[str, Any]) -> IORelation | None:
    io = extra.get("io")
    if not isinstance(io, dict) or io.get("kind") in (None, "unknown"):
        return None
    try:
        return IORelation(io["kind"], float(io.get("k", 1.0)), float(io.get("exponent", 1.0)))
    except (ValueError, TypeError, KeyError):
        return None


def _mem_ratio(m: np.ndarray | float) -> np.ndarray | float:
    return (
        np.asarray(m, dtype=float) / BASELINE_MEMORY_MB
        if isinstance(m, np.ndarray)
        else m / BASELINE_MEMORY_MB
    )


def startup_alone_ms(rec: WorkerRecord) -> float:
    """A worker's start-up without the time its request waited for a free container at the cap (real
    records carry it as ``queued_ms``): the simulator's pool models that wait itself, and the start-up
    model is applied only once a container is acquired.

    Real records also carry the container's own start (``launcher_startup_ms``: until its serve loop
    answers; about 0 when warm); that is the start-up, and the rest (the invocation's hand-off, the
    plan's fetch) is the platform's invocation latency (:mod:`calibration.platform_fit`)."""
    launcher = extra_number(rec, "launcher_startup_ms")
    if launcher is not None:
        return max(launcher, 0.0)
    queued = extra_number(rec, "queued_ms")
    if queued is not None and queued > 0:
        return max(rec.startup_ms - queued, 0.0)
    return rec.startup_ms


# ---------------------------------------------------------------------------------------------------------
def fit_models(
    records: Sequence[Record],
    origins: Sequence[str] | None = None,
    declared: Mapping[str, IORelation] | None = None,
    report: FitReport | None = None,
) -> tuple[PerformanceModels, FitReport]:
    """Fit every model from ``records``; ``origins[i]`` names where record ``i`` came from (file:line)."""
    report = report if report is not None else FitReport()
    origins = list(origins) if origins is not None else [f"record {i + 1}" for i in range(len(records))]
    declared = dict(declared or {})
    exec_s: dict[str, _ExecSamples] = defaultdict(_ExecSamples)
    out_s: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    tr_b: list[float] = []
    tr_t: list[float] = []
    tr_m: list[float] = []
    tr_up: list[bool] = []
    st_s: dict[str, tuple[list[float], list[float]]] = {"cold": ([], []), "warm": ([], [])}
    # Cold starts requested together end one engine step apart: each is fitted without its steps.
    ranks, step = cold_start_ranks(records)
    firsts = first_calls(records)
    shared = shared_alone_ms(records)  # calls of one function that waited for each other
    crowded = timeline_share_rates(records)  # tasks whose overlap the runtime's meter missed
    for rec, where in zip(records, origins, strict=False):
        if isinstance(rec, TaskRecord):
            if rec.memory_mb <= 0:
                report.skip("task: memory_mb is 0", where)
                continue
            if rec.function not in declared:
                rel = _declared_from_extra(rec.extra)
                if rel is not None:
                    declared[rec.function] = rel
            if rec.exec_ms > 0:
                s = exec_s[rec.function]
                s.x.append(max(rec.input_bytes, 1))
                s.m.append(rec.memory_mb)
                # the simulator re-applies CPU sharing: fit the time alone
                if id(rec) in shared:
                    s.t.append(shared[id(rec)])
                elif id(rec) in crowded:
                    s.t.append(rec.exec_ms * crowded[id(rec)])
                else:
                    s.t.append(uncontended_exec_ms(rec))
                t_io, frac = io_aware_exec(rec)
                s.t_io.append(t_io)
                s.f.append(frac)
                if rec.concurrency is not None and rec.exec_ms < SHORT_MS:
                    s.overlap.append(rec.concurrency)
                s.first.append(id(rec) in firsts)
            else:
                report.skip("task: exec_ms is 0 (execution model)", where)
            if rec.output_bytes > 0:
                out_s[rec.function][0].append(max(rec.input_bytes, 1))
                out_s[rec.function][1].append(rec.output_bytes)
            else:
                report.skip("task: output_bytes is 0 (output model)", where)
            uploads = [rec.upload] if rec.upload is not None else []
            for tr, up in [(d, False) for d in rec.downloads] + [(u, True) for u in uploads]:
                if tr.bytes > 0 and tr.ms > 0:
                    tr_b.append(tr.bytes)
                    tr_t.append(tr.ms)
                    tr_m.append(rec.memory_mb)
                    tr_up.append(up)
                else:
                    report.skip("transfer: bytes or ms is 0", where)
        elif isinstance(rec, WorkerRecord):
            startup = startup_alone_ms(rec)
            if step is not None and id(rec) in ranks:
                startup = max(startup - (ranks[id(rec)] - 1) * step, 0.05 * startup)
            if rec.memory_mb > 0 and startup > 0:
                st_s[rec.state][0].append(rec.memory_mb)
                st_s[rec.state][1].append(startup)
            else:
                report.skip("worker: memory_mb or startup_ms is 0", where)
    models = PerformanceModels()
    extras = _first_call_extras(exec_s)
    _fit_exec(models, _without_first_call_extras(exec_s, extras), report)
    for f, extra in extras.items():
        models.exec[f].first_call_ms = extra
        models.exec[f].fit.notes.append(f"first call on a worker: +{extra:.3g} ms")
    _fit_gil_hold(models, gil_hold_samples(records))
    _fit_output(models, out_s, declared, report)
    _fit_transfer(
        models,
        np.array(tr_b, float),
        np.array(tr_t, float),
        np.array(tr_m, float),
        report,
        np.array(tr_up, bool),
    )
    _fit_startup(models, st_s, report)
    return models, report


# -- execution ----------------------------------------------------------------------------------------------
def _pooled_exec(samples: Mapping[str, _ExecSamples]) -> tuple[float | None, float | None, list[str]]:
    """Common exponents (b, c) over all functions with function-specific intercepts; None where the
    pooled data cannot identify one."""
    funcs = [f for f, s in samples.items() if len(s.t) >= MIN_SAMPLES]
    if not funcs:
        return None, None, []
    lx = [np.log(np.asarray(samples[f].x, float)) for f in funcs]
    lm = [np.log(_mem_ratio(np.asarray(samples[f].m, float))) for f in funcs]
    ly = [np.log(np.asarray(samples[f].t, float)) for f in funcs]
    # within-function spread is what identifies a common exponent
    sx = float(np.sqrt(np.mean(np.concatenate([v - v.mean() for v in lx]) ** 2)))
    sm = float(np.sqrt(np.mean(np.concatenate([v - v.mean() for v in lm]) ** 2)))
    use_b, use_c = sx >= MIN_LOG_SPREAD, sm >= MIN_LOG_SPREAD
    if not (use_b or use_c):
        return None, None, funcs
    # function-specific intercepts by the within transformation (demean per function), then a robust
    # fit of the common exponents on the demeaned data
    cols = []
    if use_b:
        cols.append(np.concatenate([v - v.mean() for v in lx]))
    if use_c:
        cols.append(-np.concatenate([v - v.mean() for v in lm]))
    beta = robust_linear(np.column_stack(cols), np.concatenate([v - v.mean() for v in ly]))
    b = float(beta[0]) if use_b else None
    c = float(beta[int(use_b)]) if use_c else None
    return b, c, funcs


def _exec_times(s: _ExecSamples) -> tuple[list[float], float]:
    """The times a function's model is fitted on and its CPU fraction: its time alone with only the CPU
    part shared when it is mostly off-CPU (below :data:`CPU_BOUND_FRACTION`), else the uncontended time."""
    cpu_fraction = float(np.median(s.f)) if s.f else 1.0
    return (s.t_io, cpu_fraction) if cpu_fraction < CPU_BOUND_FRACTION else (s.t, 1.0)


def _exec_arrays(
    s: _ExecSamples,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A function's CPU fraction, its inputs, memory sizes and fitted times (:func:`_exec_times`) as
    arrays, and their logs (memory as its ratio to the baseline): what every exec fit regresses on."""
    times, cpu_fraction = _exec_times(s)
    x, m, t = (np.asarray(v, float) for v in (s.x, s.m, times))
    return cpu_fraction, x, m, t, np.log(x), np.log(_mem_ratio(m)), np.log(t)


def _exec_prior(samples: Mapping[str, _ExecSamples]) -> ExponentPrior:
    """The input-exponent prior (:func:`calibration.exponent_prior.exponent_prior`) from each function's
    plain power-law fit and the span of its input sizes (``c`` fitted where memory varies, else 0)."""
    fits = []
    for s in samples.values():
        _, _, _, t, lx, lm, ly = _exec_arrays(s)
        if t.size < MIN_SAMPLES:
            continue
        if _spread(lx) >= MIN_LOG_SPREAD:
            c = None if _spread(lm) >= MIN_LOG_SPREAD else 0.0
            fits.append((fit_power(lx, lm, ly, None, c, False).b, span(lx)))
    return exponent_prior(fits)


def _fit_exec(models: PerformanceModels, samples: Mapping[str, _ExecSamples], report: FitReport) -> None:
    pooled_b, pooled_c, pooled_funcs = _pooled_exec(samples)
    # Too few functions over a wide span for a prior of their own (a recording set of one workflow): an
    # input size that barely varies takes the pooled fit's exponent, and exponents are extrapolated as
    # fitted. Shrinking toward the default b = 1 instead made 34 of the 240 re-predicted accuracy cells
    # (all wordcount) worse: median exec error 28.1 -> 29.5%, exec within 20% 78 -> 76 (the simulated
    # instance declares merge_counts' input 2x what the runs recorded); the pooled fit is no prior
    # either (one function's noise alone can make it -4).
    prior = _exec_prior(samples)
    for f in sorted(samples):
        s = samples[f]
        notes: list[str] = []
        cpu_fraction, x, m, t, lx, lm, ly = _exec_arrays(s)
        if cpu_fraction < 1.0:
            notes.append(f"{cpu_fraction:.0%} of the time on a CPU: only that part is shared")
        fallback = "fitted"
        few = t.size < MIN_SAMPLES
        free_b = not few and _spread(lx) >= MIN_LOG_SPREAD
        free_c = not few and _spread(lm) >= MIN_LOG_SPREAD
        why_b = f"only {t.size} samples" if few else "input size barely varies"
        why_c = f"only {t.size} samples" if few else f"a single memory size ({int(np.median(m))} MB)"
        if free_b:
            b = None
        elif prior.functions:
            b, fallback = prior.b, "pooled"
            notes.append(
                f"b = {prior.b:.3g}, the median exponent of {prior.functions} functions fitted over input "
                f"sizes at least {WIDE_SPAN:g}x apart ({why_b})"
            )
        elif pooled_b is not None:
            b, fallback = pooled_b, "pooled"
            notes.append(f"b = {pooled_b:.3g} from the pooled fit ({why_b})")
        else:
            b, fallback = DEFAULT_B, "default"
            notes.append(f"b = {DEFAULT_B:g} default ({why_b}; pooled data cannot identify it)")
        if free_c:
            c = None
        elif pooled_c is not None:
            c = pooled_c
            fallback = "pooled" if fallback == "fitted" else fallback
            notes.append(f"c = {pooled_c:.3g} from the pooled fit ({why_c})")
        else:
            c = DEFAULT_MEMORY_EXPONENT
            fallback = "default"
            notes.append(f"c = {DEFAULT_MEMORY_EXPONENT:g} default ({why_c}; pooled data cannot identify it)")
        model, chosen = select_exec(Samples(x, m, lx, lm, ly), b, c, few, prior if prior.functions else None)
        notes += chosen
        holds_gil = len(s.overlap) < MIN_SAMPLES or float(np.median(s.overlap)) <= RELEASES_GIL_CONCURRENCY
        if not holds_gil:
            notes.append(
                f"short calls overlapped (median concurrency {np.median(s.overlap):.2g}): releases the GIL"
            )
        model.cpu_fraction, model.holds_gil = cpu_fraction, holds_gil
        # residuals of the power law alone (sizes outside every class); classes keep their own
        logres = ly - power_log(model, lx, lm)
        by_mem: dict[int, np.ndarray] = {}
        thin: list[int] = []
        for mem in sorted({int(v) for v in m}):
            sel = m.astype(int) == mem
            if int(sel.sum()) >= MIN_PER_CONFIG:
                by_mem[mem] = logres[sel]
            else:
                thin.append(mem)
        if len(by_mem) >= 1 and (len(by_mem) > 1 or thin):
            model.residuals_by_memory = {mem: Residuals.from_array(v) for mem, v in by_mem.items()}
        if thin:
            if model.residuals_by_memory:
                near = {mm: min(by_mem, key=lambda q, mm=mm: abs(math.log(q / mm))) for mm in thin}
                notes.append(
                    "residuals from the nearest configuration: "
                    + ", ".join(
                        f"{mm} MB ({int((m.astype(int) == mm).sum())} samples) -> {q} MB"
                        for mm, q in near.items()
                    )
                )
                if fallback == "fitted":
                    fallback = "nearest-config"
            elif len({int(v) for v in m}) > 1:
                notes.append(f"no memory size has {MIN_PER_CONFIG} samples: pooled residuals")
        pred = np.array([model.median_ms(xi, mi) for xi, mi in zip(x, m, strict=True)])
        r2, mape = quality(t, pred)
        model.fit = FitInfo(samples=int(t.size), r2=r2, mape=mape, fallback=fallback, notes=notes)
        models.exec[f] = model
        report.rows.append(
            ModelRow(f"exec[{f}]", {"a": model.a}, {"b": model.b, "c": model.c}, model.fit, t, pred)
        )
    if pooled_funcs and (pooled_b is not None or pooled_c is not None):
        models.meta["pooled_exec"] = {"b": pooled_b, "c": pooled_c, "functions": len(pooled_funcs)}
    if prior.functions:
        models.meta["exec_b_prior"] = {"b": prior.b, "sd": prior.sd, "functions": prior.functions}


def _first_call_extras(samples: Mapping[str, _ExecSamples]) -> dict[str, float]:
    """Per function whose records hold both :data:`MIN_FIRST_CALLS` first calls on a worker and
    :data:`MIN_SAMPLES` later ones: how much longer a first call took than a later one, as the
    difference of their median excess over a model fitted on all the calls (so inputs of different
    sizes are compared through the model), never negative: a one-time cost (imports, page faults) is
    added, whatever the input's size. Functions with one call per worker (every call a first call)
    have no entry: the model fitted on their calls is right for such plans."""
    both = {
        f: s
        for f, s in samples.items()
        if sum(s.first) >= MIN_FIRST_CALLS and len(s.first) - sum(s.first) >= MIN_SAMPLES
    }
    if not both:
        return {}
    scratch = PerformanceModels()
    _fit_exec(scratch, both, FitReport())
    extras = {}
    for f, s in both.items():
        model = scratch.exec[f]
        times = s.t_io if model.cpu_fraction < 1.0 else s.t
        excess = [t - model.median_ms(x, m) for x, m, t in zip(s.x, s.m, times, strict=True)]
        first = [e for e, is_first in zip(excess, s.first, strict=True) if is_first]
        later = [e for e, is_first in zip(excess, s.first, strict=True) if not is_first]
        extras[f] = max(0.0, float(np.median(first)) - float(np.median(later)))
    return extras


def _without_first_call_extras(
    samples: Mapping[str, _ExecSamples], extras: Mapping[str, float]
) -> dict[str, _ExecSamples]:
    """The samples with each first call's extra taken off (at most 95% of its time): the execution
    model is then fitted on as many samples as before, all of them as later calls."""
    out = dict(samples)
    for f, extra in extras.items():
        s = samples[f]

        def cut(v: list[float], s: _ExecSamples = s, extra: float = extra) -> list[float]:
            return [max(t - extra, 0.05 * t) if first else t for t, first in zip(v, s.first, strict=True)]

        out[f] = _ExecSamples(s.x, s.m, cut(s.t), cut(s.t_io), s.f, s.overlap, s.first)
    return out


# -- output size ---------------------------------------------------------------------------------------------
def _declared_model(rel: IORelation) -> OutputModel | None:
    if rel.kind == "linear":
        return OutputModel(k=rel.k, e=1.0)
    if rel.kind == "power":
        return OutputModel(k=rel.k, e=rel.exponent)
    if rel.kind == "constant":
        return OutputModel(k=rel.k, e=0.0)
    return None


def _fit_output(
    models: PerformanceModels,
    samples: Mapping[str, tuple[list[float], list[float]]],
    declared: Mapping[str, IORelation],
    report: FitReport,
) -> None:
    spread_fns = [
        f
        for f, (x, _) in samples.items()
        if len(x) >= MIN_SAMPLES and _spread(np.log(np.asarray(x, float))) >= MIN_LOG_SPREAD
    ]
    pooled_e = None
    if spread_fns:
        lxs = [np.log(np.asarray(samples[f][0], float)) for f in spread_fns]
        lys = [np.log(np.asarray(samples[f][1], float)) for f in spread_fns]
        pooled_e = float(
            robust_linear(
                np.concatenate([v - v.mean() for v in lxs])[:, None],
                np.concatenate([v - v.mean() for v in lys]),
            )[0]
        )
    for f in sorted(set(samples) | {f for f, r in declared.items() if r.kind != "unknown"}):
        x = np.asarray(samples[f][0], float) if f in samples else np.zeros(0)
        y = np.asarray(samples[f][1], float) if f in samples else np.zeros(0)
        notes: list[str] = []
        rel = declared.get(f)
        model = _declared_model(rel) if rel is not None else None
        if model is not None:
            fallback = "declared"
            notes.append(
                f"declared I/O relation {rel.kind} (k={rel.k:g}, exponent={rel.exponent:g}) takes precedence"
            )
        else:
            lx, ly = np.log(x), np.log(y)
            fallback = "fitted"
            if x.size >= MIN_SAMPLES and _spread(lx) >= MIN_LOG_SPREAD:
                logk, e = robust_linear(np.column_stack([np.ones_like(lx), lx]), ly)
                e = float(e)
            else:
                why = f"only {x.size} samples" if x.size < MIN_SAMPLES else "input size barely varies"
                if pooled_e is not None:
                    e, fallback = pooled_e, "pooled"
                    notes.append(f"e = {pooled_e:.3g} from the pooled fit ({why})")
                else:
                    e, fallback = DEFAULT_E, "default"
                    notes.append(f"e = {DEFAULT_E:g} default ({why})")
                logk = float(np.median(ly - e * lx))
            model = OutputModel(k=math.exp(float(logk)), e=float(e))
        pred = np.array([model.bytes(v) for v in x])
        if x.size:
            model.residuals = Residuals.from_array(np.log(y) - np.log(np.maximum(pred, 1e-300)))
        r2, mape = quality(y, pred) if x.size else (None, None)
        model.fit = FitInfo(samples=int(x.size), r2=r2, mape=mape, fallback=fallback, notes=notes)
        models.output[f] = model
        report.rows.append(ModelRow(f"output[{f}]", {"k": model.k}, {"e": model.e}, model.fit, y, pred))


# -- transfer ------------------------------------------------------------------------------------------------
def _fit_transfer(
    models: PerformanceModels,
    b: np.ndarray,
    t: np.ndarray,
    m: np.ndarray,
    report: FitReport,
    up: np.ndarray | None = None,
) -> None:
    """The transfer model on every download and upload (``up`` marks the uploads; none without it): one
    latency, bandwidth and memory exponent, and the uploads' own bandwidth factor where both directions
    have :data:`MIN_SAMPLES` bandwidth-bound transfers (:func:`_upload_factor`)."""
    d = DEFAULT_TRANSFER
    if b.size == 0:
        models.transfer = TransferModel(
            d.latency_ms,
            d.bytes_per_ms,
            d.alpha,
            fit=FitInfo(0, None, None, "default", ["no transfer samples: built-in defaults"]),
        )
        report.rows.append(
            ModelRow(
                "transfer",
                {"latency_ms": d.latency_ms, "bytes_per_ms": d.bytes_per_ms},
                {"alpha": d.alpha},
                models.transfer.fit,
            )
        )
        return
    up = np.zeros(b.size, bool) if up is None else up
    notes: list[str] = []
    fallback = "fitted"
    lm = np.log(_mem_ratio(m))
    free_alpha = _spread(lm) >= MIN_LOG_SPREAD and b.size >= MIN_SAMPLES
    free_lat = _spread(np.log(b)) >= 0.5 and b.size >= MIN_SAMPLES
    free_bw = True
    if not free_alpha:
        fallback = "default"
        notes.append(f"alpha = {d.alpha:g} default (a single memory size or too few samples)")
    if not free_lat and float(np.median(b)) / d.bytes_per_ms < 0.5 * float(np.median(t)):
        # One size cannot separate latency from bandwidth. Small payloads whose time the default bandwidth
        # explains less than half of are round-trip bound: fit the latency, keep the default bandwidth
        # (fitting a bandwidth instead gave ~1 B/ms for 20-byte values: absurd for any larger output).
        free_lat, free_bw = True, False
        fallback = "default"
        notes.append(f"bytes_per_ms = {d.bytes_per_ms:g} default (transfer sizes barely vary; latency-bound)")
    elif not free_lat:
        fallback = "default"
        notes.append(f"latency = {d.latency_ms:g} ms default (transfer sizes barely vary)")
    lt = np.log(t)
    speed = b / t
    x0 = [math.log(max(float(np.min(t)) * 0.5, 1e-3)), math.log(float(np.median(speed))), d.alpha]

    def unpack(p: np.ndarray) -> tuple[float, float, float, float]:
        k = 0
        lat = math.exp(min(p[k], 700.0)) if free_lat else d.latency_ms
        k += free_lat
        bw = math.exp(min(p[k], 700.0)) if free_bw else d.bytes_per_ms
        k += free_bw
        alpha = p[k] if free_alpha else d.alpha
        k += free_alpha
        return lat, bw, alpha, math.exp(min(p[k], 700.0)) if k < p.size else 1.0

    def resid(p: np.ndarray) -> np.ndarray:
        lat, bw, alpha, factor = unpack(p)
        return np.log(lat + b / (bw * np.exp(alpha * lm) * np.where(up, factor, 1.0))) - lt

    p0 = np.array([v for v, keep in zip(x0, (free_lat, free_bw, free_alpha), strict=True) if keep])
    sol = _robust_least_squares(resid, p0)
    lat, bw, alpha, _ = unpack(sol.x)
    if free_bw and _upload_factor_identifiable(b / (bw * np.exp(alpha * lm)) >= lat, up):
        sol = _robust_least_squares(resid, np.append(sol.x, 0.0))
        lat, bw, alpha, factor = unpack(sol.x)
        notes.append(f"uploads' bandwidth {factor:.3g}x the downloads' ({int(up.sum())} uploads)")
    else:
        factor = 1.0
        notes.append(
            f"uploads' bandwidth = the downloads' (fewer than {MIN_SAMPLES} bandwidth-bound transfers "
            "in a direction)"
        )
    model = TransferModel(latency_ms=lat, bytes_per_ms=bw, alpha=float(alpha), upload_bw_factor=factor)
    pred = np.array([model.median_ms(bi, mi, ui) for bi, mi, ui in zip(b, m, up, strict=True)])
    model.residuals = Residuals.from_array(lt - np.log(pred))
    model.size_bands = transfer_bands(b, lt - np.log(pred))
    if model.size_bands:
        notes.append(
            f"residuals per transfer size: {len(model.size_bands)} bands of "
            f"{TRANSFER_BAND_DECADES:g} decade, from {model.size_bands[0].lo_bytes:.3g} B"
        )
    r2, mape = quality(t, pred)
    model.fit = FitInfo(samples=int(b.size), r2=r2, mape=mape, fallback=fallback, notes=notes)
    models.transfer = model
    report.rows.append(
        ModelRow(
            "transfer",
            {"latency_ms": lat, "bytes_per_ms": bw},
            {"alpha": float(alpha), "upload_bw_factor": factor},
            model.fit,
            t,
            pred,
        )
    )


def _robust_least_squares(resid: Callable[[np.ndarray], np.ndarray], p0: np.ndarray) -> OptimizeResult:
    """An ordinary fit, then a ``soft_l1`` one scaled by the first's median absolute deviation."""
    first = least_squares(resid, p0, method="trf")
    scale = max(1.4826 * float(np.median(np.abs(first.fun - np.median(first.fun)))), 1e-3)
    return least_squares(resid, first.x, loss="soft_l1", f_scale=scale, method="trf")


def _upload_factor_identifiable(bandwidth_bound: np.ndarray, up: np.ndarray) -> bool:
    """Whether the uploads' own bandwidth can be fitted: :data:`MIN_SAMPLES` transfers in each direction
    whose bytes take at least the latency (a round trip's time says nothing of a bandwidth; tree_reduction's
    5-byte values fitted factors of 1e-9 and 1e9)."""
    return (
        int((bandwidth_bound & up).sum()) >= MIN_SAMPLES and int((bandwidth_bound & ~up).sum()) >= MIN_SAMPLES
    )


def transfer_bands(b: np.ndarray, logres: np.ndarray) -> list[SizeClass]:
    """Residuals per band of :data:`TRANSFER_BAND_DECADES` of transfer size, for each band with
    :data:`MIN_PER_BAND` samples (none unless two bands have them): the spread of a transfer depends on
    its size, and a pooled ``average`` factor (4.5 on real runs, from the tail of tiny round trips)
    would inflate a megabyte's mean alike. Chosen on the real-runtime records
    (benchmarks/data/runtime_metrics.jsonl.gz) by 5-fold cross-validation by run *inside the training
    half* of each of 5 splits by run, against pooled residuals: quantile loss (p10..p90) -2.0..-2.5%;
    the ``average`` SLA's summed transfer time 0.95-0.98x the observed instead of 1.36-1.54x; its MAPE
    454-573% instead of 474-591%; p50 MAPE 79-85% either way."""
    key = np.floor(np.log10(b) / TRANSFER_BAND_DECADES)
    bands = []
    for k in np.unique(key):  # sorted: the bands are sorted and disjoint
        sel = key == k
        if int(sel.sum()) >= MIN_PER_BAND:
            lo, hi = float(b[sel].min()), float(b[sel].max())
            bands.append(SizeClass(lo, hi, 0.0, Residuals.from_array(logres[sel])))
    return bands if len(bands) > 1 else []


# -- start-up ------------------------------------------------------------------------------------------------
def _fit_startup(
    models: PerformanceModels,
    samples: Mapping[str, tuple[list[float], list[float]]],
    report: FitReport,
) -> None:
    d = DEFAULT_STARTUP
    out: dict[str, Any] = {}
    infos: list[str] = []
    total = 0
    fallbacks = []
    for state in ("cold", "warm"):
        m = np.asarray(samples[state][0], float)
        t = np.asarray(samples[state][1], float)
        base = d.cold_ms if state == "cold" else d.warm_ms
        if t.size == 0:
            out[state] = (base, DEFAULT_STARTUP_EXP[state], Residuals())
            infos.append(f"{state}: no samples, built-in {base:g} ms")
            fallbacks.append("default")
            report.rows.append(
                ModelRow(
                    f"startup[{state}]",
                    {f"{state}_ms": base},
                    {f"{state}_exp": DEFAULT_STARTUP_EXP[state]},
                    FitInfo(0, None, None, "default", [infos[-1]]),
                )
            )
            continue
        lm, lt = np.log(_mem_ratio(m)), np.log(t)
        notes = []
        if t.size >= MIN_SAMPLES and _spread(lm) >= MIN_LOG_SPREAD:
            logs, dexp = robust_linear(np.column_stack([np.ones_like(lm), lm]), lt)
            fb = "fitted"
        else:
            dexp = DEFAULT_STARTUP_EXP[state]
            logs = float(np.median(lt - dexp * lm))
            fb = "default"
            notes.append(f"{state}: exponent {dexp:g} default (a single memory size or too few samples)")
            infos.append(notes[-1])
        fallbacks.append(fb)
        scale = math.exp(float(logs))
        pred = scale * np.exp(float(dexp) * lm)
        res = Residuals.from_array(lt - np.log(pred))
        out[state] = (scale, float(dexp), res)
        total += t.size
        r2, mape = quality(t, pred)
        report.rows.append(
            ModelRow(
                f"startup[{state}]",
                {f"{state}_ms": scale},
                {f"{state}_exp": float(dexp)},
                FitInfo(int(t.size), r2, mape, fb, notes),
                t,
                pred,
            )
        )
    fb_all = (
        "fitted"
        if all(f == "fitted" for f in fallbacks)
        else ("default" if all(f == "default" for f in fallbacks) else "partial")
    )
    models.startup = StartupModel(
        out["cold"][0],
        out["cold"][1],
        out["warm"][0],
        out["warm"][1],
        out["cold"][2],
        out["warm"][2],
        FitInfo(total, None, None, fb_all, infos),
    )
