"""The launcher <-> worker wire protocol, and the serve loop run in-process against a real Redis."""

from __future__ import annotations

import threading

import pytest
import redis

from runtime.docker_worker import entry
from runtime.docker_worker import protocol as p
from runtime.services import RedisServer


def test_job_envelope_roundtrip_keeps_binary_payload() -> None:
    header = p.JobHeader("j1", "w1", "warm", 1.5, 123.0, {"k": 1})
    payload = bytes(range(256)) * 3
    got_header, got_payload = p.decode_job(p.encode_job(header, payload))
    assert got_header == header and got_payload == payload


@pytest.mark.parametrize("data", [b"", b"PLJ1", b"garbage", p.STOP])
def test_decode_rejects_non_envelopes(data: bytes) -> None:
    with pytest.raises(ValueError):
        p.decode_job(data)


def test_keys_are_namespaced_by_run() -> None:
    for key in (p.jobs_key("r1", "w"), p.ready_key("r1"), p.done_key("r1"), p.invoke_key("r1")):
        assert key.startswith(p.run_prefix("r1"))


def test_serve_runs_handler_reports_and_stops(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    seen: list[bytes] = []

    def handler(payload: bytes) -> bytes:
        job = entry.current_job()
        assert job is not None and job.worker_id == "w9"
        seen.append(payload)
        if payload == b"bad":
            raise KeyError("nope")
        return payload.upper()

    rc: list[int] = []
    thread = threading.Thread(
        target=lambda: rc.append(
            entry.serve(handler, redis_url=redis_server.url, run_id="t-serve", worker_id="w9")
        )
    )
    thread.start()
    ready = client.blpop([p.ready_key("t-serve")], timeout=10)
    assert ready is not None and p.ReadyRecord.decode(ready[1]).worker_id == "w9"
    for job_id, payload in (("a", b"hello"), ("b", b"bad")):
        client.rpush(
            p.jobs_key("t-serve", "w9"), p.encode_job(p.JobHeader(job_id, "w9", "cold", 0.0, 0.0), payload)
        )
    client.rpush(p.jobs_key("t-serve", "w9"), b"malformed")  # dropped, loop keeps going
    client.rpush(p.jobs_key("t-serve", "w9"), p.STOP)
    thread.join(timeout=10)
    assert rc == [0] and seen == [b"hello", b"bad"]
    records = [p.DoneRecord.decode(raw) for raw in client.lrange(p.done_key("t-serve"), 0, -1)]
    assert [(r.job_id, r.ok) for r in records] == [("a", True), ("b", False)]
    assert records[0].result == b"HELLO"
    assert records[1].error is not None and "KeyError: 'nope'" in records[1].error
    assert entry.current_job() is None
    client.delete(p.done_key("t-serve"))


def test_serve_exits_after_max_idle(redis_server: RedisServer) -> None:
    rc = entry.serve(
        lambda b: b, redis_url=redis_server.url, run_id="t-idle", worker_id="w", max_idle_s=0.3, poll_s=0.1
    )
    assert rc == 0
    redis.Redis.from_url(redis_server.url).delete(p.ready_key("t-idle"))
