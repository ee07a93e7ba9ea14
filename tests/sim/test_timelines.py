"""Hand-computed timelines under the SIMPLE platform (see helpers): every number below is added up by
hand from 1 ms round trips, 10 ms invocations, 100 ms cold starts, 1 ms per 1000-byte transfer and
100 ms tasks."""

from __future__ import annotations

import pytest

from sim.engine.simulator import Simulation
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.workflow.dag import TaskSpec, Workflow
from tests.sim.helpers import MEDIAN, SIMPLE, plan, simple_models, workflow


def run(p):
    return Simulation(p, SIMPLE, simple_models()).run()


def test_chain_on_flexible_workers_stays_on_one_worker_and_uploads_only_the_sink():
    r = run(plan(workflow([("a", "b"), ("b", "c")])))
    out = r.output
    # invoke 10 + cold 100 -> a 110..210, b ..310, c ..410, upload sink 1 -> 411, complete 1 -> 412
    assert out.makespan_ms == pytest.approx(412.0)
    assert [out.tasks[t].earliest_start_ms for t in "abc"] == pytest.approx([110.0, 210.0, 310.0])
    assert r.uploaded == ["c"]
    assert out.invocations == 1 and out.cold_starts == 1
    assert out.critical_path == ["a", "b", "c"]


def test_chain_on_a_planned_worker_pays_the_client_claim():
    r = run(plan(workflow([("a", "b"), ("b", "c")]), {"a": "w1", "b": "w1", "c": "w1"}))
    assert r.output.makespan_ms == pytest.approx(413.0)  # one more round trip: the client's claim
    assert r.uploaded == ["c"]


def test_diamond_on_flexible_workers():
    r = run(plan(workflow([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])))
    t = r.output.tasks
    # a 110..210, upload 211, invoke c's worker (the caller waits its one round trip) -> b 212..312
    assert t["b"].earliest_start_ms == pytest.approx(212.0)
    # c's worker: invoked at 211, arrives 221, cold 100 -> 321, fetch a 1 ms -> exec 322..422
    assert t["c"].earliest_start_ms == pytest.approx(321.0)
    assert t["c"].download_ms == pytest.approx(1.0)
    # b uploads 313, incr -> 1; c uploads 423, incr -> 2 at 424 -> d fetches b 425, runs ..525
    assert t["d"].worker_id == t["c"].worker_id
    assert t["d"].earliest_start_ms == pytest.approx(424.0)
    assert r.output.makespan_ms == pytest.approx(527.0)
    assert sorted(r.uploaded) == ["a", "b", "c", "d"]


def test_fan_out_delegates_all_but_one_child():
    r = run(plan(workflow([("a", "b"), ("a", "c"), ("a", "d")])))
    out = r.output
    assert out.invocations == 3  # the root, then c and d; b continues on a's worker
    assert out.tasks["b"].worker_id == out.tasks["a"].worker_id
    # a 110..210, upload 211, invoke (one round trip) -> b 212..312, its sink upload 313, complete 314
    assert out.tasks["b"].completion_ms == pytest.approx(313.0)
    # c and d: arrive 221 + cold 100 = 321, fetch 1 -> 322..422, upload 423, complete 424
    assert out.makespan_ms == pytest.approx(424.0)


def test_cost_charges_each_worker_from_its_invocation_and_allocation_until_the_end():
    out = run(plan(workflow([("a", "b"), ("a", "c"), ("a", "d")]))).output
    # 2 GB workers: a's from 10 (its invocation arrives) to 314, c's and d's from 221 to 424.
    assert out.cost_gb_s == pytest.approx(2 * (0.304 + 0.203 + 0.203))
    # Allocation also charges a's idle container until the run ends at 424 (within its keep-alive).
    assert out.alloc_gb_s == pytest.approx(out.cost_gb_s + 2 * 0.110)


def test_fan_in_runs_on_the_last_finisher():
    wf = workflow([("a", "d"), ("b", "d"), ("c", "d")])
    wf.task("c").runtime_ms = 300.0
    r = run(plan(wf))
    t = r.output.tasks
    assert t["d"].worker_id == t["c"].worker_id  # c finishes last: its increment reaches 3
    # c 110..410, upload 411, incr 412; d fetches a and b in parallel (1 ms) -> 413..513, sink 514, 515
    assert t["d"].earliest_start_ms == pytest.approx(412.0)
    assert t["d"].download_ms == pytest.approx(1.0)
    assert r.output.makespan_ms == pytest.approx(515.0)


def test_a_planned_fan_in_waits_for_remote_parents_and_does_not_start_its_worker_twice():
    wf = workflow([("a", "d"), ("b", "d"), ("c", "d")])
    # a and d on w1, b on w2, c on w3: d is owned by w1, which waits for the remote parents.
    r = run(plan(wf, {"a": "w1", "d": "w1", "b": "w2", "c": "w3"}))
    out = r.output
    assert out.invocations == 3
    assert sorted(out.workers) == ["w1", "w2", "w3"]
    assert out.tasks["d"].worker_id == "w1"
    assert sorted(r.uploaded) == ["b", "c", "d"]  # a's output stays on w1


def test_new_worker_claimed_once_when_two_tasks_become_ready_from_different_workers():
    # x1 -> y1 and x2 -> y2, both y on a brand-new worker w9: only one invocation may start w9.
    wf = workflow([("x1", "y1"), ("x2", "y2")])
    r = run(plan(wf, {"x1": "w1", "x2": "w2", "y1": "w9", "y2": "w9"}))
    starts = [inv.worker_id for inv in r.invocations]
    assert starts.count("w9") == 1
    assert r.output.tasks["y1"].worker_id == r.output.tasks["y2"].worker_id == "w9"


