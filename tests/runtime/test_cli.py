"""`plansim runtime up|status|down` through click's runner, against the real engine and a real Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from click.testing import CliRunner

from runtime.cli import runtime
from runtime.launchers import DIAGNOSTIC_COMMAND
from runtime.launchers.docker_launcher import DockerLauncher
from runtime.services import load_state, ping


def test_up_status_down(tmp_path: Path, docker_client: Any, worker_image: str) -> None:
    runner = CliRunner()
    res = runner.invoke(runtime, ["up", "--state-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    state = load_state(tmp_path)
    assert state is not None and ping(state.url)
    # (not `worker_image`: the tag follows the sources, which may change while a developer runs tests)
    assert state.url in res.output and "plansim-worker:" in res.output and "Docker" in res.output
    # up again reuses the same server
    again = runner.invoke(runtime, ["up", "--state-dir", str(tmp_path), "--no-image"])
    assert again.exit_code == 0 and "already running" in again.output
    assert load_state(tmp_path) == state

    launcher = DockerLauncher(state.url, client=docker_client, image=worker_image, command=DIAGNOSTIC_COMMAND)
    try:
        launcher.prewarm(1024)
        redis.Redis.from_url(state.url).set(f"plansim:{launcher.run_id}:probe", b"1")
        res = runner.invoke(runtime, ["status", "--state-dir", str(tmp_path)], env={"COLUMNS": "250"})
        assert res.exit_code == 0, res.output
        assert f"plansim-{launcher.run_id}-1" in res.output and "1024" in res.output
        assert launcher.run_id in res.output and "running" in res.output
        assert state.url not in res.output  # the password is masked
    finally:
        res = runner.invoke(runtime, ["down", "--state-dir", str(tmp_path)])
        launcher.close()
    assert res.exit_code == 0, res.output
    assert "redis: stopped" in res.output and "containers: removed" in res.output
    assert docker_client.containers.list(all=True, filters={"label": f"plansim.run={launcher.run_id}"}) == []
    assert not ping(state.url, timeout=0.3) and load_state(tmp_path) is None


def test_down_keeps_other_runtimes_containers(
    tmp_path: Path, docker_client: Any, worker_image: str, redis_server: Any
) -> None:
    # Before: `down` removed every plansim container on the engine, killing the workers of another
    # checkout's runtime or of a test run sharing it.
    runner = CliRunner()
    assert runner.invoke(runtime, ["up", "--state-dir", str(tmp_path), "--no-image"]).exit_code == 0
    state = load_state(tmp_path)
    assert state is not None
    mine = DockerLauncher(state.url, client=docker_client, image=worker_image, command=DIAGNOSTIC_COMMAND)
    theirs = DockerLauncher(
        redis_server.url, client=docker_client, image=worker_image, command=DIAGNOSTIC_COMMAND
    )

    def alive(launcher: DockerLauncher) -> int:
        return len(
            docker_client.containers.list(all=True, filters={"label": f"plansim.run={launcher.run_id}"})
        )

    try:
        mine.prewarm(1024)
        theirs.prewarm(1024)
        res = runner.invoke(runtime, ["down", "--state-dir", str(tmp_path)])
        assert res.exit_code == 0, res.output
        assert alive(mine) == 0 and alive(theirs) == 1
        assert "containers: removed 1;" in res.output and "--all" in res.output
        # (`down --all` itself is not run here: it would remove other checkouts' workers on a shared engine)
    finally:
        runner.invoke(runtime, ["down", "--state-dir", str(tmp_path)])
        mine.close()
        theirs.close()


def test_no_engine_is_one_clear_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        runtime, ["up", "--state-dir", str(tmp_path)], env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    )
    assert res.exit_code == 1
    assert res.output.startswith("error: Docker engine not reachable")
    assert "scripts/services.sh" in res.output and "Traceback" not in res.output
    assert load_state(tmp_path) is None  # nothing started when the engine is missing


def test_up_process_mode_needs_no_engine(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        runtime,
        ["up", "--process", "--state-dir", str(tmp_path)],
        env={"DOCKER_HOST": "unix:///nonexistent/d.sock"},
    )
    try:
        assert res.exit_code == 0, res.output
        assert "process launcher" in res.output
    finally:
        runner.invoke(runtime, ["down", "--state-dir", str(tmp_path)])
    assert load_state(tmp_path) is None


def test_status_names_the_redis_it_counts_on_one_line(redis_server: Any) -> None:
    # Before: the table title "redis keys - redis://:***@127.0.0.1:PORT/0" wrapped at the narrow table's
    # width, across three lines, in the middle of the address.
    redis.Redis.from_url(redis_server.url).set("plansim:r1:probe", b"1")
    res = CliRunner().invoke(
        runtime,
        ["status", "--redis-url", redis_server.url],
        env={"COLUMNS": "80", "DOCKER_HOST": "unix:///nonexistent/d.sock"},
    )
    assert res.exit_code == 0, res.output
    port = redis_server.url.rsplit(":", 1)[1].split("/")[0]
    assert f"redis keys - redis://:***@127.0.0.1:{port}/0\n" in res.output, res.output
    assert "│ r1  │    1 │" in res.output, res.output
