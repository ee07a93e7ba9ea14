"""Pool behaviour shared by both launchers, run once with local processes and once with Docker containers.

Workers run the diagnostic handler (``runtime.docker_worker.entry``), so these tests exercise the real
job hand-off through Redis, the real worker start-up and the real removal of workers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from runtime.docker_worker import protocol as p
from runtime.launchers import CapacityError, JobFailed, Launcher, PooledLauncher, WorkerDied
from runtime.services import RedisServer

LauncherFactory = Callable[..., PooledLauncher]

MB = 1024  # 0.57 vCPU per container: fast enough to start, small enough for a 2-core machine


def worker_gone(launcher: PooledLauncher, backend_alive: Any, timeout: float = 10.0) -> bool:
    """Poll until ``backend_alive()`` is False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not backend_alive():
            return True
        time.sleep(0.1)
    return False


def alive_probe(launcher: PooledLauncher, worker_id: str) -> Any:
    """A callable telling whether the worker's process/container still runs (independent of the pool)."""
    if launcher.kind == "docker":
        import docker.errors

        client = launcher.client  # type: ignore[attr-defined]

        def docker_alive() -> bool:
            try:
                return client.containers.get(worker_id).status == "running"
            except docker.errors.NotFound:
                return False

        return docker_alive
    pid = int(next(w for w in launcher.workers() if w.worker_id == worker_id).container_id.split(":")[1])

    def process_alive() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().split()[2] != "Z"
        except FileNotFoundError:
            return False

    return process_alive


def test_launcher_satisfies_protocol(make_launcher: LauncherFactory) -> None:
    assert isinstance(make_launcher(), Launcher)


