"""Gantt charts of a simulated (or real) run: one row per worker, one bar per task, coloured by worker.

``.png`` is drawn with matplotlib; ``.html`` is an interactive, self-contained plotly page (hover a bar
for the task, its timings and sizes).
"""

from __future__ import annotations

import colorsys
import hashlib
from pathlib import Path

from sim.extras import missing_message
from sim.models.plan import PlanningTaskInfo


def worker_colour(worker: str) -> str:
    """A stable colour per worker id (same worker, same colour, in every chart)."""
    h = int(hashlib.md5(worker.encode()).hexdigest()[:6], 16) / 0xFFFFFF
    r, g, b = colorsys.hls_to_rgb(h, 0.55, 0.6)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _start_ups(infos: list[PlanningTaskInfo]) -> list[PlanningTaskInfo]:
    """The tasks that start their worker (cold or warm): each worker's start-up ends as one begins."""
    return [i for i in infos if i.worker_startup_state in ("cold", "warm") and i.worker_startup_ms > 0]


def _rows(tasks: dict[str, PlanningTaskInfo]) -> tuple[list[str], list[PlanningTaskInfo]]:
    infos = sorted(tasks.values(), key=lambda i: (i.earliest_start_ms, i.task_id))
    workers = list(dict.fromkeys(i.worker_id for i in infos))
    return workers, infos


# The kinds of chart write_gantt writes (any case); `simulate --gantt` checks its argument against
# the same list when the command line is parsed.
SUFFIXES = (".png", ".html", ".htm")
# The optional packages each kind needs (`--gantt` checks them when the command line is parsed).
NEEDS = {".png": ("matplotlib",), ".html": ("plotly",), ".htm": ("plotly",)}


