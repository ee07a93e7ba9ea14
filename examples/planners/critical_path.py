"""Critical-path clustering: a first planner of your own, run with
``plansim simulate gemm --planner examples/planners/critical_path.py:CriticalPathClustering``.

The idea is *linear clustering* (S. J. Kim and J. C. Browne, "A general approach to mapping of parallel
computations upon multiprocessor architectures", ICPP 1988): the longest path of the DAG, counting both
the tasks' execution and the transfers between them, is put on one worker, so that its data never leaves
that worker; then the longest path among the tasks left, and so on. Each path is a chain of tasks on one
container, the rest of the parallelism gets containers of its own.

Memory buys CPU as well, so the size is chosen by the simulator in the loop: every memory size the user
allows (``--memory``) is simulated, and the smallest whose makespan is within ``slack`` of the fastest wins.
"""

from __future__ import annotations

from sim.models.resources import ResourceConfig
from sim.planners.base import Planner, PlannerConfig, WorkerIds, number_option
from sim.workflow.dag import Workflow


class CriticalPathClustering(Planner):
    name = "critical-path"
    description = "linear clustering: the longest remaining path on one worker, memory chosen by simulation"

    def __init__(self, config: PlannerConfig | None = None, slack: float = 0.05) -> None:
        super().__init__(config)
        number_option("slack", slack, optional=False)  # `...:slack=-1` is one clear error line
        self.slack = slack

    def clusters(self, wf: Workflow, memory_mb: int) -> dict[str, str]:
        """Task -> worker id: the longest path of the tasks not yet placed, one worker per path."""
        g, edge_bytes = wf.graph, self.predictor.sizes(wf).edge_bytes
        order, worker, ids = wf.topological_order(), {}, WorkerIds()
        while len(worker) < len(order):
            length: dict[str, float] = {}  # the longest path ending at a task, and where it came from
            came_from: dict[str, str | None] = {}
            for t in order:
                if t in worker:
                    continue
                length[t], came_from[t] = 0.0, None
                for p in g.predecessors(t):
                    if p in length:  # an edge inside the remaining tasks: its transfer counts
                        via = length[p] + self.predictor.transfer_ms(edge_bytes[p, t], memory_mb)
                        if via > length[t]:
                            length[t], came_from[t] = via, p
                length[t] += self.predictor.exec_ms(wf, t, memory_mb)
            t, w = max(length, key=length.get), ids.new()
            while t is not None:
                worker[t], t = w, came_from[t]
        return worker

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        candidates = []
        for m in sorted(set(self.config.memory_sizes)):
            configs = {t: ResourceConfig(m, w) for t, w in self.clusters(wf, m).items()}
            candidates.append((self.makespan(wf, configs), m, configs))  # simulated, as plan() will be
        fastest = min(c[0] for c in candidates)
        return next(c for ms, _, c in candidates if ms <= fastest * (1 + self.slack))
