"""Does each optimization pay off? Every known workflow type x planner, without and with each
optimization: simulated makespan, cost and bytes moved, in one table (CSV and a readable summary).

    .venv/bin/python benchmarks/bench_optimizations.py [-o benchmarks/results/optimizations.csv]

Also checks the issue's clustering goal: WUKONG clustering cuts bytes moved on ``gemm`` and
``image_transform`` by at least 50% against plain ``wukong``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sim.engine.whatif import what_if
from sim.planners.optimizations import OPTIMIZATIONS
from sim.workflow.library import load_workflow

WORKFLOWS = [
    "tree_reduction",
    "gemm",
    "image_transform",
    "text_analysis",
    "wordcount",
    "montage_like",
    "fixed_times",
    "montage:tasks=60",
    "epigenomics:tasks=60",
    "cycles:tasks=67",
]
PLANNERS = ["uniform", "non-uniform", "wukong", "heft"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--out", default="benchmarks/results/optimizations.csv")
    args = parser.parse_args()
    console = Console(width=140)  # wide enough for planner variants in logs and CI output
    rows = []
    t0 = time.perf_counter()
    for spec in WORKFLOWS:
        wf = load_workflow(spec)
        for planner in PLANNERS:
            base = what_if(wf, planner).result.output
            for opt in ["(none)", *OPTIMIZATIONS]:
                out = (
                    base
                    if opt == "(none)"
                    else what_if(wf, planner, optimizations=frozenset([opt])).result.output
                )
                rows.append(
                    {
                        "workflow": spec,
                        "planner": planner,
                        "optimization": opt,
                        "makespan_ms": round(out.makespan_ms, 3),
                        "cost_gb_s": round(out.cost_gb_s, 4),
                        "bytes_moved": out.bytes_uploaded + out.bytes_downloaded,
                        "makespan_change_pct": round(100 * (out.makespan_ms / base.makespan_ms - 1), 2),
                        "cost_change_pct": round(100 * (out.cost_gb_s / base.cost_gb_s - 1), 2)
                        if base.cost_gb_s
                        else 0.0,
                        "bytes_change_pct": round(
                            100
                            * (
                                (out.bytes_uploaded + out.bytes_downloaded)
                                / max(1, base.bytes_uploaded + base.bytes_downloaded)
                                - 1
                            ),
                            2,
                        ),
                    }
                )
        console.print(f"  {spec}: done ({time.perf_counter() - t0:.0f} s)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    table = Table(title="median change against no optimization, over workflows x planners (%)")
    for col in (
        "optimization",
        "makespan",
        "cost",
        "bytes moved",
        "helps makespan (>1%)",
        "hurts makespan (>1%)",
    ):
        table.add_column(col, justify="right")
    for opt in OPTIMIZATIONS:
        mine = [r for r in rows if r["optimization"] == opt]

        def median(key: str, mine: list[dict] = mine) -> float:
            values = sorted(r[key] for r in mine)
            return values[len(values) // 2]

        helps = [f"{r['workflow']}/{r['planner']}" for r in mine if r["makespan_change_pct"] < -1]
        hurts = [f"{r['workflow']}/{r['planner']}" for r in mine if r["makespan_change_pct"] > 1]
        table.add_row(
            opt,
            f"{median('makespan_change_pct'):+.1f}",
            f"{median('cost_change_pct'):+.1f}",
            f"{median('bytes_change_pct'):+.1f}",
            f"{len(helps)}/{len(mine)}",
            f"{len(hurts)}/{len(mine)}",
        )
    console.print(table)
    for spec in ("gemm", "image_transform"):
        plain = next(
            r
            for r in rows
            if r["workflow"] == spec and r["planner"] == "wukong" and r["optimization"] == "(none)"
        )
        clustered = next(
            r
            for r in rows
            if r["workflow"] == spec and r["planner"] == "wukong" and r["optimization"] == "clustering"
        )
        cut = 100 * (1 - clustered["bytes_moved"] / max(1, plain["bytes_moved"]))
        verdict = "met" if cut >= 50 else "NOT met"
        console.print(
            f"clustering on {spec}: bytes moved {plain['bytes_moved'] / 1e6:.1f} MB -> "
            f"{clustered['bytes_moved'] / 1e6:.1f} MB ({cut:.1f}% less; goal >= 50%: {verdict}); "
            f"makespan {plain['makespan_ms']:.0f} -> {clustered['makespan_ms']:.0f} ms "
            f"({clustered['makespan_change_pct']:+.1f}%)"
        )
    cluster_tradeoff(console, Path(args.out).with_name("clustering_gemm.csv"))
    console.print(f"table: {args.out} ({len(rows)} rows, {time.perf_counter() - t0:.0f} s)")


def cluster_tradeoff(console: Console, out_csv: Path) -> None:
    """gemm's blocks are shared across every multiply, so WUKONG's rule (all consumers of a large object
    run where it is) puts all 16 on one worker: fewest bytes, least parallelism. ``cluster_max_tasks``
    bounds a root cluster and ``cluster_memory_mb`` sizes its worker; the table (and ``out_csv``) shows
    what each buys, against plain wukong in the same run."""
    wf = load_workflow("gemm")
    plain = what_if(wf, "wukong").result.output
    moved = lambda o: o.bytes_uploaded + o.bytes_downloaded  # noqa: E731
    variants = [("wukong (no clustering)", "wukong", frozenset())]
    variants += [
        (n, n, frozenset(["clustering"]))
        for n in (
            "wukong",
            "wukong:cluster_max_tasks=8",
            "wukong:cluster_max_tasks=4",
            "wukong:cluster_max_tasks=2",
        )
    ]
    # memory also buys CPU: a root-cluster worker sized for its tasks (the largest Lambda size, 10 GB)
    variants += [
        (n, n, frozenset(["clustering"]))
        for n in ("wukong:cluster_memory_mb=10240", "wukong:cluster_max_tasks=8:cluster_memory_mb=10240")
    ]
    rows = []
    for label, name, opts in variants:
        out = plain if not opts else what_if(wf, name, optimizations=opts).result.output
        rows.append(
            {
                "planner": label,
                "workers": out.invocations,
                "bytes_moved": moved(out),
                "bytes_change_pct": round(100 * (moved(out) / moved(plain) - 1), 2),
                "makespan_ms": round(out.makespan_ms, 3),
                "makespan_change_pct": round(100 * (out.makespan_ms / plain.makespan_ms - 1), 2),
                "cost_gb_s": round(out.cost_gb_s, 4),
                "cost_change_pct": round(100 * (out.cost_gb_s / plain.cost_gb_s - 1), 2),
            }
        )
    with open(out_csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = Table(
        title=f"gemm, wukong + clustering: bytes moved vs makespan by root-cluster bound ({out_csv})"
    )
    for col in (
        "planner",
        "workers",
        "bytes moved MB",
        "bytes change",
        "makespan ms",
        "makespan change",
        "cost change",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["planner"],
            str(r["workers"]),
            f"{r['bytes_moved'] / 1e6:.1f}",
            f"{r['bytes_change_pct']:+.1f}%",
            f"{r['makespan_ms']:.0f}",
            f"{r['makespan_change_pct']:+.1f}%",
            f"{r['cost_change_pct']:+.1f}%",
        )
    console.print(table)


if __name__ == "__main__":
    main()
