"""Dynamic fan-outs over a large list: bytes the copies move, simulated and real.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_dynamic_items.py [--mb 64] [--width 16] [--real-mb 8]

The code measured is the one on ``PYTHONPATH`` (run it once with another checkout's path for a
before/after in the same session; the script itself imports nothing from its own checkout).

- simulated: ``listed(length.map(blobs))`` with a source output of ``--mb`` MB split ``--width`` ways
  (wukong, default platform and models): MB uploaded, MB downloaded, makespan;
- real (process launcher, pre-warmed, ``--real-mb`` MB split ``--width`` ways): the bytes the copies
  downloaded (task records), the source's upload, the makespan.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

# The test workflows (blobs, length, listed), importable by the workers; the code measured is PYTHONPATH's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtime"))

from runlib.workflows import blobs, length, listed  # noqa: E402

from runtime.client import make_launcher, run_workflow  # noqa: E402
from runtime.services import RedisServer  # noqa: E402
from sim.engine.whatif import what_if  # noqa: E402
from sim.workflow import Workflow  # noqa: E402


def fan_out(width: int, size: int) -> Workflow:
    return Workflow.from_nodes(
        listed(length.map(blobs(width, size), width_hint=width)), name=f"items-{width}"
    )


def simulated(width: int, total: int) -> str:
    """The fan-out with sizes given: the source's output ``total`` bytes, every other output 8 bytes."""
    wf = fan_out(width, total // width)
    src = wf.topological_order()[0]
    for t in wf.topological_order():
        size = total if t == src else 8
        wf.task(t).output_bytes = size
        for _, _, d in wf.graph.out_edges(t, data=True):
            d["bytes"] = size
    out = what_if(wf, "wukong").result.output
    return f"sim  MB up {out.bytes_uploaded / 1e6:8.1f}  MB down {out.bytes_downloaded / 1e6:8.1f}  makespan ms {out.makespan_ms:9.1f}"


def real(width: int, total: int, repeat: int) -> str:
    with RedisServer() as server:
        lch = make_launcher("process", server.url, keep_alive_s=60, max_workers=width + 4)
        try:
            lch.prewarm(2048, width)
            down, up, ms = [], [], []
            for _ in range(repeat):
                rep = run_workflow(
                    fan_out(width, total // width), planner="wukong", launcher=lch, redis_url=server.url
                )
                assert rep.result == [total // width] * width and rep.keys_left == 0
                down.append(
                    sum(d.bytes for r in rep.task_records if r.function == "length" for d in r.downloads)
                )
                up.append(sum(r.upload.bytes for r in rep.task_records if r.function == "blobs" and r.upload))
                ms.append(rep.makespan_ms)
        finally:
            lch.close()
    return (
        f"real MB up {statistics.median(up) / 1e6:8.1f}  copies' MB down {statistics.median(down) / 1e6:8.1f}"
        f"  makespan ms {statistics.median(ms):9.1f}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=64)
    ap.add_argument("--real-mb", type=float, default=8)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-real", action="store_true")
    args = ap.parse_args()
    print(simulated(args.width, int(args.mb * 1e6)))
    if not args.no_real:
        print(real(args.width, int(args.real_mb * 1e6), args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
