"""Validate the simulator against reality: plan and simulate a workflow, run the same plan for real N
times, and compare each run with its prediction (optionally re-calibrating the models between runs).

:func:`validate` only wires pieces together: :func:`sim.engine.whatif.what_if` for the plan and its
prediction, :func:`runtime.client.run_workflow` for the real run (the very same :class:`Plan`), the pure
:func:`sim.compare.plan_vs_real.compare_runs` for the comparison, and, with ``calibrate``,
:func:`calibration.fit.fit_models` over every real run so far before the next plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.compare.plan_vs_real import Comparison, compare_runs, error_progression
from sim.models.records import Record, RunRecord


@dataclass(slots=True)
class ValidationRun:
    index: int
    planned_run: str
    real_run: str
    comparison: Comparison
    planned_records: list[Record]
    real_records: list[Record]
    error: str | None = None  # the real run failed: why
    models_samples: int = 0  # real task records the models were fitted on before this run (calibrate)


@dataclass(slots=True)
class Validation:
    workflow: str
    planner: str
    runs: list[ValidationRun] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    calibrated: bool = False
    models: Any = None  # the last fitted models (calibrate)
    platform: Any = None  # the last calibrated platform (calibrate)
    optimizations: tuple[str, ...] = ()  # switched on in every run's plan

    @property
    def comparisons(self) -> list[Comparison]:
        return [r.comparison for r in self.runs]

    def records(self) -> list[Record]:
        return [x for r in self.runs for x in r.planned_records + r.real_records]

    def progression(self) -> list[dict[str, Any]]:
        return error_progression(self.comparisons)


def validate(
    workflow: Any,
    planner: str = "wukong",
    runs: int = 1,
    calibrate: bool = False,
    memory_sizes: Any = None,
    sla: Any = None,
    models: Any = None,
    platform: Any = "default",
    launcher: Any = "process",
    redis_url: str | None = None,
    timeout_s: float = 300.0,
    on_run: Callable[[ValidationRun], None] | None = None,
    run: Callable[..., Any] | None = None,
    run_options: dict[str, Any] | None = None,
    calibrate_platform: bool = True,
    optimizations: frozenset[str] = frozenset(),
) -> Validation:
    """Plan, simulate and run ``workflow`` ``runs`` times; see the module docstring.

    ``run`` replaces :func:`runtime.client.run_workflow` (same keyword arguments, returns an object with
    ``records``): tests use it to stand in for the runtime; ``launcher``, ``redis_url`` and ``timeout_s``
    go to it, with ``run_options`` (e.g. ``max_workers``, to match the platform's ``max_containers``).
    """
    from sim.engine.platform import load_platform
    from sim.engine.whatif import what_if
    from sim.models.performance import PerformanceModels

    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if isinstance(workflow, str):
        from sim.workflow.library import load_workflow

        wf = load_workflow(workflow)
    else:
        wf = workflow
    if isinstance(models, str):
        models = PerformanceModels.load(models)
    if run is None:
        from runtime.client import run_workflow as run
    out = Validation(
        wf.name,
        planner,
        edges=list(wf.graph.edges),
        calibrated=calibrate,
        optimizations=tuple(sorted(optimizations)),
    )
    # With calibration, the platform's store round trip and invocation latency are fitted too (on top of
    # ``platform``), unless ``calibrate_platform`` is False.
    base_platform = plat = load_platform(platform)
    history: list[Record] = []
    current = models
    tag = uuid.uuid4().hex[:6]
    for i in range(1, runs + 1):
        rid = f"v{tag}-{i}"
        pid = f"{rid}-plan"
        w = what_if(wf, planner, memory_sizes, sla, plat, current, optimizations=frozenset(optimizations))
        planned = w.result.records(pid)
        real: list[Record] = []
        error = None
        try:
            rep = run(
                wf,
                planner=planner,
                plan=w.plan,
                launcher=launcher,
                redis_url=redis_url,
                timeout_s=timeout_s,
                run_id=rid,
                **(run_options or {}),
            )
            real = list(rep.records)
        except Exception as exc:  # noqa: BLE001 - a failed run is a result: a plan without a run
            error = f"{type(exc).__name__}: {exc}"
        for rec in real:
            if isinstance(rec, RunRecord):
                rec.extra["plan_run"] = pid
        cmp = compare_runs(planned, real, edges=out.edges)
        if error:
            cmp.problems.insert(0, f"the real run failed: {error}")
        vr = ValidationRun(
            i,
            pid,
            rid,
            cmp,
            planned,
            real,
            error,
            sum(1 for r in history if getattr(r, "kind", "") == "task"),
        )
        out.runs.append(vr)
        if on_run:
            on_run(vr)
        if calibrate and real:
            history += real
            from calibration.fit import fit_models
            from calibration.platform_fit import fit_platform

            current, _ = fit_models(history)
            out.models = current
            if calibrate_platform:
                plat, _ = fit_platform(history, base_platform)
                out.platform = plat
    return out
