"""Plotly figures shared by the dashboard pages: the DAG (one configuration everywhere: layered layout,
nodes coloured by worker or by state, planned and real critical paths drawn edge by edge) and Gantt charts
of runs or simulated plans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from sim.compare.plan_vs_real import RunData
from sim.compare.report import layered_layout
from sim.engine.gantt import worker_colour


def dag_figure(
    edges: Sequence[tuple[str, str]],
    nodes: dict[str, dict[str, Any]],
    planned_cp: Sequence[str] = (),
    real_cp: Sequence[str] = (),
    title: str = "",
) -> go.Figure:
    """``nodes``: task id -> {"colour": css colour, "hover": text, "label": short text (optional)}.
    Each node carries its task id as customdata, so a click (selection) names the task."""
    ids = sorted(set(nodes) | {u for u, _ in edges} | {v for _, v in edges})
    pos = layered_layout(ids, list(edges))
    fig = go.Figure()
    ex, ey = [], []
    for u, v in edges:
        if u in pos and v in pos:
            ex += [pos[u][0], pos[v][0], None]
            ey += [pos[u][1], pos[v][1], None]
    fig.add_trace(
        go.Scatter(
            x=ex,
            y=ey,
            mode="lines",
            line={"color": "#bbbbbb", "width": 1},
            hoverinfo="skip",
            name="edges",
            showlegend=False,
        )
    )
    for path, colour, width, name in (
        (planned_cp, "#e6b800", 7, "planned critical path"),
        (real_cp, "#d62728", 3, "real critical path"),
    ):
        px, py = [], []
        for u, v in zip(path, path[1:], strict=False):
            if u in pos and v in pos:
                px += [pos[u][0], pos[v][0], None]
                py += [pos[u][1], pos[v][1], None]
        if px:
            fig.add_trace(
                go.Scatter(
                    x=px,
                    y=py,
                    mode="lines",
                    line={"color": colour, "width": width},
                    name=name,
                    hoverinfo="skip",
                )
            )
    show_labels = len(ids) <= 40
    fig.add_trace(
        go.Scatter(
            x=[pos[n][0] for n in ids],
            y=[pos[n][1] for n in ids],
            mode="markers+text" if show_labels else "markers",
            text=[nodes.get(n, {}).get("label", n) for n in ids] if show_labels else None,
            textposition="top center",
            textfont={"size": 9},
            marker={
                "size": 16 if len(ids) < 80 else 9,
                "color": [nodes.get(n, {}).get("colour", "#ffffff") for n in ids],
                "line": {"color": "black", "width": 1},
            },
            customdata=ids,
            hovertext=[nodes.get(n, {}).get("hover", n) for n in ids],
            hoverinfo="text",
            name="tasks",
            showlegend=False,
        )
    )
    fig.update_layout(
        title=title,
        height=max(320, min(900, 40 * _width(pos) + 160)),
        clickmode="event+select",
        xaxis={"visible": False},
        yaxis={"visible": False},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h"},
    )
    return fig


def _width(pos: dict[str, tuple[float, float]]) -> int:
    levels: dict[float, int] = {}
    for x, _ in pos.values():
        levels[x] = levels.get(x, 0) + 1
    return max(levels.values(), default=1)


def gantt_rows_from_run(run: RunData) -> list[dict[str, Any]]:
    """A run's tasks; each worker's first task carries the worker's recorded start-up."""
    first: dict[str, str] = {}
    for t in sorted(run.tasks.values(), key=lambda t: (t.start_ms, t.task_id)):
        first.setdefault(t.worker_id, t.task_id)
    return [
        {
            "startup": run.workers[t.worker_id].startup_ms
            if first[t.worker_id] == t.task_id and t.worker_id in run.workers
            else 0.0,
            "task": t.task_id,
            "function": t.function,
            "worker": t.worker_id,
            "start": t.start_ms,
            "end": t.end_ms,
            "download": run.download_ms(t),
            "exec": t.exec_ms,
            "upload": t.upload.ms if t.upload else 0.0,
            "memory": t.memory_mb,
        }
        for t in run.tasks.values()
    ]


def gantt_rows_from_plan(tasks: dict[str, Any]) -> list[dict[str, Any]]:
    """From a PlanOutput's PlanningTaskInfo dict; a task that starts its worker carries the start-up."""
    return [
        {
            "startup": i.worker_startup_ms if i.worker_startup_state in ("cold", "warm") else 0.0,
            "task": i.task_id,
            "function": i.function,
            "worker": i.worker_id,
            "start": i.earliest_start_ms,
            "end": i.completion_ms,
            "download": i.download_ms,
            "exec": i.exec_ms,
            "upload": i.upload_ms,
            "memory": i.memory_mb,
        }
        for i in tasks.values()
    ]


