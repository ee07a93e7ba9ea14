"""The three planners of the reference system, deciding on simulated timings (reference section 3).

- :class:`UniformPlanner`: one memory size for every task, tasks grouped onto workers.
- :class:`NonUniformPlanner`: the same grouping, every worker first at the largest size, then workers off
  the critical path are downgraded one size at a time while the *simulated* makespan does not grow.
- :class:`WukongPlanner`: every task flexible at one size; at run time the dependency counters decide
  (decentralised scheduling, Carver et al., "Wukong: a scalable and locality-enhanced framework for
  serverless parallel computing", SoCC 2020).
"""

from __future__ import annotations

from sim.models.resources import ResourceConfig
from sim.planners.base import Planner, group_into_workers
from sim.workflow.dag import Workflow

# A downgrade is accepted if the makespan grows by less than this (absorbs float noise, nothing more).
MAKESPAN_TOLERANCE = 1e-6


class UniformPlanner(Planner):
    name = "uniform"
    description = "one memory size (the first given) for all tasks; tasks grouped onto workers to keep data local"

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
        critical_workers = {configs[t].worker_id for t in baseline.output.critical_path}
        limit = baseline.output.makespan_ms * (1 + MAKESPAN_TOLERANCE)
        tasks_of: dict[str, list[str]] = {}
        for t, c in configs.items():
            tasks_of.setdefault(c.worker_id, []).append(t)
        # Deterministic order: the workers with the most slack first would need another simulation;
        # sorting by id keeps plans reproducible.
        for w in sorted(tasks_of, key=_worker_order):
            if w in critical_workers:
                continue
            for smaller in sizes[1:]:
                trial = dict(configs)
                for t in tasks_of[w]:
                    trial[t] = configs[t].with_memory(smaller)
                if self.simulate_configs(wf, trial).output.makespan_ms <= limit:
                    configs = trial
                else:
                    break
        return configs

    def simulate_configs(self, wf: Workflow, configs: dict[str, ResourceConfig]):
        from sim.models.plan import Plan

        return self.simulate(Plan(wf, configs, self.name, self.config.sla, self.config.optimizations))


class WukongPlanner(Planner):
    name = "wukong"
    description = "every task flexible at one memory size; the dependency counters schedule at run time"

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        memory = self.config.memory_sizes[0]
        return {t: ResourceConfig(memory, None) for t in wf.graph}


def _worker_order(worker_id: str) -> tuple[int, str]:
    digits = worker_id.lstrip("w")
    return (int(digits), worker_id) if digits.isdigit() else (1 << 30, worker_id)
