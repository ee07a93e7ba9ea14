"""What each task did in a simulated run, kept as columns: one list per field, one row per task run.

A run traces every task it runs. One object per task plus a list of its downloads was, at 10,000
tasks, 20,000 objects built on the hot path (a dataclass constructor call each) and scanned by the
garbage collector when the run ends, all of them surviving. Here a row is a number: its fields sit in
a dozen preallocated lists, whatever the size of the run, and each download is three entries of one
flat log. Readers get the usual :class:`TaskTrace` objects, built from the rows when first asked
(:meth:`TraceTable.traces`), which a timed simulation never does.

The simulator writes the columns directly (``table.exec_ms[row] = ms``): one list store, as cheap as
the attribute store it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TaskTrace:
    """What one task did in the run (one row of a :class:`TraceTable`, as an object)."""

    worker: str
    memory_mb: int
    start_ms: float
    download_log: list[int | float] = field(default_factory=list)  # bytes, ms, bytes, ms, ... per download
    download_bytes: int = 0  # the sum over ``downloads``
    download_ms: float = 0.0
    exec_ms: float = 0.0
    upload_bytes: int | None = None  # None: not uploaded
    upload_ms: float = 0.0
    end_ms: float = 0.0
    exec_end_ms: float = 0.0
    startup_state: str | None = None
    startup_ms: float = 0.0

    @property
    def downloads(self) -> list[tuple[int, float]]:
        """``(bytes, ms)`` of each download, in order."""
        log = self.download_log
        return list(zip(log[::2], log[1::2], strict=True))

    @property
    def upload(self) -> tuple[int, float] | None:
        """``(bytes, ms)`` of the upload, or None."""
        return None if self.upload_bytes is None else (self.upload_bytes, self.upload_ms)


# Every column but the downloads, in TaskTrace's field order, with the value a new row has.
_COLUMNS = {
    "worker": "",
    "memory_mb": 0,
    "start_ms": 0.0,
    "download_bytes": 0,
    "download_ms": 0.0,
    "exec_ms": 0.0,
    "upload_bytes": None,
    "upload_ms": 0.0,
    "end_ms": 0.0,
    "exec_end_ms": 0.0,
    "startup_state": None,
    "startup_ms": 0.0,
}


class TraceTable:
    """The traces of one run. ``rows`` maps each task run to its row, in the order the tasks first ran;
    ``labelled_rows`` maps ``"{task}@{label}:{worker}"`` to the row of a preload's or a duplicate's
    run (kept apart from the task's own). ``capacity``: the rows expected (the table grows past it)."""

    __slots__ = ("rows", "labelled_rows", "size", *_COLUMNS, "download_log")

    def __init__(self, capacity: int) -> None:
        self.rows: dict[str, int] = {}
        self.labelled_rows: dict[str, int] = {}
        self.size = 0  # rows in use
        for name, value in _COLUMNS.items():
            setattr(self, name, [value] * capacity)
        self.download_log: list[int | float] = []  # row, bytes, ms of every download, in order

    def add(self, worker: str, memory_mb: int, start_ms: float) -> int:
        """A new row, started by ``worker`` at ``start_ms``."""
        row = self.size
        if row == len(self.worker):  # full (more labelled runs than expected): grow every column
            for name, value in _COLUMNS.items():
                getattr(self, name).extend([value] * max(16, row))
        self.size = row + 1
        self.worker[row] = worker
        self.memory_mb[row] = memory_mb
        self.start_ms[row] = start_ms
        return row

    def traces(self) -> tuple[dict[str, TaskTrace], dict[str, TaskTrace]]:
        """Every row as a :class:`TaskTrace`: the tasks' own runs, and the labelled ones."""
        downloads: dict[int, list[int | float]] = {}
        log = self.download_log
        for i in range(0, len(log), 3):
            downloads.setdefault(log[i], []).extend(log[i + 1 : i + 3])
        columns = [getattr(self, name) for name in _COLUMNS]

        def trace(row: int) -> TaskTrace:
            worker, memory_mb, start_ms, *rest = (column[row] for column in columns)
            return TaskTrace(worker, memory_mb, start_ms, downloads.get(row, []), *rest)

        return (
            {t: trace(row) for t, row in self.rows.items()},
            {key: trace(row) for key, row in self.labelled_rows.items()},
        )
