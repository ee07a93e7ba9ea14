"""inline-plan, real and simulated: many small workers start with their plan fragment, or fetch the plan.

    .venv/bin/python benchmarks/bench_inline_plan.py [--leaves 128] [--repeat 3] [--launcher process|docker]

A ``wukong`` plan of a sum tree (``2 x leaves - 1`` tasks, every task flexible: one small worker per
leaf) runs for real ``--repeat`` times with and without ``inline-plan``, alternating, on one launcher
with pre-warmed workers (the plan is cached per run, so every worker of a new run fetches it once).
Printed per mode: median makespan, median worker start-up (invocation request to the worker's first
effect, which includes getting the plan) split by how the plan came (fetched, cached, inline), and the
simulator's prediction of both plans on the default platform (plan GET of 200 B/task, 3 ms + 0.06 ms/task
load once per container; an inline fragment is only loaded).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "runtime"))  # the test workflows (importable by the workers)

from runlib.workflows import tree  # noqa: E402

from runtime.client import make_launcher, run_workflow  # noqa: E402
from runtime.services import RedisServer  # noqa: E402
from sim.engine.simulator import simulate  # noqa: E402
from sim.planners import get_planner  # noqa: E402
from sim.worker.logic import INLINE_PLAN  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leaves", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--launcher", default="process", choices=["process", "docker"])
    args = ap.parse_args()
    wf = tree(args.leaves)
    base = get_planner("wukong").plan(wf)
    plans = {False: base, True: dataclasses.replace(base, optimizations=frozenset({INLINE_PLAN}))}
    memory = next(iter(base.configs.values())).memory_mb
    makespans: dict[bool, list[float]] = {False: [], True: []}
    startups: dict[bool, dict[str, list[float]]] = {False: defaultdict(list), True: defaultdict(list)}
    with RedisServer() as server:
        launcher = make_launcher(args.launcher, server.url, keep_alive_s=300, max_workers=32)
        try:
            launcher.prewarm(memory, 16)
            for i in range(args.repeat + 1):  # the first round warms up the workers' imports
                for inline in (False, True):
                    rep = run_workflow(
                        wf,
                        plan=plans[inline],
                        launcher=launcher,
                        redis_url=server.url,
                        timeout_s=600,
                        store_metrics=False,
                    )
                    assert rep.result == sum(range(args.leaves)) and rep.keys_left == 0
                    if i == 0:
                        continue
                    makespans[inline].append(rep.makespan_ms)
                    for r in rep.records:
                        if r.kind == "worker":
                            startups[inline][r.extra["plan"]].append(r.startup_ms)
        finally:
            launcher.close()
    sim = {inline: simulate(p).output.makespan_ms for inline, p in plans.items()}
    med = statistics.median
    print(
        f"inline-plan benchmark: wukong on a {len(wf)}-task sum tree, {args.repeat} runs per mode, "
        f"{args.launcher} workers ({memory} MB, pre-warmed)"
    )
    print(
        f"{'mode':<12} {'real makespan ms':>17} {'sim makespan ms':>16}  worker start-up ms, median (count)"
    )
    for inline in (False, True):
        parts = ", ".join(f"{k} {med(v):.1f} ({len(v)})" for k, v in sorted(startups[inline].items()))
        name = "inline-plan" if inline else "plain"
        print(f"{name:<12} {med(makespans[inline]):>17.0f} {sim[inline]:>16.1f}  {parts}")
    print(
        f"runs (real, ms): plain {[round(x) for x in makespans[False]]}, inline {[round(x) for x in makespans[True]]}"
    )
    print(
        f"ratio inline / plain: real {med(makespans[True]) / med(makespans[False]):.3f}, "
        f"simulated {sim[True] / sim[False]:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
