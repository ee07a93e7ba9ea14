"""``fixed_times``: 5 chains of sleeping tasks (lengths 5..1) joined by one sink (reference 6.7).

16 tasks by default; the short chains have slack, useful to test resource downgrades off the critical
path. Answer: the number of chain tasks (15 by default).
"""

from __future__ import annotations

import time

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import TASK_FLOOR_MS, Sizes, annotate_sizes
from sim.workflow.language import constant, task
from sim.workflow.library import Param, WorkflowType, register


@task(io=constant(8))
def sleep_task(previous: int, sleep_s: float) -> int:
    time.sleep(sleep_s)
    return previous + 1


@task(io=constant(8))
def join(*counts: int) -> int:
    return sum(counts)


def build(chains: int = 5, sleep_s: float = 0.5) -> Workflow:
    ends = []
    for length in range(chains, 0, -1):
        node = sleep_task(0, sleep_s)
        for _ in range(length - 1):
            node = sleep_task(node, sleep_s)
        ends.append(node)
    wf = Workflow.from_nodes(join(*ends), name="fixed_times")
    return annotate_sizes(
        wf,
        {
            "sleep_task": Sizes(output_bytes=8, runtime_ms=1000 * sleep_s + TASK_FLOOR_MS),
            "join": Sizes(output_bytes=8, runtime_ms=TASK_FLOOR_MS),
        },
    )


def expected(chains: int = 5, **_) -> int:
    return chains * (chains + 1) // 2


register(
    WorkflowType(
        "fixed_times",
        "chains of fixed-time sleeps (lengths chains..1) joined by one sink (16 tasks)",
        {
            "chains": Param(5, int, "number of chains (the longest has this many tasks)", minimum=1),
            "sleep_s": Param(0.5, float, "seconds each chain task sleeps", minimum=0),
        },
        build,
    )
)
