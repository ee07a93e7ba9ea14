"""Sweep grids: the cross product of workflows, planners, memory sets, SLAs and seeds.

A *point* is one simulation: (workflow, planner, memory set, SLA, seed). Points that differ only by seed
share one plan, so the runner works on *groups* (everything but the seed) and plans each group once.

Seeds: seed 0 .. N-1. With one seed the simulation is the deterministic prediction (the SLA's factor on
every duration, as ``plansim simulate`` does); with several, each seed is a Monte-Carlo run that samples
the models' residuals (``sampled`` in the results), so the spread over seeds is the models' uncertainty.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sim.engine.platform import Platform
from sim.models.performance import SLA
from sim.models.resources import parse_memory_list


@dataclass(frozen=True, slots=True)
class SweepGroup:
    """Every point of one (workflow, planner, memory set, SLA): planned once, simulated per seed."""

    workflow: str
    planner: str
    memory: tuple[int, ...]
    sla: str
    seeds: tuple[int, ...]
    sampled: bool
    platform: str = "default"  # as given (the results' column)
    models: str | None = None  # path of a models file; the built-in defaults when None
    optimizations: tuple[str, ...] = ()
    # The platform, loaded once by expand_grid: a point that read the file again failed on a pipe
    # (`--platform <(...)`, readable once) and on a Dask worker of another machine (no such path).
    platform_loaded: Platform | None = None
    # A plug-in planner's class (FILE.py:CLASS), loaded once by expand_grid and pickled by value
    # (sim.planners.plugins.portable): a pool process or a Dask worker elsewhere need not find the file.
    planner_class: bytes | None = None

    def __len__(self) -> int:
        return len(self.seeds)


def parse_memory_sets(values: Iterable[str]) -> list[tuple[int, ...]]:
    """``--memory`` values: each is one memory set ``2048,4096``; ``;`` separates several sets in one
    value (``2048;2048,4096,8192``)."""
    out: list[tuple[int, ...]] = []
    for value in values:
        for part in str(value).split(";"):
            if part.strip():
                out.append(tuple(parse_memory_list(part)))
    if not out:
        raise ValueError("--memory needs at least one memory set, e.g. 2048 or 2048,4096,8192")
    return list(dict.fromkeys(out))


def split_list(values: Iterable[str], what: str) -> list[str]:
    """Comma-separated and/or repeated option values, in order, without duplicates."""
    out = [x.strip() for v in values for x in str(v).split(",") if x.strip()]
    if not out:
        raise ValueError(f"--{what} needs at least one value")
    return list(dict.fromkeys(out))


def expand_grid(
    workflows: Sequence[str],
    planners: Sequence[str],
    memory_sets: Sequence[tuple[int, ...]],
    slas: Sequence[str],
    seeds: int = 1,
    platform: str = "default",
    models: str | None = None,
    optimizations: Sequence[str] = (),
) -> list[SweepGroup]:
    """The groups of a grid, in a stable order (workflow, planner, memory, SLA)."""
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    from sim.planners import get_planner, is_builtin
    from sim.planners.plugins import portable

    classes: dict[str, bytes | None] = {}
    for p in planners:  # fail early: an unknown name, an unknown option or one out of range
        cls = type(get_planner(p))
        classes[p] = None if is_builtin(cls) else portable(cls)
    slas = [str(SLA.parse(s)) for s in slas]  # fail early, and normalise "avg" -> "average"
    # What every point shares is checked here, once: a bad platform, models file or optimization would
    # otherwise fail every point alike and leave a results table of failures with exit status 0.
    from sim.engine.platform import load_platform
    from sim.planners.optimizations import check_names

    plat = load_platform(platform)
    check_names(set(optimizations))
    if models is not None:
        from sim.sweep.runner import _models

        _models(models)  # the loader the points use (cached for this process)
    seed_list = tuple(range(seeds))
    return [
        SweepGroup(
            w, p, tuple(m), s, seed_list, seeds > 1, platform, models, tuple(optimizations), plat, classes[p]
        )
        for w, p, m, s in itertools.product(workflows, planners, memory_sets, list(dict.fromkeys(slas)))
    ]


def count_points(groups: Sequence[SweepGroup]) -> int:
    return sum(len(g) for g in groups)
