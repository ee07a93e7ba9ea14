"""Faults: a task that raises, a worker killed mid-run, Redis unreachable or stopped, timeouts."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import redis
from runlib.workflows import add, boom, die_once, leaf, sleepy, total

from runtime.client import RedisUnavailable, RunError, TaskFailed, WaitTimeout, run_workflow
from runtime.launchers.process_launcher import ProcessLauncher
from runtime.services import RedisServer, free_port
from sim.workflow.dag import Workflow


def _keys(url: str, run_id: str) -> list[bytes]:
    return list(redis.Redis.from_url(url).scan_iter(match=f"plansim:{run_id}:*"))


def _placed(wf: Workflow, workers: dict[str, str]):  # noqa: ANN202 - (ids, Plan)
    """A manual plan: each task on the worker named for its function (2048 MB); also the task ids by
    function."""
    from sim.models.plan import Plan
    from sim.models.resources import ResourceConfig

    ids = {t.rsplit("-", 1)[0]: t for t in wf.graph}
    configs = {ids[fn]: ResourceConfig(2048, w) for fn, w in workers.items()}
    return ids, Plan(wf, configs, "manual").validate()


def _failing() -> Workflow:
    xs = [leaf(i) for i in range(4)]
    return Workflow.from_nodes(add(add(xs[0], xs[1]), add(boom(xs[2]), sleepy(xs[3], 30))), name="failing")


@pytest.mark.parametrize("planner", ["wukong", "uniform"])
def test_task_error_names_the_task_with_remote_traceback(redis_server, planner):
    t = time.monotonic()
    with pytest.raises(TaskFailed) as info:
        run_workflow(
            _failing(),
            planner=planner,
            redis_url=redis_server.url,
            timeout_s=120,
            run_id=f"fail{planner[:3]}",
        )
    elapsed = time.monotonic() - t
    assert info.value.task == "boom-0"
    assert "ValueError: boom on 2" in info.value.remote_traceback
    assert "in boom" in info.value.remote_traceback
    assert elapsed < 20  # not the 30 s sleep of the other branch: every worker was stopped
    assert _keys(redis_server.url, f"fail{planner[:3]}") == []


def _dying(marker: str) -> Workflow:
    xs = [leaf(i) for i in range(6)]
    mid = die_once(add(xs[0], xs[1]), marker)
    return Workflow.from_nodes(total(mid, add(xs[2], xs[3]), add(xs[4], xs[5])), name="dying")


@pytest.mark.parametrize("planner", ["wukong", "uniform", "non-uniform"])
def test_killed_worker_is_rerun_and_result_correct(redis_server, tmp_path, planner):
    marker = str(tmp_path / "died")
    rep = run_workflow(_dying(marker), planner=planner, redis_url=redis_server.url, timeout_s=120)
    assert rep.result == 15
    assert rep.reruns == 1
    assert rep.keys_left == 0 and _keys(redis_server.url, rep.run_id) == []
    # No task ran twice except on the re-run of the dead invocation.
    first = [r.task_id for r in rep.task_records if r.extra.get("attempt", 0) == 0]
    assert len(first) == len(set(first))
    assert sorted({r.task_id for r in rep.task_records}) == sorted(rep.plan.workflow.graph)


def test_redis_unreachable_is_a_clear_error():
    url = f"redis://:x@127.0.0.1:{free_port()}/0"
    t = time.monotonic()
    with pytest.raises(RedisUnavailable, match="not reachable"):
        run_workflow(Workflow.from_nodes(add(leaf(1), leaf(2))), redis_url=url, timeout_s=30)
    assert time.monotonic() - t < 10


def test_wrong_password_is_a_clear_error(redis_server):
    bad = redis_server.url.replace(redis_server.password, "wrong")
    with pytest.raises(RedisUnavailable):
        run_workflow(Workflow.from_nodes(add(leaf(1), leaf(2))), redis_url=bad, timeout_s=30)


def test_redis_stopped_mid_run_is_a_clear_error_not_a_hang():
    server = RedisServer().start()
    try:
        wf = Workflow.from_nodes(add(sleepy(leaf(1), 8), leaf(2)), name="stopped")
        timer = threading.Timer(4.0, server.stop)
        timer.start()
        t = time.monotonic()
        with pytest.raises(RedisUnavailable, match="unreachable"):
            run_workflow(wf, planner="wukong", redis_url=server.url, timeout_s=60)
        assert time.monotonic() - t < 30
        timer.join()
    finally:
        server.stop()


def test_timeout_names_what_was_awaited(redis_server):
    wf = Workflow.from_nodes(add(sleepy(leaf(1), 20), leaf(2)), name="slow")
    with pytest.raises(WaitTimeout, match=r"add-0.*tasks done") as info:
        run_workflow(wf, planner="wukong", redis_url=redis_server.url, timeout_s=3, run_id="slowrun")
    assert "3s" in str(info.value)
    assert _keys(redis_server.url, "slowrun") == []


def test_redis_restarted_mid_run_is_a_clear_error():
    server = RedisServer().start()
    port, password = server.port, server.password
    restarted: list[RedisServer] = []

    def restart() -> None:
        server.stop()
        restarted.append(RedisServer(password=password, port=port).start())

    try:
        wf = Workflow.from_nodes(add(sleepy(leaf(1), 8), leaf(2)), name="restarted")
        timer = threading.Timer(4.0, restart)
        timer.start()
        t = time.monotonic()
        with pytest.raises(RedisUnavailable):
            run_workflow(wf, planner="wukong", redis_url=server.url, timeout_s=60)
        assert time.monotonic() - t < 30
        timer.join()
    finally:
        server.stop()
        for s in restarted:
            s.stop()


def test_silent_worker_is_stopped_and_rerun(redis_server, tmp_path):
    """A worker that stops answering (SIGSTOP: its process is alive, its heartbeat is not) is stopped
    after the heartbeat timeout and its invocation re-run; the result is right."""
    from runlib.workflows import freeze_once

    marker = str(tmp_path / "frozen")
    xs = [leaf(i) for i in range(4)]
    wf = Workflow.from_nodes(total(freeze_once(add(xs[0], xs[1]), marker), add(xs[2], xs[3])), name="frozen")
    t = time.monotonic()
    rep = run_workflow(
        wf, planner="uniform", redis_url=redis_server.url, timeout_s=120, heartbeat_timeout_s=3
    )
    assert rep.result == 6
    assert rep.reruns == 1
    assert time.monotonic() - t < 60
    assert rep.keys_left == 0


def test_rerun_waits_for_its_own_local_outputs(redis_server, tmp_path):
    """Worker W dies while running a task whose ready flag was already set (its other parent ran on X).
    The re-run of W must recompute W's local parent output (never stored) before running the task again."""
    from runlib.workflows import die_once_add, slow_add

    marker = str(tmp_path / "died")
    a = slow_add(0, 1, 1.0)  # on W: slow enough that the re-run sees the ready flag before it is done
    b = sleepy(2, 0.5)  # on X
    c = die_once_add(a, b, marker)  # on W
    wf = Workflow.from_nodes(c, name="local-parent")
    ids, plan = _placed(wf, {"slow_add": "W", "sleepy": "X", "die_once_add": "W"})
    rep = run_workflow(wf, plan=plan, redis_url=redis_server.url, timeout_s=120)
    assert rep.result == 3
    assert rep.reruns == 1
    assert rep.task_workers() == {t: c.worker_id for t, c in plan.configs.items()}
    assert ids["slow_add"] not in rep.uploaded()


