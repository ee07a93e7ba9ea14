"""``plansim calibrate``, ``plansim models show|predict`` and ``plansim replay``."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from calibration.report import NEEDS as REPORT_NEEDS
from calibration.report import SUFFIXES as REPORT_SUFFIXES
from calibration.report import models_tables
from sim.cli import OutputFile, outputs_or_none, refuse_overwriting_inputs
from sim.models.performance import REPLAY_NUMBERS, SLA, FitInfo, PerformanceModels

MODELS_VERSION_NOTE = "plansim.models v1"


def _dev_split(files: list[str]) -> list[str]:
    """Development files of WfInstances folders: per folder, sorted by name, the 1st, 3rd, 5th, ..."""
    from calibration.loaders import JSONL

    by_dir: dict[str, list[str]] = {}
    for f in files:
        by_dir.setdefault(str(Path(f).parent), []).append(f)
    keep: set[str] = set()
    for group in by_dir.values():
        keep.update(sorted(group, key=lambda p: Path(p).name)[0::2])
    return [
        f
        for f in files
        if f in keep or f.startswith(("redis://", "rediss://", "unix://")) or f.endswith(JSONL)
    ]


def _inputs_named(inputs: tuple[str, ...] | list[str], most: int = 3) -> str:
    """The inputs as typed, an empty file said to be one (the likeliest reason it held no records)."""

    def named(i: str) -> str:
        p = Path(i)
        return f"{i} (empty)" if p.is_file() and p.stat().st_size == 0 else i

    names = [named(i) for i in inputs[:most]]
    return ", ".join(names) + (f" and {len(inputs) - most} more" if len(inputs) > most else "")


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=OutputFile(), help="models file to write (JSON)")
@click.option(
    "--report",
    "report_path",
    type=OutputFile(suffixes=REPORT_SUFFIXES, needs=REPORT_NEEDS),
    help="fit report: .html or .png",
)
@click.option(
    "--dev-only",
    is_flag=True,
    help="of WfFormat traces in each folder, use only the development "
    "files (1st, 3rd, 5th, ... by name); see ../shared/data/README.md beside the checkout",
)
@click.option(
    "--keep-simulated",
    is_flag=True,
    help="fit the simulated (planned) records of an input that also holds real ones (validate's "
    "--metrics-out); by default they are left out of that input. An input of simulated records "
    "only is always fitted",
)
@click.option("--no-replay", is_flag=True, help="do not fit trace-replay parameters")
@click.option("--quick", is_flag=True, help="a faster, coarser replay fit")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=min(4, os.cpu_count() or 1),
    show_default=True,
    help="processes for replay fitting",
)
def calibrate(
    inputs: tuple[str, ...],
    output: str,
    report_path: str | None,
    dev_only: bool,
    keep_simulated: bool,
    no_replay: bool,
    quick: bool,
    jobs: int,
) -> None:
    """Fit the performance models from INPUT... (.jsonl or .jsonl.gz metric files, WfFormat .json/.json.xz files or
    folders, redis://... metric stores) and write a versioned JSON models file."""
    from calibration.fit import fit_models
    from calibration.loaders import expand, load_inputs
    from calibration.replay import PLAIN, fit_replay_groups, group_traces, mape

    files = expand(list(inputs))
    refuse_overwriting_inputs([output, report_path], files)  # a folder's files are inputs too
    if dev_only:
        files = _dev_split(files)
    data = load_inputs(files, drop_predictions=not keep_simulated)
    console = Console(width=160)
    if not data.records and not data.traces:
        skipped = sum(r.skipped for r in data.reports)
        first = next((p for r in data.reports for p in r.problems), "")
        raise ValueError(
            f"no usable records in the input ({skipped} skipped; first: {first})"
            if skipped
            else f"no records in {_inputs_named(inputs)}"
        )
    models, report = fit_models(data.records, data.origins)
    report.loads = data.reports
    if not data.traces and not any(r.fit.samples for r in report.rows):
        reasons = (
            "; ".join(f"{k}: {v.count}" for k, v in report.skipped.items()) or "no task or worker records"
        )
        raise ValueError(
            f"nothing usable to fit: {len(data.records)} record(s) loaded, none with a usable sample ({reasons})"
        )
    if data.traces and not no_replay:
        usable = [t for t in data.traces if t.makespan_s]
        kwargs = {"effort": 0.4, "max_terms": 2} if quick else {}
        t0 = time.time()
        models.replay = fit_replay_groups(usable, workers=jobs, **kwargs)
        groups = group_traces(usable)
        for key, params in models.replay.items():
            report.replay.append(
                {
                    "application": key,
                    "traces": len(groups[key]),
                    "plain_mape": mape(groups[key], PLAIN),
                    "mape": params.fit.mape,
                    "fallback": params.fit.fallback,
                    "params": {n: getattr(params, n) for n in REPLAY_NUMBERS},
                }
            )
        models.meta["replay_fit_seconds"] = round(time.time() - t0, 1)
    models.meta.update(
        {
            "inputs": list(inputs),
            "records": len(data.records),
            "traces": len(data.traces),
            "skipped_records": sum(r.skipped for r in data.reports),
            "left_out_simulated": data.left_out,
            "skipped_samples": {k: v.count for k, v in report.skipped.items()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    with outputs_or_none([output, report_path]):
        _write_outputs(models, output, report, report_path, data.left_out, console)


def _write_outputs(
    models: PerformanceModels,
    output: str,
    report: Any,
    report_path: str | None,
    left_out: dict[str, int],
    console: Console,
) -> None:
    """Save the models file, print the fit report and write it (``--report``)."""
    from calibration.report import print_report, write_report

    models.save(output)
    for source, n in left_out.items():
        console.print(
            f"left out the {n} simulated (planned) records of {source}, which holds real ones too: fitted "
            "on its real records (--keep-simulated fits both)",
            highlight=False,
            soft_wrap=True,
        )
    print_report(report, console)
    if report_path:
        write_report(report, report_path)
        console.print(f"report written to {report_path}", highlight=False)
    console.print(
        f"models written to {output} ({len(models.exec)} execution models, {len(models.output)} output "
        f"models, {len(models.replay)} replay parameter sets)",
        highlight=False,
    )


@click.group()
def models() -> None:
    """Inspect a models file and predict with it."""


def _g(v: float | None, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v * 100:.1f}%" if pct else f"{v:.4g}"


@models.command("show")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the file's JSON without residual samples")
def show(path: str, as_json: bool) -> None:
    """Show the models of a models file: parameters, sample counts, fit quality and fallbacks."""
    m = PerformanceModels.load(path)
    if as_json:
        data = m.to_json()
        for section in ("exec", "output"):
            for d in data[section].values():
                d.pop("residuals", None)
                d.pop("residuals_by_memory", None)
                for k in d.get("size_classes", []):
                    k.pop("residuals", None)
        for key in ("residuals", "cold_residuals", "warm_residuals"):
            data["transfer"].pop(key, None)
            data["startup"].pop(key, None)
        for k in data["transfer"].get("size_bands", []):
            k.pop("residuals", None)
        click.echo(json.dumps(data, indent=1))
        return
    console = Console(width=160)
    console.print(f"{path}: {MODELS_VERSION_NOTE}", highlight=False)
    for title, rows in models_tables(m).items():
        if not rows:
            continue
        # columns empty in every row (a replay fit's R², notes never written) would only squeeze the rest
        cols = [h for h in rows[0] if any(row[h] not in (None, "") for row in rows)]
        t = Table(title=escape(title))
        for i, h in enumerate(cols):
            t.add_column(h, overflow="fold", no_wrap=i == 0)  # the function or application: whole
        for row in rows:
            t.add_row(*("-" if row[h] is None else escape(str(row[h])) for h in cols))
        console.print(t)


@models.command("predict")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--function", "function", required=True, help="function name as calibrated")
@click.option("--input-bytes", required=True, type=click.IntRange(min=0), help="total input bytes")
@click.option("--memory", required=True, type=click.IntRange(min=1), help="worker memory in MB")
@click.option(
    "--sla", default="average", show_default=True, help="'average' or pNN (percentile of predicted time)"
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def predict(path: str, function: str, input_bytes: int, memory: int, sla: str, as_json: bool) -> None:
    """Predict execution time, output size, its download and upload times and worker start-up for one task."""
    m = PerformanceModels.load(path)
    level = SLA.parse(sla)
    if function not in m.exec and function not in m.output:
        known = sorted(set(m.exec) | set(m.output))
        shown = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "")
        raise ValueError(f"unknown function {function!r} in {path} (known: {shown or 'none'})")
    exec_ms = m.exec_ms(function, input_bytes, memory, level) if function in m.exec else None
    out = m.output_bytes(function, input_bytes) if function in m.output else float(input_bytes)
    result = {
        "function": function,
        "input_bytes": input_bytes,
        "memory_mb": memory,
        "sla": str(level),
        "exec_ms": exec_ms,
        "output_bytes": out,
        "transfer_ms": m.transfer_ms(out, memory, level),  # a download of the output
        "upload_ms": m.transfer_ms(out, memory, level, upload=True),  # (its own bandwidth: upload_bw_factor)
        "startup_ms": {
            "cold": m.startup_ms(memory, "cold", level),
            "warm": m.startup_ms(memory, "warm", level),
        },
        "fallbacks": {
            "exec": m.exec[function].fit.fallback if function in m.exec else "unknown",
            "output": m.output[function].fit.fallback if function in m.output else "identity",
            "transfer": m.transfer.fit.fallback,
            "startup": m.startup.fit.fallback,
        },
    }
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    how_exec = _provenance(m.exec[function].fit) if function in m.exec else "unknown"
    how_output = _provenance(m.output[function].fit) if function in m.output else "identity"
    click.echo(f"function {function}, input {input_bytes} B, memory {memory} MB, SLA {level}")
    click.echo(f"exec_ms      {_g(exec_ms)}  ({how_exec})")
    click.echo(f"output_bytes {out:.6g}  ({how_output})")
    click.echo(
        f"transfer_ms  {result['transfer_ms']:.6g}  (a download of the output; {_provenance(m.transfer.fit)})"
    )
    click.echo(
        f"upload_ms    {result['upload_ms']:.6g}  (its upload: x{m.transfer.upload_bw_factor:.3g} the bandwidth)"
    )
    click.echo(
        f"startup_ms   cold {result['startup_ms']['cold']:.6g}, warm {result['startup_ms']['warm']:.6g}  "
        f"({_provenance(m.startup.fit)})"
    )


def _provenance(fit: FitInfo) -> str:
    """Where a model came from, in a few words: its fallback, the samples behind it and, when something
    was not fitted, what (a model labelled ``default`` may have fitted all but one exponent)."""
    if not fit.samples:
        return fit.fallback
    text = f"{fit.fallback}, {fit.samples} samples"
    taken = [n for n in fit.notes if " default" in n or "pooled" in n or "nearest" in n or "median" in n]
    return f"{text}: {'; '.join(taken)}" if fit.fallback not in ("fitted", "declared") and taken else text


@click.command()
@click.argument("trace_path", metavar="TRACE", type=click.Path(dir_okay=False))
@click.option(
    "--models",
    "models_path",
    type=click.Path(dir_okay=False),
    help="models file with replay parameters (without: recorded runtimes only)",
)
@click.option("--app", "app", help="use this application's parameters instead of the trace's own")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def replay(trace_path: str, models_path: str | None, app: str | None, as_json: bool) -> None:
    """Simulate a recorded WfFormat execution on its own machines with the calibrated platform
    parameters, and print the predicted and recorded makespan and the error."""
    from calibration.replay import PLAIN, params_for
    from calibration.replay import replay as run_replay
    from calibration.traces import TraceError, load_trace

    try:
        trace = load_trace(trace_path)
    except TraceError as exc:
        raise ValueError(str(exc)) from None
    if not trace.machines:  # e.g. `plansim workflows export`: its tasks would queue on one core
        raise ValueError(
            f"{trace_path} records no machines (workflow.execution.machines): replay needs a recorded "
            "execution, with the machines it ran on"
        )
    m = PerformanceModels.load(models_path) if models_path else PerformanceModels()
    if models_path and not m.replay:  # else the recorded runtimes' replay, as if the file had been used
        raise ValueError(
            f"{models_path} has no trace-replay parameters (fitted on metric records, or with --no-replay): "
            "calibrate WfFormat traces for them, or leave out --models to replay the recorded runtimes only"
        )
    if app is not None:
        if app not in m.replay:
            raise ValueError(
                f"no replay parameters for {app!r} in {models_path} (have: {', '.join(sorted(m.replay)) or 'none'})"
            )
        key, params = app, m.replay[app]
    else:
        key, params = params_for(m, trace)
    predicted = run_replay(trace, params)
    plain = run_replay(trace, PLAIN)
    rec = trace.makespan_s
    err = (predicted - rec) / rec if rec else None
    result = {
        "trace": trace_path,
        "application": trace.application,
        "parameters": key,
        "tasks": len(trace.tasks),
        "machines": len(trace.machines),
        "cores": trace.cores,
        "predicted_makespan_s": predicted,
        "recorded_makespan_s": rec,
        "error": err,
        "plain_replay_makespan_s": plain,
    }
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    click.echo(
        f"trace {trace_path}: {trace.application}, {len(trace.tasks)} tasks on {len(trace.machines)} machines "
        f"({trace.cores} cores); parameters: {key}"
    )
    click.echo(f"predicted makespan {predicted:.1f} s")
    click.echo(f"recorded makespan  {rec:.1f} s" if rec else "recorded makespan  (not in the trace)")
    if err is not None:
        click.echo(
            f"error              {err * 100:+.1f}%  (runtimes alone: {plain:.1f} s, {(plain - rec) / rec * 100:+.1f}%)"
        )
