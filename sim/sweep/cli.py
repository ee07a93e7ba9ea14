"""``plansim sweep``: a grid of what-if simulations, on a local process pool or a Dask cluster."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sim.cli import PLANNER_SPEC, OutputFile, outputs_or_none, refuse_overwriting_inputs
from sim.sweep.grid import count_points, expand_grid, parse_memory_sets, split_list
from sim.sweep.plots import TABLE_NEEDS, TABLE_SUFFIXES, plot_paths, plot_summary, write_table
from sim.sweep.runner import SweepInterrupted, run_sweep, to_frame


def known_workflows() -> list[str]:
    """Names of the known workflow types (the library's registry), or an empty list without one."""
    try:
        from sim.workflow import library
    except ImportError:
        return []
    try:
        return list(library.workflow_types())
    except ImportError:  # a type module that is not written yet
        return []


@click.command()
@click.option(
    "--workflows",
    "workflows",
    multiple=True,
    default=("all",),
    show_default=True,
    help="Workflows (NAME[:k=v,...] or WfFormat files), comma-separated or repeated; 'all': every known type.",
)
@click.option(
    "--planners",
    multiple=True,
    default=("uniform,non-uniform,wukong",),
    show_default=True,
    help=f"Planners, each {PLANNER_SPEC}[:key=value...]; comma-separated or repeated.",
)
@click.option(
    "--memory",
    "memory",
    multiple=True,
    default=("2048,4096,8192",),
    show_default=True,
    help="Memory sets in MB: each value (or each ';'-separated part) is one set, e.g. '2048;2048,4096,8192'.",
)
@click.option(
    "--sla",
    "slas",
    multiple=True,
    default=("average",),
    show_default=True,
    help="SLAs ('average', 'pNN'), comma-separated or repeated.",
)
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seeds per point: 1 = deterministic prediction; N > 1 = N Monte-Carlo runs (seeds 0..N-1).",
)
@click.option("--platform", default="default", show_default=True, help="'default', 'ideal' or a JSON file.")
@click.option(
    "--models",
    "models_path",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Calibrated models file; built-in defaults otherwise.",
)
@click.option(
    "--opt",
    "optimizations",
    default="",
    help="Comma-separated optimizations to switch on (plansim planners list); none by default.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=OutputFile(make_parents=True, suffixes=TABLE_SUFFIXES, needs=TABLE_NEEDS),
    help="Results table: .parquet or .csv (plots are written next to it).",
)
@click.option(
    "--dask",
    "dask_address",
    default=None,
    help="Address of an existing Dask scheduler (tcp://host:port); without it, local processes (--workers).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Local processes (default: CPU count)."
)
@click.option("--no-plots", is_flag=True, help="Skip the summary plots.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary table.")
def sweep(
    workflows,
    planners,
    memory,
    slas,
    seeds,
    platform,
    models_path,
    optimizations,
    output,
    dask_address,
    workers,
    no_plots,
    quiet,
):
    """Simulate every combination of workflows x planners x memory sets x SLAs x seeds.

    One row per point in the results table (makespan_ms, cost_gb_s, invocations, cold starts, bytes moved,
    planning and simulation time); summary plots next to it (makespan and cost per planner and workflow,
    Pareto front of cost vs makespan).
    """
    out = Path(output)
    names = split_list(workflows, "workflows")
    refuse_overwriting_inputs([output], [*names, models_path, platform])
    if "all" in names:
        known = known_workflows()
        if not known:
            raise ValueError("no registry of known workflow types is installed: name the workflows")
        names = list(dict.fromkeys([n for n in names if n != "all"] + known))
    from sim.sweep.runner import load_workflow

    for n in names:  # fail early on a bad name, with the library's message
        load_workflow(n)
    opts = split_list([optimizations], "opt") if optimizations.strip() else []
    groups = expand_grid(
        names,
        split_list(planners, "planners"),
        parse_memory_sets(memory),
        split_list(slas, "sla"),
        seeds,
        platform,
        models_path,
        opts,
    )
    n = count_points(groups)
    console = Console(stderr=True, quiet=quiet)
    where = f"Dask cluster {dask_address}" if dask_address else f"{workers or 'all'} local processes"
    console.print(f"sweep: {n} points ({len(groups)} plans) on {where}")
    t0 = time.perf_counter()
    try:
        df = run_sweep(groups, dask=dask_address, workers=workers, progress=not quiet)
    except SweepInterrupted as exc:  # the finished points are kept: the table, and one error line
        out.parent.mkdir(parents=True, exist_ok=True)
        write_table(to_frame(exc.rows), out)
        raise ValueError(
            f"{exc}; the {exc.finished} finished points are in {out} (the others' rows say 'not run'), "
            "no plots written"
        ) from None
    elapsed = time.perf_counter() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    with outputs_or_none([out, *([] if no_plots else plot_paths(out))]):
        write_table(df, out)
        plots = [] if no_plots else plot_summary(df, out)
    failed = int(df["error"].notna().sum())
    console.print(f"{n} points in {elapsed:.1f} s ({n / elapsed:.1f} points/s); {failed} failed")
    if failed:
        first = df[df["error"].notna()].iloc[0]
        console.print(f"first failure: {first['workflow']} {first['planner']}: {first['error']}")
    if not quiet:
        table = Table(title="median of the n points per workflow and planner", title_justify="left")
        ok = df[df["error"].isna()]
        # Names in full, folded over lines where they must: at 80 columns tree_reduction:leaves=32 and
        # leaves=64 were both "tree_reducti…", two rows of numbers for workflows one could not tell apart.
        for col in ("workflow", "planner"):
            table.add_column(col, overflow="fold")
        for col in ("makespan\n(ms)", "cost\n(GB-s)", "cold\nstarts", "n"):  # narrow headers
            table.add_column(col, justify="right")
        for (wf, planner), sub in ok.groupby(["workflow", "planner"], sort=True):
            table.add_row(
                wf,
                planner,
                f"{sub['makespan_ms'].median():.1f}",
                f"{sub['cost_gb_s'].median():.3f}",
                f"{sub['cold_starts'].median():.0f}",
                str(len(sub)),
            )
        console.print(table)
    click.echo(str(out.resolve()))
    for p in plots:
        click.echo(str(p.resolve()))
