"""The worker entrypoint (``python -m runtime.docker_worker``): serve invocations of the shared worker logic.

Each job is one signed invocation (:class:`runtime.driver.InvocationMsg`): run id, planned worker id or
None (flexible), memory, first tasks. The handler runs ``start_worker_lifecycle`` for it through the
asyncio driver (:class:`runtime.driver.WorkerDriver`) on an event loop that lives as long as the process,
so a warm worker keeps its Redis connections and its cached plan (per run id) between jobs. An
invocation that carries its plan fragment (optimization ``inline-plan``) starts without fetching the plan
(unless the whole plan is cached here already); the fragment is used for that invocation only (it is not
the whole plan, so it is not cached).

While an invocation runs, a heartbeat ``hb:{invocation}`` (expires after 3 s, refreshed every second)
tells the client the worker is alive, and the run's ``stop`` flag is polled: the client sets it when a
task failed or the run is abandoned, and every worker then ends its lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from runtime import signing
from runtime.docker_worker import protocol as p
from runtime.docker_worker.entry import current_job, serve
from runtime.driver import (
    InvocationMsg,
    RunContext,
    RunKeys,
    Stopped,
    WorkerDriver,
    _TaskRaised,
    load_scripts,
    report_error,
)
from sim.worker.logic import WorkerState, start_worker_lifecycle

HEARTBEAT_S = 1.0
HEARTBEAT_TTL_S = 3
CACHED_RUNS = 4

_loop: asyncio.AbstractEventLoop | None = None
_redis: aioredis.Redis | None = None
_scripts: dict[str, str] | None = None
_contexts: OrderedDict[str, RunContext] = OrderedDict()


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        _loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="plansim-task"))
    return _loop


async def _get_redis() -> tuple[aioredis.Redis, dict[str, str]]:
    global _redis, _scripts
    if _redis is None:
        url = os.environ[p.ENV_REDIS_URL]
        # Blocking pool: a worker with many concurrent branches waits for a connection instead of failing.
        # Transient connect/read timeouts (an overloaded host) are retried with backoff, not fatal.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=48,
            timeout=60,
            socket_connect_timeout=20,
            socket_timeout=60,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), 5),
        )
        _redis = aioredis.Redis(connection_pool=pool)
    if _scripts is None:
        _scripts = await load_scripts(_redis)
    return _redis, _scripts


def handler(payload: bytes) -> bytes | None:
    """The serve loop's handler: one invocation, start to end."""
    return _get_loop().run_until_complete(run_invocation(payload))