def gantt_figure(
    rows: list[dict[str, Any]],
    title: str = "",
    xmax: float | None = None,
    order: Sequence[str] = (),
    colour_of: dict[str, str] | None = None,
) -> go.Figure:
    """One row per worker, top to bottom in ``order`` (a name without tasks: an empty row, as beside a
    planned worker no real one pairs with), then the others by first task; each worker's bars in the
    colour of ``colour_of``'s name for it, else its own (a real run beside its plan: the planned
    counterpart's, sim.compare.report.paired_rows)."""
    rows = sorted(rows, key=lambda r: (r["start"], r["task"]))
    own = list(dict.fromkeys(r["worker"] for r in rows))
    workers = list(dict.fromkeys([*order, *own]))
    colour_of = colour_of or {}
    fig = go.Figure()
    ups = [r for r in rows if r.get("startup", 0.0) > 0]
    if ups:  # dotted grey before the task that waits for it: the blank from the submission on
        fig.add_trace(
            go.Bar(
                y=[r["worker"] for r in ups],
                x=[r["startup"] for r in ups],
                base=[r["start"] - r["startup"] for r in ups],
                orientation="h",
                width=0.4,
                marker={"color": "#dddddd", "pattern": {"shape": "."}},
                name="start-up",
                hovertemplate="start-up %{x:.1f} ms<extra>%{y}</extra>",
            )
        )
    for w in workers:
        mine = [r for r in rows if r["worker"] == w]
        if not mine:  # an empty row: a bar of no length puts its category on the axis
            fig.add_trace(go.Bar(y=[w], x=[0.0], orientation="h", name=w, hoverinfo="skip"))
            continue
        fig.add_trace(
            go.Bar(
                y=[w] * len(mine),
                x=[max(r["end"] - r["start"], 1e-3) for r in mine],
                base=[r["start"] for r in mine],
                orientation="h",
                marker_color=worker_colour(colour_of.get(w, w)),
                name=w,
                customdata=[
                    [r["task"], r["function"], r["download"], r["exec"], r["upload"], r["memory"]]
                    for r in mine
                ],
                hovertemplate=(
                    "%{customdata[0]} (%{customdata[1]})<br>start %{base:.1f} ms<br>download %{customdata[2]:.1f}"
                    " ms<br>exec %{customdata[3]:.1f} ms<br>upload %{customdata[4]:.1f} ms<br>%{customdata[5]} MB"
                    "<extra>%{y}</extra>"
                ),
            )
        )
    fig.update_layout(
        title=title,
        barmode="overlay",
        showlegend=False,
        xaxis_title="ms since submission",
        yaxis={"autorange": "reversed", "categoryorder": "array", "categoryarray": workers},
        height=max(260, 22 * len(workers) + 120),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    if xmax:
        fig.update_xaxes(range=[0, xmax * 1.02])
    return fig


def planner_bars(
    planners: Sequence[str], makespans_ms: Sequence[float], costs_gb_s: Sequence[float]
) -> go.Figure:
    """Each planner's makespan (left axis) and cost (right axis) as two bars side by side. Bars on two
    axes need an offset group each: plotly groups bars by axis, so with barmode="group" alone the cost
    bar was drawn over the makespan bar and hid it wherever it was the taller of the two."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(x=list(planners), y=list(makespans_ms), name="makespan (ms)", yaxis="y", offsetgroup="m")
    )
    fig.add_trace(
        go.Bar(x=list(planners), y=list(costs_gb_s), name="cost (GB-s)", yaxis="y2", offsetgroup="c")
    )
    fig.update_layout(
        barmode="group",
        height=320,
        yaxis={"title": "makespan (ms)"},
        yaxis2={"title": "cost (GB-s)", "overlaying": "y", "side": "right"},
        bargap=0.3,
        # above the plot: at the right (the default) it covered the cost axis' tick labels
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


def observed_vs_predicted(row: Any) -> go.Figure:
    """A fitted model's predictions against the observed values (a fit report's row), log-log on one
    range for both axes so the identity line is the diagonal, axes in the model's unit (ms or bytes):
    the fit report's plot (calibration.report) in Plotly. Unlabelled units and autoscaled log axes made
    a fit predicting one constant read as a cloud on a garbled frame."""
    import math

    import numpy as np

    from calibration.report import log_range, unit_of

    obs, pred = np.asarray(row.observed, float), np.asarray(row.predicted, float)
    lo, hi = log_range(np.concatenate([obs, pred]))
    unit = unit_of(row.model)
    fig = go.Figure(go.Scatter(x=obs.tolist(), y=pred.tolist(), mode="markers", name=row.model))
    fig.add_trace(
        go.Scatter(
            x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dash", "color": "grey"}, name="perfect"
        )
    )
    log = [math.log10(lo), math.log10(hi)]
    r2 = f"{row.fit.r2:.3f}" if row.fit.r2 is not None else "-"
    fig.update_layout(
        xaxis={"title": f"observed ({unit})", "type": "log", "range": log},
        yaxis={"title": f"predicted, median ({unit})", "type": "log", "range": log},
        height=380,
        title=f"{row.model}: R² {r2}, {obs.size} samples",
    )
    return fig
