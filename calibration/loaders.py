"""Calibration inputs: JSONL metric files, WfFormat traces (files or folders), and Redis metric stores.

:func:`load_inputs` takes what ``plansim calibrate`` is given and returns a :class:`Dataset`: the
records (with where each came from, for the fit report), the traces (for replay calibration), and one
:class:`LoadReport` per source with what was skipped and why. A source that cannot be read at all is a
:class:`ValueError` naming it; bad records inside a readable source are skipped and counted.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from calibration.traces import Trace, TraceError, is_trace_path, load_trace, trace_records
from sim.models.performance import is_models_file
from sim.models.records import LoadReport, Record, RecordError, from_dict

JSONL = (".jsonl", ".jsonl.gz")  # metric files, plain or gzip-compressed


@dataclass(slots=True)
class Dataset:
    records: list[Record] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    reports: list[LoadReport] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)  # input -> simulated records left out of it

    def extend(self, other: Dataset) -> None:
        self.records += other.records
        self.origins += other.origins
        self.traces += other.traces
        self.reports += other.reports
        self.left_out.update(other.left_out)

    def drop_predictions(self) -> int:
        """Leave out the simulated records (``source`` ``sim``) when real ones are there too; return how
        many. ``plansim validate --metrics-out`` writes each run's plan beside what really happened, and
        a fit over both is pulled toward the models that made the plan. Simulated records alone (a
        what-if's ``--metrics-out``) are kept: fitting them is what their user asked for. Call it on one
        input's records (:func:`load_inputs` does): over several inputs, the real records of one would
        leave out a what-if file given beside it on purpose."""
        sources = [r.extra.get("source") for r in self.records]
        if "real" not in sources or "sim" not in sources:
            return 0
        keep = [i for i, source in enumerate(sources) if source != "sim"]
        dropped = len(self.records) - len(keep)
        self.records = [self.records[i] for i in keep]
        self.origins = [self.origins[i] for i in keep]
        return dropped


def load_jsonl(path: str | Path) -> Dataset:
    """Records of a JSONL metrics file (gzip-compressed when its name ends in ``.gz``); bad lines are
    skipped and counted with their line numbers."""
    data = Dataset()
    report = LoadReport(str(path))
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        fh = opener(path, "rt", encoding="utf-8", errors="replace")  # undecodable bytes fail as bad JSON
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        with fh:
            for lineno, line in enumerate(fh, 1):
                _load_line(data, report, line, f"{path}:{lineno}")
    except (OSError, EOFError, zlib.error) as exc:  # not gzip data, a truncated or corrupt file
        raise ValueError(f"cannot read {str(path)!r}: {exc}") from None
    data.reports.append(report)
    return data


def _load_line(data: Dataset, report: LoadReport, line: str, where: str) -> None:
    if not line.strip():
        return
    try:
        record = from_dict(json.loads(line))
    except (json.JSONDecodeError, RecordError, RecursionError) as exc:
        report.skip(where, str(exc))
        return
    report.loaded += 1
    data.records.append(record)
    data.origins.append(where)


def load_trace_file(path: str | Path) -> Dataset:
    data = Dataset()
    report = LoadReport(str(path))
    trace = load_trace(path)
    data.traces.append(trace)
    recs = trace_records(trace, report)
    data.records += recs
    data.origins += [f"{path}:task {r.task_id}" for r in recs]
    data.reports.append(report)
    return data


def load_redis(url: str) -> Dataset:
    import redis

    from calibration.redis_store import RedisMetricsStore
    from runtime.services import masked_url  # (here: the runtime's imports cost ~60 ms at every calibrate)

    data = Dataset()
    report = LoadReport(masked_url(url))
    store = RedisMetricsStore(url)
    try:
        for rec, where in store.iter_with_origin(report=report):
            data.records.append(rec)
            data.origins.append(where)
    except redis.RedisError as exc:
        raise ValueError(f"cannot read metrics from {masked_url(url)}: {exc}") from None
    finally:
        store.close()
    data.reports.append(report)
    return data


def expand(inputs: list[str]) -> list[str]:
    """Files of each input: folders recurse (``.jsonl``, ``.jsonl.gz`` and WfFormat files, sorted); others as given."""
    out: list[str] = []
    for item in inputs:
        if item.startswith(("redis://", "rediss://", "unix://")):
            out.append(item)
            continue
        p = Path(item)
        if p.is_dir():
            found = sorted(  # a models file kept beside the traces it was fitted on is not one of them
                str(f)
                for f in p.rglob("*")
                if f.is_file() and (f.name.endswith(JSONL) or (is_trace_path(f) and not is_models_file(f)))
            )
            if not found:
                raise ValueError(f"folder {item!r} holds no .jsonl(.gz) or WfFormat (.json, .json.xz) files")
            out += found
        elif is_models_file(p):
            raise ValueError(
                f"input {item!r} is a plansim models file, not metric records or a WfFormat trace"
            )
        elif p.exists():
            out.append(item)
        else:
            raise ValueError(f"input {item!r} does not exist")
    return out


def load_inputs(inputs: list[str], drop_predictions: bool = False) -> Dataset:
    """Every input's records and traces; with ``drop_predictions``, each input's simulated records
    are left out when that input holds real ones too (counted in ``left_out`` under its name)."""
    data = Dataset()
    for item in expand(inputs):
        part = _load_one(item)
        if drop_predictions and (dropped := part.drop_predictions()):
            part.left_out[part.reports[-1].source if part.reports else item] = dropped
        data.extend(part)
    return data


def _load_one(item: str) -> Dataset:
    if item.startswith(("redis://", "rediss://", "unix://")):
        return load_redis(item)
    if item.endswith(JSONL):
        return load_jsonl(item)
    if is_trace_path(item):
        try:
            return load_trace_file(item)
        except TraceError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError(f"input {item!r}: expected .jsonl(.gz), WfFormat .json/.json.xz, a folder or redis://")
