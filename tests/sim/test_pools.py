"""sim.pools.process_pool: a pool whose block raises stops at once, its processes gone."""

from __future__ import annotations

import time

import pytest

from sim.pools import process_pool
from tests.procs import wait_for


def test_a_raising_block_kills_the_pool_instead_of_running_its_queue():
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="stop"):
        with process_pool(2) as pool:
            futures = [pool.submit(time.sleep, 30) for _ in range(6)]  # 90 s of queued work on 2 processes
            wait_for(lambda: sum(f.running() for f in futures) >= 2, 30, "both processes to start")
            processes = list(pool._processes.values())
            raise RuntimeError("stop")
    assert time.monotonic() - t0 < 20  # a plain ProcessPoolExecutor waits 90 s here
    assert processes and not any(p.is_alive() for p in processes)
    assert all(f.done() and (f.cancelled() or f.exception() is not None) for f in futures)  # none ran on


def test_a_block_that_ends_normally_gets_every_result():
    with process_pool(2) as pool:
        assert list(pool.map(abs, range(-5, 5))) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