def test_job_roundtrip_and_remote_traceback(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher()
    job = launcher.submit(MB, b"echo:hello")
    assert job.result(timeout=60) == b"hello"
    failing = launcher.submit(MB, b"fail:kaput")
    with pytest.raises(JobFailed) as info:
        failing.result(timeout=30)
    assert "RuntimeError: kaput" in info.value.remote_traceback
    assert "diagnostic_handler" in info.value.remote_traceback
    # a failing job does not kill the worker: the next job reuses it
    assert launcher.submit(MB, b"echo:again").result(timeout=30) == b"again"
    assert launcher.leases[-1].worker_id == job.worker_id


def test_handler_sees_job_header_and_runs_unprivileged(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher()
    first = launcher.submit(MB, b"whoami")
    info = json.loads(first.result(timeout=60) or b"")
    assert info["job"]["job_id"] == first.job_id
    assert info["job"]["state"] == "cold" and info["job"]["startup_ms"] == pytest.approx(first.startup_ms)
    second = json.loads(launcher.submit(MB, b"whoami").result(timeout=30) or b"")
    assert second["job"]["state"] == "warm" and second["pid"] == info["pid"]
    if launcher.kind == "docker":
        assert info["uid"] == 10001 and info["gid"] == 10001


def test_extra_env_reaches_workers(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher(env={"PLANSIM_TEST_VALUE": "forty-two", p.ENV_RUN_ID: "overridden?"})
    assert launcher.submit(MB, b"env:PLANSIM_TEST_VALUE").result(timeout=60) == b"forty-two"
    # the launcher's own variables cannot be overridden (the worker would listen on the wrong keys)
    assert launcher.submit(MB, f"env:{p.ENV_RUN_ID}".encode()).result(timeout=30) == launcher.run_id.encode()
    assert launcher.submit(MB, b"env:PLANSIM_MEMORY_MB").result(timeout=30) == str(MB).encode()


def test_switch_interval_reaches_workers(make_launcher: LauncherFactory) -> None:
    """The GIL switch interval a launcher is given is the one its workers' interpreters run with."""
    fine = make_launcher(switch_interval_ms=0.5)
    assert json.loads(fine.submit(MB, b"whoami").result(timeout=60) or b"")["switch_interval_ms"] == 0.5
    default = make_launcher()  # unset: the launchers' default, not CPython's 5 ms
    whoami = json.loads(default.submit(MB, b"whoami").result(timeout=60) or b"")
    assert whoami["switch_interval_ms"] == p.DEFAULT_SWITCH_INTERVAL_MS != 5.0
    with pytest.raises(ValueError, match="GIL switch interval"):
        make_launcher(switch_interval_ms=-1)


def test_warm_within_keep_alive_cold_after(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher(keep_alive_s=1.5)
    a = launcher.submit(MB, b"echo:1")
    a.result(timeout=60)
    assert a.state == "cold" and a.startup_ms > 5
    b = launcher.submit(MB, b"echo:2")
    b.result(timeout=30)
    assert b.state == "warm" and b.worker_id == a.worker_id
    assert b.startup_ms < a.startup_ms
    probe = alive_probe(launcher, a.worker_id)
    assert probe()
    time.sleep(2.5)  # idle longer than keep-alive: the reaper removes the worker
    assert worker_gone(launcher, probe), "idle worker was not reaped after keep-alive"
    c = launcher.submit(MB, b"echo:3")
    c.result(timeout=60)
    assert c.state == "cold" and c.worker_id != a.worker_id


def test_warm_pool_is_per_memory_size(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher()
    a = launcher.submit(MB, b"echo:a")
    a.result(timeout=60)
    b = launcher.submit(2 * MB, b"echo:b")
    b.result(timeout=60)
    assert b.state == "cold" and b.worker_id != a.worker_id
    c = launcher.submit(MB, b"echo:c")
    c.result(timeout=30)
    assert c.state == "warm" and c.worker_id == a.worker_id


def test_concurrent_jobs_get_distinct_workers(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher()
    jobs: list[Any] = []
    lock = threading.Lock()

    def go() -> None:
        job = launcher.submit(MB, b"sleep:0.5")
        with lock:
            jobs.append(job)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for job in jobs:
        job.wait(timeout=60)
    assert len({j.worker_id for j in jobs}) == 3
    assert all(j.state == "cold" for j in jobs)


def test_cap_blocks_then_times_out_with_clear_error(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher(max_workers=1)
    busy = launcher.acquire(MB)
    t0 = time.monotonic()
    with pytest.raises(CapacityError, match="all 1 workers .* are busy"):
        launcher.acquire(MB, timeout=0.6)
    assert time.monotonic() - t0 >= 0.6
    # a waiter gets the worker as soon as it is released: warm, same worker
    released = threading.Timer(0.3, launcher.release, args=(busy,))
    released.start()
    lease = launcher.acquire(MB, timeout=10)
    assert lease.state == "warm" and lease.worker_id == busy.worker_id
    assert lease.queued_ms >= 200
    assert len(launcher.workers()) == 1


def test_full_pool_evicts_idle_worker_of_another_size(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher(max_workers=1)
    small = launcher.submit(MB, b"echo:x")
    small.result(timeout=60)
    probe = alive_probe(launcher, small.worker_id)
    big = launcher.submit(2 * MB, b"echo:y")
    big.result(timeout=60)
    assert big.state == "cold"
    assert [w.memory_mb for w in launcher.workers()] == [2 * MB]
    assert worker_gone(launcher, probe)


def test_prewarm_makes_next_acquire_warm(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher(keep_alive_s=30)
    pre = launcher.prewarm(MB, count=2)
    assert len(pre) == 2 and all(lease.state == "cold" for lease in pre)
    assert sorted(w.busy for w in launcher.workers()) == [False, False]
    a, b = launcher.acquire(MB), launcher.acquire(MB)
    assert (a.state, b.state) == ("warm", "warm")
    assert {a.worker_id, b.worker_id} == {lease.worker_id for lease in pre}
    c = launcher.acquire(MB)
    assert c.state == "cold"


def test_dead_worker_fails_its_job_and_leaves_the_pool(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher()
    job = launcher.submit(MB, b"exit:3")
    with pytest.raises(WorkerDied, match=job.worker_id):
        job.wait(timeout=30)
    assert job.worker_id not in {w.worker_id for w in launcher.workers()}
    nxt = launcher.submit(MB, b"echo:ok")
    assert nxt.result(timeout=60) == b"ok" and nxt.state == "cold"


def test_worker_can_request_an_invocation(make_launcher: LauncherFactory) -> None:
    launcher = make_launcher()
    outer = launcher.submit(MB, b"invoke:2048:echo:inner")
    outer.result(timeout=60)
    deadline = time.monotonic() + 60
    while not launcher.invoked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert launcher.invoked, "the invocation request was not served"
    inner = launcher.invoked[0]
    assert inner.result(timeout=60) == b"inner"
    assert inner.lease.memory_mb == 2048 and inner.worker_id != outer.worker_id


def test_close_removes_workers_and_keys(make_launcher: LauncherFactory, redis_server: RedisServer) -> None:
    launcher = make_launcher(keep_alive_s=60)
    launcher.prewarm(MB, count=2)
    launcher.submit(MB, b"echo:z").result(timeout=30)
    probes = [alive_probe(launcher, w.worker_id) for w in launcher.workers()]
    assert len(probes) == 2 and all(probe() for probe in probes)
    client = redis.Redis.from_url(redis_server.url)
    assert client.keys(p.run_prefix(launcher.run_id) + "*") or True  # may be empty: lists are drained
    launcher.close()
    assert all(not probe() for probe in probes)
    assert client.keys(p.run_prefix(launcher.run_id) + "*") == []
    if launcher.kind == "docker":
        client_d = launcher.client  # type: ignore[attr-defined]
        assert client_d.containers.list(all=True, filters={"label": f"plansim.run={launcher.run_id}"}) == []
    launcher.close()  # idempotent


def test_cold_starts_do_not_wait_for_each_other(redis_server: RedisServer) -> None:
    """Workers start outside the pool's lock: the reference's gateway held its lock during ``docker run``,
    which serialised cold starts (``reference/octoflows.md`` 9.4 #10). Each start here blocks until both
    have begun, which only concurrent starts can get past."""
    from runtime.launchers import DIAGNOSTIC_COMMAND, ProcessLauncher

    both_starting = threading.Barrier(2, timeout=20)

    class MeetingLauncher(ProcessLauncher):
        def _start_worker(self, worker_id: str, memory_mb: int, env: dict[str, str]) -> tuple[Any, str]:
            both_starting.wait()
            return super()._start_worker(worker_id, memory_mb, env)

    launcher = MeetingLauncher(redis_server.url, command=DIAGNOSTIC_COMMAND)
    try:
        leases: list[Any] = []
        errors: list[BaseException] = []

        def acquire() -> None:
            try:
                leases.append(launcher.acquire(MB))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=acquire) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == [] and sorted(lease.state for lease in leases) == ["cold", "cold"]
    finally:
        launcher.close()


@pytest.mark.parametrize(
    "kwargs", [{"max_workers": 0}, {"redis_url": "redis://127.0.0.1:1/0"}, {"no_such_option": 1}]
)
def test_a_process_launcher_that_fails_to_start_leaves_no_folder(
    redis_server: Any, kwargs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: its workers' log folder was made first and kept when the pool refused an option or Redis was
    # unreachable (49 empty /tmp/plansim-workers-* folders on this host after a day of test runs).
    import tempfile
    from pathlib import Path

    from runtime.launchers.process_launcher import ProcessLauncher

    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args: Any, **kw: Any) -> str:
        made.append(real_mkdtemp(*args, **kw))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    args = {"redis_url": redis_server.url, **kwargs}
    with pytest.raises(Exception):  # noqa: B017, PT011 - each case fails its own way; the folder is the point
        ProcessLauncher(args.pop("redis_url"), **args)
    assert len(made) == 1 and not Path(made[0]).exists()


def test_a_process_launcher_removes_the_folders_of_killed_ones(
    redis_server: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed outright (SIGKILL, a crash of the host process) runs no close(): its workers' log
    folder stayed in /tmp for good (a SIGKILLed 'plansim validate --launcher process' left
    plansim-workers-u585188l with three worker logs). The next process launcher removes such folders,
    as the next private Redis server removes a killed one's (runtime.services.remove_orphaned_dirs):
    those whose owner process is gone; a folder without an owners file (older versions) is kept."""
    import os
    import subprocess
    import tempfile

    from runtime.launchers import DIAGNOSTIC_COMMAND, ProcessLauncher

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    for name, owner in (("killed", gone.pid), ("running", os.getpid()), ("legacy", None)):
        d = tmp_path / f"plansim-workers-{name}"
        d.mkdir()
        (d / "w1.log").write_text("a worker's last words\n")
        if owner is not None:
            (d / "owners").write_text(f"{owner}\n")
    launcher = ProcessLauncher(redis_server.url, command=DIAGNOSTIC_COMMAND)
    try:
        mine = [p for p in tmp_path.iterdir() if p.name.split("-")[-1] not in ("killed", "running", "legacy")]
        assert len(mine) == 1 and (mine[0] / "owners").read_text().split() == [str(os.getpid())]
    finally:
        launcher.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plansim-workers-legacy", "plansim-workers-running"]
