"""Small hand-checkable workflows and a platform whose numbers are easy to add up."""

from __future__ import annotations

from sim.engine.platform import Platform
from sim.models.performance import SLA, PerformanceModels, StartupModel, TransferModel
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.workflow.dag import TaskSpec, Workflow

# Plans are judged at the median: unfitted models then predict exactly their formula (no assumed spread).
MEDIAN = SLA.parse("p50")

# 1 ms per store round trip, 10 ms per invocation, exec = recorded runtime, no CPU sharing.
SIMPLE = Platform(
    name="simple",
    store_latency_ms=1.0,
    invoke_latency_ms=10.0,
    cpu_sharing=False,
    exec_from_recorded=True,
)


def simple_models() -> PerformanceModels:
    """1000 bytes per ms transfers with no latency; 100 ms cold and 10 ms warm start-up."""
    return PerformanceModels(
        transfer=TransferModel(latency_ms=0.0, bytes_per_ms=1000.0, alpha=0.0),
        startup=StartupModel(cold_ms=100.0, cold_exp=0.0, warm_ms=10.0, warm_exp=0.0),
    )


def workflow(
    edges: list[tuple[str, str]], runtime_ms: float = 100.0, out: int = 1000, name: str = "w"
) -> Workflow:
    wf = Workflow(name)
    ids = list(dict.fromkeys([u for u, _ in edges] + [v for _, v in edges]))
    for t in ids:
        wf.add_task(TaskSpec(id=t, function=t.rstrip("0123456789"), runtime_ms=runtime_ms, output_bytes=out))
    for u, v in edges:
        wf.add_edge(u, v, out)
    return wf.validate()


def plan(wf: Workflow, workers: dict[str, str | None] | None = None, memory: int = 2048) -> Plan:
    """A plan with the given worker per task (missing: flexible)."""
    workers = workers or {}
    return Plan(
        wf, {t: ResourceConfig(memory, workers.get(t)) for t in wf.graph}, planner="manual", sla=MEDIAN
    ).validate()
