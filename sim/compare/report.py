"""A self-contained HTML report of plan versus real (matplotlib PNGs embedded as base64).

Sections: what is missing (problems first, never hidden), overall numbers with errors, the general
percentage offset of each per-task prediction, side-by-side Gantt charts (planned | real), the DAG coloured
by worker with the planned and the real critical path drawn edge by edge, error plots, the per-task table
(errors above 70 % in red) and, for several runs (``plansim validate --runs N``), the error run by run.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.compare.plan_vs_real import (
    FLAG_PCT,
    RUN_METRICS,
    TASK_METRICS,
    Comparison,
    RunData,
    error_progression,
)
from sim.engine.gantt import worker_colour

# Every report embeds matplotlib charts (`validate --report` checks it when the command line is parsed).
NEEDS = {"": ("matplotlib",)}

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:12px}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f0f0f0} td.l,th.l{text-align:left}
.bad{color:#b00;font-weight:bold} .warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em}
.ok{background:#e8f5e9;border:1px solid #8bc34a;padding:.5em}
.row{display:flex;flex-wrap:wrap;gap:1em} img{max-width:100%}
"""


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _img(fig: Any) -> str:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1e6:
            return f"{v:.3e}"
        if v and abs(v) < 0.5 * 10**-digits:  # 0.005 ms read '0.0' beside its +381.6 % error
            return f"{v:.2g}"
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _err(v: float | None, signed: bool = True) -> str:
    """A percentage error, red beyond FLAG_PCT; a size of errors (median |error|) without a sign."""
    if v is None:
        return "-"
    cls = ' class="bad"' if abs(v) > FLAG_PCT else ""
    return f"<span{cls}>{v:+.1f}%</span>" if signed else f"<span{cls}>{v:.1f}%</span>"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    h = "".join(
        f'<th class="l">{html.escape(c)}</th>' if i < left else f"<th>{html.escape(c)}</th>"
        for i, c in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{h}</tr>{body}</table>"


# -- charts ---------------------------------------------------------------------------------------------
def _workers_by_first_task(run: RunData) -> list[str]:
    tasks = sorted(run.tasks.values(), key=lambda t: (t.start_ms, t.task_id))
    return list(dict.fromkeys(t.worker_id for t in tasks))


def draw_gantt(
    ax: Any,
    run: RunData,
    title: str,
    xmax: float | None = None,
    order: Sequence[str] = (),
    colour_of: Mapping[str, str] | None = None,
) -> None:
    """One row per worker, one bar per task coloured by worker; hatched part: downloading inputs; dotted
    grey: the worker's start-up (cold or warm) before its first task. Rows follow ``order`` (the run's
    workers it names; a name it lacks is an empty row, :func:`no_counterpart`), then the run's other
    workers by their first task. ``colour_of`` maps a worker to the name its colour is drawn for (a real
    worker: its planned counterpart's), else its own name."""
    colour_of = colour_of or {}
    tasks = sorted(run.tasks.values(), key=lambda t: (t.start_ms, t.task_id))
    own = _workers_by_first_task(run)
    workers = list(dict.fromkeys([*order, *own]))
    row = {w: i for i, w in enumerate(workers)}
    first: dict[str, float] = {}
    for t in tasks:
        first.setdefault(t.worker_id, t.start_ms)
    for w, start in first.items():  # the worker's start-up, just before its first task (dotted grey)
        rec = run.workers.get(w)
        if rec is not None and rec.startup_ms > 0:
            ax.barh(
                row[w],
                rec.startup_ms,
                left=max(0.0, start - rec.startup_ms),
                height=0.4,
                color="#dddddd",
                hatch="...",
                edgecolor="#999999",
                linewidth=0.3,
            )
    for t in tasks:
        y = row[t.worker_id]
        ax.barh(
            y,
            max(t.end_ms - t.start_ms, 0.0),
            left=t.start_ms,
            height=0.7,
            color=worker_colour(colour_of.get(t.worker_id, t.worker_id)),
            edgecolor="black",
            linewidth=0.3,
        )
        dl = run.download_ms(t)
        if dl > 0:
            ax.barh(
                y, dl, left=t.start_ms, height=0.7, color="none", hatch="///", edgecolor="grey", linewidth=0
            )
    ax.set_yticks(range(len(workers)))
    ax.set_yticklabels(workers, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("ms since submission")
    ax.set_title(title, fontsize=10)
    if xmax:
        ax.set_xlim(0, xmax * 1.02)
    ax.grid(axis="x", alpha=0.3)


def gantt_pair(cmp: Comparison) -> str:
    fig = gantt_pair_figure(cmp)
    if fig is None:
        return "<p>No task records on either side: no Gantt chart.</p>"
    return _img(fig)


def no_counterpart(planned: str) -> str:
    """The label of the empty real row beside a planned worker that no real worker pairs with: a Gantt
    chart keeps an ``order`` name its run lacks as an empty row, so the pairs below stay level."""
    return f"(none for {planned})"


def paired_rows(cmp: Comparison) -> tuple[list[str], list[str], dict[str, str]]:
    """The rows of a planned and a real Gantt chart drawn side by side, and the real side's colours: the
    planned workers by their first task, the real worker paired with each by the tasks they ran
    (:meth:`Comparison.worker_pairs`) in the same row (a planned worker without one: the next unpaired
    real worker, else an empty row), and each real worker coloured for its planned counterpart's name (an unpaired one for
    a name of its own). Names do not pair workers: wukong's flex-N is a counter of each run."""
    p, r = cmp.planned_data, cmp.real_data
    pairs = cmp.worker_pairs()  # real worker -> planned worker
    order = _workers_by_first_task(p) if p is not None else []
    counterpart = {planned: real for real, planned in pairs.items()}
    # An unpaired real worker fills an unpaired planned worker's row (in its own colour): listing only
    # the pairs moved every later pair a row up from its counterpart.
    # Without a spare one the row stays empty (:func:`no_counterpart`): skipped, it moved the pairs up too.
    spare = [w for w in (_workers_by_first_task(r) if r is not None else []) if w not in pairs]
    real_order = []
    for w in order:
        if w in counterpart:
            real_order.append(counterpart[w])
        else:
            real_order.append(spare.pop(0) if spare else no_counterpart(w))
    real_colours = {
        t.worker_id: pairs.get(t.worker_id, f"real {t.worker_id}") for t in (r.tasks.values() if r else ())
    }
    return order, real_order, real_colours


def dag_colours(cmp: Comparison) -> dict[str, str]:
    """Each task's worker name to colour the DAG for: the real worker's, as the real Gantt chart colours
    it (its planned counterpart's name, :func:`paired_rows`), else the planned worker's."""
    _, _, real_colours = paired_rows(cmp)
    out: dict[str, str] = {}
    if cmp.planned_data is not None:
        out.update({t: x.worker_id for t, x in cmp.planned_data.tasks.items()})
    if cmp.real_data is not None:  # real workers win where both exist
        out.update({t: real_colours.get(x.worker_id, x.worker_id) for t, x in cmp.real_data.tasks.items()})
    return out


def gantt_pair_figure(cmp: Comparison) -> Any:
    """Planned and real side by side on one time axis, a worker in the same row and colour on both
    sides (the planned order): each side ordered by its own first tasks put a plan's w1 beside the real
    w2. Real workers are paired with planned ones by the tasks they ran (:meth:`Comparison.worker_pairs`),
    not by name: wukong's flex-N is a counter of each run, so a real flex-4 is not the planned flex-4.
    A real worker without a counterpart comes below, in a colour of its own."""
    p, r = cmp.planned_data, cmp.real_data
    order, real_order, real_colours = paired_rows(cmp)
    sides = [
        (d, f"{label}: {d.run_id}", rows, colours)
        for d, label, rows, colours in ((p, "planned", order, None), (r, "real", real_order, real_colours))
        if d is not None and d.tasks
    ]
    if not sides:
        return None
    plt = _plt()
    nrows = max(len({t.worker_id for t in d.tasks.values()}) for d, *_ in sides)
    fig, axes = plt.subplots(
        1, len(sides), figsize=(7 * len(sides), max(2.5, 0.25 * nrows + 1.5)), squeeze=False
    )
    xmax = max(max(t.end_ms for t in d.tasks.values()) for d, *_ in sides)
    for ax, (d, title, rows, colours) in zip(axes[0], sides, strict=True):
        draw_gantt(ax, d, title, xmax, rows, colours)
    fig.tight_layout()
    return fig


def layered_layout(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Layered layout: x is the task's level (longest path from a root), y its rank in the level."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v in edges:
        if u in parents and v in parents:
            parents[v].append(u)
            children[u].append(v)
    level: dict[str, int] = {}
    indeg = {n: len(parents[n]) for n in nodes}
    queue = sorted(n for n in nodes if indeg[n] == 0)
    while queue:
        n = queue.pop(0)
        level[n] = 1 + max((level[p] for p in parents[n]), default=-1)
        for c in children[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                queue.append(c)
    for n in nodes:  # a cycle (should not happen): park the rest at level 0
        level.setdefault(n, 0)
    by_level: dict[int, list[str]] = {}
    for n in sorted(nodes):
        by_level.setdefault(level[n], []).append(n)
    pos = {}
    for lv, ns in by_level.items():
        for i, n in enumerate(ns):
            pos[n] = (float(lv), i - (len(ns) - 1) / 2)
    return pos


def dag_figure(
    edges: Sequence[tuple[str, str]],
    worker_of: dict[str, str],
    planned_cp: Sequence[str],
    real_cp: Sequence[str],
    title: str = "",
) -> str:
    """The DAG coloured by worker, with both critical paths drawn as consecutive edges of each path."""
    plt = _plt()
    nodes = sorted(set(worker_of) | {u for u, _ in edges} | {v for _, v in edges})
    pos = layered_layout(nodes, list(edges))
    width = max(p[0] for p in pos.values()) + 1 if pos else 1
    height = max((abs(p[1]) for p in pos.values()), default=1) * 2 + 1
    fig, ax = plt.subplots(figsize=(min(16, 2 + 1.4 * width), min(12, 1.5 + 0.35 * height)))
    for u, v in edges:
        if u in pos and v in pos:
            ax.plot([pos[u][0], pos[v][0]], [pos[u][1], pos[v][1]], color="#bbb", lw=0.6, zorder=1)
    for path, colour, lw, label in (
        (planned_cp, "#e6b800", 5.0, "planned critical path"),
        (real_cp, "#d62728", 2.0, "real critical path"),
    ):
        first = True
        for u, v in zip(path, path[1:], strict=False):
            if u in pos and v in pos:
                ax.plot(
                    [pos[u][0], pos[v][0]],
                    [pos[u][1], pos[v][1]],
                    color=colour,
                    lw=lw,
                    zorder=2,
                    label=label if first else None,
                )
                first = False
    xs = [pos[n][0] for n in nodes]
    ys = [pos[n][1] for n in nodes]
    colours = [worker_colour(worker_of[n]) if n in worker_of else "#ffffff" for n in nodes]
    ax.scatter(
        xs, ys, c=colours, s=90 if len(nodes) < 80 else 30, edgecolors="black", linewidths=0.5, zorder=3
    )
    if len(nodes) <= 40:
        for n in nodes:
            ax.annotate(
                n, pos[n], fontsize=6, ha="center", va="bottom", xytext=(0, 5), textcoords="offset points"
            )
    ax.set_axis_off()
    if planned_cp or real_cp:
        ax.legend(loc="lower right", fontsize=7)
    ax.set_title(title or "DAG coloured by worker", fontsize=10)
    fig.tight_layout()
    return _img(fig)


def error_plots(cmp: Comparison) -> str:
    rows = cmp.joined()
    if not rows:
        return "<p>No task on both sides: no error plots.</p>"
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    off = cmp.offsets()
    names = [m for m in TASK_METRICS if off[m]["median_abs_pct"] is not None]
    axes[0].bar(names, [off[m]["median_abs_pct"] for m in names], color="#4c72b0", label="median |error|")
    axes[0].plot(names, [off[m]["mean_pct"] for m in names], "o", color="#c44e52", label="mean signed error")
    axes[0].axhline(0, color="black", lw=0.5)
    axes[0].set_ylabel("% of real")
    axes[0].set_title("general percentage offset per prediction", fontsize=10)
    axes[0].tick_params(axis="x", rotation=35, labelsize=7)
    axes[0].legend(fontsize=7)
    colour_of = paired_rows(cmp)[2]  # the real Gantt chart's colours
    for ax, m in ((axes[1], "exec_ms"), (axes[2], "end_ms")):
        pv = [r.planned[m] for r in rows]
        rv = [r.real[m] for r in rows]
        ax.scatter(
            rv,
            pv,
            s=12,
            c=[worker_colour(colour_of.get(r.real_worker or "", r.real_worker or "")) for r in rows],
            edgecolors="black",
            linewidths=0.3,
        )
        hi = max(pv + rv + [1.0])
        ax.plot([0, hi], [0, hi], "--", color="grey", lw=0.8)
        ax.set_xlabel(f"real {m}")
        ax.set_ylabel(f"planned {m}")
        ax.set_title(f"{m}: planned vs real per task", fontsize=10)
    fig.tight_layout()
    return _img(fig)


def progression_plot(comparisons: Sequence[Comparison]) -> str:
    rows = error_progression(comparisons)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    xs = [r["run"] for r in rows]
    for key, label in (
        ("makespan_err_pct", "makespan |error|"),
        ("exec_ms_offset_pct", "exec offset"),
        ("download_ms_offset_pct", "download offset"),
        ("end_ms_offset_pct", "end-time offset"),
    ):
        ys = [abs(r[key]) if r.get(key) is not None else float("nan") for r in rows]
        ax.plot(xs, ys, "o-", label=label)
    ax.set_xlabel("run")
    ax.set_ylabel("% of real")
    ax.set_xticks(xs)
    ax.set_title("prediction error run by run", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _img(fig)


# -- sections -------------------------------------------------------------------------------------------
def _problems(cmp: Comparison) -> str:
    out = []
    if cmp.problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in cmp.problems)
        out.append(f'<div class="warn"><b>Missing or mismatched:</b><ul>{items}</ul></div>')
    elif cmp.comparable:
        out.append(f'<div class="ok">All {len(cmp.joined())} tasks joined on both sides.</div>')
    if cmp.missing_in_real:
        out.append(
            f"<p>Planned tasks without a real record ({len(cmp.missing_in_real)}): "
            f"{html.escape(', '.join(cmp.missing_in_real[:30]))}{' ...' if len(cmp.missing_in_real) > 30 else ''}</p>"
        )
    if cmp.missing_in_plan:
        out.append(
            f"<p>Real tasks not in the plan ({len(cmp.missing_in_plan)}): "
            f"{html.escape(', '.join(cmp.missing_in_plan[:30]))}{' ...' if len(cmp.missing_in_plan) > 30 else ''}</p>"
        )
    if cmp.notes:
        out.append(
            "<details><summary>notes</summary><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in cmp.notes)
            + "</ul></details>"
        )
    return "".join(out)


def overall_table(cmp: Comparison) -> str:
    rows = [
        [
            m,
            _fmt(cmp.overall[m]["planned"], 3),
            _fmt(cmp.overall[m]["real"], 3),
            _err(cmp.overall[m]["error_pct"]),
        ]
        for m in RUN_METRICS
        if m in cmp.overall
    ]
    return _table(["metric", "planned", "real", "error"], rows)


def offsets_table(cmp: Comparison) -> str:
    off = cmp.offsets()
    rows = [
        [
            m,
            _err(o["median_abs_pct"], signed=False),
            _err(o["mean_pct"]),
            str(int(o["n"] or 0)),
        ]
        for m, o in off.items()
    ]
    st, wk = cmp.startup_agreement(), cmp.worker_agreement()
    rows.append(
        ["start-up state (cold/warm/running) agrees", f"{int(st['same'])}/{int(st['total'])}", "", ""]
    )
    rows.append(["worker agrees (the same tasks together)", f"{int(wk['same'])}/{int(wk['total'])}", "", ""])
    return _table(
        ["prediction", "general offset (median |error|)", "bias (mean signed error)", "tasks"], rows
    )


def task_table(cmp: Comparison, limit: int = 500) -> str:
    header = ["task", "function", "worker plan / real", "start-up plan / real"]
    for m in TASK_METRICS:
        header += [f"{m} plan", f"{m} real", "err"]
    rows = []
    for r in cmp.tasks[:limit]:
        row = [
            html.escape(r.task_id),
            html.escape(r.function),
            f"{html.escape(str(r.planned_worker))} / {html.escape(str(r.real_worker))}",
            f"{r.planned_startup or '-'} / {r.real_startup or '-'}",
        ]
        for m in TASK_METRICS:
            row += [
                _fmt(None if r.planned is None else r.planned[m]),
                _fmt(None if r.real is None else r.real[m]),
                _err(r.error(m)),
            ]
        rows.append(row)
    more = f"<p>... {len(cmp.tasks) - limit} more tasks</p>" if len(cmp.tasks) > limit else ""
    return _table(header, rows, left=4) + more


def comparison_section(cmp: Comparison, edges: Sequence[tuple[str, str]] | None, heading: str) -> str:
    parts = [
        f"<h2>{html.escape(heading)}</h2>",
        f"<p>planned run <b>{html.escape(str(cmp.planned_run))}</b>, real run <b>{html.escape(str(cmp.real_run))}</b>, "
        f"workflow type {html.escape(str(cmp.workflow_type))}, planner {html.escape(str(cmp.planner))}</p>",
        _problems(cmp),
    ]
    if cmp.overall:
        parts += ["<h3>Overall</h3>", overall_table(cmp)]
    if cmp.comparable:
        parts += ["<h3>General percentage offset of each prediction</h3>", offsets_table(cmp)]
    parts += ["<h3>Gantt charts: planned | real</h3>", gantt_pair(cmp)]
    if edges is not None:
        worker_of = dag_colours(cmp)
        parts += [
            "<h3>DAG coloured by (real) worker, with critical paths</h3>",
            f"<p>planned critical path: {html.escape(' → '.join(cmp.planned_critical_path)) or '-'}<br>"
            f"real critical path: {html.escape(' → '.join(cmp.real_critical_path)) or '-'}</p>",
            dag_figure(edges, worker_of, cmp.planned_critical_path, cmp.real_critical_path),
        ]
    else:
        parts.append("<p>No workflow given: the DAG and critical paths are not drawn.</p>")
    if cmp.comparable:
        parts += ["<h3>Error plots</h3>", error_plots(cmp)]
    if cmp.tasks:
        parts += ["<h3>Per task (errors above 70 % in red)</h3>", task_table(cmp)]
    return "".join(parts)


def build_report(
    comparisons: Sequence[Comparison],
    edges: Sequence[tuple[str, str]] | None = None,
    title: str = "plan vs real",
    intro: str = "",
) -> str:
    """The HTML text of a report over one or more comparisons (several: run by run)."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
    ]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    if not comparisons:
        parts.append('<div class="warn">Nothing to compare: no runs were given.</div>')
    if len(comparisons) > 1:
        rows = error_progression(comparisons)
        offsets = [f"{m}_offset_pct" for m in TASK_METRICS]
        cols = ["run", "real_run", "makespan_err_pct", *offsets, "why"]
        header = ["run", "real run", "makespan error (signed)"]
        header += [f"{m} offset (median |error|)" for m in TASK_METRICS] + ["why"]

        def cell(r: dict[str, Any], c: str) -> str:
            if c == "makespan_err_pct":
                return _err(r.get(c))
            return _err(r.get(c), signed=False) if c in offsets else _fmt(r.get(c))

        parts += [
            "<h2>Run by run</h2>",
            progression_plot(comparisons),
            _table(header, [[cell(r, c) for c in cols] for r in rows], left=2),
        ]
    for i, cmp in enumerate(comparisons, 1):
        heading = f"Run {i}" if len(comparisons) > 1 else "Plan vs real"
        parts.append(comparison_section(cmp, edges, heading))
    parts.append("</body></html>")
    return "".join(parts)


def write_report(
    path: str | Path,
    comparisons: Sequence[Comparison],
    edges: Sequence[tuple[str, str]] | None = None,
    title: str = "plan vs real",
    intro: str = "",
) -> Path:
    path = Path(path)
    path.write_text(build_report(comparisons, edges, title, intro), encoding="utf-8")
    return path
