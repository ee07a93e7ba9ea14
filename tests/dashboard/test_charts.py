"""The dashboard's Plotly figures, checked as figures (what a reader sees), without a browser."""

from __future__ import annotations

from sim.dashboard.charts import planner_bars


def test_makespan_and_cost_bars_stand_side_by_side():
    """The what-if page drew each planner's cost bar (right axis) over its makespan bar (left axis):
    plotly groups bars by axis only when they share one, so barmode="group" overlaid them and the taller
    cost bar hid the makespan of non-uniform, wukong, heft and cpop on tree_reduction. The legend also
    covered the right axis' tick labels ('92' read '9'). Each measure now has its own offset group and
    the legend sits above the plot."""
    fig = planner_bars(["uniform", "wukong"], [1640.6, 1648.5], [35.0, 101.4])
    makespan, cost = fig.data
    assert makespan.yaxis == "y" and cost.yaxis == "y2"
    assert makespan.offsetgroup is not None and cost.offsetgroup is not None
    assert makespan.offsetgroup != cost.offsetgroup
    assert fig.layout.legend.orientation == "h"
    assert fig.layout.yaxis.title.text == "makespan (ms)" and fig.layout.yaxis2.title.text == "cost (GB-s)"
