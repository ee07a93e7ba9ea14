"""Planners: from a workflow, a predictor and an SLA to a plan (placement, memory, optimizations).

A planner is named by its registry name, optionally followed by planner-specific options:
``NAME[:key=value[:key=value...]]``, e.g. ``sim-search:objective=cost-under-sla:max_simulations=100``
(``plansim planners list`` shows each planner's options and defaults). A planner of the user's own is
named ``FILE.py:CLASS[:key=value...]`` or ``package.module:CLASS[:key=value...]``
(:mod:`sim.planners.plugins`).
"""

from __future__ import annotations

import inspect
from typing import Any

from sim.models.plan import Plan
from sim.planners.base import Planner, PlannerConfig
from sim.planners.dask_like import DaskLikePlanner
from sim.planners.heft import CpopPlanner, HeftPlanner
from sim.planners.plugins import checked_plan, construct, is_plugin_spec, load_plugin
from sim.planners.reference import NonUniformPlanner, UniformPlanner, WukongPlanner
from sim.planners.search import SimSearchPlanner
from sim.workflow.dag import Workflow

PLANNERS: dict[str, type[Planner]] = {
    cls.name: cls
    for cls in (
        UniformPlanner,
        NonUniformPlanner,
        WukongPlanner,
        HeftPlanner,
        CpopPlanner,
        DaskLikePlanner,
        SimSearchPlanner,
    )
}


def planner_options(cls: type[Planner]) -> dict[str, Any]:
    """The planner-specific keyword options of ``cls`` and their defaults (everything but ``config``)."""
    params = inspect.signature(cls.__init__).parameters
    return {
        n: p.default for n, p in params.items() if n not in ("self", "config") and p.default is not p.empty
    }


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_planner_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"heft:max_workers=4"`` -> ``("heft", {"max_workers": 4})``."""
    name, *parts = [p.strip() for p in spec.strip().split(":")]
    options: dict[str, Any] = {}
    for part in parts:
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"planner option {part!r} in {spec!r} must be key=value")
        options[key.strip().replace("-", "_")] = _parse_value(value.strip())
    return name, options


def get_planner(
    name: str,
    config: PlannerConfig | None = None,
    *,
    planner_class: type[Planner] | None = None,
    **options: Any,
) -> Planner:
    """A planner by name (or ``NAME:key=value...`` spec, or a plug-in's ``WHERE:CLASS[:key=value...]``),
    with a clear error listing the known names; ``options`` (and those in the spec) go to the planner's
    constructor. ``planner_class``: the plug-in's class, already loaded (a sweep's worker process)."""
    spec = name.strip()
    plugin = planner_class is not None or is_plugin_spec(spec, PLANNERS)
    if plugin:
        cls, option_text = load_plugin(spec, planner_class)
        base, spec_options = spec, parse_planner_spec(f"{cls.__name__}:{option_text}")[1]
    else:
        base, spec_options = parse_planner_spec(spec)
        try:
            cls = PLANNERS[base]
        except KeyError:
            raise ValueError(
                f"unknown planner {base!r}: known planners are {', '.join(PLANNERS)} "
                "(or a planner of your own: FILE.py:CLASS or package.module:CLASS)"
            ) from None
    merged = {**spec_options, **options}
    known = planner_options(cls)
    unknown = sorted(set(merged) - set(known))
    if unknown:
        raise ValueError(
            f"planner {base!r} has no option {unknown[0]!r} (options: {', '.join(known) or 'none'})"
        )
    if plugin:
        planner = construct(cls, spec, config, merged)
    else:
        try:
            planner = cls(config, **merged)
        except ValueError as exc:  # an option's value: name the planner it was given to
            raise ValueError(f"planner {spec!r}: {exc}") from None
    if spec_options or plugin:
        planner.name = spec  # plans and tables show the variant, e.g. "sim-search:objective=cost"
    return planner


def make_plan(planner: Planner, wf: Workflow) -> Plan:
    """``planner.plan(wf)``; a plug-in's is checked (:func:`sim.planners.plugins.checked_plan`): what goes
    wrong in the user's code is one error line naming the planner, not a traceback of plansim's."""
    if is_builtin(type(planner)):
        return planner.plan(wf)
    return checked_plan(planner, wf)


def is_builtin(cls: type[Planner]) -> bool:
    """Whether ``cls`` is one of plansim's own planners (not a plug-in, nor a subclass of one)."""
    return cls in _BUILTIN


_BUILTIN = frozenset(PLANNERS.values())

__all__ = [
    "PLANNERS",
    "Planner",
    "PlannerConfig",
    "get_planner",
    "is_builtin",
    "make_plan",
    "parse_planner_spec",
    "planner_options",
]
