"""Per-task log lines: what a task prints (stdout, stderr) or logs, captured while it runs.

Tasks of one worker run concurrently in threads of one process, so the capture cannot swap
``sys.stdout`` per task. Instead :func:`install` puts, once per process, a router in front of
``sys.stdout`` and ``sys.stderr`` and a handler on the root logger; each sends a line to the
:class:`TaskLog` of the task whose code wrote it (a context variable, which ``asyncio.to_thread`` copies
into the task's thread) and otherwise behaves as before (the router still writes to the real stream, so
container logs keep everything). Records that the logging configuration drops (below the root
logger's level, WARNING unless the task configures it) are not captured.

While the task runs, new lines are appended to the Redis list ``plansim:{run}:log:{task}`` at most every
:data:`FLUSH_S` (the dashboard's live page reads it); at the end the lines go into the task's metric
record (``log``), which outlives the run's keys. A task keeps at most :data:`MAX_LINES` lines and
:data:`MAX_BYTES` bytes (a line is cut at :data:`MAX_LINE_CHARS`); past the cap one marker line tells how
many lines were dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import logging
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any, TextIO

MAX_LINES = 200
MAX_BYTES = 64 * 1024
MAX_LINE_CHARS = 2000
FLUSH_S = 0.2

_CURRENT: contextvars.ContextVar[TaskLog | None] = contextvars.ContextVar("plansim_task_log", default=None)


class TaskLog:
    """The captured lines of one task execution (written from its thread, flushed from the event loop)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.dropped = 0
        self._bytes = 0
        self._partial = {"stdout": "", "stderr": ""}
        self._lock = threading.Lock()
        self._sent = 0  # lines already pushed to Redis
        self.on_line: Any = None  # called (from any thread) after a line is added

    def write(self, stream: str, text: str) -> None:
        """Text written to ``stream``; complete lines are kept, a trailing partial line waits."""
        with self._lock:
            buf = self._partial[stream] + text
            *done, self._partial[stream] = buf.split("\n")
        for line in done:
            self.add(line)

    def add(self, line: str) -> None:
        line = line.rstrip("\r")[:MAX_LINE_CHARS]
        with self._lock:
            size = len(line.encode("utf-8", "replace")) + 1
            if len(self.lines) >= MAX_LINES or self._bytes + size > MAX_BYTES:
                self.dropped += 1
                return
            self.lines.append(line)
            self._bytes += size
        if self.on_line is not None:
            self.on_line()

    def close(self) -> list[str]:
        """End of the task: flush partial lines, add the drop marker; returns every kept line."""
        for stream in ("stdout", "stderr"):
            with self._lock:
                rest, self._partial[stream] = self._partial[stream], ""
            if rest:
                self.add(rest)
        with self._lock:
            if self.dropped:
                self.lines.append(
                    f"[plansim: {self.dropped} more log lines dropped (cap {MAX_LINES} lines, "
                    f"{MAX_BYTES} bytes)]"
                )
                self.dropped = 0
            return list(self.lines)

    def unsent(self) -> tuple[int, list[str]]:
        """Lines not yet pushed to Redis, with the index one past them (for :meth:`sent`)."""
        with self._lock:
            return len(self.lines), self.lines[self._sent :]

    def sent(self, upto: int) -> None:
        with self._lock:
            self._sent = max(self._sent, upto)


class _Router(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: copies each write to the running task's log."""

    def __init__(self, name: str, real: TextIO) -> None:
        self.name_ = name
        self.real = real

    def write(self, text: str) -> int:
        log = _CURRENT.get()
        if log is not None:
            log.write(self.name_, text)
        return self.real.write(text)

    def flush(self) -> None:
        self.real.flush()

    def fileno(self) -> int:
        return self.real.fileno()

    def isatty(self) -> bool:
        return self.real.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")


class _Handler(logging.Handler):
    """Root-logger handler: a log record emitted by a task's code becomes one of its lines."""

    def emit(self, record: logging.LogRecord) -> None:
        log = _CURRENT.get()
        if log is not None:
            with contextlib.suppress(Exception):
                for line in self.format(record).splitlines() or [""]:
                    log.add(line)


_installed = False


def install() -> None:
    """Route stdout, stderr and logging through the per-task capture (idempotent, once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    sys.stdout = _Router("stdout", sys.stdout)  # type: ignore[assignment]
    sys.stderr = _Router("stderr", sys.stderr)  # type: ignore[assignment]
    handler = _Handler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


@contextlib.asynccontextmanager
async def capture(r: Any, key: str) -> AsyncIterator[TaskLog]:
    """Capture the lines of the code run (via ``asyncio.to_thread``) inside the block; new lines are
    pushed to the Redis list ``key`` while it runs and when it ends."""
    install()
    log = TaskLog()
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Task] = []

    async def flush_soon() -> None:
        await asyncio.sleep(FLUSH_S)
        pending.clear()
        await _push(r, key, log)

    def schedule() -> None:  # on the loop: at most one pending flush
        if not pending:
            pending.append(loop.create_task(flush_soon()))

    log.on_line = lambda: loop.call_soon_threadsafe(schedule)
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)
        log.on_line = None
        for t in pending:
            t.cancel()
        log.close()
        with contextlib.suppress(Exception):
            await _push(r, key, log)


async def _push(r: Any, key: str, log: TaskLog) -> None:
    upto, new = log.unsent()
    if new:
        await r.rpush(key, *new)
        log.sent(upto)
