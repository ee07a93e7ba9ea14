"""Gantt charts stay readable: a PNG of many workers has a bounded size and its labels near the bars."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sim.engine import gantt
from sim.engine.gantt import write_gantt
from sim.models.plan import PlanningTaskInfo

pytest.importorskip("matplotlib")


def _tasks(workers: int, per_worker: int = 1) -> dict[str, PlanningTaskInfo]:
    tasks = {}
    for w in range(workers):
        for k in range(per_worker):
            tid = f"t{w}-{k}"
            start = 100.0 * k + w
            tasks[tid] = PlanningTaskInfo(
                tid,
                "f",
                f"flex-{w}",
                2048,
                download_ms=5.0,
                earliest_start_ms=start,
                completion_ms=start + 80,
            )
    return tasks


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_a_thousand_workers_fit_one_screenful_of_png(tmp_path: Path) -> None:
    """montage:tasks=1000 under wukong runs on 864 workers: the chart was 1320 x 30544 px (one 35 px row
    each, the time axis 30,000 px below the first bars) and 96,896 px tall for montage:tasks=3000."""
    width, height = _png_size(write_gantt(_tasks(1000), tmp_path / "g.png", "big"))
    assert height <= 2600, (width, height)


def test_few_workers_keep_one_labelled_row_each(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = gantt._png_figure(_tasks(5, per_worker=2), "small")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"flex-{w}" for w in range(5)]
    assert "hatched" in ax.get_title()  # the legend of the hatching stays beside a given title
    plt.close(fig)
    late = PlanningTaskInfo("t", "f", "w1", 2048, earliest_start_ms=550.0, completion_ms=600.0)
    fig = gantt._png_figure({"t": late}, "late")
    assert fig.axes[0].get_xlim()[0] == 0  # time since submission: the wait before the first task shows
    plt.close(fig)
    fig = gantt._png_figure(_tasks(3 * gantt.MAX_LABELLED_ROWS), "many")
    ax = fig.axes[0]
    assert "worker" in ax.get_ylabel()
    assert len(ax.get_yticklabels()) < gantt.MAX_LABELLED_ROWS
    lo, hi = sorted(ax.get_ylim())
    assert hi - lo <= 3 * gantt.MAX_LABELLED_ROWS + 1  # no band of empty rows above and below the bars
    plt.close(fig)


def test_a_long_html_chart_has_its_time_axis_on_top(tmp_path: Path) -> None:
    """The HTML page opens at its first rows: with 864 rows the time axis at the bottom was 19,000 px away."""
    pytest.importorskip("plotly")
    import re

    def side(workers: int) -> str:
        text = write_gantt(_tasks(workers), tmp_path / f"g{workers}.html").read_text()
        layout = text[text.rindex('"xaxis":{') :]  # the figure's layout, after plotly.js itself
        return re.search(r'"side":"(\w+)"', layout).group(1)

    assert side(5) == "bottom"
    assert side(3 * gantt.MAX_LABELLED_ROWS) == "top"


def test_a_workers_start_up_is_drawn_before_its_first_task(tmp_path: Path) -> None:
    """The chart's axis starts at the submission (4d42898), but nothing was drawn there: under
    non-uniform, tree_reduction:leaves=16 showed 420 ms of empty chart (a 405 ms cold start after the
    15 ms invocation) and its 3 ms of tasks squeezed at the right edge. A task that starts its worker
    now has the start-up drawn before it (dotted grey), in the PNG and in the HTML page."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    first = PlanningTaskInfo(
        "a",
        "f",
        "w1",
        2048,
        worker_startup_state="cold",
        worker_startup_ms=400.0,
        earliest_start_ms=420.0,
        completion_ms=423.0,
    )
    then = PlanningTaskInfo("b", "f", "w1", 2048, earliest_start_ms=423.0, completion_ms=425.0)
    fig = gantt._png_figure({"a": first, "b": then}, "t")
    ax = fig.axes[0]
    grey = [p for p in ax.patches if p.get_hatch() == "..."]
    plt.close(fig)
    assert [(p.get_x(), p.get_width()) for p in grey] == [(20.0, 400.0)]  # one, the cold start
    assert "start-up" in ax.get_title()
    pytest.importorskip("plotly")
    html = write_gantt({"a": first, "b": then}, tmp_path / "g.html").read_text()
    assert '"name":"start-up"' in html and '"customdata":[["cold"]]' in html
