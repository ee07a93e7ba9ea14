"""``tree_reduction``: pairwise integer additions down to one sum (reference section 6.1).

``leaves=64`` gives 32 roots ``add(x, y)`` with two inline ints, then levels of 16, 8, 4, 2 and 1: 63
tasks, depth 6, every fan-in 2. Trivial compute and bytes-sized data: it measures platform overheads.
Any ``leaves >= 2`` works; an odd task out at a level is carried to the next one. Answer:
``sum(range(leaves))``.
"""

from __future__ import annotations

from sim.workflow.dag import Workflow
from sim.workflow.known._sizes import TASK_FLOOR_MS, Sizes, annotate_sizes
from sim.workflow.language import constant, task
from sim.workflow.library import Param, WorkflowType, register


@task(io=constant(8))
def add(x: int, y: int) -> int:
    return x + y


def build(leaves: int = 64) -> Workflow:
    level = [add(i, i + 1) for i in range(0, leaves - 1, 2)]
    carry = [leaves - 1] if leaves % 2 else []
    while len(level) + len(carry) > 1:
        items = level + carry
        level = [add(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        carry = [items[-1]] if len(items) % 2 else []
    wf = Workflow.from_nodes(level[0], name="tree_reduction")
    return annotate_sizes(wf, {"add": Sizes(output_bytes=8, runtime_ms=TASK_FLOOR_MS)})


def expected(leaves: int = 64) -> int:
    return sum(range(leaves))


register(
    WorkflowType(
        "tree_reduction",
        "binary tree of integer additions (63 tasks for 64 leaves); overhead-dominated",
        {"leaves": Param(64, int, "number of integers to add", minimum=2)},
        build,
    )
)