class StoreLog(Simulation):
    """Logs the store effects that carry decisions: counter increments, claims, ready marks."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.log: list[tuple[str, str, tuple[str, ...]]] = []

    def _incr(self, e, w):  # noqa: ANN001, ANN202
        self.log.append(("incr", e.task, e.keys))
        return super()._incr(e, w)

    def _claim(self, e, w):  # noqa: ANN001, ANN202
        self.log.append(("claim", e.task, e.worker_ids))
        return super()._claim(e, w)

    def _mark_ready(self, e, w):  # noqa: ANN001, ANN202
        self.log.append(("mark", e.task, e.tasks))
        return super()._mark_ready(e, w)


def test_the_store_counts_and_signals_only_what_crosses_workers():
    # Reference rule (WEL default): no store counter for children counted where all their parents ran; a
    # child planned on a worker that already runs is signalled, not delegated (nor claimed) again.
    # c gathers a and b, all on w1: counted on w1. d gathers c (w1) and e (w2, 10 ms, done long before
    # c): both count d in the store; c's increment completes it and w2 surely runs, so c marks d ready.
    wf = workflow([("a", "c"), ("b", "c"), ("c", "d"), ("e", "d")])
    wf.task("e").runtime_ms = 10.0
    p = plan(wf, {"a": "w1", "b": "w1", "c": "w1", "d": "w2", "e": "w2"})
    sim = StoreLog(p, SIMPLE, simple_models())
    r = sim.run()
    assert sim.log == [
        ("claim", "", ("w1", "w2")),  # the client starts both root workers, once
        ("incr", "e", ("dc:d",)),
        ("incr", "c", ("dc:d",)),
        ("mark", "c", ("d",)),
    ]
    assert r.output.tasks["d"].worker_id == "w2" and sorted(r.uploaded) == ["c", "d"]


def test_warm_start_within_keep_alive_and_cold_after_it():
    def layout(wf):
        # a (10 ms) on w1 at 4096 MB ends early and leaves an idle 4096 MB container; b on w2 (2048 MB);
        # d, b's child, on w3 at 4096 MB arrives when b is done.
        return Plan(
            wf,
            {
                "a": ResourceConfig(4096, "w1"),
                "b": ResourceConfig(2048, "w2"),
                "d": ResourceConfig(4096, "w3"),
            },
            sla=MEDIAN,
        ).validate()

    wf = workflow([("b", "d")])
    wf.add_task(TaskSpec(id="a", function="a", runtime_ms=10.0, output_bytes=10))
    wf.task("b").runtime_ms = 500.0
    r = run(layout(wf))
    assert r.output.workers["w1"]["startup_state"] == "cold"
    assert r.output.workers["w3"]["startup_state"] == "warm"
    assert r.output.workers["w3"]["startup_ms"] == pytest.approx(10.0)

    wf.task("b").runtime_ms = 8000.0  # longer than the 7 s keep-alive: w1's container has expired
    r = run(layout(wf))
    assert r.output.workers["w3"]["startup_state"] == "cold"
    assert r.output.workers["w3"]["startup_ms"] == pytest.approx(100.0)


def test_the_container_cap_queues_workers_first_come_first_served():
    from sim.engine.platform import Platform

    wf = Workflow("flat")
    for i in range(30):
        wf.add_task(TaskSpec(id=f"t{i}", function="f", runtime_ms=100.0, output_bytes=10))
    capped = Platform(
        name="capped",
        store_latency_ms=1.0,
        invoke_latency_ms=10.0,
        cpu_sharing=False,
        exec_from_recorded=True,
        max_containers=10,
    )
    out = Simulation(plan(wf), capped, simple_models()).run().output
    assert out.cold_starts == 10 and out.warm_starts == 20  # 3 waves through 10 containers
    # wave 1: invoke 10 + cold 100 + 100 + upload/complete ~2; waves 2 and 3 warm: 10 + 100 + ~2 each
    assert 3 * 100 + 100 < out.makespan_ms < 3 * 100 + 100 + 3 * 20 + 20


def test_a_worker_waiting_at_the_container_cap_is_not_billed():
    # Before: cost ran from the invocation's request, so with one container the second of two parallel
    # 100 ms tasks was billed its 100 ms in the queue too (3 GB-s at 1 GB instead of 2).
    from dataclasses import replace

    from sim.compare.plan_vs_real import group_runs
    from sim.engine.platform import IDEAL

    wf = Workflow("pair")
    for t in ("a", "b"):
        wf.add_task(TaskSpec(id=t, function="f", runtime_ms=1000.0, output_bytes=10))
    one = replace(IDEAL, name="one-container", max_containers=1)
    sim = Simulation(plan(wf, memory=1024), one).run()
    out = sim.output
    assert out.makespan_ms == pytest.approx(2000.0)
    assert out.cost_gb_s == pytest.approx(2.0)  # 1 GB x 1 s each
    queued = sorted(w["queued_ms"] for w in out.workers.values())
    assert queued == pytest.approx([0.0, 1000.0])
    # the records say it as the runtime's do, and plan vs real's cost reads them the same way
    (run,) = group_runs(sim.records("r")).values()
    assert run.cost_gb_s() == pytest.approx(2.0)
