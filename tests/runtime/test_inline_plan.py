"""inline-plan in the runtime: a small plan fragment travels inside the invocation.

* the fragment a worker gets answers every question the logic asks about the tasks it may run exactly as
  the whole plan does, and the fragments it computes for the workers it invokes are the same as those
  computed from the whole plan (closure), on random plans;
* a flexible tree (many small workers): every worker starts with its fragment inline, never fetching
  the plan, and makes the simulator's decisions;
* a fragment above the threshold: the worker fetches the plan as without the optimization, same result.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from runlib.workflows import tree

from runtime.client import run_workflow
from runtime.driver import RunContext
from sim.engine.simulator import simulate
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.planners import get_planner
from sim.planners.optimizations import dup_candidates
from sim.worker import logic
from tests.sim.test_conservation import random_dag, random_plan


def _with_inline(p: Plan, *more: str) -> Plan:
    return dataclasses.replace(p, optimizations=frozenset({logic.INLINE_PLAN, *more}))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40))
def test_a_fragment_gives_the_whole_plans_answers(seed, n):
    p = random_plan(random_dag(seed, n), seed)
    p = dataclasses.replace(
        _with_inline(p, logic.TASK_DUP), annotations={"task_dup": tuple(dup_candidates(p)[:3])}
    )
    full = RunContext("frag", p, {"workflow_type": "x"})
    v = full.view
    invocations = simulate(p).invocations
    assert invocations
    for inv in invocations:
        if inv.fragment is None:
            continue
        sub = RunContext.load_fragment("frag", full.dump_fragment(inv.fragment))
        f = sub.view
        runs, workers = logic.fragment_runs(v, inv.worker_id, inv.tasks)
        assert f.n_sinks == len(v.sinks) and sub.meta == full.meta
        for w in workers:
            assert sorted(f.tasks_of[w]) == sorted(v.tasks_of[w]) and f.waits.get(w) == v.waits.get(w)
            assert f.dups.get(w) == v.dups.get(w)
        for t in runs:
            # In order: the logic breaks ties by it (which flexible child continues here).
            assert f.parents[t] == v.parents[t] and f.children[t] == v.children[t]
            assert (f.worker[t], f.memory[t], f.output_bytes[t]) == (
                v.worker[t],
                v.memory[t],
                v.output_bytes[t],
            )
            assert (t in f.sinks) == (t in v.sinks) and (t in f.counted_locally) == (t in v.counted_locally)
            for me in {None, v.worker[t]}:
                assert f.needs_upload(t, me) == v.needs_upload(t, me)
            # Whatever this worker invokes gets the fragment the whole plan would give it (closure).
            assert logic.plan_fragment(f, v.worker[t], (t,)) == logic.plan_fragment(v, v.worker[t], (t,))


def _plan_sources(rep) -> list[str]:
    return [r.extra["plan"] for r in rep.records if r.kind == "worker"]


def test_many_small_workers_start_with_their_fragment(redis_server):
    wf = tree(64)  # 127 tasks, above the threshold: only fragments can travel inline
    assert len(wf) > logic.INLINE_PLAN_MAX_TASKS
    plan = _with_inline(get_planner("wukong").plan(wf), logic.CLEANUP)
    sim = simulate(plan)
    assert all(inv.fragment is not None for inv in sim.invocations)
    rep = run_workflow(wf, plan=plan, redis_url=redis_server.url, timeout_s=120)
    assert rep.result == sum(range(64))
    assert _plan_sources(rep) and set(_plan_sources(rep)) == {"inline"}  # no worker fetched the plan
    assert rep.uploaded() == set(sim.uploaded) and len(rep.invoked) == len(sim.invocations)
    assert rep.keys_left == 0
    plain = run_workflow(
        wf,
        plan=dataclasses.replace(plan, optimizations=frozenset()),
        redis_url=redis_server.url,
        timeout_s=120,
    )
    assert plain.result == rep.result and "inline" not in _plan_sources(plain)


def test_a_fragment_above_the_threshold_is_fetched(redis_server):
    wf = tree(64)
    one_worker = Plan(wf, {t: ResourceConfig(1024, "w1") for t in wf.graph}, planner="manual")
    plan = _with_inline(one_worker)
    assert [inv.fragment for inv in simulate(plan).invocations] == [None]
    rep = run_workflow(wf, plan=plan, redis_url=redis_server.url, timeout_s=120)
    base = run_workflow(wf, plan=one_worker, redis_url=redis_server.url, timeout_s=120)
    assert rep.result == base.result == sum(range(64))
    assert _plan_sources(rep) == _plan_sources(base) == ["fetched"]
    assert rep.uploaded() == base.uploaded() and rep.keys_left == 0


def test_a_fragment_travels_as_it_is_and_its_functions_load_once():
    """The invocation carries the fragment's bytes (no base64, no JSON escaping), and a warm worker that
    loads several fragments of one run unpickles each function once (fragments are made and read at
    every start: their cost decides whether inline-plan helps)."""
    from runtime.driver import InvocationMsg

    wf = tree(16)
    plan = _with_inline(get_planner("wukong").plan(wf))
    rc = RunContext("frag", plan, {"workflow_type": "x"})
    frags = [inv.fragment for inv in simulate(plan).invocations if inv.fragment is not None]
    blobs = [rc.dump_fragment(f) for f in frags[:2]]
    msg = InvocationMsg("frag", "f:leaf-0", None, 1024, ("leaf-0",), 0.0, 0.0, "test", 10.0, plan=blobs[0])
    wire = msg.encode()
    assert len(wire) < len(blobs[0]) + 400 and blobs[0] in wire
    assert InvocationMsg.decode(wire).plan == blobs[0]
    a, b = (RunContext.load_fragment("frag", x) for x in blobs)
    assert a.specs["add-0"].call.fn is b.specs["add-0"].call.fn
    assert sorted(a.wf.graph) == sorted(frags[0]) and a.view.n_sinks == 1
