"""``plansim run WORKFLOW --planner NAME``: run a workflow for real and print the result check and metrics.

WORKFLOW is a known workflow type (``gemm``, ``tree_reduction:leaves=64``; see ``plansim workflows``) or
``FILE.py:NAME`` where NAME is a sink node of decorated tasks, a list of sink nodes, or a Workflow.

Prints the result check (against an in-process run of the same code, for known types), makespan,
invocations, cold and warm starts; progress (tasks done / total) is shown while the run is under way.
Metric records go to Redis (the metrics store) and, with ``--metrics-out``, to a JSONL file.

The tasks' pip requirements (``@task(requirements=...)`` plus ``--requirements FILE``) are baked into a
derived worker image for Docker workers, or must be installed here for process workers
(:mod:`runtime.requirements`, :mod:`runtime.req_image`).
"""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runtime.client import RedisUnavailable, RunError, TaskFailed, WaitTimeout, run_workflow, write_records
from runtime.requirements import RequirementsError
from sim.cli import PLANNER_HELP, OutputFile, Seconds, refuse_overwriting_inputs
from sim.workflow.dag import Workflow

__all__ = ["run", "results_equal"]


class RunCliError(click.ClickException):
    """One ``error:`` line, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def results_equal(a: Any, b: Any) -> bool:
    """Deep equality that understands numpy arrays (close, for floats) and containers of them."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None  # type: ignore[assignment]
    if np is not None and (isinstance(a, np.ndarray) or isinstance(b, np.ndarray)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(results_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(results_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def describe(value: Any, limit: int = 80) -> str:
    """A short description of a result: arrays by shape and checksum, others by a truncated repr."""
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return f"ndarray{value.shape} {value.dtype} sum={float(np.sum(value)):.6g}"
    except ImportError:  # pragma: no cover
        pass
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_target(spec: str) -> tuple[Workflow, bool]:
    """The workflow for WORKFLOW, and whether it is a known type (so its result can be checked)."""
    from sim.workflow.library import is_python_spec, load_workflow

    return load_workflow(spec), not is_python_spec(spec)


MODELS_HELP = "performance models file (plansim calibrate); built-in defaults otherwise"


@click.command("run")
@click.argument("workflow")
@click.option(
    "--planner",
    "-p",
    default="wukong",
    show_default=True,
    help=PLANNER_HELP,
)
@click.option(
    "--launcher",
    type=click.Choice(["auto", "docker", "process"]),
    default="auto",
    show_default=True,
    help="workers as Docker containers or local processes (auto: Docker when an engine answers)",
)
@click.option(
    "--redis",
    "redis_url",
    envvar="PLANSIM_REDIS_URL",
    default=None,
    help="Redis URL (default: $PLANSIM_REDIS_URL, the server of `plansim runtime up`, or a private one)",
)
@click.option(
    "--sla", default="average", show_default=True, help="average or pNN (e.g. p90) of predicted time"
)
@click.option("--models", type=click.Path(exists=True, dir_okay=False), default=None, help=MODELS_HELP)
@click.option(
    "--memory",
    default="2048,4096,8192",
    show_default=True,
    help="memory sizes in MB for the planner (as simulate --memory)",
)
@click.option(
    "--opt",
    "optimizations",
    default="",
    help="comma-separated optimizations to switch on in the plan (plansim planners list); none by default",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=Seconds(),
    default=300.0,
    show_default=True,
    help="seconds for the whole run",
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option("--metrics-out", type=OutputFile(), default=None, help="also write metric records (JSONL)")
@click.option("--no-check", is_flag=True, help="do not compare the result with an in-process run")
@click.option(
    "--requirements",
    "requirements_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="a requirements.txt the tasks need, added to their @task(requirements=...) hints. Docker: "
    "baked into a derived worker image (wheels downloaded on this host, built once per requirement set, "
    "reused by later runs). Process: they must already be installed in this Python. Without it: the hints alone.",
)
def run(
    workflow: str,
    planner: str,
    launcher: str,
    redis_url: str | None,
    sla: str | None,
    models: str | None,
    memory: str | None,
    optimizations: str,
    timeout_s: float,
    as_json: bool,
    metrics_out: str | None,
    no_check: bool,
    requirements_file: str | None,
) -> None:
    """Run WORKFLOW for real with a planner and print the result check and its metrics.

    WORKFLOW is NAME[:key=value,...] of a known type (plansim workflows list), a WfFormat file or FILE.py:NAME.
    """
    console = Console(stderr=as_json)
    refuse_overwriting_inputs([metrics_out], [workflow, models, requirements_file])
    from sim.engine.cli import parse_optimizations

    opts = parse_optimizations(optimizations)  # an unknown name: one line before anything starts
    wf, known = load_target(workflow)
    memory_sizes = None
    if memory:
        from sim.models.resources import parse_memory_list

        memory_sizes = parse_memory_list(memory)
    if launcher == "auto":
        launcher = "docker" if _engine_answers() else "process"
    check, check_s = "skipped", None

    total = len(wf)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=as_json or not console.is_terminal,  # else an empty line is left on a pipe, error or not
    )
    bar = progress.add_task(f"{wf.name} ({planner}, {launcher})", total=total)

    def on_progress(done: int, n: int) -> None:
        progress.update(bar, completed=done, total=n)

    t = time.monotonic()
    try:
        with progress:
            report = run_workflow(
                wf,
                planner=planner,
                launcher=launcher,
                redis_url=redis_url,
                sla=sla,
                models=models,
                memory_sizes=memory_sizes,
                optimizations=opts,
                timeout_s=timeout_s,
                progress=on_progress,
                requirements_file=requirements_file,
            )
    except TaskFailed as exc:
        raise RunCliError(
            f"task {exc.task!r} failed on worker {exc.worker}: {exc.hint}\n{exc.remote_traceback.rstrip()}"
        ) from None
    except (WaitTimeout, RedisUnavailable, RunError, RequirementsError) as exc:
        raise RunCliError(str(exc)) from None
    if known and not no_check:  # the same code, run in this process, task by task
        from sim.workflow.local import run_local

        started = time.monotonic()
        with console.status("checking the result against an in-process run"):
            local = run_local(wf, keep="sinks")
        check_s = round(time.monotonic() - started, 3)
        check = "OK" if all(results_equal(report.results[s], local[s]) for s in wf.sinks) else "MISMATCH"
    written = write_records(report, metrics_out) if metrics_out else 0
    summary = report.summary()
    summary["result_check"] = check
    summary["check_s"] = check_s  # not in wall_s: the in-process run comes after the real one
    summary["result"] = describe(report.result)
    summary["elapsed_s"] = round(time.monotonic() - t, 3)
    if metrics_out:
        summary["metrics_out"] = metrics_out
        summary["records_written"] = written
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        table = Table(title=f"plansim run {workflow} --planner {planner}", show_header=False)
        for label, key in (
            ("result check", "result_check"),
            ("result", "result"),
            ("makespan ms", "makespan_ms"),
            ("ms per task", "ms_per_task"),
            ("tasks", "tasks"),
            ("tasks executed", "tasks_executed"),
            ("invocations", "invocations"),
            ("cold starts", "cold_starts"),
            ("warm starts", "warm_starts"),
            ("re-runs", "reruns"),
            ("optimizations", "optimizations"),
            ("launcher", "launcher"),
            ("wall s", "wall_s"),
            ("run id", "run_id"),
            ("keys left", "keys_left"),
        ):
            raw = summary[key]
            value = (", ".join(raw) or "none") if isinstance(raw, list) else str(raw)
            if key == "result_check" and check_s is not None:
                # It can take as long as the run itself (gemm: 8 s after a 13 s run), outside "wall s".
                value += f" (in-process run: {check_s:.1f} s; --no-check skips it)"
            table.add_row(label, value)
        if metrics_out:
            table.add_row("metrics", f"{written} records -> {metrics_out}")
        console.print(table)
    if check == "MISMATCH":
        raise RunCliError("the result differs from the in-process run of the same workflow")


def _engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:  # noqa: BLE001
        return False
