"""sim.processes.process_pool: a pool whose block raises stops at once, its processes gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from sim.processes import process_gone, process_pool
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


def _started_then_sleep(flag: str) -> None:
    Path(flag).touch()
    time.sleep(60)


def _exit_143(signum: int, frame: object) -> None:
    raise SystemExit(143)  # what sim.cli.exit_on_sigterm installs in plansim's main thread


@pytest.fixture
def cli_sigterm_handler():
    """The SIGTERM handler plansim's CLI has while a command runs (pool processes fork with it)."""
    previous = signal.signal(signal.SIGTERM, _exit_143)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_pool_process_ends_on_sigterm_under_the_clis_handler(tmp_path, cli_sigterm_handler):
    # Before: the forked process's inherited handler raised SystemExit inside the task, which the pool's
    # worker loop caught as the task's result: `kill PID` did not end it (and then SIGTERM was ignored).
    flag = tmp_path / "started"
    with process_pool(1) as pool:
        future = pool.submit(_started_then_sleep, str(flag))
        wait_for(flag.exists, 30, "the task to start")
        (process,) = pool._processes.values()
        os.kill(process.pid, signal.SIGTERM)
        process.join(timeout=20)
        assert process.exitcode == -signal.SIGTERM
        assert isinstance(future.exception(timeout=20), BrokenProcessPool)


CALLER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from sim.processes import process_pool
from tests.sim.test_processes import _exit_143, _started_then_sleep
import signal
signal.signal(signal.SIGTERM, _exit_143)
with process_pool(1) as pool:
    pool.submit(_started_then_sleep, sys.argv[2])
    print(list(pool._processes)[0], flush=True)
    time.sleep(60)
"""


def test_a_pool_process_ends_with_its_killed_caller(tmp_path):
    # Before: a sweep killed outright (SIGKILL: no clean-up) left its pool processes running their
    # task, then blocked forever writing the result to a pipe nobody reads.
    flag = tmp_path / "started"
    root = str(Path(__file__).resolve().parents[2])
    caller = subprocess.Popen(
        [sys.executable, "-c", CALLER, root, str(flag)], stdout=subprocess.PIPE, text=True
    )
    pid = None
    try:
        pid = int(caller.stdout.readline())
        wait_for(flag.exists, 30, "the task to start")
        caller.kill()
        caller.wait(timeout=20)
        wait_for(lambda: process_gone(pid), 20, f"pool process {pid} to end with its caller")
    finally:
        if pid is not None and not process_gone(pid):
            os.kill(pid, signal.SIGKILL)  # (it holds the caller's stdout open)
        caller.kill()
        caller.stdout.close()
        caller.wait(timeout=20)
