"""Security: HMAC-signed payloads; a forged pickle written straight into Redis is never executed."""

from __future__ import annotations

import asyncio
import os
import pickle
import time

import pytest
import redis
import redis.asyncio as aioredis

from runtime import signing
from runtime.driver import InvocationMsg, RunContext, RunKeys


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_sign_verify_roundtrip_and_rejections():
    blob = signing.dumps({"a": 1}, "out:t:run")
    assert signing.loads(blob, "out:t:run") == {"a": 1}
    with pytest.raises(signing.SignatureError, match="mismatch"):
        signing.loads(blob, "out:other:run")  # a valid value moved to another key
    altered = bytearray(blob)
    altered[-1] ^= 1
    with pytest.raises(signing.SignatureError, match="mismatch"):
        signing.loads(bytes(altered), "out:t:run")
    with pytest.raises(signing.SignatureError, match="not a signed"):
        signing.loads(pickle.dumps({"a": 1}), "out:t:run")
    with pytest.raises(signing.SignatureError, match="mismatch"):
        signing.loads(signing.dumps(1, "x", key=b"k" * 32), "x")  # another deployment's key


def test_forged_pickle_in_redis_is_not_executed(redis_server, tmp_path):
    """A forged plan (whose unpickling would create a file) and a forged output, written into Redis."""
    target = tmp_path / "pwned"
    run_id = "forged1"
    keys = RunKeys(run_id)
    r = redis.Redis.from_url(redis_server.url)
    evil = pickle.dumps(_Evil(str(target)))
    r.set(keys.plan, evil)
    r.set(keys.k("out:t"), signing.MAGIC + b"\0" * signing.TAG_LEN + evil)  # fake tag
    try:
        with pytest.raises(signing.SignatureError):
            RunContext.load(run_id, r.get(keys.plan))
        with pytest.raises(signing.SignatureError):
            signing.loads(r.get(keys.k("out:t")), f"out:t:{run_id}")
        # A validly signed invocation makes a worker load the (forged) plan: it refuses.
        from runtime.docker_worker.__main__ import run_invocation

        msg = InvocationMsg(run_id, "f:t", None, 2048, ("t",), time.time(), time.time(), "test", 10)

        async def go():
            client = aioredis.Redis.from_url(redis_server.url)
            try:
                await run_invocation(msg.encode(), client)
            finally:
                await client.aclose()

        with pytest.raises(signing.SignatureError):
            asyncio.run(go())
        assert not target.exists()
    finally:
        r.delete(keys.plan, keys.k("out:t"), keys.hb("f:t"), keys.flexseq)


def test_forged_job_is_rejected_by_a_worker(redis_server, tmp_path):
    """A forged job pushed onto a real worker's job list: the worker reports a signature error, runs nothing."""
    from runtime.client import make_launcher

    target = tmp_path / "pwned2"
    launcher = make_launcher("process", redis_server.url)
    try:
        evil = pickle.dumps(_Evil(str(target)))
        handle = launcher.submit(2048, evil)
        rec = handle.wait(60)
        assert not rec.ok and "SignatureError" in (rec.error or "")
        # A job signed with the right format but another key is rejected too.
        forged = InvocationMsg("x", "f:t", None, 2048, ("t",), 0, 0, "x", 1).encode()
        tampered = signing.sign(forged[signing.HEADER :], b"invocation", key=os.urandom(32))
        rec = launcher.submit(2048, tampered).wait(60)
        assert not rec.ok and "signature mismatch" in (rec.error or "")
        assert not target.exists()
    finally:
        launcher.close()


def test_redis_url_requires_a_password(redis_server):
    anonymous = f"redis://127.0.0.1:{redis_server.port}/0"
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(anonymous).set("plansim:probe", "1")
