"""The simulator's shortcuts change its speed, never its results: the paused garbage collector is
restored (a run's results freed by reference counting alone, garbage kept across runs still collected), and
a task's fetch and execution timed as one step play out exactly as two steps would, and so do an execution
and the upload after it; sizes read in storage
order and a simulation's unmemoised execution times equal the topological, memoised ones; worker starts
sharing one queue entry start in the order (and at the times) separate timers would."""

from __future__ import annotations

import gc
import heapq
import weakref
from dataclasses import replace

import pytest

from sim.engine import clock
from sim.engine.gcpause import paused_gc
from sim.engine.platform import IDEAL
from sim.engine.simulator import Simulation
from sim.models.predictor import Predictor, size_order
from sim.planners import get_planner
from sim.planners.base import PlannerConfig
from sim.worker.logic import PlanView
from sim.workflow import dynamic
from sim.workflow.library import load_workflow


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_gc_restores_the_callers_setting_also_on_errors(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with pytest.raises(ValueError), paused_gc():
            assert not gc.isenabled()
            with paused_gc():  # nested: still off inside, still off after the inner block
                pass
            assert not gc.isenabled()
            raise ValueError("boom")
        assert gc.isenabled() == enabled
        Simulation(get_planner("wukong").plan(load_workflow("tree_reduction:leaves=8"))).run()
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_run_leaves_no_cycle():
    """The simulation and its result are freed by reference counting alone. (A probe put among
    ``result.traces`` stopped watching the simulation when the traces became a view built on first
    read, held by the result only: a simulation kept alive by a cycle of its own freed it all the same.)"""
    plan = get_planner("wukong").plan(load_workflow("montage:tasks=2000"))
    was = gc.isenabled()
    gc.enable()
    try:
        sim = Simulation(plan)
        result = sim.run()
        gc.disable()  # from here on only reference counting frees anything
        probe = Probe()
        result.workers["probe"] = probe  # the simulation's own dict of workers, which the result shares
        gone = [weakref.ref(probe), weakref.ref(sim)]
        del probe, sim, result
        assert [r() is None for r in gone] == [True, True]  # nothing of the simulation is in a cycle
    finally:
        gc.enable() if was else gc.disable()


def test_garbage_that_outlives_a_run_is_still_collected():
    """A loop of runs (a sweep worker) whose cyclic garbage lived across a run: the collector's own
    rules must still reach it (promoting a run's survivors behind its back kept all 20,000 alive)."""
    plan = get_planner("wukong").plan(load_workflow("tree_reduction:leaves=4"))
    was = gc.isenabled()
    gc.enable()
    gc.collect()
    try:
        refs = []
        for _ in range(2000):
            cycles = [Probe() for _ in range(10)]
            for c in cycles:
                c.self = c  # each one its own reference cycle
            refs.extend(weakref.ref(c) for c in cycles)
            Simulation(plan).run()
            del cycles, c
        alive = sum(r() is not None for r in refs)
        assert alive < 2000, alive  # young-generation scans free them; without them all 20,000 stay
    finally:
        gc.enable() if was else gc.disable()


def test_a_failing_run_breaks_its_cycle_too():
    sim = Simulation(get_planner("wukong").plan(load_workflow("tree_reduction:leaves=8")))

    def boom(*_args):  # noqa: ANN002, ANN202 - any effect handler
        raise RuntimeError("boom")

    for key in list(sim._handlers):
        sim._handlers[key] = boom
    with pytest.raises(RuntimeError, match="boom"):
        sim.run()
    assert not sim._handlers


class Probe:
    """Something weakly referable to put among a result's traces."""


def timeline(sim: Simulation) -> list[tuple]:
    return timeline_of(sim.run())


def timeline_of(result) -> list[tuple]:  # noqa: ANN001 - SimResult
    out = result.output
    tasks = [
        (t, i.worker_id, i.earliest_start_ms, i.download_ms, i.exec_ms, i.completion_ms)
        for t, i in out.tasks.items()
    ]
    return [out.makespan_ms, out.cost_gb_s, out.cold_starts, sorted(tasks)]


@pytest.mark.parametrize("spec", ["montage:tasks=200", "epigenomics:tasks=100", "gemm"])
def test_fetch_and_execute_as_one_step_changes_nothing_but_the_event_count(spec):
    plan = get_planner("wukong").plan(load_workflow(spec))
    merged, separate = Simulation(plan), Simulation(plan)
    separate._merge_fetch_execute = False
    assert timeline(merged) == timeline(separate)
    # Each step is one event id less: the shortcut was taken (event ids count every scheduled event).
    assert next(merged.env._eid) < next(separate.env._eid)


@pytest.mark.parametrize(
    "spec, planner",
    [
        ("montage:tasks=200", "wukong"),
        ("epigenomics:tasks=100", "heft"),
        ("gemm", "uniform"),
        ("tree_reduction:leaves=16", "wukong"),
    ],
)
def test_execute_and_upload_as_one_step_changes_nothing_but_the_event_count(spec, planner):
    plan = get_planner(planner).plan(load_workflow(spec))
    merged, separate = Simulation(plan), Simulation(plan)
    separate._merge_execute_store = False
    got, want = merged.run(), separate.run()
    assert timeline_of(got) == timeline_of(want)
    # the uploads, in the order they started (one step records its upload where the execution's own
    # timer would have been processed), with their sizes and times
    assert got.uploaded == want.uploaded and got.uploaded
    uploads = [(t, i.uploadable_output_bytes, i.upload_ms) for t, i in sorted(got.output.tasks.items())]
    assert uploads == [
        (t, i.uploadable_output_bytes, i.upload_ms) for t, i in sorted(want.output.tasks.items())
    ]
    # The shortcut was taken (one event id less each time), except on the planned workers of heft and
    # uniform, whose tasks share their worker's CPUs: there an execution's end depends on the others.
    if planner == "wukong":
        assert next(merged.env._eid) < next(separate.env._eid)
    else:
        assert next(merged.env._eid) == next(separate.env._eid)


@pytest.mark.parametrize("spec, planner", [("gemm", "uniform"), ("image_transform", "wukong")])
def test_uploads_are_listed_in_the_order_they_were_performed(spec, planner):
    # Without an invocation latency or start-up, a worker invoked by an event starts in an urgent event
    # of that time, processed after its maker though its key sorts first: gemm's multiply_chunks-14 was
    # listed before multiply_chunks-9, uploaded earlier by the event that invoked its worker. (Merged
    # uploads are performed ahead of their time: test_execute_and_upload_as_one_step... covers them.)
    platform = replace(IDEAL, store_latency_ms=1.0, transfers=True)
    wf = load_workflow(spec)
    for task in wf.tasks.values():  # (calls of no time: many events at one time)
        task.runtime_ms = 0.0
    plan = get_planner(planner, PlannerConfig(platform=platform)).plan(wf)
    sim = Simulation(plan, platform)
    sim._merge_execute_store = False
    performed: list[str] = []
    upload = sim._upload

    def recording(e, w, start, key):  # noqa: ANN001, ANN202 - Simulation._upload's
        performed.append(e.task)
        return upload(e, w, start, key)

    sim._upload = recording
    assert sim.run().uploaded == performed and performed


@pytest.mark.parametrize("spec", ["montage:tasks=300", "gemm", "dynamic_wordcount"])
def test_sizes_read_in_storage_order_equal_the_topological_walk(spec):
    # montage and gemm record every output (the storage-order walk applies); an expanded dynamic
    # workflow has gathers without a recorded output, which only the modelled, topological walk sizes.
    wf = dynamic.expanded(load_workflow(spec))
    recorded = all(s.output_bytes is not None for s in wf.tasks.values())
    assert (size_order(wf) is wf.graph._pred) == recorded
    assert recorded == (spec != "dynamic_wordcount")
    fast, walked = Predictor().sizes(wf), Predictor()._walk_sizes(wf, wf.topological_order())
    assert fast.input_bytes == walked.input_bytes
    assert fast.output_bytes == walked.output_bytes
    assert fast.edge_bytes == walked.edge_bytes


def test_a_simulations_own_predictor_keeps_no_exec_memo_and_times_the_same():
    plan = get_planner("wukong").plan(load_workflow("epigenomics:tasks=100"))
    own, shared = Simulation(plan), Simulation(plan, predictor=Predictor(sla=plan.sla))
    assert timeline(own) == timeline(shared)
    assert shared.predictor.memo(own.wf).exec_ms and not own.predictor.memo(own.wf).exec_ms


def test_a_predictor_reused_for_another_workflow_answers_for_that_workflow():
    # Memoised per workflow object, not per id(): a freed workflow's address is soon another's, and the
    # memo keyed by it answered for the old one (169 of 200 such workflows here, before). The memo of a
    # freed workflow is dropped with it.
    reused = Predictor(sla="p50")
    for i in range(50):
        wf = load_workflow(f"tree_reduction:leaves={2 + i % 3}")
        wf.task(wf.roots[0]).runtime_ms = 100.0 + i
        fresh = Predictor(sla="p50")
        assert reused.exec_ms(wf, wf.roots[0], 2048) == fresh.exec_ms(wf, wf.roots[0], 2048), i
        assert reused.sizes(wf).input_bytes == fresh.sizes(wf).input_bytes, i
        del wf
        gc.collect()
    assert len(reused._workflows) == 0


def popped_events(sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> tuple[list, int]:
    """``timeline(sim)`` and how many entries the run took off the event queue."""
    pops = [0]

    def counting_pop(queue: list):  # noqa: ANN202 - a heap entry
        pops[0] += 1
        return heapq.heappop(queue)

    with monkeypatch.context() as m:
        m.setattr(clock, "heappop", counting_pop)
        return timeline(sim), pops[0]


@pytest.mark.parametrize(
    "spec, planner", [("montage:tasks=300", "wukong"), ("epigenomics:tasks=100", "heft"), ("gemm", "uniform")]
)
def test_worker_starts_sharing_a_queue_entry_change_nothing_but_the_queue(spec, planner, monkeypatch):
    plan = get_planner(planner).plan(load_workflow(spec))
    batched, separate = Simulation(plan), Simulation(plan)
    separate._batch_starts = False
    (got, batched_pops), (want, separate_pops) = (
        popped_events(batched, monkeypatch),
        popped_events(separate, monkeypatch),
    )
    assert got == want
    assert batched_pops < separate_pops


@pytest.mark.parametrize("batch", [True, False])
def test_an_event_between_two_batched_starts_still_comes_between(batch, monkeypatch):
    """A start that schedules an urgent event of its own time (a worker that starts at once and spawns):
    that event comes before the next start, as it would before the next start's own timer."""
    sim = Simulation(get_planner("wukong").plan(load_workflow("tree_reduction:leaves=4")))
    sim._batch_starts = batch
    order: list[str] = []

    def get_container(inv: str, requested: float) -> None:
        order.append(f"{inv}@{requested:g}")
        if inv == "a":
            sim.clock.urgent().callbacks.append(lambda _e: order.append("urgent"))

    monkeypatch.setattr(sim, "_get_container", get_container)
    for inv in ("a", "b", "c"):
        sim._start_worker(inv)
    clock.run(sim.env)
    latency = sim.platform.invoke_latency_ms
    assert order == [f"a@{latency:g}", "urgent", f"b@{latency:g}", f"c@{latency:g}"]


def test_in_edges_name_every_parent_in_graph_order_with_its_edge_size():
    # montage records every edge's size: the sizes are the graph's, per task in its parents' order.
    wf = load_workflow("montage:tasks=300")
    sizes = Predictor().sizes(wf)
    for t in wf.graph:
        assert list(sizes.in_edges[t]) == list(wf.graph.predecessors(t))
    assert sizes.edge_bytes == {(u, v): d["bytes"] for u, v, d in wf.graph.edges(data=True)}
    plan = get_planner("wukong").plan(wf)
    assert PlanView(plan).in_edges == sizes.in_edges  # the view's own, read from the graph


def test_keep_on_sentinel_survives_pickle_and_copy() -> None:
    """``NOWHERE`` (a task whose children do not all run on one planned worker) stays the module's one
    instance through pickle and deepcopy, so copied views compare equal to the originals."""
    import copy
    import pickle

    from sim.worker.logic import NOWHERE

    assert pickle.loads(pickle.dumps(NOWHERE)) is NOWHERE
    assert copy.deepcopy({"t": NOWHERE})["t"] is NOWHERE


def test_a_view_sorts_the_workflow_only_where_an_order_matters():
    """A plan's view reads its facts in the graph's storage order: under wukong (no planned worker
    waits for anything) the workflow is never sorted topologically, a fifth of a simulation's
    construction at 10,000 tasks. Its roots, and a planned worker's waits, still come in topological
    order."""
    wf = load_workflow("montage:tasks=300")
    view = PlanView(get_planner("wukong").plan(wf))
    assert wf._topo is None  # nothing sorted
    assert view.roots == tuple(wf.roots)  # (wf.roots sorts it) the roots in topological order
    position = {t: i for i, t in enumerate(wf.topological_order())}
    plan = get_planner("uniform").plan(wf)
    view = PlanView(plan)  # the workflow is sorted: its order is walked, nothing sorted again
    assert sum(map(len, view.waits.values())) > 10
    for tasks in view.waits.values():
        assert tasks == sorted(tasks, key=position.__getitem__)
    wf.changed()  # forgets the order: the next view walks the storage order and sorts its waits
    assert wf.sorted_order() is None
    assert list(PlanView(plan).waits.items()) == list(view.waits.items())


def test_a_workflow_changed_after_its_shape_was_read_gets_a_new_shape():
    from sim.worker.logic import workflow_shape
    from sim.workflow.dag import TaskSpec

    wf = load_workflow("tree_reduction:leaves=4")
    (sink,) = wf.sinks
    shape = workflow_shape(wf)
    assert workflow_shape(wf) is shape  # kept while the workflow is unchanged
    wf.add_task(TaskSpec("late", "f", runtime_ms=1.0, output_bytes=1))
    assert "late" in workflow_shape(wf).roots
    wf.add_edge("late", sink, 1)
    assert workflow_shape(wf).parents[sink][-1] == "late"
    assert sink not in workflow_shape(wf).roots and "late" not in workflow_shape(wf).sinks


def test_a_simulations_construction_leaves_the_collector_two_objects_per_task():
    """What a simulation builds per task before its first event is mostly dicts of strings and numbers,
    which the garbage collector never tracks: what is left for its scan when the construction's pause
    ends is the workflow shape's tuples of parents and children (montage:tasks=1000: 1,958 objects;
    3,716 while each task's stored inputs were a tuple of (key, bytes) pairs)."""
    plan = get_planner("wukong").plan(load_workflow("montage:tasks=1000"))
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        sim = Simulation(plan)
        young = len(gc.get_objects(0))
    finally:
        gc.enable() if was else gc.disable()
    assert sim.view.stored_inputs and young < 2.2 * len(plan.workflow)
