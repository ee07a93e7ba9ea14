"""The WfInstances traces' machines and sizes per folder, development and evaluation side by side.

The dev -> eval shift of the replay benchmark (bench_calibration.py, section 3) is visible in the traces'
metadata: how many tasks, how many machines of which type. This prints, per folder and split, the task
counts and the machine types (cores, memory, and the range of the ``speedInMHz`` values, which are clock
snapshots taken when the trace was recorded: 1200 MHz is the idle floor, so they do not rank machines).
Evaluation files are read for that metadata only, never for their makespans or runtimes.

With ``--residuals``, each folder's replay parameters are fitted on all its development runs (as the
benchmark fits them) and every development run's signed makespan error is printed next to its machine
type and task count: what the fitted model misses, against the covariates that shift.

    PYTHONPATH=. python benchmarks/trace_metadata.py [--apps pegasus/montage,...] [--residuals]
"""

import argparse
import json
import lzma
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_calibration import DATA, split  # noqa: E402
from cv_replay import select_folders  # noqa: E402

from calibration.replay import fit_replay_groups, params_for, replay  # noqa: E402
from calibration.traces import load_trace  # noqa: E402
from sim.models.performance import PerformanceModels  # noqa: E402


def machine_types(path: Path) -> tuple[int, Counter, list[float]]:
    """Task count, machine types (``"48c/122G"`` -> count) and the clock snapshots of one trace file."""
    with lzma.open(path) as fh:
        wf = json.load(fh)["workflow"]
    execution = wf.get("execution", {})
    machines = execution.get("machines") or []
    tasks = wf.get("specification", {}).get("tasks") or execution.get("tasks") or []
    types: Counter = Counter()
    mhz: list[float] = []
    for m in machines:
        cpu = m.get("cpu") or {}
        memory = m.get("memoryInBytes")
        types[
            f"{cpu.get('coreCount', '?')}c"
            + (f"/{memory / 2**30:.0f}G" if memory and memory >= 2**30 else "")
        ] += 1
        if cpu.get("speedInMHz"):
            mhz.append(float(cpu["speedInMHz"]))
    return len(tasks), types, mhz


def describe(files: list[Path]) -> str:
    """One line for a set of trace files: how many, their task counts, machine types and clock readings."""
    sizes, types, mhz = [], Counter(), []
    for p in files:
        n, t, s = machine_types(p)
        sizes.append(n)
        types.update({k: 1 for k in t})  # runs that use the type
        mhz += s
    kinds = " ".join(f"{k}:{v}" for k, v in sorted(types.items()))
    clock = f"{min(mhz):.0f}-{max(mhz):.0f} MHz" if mhz else "no clock"
    return (
        f"{len(files):2d} runs, tasks {min(sizes):5d}-{max(sizes):5d}, machine types (runs) {kinds}, {clock}"
    )


def residuals(folder: str) -> None:
    """Each development run's replay error, with the parameters the benchmark would use for it: one
    set per application (a folder may hold several, e.g. nextflow), fitted on the folder's development
    runs."""
    dev = [t for t in (load_trace(p) for p in split(DATA / folder)[0]) if t.makespan_s and t.tasks]
    models = PerformanceModels(replay=fit_replay_groups(dev, pooled=False))
    print(f"    fitted on {len(dev)} development runs, {len(models.replay)} parameter set(s)")
    for t in sorted(dev, key=lambda t: (sorted(t.machines.values()), len(t.tasks))):
        types = Counter(f"{c}c" for c in t.machines.values())
        kinds = " ".join(f"{v}x{k}" for k, v in sorted(types.items()))
        err = replay(t, params_for(models, t)[1]) / t.makespan_s - 1
        print(f"    {Path(t.path).name[:44]:44s} tasks {len(t.tasks):5d}  {kinds:10s} error {err:+7.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--apps", help="comma-separated folders under wfinstances (default: all)")
    ap.add_argument("--residuals", action="store_true", help="also each development run's replay error")
    a = ap.parse_args()
    for folder in select_folders(a.apps):
        dev, ev = split(DATA / folder)
        print(folder)
        print(f"  dev  {describe(dev)}")
        print(f"  eval {describe(ev)}")
        if a.residuals:
            residuals(folder)


if __name__ == "__main__":
    main()
