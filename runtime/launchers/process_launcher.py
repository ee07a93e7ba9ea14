"""Workers as local subprocesses: the launcher for machines without a Docker engine.

Same interface and pool behaviour as :class:`~runtime.launchers.docker_launcher.DockerLauncher` (warm
reuse within keep-alive, cap, prewarm, reaper, close), but each worker is ``python -m
runtime.docker_worker`` started with this interpreter and ``PYTHONPATH`` set to the project root.

Not emulated: CPU and memory limits (a subprocess gets the whole machine) and isolation. The memory
size is still a pool key and is exported as ``PLANSIM_MEMORY_MB`` so the worker can report it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from runtime.launchers.base import PooledLauncher
from runtime.services import OWNERS_FILE, remove_orphaned_dirs

__all__ = ["ProcessLauncher"]

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR_PREFIX = "plansim-workers-"  # the workers' log folder, one per launcher


class ProcessLauncher(PooledLauncher):
    """Warm-pool launcher whose workers are local Python processes.

    Args:
        redis_url: the Redis server.
        run_id: namespace of worker names and keys.
        command: the worker command; ``python3`` as first element means this interpreter. Default:
            ``[sys.executable, "-m", "runtime.docker_worker"]``.
        **pool: see :class:`~runtime.launchers.base.PooledLauncher`.
    """

    kind = "process"

    def __init__(
        self, redis_url: str, run_id: str | None = None, *, command: list[str] | None = None, **pool: Any
    ) -> None:
        cmd = list(command or ["python3", "-m", "runtime.docker_worker"])
        if cmd[0] in ("python3", "python"):
            cmd[0] = sys.executable
        self.command = cmd
        # A launcher killed outright runs no close(): its folder is removed by the next one, which
        # finds its owner gone (the owners file, as a private Redis server's directory has).
        remove_orphaned_dirs(prefix=LOG_DIR_PREFIX)
        self._log_dir = Path(tempfile.mkdtemp(prefix=LOG_DIR_PREFIX))
        try:
            (self._log_dir / OWNERS_FILE).write_text(f"{os.getpid()}\n")
            super().__init__(redis_url, run_id, **pool)
        except BaseException:  # (a bad option, Redis not reachable): no close() will remove the folder
            shutil.rmtree(self._log_dir, ignore_errors=True)
            raise

    def _start_worker(self, worker_id: str, memory_mb: int, env: dict[str, str]) -> tuple[Any, str]:
        full_env = dict(os.environ)
        full_env.update(env)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        log = open(self._log_dir / f"{worker_id}.log", "wb")  # noqa: SIM115 - owned by the child
        try:
            proc = subprocess.Popen(
                self.command,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(ROOT),
            )
        finally:
            log.close()
        proc.log_path = self._log_dir / f"{worker_id}.log"  # type: ignore[attr-defined]
        return proc, f"pid:{proc.pid}"

    def _is_alive(self, backend: Any) -> bool:
        return backend.poll() is None

    def _stop_worker(self, backend: Any) -> None:
        if backend.poll() is None:
            backend.terminate()
            try:
                backend.wait(timeout=3)
            except subprocess.TimeoutExpired:
                backend.kill()
                backend.wait(timeout=3)

    def _logs(self, backend: Any) -> str:
        with contextlib.suppress(OSError):
            lines = backend.log_path.read_text(errors="replace").strip().splitlines()[-15:]
            return " | ".join(lines) or "(no output)"
        return "(no logs)"

    def close(self) -> None:
        """Stop all workers, then delete their log directory."""
        super().close()
        shutil.rmtree(self._log_dir, ignore_errors=True)
