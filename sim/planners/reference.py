"""The three planners of the reference system, deciding on simulated timings (reference section 3).

- :class:`UniformPlanner`: one memory size for every task, tasks grouped onto workers.
- :class:`NonUniformPlanner`: the same grouping, every worker first at the largest size, then workers off
  the critical path are downgraded one size at a time while the *simulated* makespan does not grow
  (tested in groups, halving a group whose downgrade would slow the run down).
- :class:`WukongPlanner`: every task flexible at one size; at run time the dependency counters decide
  (decentralised scheduling, Carver et al., "Wukong: a scalable and locality-enhanced framework for
  serverless parallel computing", SoCC 2020).
"""

from __future__ import annotations

from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.planners.base import Planner, PlannerConfig, group_into_workers, whole_number_option
from sim.worker.logic import CLUSTERING, PlanView
from sim.workflow.dag import Workflow

# A downgrade is accepted if the makespan grows by less than this (absorbs float noise, nothing more).
MAKESPAN_TOLERANCE = 1e-6


class UniformPlanner(Planner):
    name = "uniform"
    description = (
        "one memory size (the first given) for all tasks; tasks grouped onto workers to keep data local"
    )

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        return group_into_workers(wf, self.predictor, self.config.memory_sizes[0])


class NonUniformPlanner(Planner):
    name = "non-uniform"
    description = (
        "groups like uniform, starts every worker at the largest size, then downgrades workers off the "
        "critical path while the simulated makespan does not grow"
    )

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        sizes = sorted(set(self.config.memory_sizes), reverse=True)
        grouped = group_into_workers(wf, self.predictor, sizes[-1])
        configs = {t: c.with_memory(sizes[0]) for t, c in grouped.items()}
        if len(sizes) == 1:
            return configs
        baseline = self.simulate_configs(wf, configs)
        critical_workers = {
            configs[t].worker_id for t in baseline.output.critical_path if t in configs
        }  # (not copies)
        limit = baseline.output.makespan_ms * (1 + MAKESPAN_TOLERANCE)
        tasks_of: dict[str, list[str]] = {}
        for t, c in configs.items():
            tasks_of.setdefault(c.worker_id, []).append(t)
        candidates = sorted((w for w in tasks_of if w not in critical_workers), key=_worker_order)
        return self._downgrade(wf, configs, tasks_of, candidates, sizes, 1, limit)

    def _downgrade(self, wf, configs, tasks_of, workers, sizes, level, limit):  # noqa: ANN001
        """Group testing: move all ``workers`` down to ``sizes[level]`` at once; if the simulated
        makespan stays within ``limit`` keep it and go one size further, else split the group in two
        and try each half. Every accepted change was simulated, and far fewer simulations are needed
        than one per worker and size when most workers have slack."""
        if not workers or level >= len(sizes):
            return configs
        trial = dict(configs)
        for w in workers:
            for t in tasks_of[w]:
                trial[t] = configs[t].with_memory(sizes[level])
        if self.simulate_configs(wf, trial).output.makespan_ms <= limit:
            return self._downgrade(wf, trial, tasks_of, workers, sizes, level + 1, limit)
        if len(workers) == 1:
            return configs
        half = len(workers) // 2
        configs = self._downgrade(wf, configs, tasks_of, workers[:half], sizes, level, limit)
        return self._downgrade(wf, configs, tasks_of, workers[half:], sizes, level, limit)

    def simulate_configs(self, wf: Workflow, configs: dict[str, ResourceConfig]):
        from sim.models.plan import Plan

        return self.simulate(Plan(wf, configs, self.name, self.config.sla, self.config.optimizations))


class WukongPlanner(Planner):
    name = "wukong"
    description = (
        "every task flexible at one memory size; the dependency counters schedule at run time "
        "(with clustering: cluster_max_tasks bounds how many roots sharing a large stored object start on "
        "one worker; cluster_memory_mb sizes such a worker, since memory also buys CPU)"
    )

    def __init__(
        self,
        config: PlannerConfig | None = None,
        cluster_max_tasks: int | None = None,
        cluster_memory_mb: int | None = None,
    ) -> None:
        super().__init__(config)
        whole_number_option("cluster_max_tasks", cluster_max_tasks)
        whole_number_option("cluster_memory_mb", cluster_memory_mb)
        self.cluster_max_tasks = cluster_max_tasks
        self.cluster_memory_mb = cluster_memory_mb

    def annotations(self) -> dict:
        # clustering: roots sharing a large stored object start together; unbounded is WUKONG's rule (every
        # consumer runs where the object is), a bound trades bytes moved for parallelism.
        return {} if self.cluster_max_tasks is None else {"cluster_max_tasks": self.cluster_max_tasks}

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        memory = self.config.memory_sizes[0]
        configs = {t: ResourceConfig(memory, None) for t in wf.graph}
        if self.cluster_memory_mb is None or CLUSTERING not in self.config.optimizations:
            return configs
        # A root cluster runs several tasks at once on one worker: give that worker its own size (the
        # worker logic invokes a cluster at the memory of its first task).
        view = PlanView(
            Plan(
                wf, configs, self.name, optimizations=frozenset([CLUSTERING]), annotations=self.annotations()
            )
        )
        for group in view.root_clusters:
            for t in group:
                configs[t] = ResourceConfig(self.cluster_memory_mb, None)
        return configs


def _worker_order(worker_id: str) -> tuple[int, str]:
    digits = worker_id.lstrip("w")
    return (int(digits), worker_id) if digits.isdigit() else (1 << 30, worker_id)
