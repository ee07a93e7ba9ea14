"""Simulating dynamic fan-outs: at the expected width, through the one worker logic."""

from __future__ import annotations

import pytest

from sim.engine.platform import Platform
from sim.engine.simulator import Simulation, expand_plan
from sim.engine.whatif import what_if
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.worker.logic import PlanView
from sim.workflow import Workflow, task
from sim.workflow import dynamic as dyn


@task
def parts(n):
    return list(range(n))


@task
def work(x):
    return x


@task
def merge(xs):
    return xs


def mapped(width: int, chain: bool = False) -> Workflow:
    """parts -> work per part (-> work per result, when chained) -> merge; 100 ms per task."""
    node = work.map(parts(width), width_hint=width)
    if chain:
        node = work.map(node, width_hint=width)
    wf = Workflow.from_nodes(merge(node), name="mapped")
    for t in wf.graph:
        wf.task(t).runtime_ms = 100.0
    return wf


@pytest.mark.parametrize("width", [0, 1, 4, 16])
@pytest.mark.parametrize("planner", ["wukong", "heft", "uniform"])
def test_ideal_makespan_is_the_critical_path_of_the_expanded_graph(width, planner):
    for chain in (False, True):
        wf = mapped(width, chain)
        out = what_if(wf, planner, platform="ideal").result.output
        expanded = dyn.expanded(wf)
        _, critical = expanded.critical_path()
        assert out.makespan_ms == pytest.approx(critical, abs=1e-6)
        assert len(out.tasks) == len(expanded) == 3 + (1 + chain) * width + chain
        # gathers cost nothing: a width of zero skips a mapped level, any other width costs one task
        levels = 2 + (1 + chain) * (width > 0)
        assert critical == pytest.approx(100.0 * levels)


def test_makespan_grows_with_the_width_on_a_capped_platform():
    capped = Platform(name="capped", max_containers=2)
    spans = [what_if(mapped(w), "wukong", platform=capped).result.output.makespan_ms for w in (1, 4, 16)]
    assert spans[0] < spans[1] < spans[2], spans


def test_copies_are_flexible_the_first_continues_on_the_source_worker():
    wf = mapped(4)
    wi = what_if(wf, "heft")  # heft plans workers: copies and gathers stay flexible all the same
    res = wi.result
    copies = [dyn.copy_id("work-0", i) for i in range(4)]
    assert all(res.plan.configs[c].worker_id is None for c in [*copies, "work-0"])
    assert res.traces[copies[0]].worker == res.traces["parts-0"].worker
    assert len({res.traces[c].worker for c in copies}) == 4
    extra = {r.task_id: r.extra for r in res.records() if hasattr(r, "task_id")}
    assert extra["work-0"]["dynamic_width"] == 4  # the same record fields as a real run's
    assert extra[copies[2]]["dynamic_index"] == 2 and extra[copies[2]]["dynamic_node"] == "work-0"


def test_plan_view_expansion_matches_the_view_of_the_expanded_plan():
    """The runtime expands its view at run time; the simulator builds the view of the expanded plan.
    Both must know the same facts, or the simulator would predict other decisions."""
    for width in (0, 1, 5):
        wf = mapped(width, chain=True)
        plan = Plan(wf, {t: ResourceConfig(1024, "w1" if t == "merge-0" else None) for t in wf.graph})
        ahead = PlanView(expand_plan(plan, {"work-0": width, "work-1": width}))
        live_plan = Plan(_copy(wf), dict(plan.configs))
        live = PlanView(live_plan)
        assert live.dynamic == {"work-0", "work-1"}
        live.expand("work-0", width)
        live.expand("work-1", width)
        assert live.expand("work-1", width) == ()  # expanding again does nothing
        assert not live.dynamic
        for fact in (
            "parents",
            "children",
            "n_parents",
            "worker",
            "memory",
            "keep_on",
            "stored_inputs",
            "in_edges",
            "edge_bytes",
            "output_bytes",
        ):
            assert getattr(live, fact) == getattr(ahead, fact), fact
        assert live.solo_flexible_child == ahead.solo_flexible_child
        assert live.counted_locally == ahead.counted_locally
        assert live.sinks == ahead.sinks and live.waits == ahead.waits


def test_simulation_expands_the_plan_before_the_run():
    wf = mapped(2)
    sim = Simulation(Plan(wf, {t: ResourceConfig(1024) for t in wf.graph}))
    assert not dyn.dynamic_nodes(sim.wf)
    assert sim.run().output.makespan_ms > 0


def _copy(wf: Workflow) -> Workflow:
    out = Workflow(wf.name, wf.params)
    out.graph = wf.graph.copy()
    return out


@pytest.mark.parametrize("width", [0, 1, 16])
def test_copies_move_their_item_not_the_whole_source(width):
    """A 64 MB source split ``width`` ways: each copy elsewhere downloads source bytes / width (the first
    copy continues on the source's worker: nothing), the source uploads its items once."""
    total = 64_000_000
    wf = mapped(width)
    src = "parts-0"
    for t in wf.graph:
        size = total if t == src else 8
        wf.task(t).output_bytes = size
        for _, _, d in wf.graph.out_edges(t, data=True):
            d["bytes"] = size
    out = what_if(wf, "wukong").result
    copies = [t for t in out.traces if dyn.node_of_copy(t)]
    assert len(copies) == width
    downloaded = sorted(out.traces[c].download_bytes for c in copies)
    assert downloaded == [0] * min(width, 1) + [total // max(width, 1)] * (width - 1)
    upload = out.traces[src].upload
    assert (upload[0] if upload else 0) == (total if width > 1 else 0)  # the items, not the list again