def write_gantt(tasks: dict[str, PlanningTaskInfo], path: str | Path, title: str = "") -> Path:
    """Write a Gantt chart to ``path`` (.png, or .html / .htm)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"Gantt chart must be a .png or .html file, got {path.name!r}")
    if suffix == ".png":
        _png(tasks, path, title)
    else:
        _html(tasks, path, title)
    return path


# Beyond this many workers a PNG gets no row label per worker: its rows shrink so the whole chart stays
# one screenful (about 2,400 px high), with the workers numbered along the axis. A 35 px row each made
# montage:tasks=1000 under wukong (864 workers) 30,544 px high, its time axis 30,000 px below the first
# bars; 3,000 tasks made 96,896 px, beyond what many viewers open.
MAX_LABELLED_ROWS = 60
_ROW_INCHES = 0.32


def _png(tasks: dict[str, PlanningTaskInfo], path: Path, title: str) -> None:
    import matplotlib.pyplot as plt

    fig = _png_figure(tasks, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _png_figure(tasks: dict[str, PlanningTaskInfo], title: str):  # noqa: ANN202 - a matplotlib Figure
    """The PNG's figure: one row per worker (first to start at the top), one bar per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers, infos = _rows(tasks)
    row = {w: i for i, w in enumerate(workers)}
    labelled = len(workers) <= MAX_LABELLED_ROWS
    rows_tall = min(len(workers), MAX_LABELLED_ROWS)
    fig, ax = plt.subplots(figsize=(12, max(2.5, _ROW_INCHES * rows_tall + 1.2)))
    y = [row[i.worker_id] for i in infos]
    starts = [i.earliest_start_ms for i in infos]
    # One call for all bars: a bar container per task took most of the ~40 s of a 3,000-task chart.
    ax.barh(
        y,
        [max(i.completion_ms, i.earliest_start_ms) - i.earliest_start_ms for i in infos],
        left=starts,
        height=0.7,
        color=[worker_colour(i.worker_id) for i in infos],
        edgecolor="black",
        linewidth=0.3 if labelled else 0,  # edges of rows a pixel high would hide their colour
    )
    # The start-ups (dotted grey), before the tasks that wait for them: the time from the submission to
    # the first task is mostly a cold start, and an empty band there read as nothing happening.
    ups = _start_ups(infos)
    if ups:
        ax.barh(
            [row[i.worker_id] for i in ups],
            [i.worker_startup_ms for i in ups],
            left=[i.earliest_start_ms - i.worker_startup_ms for i in ups],
            height=0.4,
            color="#dddddd",
            hatch="...",
            edgecolor="#999999",
            linewidth=0.3 if labelled else 0,
        )
    loading = [k for k, i in enumerate(infos) if i.download_ms > 0]
    if loading:  # hatched: waiting for inputs
        ax.barh(
            [y[k] for k in loading],
            [infos[k].download_ms for k in loading],
            left=[starts[k] for k in loading],
            height=0.7,
            color="none",
            hatch="///",
            edgecolor="grey",
            linewidth=0,
        )
    ax.set_ylim(len(workers) - 0.5, -0.5)  # first worker on top, no empty band above or below
    if labelled:
        ax.set_yticks(range(len(workers)))
        ax.set_yticklabels(workers, fontsize=7)
    else:
        from matplotlib.ticker import MaxNLocator

        numbers = [int(n) for n in MaxNLocator(nbins=12, integer=True).tick_values(1, len(workers))]
        numbers = [n for n in numbers if 1 <= n <= len(workers)]
        ax.set_yticks([n - 1 for n in numbers])  # row k holds worker number k + 1
        ax.set_yticklabels([str(n) for n in numbers], fontsize=7)
        ax.set_ylabel(f"worker (1-{len(workers)}, in order of their first task)")
    # From the submission: autoscaled, the axis began at the first task (~550 ms later on the default
    # platform), hiding the invocation and start-up before it.
    ax.set_xlim(left=0)
    ax.set_xlabel("time since submission (ms)")
    note = "hatched: downloading inputs; dotted grey: a worker's start-up"
    ax.set_title(f"{title} ({note})" if title else f"Gantt chart ({note})")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _html(tasks: dict[str, PlanningTaskInfo], path: Path, title: str) -> None:
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover - plotly is an optional extra
        raise ValueError(missing_message("plotly", "an .html Gantt chart")) from None
    workers, infos = _rows(tasks)
    fig = go.Figure()
    ups = _start_ups(infos)
    if ups:  # first, so the categories keep the workers' order
        fig.add_trace(
            go.Bar(
                y=[i.worker_id for i in ups],
                x=[i.worker_startup_ms for i in ups],
                base=[i.earliest_start_ms - i.worker_startup_ms for i in ups],
                orientation="h",
                width=0.4,
                marker={"color": "#dddddd", "pattern": {"shape": "."}},
                name="start-up",
                customdata=[[i.worker_startup_state] for i in ups],
                hovertemplate="%{customdata[0]} start %{x:.1f} ms<extra>%{y}</extra>",
            )
        )
    for w in workers:
        mine = [i for i in infos if i.worker_id == w]
        fig.add_trace(
            go.Bar(
                y=[w] * len(mine),
                x=[max(i.completion_ms - i.earliest_start_ms, 1e-3) for i in mine],
                base=[i.earliest_start_ms for i in mine],
                orientation="h",
                marker_color=worker_colour(w),
                name=w,
                customdata=[
                    [
                        i.task_id,
                        i.function,
                        i.download_ms,
                        i.exec_ms,
                        i.upload_ms,
                        i.input_bytes,
                        i.output_bytes,
                        i.memory_mb,
                    ]
                    for i in mine
                ],
                hovertemplate=(
                    "%{customdata[0]} (%{customdata[1]})<br>start %{base:.1f} ms<br>download %{customdata[2]:.1f} ms"
                    "<br>exec %{customdata[3]:.1f} ms<br>upload %{customdata[4]:.1f} ms<br>in %{customdata[5]} B,"
                    " out %{customdata[6]} B<br>%{customdata[7]} MB<extra>%{y}</extra>"
                ),
            )
        )
    fig.update_layout(
        title=title or "Gantt chart",
        barmode="overlay",
        showlegend=False,
        # A page of many rows opens at its top, where the time axis then is (at the bottom of
        # montage:tasks=1000's 864 rows it was 19,000 px below the first bars).
        xaxis={
            "title": "time since submission (ms)",
            "side": "top" if len(workers) > MAX_LABELLED_ROWS else "bottom",
        },
        yaxis={"autorange": "reversed"},
        height=max(300, 22 * len(workers) + 120),
    )
    fig.write_html(str(path), include_plotlyjs="inline", full_html=True)
