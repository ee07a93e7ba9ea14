"""Worker launchers: give the runtime workers of a memory size, warm or cold, and hand them jobs.

* :class:`DockerLauncher` - containers of the plansim worker image (Docker SDK; imported lazily so that
  this package works without the ``docker`` package installed);
* :class:`ProcessLauncher` - local subprocesses, for machines without a Docker engine.

Both implement :class:`Launcher`::

    with DockerLauncher(redis_url) as launcher:
        launcher.prewarm(1024)
        job = launcher.submit(1024, payload)      # warm: the prewarmed container
        print(job.state, job.startup_ms, job.result(timeout=30))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.launchers.base import (
    DIAGNOSTIC_COMMAND,
    CapacityError,
    JobFailed,
    JobHandle,
    JobTimeout,
    Launcher,
    LauncherClosed,
    LauncherError,
    Lease,
    PooledLauncher,
    WorkerDied,
    WorkerInfo,
    WorkerStartError,
    cpus_for_memory,
)
from runtime.launchers.process_launcher import ProcessLauncher

if TYPE_CHECKING:
    from runtime.launchers.docker_launcher import DockerLauncher

__all__ = [
    "DIAGNOSTIC_COMMAND",
    "CapacityError",
    "DockerLauncher",
    "JobFailed",
    "JobHandle",
    "JobTimeout",
    "Launcher",
    "LauncherClosed",
    "LauncherError",
    "Lease",
    "PooledLauncher",
    "ProcessLauncher",
    "WorkerDied",
    "WorkerInfo",
    "WorkerStartError",
    "cpus_for_memory",
]


def __getattr__(name: str) -> Any:
    if name == "DockerLauncher":
        from runtime.launchers.docker_launcher import DockerLauncher

        return DockerLauncher
    raise AttributeError(name)
