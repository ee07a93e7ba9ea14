"""Output streaming for real: a running consumer reads a large output while its producer writes it.

The plan puts the producer ``payload-0`` on worker w2 and its consumer ``digest-0`` on w1, which already
runs (its other parent ``leaf-0`` ran there), so with ``streaming`` the logic tells w1 before the upload
ends. The proof of overlap is in the task records: the consumer read its first chunk, and more after it,
before the producer's upload ended. A second consumer ``digest-1`` on w3, which is not running yet, is
started after the upload and reads the stored output as usual.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import redis
from runlib.workflows import digest, leaf, payload

from runtime.client import run_workflow
from runtime.driver import InvocationMsg, RunContext, RunKeys, WorkerDriver, load_scripts
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.worker.effects import STREAM_CHUNK_BYTES, Cleanup
from sim.worker.logic import WorkerState
from sim.workflow.dag import Workflow

MB = 1 << 20
WORKERS = {"leaf-0": "w1", "payload-0": "w2", "digest-0": "w1", "digest-1": "w3"}


def streamed_plan(nbytes: int, opts: tuple[str, ...] = ("streaming",), late_consumer: bool = False) -> Plan:
    p = payload(nbytes)
    sinks = [digest(leaf(7), p)] + ([digest(8, p)] if late_consumer else [])
    wf = Workflow.from_nodes(*sinks, name="streamed")
    return Plan(wf, {t: ResourceConfig(2048, WORKERS[t]) for t in wf.graph}, optimizations=frozenset(opts))


def expected(a: int, nbytes: int) -> tuple[int, int, str]:
    return a, nbytes, hashlib.sha256(payload.fn(nbytes)).hexdigest()


def run(redis_server, plan: Plan):
    rep = run_workflow(
        plan.workflow, plan=plan, launcher="process", redis_url=redis_server.url, timeout_s=120
    )
    return rep, {r.task_id: r for r in rep.task_records}


@pytest.mark.parametrize("nbytes", [20 * MB + 5])
def test_a_running_consumer_downloads_while_the_producer_uploads(redis_server, nbytes):
    # The overlap needs w1 up (its leaf-0 done) before w2's upload starts. Both workers start cold at
    # once, and on a loaded host w1's start can take longer than w2 needs to make and upload 20 MB;
    # then w1 correctly reads the stored output, and there is no overlap to check: run again (at most 3).
    for _ in range(3):
        rep, recs = run(redis_server, streamed_plan(nbytes))
        assert rep.results["digest-0"] == expected(7, nbytes)
        producer, consumer = recs["payload-0"], recs["digest-0"]
        assert producer.upload is not None and producer.upload.bytes >= nbytes
        upload_start, upload_end = producer.extra["upload_start_ms"], producer.end_ms
        if recs["leaf-0"].end_ms < upload_start:
            break
    else:
        pytest.fail(
            f"w1 was never running before the upload started (3 runs; last: leaf-0 ended at "
            f"{recs['leaf-0'].end_ms:.0f} ms, upload started at {upload_start:.0f} ms)"
        )
    first_chunk = consumer.extra["stream_first_chunk_ms"]
    assert upload_start <= first_chunk < upload_end  # the download overlaps the upload
    assert consumer.extra["download_start_ms"] < upload_end
    assert consumer.extra["stream_reads"] >= 1
    assert rep.keys_left == 0


def test_a_consumer_that_starts_late_reads_the_stored_output(redis_server):
    nbytes = 6 * MB
    rep, recs = run(redis_server, streamed_plan(nbytes, ("streaming", "cleanup"), late_consumer=True))
    assert rep.results == {"digest-0": expected(7, nbytes), "digest-1": expected(8, nbytes)}
    producer, late = recs["payload-0"], recs["digest-1"]
    assert "upload_start_ms" in producer.extra  # streamed, for the running consumer digest-0
    # w3 was invoked only after the upload ended (fallback): one plain read of the stored output.
    assert late.worker_id == "w3" and late.start_ms >= producer.end_ms
    assert not any(k.startswith("stream_") for k in late.extra)
    assert len(late.downloads) == 1 and late.downloads[0].bytes >= nbytes
    assert rep.keys_left == 0


def test_without_streaming_the_consumer_reads_after_the_upload(redis_server):
    nbytes = 6 * MB
    rep, recs = run(redis_server, streamed_plan(nbytes, ()))
    assert rep.results["digest-0"] == expected(7, nbytes)
    producer, consumer = recs["payload-0"], recs["digest-0"]
    assert "upload_start_ms" not in producer.extra and "stream_first_chunk_ms" not in consumer.extra
    assert consumer.start_ms >= producer.end_ms


def test_cleanup_removes_chunks_of_an_unfinished_streamed_output(redis_server):
    """A streamed output whose writer died leaves ``part:{task}``: the cleanup of the run removes it, with
    every other intermediate key (the reference's cleanup missed its uploaded arguments and deleted its
    counters from the wrong store, ``reference/octoflows.md`` 9.4 #2)."""
    plan = streamed_plan(2 * MB)
    run_id = "stream-cleanup-test"
    keys = RunKeys(run_id)
    r = redis.Redis.from_url(redis_server.url)
    r.set(keys.part("payload-0"), b"x" * STREAM_CHUNK_BYTES)
    r.set(keys.k("out:leaf-0"), b"1")
    for rel in ("data:data-0", "in:leaf-0", "own:digest-0", "ready:digest-0", "width:x", "item:leaf-0#0"):
        r.set(keys.k(rel), b"1")
    r.sadd(keys.k("dc:digest-0"), "leaf-0")
    r.set(keys.k("out:digest-0"), b"sink")
    r.sadd(keys.k("sinks-done"), "digest-0")

    async def cleanup() -> None:
        import redis.asyncio as aioredis

        ar = aioredis.Redis.from_url(redis_server.url)
        rc = RunContext(run_id, plan, {})
        msg = InvocationMsg(run_id, "w:w1", "w1", 2048, ("digest-0",), 0.0, 0.0, "test", 10.0)
        driver = WorkerDriver(rc, ar, WorkerState(rc.view, "w1", "w1", 2048), msg, await load_scripts(ar))
        await driver._cleanup(Cleanup("digest-0"))
        await ar.aclose()

    asyncio.run(cleanup())
    left = sorted(k.decode() for k in r.scan_iter(match=keys.prefix + "*"))
    r.delete(keys.k("out:digest-0"), keys.k("sinks-done"))
    r.close()
    assert left == [keys.k("out:digest-0"), keys.k("sinks-done")]  # the sink's output: the client reads it
