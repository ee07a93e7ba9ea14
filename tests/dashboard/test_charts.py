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


def test_gantt_charts_draw_each_workers_start_up():
    """The dashboard's Gantt charts began at the submission with nothing drawn before the first task: a
    simulated tree_reduction:leaves=16 under non-uniform was 420 ms of blank (invocation and cold start)
    and 3 ms of tasks. The start-up now comes before the task that waits for it, from the plan's
    worker_startup_ms or the run's worker record, as in validate's report and simulate --gantt."""
    from sim.dashboard.charts import gantt_figure, gantt_rows_from_plan, gantt_rows_from_run
    from sim.engine.whatif import what_if
    from sim.workflow.library import load_workflow

    out = what_if(load_workflow("tree_reduction:leaves=16"), "non-uniform", [2048, 4096, 8192]).result
    tasks = out.output.tasks
    fig = gantt_figure(gantt_rows_from_plan(tasks))
    ups = [t for t in fig.data if t.name == "start-up"]
    assert len(ups) == 1
    want = sorted(
        (i.worker_id, i.earliest_start_ms - i.worker_startup_ms)
        for i in tasks.values()
        if i.worker_startup_state == "cold"
    )
    assert sorted(zip(ups[0].y, ups[0].base, strict=True)) == want and len(want) == out.output.cold_starts
    assert list(fig.layout.yaxis.categoryarray) == list(dict.fromkeys(t.name for t in fig.data[1:]))

    from sim.compare.plan_vs_real import compare_runs

    run = compare_runs([], out.records("real-1")).real_data  # a run's records: the worker records' start-ups
    ups = [t for t in gantt_figure(gantt_rows_from_run(run)).data if t.name == "start-up"]
    assert len(ups) == 1 and len(ups[0].y) == len(run.workers) and min(ups[0].x) > 0


def test_gantt_figure_keeps_an_ordered_worker_without_tasks_as_an_empty_row():
    """Beside a planned worker no real worker pairs with, the real chart's row stays empty: the real
    rows listed only the workers present, so the pairs below it moved a row up from their counterparts."""
    from sim.dashboard.charts import gantt_figure

    rows = [
        {"task": t, "function": "f", "worker": w, "start": s, "end": s + 1.0}
        | {"download": 0.0, "exec": 1.0, "upload": 0.0, "memory": 2048}
        for t, w, s in [("a", "R1", 0.0), ("c", "R2", 2.0)]
    ]
    fig = gantt_figure(rows, order=["R1", "(none for P2)", "R2"])
    assert list(fig.layout.yaxis.categoryarray) == ["R1", "(none for P2)", "R2"]
    empty = [t for t in fig.data if t.name == "(none for P2)"]
    assert len(empty) == 1 and list(empty[0].y) == ["(none for P2)"] and list(empty[0].x) == [0.0]
