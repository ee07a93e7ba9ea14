"""Local Redis servers for plansim: throw-away ones for tests, a persistent one for ``plansim runtime up``.

plansim's real runtime keeps everything (task outputs, dependency counters, job hand-off to workers) in
Redis. Two situations need a server on this machine:

* **Tests** want an isolated, disposable server: :class:`RedisServer` starts ``redis-server`` as a child
  process on a free loopback port with a freshly generated password, no persistence (``--save ''``,
  ``--appendonly no``) and a private temporary directory, waits until ``PING`` answers, and removes all of
  it on :meth:`RedisServer.stop` (or when the ``with`` block ends). On Linux the server also dies with
  the process that started it, even a killed one (``PR_SET_PDEATHSIG``), and a later server removes the
  temporary directories such servers left behind (:func:`remove_orphaned_dirs`).
* **Interactive use** (``plansim runtime up``) wants one long-lived server shared by successive commands:
  :func:`find_or_start_redis` records the server's URL and pid in ``<state_dir>/runtime.json`` and reuses it
  while it still answers; :func:`stop_redis` stops it and forgets it.

Security: the server always requires a password (generated with :mod:`secrets`) and listens on 127.0.0.1
only. The state file holds that password, so it is written with mode 0600.

Example::

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sim.processes import death_signal_setter, process_gone

__all__ = [
    "RedisServer",
    "RedisServerError",
    "RuntimeState",
    "default_state_dir",
    "find_or_start_redis",
    "free_port",
    "load_state",
    "ping",
    "remove_orphaned_dirs",
    "stop_redis",
]

STATE_FILE = "runtime.json"
DIR_PREFIX = "plansim-redis-"
OWNERS_FILE = "owners"  # in a server's directory: "<starting process pid> <redis-server pid>"


def remove_orphaned_dirs(root: str | Path | None = None, prefix: str = DIR_PREFIX) -> int:
    """Remove the temporary directories of private servers whose starting process and server are both
    gone (a killed process cannot remove its own); returns how many were removed. ``prefix``: another
    kind of such directory with an owners file of pids (a process launcher's worker logs).

    Only directories with an owners file are judged: a persistent server's (``plansim runtime up``)
    outlives its starting process but not its own pid, and a directory still being set up has none."""
    removed = 0
    for d in Path(root or tempfile.gettempdir()).glob(prefix + "*"):
        try:
            pids = [int(x) for x in (d / OWNERS_FILE).read_text().split()]
        except (OSError, ValueError):
            continue
        if pids and all(process_gone(pid) for pid in pids):
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
    return removed


class RedisServerError(RuntimeError):
    """``redis-server`` is missing, did not start, or stopped answering."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (the OS picks it; a race is still possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages, labels and pages (a user name, which
    is not a secret, is kept). Both places redis-py reads one from: the user info and the query string
    (``redis://host:6379/0?password=...``, ``unix:///tmp/redis.sock?password=...``)."""
    head, at, host = url.rpartition("@")  # the last '@': a password may contain one
    scheme, slashes, userinfo = head.rpartition("//")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        url = f"{scheme}{slashes}{user}:***@{host}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")


def ping(url: str, timeout: float = 1.0) -> bool:
    """True when the Redis server at ``url`` answers ``PING`` (with the credentials in the URL).

    Retries are disabled: redis-py 8 otherwise retries a refused connection with backoff for seconds.
    """
    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _redis_binary(binary: str | None) -> str:
    path = shutil.which(binary or os.environ.get("PLANSIM_REDIS_SERVER", "redis-server"))
    if path is None:
        raise RedisServerError(
            "redis-server not found on PATH; install it (as root: bash scripts/services.sh, "
            "or apt-get install -y redis-server)"
        )
    return path


