"""Output streaming, real and simulated: one large output from a producer to a running consumer.

    .venv/bin/python benchmarks/bench_streaming.py [--mb 64] [--repeat 3] [--launcher process|docker]

The workflow is ``r -> t <- p``: ``r`` and ``t`` planned on worker w1, ``p`` (which returns ``--mb`` MB of
bytes) on w2, so w1 is running when ``p`` finishes. Without streaming, ``t`` downloads the output after
``p`` uploaded it; with ``streaming`` it reads the chunks while ``p`` writes them. Both plans run for real
``--repeat`` times, alternating, on one launcher whose two workers are pre-warmed (no cold start in the
numbers). The simulator's prediction of both plans uses models fitted (``calibration.fit``) from the
records of the real runs *without* streaming, so the streamed prediction is a true prediction.
Printed: median makespan per mode (real, simulated), the same-run ratio streamed / plain, and the median
upload and download times of the big output.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "runtime"))  # the test workflows: a big payload, a digest

from realrun import ab_args  # noqa: E402
from runlib.workflows import digest, leaf, payload  # noqa: E402

from calibration.fit import fit_models  # noqa: E402
from runtime.client import make_launcher, run_workflow  # noqa: E402
from runtime.services import RedisServer  # noqa: E402
from sim.engine.simulator import simulate  # noqa: E402
from sim.models.plan import Plan  # noqa: E402
from sim.models.resources import ResourceConfig  # noqa: E402
from sim.workflow.dag import Workflow  # noqa: E402

MEMORY_MB = 2048


def make_plan(nbytes: int, streaming: bool) -> Plan:
    wf = Workflow.from_nodes(digest(leaf(1), payload(nbytes)), name=f"stream-{nbytes >> 20}mb")
    workers = {"leaf-0": "w1", "digest-0": "w1", "payload-0": "w2"}
    return Plan(
        wf,
        {t: ResourceConfig(MEMORY_MB, workers[t]) for t in wf.graph},
        planner="manual",
        optimizations=frozenset({"streaming"} if streaming else ()),
    )


def main() -> int:
    args = ab_args(__doc__, "--mb", 64, "size of the streamed output, MB")
    nbytes = args.mb << 20
    real: dict[bool, list[float]] = {False: [], True: []}
    xfer: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    plain_records = []
    with RedisServer() as server:
        launcher = make_launcher(args.launcher, server.url, keep_alive_s=300)
        try:
            launcher.prewarm(MEMORY_MB, 2)
            for i in range(args.repeat + 1):  # the first round warms up the workers' imports
                for streaming in (False, True):
                    plan = make_plan(nbytes, streaming)
                    rep = run_workflow(
                        plan.workflow,
                        plan=plan,
                        launcher=launcher,
                        redis_url=server.url,
                        timeout_s=300,
                        store_metrics=False,
                    )
                    assert rep.result[1] == nbytes and rep.keys_left == 0
                    if i == 0:
                        continue
                    recs = {r.task_id: r for r in rep.task_records}
                    real[streaming].append(rep.makespan_ms)
                    xfer[streaming].append((recs["payload-0"].upload.ms, recs["digest-0"].downloads[0].ms))
                    if not streaming:
                        plain_records += rep.records
        finally:
            launcher.close()
    models, _ = fit_models(plain_records)
    sim = {}
    for streaming in (False, True):
        plan = make_plan(nbytes, streaming)
        plan.workflow.task("payload-0").output_bytes = nbytes  # the size the runs produced
        plan.workflow.graph.edges["payload-0", "digest-0"]["bytes"] = nbytes
        sim[streaming] = simulate(plan, models=models).output.makespan_ms

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    print(
        f"streaming benchmark: {args.mb} MB output, {args.repeat} runs per mode, {args.launcher} workers, "
        f"{MEMORY_MB} MB each (pre-warmed)"
    )
    print(
        f"{'mode':<10} {'real makespan ms':>17} {'sim makespan ms':>16} {'upload ms':>10} {'download ms':>12}"
    )
    for streaming in (False, True):
        up = med([u for u, _ in xfer[streaming]])
        down = med([d for _, d in xfer[streaming]])
        name = "streaming" if streaming else "plain"
        print(f"{name:<10} {med(real[streaming]):>17.0f} {sim[streaming]:>16.0f} {up:>10.0f} {down:>12.0f}")
    print(
        f"runs (real, ms): plain {[round(x) for x in real[False]]}, streaming {[round(x) for x in real[True]]}"
    )
    print(
        f"ratio streaming / plain: real {med(real[True]) / med(real[False]):.3f}, "
        f"simulated {sim[True] / sim[False]:.3f}"
    )
    print(
        f"saved: real {med(real[False]) - med(real[True]):.0f} ms, simulated {sim[False] - sim[True]:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
