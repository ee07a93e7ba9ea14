"""Each optimization: a workflow where it must help, one where it must change nothing, and the
invariants on random plans with every optimization switched on."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.simulator import Simulation
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.planners import PlannerConfig, get_planner
from sim.planners.optimizations import OPTIMIZATIONS, dup_candidates, plan_prewarm
from sim.worker import logic
from sim.worker.effects import STREAM_CHUNK_BYTES
from tests.sim.helpers import MEDIAN, SIMPLE, plan, simple_models, workflow
from tests.sim.test_conservation import check_invariants, random_dag, random_plan


def run(p: Plan, platform=SIMPLE):
    return Simulation(p, platform, simple_models()).run()


def with_opts(p: Plan, *names: str, **annotations) -> Plan:
    return dataclasses.replace(
        p, optimizations=frozenset(names), annotations={**p.annotations, **annotations}
    )


def planner_with(*names: str, planner: str = "uniform"):
    return get_planner(
        planner,
        PlannerConfig(platform=SIMPLE, models=simple_models(), sla="p50", optimizations=frozenset(names)),
    )


def test_every_optimization_has_a_description():
    assert set(OPTIMIZATIONS) == set(logic.ALL_OPTIMIZATIONS)
    assert all(o.description for o in OPTIMIZATIONS.values())


# -- preload --------------------------------------------------------------------------------------------
def two_remote_parents(big: int = 100_000):
    wf = workflow([("a", "t"), ("b", "t"), ("r", "t")], out=1000)
    wf.task("a").output_bytes = big  # 100 ms to move at 1000 B/ms
    wf.graph.edges["a", "t"]["bytes"] = big
    wf.task("b").runtime_ms = 600.0
    return plan(wf, {"a": "w1", "b": "w2", "r": "w3", "t": "w3"})


def test_preload_hides_a_download_behind_a_slower_parent():
    base = run(two_remote_parents()).output
    pre = run(with_opts(two_remote_parents(), logic.PRELOAD)).output
    assert pre.makespan_ms == pytest.approx(base.makespan_ms - 100.0, abs=2.0)
    assert pre.bytes_downloaded == base.bytes_downloaded  # fetched once, only earlier


def test_a_task_ready_during_a_preload_joins_it_instead_of_downloading_again():
    # Now the 100 KB parent a is the slowest: t becomes ready while a's preload is still downloading
    # (the reference fetched such an in-flight preload a second time, 9.4 #5). t waits for the preload.
    p = two_remote_parents()
    p.workflow.task("a").runtime_ms = 700.0
    base, pre = run(p).output, run(with_opts(p, logic.PRELOAD)).output
    assert pre.bytes_downloaded == base.bytes_downloaded
    assert pre.makespan_ms <= base.makespan_ms


def test_preload_changes_nothing_on_one_worker():
    p = plan(workflow([("a", "b"), ("b", "c")]), {"a": "w1", "b": "w1", "c": "w1"})
    assert run(with_opts(p, logic.PRELOAD)).output.summary() == run(p).output.summary()


# -- prewarm --------------------------------------------------------------------------------------------
def test_prewarm_turns_a_late_cold_start_warm():
    wf = workflow([("a", "b")])
    wf.task("a").runtime_ms = 2000.0
    # Different sizes, so w2 cannot reuse w1's container: without pre-warm it starts cold.
    base = Plan(wf, {"a": ResourceConfig(4096, "w1"), "b": ResourceConfig(2048, "w2")}, sla=MEDIAN).validate()
    planned = plan_prewarm(with_opts(base, logic.PREWARM), planner_with())
    assert len(planned.annotations["prewarm"]) == 1, "one trigger, for w2"
    a, b = run(base).output, run(planned).output
    assert a.workers["w2"]["startup_state"] == "cold" and b.workers["w2"]["startup_state"] == "warm"
    assert b.makespan_ms == pytest.approx(a.makespan_ms - 90.0, abs=1.0)  # cold 100 ms -> warm 10 ms


def test_prewarm_plans_nothing_when_every_worker_starts_at_once():
    p = plan(workflow([("a", "c"), ("b", "c")]), {"a": "w1", "b": "w2", "c": "w1"})
    planned = plan_prewarm(with_opts(p, logic.PREWARM), planner_with())
    assert planned.annotations["prewarm"] == []
    assert run(planned).output.makespan_ms == run(p).output.makespan_ms


# -- async upload ---------------------------------------------------------------------------------------
def test_async_upload_starts_local_children_while_uploading():
    wf = workflow([("a", "b"), ("a", "c")])
    wf.task("a").output_bytes = 200_000
    for c in "bc":
        wf.graph.edges["a", c]["bytes"] = 200_000
    p = plan(wf, {"a": "w1", "b": "w1", "c": "w2"})
    base, fast = run(p).output, run(with_opts(p, logic.ASYNC_UPLOAD)).output
    assert fast.tasks["b"].earliest_start_ms == pytest.approx(
        base.tasks["b"].earliest_start_ms - 200.0, abs=15.0
    )
    assert fast.tasks["c"].earliest_start_ms >= fast.tasks["a"].completion_ms  # c still waits for the upload


def test_async_upload_changes_nothing_without_uploads():
    p = plan(workflow([("a", "b"), ("b", "c")]), {"a": "w1", "b": "w1", "c": "w1"})
    assert run(with_opts(p, logic.ASYNC_UPLOAD)).output.makespan_ms == run(p).output.makespan_ms


# -- clustering -----------------------------------------------------------------------------------------
def big_fan_out(out: int):
    wf = workflow([("a", f"b{i}") for i in range(4)] + [(f"b{i}", "m") for i in range(4)], out=out)
    return plan(wf)  # all flexible (wukong)


def test_clustering_keeps_a_large_fan_out_on_one_worker_and_moves_fewer_bytes():
    base = run(big_fan_out(6_000_000)).output
    clustered = run(with_opts(big_fan_out(6_000_000), logic.CLUSTERING)).output
    assert clustered.invocations < base.invocations
    moved = lambda o: o.bytes_uploaded + o.bytes_downloaded  # noqa: E731
    assert moved(clustered) <= 0.5 * moved(base)


def test_clustering_delays_every_upload_nobody_elsewhere_needs():
    # WUKONG's delayed I/O: a's 6 MB output feeds children that all run on a's worker, and so do theirs
    # (m gathers the b's there): only the sink's output reaches the store; without clustering, all do.
    assert run(with_opts(big_fan_out(6_000_000), logic.CLUSTERING)).uploaded == ["m"]
    assert sorted(run(big_fan_out(6_000_000)).uploaded) == ["a", "b0", "b1", "b2", "b3", "m"]


def test_clustering_runs_a_fan_in_where_its_last_large_input_is():
    # WUKONG's fan-in clustering: c gathers q (done early, 1 KB) and p (6 MB, 500 ms). p's worker sees on
    # c's counter that q is done and runs c itself, without counting c or storing p's output. Without
    # clustering, p's output is stored before its count decides where c runs.
    wf = workflow([("p", "c"), ("q", "c")])
    wf.task("p").runtime_ms, wf.task("p").output_bytes = 500.0, 6_000_000
    wf.graph.edges["p", "c"]["bytes"] = 6_000_000
    clustered = run(with_opts(plan(wf), logic.CLUSTERING))
    assert sorted(clustered.uploaded) == ["c", "q"]
    assert clustered.traces["c"].worker == clustered.traces["p"].worker
    assert len(clustered.invocations) == 2  # the two roots: nobody else is started
    assert sorted(run(plan(wf)).uploaded) == ["c", "p", "q"]


def test_clustering_ignores_small_outputs():
    assert (
        run(with_opts(big_fan_out(1000), logic.CLUSTERING)).output.summary()
        == run(big_fan_out(1000)).output.summary()
    )


# -- task-dup -------------------------------------------------------------------------------------------
def late_parent():
    # q on w1 feeds p on w2, a new worker started only when q is done (invoke + cold start); t on w3
    # needs p and r. w3 re-running p itself saves w2's start-up.
    wf = workflow([("q", "p"), ("p", "t"), ("r", "t")])
    sizes = {"q": ("w1", 4096), "p": ("w2", 2048), "r": ("w3", 1024), "t": ("w3", 1024)}
    return Plan(wf, {t: ResourceConfig(m, w) for t, (w, m) in sizes.items()}, sla=MEDIAN).validate()


def test_task_dup_runs_a_late_parent_on_the_waiting_worker():
    p = late_parent()
    assert ("t", "p") in dup_candidates(p)
    base = run(p)
    dup = run(with_opts(p, logic.TASK_DUP, task_dup=(("t", "p"),)))
    assert dup.output.makespan_ms < base.output.makespan_ms - 50.0
    assert dup.traces["p"].worker == "w2"  # the original still ran, once
    assert any(k.startswith("p@dup:w3") for k in dup.labelled)
    assert dup.traces["t"].worker == "w3"


def test_task_dup_planning_keeps_only_pairs_that_help():
    planned = planner_with(logic.TASK_DUP).plan(workflow([("a", "b"), ("b", "c")]))
    assert planned.annotations["task_dup"] == ()


# -- streaming ------------------------------------------------------------------------------------------
def streamed_pair(nbytes: int):
    wf = workflow([("r", "t"), ("p", "t")])
    wf.task("p").output_bytes = nbytes  # 1000 bytes/ms: nbytes/1000 ms to upload, as long to download
    wf.graph.edges["p", "t"]["bytes"] = nbytes
    return plan(wf, {"r": "w1", "t": "w1", "p": "w2"})


def test_streaming_masks_the_download_of_a_running_consumer():
    p = streamed_pair(8_000_000)
    base, streamed = run(p).output, run(with_opts(p, logic.STREAMING)).output
    # The consumer reads along with the upload; what is left after the upload is one chunk's read.
    saved = 8_000.0 - STREAM_CHUNK_BYTES / 1000.0
    assert streamed.makespan_ms == pytest.approx(base.makespan_ms - saved, abs=10.0)


def test_streaming_an_output_of_one_chunk_saves_nothing():
    p = streamed_pair(STREAM_CHUNK_BYTES)  # written whole (nothing to overlap), read once it is stored
    base, streamed = run(p).output, run(with_opts(p, logic.STREAMING)).output
    assert streamed.makespan_ms == pytest.approx(base.makespan_ms, abs=10.0)


def test_streaming_falls_back_to_stored_outputs_for_idle_consumers():
    p = plan(workflow([("a", "b")]), {"a": "w1", "b": "w2"})  # w2 is not running yet
    assert run(with_opts(p, logic.STREAMING)).output.makespan_ms == run(p).output.makespan_ms


# -- cleanup and carried inputs -------------------------------------------------------------------------
def test_cleanup_happens_once_after_the_last_sink():
    p = with_opts(plan(workflow([("a", "b"), ("a", "c")])), logic.CLEANUP)
    sim = Simulation(p, SIMPLE, simple_models())
    out = sim.run().output
    assert sim.cleaned_at is not None and sim.cleaned_at >= max(out.tasks[s].completion_ms for s in "bc")


def test_carried_inputs_save_downloads():
    p = plan(workflow([("a", f"b{i}") for i in range(4)], out=10_000))
    base, carried = run(p).output, run(with_opts(p, logic.CARRY_INPUTS)).output
    assert carried.bytes_downloaded == 0 < base.bytes_downloaded
    assert carried.makespan_ms < base.makespan_ms


def test_carried_inputs_stop_at_the_invocation_budget():
    # The reference forwards at most 250 KB of cached outputs per invocation: an output of exactly the
    # budget travels, one byte more is downloaded by each consumer as without the optimization.
    for out, travels in ((logic.CARRY_LIMIT_BYTES, True), (logic.CARRY_LIMIT_BYTES + 1, False)):
        p = plan(workflow([("a", f"b{i}") for i in range(4)], out=out))
        base, carried = run(p).output, run(with_opts(p, logic.CARRY_INPUTS)).output
        assert base.bytes_downloaded == 3 * out  # three of the four children run on fresh workers
        assert carried.bytes_downloaded == (0 if travels else base.bytes_downloaded), out


# -- inline plan ----------------------------------------------------------------------------------------
PLAN_COSTS = dataclasses.replace(SIMPLE, plan_bytes_per_task=200.0, plan_load_ms_per_task=0.1)


def test_inline_plan_spares_many_small_workers_the_plan_fetch():
    p = plan(workflow([("a", f"b{i}") for i in range(40)]))  # flexible: 39 fresh workers for one fan-out
    base = Simulation(p, PLAN_COSTS, simple_models()).run()
    inline = Simulation(with_opts(p, logic.INLINE_PLAN), PLAN_COSTS, simple_models()).run()
    assert all(inv.fragment is not None for inv in inline.invocations)
    assert {inv.fragment for inv in inline.invocations if inv.tasks == ("b7",)} == {frozenset({"a", "b7"})}
    # Without: each worker GETs 41 x 200 bytes (8.2 ms at 1000 bytes/ms) and loads 41 tasks (4.1 ms).
    # With: a's worker loads all 41 tasks (its fragment) without the GET, b's loads two tasks (0.2 ms).
    saved = 8.2 + (8.2 + 4.1 - 0.2)  # both workers on the critical path
    assert inline.output.makespan_ms == pytest.approx(base.output.makespan_ms - saved, abs=0.01)
    assert inline.output.store_ops == base.output.store_ops - len(base.invocations)


def test_inline_plan_changes_nothing_when_the_fragment_is_too_large():
    n = logic.INLINE_PLAN_MAX_TASKS + 6
    p = plan(workflow([(f"t{i}", f"t{i + 1}") for i in range(n - 1)]), {f"t{i}": "w1" for i in range(n)})
    base = Simulation(p, PLAN_COSTS, simple_models()).run()
    inline = Simulation(with_opts(p, logic.INLINE_PLAN), PLAN_COSTS, simple_models()).run()
    assert [inv.fragment for inv in inline.invocations] == [None]
    assert (
        inline.output.makespan_ms == base.output.makespan_ms > run(p).output.makespan_ms
    )  # the fetch is paid
    assert inline.output.store_ops == base.output.store_ops


def test_a_warm_container_fetches_the_plan_once():
    p = plan(workflow([("a", "b"), ("b", "c")]), {"a": "w1", "b": "w2", "c": "w3"})  # sequential workers
    sim = Simulation(p, PLAN_COSTS, simple_models())
    out = sim.run().output
    # A new container: cold start + GET of 600 bytes + load of 3 tasks; a reused one has the plan.
    expected = {"cold": 100.0 + 0.6 + 0.3, "warm": 10.0}
    assert out.workers["w2"]["startup_state"] == "warm"
    for w in out.workers.values():
        assert w["startup_ms"] == pytest.approx(expected[w["startup_state"]])


# -- invariants with everything on ----------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 25),
    names=st.sets(st.sampled_from(logic.ALL_OPTIMIZATIONS), min_size=1),
)
def test_random_plans_with_optimizations_keep_the_invariants(seed, n, names):
    wf = random_dag(seed, n)
    p = random_plan(wf, seed)
    annotations = {"large_output_bytes": 20_000}
    if logic.TASK_DUP in names:
        annotations["task_dup"] = tuple(dup_candidates(p)[:3])
    if logic.PREWARM in names:
        annotations["prewarm"] = ((50.0, 1024), (100.0, 2048))
    p = with_opts(p, *names, **annotations)
    sim = Simulation(p)
    result = sim.run()
    check_invariants(p, result)
    for key, members in sim.counters.items():  # no counter overshoots: only real parents, once each
        if key.startswith("dc:"):
            child = key[3:]
            assert members.keys() <= set(wf.graph.predecessors(child))
