"""``plansim simulate`` and ``plansim compare``: the what-if commands."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sim.cli import PLANNER_HELP, PLANNER_SPEC, OutputFile, refuse_overwriting_inputs
from sim.engine.gantt import NEEDS as GANTT_NEEDS
from sim.engine.gantt import SUFFIXES as GANTT_SUFFIXES
from sim.engine.platform import load_platform
from sim.engine.whatif import WhatIf, models_line, what_if
from sim.models.performance import SLA, PerformanceModels
from sim.models.records import write_jsonl
from sim.models.resources import parse_memory_list
from sim.workflow.dag import Workflow


def load_workflow(text: str) -> Workflow:
    from sim.workflow.library import load_workflow as load

    return load(text)


def _common(fn):
    options = [
        click.option(
            "--memory",
            "memory",
            default="2048,4096,8192",
            show_default=True,
            help="Memory sizes in MB; uniform, wukong and dask-like use the first, the others choose among all.",
        ),
        click.option(
            "--sla", default="average", show_default=True, help="'average' or 'pNN' of predicted time."
        ),
        click.option(
            "--platform", default="default", show_default=True, help="'default', 'ideal' or a JSON file."
        ),
        click.option(
            "--models",
            "models_path",
            type=click.Path(dir_okay=False),
            default=None,
            help="Calibrated models file (plansim calibrate); built-in defaults otherwise.",
        ),
        click.option(
            "--opt",
            "optimizations",
            default="",
            help="Comma-separated optimizations to switch on (plansim planners list); none by default.",
        ),
        click.option(
            "--seed",
            default=0,
            show_default=True,
            type=int,
            help="Seed of the Monte-Carlo replications (they use seed+1 .. seed+N); the single "
            "prediction does not depend on it.",
        ),
        click.option(
            "--replications",
            default=0,
            show_default=True,
            type=click.IntRange(min=0),
            help="Monte-Carlo replications sampling the models' residuals.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _models(path: str | None) -> PerformanceModels | None:
    return PerformanceModels.load(path) if path else None


def parse_optimizations(text: str) -> frozenset[str]:
    """Comma-separated optimization names (--opt), each one checked: an unknown name is a ValueError."""
    names = frozenset(x.strip() for x in text.split(",") if x.strip())
    if names:
        try:
            from sim.planners.optimizations import OPTIMIZATIONS
        except ImportError:
            OPTIMIZATIONS = {}
        unknown = sorted(names - set(OPTIMIZATIONS))
        if unknown:
            known = ", ".join(sorted(OPTIMIZATIONS)) or "none yet"
            raise ValueError(f"unknown optimization {unknown[0]!r} (known: {known})")
    return names


def _run(workflow, planner, memory, sla, platform, models, optimizations, seed, replications) -> WhatIf:
    return what_if(
        workflow,
        planner,
        parse_memory_list(memory),
        SLA.parse(sla),
        platform,
        models,
        seed=seed,
        replications=replications,
        optimizations=parse_optimizations(optimizations),
    )


ROWS = [
    ("makespan (ms)", lambda s: f"{s['makespan_ms']:.1f}"),
    ("cost (GB-s)", lambda s: f"{s['cost_gb_s']:.3f}"),
    ("allocated (GB-s)", lambda s: f"{s['alloc_gb_s']:.3f}"),
    ("invocations", lambda s: str(s["invocations"])),
    ("workers", lambda s: str(s["workers"])),
    ("cold / warm starts", lambda s: f"{s['cold_starts']} / {s['warm_starts']}"),
    ("planned workers", lambda s: str(s["plan"]["planned_workers"])),
    (
        "workers by memory",
        lambda s: ", ".join(f"{m} MB x{n}" for m, n in s["plan"]["workers_by_memory"].items()) or "-",
    ),
    (
        "flexible tasks",
        lambda s: " ".join(
            [str(s["plan"]["flexible_tasks"])]
            + [f"({m} MB x{n})" for m, n in s["plan"].get("flexible_tasks_by_memory", {}).items()]
        ),
    ),
    ("MB uploaded", lambda s: f"{s['bytes_uploaded'] / 1e6:.3f}"),
    ("MB downloaded", lambda s: f"{s['bytes_downloaded'] / 1e6:.3f}"),
    ("store operations", lambda s: str(s["store_ops"])),
    ("critical path (tasks)", lambda s: str(s["critical_path_length"])),
    ("planning + simulation (ms)", lambda s: f"{s['planning_ms']:.1f} + {s['simulation_ms']:.1f}"),
]


def _table(summaries: list[dict]) -> Table:
    table = Table()
    table.add_column("")
    for s in summaries:  # folded, not cut: a plug-in's name is a path whose end (the class) tells them apart
        table.add_column(s["planner"], justify="right", overflow="fold")
    for label, fmt in ROWS:
        table.add_row(label, *(fmt(s) for s in summaries))
    if any("replications" in s for s in summaries):
        for q in (5, 50, 95):
            table.add_row(
                f"makespan p{q} (ms)",
                *(
                    f"{s['replications'][f'makespan_ms_p{q}']:.1f}" if "replications" in s else "-"
                    for s in summaries
                ),
            )
    return table


def _title(
    wf: Workflow,
    first: dict,
    models_path: str | None,
    models: PerformanceModels | None,
    exec_from_recorded: bool = False,
) -> str:
    """What was simulated, in lines printed above the table.

    Not the table's title: rich wraps a title at the table's width, which split "SLA average" over two
    lines in the demo's own output. The optimizations are common to every column (one --opt)."""
    opts = ", ".join(first["plan"]["optimizations"]) or "none"
    return (
        f"{wf.name} ({len(wf)} tasks, type {first['workflow_type']})\n"
        f"platform {first['platform']}, SLA {first['sla']}, optimizations {opts}\n"
        + models_line(wf, models_path, models, exec_from_recorded, first["platform"])
    )


