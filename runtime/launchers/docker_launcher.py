"""Workers as Docker containers (through the Docker SDK), with a warm pool per memory size.

Each worker is one container of the plansim worker image:

* name ``plansim-<run_id>-<n>``; labels ``plansim.run=<run_id>``, ``plansim.memory=<mb>``,
  ``plansim.cpus=<applied vCPUs>``, ``plansim.redis=<the Redis URL, password masked>``
  (``plansim runtime status``/``down`` find containers by these);
* ``--cpus = round(min(memory_mb / 1792, 6), 2)`` (the AWS Lambda rule), clamped to the engine's CPU count
  because Docker refuses more CPUs than the host has (on a 2-core machine 4096 MB asks 2.29 and gets
  2.0; the requested value is kept in the ``plansim.cpus-requested`` label);
* that share applied as a CFS quota over a **5 ms period** (``cpu_period=5000, cpu_quota=round(cpus *
  5000)``, :func:`cpu_limits`) rather than ``--cpus`` (``nano_cpus``), which keeps the kernel's default
  100 ms period. Within one period a container may burn its whole quota at the speed of every host core,
  then waits for the next period: with 100 ms a 0.57-vCPU worker runs a burst of calls (up to 57 ms of
  CPU) on 2 cores at once, faster than its share (a longer burst would then stall for the rest of the
  period; at these task sizes that was not observed). The simulator shares a worker's CPUs smoothly
  (:mod:`sim.engine.cpu`); a short period is that at the scale of a few ms. Measured 2026-11-29 (``benchmarks/results/accuracy.md``): 4-8 threads of 4.8 ms of CPU in a 1024 MB
  container finish at 0.62-0.79 of the fluid time ``threads x CPU / 0.57`` with 100 ms (never throttled),
  0.86-0.90 with 10 ms, 0.96-0.99 with 5 ms; on the accuracy benchmark's large instances the per-task
  execution error fell from 48-52% to 34-35% and its run-to-run spread from 51-53% to 31-35% (small
  instances: no difference beyond noise). Cost: a cold start takes ~0.1 s longer (645 -> 754 ms
  median). ``cpu_period_us=0`` restores ``--cpus``;
* ``--memory = <memory_mb>m`` with the same swap limit (no swap, like a function platform);
* ``network_mode=host`` (the worker reaches Redis on the host's loopback), non-root user ``10001``.

Jobs are handed over through Redis (the container BLPOPs its job list) rather than ``docker exec``:
the hand-off costs one RPUSH instead of an exec round trip plus a fresh interpreter; numbers in
``benchmarks/bench_containers.py``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from runtime.launchers.base import (
    DEFAULT_CPU_PERIOD_US,
    PooledLauncher,
    WorkerStartError,
    cpu_limits,
    cpus_for_memory,
)
from runtime.services import masked_url

__all__ = ["DEFAULT_CPU_PERIOD_US", "DockerLauncher", "cpu_limits", "remove_containers"]

RUN_LABEL = "plansim.run"
MEMORY_LABEL = "plansim.memory"
REDIS_LABEL = "plansim.redis"  # the Redis the worker serves (password masked): which runtime owns it
WORKER_USER = "10001:10001"

log = logging.getLogger(__name__)


def default_image(client: docker.DockerClient) -> str:
    """The image for the current sources if built, else ``plansim-worker:latest`` with a warning: that
    image was built from other sources (an older checkout, or another one on a shared engine, whose
    build may also have pruned this one), so the workers may not run the code the driver runs."""
    from runtime.image import IMAGE_REPO, expected_tag

    tag = expected_tag()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        log.warning(
            "worker image %s (the current sources) is not built; using %s:latest, which may hold other "
            "sources (build it with: python -m runtime.image build)",
            tag,
            IMAGE_REPO,
        )
        return f"{IMAGE_REPO}:latest"


def remove_containers(
    client: docker.DockerClient, run_id: str | None = None, redis_url: str | None = None
) -> int:
    """Force-remove plansim containers: of one run, or of the runs served by one Redis, or all of them
    (both None); returns how many were removed."""
    labels = [f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL]
    if redis_url is not None:
        labels.append(f"{REDIS_LABEL}={masked_url(redis_url)}")
    removed = 0
    for c in client.containers.list(all=True, filters={"label": labels}):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            c.remove(force=True)
            removed += 1
    return removed


class DockerLauncher(PooledLauncher):
    """Warm-pool launcher whose workers are containers of the plansim worker image.

    Args:
        redis_url: Redis reachable from the containers (host network: a loopback URL works).
        run_id: namespace of container names, labels and keys (random when omitted).
        image: the worker image (default: the tag of the current sources, else ``plansim-worker:latest``).
        client: a Docker SDK client (default ``docker.from_env()``).
        command: overrides the image entrypoint, e.g. :data:`~runtime.launchers.base.DIAGNOSTIC_COMMAND`.
        user: the container user; must not be root.
        cpu_period_us: CFS period of the CPU share (default 5 ms; 0 = Docker's ``--cpus``, 100 ms):
            see :func:`cpu_limits`.
        **pool: keep_alive_s, max_workers, acquire_timeout, start_timeout, max_idle_s, serve_invocations
            (see :class:`~runtime.launchers.base.PooledLauncher`).
    """

    kind = "docker"

    def __init__(
        self,
        redis_url: str,
        run_id: str | None = None,
        *,
        image: str | None = None,
        client: docker.DockerClient | None = None,
        command: list[str] | None = None,
        user: str = WORKER_USER,
        cpu_period_us: int = DEFAULT_CPU_PERIOD_US,
        **pool: Any,
    ) -> None:
        if user.split(":")[0] in ("0", "root"):
            raise ValueError("workers must not run as root")
        cpu_limits(1.0, cpu_period_us)  # a bad period fails here, not at the first worker start
        self.cpu_period_us = cpu_period_us
        self.client = client or docker.from_env()
        self.image = image or default_image(self.client)
        self.command = command
        self.user = user
        self.host_cpus = int(self.client.info().get("NCPU") or 1)
        super().__init__(redis_url, run_id, **pool)

    def cpus(self, memory_mb: int) -> float:
        """The CPUs a worker of ``memory_mb`` MB gets on this engine (applied by :func:`cpu_limits`)."""
        return max(0.01, min(cpus_for_memory(memory_mb), float(self.host_cpus)))

    def _start_worker(self, worker_id: str, memory_mb: int, env: dict[str, str]) -> tuple[Any, str]:
        cpus = self.cpus(memory_mb)
        try:
            container: Container = self._run(worker_id, memory_mb, cpus, env)
        except docker.errors.ImageNotFound:
            raise WorkerStartError(
                f"worker image {self.image} not found: build it with `python -m runtime.image build`"
            ) from None
        except docker.errors.APIError as exc:
            raise WorkerStartError(f"docker refused to start {worker_id}: {exc.explanation or exc}") from None
        return container, container.id

    def _run(self, worker_id: str, memory_mb: int, cpus: float, env: dict[str, str]) -> Container:
        limits, applied = cpu_limits(cpus, self.cpu_period_us)
        # create + start rather than run(): run() falls back to pulling a missing image from a registry.
        container = self.client.containers.create(
            self.image,
            entrypoint=self.command,
            name=worker_id,
            labels={
                RUN_LABEL: self.run_id,
                REDIS_LABEL: masked_url(self.redis_url),
                MEMORY_LABEL: str(memory_mb),
                "plansim.cpus": f"{applied:.2f}",
                "plansim.cpus-requested": f"{cpus_for_memory(memory_mb):.2f}",
            },
            environment=env,
            user=self.user,
            network_mode="host",
            **limits,
            mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m",
        )
        try:
            container.start()
        except docker.errors.APIError:
            container.remove(force=True)
            raise
        return container

    def _is_alive(self, backend: Any) -> bool:
        try:
            backend.reload()
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError:
            return True  # engine hiccup: do not declare the worker dead
        return backend.status in ("created", "running", "restarting")

    def _alive_ids(self, container_ids: list[str], backends: list[Any]) -> set[str]:
        """One API call for the whole pool: the running containers of this run."""
        if not container_ids:
            return set()
        try:
            running = self.client.containers.list(
                filters={"label": f"{RUN_LABEL}={self.run_id}"}, sparse=True
            )
        except docker.errors.DockerException:
            return set(container_ids)  # engine hiccup: do not declare workers dead
        return {c.id for c in running} & set(container_ids)

    def _stop_worker(self, backend: Any) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            backend.remove(force=True)

    def _logs(self, backend: Any) -> str:
        try:
            out = backend.logs(tail=15).decode(errors="replace").strip()
        except docker.errors.DockerException:
            return "(no logs)"
        return " | ".join(out.splitlines()) or "(no output)"
