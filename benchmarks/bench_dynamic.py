"""Dynamic fan-outs: what the run-time expansion costs, and how the simulator sees the width.

    .venv/bin/python benchmarks/bench_dynamic.py [--widths 4,16] [--repeat 3] [--launcher process|docker]

Real runs (``wukong``, one launcher with pre-warmed workers), alternating per repeat:

- ``dynamic``: ``listed(double.map(items(n)))``: the source's worker learns n, expands, starts n - 1
  workers; each of them first reads the width (``GET width:{node}``) and expands its own view;
- ``static``: the same graph written out for a known n: ``items(n)``, n tasks ``pick(list, i)``, ``listed``.

Printed: median makespan of each and their ratio (the expansion's overhead), and the simulated makespan
of the dynamic workflow at that width on the default platform and on one capped at 4 containers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "runtime"))  # the test workflows (importable by the workers)

from runlib.workflows import double, items, listed, pick  # noqa: E402

from runtime.client import make_launcher, run_workflow  # noqa: E402
from runtime.services import RedisServer  # noqa: E402
from sim.engine.platform import Platform  # noqa: E402
from sim.engine.whatif import what_if  # noqa: E402
from sim.workflow import Workflow  # noqa: E402


def dynamic(n: int) -> Workflow:
    return Workflow.from_nodes(listed(double.map(items(n), width_hint=n)), name=f"dynamic-{n}")


def static(n: int) -> Workflow:
    src = items(n)
    return Workflow.from_nodes(listed([pick(src, i) for i in range(n)]), name=f"static-{n}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", default="4,16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--launcher", default="process", choices=["process", "docker"])
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    capped = Platform(name="capped-4", max_containers=4)
    print("width  real dynamic ms  real static ms  dynamic/static  sim default ms  sim capped-4 ms")
    with RedisServer() as server:
        lch = make_launcher(args.launcher, server.url, keep_alive_s=60, max_workers=max(widths) + 4)
        try:
            lch.prewarm(2048, min(max(widths), 16))
            for n in widths:
                times: dict[str, list[float]] = {"dynamic": [], "static": []}
                for _ in range(args.repeat):
                    for kind, build in (("dynamic", dynamic), ("static", static)):
                        rep = run_workflow(build(n), planner="wukong", launcher=lch, redis_url=server.url)
                        assert rep.result == [2 * i for i in range(n)] and rep.keys_left == 0
                        times[kind].append(rep.makespan_ms)
                d, s = statistics.median(times["dynamic"]), statistics.median(times["static"])
                sim = what_if(dynamic(n), "wukong").result.output.makespan_ms
                sim_capped = what_if(dynamic(n), "wukong", platform=capped).result.output.makespan_ms
                print(f"{n:5d}  {d:15.1f}  {s:14.1f}  {d / s:14.2f}  {sim:14.1f}  {sim_capped:15.1f}")
        finally:
            lch.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
