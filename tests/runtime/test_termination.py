"""Nothing left behind when a run is stopped from outside: SIGTERM unwinds ``plansim run`` through its
clean-up (keys, workers, its private Redis server), and a private Redis server dies with a process killed
outright (SIGKILL runs no clean-up at all), its temporary directory removed by the next server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from runtime.services import DIR_PREFIX, RedisServer, remove_orphaned_dirs
from sim.processes import process_gone
from tests.procs import descendants, wait_for

ROOT = Path(__file__).resolve().parents[2]
RUN = [sys.executable, "-m", "sim.cli", "run", "fixed_times:chains=2,sleep_s=3", "--planner", "uniform"]
RUN += ["--launcher", "process"]


def _start(args: list[str], tmp: Path | None = None) -> subprocess.Popen[str]:
    """Start ``args``; with ``tmp``, its temporary directories (a private Redis server's) go there: the
    machine's own temp directory is shared with other test runs, whose servers come and go meanwhile
    and sweep orphans too."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _terminate_mid_run(proc: subprocess.Popen[str], running) -> tuple[set[int], str]:  # noqa: ANN001
    """Wait until ``running()``, SIGTERM the command; its processes at that moment and its stderr."""
    try:
        wait_for(lambda: running() or proc.poll() is not None, 120, "the run to start")
        assert proc.poll() is None, f"the run ended before it could be stopped: {proc.communicate()}"
        below = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return below, err


def test_sigterm_mid_run_deletes_the_runs_keys_and_stops_its_workers():
    with RedisServer() as server:
        r = redis.Redis.from_url(server.url)
        proc = _start([*RUN, "--redis", server.url])
        below, err = _terminate_mid_run(proc, lambda: r.dbsize() > 0 and len(descendants(proc.pid)) > 0)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "terminated (SIGTERM)" in err and "Traceback" not in err, err
        assert r.dbsize() == 0, sorted(r.keys("*"))[:10]
        assert below, "the run had started no worker process"
        wait_for(lambda: all(process_gone(p) for p in below), 10, f"workers {sorted(below)} to end")


def test_sigterm_mid_run_stops_the_runs_private_redis_server(tmp_path):
    proc = _start(RUN, tmp_path)
    # the private server is up once the run has a directory of its own and worker processes
    started = lambda: any(tmp_path.glob(DIR_PREFIX + "*"))  # noqa: E731
    below, err = _terminate_mid_run(proc, lambda: started() and len(descendants(proc.pid)) > 1)
    assert proc.returncode == 128 + signal.SIGTERM, err
    wait_for(lambda: all(process_gone(p) for p in below), 10, f"processes {sorted(below)} to end")
    assert list(tmp_path.glob(DIR_PREFIX + "*")) == []


def test_private_server_dies_with_a_killed_owner_and_its_directory_is_removed_later(tmp_path):
    code = (
        "import time; from runtime.services import RedisServer; s = RedisServer().start(); "
        "print(s.pid, s.dir, flush=True); time.sleep(120)"
    )
    owner = _start([sys.executable, "-c", code], tmp_path)
    try:
        pid_text, directory = owner.stdout.readline().split()
        redis_pid = int(pid_text)
        assert not process_gone(redis_pid)
        owner.kill()  # SIGKILL: no finally, no atexit
        owner.wait(timeout=10)
        wait_for(lambda: process_gone(redis_pid), 10, "the orphaned redis-server to end")
        assert Path(directory).is_dir()  # nobody could remove it yet
        assert remove_orphaned_dirs(tmp_path) == 1
        assert not Path(directory).exists()
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.communicate()


def test_orphan_sweep_keeps_a_running_servers_directory():
    with RedisServer() as server:
        assert server.dir is not None
        remove_orphaned_dirs()
        assert (server.dir / "redis.conf").exists()
