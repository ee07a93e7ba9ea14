"""Run a sweep: groups on a local process pool (default) or on an existing Dask cluster.

Each group (workflow, planner, memory set, SLA) is planned once and simulated once per seed, in one task,
so a worker process loads each workflow and models file once (cached per process). A point that fails
becomes a row with its ``error`` instead of stopping the sweep.

The results are a tidy table (pandas DataFrame), one row per (workflow, planner, memory, sla, seed).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from sim.processes import process_pool
from sim.sweep.grid import SweepGroup, count_points

# Column order of the results table.
COLUMNS = [
    "workflow",
    "workflow_type",
    "tasks",
    "planner",
    "memory",
    "sla",
    "seed",
    "sampled",
    "platform",
    "optimizations",
    "makespan_ms",
    "cost_gb_s",
    "alloc_gb_s",
    "invocations",
    "workers",
    "cold_starts",
    "warm_starts",
    "bytes_uploaded",
    "bytes_downloaded",
    "bytes_moved",
    "store_ops",
    "critical_path_tasks",
    "planning_ms",
    "simulation_ms",
    "error",
]

_WORKFLOWS: dict[str, Any] = {}
_MODELS: dict[str | None, Any] = {}


def load_workflow(spec: str):  # noqa: ANN201 - Workflow
    """A workflow by ``NAME[:k=v,...]`` (the library of known types) or WfFormat path; cached per process."""
    wf = _WORKFLOWS.get(spec)
    if wf is None:
        from sim.workflow.library import load_workflow as load

        wf = _WORKFLOWS[spec] = load(spec)
    return wf


def _models(path: str | None):  # noqa: ANN202
    if path not in _MODELS:
        from sim.models.performance import PerformanceModels

        _MODELS[path] = PerformanceModels.load(path) if path else PerformanceModels.default()
    return _MODELS[path]


def _base_row(g: SweepGroup, seed: int) -> dict[str, Any]:
    return {
        "workflow": g.workflow,
        "workflow_type": None,
        "tasks": None,
        "planner": g.planner,
        "memory": ",".join(str(m) for m in g.memory),
        "sla": g.sla,
        "seed": seed,
        "sampled": g.sampled,
        "platform": g.platform,
        "optimizations": ",".join(g.optimizations),
        "error": None,
    }


def run_group(g: SweepGroup) -> list[dict[str, Any]]:
    """Plan one group and simulate it per seed; returns one row per seed (errors as rows)."""
    from sim.engine.platform import load_platform
    from sim.engine.simulator import Simulation
    from sim.planners import PlannerConfig, get_planner, make_plan
    from sim.planners.plugins import restore

    try:
        wf = load_workflow(g.workflow)
        plat = g.platform_loaded or load_platform(g.platform)
        models = _models(g.models)
        config = PlannerConfig(
            memory_sizes=g.memory,
            sla=g.sla,
            models=models,
            platform=plat,
            optimizations=frozenset(g.optimizations),
        )
        planner = get_planner(
            g.planner, config, planner_class=restore(g.planner_class) if g.planner_class else None
        )
        t0 = time.perf_counter()
        plan = make_plan(planner, wf)
        planning_ms = (time.perf_counter() - t0) * 1e3
    except Exception as exc:  # a bad group is a result, not the end of the sweep
        return [{**_base_row(g, s), "error": f"{type(exc).__name__}: {exc}"} for s in g.seeds]
    rows = []
    for seed in g.seeds:
        row = _base_row(g, seed)
        try:
            t1 = time.perf_counter()
            if g.sampled:
                res = Simulation(plan, plat, models, seed=seed, sample=True).run()
            else:
                res = Simulation(plan, plat, predictor=planner.predictor, seed=seed).run()
            sim_ms = (time.perf_counter() - t1) * 1e3
            o = res.output
            row.update(
                workflow_type=o.workflow_type,
                tasks=len(wf),
                makespan_ms=o.makespan_ms,
                cost_gb_s=o.cost_gb_s,
                alloc_gb_s=o.alloc_gb_s,
                invocations=o.invocations,
                workers=len(o.workers),
                cold_starts=o.cold_starts,
                warm_starts=o.warm_starts,
                bytes_uploaded=o.bytes_uploaded,
                bytes_downloaded=o.bytes_downloaded,
                bytes_moved=o.bytes_uploaded + o.bytes_downloaded,
                store_ops=o.store_ops,
                critical_path_tasks=len(o.critical_path),
                planning_ms=planning_ms,
                simulation_ms=sim_ms,
            )
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def _order(groups: Sequence[SweepGroup]) -> list[SweepGroup]:
    """Costly groups first (non-uniform planners simulate many candidate plans), for better packing."""
    return sorted(groups, key=lambda g: (g.planner != "non-uniform", len(g.memory) == 1))


def run_local(
    groups: Sequence[SweepGroup], workers: int | None = None, on_done: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """Run groups on a local process pool (``workers`` processes, default: the CPU count); ``workers=1``
    runs in this process (no pool)."""
    workers = workers or os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    if workers == 1 or len(groups) == 1:
        for g in groups:
            out = run_group(g)
            rows += out
            if on_done:
                on_done(len(out))
        return rows
    with process_pool(workers) as pool:
        pending: set[Future] = {pool.submit(run_group, g) for g in _order(groups)}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                out = f.result()
                rows += out
                if on_done:
                    on_done(len(out))
    return rows


class SweepInterrupted(Exception):
    """The Dask cluster went away (or lost a worker for good) mid-sweep. ``rows`` has a row for every
    point: the finished ones with their results, the others with ``not run: <why>`` as their error, so
    a caller can keep what was computed; ``finished`` counts the points with results."""

    def __init__(self, message: str, rows: list[dict[str, Any]], finished: int) -> None:
        super().__init__(message)
        self.rows = rows
        self.finished = finished


def run_dask(
    groups: Sequence[SweepGroup],
    address: Any,
    on_done: Callable[[int], None] | None = None,
    connect_timeout: str = "20s",
) -> list[dict[str, Any]]:
    """Run groups on an existing Dask cluster: ``address`` is its scheduler address (or a Client).
    Raises :class:`SweepInterrupted` with the finished points' rows when the cluster goes away."""
    import logging

    from distributed import Client, KilledWorker, as_completed

    own = not isinstance(address, Client)
    try:
        client = Client(address, timeout=connect_timeout) if own else address
    except OSError as exc:  # nothing listening, or not a scheduler: the user's address
        raise ValueError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    # The client logs its failed reconnections as tracebacks; the loss is reported below, in one line.
    quiet = logging.getLogger("distributed.client")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    ordered = _order(groups)
    rows: list[dict[str, Any]] = []
    try:
        futures = client.map(run_group, ordered, pure=False)
        pending = dict(zip(futures, ordered, strict=True))
        try:
            for f in as_completed(futures):
                try:
                    out = f.result()  # run_group returns its own errors as rows: a raise is the cluster's
                except KilledWorker as exc:
                    # This group killed every worker that ran it (out of memory, a crash in native code):
                    # its points fail, the cluster is fine and the other points go on.
                    out = [{**_base_row(pending[f], s), "error": _killed(exc)} for s in pending[f].seeds]
                del pending[f]
                rows += out
                if on_done:
                    on_done(len(out))
        except Exception as exc:  # noqa: BLE001 - cancelled, connection lost
            total = count_points(groups)
            where = address if own else "the client's cluster"
            first = str(exc).splitlines()[0] if str(exc) else ""
            why = f"the Dask cluster at {where} failed after {len(rows)} of {total} points ({type(exc).__name__}: {first})"
            missing = [
                {**_base_row(g, s), "error": f"not run: {why}"} for g in pending.values() for s in g.seeds
            ]
            if not own:  # the caller's cluster may be alive: do not leave it running the rest
                with contextlib.suppress(Exception):  # or it is gone: nothing left to cancel
                    client.cancel(list(pending))
            raise SweepInterrupted(why, rows + missing, len(rows)) from None
        return rows
    finally:
        if own:
            client.close(timeout=5)
        quiet.setLevel(level)


def _killed(exc: Exception) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (
        "the Dask worker running this point died each time it was tried (out of memory or a crash; "
        f"KilledWorker: {first})"
    )


def to_frame(rows: list[dict[str, Any]]):  # noqa: ANN201 - pandas.DataFrame
    """The tidy table, sorted by workflow, planner, memory, sla, seed."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(["workflow", "planner", "memory", "sla", "seed"], kind="stable").reset_index(
        drop=True
    )


def run_sweep(
    groups: Sequence[SweepGroup], dask: Any = None, workers: int | None = None, progress: bool = True
):  # noqa: ANN201 - pandas.DataFrame
    """Run every point of ``groups``; a rich progress bar counts points when ``progress``."""
    total = count_points(groups)
    if not progress:
        rows = run_dask(groups, dask) if dask else run_local(groups, workers)
        return to_frame(rows)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
    ) as bar:
        task = bar.add_task("points", total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        rows = run_dask(groups, dask, advance) if dask else run_local(groups, workers, advance)
    return to_frame(rows)