@click.command()
@click.argument("workflow")
@click.option(
    "--planner",
    default="wukong",
    show_default=True,
    help=PLANNER_HELP,
)
@_common
@click.option(
    "--gantt",
    type=OutputFile(suffixes=GANTT_SUFFIXES, needs=GANTT_NEEDS),
    default=None,
    help="Write a Gantt chart (.png or .html).",
)
@click.option("--metrics-out", type=OutputFile(), default=None, help="Write metric records (JSONL).")
def simulate(
    workflow,
    planner,
    memory,
    sla,
    platform,
    models_path,
    optimizations,
    seed,
    replications,
    as_json,
    gantt,
    metrics_out,
):
    """Plan WORKFLOW with one planner and simulate it.

    WORKFLOW is NAME[:key=value,...] of a known type (plansim workflows list), a WfFormat file or FILE.py:NAME.
    """
    refuse_overwriting_inputs([gantt, metrics_out], [workflow, models_path, platform])
    wf = load_workflow(workflow)
    models = _models(models_path)
    platform = load_platform(platform)  # once: `--platform <(...)` is a pipe, readable once
    result = _run(wf, planner, memory, sla, platform, models, optimizations, seed, replications)
    if gantt:
        from sim.engine.gantt import write_gantt

        write_gantt(result.result.output.tasks, gantt, f"{wf.name}: {planner}")
    if metrics_out:
        write_jsonl(result.result.records(f"sim-{planner}-{seed}"), metrics_out)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
        return
    console = Console()
    summary = result.summary()
    console.print(
        _title(wf, summary, models_path, models, platform.exec_from_recorded),
        highlight=False,
        soft_wrap=True,
    )
    console.print(_table([summary]))
    if gantt:
        console.print(f"Gantt chart: {Path(gantt).resolve()}", soft_wrap=True)
    if metrics_out:
        console.print(f"metric records: {Path(metrics_out).resolve()}", soft_wrap=True)


@click.command()
@click.argument("workflow")
@click.option(
    "--planners",
    default="uniform,non-uniform,wukong",
    show_default=True,
    help=f"Comma-separated planners, each {PLANNER_SPEC}[:key=value...].",
)
@_common
def compare(
    workflow, planners, memory, sla, platform, models_path, optimizations, seed, replications, as_json
):
    """Plan and simulate WORKFLOW with several planners, side by side.

    WORKFLOW is NAME[:key=value,...] of a known type (plansim workflows list), a WfFormat file or FILE.py:NAME.
    """
    wf = load_workflow(workflow)
    names = [p.strip() for p in planners.split(",") if p.strip()]
    if not names:
        raise ValueError("--planners needs at least one planner name")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # the same planner twice is the same plan: two identical columns
        raise ValueError(f"--planners names {', '.join(twice)} more than once")
    models = _models(models_path)
    platform = load_platform(platform)  # once for every planner: `--platform <(...)` is readable once
    results = [_run(wf, n, memory, sla, platform, models, optimizations, seed, replications) for n in names]
    summaries = [r.summary() for r in results]
    if as_json:
        click.echo(json.dumps(summaries, indent=1))
        return
    console = Console()
    console.print(
        _title(wf, summaries[0], models_path, models, platform.exec_from_recorded),
        highlight=False,
        soft_wrap=True,
    )
    console.print(_table(summaries))
