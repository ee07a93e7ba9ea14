"""Performance models behind both the simulator and the planners.

The forms (DESIGN.md, "Performance models"):

- execution: ``exec_ms(f, in_bytes, mem) = a_f * in_bytes**b_f * (mem/1024)**(-c_f)``
- output size: ``out_bytes(f, in_bytes) = k_f * in_bytes**e_f`` (or the function's declared relation)
- transfer: ``transfer_ms(bytes, mem) = latency + bytes / (bw * (mem/1024)**alpha)``, an upload's ``bw``
  times ``upload_bw_factor``
- start-up: ``startup_ms(mem, state) = s_state * (mem/1024)**d_state``

Every fitted model keeps its log residuals ``log(observed / predicted)``. An :class:`SLA` turns them into
a multiplicative factor on predicted *time*: ``average`` is the mean of ``exp(residual)``, ``pNN`` the
NN-th percentile, so a higher percentile is always more conservative (the reference inverted this for
transfers). Monte-Carlo replications draw one residual per prediction instead.

With nothing calibrated, :meth:`PerformanceModels.default` gives documented built-in numbers, so planners
always produce a plan.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.workflow.language import IORelation

if TYPE_CHECKING:  # numpy is imported where it is used: the worker entrypoint never needs it
    import numpy as np

BASELINE_MEMORY_MB = 1024
MODELS_FORMAT = "plansim.models"
MODELS_VERSION = 1


def is_models_file(path: str | Path) -> bool:
    """Whether ``path`` is a models file, from its first bytes (``save`` writes the format first): a
    models file written into a folder of traces is then not mistaken for a WfFormat trace."""
    try:
        with open(path, "rb") as f:
            return f'"{MODELS_FORMAT}"'.encode() in f.read(64)
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class SLA:
    """``average`` (quantile None) or ``pNN`` (quantile NN/100) of predicted time."""

    quantile: float | None = None

    @classmethod
    def parse(cls, text: str | SLA | None) -> SLA:
        if text is None:
            return cls()
        if isinstance(text, SLA):
            return text
        t = str(text).strip().lower()
        if t in ("average", "avg", "mean"):
            return cls()
        m = re.fullmatch(r"p?(\d{1,2}(?:\.\d+)?|100)", t)
        if not m or not 0 < float(m.group(1)) <= 100:
            raise ValueError(f"SLA must be 'average' or 'pNN' with 0 < NN <= 100, got {text!r}")
        return cls(float(m.group(1)) / 100)

    def __str__(self) -> str:
        if self.quantile is None:
            return "average"
        return f"p{self.quantile * 100:g}"


@dataclass(slots=True)
class Residuals:
    """Log residuals ``log(observed / predicted)`` of a fit, kept as a sorted sample (at most 256)."""

    values: list[float] = field(default_factory=list)

    @classmethod
    def from_array(cls, logs: np.ndarray, keep: int = 256) -> Residuals:
        import numpy as np

        logs = np.sort(np.asarray(logs, dtype=float))
        if logs.size > keep:
            logs = np.quantile(logs, (np.arange(keep) + 0.5) / keep)
        return cls([float(x) for x in logs])

    def factor(self, sla: SLA) -> float:
        """Multiplier on a median prediction that meets ``sla``."""
        if not self.values:
            return 1.0
        import numpy as np

        if sla.quantile is None:
            return float(np.mean(np.exp(self.values)))
        return float(math.exp(np.quantile(self.values, sla.quantile)))

    def sample(self, rng: np.random.Generator) -> float:
        """One random multiplier (for Monte-Carlo replications)."""
        if not self.values:
            return 1.0
        return math.exp(self.values[int(rng.integers(len(self.values)))])


@dataclass(slots=True)
class FitInfo:
    """How a model was obtained: sample count, quality, and which fallback (if any) was used."""

    samples: int = 0
    r2: float | None = None
    mape: float | None = None
    fallback: str = "default"  # fitted | nearest-config | pooled | declared | default
    notes: list[str] = field(default_factory=list)  # every fallback taken, in words


@dataclass(slots=True)
class SizeClass:
    """Tasks of one input size: the inputs of ``[lo_bytes, hi_bytes]`` (a few percent apart), their own
    level and spread.

    Many recorded functions run on a handful of distinct input sizes whose runtimes differ in a way no
    power law of the size explains (a BLAST query of 7.7 kB, 7.9 kB or 9.7 kB takes 9 s, 105 s or 25
    min, depending on the run). Such a class corrects the power law by a factor ``exp(offset)`` and keeps
    its own residuals; a size outside every class gets the power law and the function's residuals.
    """

    lo_bytes: float
    hi_bytes: float
    offset: float  # log of the class's median time over the power law's
    residuals: Residuals = field(default_factory=Residuals)  # log(observed / corrected prediction)

    def distance(self, in_bytes: float) -> float:
        """Log distance of ``in_bytes`` from the class's sizes (0 inside)."""
        x = max(in_bytes, 1.0)
        if x < self.lo_bytes:
            return math.log(self.lo_bytes / x)
        return math.log(x / self.hi_bytes) if x > self.hi_bytes else 0.0