def test_rerun_fetch_waits_for_a_local_parent_counted_by_the_dead_attempt(redis_server, tmp_path):
    """T on W has parents L (W), D (W) and R (X). The dead attempt ran L (counted into T's counter) and
    died in D. In the re-run D completes T's counter while L is still being recomputed: D's branch goes
    on to T and must wait for L here, not look for it in the store (it was never stored)."""
    from runlib.workflows import die_once_after, slow_after_death

    marker = str(tmp_path / "died")
    lt = slow_after_death(1, marker, 1.5)  # on W: instant in the dead attempt, slow in the re-run
    dt = die_once_after(2, marker, 0.5)  # on W: dies after L has counted
    rt = sleepy(4, 0.05)  # on X: makes T's counter a shared one
    wf = Workflow.from_nodes(total(lt, dt, rt), name="counted-local-parent")
    ids, plan = _placed(wf, {"slow_after_death": "W", "die_once_after": "W", "sleepy": "X", "total": "W"})
    rep = run_workflow(wf, plan=plan, redis_url=redis_server.url, timeout_s=120)
    assert rep.result == 7
    assert rep.reruns == 1
    assert ids["slow_after_death"] not in rep.uploaded()
    assert rep.keys_left == 0


class _FlakyStartLauncher(ProcessLauncher):
    """Its first ``failures`` workers exit before serving, as a container killed while booting."""

    def __init__(self, *args, failures: int, **kw) -> None:
        super().__init__(*args, **kw)
        self.failures = failures
        self.started = 0

    def _start_worker(self, worker_id, memory_mb, env):
        self.started += 1
        if self.started <= self.failures:
            log_path = self._log_dir / f"{worker_id}.log"
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-c", "print('dying at boot'); raise SystemExit(3)"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            proc.log_path = log_path
            return proc, f"pid:{proc.pid}"
        return super()._start_worker(worker_id, memory_mb, env)


def test_worker_dying_at_start_up_is_rerun(redis_server):
    xs = [leaf(i) for i in range(4)]
    wf = Workflow.from_nodes(total(add(xs[0], xs[1]), add(xs[2], xs[3])), name="bootdeath")
    lch = _FlakyStartLauncher(redis_server.url, run_id="bootdeath", failures=1, keep_alive_s=1)
    try:
        rep = run_workflow(
            wf, planner="uniform", launcher=lch, redis_url=redis_server.url, timeout_s=120, run_id="bootdeath"
        )
    finally:
        lch.close()
    assert rep.result == 6
    assert rep.reruns == 1
    assert rep.keys_left == 0 and _keys(redis_server.url, "bootdeath") == []


def test_worker_always_dying_at_start_up_fails_after_max_attempts(redis_server):
    wf = Workflow.from_nodes(add(leaf(1), leaf(2)), name="bootloop")
    lch = _FlakyStartLauncher(redis_server.url, run_id="bootloop", failures=100, keep_alive_s=1)
    try:
        with pytest.raises(
            RunError, match=r"failed 3 times; last: could not start a \d+ MB worker.*dying at boot"
        ):
            run_workflow(
                wf,
                planner="uniform",
                launcher=lch,
                redis_url=redis_server.url,
                timeout_s=60,
                run_id="bootloop",
                max_attempts=3,
            )
    finally:
        lch.close()
    assert lch.started == 3
    assert _keys(redis_server.url, "bootloop") == []
