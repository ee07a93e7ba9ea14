"""Benchmark: how the CPU time of planning (not simulating) grows with the workflow size.

Plans ``WORKFLOW:tasks=N`` for each size with each planner and prints the process CPU seconds of
``assign`` alone and the growth exponent between consecutive sizes (``log(t2/t1) / log(n2/n1)``: 1 is
linear, 2 quadratic). HEFT and CPOP try every ready task on every opened worker, and the workers grow
with the width, so this is where a quadratic slip shows (issue #3: know how cost grows with size).

Run from the project root: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_planning_speed.py
[--workflow montage] [--sizes 1000,3000,10000] [--planners heft,cpop]``. The machine is shared, so
compare numbers only with others measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from sim.planners import get_planner
from sim.workflow.library import load_workflow


def plan_cpu_s(spec: str, planner: str) -> float:
    """CPU seconds of one planner's ``assign`` on the workflow ``spec`` (loading not counted)."""
    wf = load_workflow(spec)
    p = get_planner(planner)
    t0 = time.process_time()
    p.assign(wf)
    return time.process_time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflow", default="montage", help="a WfCommons type taking tasks=N")
    ap.add_argument("--sizes", default="1000,3000,10000")
    ap.add_argument("--planners", default="heft,cpop")
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        print(f"error: --sizes must be comma-separated integers, got {args.sizes!r}", file=sys.stderr)
        return 2
    for planner in args.planners.split(","):
        previous = None
        for n in sizes:
            cpu = plan_cpu_s(f"{args.workflow}:tasks={n}", planner)
            growth = ""
            if previous is not None and previous[1] > 0 and n != previous[0]:
                growth = f"  growth exponent {math.log(cpu / previous[1]) / math.log(n / previous[0]):.2f}"
            print(f"{planner:6s} {args.workflow}:tasks={n:<7d} plan CPU {cpu:8.3f} s{growth}", flush=True)
            previous = (n, cpu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
