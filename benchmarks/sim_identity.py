"""Whether a change to the simulator left every simulated result exactly as it was.

    .venv/bin/python benchmarks/sim_identity.py --write base.json   # with the unchanged code
    .venv/bin/python benchmarks/sim_identity.py --check base.json   # with the changed code

A speed-up of the simulator must not move a single number. For each case (workflow x planner x
platform) this plans the workflow (the planners' own candidate simulations run the changed code too,
so a changed decision shows up as a different plan), simulates the plan deterministically and in
``--replications`` sampled runs (seeds 1..N), and records a digest of everything a run reports:
makespan, cost, allocated memory time, invocations, cold and warm starts, bytes, store operations,
every field of every task's ``PlanningTaskInfo``, every worker's timeline, the critical path and
the order of uploads (floats by ``repr``: equal to the last bit). ``--check`` names every case whose digest differs.

Planning montage:tasks=10000 with ``non-uniform`` takes about five minutes; ``--plans DIR`` keeps each
plan pickled there (made once, by whichever code runs first) so such cases simulate the same plan
without planning it again. Nothing else is cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

WORKFLOWS = [
    "montage:tasks=1000",
    "montage:tasks=10000",
    "epigenomics:tasks=1000",
    "cycles:tasks=1000",
    "tree_reduction:leaves=64",
    "gemm",
    "image_transform",
]
PLANNERS = ["uniform", "non-uniform", "wukong"]
PLATFORMS = ["default", "ideal"]
SLOW_TO_PLAN = {("montage:tasks=10000", "non-uniform")}  # planned once, then read from --plans


def run_digest(result) -> tuple[str, float]:  # noqa: ANN001 - SimResult
    """A digest of everything one run reports, and its makespan (for the eye)."""
    out = result.output
    totals = [
        out.makespan_ms,
        out.cost_gb_s,
        out.alloc_gb_s,
        out.invocations,
        out.cold_starts,
        out.warm_starts,
        out.bytes_uploaded,
        out.bytes_downloaded,
        out.store_ops,
    ]
    rows = [repr(totals)]
    rows += [repr(dataclasses.astuple(info)) for _, info in sorted(out.tasks.items())]
    rows += [repr((name, w)) for name, w in sorted(out.workers.items())]
    rows.append(repr(out.critical_path))
    rows.append(repr(result.uploaded))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16], out.makespan_ms


def plan_for(spec: str, planner: str, platform: str, plans: Path | None):  # noqa: ANN201 - Plan
    from sim.engine.platform import load_platform
    from sim.planners import get_planner
    from sim.planners.base import PlannerConfig
    from sim.workflow.library import load_workflow

    cache = None
    if plans is not None and (spec, planner) in SLOW_TO_PLAN:
        cache = plans / f"{spec.replace(':', '_').replace('=', '')}-{planner}-{platform}.pkl"
        if cache.exists():
            with cache.open("rb") as f:
                return pickle.load(f), None
    p = get_planner(planner, PlannerConfig(platform=load_platform(platform)))
    plan = p.plan(load_workflow(spec))
    if cache is not None:
        with cache.open("wb") as f:
            pickle.dump(plan, f)
    return plan, p


def case(spec: str, planner: str, platform: str, replications: int, plans: Path | None) -> dict:
    from sim.engine.simulator import Simulation

    plan, p = plan_for(spec, planner, platform, plans)
    predictor = p.predictor if p is not None else None
    runs = [run_digest(Simulation(plan, platform, predictor=predictor).run())]
    for i in range(replications):
        runs.append(run_digest(Simulation(plan, platform, seed=1 + i, sample=True).run()))
    return {"digests": [d for d, _ in runs], "makespans": [m for _, m in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, help="record the digests here (unchanged code)")
    mode.add_argument("--check", type=Path, help="compare with the digests recorded here")
    parser.add_argument("--replications", type=int, default=3)
    parser.add_argument("--plans", type=Path, help="directory of pickled plans for the slow cases")
    parser.add_argument("--skip-slow", action="store_true", help="leave out the cases in SLOW_TO_PLAN")
    parser.add_argument("--only", help="only the cases whose 'workflow planner platform' contains this")
    args = parser.parse_args()
    if args.plans is not None:
        args.plans.mkdir(parents=True, exist_ok=True)
    expected = json.loads(args.check.read_text()) if args.check else None
    results: dict[str, dict] = {}
    if args.write and args.write.exists():  # add to (or refresh) the cases recorded before
        results = json.loads(args.write.read_text())
    differ = []
    for spec in WORKFLOWS:
        for planner in PLANNERS:
            if args.skip_slow and (spec, planner) in SLOW_TO_PLAN:
                continue
            for platform in PLATFORMS:
                key = f"{spec} {planner} {platform}"
                if args.only and args.only not in key:
                    continue
                t = time.process_time()
                got = results[key] = case(spec, planner, platform, args.replications, args.plans)
                verdict = ""
                if expected is not None:
                    want = expected.get(key)
                    verdict = "missing" if want is None else "same" if want == got else "DIFFERENT"
                    if verdict != "same":
                        differ.append((key, want and want["makespans"], got["makespans"]))
                print(
                    f"{key}: makespan {got['makespans'][0]:.3f} ms {verdict} ({time.process_time() - t:.1f} s)"
                )
    if args.write:
        args.write.write_text(json.dumps(results, indent=1))
        print(f"wrote {len(results)} cases to {args.write}")
        return
    for key, want, got in differ:
        print(f"differs: {key}: makespans {want} -> {got}")
    print(f"{len(results) - len(differ)} of {len(results)} cases identical")
    if not results:
        sys.exit("no case matched --only")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
