"""Planners: from a workflow, a predictor and an SLA to a plan (placement, memory, optimizations)."""

from sim.planners.base import Planner, PlannerConfig
from sim.planners.reference import NonUniformPlanner, UniformPlanner, WukongPlanner

PLANNERS: dict[str, type[Planner]] = {
    cls.name: cls for cls in (UniformPlanner, NonUniformPlanner, WukongPlanner)
}


def get_planner(name: str, config: PlannerConfig | None = None) -> Planner:
    """A planner by name, with a clear error listing the known names."""
    try:
        cls = PLANNERS[name]
    except KeyError:
        raise ValueError(f"unknown planner {name!r}: known planners are {', '.join(PLANNERS)}") from None
    return cls(config)


__all__ = ["PLANNERS", "Planner", "PlannerConfig", "get_planner"]