SIZE_CLASS_MARGIN = math.log(1.01)  # an input this much beyond a class's observed sizes still belongs to it


@dataclass(slots=True)
class Extrapolation:
    """How an execution model grows beyond the input sizes it was fitted on, ``[lo_bytes, hi_bytes]``:
    with exponent ``b`` from the power law's value at the nearer end. Inside, the fitted exponent holds
    (it fits the sizes recorded); outside, an exponent fitted over a narrow span would turn noise into a
    trend (word_count_chunk's b = -1.3 over chunks 1.5x apart), so calibration shrinks it toward what
    functions fitted over a wide span show (calibration.exponent_prior)."""

    lo_bytes: float
    hi_bytes: float
    b: float


@dataclass(slots=True)
class ExecModel:
    a: float
    b: float
    c: float
    residuals: Residuals = field(default_factory=Residuals)
    fit: FitInfo = field(default_factory=FitInfo)
    # Residuals per memory size (MB, as a string key in JSON) where that size had enough samples; a
    # prediction at another size uses the nearest size's residuals, then the pooled ``residuals``.
    residuals_by_memory: dict[int, Residuals] = field(default_factory=dict)
    # The part of the time the task spends on a CPU (1: CPU-bound). The rest (sleeping, waiting for I/O)
    # is not slowed down by tasks sharing the worker's CPUs: the simulator shares only this part.
    cpu_fraction: float = 1.0
    # False when its short calls were measured overlapping each other on one worker: the work releases
    # Python's GIL (numpy), so the worker's hand-off does not wait for it (Simulation._dispatch_wait).
    holds_gil: bool = True
    # Extra time of the function's first call on a fresh worker (lazy imports, page faults, cold caches;
    # fitted by calibration.fit when the records hold both first and later calls on a worker). The
    # simulator adds it to the first call of the function on each worker, not to the others.
    first_call_ms: float = 0.0
    # Input-size classes with their own level and residuals (empty unless cross-validation chose them).
    size_classes: list[SizeClass] = field(default_factory=list)
    # Another exponent beyond the fitted input sizes (None: ``b`` everywhere).
    extrapolation: Extrapolation | None = None
    # The part of a call's time (0-1) during which a sibling that became ready on the same worker waits
    # to start: the call's C code keeps Python's GIL for longer than the switch interval
    # (calibration.fit from sim.models.records.gil_hold_samples; Simulation._dispatch_wait). 0: only
    # the switch interval.
    gil_hold: float = 0.0

    def size_class(self, in_bytes: float) -> SizeClass | None:
        """The class (sorted by size, disjoint) nearest to ``in_bytes`` if it is within
        :data:`SIZE_CLASS_MARGIN`, else None."""
        classes = self.size_classes
        if not classes:
            return None
        i = bisect.bisect_right(classes, in_bytes, key=lambda k: k.lo_bytes)
        near = min(classes[max(i - 1, 0) : i + 1], key=lambda k: k.distance(in_bytes))
        return near if near.distance(in_bytes) <= SIZE_CLASS_MARGIN else None

    def median_ms(self, in_bytes: float, memory_mb: float) -> float:
        x, e = max(in_bytes, 1.0), self.extrapolation
        if e is not None and not e.lo_bytes <= x <= e.hi_bytes:
            edge = e.hi_bytes if x > e.hi_bytes else e.lo_bytes
            scale = edge**self.b * (x / edge) ** e.b
        else:
            scale = x**self.b
        t = self.a * scale * (memory_mb / BASELINE_MEMORY_MB) ** (-self.c)
        k = self.size_class(in_bytes) if self.size_classes else None
        return t * math.exp(k.offset) if k is not None else t

    def residuals_for(self, memory_mb: float, in_bytes: float | None = None) -> Residuals:
        """Residuals of the input's size class; else of the nearest calibrated memory size (log
        distance); else the pooled ones."""
        if self.size_classes and in_bytes is not None:
            k = self.size_class(in_bytes)
            if k is not None:
                return k.residuals
        if not self.residuals_by_memory:
            return self.residuals
        nearest = min(self.residuals_by_memory, key=lambda m: (abs(math.log(m / memory_mb)), m))
        return self.residuals_by_memory[nearest]


