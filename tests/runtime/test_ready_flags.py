"""Readiness is persistent: a task marked ready before its worker waits for it is still run.

The reference system lost such notifications ("late root-node workers missed pub/sub events",
``reference/octoflows.md`` 9.3) and fixed it with an ``exists()`` catch-up after subscribing. Here
``MarkReady`` sets ``ready:{task}`` before publishing, and ``WaitReady`` reads that flag before it blocks on
the worker's channel. These tests drive :class:`runtime.driver.WorkerDriver` against a real Redis.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from runlib.workflows import add, leaf

from runtime.driver import InvocationMsg, RunContext, WaitTimeout, WorkerDriver, load_scripts
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.worker.effects import MarkReady, WaitReady
from sim.worker.logic import WorkerState
from sim.workflow.dag import Workflow


def fan_in_plan() -> Plan:
    """leaf-0 on w1, leaf-1 and add-0 on w2: w2 waits for add-0, which w1's worker marks ready."""
    wf = Workflow.from_nodes(add(leaf(1), leaf(2)), name="ready-flags")
    workers = {"leaf-0": "w1", "leaf-1": "w2", "add-0": "w2"}
    return Plan(wf, {t: ResourceConfig(2048, w) for t, w in workers.items()})


async def driver_for(url: str, rc: RunContext, worker: str, timeout_s: float) -> WorkerDriver:
    r = aioredis.Redis.from_url(url)
    msg = InvocationMsg(
        rc.run_id, f"w:{worker}", worker, 2048, (), time.time(), time.time(), "test", timeout_s
    )
    return WorkerDriver(rc, r, WorkerState(rc.view, worker, worker, 2048), msg, await load_scripts(r))


@pytest.mark.parametrize("marked_first", [False, True])
def test_a_task_marked_ready_before_its_worker_waits_is_not_missed(redis_server, marked_first):
    rc = RunContext(f"ready-flags-{int(marked_first)}-{time.time_ns()}", fan_in_plan(), {})
    assert rc.view.waits == {"w2": ["add-0"]}  # the wait this test is about

    # Marked: a timeout far above a loaded host's round trips, so only a missed flag can fail it.
    timeout_s = 30.0 if marked_first else 1.0

    async def scenario() -> float:
        marker = await driver_for(redis_server.url, rc, "w1", timeout_s)
        waiter = await driver_for(redis_server.url, rc, "w2", timeout_s)
        try:
            if marked_first:  # w1's worker marks add-0 ready while w2 is not subscribed to anything yet
                await marker._mark_ready(MarkReady("leaf-0", ("add-0",)))
            t0 = time.monotonic()
            await waiter._wait_ready(WaitReady("add-0"))
            return time.monotonic() - t0
        finally:
            await marker.r.delete(rc.keys.ready("add-0"))
            await marker.r.aclose()
            await waiter.r.aclose()

    if marked_first:
        assert asyncio.run(scenario()) < 10.0  # read from the flag (a missed one: WaitTimeout after 30 s)
    else:  # nobody marked it: the same wait times out, naming the task (so the wait above is real)
        with pytest.raises(WaitTimeout, match="waited 1s for task 'add-0' to become ready"):
            asyncio.run(scenario())
