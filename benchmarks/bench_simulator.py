"""Simulator speed: simulated tasks per second against bare SimPy, scaling, and planning time.

    .venv/bin/python benchmarks/bench_simulator.py [--quick] [--out benchmarks/results/bench_simulator.csv]

Prints, measured in the same run so that the shared machine's speed cancels out:

1. bare SimPy timeouts per second (the yardstick);
2. a WfCommons montage with ``wukong`` on the ``default`` platform at 1,000 and 10,000 tasks: simulated
   tasks per second and its ratio to bare timeouts/s (goal: >= 25,000 tasks/s; on a machine doing
   1.0 M bare timeouts/s that is a ratio of 0.025), i.e. what one simulated task costs in bare timeouts
   (goal: at most 40);
3. 100,000 tasks: wall time and peak memory, in a child process (goal: < 30 s and < 2 GB);
4. planning plus simulation of the reference's example workflows with every planner (goal: < 0.5 s).

The montage rows are also written to ``--out`` (CSV), with the bare SimPy rate measured beside each, and
the 100,000-task time scaled to the machine the issue's budgets were written for: DESIGN.md measured
SimPy at about 1.0 M bare timeouts/s there, so 25,000 tasks/s is a ratio of 0.025 and the 30 s for
100,000 tasks is read at that speed. (Stops before 2026-11-29 scaled to 253k timeouts/s, a figure with no
recorded source, which made the 100,000-task column about four times stricter.)

Rates and ratios are per CPU second of this process (``time.process_time``), for the simulation and the
bare yardstick alike: on a shared machine the wall clock also counts the time other processes held the
core, which makes a wall-clock ratio swing several-fold between runs. Each montage size below 100,000 is
simulated ``--repeat`` times (bare rate measured before each) and the best ratio is kept; wall times are
printed beside.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time

import simpy

GOAL_TASKS_PER_S = 25_000
REFERENCE_BARE = 1_000_000  # bare SimPy timeouts/s of the machine the budgets assume (DESIGN.md)


def bare_timeouts_per_s(n: int = 300_000, cpu: bool = False) -> float:
    """Bare SimPy timeouts per second (one process yielding ``n`` timeouts): per wall-clock second, or
    per CPU second of this process with ``cpu``."""
    clock = time.process_time if cpu else time.perf_counter
    env = simpy.Environment()

    def proc(env: simpy.Environment):
        for _ in range(n):
            yield env.timeout(1)

    env.process(proc(env))
    t = clock()
    env.run()
    return n / (clock() - t)


def load(spec: str):
    """A known workflow; ``montage:tasks=100000`` is ten disjoint copies of ``montage:tasks=10000``
    (generating one 100,000-task instance with WfCommons takes far longer than simulating it)."""
    from sim.workflow.library import load_workflow

    if spec == "montage:tasks=100000":
        return replicate(load_workflow("montage:tasks=10000"), 10)
    return load_workflow(spec)


def replicate(wf, copies: int):  # noqa: ANN001, ANN201 - Workflow
    import dataclasses

    from sim.workflow.dag import Workflow

    out = Workflow(f"{wf.name}x{copies}")
    for k in range(copies):
        for spec in wf.tasks.values():
            out.add_task(
                dataclasses.replace(spec, id=f"{k}/{spec.id}", inputs=tuple(f"{k}/{i}" for i in spec.inputs))
            )
        for u, v, d in wf.graph.edges(data=True):
            out.add_edge(f"{k}/{u}", f"{k}/{v}", d.get("bytes") or 0)
    return out


def simulate_once(spec: str, planner: str = "wukong") -> dict:
    from sim.engine.simulator import Simulation
    from sim.planners import get_planner

    t0 = time.perf_counter()
    wf = load(spec)
    t1 = time.perf_counter()
    plan = get_planner(planner).plan(wf)
    t2 = time.perf_counter()
    c2 = time.process_time()
    sim = Simulation(plan)
    result = sim.run()
    t3 = time.perf_counter()
    c3 = time.process_time()
    return {
        "spec": spec,
        "tasks": len(wf),
        "load_s": t1 - t0,
        "plan_s": t2 - t1,
        "simulate_s": t3 - t2,
        "simulate_cpu_s": c3 - c2,
        "makespan_ms": result.output.makespan_ms,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(spec: str) -> dict:
    """Run one simulation in a fresh process, so its peak memory is its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", spec], capture_output=True, text=True, check=True, timeout=900
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-task run")
    parser.add_argument(
        "--out", default="benchmarks/results/bench_simulator.csv", help="CSV of the montage rows"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per size below 100,000 (best kept)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(simulate_once(args.child)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    bare = bare_timeouts_per_s(cpu=True)
    console.print(f"bare SimPy: {bare:,.0f} timeouts per CPU second")

    table = Table(title="montage, wukong, default platform")
    for col in (
        "tasks",
        "simulate (s)",
        "CPU (s)",
        "tasks/CPU s",
        "ratio to bare timeouts/s",
        "goal ratio",
        "bare timeouts per task",
        "peak RSS (MB)",
    ):
        table.add_column(col, justify="right")
    sizes = [1000, 10_000] + ([] if args.quick else [100_000])
    rows = []
    for n in sizes:
        spec = f"montage:tasks={n}"
        best = None
        for _ in range(1 if n >= 100_000 else max(1, args.repeat)):
            bare = bare_timeouts_per_s(cpu=True)  # again next to each run: the machine's speed drifts
            r = child(spec) if n >= 100_000 else simulate_once(spec)
            rate = r["tasks"] / r["simulate_cpu_s"]
            if best is None or rate / bare > best[0] / best[1]:
                best = (rate, bare, r)
        rate, bare, r = best
        rows.append(
            {
                "tasks": r["tasks"],
                "simulate_s": round(r["simulate_s"], 3),
                "simulate_cpu_s": round(r["simulate_cpu_s"], 3),
                "tasks_per_cpu_s": round(rate),
                "bare_timeouts_per_cpu_s": round(bare),
                "ratio": round(rate / bare, 5),
                "bare_timeouts_per_task": round(bare / rate, 1),
                "goal_ratio": GOAL_TASKS_PER_S / 1e6,
                "simulate_s_at_reference": round(r["simulate_cpu_s"] * bare / REFERENCE_BARE, 2),
                "peak_rss_mb": round(r["peak_rss_mb"]),
                "makespan_ms": round(r["makespan_ms"], 3),
            }
        )
        table.add_row(
            f"{r['tasks']:,}",
            f"{r['simulate_s']:.2f}",
            f"{r['simulate_cpu_s']:.2f}",
            f"{rate:,.0f}",
            f"{rate / bare:.4f}",
            f"{GOAL_TASKS_PER_S / 1e6:.4f}",
            f"{bare / rate:.1f}",
            f"{r['peak_rss_mb']:,.0f}",
        )
        console.print(
            f"  {spec}: {r['tasks']:,} tasks simulated in {r['simulate_s']:.2f} s, {r['simulate_cpu_s']:.2f} CPU s "
            f"({rate:,.0f} tasks/CPU s, ratio {rate / bare:.4f}, "
            f"{r['simulate_cpu_s'] * bare / REFERENCE_BARE:.1f} s at 1.0 M bare timeouts/s; "
            f"load {r['load_s']:.1f} s, plan {r['plan_s']:.2f} s)"
        )
    console.print(table)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    console.print(f"wrote {args.out}")
    console.print(
        "goal: >= 25,000 tasks/s at 1.0 M bare timeouts/s (ratio >= 0.025); "
        "100,000 tasks in < 30 s (at 1.0 M bare timeouts/s) and < 2,048 MB"
    )

    from sim.planners import PLANNERS
    from sim.workflow.library import load_workflow

    examples = ["tree_reduction", "gemm", "image_transform", "text_analysis", "wordcount", "montage_like"]
    table = Table(title="planning + simulation of the reference examples (CPU s, best of --repeat)")
    table.add_column("workflow")
    names = sorted(PLANNERS)
    for name in names:
        table.add_column(name, justify="right")
    worst = 0.0
    from sim.engine.whatif import what_if

    for ex in examples:
        row = []
        for name in names:
            dt = float("inf")
            for _ in range(max(1, args.repeat)):
                wf = load_workflow(ex)  # a fresh workflow: nothing cached from the previous run
                t = time.process_time()
                what_if(wf, name)
                dt = min(dt, time.process_time() - t)
            worst = max(worst, dt)
            row.append(f"{dt:.3f}")
        table.add_row(f"{ex} ({len(wf)})", *row)
    console.print(table)
    console.print(f"slowest: {worst:.3f} s (goal < 0.5 s each)")


if __name__ == "__main__":
    main()