@dataclass(slots=True)
class OutputModel:
    k: float
    e: float
    residuals: Residuals = field(default_factory=Residuals)
    fit: FitInfo = field(default_factory=FitInfo)

    def bytes(self, in_bytes: float) -> float:
        return self.k * max(in_bytes, 1.0) ** self.e


@dataclass(slots=True)
class TransferModel:
    latency_ms: float
    bytes_per_ms: float  # at the baseline memory
    alpha: float
    residuals: Residuals = field(default_factory=Residuals)
    fit: FitInfo = field(default_factory=FitInfo)
    # Residuals per band of transfer sizes (offset 0, sorted, disjoint), where calibration had enough
    # samples of a band: a 5-byte value's round trip and a megabyte's copy do not vary alike (measured on
    # real runs: the pooled mean factor 4.5 came from tiny transfers and nearly doubled the summed mean of
    # those from 100 kB).
    size_bands: list[SizeClass] = field(default_factory=list)
    # An upload's bandwidth over a download's. The runtime's upload is one SET of a blob pickled before
    # it; a download is one MGET whose reply the worker's event loop reads and parses, beside the tasks
    # computing there: on real runs a megabyte went up 1.7-18x faster than it came down (one fit for
    # both directions predicted uploads 1.6-2.9x too long and downloads 1.4-1.8x too short).
    upload_bw_factor: float = 1.0

    def median_ms(self, nbytes: float, memory_mb: float, upload: bool = False) -> float:
        if nbytes <= 0:
            return 0.0
        bw = self.bytes_per_ms * (memory_mb / BASELINE_MEMORY_MB) ** self.alpha
        return self.latency_ms + nbytes / (bw * self.upload_bw_factor if upload else bw)

    def residuals_for(self, nbytes: float) -> Residuals:
        """Residuals of the size band nearest to ``nbytes`` (log distance); the pooled ones without
        bands."""
        bands = self.size_bands
        if not bands:
            return self.residuals
        i = bisect.bisect_right(bands, nbytes, key=lambda k: k.lo_bytes)
        return min(bands[max(i - 1, 0) : i + 1], key=lambda k: k.distance(nbytes)).residuals


@dataclass(slots=True)
class StartupModel:
    cold_ms: float
    cold_exp: float
    warm_ms: float
    warm_exp: float
    cold_residuals: Residuals = field(default_factory=Residuals)
    warm_residuals: Residuals = field(default_factory=Residuals)
    fit: FitInfo = field(default_factory=FitInfo)

    def median_ms(self, memory_mb: float, state: str) -> float:
        scale = memory_mb / BASELINE_MEMORY_MB
        if state == "cold":
            return self.cold_ms * scale**self.cold_exp
        return self.warm_ms * scale**self.warm_exp

    def residuals(self, state: str) -> Residuals:
        return self.cold_residuals if state == "cold" else self.warm_residuals


