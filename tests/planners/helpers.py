"""Random DAGs and a hand-checkable platform for planner tests."""

from __future__ import annotations

import random

from sim.engine.platform import Platform
from sim.models.performance import PerformanceModels, StartupModel, TransferModel
from sim.planners import PlannerConfig
from sim.workflow.dag import TaskSpec, Workflow

# 1 ms per store round trip, 10 ms per invocation, execution = recorded runtime, no CPU sharing.
SIMPLE = Platform(
    name="simple", store_latency_ms=1.0, invoke_latency_ms=10.0, cpu_sharing=False, exec_from_recorded=True
)


def simple_models() -> PerformanceModels:
    """1000 bytes per ms transfers with no latency; 100 ms cold and 10 ms warm start-up, at any memory."""
    return PerformanceModels(
        transfer=TransferModel(latency_ms=0.0, bytes_per_ms=1000.0, alpha=0.0),
        startup=StartupModel(cold_ms=100.0, cold_exp=0.0, warm_ms=10.0, warm_exp=0.0),
    )


def simple_config(memory=(2048,)) -> PlannerConfig:
    # p50: the median of each model, so the numbers are exactly the models' (no assumed spread)
    return PlannerConfig(memory_sizes=tuple(memory), sla="p50", models=simple_models(), platform=SIMPLE)


def workflow(edges, runtimes: dict[str, float], out: int = 1000, name: str = "w") -> Workflow:
    wf = Workflow(name)
    ids = list(dict.fromkeys([u for u, _ in edges] + [v for _, v in edges] + list(runtimes)))
    for t in ids:
        wf.add_task(
            TaskSpec(
                id=t, function=t.rstrip("0123456789"), runtime_ms=runtimes.get(t, 100.0), output_bytes=out
            )
        )
    for u, v in edges:
        wf.add_edge(u, v, out)
    return wf.validate()


def random_dag(seed: int, n: int = 20, p: float = 0.2) -> Workflow:
    """A random DAG (edges only from lower to higher index), random runtimes and sizes, several roots and
    sinks possible."""
    rng = random.Random(seed)
    wf = Workflow(f"random-{seed}")
    for i in range(n):
        wf.add_task(
            TaskSpec(
                id=f"t{i}",
                function=f"f{i % 4}",
                runtime_ms=rng.choice([20, 100, 400, 1200]),
                output_bytes=rng.choice([1000, 100_000, 2_000_000]),
                stored_input_bytes=rng.choice([0, 0, 500_000]),
            )
        )
    for j in range(1, n):
        parents = [i for i in range(j) if rng.random() < p]
        if not parents and rng.random() < 0.7:
            parents = [rng.randrange(j)]
        for i in parents:
            wf.add_edge(f"t{i}", f"t{j}", wf.task(f"t{i}").output_bytes)
    for t in wf.graph:
        wf.task(t).inputs = tuple(wf.graph.predecessors(t))
    return wf.validate()
