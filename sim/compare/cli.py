"""``plansim validate``: plan and simulate a workflow, run it for real N times, compare, report."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sim.cli import PLANNER_HELP, OutputFile, Seconds, UserError, refuse_overwriting_inputs
from sim.compare.plan_vs_real import TASK_METRICS
from sim.compare.report import NEEDS as REPORT_NEEDS
from sim.compare.validate import ValidationRun
from sim.compare.validate import validate as run_validation


def _pct(v: float | None, signed: bool = True) -> str:
    """A percentage; a signed error with its sign, a size of errors (median |error|) without one."""
    return "-" if v is None else f"{v:+.1f}%" if signed else f"{v:.1f}%"


def _num(v: float | None, digits: int = 1) -> str:
    """``v`` with ``digits`` decimals; a whole number (a count, bytes) without: 6, not 6.000."""
    if v is None:
        return "-"
    return str(int(v)) if float(v).is_integer() else f"{v:.{digits}f}"


@click.command()
@click.argument("workflow")
@click.option(
    "--planner",
    default="wukong",
    show_default=True,
    help=PLANNER_HELP,
)
@click.option("--runs", default=1, show_default=True, type=click.IntRange(min=1), help="Real runs.")
@click.option(
    "--calibrate", is_flag=True, help="Fit the models on the real runs so far before each next run."
)
@click.option(
    "--report",
    "report_path",
    type=OutputFile(needs=REPORT_NEEDS),
    default=None,
    help="Write a self-contained HTML report.",
)
@click.option(
    "--metrics-out",
    type=OutputFile(),
    default=None,
    help="Write every planned and real metric record (JSONL).",
)
@click.option("--memory", default="2048,4096,8192", show_default=True, help="Memory sizes in MB.")
@click.option("--sla", default="average", show_default=True, help="'average' or 'pNN' of predicted time.")
@click.option(
    "--platform", default="default", show_default=True, help="Simulated platform for the prediction."
)
@click.option(
    "--models",
    "models_path",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Starting models file; built-in defaults otherwise.",
)
@click.option(
    "--launcher",
    type=click.Choice(["process", "docker"]),
    default="process",
    show_default=True,
    help="Workers as local processes or Docker containers.",
)
@click.option(
    "--redis",
    "redis_url",
    default=None,
    help="Redis URL (default: $PLANSIM_REDIS_URL, the runtime's, or a private one).",
)
@click.option(
    "--timeout", "timeout_s", default=300.0, show_default=True, type=Seconds(), help="Per real run, seconds."
)
@click.option(
    "--opt",
    "optimizations",
    default="",
    help="Comma-separated optimizations to switch on in each run's plan (plansim planners list); none by "
    "default.",
)
def validate(
    workflow,
    planner,
    runs,
    calibrate,
    report_path,
    metrics_out,
    memory,
    sla,
    platform,
    models_path,
    launcher,
    redis_url,
    timeout_s,
    optimizations,
):
    """Plan and simulate WORKFLOW, run the same plan for real RUNS times, and compare each run with its
    prediction: per task (start, download, execution, upload, start-up state) and overall (makespan,
    cost, cold starts), with the general percentage offset of each prediction.

    WORKFLOW is NAME[:key=value,...] of a known type (plansim workflows list), a WfFormat file or FILE.py:NAME.
    """
    from runtime.client import RedisUnavailable, check_redis, resolve_redis_url
    from runtime.launchers.base import check_memory_sizes
    from sim.engine.cli import parse_optimizations
    from sim.models.resources import parse_memory_list

    refuse_overwriting_inputs([report_path, metrics_out], [workflow, models_path, platform])
    opts = parse_optimizations(optimizations)  # an unknown name: one line before any run
    check_memory_sizes(parse_memory_list(memory))  # before the prediction: every run would refuse them
    url = resolve_redis_url(redis_url)
    if url:  # without one, each run starts a private Redis
        try:
            check_redis(url)
        except RedisUnavailable as exc:
            raise UserError(str(exc)) from None
    console = Console()

    def on_run(vr: ValidationRun) -> None:
        c = vr.comparison
        mk = c.overall.get("makespan_ms", {})
        console.print(
            f"run {vr.index}: real {vr.real_run}: makespan planned {_num(mk.get('planned'))} ms, real "
            f"{_num(mk.get('real'))} ms ({_pct(mk.get('error_pct'))})"
            + (f" [red]{vr.error}[/red]" if vr.error else "")
        )

    result = run_validation(
        workflow,
        planner,
        runs,
        calibrate,
        parse_memory_list(memory),
        sla,
        models_path,
        platform,
        launcher,
        redis_url,
        timeout_s,
        on_run=on_run,
        optimizations=opts,
    )
    with_opts = f", optimizations {', '.join(result.optimizations)}" if result.optimizations else ""
    last = result.runs[-1].comparison
    for p in last.problems:
        console.print(f"[yellow]missing or mismatched:[/yellow] {p}")
    # Titles are lines of their own: rich wraps a table's title at the table's (narrow) width.
    console.print(f"{result.workflow} with {planner}{with_opts}: last run, overall")
    overall = Table()
    for col in ("metric", "planned", "real", "error"):
        overall.add_column(col, justify="left" if col == "metric" else "right")
    for m, v in last.overall.items():
        overall.add_row(m, _num(v["planned"], 3), _num(v["real"], 3), _pct(v["error_pct"]))
    console.print(overall)
    if len(result.runs) > 1 or last.comparable:
        # One column per run, one row per metric: runs are few, and nine metric columns did not fit an
        # 80-column terminal (headers and values cut to "makes…", "+222.…").
        rows = result.progression()
        # The makespan row is the run's signed error; the others are sizes of errors over the tasks (a
        # "+" on them, and the makespan under the same title, read as signed errors of the same kind).
        console.print("run by run: makespan error (planned vs real, signed), then each task metric's")
        console.print("general percentage offset (median |error| over tasks)")
        prog = Table()
        prog.add_column("metric")
        for row in rows:
            prog.add_column(f"run {row['run']}", justify="right")
        prog.add_row("makespan (signed)", *(_pct(row["makespan_err_pct"]) for row in rows))
        for m in TASK_METRICS:
            prog.add_row(m, *(_pct(row[f"{m}_offset_pct"], signed=False) for row in rows))
        console.print(prog)
    if metrics_out:
        from sim.models.records import write_jsonl

        n = write_jsonl(result.records(), metrics_out)
        console.print(f"{n} metric records: {Path(metrics_out).resolve()}", soft_wrap=True)
    if report_path:
        from sim.compare.report import write_report

        intro = (
            f"{runs} real run(s) of {workflow} planned by {planner} (SLA {sla}, memory {memory}, "
            f"launcher {launcher}{with_opts}){'; models re-fitted on the real runs before each next run' if calibrate else ''}."
        )
        write_report(
            report_path, result.comparisons, result.edges, title=f"plansim validate: {workflow}", intro=intro
        )
        console.print(f"report: {Path(report_path).resolve()}", soft_wrap=True)
    if all(r.error for r in result.runs):
        raise UserError("every real run failed: " + result.runs[-1].error)