@dataclass(slots=True)
class ReplayParams:
    """Platform parameters of one application's recorded executions (WfFormat trace replay).

    A replay is a list-scheduling simulation of the trace's DAG on its own machines, cores as slots.
    A task becomes ready ``ready_delay_s`` after its last parent ends (the workflow engine noticing the
    completion); a central scheduler releases one task per ``dispatch_s`` plus ``queue_dispatch_s``
    per task waiting behind it (counting at most ``queue_cap`` of them, when it is > 0); each machine starts one task
    per ``machine_dispatch_s``; a task holds its core for ``overhead_s`` + its recorded runtime + its
    input and output bytes over ``staging_bytes_per_s``, and keeps it ``slot_hold_s`` longer without
    delaying its children; the scheduler also moves each task's bytes
    over one shared link of ``shared_bytes_per_s``; the run ends ``fixed_s`` after the last task
    (planning, initial stage-in, clean-up). The files named in ``unsized_files`` count no bytes. See
    :mod:`calibration.replay`.
    """

    dispatch_s: float = 0.0
    queue_dispatch_s: float = 0.0
    machine_dispatch_s: float = 0.0
    overhead_s: float = 0.0
    slot_hold_s: float = 0.0
    ready_delay_s: float = 0.0
    staging_bytes_per_s: float = 1e30
    shared_bytes_per_s: float = 1e30
    fixed_s: float = 0.0
    queue_cap: float = 0.0  # the queue-length term counts at most this many waiting tasks (0: no cap)
    # machine_dispatch_s, overhead_s and slot_hold_s are those of a machine of this many cores; on one of
    # c cores they are ref_cores / c times as long (0: the same on every machine)
    ref_cores: float = 0.0
    # files whose bytes the replay leaves out: recorded as 0 bytes in some fitted runs and sized in others
    # (calibration.replay.unsized_files)
    unsized_files: tuple[str, ...] = ()
    fit: FitInfo = field(default_factory=FitInfo)
    # a second fit of the same runs, biased differently (pulled toward other applications' values): the
    # replay predicts the mean of the two makespans (see calibration.replay.fit_replay_groups's blend)
    blend: ReplayParams | None = None


# The numeric fields of ReplayParams (what a models file stores as numbers and a report prints as such).
REPLAY_NUMBERS = tuple(n for n in ReplayParams.__slots__ if n not in ("fit", "blend", "unsized_files"))


# Built-in defaults, used until calibration provides better numbers. They describe a small serverless
# platform with a Redis-like store: 1 ms per stored transfer plus 100 MB/s per transfer at 1 GB (scaling
# with memory^0.3), 1 ms + 20 ms per MB of input for a function nobody measured (memory^-0.3), and
# 600 ms cold / 15 ms warm worker start-up at 1 GB. A cold start gets faster with memory (it buys the CPU
# that the interpreter start and imports run on: measured here, 1249 ms at 512 MB and 686 ms at 1792 MB
# for the worker image); the reference's model had it the other way round.
DEFAULT_EXEC = ExecModel(a=2e-5, b=1.0, c=0.3)  # 20 ms per MB at 1 GB, plus the 1 ms floor below
DEFAULT_EXEC_FLOOR_MS = 1.0
DEFAULT_MEMORY_EXPONENT = 0.3
DEFAULT_TRANSFER = TransferModel(latency_ms=1.0, bytes_per_ms=100e3, alpha=0.3)
DEFAULT_STARTUP = StartupModel(cold_ms=600.0, cold_exp=-0.2, warm_ms=15.0, warm_exp=0.0)