class RedisServer:
    """A private ``redis-server`` child process on a free loopback port, with a password.

    Args:
        password: the ``requirepass`` password; a random 32-hex-digit one when omitted.
        port: the port to listen on; a free one when omitted (retried on a bind race).
        binary: the ``redis-server`` executable (default: ``$PLANSIM_REDIS_SERVER`` or PATH lookup).
        startup_timeout: seconds to wait for ``PING`` to answer.
        detach: start the server in its own session so that it outlives this Python process
            (used by :func:`find_or_start_redis`); the temp directory is then kept. Otherwise the server
            gets SIGTERM when the thread that started it ends (Linux's parent-death signal follows the
            thread): start it in the thread that uses it, as ``with RedisServer()`` does.

    The server is configured for a cache-like workload: no RDB snapshots, no AOF, bound to 127.0.0.1,
    working directory and log file in a fresh temporary directory.
    """

    def __init__(
        self,
        password: str | None = None,
        port: int | None = None,
        *,
        binary: str | None = None,
        startup_timeout: float = 10.0,
        detach: bool = False,
    ) -> None:
        self.password = password or secrets.token_hex(16)
        self.host = "127.0.0.1"
        self.port = port or 0
        self._fixed_port = port is not None
        self._binary = binary
        self._startup_timeout = startup_timeout
        self._detach = detach
        self._proc: subprocess.Popen[bytes] | None = None
        self.dir: Path | None = None

    @property
    def url(self) -> str:
        """``redis://:<password>@127.0.0.1:<port>/0``: what redis-py's ``from_url`` accepts."""
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_file(self) -> Path | None:
        """Where redis-server writes its log (inside the temp directory)."""
        return self.dir / "redis.log" if self.dir is not None else None

    def start(self) -> RedisServer:
        """Start the server and block until it answers ``PING``; returns ``self``."""
        if self._proc is not None:
            return self
        binary = _redis_binary(self._binary)
        remove_orphaned_dirs()
        self.dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        attempts = 1 if self._fixed_port else 3
        last_error = ""
        for _ in range(attempts):
            if not self._fixed_port:
                self.port = free_port()
            last_error = self._launch(binary)
            if not last_error:
                return self
        self._cleanup_dir()
        raise RedisServerError(f"redis-server did not start on 127.0.0.1:{self.port}: {last_error}")

    def _launch(self, binary: str) -> str:
        """Start one redis-server process; return '' on success or the reason it failed."""
        assert self.dir is not None
        # The password is passed through a config file, not argv, so `ps` does not show it.
        conf = self.dir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    "protected-mode yes",
                    f"requirepass {self.password}",
                    'save ""',
                    "appendonly no",
                    f"dir {self.dir}",
                    f"logfile {self.dir / 'redis.log'}",
                    "daemonize no",
                ]
            )
            + "\n"
        )
        conf.chmod(0o600)
        self._proc = subprocess.Popen(
            [binary, str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=self._detach,
            # A process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group) would
            # otherwise shut the server down under the command still cleaning up after it (the stop key
            # unset, the workers' grace waited out). It still dies with its owner (death signal).
            process_group=None if self._detach else 0,
            preexec_fn=None if self._detach else death_signal_setter(),
        )
        (self.dir / OWNERS_FILE).write_text(f"{os.getpid()} {self._proc.pid}\n")
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                reason = self._tail_log() or f"exit code {self._proc.returncode}"
                self._proc = None
                return reason
            if ping(self.url, timeout=0.5):
                return ""
            time.sleep(0.02)
        self._terminate()
        return f"no PING answer within {self._startup_timeout:.0f}s; log: {self._tail_log()}"

    def _tail_log(self, lines: int = 5) -> str:
        log = self.log_file
        if log is None or not log.exists():
            return ""
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def _cleanup_dir(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and delete its temp directory."""
        self._terminate()
        self._cleanup_dir()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- persistent server for `plansim runtime up` -----------------------------------------------------


@dataclass(frozen=True)
class RuntimeState:
    """What ``plansim runtime up`` remembers about the Redis server it started."""

    url: str
    pid: int
    dir: str
    started_at: float


def default_state_dir() -> Path:
    """``$PLANSIM_HOME`` when set, else ``~/.plansim``."""
    return Path(os.environ.get("PLANSIM_HOME") or Path.home() / ".plansim")


def _state_path(state_dir: str | Path | None) -> Path:
    return Path(state_dir) if state_dir is not None else default_state_dir()


def load_state(state_dir: str | Path | None = None) -> RuntimeState | None:
    """The recorded server, or None when there is no (readable) state file."""
    path = _state_path(state_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text())
        return RuntimeState(**data)
    except (OSError, ValueError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_or_start_redis(state_dir: str | Path | None = None) -> tuple[RuntimeState, bool]:
    """Return the recorded Redis server if it is alive, else start a new detached one and record it.

    Returns ``(state, started)`` where ``started`` tells whether a new server was launched. The server
    keeps running after this process exits; stop it with :func:`stop_redis`.
    """
    directory = _state_path(state_dir)
    state = load_state(directory)
    if state is not None and _pid_alive(state.pid) and ping(state.url):
        return state, False
    if state is not None:  # stale record: the server died or the machine rebooted
        stop_redis(directory)
    server = RedisServer(detach=True).start()
    assert server.pid is not None and server.dir is not None
    state = RuntimeState(url=server.url, pid=server.pid, dir=str(server.dir), started_at=time.time())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(state), fh, indent=2)
    return state, True


def stop_redis(state_dir: str | Path | None = None, timeout: float = 5.0) -> bool:
    """Stop the server recorded in the state dir and delete the record; True when a server was stopped."""
    directory = _state_path(state_dir)
    state = load_state(directory)
    stopped = False
    if state is not None and _pid_alive(state.pid):
        # Only signal the pid if it is still a redis-server answering with our password: a stale pid may
        # have been reused by an unrelated process.
        if ping(state.url):
            os.kill(state.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(state.pid) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(state.pid, os.WNOHANG)
                time.sleep(0.05)
            if _pid_alive(state.pid):
                os.kill(state.pid, signal.SIGKILL)
            stopped = True
    if state is not None:
        shutil.rmtree(state.dir, ignore_errors=True)
    (directory / STATE_FILE).unlink(missing_ok=True)
    return stopped
