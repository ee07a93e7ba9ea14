"""Re-score recorded accuracy cells with the current calibration and simulator: an A/B on the same real
runs, without Docker and without the host's load changing between A and B.

    .venv/bin/python benchmarks/bench_accuracy.py --records out/        # record the real runs once
    .venv/bin/python benchmarks/rescore_accuracy.py out/                 # this code's predictions
    PYTHONPATH=../older-checkout .venv/bin/python benchmarks/rescore_accuracy.py out/ --fixed-platform

For each ``TYPE-PLANNER.jsonl`` file: fit the models (:func:`calibration.fit.fit_models`) and the
platform (:func:`calibration.platform_fit.fit_platform`) on the real records of every run but the last,
simulate the plan the last run actually ran (the planned records' workers and memory sizes, with the
planner's optimizations), and compare with the last real run, as ``bench_accuracy.py`` scores it.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_accuracy import (  # noqa: E402
    ARM_SUFFIX,
    EXEC_GOAL_PCT,
    MAKESPAN_GOAL_PCT,
    PLANNERS,
    SIZE_SETS,
    exec_floor_pct,
    real_exec_ms,
    split_at_first_task,
)

from calibration.fit import fit_models  # noqa: E402
from sim.compare.plan_vs_real import compare_runs, group_runs  # noqa: E402
from sim.engine.platform import DEFAULT  # noqa: E402
from sim.engine.simulator import Simulation  # noqa: E402
from sim.engine.whatif import what_if  # noqa: E402
from sim.models.plan import Plan  # noqa: E402
from sim.models.records import TaskRecord, iter_jsonl  # noqa: E402
from sim.models.resources import ResourceConfig  # noqa: E402
from sim.workflow.dag import Workflow  # noqa: E402
from sim.workflow.library import load_workflow  # noqa: E402


def rescore(
    path: Path, max_containers: int = 4, sla: str = "p50", fit_the_platform: bool = True
) -> dict | None:
    """One recorded cell, re-predicted; None when its name is no known cell or it holds fewer than two
    real runs."""
    stem = ARM_SUFFIX.sub("", path.stem)
    cell = next(((t, p) for t in SIZE_SETS["small"] for p in PLANNERS if stem == f"{t}-{p}"), None)
    if cell is None:
        return None
    wtype, planner = cell
    records = list(iter_jsonl(path))
    runs = group_runs(records)
    real = sorted(r for r in runs if not r.endswith("-plan"))
    if len(real) < 2 or f"{real[-1]}-plan" not in runs:
        return None
    last, history = real[-1], [r for r in records if r.run_id in real[:-1]]
    models, _ = fit_models(history)
    platform = replace(DEFAULT, name=f"default-cap{max_containers}", max_containers=max_containers)
    if fit_the_platform:
        from calibration.platform_fit import fit_platform

        platform, _ = fit_platform(history, platform)
    wf = recorded_instance(wtype, records)
    replanned = what_if(wf, planner, [1024, 2048], sla, platform, models).plan
    configs = {
        t: ResourceConfig(r.memory_mb, None if r.worker_id.startswith("flex-") else r.worker_id)
        for t, r in runs[f"{last}-plan"].tasks.items()
    }
    plan = Plan(
        wf, configs, planner, replanned.sla, replanned.optimizations, dict(replanned.annotations)
    ).validate()
    sim = Simulation(plan, platform, models).run()
    cmp = compare_runs(sim.records("rescored"), [r for r in records if r.run_id == last])
    mk = cmp.overall["makespan_ms"]
    ex = cmp.offsets()["exec_ms"]
    return {
        "workflow": wtype,
        "planner": planner,
        "planned_ms": mk["planned"],
        "real_ms": mk["real"],
        "makespan_err_pct": mk["error_pct"],
        "exec_median_abs_err_pct": ex["median_abs_pct"],
        "exec_bias_pct": ex["mean_pct"],
        "exec_floor_pct": exec_floor_pct([real_exec_ms(runs[r].tasks.values()) for r in real]),
        **split_at_first_task(cmp),
    }


def recorded_instance(wtype: str, records: list) -> Workflow:
    """The benchmark's instance of ``wtype`` that the records ran (``bench_accuracy.py --sizes``): the
    type hash is the shape only, so the size set whose root tasks' own inputs (the data the instance
    generates, recorded exactly) are nearest the recorded ones, then whose tasks' estimated output sizes
    are (median log ratio over tasks). Outputs alone mistook wordcount's long instance for the large one:
    its estimate of 400 kB per count table is further from the 170 kB written than the large one's 100 kB,
    and the re-score then simulated 75-93% too short an execution."""
    inputs = {r.task_id: r.input_bytes for r in records if isinstance(r, TaskRecord) and r.input_bytes > 0}
    outputs = {r.task_id: r.output_bytes for r in records if isinstance(r, TaskRecord) and r.output_bytes > 0}

    def median_log(recorded: dict[str, int], estimated: dict[str, int]) -> float:
        logs = [abs(math.log(recorded[t] / b)) for t, b in estimated.items() if t in recorded and b > 0]
        return statistics.median(logs) if logs else math.inf

    def distance(wf: Workflow) -> tuple[float, float]:
        own = {t: wf.task(t).inline_bytes + wf.task(t).stored_input_bytes for t in wf.roots}
        return median_log(inputs, own), median_log(
            outputs, {t: wf.task(t).output_bytes or 0 for t in wf.graph}
        )

    return min((load_workflow(sizes[wtype]) for sizes in SIZE_SETS.values()), key=distance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", help="a folder of bench_accuracy.py --records files")
    parser.add_argument("--max-containers", type=int, default=4)
    parser.add_argument(
        "--fixed-platform",
        action="store_true",
        help="keep the built-in platform (for checkouts from before calibration.platform_fit)",
    )
    args = parser.parse_args()
    files = sorted(Path(args.records).glob("*.jsonl"))
    if not files:
        raise SystemExit(f"error: no .jsonl records in {args.records}")
    rows = [
        r
        for f in files
        if (r := rescore(f, args.max_containers, fit_the_platform=not args.fixed_platform)) is not None
    ]
    for r in rows:
        print(
            f"{r['workflow']:16s} {r['planner']:12s} planned {r['planned_ms']:8.0f} real {r['real_ms']:8.0f} "
            f"makespan {r['makespan_err_pct']:+7.1f}% (first task {r['first_task_err_pct']:+7.1f}%, "
            f"after it {r['after_first_err_pct']:+7.1f}%) "
            f"exec {r['exec_median_abs_err_pct']:6.1f}% (floor {_pct(r['exec_floor_pct'])})"
        )
    mks = [abs(r["makespan_err_pct"]) for r in rows]
    after = [abs(r["after_first_err_pct"]) for r in rows if r["after_first_err_pct"] is not None]
    exs = [r["exec_median_abs_err_pct"] for r in rows]
    floors = [r["exec_floor_pct"] for r in rows if r["exec_floor_pct"] is not None]
    goal = sum(m <= MAKESPAN_GOAL_PCT and e <= EXEC_GOAL_PCT for m, e in zip(mks, exs, strict=True))
    print(
        f"cells {len(rows)}: goal {goal}, makespan within {MAKESPAN_GOAL_PCT:g}% "
        f"{sum(m <= MAKESPAN_GOAL_PCT for m in mks)}, exec within {EXEC_GOAL_PCT:g}% "
        f"{sum(e <= EXEC_GOAL_PCT for e in exs)}; median |makespan err| {_median_pct(mks)}, "
        f"median exec {_median_pct(exs)} (floor {_median_pct(floors)}), "
        f"median |after-first-task err| {_median_pct(after)}"
    )


def _pct(v: float | None) -> str:
    return "  -  " if v is None else f"{v:5.1f}%"


def _median_pct(values: list[float]) -> str:
    """The median as a percentage, or a dash where no cell has the number (a pass of one run has no floor)."""
    return _pct(statistics.median(values)) if values else _pct(None)


if __name__ == "__main__":
    main()
