"""Seed a Redis server with the keys of a run in progress, exactly as the runtime names them
(runtime.driver.RunKeys), for the live page's tests."""

from __future__ import annotations

import json

import redis

from runtime import signing
from runtime.driver import RunKeys
from sim.engine.whatif import what_if
from sim.models.records import TaskRecord, WorkerRecord, to_dict
from sim.workflow.library import load_workflow

RUN = "rlive1"
WORKFLOW = "fixed_times:chains=2,sleep_s=0.05"  # sleep_task-0 -> sleep_task-1 -> join-0 <- sleep_task-2


def seed(url: str, key: bytes, run_id: str = RUN) -> None:
    """sleep_task-0 finished (its record is in), sleep_task-1 is owned and started (running), sleep_task-2 finished
    without a record yet (it is in join-0's completed-parents set), join-0 waits."""
    wf = load_workflow(WORKFLOW)
    plan = what_if(wf, "uniform", [2048]).plan
    k = RunKeys(run_id)
    r = redis.Redis.from_url(url)
    meta = {"workflow_type": "T", "timeout_s": 60, "workflow": wf.name}
    r.set(k.plan, signing.dumps({"plan": plan, "meta": meta}, f"plan:{run_id}", key=key))
    rec = TaskRecord(
        run_id=run_id,
        workflow_type="T",
        planner="uniform",
        function="sleep_task",
        task_id="sleep_task-0",
        worker_id="w1",
        memory_mb=2048,
        cpus=1.14,
        input_bytes=18,
        output_bytes=5,
        exec_ms=50.0,
        start_ms=10.0,
        end_ms=60.0,
        extra={"source": "real"},
    )
    wrk = WorkerRecord(run_id=run_id, worker_id="w1", memory_mb=2048, state="cold", startup_ms=900.0)
    r.rpush(k.records, json.dumps(to_dict(rec)), json.dumps(to_dict(wrk)))
    r.set(k.own("sleep_task-1"), "w:w1")
    r.set(k.started("sleep_task-1"), 61.0)
    r.sadd(k.k("dc:join-0"), "sleep_task-2")
    r.set(k.progress, 2)
    r.rpush(k.k("log:sleep_task-0"), "sleeping 0.05 s", "done")
    r.close()
