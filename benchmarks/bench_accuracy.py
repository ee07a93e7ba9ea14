"""Issue #7's accuracy goal: after calibration on three real runs, is the simulated makespan of a fourth
real run within 10% (and the median per-task execution-time error within 20%), for every runnable known
workflow type x planner?

    .venv/bin/python benchmarks/bench_accuracy.py [--types gemm,wordcount] [--planners uniform,wukong]
        [--launcher docker|process] [--records DIR] [-o benchmarks/results/accuracy.csv]
        [--cpu-period-us 5000,0] [--switch-interval-ms 5,1] [--keep-heap 0,1]

Each cell is ``plansim validate TYPE --planner P --runs 4 --calibrate --launcher docker`` in code
(:func:`sim.compare.validate.validate`): run ``i`` is planned and simulated with the models that
:func:`calibration.fit.fit_models` and the platform that :func:`calibration.platform_fit.fit_platform`
fitted on the real records of runs ``1..i-1`` (run 1 with the built-in defaults), then run for real
with the very same plan. ``--records DIR`` keeps every cell's records; ``rescore_accuracy.py DIR``
re-predicts them with other code (an A/B on the same real runs). Run 4 is the one scored: its makespan error
(simulated vs real, signed %) and the median over tasks of the absolute execution-time error. Real runs
use Docker containers with their CPU and memory limits (each run owns its containers, so every worker
starts cold, as the simulator assumes); when no Docker engine answers, the process launcher is used and
the reason printed. Predictions are medians (``--sla p50``): the goal scores a median error, and the
``average`` level multiplies every time by the mean of its residual spread, which on a loaded host is
heavy-tailed. Each real run takes seconds; the machine is shared and loaded, which is what the
models are calibrated on. The default (``--sizes small``) instances' tasks mostly take well under a
millisecond to 3 ms; ``--sizes large`` gives every task that computes something about 10-40 ms of
work alone on a host CPU (serverless functions are rarely sub-millisecond; tasks that only index, add
two integers or merge small dicts, all of ``tree_reduction``, stay short whatever the size). Measured
on this shared host (benchmarks/results/accuracy.md, 2026-11-29 10:03-10:13), the large instances
did not lower the per-task execution-time error (median 26.5% and 36.4% vs 26.8%): under load most of
a longer task's time is spent waiting for a CPU, which varies as much; and their makespans, no longer
dominated by the well-calibrated cold start, were within 10% in 8 and 10 cells instead of 15.
``--sizes long`` gives the computing tasks about 0.1-3 s of work alone on a host CPU (gemm's multiplies
~0.7 s of CPU each; a run takes 6-23 s): two passes on a quiet host (2026-11-30 01:12 and 01:17) met the
goal in 8 and 9 cells, exec within 20% in 13 and 9, against 6 for the small instances at 01:21. The cells
that still miss have a run-to-run exec spread above the tolerance: even a task alone on its container with
no run-queue wait varies its own CPU time between runs minutes apart (montage_like's coadd: 1,069, 1,017,
681 and 705 ms), which no model fitted on the earlier runs can predict.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from runtime.docker_worker.protocol import DEFAULT_SWITCH_INTERVAL_MS, check_switch_interval_ms
from runtime.launchers.base import DEFAULT_CPU_PERIOD_US, cpu_limits  # (no docker package needed)
from sim.compare.validate import validate
from sim.engine.platform import DEFAULT
from sim.models.records import RunRecord, TaskRecord, WorkerRecord, write_jsonl
from sim.workflow.library import load_workflow, workflow_types

# Instances of every runnable known type, seconds per real run. "small" (the default): most tasks under
# 3 ms; "large": the computing tasks take about 10-40 ms alone on one host CPU (more in a 0.57-vCPU
# container).
SIZE_SETS = {
    "small": {
        "tree_reduction": "tree_reduction:leaves=32",
        "gemm": "gemm:n=256,blocks=2",
        "image_transform": "image_transform:chunks=4,height=400,width=600,sleep_s=0",
        "text_analysis": "text_analysis:chunks=4,segments=4,window=20,words=15000",
        "wordcount": "wordcount:chunks=4,words=40000,vocab=500",
        "montage_like": "montage_like:files=3,tile=80,mosaic=160",
        "fixed_times": "fixed_times:chains=3,sleep_s=0.2",
    },
    "large": {
        "tree_reduction": "tree_reduction:leaves=32",
        "gemm": "gemm:n=320,blocks=2",
        "image_transform": "image_transform:chunks=4,height=1200,width=1800,sleep_s=0",
        "text_analysis": "text_analysis:chunks=4,segments=4,window=2000,words=150000",
        "wordcount": "wordcount:chunks=4,words=300000,vocab=5000",
        "montage_like": "montage_like:files=3,tile=400,mosaic=800",
        "fixed_times": "fixed_times:chains=3,sleep_s=0.2",
    },
    "long": {
        "tree_reduction": "tree_reduction:leaves=32",
        "gemm": "gemm:n=1024,blocks=2",
        "image_transform": "image_transform:chunks=4,height=2400,width=3600,sleep_s=0",
        "text_analysis": "text_analysis:chunks=4,segments=4,window=20000,words=1000000",
        "wordcount": "wordcount:chunks=4,words=1500000,vocab=20000",
        "montage_like": "montage_like:files=3,tile=800,mosaic=1600",
        "fixed_times": "fixed_times:chains=3,sleep_s=0.2",
    },
}
SIZES = SIZE_SETS["small"]
PLANNERS = ["uniform", "non-uniform", "wukong"]
MAKESPAN_GOAL_PCT = 10.0
EXEC_GOAL_PCT = 20.0


def pick_launcher(wanted: str, console: Console) -> str:
    """``docker`` when an engine answers, else ``process`` with the reason printed."""
    if wanted != "docker":
        return wanted
    try:
        import docker

        client = docker.from_env(timeout=20)
        client.ping()
        client.close()
        return "docker"
    except Exception as exc:  # noqa: BLE001 - any failure means no engine
        console.print(
            f"[yellow]no Docker engine ({type(exc).__name__}: {exc}): using the process launcher "
            "(no CPU or memory limits)[/]"
        )
        return "process"


def score(v: Any) -> dict[str, Any]:
    """The scored (last) run of a validation, plus the makespan errors of the earlier runs."""
    last = v.runs[-1]
    cmp = last.comparison
    mk = cmp.overall.get("makespan_ms", {})
    ex = cmp.offsets().get("exec_ms", {})
    return {
        "planned_makespan_ms": mk.get("planned"),
        "real_makespan_ms": mk.get("real"),
        "makespan_err_pct": mk.get("error_pct"),
        "exec_median_abs_err_pct": ex.get("median_abs_pct"),
        "exec_bias_pct": ex.get("mean_pct"),
        "tasks": int(ex.get("n") or 0),
        **split_at_first_task(cmp),
        "exec_spread_pct": exec_spread_pct(v),
        "exec_floor_pct": exec_floor_pct([real_exec_ms(run.real_records) for run in v.runs]),
        "cold_start_ms": cold_start_ms(v),
        "earlier_makespan_err_pct": ";".join(_pct(_makespan_err(r)) for r in v.runs[:-1]),
        "host_load_runs": ";".join(f"{_host_load(r)}" for r in v.runs),
        "error": last.error or "",
    }


# A/B runs name each cell's records TYPE-PLANNER plus the arm: -cfsN (--cpu-period-us A,B), -gilX
# (--switch-interval-ms A,B) and/or -heapN (--keep-heap 0,1); rescore_accuracy strips ARM_SUFFIX to find
# the cell.
ARM_SUFFIX = re.compile(r"(-cfs\d+)?(-gil[\d.]+)?(-heap[01])?$")


def records_name(
    wtype: str, planner: str, period: int | None, switch: float | None, heap: bool | None = None
) -> str:
    """The records file of one cell and arm (``period``/``switch``/``heap`` None when the run had only one)."""
    arm = (f"-cfs{period}" if period is not None else "") + (f"-gil{switch:g}" if switch is not None else "")
    arm += f"-heap{int(heap)}" if heap is not None else ""
    return f"{wtype}-{planner}{arm}.jsonl"


def exec_spread_pct(v: Any) -> float | None:
    """Run-to-run noise of the real execution times: per task, the interquartile range over its real runs
    as a % of their median; the median over tasks (None with fewer than 2 runs). Noise that no model
    fitted on earlier runs can predict, whatever it does."""
    times: dict[str, list[float]] = {}
    for run in v.runs:
        for rec in run.real_records:
            if getattr(rec, "kind", "") == "task" and rec.exec_ms > 0:
                times.setdefault(rec.task_id, []).append(rec.exec_ms)
    spreads = []
    for ts in times.values():
        if len(ts) >= 2:
            q1, med, q3 = statistics.quantiles(ts, n=4, method="inclusive")
            spreads.append(100 * (q3 - q1) / med)
    return statistics.median(spreads) if spreads else None


def real_exec_ms(records: Any) -> dict[str, float]:
    """Each task's real execution time in one run's records (tasks that executed)."""
    return {r.task_id: r.exec_ms for r in records if isinstance(r, TaskRecord) and r.exec_ms > 0}


def exec_floor_pct(runs: list[dict[str, float]]) -> float | None:
    """The repetition floor of the exec half: each task of the last run predicted by the median of its
    own real execution times in the earlier runs (same plan, same worker: about the best a model fitted
    on them can do, short of knowing how the host's load moved since), the median |error| over tasks, in
    % (None when no task has an earlier run). A cell whose floor is above the goal's 20% misses it by the
    real runs' own noise; a model error far above the floor is the model's."""
    *earlier, last = runs
    errs = [
        100 * abs(statistics.median(seen) - ms) / ms
        for task, ms in last.items()
        if (seen := [run[task] for run in earlier if task in run])
    ]
    return statistics.median(errs) if errs else None


def cold_start_ms(v: Any) -> float | None:
    """Median time from a cold worker's launch request to its readiness, over every run of the cell (the
    wait for a free container at the cap left out)."""
    starts = [
        rec.startup_ms - float(rec.extra.get("queued_ms") or 0.0)
        for run in v.runs
        for rec in run.real_records
        if isinstance(rec, WorkerRecord) and rec.state == "cold"
    ]
    return statistics.median(starts) if starts else None


def _makespan_err(run: Any) -> float | None:
    return run.comparison.overall.get("makespan_ms", {}).get("error_pct")


def _host_load(run: Any) -> str:
    """The 1-minute load average of the machine as a real run started (``-`` if unknown)."""
    for rec in run.real_records:
        if isinstance(rec, RunRecord) and "host_load_1m" in rec.extra:
            return f"{rec.extra['host_load_1m']:.1f}"
    return "-"


def split_at_first_task(cmp: Any) -> dict[str, float | None]:
    """Where the makespan error comes from: the wait for the first task (worker start-up, invocation)
    and the rest of the run after it, each planned vs real."""
    out: dict[str, float | None] = {}
    for side, data in (("planned", cmp.planned_data), ("real", cmp.real_data)):
        starts = [t.start_ms for t in data.tasks.values()] if data is not None else []
        out[f"first_task_{side}_ms"] = min(starts) if starts else None
    mk = cmp.overall.get("makespan_ms", {})
    fp, fr = out["first_task_planned_ms"], out["first_task_real_ms"]
    if None in (fp, fr, mk.get("planned"), mk.get("real")):
        return {**out, "first_task_err_pct": None, "after_first_err_pct": None}
    rest_p, rest_r = mk["planned"] - fp, mk["real"] - fr
    return {
        **out,
        "first_task_err_pct": 100 * (fp - fr) / fr if fr else None,
        "after_first_err_pct": 100 * (rest_p - rest_r) / rest_r if rest_r else None,
    }


def meets(row: dict[str, Any]) -> bool:
    mk, ex = row["makespan_err_pct"], row["exec_median_abs_err_pct"]
    return mk is not None and ex is not None and abs(mk) <= MAKESPAN_GOAL_PCT and ex <= EXEC_GOAL_PCT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    runnable = [n for n, t in workflow_types().items() if t.runnable]
    sized = [n for n in runnable if n in SIZES]
    parser.add_argument(
        "--types",
        default=",".join(sized),
        help="workflow types (comma separated; default: those with a size)",
    )
    parser.add_argument("--planners", default=",".join(PLANNERS))
    parser.add_argument(
        "--sizes",
        default="small",
        choices=list(SIZE_SETS),
        help="instances: small (most tasks under 3 ms), large (computing tasks ~10-40 ms) or long (~0.1-3 s)",
    )
    parser.add_argument("--runs", type=int, default=4, help="real runs per cell; the last one is scored")
    parser.add_argument("--launcher", default="docker", choices=["docker", "process"])
    parser.add_argument("--memory", default="1024,2048", help="memory sizes the planners may use (MB)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per real run, seconds")
    parser.add_argument(
        "--max-containers",
        type=int,
        default=4,
        help="containers at once, real (launcher cap) and simulated (platform cap)",
    )
    parser.add_argument(
        "--sla",
        default="p50",
        help="prediction level of planners and simulator (p50: the median, what a median error scores)",
    )
    parser.add_argument(
        "--records", default=None, help="folder for each cell's planned and real records (JSONL)"
    )
    parser.add_argument(
        "--cpu-period-us",
        default=str(DEFAULT_CPU_PERIOD_US),
        help="CFS period of the Docker workers' CPU share, µs (0: Docker's --cpus, 100 ms); several, comma "
        "separated, run each cell once per period in turn (an A/B interleaved per cell)",
    )
    parser.add_argument(
        "--switch-interval-ms",
        default=f"{DEFAULT_SWITCH_INTERVAL_MS:g}",
        help="GIL switch interval of the workers' interpreters, ms (default: the launchers', 1; CPython's: 5); several, comma "
        "separated, run each cell once per value in turn (with several periods: once per pair)",
    )
    parser.add_argument(
        "--keep-heap",
        default="1",
        help="1: workers keep freed heap memory (the launchers' keep_heap), 0: glibc's defaults; both, comma "
        "separated, run each cell once per value in turn",
    )
    parser.add_argument("-o", "--out", default="benchmarks/results/accuracy.csv")
    args = parser.parse_args()
    try:
        periods = [int(p) for p in args.cpu_period_us.split(",") if p.strip()]
        for period in periods:
            cpu_limits(1.0, period)
        if not periods:
            raise ValueError("give at least one period")
    except ValueError as exc:
        raise SystemExit(f"error: --cpu-period-us {args.cpu_period_us}: {exc}") from None
    try:
        switches = [check_switch_interval_ms(s) for s in args.switch_interval_ms.split(",") if s.strip()]
        if not switches:
            raise ValueError("give at least one interval")
    except ValueError as exc:
        raise SystemExit(f"error: --switch-interval-ms {args.switch_interval_ms}: {exc}") from None
    heaps = [{"0": False, "1": True}.get(h.strip()) for h in args.keep_heap.split(",") if h.strip()]
    if not heaps or None in heaps:
        raise SystemExit(f"error: --keep-heap {args.keep_heap}: give 0, 1 or 0,1")
    console = Console()
    sizes = SIZE_SETS[args.sizes]
    unsized = [n for n in runnable if n not in sizes]
    if unsized:
        console.print(f"[yellow]no benchmark size (not measured): {', '.join(unsized)}[/]")
    launcher = pick_launcher(args.launcher, console)
    if launcher != "docker" and len(periods) > 1:  # local processes have no CPU quota: one run per cell
        console.print("[yellow]--cpu-period-us: the process launcher has no CPU period; one run per cell[/]")
        periods = periods[:1]
    memory = [int(m) for m in args.memory.split(",")]
    types = [t for t in args.types.split(",") if t]
    missing = [t for t in types if t not in sizes]
    if missing:
        raise SystemExit(f"error: no benchmark size for {', '.join(missing)} (known: {', '.join(sizes)})")
    # The real launcher and the simulated pool have the same cap: a 2-core machine cannot start dozens of
    # containers at once (and neither can a real account without limits being raised).
    platform = replace(DEFAULT, name=f"default-cap{args.max_containers}", max_containers=args.max_containers)
    rows = []
    t0 = time.perf_counter()
    cells = [(w, p) for w in types for p in args.planners.split(",") if p]
    arms = [(period, switch, heap) for period in periods for switch in switches for heap in heaps]
    for n_cell, (wtype, planner) in enumerate(cells):
        # Every other cell runs the arms in reverse order: neither side always goes first.
        for period, switch, heap in arms if n_cell % 2 == 0 else arms[::-1]:
            spec = sizes[wtype]
            started = time.perf_counter()
            options: dict[str, Any] = {
                "max_workers": args.max_containers,
                "switch_interval_ms": switch,
                "keep_heap": heap,
            }
            if launcher == "docker":
                options["cpu_period_us"] = period
            v = validate(
                load_workflow(spec),
                planner=planner,
                runs=args.runs,
                calibrate=True,
                memory_sizes=memory,
                sla=args.sla,
                platform=platform,
                launcher=launcher,
                timeout_s=args.timeout,
                run_options=options,
            )
            row = {
                "workflow": spec,
                "planner": planner,
                "launcher": launcher,
                "cpu_period_us": options.get("cpu_period_us", ""),
                "switch_interval_ms": switch,
                "keep_heap": int(heap),
                **score(v),
            }
            row["meets_goal"] = meets(row)
            rows.append(row)
            if args.records:
                Path(args.records).mkdir(parents=True, exist_ok=True)
                name = records_name(
                    wtype,
                    planner,
                    period if len(periods) > 1 else None,
                    switch if len(switches) > 1 else None,
                    heap if len(heaps) > 1 else None,
                )
                write_jsonl(v.records(), Path(args.records) / name)
            mk, ex = row["makespan_err_pct"], row["exec_median_abs_err_pct"]
            console.print(
                f"  {spec} x {planner} ({_arm(period, switch, heap)}): makespan {_pct(mk)}, exec {_pct(ex)}, "
                f"floor {_pct(row['exec_floor_pct'])}, spread {_pct(row['exec_spread_pct'])} "
                f"({time.perf_counter() - started:.0f} s, total {time.perf_counter() - t0:.0f} s)"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(
            {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()} for row in rows
        )

    table = Table(title=f"run {args.runs} after calibration on runs 1-{args.runs - 1} ({launcher} launcher)")
    for col in (
        "workflow",
        "planner",
        "period µs",
        "GIL ms",
        "planned ms",
        "real ms",
        "makespan err",
        "1st task err",
        "after 1st err",
        "exec median |err|",
        "exec floor",
        "exec spread",
        "goal",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["workflow"].split(":")[0],
            r["planner"],
            str(r["cpu_period_us"]),
            f"{r['switch_interval_ms']:g}",
            _ms(r["planned_makespan_ms"]),
            _ms(r["real_makespan_ms"]),
            _pct(r["makespan_err_pct"]),
            _pct(r["first_task_err_pct"]),
            _pct(r["after_first_err_pct"]),
            _pct(r["exec_median_abs_err_pct"]),
            _pct(r["exec_floor_pct"]),
            _pct(r["exec_spread_pct"]),
            "yes" if r["meets_goal"] else ("[red]no[/]" + (f" ({r['error'][:40]})" if r["error"] else "")),
        )
    console.print(table)
    for period, switch, heap in arms:
        arm = [
            r
            for r in rows
            if r["cpu_period_us"] in (period, "")
            and r["switch_interval_ms"] == switch
            and r["keep_heap"] == int(heap)
        ]
        summarize(arm, _arm(period, switch, heap), console)
    console.print(f"written {args.out} ({time.perf_counter() - t0:.0f} s)")


def summarize(rows: list[dict[str, Any]], arm: str, console: Console) -> None:
    """The goal's counts and medians over one arm's cells (one CPU period and GIL switch interval)."""
    mks = [abs(r["makespan_err_pct"]) for r in rows if r["makespan_err_pct"] is not None]
    exs = [r["exec_median_abs_err_pct"] for r in rows if r["exec_median_abs_err_pct"] is not None]
    spreads = [r["exec_spread_pct"] for r in rows if r["exec_spread_pct"] is not None]
    floors = [r["exec_floor_pct"] for r in rows if r["exec_floor_pct"] is not None]
    colds = [r["cold_start_ms"] for r in rows if r["cold_start_ms"] is not None]
    console.print(
        f"{arm}: cells meeting the goal (|makespan err| <= {MAKESPAN_GOAL_PCT:g}% and exec "
        f"median |err| <= {EXEC_GOAL_PCT:g}%): {sum(r['meets_goal'] for r in rows)} of {len(rows)}; "
        f"makespan within {MAKESPAN_GOAL_PCT:g}%: {sum(m <= MAKESPAN_GOAL_PCT for m in mks)}; "
        f"exec within {EXEC_GOAL_PCT:g}%: {sum(e <= EXEC_GOAL_PCT for e in exs)}"
    )
    if mks and exs:
        console.print(
            f"  median |makespan err| {statistics.median(mks):.1f}%, median exec |err| "
            f"{statistics.median(exs):.1f}%"
            + (f", median exec floor {statistics.median(floors):.1f}%" if floors else "")
            + (f", median exec spread over the runs {statistics.median(spreads):.1f}%" if spreads else "")
            + (f", median cold start {statistics.median(colds):,.0f} ms" if colds else "")
        )


def _arm(period: int, switch: float, heap: bool = False) -> str:
    return f"period {period} µs, GIL switch {switch:g} ms" + (", heap kept" if heap else "")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1f}%"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


if __name__ == "__main__":
    main()
