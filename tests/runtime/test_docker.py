"""Docker-specific facts: the image, container limits and identity, cleanup on SIGTERM. Real engine only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runtime import image
from runtime.launchers import DIAGNOSTIC_COMMAND, cpus_for_memory
from runtime.launchers.docker_launcher import DockerLauncher, remove_containers
from runtime.services import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def test_cpus_rule() -> None:
    assert cpus_for_memory(1792) == 1.0
    assert cpus_for_memory(1024) == 0.57
    assert cpus_for_memory(2048) == 1.14
    assert cpus_for_memory(4096) == 2.29
    assert cpus_for_memory(16384) == 6.0


def test_image_tag_is_content_addressed(tmp_path: Path) -> None:
    assert image.expected_tag() == image.expected_tag()
    for top in image.SOURCE_DIRS:
        shutil.copytree(ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    same = image.content_hash(tmp_path)
    assert same == image.content_hash(ROOT)
    (tmp_path / "runtime" / "launchers" / "base.py").write_text("# changed\n", encoding="utf-8")
    assert image.content_hash(tmp_path) != same
    (tmp_path / "sim" / "__pycache__").mkdir(exist_ok=True)
    changed = image.content_hash(tmp_path)
    (tmp_path / "sim" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    assert image.content_hash(tmp_path) == changed  # caches do not count


def test_image_exists_with_labels_and_non_root_user(docker_client: Any, worker_image: str) -> None:
    img = docker_client.images.get(worker_image)
    assert f"{image.IMAGE_REPO}:latest" in img.tags
    assert img.labels["plansim.content-hash"] == worker_image.split(":")[1]
    assert img.attrs["Config"]["User"] not in ("", "0", "root")
    assert img.attrs["Config"]["Entrypoint"] == ["python3", "-m", "runtime.docker_worker"]
    out = docker_client.containers.run(
        worker_image,
        entrypoint=[
            "python3",
            "-c",
            "import os, sys, redis, cloudpickle, numpy; print(os.getuid(), sys.version_info[:2])",
        ],
        remove=True,
    )
    uid, version = out.decode().split(" ", 1)
    assert uid.strip() != "0" and version.strip() == "(3, 11)"


def test_container_limits_labels_and_network(
    docker_client: Any, worker_image: str, redis_server: RedisServer
) -> None:
    with DockerLauncher(
        redis_server.url, client=docker_client, image=worker_image, command=DIAGNOSTIC_COMMAND
    ) as launcher:
        lease = launcher.acquire(1024)
        c = docker_client.containers.get(lease.container_id)
        host = c.attrs["HostConfig"]
        assert c.name == lease.worker_id and c.name.startswith(f"plansim-{launcher.run_id}-")
        assert c.labels["plansim.run"] == launcher.run_id and c.labels["plansim.memory"] == "1024"
        assert host["NanoCpus"] == 570_000_000
        assert host["Memory"] == 1024 * 1024 * 1024
        assert host["NetworkMode"] == "host"
        assert c.attrs["Config"]["User"] == "10001:10001"
        # more vCPUs than the engine has are clamped, the request is kept in a label
        ncpu = launcher.host_cpus
        big_mb = int(1792 * (ncpu + 1))
        big = docker_client.containers.get(launcher.acquire(big_mb).container_id)
        assert big.attrs["HostConfig"]["NanoCpus"] == min(cpus_for_memory(big_mb), ncpu) * 1e9
        assert float(big.labels["plansim.cpus-requested"]) == cpus_for_memory(big_mb)
        launcher.release(lease)


def test_rejects_root_user(redis_server: RedisServer, docker_client: Any, worker_image: str) -> None:
    with pytest.raises(ValueError, match="root"):
        DockerLauncher(redis_server.url, client=docker_client, image=worker_image, user="0:0")


@pytest.mark.parametrize("ending", ["sigterm", "normal-exit"])
def test_launcher_process_ending_removes_containers(
    ending: str, docker_client: Any, worker_image: str, redis_server: RedisServer
) -> None:
    """Containers are removed when the launcher's process gets SIGTERM or exits without close()."""
    script = (
        "import sys, time\n"
        "from runtime.launchers import DockerLauncher, DIAGNOSTIC_COMMAND\n"
        f"l = DockerLauncher({redis_server.url!r}, image={worker_image!r}, command=DIAGNOSTIC_COMMAND, keep_alive_s=300)\n"
        "l.prewarm(1024, count=2)\n"
        "print(l.run_id, flush=True)\n"
        "sys.stdin.readline()\n"  # wait for the test to look at the containers
        + ("time.sleep(120)\n" if ending == "sigterm" else "sys.exit(0)\n")
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    run_id = ""
    try:
        assert proc.stdout is not None and proc.stdin is not None
        run_id = proc.stdout.readline().strip()
        assert run_id, "child did not start its launcher"
        label = {"label": f"plansim.run={run_id}"}
        assert len(docker_client.containers.list(filters=label)) == 2
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if ending == "sigterm":
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == -signal.SIGTERM
        else:
            assert proc.wait(timeout=60) == 0
        assert docker_client.containers.list(all=True, filters=label) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        if run_id:
            remove_containers(docker_client, run_id=run_id)


def test_start_failure_reports_container_output(
    docker_client: Any, worker_image: str, redis_server: RedisServer
) -> None:
    from runtime.launchers import WorkerStartError

    bad = ["python3", "-c", "import sys; print('boom from the worker'); sys.exit(4)"]
    with DockerLauncher(redis_server.url, client=docker_client, image=worker_image, command=bad) as launcher:
        t0 = time.monotonic()
        with pytest.raises(WorkerStartError, match="boom from the worker"):
            launcher.acquire(1024)
        assert time.monotonic() - t0 < 30
        assert launcher.workers() == []
        label = {"label": f"plansim.run={launcher.run_id}"}
        assert docker_client.containers.list(all=True, filters=label) == []


def test_missing_image_is_a_clear_start_error(docker_client: Any, redis_server: RedisServer) -> None:
    from runtime.launchers import LauncherError, WorkerStartError

    with DockerLauncher(
        redis_server.url, client=docker_client, image="plansim-worker:does-not-exist"
    ) as launcher:
        with pytest.raises(WorkerStartError, match="runtime.image build"):
            launcher.acquire(1024)
        assert launcher.workers() == []
        assert launcher._live_count() == 0  # the failed start gave its slot back
    with pytest.raises(LauncherError, match="not reachable"):
        DockerLauncher("redis://:pw@127.0.0.1:1/0", client=docker_client, image="x")
    with pytest.raises(ValueError, match="memory_mb"):
        DockerLauncher(redis_server.url, client=docker_client, image="x").acquire(0)