async def run_invocation(payload: bytes, redis_client: aioredis.Redis | None = None) -> bytes:
    msg = InvocationMsg.decode(payload)  # SignatureError for a forged or altered job: nothing runs
    if redis_client is not None:
        r, scripts = redis_client, await load_scripts(redis_client)
    else:
        r, scripts = await _get_redis()
    keys = RunKeys(msg.run_id)
    rc = _contexts.get(msg.run_id)  # the whole plan, cached by this warm worker: nothing to load
    inline = RunContext.load_fragment(msg.run_id, msg.plan) if msg.plan and rc is None else None
    rc = inline if inline is not None else rc
    plan_source = "inline" if inline is not None else "cached" if rc is not None else "fetched"
    async with r.pipeline(transaction=False) as pipe:
        pipe.set(keys.hb(msg.inv_id), b"1", ex=HEARTBEAT_TTL_S)
        pipe.exists(keys.stop)
        if msg.worker_id is None:
            pipe.incr(keys.flexseq)
        if rc is None:
            pipe.get(keys.plan)
        res = await pipe.execute()
    if res[1]:
        return b"stopped"
    name = msg.worker_id if msg.worker_id is not None else f"flex-{res[2]}"
    if rc is None:
        rc = await asyncio.to_thread(RunContext.load, msg.run_id, res[-1])
        _contexts[msg.run_id] = rc
        while len(_contexts) > CACHED_RUNS:
            _contexts.popitem(last=False)
    elif inline is None:
        _contexts.move_to_end(msg.run_id)
    ws = WorkerState(rc.view, msg.worker_id, name, msg.memory_mb)
    driver = WorkerDriver(rc, r, ws, msg, scripts)
    if msg.carried:  # carry-inputs: parent outputs that came inside the invocation (signed with it)
        driver.values.update(msg.carried_values())
        driver.sizes.update({k: len(v) for k, v in msg.carried.items()})

    pubsub = None
    listener = None
    if msg.worker_id is not None and rc.view.waits.get(msg.worker_id):
        pubsub = r.pubsub()
        await pubsub.subscribe(keys.ready_channel(msg.worker_id))
        listener = asyncio.ensure_future(_listen(pubsub, driver))

    started = time.time()
    header = current_job()
    state = header.state if header is not None else "warm"
    driver.worker_record(
        state,
        (started - msg.requested_at) * 1000.0,
        header.startup_ms if header is not None else 0.0,
        (started - msg.t0) * 1000.0,
        plan_source,
        float(header.extra.get("queued_ms", 0.0)) if header is not None else 0.0,
    )
    main = asyncio.ensure_future(
        driver.execute_branch(start_worker_lifecycle(ws, msg.tasks, tuple(msg.carried)))
    )
    beat = asyncio.ensure_future(_heartbeat(r, keys, msg.inv_id, main))
    outcome = "ok"
    try:
        await main
    except _TaskRaised as exc:
        outcome = "task-error"
        await report_error(r, keys, exc.task, name, exc.tb, "task")
    except (asyncio.CancelledError, Stopped):
        outcome = "stopped"
    except Exception:  # noqa: BLE001 - reported to the client, then the job ends
        outcome = "worker-error"
        await report_error(r, keys, None, name, traceback.format_exc(), "worker")
    finally:
        for t in list(driver.spawned):
            t.cancel()
        beat.cancel()
        if listener is not None:
            listener.cancel()
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:  # noqa: BLE001
                pass
    try:
        async with r.pipeline(transaction=False) as pipe:
            driver._progress(pipe)
            if driver.records:
                pipe.rpush(keys.records, *[json.dumps(x, separators=(",", ":")) for x in driver.records])
            pipe.sadd(keys.inv_done, msg.inv_id)
            pipe.delete(keys.hb(msg.inv_id))
            await pipe.execute()
    except Exception:  # noqa: BLE001 - the run is gone or Redis is down; nothing left to tell
        if outcome == "ok":
            raise
    if outcome == "worker-error":
        raise RuntimeError(f"invocation {msg.inv_id} of run {msg.run_id} failed (reported to the client)")
    return outcome.encode()


async def _listen(pubsub: Any, driver: WorkerDriver) -> None:
    while True:
        m = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if m is not None and m.get("type") == "message":
            data = m["data"]
            driver.on_ready_message(data.decode() if isinstance(data, bytes) else str(data))


async def _heartbeat(r: aioredis.Redis, keys: RunKeys, inv_id: str, main: asyncio.Future) -> None:
    while not main.done():
        await asyncio.sleep(HEARTBEAT_S)
        try:
            async with r.pipeline(transaction=False) as pipe:
                pipe.set(keys.hb(inv_id), b"1", ex=HEARTBEAT_TTL_S)
                pipe.exists(keys.stop)
                _, stop = await pipe.execute()
        except Exception:  # noqa: BLE001 - Redis gone: the run cannot go on
            main.cancel()
            return
        if stop:
            main.cancel()
            return


def main() -> int:
    if not os.environ.get(signing.ENV_KEY):
        raise SystemExit(
            "plansim worker: PLANSIM_HMAC_KEY is not set (workers are started by a plansim launcher)"
        )
    signing.get_key()  # fail at start, not at the first job, when the key is malformed
    return serve(handler)


if __name__ == "__main__":
    sys.exit(main())
