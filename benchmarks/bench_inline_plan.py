"""inline-plan, real and simulated: many small workers start with their plan fragment, or fetch the plan.

    .venv/bin/python benchmarks/bench_inline_plan.py [--leaves 128] [--repeat 3] [--launcher process|docker]

A ``wukong`` plan of a sum tree (``2 x leaves - 1`` tasks, every task flexible: one small worker per
leaf) runs for real ``--repeat`` times with and without ``inline-plan``, alternating, on one launcher
with pre-warmed workers (the plan is cached per run, so every worker of a new run fetches it once).
Printed per mode: median makespan, the simulator's prediction of both plans on the default platform
(plan GET of 200 B/task, 3 ms + 0.06 ms/task load once per container; an inline fragment is only
loaded), when the client's last invocation was requested (ms after submission: making fragments delays
it), and the median worker start-up (invocation request to the worker's first effect, which includes
getting the plan) split by how the plan came (fetched, cached, inline). Then the costs measured in this
process: whole plan size and load time, fragment size, make and load time.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "runtime"))  # the test workflows (importable by the workers)

from realrun import ab_args  # noqa: E402
from runlib.workflows import tree  # noqa: E402

from runtime.client import make_launcher, run_workflow  # noqa: E402
from runtime.driver import RunContext  # noqa: E402
from runtime.services import RedisServer  # noqa: E402
from sim.engine.simulator import simulate  # noqa: E402
from sim.models.plan import Plan  # noqa: E402
from sim.planners import get_planner  # noqa: E402
from sim.worker.logic import INLINE_PLAN  # noqa: E402


def best_ms(fn: Callable[[], object], n: int = 5) -> float:
    """The fastest of ``n`` calls, in ms (the machine is shared: the minimum is the cost, not the noise)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return min(times)


def plan_costs(plan: Plan) -> str:
    """Where getting the plan costs time, measured in this process: the whole plan (fetched and loaded
    once per container and run) against the fragments of the invocations (made by whoever invokes,
    carried inside the invocation, loaded at every start)."""
    run_id, meta = "bench", {"workflow_type": "tree"}
    whole = RunContext.dump(run_id, plan, meta)
    rc = RunContext(run_id, plan, meta)
    rc.fragments().make_all()
    frags = [inv.fragment for inv in simulate(plan).invocations if inv.fragment is not None]
    prepare = best_ms(lambda: RunContext(run_id, plan, meta).fragments().make_all(), 1)
    blobs = [rc.dump_fragment(f) for f in frags]
    make = best_ms(lambda: [rc.dump_fragment(f) for f in frags]) / len(frags)
    load = best_ms(lambda: RunContext.load_fragment(run_id, blobs[0]))
    return (
        f"whole plan: {len(whole)} B, load {best_ms(lambda: RunContext.load(run_id, whole)):.2f} ms; "
        f"{len(frags)} fragments of {statistics.median(len(f) for f in frags):.0f} tasks: "
        f"{statistics.median(len(b) for b in blobs):.0f} B, made in {make:.3f} ms "
        f"(after {prepare:.1f} ms per run before it starts), loaded in {load:.3f} ms"
    )


def main() -> int:
    args = ab_args(__doc__, "--leaves", 128, "leaves of the sum tree (2 x leaves - 1 tasks)")
    wf = tree(args.leaves)
    base = get_planner("wukong").plan(wf)
    plans = {False: base, True: dataclasses.replace(base, optimizations=frozenset({INLINE_PLAN}))}
    memory = next(iter(base.configs.values())).memory_mb
    makespans: dict[bool, list[float]] = {False: [], True: []}
    startups: dict[bool, dict[str, list[float]]] = {False: defaultdict(list), True: defaultdict(list)}
    issued: dict[bool, list[float]] = {False: [], True: []}  # the client's last invocation, ms after t0
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
                    workers = [r for r in rep.records if r.kind == "worker"]
                    for r in workers:
                        startups[inline][r.extra["plan"]].append(r.startup_ms)
                    issued[inline].append(max(r.extra["start_ms"] - r.startup_ms for r in workers))
        finally:
            launcher.close()
    sim = {inline: simulate(p).output.makespan_ms for inline, p in plans.items()}
    med = statistics.median
    print(
        f"inline-plan benchmark: wukong on a {len(wf)}-task sum tree, {args.repeat} runs per mode, "
        f"{args.launcher} workers ({memory} MB, pre-warmed)"
    )
    print(
        f"{'mode':<12} {'real makespan ms':>17} {'sim makespan ms':>16} {'last invocation ms':>19}"
        "  worker start-up ms, median (count)"
    )
    for inline in (False, True):
        parts = ", ".join(f"{k} {med(v):.1f} ({len(v)})" for k, v in sorted(startups[inline].items()))
        name = "inline-plan" if inline else "plain"
        print(
            f"{name:<12} {med(makespans[inline]):>17.0f} {sim[inline]:>16.1f} {med(issued[inline]):>19.1f}  {parts}"
        )
    print(plan_costs(plans[True]))
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
