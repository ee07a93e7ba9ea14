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
from runtime.client import make_launcher
from runtime.launchers import DIAGNOSTIC_COMMAND, cpus_for_memory
from runtime.launchers.docker_launcher import (
    DEFAULT_CPU_PERIOD_US,
    DockerLauncher,
    cpu_limits,
    remove_containers,
)
from runtime.services import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def test_cpus_rule() -> None:
    assert cpus_for_memory(1792) == 1.0
    assert cpus_for_memory(1024) == 0.57
    assert cpus_for_memory(2048) == 1.14
    assert cpus_for_memory(4096) == 2.29
    assert cpus_for_memory(16384) == 6.0


def test_cpu_limits_short_period_quota_arithmetic() -> None:
    """The share as a CFS quota over a short period; the label's CPUs are the quota's, not the request's."""
    assert DEFAULT_CPU_PERIOD_US == 5_000
    assert cpu_limits(0.57) == ({"cpu_period": 5_000, "cpu_quota": 2_850}, 0.57)
    assert cpu_limits(1.14, 10_000) == ({"cpu_period": 10_000, "cpu_quota": 11_400}, 1.14)
    # rounded to the nearest µs: 0.12344 x 10 ms = 1234.4 µs -> 1234, 0.12346 -> 1235
    assert cpu_limits(0.12344, 10_000)[0]["cpu_quota"] == 1_234
    assert cpu_limits(0.12346, 10_000)[0]["cpu_quota"] == 1_235
    limits, applied = cpu_limits(0.66667, 1_500)
    assert limits == {"cpu_period": 1_500, "cpu_quota": 1_000} and applied == 1_000 / 1_500
    # the kernel's 1 ms minimum quota: a small share lengthens the period instead of getting more CPU
    assert cpu_limits(0.07) == ({"cpu_period": 14_286, "cpu_quota": 1_000}, 1_000 / 14_286)
    assert cpu_limits(0.05) == ({"cpu_period": 20_000, "cpu_quota": 1_000}, 0.05)
    assert cpu_limits(0.2) == ({"cpu_period": 5_000, "cpu_quota": 1_000}, 0.2)  # just enough
    assert cpu_limits(0.01, 1_000) == ({"cpu_period": 100_000, "cpu_quota": 1_000}, 0.01)
    # more CPUs than one period's worth: the quota spans several cores
    assert cpu_limits(6.0) == ({"cpu_period": 5_000, "cpu_quota": 30_000}, 6.0)
    # 0: Docker's --cpus (the kernel's 100 ms period), as before
    assert cpu_limits(0.57, 0) == ({"nano_cpus": 570_000_000}, 0.57)
    for bad_period in (-1, 999, 1_000_001, 5_000.0, True, None):  # Docker refuses a float period
        with pytest.raises(ValueError, match="cpu period"):
            cpu_limits(0.57, bad_period)
    with pytest.raises(ValueError, match="positive"):
        cpu_limits(0.0)


def test_launcher_rejects_a_bad_period_before_starting() -> None:
    """Checked before the engine is asked anything (the client here would fail any call)."""
    with pytest.raises(ValueError, match="cpu period"):
        DockerLauncher("redis://127.0.0.1:1", client=object(), cpu_period_us=500)  # type: ignore[arg-type]


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
        # 0.57 CPU as a quota over a 5 ms period, not --cpus (whose period is the kernel's 100 ms)
        assert (host["CpuPeriod"], host["CpuQuota"], host["NanoCpus"]) == (5_000, 2_850, 0)
        assert c.labels["plansim.cpus"] == "0.57"
        assert host["Memory"] == 1024 * 1024 * 1024
        assert host["NetworkMode"] == "host"
        assert c.attrs["Config"]["User"] == "10001:10001"
        # more vCPUs than the engine has are clamped, the request is kept in a label
        ncpu = launcher.host_cpus
        big_mb = int(1792 * (ncpu + 1))
        big = docker_client.containers.get(launcher.acquire(big_mb).container_id)
        assert big.attrs["HostConfig"]["CpuQuota"] == min(cpus_for_memory(big_mb), ncpu) * 5_000
        assert float(big.labels["plansim.cpus"]) == ncpu
        assert float(big.labels["plansim.cpus-requested"]) == cpus_for_memory(big_mb)
        launcher.release(lease)


def test_cpu_period_setting_applied_and_read_back_by_the_worker(
    docker_client: Any, worker_image: str, redis_server: RedisServer
) -> None:
    """The period reaches the container's cgroup, whose quota/period the worker reports as its CPUs."""
    script = (
        "from pathlib import Path; from runtime.cpu_meter import cpu_limit; "
        "d = Path('/sys/fs/cgroup/cpu'); "
        "print((d / 'cpu.cfs_period_us').read_text().strip() if d.exists() else '-', cpu_limit())"
    )
    for period, expect in ((10_000, (10_000, 5_700, 0)), (0, (0, 0, 570_000_000))):
        # through run_workflow's launcher factory, as a real run makes it
        with make_launcher(
            "docker", redis_server.url, image=worker_image, command=DIAGNOSTIC_COMMAND, cpu_period_us=period
        ) as launcher:
            assert launcher.cpu_period_us == period  # type: ignore[attr-defined]
            c = docker_client.containers.get(launcher.acquire(1024).container_id)
            host = c.attrs["HostConfig"]
            assert (host["CpuPeriod"], host["CpuQuota"], host["NanoCpus"]) == expect
            assert c.labels["plansim.cpus"] == "0.57"
            code, out = c.exec_run(["python3", "-c", script])
            assert code == 0, out
            cgroup_period, seen_cpus = out.decode().split()
            assert float(seen_cpus) == pytest.approx(0.57)
            if cgroup_period != "-":  # cgroup v1 (this host); v2 has cpu.max instead
                assert int(cgroup_period) == (period or 100_000)


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
