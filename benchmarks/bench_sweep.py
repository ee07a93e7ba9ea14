"""A 1,000-point sweep of the known workflow types: total time and points per second.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py [--points 1000] [--workers N] [--dask ADDRESS] [-o out.parquet]

The grid is every known workflow type (default parameters; types that fail to build are left out and
named) x the three reference planners x memory sets {2048} and {2048,4096,8192} x SLAs {average, p90};
seeds (Monte-Carlo runs) are added until the grid has at least ``--points`` points. Prints the grid, the
total wall time, points/s and the slowest groups' planning time.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

from sim.sweep.grid import count_points, expand_grid
from sim.sweep.runner import run_sweep


def known_types() -> tuple[list[str], list[str]]:
    from sim.workflow.library import workflow_types

    ok, bad = [], []
    for name, t in workflow_types().items():
        try:
            t.make()
            ok.append(name)
        except Exception as exc:  # noqa: BLE001 - report and go on
            bad.append(f"{name} ({type(exc).__name__}: {exc})")
    return ok, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--dask", default=None)
    ap.add_argument("--workflows", default=None, help="comma-separated; default: every known type")
    ap.add_argument("-o", "--output", default=None, help="also write the table (.parquet or .csv)")
    args = ap.parse_args(argv)
    if args.workflows:
        names, bad = [w for w in args.workflows.split(",") if w], []
    else:
        names, bad = known_types()
    if bad:
        print("left out (do not build):", "; ".join(bad))
    if not names:
        print("no workflow types to sweep")
        return 1
    planners = ["uniform", "non-uniform", "wukong"]
    memory = [(2048,), (2048, 4096, 8192)]
    slas = ["average", "p90"]
    per_seed = len(names) * len(planners) * len(memory) * len(slas)
    seeds = max(1, math.ceil(args.points / per_seed))
    groups = expand_grid(names, planners, memory, slas, seeds)
    n = count_points(groups)
    print(
        f"grid: {len(names)} workflow types ({', '.join(names)}) x {len(planners)} planners x {len(memory)} "
        f"memory sets x {len(slas)} SLAs x {seeds} seeds = {n} points, {len(groups)} plans"
    )

    def cpu() -> float:
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    df = run_sweep(groups, dask=args.dask, workers=args.workers, progress=sys.stderr.isatty())
    total, cpu_s = time.perf_counter() - t0, cpu() - c0
    failed = int(df["error"].notna().sum())
    cores = args.workers or os.cpu_count() or 1
    print(f"total {total:.1f} s, {n / total:.1f} points/s, {failed} failed")
    print(
        f"CPU time {cpu_s:.1f} s (this process and its pool); on {cores} otherwise idle cores that is about "
        f"{cpu_s / cores:.1f} s wall; machine load average now {os.getloadavg()[0]:.1f}"
    )
    ok = df[df["error"].isna()]
    if len(ok):
        plan = ok.groupby(["workflow", "planner"])["planning_ms"].max().sort_values(ascending=False).head(5)
        print("slowest plans (ms):", ", ".join(f"{w}/{p} {v:.0f}" for (w, p), v in plan.items()))
        print(
            f"simulation ms per point: median {ok['simulation_ms'].median():.1f}, max {ok['simulation_ms'].max():.1f}"
        )
    if args.output:
        from sim.sweep.plots import write_table

        write_table(df, args.output)
    return 0 if failed == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
