"""The dashboard's logic, without Streamlit: loading metrics, the workflow types seen in them, what-if
runs, calibration fits and plan-vs-real pairs. Every function returns messages instead of raising for
missing or mismatched data, so a page can say what is missing."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sim.compare.plan_vs_real import RunData, group_runs
from sim.models.records import LoadReport, Record, iter_jsonl

ENV_METRICS = (
    "PLANSIM_DASH_METRICS"  # a JSON list (or one path) of metric files (JSONL, traces) or redis:// URLs
)
ENV_MODELS = "PLANSIM_DASH_MODELS"  # a models file
ENV_REDIS = "PLANSIM_DASH_REDIS"  # the runtime's Redis URL (live page)


@dataclass(slots=True)
class Settings:
    metrics: list[str] = field(default_factory=list)
    models: str | None = None
    redis: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        raw = os.environ.get(ENV_METRICS, "").strip()
        if raw.startswith("["):
            metrics = [str(m) for m in json.loads(raw) if str(m).strip()]
        else:  # a single source (redis:// URLs contain the path separator, so no splitting)
            metrics = [raw] if raw else []
        return cls(metrics, os.environ.get(ENV_MODELS) or None, os.environ.get(ENV_REDIS) or None)


@dataclass(slots=True)
class Metrics:
    records: list[Record] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    loads: list[LoadReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # sources that could not be read at all
    sources: list[str] = field(default_factory=list)  # the source of each record


def load_metrics(sources: Sequence[str]) -> Metrics:
    """Records of every source (JSONL files, WfFormat traces, redis:// metric stores). A source that
    cannot be read is an error message; bad lines are counted in the load reports."""
    out = Metrics()
    for src in sources:
        try:
            try:
                from calibration.loaders import expand, load_inputs
            except ImportError:
                load_inputs = None
            if load_inputs is not None:
                # a folder's files are sources each: calibrate leaves out simulated records file by file
                for item in expand([src]):
                    ds = load_inputs([item])
                    out.records += ds.records
                    out.origins += ds.origins
                    out.sources += [item] * len(ds.records)
                    out.loads += ds.reports
            else:
                rep = LoadReport(src)
                recs = list(iter_jsonl(src, rep))
                out.records += recs
                out.origins += [src] * len(recs)
                out.sources += [src] * len(recs)
                out.loads.append(rep)
        except Exception as exc:  # noqa: BLE001 - shown on the page
            out.errors.append(f"{src}: {type(exc).__name__}: {exc}")
    return out


@dataclass(slots=True)
class SeenType:
    """A workflow type seen in the metrics: its hash, the names runs gave it, and its runs."""

    workflow_type: str
    names: list[str]
    runs: dict[str, list[str]]  # source (sim / real / trace / ...) -> run ids
    planners: list[str]
    tasks: int  # most tasks seen in one run

    @property
    def label(self) -> str:
        name = "/".join(self.names) if self.names else "unnamed"
        n = sum(len(v) for v in self.runs.values())
        return f"{name} [{self.workflow_type}] ({n} run{'s' if n != 1 else ''})"


def seen_types(records: Sequence[Record]) -> list[SeenType]:
    runs = group_runs(records)
    by_type: dict[str, list[RunData]] = defaultdict(list)
    for run in runs.values():
        for wt in run.workflow_types:
            by_type[wt].append(run)
    out = []
    for wt, rs in sorted(by_type.items()):
        names = sorted({r.workflow_name for r in rs if r.workflow_name})
        per_source: dict[str, list[str]] = defaultdict(list)
        for r in rs:
            per_source[r.source].append(r.run_id)
        planners = sorted({r.planner for r in rs if r.planner})
        out.append(SeenType(wt, names, dict(per_source), planners, max(len(r.tasks) for r in rs)))
    return out


def known_types() -> list[str]:
    try:
        from sim.workflow.library import workflow_types

        return list(workflow_types())
    except Exception:  # noqa: BLE001 - the library may be partly written
        return []


def resolve_seen(seen: SeenType, spec: str | None = None, search_known: bool = True) -> tuple[Any, str]:
    """The workflow behind a seen type. ``spec`` (``NAME:k=v`` or a file) is the user's answer when the
    runs' names are not enough; otherwise the names the runs gave, then (``search_known``) the runnable
    known types with default parameters, are tried for one of the same type hash.
    Returns (workflow or None, message)."""
    from sim.engine.simulator import workflow_type

    try:
        from sim.workflow.library import load_workflow, workflow_types
    except ImportError:
        return None, "the library of known workflow types is not installed"
    if spec:
        try:
            wf = load_workflow(spec)
        except Exception as exc:  # noqa: BLE001
            return None, f"cannot build {spec!r}: {exc}"
        got = workflow_type(wf)
        if got != seen.workflow_type:
            return None, (
                f"{spec!r} is workflow type {got}, not the type {seen.workflow_type} seen in the metrics: "
                f"adjust its parameters"
            )
        return wf, f"{spec!r} has the type {seen.workflow_type} seen in the metrics"
    candidates = list(seen.names)
    if search_known:
        try:
            candidates += [n for n, t in workflow_types().items() if t.runnable and n not in candidates]
        except Exception:  # noqa: BLE001 - a partly written library
            pass
    tried = []
    for name in candidates:
        try:
            wf = load_workflow(name)
        except Exception as exc:  # noqa: BLE001
            tried.append(f"{name} ({type(exc).__name__})")
            continue
        if workflow_type(wf) == seen.workflow_type:
            return wf, f"workflow {name!r} has the type {seen.workflow_type} seen in the metrics"
        if name in seen.names:
            tried.append(f"{name} with default parameters is type {workflow_type(wf)}")
    return None, (
        f"no known workflow with default parameters has the type {seen.workflow_type} seen in the metrics "
        f"(names in the runs: {', '.join(seen.names) or 'none'}; {'; '.join(tried[:4]) or 'nothing tried'}). "
        f"Give its parameters (NAME:k=v,...) to simulate it."
    )


def run_what_if(
    wf: Any,
    planners: Sequence[str],
    memory: Sequence[int],
    sla: str,
    models: Any = None,
    platform: str = "default",
    seed: int = 0,
    replications: int = 0,
) -> tuple[list[Any], list[str]]:
    """What-if for each planner; returns (WhatIf results, error messages per failed planner)."""
    from sim.engine.whatif import what_if

    results, errors = [], []
    for p in planners:
        try:
            results.append(
                what_if(wf, p, list(memory), sla, platform, models, seed=seed, replications=replications)
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{p}: {type(exc).__name__}: {exc}")
    return results, errors


SUMMARY_ROWS = [
    ("makespan (ms)", "makespan_ms"),
    ("cost (GB-s)", "cost_gb_s"),
    ("allocated (GB-s)", "alloc_gb_s"),
    ("invocations", "invocations"),
    ("workers", "workers"),
    ("cold starts", "cold_starts"),
    ("warm starts", "warm_starts"),
    ("bytes uploaded", "bytes_uploaded"),
    ("bytes downloaded", "bytes_downloaded"),
    ("critical path (tasks)", "critical_path_length"),
    ("planning (ms)", "planning_ms"),
    ("simulation (ms)", "simulation_ms"),
]


def summary_table(results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Row label -> {planner: value}: the planners side by side."""
    sums = [r.summary() for r in results]
    table: dict[str, dict[str, Any]] = {}
    for label, key in SUMMARY_ROWS:
        table[label] = {s["planner"]: s.get(key) for s in sums}
    if any("replications" in s for s in sums):
        for q in (5, 50, 95):
            table[f"makespan p{q} (ms)"] = {
                s["planner"]: s.get("replications", {}).get(f"makespan_ms_p{q}") for s in sums
            }
    return table


def to_fit(m: Metrics) -> tuple[list[Record], list[str], dict[str, int]]:
    """The records ``plansim calibrate`` would fit of these sources, their origins, and per source how
    many simulated records were left out: each source's plan records when it holds real ones too
    (calibration's Dataset.drop_predictions, source by source, as calibrate does)."""
    try:
        from calibration.loaders import Dataset
    except ImportError:
        return list(m.records), list(m.origins), {}
    by_source: dict[str, Dataset] = {}
    for rec, origin, src in zip(m.records, m.origins, m.sources, strict=True):
        part = by_source.setdefault(src, Dataset())
        part.records.append(rec)
        part.origins.append(origin)
    records: list[Record] = []
    origins: list[str] = []
    left_out: dict[str, int] = {}
    for src, part in by_source.items():
        if dropped := part.drop_predictions():
            left_out[src] = dropped
        records += part.records
        origins += part.origins
    return records, origins, left_out


def fit(records: Sequence[Record], origins: Sequence[str] | None = None) -> tuple[Any, Any, str | None]:
    """(models, fit report, message): calibration's fit on the records."""
    try:
        from calibration.fit import fit_models
    except ImportError:
        return None, None, "calibration is not installed"
    if not records:
        return None, None, "no metric records to fit"
    try:
        models, report = fit_models(list(records), origins)
    except Exception as exc:  # noqa: BLE001
        return None, None, f"the fit failed: {type(exc).__name__}: {exc}"
    return models, report, None


def fit_rows(report: Any) -> list[dict[str, Any]]:
    rows = []
    for r in report.rows:
        rows.append(
            {
                "model": r.model,
                "samples": r.fit.samples,
                # rounded as the fit report prints them: 0.00000000000002 % read as a precision it lacks
                "R²": None if r.fit.r2 is None else round(r.fit.r2, 3),
                "MAPE %": None if r.fit.mape is None else round(100 * r.fit.mape, 1),
                "fallback": r.fit.fallback,
                "parameters": ", ".join(f"{k}={v:.4g}" for k, v in r.params.items()),
                "exponents": ", ".join(f"{k}={v:.3g}" for k, v in r.exponents.items()),
                "notes": "; ".join(r.fit.notes),
            }
        )
    return rows


@dataclass(slots=True)
class Pairing:
    real_runs: list[RunData]
    planned_runs: list[RunData]
    messages: list[str]


def pairing(records: Sequence[Record]) -> Pairing:
    """Real runs and planned (simulated) runs in the metrics, with what is missing said in words."""
    runs = group_runs(records)
    real = [r for r in runs.values() if r.source == "real"]
    planned = [r for r in runs.values() if r.source == "sim"]
    msgs = []
    if not real:
        msgs.append(
            "no real runs in the metrics (records with source 'real'): run a workflow with "
            "`plansim run` or `plansim validate` and load its metrics"
        )
    if not planned:
        msgs.append(
            "no planned runs in the metrics (simulator records, source 'sim'): `plansim validate "
            "--metrics-out FILE` writes a plan and its real runs, `plansim simulate --metrics-out FILE` a plan"
        )
    for r in real:
        if not any(p.workflow_types & r.workflow_types for p in planned):
            msgs.append(
                f"real run {r.run_id} ({r.workflow_name or r.workflow_type}, {r.planner}): no planned run of "
                f"the same workflow type"
            )
    for p in planned:
        if not any(p.workflow_types & r.workflow_types for r in real):
            msgs.append(
                f"planned run {p.run_id} ({p.workflow_name or p.workflow_type}, {p.planner}): no real run of "
                f"the same workflow type"
            )
    key = lambda r: r.run_id  # noqa: E731
    return Pairing(sorted(real, key=key), sorted(planned, key=key), msgs)


def default_plan_for(real: RunData, planned: Sequence[RunData]) -> RunData | None:
    """The planned run a real run is compared with: the one it names (extra ``plan_run``), else one of the
    same workflow type and planner, else of the same workflow type."""
    link = real.run.extra.get("plan_run") if real.run is not None else None
    for p in planned:
        if link and p.run_id == link:
            return p
    same = [p for p in planned if p.workflow_types & real.workflow_types]
    for p in same:
        if p.planner == real.planner:
            return p
    return same[0] if same else None


def records_of(records: Sequence[Record], run_id: str) -> list[Record]:
    return [r for r in records if r.run_id == run_id]
