"""Timings of the workflow layer: ``python benchmarks/bench_workflows.py [--cold]``.

- ``plansim workflows show montage:tasks=1000`` in-process (cached instance) and as a subprocess;
- with ``--cold``: the same with an empty WfCommons cache (imports wfcommons and generates);
- importing every WfInstances trace under ../shared/data/wfinstances;
- the type hash of a 10k-task random DAG.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    cold = "--cold" in sys.argv
    if cold:
        os.environ["PLANSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="plansim-bench-")
    from sim.workflow.cli import show_data
    from sim.workflow.dag import TaskSpec, Workflow
    from sim.workflow.library import load_workflow
    from sim.workflow.wfformat import load_wfformat

    t, _ = timed(lambda: show_data(load_workflow("montage:tasks=1000")))
    print(f"show montage:tasks=1000 in-process, {'cold' if cold else 'cache as found'}: {t:.2f} s")
    t, _ = timed(lambda: show_data(load_workflow("montage:tasks=1000")))
    print(f"show montage:tasks=1000 in-process, cached: {t:.2f} s")
    plansim = Path(sys.executable).with_name("plansim")
    t, proc = timed(
        lambda: subprocess.run(
            [str(plansim), "workflows", "show", "montage:tasks=1000"], capture_output=True, env=os.environ
        )
    )
    print(
        f"`plansim workflows show montage:tasks=1000` (subprocess, cached): {t:.2f} s, exit {proc.returncode}"
    )

    from sim.workflow.shared_data import shared_data_dir

    files = sorted((shared_data_dir() / "wfinstances").rglob("*.json.xz"))
    if files:

        def load_all():
            n = 0
            for f in files:
                n += len(load_wfformat(f))
            return n

        t, n = timed(load_all)
        print(f"import {len(files)} WfInstances traces ({n} tasks): {t:.2f} s")

    wf = Workflow("big")
    rnd = random.Random(1)
    for i in range(10_000):
        wf.add_task(TaskSpec(id=f"t{i}", function=f"f{i % 7}"))
    for i in range(1, 10_000):
        for _ in range(2):
            wf.add_edge(f"t{rnd.randrange(max(0, i - 50), i)}", f"t{i}", 1)
    wf.topological_order()
    t, h = timed(wf.type_hash)
    print(f"type hash of 10k tasks / {wf.graph.number_of_edges()} edges: {t:.3f} s ({h})")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