@dataclass(slots=True)
class PerformanceModels:
    """All models, per function where it matters; the single source of predicted durations and sizes."""

    exec: dict[str, ExecModel] = field(default_factory=dict)
    output: dict[str, OutputModel] = field(default_factory=dict)
    transfer: TransferModel = field(default_factory=lambda: _copy(DEFAULT_TRANSFER))
    startup: StartupModel = field(default_factory=lambda: _copy(DEFAULT_STARTUP))
    meta: dict[str, Any] = field(default_factory=dict)
    # Trace-replay platform parameters keyed by application ("pegasus/montage"), by runtime system
    # ("pegasus") and "*" for all; empty means a plain replay of the recorded runtimes.
    replay: dict[str, ReplayParams] = field(default_factory=dict)

    @classmethod
    def default(cls) -> PerformanceModels:
        return cls()

    # -- predictions ------------------------------------------------------------------------------------
    def exec_ms(
        self,
        function: str,
        in_bytes: float,
        memory_mb: float,
        sla: SLA = SLA(),
        recorded_ms: float | None = None,
    ) -> float:
        """Execution time. A fitted function model wins; else the recorded runtime (taken as measured
        at the baseline memory and scaled by ``memory**-0.3``); else the default per-byte model."""
        model = self.exec.get(function)
        if model is not None:
            return model.median_ms(in_bytes, memory_mb) * model.residuals_for(memory_mb, in_bytes).factor(sla)
        if recorded_ms is not None:
            return recorded_ms * (memory_mb / BASELINE_MEMORY_MB) ** (-DEFAULT_MEMORY_EXPONENT)
        return DEFAULT_EXEC_FLOOR_MS + DEFAULT_EXEC.median_ms(in_bytes, memory_mb)

    def cpu_fraction(self, function: str) -> float:
        """The CPU-bound part of ``function``'s execution time (1 unless calibration measured less)."""
        model = self.exec.get(function)
        return model.cpu_fraction if model is not None else 1.0

    def holds_gil(self, function: str) -> bool:
        """Whether ``function``'s work keeps Python's GIL (True unless calibration measured otherwise)."""
        model = self.exec.get(function)
        return model.holds_gil if model is not None else True

    def gil_hold(self, function: str) -> float:
        """The part of a call of ``function`` a sibling waiting to start waits for (0 unless calibration
        measured it: ExecModel.gil_hold)."""
        model = self.exec.get(function)
        return model.gil_hold if model is not None else 0.0

    def first_call_ms(self, function: str) -> float:
        """Extra time of ``function``'s first call on a worker (0 unless calibration measured it)."""
        model = self.exec.get(function)
        return model.first_call_ms if model is not None else 0.0

    def output_bytes(
        self,
        function: str,
        in_bytes: float,
        declared: IORelation | None = None,
        recorded: float | None = None,
    ) -> float:
        """Output size: a declared I/O relation first, then the fitted model, then the recorded size,
        then the input size (a neutral guess)."""
        if declared is not None:
            predicted = declared.output_bytes(in_bytes)
            if predicted is not None:
                return predicted
        model = self.output.get(function)
        if model is not None:
            return model.bytes(in_bytes)
        if recorded is not None:
            return recorded
        return in_bytes

    def transfer_ms(self, nbytes: float, memory_mb: float, sla: SLA = SLA(), upload: bool = False) -> float:
        if nbytes <= 0:
            return 0.0
        t = self.transfer
        return t.median_ms(nbytes, memory_mb, upload) * t.residuals_for(nbytes).factor(sla)

    def startup_ms(self, memory_mb: float, state: str, sla: SLA = SLA()) -> float:
        return self.startup.median_ms(memory_mb, state) * self.startup.residuals(state).factor(sla)

    # -- files ------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODELS_FORMAT,
            "version": MODELS_VERSION,
            "meta": self.meta,
            "exec": {f: asdict(m) for f, m in sorted(self.exec.items())},
            "output": {f: asdict(m) for f, m in sorted(self.output.items())},
            "transfer": asdict(self.transfer),
            "startup": asdict(self.startup),
            "replay": {k: asdict(p) for k, p in sorted(self.replay.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PerformanceModels:
        if not isinstance(data, dict) or data.get("format") != MODELS_FORMAT:
            raise ValueError('models file is not a plansim models file (missing "format": "plansim.models")')
        if data.get("version") is None:
            raise ValueError(f"models file has no version (expected {MODELS_VERSION})")
        if data.get("version") != MODELS_VERSION:
            raise ValueError(
                f"models file version {data.get('version')!r} is not supported (expected {MODELS_VERSION})"
            )
        return cls(
            exec={f: _parse(f"exec[{f}]", _exec_from, d) for f, d in _section(data, "exec").items()},
            output={f: _parse(f"output[{f}]", _output_from, d) for f, d in _section(data, "output").items()},
            transfer=_parse("transfer", _transfer_from, data["transfer"])
            if "transfer" in data
            else _copy(DEFAULT_TRANSFER),
            startup=_parse("startup", _startup_from, data["startup"])
            if "startup" in data
            else _copy(DEFAULT_STARTUP),
            meta=_section(data, "meta"),
            replay={k: _parse(f"replay[{k}]", _replay_from, d) for k, d in _section(data, "replay").items()},
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> PerformanceModels:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"models file {str(path)!r} does not exist") from None
        except IsADirectoryError:  # the dashboard's --models takes any text: '[Errno 21]' said this
            raise ValueError(f"models file {str(path)!r} is a folder, not a models file") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"models file {str(path)!r} is not valid JSON: {exc}") from None
        try:
            return cls.from_json(data)
        except ValueError as exc:  # name the file: validate and the dashboard read more than one
            raise ValueError(str(exc).replace("models file", f"models file {str(path)!r}", 1)) from None


def _copy(model: Any) -> Any:
    return type(model)(**{k: getattr(model, k) for k in model.__slots__})


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"models file is malformed: {name!r} must be an object, got {type(value).__name__}")
    return value


def _parse(where: str, build: Any, d: Any) -> Any:
    """``build(d)`` for the model at ``where`` (``exec[add]``), any mistake in ``d`` one error naming it:
    a hand-edited file can hold a string, null, NaN or a missing field anywhere, which would otherwise
    surface as a TypeError deep in a simulation."""
    try:
        if not isinstance(d, dict):
            raise ValueError(f"must be an object, got {type(d).__name__}")
        return build(d)
    except KeyError as exc:
        raise ValueError(f"models file is malformed: {where}: missing field {exc.args[0]!r}") from None
    except (TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"models file is malformed: {where}: {exc}") from None


def _number(d: dict[str, Any], key: str, positive: bool = False) -> float:
    """A model parameter: a finite number (and > 0 for a divisor such as a bandwidth)."""
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{key} must be > 0, got {value!r}")
    return value


def _res(d: dict | list | None) -> Residuals:
    values = list(d.get("values", []) if isinstance(d, dict) else d or [])
    for v in values:  # NaN is kept: older files may hold it, and sampling tolerates it
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"residuals must be numbers, got {v!r}")
    return Residuals(values)


def _fit(d: dict | None) -> FitInfo:
    if not d:
        return FitInfo()
    return FitInfo(**{k: v for k, v in d.items() if k in FitInfo.__slots__})


def _exec_from(d: dict) -> ExecModel:
    by_memory = {int(m): _res(r) for m, r in (d.get("residuals_by_memory") or {}).items()}
    return ExecModel(
        _number(d, "a"),
        _number(d, "b"),
        _number(d, "c"),
        _res(d.get("residuals")),
        _fit(d.get("fit")),
        by_memory,
        float(d.get("cpu_fraction", 1.0)),
        bool(d.get("holds_gil", True)),
        float(d.get("first_call_ms", 0.0)),
        _size_classes(d.get("size_classes")),
        Extrapolation(**d["extrapolation"]) if d.get("extrapolation") else None,
        float(d.get("gil_hold", 0.0)),
    )


def _size_classes(items: list | None) -> list[SizeClass]:
    return [
        SizeClass(float(k["lo_bytes"]), float(k["hi_bytes"]), float(k["offset"]), _res(k.get("residuals")))
        for k in items or []
    ]


def _replay_from(d: dict) -> ReplayParams:
    known = {k: float(v) for k, v in d.items() if k in REPLAY_NUMBERS}
    blend = _replay_from(d["blend"]) if isinstance(d.get("blend"), dict) else None
    unsized = tuple(str(f) for f in d.get("unsized_files") or ())
    return ReplayParams(**known, unsized_files=unsized, fit=_fit(d.get("fit")), blend=blend)


def _output_from(d: dict) -> OutputModel:
    return OutputModel(_number(d, "k"), _number(d, "e"), _res(d.get("residuals")), _fit(d.get("fit")))


def _transfer_from(d: dict) -> TransferModel:
    return TransferModel(
        _number(d, "latency_ms"),
        _number(d, "bytes_per_ms", positive=True),
        _number(d, "alpha"),
        _res(d.get("residuals")),
        _fit(d.get("fit")),
        _size_classes(d.get("size_bands")),
        _number(d, "upload_bw_factor", positive=True) if "upload_bw_factor" in d else 1.0,
    )


def _startup_from(d: dict) -> StartupModel:
    return StartupModel(
        _number(d, "cold_ms"),
        _number(d, "cold_exp"),
        _number(d, "warm_ms"),
        _number(d, "warm_exp"),
        _res(d.get("cold_residuals")),
        _res(d.get("warm_residuals")),
        _fit(d.get("fit")),
    )
